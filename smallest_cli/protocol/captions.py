"""Captions from word timings: grouping words into readable cues and rendering SRT, WebVTT and JSON.

Pure code. Words are any objects with `id`, `word`, `start`, `end` (e.g. `events.WordTimestamp`),
with times in seconds on one timeline (use `offset_words` to place a later request's words after the
audio of the earlier ones).

A cue holds at most `max_lines` lines of at most `max_line_chars` characters (a single longer word
gets a line of its own), lasts at most `max_duration` seconds, and ends after a word that ends a
sentence (`segment.ends_sentence`: not after `Dr.` or `e.g.`) or before a pause of `pause` seconds
or more. Cues never overlap; a short cue is held on screen for up to `min_duration` seconds when the
next cue leaves room.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Protocol

from smallest_cli.errors import UsageError
from smallest_cli.protocol.segment import ends_sentence

MAX_LINE_CHARS = 42
MAX_LINES = 2
MAX_CUE_SECONDS = 5.0
PAUSE_SECONDS = 0.7
MIN_CUE_SECONDS = 0.7

FORMATS = ("srt", "vtt", "json")


class WordLike(Protocol):
    @property
    def id(self) -> int: ...
    @property
    def word(self) -> str: ...
    @property
    def start(self) -> float: ...
    @property
    def end(self) -> float: ...


@dataclass(frozen=True, slots=True)
class Cue:
    """One caption. `text` has its lines separated by "\\n"; times are seconds."""

    index: int
    start: float
    end: float
    text: str


def _clean_time(value: float) -> float:
    return value if math.isfinite(value) and value > 0 else 0.0


def _wrap(words: Sequence[str], width: int) -> list[str]:
    """Greedy wrap: the fewest lines of at most `width` (an overlong word gets its own line)."""
    lines: list[str] = []
    line = ""
    for word in words:
        if line and len(line) + 1 + len(word) <= width:
            line += " " + word
        else:
            if line:
                lines.append(line)
            line = word
    if line:
        lines.append(line)
    return lines


def _layout(words: Sequence[str], width: int, max_lines: int) -> list[str]:
    """Lines for a cue: one line if it fits, else greedy lines, rebalanced when there are two."""
    lines = _wrap(words, width)
    if len(lines) != 2:
        return lines
    best = lines
    best_score = max(len(line) for line in lines)
    for cut in range(1, len(words)):
        first, second = " ".join(words[:cut]), " ".join(words[cut:])
        score = max(len(first), len(second))
        if len(first) <= width and len(second) <= width and score < best_score:
            best, best_score = [first, second], score
    return best


class CueGrouper:
    """Incremental `group_cues`: `add()` words in stream order, get the cues that are final (a cue is
    final once the next one starts, which may extend a short cue); `finish()` for the rest."""

    def __init__(
        self,
        *,
        max_line_chars: int = MAX_LINE_CHARS,
        max_lines: int = MAX_LINES,
        max_duration: float = MAX_CUE_SECONDS,
        pause: float = PAUSE_SECONDS,
        min_duration: float = MIN_CUE_SECONDS,
    ) -> None:
        self._width, self._lines = max_line_chars, max_lines
        self._max_duration, self._pause, self._min_duration = max_duration, pause, min_duration
        self._texts: list[str] = []
        self._start = self._end = 0.0
        self._held: tuple[float, float, list[str]] | None = None
        self._previous_end = 0.0
        self._index = 0

    def add(self, w: WordLike) -> list[Cue]:
        text = " ".join(str(w.word).split())
        if not text:
            return []
        out: list[Cue] = []
        w_start = _clean_time(w.start)
        w_end = max(w_start, _clean_time(w.end))
        if self._texts:
            too_long = len(_wrap([*self._texts, text], self._width)) > self._lines
            too_slow = w_end - self._start > self._max_duration
            paused = w_start - self._end >= self._pause
            if too_long or too_slow or paused:
                self._close()
        if not self._texts:
            if self._held is not None:
                out.append(self._emit(self._held, w_start))
                self._held = None
            self._start = w_start
            self._end = w_end
        self._texts.append(text)
        self._end = max(self._end, w_end)
        if ends_sentence(text):
            self._close()
        return out

    def finish(self) -> list[Cue]:
        if self._texts:
            self._close()
        held, self._held = self._held, None
        return [] if held is None else [self._emit(held, math.inf)]

    def _close(self) -> None:
        self._held = (self._start, self._end, self._texts)
        self._texts = []

    def _emit(self, group: tuple[float, float, list[str]], next_start: float) -> Cue:
        g_start, g_end, g_words = group
        c_start = max(g_start, self._previous_end)
        c_end = max(g_end, min(c_start + self._min_duration, next_start))
        c_end = max(c_end, c_start + 0.001)  # never empty, even for zero-length words
        self._index += 1
        self._previous_end = c_end
        text = "\n".join(_layout(g_words, self._width, self._lines))
        return Cue(index=self._index, start=c_start, end=c_end, text=text)


def group_cues(
    words: Iterable[WordLike],
    *,
    max_line_chars: int = MAX_LINE_CHARS,
    max_lines: int = MAX_LINES,
    max_duration: float = MAX_CUE_SECONDS,
    pause: float = PAUSE_SECONDS,
    min_duration: float = MIN_CUE_SECONDS,
) -> list[Cue]:
    """Group words (in stream order) into cues; see the module docstring for the rules."""
    grouper = CueGrouper(
        max_line_chars=max_line_chars,
        max_lines=max_lines,
        max_duration=max_duration,
        pause=pause,
        min_duration=min_duration,
    )
    cues: list[Cue] = []
    for w in words:
        cues += grouper.add(w)
    return cues + grouper.finish()


def _ms(seconds: float) -> int:
    return max(0, round(seconds * 1000))


def _clock(seconds: float, sep: str) -> str:
    ms = _ms(seconds)
    hours, ms = divmod(ms, 3_600_000)
    minutes, ms = divmod(ms, 60_000)
    secs, ms = divmod(ms, 1000)
    return f"{hours:02d}:{minutes:02d}:{secs:02d}{sep}{ms:03d}"


def _span(cue: Cue, previous_end_ms: int, sep: str) -> tuple[str, int]:
    """Start and end stamps rounded to ms, still increasing and non-empty after rounding."""
    start_ms = max(_ms(cue.start), previous_end_ms)
    end_ms = max(_ms(cue.end), start_ms + 1)
    return f"{_clock(start_ms / 1000, sep)} --> {_clock(end_ms / 1000, sep)}", end_ms


class CueRenderer:
    """SRT or WebVTT text one cue at a time (`header()` first): what `to_srt`/`to_vtt` return,
    for writing captions as they are made."""

    def __init__(self, fmt: str) -> None:
        if fmt not in ("srt", "vtt"):
            raise ValueError(f"not a cue format: {fmt!r}")
        self._vtt = fmt == "vtt"
        self._n = 0
        self._last = 0

    def header(self) -> str:
        return "WEBVTT\n" if self._vtt else ""

    def cue(self, cue: Cue) -> str:
        self._n += 1
        span, self._last = _span(cue, self._last, "." if self._vtt else ",")
        text = _vtt_escape(cue.text) if self._vtt else cue.text
        sep = "\n" if (self._vtt or self._n > 1) else ""
        return f"{sep}{self._n}\n{span}\n{text}\n"


def _render_cues(fmt: str, cues: Iterable[Cue]) -> str:
    renderer = CueRenderer(fmt)
    return renderer.header() + "".join(renderer.cue(c) for c in cues)


def to_srt(cues: Iterable[Cue]) -> str:
    """SubRip text: numbered blocks, `HH:MM:SS,mmm --> HH:MM:SS,mmm`, blank line between."""
    return _render_cues("srt", cues)


def _vtt_escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def to_vtt(cues: Iterable[Cue]) -> str:
    """WebVTT text: `WEBVTT` header, then cues with `HH:MM:SS.mmm` stamps (text HTML-escaped)."""
    return _render_cues("vtt", cues)


def to_json(words: Iterable[WordLike], cues: Iterable[Cue]) -> str:
    """`{"words": [{id, word, start, end}], "cues": [{index, start, end, text}]}`, times in seconds."""
    doc = {
        "words": [
            {"id": w.id, "word": w.word, "start": round(w.start, 3), "end": round(w.end, 3)} for w in words
        ],
        "cues": [
            {"index": c.index, "start": round(c.start, 3), "end": round(c.end, 3), "text": c.text}
            for c in cues
        ],
    }
    return json.dumps(doc, ensure_ascii=False, indent=2) + "\n"


def render(fmt: str, words: Sequence[WordLike], cues: Sequence[Cue]) -> str:
    """Render in a format named by `format_for_path`."""
    if fmt == "srt":
        return to_srt(cues)
    if fmt == "vtt":
        return to_vtt(cues)
    if fmt == "json":
        return to_json(words, cues)
    raise UsageError(f"unknown caption format {fmt!r}; choose one of: {', '.join(FORMATS)}")


def format_for_path(path_name: str) -> str:
    """"srt" | "vtt" | "json" from a file name's extension (case-insensitive); UsageError otherwise."""
    name = path_name.rstrip("/\\")
    base = re.split(r"[/\\]", name)[-1]
    ext = base.rsplit(".", 1)[-1].lower() if "." in base.lstrip(".") else ""
    if ext in FORMATS:
        return ext
    if ext == "webvtt":
        return "vtt"
    raise UsageError(
        f"cannot tell the caption format from {path_name!r}: use a file name ending in .srt, .vtt or .json"
    )
