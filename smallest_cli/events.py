"""Typed events that every transport yields, in stream order."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class AudioChunk:
    """Audio bytes in the request's `output_format` (pcm: 16-bit LE mono)."""

    data: bytes


@dataclass(frozen=True, slots=True)
class WordTimestamp:
    """A word frame. `start`/`end` are seconds from the start of this request's audio."""

    id: int
    word: str
    start: float
    end: float


@dataclass(frozen=True, slots=True)
class Done:
    """The request completed (sync body complete, SSE `done`, WS `complete`)."""

    request_id: str | None = None


Event = AudioChunk | WordTimestamp | Done
