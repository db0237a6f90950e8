"""Captions from word timings: grouping words into readable cues and rendering SRT, WebVTT and JSON.

Pure code. Words are any objects with `id`, `word`, `start`, `end` (e.g. `events.WordTimestamp`),
with times in seconds on one timeline (use `offset_words` to place a later request's words after the
audio of the earlier ones).

A cue holds at most `max_lines` lines of at most `max_line_chars` characters (a single longer word
gets a line of its own), lasts at most `max_duration` seconds, and ends after a word that ends a
sentence or before a pause of `pause` seconds or more. Cues never overlap; a short cue is held on
screen for up to `min_duration` seconds when the next cue leaves room.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Protocol

from smallest_cli.errors import UsageError
from smallest_cli.events import WordTimestamp

MAX_LINE_CHARS = 42
MAX_LINES = 2
MAX_CUE_SECONDS = 5.0
PAUSE_SECONDS = 0.7
MIN_CUE_SECONDS = 0.7

FORMATS = ("srt", "vtt", "json")

_SENTENCE_END = re.compile(r"[.!?…。！？।॥][\"'”’»)\]}」』）]*$")


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


def offset_words(words: Iterable[WordLike], seconds: float, id_offset: int = 0) -> list[WordTimestamp]:
    """Shift word times by `seconds` and ids by `id_offset` (for the 2nd, 3rd... request's words)."""
    return [WordTimestamp(w.id + id_offset, w.word, w.start + seconds, w.end + seconds) for w in words]


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
    groups: list[tuple[float, float, list[str]]] = []
    texts: list[str] = []
    start = end = 0.0
    for w in words:
        text = " ".join(str(w.word).split())
        if not text:
            continue
        w_start = _clean_time(w.start)
        w_end = max(w_start, _clean_time(w.end))
        if texts:
            too_long = len(_wrap([*texts, text], max_line_chars)) > max_lines
            too_slow = w_end - start > max_duration
            paused = w_start - end >= pause
            if too_long or too_slow or paused:
                groups.append((start, end, texts))
                texts = []
        if not texts:
            start = w_start
            end = w_end
        texts.append(text)
        end = max(end, w_end)
        if _SENTENCE_END.search(text):
            groups.append((start, end, texts))
            texts = []
    if texts:
        groups.append((start, end, texts))

    cues: list[Cue] = []
    previous_end = 0.0
    for i, (g_start, g_end, g_words) in enumerate(groups):
        c_start = max(g_start, previous_end)
        next_start = groups[i + 1][0] if i + 1 < len(groups) else math.inf
        c_end = max(g_end, min(c_start + min_duration, next_start))
        c_end = max(c_end, c_start + 0.001)  # never empty, even for zero-length words
        text = "\n".join(_layout(g_words, max_line_chars, max_lines))
        cues.append(Cue(index=i + 1, start=c_start, end=c_end, text=text))
        previous_end = c_end
    return cues


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


def to_srt(cues: Iterable[Cue]) -> str:
    """SubRip text: numbered blocks, `HH:MM:SS,mmm --> HH:MM:SS,mmm`, blank line between."""
    blocks: list[str] = []
    last = 0
    for n, cue in enumerate(cues, start=1):
        span, last = _span(cue, last, ",")
        blocks.append(f"{n}\n{span}\n{cue.text}\n")
    return "\n".join(blocks)


def _vtt_escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def to_vtt(cues: Iterable[Cue]) -> str:
    """WebVTT text: `WEBVTT` header, then cues with `HH:MM:SS.mmm` stamps (text HTML-escaped)."""
    parts = ["WEBVTT\n"]
    last = 0
    for n, cue in enumerate(cues, start=1):
        span, last = _span(cue, last, ".")
        parts.append(f"{n}\n{span}\n{_vtt_escape(cue.text)}\n")
    return "\n".join(parts)


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
