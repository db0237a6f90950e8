"""The contract's five output formats, made from 16-bit little-endian mono PCM: what every transport
carries. The CLI's file writers encode with these as the audio streams in; `smallest serve` uses
the same functions for the formats its sync and SSE endpoints offer.

G.711 μ-law and A-law follow the classic Sun reference encoders (the ones `audioop` used); mp3 is
LAME (`lameenc`) at fixed settings, so the same PCM always gives the same bytes, however it is cut
into pieces. numpy and lameenc are imported when first used.
"""

from __future__ import annotations

from typing import Protocol

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


class Encoder(Protocol):
    """PCM in, in pieces of any size; the format's bytes out as they are ready."""

    def feed(self, pcm: bytes) -> bytes: ...

    def finish(self) -> bytes:
        """What is left once the stream ends (mp3's last frames); the encoder is spent."""


class _SampleEncoder:
    """pcm, wav data, μ-law and A-law: whole samples only, an odd byte carried to the next piece."""

    def __init__(self, output_format: str) -> None:
        self._convert = {"ulaw": pcm_to_ulaw, "alaw": pcm_to_alaw}.get(output_format)
        self._carry = b""

    def feed(self, pcm: bytes) -> bytes:
        if self._carry:
            pcm, self._carry = self._carry + pcm, b""
        if len(pcm) % 2:
            pcm, self._carry = pcm[:-1], pcm[-1:]
        if not pcm or self._convert is None:
            return pcm
        return self._convert(pcm)

    def finish(self) -> bytes:
        self._carry = b""  # half a sample is no audio
        return b""


class _Mp3Encoder:
    def __init__(self, sample_rate: int) -> None:
        import lameenc

        self._lame = lameenc.Encoder()
        self._lame.set_bit_rate(mp3_bitrate(sample_rate))
        self._lame.set_in_sample_rate(sample_rate)
        self._lame.set_out_sample_rate(sample_rate)
        self._lame.set_channels(1)
        self._lame.set_quality(MP3_QUALITY)
        self._samples = _SampleEncoder("pcm")
        self._encoding = False

    def feed(self, pcm: bytes) -> bytes:
        whole = self._samples.feed(pcm)
        if not whole:
            return b""
        self._encoding = True
        return bytes(self._lame.encode(whole))

    def finish(self) -> bytes:
        self._samples.finish()
        if not self._encoding:
            return b""  # lame refuses to flush a stream it never began ("Not currently encoding")
        self._encoding = False
        return bytes(self._lame.flush())


def encoder(output_format: str, sample_rate: int) -> Encoder:
    """An incremental encoder from PCM to `output_format` (for wav: the sample data; the header is
    the writer's, since only it knows when the size is final)."""
    if output_format == "mp3":
        return _Mp3Encoder(sample_rate)
    if output_format in ("pcm", "wav", "ulaw", "alaw"):
        return _SampleEncoder(output_format)
    raise ValueError(f"unknown output format {output_format!r}")


def encode(pcm: bytes, output_format: str, sample_rate: int, *, wav_data_size: int | None = -1) -> bytes:
    """All of `pcm` in `output_format`. For wav the canonical header carries the true data size,
    unless `wav_data_size` says otherwise (None: the 'unknown length' header of open-ended streams)."""
    if output_format == "wav":
        size = len(pcm) if wav_data_size == -1 else wav_data_size
        return wav_header(sample_rate, size) + pcm
    whole = encoder(output_format, sample_rate)
    return whole.feed(pcm) + whole.finish()
