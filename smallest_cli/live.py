"""Live text (an LLM piping tokens into `smallest stream-ws --live`): read stdin as it comes, turn it
into WebSocket messages, and decide when piped input is live.

* `FdReader` reads a file descriptor with `os.read` as data arrives (no waiting for a newline),
  decoded as UTF-8 with the same checks as files (`textinput`).
* `LiveSplitter` turns text pieces into message texts: everything is sent as soon as it arrives
  (`continue: true`), cut at sentence ends, where the message also says `flush: true`; a trailing
  `.`/`!`/`?` is held back until the next character shows whether it ends a sentence (`3.14`).
  No message is longer than the per-request limit (the server joins the pieces verbatim).
  Whitespace alone is never a message (the service refuses blank text): it is carried into the next.
* `live_messages()` builds the request bodies, ending with an empty `flush: true` message (EOF).
* `sniff()` decides, for piped stdin without `--live`/`--no-live`, whether text keeps arriving.

The messages are sent by `transports.ws_live` from a thread while the main thread plays the audio.
"""

from __future__ import annotations

import itertools
import os
import select
import stat
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import IO, Any

from smallest_cli.errors import UsageError
from smallest_cli.protocol import contract
from smallest_cli.protocol.request import build_request
from smallest_cli.protocol.segment import sentence_ends
from smallest_cli.settings import SynthesisOptions
from smallest_cli.textinput import _Checker

READ_BYTES = 64 * 1024
#: Piped input still arriving this long after its first byte, without EOF, is live.
SNIFF_SECONDS = 0.25
#: ... unless this much arrived meanwhile (a file piped through `cat`, not an LLM).
SNIFF_MAX_CHARS = 16 * 1024
#: Characters of already-sent text kept to judge a later `.` (abbreviations, initials).
_CONTEXT_CHARS = 24
_HOLD = ".!?…\"'”’»)]}」』）】》"


class FdReader:
    """Text from a file descriptor as it arrives. `read(timeout)`: text, "" when nothing came within
    `timeout` seconds (None waits), None at EOF."""

    def __init__(self, fd: int, name: str = "stdin") -> None:
        self._fd = fd
        self._name = name
        self._checker = _Checker(name)
        self.eof = False

    def read(self, timeout: float | None = None) -> str | None:
        if self.eof:
            return None
        if timeout is not None:
            try:
                ready, _, _ = select.select([self._fd], [], [], max(0.0, timeout))
            except (OSError, ValueError):
                ready = [self._fd]  # not selectable (e.g. some platforms): read blocking
            if not ready:
                return ""
        try:
            data = os.read(self._fd, READ_BYTES)
        except OSError as exc:
            raise UsageError(f"cannot read {self._name}: {exc.strerror or exc}") from None
        if not data:
            self.eof = True
            return self._checker.decode(b"", final=True) or None
        return self._checker.decode(data)

    def pieces(self) -> Iterator[str]:
        """Every remaining piece, blocking until each arrives."""
        while True:
            text = self.read()
            if text is None:
                return
            if text:
                yield text


def is_pipe(fd: int) -> bool:
    try:
        return stat.S_ISFIFO(os.fstat(fd).st_mode)
    except OSError:
        return False


@dataclass(frozen=True)
class Sniffed:
    """The text read while deciding, and the decision."""

    head: str
    live: bool


def sniff(
    reader: FdReader,
    seconds: float = SNIFF_SECONDS,
    max_chars: int = SNIFF_MAX_CHARS,
    clock: Any = time.monotonic,
) -> Sniffed:
    """Wait for the first text, then read until EOF (not live), `max_chars` (a piped file, not live)
    or `seconds` after the first text with the input still open (live)."""
    parts: list[str] = []
    size = 0
    deadline: float | None = None
    while True:
        timeout = None if deadline is None else deadline - clock()
        if timeout is not None and timeout <= 0:
            return Sniffed("".join(parts), live=True)
        text = reader.read(timeout)
        if text is None:
            return Sniffed("".join(parts), live=False)
        if text.strip() and deadline is None:
            deadline = clock() + seconds
        parts.append(text)
        size += len(text)
        if size >= max_chars:
            return Sniffed("".join(parts), live=False)


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
        send = rest.rstrip(_HOLD)  # a final "." may yet end a sentence: wait for the next character
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
        if not text:
            return []
        parts = [text[i : i + self.max_chars] for i in range(0, len(text), self.max_chars)]
        return [(p, flush and i == len(parts) - 1) for i, p in enumerate(parts)]


def live_messages(pieces: Iterator[str], options: SynthesisOptions) -> Iterator[dict[str, Any]]:
    """The request bodies for live text: `continue: true` pieces (with `flush: true` at sentence
    ends) as the text arrives, then an empty `flush: true` message at the end of the input."""
    splitter = LiveSplitter()
    for piece in pieces:
        for text, flush in splitter.feed(piece):
            yield _body(text, options, flush)
    for text, flush in splitter.finish():
        yield _body(text, options, flush)
    yield build_request("", options, flush=True)


def _body(text: str, options: SynthesisOptions, flush: bool) -> dict[str, Any]:
    extra: dict[str, Any] = {"continue": True}
    if flush:
        extra["flush"] = True
    return build_request(text, options, **extra)


@dataclass(frozen=True)
class InputChoice:
    """How stream-ws reads its text: `chunks` None means the usual way (`resolve.text_chunks`)."""

    live: bool
    chunks: Iterator[str] | None = None


def choose_input(text: str | None, file: str | None, live: bool | None, stdin: IO[str]) -> InputChoice:
    """`--live`: stdin, read as it comes. Without `--live`/`--no-live`, piped stdin (no TEXT, no
    --file) is live when text keeps arriving after its first piece (see `sniff`)."""
    from_stdin = text in (None, "-") and file in (None, "-") and not (text == "-" and file == "-")
    if live is True and not from_stdin:
        raise UsageError("--live reads the text from stdin: leave out TEXT and --file")
    if live is False or not from_stdin:
        return InputChoice(live=False)
    try:
        fd = stdin.fileno()
    except (AttributeError, OSError, ValueError):
        return InputChoice(live=False)
    reader = FdReader(fd)
    if live is True:
        return InputChoice(live=True, chunks=reader.pieces())
    if not is_pipe(fd):
        return InputChoice(live=False)
    found = sniff(reader)
    return InputChoice(live=found.live, chunks=itertools.chain([found.head], reader.pieces()))


def first_text(pieces: Iterator[str]) -> Iterator[str]:
    """`pieces`, once one with more than whitespace arrived (UsageError when the input is empty)."""
    head: list[str] = []
    for piece in pieces:
        head.append(piece)
        if piece.strip():
            return itertools.chain(head, pieces)
    raise UsageError("no text to speak: the input is empty")
