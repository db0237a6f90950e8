"""`--captions FILE`: word timestamps grouped into cues and written as they come (SRT, WebVTT or
JSON by the file's extension) to a file of this run's own, `FILE.part.PID`, renamed to FILE when
the run succeeds and to `FILE.part` when it fails or is stopped (the captions of the audio kept).

Memory stays flat however long the run: SRT/WebVTT cues are written once final; for JSON the words
are written as they come and the cues are kept in a temporary file, appended at the end.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import IO

from smallest_cli.errors import UsageError
from smallest_cli.events import WordTimestamp
from smallest_cli.output.plan import check_output_path, close_quietly, file_target, part_paths, publish
from smallest_cli.protocol.captions import Cue, CueGrouper, CueRenderer, format_for_path


def caption_format(path: str) -> str:
    """"srt" | "vtt" | "json" for a --captions path (UsageError, exit 2, for other extensions)."""
    return format_for_path(path)


class CaptionFile:
    """A pipeline WordSink writing one caption file. When no word arrived, neither `close` nor
    `abort` leaves a file (an empty caption file would look like success); `close` says so through
    `warn`."""

    def __init__(self, path: Path, warn: Callable[[str], None] | None = None) -> None:
        self.path = file_target(Path(path))
        self._warn = warn
        self.fmt = caption_format(str(path))
        #: Where the captions of the audio kept go when the run fails or is stopped; this run's
        #: own file while it writes (as the audio's).
        self.part_path, self._work_path = part_paths(self.path)
        check_output_path(self.path)
        try:
            self._file: IO[str] | None = open(self._work_path, "w", encoding="utf-8")  # noqa: SIM115
        except OSError as exc:
            raise UsageError(f"cannot write {self.path}: {exc.strerror or exc}") from None
        self._grouper = CueGrouper()
        self._renderer = CueRenderer(self.fmt) if self.fmt != "json" else None
        self._cues: IO[str] | None = None
        self._words = 0
        self._n_cues = 0
        #: Closed and renamed into place, whole: a later failure of the run still names it.
        self._published = False
        if self._renderer is not None:
            self._write(self._renderer.header())
        else:
            self._cues = tempfile.TemporaryFile("w+", encoding="utf-8")  # noqa: SIM115
            self._write('{\n  "words": [')

    def begin_segment(self, text: str | None) -> None:
        """The words that follow are those of `text` (None when not known): its line breaks and
        blank lines end cues."""
        self._grouper.begin_text(text)

    def add(self, word: WordTimestamp) -> None:
        if self._file is None:
            return
        if self._renderer is None:
            self._write(_item(word.record(), first=not self._words))
        self._words += 1
        self._cue_out(self._grouper.add(word))

    def end_segment(self) -> None:
        """A request's words are all in: the end of its text ends a cue."""
        if self._file is not None:
            self._cue_out(self._grouper.end_paragraph())

    def close(self) -> None:
        if self._file is None:
            return
        if not self._words:
            self._discard()
            if self._warn is not None:
                self._warn(f"smallest: warning: no word timestamps arrived; {self.path} was not written")
            return
        try:
            self._finish(hold=True)
            publish(self._work_path, self.path)
        except UsageError:
            self._discard()  # a work file that could not be finished (a full disk) is no caption
            raise
        except OSError as err:  # the JSON words' temporary file, say
            self._discard()
            raise UsageError(f"cannot write {self.path}: {err.strerror or err}") from None
        self._published = True

    def abort(self) -> str | None:
        """Keep the captions of the words received as `FILE.part`, a whole file of its format; the
        last cue ends with its last word (the pipeline gives a word only once its audio is in).
        Returns that path (the file itself once it is published whole), or None when nothing was
        kept."""
        if self._file is None:
            return str(self.path) if self._published else None
        if not self._words:
            self._discard()
            return None
        try:
            self._finish(hold=False)
            os.replace(self._work_path, self.part_path)
        except (UsageError, OSError):
            self._discard()
            return None
        return str(self.part_path)

    def _finish(self, hold: bool) -> None:
        """The last cues, and the end of a JSON document; the file closed."""
        self._cue_out(self._grouper.finish(hold=hold))
        if self._cues is not None:
            self._write("\n  ],\n  \"cues\": [")
            self._cues.seek(0)
            for line in self._cues:
                self._write(line)
            self._cues.close()
            self._cues = None
            self._write("\n  ]\n}\n")
        file, self._file = self._file, None
        assert file is not None
        try:
            file.close()
        except OSError as exc:
            raise UsageError(f"cannot write {self._work_path}: {exc.strerror or exc}") from None

    def _discard(self) -> None:
        """Close what is open and remove the work file."""
        close_quietly(self._file, self._cues)
        self._file = self._cues = None
        try:
            self._work_path.unlink()
        except OSError:
            pass

    def _cue_out(self, cues: list[Cue]) -> None:
        for cue in cues:
            if self._renderer is not None:
                self._write(self._renderer.cue(cue))
            else:
                assert self._cues is not None
                record = {"index": cue.index, "start": _t(cue.start), "end": _t(cue.end), "text": cue.text}
                self._cues.write(_item(record, first=not self._n_cues))
            self._n_cues += 1

    def _write(self, text: str) -> None:
        assert self._file is not None
        try:
            self._file.write(text)
        except OSError as exc:
            raise UsageError(f"cannot write {self._work_path}: {exc.strerror or exc}") from None


def _t(seconds: float) -> float:
    return round(seconds, 3)


def _item(record: dict[str, object], first: bool) -> str:
    """One element of a JSON list, on its own line."""
    return ("" if first else ",") + "\n    " + json.dumps(record, ensure_ascii=False)
