"""FileSink, StdoutSink and PlayerSink (with a fake player): real bytes on disk and in pipes."""

from __future__ import annotations

import os
import struct
import subprocess
import sys
import wave
from pathlib import Path
from typing import Any

import pytest

from smallest_cli.errors import UsageError
from smallest_cli.output.sinks import FileSink, PlayerSink, StdoutSink
from smallest_cli.protocol.audio_formats import encode, encoder
from smallest_cli.protocol.wav import wav_header

from .helpers import ROOT

PCM = struct.pack("<1000h", *((i * 37) % 20000 - 10000 for i in range(1000)))


def _write_in_pieces(sink, data: bytes, piece: int = 333) -> None:
    for i in range(0, len(data), piece):
        sink.write(data[i : i + piece])


def _read_wav(path: Path) -> tuple[int, bytes]:
    with wave.open(str(path), "rb") as w:
        assert w.getnchannels() == 1 and w.getsampwidth() == 2
        return w.getframerate(), w.readframes(w.getnframes())


def test_wav_file_sink_patches_sizes_and_renames(tmp_path: Path) -> None:
    out = tmp_path / "a.wav"
    sink = FileSink(out, "wav", 24000)
    work = tmp_path / f"a.wav.part.{os.getpid()}"  # this run's own file while it writes
    assert work.exists() and not out.exists()
    _write_in_pieces(sink, PCM, 333)  # odd pieces: samples are split across writes
    sink.close()
    assert out.exists() and list(tmp_path.iterdir()) == [out]
    data = out.read_bytes()
    assert data[:44] == wav_header(24000, len(PCM))
    assert _read_wav(out) == (24000, PCM)


def test_wav_file_sink_abort_keeps_valid_part(tmp_path: Path) -> None:
    out = tmp_path / "a.wav"
    sink = FileSink(out, "wav", 16000)
    sink.write(PCM[:801])  # half a sample dangling
    desc = sink.abort()
    part = tmp_path / "a.wav.part"
    assert desc == str(part) and not out.exists()
    assert _read_wav(part) == (16000, PCM[:800])


def test_a_stop_between_a_write_and_its_count_keeps_the_audio(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Ctrl-C or SIGTERM raises in the main thread between two bytecodes: right after the file
    took the audio and before the sink counted it, the audio is still kept, whole."""
    sink = FileSink(tmp_path / "a.wav", "wav", 24000)
    write = FileSink._write_raw

    def write_then_stop(self: FileSink, data: bytes) -> None:
        write(self, data)
        raise KeyboardInterrupt

    monkeypatch.setattr(FileSink, "_write_raw", write_then_stop)
    with pytest.raises(KeyboardInterrupt):
        sink.write(PCM)
    monkeypatch.setattr(FileSink, "_write_raw", write)
    part = tmp_path / "a.wav.part"
    assert sink.abort() == str(part)
    assert _read_wav(part) == (24000, PCM)


@pytest.mark.parametrize("fmt", ["wav", "pcm", "mp3", "ulaw"])
def test_abort_with_nothing_received_leaves_nothing(tmp_path: Path, fmt: str) -> None:
    sink = FileSink(tmp_path / f"a.{fmt}", fmt, 24000)
    assert sink.abort() is None
    assert list(tmp_path.iterdir()) == []


def test_an_mp3_of_no_audio_closes_empty() -> None:
    mp3 = encoder("mp3", 24000)
    assert mp3.feed(b"\x01") == b"" and mp3.finish() == b""  # half a sample is no audio yet


@pytest.mark.parametrize("fmt", ["pcm", "mp3", "ulaw", "alaw"])
def test_formats_are_encoded_from_the_pcm_as_it_streams(tmp_path: Path, fmt: str) -> None:
    out = tmp_path / f"a.{fmt}"
    sink = FileSink(out, fmt, 8000)
    _write_in_pieces(sink, PCM[:-1], 7)  # odd pieces; the dangling last byte is no sample
    sink.close()
    assert out.read_bytes() == encode(PCM[:-2], fmt, 8000)


SEGMENT_A, TAKE_1, TAKE_2 = PCM[:600], PCM[600:1400], PCM[1400:]


@pytest.mark.parametrize("fmt", ["wav", "pcm", "mp3", "ulaw", "alaw"])
def test_a_retried_segment_is_rolled_back_and_kept_whole(tmp_path: Path, fmt: str) -> None:
    """A failed take's audio is taken back; the file holds the retry's audio, never a splice."""
    out = tmp_path / f"a.{fmt}"
    sink = FileSink(out, fmt, 8000)
    sink.begin_segment(retryable=True)
    _write_in_pieces(sink, SEGMENT_A)
    sink.end_segment()
    sink.begin_segment(retryable=True)
    _write_in_pieces(sink, TAKE_1, 101)
    assert sink.rollback() is True
    _write_in_pieces(sink, TAKE_2, 99)
    sink.end_segment()
    sink.close()
    expected = encode(SEGMENT_A + TAKE_2, fmt, 8000)
    assert out.read_bytes() == expected


def test_an_aborted_mp3_keeps_all_the_audio_received(tmp_path: Path) -> None:
    """mp3 holds a retryable segment's PCM until it is whole; an abort (Ctrl-C, a failure) still
    keeps everything received, the unfinished segment too, as one valid MP3 stream."""
    out = tmp_path / "a.mp3"
    sink = FileSink(out, "mp3", 8000)
    sink.begin_segment(retryable=True)
    sink.write(SEGMENT_A)
    sink.end_segment()
    sink.begin_segment(retryable=True)
    sink.write(TAKE_1)
    assert sink.abort() == str(tmp_path / "a.mp3.part")
    assert (tmp_path / "a.mp3.part").read_bytes() == encode(SEGMENT_A + TAKE_1, "mp3", 8000)


def test_close_replaces_existing_file(tmp_path: Path) -> None:
    out = tmp_path / "a.pcm"
    out.write_bytes(b"old")
    sink = FileSink(out, "pcm", 8000)
    sink.write(b"new!")
    sink.close()
    assert out.read_bytes() == b"new!"


def test_directory_and_bad_paths_are_usage_errors(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="directory"):
        FileSink(tmp_path, "wav", 24000)
    with pytest.raises(UsageError, match="does not exist"):
        FileSink(tmp_path / "missing" / "a.wav", "wav", 24000)
    (tmp_path / "file").write_text("x")
    with pytest.raises(UsageError):
        FileSink(tmp_path / "file" / "a.wav", "wav", 24000)
    with pytest.raises(UsageError, match="unknown format"):
        FileSink(tmp_path / "a.flac", "flac", 24000)


STDOUT_PROBE = """
import sys
from smallest_cli.output.sinks import StdoutSink
fmt = sys.argv[1]
sink = StdoutSink(fmt, 24000)
sink.write(b"\\x01\\x02\\x03")
sys.stderr.write("wrote-first\\n"); sys.stderr.flush()
assert sys.stdin.readline() == "go\\n"   # the reader already got the first chunk
sink.write(b"\\x04\\x05")
sink.close()
heavy = [m for m in ("numpy", "sounddevice") if m in sys.modules]
sys.stderr.write("heavy:" + ",".join(heavy) + "\\n")
"""


def _run_stdout_probe(fmt: str, stdout) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-c", STDOUT_PROBE, fmt],
        stdin=subprocess.PIPE,
        stdout=stdout,
        stderr=subprocess.PIPE,
        cwd=ROOT,
    )


def test_stdout_sink_streams_to_a_pipe_early() -> None:
    proc = _run_stdout_probe("wav", subprocess.PIPE)
    assert proc.stdout and proc.stdin and proc.stderr
    first = proc.stdout.read(44 + 2)  # the header and the first whole sample arrive before close
    assert first[:44] == wav_header(24000, None) and first[44:] == b"\x01\x02"
    assert proc.stderr.readline() == b"wrote-first\n"
    proc.stdin.write(b"go\n")
    proc.stdin.close()
    rest = proc.stdout.read()
    err = proc.stderr.read()
    assert proc.wait(timeout=30) == 0
    assert rest == b"\x03\x04"  # whole samples: the odd byte is carried, a dangling one dropped
    assert b"heavy:\n" in err


def test_stdout_sink_patches_header_when_stdout_is_a_file(tmp_path: Path) -> None:
    out = tmp_path / "out.wav"
    with open(out, "wb") as f:
        proc = _run_stdout_probe("wav", f)
        assert proc.stdin and proc.stderr
        assert proc.stderr.readline() == b"wrote-first\n"
        proc.stdin.write(b"go\n")
        proc.stdin.close()
        assert proc.wait(timeout=30) == 0
    assert _read_wav(out) == (24000, b"\x01\x02\x03\x04")


def test_a_stop_as_stdout_takes_audio_leaves_its_file_header_right(tmp_path: Path) -> None:
    """When stdout is a file, its WAV header is patched with what the file holds, also when Ctrl-C
    or SIGTERM landed as the last audio was written (before anything could count it)."""

    class StopsAfterWriting:
        def __init__(self, f: Any) -> None:
            self.f, self.stop = f, False

        def write(self, data: bytes) -> int:
            written = self.f.write(data)
            if self.stop:
                raise KeyboardInterrupt
            return written

        def __getattr__(self, name: str) -> Any:
            return getattr(self.f, name)  # fileno, tell, flush

    out = tmp_path / "out.wav"
    with open(out, "wb") as f:
        stream = StopsAfterWriting(f)
        sink = StdoutSink("wav", 24000, stream=stream)  # type: ignore[arg-type]
        sink.write(PCM[:800])
        stream.stop = True
        with pytest.raises(KeyboardInterrupt):
            sink.write(PCM[800:1600])
        stream.stop = False
        assert sink.abort() is None
    assert _read_wav(out) == (24000, PCM[:1600])


def test_stdout_gets_nothing_from_a_run_that_fails_before_any_audio() -> None:
    import io

    stream = io.BytesIO()
    sink = StdoutSink("wav", 24000, stream=stream)
    assert sink.abort() is None
    sink.write(PCM[:800])
    assert stream.getvalue() == b""


def test_stdout_sink_raw_pcm(tmp_path: Path) -> None:
    import io

    buf = io.BytesIO()
    sink = StdoutSink("pcm", 24000, stream=buf)
    sink.write(b"\x01\x02\x03")
    sink.close()
    assert buf.getvalue() == b"\x01\x02"  # whole samples only
    assert sink.rollback() is False  # bytes on stdout cannot be taken back


class FakePlayer:
    sample_rate = 8000

    def __init__(self) -> None:
        self.data = bytearray()
        self.drained = False
        self.closed = False

    def write(self, pcm: bytes) -> None:
        assert not self.closed
        self.data += pcm

    def drain(self) -> None:
        self.drained = True

    def close(self) -> None:
        self.closed = True


def test_player_sink_plays_whole_samples_and_drains() -> None:
    player = FakePlayer()
    sink = PlayerSink(player)  # type: ignore[arg-type]
    sink.write(b"\x00\xff\x01")
    sink.write(b"\x02")
    sink.close()
    assert bytes(player.data) == b"\x00\xff\x01\x02"
    assert player.drained and player.closed
    assert sink.rollback() is False


def test_player_sink_abort_closes_without_draining() -> None:
    player = FakePlayer()
    sink = PlayerSink(player)  # type: ignore[arg-type]
    sink.write(b"\x01\x02")
    assert sink.abort() is None
    assert player.closed and not player.drained


def test_two_writers_of_one_output_never_share_a_file(tmp_path: Path) -> None:
    """`-o same.wav` twice at once: each run writes a file of its own, and whichever renames last
    leaves a whole file of its own audio (never a splice of both)."""
    out = tmp_path / "same.wav"
    script = (
        "import sys, time; from pathlib import Path; from smallest_cli.output.sinks import FileSink\n"
        "sink = FileSink(Path(sys.argv[1]), 'wav', 8000)\n"
        "for _ in range(200): sink.write(bytes([int(sys.argv[2])]) * 400)\n"
        "sink.close()\n"
    )
    runs = [subprocess.Popen([sys.executable, "-c", script, str(out), str(v)], cwd=ROOT) for v in (1, 2)]
    assert [run.wait(timeout=30) for run in runs] == [0, 0]
    _, pcm = _read_wav(out)
    assert len(pcm) == 200 * 400 and len(set(pcm)) == 1  # one run's audio, whole
    assert list(tmp_path.iterdir()) == [out]


class _FullDisk:
    """A work file whose disk filled up: writes fail with ENOSPC after `room` more bytes (the
    first part of the write that crosses it lands, as on a real disk)."""

    def __init__(self, real: Any, room: int) -> None:
        self._real = real
        self._room = room

    def write(self, data: bytes) -> int:
        landed = data[: self._room]
        self._real.write(landed)
        self._real.flush()
        self._room -= len(landed)
        if len(landed) < len(data):
            raise OSError(28, "No space left on device")
        return len(data)

    def flush(self) -> None:
        if self._room <= 0:
            raise OSError(28, "No space left on device")

    def close(self) -> None:
        self._real.close()
        self.flush()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._real, name)


@pytest.mark.parametrize("fmt", ["wav", "pcm", "mp3", "ulaw"])
def test_a_full_disk_keeps_what_reached_it_as_a_file_that_plays(tmp_path: Path, fmt: str) -> None:
    """The write that finds the disk full, and the encoder's flush on abort, fail: the work file
    becomes OUT.part all the same, cut to whole samples, a WAV header with its true sizes."""
    sink = FileSink(tmp_path / f"x.{fmt}", fmt, 8000)
    sink.begin_segment(retryable=False)
    pcm = bytes(range(200)) * 40
    sink.write(pcm)
    sink._file = _FullDisk(sink._file, room=1001)  # type: ignore[assignment]
    with pytest.raises(UsageError, match="No space left on device"):
        sink.write(pcm)
    kept = sink.abort()
    assert kept == str(tmp_path / f"x.{fmt}.part")
    assert [p.name for p in tmp_path.iterdir()] == [f"x.{fmt}.part"]
    data = (tmp_path / f"x.{fmt}.part").read_bytes()
    if fmt == "wav":
        with wave.open(str(tmp_path / "x.wav.part")) as w:
            frames = w.readframes(w.getnframes())
        assert frames == (pcm + pcm)[: len(frames)] and len(frames) >= len(pcm) and len(frames) % 2 == 0
        assert len(data) == 44 + len(frames)
    elif fmt == "pcm":
        assert data == (pcm + pcm)[: len(data)] and len(data) % 2 == 0 and len(data) >= len(pcm)
    else:
        assert data
