"""Live text as WebSocket messages: text pieces in (an LLM's tokens), request bodies out.

* `LiveSplitter` turns text pieces into message texts: everything is sent as soon as it arrives
  (`continue: true`), cut at sentence ends, where the message also says `flush: true`; a trailing
  `.`/`!`/`?` is held back until the next character shows whether it ends a sentence (`3.14`), and
  the last character until the next shows that it takes no mark: no message ends inside a
  character (`graphemes.py`), wherever the pieces were cut. No message is longer than the
  per-request limit (the server joins the pieces verbatim).
  Whitespace alone is never a message (the service refuses blank text): it is carried into the next.
* `live_messages()` builds the request bodies, ending with an empty `flush: true` message (EOF).
  Pieces ask the server to wait as long as it may before `complete` (more text is coming); the
  last message asks for a short wait.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from smallest_cli.protocol import contract
from smallest_cli.protocol.graphemes import last_boundary
from smallest_cli.protocol.request import (
    LIVE_END_BACKOFF_MS,
    LIVE_PIECE_BACKOFF_MS,
    SynthesisOptions,
    build_request,
)
from smallest_cli.protocol.segment import CLOSERS, sentence_ends

#: Characters of already-sent text kept to judge a later `.` (abbreviations, initials).
_CONTEXT_CHARS = 24
_HOLD = ".!?…" + CLOSERS


@dataclass
class LiveSplitter:
    """Text pieces in, `(text, flush)` message texts out; see the module docstring."""

    max_chars: int = contract.MAX_TEXT_CHARS
    _pending: str = field(default="", repr=False)
    _context: str = field(default="", repr=False)

    def feed(self, text: str) -> list[tuple[str, bool]]:
        window = self._context + self._pending + text
        base = len(self._context)
        out: list[tuple[str, bool]] = []
        last = base
        for end in sentence_ends(window):
            if window[last:end].strip():  # whitespace alone is carried into the next message
                out += self._cut(window[last:end], flush=True)
                last = end
        rest = window[last:]
        # A final "." may yet end a sentence, and a final character may yet take a mark (स् + ते):
        # send up to the last cut that the characters after it show to be safe.
        end = last + len(rest.rstrip(_HOLD))
        send = window[last : last_boundary(window, min(end, len(window) - 1), last) or last]
        if not send.strip():
            send = ""  # whitespace-only text is refused by the service: hold it for the next piece
        out += self._cut(send, flush=False)
        self._pending = rest[len(send) :]
        self._context = window[: len(window) - len(self._pending)][-_CONTEXT_CHARS:]
        return out

    def finish(self) -> list[tuple[str, bool]]:
        """The held-back text (sent without a flush: the final message flushes); trailing whitespace
        alone is dropped."""
        rest, self._pending, self._context = self._pending, "", ""
        return self._cut(rest, flush=False) if rest.strip() else []

    def _cut(self, text: str, flush: bool) -> list[tuple[str, bool]]:
        out: list[tuple[str, bool]] = []
        while len(text) > self.max_chars:
            cut = last_boundary(text, self.max_chars) or self.max_chars
            out.append((text[:cut], False))
            text = text[cut:]
        if text:
            out.append((text, flush))
        return out


def live_messages(pieces: Iterator[str], options: SynthesisOptions) -> Iterator[dict[str, Any]]:
    """The request bodies for live text: `continue: true` pieces (with `flush: true` at sentence
    ends) as the text arrives, then an empty `flush: true` message at the end of the input."""
    splitter = LiveSplitter()
    for piece in pieces:
        for text, flush in splitter.feed(piece):
            yield _body(text, options, flush)
    for text, flush in splitter.finish():
        yield _body(text, options, flush)
    yield build_request("", options, flush=True, complete_backoff_ms=LIVE_END_BACKOFF_MS)


def _body(text: str, options: SynthesisOptions, flush: bool) -> dict[str, Any]:
    extra: dict[str, Any] = {"continue": True, "complete_backoff_ms": LIVE_PIECE_BACKOFF_MS}
    if flush:
        extra["flush"] = True
    return build_request(text, options, **extra)
