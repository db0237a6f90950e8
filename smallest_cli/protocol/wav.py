"""WAV (RIFF) headers: the one canonical 44-byte header used by the server and by the CLI's writers."""

from __future__ import annotations

import struct

from smallest_cli.errors import ProtocolError

#: Size fields used when the length is unknown (a non-seekable stream): players accept it.
UNKNOWN_SIZE = 0xFFFFFFFF


def wav_header(sample_rate: int, data_bytes: int | None, channels: int = 1, bits: int = 16) -> bytes:
    """A canonical PCM WAV header. `data_bytes=None` writes the 'unknown length' sizes for streaming."""
    block_align = channels * bits // 8
    if data_bytes is None:
        riff_size = data_size = UNKNOWN_SIZE
    else:
        data_size = data_bytes
        riff_size = min(36 + data_bytes, UNKNOWN_SIZE)
    return struct.pack(
        "<4sI4s4sIHHIIHH4sI",
        b"RIFF", riff_size, b"WAVE",
        b"fmt ", 16, 1, channels, sample_rate, sample_rate * block_align, block_align, bits,
        b"data", data_size,
    )


#: The most header (RIFF, fmt and other chunks before `data`) a WAV body may have.
MAX_WAV_HEADER = 64 * 1024


class WavBody:
    """The samples of a sync answer asked for as pcm, which may come as raw PCM (as the live service
    was seen to send) or as a WAV file (as the reference describes the body: "A PCM int16 WAV
    file"). `feed()` the body as it arrives and get its samples; a WAV header is read, checked to be
    16-bit mono at the rate asked for, and dropped; bytes after a sized `data` chunk are dropped.
    Errors are ProtocolErrors that a retry would not mend."""

    def __init__(self, sample_rate: int) -> None:
        self._rate = sample_rate
        self._head = bytearray()
        self._pos = 12  # where the next chunk of a WAV header starts
        self._mode = "start"  # then "header", and at last "raw" or "data"
        self._left: int | None = None  # data bytes still to give (None: all that comes)

    def feed(self, data: bytes) -> bytes:
        if self._mode == "raw":
            return data
        if self._mode == "data":
            return self._data(data)
        self._head += data
        if self._mode == "start":
            if len(self._head) < 12 and b"RIFF".startswith(bytes(self._head[:4])):
                return b""
            if self._head[:4] != b"RIFF" or self._head[8:12] != b"WAVE":
                return self._rest("raw", 0)
            self._mode = "header"
        return self._chunks()

    def finish(self) -> bytes:
        """What a body that ended is still owed; ProtocolError when it ended inside a WAV header."""
        if self._mode == "header" or (self._mode == "start" and self._head[:4] == b"RIFF"):
            raise ProtocolError("the WAV body ended inside its header", retryable=False)
        return self._rest("raw", 0) if self._mode == "start" else b""

    def _chunks(self) -> bytes:
        head = self._head
        while len(head) >= self._pos + 8:
            kind = bytes(head[self._pos : self._pos + 4])
            size = int.from_bytes(head[self._pos + 4 : self._pos + 8], "little")
            if kind == b"data":
                # 0 and the 'unknown' size are what a streaming writer puts before it knows.
                self._left = None if size in (0, UNKNOWN_SIZE) else size
                return self._rest("data", self._pos + 8)
            end = self._pos + 8 + size + (size & 1)
            if end + 8 > MAX_WAV_HEADER:
                raise ProtocolError(
                    f"the WAV body has no data chunk in its first {MAX_WAV_HEADER} bytes", retryable=False
                )
            if len(head) < end:
                return b""
            if kind == b"fmt ":
                self._check_format(bytes(head[self._pos + 8 : self._pos + 8 + size]))
            self._pos = end
        return b""

    def _check_format(self, fmt: bytes) -> None:
        if len(fmt) < 16:
            raise ProtocolError("the WAV body's fmt chunk is too short", retryable=False)
        tag, channels, rate, _, _, bits = struct.unpack("<HHIIHH", fmt[:16])
        if tag not in (1, 0xFFFE) or channels != 1 or bits != 16 or rate != self._rate:
            raise ProtocolError(
                f"the WAV body is {rate} Hz, {channels} channel(s), {bits}-bit (format {tag}), "
                f"not the {self._rate} Hz 16-bit mono PCM asked for",
                retryable=False,
            )

    def _rest(self, mode: str, start: int) -> bytes:
        rest = bytes(self._head[start:])
        self._head.clear()
        self._mode = mode
        return self._data(rest) if mode == "data" else rest

    def _data(self, data: bytes) -> bytes:
        if self._left is None:
            return data
        if len(data) > self._left:
            data = data[: self._left]
        self._left -= len(data)
        return data
