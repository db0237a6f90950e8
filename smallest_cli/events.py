"""Typed events that every transport yields, in stream order, and what a whole run did."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class AudioChunk:
    """Audio bytes in the request's `output_format` (pcm: 16-bit LE mono): `pieces` of the
    server's chunks, joined when they had all arrived by the time the first was handed on."""

    data: bytes
    pieces: int = 1


@dataclass(frozen=True, slots=True)
class WordTimestamp:
    """A word frame. `start`/`end` are seconds from the start of this request's audio. `line` and
    `column` (1-based) say where the word is in the source text, when the run can tell (transports
    leave them out; `source.places`)."""

    id: int
    word: str
    start: float
    end: float
    line: int | None = None
    column: int | None = None

    def record(self) -> dict[str, object]:
        """The word as `--json` and a JSON caption file list it: times to the millisecond, and its
        line and column in the source when known."""
        out: dict[str, object] = {
            "id": self.id, "word": self.word, "start": round(self.start, 3), "end": round(self.end, 3)
        }
        if self.line is not None:
            out["line"] = self.line
        if self.column is not None:
            out["column"] = self.column
        return out


@dataclass(frozen=True, slots=True)
class Done:
    """The request completed (sync body complete, SSE `done`, WS `complete`), with the ids the
    service gave it and the client's own ids it echoed (`--request-id`, `--session-id`)."""

    request_id: str | None = None
    session_id: str | None = None
    external_request_id: str | None = None
    external_session_id: str | None = None


Event = AudioChunk | WordTimestamp | Done


@dataclass
class RunStats:
    """What one run did; `--json` prints these fields."""

    transport: str
    voice_id: str
    model: str
    sample_rate: int
    #: The format written to the file or stdout; "pcm" when only playing.
    output_format: str
    segments: int = 0
    chunks: int = 0
    #: Bytes of PCM received (what every transport carries), whatever the file's format.
    audio_bytes: int = 0
    audio_seconds: float = 0.0
    #: From the start of the run to the first audio byte handed to the sinks.
    first_chunk_ms: float | None = None
    total_ms: float = 0.0
    #: Audio seconds per second of synthesis (start of run to the last segment's end).
    realtime_factor: float | None = None
    retries: int = 0
    underruns: int = 0
    #: The output file, "-" for stdout, None when only playing.
    output: str | None = None
    #: The service's ids of the last request, and the client's own ids as the service echoed them.
    request_id: str | None = None
    session_id: str | None = None
    external_request_id: str | None = None
    external_session_id: str | None = None
    #: The audio cache: "hit" (no request made), "miss" (rendered and stored) or "off".
    cache: str = "off"

    def as_dict(self) -> dict[str, object]:
        d = dataclasses.asdict(self)
        for key in ("audio_seconds", "first_chunk_ms", "total_ms", "realtime_factor"):
            if isinstance(d[key], float):
                d[key] = round(d[key], 3)
        return d
