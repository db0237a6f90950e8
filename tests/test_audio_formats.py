"""The five output formats made from PCM (`protocol.audio_formats`): G.711 against the reference
decoder values, MP3 frames and their durations, and streaming equal to encoding all at once."""

from __future__ import annotations

import math
import struct

import pytest

from smallest_cli.protocol.audio_formats import encode, encoder, pcm_to_alaw, pcm_to_ulaw
from tests.audio_check import (
    Mp3FrameSplitter,
    alaw_decode,
    mp3_frame_length,
    mp3_frame_seconds,
    mp3_seconds,
    ulaw_decode,
)

ALL_CODES = bytes(range(256))


def _samples(pcm: bytes) -> list[int]:
    return list(struct.unpack(f"<{len(pcm) // 2}h", pcm))


def _tone(rate: int, seconds: float, freq: float = 440.0) -> bytes:
    n = int(rate * seconds)
    return struct.pack(f"<{n}h", *(int(8000 * math.sin(2 * math.pi * freq * i / rate)) for i in range(n)))


def test_g711_decoding_known_values() -> None:
    """The checker the tests read G.711 with: values of the ITU reference decoder."""
    assert _samples(ulaw_decode(bytes([0x00, 0x7F, 0x80, 0xFF, 0x7E, 0xFE]))) == [-32124, 0, 32124, 0, -8, 8]
    assert _samples(alaw_decode(bytes([0x55, 0xD5, 0x80, 0x00, 0xAA, 0x2A]))) == [
        -8, 8, 5504, -5504, 32256, -32256
    ]


LAWS = [(pcm_to_ulaw, ulaw_decode), (pcm_to_alaw, alaw_decode)]


@pytest.mark.parametrize(("encode_law", "decode_law"), LAWS)
def test_g711_codes_are_fixed_points(encode_law, decode_law) -> None:  # type: ignore[no-untyped-def]
    """Every code decodes to a value that encodes back to the same code (the two laws' tables
    agree), so encoding keeps the waveform within one quantization step."""
    decoded = decode_law(ALL_CODES)
    again = encode_law(decoded)
    assert decode_law(again) == decoded


def test_g711_error_stays_within_a_quantization_step() -> None:
    pcm = struct.pack("<2001h", *range(-32000, 32001, 32))
    original = _samples(pcm)
    for encode_law, decode_law in LAWS:
        back = _samples(decode_law(encode_law(pcm)))
        assert all(abs(b - a) <= abs(a) // 16 + 64 for a, b in zip(original, back, strict=True))


@pytest.mark.parametrize("fmt", ["pcm", "wav", "ulaw", "alaw", "mp3"])
@pytest.mark.parametrize("piece", [1, 3, 999, 4096])
def test_streaming_equals_encoding_all_at_once(fmt: str, piece: int) -> None:
    """Pieces of any size (odd ones too) give the same bytes as the whole: a long text is one
    continuous file, not a string of per-request files."""
    rate = 24000
    pcm = _tone(rate, 0.7)
    stream = encoder(fmt, rate)
    out = b"".join(stream.feed(pcm[i : i + piece]) for i in range(0, len(pcm), piece)) + stream.finish()
    whole = encode(pcm, fmt, rate)
    assert out == (whole[44:] if fmt == "wav" else whole)


def test_an_odd_trailing_byte_is_no_sample() -> None:
    stream = encoder("pcm", 8000)
    assert stream.feed(b"\x01\x02\x03") == b"\x01\x02"
    assert stream.feed(b"\x04") == b"\x03\x04"
    assert stream.feed(b"\x05") == b"" and stream.finish() == b""


@pytest.mark.parametrize("rate", [8000, 16000, 24000, 44100])
def test_mp3_lasts_as_long_as_its_pcm(rate: int) -> None:
    pcm = _tone(rate, 2.0)
    mp3 = encode(pcm, "mp3", rate)
    frame = mp3_frame_seconds(mp3[:4])
    assert frame > 0
    # LAME adds its delay and fills the last frame: at most a few frames more than the PCM.
    assert 2.0 <= mp3_seconds(mp3) <= 2.0 + 3 * frame


def test_mp3_frame_headers() -> None:
    # MPEG-1 Layer III, 128 kbps, 44100 Hz, no padding: 417 bytes; MPEG-2 64 kbps 24 kHz: 192.
    assert mp3_frame_length(bytes([0xFF, 0xFB, 0x90, 0x00])) == 417
    assert mp3_frame_length(bytes([0xFF, 0xF3, 0x84, 0xC4])) == 192
    assert mp3_frame_length(b"RIFF") is None
    assert mp3_frame_seconds(bytes([0xFF, 0xFB, 0x90, 0x00])) == 1152 / 44100
    assert mp3_frame_seconds(bytes([0xFF, 0xF3, 0x84, 0xC4])) == 576 / 24000
    assert mp3_frame_seconds(b"RIFF") == 0.0


def test_frame_splitter_skips_id3_and_junk() -> None:
    mp3 = encode(_tone(24000, 0.5), "mp3", 24000)
    id3 = b"ID3\x04\x00\x00\x00\x00\x00\x05hello"
    s = Mp3FrameSplitter()
    frames: list[bytes] = []
    data = id3 + b"junk" + mp3
    for i in range(0, len(data), 7):
        frames += s.push(data[i : i + 7])
    assert b"".join(frames) == mp3[: len(b"".join(frames))]
    assert len(mp3) - len(b"".join(frames)) < 200  # at most the last frame waits for its successor
