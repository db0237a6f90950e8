"""The manifest of a batch: one JSON record per finished row, appended as the row finishes, and what
a rerun reads back from it to skip the rows already done.

A record: `n`, `id`, `output` (as the run named it), `file` (the output relative to the manifest's
directory), `status` ("ok" or "error"), `error`, `audio_seconds`, `bytes` (of the file), `sha256`
(of the file), `request_id` (the service's id of the row's last request) and `settings` (everything
that shaped the audio, the text's sha256 among them). A rerun skips a row when its last record is
ok, names the same file (however its directory is spelled, from whatever working directory), has
the same settings, and the file is still there with that sha256. Each record is one `write` to a
file opened for appending: shards appending to one manifest do not interleave, and a record is on
disk before the next row starts.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any, NamedTuple

from smallest_cli.errors import UsageError
from smallest_cli.output.plan import check_output_path
from smallest_cli.protocol.request import SynthesisOptions

MANIFEST_NAME = "manifest.jsonl"
_READ_BYTES = 1 << 20


def settings_of(
    options: SynthesisOptions, fmt: str, text_sha256: str, markdown: str | None = None
) -> dict[str, Any]:
    """What made a row's audio: its text (by hash) and how it was read (as Markdown, with which
    --code mode, or plain: None), the request's fields and the file's format."""
    return {
        "text_sha256": text_sha256,
        "markdown": markdown,
        "voice": options.voice_id,
        "model": options.model,
        "sample_rate": options.sample_rate,
        "speed": options.speed,
        "language": options.language,
        "format": fmt,
        "pronunciation_dicts": list(options.pronunciation_dicts),
        "math_notation": options.math_notation,
        "number_language": options.number_language,
    }


def settings_key(settings: Mapping[str, Any]) -> str:
    """One string for equal settings, whatever their keys' order."""
    canonical = json.dumps(settings, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


def record(
    n: int,
    id_: str | None,
    output: Path | None,
    settings: Mapping[str, Any] | None,
    *,
    base: Path = Path("."),
    error: str | None = None,
    audio_seconds: float = 0.0,
    size: int = 0,
    sha256: str | None = None,
    request_id: str | None = None,
) -> dict[str, Any]:
    """A row's record: ok unless there is an `error`; `base` is the manifest's directory."""
    return {
        "n": n,
        "id": id_,
        "output": None if output is None else str(output),
        "file": None if output is None else os.path.relpath(os.path.realpath(output), os.path.realpath(base)),
        "status": "ok" if error is None else "error",
        "error": error,
        "audio_seconds": round(audio_seconds, 3),
        "bytes": size,
        "sha256": sha256,
        "request_id": request_id,
        "settings": None if settings is None else dict(settings),
    }


class Done(NamedTuple):
    """What the manifest says of a row that was done."""

    #: The file, as a real absolute path.
    output: str
    sha256: str
    settings_key: str


def index(lines: Iterable[str], base: Path = Path(".")) -> dict[int, Done]:
    """Each row done, by number, from the lines of the manifest in the directory `base`: a row's
    last record counts (a later error undoes an earlier ok); a line that is no record (one cut
    short by a crash) is ignored."""
    done: dict[int, Done] = {}
    for line in lines:
        try:
            rec = json.loads(line)
        except ValueError:
            continue
        if not isinstance(rec, dict) or not isinstance(rec.get("n"), int):
            continue
        output, sha, settings = _file_of(rec, base), rec.get("sha256"), rec.get("settings")
        if rec.get("status") == "ok" and output is not None and isinstance(sha, str) and isinstance(
            settings, dict
        ):
            done[rec["n"]] = Done(output, sha, settings_key(settings))
        else:
            done.pop(rec["n"], None)
    return done


def _file_of(rec: Mapping[str, Any], base: Path) -> str | None:
    """The record's file as a real absolute path; a record with no `file` names its `output` as
    given, from the working directory."""
    file, output = rec.get("file"), rec.get("output")
    if isinstance(file, str):
        return os.path.realpath(base / file)
    return os.path.realpath(output) if isinstance(output, str) else None


def load_index(path: Path) -> dict[int, Done]:
    """`index` of the manifest at `path`, read line by line; {} when there is none yet."""
    try:
        with path.open(encoding="utf-8", errors="replace") as lines:
            return index(lines, path.parent)
    except FileNotFoundError:
        return {}
    except OSError as err:
        raise UsageError(f"cannot read {path}: {err.strerror or err}") from None


def file_digest(path: Path) -> tuple[str, int] | None:
    """The file's sha256 (hex) and size, read in blocks; None when it cannot be read."""
    digest = hashlib.sha256()
    size = 0
    try:
        with path.open("rb") as f:
            while block := f.read(_READ_BYTES):
                digest.update(block)
                size += len(block)
    except OSError:
        return None
    return digest.hexdigest(), size


def is_done(done: Done | None, output: Path, settings: Mapping[str, Any]) -> bool:
    """Whether a row needs no request: the manifest says it was done into `output` with these
    settings, and the file there is still the one it wrote."""
    if done is None or done.output != os.path.realpath(output) or done.settings_key != settings_key(settings):
        return False
    found = file_digest(output)
    return found is not None and found[0] == done.sha256


class Manifest:
    """The manifest file, open for appending records."""

    def __init__(self, path: Path) -> None:
        self.path = path
        check_output_path(path)
        try:
            self._fd = os.open(path, os.O_RDWR | os.O_APPEND | os.O_CREAT, 0o644)
            size = os.fstat(self._fd).st_size
            # A record cut short (a crash while writing it) must not swallow the next one.
            if size and os.pread(self._fd, 1, size - 1) != b"\n":
                self._write(b"\n")
        except OSError as err:
            raise UsageError(f"cannot write {path}: {err.strerror or err}") from None

    def append(self, rec: Mapping[str, Any]) -> None:
        try:
            self._write((json.dumps(rec, ensure_ascii=False) + "\n").encode("utf-8"))
        except OSError as err:
            raise UsageError(f"cannot write {self.path}: {err.strerror or err}") from None

    def _write(self, data: bytes) -> None:
        view = memoryview(data)
        while view:
            view = view[os.write(self._fd, view) :]

    def close(self) -> None:
        os.close(self._fd)
