"""Live text (an LLM piping tokens into `smallest stream-ws --live`): read stdin as it comes, and
decide when piped input is live.

* `FdReader` reads a file descriptor with `os.read` as data arrives (no waiting for a newline),
  decoded as UTF-8 with the same checks as files (`textinput`).
* `sniff()` decides, for piped stdin without `--live`/`--no-live`, whether text keeps arriving.
* `plain_pipe()` reads piped stdin that is not live as it comes too, marking each pause of the
  writer, so that a finished sentence is spoken without waiting for the next one.

`protocol.live` turns the pieces into WebSocket messages, which `transports.ws_live` sends from a
thread while the main thread plays the audio.
"""

from __future__ import annotations

import itertools
import os
import select
import stat
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import IO, Any

from smallest_cli.errors import UsageError
from smallest_cli.source.textinput import MAX_LINE_BYTES, _Checker

READ_BYTES = 64 * 1024
#: ... of plain text, passed on in whole lines (`whole_lines`): as when stdin was read line by line,
#: a bad byte stops the run before its line is spoken, and only then (the audio before it is kept).
PLAIN_READ_BYTES = 4 * 1024
#: Piped input still arriving this long after its first byte, without EOF, is live.
SNIFF_SECONDS = 0.25
#: ... unless this much arrived meanwhile (a file piped through `cat`, not an LLM).
SNIFF_MAX_CHARS = 16 * 1024
#: Plain piped text has paused when nothing more arrives within this long: a writer in full flow
#: (`cat`, a program writing its output in blocks) refills the pipe much sooner than that.
PAUSE_SECONDS = 0.05


class FdReader:
    """Text from a file descriptor as it arrives. `read(timeout)`: text, "" when nothing came within
    `timeout` seconds (None waits), None at EOF."""

    def __init__(self, fd: int, name: str = "stdin", read_bytes: int = READ_BYTES) -> None:
        self._fd = fd
        self._name = name
        self._read_bytes = read_bytes
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
            data = os.read(self._fd, self._read_bytes)
        except OSError as exc:
            raise UsageError(f"cannot read {self._name}: {exc.strerror or exc}") from None
        if not data:
            self.eof = True
            return self._checker.decode(b"", final=True) or None
        return self._checker.decode(data)

    def pieces(self, pause: float | None = None) -> Iterator[str]:
        """Every remaining piece, blocking until each arrives. With `pause` (seconds), an empty
        piece before each wait that lasts longer: the input paused, so that finished sentences
        can be spoken now (see `run.pipeline.segments_from_chunks`)."""
        while True:
            text = self.read(pause) if pause is not None else self.read()
            if text == "" and pause is not None:
                yield ""
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


@dataclass(frozen=True)
class InputChoice:
    """Whether stdin is live, and its text (`chunks` None: read it the usual way, as plain text)."""

    live: bool
    chunks: Iterator[str] | None = None


def choose_input(live: bool | None, stdin: IO[str]) -> InputChoice:
    """For text read from stdin: `--live` reads it as it comes; without `--live`/`--no-live`, piped
    stdin is live when text keeps arriving after its first piece (see `sniff`)."""
    fd = _fileno(stdin)
    if fd is None:
        return InputChoice(live=False)
    reader = FdReader(fd)
    if live is True:
        return InputChoice(live=True, chunks=reader.pieces())
    if not is_pipe(fd):
        return InputChoice(live=False)
    found = sniff(reader)
    rest = reader.pieces() if found.live else reader.pieces(PAUSE_SECONDS)
    return InputChoice(live=found.live, chunks=itertools.chain([found.head], rest))


def plain_pipe(stdin: IO[str]) -> Iterator[str] | None:
    """Plain text from piped stdin as it arrives, in whole lines, with a pause marked (an empty
    piece) whenever the writer stops for longer than `PAUSE_SECONDS`; None when stdin is not a pipe."""
    fd = _fileno(stdin)
    if fd is None or not is_pipe(fd):
        return None
    return whole_lines(FdReader(fd, read_bytes=PLAIN_READ_BYTES).pieces(PAUSE_SECONDS))


def whole_lines(pieces: Iterable[str], longest: int = MAX_LINE_BYTES) -> Iterator[str]:
    """`pieces` passed on in whole lines (as many as arrived together), except at a pause (an empty
    piece), which first passes on what has arrived of a line; no line is held past `longest`
    characters."""
    held = ""
    for piece in pieces:
        if not piece:
            if held:
                yield held
                held = ""
            yield piece
            continue
        held += piece
        end = held.rfind("\n") + 1
        if not end and len(held) >= longest:
            end = len(held)
        if end:
            yield held[:end]
            held = held[end:]
    if held:
        yield held


def _fileno(stream: IO[str]) -> int | None:
    try:
        return stream.fileno()
    except (AttributeError, OSError, ValueError):
        return None


def first_text(pieces: Iterator[str]) -> Iterator[str]:
    """`pieces`, once one with more than whitespace arrived (UsageError when the input is empty)."""
    head: list[str] = []
    for piece in pieces:
        head.append(piece)
        if piece.strip():
            return itertools.chain(head, pieces)
    raise UsageError("no text to speak: the input is empty")
