"""Where received audio goes: a file, stdout, or the speakers.

Every sink takes 16-bit PCM (what every transport carries), encodes it to its own format as it
streams in (`protocol.audio_formats`), and either finishes cleanly (`close`) or keeps what was
received in a valid form (`abort`, on failure or Ctrl-C). Writing a file needs no audio device
library (no sounddevice); μ-law and A-law use numpy, mp3 lameenc.

A request that fails midway is sent again, and nothing says the service renders the same text the
same way twice: the file sink rolls back to the start of the segment (`rollback`) and keeps the
retry's audio whole, never a splice of two takes. Stdout and the speakers cannot take bytes back;
the pipeline resumes them at the same time offset instead.
"""

from __future__ import annotations

import contextlib
import os
import stat
import sys
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO, Protocol

from smallest_cli.errors import UsageError
from smallest_cli.output.plan import check_output_path, descriptor_of, file_target, part_paths, publish
from smallest_cli.protocol.audio_formats import encoder
from smallest_cli.protocol.contract import check_format
from smallest_cli.protocol.wav import UNKNOWN_SIZE, wav_header

if TYPE_CHECKING:
    from smallest_cli.output.player import Player


class AudioSink(Protocol):
    """Receives PCM; `close` on success, `abort` on failure or interruption."""

    def write(self, data: bytes) -> None: ...

    def begin_segment(self, retryable: bool) -> None:
        """A request starts; `retryable` when it may be sent again (live input cannot)."""

    def rollback(self) -> bool:
        """Forget the current segment's audio (its request is sent again); False when this sink
        cannot take bytes back."""

    def end_segment(self) -> None:
        """The current segment's audio is whole."""

    def close(self) -> None:
        """Finalize: everything written is complete and in place."""

    def abort(self) -> str | None:
        """Stop; keep what was received in a valid form. Returns a description (e.g. a path) or None."""


def _wav_sizes_header(sample_rate: int, data_bytes: int) -> bytes:
    # Past 4 GiB the size fields cannot hold the truth: keep the "unknown" sizes.
    return wav_header(sample_rate, data_bytes if data_bytes <= UNKNOWN_SIZE - 36 else None)


class FileSink:
    """Streams to a file of this run's own (`PATH.part.PID`), renamed to PATH on `close` and to
    `PATH.part` on `abort`.

    wav: a header with unknown sizes first, patched with the true sizes on close and on abort (so
    the .part is a valid WAV of everything received). Sample formats (wav, pcm, μ-law, A-law) are
    written as they come and rolled back by truncating the file. mp3 is one continuous stream (no
    joins between segments): its encoder cannot forget what it was fed, so a retryable segment's
    PCM is held until the segment is whole (one request's audio at most).
    """

    def __init__(self, path: Path, fmt: str, sample_rate: int) -> None:
        self.path = file_target(Path(path))
        self.fmt = check_format(fmt)
        self.sample_rate = sample_rate
        #: Where the audio received is kept when the run fails or is stopped; this run's own file.
        self.part_path, self._work_path = part_paths(self.path)
        check_output_path(self.path)
        self._encoder = encoder(self.fmt, sample_rate)
        try:
            self._file: BinaryIO | None = open(self._work_path, "wb")  # noqa: SIM115 - closed in close/abort
        except OSError as err:
            raise UsageError(f"cannot write {self.path}: {err.strerror or err}") from None
        self._data_bytes = 0
        header = wav_header(sample_rate, None) if self.fmt == "wav" else b""
        self._header_bytes = len(header)
        if header:
            self._write_raw(header)
        #: Data bytes in the file when the current segment began.
        self._mark = 0
        #: The current segment's PCM, while it may still be rolled back (mp3 only).
        self._held: bytearray | None = None
        #: Closed and renamed into place, whole: a later failure of the run still names it.
        self._published = False

    def _write_raw(self, data: bytes) -> None:
        assert self._file is not None
        try:
            self._file.write(data)
        except OSError as err:
            raise UsageError(f"cannot write {self._work_path}: {err.strerror or err}") from None

    def _write_encoded(self, data: bytes) -> None:
        if data:
            self._write_raw(data)
            self._data_bytes += len(data)

    def write(self, data: bytes) -> None:
        if self._file is None or not data:
            return
        if self._held is not None:
            self._held += data
        else:
            self._write_encoded(self._encoder.feed(data))

    def begin_segment(self, retryable: bool) -> None:
        self._mark = self._data_bytes
        self._held = bytearray() if retryable and self.fmt == "mp3" else None

    def rollback(self) -> bool:
        if self._file is None:
            return True
        if self._held is not None:
            self._held.clear()
            return True
        try:
            self._file.truncate(self._header_bytes + self._mark)
            self._file.seek(self._header_bytes + self._mark)
        except OSError as err:
            raise UsageError(f"cannot write {self._work_path}: {err.strerror or err}") from None
        self._data_bytes = self._mark
        self._encoder.finish()  # drops a carried half sample of the abandoned take
        return True

    def end_segment(self) -> None:
        held, self._held = self._held, None
        if held and self._file is not None:
            self._write_encoded(self._encoder.feed(bytes(held)))

    def _finalize_file(self) -> None:
        f = self._file
        if f is None:
            return
        self.end_segment()
        self._write_encoded(self._encoder.finish())
        self._file = None
        try:
            # What the file holds, not what was counted: a stop can land between a write and
            # its count, and audio on disk must not be taken for none (or a header be short of it).
            self._data_bytes = f.tell() - self._header_bytes
            if self.fmt == "wav":
                f.flush()
                f.seek(0)
                f.write(_wav_sizes_header(self.sample_rate, self._data_bytes))
            f.close()
        except OSError as err:
            raise UsageError(f"cannot write {self._work_path}: {err.strerror or err}") from None

    def close(self) -> None:
        if self._file is None:
            return
        self._finalize_file()
        publish(self._work_path, self.path)
        self._published = True

    def _salvage(self, f: BinaryIO) -> int:
        """The work file after a write to it failed, made whole: closed (what its buffer still
        held is lost with the space), cut to whole samples, the WAV header's sizes true. Returns
        the data bytes it keeps."""
        with contextlib.suppress(OSError, ValueError):
            f.close()  # flushes once more, in vain on a full disk; closed either way
        fd = os.open(self._work_path, os.O_RDWR)
        try:
            data = _salvage_sizes(self.fmt, os.fstat(fd).st_size, self._header_bytes)
            if not data:
                return 0  # no audio reached the disk (abort removes the file)
            os.ftruncate(fd, self._header_bytes + data)
            if self.fmt == "wav":
                os.pwrite(fd, _wav_sizes_header(self.sample_rate, data), 0)
        finally:
            os.close(fd)
        return data

    def abort(self) -> str | None:
        """Keep the audio received as `PATH.part` and return that path (the file itself when it
        was published whole before the run failed), or None when nothing was kept."""
        f = self._file
        if f is None:
            return str(self.path) if self._published else None
        try:
            self._finalize_file()
        except UsageError:
            # A write failed (a full disk): keep what did reach the disk, as a file that plays.
            try:
                self._data_bytes = self._salvage(f)
            except OSError:
                self._data_bytes = 0  # not even the header fits: nothing to keep
        try:
            if self._data_bytes == 0:
                self._work_path.unlink()
                return None
            os.replace(self._work_path, self.part_path)
        except OSError:
            return None if self._data_bytes == 0 else str(self._work_path)
        return str(self.part_path)


def _salvage_sizes(fmt: str, on_disk: int, header_bytes: int) -> int:
    """The data bytes to keep of `on_disk` after a failed write: whole samples only."""
    data = max(0, on_disk - header_bytes)
    return data - data % 2 if fmt in ("wav", "pcm") else data


def _patchable_offset(stream: BinaryIO) -> int | None:
    """Where the stream is now, if it is a regular file we may rewrite in place later."""
    try:
        fd = stream.fileno()
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            return None
        import fcntl

        if fcntl.fcntl(fd, fcntl.F_GETFL) & os.O_APPEND:
            return None  # writes always go to the end: a patch would append instead
        return stream.tell()
    except (OSError, ValueError, AttributeError, ImportError):
        return None


class _Streaming:
    """A sink whose bytes are gone once written (stdout, the speakers): it cannot roll back, so the
    pipeline resumes a retried request at the same time offset."""

    def begin_segment(self, retryable: bool) -> None:
        return None

    def rollback(self) -> bool:
        return False

    def end_segment(self) -> None:
        return None


class StdoutSink(_Streaming):
    """Writes to stdout's binary buffer, flushed per chunk so a pipe reader gets audio early; or,
    from `stream_sink`, to a device or pipe that -o names, as it is written to stdout.

    wav: a header with unknown sizes (players accept it); when stdout is a regular file, the
    true sizes are patched in at close/abort.
    """

    def __init__(
        self, fmt: str, sample_rate: int, stream: BinaryIO | None = None, name: str = "stdout"
    ) -> None:
        self.fmt = check_format(fmt)
        self.sample_rate = sample_rate
        self._stream: BinaryIO = stream if stream is not None else sys.stdout.buffer
        #: How errors name the output; a stream opened by name is also closed when done.
        self._name = name
        self._encoder = encoder(self.fmt, sample_rate)
        self._header_at: int | None = None
        self._header_bytes = 0
        self._started = False
        self._closed = False

    def _start(self) -> None:
        self._started = True
        if self.fmt == "wav":
            header = wav_header(self.sample_rate, None)
            self._header_at = _patchable_offset(self._stream)
            self._header_bytes = len(header)
            self._stream.write(header)

    def _out(self, data: bytes) -> None:
        if not data:
            return
        try:
            self._stream.write(data)
            self._stream.flush()
        except BrokenPipeError:
            raise  # the reader went away: the command ends quietly
        except OSError as err:
            raise UsageError(f"cannot write to {self._name}: {err.strerror or err}") from None

    def write(self, data: bytes) -> None:
        if self._closed or not data:
            return
        if not self._started:
            self._start()
        self._out(self._encoder.feed(data))

    def _finish(self) -> None:
        if self._closed:
            return
        if not self._started:
            self._start()
        self._out(self._encoder.finish())
        self._closed = True
        self._stream.flush()
        if self._header_at is not None:
            try:
                # What the file holds, as FileSink takes it: a stop can land between a write and a
                # count of it.
                data_bytes = self._stream.tell() - self._header_at - self._header_bytes
                header = _wav_sizes_header(self.sample_rate, data_bytes)
                os.pwrite(self._stream.fileno(), header, self._header_at)
            except (OSError, ValueError):
                pass

    def _release(self) -> None:
        if self._name != "stdout":
            try:
                self._stream.close()
            except OSError:
                pass  # what could be written was; the run's outcome stands

    def close(self) -> None:
        try:
            self._finish()
        finally:
            self._release()

    def abort(self) -> str | None:
        try:
            if self._started:  # nothing at all (no WAV header either) when no audio came
                self._finish()
        except (OSError, ValueError, UsageError):
            pass
        self._closed = True
        self._release()
        return None


def stream_sink(path: Path, fmt: str, sample_rate: int) -> StdoutSink:
    """The sink for a -o that names a device, a named pipe or a terminal (/dev/null, /dev/stdout, a
    FIFO; see plan.is_stream_target): written in place as stdout is, since no file can be renamed
    onto it (that would replace the device with a file)."""
    fd = descriptor_of(path)
    try:
        # A descriptor is written where it stands, as stdout is (a reopen would empty its file).
        stream = os.fdopen(os.dup(fd), "wb") if fd is not None else open(path, "wb")  # noqa: SIM115
    except OSError as err:
        raise UsageError(f"cannot write {path}: {err.strerror or err}") from None
    return StdoutSink(fmt, sample_rate, stream=stream, name=str(path))


class PlayerSink(_Streaming):
    """Plays audio: queues whole samples on the player."""

    def __init__(self, player: Player) -> None:
        self.player = player
        self._samples = encoder("pcm", player.sample_rate)
        self._done = False

    def write(self, data: bytes) -> None:
        if self._done:
            return
        pcm = self._samples.feed(data)
        if pcm:
            self.player.write(pcm)

    def close(self) -> None:
        """Play out everything received, then release the device."""
        if self._done:
            return
        self._done = True
        try:
            self.player.drain()
        finally:
            self.player.close()

    def abort(self) -> str | None:
        """Stop at once (Ctrl-C or failure) and release the device."""
        if self._done:
            return None
        self._done = True
        self.player.close()
        return None


__all__ = [
    "AudioSink",
    "FileSink",
    "PlayerSink",
    "StdoutSink",
    "stream_sink",
]
