"""Encoding 16-bit PCM into the five output formats the service offers.

G.711 μ-law and A-law follow the classic Sun reference encoders (the ones `audioop` used);
mp3 uses LAME through `lameenc` with fixed settings, so the same PCM always gives the same bytes.
"""

from __future__ import annotations

from smallest_cli.protocol.wav import wav_header

#: CBR bitrate (kbit/s) used for mp3 at each sample rate.
MP3_BITRATES: dict[int, int] = {8000: 32, 16000: 48, 24000: 64, 44100: 128}
MP3_QUALITY = 5

_ULAW_SEG_END = (0x3F, 0x7F, 0xFF, 0x1FF, 0x3FF, 0x7FF, 0xFFF, 0x1FFF)
_ALAW_SEG_END = (0x1F, 0x3F, 0x7F, 0xFF, 0x1FF, 0x3FF, 0x7FF, 0xFFF)


def bytes_per_sample(output_format: str) -> int:
    """Bytes of one sample in a sample-aligned format (pcm and wav: 2, ulaw and alaw: 1; mp3: 0)."""
    return {"pcm": 2, "wav": 2, "ulaw": 1, "alaw": 1}.get(output_format, 0)


def mp3_bitrate(sample_rate: int) -> int:
    return MP3_BITRATES.get(sample_rate, 64)


def pcm_to_ulaw(pcm: bytes) -> bytes:
    import numpy as np

    x = np.frombuffer(pcm, dtype="<i2").astype(np.int32) >> 2
    mask = np.where(x < 0, 0x7F, 0xFF)
    x = np.minimum(np.abs(x), 8159) + (0x84 >> 2)
    seg = np.searchsorted(np.array(_ULAW_SEG_END), x, side="left")
    uval = (seg << 4) | ((x >> (seg + 1)) & 0x0F)
    out = np.where(seg >= 8, 0x7F, uval) ^ mask
    return out.astype(np.uint8).tobytes()


def pcm_to_alaw(pcm: bytes) -> bytes:
    import numpy as np

    x = np.frombuffer(pcm, dtype="<i2").astype(np.int32) >> 3
    mask = np.where(x >= 0, 0xD5, 0x55)
    x = np.where(x >= 0, x, -x - 1)
    seg = np.searchsorted(np.array(_ALAW_SEG_END), x, side="left")
    low = np.where(seg < 2, (x >> 1) & 0x0F, (x >> np.maximum(seg, 1)) & 0x0F)
    aval = np.where(seg >= 8, 0x7F, (seg << 4) | low)
    return (aval ^ mask).astype(np.uint8).tobytes()


def pcm_to_mp3(pcm: bytes, sample_rate: int) -> bytes:
    import lameenc

    encoder = lameenc.Encoder()
    encoder.set_bit_rate(mp3_bitrate(sample_rate))
    encoder.set_in_sample_rate(sample_rate)
    encoder.set_out_sample_rate(sample_rate)
    encoder.set_channels(1)
    encoder.set_quality(MP3_QUALITY)
    return bytes(encoder.encode(pcm)) + bytes(encoder.flush())


def encode(pcm: bytes, output_format: str, sample_rate: int, *, wav_data_size: int | None = -1) -> bytes:
    """`pcm` in `output_format`. For wav the canonical header carries the true data size, unless
    `wav_data_size` says otherwise (None: the 'unknown length' header used by open-ended streams)."""
    if output_format == "pcm":
        return pcm
    if output_format == "wav":
        size = len(pcm) if wav_data_size == -1 else wav_data_size
        return wav_header(sample_rate, size) + pcm
    if output_format == "ulaw":
        return pcm_to_ulaw(pcm)
    if output_format == "alaw":
        return pcm_to_alaw(pcm)
    if output_format == "mp3":
        return pcm_to_mp3(pcm, sample_rate)
    raise ValueError(f"unknown output format {output_format!r}")
