"""Memory stays flat however long the audio is: 10 minutes through FileSink and the decoders."""

from __future__ import annotations

import struct
import tracemalloc
from pathlib import Path

import pytest

from smallest_cli.output.codecs import make_decoder
from smallest_cli.output.sinks import FileSink

RATE = 24000
CHUNK = struct.pack("<1024h", *range(-512, 512))  # ~43 ms of audio
MINUTES = 10
N_CHUNKS = MINUTES * 60 * RATE * 2 // len(CHUNK)
LIMIT = 2 * 1024 * 1024  # 10 minutes of 24 kHz PCM is ~29 MB; a streaming path stays far below


def _peak(fn) -> int:
    tracemalloc.start()
    try:
        fn()
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


@pytest.mark.parametrize("fmt", ["wav", "pcm"])
def test_file_sink_memory_is_flat(tmp_path: Path, fmt: str) -> None:
    out = tmp_path / f"long.{fmt}"

    def run() -> None:
        sink = FileSink(out, fmt, RATE)
        for _ in range(N_CHUNKS):
            sink.write(CHUNK)
        sink.close()

    assert _peak(run) < LIMIT
    assert out.stat().st_size >= N_CHUNKS * len(CHUNK)


@pytest.mark.parametrize("fmt", ["pcm", "wav", "ulaw"])
def test_decoders_memory_is_flat(fmt: str) -> None:
    chunk = CHUNK[:-1] if fmt == "pcm" else CHUNK  # odd pieces exercise the carry

    dec = make_decoder(fmt, RATE)
    dec.feed(chunk)  # warm up: imports and lookup tables are not per-chunk memory

    def run() -> None:
        total = 0
        for _ in range(N_CHUNKS // (4 if fmt == "ulaw" else 1)):
            total += len(dec.feed(chunk))
        total += len(dec.finish())
        assert total > 0

    assert _peak(run) < LIMIT


def test_mp3_decoder_memory_is_flat() -> None:
    lameenc = pytest.importorskip("lameenc")
    enc = lameenc.Encoder()
    enc.set_bit_rate(32)
    enc.set_in_sample_rate(RATE)
    enc.set_channels(1)
    # One second of MP3, whole frames only (so it can be repeated as a stream).
    mp3 = bytes(enc.encode(CHUNK * 24)) + bytes(enc.flush())

    dec = make_decoder("mp3", RATE)
    dec.feed(mp3)

    def run() -> None:
        total = 0
        for _ in range(2 * 60):  # two minutes
            for i in range(0, len(mp3), 700):
                total += len(dec.feed(mp3[i : i + 700]))
        total += len(dec.finish())
        assert total > 100 * RATE * 2

    assert _peak(run) < LIMIT
