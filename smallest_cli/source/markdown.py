"""Markdown as a person reads it aloud: `# Notes`, `**new**`, `[the guide](https://…)` and code
blocks become "Notes. The new … the guide …", never "hash", "asterisk asterisk" or a URL.

Why in `source/`: this decides which text is spoken (text in, text out), before that text is cut into
requests (`protocol.segment`) or live messages (`protocol.live`). It borrows the segmenter's sentence
rules, so that the sentences it gives out early end where the segmenter and the live splitter cut;
that import follows the data flow (source -> protocol), and protocol never imports source.

What a reader says:
* headings, paragraphs, list items and block quotes: each a sentence, ended where the block ends
  (".", or "。"/"।" after CJK/Devanagari; a trailing ":" or "," becomes the end);
* emphasis, strong, strikethrough and inline code: their text; links: their label; images: their alt
  text; bare URLs and autolinks: "a link to example.com"; footnote marks and HTML: nothing;
* code blocks, fenced or indented: `code` "note" says CODE_NOTE, "skip" nothing, "read" their text;
* tables: row by row, "header: value, header: value.";
* thematic breaks and link reference definitions: nothing;
* front matter: nothing. YAML between `---` lines or TOML between `+++` lines, the opening fence on the
  document's first line, as static-site generators and GitHub take it; a `---` anywhere else keeps its
  CommonMark meaning (a thematic break, or a setext heading's underline).
CommonMark's own rules keep snake_case's `_` and a spaced `2 * 3`; a `*` between a digit and a letter
or digit (`2*3*4`, `2*x`) stays math.

Streaming (`feed()` / `finish()`): markdown-it parses whole strings, so the block boundaries are found
here, line by line (blank lines, fences, headings, list items, quotes, table rows), and each complete
block is handed to markdown-it. A line is classified as soon as its start allows (`- a` is a list
item whatever follows; `---` must wait for its end). Within a paragraph a finished sentence is given
out at once when nothing before it may still be open (an unclosed `**`, `` ` ``, `[` or `<`: checked
by rendering the text up to the sentence end), so speech starts before the paragraph ends. Every
decision depends only on the text up to a fixed point, never on how the input was cut into pieces:
the result is the same whole or in any pieces (tested).

Memory: a block is held until it ends or a sentence in it can be given out, and never beyond
MAX_BLOCK_CHARS (then it is cut at its last sentence end, else at a space); a code block's body is
never held (read mode gives it out as it comes), however long its fence stays open. Front matter is
held until its closing fence, at most MAX_BLOCK_CHARS: one that has not closed by then, or by the end of
the input, is not front matter (GitHub's reading of an unclosed fence) and is read as Markdown, from its
first line, as if it had never been held.

Places (`places`, when word timestamps are listed): every piece given out (`_say`) is matched to the
source read since the last one (`source.places.SourceTrack`), which is let go once no words can come
from it: at each block's end and at each line outside a block.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from typing import Any
from urllib.parse import urlsplit

from markdown_it import MarkdownIt

from smallest_cli.protocol.segment import CLOSERS, sentence_ends
from smallest_cli.source.places import SourceTrack, SpokenPlaces

#: What `--code note` says in place of a code block.
CODE_NOTE = "There is a code block here."
#: The longest block held (a paragraph with no sentence end that is safe to give out early).
MAX_BLOCK_CHARS = 4000
#: The longest line start kept undecided (marker characters only: `---`, `| --- |`); beyond, it is text.
UNDECIDED_CHARS = 256

_ENDS = ".!?…。！？।॥"
_SOFT_ENDS = ":;,，、：；"
_QUOTE = re.compile(r"(?:[ \t]*>[ \t]?)+")
_HEADING = re.compile(r"#{1,6}(?:[ \t]|$)")
_ITEM = re.compile(r"(?:[-+*]|(\d{1,9})[.)])(?:[ \t]+|$)")
_FENCE = re.compile(r"(`{3,}|~{3,})(.*)")
_RULE = re.compile(r"(?:\*[ \t]*){3,}|(?:_[ \t]*){3,}|(?:-[ \t]*){3,}|-+[ \t]*|=+[ \t]*")
_DELIM = re.compile(r"\|?[ \t]*:?-+:?[ \t]*(?:\|[ \t]*:?-+:?[ \t]*)*\|?[ \t]*")
#: A line start made of these alone may still become a rule, a table delimiter row or a list item.
_MARKERS = re.compile(r"[-*_=+|:.) \t0-9]*")
#: `*` between a digit and a letter or digit is math, not emphasis: hidden from markdown-it.
_MATH_STAR = re.compile(r"(?<=[0-9])\*+(?=[A-Za-z0-9])|(?<=[A-Za-z])\*+(?=[0-9])")
_STAR = "\ue000"
_URL = re.compile(r"\b(?:https?://|www\.)[^\s<>\"]+", re.IGNORECASE)
_URL_TRAIL = ".,:;!?'\")]*_~"
_FOOTNOTE = re.compile(r"\[\^[^\]\s]+\]:?")
_REF_LINK = re.compile(r"\[([^\[\]]+)\]\[[^\[\]]*\]")
_CHECKBOX = re.compile(r"^\[[ xX]\][ \t]+")
_SPACE = re.compile(r"\s")
#: What may still open an inline construct that later text closes (see `_may_open`).
_OPENERS = re.compile(r"`|\[|~~|<[A-Za-z/!?]")
_RUN = re.compile(r"[*_]+")

_NEVER = re.compile(r"(?!)")
#: A front matter fence (YAML, TOML), and the starts of a first line that may still become one.
_FRONT_FENCE = re.compile(r"(---|\+\+\+)[ \t]*")
_FRONT_START = re.compile(r"-{0,3}|\+{0,3}|(?:---|\+\+\+)[ \t]*")
_SPEAKABLE = frozenset({"para", "item", "quote"})
#: Blocks that may still give out words from lines already read (a heading ends with its line).
_HELD = _SPEAKABLE | {"html"}


class MarkdownSpeech:
    """Markdown in, in pieces (`feed`), the words a person would say out (see the module docstring).
    `code`: "note", "skip" or "read" (code blocks); `places`: where to note the place of each word
    given out in the source (`source.places`)."""

    def __init__(self, code: str = "note", places: SpokenPlaces | None = None) -> None:
        self._md = MarkdownIt("commonmark").enable(["table", "strikethrough"])
        self._code = code
        self._track = None if places is None else SourceTrack(places)
        self._reset()

    def _reset(self) -> None:
        self._cr = False
        #: The current line's start while its kind is undecided.
        self._line = ""
        #: None: undecided; "block": its text goes to `_block`; "code": code body; "done": handled.
        self._line_kind: str | None = None
        #: "" between blocks, or the open block: para, item, quote, heading, html, table, fence, indented.
        self._mode = ""
        self._block = ""
        #: Where the block's words start (after its first line's markers), and the last sentence end
        #: found unsafe to give out early.
        self._start = 0
        self._checked = 0
        #: Part of the block was given out: what is left starts mid-paragraph.
        self._cut = False
        self._quote = ""
        self._dedent = 0
        self._in_list = False
        #: The open fence: what a line that may still close it matches, and what closes it.
        self._fence = (_NEVER, _NEVER)
        self._table = ""
        #: The document's start while it may be front matter (None once decided), and its fence.
        self._front: str | None = ""
        self._front_fence = ""

    @property
    def held(self) -> int:
        """How many characters of the input are held, waiting for their block or sentence to end."""
        return len(self._line) + len(self._block) + len(self._table) + len(self._front or "")

    # -- input ----------------------------------------------------------------------------------

    def feed(self, text: str) -> str:
        """The words that are final once `text` is added."""
        if self._cr:
            text = "\r" + text
        self._cr = text.endswith("\r")
        if self._cr:
            text = text[:-1]
        text = text.replace("\r\n", "\n").replace("\r", "\n")
        out: list[str] = []
        start = 0
        while True:
            end = text.find("\n", start)
            self._take(text[start:] if end < 0 else text[start:end], out)
            if end < 0:
                return "".join(out)
            self._end_line(out)
            start = end + 1

    def finish(self) -> str:
        """The rest of the words, at the end of the input; the converter is then empty again."""
        pending = self._line or self._line_kind or not (self._front or "\n").endswith("\n")
        out = [self.feed("\n")] if self._cr or pending else []
        self._not_front_matter(out)  # still open at the end
        self._flush(out)
        self._reset()
        return "".join(out)

    def _take(self, piece: str, out: list[str]) -> None:
        """More characters of the current line."""
        if not piece:
            return
        if self._front is not None:
            self._front += piece
            line = self._front[self._front.rfind("\n") + 1 :]
            if len(self._front) > MAX_BLOCK_CHARS or not (self._front_fence or _FRONT_START.fullmatch(line)):
                self._not_front_matter(out)
            return
        if self._track is not None:
            self._track.read(piece)
        if self._line_kind == "code":
            if self._code == "read":
                self._say(piece, out)
        elif self._line_kind == "block":
            self._append(piece, out)
        else:
            self._line += piece
            kind = self._decide(complete=False)
            if kind is not None:
                self._begin(kind, out)

    def _end_line(self, out: list[str]) -> None:
        if self._front is not None and self._front_line(out):
            return
        if self._line_kind is None:
            kind = self._decide(complete=True)
            assert kind is not None
            self._begin(kind, out)
        if self._line_kind == "code" and self._code == "read":
            self._say("\n", out)
        elif self._line_kind == "block":
            self._append("\n", out)
            if self._mode == "heading":
                self._flush(out)
        self._line, self._line_kind = "", None
        if self._track is not None:
            self._track.read("\n")
            if self._mode not in _HELD:
                self._track.drop_all()  # no words will come from these lines

    # -- front matter ---------------------------------------------------------------------------

    def _front_line(self, out: list[str]) -> bool:
        """The end of a line at the document's start: whether it is dealt with here (held as front
        matter's, dropped with the block it closes, or read with the block held once that is too
        long), else the first line is not a fence and is read as Markdown."""
        front = self._front or ""
        fence = _FRONT_FENCE.fullmatch(front[front.rfind("\n") + 1 :])
        if not self._front_fence:
            if fence is None:
                self._not_front_matter(out)
                return False
            self._front_fence = fence.group(1)
        elif fence is not None and fence.group(1) == self._front_fence:
            self._front = None
            if self._track is not None:  # its lines are counted, for the words after it
                self._track.read(front + "\n")
                self._track.drop_all()
            return True
        self._front = front + "\n"
        if len(self._front) > MAX_BLOCK_CHARS:
            self._not_front_matter(out)
        return True

    def _not_front_matter(self, out: list[str]) -> None:
        """The start held is not front matter: read it as Markdown, as if it had never been held."""
        held, self._front = self._front or "", None
        *lines, rest = held.split("\n")
        for line in lines:
            self._take(line, out)
            self._end_line(out)
        self._take(rest, out)

    # -- lines ----------------------------------------------------------------------------------

    def _decide(self, complete: bool) -> str | None:
        """The current line's kind, or None while its start allows more than one (held at most
        UNDECIDED_CHARS, or a table row's MAX_BLOCK_CHARS: then code in a fence, else text)."""
        kind = self._kind(self._line, complete)
        if kind is None and len(self._line) > (MAX_BLOCK_CHARS if self._mode == "table" else UNDECIDED_CHARS):
            return "code" if self._mode == "fence" else "text"
        return kind

    def _kind(self, line: str, complete: bool) -> str | None:
        if self._mode == "fence":
            may_close, closes = self._fence
            if not may_close.fullmatch(line):
                return "code"
            return ("close" if closes.fullmatch(line) else "code") if complete else None
        text = line.lstrip(" \t")
        indent = _width(line[: len(line) - len(text)])
        if self._mode == "indented" and (not text or indent >= 4):
            return ("blank" if complete else None) if not text else "code"
        if self._mode == "table" and text:
            if not complete:
                return None
            if "|" in text:
                return "row"
        return _kind(text, indent, complete, self._mode, self._in_list)

    def _begin(self, kind: str, out: list[str]) -> None:
        """Act on the current line once its kind is known: end or open a block, or add to one."""
        line, self._line = self._line, ""
        text = line.lstrip(" \t")
        indent = _width(line[: len(line) - len(text)])
        self._line_kind = "done"
        if kind == "code":
            self._line_kind = "code"
            if self._code == "read":
                self._say(line, out)
        elif kind == "close":
            self._mode = ""
        elif kind == "row":
            self._say("".join(f"{leaf}\n" for leaf in self._render(self._table + line)[0]), out)
        elif kind == "blank":
            if self._mode != "indented":
                self._flush(out)
        elif kind in ("rule", "fence", "indented"):
            self._flush(out)
            self._in_list = self._in_list and indent > 0
            if kind != "rule":
                self._open_code(kind, text, line, out)
        elif kind == "delim" and self._starts_table(line, out):
            return
        else:
            self._add_line("text" if kind == "delim" else kind, line, indent, out)

    def _open_code(self, kind: str, text: str, line: str, out: list[str]) -> None:
        """Open a fenced or indented code block with `line` (`text`: without its indentation)."""
        if kind == "fence":
            fence = _FENCE.match(text)
            assert fence is not None
            char, size = re.escape(fence.group(1)[0]), len(fence.group(1))
            may_close = re.compile(rf"[ \t]*(?:{char}+[ \t]*)?")
            self._fence = (may_close, re.compile(rf"[ \t]*{char}{{{size},}}[ \t]*"))
        else:
            self._line_kind = "code"
            if self._code == "read":
                self._say(line, out)
        self._mode = kind
        if self._code == "note":
            self._say(CODE_NOTE + "\n", out)

    def _add_line(self, kind: str, line: str, indent: int, out: list[str]) -> None:
        """A line of text: it continues the open block, or ends it and opens one."""
        mode = self._mode
        continues = (
            mode == "html"  # an HTML block runs to a blank line
            or (kind == "text" and mode in _SPEAKABLE)  # a paragraph's next line, or a lazy one
            or (kind == "quote" and mode == "quote")
        )
        if continues:
            line = _dedent(line, self._dedent)
        else:
            self._flush(out)
            line = self._open(kind, line, indent)
        self._line_kind = "block"
        self._append(line, out)

    def _open(self, kind: str, line: str, indent: int) -> str:
        """Open a block with `line`, returned as the block is to hold it (list indentation removed)."""
        modes = {"text": "para", "item": "item", "quote": "quote", "heading": "heading", "html": "html"}
        self._mode = modes[kind]
        self._in_list = kind == "item" or (self._in_list and indent > 0)
        self._dedent = indent if self._in_list else 0
        line = _dedent(line, self._dedent)
        self._checked, self._cut, self._quote, self._start = 0, False, "", 0
        if kind == "item":
            text = line.lstrip(" \t")
            item = _ITEM.match(text)
            self._start = len(line) - len(text) + (item.end() if item else 0)
        elif kind == "quote":
            markers = _QUOTE.match(line)
            self._start = markers.end() if markers else 0
            self._quote = ">" * line.count(">", 0, self._start) + " "
        return line

    def _starts_table(self, delim: str, out: list[str]) -> bool:
        """A delimiter row under a paragraph line with pipes: that line is a table's header."""
        if self._mode != "para":
            return False
        body, _, header = self._block.rstrip("\n").rpartition("\n")
        table = f"{header}\n{delim}\n"
        if "|" not in header or not any(t.type == "table_open" for t in self._md.parse(table)):
            return False
        self._block = body
        self._flush(out)
        self._mode, self._table = "table", table
        return True

    # -- blocks ---------------------------------------------------------------------------------

    def _append(self, text: str, out: list[str]) -> None:
        """Add to the open block; give out each sentence that is final, and cut a block too long."""
        self._block += text
        while True:
            if self._mode in _SPEAKABLE and self._speak_sentence(out):
                continue
            if len(self._block) <= MAX_BLOCK_CHARS:
                return
            # Cut at its last sentence end, else at a space: where the words say the least.
            block = self._block
            ends = [end for end in sentence_ends(block[: MAX_BLOCK_CHARS + 1]) if end > self._start]
            spaces = [m.start() for m in _SPACE.finditer(block, self._start + 1, MAX_BLOCK_CHARS + 1)]
            cut = (ends or spaces or [MAX_BLOCK_CHARS])[-1]
            self._give(cut, self._render(self._ready(block[:cut]))[0], out)

    def _speak_sentence(self, out: list[str]) -> bool:
        """Give out the block up to its first sentence end that nothing later can change (see the
        module docstring). Only ends followed by a character and within MAX_BLOCK_CHARS are looked at,
        in order, each once: the outcome does not depend on how the input was cut."""
        block = self._block
        limit = min(len(block) - 1, MAX_BLOCK_CHARS)
        for end in sentence_ends(block):
            if end <= max(self._checked, self._start):
                continue
            if end > limit:
                return False
            self._checked = end
            line = block[block.rfind("\n", 0, end - 1) + 1 : end]
            quote = _QUOTE.match(line)
            if line[quote.end() if quote else 0 :].lstrip().startswith("|"):
                continue  # a table row, maybe
            leaves, safe = self._render(self._ready(block[:end]))
            if safe:
                self._give(end, leaves, out)
                return True
        return False

    def _give(self, end: int, leaves: list[str], out: list[str]) -> None:
        if leaves:  # no space after "。" where the text has none
            spaced = self._block[end : end + 1].isspace() or not leaves[-1].endswith(("。", "！", "？"))
            self._say(" ".join(leaves) + (" " if spaced else ""), out)
        self._block, self._start, self._checked, self._cut = self._block[end:], 0, 0, True

    def _ready(self, text: str) -> str:
        """The block's text as markdown-it is to see it: after a cut, a paragraph's (or a quote's) rest."""
        if not self._cut:
            return text
        text = text.lstrip()
        return text if not self._quote or text.startswith(">") else self._quote + text

    def _flush(self, out: list[str]) -> None:
        """End the open block: say what is left of it."""
        if self._mode in _HELD or self._mode == "heading":
            self._say("".join(f"{leaf}\n" for leaf in self._render(self._ready(self._block))[0]), out)
        self._mode, self._block, self._cut = "", "", False
        if self._track is not None:
            self._track.drop_lines()  # the current line, if any, opens the next block

    def _say(self, words: str, out: list[str]) -> None:
        """Give out `words`, read from the source held (its places noted, when asked for)."""
        if words:
            out.append(words)
            if self._track is not None:
                self._track.said(words)

    # -- rendering ------------------------------------------------------------------------------

    def _render(self, text: str) -> tuple[list[str], bool]:
        """The sentences of a complete block, and whether nothing in it may still be open."""
        leaves: list[str] = []
        safe = True
        header: list[str] = []
        cells: list[str] | None = None
        for token in self._md.parse(_MATH_STAR.sub(lambda m: _STAR * len(m.group()), text)):
            kind = token.type
            if kind == "inline":
                words, opened = _inline(token.children or [])
                safe = safe and not opened
                if cells is not None:
                    cells.append(words)
                else:
                    leaves.append(_sentence(_CHECKBOX.sub("", words, count=1)))
            elif kind == "table_open":
                cells = []
            elif kind == "table_close":
                cells = None
            elif kind == "thead_close":
                header, cells = cells or [], []
            elif kind == "tr_close" and header and cells:
                leaves.append(_row(header, cells))
                cells = []
            elif kind in ("fence", "code_block", "html_block"):
                safe = False
                if kind != "html_block":
                    leaves.append(self._code_text(token.content))
        return [leaf.replace(_STAR, "*") for leaf in leaves if leaf], safe

    def _code_text(self, code: str) -> str:
        if self._code == "read":
            return code.strip()
        return CODE_NOTE if self._code == "note" else ""


def _kind(text: str, indent: int, complete: bool, mode: str, in_list: bool) -> str | None:
    """A line's kind from its start (`text`, after `indent` columns), or None while more of the line
    could change it. The same for any continuation once it is not None."""
    paragraph = mode in _SPEAKABLE
    if not text:
        return "blank" if complete else None
    if indent >= 4 and mode in ("", "table") and not in_list:
        return "indented"
    first = text[0]
    if first == ">":
        return "quote"
    if first == "<":
        return "text" if paragraph else "html"
    if text.startswith(("```", "~~~")):
        if not complete:
            return None
        match = _FENCE.match(text)
        return "fence" if match and not (first == "`" and "`" in match.group(2)) else "text"
    if first in "`~" and text == first * len(text):
        return "text" if complete else None
    if first == "#":
        heading = _HEADING.match(text)
        if heading is None:
            return "text"
        decided = complete or heading.end() < len(text) or text[heading.end() - 1] in " \t"
        return "heading" if decided else None
    if complete:
        if _RULE.fullmatch(text):
            return "rule"
        if _DELIM.fullmatch(text) and "-" in text:
            return "delim"
    elif _MARKERS.fullmatch(text):
        return None
    item = _ITEM.match(text)
    if item is None:
        return "text"
    if mode == "para" and (item.group(1) not in (None, "1") or item.end() == len(text)):
        return "text"  # only a non-empty bullet or "1." list interrupts a paragraph
    return "item"


def _inline(children: list[Any]) -> tuple[str, bool]:
    """An inline token's words, and whether a construct in them may still be open."""
    parts: list[str] = []
    opened = False
    for token in children:
        kind = token.type
        if kind == "text":
            opened = opened or _may_open(token.content)
            parts.append(_readable(token.content))
        elif kind in ("code_inline", "image"):
            parts.append(token.content)  # an image's content is its alt text
        elif kind in ("softbreak", "hardbreak") or (kind == "html_inline" and _is_br(token.content)):
            parts.append(" ")  # other inline tags (<kbd>, <sup>) may sit inside a word: dropped
    return " ".join("".join(parts).split()), opened


def _is_br(tag: str) -> bool:
    """Whether an inline HTML tag is a line break (`<br>`, `<br/>`, `<BR />`)."""
    name = tag.strip("</> ").lower()
    return name == "br" or name.startswith(("br ", "br/"))


def _may_open(text: str) -> bool:
    """Whether literal text left by markdown-it holds something later text could still close: a
    backtick, `[`, `~~`, `<` before a tag or URL, or a `*`/`_` run that is not between two spaces
    (nor, for `_`, inside a word)."""
    if _OPENERS.search(text):
        return True
    for run in _RUN.finditer(text):
        # At the token's edge the neighbour is another token (code, a link): count it as a word.
        before = text[run.start() - 1] if run.start() else "x"
        after = text[run.end()] if run.end() < len(text) else "x"
        if before.isspace() and after.isspace():
            continue
        if "*" not in run.group() and before.isalnum() and after.isalnum():
            continue
        return True
    return False


def _readable(text: str) -> str:
    """Literal text as said: URLs by their host, reference links by their label, no footnote marks."""
    text = _REF_LINK.sub(r"\1", _FOOTNOTE.sub("", text))
    return _URL.sub(_say_url, text)


def _say_url(match: re.Match[str]) -> str:
    url = match.group()
    trail = len(url) - len(url.rstrip(_URL_TRAIL))
    url, rest = url[: len(url) - trail], url[len(url) - trail :]
    try:
        host = urlsplit(url if "://" in url else "http://" + url).hostname or ""
    except ValueError:
        host = ""
    host = host.removeprefix("www.")
    return (f"a link to {host}" if host else "a link") + rest


def _sentence(text: str) -> str:
    """`text` ending as a sentence: its own end mark, else a soft one (`:`) made an end, else one added."""
    body = text.rstrip(CLOSERS)
    if not body:
        return text
    last = body[-1]
    if last in _ENDS:
        return text
    end = "。" if _is_cjk(last) else "।" if "\u0900" <= last <= "\u097f" else "."
    if last in _SOFT_ENDS:
        return body[:-1] + text[len(body) :] + end if body[:-1].strip() else ""
    return text + end


def _is_cjk(char: str) -> bool:
    return "\u3040" <= char <= "\u30ff" or "\u3400" <= char <= "\u9fff" or "\uff00" <= char <= "\uffef"


def _row(header: list[str], cells: list[str]) -> str:
    pairs = zip(header, cells, strict=False)  # markdown-it gives every row the header's cells
    said = [f"{name}: {value}" if name else value for name, value in pairs if value]
    return _sentence(", ".join(said)) if said else ""


def _width(indent: str) -> int:
    return len(indent.expandtabs(4))


def _dedent(line: str, columns: int) -> str:
    """`line` without up to `columns` columns of leading whitespace."""
    cut = 0
    while cut < len(line) and line[cut] in " \t" and _width(line[: cut + 1]) <= columns:
        cut += 1
    return line[cut:]


def spoken(pieces: Iterable[str], code: str = "note", places: SpokenPlaces | None = None) -> Iterator[str]:
    """The words of Markdown given in pieces (lines of a file, an LLM's tokens), as they become final
    (each one's place in the source noted in `places`, when given)."""
    speech = MarkdownSpeech(code, places)
    said = written = False
    for piece in pieces:
        written = written or (piece != "" and not piece.isspace())
        words = speech.feed(piece)
        if words:
            said = True
            yield words
    words = speech.finish()
    if words:
        yield words
    elif written and not said:
        # Else the check for empty input would call a file of code or HTML alone "empty".
        from smallest_cli.errors import UsageError

        skipped = " (its code blocks are skipped: --code skip)" if code == "skip" else ""
        raise UsageError(f"no text to speak: the Markdown has no words a reader would say{skipped}")


def speak_markdown(text: str, code: str = "note", places: SpokenPlaces | None = None) -> str:
    """The words of a whole Markdown document."""
    speech = MarkdownSpeech(code, places)
    return speech.feed(text) + speech.finish()
