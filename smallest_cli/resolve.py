"""Settings resolution for the synthesis commands: flag > environment > config file > default.

Pure functions of their inputs (flags, an environment mapping, the loaded config), so every rule
is testable without a process. Also decides the output plan (file/stdout/player, formats) and where
the text comes from.
"""

from __future__ import annotations

import io
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import IO, TypeVar

from smallest_cli.errors import UsageError
from smallest_cli.protocol import contract
from smallest_cli.security import check_key_transport
from smallest_cli.settings import ConnectionOptions, Secret, SynthesisOptions

DEFAULT_VOICE = "magnus"
DEFAULT_SAMPLE_RATE = 24000
DEFAULT_FORMAT = "wav"
DEFAULT_TIMEOUT_S = 30.0
DEFAULT_RETRIES = 3
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
#: Formats whose bytes the server sends as PCM (the CLI writes the WAV header itself).
PCM_FORMATS = frozenset({"pcm", "wav"})

ENV_API_KEY = "SMALLEST_API_KEY"
ENV_BASE_URL = "SMALLEST_BASE_URL"
ENV_VOICE = "SMALLEST_VOICE"

MISSING_KEY_MESSAGE = (
    "no API key: set SMALLEST_API_KEY (export SMALLEST_API_KEY=sk_...), "
    "pass --api-key, or save it with `smallest config set api_key sk_...`"
)

T = TypeVar("T")


@dataclass(frozen=True)
class SynthFlags:
    """The synthesis and connection flags as given on the command line (None = not given)."""

    voice: str | None = None
    model: str | None = None
    sample_rate: int | None = None
    speed: float | None = None
    language: str | None = None
    base_url: str | None = None
    api_key: str | None = None
    timeout: float | None = None
    retries: int | None = None
    allow_insecure: bool = False


def _first(*values: T | None) -> T | None:
    for value in values:
        if value is not None and value != "":
            return value
    return None


def _number(text: str | None, kind: type[int] | type[float], what: str) -> int | float | None:
    if text is None:
        return None
    try:
        return kind(text)
    except ValueError:
        raise UsageError(f"config file: {what} {text!r} is not a number") from None


def resolve_synthesis(
    flags: SynthFlags,
    environ: Mapping[str, str],
    config: Mapping[str, str],
    *,
    output_format: str = "pcm",
    word_timestamps: bool = False,
) -> SynthesisOptions:
    """The request options; `output_format` is what the server is asked for (see OutputPlan)."""
    voice = _first(flags.voice, environ.get(ENV_VOICE), config.get("voice")) or DEFAULT_VOICE
    model = _first(flags.model, config.get("model")) or contract.DEFAULT_MODEL
    rate = _first(flags.sample_rate, _number(config.get("sample_rate"), int, "sample_rate"))
    speed = _first(flags.speed, _number(config.get("speed"), float, "speed"))
    language = _first(flags.language, config.get("language"))
    return SynthesisOptions(
        voice_id=voice.strip(),
        model=model,
        sample_rate=int(rate) if rate is not None else DEFAULT_SAMPLE_RATE,
        speed=float(speed) if speed is not None else 1.0,
        language=language,
        output_format=output_format,
        word_timestamps=word_timestamps,
    )


def resolve_connection(
    flags: SynthFlags, environ: Mapping[str, str], config: Mapping[str, str], *, need_key: bool = True
) -> ConnectionOptions:
    """Where to connect and with which key. A missing key is a UsageError saying how to set one."""
    base_url = _first(flags.base_url, environ.get(ENV_BASE_URL), config.get("base_url"))
    base_url = (base_url or contract.DEFAULT_BASE_URL).strip().rstrip("/")
    check_key_transport(base_url, allow_insecure=flags.allow_insecure)
    key = _first(flags.api_key, environ.get(ENV_API_KEY), config.get("api_key"))
    key = key.strip() if key else None
    if need_key and not key:
        raise UsageError(MISSING_KEY_MESSAGE)
    timeout = DEFAULT_TIMEOUT_S if flags.timeout is None else flags.timeout
    if not timeout > 0:
        raise UsageError(f"--timeout must be more than 0 seconds, got {timeout:g}")
    retries = DEFAULT_RETRIES if flags.retries is None else flags.retries
    if retries < 0:
        raise UsageError(f"--retries must be 0 or more, got {retries}")
    return ConnectionOptions(
        base_url=base_url,
        api_key=Secret(key) if key else None,
        timeout=timeout,
        retries=retries,
        allow_insecure=flags.allow_insecure,
    )


@dataclass(frozen=True)
class OutputPlan:
    """Where the audio goes and in which formats."""

    #: The output file, or None.
    path: Path | None
    #: True when the audio bytes go to stdout (`-o -`).
    to_stdout: bool
    #: The format written to the file or stdout (None when only playing).
    file_format: str | None
    #: The format asked of the server: pcm for pcm/wav/playing only, else the file's format.
    server_format: str
    play: bool

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
        fmt = fmt.lower()
        if fmt not in contract.OUTPUT_FORMATS:
            raise UsageError(f"unknown format {fmt!r}; choose one of: {', '.join(contract.OUTPUT_FORMATS)}")
    if output is not None and not output.strip():
        raise UsageError("--output needs a file path, or - for stdout")
    to_stdout = output == "-"
    if to_stdout and stdout_is_tty:
        raise UsageError("stdout is a terminal; pipe it (smallest ... -o - | aplay) or use -o FILE")
    path = Path(output) if output is not None and not to_stdout else None
    play = (output is None) if play is None else play
    if output is None and not play:
        raise UsageError("nothing to do: give -o FILE or --play")
    if output is None:
        file_format = None
        server_format = fmt if (fmt is not None and fmt not in PCM_FORMATS) else "pcm"
    else:
        file_format = fmt or (format_from_extension(output) if path is not None else None) or DEFAULT_FORMAT
        server_format = "pcm" if file_format in PCM_FORMATS else file_format
    return OutputPlan(
        path=path, to_stdout=to_stdout, file_format=file_format, server_format=server_format, play=play
    )


def check_word_voice(voice_id: str, *, captions: bool) -> str | None:
    """Only some voices send word timestamps. For --captions another voice is a UsageError (exit 2,
    before any request: the file would be empty); for --word-timestamps alone, the warning to print."""
    from smallest_cli.protocol.voices import WORD_TIMESTAMP_VOICES

    if voice_id in WORD_TIMESTAMP_VOICES:
        return None
    voices = ", ".join(sorted(WORD_TIMESTAMP_VOICES))
    if captions:
        raise UsageError(
            f"--captions needs word timestamps, which voice {voice_id!r} does not send; "
            f"choose one of: {voices} (e.g. -v avery)"
        )
    return f"smallest: warning: voice {voice_id!r} sends no word timestamps; voices that do: {voices}"


# -- where the text comes from ------------------------------------------------------------------------


def text_chunks(text: str | None, file: str | None, stdin: IO[str]) -> Iterable[str]:
    """The input text as a stream of pieces: the TEXT argument, `--file PATH`, or stdin (`-`, or
    no argument with piped stdin). Files and stdin are read lazily, line by line."""
    if text is not None and file is not None:
        raise UsageError("give the text as an argument or with --file, not both")
    if text is not None and text != "-":
        return [text]
    if file is not None and file != "-":
        from smallest_cli.textinput import open_text_file

        return open_text_file(Path(file))
    if text is None and file is None and is_tty(stdin):
        raise UsageError(
            'no text: give it as an argument (smallest speak "Hello"), with --file PATH, or on stdin'
        )
    binary = getattr(stdin, "buffer", None)
    if binary is not None:
        from smallest_cli.textinput import decoded_lines

        return decoded_lines(binary, "stdin")
    return _lines(stdin, "stdin")


def is_tty(stream: IO[str] | IO[bytes]) -> bool:
    """Whether `stream` is a terminal (False for anything without a working isatty)."""
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False


def _lines(stream: IO[str] | io.TextIOBase, name: str) -> Iterator[str]:
    try:
        yield from iter(stream.readline, "")
    except UnicodeDecodeError as exc:
        raise UsageError(f"{name} is not UTF-8 text: {exc.reason} at byte {exc.start}") from None
    except OSError as exc:
        raise UsageError(f"cannot read {name}: {exc.strerror or exc}") from None
