"""Each spoken word's place in the source (`smallest_cli/source/places.py`): where the Markdown
converter's words come from (headings, list items, links, emphasis, table rows, code notes,
non-Latin text), the same whole and in any pieces, bounded memory, plain text, and end to end
through the CLI (`--json` words and a JSON caption file)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from smallest_cli.source.markdown import MAX_BLOCK_CHARS, MarkdownSpeech, speak_markdown
from smallest_cli.source.places import _TOKEN, Place, SpokenPlaces, placed_plain
from tests.helpers import Server, run_cli
from tests.test_cli_support import add_fault, clear_faults
from tests.test_live_text import cli
from tests.test_markdown import NOTES, PROPERTY, document


def placed(markdown: str, code: str = "note", size: int | None = None) -> list[tuple[str, Place | None]]:
    """Each word said, as word timestamps give it (whitespace-separated), with its place; the
    Markdown given whole or in pieces of `size` characters."""
    places = SpokenPlaces()
    speech = MarkdownSpeech(code, places)
    step = size or len(markdown) or 1
    said = "".join(speech.feed(markdown[i : i + step]) for i in range(0, len(markdown), step))
    said += speech.finish()
    return [(word, places.place(word)) for word in said.split()]


def at(markdown: str, place: Place | None) -> str:
    """The source from `place` to the end of its line (the whole line when it has no column)."""
    assert place is not None
    line = markdown.split("\n")[place.line - 1]
    return line if place.column is None else line[place.column - 1 :]


def test_headings_and_list_items_point_past_their_markers() -> None:
    doc = "# Release **notes**\n\n- first item\n  1. nested *one*\n\nSetext title\n===\n"
    assert placed(doc) == [
        ("Release", Place(1, 3)), ("notes.", Place(1, 13)),
        ("first", Place(3, 3)), ("item.", Place(3, 9)),
        ("nested", Place(4, 6)), ("one.", Place(4, 14)),
        ("Setext", Place(6, 1)), ("title.", Place(6, 8)),
    ]


def test_a_link_points_at_its_label_and_a_bare_url_at_its_host() -> None:
    doc = "Read [the\nguide](https://example.com/the/guide) or\nsee https://www.example.org/a for a demo.\n"
    assert placed(doc) == [
        ("Read", Place(1, 1)), ("the", Place(1, 7)), ("guide", Place(2, 1)), ("or", Place(2, 39)),
        ("see", Place(3, 1)), ("a", Place(3, None)), ("link", Place(3, None)), ("to", Place(3, None)),
        ("example.org", Place(3, 17)), ("for", Place(3, 31)), ("a", Place(3, 35)), ("demo.", Place(3, 37)),
    ]


def test_emphasis_code_and_quotes_keep_their_words_places() -> None:
    doc = "> A ***very*** `odd` __case__ of ~~it~~.\n"
    assert placed(doc) == [
        ("A", Place(1, 3)), ("very", Place(1, 8)), ("odd", Place(1, 17)), ("case", Place(1, 24)),
        ("of", Place(1, 31)), ("it.", Place(1, 36)),
    ]


def test_a_table_row_points_at_its_row_and_its_values() -> None:
    doc = "| Name | Role |\n|---|---|\n| Ada | engineer |\n| Alan | maths |\n"
    assert placed(doc) == [
        ("Name:", Place(3, None)), ("Ada,", Place(3, 3)),
        ("Role:", Place(3, None)), ("engineer.", Place(3, 9)),
        ("Name:", Place(4, None)), ("Alan,", Place(4, 3)),
        ("Role:", Place(4, None)), ("maths.", Place(4, 10)),
    ]


@pytest.mark.parametrize("code", ["note", "skip", "read"])
def test_a_code_note_points_at_its_fence_and_read_code_at_itself(code: str) -> None:
    doc = "Intro.\n\n```python\nx = parse(y)\n```\n\nAfter.\n"
    expected = {
        "note": [(w, Place(3, None)) for w in "There is a code block here.".split()],
        "skip": [],
        "read": [("x", Place(4, 1)), ("=", Place(4, None)), ("parse(y)", Place(4, 5))],
    }[code]
    words = placed(doc, code)
    assert words == [("Intro.", Place(1, 1)), *expected, ("After.", Place(7, 1))]


@pytest.mark.parametrize("size", [None, 1, 4])
def test_words_after_front_matter_point_past_it(size: int | None) -> None:
    doc = '---\ntitle: "Release notes"\n\ndate: 2024\n---\n# Release **notes**\n\nFirst item.\n'
    assert placed(doc, size=size) == [
        ("Release", Place(6, 3)), ("notes.", Place(6, 13)), ("First", Place(8, 1)), ("item.", Place(8, 7)),
    ]


def test_non_latin_words_have_their_places() -> None:
    doc = "## मुख्य बातें\n\n- **पायथन** एक भाषा है।\n\n今日は**晴れ**です。明日\n\nПривет, *мир*!\n"
    assert placed(doc) == [
        ("मुख्य", Place(1, 4)), ("बातें।", Place(1, 10)),
        ("पायथन", Place(3, 5)), ("एक", Place(3, 13)), ("भाषा", Place(3, 16)), ("है।", Place(3, 21)),
        ("今日は晴れです。明日。", Place(5, 1)),
        ("Привет,", Place(7, 1)), ("мир!", Place(7, 10)),
    ]


@PROPERTY
@given(document(), st.integers(1, 9))
def test_every_word_points_at_itself_in_order_whole_or_in_pieces(
    doc: tuple[str, list[str]], size: int
) -> None:
    """Every word has a line of the document; a word with a column is there (one of its tokens
    starts there), in order; the places are the same whatever the pieces."""
    markdown, _ = doc
    words = placed(markdown)
    assert placed(markdown, size=size) == words
    columns = []
    for word, place in words:
        assert place is not None and 1 <= place.line <= markdown.count("\n") + 1, (word, markdown)
        if place.column is not None:
            source = at(markdown, place).casefold()
            assert any(source.startswith(t.casefold()) for t in _TOKEN.findall(word)), (word, markdown)
            columns.append(place)
    assert columns == sorted(set(columns)), markdown


def test_plain_text_is_its_own_source_in_any_pieces() -> None:
    text = "Hello there,\n  second line.\n\nसबसे अच्छा।"
    pieces = [text[i : i + 4] for i in range(0, len(text), 4)]
    places = SpokenPlaces()
    assert "".join(placed_plain(pieces, places)) == text
    assert [places.place(w) for w in text.split()] == [
        Place(1, 1), Place(1, 7), Place(2, 3), Place(2, 10), Place(4, 1), Place(4, 6),
    ]


def test_memory_stays_bounded_while_words_arrive_or_not() -> None:
    """Words placed as they come, or requests ended without any word, or neither (live input with
    a voice that sends no words): the spoken text held stays small, or within its cap; the source
    held is at most about a block, however long the document, a paragraph or a code block."""
    part = "## Part {}\n\nSome **bold** text, [a link](https://x.io/{}) and more.\n\n"
    doc = "".join(part.format(i, i) for i in range(300))
    doc += "```\n" + "x = 1\n" * 2000 + "```\n\n" + "word " * 1000 + "\n"
    for feed in ("words", "segments", "nothing"):
        places = SpokenPlaces(max_chars=4096)
        speech = MarkdownSpeech("note", places)
        held = source = 0
        for start in range(0, len(doc), 100):
            said = speech.feed(doc[start : start + 100])
            if feed == "words":
                assert all(places.place(w) is not None for w in said.split())
            elif feed == "segments" and said.strip():
                places.end_segment(said.strip())
            held = max(held, len(places._text), len(places._marks))
            source = max(source, len(speech._track._text))  # type: ignore[union-attr]
        assert held <= (1000 if feed != "nothing" else 4096 + 1000), feed
        assert source <= MAX_BLOCK_CHARS + 100, feed


def test_past_the_cap_the_words_that_follow_get_no_place() -> None:
    """Text noted far ahead of its words (--cache reads it all first) is kept up to the cap; the
    words after it get no place rather than a wrong one."""
    places = SpokenPlaces(max_chars=30)
    words = "one two three four five six seven one two three".split()
    assert "".join(placed_plain([w + " " for w in words], places)) == " ".join(words) + " "
    assert [places.place(w) for w in words] == [
        Place(1, 1), Place(1, 5), Place(1, 9), Place(1, 15), Place(1, 20), Place(1, 25), *[None] * 4
    ]


def test_a_request_ended_without_its_words_moves_the_next_words_on() -> None:
    places = SpokenPlaces()
    assert "".join(placed_plain(["Yes. No.\n", "Yes. Maybe.\n"], places)) == "Yes. No.\nYes. Maybe.\n"
    places.end_segment("Yes. No.")
    assert places.place("Yes.") == Place(2, 1)


# -- end to end ------------------------------------------------------------------------------------

#: Words said that the source does not have: "a link to", the code note, the table's header.
NOT_IN_SOURCE = {"a", "link", "to", "There", "is", "code", "block", "here.", "Option:", "Default:"}
#: ... each on the line it was said for: the URL's, the fence's, the row's.
SAID_FOR = ("https://", "```", "| speed")


def _check_places(words: list[dict[str, object]], markdown: str) -> None:
    """Every word said, in order, each on a line that has it at its column (in order), or for a word
    the source does not have, on the line it was said for."""
    lines = markdown.split("\n")
    assert [w["word"] for w in words] == speak_markdown(markdown).split()
    columns = []
    for word in words:
        text, line = str(word["word"]), word["line"]
        assert isinstance(line, int), word
        if "column" not in word:
            assert text in NOT_IN_SOURCE and any(s in lines[line - 1] for s in SAID_FOR), word
            continue
        column = word["column"]
        assert isinstance(column, int)
        assert lines[line - 1][column - 1 :].startswith(text.rstrip(".,:।")), word
        columns.append((line, column))
    assert columns == sorted(set(columns))


def test_json_words_and_json_captions_point_into_the_markdown(
    server: Server, env: dict[str, str], tmp_path: Path
) -> None:
    notes = tmp_path / "notes.md"
    notes.write_text(NOTES, encoding="utf-8")
    captions = tmp_path / "x.json"
    args = ["stream-ws", "-f", str(notes), "-v", "avery", "--json", "--word-timestamps",
            "--captions", str(captions), "-o", str(tmp_path / "a.wav")]
    result = run_cli(args, env)
    assert result.returncode == 0, result.stderr.decode()
    words = json.loads(result.stdout)["words"]
    _check_places(words, NOTES)
    assert json.loads(captions.read_text(encoding="utf-8"))["words"] == words


def test_words_of_several_requests_and_a_retry_keep_their_places(
    server: Server, env: dict[str, str], tmp_path: Path
) -> None:
    """A document of several requests, the first dropped after a few chunks and sent again: the
    words the retry repeats are not placed twice, and each request's words are found after the
    last one's."""
    markdown = NOTES + "\n" + NOTES.replace("Release", "Second").replace("first", "other")
    notes = tmp_path / "notes.md"
    notes.write_text(markdown, encoding="utf-8")
    clear_faults(server)
    add_fault(server, kind="drop", transport="ws", after_chunks=25)
    args = ["stream-ws", "-f", str(notes), "-v", "avery", "--json", "-o", str(tmp_path / "a.wav"),
            "--captions", str(tmp_path / "x.srt")]
    result = run_cli(args, env)
    assert result.returncode == 0, result.stderr.decode()
    stats = json.loads(result.stdout)
    assert stats["retries"] == 1 and stats["segments"] >= 3
    _check_places(stats["words"], markdown)


def test_words_from_the_cache_point_into_this_runs_markdown(
    server: Server, env: dict[str, str], tmp_path: Path
) -> None:
    """A render is named by the words said, not by the Markdown: a file with a line more says the
    same words and hits the render the first file stored, and its words point into it."""
    for name, markdown, cache in [("a.md", NOTES, "miss"), ("b.md", "\n" + NOTES, "hit")]:
        notes = tmp_path / name
        notes.write_text(markdown, encoding="utf-8")
        args = ["stream-ws", "-f", str(notes), "-v", "avery", "--cache", "--json", "--word-timestamps",
                "-o", str(tmp_path / "a.wav")]
        result = run_cli(args, env)
        assert result.returncode == 0, result.stderr.decode()
        stats = json.loads(result.stdout)
        assert stats["cache"] == cache
        _check_places(stats["words"], markdown)


def test_live_markdown_words_point_into_the_markdown(
    server: Server, env: dict[str, str], tmp_path: Path
) -> None:
    """Fed three characters at a time, the words are placed as from the whole file."""
    captions = tmp_path / "live.json"
    args = ["stream-ws", "--live", "--markdown", "-v", "avery", "--captions", str(captions),
            "-o", str(tmp_path / "a.wav")]
    with cli(args, env) as (proc, _):
        assert proc.stdin is not None
        for start in range(0, len(NOTES), 3):
            proc.stdin.write(NOTES[start : start + 3].encode())
            proc.stdin.flush()
        proc.stdin.close()
        assert proc.wait(timeout=60) == 0, proc.stderr.read().decode() if proc.stderr else ""
    words = json.loads(captions.read_text(encoding="utf-8"))["words"]
    _check_places(words, NOTES)


def test_plain_text_words_point_into_the_text(server: Server, env: dict[str, str], tmp_path: Path) -> None:
    text = "First line here.\n  And the second one."
    args = ["stream-ws", text, "-v", "avery", "--json", "--word-timestamps", "-o", str(tmp_path / "a.wav")]
    result = run_cli(args, env)
    assert result.returncode == 0, result.stderr.decode()
    words = json.loads(result.stdout)["words"]
    assert [(w["line"], w["column"]) for w in words] == [
        (1, 1), (1, 7), (1, 12), (2, 3), (2, 7), (2, 11), (2, 18)
    ]
