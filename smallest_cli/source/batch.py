"""The rows of a batch (`smallest batch INPUT`), read lazily from INPUT, and which of them a shard takes.

INPUT is one of:

* `.jsonl`: one JSON object per line, with `text` and optionally the other `FIELDS`;
* `.csv` / `.tsv`: a header row naming `FIELDS` (in any order, `text` among them), then one row each;
* a directory: one row per `.txt`, `.md` or `.markdown` file, in name order, its text read when its
  turn comes, its `id` the file's name without its extension;
* `-` (stdin) or any other file: one text per non-empty line.

Rows are numbered from 1 in input order (blank lines are no rows), whatever the shard. A row that
cannot be read as a row (a line that is no JSON object, an unknown field, a CSV row of the wrong
length) is still a row: it carries its `error`, and the batch records it and goes on. Its values are
checked later, by the same checks as the flags'. This module reads; it decides nothing else.
"""

from __future__ import annotations

import csv
import json
import os
from collections.abc import Callable, Iterable, Iterator, Mapping
from pathlib import Path
from typing import IO, Any, NamedTuple

from smallest_cli.errors import UsageError
from smallest_cli.source.textinput import decoded_lines, open_text_file

#: The fields a row may have; `text` is required.
FIELDS: tuple[str, ...] = (
    "text", "output", "id", "voice", "model", "speed", "language", "sample_rate", "format",
)
#: The files of a directory that are rows.
TEXT_SUFFIXES: tuple[str, ...] = (".txt", ".md", ".markdown")
_DELIMITERS: Mapping[str, str] = {".csv": ",", ".tsv": "\t"}


class Row(NamedTuple):
    """One row: its number (from 1) and its fields as given (None: not given)."""

    n: int
    fields: Mapping[str, Any]
    #: Why this row could not be read (it is recorded as failed).
    error: str | None = None
    #: A directory's row: the file whose text it is (read when the row's turn comes).
    path: Path | None = None


class Shard(NamedTuple):
    """`--shard K/N`: the rows n with (n - 1) % N == K - 1."""

    k: int
    of: int

    def takes(self, n: int) -> bool:
        return (n - 1) % self.of == self.k - 1


ALL = Shard(1, 1)


def parse_shard(text: str | None, what: str) -> Shard:
    """`K/N` with 1 ≤ K ≤ N, or UsageError naming `what` (the option)."""
    if text is None:
        return ALL
    k, slash, n = text.strip().partition("/")
    if slash and k.isdigit() and n.isdigit() and 1 <= int(k) <= int(n):
        return Shard(int(k), int(n))
    raise UsageError(f"{what} must be K/N with 1 <= K <= N, e.g. 1/4, not {text!r}")


# -- one row from its text (pure) ---------------------------------------------------------------------


def line_row(n: int, line: str) -> Row:
    return Row(n, {"text": line})


def json_row(n: int, line: str) -> Row:
    """A row from one line of a .jsonl file."""
    try:
        value = json.loads(line)
    except json.JSONDecodeError as err:
        return Row(n, {}, f"not JSON: {err.msg} at column {err.colno}")
    if not isinstance(value, dict):
        return Row(n, {}, f"not a JSON object but {type(value).__name__}")
    scalars = (str, int, float, type(None))
    bad = [k for k, v in value.items() if isinstance(v, bool) or not isinstance(v, scalars)]
    # A bad row keeps its id, when it has a usable one: its record then says which row it is.
    named = {} if "id" in bad else {"id": value.get("id")}
    unknown = sorted(k for k in value if k not in FIELDS)
    if unknown:
        return Row(n, named, f"unknown field {unknown[0]!r}; the fields are {', '.join(FIELDS)}")
    if bad:
        return Row(n, named, f"{bad[0]} must be a string or a number, not {json.dumps(value[bad[0]])[:40]}")
    if not isinstance(value.get("text"), str):
        return Row(n, value, "no text: every row needs a text string")
    return Row(n, value)


def table_header(record: list[str], name: str) -> list[str]:
    """The field names of a CSV/TSV header row; UsageError unless each is a field and text is one."""
    header = [cell.strip().lower() for cell in record]
    unknown = [cell for cell in header if cell not in FIELDS]
    if unknown or "text" not in header or len(set(header)) != len(header):
        raise UsageError(
            f"{name}: the first row must name the columns, text and any of {', '.join(FIELDS[1:])}, "
            f"each once; it is {','.join(record)!r}"
        )
    return header


def table_row(n: int, header: list[str], record: list[str]) -> Row:
    """A row from one CSV/TSV record; an empty cell is a field not given."""
    if len(record) != len(header):
        return Row(n, {}, f"{len(record)} columns where the header has {len(header)}")
    fields = {key: cell for key, cell in zip(header, record, strict=True) if cell.strip()}
    return Row(n, {**fields, "text": fields.get("text", "")})


# -- reading INPUT -----------------------------------------------------------------------------------


class Rows(NamedTuple):
    """The input's rows, read as iterated, and a way to count them without keeping them."""

    rows: Iterator[Row]
    #: Counts the rows a shard takes by reading the input again; None when it cannot (stdin).
    count: Callable[[Shard], int] | None


def open_rows(source: str, stdin: IO[str]) -> Rows:
    """The rows of `source` (see the module docstring). What can be checked before the first row is
    (a missing file, a file that is not UTF-8 text, a bad header): UsageError."""
    if source == "-":
        binary = getattr(stdin, "buffer", None)
        pieces = decoded_lines(binary, "stdin") if binary is not None else iter(stdin.readline, "")
        return Rows(_line_rows(pieces), None)
    path = Path(source)
    if path.is_dir():
        files = text_files(path)
        return Rows(_file_rows(files), lambda shard: sum(shard.takes(n) for n in range(1, len(files) + 1)))
    if not path.exists():
        raise UsageError(f"cannot read {source}: no such file or directory")
    rows = _rows_of_file(path)
    if not path.is_file():
        return Rows(rows, None)  # a pipe, say: it cannot be read twice
    return Rows(rows, lambda shard: sum(shard.takes(row.n) for row in _rows_of_file(path)))


def _rows_of_file(path: Path) -> Iterator[Row]:
    pieces = open_text_file(path)  # checks the whole file is UTF-8 text first
    suffix = path.suffix.lower()
    if suffix == ".jsonl":
        return (json_row(n, line) for n, line in enumerate(non_blank(pieces), 1))
    if suffix in _DELIMITERS:
        return _table_rows(pieces, _DELIMITERS[suffix], str(path))
    return _line_rows(pieces)


def _line_rows(pieces: Iterable[str]) -> Iterator[Row]:
    return (line_row(n, line.strip()) for n, line in enumerate(non_blank(pieces), 1))


def _table_rows(pieces: Iterable[str], delimiter: str, name: str) -> Iterator[Row]:
    records = (r for r in csv.reader(whole_lines(pieces), delimiter=delimiter) if any(c.strip() for c in r))
    try:
        header = table_header(next(records), name)
    except StopIteration:
        raise UsageError(f"{name} is empty: its first row must name the columns") from None
    except csv.Error as err:
        raise UsageError(f"{name}: {err}") from None
    return _records(records, header, name)


def _records(records: Iterator[list[str]], header: list[str], name: str) -> Iterator[Row]:
    n = 0
    try:
        for n, record in enumerate(records, 1):
            yield table_row(n, header, record)
    except csv.Error as err:
        raise UsageError(f"{name}, after row {n}: {err}") from None


def text_files(directory: Path) -> list[Path]:
    """The directory's text and Markdown files (not hidden), in name order."""
    try:
        names = sorted(
            entry.name for entry in os.scandir(directory)
            if entry.is_file() and not entry.name.startswith(".")
            and os.path.splitext(entry.name)[1].lower() in TEXT_SUFFIXES
        )
    except OSError as err:
        raise UsageError(f"cannot read {directory}: {err.strerror or err}") from None
    if not names:
        raise UsageError(f"{directory} has no {', '.join(TEXT_SUFFIXES)} files to read")
    return [directory / name for name in names]


def _file_rows(files: list[Path]) -> Iterator[Row]:
    for n, path in enumerate(files, 1):
        yield Row(n, {"id": path.stem}, path=path)


def whole_lines(pieces: Iterable[str]) -> Iterator[str]:
    """Lines, each whole (with its newline): `decoded_lines` hands a very long line over in pieces."""
    partial: list[str] = []
    for piece in pieces:
        partial.append(piece)
        if piece.endswith("\n"):
            yield "".join(partial)
            partial.clear()
    if partial:
        yield "".join(partial)


def non_blank(pieces: Iterable[str]) -> Iterator[str]:
    return (line for line in whole_lines(pieces) if line.strip())
