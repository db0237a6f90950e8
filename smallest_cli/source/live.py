"""Live text (an LLM piping tokens into `smallest stream-ws --live`): read stdin as it comes, and
decide when piped input is live.

* `FdReader` reads a file descriptor with `os.read` as data arrives (no waiting for a newline),
  decoded as UTF-8 with the same checks as files (`textinput`).
* `sniff()` decides, for piped stdin without `--live`/`--no-live`, whether text keeps arriving.

`protocol.live` turns the pieces into WebSocket messages, which `transports.ws_live` sends from a
thread while the main thread plays the audio.
"""

from __future__ import annotations

import itertools
import os
import select
import stat
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import IO, Any

from smallest_cli.errors import UsageError
from smallest_cli.source.textinput import _Checker

READ_BYTES = 64 * 1024
#: Piped input still arriving this long after its first byte, without EOF, is live.
SNIFF_SECONDS = 0.25
#: ... unless this much arrived meanwhile (a file piped through `cat`, not an LLM).
SNIFF_MAX_CHARS = 16 * 1024


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


@dataclass(frozen=True)
class InputChoice:
    """Whether stdin is live, and its text (`chunks` None: read it the usual way, as plain text)."""

    live: bool
    chunks: Iterator[str] | None = None


def choose_input(live: bool | None, stdin: IO[str]) -> InputChoice:
    """For text read from stdin: `--live` reads it as it comes; without `--live`/`--no-live`, piped
    stdin is live when text keeps arriving after its first piece (see `sniff`)."""
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
