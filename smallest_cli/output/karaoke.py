"""The sentence being heard, with the current word highlighted, for the live display.

Driven by the playback clock (seconds of audio played), not by when word frames arrived: frames come
ahead of the audio they describe. Keeps a bounded window of recent words (memory stays flat).
"""

from __future__ import annotations

import bisect
from collections import deque
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from smallest_cli.events import WordTimestamp

if TYPE_CHECKING:
    from rich.text import Text  # imported when used: rich is slow to import (startup)

#: Words kept: enough for the sentence being heard while later frames arrive ahead of playback.
MAX_WORDS = 4096
#: The longest line shown (characters).
MAX_LINE_CHARS = 100


@dataclass
class WordTrack:
    """Recent words on the run's timeline, in order."""

    max_words: int = MAX_WORDS
    _words: deque[WordTimestamp] = field(default_factory=deque)

    def add(self, word: WordTimestamp) -> None:
        self._words.append(word)
        while len(self._words) > self.max_words:
            self._words.popleft()

    def current(self, played: float) -> int | None:
        """Index of the word being heard at `played` seconds (the last one started), or None."""
        starts = [w.start for w in self._words]
        i = bisect.bisect_right(starts, played) - 1
        return i if i >= 0 else None

    def line(self, played: float, width: int = MAX_LINE_CHARS) -> Text | None:
        """The sentence around the current word, that word highlighted; None before the first."""
        i = self.current(played)
        if i is None:
            return None
        # Imported when first drawn: the display (and so this module) loads before the first byte.
        from smallest_cli.protocol.segment import ends_sentence

        words = list(self._words)
        first = i
        while first > 0 and not ends_sentence(words[first - 1].word):
            first -= 1
        last = i
        while last + 1 < len(words) and not ends_sentence(words[last].word):
            last += 1
        # Keep the current word in view when the sentence is longer than the line.
        while first < i and _length(words[first : last + 1]) > width:
            first += 1
        while last > i and _length(words[first : last + 1]) > width:
            last -= 1
        from rich.text import Text

        text = Text()
        for k in range(first, last + 1):
            if k > first:
                text.append(" ")
            if k == i:
                style = "bold reverse" if played < words[k].end else "bold"
            else:
                style = "dim" if k > i else ""
            text.append(words[k].word, style=style)
        return text


def _length(words: list[WordTimestamp]) -> int:
    return sum(len(w.word) for w in words) + max(0, len(words) - 1)
