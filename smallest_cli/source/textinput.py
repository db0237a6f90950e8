"""Reading the text to speak from files and stdin as UTF-8, with exact byte offsets in errors.

* `decoded_lines(stream, name)`: lines of a binary stream, decoded lazily (live input stays live).
  Bytes that are not UTF-8, or a NUL byte (a binary file), raise UsageError naming the absolute
  byte offset.
* `check_text_file(path)`: the same checks over a whole regular file, before any request is sent
  (pipes and other non-regular files are only checked as they are read).
"""

from __future__ import annotations

import codecs
import os
import stat
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

from smallest_cli.errors import UsageError

#: Longest line read at once (a longer line is read in pieces; no text is lost).
MAX_LINE_BYTES = 64 * 1024
_SCAN_BYTES = 256 * 1024
_BOM = b"\xef\xbb\xbf"
_UTF16_BOMS = (b"\xff\xfe", b"\xfe\xff")


def _not_utf8(name: str, offset: int, reason: str) -> UsageError:
    return UsageError(f"{name} is not UTF-8 text: {reason} at byte {offset}")


def _utf16(name: str) -> UsageError:
    return UsageError(
        f"{name} is UTF-16 text (it starts with a UTF-16 byte-order mark): convert it to UTF-8, "
        "e.g. iconv -f UTF-16 -t UTF-8"
    )


def _binary(name: str, offset: int) -> UsageError:
    return UsageError(f"{name} looks like a binary file (NUL byte at byte {offset}), not text")


class _Checker:
    """An incremental UTF-8 decoder that knows the absolute offset of every byte fed to it."""

    def __init__(self, name: str) -> None:
        self._name = name
        self._decoder = codecs.getincrementaldecoder("utf-8")("strict")
        self._offset = 0
        self._first = True

    def decode(self, data: bytes, final: bool = False) -> str:
        if self._first and data:
            self._first = False
            if data.startswith(_BOM):
                data = data[len(_BOM) :]
                self._offset += len(_BOM)
            elif data.startswith(_UTF16_BOMS):  # Windows editors' "Unicode": NULs in every ASCII letter
                raise _utf16(self._name)
        nul = data.find(b"\0")
        if nul >= 0:
            raise _binary(self._name, self._offset + nul)
        pending = len(self._decoder.getstate()[0])
        try:
            text = self._decoder.decode(data, final)
        except UnicodeDecodeError as exc:
            raise _not_utf8(self._name, self._offset - pending + exc.start, str(exc.reason)) from None
        self._offset += len(data)
        return text


def decoded_lines(stream: BinaryIO, name: str) -> Iterator[str]:
    """The stream's text, line by line, as it arrives."""
    checker = _Checker(name)
    try:
        while True:
            raw = stream.readline(MAX_LINE_BYTES)
            if not raw:
                tail = checker.decode(b"", final=True)
                if tail:
                    yield tail
                return
            text = checker.decode(raw)
            if text:
                yield text
    except OSError as exc:
        raise UsageError(f"cannot read {name}: {exc.strerror or exc}") from None


def check_text_file(path: Path) -> None:
    """Raise UsageError if the regular file `path` is unreadable, binary or not UTF-8."""
    name = str(path)
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError as exc:
        raise UsageError(f"cannot read {name}: {exc.strerror or exc}") from None
    mode = os.fstat(fd).st_mode
    if not stat.S_ISREG(mode):
        os.close(fd)
        if stat.S_ISDIR(mode):
            raise UsageError(f"cannot read {name}: it is a directory")
        return
    with os.fdopen(fd, "rb") as handle:
        try:
            checker = _Checker(name)
            while True:
                block = handle.read(_SCAN_BYTES)
                checker.decode(block, final=not block)
                if not block:
                    return
        except OSError as exc:
            raise UsageError(f"cannot read {name}: {exc.strerror or exc}") from None


def open_text_file(path: Path) -> Iterator[str]:
    """Check `path` (when it is a regular file), then read it lazily, line by line."""
    check_text_file(path)
    try:
        handle = path.open("rb")
    except OSError as exc:
        raise UsageError(f"cannot read {path}: {exc.strerror or exc}") from None
    return _closing(handle, str(path))


def _closing(handle: BinaryIO, name: str) -> Iterator[str]:
    with handle:
        yield from decoded_lines(handle, name)
