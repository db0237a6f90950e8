"""Where each spoken word is in the source text: the line (and column) of the Markdown, or of the
plain text, that a word timestamp's word was read from.

Why in `source/`: only the source knows its lines, and the spoken text is made here. The words
come back much later, as timestamps on the run's timeline: the pipeline (`run.pipeline`) asks
`SpokenPlaces.place(word)` for each in turn and passes the answer on with the word to the outputs;
`protocol/` and the transports never see it. The spoken text may be made in another thread (live
input is read by the sender's), hence the lock.

How: as the Markdown converter gives out spoken words, `SourceTrack.said` matches their tokens
(runs of letters and digits; each kana or CJK ideograph alone) to the tokens of the source it holds,
in order, by the longest runs in common (difflib), link targets and URL paths left out, so that
words the source does not have ("a link to", a code note, a table's header repeated in a row) match
nothing and do not pull the match ahead. A word timestamp's word, verbatim from the text sent, is
then found in the spoken text from where the last one was: its first token's place, else the line
of the word before it in the same piece (or where the piece was read from), with no column. Plain
text is its own source: every word is where it is (`placed_plain`).

Memory: the converter's held source is let go up to each match and at each line no words will come
from; spoken text is let go as its words arrive and when a request's words are all in, keeping only
what a request's end is looked for in. At most MAX_HELD_CHARS of spoken text is held ahead of its words
(live input whose voice sends none; with --cache, whose whole text is read first), MAX_SOURCE_CHARS
of source.
"""

from __future__ import annotations

import re
import threading
from collections import deque
from collections.abc import Iterable, Iterator
from typing import NamedTuple

from smallest_cli.protocol.contract import MAX_TEXT_CHARS

#: The most spoken text held ahead of its words; past it the words that follow get no place.
MAX_HELD_CHARS = 64 * 1024
#: The most source held for spoken words not yet given out (a block is at most 4000 characters).
MAX_SOURCE_CHARS = 16 * 1024

#: Kana and CJK ideographs: each one a token, as emphasis may split their runs anywhere (今日は**晴れ**).
_CJK = "\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff"
#: Letters and digits, with `_` only inside (`snake_case`, not `__strong__`).
_TOKEN = re.compile(rf"[{_CJK}]|[^\W_{_CJK}]+(?:_+[^\W_{_CJK}]+)*")
_WORD = re.compile(r"\S+")
#: Link targets and URL paths: never said, their words must not draw the match away from the words
#: that are (`[the guide](https://x.io/the/guide)`).
_UNSAID = re.compile(r"\]\([^)\s]*|(?:https?://|www\.)[^\s/<>]*(/[^\s<>]*)", re.IGNORECASE)


class Place(NamedTuple):
    """A 1-based line, and column (in characters) when the word itself was found there."""

    line: int
    column: int | None


#: A token of spoken text (start, end) and where it is in the source.
Mark = tuple[int, int, Place]


class SpokenPlaces:
    """The spoken text whose words may still arrive, with its marks: `add` as it is made, `place`
    each word as it arrives, `end_segment` when a request's words are all in."""

    def __init__(self, max_chars: int = MAX_HELD_CHARS) -> None:
        self._lock = threading.Lock()
        self._max = max_chars
        #: The spoken text from offset `_base` of all spoken so far; words are looked for from `_cursor`.
        self._text = ""
        self._base = 0
        self._cursor = 0
        self._marks: deque[Mark] = deque()
        #: Where each piece of spoken text starts, and the source line it was read from.
        self._lines: deque[tuple[int, int]] = deque()
        #: Where the last word found in the source is in the spoken text, and its line.
        self._found = (-1, 0)
        #: More than MAX_HELD_CHARS came ahead of the words: the rest is not noted.
        self._full = False

    def add(self, spoken: str, marks: Iterable[Mark], line: int) -> None:
        """More spoken text, its `marks` (offsets in `spoken`), read from source line `line` on."""
        with self._lock:
            start = self._base + len(self._text)
            ahead = start - self._cursor
            # Past the cap nothing more is noted, rather than the oldest let go: a word of text let
            # go could be found in later text, and lead the words after it astray.
            self._full = self._full or (ahead > 0 and ahead + len(spoken) > self._max)
            if self._full or not spoken:
                return
            self._text += spoken
            self._marks.extend((start + s, start + e, place) for s, e, place in marks)
            self._lines.append((start, line))

    def place(self, word: str) -> Place | None:
        """Where the next word timestamp's `word` is in the source; None when it is not in the
        spoken text (then the next word is looked for from the same point)."""
        word = word.strip()
        with self._lock:
            at = self._text.find(word, self._cursor - self._base) if word else -1
            if at < 0:
                return None
            start = self._base + at
            self._forget(start)
            self._cursor = start + len(word)
            if self._marks and self._marks[0][0] < self._cursor:
                mark_start, _, place = self._marks[0]
                assert place.column is not None
                self._found = (start, place.line)
                return place._replace(column=place.column + max(0, start - mark_start))
            if not self._lines:
                return None
            # Not in the source ("a link to"): on the line of the word before it, in the same piece.
            piece_start, line = self._lines[0]
            return Place(self._found[1] if self._found[0] >= piece_start else line, None)

    def end_segment(self, text: str | None) -> None:
        """A request for `text`, a piece of the spoken text, has all its words in: the next words
        come after it, whatever became of this one's."""
        if not text:
            return
        with self._lock:
            at = self._text.find(text, max(0, self._cursor - self._base - len(text)))
            if at >= 0:
                self._forget(self._base + at + len(text))

    def _forget(self, upto: int) -> None:
        """Words are looked for from `upto` on: let go of what is before it (keeping a request's
        length of text before the cursor, for `end_segment` to find a request's text in)."""
        self._cursor = max(self._cursor, upto)
        marks, lines = self._marks, self._lines
        while marks and marks[0][1] <= upto:
            marks.popleft()
        while len(lines) > 1 and lines[1][0] <= upto:
            lines.popleft()
        keep = self._cursor - MAX_TEXT_CHARS
        if keep - self._base > MAX_TEXT_CHARS:  # not at every word: each cut copies the rest
            self._text = self._text[keep - self._base :]
            self._base = keep


class SourceTrack:
    """The source read since the last spoken words were matched to it, and where it starts: the
    Markdown converter `read`s each piece of source, says which words it gave out of it (`said`),
    and lets go of lines that no words will come from (`drop_lines`, `drop_all`)."""

    def __init__(self, places: SpokenPlaces) -> None:
        self._places = places
        self._text = ""
        self._start = Place(1, 1)

    def read(self, text: str) -> None:
        self._text += text
        if len(self._text) > MAX_SOURCE_CHARS:
            self._drop(len(self._text) - MAX_SOURCE_CHARS)

    def said(self, spoken: str) -> None:
        """`spoken` was given out, read from the source held: mark where its words are, and let go
        of the source up to the last word found."""
        if not spoken:
            return
        source = self._text
        matched = _align(spoken, source)
        places = _places_of(source, [m[2] for m in matched], self._start)
        marks = [(s, e, place) for (s, e, _, _), place in zip(matched, places, strict=True)]
        first = len(source) - len(source.lstrip())
        self._places.add(spoken, marks, _places_of(source, [first], self._start)[0].line)
        if matched:
            self._drop(matched[-1][3])

    def drop_lines(self) -> None:
        """Let go of the lines before the current one."""
        self._drop(self._text.rfind("\n") + 1)

    def drop_all(self) -> None:
        self._drop(len(self._text))

    def _drop(self, count: int) -> None:
        self._start = _places_of(self._text, [count], self._start)[0]
        self._text = self._text[count:]


def _align(spoken: str, source: str) -> list[tuple[int, int, int, int]]:
    """(start, end) in `spoken` and (start, end) in `source` of each token of `spoken` matched, in
    order, to the same token (case aside) of `source`."""
    said = [(m.start(), m.end(), m.group().casefold()) for m in _TOKEN.finditer(spoken)]
    held = [(m.start(), m.end(), m.group().casefold()) for m in _TOKEN.finditer(_UNSAID.sub(_blank, source))]
    if not said or not held:
        return []
    from difflib import SequenceMatcher  # only when places are asked for

    matcher = SequenceMatcher(None, [t[2] for t in said], [t[2] for t in held], autojunk=False)
    return [
        (*said[a + k][:2], *held[b + k][:2])
        for a, b, size in matcher.get_matching_blocks()
        for k in range(size)
    ]


def _blank(match: re.Match[str]) -> str:
    """The match, its unsaid part (all of it, or a URL's path) as spaces: the offsets stay."""
    start = match.start(1) if match.group(1) is not None else match.start()
    return match.group()[: start - match.start()] + " " * (match.end() - start)


def _places_of(text: str, offsets: list[int], start: Place) -> list[Place]:
    """The place of each of `offsets` (increasing) in `text`, which starts at `start`."""
    out: list[Place] = []
    line, column = start.line, start.column or 1
    pos = 0
    for offset in offsets:
        breaks = text.count("\n", pos, offset)
        if breaks:
            line += breaks
            column = offset - text.rfind("\n", pos, offset)
        else:
            column += offset - pos
        pos = offset
        out.append(Place(line, column))
    return out


def placed_plain(pieces: Iterable[str], places: SpokenPlaces) -> Iterator[str]:
    """`pieces` of plain text passed on, each word's place noted in `places` as it goes by."""
    start = Place(1, 1)
    for piece in pieces:
        tokens = [(m.start(), m.end()) for m in _WORD.finditer(piece)]
        found = _places_of(piece, [s for s, _ in tokens], start)
        places.add(piece, [(s, e, p) for (s, e), p in zip(tokens, found, strict=True)], start.line)
        start = _places_of(piece, [len(piece)], start)[0]
        yield piece
