"""Where the text comes from: TEXT, --file or stdin, checked before any connection."""

from __future__ import annotations

import io
import os
from pathlib import Path

import pytest

from smallest_cli.errors import UsageError
from smallest_cli.source.live import whole_lines
from smallest_cli.source.text import TextSource, text_chunks


class Tty(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_text_sources(tmp_path: Path) -> None:
    assert list(text_chunks("hi", None, Tty())) == ["hi"]
    assert "".join(text_chunks("-", None, io.StringIO("from\nstdin\n"))) == "from\nstdin\n"
    assert "".join(text_chunks(None, None, io.StringIO("piped"))) == "piped"
    f = tmp_path / "t.txt"
    f.write_text("file text\nline 2\n", encoding="utf-8")
    assert "".join(text_chunks(None, str(f), Tty())) == "file text\nline 2\n"
    with pytest.raises(UsageError):
        text_chunks(None, None, Tty())
    with pytest.raises(UsageError):
        text_chunks("a", str(f), Tty())
    with pytest.raises(UsageError):
        text_chunks(None, str(tmp_path / "missing.txt"), Tty())
    bad = tmp_path / "bad.txt"
    bad.write_bytes(b"\xff\xfe\x00bad")
    with pytest.raises(UsageError):
        list(text_chunks(None, str(bad), Tty()))


def test_a_text_source_is_checked_when_made_and_read_as_plain_text(tmp_path: Path) -> None:
    text = TextSource("Hello there.", None, None, Tty()).read()
    assert not text.live and "".join(text.pieces) == "Hello there."
    with pytest.raises(UsageError, match="--live reads the text from stdin"):
        TextSource("Hello", None, True, Tty())
    with pytest.raises(UsageError, match="not both"):
        TextSource("a", str(tmp_path / "t.txt"), None, Tty())
    assert "".join(TextSource(None, None, False, io.StringIO("piped")).read().pieces) == "piped"


def test_piped_stdin_is_read_as_it_arrives_with_its_pauses_marked() -> None:
    """An empty piece each time the writer stops: what lets a finished sentence go out at once."""
    read_end, write_end = os.pipe()
    with open(read_end, encoding="utf-8") as stdin:
        chunks = iter(text_chunks(None, None, stdin))
        assert next(chunks) == ""  # nothing has arrived yet
        os.write(write_end, b"First sentence.\n")
        assert next(chunks) == "First sentence.\n"
        assert next(chunks) == ""
        os.write(write_end, b"Second, ")
        os.write(write_end, b"and more.\n")
        os.close(write_end)
        assert "".join(chunks) == "Second, and more.\n"


def test_piped_text_is_passed_on_in_whole_lines_but_for_a_pause() -> None:
    """Whole lines, as a file is read (a bad byte is found before its line is spoken); at a pause
    what has arrived of a line goes first; a line longer than the limit goes in pieces."""
    pieces = ["One. Tw", "o.\nThr", "ee", "", "...\n", "x" * 5, "x" * 5, "y\n"]
    assert list(whole_lines(pieces, longest=8)) == [
        "One. Two.\n", "Three", "", "...\n", "xxxxxxxxxx", "y\n"
    ]
