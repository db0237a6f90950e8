"""Reading back what the CLI and the server write, for the tests: G.711 decoding and MPEG audio frame
headers (an MP3's duration without decoding it). The product itself only encodes (every transport
carries PCM), so these live with the tests."""

from __future__ import annotations

from functools import lru_cache
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import numpy as np


def _ulaw_sample(code: int) -> int:
    u = ~code & 0xFF
    t = (((u & 0x0F) << 3) + 0x84) << ((u & 0x70) >> 4)
    return 0x84 - t if u & 0x80 else t - 0x84


def _alaw_sample(code: int) -> int:
    a = code ^ 0x55
    seg = (a & 0x70) >> 4
    t = (a & 0x0F) << 4
    if seg == 0:
        t += 8
    else:
        t = (t + 0x108) << (seg - 1)
    return t if a & 0x80 else -t


@lru_cache(maxsize=2)
def _g711_table(law: str) -> np.ndarray:
    import numpy as np

    fn = _ulaw_sample if law == "ulaw" else _alaw_sample
    return np.array([fn(i) for i in range(256)], dtype="<i2")


def _g711_decode(data: bytes, law: str) -> bytes:
    if not data:
        return b""
    import numpy as np

    return _g711_table(law)[np.frombuffer(data, dtype=np.uint8)].tobytes()


def ulaw_decode(data: bytes) -> bytes:
    """G.711 mu-law bytes → int16 LE PCM (two bytes per input byte)."""
    return _g711_decode(data, "ulaw")


def alaw_decode(data: bytes) -> bytes:
    """G.711 A-law bytes → int16 LE PCM (two bytes per input byte)."""
    return _g711_decode(data, "alaw")


_MP3_BITRATES_KBPS = {
    # (MPEG-1?, layer) → bitrate per index 0..14 (0 = free format, unsupported here)
    (True, 1): (0, 32, 64, 96, 128, 160, 192, 224, 256, 288, 320, 352, 384, 416, 448),
    (True, 2): (0, 32, 48, 56, 64, 80, 96, 112, 128, 160, 192, 224, 256, 320, 384),
    (True, 3): (0, 32, 40, 48, 56, 64, 80, 96, 112, 128, 160, 192, 224, 256, 320),
    (False, 1): (0, 32, 48, 56, 64, 80, 96, 112, 128, 144, 160, 176, 192, 224, 256),
    (False, 2): (0, 8, 16, 24, 32, 40, 48, 56, 64, 80, 96, 112, 128, 144, 160),
    (False, 3): (0, 8, 16, 24, 32, 40, 48, 56, 64, 80, 96, 112, 128, 144, 160),
}
_MP3_RATES = {3: (44100, 48000, 32000), 2: (22050, 24000, 16000), 0: (11025, 12000, 8000)}


def _mp3_header(header: bytes) -> tuple[bool, int, int, int] | None:
    """(MPEG-1?, layer, bitrate in bit/s, sample rate) of a 4-byte frame header, None if invalid."""
    if len(header) < 4 or header[0] != 0xFF or header[1] & 0xE0 != 0xE0:
        return None
    version = (header[1] >> 3) & 3  # 3: MPEG-1, 2: MPEG-2, 0: MPEG-2.5, 1: reserved
    layer = 4 - ((header[1] >> 1) & 3)  # 4 means reserved
    bitrate_index = header[2] >> 4
    rate_index = (header[2] >> 2) & 3
    if version == 1 or layer == 4 or bitrate_index in (0, 15) or rate_index == 3:
        return None
    mpeg1 = version == 3
    bitrate = _MP3_BITRATES_KBPS[(mpeg1, layer)][bitrate_index] * 1000
    return mpeg1, layer, bitrate, _MP3_RATES[version][rate_index]


def mp3_frame_length(header: bytes) -> int | None:
    """Byte length of the MPEG audio frame starting with the 4-byte `header`, None if invalid."""
    fields = _mp3_header(header)
    if fields is None:
        return None
    mpeg1, layer, bitrate, rate = fields
    padding = (header[2] >> 1) & 1
    if layer == 1:
        return (12 * bitrate // rate + padding) * 4
    if layer == 3 and not mpeg1:
        return 72 * bitrate // rate + padding
    return 144 * bitrate // rate + padding


def mp3_frame_seconds(header: bytes) -> float:
    """Seconds of audio in the MPEG audio frame starting with `header` (0.0 if invalid):
    samples per frame (384 for layer I, 576 for layer III of MPEG-2/2.5, else 1152) / rate."""
    fields = _mp3_header(header)
    if fields is None:
        return 0.0
    mpeg1, layer, _, rate = fields
    samples = 384 if layer == 1 else 576 if (layer == 3 and not mpeg1) else 1152
    return samples / rate


class Mp3FrameSplitter:
    """Cuts an MP3 byte stream into whole frames; skips ID3v2 tags and junk between frames.

    """

    def __init__(self) -> None:
        self._buf = bytearray()

    def push(self, data: bytes) -> list[bytes]:
        self._buf += data
        buf = self._buf
        frames: list[bytes] = []
        pos = 0
        while len(buf) - pos >= 10:
            if buf[pos : pos + 3] == b"ID3":
                size = 10 + (
                    (buf[pos + 6] & 0x7F) << 21
                    | (buf[pos + 7] & 0x7F) << 14
                    | (buf[pos + 8] & 0x7F) << 7
                    | (buf[pos + 9] & 0x7F)
                )
                if buf[pos + 5] & 0x10:  # footer present
                    size += 10
                if len(buf) - pos < size:
                    break
                pos += size
                continue
            length = mp3_frame_length(bytes(buf[pos : pos + 4]))
            if length is None:
                pos += 1  # resynchronize
                continue
            if len(buf) - pos < length:
                break
            frames.append(bytes(buf[pos : pos + length]))
            pos += length
        del buf[:pos]
        return frames

    def pending(self) -> int:
        return len(self._buf)


def mp3_seconds(data: bytes) -> float:
    """Seconds of audio in an MP3 byte string, from its frames' headers."""
    return sum(mp3_frame_seconds(frame) for frame in Mp3FrameSplitter().push(data))
