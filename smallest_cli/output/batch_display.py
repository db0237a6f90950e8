"""What the user sees of a batch on stderr: on a terminal a progress bar of the rows (done of the
total, audio seconds, rate, ETA), otherwise nothing until a one-line summary; a line for each row
that fails, --quiet or not (those are the errors).

Implements the pipeline's Observer for the row being written; built from display.py's pieces.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from smallest_cli.errors import SmallestError
from smallest_cli.events import WordTimestamp
from smallest_cli.output.display import (
    LiveStatus,
    Mode,
    append_bar,
    clock_time,
    counted,
    limit_note,
    retry_note,
)

if TYPE_CHECKING:
    from rich.console import Console
    from rich.live import Live
    from rich.text import Text


@dataclass
class Tally:
    """What the batch did so far: rows by outcome, and the audio of the rows written."""

    ok: int = 0
    failed: int = 0
    skipped: int = 0
    #: Rows written from the audio cache (--cache), among those ok.
    cached: int = 0
    audio_seconds: float = 0.0
    #: Bytes of the files written.
    bytes: int = 0

    @property
    def rows(self) -> int:
        return self.ok + self.failed + self.skipped

    def as_dict(self) -> dict[str, Any]:
        return {"rows": self.rows, "ok": self.ok, "failed": self.failed, "skipped": self.skipped,
                "cached": self.cached, "audio_seconds": round(self.audio_seconds, 3), "bytes": self.bytes}


@dataclass
class BatchDisplay(LiveStatus):
    """The batch's observer for humans. Use as a context manager around the run."""

    mode: Mode
    #: The transport as the user names it (ws, sse, sync).
    transport: str
    tally: Tally = field(default_factory=Tally)
    console: Console | None = None
    clock: Callable[[], float] = time.monotonic
    #: The rows the batch takes, once counted: the live line then has a bar.
    total: int | None = None
    #: The row being written, and the seconds of audio it has so far.
    _row: int = 0
    _row_seconds: float = 0.0
    _started: float | None = None
    _live: Live | None = None

    def elapsed(self) -> float:
        return self.clock() - self._started if self._started is not None else 0.0

    # -- rows ------------------------------------------------------------------------------------------

    def row_started(self, n: int) -> None:
        self._row, self._row_seconds = n, 0.0

    def row_written(self, n: int, audio_seconds: float, size: int, cached: bool = False) -> None:
        self.tally.ok += 1
        self.tally.cached += cached
        self.tally.audio_seconds += audio_seconds
        self.tally.bytes += size
        self._row_done(n)

    def row_skipped(self) -> None:
        self.tally.skipped += 1

    def row_failed(self, n: int, error: str) -> None:
        """A row failed: said in every mode (it is an error), and counted."""
        self.tally.failed += 1
        self._row_done(n)
        self.note(f"smallest: row {n} failed: {error}", style="red")

    def _row_done(self, n: int) -> None:
        """Row `n` is counted: its audio so far no longer adds to the tally's. (A row settled while
        another is written, a failed or cached one, is not the current row.)"""
        if n == self._row:
            self._row_seconds = 0.0

    # -- Observer (of the row being written) -----------------------------------------------------------

    def on_audio(self, chunks: int, audio_bytes: int, audio_seconds: float) -> None:
        self._row_seconds = audio_seconds

    def on_segment(self, segments: int, chars: int) -> None:
        return None

    def on_word(self, word: WordTimestamp) -> None:
        return None

    def on_retry(self, segment: int, attempt: int, delay: float, error: SmallestError) -> None:
        if self.mode != "quiet":
            self.note(retry_note(f"row {self._row}, segment {segment + 1}", attempt, delay, error))

    def on_limit(self, allowed: int) -> None:
        if self.mode != "quiet":
            self.note(limit_note(allowed))

    # -- drawing ---------------------------------------------------------------------------------------

    def _render(self) -> Text:
        from rich.text import Text

        line = Text()
        line.append("batch", style="bold")
        line.append(f" · {self.transport}")
        width = self._console().width
        figures = self._figures()
        if self.total:
            append_bar(line, min(1.0, self.tally.rows / self.total), figures, width)
        else:
            line.append(" · " + " · ".join(figures))
        return line

    def _figures(self) -> list[str]:
        """Rows done (of the total), failed and skipped; the audio; the rate; the time left (the
        rows left at the rate of the rows written or failed so far: skipped ones take no time)."""
        tally, total = self.tally, self.total
        figures = [f"rows {tally.rows}/{total}" if total else f"rows {tally.rows}"]
        if tally.failed:
            figures.append(f"{tally.failed} failed")
        if tally.skipped:
            figures.append(f"{tally.skipped} skipped")
        seconds = tally.audio_seconds + self._row_seconds
        figures.append(f"{seconds:.1f} s of audio")
        elapsed = self.elapsed()
        if elapsed > 0 and seconds > 0:
            figures.append(f"{seconds / elapsed:.1f}x real time")
        worked = tally.ok + tally.failed
        if total and elapsed > 0 and worked:
            figures.append(f"ETA {clock_time(max(0, total - tally.rows) * elapsed / worked)}")
        return figures

    def summary_line(self, manifest: str) -> str:
        tally = self.tally
        parts = [f"{tally.ok} ok" + (f" ({tally.cached} from cache)" if tally.cached else "")]
        if tally.failed:
            parts.append(f"{tally.failed} failed")
        if tally.skipped:
            parts.append(f"{tally.skipped} skipped")
        elapsed = self.elapsed()
        rate = ""
        if elapsed > 0 and tally.audio_seconds:
            rate = f" ({tally.audio_seconds / elapsed:.1f}x real time)"
        return (
            f"smallest: {counted(tally.rows, 'row', 'rows')}: {', '.join(parts)}; "
            f"{tally.audio_seconds:.2f} s of audio in {elapsed:.1f} s{rate} → {manifest}"
        )

    def summary(self, manifest: str) -> None:
        self.stop()
        if self.mode != "quiet":
            self.write_line(self.summary_line(manifest))
