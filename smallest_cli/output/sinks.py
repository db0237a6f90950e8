"""Where received audio goes: a file, stdout, or the speakers.

Every sink takes audio chunks in the format it was built for and either finishes cleanly
(`close`) or keeps what was received in a valid form (`abort`, on failure or Ctrl-C).
FileSink and StdoutSink need no audio library at all (no numpy, no sounddevice).
"""

from __future__ import annotations

import os
import stat
import sys
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO, Protocol

from smallest_cli.errors import UsageError
from smallest_cli.output.plan import check_output_path
from smallest_cli.protocol.contract import check_format
from smallest_cli.protocol.wav import UNKNOWN_SIZE, wav_header

if TYPE_CHECKING:
    from smallest_cli.output.codecs import Decoder
    from smallest_cli.output.player import Player


class AudioSink(Protocol):
    """Receives audio chunks; `close` on success, `abort` on failure or interruption."""

    def write(self, data: bytes) -> None: ...

    def close(self) -> None:
        """Finalize: everything written is complete and in place."""

    def abort(self) -> str | None:
        """Stop; keep what was received in a valid form. Returns a description (e.g. a path) or None."""


def _wav_sizes_header(sample_rate: int, data_bytes: int) -> bytes:
    # Past 4 GiB the size fields cannot hold the truth: keep the "unknown" sizes.
    return wav_header(sample_rate, data_bytes if data_bytes <= UNKNOWN_SIZE - 36 else None)


def _whole_samples(carry: bytes, data: bytes) -> tuple[bytes, bytes]:
    """(the byte to carry into the next write, the bytes to write now): a WAV's 16-bit samples are
    never split, so an odd byte waits for its partner."""
    if carry:
        data = carry + data
    if len(data) % 2:
        return data[-1:], data[:-1]
    return b"", data


class FileSink:
    """Streams to `PATH.part`, then renames it to PATH on `close`.

    wav: a header with unknown sizes first, patched with the true sizes on close and on abort
    (so the .part is a valid WAV of everything received); whole samples only. pcm: raw int16
    LE samples. mp3/ulaw/alaw: the bytes as received.
    """

    def __init__(self, path: Path, fmt: str, sample_rate: int) -> None:
        self.path = Path(path)
        self.fmt = check_format(fmt)
        self.sample_rate = sample_rate
        self.part_path = self.path.with_name(self.path.name + ".part")
        check_output_path(self.path)
        try:
            self._file: BinaryIO | None = open(self.part_path, "wb")  # noqa: SIM115 - closed in close/abort
        except OSError as err:
            raise UsageError(f"cannot write {self.path}: {err.strerror or err}") from None
        self._data_bytes = 0
        self._carry = b""
        if self.fmt == "wav":
            self._write_raw(wav_header(sample_rate, None))

    def _write_raw(self, data: bytes) -> None:
        assert self._file is not None
        try:
            self._file.write(data)
        except OSError as err:
            raise UsageError(f"cannot write {self.part_path}: {err.strerror or err}") from None

    def write(self, data: bytes) -> None:
        if self._file is None or not data:
            return
        if self.fmt == "wav":
            self._carry, data = _whole_samples(self._carry, data)
        self._write_raw(data)
        self._data_bytes += len(data)

    def _finalize_file(self) -> None:
        f = self._file
        if f is None:
            return
        self._file = None
        try:
            if self.fmt == "wav":
                f.flush()
                f.seek(0)
                f.write(_wav_sizes_header(self.sample_rate, self._data_bytes))
            f.close()
        except OSError as err:
            raise UsageError(f"cannot write {self.part_path}: {err.strerror or err}") from None

    def close(self) -> None:
        if self._file is None:
            return
        self._finalize_file()
        try:
            os.replace(self.part_path, self.path)
        except OSError as err:
            reason = err.strerror or err
            raise UsageError(f"cannot rename {self.part_path} to {self.path}: {reason}") from None

    def abort(self) -> str | None:
        if self._file is None:
            return None
        try:
            self._finalize_file()
        except UsageError:
            return None
        if self._data_bytes == 0:
            try:
                self.part_path.unlink()
            except OSError:
                pass
            return None
        return str(self.part_path)


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


class StdoutSink:
    """Writes to stdout's binary buffer, flushed per chunk so a pipe reader gets audio early.

    wav: a header with unknown sizes (players accept it); when stdout is a regular file, the
    true sizes are patched in at close/abort.
    """

    def __init__(self, fmt: str, sample_rate: int, stream: BinaryIO | None = None) -> None:
        self.fmt = check_format(fmt)
        self.sample_rate = sample_rate
        self._stream: BinaryIO = stream if stream is not None else sys.stdout.buffer
        self._header_at: int | None = None
        self._started = False
        self._closed = False
        self._data_bytes = 0
        self._carry = b""

    def _start(self) -> None:
        self._started = True
        if self.fmt == "wav":
            self._header_at = _patchable_offset(self._stream)
            self._stream.write(wav_header(self.sample_rate, None))

    def write(self, data: bytes) -> None:
        if self._closed or not data:
            return
        if not self._started:
            self._start()
        if self.fmt == "wav":
            self._carry, data = _whole_samples(self._carry, data)
        self._stream.write(data)
        self._stream.flush()
        self._data_bytes += len(data)

    def _finish(self) -> None:
        if self._closed:
            return
        self._closed = True
        if not self._started:
            self._start()
        self._stream.flush()
        if self._header_at is not None:
            header = _wav_sizes_header(self.sample_rate, self._data_bytes)
            try:
                os.pwrite(self._stream.fileno(), header, self._header_at)
            except (OSError, ValueError):
                pass

    def close(self) -> None:
        self._finish()

    def abort(self) -> str | None:
        try:
            self._finish()
        except (OSError, ValueError):
            pass
        return None


class PlayerSink:
    """Plays audio: decodes each chunk to PCM and queues it on the player."""

    def __init__(self, player: Player, decoder: Decoder) -> None:
        self.player = player
        self.decoder = decoder
        self._done = False

    def write(self, data: bytes) -> None:
        if self._done:
            return
        pcm = self.decoder.feed(data)
        if pcm:
            self.player.write(pcm)

    def close(self) -> None:
        """Play out everything received, then release the device."""
        if self._done:
            return
        self._done = True
        try:
            tail = self.decoder.finish()
            if tail:
                self.player.write(tail)
            self.player.drain()
        finally:
            self.player.close()

    def abort(self) -> str | None:
        """Stop at once (Ctrl-C or failure) and release the device."""
        if self._done:
            return None
        self._done = True
        try:
            close = getattr(self.decoder, "close", None)
            if callable(close):
                close()
        finally:
            self.player.close()
        return None


__all__ = [
    "AudioSink",
    "FileSink",
    "PlayerSink",
    "StdoutSink",
]
