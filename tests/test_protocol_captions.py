"""Caption cues from word timings, and the SRT / WebVTT / JSON renderers (checked by real parsers)."""

from __future__ import annotations

import json

import pytest
import srt
import webvtt
from hypothesis import given, settings
from hypothesis import strategies as st

from smallest_cli.errors import UsageError
from smallest_cli.events import WordTimestamp
from smallest_cli.protocol.captions import (
    Cue,
    format_for_path,
    group_cues,
    render,
    to_json,
    to_srt,
    to_vtt,
)


def timed(text: str, wps: float = 3.0, gap_after: dict[int, float] | None = None) -> list[WordTimestamp]:
    """Words of `text`, each 1/wps seconds long, with optional pauses after given word ids."""
    out: list[WordTimestamp] = []
    t = 0.0
    for i, word in enumerate(text.split()):
        dur = 1.0 / wps
        out.append(WordTimestamp(i, word, round(t, 3), round(t + dur * 0.9, 3)))
        t += dur + (gap_after or {}).get(i, 0.0)
    return out


def cue_words(cues: list[Cue]) -> list[str]:
    return [w for c in cues for w in c.text.split()]


TEXT = (
    "Hello there, and welcome to the show. Today we talk about streaming speech synthesis "
    "for the command line, with captions that stay readable on any screen & <device>. "
    "Is that not great? It is!"
)


def test_words_preserved_and_lines_limited() -> None:
    words = timed(TEXT)
    cues = group_cues(words)
    assert cue_words(cues) == [w.word for w in words]
    for c in cues:
        lines = c.text.split("\n")
        assert 1 <= len(lines) <= 2
        assert all(len(line) <= 42 for line in lines)
        assert c.end - c.start <= 5.0 + 0.7 + 1e-9
    assert [c.index for c in cues] == list(range(1, len(cues) + 1))


def test_breaks_at_sentence_end() -> None:
    cues = group_cues(timed("One two. Three four five. Six"))
    assert [c.text for c in cues] == ["One two.", "Three four five.", "Six"]


def test_no_break_after_abbreviation_or_initial() -> None:
    cues = group_cues(timed("Dr. Smith met J. Doe, e.g. at noon. Then left"))
    assert [c.text for c in cues] == ["Dr. Smith met J. Doe, e.g. at noon.", "Then left"]


def test_breaks_at_long_pause() -> None:
    cues = group_cues(timed("one two three four", gap_after={1: 1.5}))
    assert [c.text for c in cues] == ["one two", "three four"]


def test_breaks_at_max_duration() -> None:
    cues = group_cues(timed("a b c d e f g h i j k l", wps=1.0))
    assert all(c.end - c.start <= 5.0 + 1e-9 for c in cues)
    assert len(cues) >= 3


def test_two_lines_are_balanced() -> None:
    cues = group_cues(timed("aaaa bbbb cccc dddd eeee ffff gggg hhhh iiii jjjj", wps=10))
    assert len(cues) == 1
    first, second = cues[0].text.split("\n")
    assert abs(len(first) - len(second)) <= 5


def test_overlong_word_gets_own_line() -> None:
    long_word = "x" * 60
    cues = group_cues(timed(f"a {long_word} b", wps=10))
    assert cue_words(cues) == ["a", long_word, "b"]


def test_short_cue_held_but_no_overlap() -> None:
    words = [WordTimestamp(0, "Hi.", 0.0, 0.1), WordTimestamp(1, "Yes.", 0.3, 0.5)]
    cues = group_cues(words, min_duration=0.7)
    assert cues[0].end == pytest.approx(0.3)
    assert cues[1].end == pytest.approx(1.0)


def test_empty_input() -> None:
    assert group_cues([]) == []
    assert to_srt([]) == ""
    assert to_vtt([]).startswith("WEBVTT")
    assert json.loads(to_json([], [])) == {"words": [], "cues": []}


def test_srt_output_parses() -> None:
    words = timed(TEXT)
    cues = group_cues(words)
    parsed = list(srt.parse(to_srt(cues)))
    assert len(parsed) == len(cues)
    assert [w for p in parsed for w in p.content.split()] == [w.word for w in words]
    assert parsed[0].start.total_seconds() == pytest.approx(cues[0].start, abs=1e-3)
    assert to_srt(cues).startswith("1\n00:00:00,000 --> ")


def test_vtt_output_parses_and_escapes() -> None:
    words = timed(TEXT)
    cues = group_cues(words)
    text = to_vtt(cues)
    assert text.startswith("WEBVTT\n\n")
    assert "&amp;" in text and "&lt;device&gt;." in text
    vtt = webvtt.from_string(text)
    assert len(vtt.captions) == len(cues)
    assert vtt.captions[0].start == "00:00:00.000"


def test_json_output() -> None:
    words = timed("Hello world.")
    cues = group_cues(words)
    doc = json.loads(to_json(words, cues))
    assert doc["words"][0] == {"id": 0, "word": "Hello", "start": 0.0, "end": 0.3}
    assert doc["cues"][0]["text"] == "Hello world."
    assert render("json", words, cues) == to_json(words, cues)


def test_long_times_format() -> None:
    cue = Cue(1, 3723.4567, 3725.0, "late")
    assert "01:02:03,457 --> 01:02:05,000" in to_srt([cue])
    assert "01:02:03.457 --> 01:02:05.000" in to_vtt([cue])


@pytest.mark.parametrize(
    ("name", "fmt"),
    [("out.srt", "srt"), ("dir/Out.VTT", "vtt"), ("a.b.json", "json"), ("x.webvtt", "vtt")],
)
def test_format_for_path(name: str, fmt: str) -> None:
    assert format_for_path(name) == fmt


@pytest.mark.parametrize("name", ["out.txt", "captions", "dir.srt/file", ".srt", "out.srt.bak"])
def test_format_for_path_rejects(name: str) -> None:
    with pytest.raises(UsageError):
        format_for_path(name)


def test_render_unknown_format() -> None:
    with pytest.raises(UsageError):
        render("ass", [], [])


# --- properties ---------------------------------------------------------------------------------

WORD = st.text(
    alphabet=st.characters(blacklist_categories=("Cs", "Cc", "Zs", "Zl", "Zp"), blacklist_characters="\x85"),
    min_size=1,
    max_size=15,
).filter(lambda w: w.split() == [w])
STEP = st.tuples(
    WORD,
    st.floats(min_value=0.0, max_value=2.0, allow_nan=False),  # gap before the word
    st.floats(min_value=0.0, max_value=1.5, allow_nan=False),  # word duration
)


@settings(max_examples=150, deadline=None)
@given(st.lists(STEP, max_size=60))
def test_properties(steps: list[tuple[str, float, float]]) -> None:
    words: list[WordTimestamp] = []
    t = 0.0
    for i, (word, gap, dur) in enumerate(steps):
        t += gap
        words.append(WordTimestamp(i, word, t, t + dur))
        t += dur
    cues = group_cues(words)
    assert cue_words(cues) == [w.word for w in words]
    for a, b in zip(cues, cues[1:], strict=False):
        assert a.start < a.end <= b.start < b.end
    srt_text = to_srt(cues)
    parsed = list(srt.parse(srt_text))
    assert len(parsed) == len(cues)
    assert all(p.start < p.end for p in parsed)
    assert all(a.end <= b.start for a, b in zip(parsed, parsed[1:], strict=False))
    vtt = webvtt.from_string(to_vtt(cues))
    assert len(vtt.captions) == len(cues)
    assert all(c.start_in_seconds <= c.end_in_seconds for c in vtt.captions)
