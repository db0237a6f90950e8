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
    CueGrouper,
    ParagraphEnds,
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
    cues = group_cues(timed("One two three. Four five six seven! Eight nine ten eleven"))
    assert [c.text for c in cues] == ["One two three.", "Four five six seven!", "Eight nine ten eleven"]


def test_a_sentence_too_short_for_a_cue_runs_on_or_joins_the_one_before() -> None:
    cues = group_cues(timed("Yes. We will go there soon. Then home."))
    assert [c.text for c in cues] == ["Yes. We will go there soon. Then home."]


def test_an_ellipsis_ends_a_cue() -> None:
    cues = group_cues(timed("I was thinking… maybe we should go."))
    assert [c.text for c in cues] == ["I was thinking…", "maybe we should go."]


def test_no_break_after_abbreviation_or_initial() -> None:
    cues = group_cues(timed("Dr. Smith met J. Doe, e.g. at noon. Then they left the room"))
    assert [c.text for c in cues] == ["Dr. Smith met J. Doe, e.g. at noon.", "Then they left the room"]


HEADED = "# Savings\n\nMoney is kept in a safe place. Most people keep it in a bank.\nNotes\nNone yet"


def test_a_heading_is_a_cue_of_its_own() -> None:
    words = timed(HEADED)
    cues = group_cues(words, text=HEADED)
    assert [c.text for c in cues] == [
        "# Savings", "Money is kept in a safe place.", "Most people keep it in a bank.", "Notes", "None yet",
    ]
    # Without the text, nothing tells the heading from the sentence after it.
    assert group_cues(words)[0].text.startswith("# Savings Money")


def test_hard_wrapped_lines_are_not_paragraph_ends() -> None:
    text = (
        "The river rose all night and by the morning it had\n"
        "covered the lower fields, the road and the old mill\n"
        "by the bridge.\n\nThe end"
    )
    cues = group_cues(timed(text, wps=4), text=text)
    assert [c.text.replace("\n", " ") for c in cues] == [
        "The river rose all night and by the morning it had covered the lower fields,",
        "the road and the old mill by the bridge.",
        "The end",
    ]


@pytest.mark.parametrize(
    ("text", "ends"),
    [
        ("# Title\n\nBody text.", [False, True, False, False]),
        ("Short line\nnext", [False, True, False]),
        ("A blank line   \n  \n after", [False, False, True, False]),
        ("x" * 50 + " wrapped\nline", [False, False, False]),
        ("x" * 50 + " ends.\nline", [False, True, False]),
        ("two\r\n\r\nparagraphs", [True, False]),
    ],
)
def test_paragraph_ends(text: str, ends: list[bool]) -> None:
    found = ParagraphEnds(text)
    assert [found.after(w) for w in text.split()] == ends


def test_paragraph_ends_skip_words_not_in_the_text() -> None:
    found = ParagraphEnds("Costs $5.\n\nThen more")
    assert [found.after(w) for w in ["Costs", "five", "dollars", "$5.", "Then", "more"]] == [
        False, False, False, True, False, False,
    ]


def test_the_short_tail_of_a_long_sentence_is_rebalanced() -> None:
    text = "Most people keep the money they save each month, bit by bit over many years, safely in bank."
    cues = group_cues(timed(text, wps=4))
    # Not "... safely" then "in bank." alone for 0.5 s: cut at a comma instead.
    assert [c.text.replace("\n", " ") for c in cues] == [
        "Most people keep the money they save each month,",
        "bit by bit over many years, safely in bank.",
    ]
    # The same words, but the tail fits after the cue before it: it joins it.
    cues = group_cues(timed("We keep our money safe in a bank. Truly so."))
    assert [c.text.replace("\n", " ") for c in cues] == ["We keep our money safe in a bank. Truly so."]


def test_no_cue_is_an_orphan_when_the_words_allow_it() -> None:
    text = " ".join(f"Word{i} runs on and on, past the end of a line, into a tail{i} here." for i in range(6))
    for wps in (2.5, 3.0, 4.0, 6.0):
        cues = group_cues(timed(text, wps=wps))
        assert cue_words(cues) == text.split()
        for c in cues:
            assert len(c.text.split()) > 2 or c.end - c.start >= 1.0, (wps, c)


def test_cjk_sentence_marks_end_cues() -> None:
    words = [
        WordTimestamp(i, w, i * 1.2, i * 1.2 + 1.1)
        for i, w in enumerate(["今天天气很好，", "我们去公园吧！", "他说：「好。」", "然后一起走了"])
    ]
    cues = group_cues(words)
    assert [c.text for c in cues] == ["今天天气很好， 我们去公园吧！", "他说：「好。」", "然后一起走了"]


def test_finish_without_holding_ends_at_the_last_word() -> None:
    grouper = CueGrouper()
    cues = [c for w in timed("Just three words.") for c in grouper.add(w)]
    cues += grouper.finish(hold=False)
    assert len(cues) == 1 and cues[0].end == pytest.approx(timed("Just three words.")[-1].end)


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
    words = [WordTimestamp(0, "Hi.", 0.0, 0.1), WordTimestamp(1, "Yes.", 0.8, 0.9)]
    cues = group_cues(words, min_duration=1.0)
    assert cues[0].end == pytest.approx(0.8)
    assert cues[1].end == pytest.approx(1.8)


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
    st.sampled_from([" ", " ", " ", "\n", "\n\n"]),  # what follows the word in the text
)


@settings(max_examples=150, deadline=None)
@given(st.lists(STEP, max_size=60), st.booleans())
def test_properties(steps: list[tuple[str, float, float, str]], with_text: bool) -> None:
    words: list[WordTimestamp] = []
    t = 0.0
    for i, (word, gap, dur, _) in enumerate(steps):
        t += gap
        words.append(WordTimestamp(i, word, t, t + dur))
        t += dur
    text = "".join(word + after for word, _, _, after in steps)
    cues = group_cues(words, text=text if with_text else None)
    assert cue_words(cues) == [w.word for w in words]
    for a, b in zip(cues, cues[1:], strict=False):
        assert a.start < a.end <= b.start < b.end
    for c in cues:
        assert len(c.text.split("\n")) <= 2 and c.end - c.start <= 5.0 + 0.7 + 1e-9
    srt_text = to_srt(cues)
    parsed = list(srt.parse(srt_text))
    assert len(parsed) == len(cues)
    assert all(p.start < p.end for p in parsed)
    assert all(a.end <= b.start for a, b in zip(parsed, parsed[1:], strict=False))
    vtt = webvtt.from_string(to_vtt(cues))
    assert len(vtt.captions) == len(cues)
    assert all(c.start_in_seconds <= c.end_in_seconds for c in vtt.captions)
