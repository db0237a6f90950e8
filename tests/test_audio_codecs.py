"""G.711, PCM/WAV pass-through and incremental MP3 decoding."""

from __future__ import annotations

import math
import struct
import warnings

import pytest

from smallest_cli.errors import ProtocolError, UsageError
from smallest_cli.output.codecs import (
    Mp3FrameSplitter,
    Mp3StreamDecoder,
    PcmDecoder,
    WavDecoder,
    alaw_decode,
    make_decoder,
    mp3_frame_length,
    mp3_frame_seconds,
    ulaw_decode,
)
from smallest_cli.protocol.wav import wav_header

ALL_CODES = bytes(range(256))


def _audioop():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        try:
            import audioop  # Python <= 3.12
        except ImportError:
            audioop = pytest.importorskip("audioop")  # the audioop-lts backport on 3.13+
    return audioop


def _samples(pcm: bytes) -> list[int]:
    return list(struct.unpack(f"<{len(pcm) // 2}h", pcm))


def test_ulaw_known_values() -> None:
    s = _samples(ulaw_decode(bytes([0x00, 0x7F, 0x80, 0xFF, 0x7E, 0xFE])))
    assert s == [-32124, 0, 32124, 0, -8, 8]


def test_alaw_known_values() -> None:
    s = _samples(alaw_decode(bytes([0x55, 0xD5, 0x80, 0x00, 0xAA, 0x2A])))
    assert s == [-8, 8, 5504, -5504, 32256, -32256]


def test_ulaw_matches_audioop_for_every_code() -> None:
    assert ulaw_decode(ALL_CODES) == _audioop().ulaw2lin(ALL_CODES, 2)


def test_alaw_matches_audioop_for_every_code() -> None:
    assert alaw_decode(ALL_CODES) == _audioop().alaw2lin(ALL_CODES, 2)


def test_g711_empty() -> None:
    assert ulaw_decode(b"") == b"" and alaw_decode(b"") == b""


def test_pcm_decoder_carries_odd_byte() -> None:
    pcm = struct.pack("<5h", 1, -2, 300, -400, 32767)
    d = PcmDecoder()
    out = d.feed(pcm[:3]) + d.feed(pcm[3:4]) + d.feed(pcm[4:9]) + d.feed(pcm[9:]) + d.finish()
    assert out == pcm
    assert len(d.feed(b"\x01")) == 0 and d.finish() == b""


@pytest.mark.parametrize("piece", [1, 3, 44, 45, 1000])
def test_wav_decoder_strips_header(piece: int) -> None:
    pcm = struct.pack("<100h", *range(-50, 50))
    stream = wav_header(24000, len(pcm)) + pcm
    d = WavDecoder()
    out = b"".join(d.feed(stream[i : i + piece]) for i in range(0, len(stream), piece)) + d.finish()
    assert out == pcm


def test_wav_decoder_skips_extra_chunks_and_passes_raw_pcm() -> None:
    pcm = struct.pack("<4h", 1, 2, 3, 4)
    hdr = wav_header(8000, len(pcm))
    extra = hdr[:36] + b"LIST" + struct.pack("<I", 3) + b"abc\x00" + hdr[36:]
    d = WavDecoder()
    assert d.feed(extra + pcm) + d.finish() == pcm
    raw = WavDecoder()
    assert raw.feed(pcm) + raw.finish() == pcm


def test_make_decoder_formats() -> None:
    assert make_decoder("pcm", 24000).feed(b"\x01\x02") == b"\x01\x02"
    assert make_decoder("ulaw", 8000).feed(b"\xff") == b"\x00\x00"
    assert make_decoder("alaw", 8000).feed(b"\xd5") == struct.pack("<h", 8)
    assert isinstance(make_decoder("mp3", 24000), Mp3StreamDecoder)
    with pytest.raises(UsageError):
        make_decoder("flac", 24000)


def _tone(rate: int, seconds: float, freq: float = 440.0) -> bytes:
    n = int(rate * seconds)
    return struct.pack(f"<{n}h", *(int(8000 * math.sin(2 * math.pi * freq * i / rate)) for i in range(n)))


def _mp3(pcm: bytes, rate: int, kbps: int) -> bytes:
    lameenc = pytest.importorskip("lameenc")
    enc = lameenc.Encoder()
    enc.set_bit_rate(kbps)
    enc.set_in_sample_rate(rate)
    enc.set_channels(1)
    enc.set_quality(2)
    return bytes(enc.encode(pcm)) + bytes(enc.flush())


def _decode_in_pieces(mp3: bytes, rate: int, piece: int) -> bytes:
    d = Mp3StreamDecoder(rate)
    out = bytearray()
    for i in range(0, len(mp3), piece):
        out += d.feed(mp3[i : i + piece])
    out += d.finish()
    return bytes(out)


def test_mp3_frame_length() -> None:
    # MPEG-1 Layer III, 128 kbps, 44100 Hz, no padding: 417 bytes; MPEG-2 64 kbps 24 kHz: 192.
    assert mp3_frame_length(bytes([0xFF, 0xFB, 0x90, 0x00])) == 417
    assert mp3_frame_length(bytes([0xFF, 0xF3, 0x84, 0xC4])) == 192
    assert mp3_frame_length(b"RIFF") is None


def test_mp3_frame_seconds() -> None:
    # Samples per frame / rate: MPEG-1 Layer III 1152 at 44.1 kHz; MPEG-2 Layer III 576 at 24 kHz;
    # MPEG-1 Layer I 384 at 48 kHz.
    assert mp3_frame_seconds(bytes([0xFF, 0xFB, 0x90, 0x00])) == 1152 / 44100
    assert mp3_frame_seconds(bytes([0xFF, 0xF3, 0x84, 0xC4])) == 576 / 24000
    assert mp3_frame_seconds(bytes([0xFF, 0xFF, 0x94, 0x00])) == 384 / 48000
    assert mp3_frame_seconds(b"RIFF") == 0.0


def test_frame_splitter_skips_id3_and_junk() -> None:
    mp3 = _mp3(_tone(24000, 0.5), 24000, 64)
    id3 = b"ID3\x04\x00\x00\x00\x00\x00\x05hello"
    s = Mp3FrameSplitter()
    frames: list[bytes] = []
    data = id3 + b"junk" + mp3
    for i in range(0, len(data), 7):
        frames += s.push(data[i : i + 7])
    assert b"".join(frames) == mp3[: len(b"".join(frames))]
    assert len(mp3) - len(b"".join(frames)) < 200  # at most the last frame waits for its successor


@pytest.mark.parametrize(("rate", "kbps"), [(24000, 64), (44100, 128), (8000, 16)])
def test_mp3_incremental_equals_whole(rate: int, kbps: int) -> None:
    tone = _tone(rate, 1.5)
    mp3 = _mp3(tone, rate, kbps)
    whole = _decode_in_pieces(mp3, rate, len(mp3))
    # Decoded length ≈ input (plus encoder delay/padding), and the tone is really there.
    assert abs(len(whole) - len(tone)) < 4 * 1152 * 2
    for piece in (1, 7, 333, 1000, 4096):
        assert _decode_in_pieces(mp3, rate, piece) == whole, piece


def test_mp3_decodes_the_tone() -> None:
    np = pytest.importorskip("numpy")
    rate = 24000
    tone = _tone(rate, 1.0)
    x = np.frombuffer(tone, "<i2").astype(float)
    y = np.frombuffer(_decode_in_pieces(_mp3(tone, rate, 64), rate, 500), "<i2").astype(float)
    mid = x[6000:12000]
    # Find the encoder delay, then check the waveform matches closely.
    errors = [np.sqrt(np.mean((mid - y[6000 + lag : 12000 + lag]) ** 2)) for lag in range(3000)]
    assert min(errors) < 800  # amplitude 8000: a wrong decode is far off


def test_mp3_feed_returns_audio_before_finish() -> None:
    rate = 24000
    mp3 = _mp3(_tone(rate, 2.0), rate, 64)
    d = Mp3StreamDecoder(rate)
    early = b"".join(d.feed(mp3[i : i + 512]) for i in range(0, len(mp3) // 2, 512))
    assert len(early) > rate  # more than half a second already decoded
    d.close()


def test_mp3_garbage_is_a_protocol_error() -> None:
    d = Mp3StreamDecoder(24000)
    d.feed(b"\x00\x01" * 5000)
    with pytest.raises(ProtocolError):
        d.finish()


def test_mp3_nothing_fed() -> None:
    assert Mp3StreamDecoder(24000).finish() == b""
