"""Grapheme clusters: where text may be cut without splitting a character."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from smallest_cli.protocol.graphemes import is_boundary, last_boundary


def clusters(text: str) -> list[str]:
    """`text` cut at every boundary."""
    cuts = [p for p in range(1, len(text)) if is_boundary(text, p)]
    return [text[a:b] for a, b in zip([0, *cuts], [*cuts, len(text)], strict=True)]


#: Whole clusters, none of which joins the one before or after it.
CLUSTERS = {
    "Devanagari conjunct + vowel sign": "स्ते",
    "Devanagari conjunct with nukta": "क़्ष",
    "Devanagari with candrabindu": "माँ",
    "Bengali conjunct": "ক্ষ",
    "Telugu conjunct": "క్ష",
    "Tamil consonant + pulli + consonant": "ஸ்தே",
    "Tamil vowel sign (two parts)": "கொ",
    "Sinhala virama + ZWJ (repaya)": "ශ්\u200dරී",
    "Khmer coeng": "ក្ស",
    "Thai sara am": "กำ",
    "Latin + combining acute": "e\u0301",
    "precomposed": "é",
    "emoji + skin tone": "👍🏽",
    "ZWJ family": "👨\u200d👩\u200d👧",
    "ZWJ + skin tones": "🧑🏽\u200d💻",
    "rainbow flag (VS16, ZWJ)": "🏳\ufe0f\u200d🌈",
    "keycap": "1\ufe0f\u20e3",
    "flag": "🇮🇳",
    "subdivision flag (tags)": "🏴\U000E0067\U000E0062\U000E0065\U000E006E\U000E0067\U000E007F",
    "Hangul syllable": "한",
    "Hangul jamo L V T": "\u1112\u1161\u11ab",
    "Hangul jamo L V": "\u1100\u1161",
    "kana + combining voiced mark": "か\u3099",
    "ideograph": "漢",
    "CJK full stop": "。",
    "CR LF": "\r\n",
    "LF": "\n",
    "space": " ",
    "ASCII": "a",
    "danda": "।",
}


@pytest.mark.parametrize("name", CLUSTERS)
def test_a_cluster_is_never_cut(name: str) -> None:
    cluster = CLUSTERS[name]
    assert clusters(cluster) == [cluster]
    assert clusters("x" + cluster + "y") == ["x", cluster, "y"]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("नमस्ते", ["न", "म", "स्ते"]),
        ("தமிழ்", ["த", "மி", "ழ்"]),
        ("🇮🇳🇯🇵🇺", ["🇮🇳", "🇯🇵", "🇺"]),  # regional indicators pair from the start of the run
        ("한국어", ["한", "국", "어"]),
        ("\u1112\u1161\u11ab\u1100\u1161", ["\u1112\u1161\u11ab", "\u1100\u1161"]),
        ("今日は良い天気です。", list("今日は良い天気です。")),
        ("a\u200db", ["a\u200d", "b"]),  # a ZWJ joins symbols, not letters
        ("क्\n", ["क्", "\n"]),  # a control ends a cluster, even after a virama
        ("\n\u0301", ["\n", "\u0301"]),  # a control takes no marks
        ("क् a", ["क्", " ", "a"]),
    ],
)
def test_boundaries_between_clusters(text: str, expected: list[str]) -> None:
    assert clusters(text) == expected


def test_last_boundary() -> None:
    text = "नमस्ते"
    assert [last_boundary(text, limit) for limit in range(7)] == [None, 1, 2, 2, 2, 2, 6]
    assert last_boundary(text, 5, start=2) is None
    assert last_boundary("e\u0301\u0301", 2) is None


@settings(max_examples=300, deadline=None)
@given(st.lists(st.sampled_from(sorted(CLUSTERS.values())), min_size=1, max_size=40))
def test_the_boundaries_of_joined_clusters_are_the_joins(parts: list[str]) -> None:
    assert clusters("".join(parts)) == parts
