"""Captions from word timings: grouping words into readable cues and rendering SRT, WebVTT and JSON.

Pure code. Words are any objects with `id`, `word`, `start`, `end` (e.g. `events.WordTimestamp`),
with times in seconds on one timeline (the pipeline places a later request's words after the audio
of the earlier ones).

A cue holds at most `max_lines` lines of at most `max_line_chars` characters (a single longer word
gets a line of its own) and lasts at most `max_duration` seconds. It ends:

* after a word that ends a sentence (`segment.ends_sentence`: `.` `!` `?` and `。！？`, with closing
  quotes; not after `Dr.` or `e.g.`), or an ellipsis;
* at a paragraph end (`end_paragraph`: a line break that is not a hard-wrapped line's, so a blank
  line or a heading; the end of a request's text; `ParagraphEnds` finds them in the text);
* before a pause of `pause` seconds or more;
* when the next word would break the limits above.

A cue of at most `ORPHAN_WORDS` words lasting less than `ORPHAN_SECONDS` is an orphan, too short to
read: it joins the cue before it when that one ended mid-sentence or at a sentence end and the
limits allow; the tail of a sentence that the limits cut off instead takes words from the cue
before it (rebalanced); a short sentence that can do neither runs on into the next one. Paragraph
ends and pauses always end a cue: a heading stands alone.
Cues never overlap; a short cue is held on screen for up to `min_duration` seconds when the next cue
leaves room.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Literal, Protocol

from smallest_cli.errors import UsageError
from smallest_cli.protocol.segment import CLOSERS, ends_sentence

MAX_LINE_CHARS = 42
MAX_LINES = 2
MAX_CUE_SECONDS = 5.0
PAUSE_SECONDS = 0.7
MIN_CUE_SECONDS = 0.7
#: A cue of this many words or fewer, shorter than ORPHAN_SECONDS, is too short to stand alone.
ORPHAN_WORDS = 2
ORPHAN_SECONDS = 1.0
#: A line this long that ends without a sentence end is taken for hard-wrapped prose: its line
#: break is a space, not a paragraph end (wrapped text is 60 to 80 columns wide).
WRAPPED_LINE_CHARS = 50

FORMATS = ("srt", "vtt", "json")

_ELLIPSIS_END = re.compile(rf"(?:…|\.\.\.)[{re.escape(CLOSERS)}]*$")
_CLAUSE_END = re.compile(rf"[,;:，、；：—–][{re.escape(CLOSERS)}]*$")
_SPACE_RUN = re.compile(r"\s*")


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


def ends_cue(word: str) -> bool:
    """Does a cue end after this word: a sentence end, or an ellipsis (a spoken pause)?"""
    return ends_sentence(word) or bool(_ELLIPSIS_END.search(word))


class ParagraphEnds:
    """Which words of one request's text end a paragraph: those followed by a line break, except
    in hard-wrapped prose (a line of WRAPPED_LINE_CHARS or more ending mid-sentence). So a heading,
    a list item or a line of verse ends one. Words are found in the text in order, as the service
    gives them: verbatim pieces of it."""

    def __init__(self, text: str) -> None:
        self._text = text
        self._pos = 0

    def after(self, word: str) -> bool:
        """Does a paragraph end after `word`, the next word of the text?"""
        word = word.strip()
        at = self._text.find(word, self._pos) if word else -1
        if at < 0:
            return False
        end = self._pos = at + len(word)
        match = _SPACE_RUN.match(self._text, end)
        breaks = match.group().count("\n") if match else 0
        if not breaks:
            return False
        line = self._text[self._text.rfind("\n", 0, at) + 1 : end].strip()
        return breaks > 1 or len(line) < WRAPPED_LINE_CHARS or ends_sentence(word)


#: Why a group of words ended: a limit (mid-sentence), a sentence end, a paragraph end or a pause.
_End = Literal["limit", "sentence", "paragraph", "pause"]
#: Ends after which an orphan may still join the cue (the same paragraph, no pause between).
_JOINABLE = ("limit", "sentence")


@dataclass(slots=True)
class _Group:
    """The words of one cue in the making: (text, start, end) each, and why the cue ended."""

    words: list[tuple[str, float, float]] = field(default_factory=list)
    ended: _End = "limit"

    @property
    def start(self) -> float:
        return self.words[0][1]

    @property
    def end(self) -> float:
        return max(w[2] for w in self.words)

    @property
    def texts(self) -> list[str]:
        return [w[0] for w in self.words]


class CueGrouper:
    """Incremental `group_cues`: `begin_text()` with each request's text, `add()` its words in
    stream order and `end_paragraph()` at its end, and get the cues that are final (a cue is final
    once the next one has started and can no longer give it words or take some); `finish()` for
    the rest."""

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
        self._current = _Group()
        #: The cue before the current one, kept while the current one may still be an orphan.
        self._held: _Group | None = None
        self._previous_end = 0.0
        self._index = 0
        self._paragraphs: ParagraphEnds | None = None

    def begin_text(self, text: str | None) -> None:
        """The words that follow are those of `text` (one request's; None when not known, as for
        live input): the paragraph ends in it end cues."""
        self._paragraphs = ParagraphEnds(text) if text else None

    def add(self, w: WordLike) -> list[Cue]:
        text = " ".join(str(w.word).split())
        if not text:
            return []
        out: list[Cue] = []
        w_start = _clean_time(w.start)
        w_end = max(w_start, _clean_time(w.end))
        current = self._current
        if current.words:
            if not self._fits(_Group([*current.words, (text, w_start, w_end)])):
                self._close("limit", out)
            elif w_start - current.end >= self._pause:
                self._close("pause", out)
        current = self._current
        current.words.append((text, w_start, w_end))
        held = self._held
        if held is not None and (held.ended not in _JOINABLE or not self._orphan(current)):
            out.append(self._emit(held, current.start))
            self._held = None
        if self._paragraphs is not None and self._paragraphs.after(str(w.word)):
            out += self.end_paragraph()
        elif ends_cue(text):
            self._close("sentence", out)
        return out

    def end_paragraph(self) -> list[Cue]:
        """A paragraph ends after the last word added: the cue ends there, short or not."""
        out: list[Cue] = []
        if self._current.words:
            self._close("paragraph", out)
        elif self._held is not None:
            self._held.ended = "paragraph"
        return out

    def finish(self, *, hold: bool = True) -> list[Cue]:
        """The cues left. `hold=False` ends the last cue with its last word, not `min_duration`
        later (when the audio stops there: a run that failed)."""
        out = self.end_paragraph()
        held, self._held = self._held, None
        if held is not None:
            out.append(self._emit(held, math.inf if hold else held.end))
        return out

    def _close(self, ended: _End, out: list[Cue]) -> None:
        """End the current cue. An orphan joins the held cue, or takes words from it when the limits
        cut a sentence just before it; a sentence too short for a cue of its own runs on."""
        group, held = self._current, self._held
        group.ended = ended
        if ended != "limit" and held is not None and held.ended in _JOINABLE:
            if self._orphan(group):
                joined = _Group([*held.words, *group.words], ended)
                if self._fits(joined):
                    self._current, self._held = _Group(), joined
                    return
                cut = self._rebalance(joined.words) if held.ended == "limit" else None
                if cut is not None:
                    held, group = _Group(joined.words[:cut], "limit"), _Group(joined.words[cut:], ended)
        if ended == "sentence" and self._orphan(group):
            return
        if held is not None:
            out.append(self._emit(held, group.start))
        self._current, self._held = _Group(), group

    def _fits(self, group: _Group) -> bool:
        lines_ok = len(_wrap(group.texts, self._width)) <= self._lines
        return lines_ok and group.end - group.start <= self._max_duration

    @staticmethod
    def _orphan(group: _Group) -> bool:
        return len(group.words) <= ORPHAN_WORDS and group.end - group.start < ORPHAN_SECONDS

    def _rebalance(self, words: list[tuple[str, float, float]]) -> int | None:
        """Where to cut `words` into two cues that both fit and neither is an orphan: after a clause
        mark if possible, else where their lengths are nearest; None when there is no such cut."""
        best: int | None = None
        best_score = (False, -math.inf)
        for cut in range(1, len(words)):
            first, second = _Group(words[:cut]), _Group(words[cut:])
            if not (self._fits(first) and self._fits(second)) or self._orphan(first) or self._orphan(second):
                continue
            balance = -max(len(" ".join(first.texts)), len(" ".join(second.texts)))
            score = (bool(_CLAUSE_END.search(words[cut - 1][0])), float(balance))
            if score > best_score:
                best, best_score = cut, score
        return best

    def _emit(self, group: _Group, next_start: float) -> Cue:
        c_start = max(group.start, self._previous_end)
        c_end = max(group.end, min(c_start + self._min_duration, next_start))
        c_end = max(c_end, c_start + 0.001)  # never empty, even for zero-length words
        self._index += 1
        self._previous_end = c_end
        text = "\n".join(_layout(group.texts, self._width, self._lines))
        return Cue(index=self._index, start=c_start, end=c_end, text=text)


def group_cues(
    words: Iterable[WordLike],
    *,
    max_line_chars: int = MAX_LINE_CHARS,
    max_lines: int = MAX_LINES,
    max_duration: float = MAX_CUE_SECONDS,
    pause: float = PAUSE_SECONDS,
    min_duration: float = MIN_CUE_SECONDS,
    text: str | None = None,
) -> list[Cue]:
    """Group words (in stream order; of `text`, when given, whose paragraph ends end cues) into
    cues; see the module docstring for the rules."""
    grouper = CueGrouper(
        max_line_chars=max_line_chars,
        max_lines=max_lines,
        max_duration=max_duration,
        pause=pause,
        min_duration=min_duration,
    )
    grouper.begin_text(text)
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
