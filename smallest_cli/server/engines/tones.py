"""The tone engine: deterministic, speech-like placeholder audio with exact word timings.

Each whitespace-separated word becomes an audible tone burst (a voiced, slightly gliding tone with a
few harmonics and soft edges) whose pitch depends on the word and the voice, followed by a short gap
(longer after punctuation). Durations grow with the word's length and are divided by `speed`. The
pitch depends only on the word text and the voice, so the audio of "a b" is exactly the audio of "a"
followed by the audio of "b": splitting a text into units does not change the samples.

A nonzero `take` (`smallest serve --varied-takes`) shifts the pitch, starting phase and level of
the whole render by small amounts drawn from it: another take of the same text has other bytes but
the same word timings, and the units of one request (rendered with one take) still join seamlessly.
"""

from __future__ import annotations

import re
import zlib
from dataclasses import dataclass

from smallest_cli.server.engines.base import Synthesis, VoiceInfo, WordTiming

_WORD_RE = re.compile(r"\S+")

#: Seconds of tone per character of a word, plus a fixed part, at speed 1.0.
SECONDS_PER_CHAR = 0.055
SECONDS_PER_WORD = 0.045
#: Gaps after a word (speed 1.0): plain, after , ; :, after . ! ?
GAP_PLAIN = 0.07
GAP_CLAUSE = 0.16
GAP_SENTENCE = 0.28
#: Peak level as a fraction of full scale.
LEVEL = 0.35
EDGE_SECONDS = 0.008
_HARMONICS = ((1.0, 1.0), (2.0, 0.45), (3.0, 0.2), (4.0, 0.08))
#: Largest relative pitch and level shifts of a varied take: audible as another render, never
#: as another voice.
TAKE_PITCH_SPREAD = 0.02
TAKE_LEVEL_SPREAD = 0.05


def _crc(text: str) -> int:
    return zlib.crc32(text.encode("utf-8"))


def word_pitch(word: str, voice: VoiceInfo) -> float:
    """Fundamental frequency in Hz for `word` spoken by `voice`: varies by word, higher for female voices."""
    base = 205.0 if voice.gender == "female" else 118.0
    semitones = (_crc(word.lower()) % 11) - 5
    voice_shift = ((_crc(voice.voice_id) % 9) - 4) * 0.015
    return base * (2.0 ** (semitones / 12.0)) * (1.0 + voice_shift)


def gap_seconds(word: str) -> float:
    last = word[-1]
    if last in ".!?…":
        return GAP_SENTENCE
    if last in ",;:":
        return GAP_CLAUSE
    return GAP_PLAIN


def burst_seconds(word: str) -> float:
    return SECONDS_PER_WORD + SECONDS_PER_CHAR * min(len(word), 24)


@dataclass(frozen=True)
class Take:
    """How one render departs from the canonical one (take 0: not at all)."""

    pitch: float = 1.0
    phase: float = 0.0
    level: float = 1.0

    @classmethod
    def of(cls, take: int) -> Take:
        if not take:
            return cls()
        import numpy as np

        rng = np.random.default_rng(take)
        return cls(
            pitch=1.0 + rng.uniform(-TAKE_PITCH_SPREAD, TAKE_PITCH_SPREAD),
            phase=rng.uniform(0.0, 2.0 * np.pi),
            level=1.0 + rng.uniform(-TAKE_LEVEL_SPREAD, TAKE_LEVEL_SPREAD),
        )


def _burst(n: int, sample_rate: int, f0: float, phase0: float = 0.0):  # -> float64 array in [-1, 1]
    import numpy as np

    t = np.arange(n, dtype=np.float64) / sample_rate
    duration = max(n / sample_rate, 1e-9)
    # A gentle falling glide, like a declarative syllable.
    freq = f0 * (1.06 - 0.12 * (t / duration))
    phase = phase0 + 2.0 * np.pi * np.cumsum(freq) / sample_rate
    wave = np.zeros(n, dtype=np.float64)
    nyquist = sample_rate / 2.0
    for mult, amp in _HARMONICS:
        if f0 * mult * 1.1 < nyquist:
            wave += amp * np.sin(mult * phase)
    wave /= sum(a for _, a in _HARMONICS)
    edge = min(int(EDGE_SECONDS * sample_rate), n // 2)
    if edge > 0:
        ramp = 0.5 - 0.5 * np.cos(np.pi * np.arange(edge) / edge)
        wave[:edge] *= ramp
        wave[n - edge :] *= ramp[::-1]
    return wave


@dataclass(frozen=True)
class ToneEngine:
    """Stateless, hence safe to call from several threads at once."""

    name: str = "tones"

    def synthesize(
        self,
        text: str,
        *,
        voice: VoiceInfo,
        sample_rate: int,
        speed: float,
        language: str | None,
        take: int = 0,
    ) -> Synthesis:
        import numpy as np

        variation = Take.of(take)
        pieces: list[np.ndarray] = []
        words: list[WordTiming] = []
        position = 0
        for index, match in enumerate(_WORD_RE.finditer(text)):
            word = match.group()
            n_burst = max(1, round(burst_seconds(word) / speed * sample_rate))
            n_gap = max(1, round(gap_seconds(word) / speed * sample_rate))
            f0 = word_pitch(word, voice) * variation.pitch
            pieces.append(_burst(n_burst, sample_rate, f0, variation.phase))
            pieces.append(np.zeros(n_gap, dtype=np.float64))
            words.append(
                WordTiming(
                    id=index, word=word, start=position / sample_rate, end=(position + n_burst) / sample_rate
                )
            )
            position += n_burst + n_gap
        if not pieces:
            return Synthesis(pcm=b"", sample_rate=sample_rate, words=[])
        samples = np.concatenate(pieces) * (LEVEL * variation.level * 32767.0)
        pcm = np.round(samples).astype("<i2").tobytes()
        return Synthesis(pcm=pcm, sample_rate=sample_rate, words=words)
