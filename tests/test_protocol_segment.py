"""The text segmenter: limits, preferred boundaries, things never split, streaming equivalence."""

from __future__ import annotations

import re

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from smallest_cli.protocol.graphemes import is_boundary
from smallest_cli.protocol.segment import (
    LOOKAHEAD,
    Segmenter,
    ends_sentence,
    iter_segments,
    segment_text,
)
from tests.test_protocol_graphemes import CLUSTERS, clusters

#: CJK characters, and the marks that end a sentence or a clause with no whitespace after them:
#: text with any of these may be cut inside what `str.split()` calls a word.
UNSPACED_RE = re.compile(r"[\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff。！？।॥，、；：]")


def nonspace(text: str) -> str:
    return "".join(text.split())


def check_basic(text: str, segs: list[str], max_chars: int) -> None:
    for s in segs:
        assert s, "empty segment"
        assert s == s.strip()
        assert len(s) <= max_chars
    assert "".join(nonspace(s) for s in segs) == nonspace(text)


def check_whole_clusters(text: str, segs: list[str]) -> None:
    """Each segment ends at a cluster boundary of `text`, and starts at one or after whitespace
    (a mark written on a trimmed space)."""
    pos = 0
    for s in segs:
        start = text.index(s, pos)
        pos = start + len(s)
        assert is_boundary(text, pos), (s[-3:], text[pos : pos + 3])
        assert is_boundary(text, start) or text[start - 1].isspace(), (text[start - 3 : start], s[:3])


# --- examples -----------------------------------------------------------------------------------


def test_short_text_is_one_segment() -> None:
    assert segment_text("  Hello there.  ") == ["Hello there."]


def test_empty_and_whitespace() -> None:
    assert segment_text("") == []
    assert segment_text(" \n\t ") == []


def test_prefers_sentence_end_near_target() -> None:
    sentence = "This sentence is exactly sixty-nine characters long, give or take it."
    segs = segment_text(" ".join([sentence] * 6))
    assert all(s.endswith(".") for s in segs)
    assert all(100 <= len(s) <= 250 for s in segs)


def test_clause_then_space_when_no_sentence_end() -> None:
    text = ("word " * 30 + "and then, ") * 4
    segs = segment_text(text)
    check_basic(text, segs, 250)
    assert all(s.endswith(",") for s in segs[:-1])
    no_punct = "lorem ipsum dolor " * 40
    segs = segment_text(no_punct)
    check_basic(no_punct, segs, 250)
    assert " ".join(segs).split() == no_punct.split()


@pytest.mark.parametrize("phrase", ["3.14", "Dr. Smith", "Mr. Jones", "e.g. apples", "etc. and", "U.S. Army"])
def test_never_split_decimals_and_abbreviations(phrase: str) -> None:
    filler = "Some words here to fill space."
    for n in range(0, 12):
        text = " ".join([filler] * n + [f"We saw {phrase} today."] + [filler] * 8)
        segs = segment_text(text, max_chars=120, target_chars=60)
        assert any(phrase in s for s in segs), (phrase, segs)


def test_ellipsis_and_url_kept_whole() -> None:
    url = "https://example.com/path/file.name?q=1,2&x=a.b!c"
    text = ("Well... maybe. " * 5 + f"See {url} for more, ok? " * 6) * 2
    segs = segment_text(text, max_chars=100, target_chars=70)
    check_basic(text, segs, 100)
    assert " ".join(segs).count(url) == text.count(url)
    assert all(not s.startswith("..") and not s.startswith(".") for s in segs)


def test_ellipsis_is_not_a_sentence_end() -> None:
    text = "A" * 40 + " wait... " + "b" * 30 + ". " + "c " * 100
    segs = segment_text(text, max_chars=120, target_chars=45)
    assert segs[0].endswith("b.") and "wait..." in segs[0]


def test_cjk_marks_split_without_space() -> None:
    text = "今日は良い天気です。" * 40
    segs = segment_text(text)
    check_basic(text, segs, 250)
    assert all(s.endswith("。") for s in segs)
    assert len(segs) > 1


def test_cjk_without_marks_cut_near_target() -> None:
    text = "漢" * 1000
    segs = segment_text(text)
    check_basic(text, segs, 250)
    assert all(100 <= len(s) <= 180 for s in segs[:-1])


def test_devanagari_danda() -> None:
    text = "यह एक वाक्य है। " * 40
    segs = segment_text(text)
    check_basic(text, segs, 250)
    assert all(s.endswith("।") for s in segs)
    assert " ".join(segs).split() == text.split()


@pytest.mark.parametrize(
    "text",
    [
        "नमस्ते" * 100,  # Hindi without spaces: 250 falls inside the conjunct स्ते
        "क्षि" * 100,  # conjuncts with vowel signs
        "தமிழ்நாடுஸ்தே" * 40,  # Tamil without spaces
        "🧑🏽\u200d💻👍🏿🇮🇳" * 60,  # emoji with skin tones, a ZWJ sequence, a flag
        "か\u3099き\u3099" * 150,  # kana with combining voiced marks, between CJK characters
        "\u1112\u1161\u11ab\u1100\u1173\u11af" * 100,  # Hangul as jamo
    ],
    ids=["hindi", "conjuncts", "tamil", "emoji", "kana", "hangul-jamo"],
)
def test_text_without_spaces_is_cut_between_characters(text: str) -> None:
    for max_chars, target in ((250, 140), (50, 30), (13, 5)):
        segs = segment_text(text, max_chars=max_chars, target_chars=target)
        check_basic(text, segs, max_chars)
        check_whole_clusters(text, segs)
        assert "".join(segs) == text
        assert len(segs) > 1


def test_cjk_ends_after_a_full_stop_else_between_ideographs() -> None:
    text = ("漢字" * 50 + "。") * 4 + "漢" * 400
    segs = segment_text(text)
    check_basic(text, segs, 250)
    assert all(s.endswith("。") for s in segs[:4])
    assert all(100 <= len(s) <= 180 for s in segs[4:-1])


def test_a_cluster_longer_than_the_limit_is_cut() -> None:
    text = "e" + "\u0301" * 30
    assert segment_text(text, max_chars=12, target_chars=5) == [text[:12], text[12:24], text[24:]]


def test_blank_line_is_a_boundary() -> None:
    text = "Chapter One\n\n" + "It was a dark night and nothing happened for a long while " * 4
    segs = segment_text(text, max_chars=100, target_chars=60)
    assert segs[0] == "Chapter One" or segs[0].startswith("Chapter One")


def test_closing_quote_stays_with_sentence() -> None:
    text = ('He said "Stop right there." Then he left. ' * 10).strip()
    segs = segment_text(text, max_chars=80, target_chars=50)
    assert all(not s.startswith('"') for s in segs)


def test_bad_parameters() -> None:
    with pytest.raises(ValueError):
        Segmenter(max_chars=0)
    with pytest.raises(ValueError):
        Segmenter(max_chars=10, target_chars=11)


def test_pending_and_finish_as_flush() -> None:
    seg = Segmenter()
    assert seg.feed("Hello, this is streamed") == []
    assert seg.pending == "Hello, this is streamed"
    assert seg.finish() == ["Hello, this is streamed"]
    assert seg.pending == ""
    assert seg.feed("  again") == [] and seg.finish() == ["again"]


def test_finish_sentences_returns_the_finished_sentences_and_keeps_the_rest() -> None:
    seg = Segmenter()
    assert seg.feed("First sentence. Second one! The third") == []
    assert seg.finish_sentences() == ["First sentence. Second one!"]
    assert seg.pending == "The third"
    assert seg.finish_sentences() == []  # nothing finished: nothing sent, nothing lost
    assert seg.pending == "The third"
    assert seg.feed(" is here.\n") == [] and seg.finish_sentences() == ["The third is here."]
    assert seg.pending == ""


@pytest.mark.parametrize("held", ["We met Dr. ", "It cost 3.", "Wait... ", "Done.", "Para one"])
def test_finish_sentences_keeps_what_is_not_a_finished_sentence(held: str) -> None:
    """An abbreviation, a number or a final `.` that more text may continue, an ellipsis."""
    seg = Segmenter()
    seg.feed(held)
    assert seg.finish_sentences() == []
    assert seg.pending == held


def test_finish_sentences_keeps_segments_within_the_limit() -> None:
    seg = Segmenter(max_chars=20, target_chars=10)
    assert seg.feed("Aaaa bbbb cc. Ddd eeee ff. ") == []  # 27 characters held
    assert seg.finish_sentences() == ["Aaaa bbbb cc.", "Ddd eeee ff."]
    assert seg.pending == ""


def test_streaming_memory_is_bounded() -> None:
    seg = Segmenter()
    total = 0
    chunk = "The quick brown fox jumps over the lazy dog; it does so quickly. " * 50
    for _ in range(200):  # ~650 KB through the segmenter
        total += len(seg.feed(chunk))
        assert len(seg.pending) < seg.max_chars + LOOKAHEAD
    total += len(seg.finish())
    assert total > 1000


def test_iter_segments_is_lazy() -> None:
    def chunks():
        yield "First sentence is here. " * 20
        raise RuntimeError("not reached before the first segment is taken")

    assert next(iter_segments(chunks()))


# --- properties ---------------------------------------------------------------------------------

WORDS = st.sampled_from(
    [
        "the", "a", "quick", "extraordinarily", "fox", "Hello,", "world.", "yes!", "why?", "Dr.", "Mr.",
        "e.g.", "etc.", "i.e.", "3.14", "1,000.5", "https://example.com/a.b?c=1,2", "wait...", "well…",
        "—", "-", "(aside)", '"quoted."', "say:", "list;", "नमस्ते", "दुनिया।", "J.", "K.", "U.S.",
    ]
)
SEPS = st.sampled_from([" ", " ", " ", "  ", "\n", "\n\n", "\t"])


SEPS_NO_BLANK_LINE = st.sampled_from([" ", " ", "  ", "\n", "\t"])


@st.composite
def texts(draw: st.DrawFn, seps: st.SearchStrategy[str] = SEPS) -> str:
    words = draw(st.lists(st.tuples(WORDS, seps), max_size=150))
    return "".join(w + s for w, s in words)


LIMITS = st.sampled_from([(250, 140), (40, 20), (60, 60), (12, 5)])
#: Clusters of many scripts, with few spaces (two of the thirty clusters are a space and a newline).
SCRIPTS_TEXT = st.lists(st.sampled_from(sorted(CLUSTERS.values())), max_size=300).map("".join)
ANY_TEXT = st.one_of(
    texts(),
    st.text(max_size=600),
    st.text(alphabet="ab .,!?。漢字\n", max_size=600),
    SCRIPTS_TEXT,
)


def pieces(text: str, cuts: list[int]) -> list[str]:
    """`text` cut at `cuts`, without empty pieces (an empty piece is a pause)."""
    points = sorted({c % (len(text) + 1) for c in cuts})
    return [text[a:b] for a, b in zip([0, *points], [*points, len(text)], strict=True) if a < b]


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(text=ANY_TEXT, limits=LIMITS, cuts=st.lists(st.integers(min_value=0), max_size=12))
@example(text="0" * 38 + "\r।0", limits=(40, 20), cuts=[])
@example(text="abcdefgh，ijk lm", limits=(12, 5), cuts=[])
def test_properties(text: str, limits: tuple[int, int], cuts: list[int]) -> None:
    max_chars, target = limits
    segs = segment_text(text, max_chars=max_chars, target_chars=target)
    check_basic(text, segs, max_chars)
    if all(len(c) <= max_chars for c in clusters(text)):
        check_whole_clusters(text, segs)
    # the same result however the text arrives
    assert list(iter_segments(pieces(text, cuts), max_chars, target)) == segs
    # word preservation when no word is longer than the limit and every cut needs whitespace
    if not UNSPACED_RE.search(text) and all(len(w) <= max_chars for w in text.split()):
        assert " ".join(segs).split() == text.split()


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(text=ANY_TEXT, limits=LIMITS, cuts=st.lists(st.integers(min_value=0), max_size=12),
       paused=st.lists(st.booleans(), max_size=13))
def test_pauses_keep_the_text_and_the_limits(
    text: str, limits: tuple[int, int], cuts: list[int], paused: list[bool]
) -> None:
    """A pause (an empty piece) after any piece: the text is kept and the limits hold."""
    max_chars, target = limits
    with_pauses: list[str] = []
    for i, part in enumerate(pieces(text, cuts)):
        with_pauses += [part, ""] if i < len(paused) and paused[i] else [part]
    segs = list(iter_segments(with_pauses, max_chars, target))
    check_basic(text, segs, max_chars)
    if "" not in with_pauses:
        assert segs == segment_text(text, max_chars=max_chars, target_chars=target)


@settings(max_examples=60, deadline=None)
@given(text=texts())
def test_one_character_at_a_time(text: str) -> None:
    seg = Segmenter(max_chars=40, target_chars=20)
    out: list[str] = []
    for ch in text:
        out += seg.feed(ch)
        assert len(seg.pending) < 40 + LOOKAHEAD
    out += seg.finish()
    assert out == segment_text(text, max_chars=40, target_chars=20)


@settings(max_examples=150, deadline=None)
@given(text=texts(SEPS_NO_BLANK_LINE), limits=LIMITS)
def test_titles_stay_with_next_word(text: str, limits: tuple[int, int]) -> None:
    max_chars, target = limits
    if max_chars < 40:
        return
    segs = segment_text(text, max_chars=max_chars, target_chars=target)
    words_in_text = text.split()
    # Only a title that ends the whole text may end a segment (a blank line after one would).
    for s in segs[:-1]:
        last = s.split()[-1]
        assert last not in ("Dr.", "Mr.", "e.g.", "i.e.", "U.S."), (s, segs)
    assert len(words_in_text) == len(" ".join(segs).split())


@settings(max_examples=100, deadline=None)
@given(
    before=st.lists(WORDS, max_size=60),
    number=st.from_regex(r"[0-9]{1,4}\.[0-9]{1,4}", fullmatch=True),
    after=st.lists(WORDS, max_size=60),
)
def test_decimal_never_split(before: list[str], number: str, after: list[str]) -> None:
    text = " ".join([*before, number, *after])
    segs = segment_text(text, max_chars=40, target_chars=20)
    assert any(number in s.split() for s in segs)


@pytest.mark.parametrize(
    ("word", "ends"),
    [
        ("end.", True), ("2024.", True), ("Go!", True), ('"Why?"', True), ("I.", True), ("好。", True),
        ("Dr.", False), ("e.g.", False), ("J.", False), ("etc.", False), ("wait...", False),
        ("3.14", False), ("word", False), ("", False),
    ],
)
def test_ends_sentence_uses_the_segmenter_rules(word: str, ends: bool) -> None:
    assert ends_sentence(word) is ends
