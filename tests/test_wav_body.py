"""The sync body's samples, whether it comes as raw PCM or as a WAV file (`protocol.wav.WavBody`)."""

from __future__ import annotations

import struct

import pytest
from hypothesis import given
from hypothesis import strategies as st

from smallest_cli.errors import ProtocolError
from smallest_cli.protocol.wav import MAX_WAV_HEADER, UNKNOWN_SIZE, WavBody, wav_header

PCM = bytes(range(256)) * 8


def chunk(kind: bytes, payload: bytes) -> bytes:
    return kind + struct.pack("<I", len(payload)) + payload + (b"\0" if len(payload) & 1 else b"")


def fmt(rate: int = 24000, channels: int = 1, bits: int = 16, tag: int = 1) -> bytes:
    align = channels * bits // 8
    return chunk(b"fmt ", struct.pack("<HHIIHH", tag, channels, rate, rate * align, align, bits))


def riff(*chunks: bytes) -> bytes:
    inner = b"WAVE" + b"".join(chunks)
    return b"RIFF" + struct.pack("<I", len(inner)) + inner


def read(body: bytes, cuts: list[int], rate: int = 24000) -> bytes:
    reader = WavBody(rate)
    out, start = [], 0
    for cut in sorted(cuts) + [len(body)]:
        out.append(reader.feed(body[start:cut]))
        start = max(start, cut)
    return b"".join(out) + reader.finish()


BODIES = {
    "raw PCM": PCM,
    "canonical WAV": wav_header(24000, len(PCM)) + PCM,
    "WAV of unknown length": wav_header(24000, None) + PCM,
    "WAV with a LIST chunk first and one after the data": riff(
        fmt(), chunk(b"LIST", b"INFOISFT\x05\0\0\0lavf\0"), chunk(b"data", PCM), chunk(b"LIST", b"tail")
    ),
    "extensible format tag": riff(fmt(tag=0xFFFE)[:8] + fmt(tag=0xFFFE)[8:], chunk(b"data", PCM)),
}


@pytest.mark.parametrize("name", BODIES)
@given(cuts=st.lists(st.integers(min_value=0, max_value=len(PCM) + 200), max_size=6))
def test_the_samples_are_the_same_however_the_body_is_cut(name: str, cuts: list[int]) -> None:
    assert read(BODIES[name], cuts) == PCM


def test_raw_pcm_is_given_at_once_and_a_tiny_body_at_the_end() -> None:
    reader = WavBody(24000)
    assert reader.feed(b"\x01\x02") == b"\x01\x02"  # cannot begin "RIFF": no wait for 12 bytes
    tiny = WavBody(24000)
    assert tiny.feed(b"RI") == b"" and tiny.feed(b"x") == b"RIx" and tiny.finish() == b""
    short = WavBody(24000)
    assert short.feed(b"RIFF\0\0") == b"" and short.feed(b"\0\0") == b""
    with pytest.raises(ProtocolError, match="ended inside its header"):
        short.finish()


@pytest.mark.parametrize(
    ("fmt_chunk", "said"),
    [(fmt(rate=44100), "44100 Hz, 1 channel"), (fmt(channels=2), "2 channel"), (fmt(bits=8), "8-bit"),
     (fmt(tag=3, bits=32), "(format 3)")],
)
def test_a_wav_of_other_samples_than_asked_is_refused(fmt_chunk: bytes, said: str) -> None:
    with pytest.raises(ProtocolError, match=r"not the 24000 Hz 16-bit mono PCM asked for") as caught:
        read(riff(fmt_chunk, chunk(b"data", PCM)), [])
    assert said in str(caught.value) and not caught.value.retryable  # every take would be the same


def test_a_header_that_never_reaches_its_data_is_refused() -> None:
    huge = riff(fmt(), b"JUNK" + struct.pack("<I", UNKNOWN_SIZE - 8))
    with pytest.raises(ProtocolError, match="no data chunk"):
        read(huge + b"\0" * 100, [])
    padded = riff(fmt(), chunk(b"JUNK", b"\0" * MAX_WAV_HEADER))
    with pytest.raises(ProtocolError, match="no data chunk"):
        read(padded, [30, 5000])
    with pytest.raises(ProtocolError, match="ended inside its header"):
        read(riff(fmt()), [])
