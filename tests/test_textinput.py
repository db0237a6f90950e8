"""UTF-8 input with exact byte offsets, binary detection, whole-file checks before any request."""

from __future__ import annotations

import io
from pathlib import Path

import pytest

from smallest_cli.errors import UsageError
from smallest_cli.source.text import text_chunks
from smallest_cli.source.textinput import check_text_file, decoded_lines, open_text_file


def lines(data: bytes) -> list[str]:
    return list(decoded_lines(io.BytesIO(data), "stdin"))


def test_utf8_lines_and_bom() -> None:
    assert lines("\ufeffhéllo\nwörld".encode()) == ["héllo\n", "wörld"]


@pytest.mark.parametrize("prefix", [b"", b"a" * 10, "é\n".encode() * 5000 + b"x"])
def test_non_utf8_names_the_absolute_byte_offset(prefix: bytes) -> None:
    with pytest.raises(UsageError, match=rf"stdin is not UTF-8 text: .* at byte {len(prefix)}$"):
        lines(prefix + b"\xff rest\n")


def test_truncated_sequence_at_end() -> None:
    with pytest.raises(UsageError, match="at byte 3"):
        lines(b"abc\xc3")


def test_nul_byte_is_binary() -> None:
    with pytest.raises(UsageError, match="binary file .* at byte 4"):
        lines(b"text\0more")


@pytest.mark.parametrize("encoding", ["utf-16", "utf-16-be"])
def test_utf16_with_its_byte_order_mark_is_named_as_such(encoding: str, tmp_path: Path) -> None:
    data = ("\ufeff" if encoding.endswith("be") else "").encode(encoding) + "Hello\r\n".encode(encoding)
    expected = "is UTF-16 text \\(it starts with a UTF-16 byte-order mark\\): convert it to UTF-8"
    with pytest.raises(UsageError, match=f"^stdin {expected}"):
        lines(data)
    (tmp_path / "notes.txt").write_bytes(data)
    with pytest.raises(UsageError, match=expected):
        check_text_file(tmp_path / "notes.txt")


def test_long_lines_are_read_in_pieces_without_loss() -> None:
    text = ("ü" * 50_000) + "\nend"
    assert "".join(lines(text.encode())) == text


def test_file_checked_whole_before_reading(tmp_path: Path) -> None:
    bad = tmp_path / "bad.txt"
    bad.write_bytes(b"fine\n" * 100_000 + b"\xfe")
    with pytest.raises(UsageError, match=f"at byte {5 * 100_000}"):
        open_text_file(bad)  # raised at once, not when the lazy reader gets there
    with pytest.raises(UsageError, match="is a directory"):
        check_text_file(tmp_path)
    with pytest.raises(UsageError, match="No such file"):
        check_text_file(tmp_path / "missing.txt")


def test_text_chunks_uses_binary_stdin() -> None:
    stdin = io.TextIOWrapper(io.BytesIO(b"ok " * 5000 + b"\xff"), encoding="utf-8")
    with pytest.raises(UsageError, match="at byte 15000"):
        list(text_chunks(None, None, stdin))


def test_an_empty_file_name_is_a_usage_error_not_the_current_directory() -> None:
    with pytest.raises(UsageError, match=r"^--file needs a path, or - for stdin$"):
        text_chunks(None, "", io.StringIO())
