"""The display observer: mode choice, the plain summary, quiet, word lines."""

from __future__ import annotations

import io
import sys

import pytest
from rich.console import Console

from smallest_cli.errors import ServerError
from smallest_cli.events import RunStats, WordTimestamp
from smallest_cli.output.display import Display, choose_mode, summary_line

STATS = RunStats(
    transport="sse", voice_id="avery", model="lightning_v3.1", sample_rate=24000, output_format="pcm",
    segments=1, chunks=97, audio_bytes=93120, audio_seconds=1.94, first_chunk_ms=73.2, total_ms=80.0,
    realtime_factor=25.7, output="out.wav",
)


class Tty(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_mode() -> None:
    assert choose_mode(True, Tty()) == "quiet"
    assert choose_mode(False, Tty()) == "live"
    assert choose_mode(False, io.StringIO()) == "plain"


def test_plain_summary_is_one_line_with_the_numbers() -> None:
    line = summary_line(STATS)
    assert "\n" not in line
    for part in ("1.94 s of audio", "first chunk 73 ms", "total 80 ms", "made 25.7x faster than real time",
                 "93120 bytes", "97 chunks", "sse", "avery", "out.wav"):
        assert part in line


def test_the_terminal_summary_wraps_between_figures_never_inside_one() -> None:
    """On an 80-column terminal the figures wrap as whole phrases."""
    err = io.StringIO()
    display = Display(mode="live", transport="sse", voice="avery",
                      console=Console(file=err, color_system=None, width=80, force_terminal=True))
    stats = RunStats(**{**STATS.__dict__, "retries": 2, "underruns": 1, "audio_bytes": 123456789})
    display.summary(stats)
    lines = err.getvalue().splitlines()[1:]
    assert len(lines) > 1 and all(len(line) <= 80 for line in lines)
    phrases = [p.strip() for line in lines for p in line.split(" · ")]
    assert phrases == ["first chunk 73 ms", "total 0.08 s", "made 25.7x faster than real time",
                       "123,456,789 bytes in 97 chunks", "2 retries", "1 underrun"]


def _display(mode: str, **kw: object) -> tuple[Display, io.StringIO]:
    err = io.StringIO()
    console = Console(file=err, no_color=True, width=200)
    return Display(mode=mode, transport="sse", voice="avery", console=console, **kw), err  # type: ignore[arg-type]


def test_quiet_prints_nothing_and_plain_prints_one_line() -> None:
    display, err = _display("quiet")
    display.summary(STATS)
    assert err.getvalue() == ""
    display, err = _display("plain")
    display.summary(STATS)
    assert err.getvalue().strip() == summary_line(STATS)


def test_words_to_stream_and_collected() -> None:
    words = io.StringIO()
    display, _ = _display("quiet", word_stream=words, collect_words=True)
    display.on_word(WordTimestamp(id=0, word="Hello", start=0.0, end=0.32))
    assert words.getvalue() == "0.000\t0.320\tHello\n"
    assert display.words == [{"id": 0, "word": "Hello", "start": 0.0, "end": 0.32}]


def test_word_lines_on_the_terminal_go_through_the_live_display() -> None:
    """A plain print to the terminal the status line is drawn on leaves stale status lines behind."""
    term, words = Tty(), Tty()
    console = Console(file=term, force_terminal=True, no_color=True, width=100)
    display = Display(mode="live", transport="sse", voice="avery", console=console, word_stream=words)
    with display:
        display.on_word(WordTimestamp(id=0, word="Hello", start=0.0, end=0.32))
    assert words.getvalue() == ""
    assert "0.000   0.320   Hello" in term.getvalue()  # rich expands the tabs


def test_word_lines_to_a_pipe_stay_tab_separated_while_live() -> None:
    words = io.StringIO()
    console = Console(file=Tty(), force_terminal=True, no_color=True, width=100)
    display = Display(mode="live", transport="sse", voice="avery", console=console, word_stream=words)
    with display:
        display.on_word(WordTimestamp(id=0, word="Hello", start=0.0, end=0.32))
    assert words.getvalue() == "0.000\t0.320\tHello\n"


def test_retry_message_is_one_line_on_a_non_terminal(monkeypatch: pytest.MonkeyPatch) -> None:
    err = io.StringIO()
    monkeypatch.setattr(sys, "stderr", err)
    display = Display(mode="plain", transport="sse", voice="avery")
    error = ServerError("server error 503: " + "the service is temporarily overloaded, " * 4)
    display.on_retry(0, 1, 0.5, error)
    lines = err.getvalue().splitlines()
    assert len(lines) == 1 and len(lines[0]) > 80
    assert lines[0].startswith("smallest: segment 1: server error 503")
    assert lines[0].endswith("retry 1 in 0.5 s")


def test_counts_of_one_are_singular() -> None:
    import dataclasses

    one = dataclasses.replace(STATS, chunks=1, retries=1, underruns=1)
    line = summary_line(one)
    assert "1 chunk," in line and "1 retry," in line and "1 underrun " in line and "chunks" not in line
    display, err = _display("live")
    display.summary(one)
    assert "93,120 bytes in 1 chunk · " in err.getvalue() and "1 retry · 1 underrun" in err.getvalue()
    assert "97 chunks" in summary_line(STATS)


def _highlighted(display: Display) -> str | None:
    """The word the live status line highlights as being heard (bold), if any."""
    text = display._render()
    bold = [text.plain[s.start : s.end] for s in text.spans if "bold" in str(s.style) and s.start > 0]
    return bold[0] if bold else None


def test_live_highlight_follows_the_playback_clock_not_word_arrival() -> None:
    clock = [0.0]
    err = io.StringIO()
    console = Console(file=err, no_color=True, width=200, force_terminal=False)
    display = Display(
        mode="live", transport="ws", voice="avery", console=console, played_seconds=lambda: clock[0]
    )
    sentence = [
        ("One", 0.0, 0.3), ("two", 0.4, 0.7), ("three.", 0.8, 1.2), ("Next", 1.5, 1.8), ("one.", 1.9, 2.3)
    ]
    with display:
        display.on_audio(chunks=10, audio_bytes=110400, audio_seconds=2.3)
        for i, (word, start, end) in enumerate(sentence):  # every frame arrives before playback starts
            display.on_word(WordTimestamp(id=i, word=word, start=start, end=end))
        heard = []
        for t in (0.0, 0.2, 0.5, 0.75, 1.0, 1.6, 2.0):
            clock[0] = t
            heard.append(_highlighted(display))
        line_at_end = display._render().plain
    assert heard == ["One", "One", "two", "two", "three.", "Next", "one."]
    assert "1.0 s played" not in line_at_end and "2.0 s played" in line_at_end
    assert "One two three." not in line_at_end and "Next one." in line_at_end  # only the sentence heard
