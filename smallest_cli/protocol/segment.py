"""Splitting text into request-sized segments (at most 250 characters, aiming near 140). Pure code.

Where a segment ends, in order of preference:

1. a sentence end: `.` `!` `?` (with closing quotes/brackets) followed by whitespace, a blank line,
   or a CJK/Devanagari mark `。！？।॥` (no whitespace needed after those);
2. a clause mark: `,` `;` `:` `—` `–`, a spaced ` - `, an ellipsis (`...`, `…`) followed by whitespace,
   or a CJK clause mark `，、；：`;
3. a space;
4. a gap between two CJK characters (CJK text has no spaces);
5. as a last resort a hard cut at `max_chars` (only for a run with no boundary at all, e.g. a single
   word or URL longer than the limit, or Hindi written without spaces).

No segment ends inside a character (a grapheme cluster: a letter and its combining marks, a
conjunct like स्ते, an emoji with its modifiers or ZWJ sequence, a flag, a Hangul syllable; see
`graphemes.py`): a hard cut moves back to the last cluster boundary, and a boundary of any level
that falls inside a cluster is not used. Only a cluster longer than `max_chars` is cut.

Within a level the boundary whose segment length is nearest `target_chars` wins; boundaries that
would leave a segment shorter than `target_chars // 3` are used only when nothing better exists.
A `.` is not a sentence end inside a number (`3.14`), a URL (`example.com/a.b`; no whitespace
follows), an ellipsis, or after an abbreviation (`Dr.`, `e.g.`, `etc.`, initials like `J.`); the
space after an abbreviation is not used as a boundary either, so `Dr. Smith` stays together.

Invariants (tested):
* every segment is stripped, non-empty and at most `max_chars` characters (code points);
* every segment ends at a cluster boundary of the text, and starts at one or after whitespace (a
  combining mark written on a space loses its space, trimmed like any other);
* the non-whitespace characters are kept exactly, in order:
  `"".join("".join(s.split()) for s in segments) == "".join(text.split())`;
* when the text has no CJK characters, none of the marks that end a sentence or a clause without
  whitespace (`。！？।॥，、；：`) and no whitespace-free run longer than `max_chars`, no word is cut:
  `" ".join(segments).split() == text.split()`;
* the result does not depend on how the text is split into `feed()` calls.

A pause in the input (`finish_sentences()`, an empty piece for `iter_segments`) ends a segment at
the last sentence end already received, so that slowly arriving text is spoken sentence by sentence
instead of waiting for a full segment; text that arrives without pausing is segmented as above.

Streaming: a decision only ever looks at the next `max_chars + LOOKAHEAD` characters, so `feed()`
returns a segment as soon as that much text follows its start, and holds back less than that.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field

from smallest_cli.protocol.contract import MAX_TEXT_CHARS, TARGET_TEXT_CHARS
from smallest_cli.protocol.graphemes import is_boundary, last_boundary

#: Characters a decision may look at beyond `max_chars` (closing quotes, a following blank line).
LOOKAHEAD = 8

#: What may close a sentence after its end mark (quotes, brackets).
CLOSERS = "\"'”’»)]}」』）】》"
_CL = re.escape(CLOSERS)
_CJK = "\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff"

_DOT_RUN = re.compile(rf"[.!?…]+[{_CL}]*(?=\s)")
_HARD_MARK = re.compile(rf"[。！？।॥]+[{_CL}]*")
_BLANK_LINE = re.compile(r"\n[^\S\n]*\n")
_CLAUSE = re.compile(rf"[,;:—–]+[{_CL}]*(?=\s)|(?<=\s)-(?=\s)")
_HARD_CLAUSE = re.compile(rf"[，、；：]+[{_CL}]*")
_SPACE = re.compile(r"(?<=\S)\s")
_CJK_GAP = re.compile(rf"(?<=[{_CJK}])(?=[{_CJK}])")
_WORD_BEFORE = re.compile(r"(?<!\S)(\S{1,16})$")
_DOTTED = re.compile(r"^(?:[a-z]\.)+[a-z]$")  # e.g, i.e, u.s, a.m

#: Lower-cased, without the final dot. Not sentence ends; the following space is not a boundary.
ABBREVIATIONS = frozenset(
    """
    mr mrs ms mx dr prof sr jr st mt rev fr hon gen col capt lt sgt cpl pres gov sen rep
    e.g i.e etc vs cf al approx ca fig figs vol vols ch sec art dept est inc ltd co corp
    jan feb mar apr jun jul aug sep sept oct nov dec mon tue wed thu fri sat sun
    a.m p.m u.s u.k no nos op pp
    """.split()
)


def _is_abbreviation(window: str, dot: int) -> bool:
    """Is the `.` at `window[dot]` the end of an abbreviation or an initial?"""
    match = _WORD_BEFORE.search(window, max(0, dot - 16), dot)
    if not match:
        return False
    token = match.group(1).lstrip("\"'“‘(«[{").lower()
    if not token:
        return False
    if len(token) == 1 and token.isalpha() and token != "i":
        return True  # an initial: "J. K. Rowling" (but "... so did I. Then")
    return token in ABBREVIATIONS or bool(_DOTTED.match(token))


@dataclass(frozen=True, slots=True)
class _Boundaries:
    sentence: list[int]
    clause: list[int]
    space: list[int]
    cjk: list[int]
    glue: list[int]


def _boundaries(window: str, limit: int) -> _Boundaries:
    """Candidate cut positions p (segment = window[:p]) with 1 <= p <= limit, by level."""
    sentence: list[int] = []
    clause: list[int] = []
    glue: set[int] = set()
    for m in _DOT_RUN.finditer(window):
        p = m.end()
        run = m.group(0).rstrip(CLOSERS)
        if p > limit:
            break
        if "!" in run or "?" in run:
            sentence.append(p)
        elif run == ".":
            if _is_abbreviation(window, m.start()):
                glue.add(p)
            else:
                sentence.append(p)
        else:  # "...", "…", "..": an ellipsis pauses but does not end the sentence
            clause.append(p)
    sentence += [m.end() for m in _HARD_MARK.finditer(window) if m.end() <= limit]
    sentence += [m.start() for m in _BLANK_LINE.finditer(window) if 0 < m.start() <= limit]
    clause += [m.end() for m in _CLAUSE.finditer(window) if m.end() <= limit]
    clause += [m.end() for m in _HARD_CLAUSE.finditer(window) if m.end() <= limit]
    space = [p for p in (m.start() for m in _SPACE.finditer(window, 0, limit + 1)) if p not in glue]
    cjk = [m.start() for m in _CJK_GAP.finditer(window, 1, limit + 1) if 0 < m.start() <= limit]
    return _Boundaries(sentence, clause, space, cjk, sorted(glue))


def _choose_cut(window: str, max_chars: int, target: int) -> int:
    """Where to end the next segment of `window` (which is longer than `max_chars`)."""
    found = _boundaries(window, max_chars)
    minimum = max(1, target // 3)
    for level in (found.sentence, found.clause, found.space, found.cjk):
        good = [p for p in level if minimum <= p <= max_chars]
        cut = _first_cluster_boundary(window, sorted(good, key=lambda p: (abs(p - target), -p)))
        if cut:
            return cut
    rest = [
        p
        for level in (found.sentence, found.clause, found.space, found.cjk, found.glue)
        for p in level
        if 0 < p <= max_chars and window[:p].strip()
    ]
    cut = _first_cluster_boundary(window, sorted(rest, reverse=True))
    return cut or last_boundary(window, max_chars) or max_chars


def _first_cluster_boundary(window: str, candidates: list[int]) -> int | None:
    """The first of `candidates` that does not cut a character in two (a CJK gap before a combining
    voiced mark, say)."""
    return next((p for p in candidates if is_boundary(window, p)), None)


@dataclass
class Segmenter:
    """Incremental segmenter: `feed()` text as it comes, `finish()` at the end (or to flush now),
    `finish_sentences()` when the input pauses.

    `pending` is the text held back, for a live caller (LLM tokens) deciding whether to flush.
    After `finish()` the segmenter is empty and can be fed again.
    """

    max_chars: int = MAX_TEXT_CHARS
    target_chars: int = TARGET_TEXT_CHARS
    _buf: str = field(default="", repr=False)

    def __post_init__(self) -> None:
        if self.max_chars < 1:
            raise ValueError(f"max_chars must be at least 1, not {self.max_chars}")
        if not (1 <= self.target_chars <= self.max_chars):
            raise ValueError(f"target_chars must be within 1..{self.max_chars}, not {self.target_chars}")

    @property
    def pending(self) -> str:
        """The buffered text not yet returned as a segment (leading whitespace dropped)."""
        return self._buf

    def feed(self, text: str) -> list[str]:
        """Add text; return the segments that are final given everything seen so far."""
        buf = self._buf + text
        window = self.max_chars + LOOKAHEAD
        out: list[str] = []
        pos = _skip_space(buf, 0)
        while len(buf) - pos >= window:
            chunk = buf[pos : pos + window]
            cut = _choose_cut(chunk, self.max_chars, self.target_chars)
            out.append(chunk[:cut].strip())
            pos = _skip_space(buf, pos + cut)
        self._buf = buf[pos:]
        return out

    def finish(self) -> list[str]:
        """Return the remaining segments and empty the buffer."""
        rest, self._buf = self._buf, ""
        return self._split(rest)

    def finish_sentences(self) -> list[str]:
        """Return the segments of the buffered text up to its last sentence end (as `sentence_ends`
        finds them), keeping the rest: for input that paused after a finished sentence, which is
        then spoken without waiting for the text that follows it."""
        ends = sentence_ends(self._buf)
        if not ends:
            return []
        done = self._buf[: ends[-1]]
        self._buf = self._buf[_skip_space(self._buf, ends[-1]) :]
        return self._split(done)

    def _split(self, rest: str) -> list[str]:
        """All the segments of `rest`, which ends where the text does (for now)."""
        out: list[str] = []
        pos = _skip_space(rest, 0)
        while True:
            tail = rest[pos:].rstrip()
            if not tail:
                return out
            if len(tail) <= self.max_chars:
                out.append(tail)
                return out
            chunk = rest[pos : pos + self.max_chars + LOOKAHEAD]
            cut = _choose_cut(chunk, self.max_chars, self.target_chars)
            out.append(chunk[:cut].strip())
            pos = _skip_space(rest, pos + cut)


def _skip_space(text: str, pos: int) -> int:
    n = len(text)
    while pos < n and text[pos].isspace():
        pos += 1
    return pos


def segment_text(
    text: str, max_chars: int = MAX_TEXT_CHARS, target_chars: int = TARGET_TEXT_CHARS
) -> list[str]:
    """All segments of `text`."""
    seg = Segmenter(max_chars=max_chars, target_chars=target_chars)
    return seg.feed(text) + seg.finish()


def iter_segments(
    chunks: Iterable[str], max_chars: int = MAX_TEXT_CHARS, target_chars: int = TARGET_TEXT_CHARS
) -> Iterator[str]:
    """Segments of a text given in pieces (lines of a file, blocks of a stream), lazily. An empty
    piece says that the input paused (more text would have to be waited for): the finished
    sentences held back are returned then (`Segmenter.finish_sentences`) rather than with the
    text that comes after the pause."""
    seg = Segmenter(max_chars=max_chars, target_chars=target_chars)
    for chunk in chunks:
        yield from seg.feed(chunk) if chunk else seg.finish_sentences()
    yield from seg.finish()


def sentence_ends(text: str) -> list[int]:
    """Positions just after each sentence end in `text`, by the segmenter's rules: a `!`/`?` run or a
    `.` that is not an abbreviation or an initial (with closing quotes, followed by whitespace), a
    CJK/Devanagari mark, or the start of a blank line. Ellipses pause but do not end a sentence; a
    final `.` with nothing after it is not an end yet. Live input is flushed at these positions."""
    return sorted({p for p in _boundaries(text, len(text)).sentence if is_boundary(text, p)})


def ends_sentence(word: str) -> bool:
    """Does this word (as word timestamps give it: `Dr.`, `2024.`, `"Go!"`) end a sentence, by the
    rules of `sentence_ends`? Abbreviations and initials (`Dr.`, `e.g.`, `J.`) and ellipses do not.
    Captions close a cue after such a word; the live display shows the sentence it ends."""
    word = word.rstrip()
    return len(word) in sentence_ends(word + " ") if word else False
