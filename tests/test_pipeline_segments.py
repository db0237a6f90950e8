"""pipeline.segments_from_chunks on long input: the same segments as the whole-text segmenter, and the
first one out before the rest of the input is segmented (a long one-line file, a long stdin)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from smallest_cli.protocol.segment import segment_text
from smallest_cli.run import pipeline

PROSE = (
    "The quick brown fox jumps over the lazy dog, and then it rests for a while. Dr. Smith said so! "
    "Streaming speech should start at once; nobody likes to wait for the first word… or does one? "
)


def _expected(text: str) -> list[str]:
    return [s for s in segment_text(text.strip()) if s.strip()]


@pytest.mark.parametrize("size", [1, 7, 255, 4096, 100_000])
def test_long_line_gives_the_same_segments_whatever_the_piece_size(
    size: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    text = PROSE * 120  # one line of ~23,000 characters
    monkeypatch.setattr(pipeline, "SEGMENTER_FEED_CHARS", size)
    assert list(pipeline.segments_from_chunks([text])) == _expected(text)


def test_lines_and_pieces_give_the_whole_texts_segments() -> None:
    lines = [PROSE * 30 + "\n", "\n", "Short line.\n", PROSE * 50]
    assert list(pipeline.segments_from_chunks(lines)) == _expected("".join(lines))


def test_the_segmenter_gets_the_long_line_in_pieces(monkeypatch: pytest.MonkeyPatch) -> None:
    """The first segment does not wait for the whole 50,000-character line to be segmented."""
    from smallest_cli.protocol import segment

    fed: list[int] = []
    feed = segment.Segmenter.feed

    def spy(self: segment.Segmenter, text: str) -> list[str]:
        fed.append(len(text))
        return feed(self, text)

    monkeypatch.setattr(segment.Segmenter, "feed", spy)
    segments: Iterator[str] = pipeline.segments_from_chunks([(PROSE * 300)[:50_000]])
    next(segments)
    assert fed and max(fed) <= pipeline.SEGMENTER_FEED_CHARS
    assert sum(fed) < 50_000


# -- a pause in the input (an empty chunk: a pipe with nothing more to read yet) ---------------------


def _then_fail(*chunks: str) -> Iterator[str]:
    yield from chunks
    raise AssertionError("read on after the pause, before the finished sentence was sent")


def test_a_pause_after_a_finished_sentence_sends_it_at_once() -> None:
    segments = pipeline.segments_from_chunks(_then_fail("", "First sentence.\n", ""))
    assert next(segments) == "First sentence."


def test_a_pause_in_a_long_input_sends_its_finished_sentences_at_once() -> None:
    sent: list[str] = []
    with pytest.raises(AssertionError, match="read on after the pause"):
        for segment in pipeline.segments_from_chunks(_then_fail(PROSE * 2 + "Then a sentence in", "")):
            sent.append(segment)
    assert " ".join(sent).split() == (PROSE * 2).split()


def test_a_pause_waits_for_the_sentence_to_end() -> None:
    chunks = ["", "A sentence", "", " that ends", "", " late.\n", "", "Then another.\n"]
    assert list(pipeline.segments_from_chunks(chunks)) == ["A sentence that ends late.", "Then another."]


def test_without_pauses_short_input_is_one_request() -> None:
    assert list(pipeline.segments_from_chunks(["First sentence.\n", "Second.\n"])) == [
        "First sentence.\nSecond."
    ]
