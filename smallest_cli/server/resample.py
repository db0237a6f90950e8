"""Band-limited sample-rate conversion of 16-bit PCM for the local server's engines.

soxr (a one-shot, delay-compensated, high-quality resampler) does the work; this module only pins
the output length so that callers can rely on it: exactly `round(n * dst_rate / src_rate)` samples.
numpy and soxr are imported inside the function: they belong to the optional `speech` extra.
"""

from __future__ import annotations

from fractions import Fraction


def resampled_length(n_samples: int, src_rate: int, dst_rate: int) -> int:
    """The output sample count for `n_samples` input samples: round(n * dst / src), computed exactly."""
    return round(Fraction(n_samples * dst_rate, src_rate))


def resample_int16(pcm: bytes, src_rate: int, dst_rate: int) -> bytes:
    """Resample 16-bit little-endian signed mono PCM from `src_rate` to `dst_rate` Hz.

    The result has exactly `resampled_length(len(pcm) // 2, src_rate, dst_rate)` samples; its time
    axis is aligned with the input (soxr compensates its filter delay). Deterministic.
    """
    if src_rate <= 0 or dst_rate <= 0:
        raise ValueError(f"sample rates must be positive, got {src_rate} and {dst_rate}")
    if len(pcm) % 2:
        raise ValueError("16-bit PCM must have an even number of bytes")
    if src_rate == dst_rate or not pcm:
        return bytes(pcm) if src_rate == dst_rate else b""

    import numpy as np
    import soxr

    samples = np.frombuffer(pcm, dtype="<i2").astype(np.int16)
    out = soxr.resample(samples, src_rate, dst_rate, quality="HQ")
    want = resampled_length(len(samples), src_rate, dst_rate)
    if len(out) > want:
        out = out[:want]
    elif len(out) < want:
        out = np.concatenate([out, np.zeros(want - len(out), dtype=out.dtype)])
    return np.ascontiguousarray(out, dtype="<i2").tobytes()
