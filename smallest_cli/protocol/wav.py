"""WAV (RIFF) headers: the one canonical 44-byte header used by the server and by the CLI's writers."""

from __future__ import annotations

import struct

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
