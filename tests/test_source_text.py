"""Where the text comes from: TEXT, --file or stdin, checked before any connection."""

from __future__ import annotations

import io
from pathlib import Path

import pytest

from smallest_cli.errors import UsageError
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
