"""`smallest voices`: the voice catalog from the server, filtered, as a table, JSON or ids."""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any

import typer

from smallest_cli.commands.common import with_options
from smallest_cli.errors import EXIT_CODES_HELP, ProtocolError, SmallestError, UsageError, eprint
from smallest_cli.options.parse import Args
from smallest_cli.options.table import BY_FIELD

if TYPE_CHECKING:
    from smallest_cli.options.settings import ConnectionOptions
    from smallest_cli.transports.debuglog import DebugLog


HELP = f"""List the voices, from the server's catalog (standard and Pro together; --model picks one).

--json lists each voice's pools as "pools": ["pro", "standard"] (a voice may be in both).

Examples:

  smallest voices --language hi --gender female

  smallest voices --search narration --json

  smallest voices --search pro --ids

  smallest voices --json | jq '.voices[] | select(.pools | index("pro"))'

  smallest voices --ids | head -3

{EXIT_CODES_HELP}
"""


def register(app: typer.Typer) -> None:
    command = with_options("voices", show_voices)
    summary = "List the voices, standard and Pro (filters, --model, --json, --ids)."
    app.command("voices", help=HELP, short_help=summary)(command)


def show_voices(args: Args) -> None:
    from smallest_cli.options.config import guarded_with_config

    with guarded_with_config(args) as config:
        from smallest_cli.output.plan import require_stdout

        require_stdout("the voice list")
        gender = BY_FIELD["gender"]
        if args.gender is not None and args.gender.strip().lower() not in gender.choices:
            allowed = " or ".join(gender.choices)
            raise UsageError(f"{gender.spellings[0]} must be {allowed}, not {args.gender!r}")
        catalog = fetch_catalog(args, config)
        chosen = filter_voices(
            catalog, language=args.language, gender=args.gender, accent=args.accent, search=args.search,
            model=args.model,
        )
        if args.json_output and args.ids:
            print(json.dumps([voice.get("voiceId", "") for voice in chosen], ensure_ascii=False))
        elif args.json_output:
            print(json.dumps({"voices": chosen}, indent=2, ensure_ascii=False))
        elif args.ids:
            for voice in chosen:
                print(voice.get("voiceId", ""))
        elif chosen:
            print_table(chosen)
        if not chosen:
            eprint(none_chosen(catalog, language=args.language, accent=args.accent))


def fetch_catalog(args: Mapping[str, Any], config: Mapping[str, str]) -> list[dict[str, Any]]:
    """The catalog, each voice with its `pools`. get-voices-openapi.yaml reads two ways: the one path
    lists the standard and the Pro voices together (the model cards say which is which), or it lists
    the standard ones and `lightning-v3.1-pro` the Pro ones. Both paths are asked (the Pro one not
    for the standard model); when the Pro one is refused, the cards tell the pools. With --debug,
    each request and response is logged."""
    from smallest_cli.options.resolve import key_warnings, resolve_connection
    from smallest_cli.protocol import contract
    from smallest_cli.protocol.request import check_model
    from smallest_cli.protocol.voices import MODEL_POOLS, STANDARD
    from smallest_cli.transports.http_common import new_session

    if args.get("model") is not None:
        check_model(args["model"])
    conn = resolve_connection(args, os.environ, config)
    for warning in key_warnings(flag_key=args.get("api_key"), environ=os.environ, config=config):
        eprint(warning)
    log = None
    if args.get("debug"):
        from smallest_cli.transports.debuglog import DebugLog

        log = DebugLog(sys.stderr)
    with new_session() as session:
        listed = _get_voices(session, conn, contract.VOICES_PATH, log)
        # For the standard model the Pro path changes nothing: under either layout the one path's
        # voices that the cards call standard are that model's.
        standard_only = MODEL_POOLS.get(args.get("model") or "") == STANDARD
        pro = None if standard_only else _pro_voices(session, conn, log)
    if pro is None:
        return [{**v, "pools": pool_names(str(v.get("voiceId", "")))} for v in listed]
    return _merged(listed, pro)


def _pro_voices(
    session: Any, conn: ConnectionOptions, log: DebugLog | None
) -> list[dict[str, Any]] | None:
    """The Pro path's voices; None when there is no such path (the one path listed every voice),
    and, with a warning, when it failed otherwise."""
    from smallest_cli.protocol import contract

    try:
        return _get_voices(session, conn, contract.PRO_VOICES_PATH, log)
    except UsageError:
        return None  # 404 and the like: no such path
    except SmallestError as err:
        eprint(f"smallest: warning: the Pro voice list failed ({err}); the model cards tell the pools")
        return None


def _merged(listed: list[dict[str, Any]], pro: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Both lists as one, each voice with its pools: the one list it is in, or, when both list
    it (a server may list every voice at the one path and serve the Pro path too), the cards' (Pro
    as well for a voice newer than the cards: the Pro path lists it)."""
    from smallest_cli.protocol.voices import PRO, STANDARD, pool_of

    pro_ids = {str(v.get("voiceId", "")) for v in pro}
    merged: dict[str, dict[str, Any]] = {}
    for voice in [*listed, *pro]:
        voice_id = str(voice.get("voiceId", ""))
        if voice_id in merged:
            merged[voice_id]["pools"] = pool_names(voice_id) if pool_of(voice_id) else [PRO, STANDARD]
        else:
            merged[voice_id] = {**voice, "pools": [PRO if voice_id in pro_ids else STANDARD]}
    return list(merged.values())


def _get_voices(
    session: Any, conn: ConnectionOptions, path: str, log: DebugLog | None
) -> list[dict[str, Any]]:
    """The voices one catalog path lists; the mapped error when it answers otherwise."""
    import requests

    from smallest_cli.protocol.http_errors import error_from_http
    from smallest_cli.transports.base import stall_error, unreachable_error

    url = conn.base_url + path
    if log is not None:
        log.request("GET", url, conn.api_key)
    try:
        resp = session.get(
            url, headers=conn.auth_headers(), timeout=(conn.timeout, conn.timeout), allow_redirects=False
        )
    except requests.Timeout:
        raise stall_error(conn.timeout, url) from None
    except requests.RequestException as exc:
        raise unreachable_error(url, exc) from None
    if log is not None:
        log.response(resp.status_code, resp.headers)
    if resp.status_code >= 300:
        raise error_from_http(resp.status_code, resp.content, resp.headers, url=url)
    try:
        data = resp.json()
    except ValueError:
        raise ProtocolError(f"the voice catalog from {url} is not JSON") from None
    voices = data.get("voices") if isinstance(data, dict) else data
    if not isinstance(voices, list):
        raise ProtocolError(f"the voice catalog from {url} has no voices list")
    return [v for v in voices if isinstance(v, dict)]


def pool_names(voice_id: str) -> list[str]:
    """The pools a voice is in, sorted (a list, so that `jq` can test one): the API lists both
    catalogs with no pool flag, so the model cards' catalogs (`protocol.voices`) tell."""
    from smallest_cli.protocol.voices import pools_of

    return sorted(pools_of(voice_id))


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
    model: str | None = None,
) -> list[dict[str, Any]]:
    """The voices (of `fetch_catalog`, each with its pools) matching every filter given
    (case-insensitive; language by name or ISO code; `model` by the voice's pools; `search` in the
    id, name, pools and tags)."""
    from smallest_cli.protocol.voices import MODEL_POOLS

    pool = None if model is None else MODEL_POOLS[model]
    out = []
    for voice in voices:
        if pool is not None and pool not in voice["pools"]:
            continue
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
                + _as_list(voice.get("pools"))
                + [" ".join(_as_list(v)) for v in tags.values()]
            ).lower()
            if search.strip().lower() not in haystack:
                continue
        out.append(voice)
    return out


def none_chosen(catalog: list[dict[str, Any]], *, language: str | None, accent: str | None) -> str:
    """What to say when no voice matches: which filter no voice in the catalog has at all, with
    the values the catalog does have, since a misspelt filter is the usual cause."""
    for label, value, tag in (("language", language, "language"), ("accent", accent, "accent")):
        if value and not filter_voices(catalog, **{label: value}):
            known = sorted({x.lower() for v in catalog for x in _as_list(_tags(v).get(tag))})
            return f"0 voices: no voice has the {label} {value!r} (the catalog has: {', '.join(known)})"
    return "0 voices match"


def print_table(voices: list[dict[str, Any]]) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(show_edge=False, header_style="bold")
    for column in ("id", "name", "pool", "gender", "accent", "languages", "use cases"):
        table.add_column(column)
    for voice in voices:
        tags = _tags(voice)
        table.add_row(
            str(voice.get("voiceId", "")),
            str(voice.get("displayName", "")),
            ", ".join(_as_list(voice.get("pools"))),
            str(tags.get("gender", "") or ""),
            str(tags.get("accent", "") or ""),
            ", ".join(_as_list(tags.get("language"))),
            ", ".join(_as_list(tags.get("usecases"))),
        )
    console = Console(file=sys.stdout, highlight=False)
    if not console.is_terminal:
        console = Console(file=sys.stdout, highlight=False, width=max(console.width, 120))
    console.print(table)
    if sys.stderr.isatty():
        print(f"{len(voices)} voice{'s' if len(voices) != 1 else ''}", file=sys.stderr)
