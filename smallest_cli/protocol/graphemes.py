"""Where text may be cut without splitting a user-perceived character. Pure code.

The rules are those of extended grapheme clusters (Unicode UAX #29) that matter for speech, computed
with `unicodedata` alone (no dependency, nothing to load at start-up). A cut between two code points
is refused when:

* they are CR LF;
* the second extends the first: a combining mark (category M*: vowel signs, viramas, nuktas,
  accents, variation selectors, keycap U+20E3), ZWJ/ZWNJ, an emoji skin-tone modifier
  (U+1F3FB..1F3FF), a tag character (U+E0020..E007F, subdivision flags like England's), the Thai/Lao
  AM vowel, a halfwidth katakana voicing mark;
* the first is a ZWJ and the second a symbol (category So): emoji ZWJ sequences like 👩‍💻;
* they are Hangul jamo that form one syllable (L V T sequences);
* they are two regional indicators that form one flag (🇮🇳): pairs counted from the run's start;
* the first is a virama (canonical combining class 9), possibly followed by other marks, and the
  second a letter: Indic conjuncts like स्ते. UAX #29 joins these for six scripts only (Devanagari,
  Bengali, Gujarati, Oriya, Telugu, Malayalam); they are joined here in every script (Tamil ஸ்தே,
  Kannada, Sinhala, Khmer...), as a cut there would split a spoken syllable.

Controls (other than these) are cut around. Not implemented, as text for speech does not need them:
the Prepend class (Arabic number signs), and the emoji data UAX #29 uses to tell which symbols a
ZWJ joins (any symbol is joined here).

A decision at position `i` looks at `text[i]` and back from `i - 1` only, and never before the
start of the text it is given: a caller that passes text starting at a cluster boundary gets the
same answers as for the whole text.
"""

from __future__ import annotations

import unicodedata

_ZWJ = "\u200d"
#: Extending characters that are not combining marks (besides skin tones and tags, by range).
_EXTEND_OTHER = frozenset("\u200c\u200d\u0e33\u0eb3\uff9e\uff9f")
_VIRAMA = 9  # canonical combining class of viramas (halants, pulli, coeng)

#: (first, second) Hangul syllable types that stay together.
_HANGUL_JOINS = frozenset(
    {("L", "L"), ("L", "V"), ("L", "LV"), ("L", "LVT"), ("LV", "V"), ("LV", "T"), ("V", "V"),
     ("V", "T"), ("LVT", "T"), ("T", "T")}
)


def _extends(ch: str) -> bool:
    """Is `ch` part of the cluster before it (never a cut before it)?"""
    cp = ord(ch)
    return (
        unicodedata.category(ch)[0] == "M"
        or ch in _EXTEND_OTHER
        or 0x1F3FB <= cp <= 0x1F3FF
        or 0xE0020 <= cp <= 0xE007F
    )


def _control(ch: str) -> bool:
    category = unicodedata.category(ch)
    return category in ("Cc", "Zl", "Zp") or (category == "Cf" and not _extends(ch))


def _hangul(ch: str) -> str:
    cp = ord(ch)
    if 0x1100 <= cp <= 0x115F or 0xA960 <= cp <= 0xA97C:
        return "L"
    if 0x1160 <= cp <= 0x11A7 or 0xD7B0 <= cp <= 0xD7C6:
        return "V"
    if 0x11A8 <= cp <= 0x11FF or 0xD7CB <= cp <= 0xD7FB:
        return "T"
    if 0xAC00 <= cp <= 0xD7A3:
        return "LV" if (cp - 0xAC00) % 28 == 0 else "LVT"
    return ""


def _regional(ch: str) -> bool:
    return 0x1F1E6 <= ord(ch) <= 0x1F1FF


def _after_virama(text: str, i: int) -> bool:
    """Does a virama end the marks just before `text[i]`?"""
    j = i - 1
    while j >= 0 and _extends(text[j]):
        if unicodedata.combining(text[j]) == _VIRAMA:
            return True
        j -= 1
    return False


def is_boundary(text: str, i: int) -> bool:
    """May `text` be cut before `text[i]`? (Always at its start and end.)"""
    if i <= 0 or i >= len(text):
        return True
    a, b = text[i - 1], text[i]
    if a == "\r" and b == "\n":
        return False
    if _control(a) or _control(b):
        return True
    if _extends(b) or (_hangul(a), _hangul(b)) in _HANGUL_JOINS:
        return False
    if a == _ZWJ and unicodedata.category(b) == "So":
        return False
    if _regional(a) and _regional(b):
        run = 1
        while run < i and _regional(text[i - 1 - run]):
            run += 1
        return run % 2 == 0
    return not (unicodedata.category(b) == "Lo" and _after_virama(text, i))


def last_boundary(text: str, limit: int, start: int = 0) -> int | None:
    """The last position `p` with `start < p <= limit` where `text` may be cut, or None."""
    for p in range(min(limit, len(text)), start, -1):
        if is_boundary(text, p):
            return p
    return None

