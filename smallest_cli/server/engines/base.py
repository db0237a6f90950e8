"""The engine interface shared by the tone engine (default) and the eSpeak NG engine."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol


@dataclass(frozen=True, slots=True)
class WordTiming:
    """One input word: `id` is its 0-based position among the whitespace-separated words of the
    request text, `word` is verbatim from the input, times are seconds from the start of the audio."""

    id: int
    word: str
    start: float
    end: float


@dataclass(frozen=True)
class Synthesis:
    """The whole audio for one request: 16-bit little-endian signed mono PCM at `sample_rate`."""

    pcm: bytes
    sample_rate: int
    words: list[WordTiming] = field(default_factory=list)

    @property
    def duration(self) -> float:
        return len(self.pcm) / 2 / self.sample_rate


@dataclass(frozen=True)
class VoiceInfo:
    """What an engine needs to know of a catalog voice."""

    voice_id: str
    gender: str  # "female" | "male"
    languages: tuple[str, ...]  # catalog tags, e.g. ("hindi", "english")
    accent: str = ""  # catalog tag, e.g. "british"; empty when the catalog has none


class Engine(Protocol):
    name: str

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
        """Deterministic: the same arguments give byte-identical PCM. `take` 0 is the canonical
        render; any other value gives a slightly different one of the same words, as two renders
        of a neural service differ (timings may shift a little too). Must be safe to call from
        several threads at once (serialize internally if the engine is not)."""
        ...
