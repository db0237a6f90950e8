"""The display observer: mode choice, the plain summary, quiet, word lines, the progress bar (also
end to end, on a pseudo-terminal)."""

from __future__ import annotations

import io
import re
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from rich.console import Console

from smallest_cli.errors import ServerError
from smallest_cli.events import RunStats, WordTimestamp
from smallest_cli.output.display import Display, choose_mode, clock_time, summary_line
from smallest_cli.protocol.segment import segment_text
from tests.helpers import Server, running_server
from tests.test_long_text import long_text
from tests.test_no_color import run_on_pty, terminal_env

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


def test_a_run_slower_than_real_time_is_not_called_faster() -> None:
    slow = RunStats(**{**STATS.__dict__, "realtime_factor": 0.24})
    assert "made at 0.2x real time: slower than it plays" in summary_line(slow)
    assert "faster" not in summary_line(slow)
    almost = RunStats(**{**STATS.__dict__, "realtime_factor": 0.97})
    assert "made 1.0x faster than real time" in summary_line(almost)  # as it is shown, rounded


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


def test_the_plain_summary_prints_the_output_path_as_it_is() -> None:
    """No emoji codes: rich would print `:smile:` as a face."""
    display, err = _display("plain")
    display.summary(RunStats(**{**STATS.__dict__, "output": "out/:smile:.wav"}))
    assert err.getvalue().rstrip("\n").endswith("→ out/:smile:.wav")


def test_a_closed_stderr_leaves_the_outcome_to_the_run() -> None:
    """A plain line to a stderr whose reader has gone is dropped, as errors.eprint does: the run's
    own outcome, not the broken pipe, sets the exit code."""

    class Closed(io.StringIO):
        def write(self, text: str) -> int:
            raise BrokenPipeError

    for stream in (Closed(), io.StringIO()):
        if not isinstance(stream, Closed):
            stream.close()  # writes raise ValueError
        display = Display(mode="plain", transport="sse", voice="avery", console=Console(file=stream))
        display.note("smallest: segment 1: retry 1 in 0.5 s")
        display.summary(STATS)


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


# -- the progress bar, when the size of the whole text is known --------------------------------------


def _terminal(width: int = 80) -> tuple[Console, io.StringIO]:
    err = io.StringIO()
    return Console(file=err, force_terminal=True, color_system=None, width=width), err


def test_progress_shows_segments_characters_audio_rate_and_time_left() -> None:
    clock = [100.0]
    console, err = _terminal()
    display = Display(mode="live", transport="websocket", voice="magnus", console=console,
                      clock=lambda: clock[0])
    with display:
        display.expect(segments=5, chars=1000)
        display.on_audio(chunks=40, audio_bytes=384000, audio_seconds=8.0)
        display.on_segment(2, 400)
        clock[0] += 4.0  # 400 characters in 4 s: the 600 left take 6 s more
    shown = err.getvalue()
    for figure in ("segments 2/5", "characters 400/1,000", "8.0 s received", "2.0x real time", "ETA 0:06",
                   " 40%"):
        assert figure in shown, (figure, shown)
    assert "chunks" not in shown
    lines = display._render().plain.splitlines()
    assert lines[0].startswith("websocket · magnus ━") and lines[0].endswith(" 40%")
    assert all(len(line) <= 80 for line in lines)


def test_progress_figures_wrap_between_figures_on_80_columns() -> None:
    clock = [0.0]
    console, _ = _terminal()
    display = Display(mode="live", transport="websocket", voice="magnus", console=console,
                      played_seconds=lambda: 5123.4, clock=lambda: clock[0])
    with display:
        display.expect(segments=4240, chars=1_048_576)
        display.on_audio(chunks=100_000, audio_bytes=10**9, audio_seconds=20833.3)
        display.on_segment(2120, 524_288)
        clock[0] = 3723.0
    lines = display._render().plain.splitlines()
    assert all(len(line) <= 80 for line in lines) and len(lines) > 2
    phrases = [p for line in lines[1:] for p in line.split(" · ")]
    assert phrases == ["segments 2120/4240", "characters 524,288/1,048,576", "20833.3 s received",
                       "5123.4 s played", "5.6x real time", "ETA 1:02:03"]


def test_no_time_left_before_a_segment_is_done_and_no_bar_without_a_total() -> None:
    console, _ = _terminal()
    display = Display(mode="live", transport="sse", voice="avery", console=console, clock=lambda: 0.0)
    display.on_audio(chunks=3, audio_bytes=9600, audio_seconds=0.2)
    assert display._render().plain == "sse · avery · 3 chunks · 0.2 s received"
    display.expect(segments=2, chars=300)
    shown = display._render().plain
    assert "segments 0/2" in shown and "characters 0/300" in shown and "ETA" not in shown


@pytest.mark.parametrize(
    ("seconds", "shown"), [(0.4, "0:00"), (7, "0:07"), (754, "12:34"), (3723, "1:02:03")]
)
def test_clock_time(seconds: float, shown: str) -> None:
    assert clock_time(seconds) == shown


# -- end to end: the real CLI on a pseudo-terminal, against `smallest serve` -------------------------

ESCAPES = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")


@pytest.fixture(scope="module")
def paced_server() -> Iterator[Server]:
    """Each request's first audio 150 ms late: the run lasts long enough for the bar to be drawn."""
    with running_server("--first-chunk-ms", "150") as srv:
        yield srv


def _terminal_text(shown: bytes) -> str:
    return ESCAPES.sub("", shown.decode("utf-8", "replace")).replace("\r", "\n")


def test_a_file_shows_a_progress_bar_on_the_terminal(paced_server: Server, tmp_path: Path) -> None:
    text = long_text(900, seed=4)
    segments = segment_text(text)
    chars = sum(len(segment) for segment in segments)
    (tmp_path / "in.txt").write_text(text, encoding="utf-8")
    env = terminal_env(paced_server, tmp_path, no_color=True)
    code, shown, _ = run_on_pty(["speak", "-f", "in.txt", "-o", "out.wav"], env, tmp_path)
    screen = _terminal_text(shown)
    assert code == 0, screen
    assert len(segments) > 2
    for figure in (f"segments {len(segments)}/{len(segments)}", f"characters {chars:,}/{chars:,}",
                   "x real time", "ETA 0:00", "100%"):
        assert figure in screen, (figure, screen)
    assert "s of audio" in screen  # the summary follows


def test_piped_text_of_unknown_size_shows_the_status_line(paced_server: Server, tmp_path: Path) -> None:
    env = terminal_env(paced_server, tmp_path, no_color=True)
    code, shown, _ = run_on_pty(["speak", "-o", "out.wav"], env, tmp_path, stdin=b"Piped, size unknown.\n")
    screen = _terminal_text(shown)
    assert code == 0, screen
    assert "chunks" in screen and "s received" in screen
    assert "segments" not in screen and "ETA" not in screen
