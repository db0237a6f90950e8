"""The text to speak: a TEXT argument, `--file PATH` or stdin, checked before any connection is made
and decided once into plain text (split into requests) or live text (sent as it arrives).

Files and stdin are read lazily (`source.textinput`, `source.live`), imported only when used.
"""

from __future__ import annotations

import functools
import io
import os
import stat
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import IO, TYPE_CHECKING, NamedTuple

from smallest_cli.errors import UsageError

if TYPE_CHECKING:
    from smallest_cli.source.places import SpokenPlaces


class Text(NamedTuple):
    """The decided input: `live` text is sent as it arrives, as one request; plain text is split into
    requests. `pieces` is the text, read lazily."""

    live: bool
    pieces: Iterator[str]
    #: Its length when known before reading it (TEXT: characters; a regular file: bytes).
    size: int | None = None
    #: The same text read again from its start, when it can be (TEXT, a regular file).
    reread: Callable[[], Iterable[str]] | None = None
    #: Where the words of `pieces` are in the source, noted as they are read (when words are listed).
    places: SpokenPlaces | None = None


class TextSource:
    """Where the text comes from. Made before any connection (a missing file, TEXT with --file or no
    text at all is a UsageError then); `read()` decides plain or live, waiting for piped stdin's
    first text when only that can tell."""

    def __init__(self, text: str | None, file: str | None, live: bool | None, stdin: IO[str]) -> None:
        self._stdin = stdin
        stdin_text = from_stdin(text, file)
        if live is True and not stdin_text:
            raise UsageError("--live reads the text from stdin: leave out TEXT and --file")
        #: None: piped stdin, live if text keeps arriving (see `source.live.sniff`).
        self._live = live if stdin_text else False
        self._plain = None if live is True else text_chunks(text, file, stdin)
        self._size = _known_size(text, file)
        #: Reading may wait for the text to be written (stdin), unlike an argument or a file.
        self.waits = stdin_text
        self._reread = None if self._size is None else functools.partial(text_chunks, text, file, stdin)

    def read(self) -> Text:
        if self._live is not False:
            from smallest_cli.source.live import choose_input

            choice = choose_input(self._live, self._stdin)
            if choice.chunks is not None:
                return Text(choice.live, iter(choice.chunks))
        assert self._plain is not None
        return Text(False, iter(self._plain), self._size, self._reread)


def _known_size(text: str | None, file: str | None) -> int | None:
    if text not in (None, "-"):
        return len(text)
    if file not in (None, "-"):
        try:
            info = os.stat(file)
        except OSError:
            return None
        return info.st_size if stat.S_ISREG(info.st_mode) else None
    return None


def _checked_argument(text: str) -> str:
    """The TEXT argument, if it is UTF-8: other bytes reach Python as lone surrogates (PEP 383),
    which a request cannot carry, and are refused as stdin's and files' are."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        try:
            os.fsencode(text).decode("utf-8")
        except UnicodeDecodeError as exc:
            where = f": {exc.reason} at byte {exc.start}"
        else:
            where = ""
        raise UsageError(f"the text argument is not UTF-8 text{where}") from None
    return text


def from_stdin(text: str | None, file: str | None) -> bool:
    """Whether the text is read from stdin (no TEXT or --file, or `-` for one of them)."""
    return text in (None, "-") and file in (None, "-") and not (text == "-" and file == "-")


def text_chunks(text: str | None, file: str | None, stdin: IO[str]) -> Iterable[str]:
    """The input text as a stream of pieces: the TEXT argument, `--file PATH`, or stdin (`-`, or
    no argument with piped stdin). Files and stdin are read lazily, line by line; piped stdin as it
    arrives, with an empty piece whenever it pauses (`source.live.plain_pipe`)."""
    if text is not None and file is not None:
        raise UsageError("give the text as an argument or with --file, not both")
    if file is not None and not file.strip():
        raise UsageError("--file needs a path, or - for stdin")
    if text is not None and text != "-":
        return [_checked_argument(text)]
    if file is not None and file != "-":
        from smallest_cli.source.textinput import open_text_file  # only for files: not on the hot path

        return open_text_file(Path(file))
    if text is None and file is None and is_tty(stdin):
        raise UsageError(
            'no text: give it as an argument (smallest speak "Hello"), with --file PATH, or on stdin'
        )
    from smallest_cli.source.live import plain_pipe

    piped = plain_pipe(stdin)
    if piped is not None:
        return piped
    binary = getattr(stdin, "buffer", None)
    if binary is not None:
        from smallest_cli.source.textinput import decoded_lines

        return decoded_lines(binary, "stdin")
    return _lines(stdin, "stdin")


def is_tty(stream: IO[str] | IO[bytes]) -> bool:
    """Whether `stream` is a terminal (False for anything without a working isatty)."""
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False


def _lines(stream: IO[str] | io.TextIOBase, name: str) -> Iterator[str]:
    try:
        yield from iter(stream.readline, "")
    except UnicodeDecodeError as exc:
        raise UsageError(f"{name} is not UTF-8 text: {exc.reason} at byte {exc.start}") from None
    except OSError as exc:
        raise UsageError(f"cannot read {name}: {exc.strerror or exc}") from None
