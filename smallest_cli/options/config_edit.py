"""Edit one key of the config file's text in place, keeping every other byte (comments, blank
lines, spacing, order, line endings) as the user wrote it.

Pure functions of text: no I/O. They understand a flat file of `key = scalar` lines, comments and
blank lines; anything else (a table, a multi-line or array value, a dotted key, a key given twice)
raises `Uneditable`, so the caller refuses rather than guessing and losing what the user wrote.
"""

from __future__ import annotations

import re
from typing import NamedTuple

# A bare key, or a quoted key of the same characters; then `=`; then one scalar on this line: a
# basic string, a literal string, or a bare number/boolean/date; then an optional comment.
_KEY = r"(?P<bare>[A-Za-z0-9_-]+)|\"(?P<dq>[A-Za-z0-9_-]+)\"|'(?P<sq>[A-Za-z0-9_-]+)'"
_VALUE = r"\"(?:[^\"\\]|\\.)*\"|'[^'\n]*'|[A-Za-z0-9_.+:-]+"
_ASSIGNMENT = re.compile(rf"[ \t]*(?:{_KEY})[ \t]*=[ \t]*(?P<value>{_VALUE})[ \t]*(?:#.*)?")
_BLANK_OR_COMMENT = re.compile(r"[ \t]*(?:#.*)?")


class Uneditable(ValueError):
    """The text has a structure the line editor does not change safely; the message says which."""


class _Assignment(NamedTuple):
    """Where a key's line is in the text and where its value is within that line."""

    line: int
    start: int
    end: int


def _lines(text: str) -> list[str]:
    """The lines of `text`, each with its own line ending (`\\n` or `\\r\\n`, or none at the end)."""
    return re.findall(r"[^\n]*\n|[^\n]+$", text)


def _body(line: str) -> str:
    return line.rstrip("\r\n")


def _assignments(lines: list[str]) -> dict[str, _Assignment]:
    """Each key's line; Uneditable for a line that is not a key, a comment or blank."""
    found: dict[str, _Assignment] = {}
    for number, line in enumerate(lines):
        body = _body(line)
        if _BLANK_OR_COMMENT.fullmatch(body):
            continue
        m = _ASSIGNMENT.fullmatch(body)
        if m is None:
            stripped = body.lstrip()
            what = "a table" if stripped.startswith("[") else "not a one-line `key = value`"
            raise Uneditable(f"line {number + 1} is {what}")
        key = m.group("bare") or m.group("dq") or m.group("sq")
        if key in found:
            raise Uneditable(f"{key} is given twice (lines {found[key].line + 1} and {number + 1})")
        found[key] = _Assignment(number, m.start("value"), m.end("value"))
    return found


def _newline(lines: list[str]) -> str:
    """The file's own line ending, for a line added to it."""
    for line in lines:
        if line.endswith("\n"):
            return "\r\n" if line.endswith("\r\n") else "\n"
    return "\n"


def keys_in(text: str) -> list[str]:
    """The keys the text assigns, in order; Uneditable when it is not a flat file of them."""
    return list(_assignments(_lines(text)))


def set_line(text: str, key: str, value: str) -> str:
    """`text` with `key = value` (`value` already TOML): the value replaced on the key's line (its
    spacing and comment kept), or a new line appended when the key is not there."""
    lines = _lines(text)
    found = _assignments(lines).get(key)
    if found is not None:
        line = lines[found.line]
        lines[found.line] = line[: found.start] + value + line[found.end :]
        return "".join(lines)
    newline = _newline(lines)
    if lines and not lines[-1].endswith("\n"):
        lines[-1] += newline
    return "".join(lines) + f"{key} = {value}{newline}"


def unset_line(text: str, key: str) -> str | None:
    """`text` without the line of `key`, or None when no line sets it."""
    lines = _lines(text)
    found = _assignments(lines).get(key)
    if found is None:
        return None
    del lines[found.line]
    return "".join(lines)
