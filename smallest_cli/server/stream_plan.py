"""Cutting one synthesized unit into stream frames: audio chunks of `chunk_ms`, word frames in
audio-time order (each just before the chunk in which the word starts).

The concatenation of the chunks is exactly the encoded unit, so streamed audio equals the sync body.
"""

from __future__ import annotations

from dataclasses import dataclass

from smallest_cli.protocol.audio_formats import bytes_per_sample, mp3_bitrate
from smallest_cli.server.engines.base import WordTiming


@dataclass(frozen=True, slots=True)
class ChunkItem:
    data: bytes
    #: Seconds of audio (from the start of this unit) at which the chunk's audio starts.
    at: float


@dataclass(frozen=True, slots=True)
class WordItem:
    word: WordTiming


PlanItem = ChunkItem | WordItem


def chunk_bytes(output_format: str, sample_rate: int, chunk_ms: float) -> int:
    """Bytes of encoded audio per chunk: whole samples for sample formats, the bitrate's share for mp3."""
    per_sample = bytes_per_sample(output_format)
    if per_sample:
        return max(1, round(sample_rate * chunk_ms / 1000.0)) * per_sample
    return max(1, round(mp3_bitrate(sample_rate) * 1000 / 8 * chunk_ms / 1000.0))


def plan_unit(
    audio: bytes,
    *,
    prefix: bytes,
    duration: float,
    output_format: str,
    sample_rate: int,
    chunk_ms: float,
    words: list[WordTiming],
) -> list[PlanItem]:
    """Frames for one unit. `audio` is the encoded audio without `prefix` (a wav header, which goes
    at the start of the first chunk); `words` carry times relative to this unit's start."""
    size = chunk_bytes(output_format, sample_rate, chunk_ms)
    per_sample = bytes_per_sample(output_format)
    total = len(audio)

    def position(offset: int) -> float:
        """Where `offset` lies on the unit's audio, in samples (sample formats) or seconds (mp3)."""
        if per_sample:
            return offset // per_sample
        return duration * offset / total if total else 0.0

    def word_position(word: WordTiming) -> float:
        return round(word.start * sample_rate) if per_sample else word.start

    items: list[PlanItem] = []
    pending = sorted(words, key=lambda w: (w.start, w.id))
    w = 0
    offsets = list(range(0, total, size)) or [0]
    for n, offset in enumerate(offsets):
        end = min(total, offset + size)
        limit = position(end) if n + 1 < len(offsets) else float("inf")
        while w < len(pending) and word_position(pending[w]) < limit:
            items.append(WordItem(pending[w]))
            w += 1
        data = audio[offset:end]
        if n == 0:
            data = prefix + data
        if data:
            start = position(offset)
            items.append(ChunkItem(data, start / sample_rate if per_sample else start))
    return items
