"""What the user sees on stderr while and after audio streams: a live status line on a terminal
(a progress bar when the size of the whole text is known), a one-line summary otherwise, nothing
with --quiet. Word timestamps go to their own stream.

Implements the pipeline's Observer. Colors follow rich, which honours NO_COLOR.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import IO, TYPE_CHECKING, Literal, NamedTuple, TypeVar

from smallest_cli.errors import SmallestError, eprint
from smallest_cli.events import RunStats, WordTimestamp
from smallest_cli.source.text import is_tty

if TYPE_CHECKING:
    # rich is imported when first used (about 25 ms): only for a live status on a terminal, so
    # that a run whose stderr is a file or a pipe never pays for it.
    from rich.console import Console
    from rich.live import Live
    from rich.text import Text

    from smallest_cli.output.karaoke import WordTrack

Mode = Literal["live", "plain", "quiet"]


def choose_mode(quiet: bool, stderr: IO[str]) -> Mode:
    if quiet:
        return "quiet"
    return "live" if is_tty(stderr) else "plain"


def counted(n: int, one: str, many: str) -> str:
    """`1 chunk`, `2 chunks`."""
    return f"{n} {one if n == 1 else many}"


def retry_note(where: str, attempt: int, delay: float, error: SmallestError) -> str:
    """The line that says a request is sent again, `where` naming it (`segment 2`)."""
    message = f"smallest: {where}: {error}; retry {attempt} in {delay:.1f} s"
    if error.retry_after is not None and error.retry_after > delay:
        message += f" (the server asked for {error.retry_after:g} s; --timeout caps the wait)"
    return message


def limit_note(allowed: int) -> str:
    """The line that says the account allows fewer requests at once than asked for."""
    return f"smallest: the account allows fewer requests at once; going on with {allowed}"


def append_bar(line: Text, done: float, figures: list[str], width: int) -> None:
    """A bar of the part `done` (0 to 1) after `line`, and `figures` under it, wrapped between
    figures. Thin and thick rules tell done from left without colour (NO_COLOR)."""
    bar = max(10, min(40, width - len(line) - 6))
    filled = round(bar * done)
    line.append(" ")
    line.append("━" * filled, style="green")
    line.append("─" * (bar - filled), style="dim")
    line.append(f" {done:4.0%}")
    for row in pack(figures, width):
        line.append("\n" + row)


def clock_time(seconds: float) -> str:
    """`0:07`, `12:34`, `1:02:03`."""
    hours, rest = divmod(round(seconds), 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes}:{secs:02d}"


class Totals(NamedTuple):
    """The size of the whole text, when it is known before it is all spoken (a TEXT argument, a
    file): what the progress bar counts towards."""

    segments: int
    chars: int


def format_word(word: WordTimestamp) -> str:
    """`start<TAB>end<TAB>word`, seconds with millisecond precision."""
    return f"{word.start:.3f}\t{word.end:.3f}\t{word.word}"


def _figures(stats: RunStats, total: str, size: list[str]) -> list[str]:
    """The run's figures in the summaries' order; `total` and `size` as each summary words them."""
    parts = []
    if stats.first_chunk_ms is not None:
        parts.append(f"first chunk {stats.first_chunk_ms:.0f} ms")
    parts.append(total)
    if stats.realtime_factor is not None:
        shown = f"{stats.realtime_factor:.1f}"
        if float(shown) >= 1:
            parts.append(f"made {shown}x faster than real time")
        else:
            parts.append(f"made at {shown}x real time: slower than it plays")
    parts.extend(size)
    if stats.retries:
        parts.append(counted(stats.retries, "retry", "retries"))
    if stats.underruns:
        parts.append(counted(stats.underruns, "underrun", "underruns"))
    return parts


def pack(phrases: list[str], width: int, sep: str = " · ") -> list[str]:
    """`phrases` joined by `sep` into lines of at most `width` characters, broken only between
    phrases (a phrase longer than the line has a line of its own)."""
    lines: list[str] = []
    for phrase in phrases:
        if lines and len(lines[-1]) + len(sep) + len(phrase) <= width:
            lines[-1] += sep + phrase
        else:
            lines.append(phrase)
    return lines


def summary_line(stats: RunStats) -> str:
    """The plain one-line summary."""
    parts = [f"{stats.audio_seconds:.2f} s of audio"] + _figures(
        stats,
        f"total {stats.total_ms:.0f} ms",
        [f"{stats.audio_bytes} bytes", counted(stats.chunks, "chunk", "chunks")],
    )
    where = f" → {stats.output}" if stats.output else ""
    source = "from cache" if stats.cache == "hit" else stats.transport
    return f"smallest: {', '.join(parts)} ({source}, {stats.voice_id}){where}"


class LiveStatus:
    """A status drawn on stderr by `_render`, redrawn live on a terminal while the run goes on, and
    notes printed above it: what the displays share. Each declares the attributes below."""

    mode: Mode
    #: Where it writes; a rich Console on stderr, made when first needed.
    console: Console | None
    clock: Callable[[], float]
    #: When it started, on `clock`.
    _started: float | None
    _live: Live | None

    def _render(self) -> Text:
        raise NotImplementedError

    def _console(self) -> Console:
        if self.console is None:
            from rich.console import Console

            self.console = Console(file=sys.stderr, highlight=False)
        return self.console

    def __enter__(self: _Status) -> _Status:
        self._started = self.clock()
        if self.mode == "live":
            from rich.live import Live

            self._live = Live(
                console=self._console(), get_renderable=self._render, refresh_per_second=8, transient=True
            )
            self._live.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def stop(self) -> None:
        live, self._live = self._live, None
        if live is not None:
            live.stop()

    def note(self, message: str, style: str = "yellow") -> None:
        """A line above the status (one line, never wrapped)."""
        if self.mode != "live":
            self.write_line(message)
            return
        from rich.text import Text

        self._console().print(Text(message, style=style), soft_wrap=True)

    def write_line(self, line: str) -> None:
        """`line` as it is on stderr (or the console's file), without importing rich."""
        eprint(line, self.console.file if self.console is not None else None)


_Status = TypeVar("_Status", bound=LiveStatus)


@dataclass
class Display(LiveStatus):
    """The pipeline's observer for humans. Use as a context manager around the run."""

    mode: Mode
    transport: str
    voice: str
    #: Seconds played so far, when playing.
    played_seconds: Callable[[], float] | None = None
    #: Where word timestamps are printed (one `start end word` line each), if anywhere.
    word_stream: IO[str] | None = None
    #: Keep the words for the --json object.
    collect_words: bool = False
    words: list[dict[str, object]] = field(default_factory=list)
    #: Where the display writes; a rich Console on stderr, made when first needed.
    console: Console | None = None
    clock: Callable[[], float] = time.monotonic
    _chunks: int = 0
    _bytes: int = 0
    _seconds: float = 0.0
    _segments: int = 0
    _chars: int = 0
    _totals: Totals | None = None
    #: When the display started, on `clock`: the rate and the ETA are measured from there.
    _started: float | None = None
    _live: Live | None = None
    #: Recent words, for the sentence being heard (live mode while playing); made with the first
    #: word, so that `karaoke` is not imported before the first audio byte.
    _track: WordTrack | None = None

    def expect(self, segments: int, chars: int) -> None:
        """The whole text's size, once counted: the live line then becomes a progress bar."""
        self._totals = Totals(segments, chars)

    def _render(self) -> Text:
        from rich.text import Text

        played = self.played_seconds() if self.played_seconds is not None else None
        line = Text()
        line.append(f"{self.transport}", style="bold")
        line.append(f" · {self.voice}")
        totals = self._totals
        if totals is not None:
            self._append_progress(line, totals, played)
        else:
            line.append(f" · {counted(self._chunks, 'chunk', 'chunks')} · {self._seconds:.1f} s received")
            if played is not None:
                line.append(f" · {played:.1f} s played")
        heard = self._track.line(played) if self._track is not None and played is not None else None
        if heard is not None:
            line.append("\n")
            line.append_text(heard)
        return line

    def _append_progress(self, line: Text, totals: Totals, played: float | None) -> None:
        """A bar of the characters done after `line`, and the figures under it."""
        done = min(1.0, self._chars / totals.chars) if totals.chars else 1.0
        append_bar(line, done, self._progress_figures(totals, played), self._console().width)

    def _progress_figures(self, totals: Totals, played: float | None) -> list[str]:
        """Segments and characters done out of the total, the audio, the rate and the time left
        (the characters left at the characters per second so far)."""
        figures = [
            f"segments {self._segments}/{totals.segments}",
            f"characters {self._chars:,}/{totals.chars:,}",
            f"{self._seconds:.1f} s received",
        ]
        if played is not None:
            figures.append(f"{played:.1f} s played")
        elapsed = self.clock() - self._started if self._started is not None else 0.0
        if elapsed > 0 and self._seconds > 0:
            figures.append(f"{self._seconds / elapsed:.1f}x real time")
        if elapsed > 0 and self._chars > 0:
            left = max(0, totals.chars - self._chars) * elapsed / self._chars
            figures.append(f"ETA {clock_time(left)}")
        return figures

    # -- Observer ------------------------------------------------------------------------------------

    def on_audio(self, chunks: int, audio_bytes: int, audio_seconds: float) -> None:
        self._chunks, self._bytes, self._seconds = chunks, audio_bytes, audio_seconds

    def on_segment(self, segments: int, chars: int) -> None:
        self._segments, self._chars = segments, chars

    def on_word(self, word: WordTimestamp) -> None:
        if self.mode == "live" and self.played_seconds is not None:
            if self._track is None:
                from smallest_cli.output.karaoke import WordTrack

                self._track = WordTrack()
            self._track.add(word)
        if self.collect_words:
            self.words.append(word.record())
        if self.word_stream is None:
            return
        if self._live is not None and is_tty(self.word_stream):
            # On the terminal the status line is drawn on: through the live console, which prints
            # above that line and keeps it at the bottom (a plain print leaves stale copies of it).
            self._live.console.print(format_word(word), soft_wrap=True, markup=False, highlight=False)
        else:
            print(format_word(word), file=self.word_stream, flush=True)

    def on_retry(self, segment: int, attempt: int, delay: float, error: SmallestError) -> None:
        if self.mode != "quiet":
            self.note(retry_note(f"segment {segment + 1}", attempt, delay, error))

    def on_limit(self, allowed: int) -> None:
        if self.mode != "quiet":
            self.note(limit_note(allowed))

    # -- the end -------------------------------------------------------------------------------------

    def summary(self, stats: RunStats) -> None:
        self.stop()
        if self.mode == "quiet":
            return
        if self.mode == "plain":
            self.write_line(summary_line(stats))
            return
        console = self._console()
        from rich.text import Text

        head = Text()
        head.append("✓ ", style="green")
        head.append(f"{stats.audio_seconds:.2f} s of audio", style="bold")
        source = "from cache" if stats.cache == "hit" else f"via {stats.transport}"
        head.append(f" {source}, voice {stats.voice_id}")
        if stats.output:
            head.append(f" → {stats.output}")
        console.print(head)
        detail = _figures(
            stats,
            f"total {stats.total_ms / 1000:.2f} s",
            [f"{stats.audio_bytes:,} bytes in {counted(stats.chunks, 'chunk', 'chunks')}"],
        )
        for line in pack(detail, console.width - 2):
            console.print(Text("  " + line, style="dim"), soft_wrap=True)
