"""Settings resolution: flag > environment > config file > fallback, for every option that the
option table (`options.table`) gives an environment variable, a config key or a fallback.

Pure functions of their inputs (the parsed flags, an environment mapping, the loaded config), so
every rule is testable without a process.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from smallest_cli.errors import UsageError
from smallest_cli.options.layers import given_by, naming_the_environment, setting
from smallest_cli.options.security import CMDLINE_KEY_WARNING, check_api_key, check_key_transport
from smallest_cli.options.settings import ConnectionOptions, Secret
from smallest_cli.options.table import BY_FIELD, CODE_BLOCKS
from smallest_cli.protocol.request import (
    SynthesisOptions,
    check_id,
    check_language,
    check_model,
    check_sample_rate,
    check_speed,
    check_voice,
)

#: The longest --timeout: a day is more than any stall worth waiting for.
MAX_TIMEOUT_SECONDS = 86_400.0
MISSING_KEY_MESSAGE = (
    "no API key: set SMALLEST_API_KEY (export SMALLEST_API_KEY=sk_...), "
    "or save it with `smallest config set api_key -` (it reads the key from stdin, out of the process list)"
)


def resolve_synthesis(
    flags: Mapping[str, Any],
    environ: Mapping[str, str],
    config: Mapping[str, str],
    *,
    word_timestamps: bool = False,
) -> SynthesisOptions:
    """The request options, each value checked (protocol.request's checks, the same for a flag, the
    environment and the config file)."""

    def get(field: str) -> Any:
        return setting(field, flags, environ, config)

    if any(not d.strip() for d in flags.get("pronunciation_dicts") or ()):
        raise UsageError("a pronunciation dictionary id is empty")
    with naming_the_environment("voice", flags, environ):
        voice_id = check_voice(str(get("voice")))
    return SynthesisOptions(
        voice_id=voice_id,
        model=check_model(get("model")),
        sample_rate=check_sample_rate(get("sample_rate")),
        speed=check_speed(get("speed")),
        language=_optional(get("language"), check_language),
        word_timestamps=word_timestamps,
        pronunciation_dicts=tuple(flags.get("pronunciation_dicts") or ()),
        math_notation=bool(flags.get("math_notation")),
        number_language=_flag(flags, "number_language", check_language),
        request_id=_flag(flags, "request_id", check_id),
        session_id=_flag(flags, "session_id", check_id),
    )


#: The file names whose text is read as Markdown unless --plain says otherwise.
MARKDOWN_SUFFIXES = (".md", ".markdown")


def resolve_markdown(
    flags: Mapping[str, Any],
    environ: Mapping[str, str],
    config: Mapping[str, str],
    *,
    markdown_file: bool | None = None,
) -> str | None:
    """How code blocks are read when the text is read as Markdown (`--code`), or None for plain text.
    Markdown: --markdown/--plain, else the config file's `markdown`, else whether the text is a
    Markdown file (`markdown_file`; by default, whether --file is a .md or .markdown file)."""
    code = str(setting("code", flags, environ, config))
    if code not in CODE_BLOCKS:
        spelling = BY_FIELD["code"].spellings[0]
        raise UsageError(f"{spelling} must be one of {', '.join(CODE_BLOCKS)}, got {code!r}")
    markdown = setting("markdown", flags, environ, config)
    if markdown is None:
        if markdown_file is None:
            file = flags.get("file")
            markdown_file = bool(file) and str(file).lower().endswith(MARKDOWN_SUFFIXES)
        markdown = markdown_file
    return code if markdown else None


#: Bytes in one MB of `cache_max_mb`.
MB = 1_000_000


def resolve_cache_cap(
    flags: Mapping[str, Any], environ: Mapping[str, str], config: Mapping[str, str]
) -> int:
    """The audio cache's size cap, in bytes."""
    from smallest_cli.options.config import check_cache_max_mb

    mb = setting("cache_max_mb", flags, environ, config)
    return check_cache_max_mb(mb, BY_FIELD["cache_max_mb"].spellings[0]) * MB


def resolve_cache(
    flags: Mapping[str, Any], environ: Mapping[str, str], config: Mapping[str, str]
) -> int | None:
    """The audio cache's size cap in bytes when --cache (or `cache = true`) is on; None when it is off."""
    if not setting("cache", flags, environ, config):
        return None
    return resolve_cache_cap(flags, environ, config)


def _optional(value: Any, check: Callable[[Any], Any]) -> Any:
    return None if value is None else check(value)


def _flag(flags: Mapping[str, Any], field: str, check: Callable[[str, str], str]) -> str | None:
    """A flag-only value, checked; an error names the flag as the user spelled it."""
    value = flags.get(field)
    return None if value is None else check(value, BY_FIELD[field].spellings[0])


def resolve_connection(
    flags: Mapping[str, Any], environ: Mapping[str, str], config: Mapping[str, str], *, need_key: bool = True
) -> ConnectionOptions:
    """Where to connect and with which key. A missing key is a UsageError saying how to set one."""

    def get(field: str) -> Any:
        return setting(field, flags, environ, config)

    base_url = str(get("base_url")).strip().rstrip("/")
    allow_insecure = bool(flags.get("allow_insecure"))
    with naming_the_environment("base_url", flags, environ):
        check_key_transport(base_url, allow_insecure=allow_insecure)
    key = get("api_key")
    key = key.strip() if key else None
    if need_key and not key:
        raise UsageError(MISSING_KEY_MESSAGE)
    if key:
        check_api_key(key, given_by("api_key", flags, environ, config) or "the API key")
    timeout = float(get("timeout"))
    if not 0 < timeout <= MAX_TIMEOUT_SECONDS:
        raise UsageError(
            f"--timeout must be more than 0 and at most {MAX_TIMEOUT_SECONDS:g} seconds, got {timeout:g}"
        )
    retries = int(get("retries"))
    if retries < 0:
        raise UsageError(f"--retries must be 0 or more, got {retries}")
    return ConnectionOptions(
        base_url=base_url,
        api_key=Secret(key) if key else None,
        timeout=timeout,
        retries=retries,
        allow_insecure=allow_insecure,
    )


def check_concurrency(concurrency: int) -> int:
    if concurrency < 1:
        raise UsageError(f"{BY_FIELD['concurrency'].spellings[0]} must be 1 or more, got {concurrency}")
    return concurrency


def key_warnings(
    *,
    flag_key: str | None,
    environ: Mapping[str, str],
    config: Mapping[str, str],
    config_file: Path | None = None,
) -> list[str]:
    """Warnings about where the key came from (flag > environment > config file)."""
    if flag_key:
        return [CMDLINE_KEY_WARNING]
    env = BY_FIELD["api_key"].env
    if env is not None and environ.get(env, "").strip():
        return []
    if config.get("api_key"):
        from smallest_cli.options.config import permission_warning

        warning = permission_warning(config_file)
        return [warning] if warning else []
    return []


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
