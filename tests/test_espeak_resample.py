"""resample_int16: exact output length, band-limited, time-aligned, deterministic."""

from __future__ import annotations

import math

import pytest

from tests.helpers import REQUIRE_ESPEAK_ENV, require_module

np = require_module("numpy", REQUIRE_ESPEAK_ENV)
require_module("soxr", REQUIRE_ESPEAK_ENV)

from smallest_cli.server.resample import resample_int16, resampled_length  # noqa: E402

RATES = (8000, 16000, 24000, 44100)


def tone(freq: float, rate: int, seconds: float, amplitude: float = 10000.0) -> bytes:
    t = np.arange(int(rate * seconds)) / rate
    return (amplitude * np.sin(2 * math.pi * freq * t)).astype("<i2").tobytes()


@pytest.mark.parametrize("dst", RATES)
@pytest.mark.parametrize("n", [0, 1, 2, 3, 441, 1000, 22049, 22050, 86065])
def test_output_length_is_exact(n: int, dst: int) -> None:
    pcm = (np.arange(n) % 200 - 100).astype("<i2").tobytes()
    out = resample_int16(pcm, 22050, dst)
    assert len(out) == 2 * round(n * dst / 22050)
    assert len(out) == 2 * resampled_length(n, 22050, dst)


def test_same_rate_is_identity() -> None:
    pcm = tone(440, 22050, 0.1)
    assert resample_int16(pcm, 22050, 22050) == pcm


@pytest.mark.parametrize("dst", RATES)
def test_keeps_a_passband_tone(dst: int) -> None:
    out = np.frombuffer(resample_int16(tone(1000, 22050, 0.5), 22050, dst), dtype="<i2").astype(float)
    mid = out[len(out) // 4 : 3 * len(out) // 4]
    assert math.isclose(np.sqrt(np.mean(mid**2)), 10000 / math.sqrt(2), rel_tol=0.02)
    spectrum = np.abs(np.fft.rfft(mid))
    peak_hz = np.argmax(spectrum) * dst / len(mid)
    assert abs(peak_hz - 1000) < 10


def test_removes_content_above_the_new_nyquist() -> None:
    """A 6 kHz tone cannot exist at 8 kHz: a band-limited resampler removes it instead of aliasing it
    to 2 kHz, as naive decimation would."""
    out = np.frombuffer(resample_int16(tone(6000, 22050, 0.5), 22050, 8000), dtype="<i2").astype(float)
    mid = out[len(out) // 4 : 3 * len(out) // 4]
    assert np.sqrt(np.mean(mid**2)) < 0.01 * 10000


@pytest.mark.parametrize("dst", RATES)
def test_time_axis_is_aligned(dst: int) -> None:
    samples = np.zeros(22050, dtype="<i2")
    samples[11025] = 20000
    out = np.frombuffer(resample_int16(samples.tobytes(), 22050, dst), dtype="<i2")
    assert abs(int(np.argmax(np.abs(out))) - dst // 2) <= 1


def test_deterministic_and_rejects_odd_input() -> None:
    pcm = tone(300, 22050, 0.2)
    assert resample_int16(pcm, 22050, 16000) == resample_int16(pcm, 22050, 16000)
    with pytest.raises(ValueError):
        resample_int16(b"\x00\x00\x00", 22050, 16000)
