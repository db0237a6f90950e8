"""`smallest voices`: the voice catalog from the server, filtered, as a table, JSON or ids."""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Iterable, Mapping
from typing import Any

import typer

from smallest_cli.cli import EXIT_CODES_HELP
from smallest_cli.commands.common import eprint, guarded
from smallest_cli.errors import ProtocolError, UsageError

HELP = f"""List the voices of a model, from the server's catalog.

Examples:

  smallest voices --language hi --gender female

  smallest voices --search narration --json

  smallest voices --ids | head -3

{EXIT_CODES_HELP}
"""


def register(app: typer.Typer) -> None:
    @app.command("voices", help=HELP, short_help="List the voices of a model (filters, --json, --ids).")
    def voices(
        language: str | None = typer.Option(
            None, "--language", "-l", help="Language name or ISO 639-1 code (english, en, hi, ...)."
        ),
        gender: str | None = typer.Option(None, "--gender", help="female or male."),
        accent: str | None = typer.Option(None, "--accent", help="american, british, indian, ..."),
        search: str | None = typer.Option(None, "--search", "-s", help="Text to find in id, name or tags."),
        model: str | None = typer.Option(
            None, "--model", help="lightning_v3.1 or lightning_v3.1_pro.", show_default="lightning_v3.1"
        ),
        json_output: bool = typer.Option(False, "--json", help="Print the (filtered) catalog as JSON."),
        ids: bool = typer.Option(False, "--ids", help="Print only the voice ids, one per line."),
        base_url: str | None = typer.Option(None, "--base-url", help="Server base URL."),
        api_key: str | None = typer.Option(None, "--api-key", help="API key (better: SMALLEST_API_KEY)."),
        timeout: float | None = typer.Option(None, "--timeout", help="Seconds to wait.", show_default="30"),
        allow_insecure: bool = typer.Option(
            False, "--allow-insecure", help="Allow sending the API key over plain http:// to a remote host."
        ),
        debug: bool = typer.Option(
            False, "--debug", help="Show tracebacks and log the request and response (key redacted)."
        ),
    ) -> None:
        secrets = tuple(k for k in (api_key, os.environ.get("SMALLEST_API_KEY")) if k)
        with guarded(debug, secrets=secrets):
            from smallest_cli.config import load_config

            config = load_config()
            secrets += (config.get("api_key", ""),)
            with guarded(debug, secrets=secrets):
                catalog = fetch_catalog(model, base_url, api_key, timeout, config, allow_insecure, debug)
                chosen = filter_voices(
                    catalog, language=language, gender=gender, accent=accent, search=search
                )
                if json_output:
                    print(json.dumps({"voices": chosen}, indent=2, ensure_ascii=False))
                elif ids:
                    for voice in chosen:
                        print(voice.get("voiceId", ""))
                else:
                    print_table(chosen)


def fetch_catalog(
    model: str | None,
    base_url: str | None,
    api_key: str | None,
    timeout: float | None,
    config: Mapping[str, str],
    allow_insecure: bool = False,
    debug: bool = False,
) -> list[dict[str, Any]]:
    """GET the catalog for `model` (flag > config > default); the list under "voices".
    With `debug`, the request and response are logged on stderr (key redacted)."""
    import requests

    from smallest_cli.protocol import contract
    from smallest_cli.protocol.http_errors import error_from_http
    from smallest_cli.resolve import SynthFlags, resolve_connection, resolve_synthesis
    from smallest_cli.security import key_warnings
    from smallest_cli.transports.base import stall_error, unreachable_error

    flags = SynthFlags(
        model=model, base_url=base_url, api_key=api_key, timeout=timeout, allow_insecure=allow_insecure
    )
    conn = resolve_connection(flags, os.environ, config)
    for warning in key_warnings(flag_key=api_key, environ=os.environ, config=config):
        eprint(warning)
    chosen_model = resolve_synthesis(flags, os.environ, config).model
    if chosen_model not in contract.MODELS:
        raise UsageError(f"unknown model {chosen_model!r}; choose one of: {', '.join(contract.MODELS)}")
    url = conn.base_url + contract.voices_path(chosen_model)
    log = None
    if debug:
        from smallest_cli.debuglog import DebugLog

        log = DebugLog(sys.stderr)
        log.request("GET", url, conn.api_key)
    try:
        resp = requests.get(url, headers=conn.auth_headers(), timeout=(conn.timeout, conn.timeout))
    except requests.Timeout:
        raise stall_error(conn.timeout, url) from None
    except requests.RequestException as exc:
        raise unreachable_error(url, exc) from None
    if log is not None:
        log.response(resp.status_code, resp.headers)
    if resp.status_code >= 300:
        raise error_from_http(resp.status_code, resp.content, resp.headers)
    try:
        data = resp.json()
    except ValueError:
        raise ProtocolError(f"the voice catalog from {url} is not JSON") from None
    voices = data.get("voices") if isinstance(data, dict) else data
    if not isinstance(voices, list):
        raise ProtocolError(f"the voice catalog from {url} has no voices list")
    return [v for v in voices if isinstance(v, dict)]


def _tags(voice: Mapping[str, Any]) -> Mapping[str, Any]:
    tags = voice.get("tags")
    return tags if isinstance(tags, Mapping) else {}


def _as_list(value: Any) -> list[str]:
    if isinstance(value, str):
        return [value] if value else []
    if isinstance(value, Iterable):
        return [str(v) for v in value if v]
    return []


def _language_names(query: str) -> set[str]:
    from smallest_cli.protocol.voices import LANGUAGE_CODES

    q = query.strip().lower()
    names = {q}
    names.update(name for name, code in LANGUAGE_CODES.items() if code == q)
    return names


def filter_voices(
    voices: Iterable[dict[str, Any]],
    *,
    language: str | None = None,
    gender: str | None = None,
    accent: str | None = None,
    search: str | None = None,
) -> list[dict[str, Any]]:
    """The voices matching every filter given (case-insensitive; language by name or ISO code)."""
    out = []
    for voice in voices:
        tags = _tags(voice)
        if language and not _language_names(language) & {x.lower() for x in _as_list(tags.get("language"))}:
            continue
        if gender and str(tags.get("gender", "")).lower() != gender.strip().lower():
            continue
        if accent and str(tags.get("accent", "")).lower() != accent.strip().lower():
            continue
        if search:
            haystack = " ".join(
                [str(voice.get("voiceId", "")), str(voice.get("displayName", ""))]
                + [" ".join(_as_list(v)) for v in tags.values()]
            ).lower()
            if search.strip().lower() not in haystack:
                continue
        out.append(voice)
    return out


def print_table(voices: list[dict[str, Any]]) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(show_edge=False, header_style="bold")
    for column in ("id", "name", "gender", "accent", "languages", "use cases"):
        table.add_column(column)
    for voice in voices:
        tags = _tags(voice)
        table.add_row(
            str(voice.get("voiceId", "")),
            str(voice.get("displayName", "")),
            str(tags.get("gender", "") or ""),
            str(tags.get("accent", "") or ""),
            ", ".join(_as_list(tags.get("language"))),
            ", ".join(_as_list(tags.get("usecases"))),
        )
    console = Console(file=sys.stdout, highlight=False)
    if not console.is_terminal:
        console = Console(file=sys.stdout, highlight=False, width=max(console.width, 120))
    console.print(table)
    if sys.stderr.isatty() or not voices:
        print(f"{len(voices)} voice{'s' if len(voices) != 1 else ''}", file=sys.stderr)
