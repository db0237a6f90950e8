"""Where the audio goes and in which format (`--output`, `--format`, `--play`), decided and checked
before any request is sent: a bad path or format is exit 2, not a lost run."""

from __future__ import annotations

import os
import stat
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from smallest_cli.errors import UsageError
from smallest_cli.options.table import DEFAULT_FORMAT
from smallest_cli.protocol import contract

#: The audio format of each file extension that implies one (the formats are contract.OUTPUT_FORMATS).
EXTENSION_FORMATS: Mapping[str, str] = {
    "wav": "wav",
    "wave": "wav",
    "pcm": "pcm",
    "raw": "pcm",
    "mp3": "mp3",
    "ulaw": "ulaw",
    "ul": "ulaw",
    "ulw": "ulaw",
    "mulaw": "ulaw",
    "mu": "ulaw",
    "alaw": "alaw",
    "al": "alaw",
}


def format_named(fmt: str) -> str:
    """The output format a --format value (or a batch row's format) names: a format, or a file
    extension's name for one (`raw`, as `-o x.raw` writes pcm); UsageError for anything else."""
    return contract.check_format(EXTENSION_FORMATS.get(fmt.lower(), fmt))


def require_stdout(what: str) -> None:
    """UsageError when stdout is closed (`>&-`): `what` would be printed into nothing and the run
    would look like a success."""
    if sys.stdout is None:
        raise UsageError(f"stdout is closed: {what} has nowhere to go")


def descriptor_of(path: Path) -> int | None:
    """The open descriptor a path names (/dev/stdout, /dev/fd/3, /proc/self/fd/3), else None: it is
    written as it stands (`cmd -o /dev/stdout >> log` appends), never reopened, which would empty
    a file it is redirected to."""
    name = str(path)
    named = {"/dev/stdout": 1, "/dev/stderr": 2}.get(name)
    if named is not None:
        return named
    for prefix in ("/dev/fd/", "/proc/self/fd/"):
        if name.startswith(prefix) and name[len(prefix) :].isdigit():
            return int(name[len(prefix) :])
    return None


def is_stream_target(path: Path) -> bool:
    """True when `path` names neither a regular file nor a directory (a device such as /dev/null, a
    named pipe), or an open descriptor (`descriptor_of`). Such a target is written in place, never
    replaced by a file renamed onto it."""
    if descriptor_of(path) is not None:
        return True
    try:
        mode = os.stat(path).st_mode
    except (OSError, ValueError):
        return False
    return not stat.S_ISREG(mode) and not stat.S_ISDIR(mode)


def file_target(path: Path) -> Path:
    """The file `path` names: a symbolic link's target, so that the link stays a link. A name the
    system refuses is returned as it is, for the writer's own check to report."""
    try:
        return Path(os.path.realpath(path)) if path.is_symlink() else path
    except (OSError, ValueError):
        return path


def check_output_path(path: Path, *, stream_ok: bool = False) -> None:
    """Raise UsageError unless `path` (and its `.part` sibling) can be created or replaced: checked
    before any request, and again by each file writer when it opens. A name the system refuses
    (too long, say) is a UsageError too. With `stream_ok` a writable device or pipe passes (see
    is_stream_target); otherwise it is refused."""
    if is_stream_target(path):
        if not stream_ok:
            raise UsageError(f"cannot write {path}: it is not a regular file")
        fd = descriptor_of(path)
        if fd is not None:
            _check_writable_descriptor(path, fd)
        elif not os.access(path, os.W_OK):
            raise UsageError(f"cannot write {path}: permission denied")
        return
    path = file_target(path)
    try:
        if path.is_dir():
            raise UsageError(f"cannot write {path}: it is a directory")
        parent = path.parent if str(path.parent) else Path(".")
        if not parent.is_dir():
            raise UsageError(f"cannot write {path}: the directory {parent} does not exist")
        if not os.access(parent, os.W_OK | os.X_OK):
            raise UsageError(f"cannot write {path}: the directory {parent} is not writable")
        if path.exists() and not os.access(path, os.W_OK):
            raise UsageError(f"cannot write {path}: permission denied")
    except OSError as err:
        raise UsageError(f"cannot write {path}: {err.strerror or err}") from None


def _check_writable_descriptor(path: Path, fd: int) -> None:
    """UsageError unless descriptor `fd` is open for writing: it is written as it stands, so what
    counts is how it was opened, not whether the file behind it could be opened again."""
    import fcntl

    try:
        mode = fcntl.fcntl(fd, fcntl.F_GETFL) & os.O_ACCMODE
    except OSError:
        raise UsageError(f"cannot write {path}: descriptor {fd} is not open") from None
    if mode == os.O_RDONLY:
        raise UsageError(f"cannot write {path}: descriptor {fd} is open for reading only")


def part_paths(path: Path) -> tuple[Path, Path]:
    """(`PATH.part`, `PATH.part.PID`) of an output file: where what was received is kept when the
    run fails or is stopped, and this run's own file while it writes. Two runs writing one output
    (`-o same.wav` twice at once) never share a file, and each rename puts a whole file in place."""
    return path.with_name(path.name + ".part"), path.with_name(f"{path.name}.part.{os.getpid()}")


def publish(work: Path, path: Path) -> None:
    """Rename a whole work file into place, with the permissions of the file it replaces, and
    remove the `.part` an earlier failed run left of it."""
    try:
        os.chmod(work, stat.S_IMODE(os.stat(path).st_mode))
    except OSError:
        pass  # no file there yet (or none we may read): the work file's own mode stands
    try:
        os.replace(work, path)
    except OSError as err:
        raise UsageError(f"cannot rename {work} to {path}: {err.strerror or err}") from None
    try:  # what an earlier run that failed kept of this output is superseded by the whole file
        part_paths(path)[0].unlink(missing_ok=True)
    except OSError:
        pass


def close_quietly(*handles: IO[Any] | None) -> None:
    """Close each open handle of an output being given up on: an error closing it changes nothing."""
    for handle in handles:
        if handle is not None:
            try:
                handle.close()
            except OSError:
                pass


def check_distinct(files: Mapping[str, Path | None]) -> None:
    """UsageError when two of the files a run reads and writes (by option) are one: two writers
    would share one work file, or the input be replaced by the output."""
    seen: dict[str, str] = {}
    for option, path in files.items():
        if path is None or str(path) == "-":
            continue
        real = os.path.realpath(path)
        if real in seen:
            raise UsageError(f"{seen[real]} and {option} name the same file, {path}")
        seen[real] = option


@dataclass(frozen=True)
class OutputPlan:
    """Where the audio goes and in which formats."""

    #: The output file, or None.
    path: Path | None
    #: True when the audio bytes go to stdout (`-o -`).
    to_stdout: bool
    #: The format written to the file or stdout (None when only playing), made from the PCM that
    #: every transport carries.
    file_format: str | None
    play: bool
    #: What the user should hear of (the --format differs from the file's extension, say).
    warnings: tuple[str, ...] = ()

    @property
    def output(self) -> str | None:
        """The output as shown in stats: the path, "-", or None."""
        return "-" if self.to_stdout else (str(self.path) if self.path is not None else None)


def format_from_extension(path: str) -> str | None:
    """The audio format implied by a file name's extension (`a.WAV` → `wav`), None if none is."""
    return EXTENSION_FORMATS.get(Path(path).suffix.lower().lstrip("."))


def plan_output(
    output: str | None, fmt: str | None, play: bool | None, *, stdout_is_tty: bool = False
) -> OutputPlan:
    """`--output/--format/--play` → the plan. Play defaults to "when there is no --output".
    Refused (UsageError): `-o -` onto a terminal (raw audio there is noise), and --no-play with no
    --output (the audio would be synthesized and thrown away)."""
    if fmt is not None:
        fmt = format_named(fmt)
    if output is not None and not output.strip():
        raise UsageError("--output needs a file path, or - for stdout")
    # /dev/stdout and its aliases are stdout: the --json report then goes to stderr, as with -o -.
    to_stdout = output == "-" or (output is not None and descriptor_of(Path(output)) == 1)
    if to_stdout and stdout_is_tty:
        raise UsageError("stdout is a terminal; pipe it (smallest ... -o - | aplay) or use -o FILE")
    path = Path(output) if output is not None and not to_stdout else None
    play = (output is None) if play is None else play
    if output is None and not play:
        raise UsageError("nothing to do: give -o FILE or --play")
    if output is None:
        if fmt is not None:
            raise UsageError("--format chooses the format of the audio written with -o; playing needs none")
        return OutputPlan(path=None, to_stdout=False, file_format=None, play=play)
    if path is None:
        return OutputPlan(path=None, to_stdout=True, file_format=fmt or DEFAULT_FORMAT, play=play)
    file_format, warnings = _file_format(path, fmt)
    return OutputPlan(path=path, to_stdout=False, file_format=file_format, play=play, warnings=warnings)


def _file_format(path: Path, fmt: str | None) -> tuple[str, tuple[str, ...]]:
    """The format for `path`: --format, else its extension (no extension: WAV). An extension that
    names no format we write (.flac, .ogg, .txt) is refused rather than filled with WAV bytes; a
    --format that differs from the extension is written, with a warning."""
    ext = path.suffix.lower().lstrip(".")
    implied = EXTENSION_FORMATS.get(ext)
    if fmt is None:
        if implied is None and ext:
            known = ", ".join(f".{e}" for e in EXTENSION_FORMATS)
            raise UsageError(
                f"cannot tell the audio format of {path.name} from .{ext}: use one of {known}, or --format"
            )
        return implied or DEFAULT_FORMAT, ()
    if implied is not None and implied != fmt:
        warning = f"smallest: warning: writing {fmt} audio into {path.name}, whose extension says {implied}"
        return fmt, (warning,)
    return fmt, ()
