"""`smallest cache path|info|clear`: where the audio cache is, what it holds, and emptying it."""

from __future__ import annotations

import json
import os
from typing import TYPE_CHECKING

import typer

from smallest_cli.commands.common import command_group, first_line, with_options
from smallest_cli.errors import guarded
from smallest_cli.options.parse import Args
from smallest_cli.options.table import BY_FIELD, CACHE_INFO

if TYPE_CHECKING:
    from smallest_cli.output.cache import CacheStore

CACHE_HELP = f"""Manage the audio cache: whole renders kept by --cache (or `cache = true` in the config file).

A synthesis command with the cache on replays a render it has made before, with no request, when
everything that shapes the audio is the same: the text, voice, model, sample rate, speed, language,
pronunciation dictionaries, math and number reading, word timestamps and the server. Renders are
kept as PCM, so one serves every output format. After each store the least recently used renders
go until the cache is within cache_max_mb (default {BY_FIELD["cache_max_mb"].fallback}).

Examples:

  smallest speak --cache "Your call is important to us" -o hold.wav

  smallest config set cache true

  smallest cache info

  smallest cache clear
"""

PATH_HELP = """Print the cache's directory ($XDG_CACHE_HOME/smallest, else ~/.cache/smallest).

Examples:

  smallest cache path

  du -sh "$(smallest cache path)"
"""

INFO_HELP = """Print how many renders the cache holds, their size, and its cap.

Examples:

  smallest cache info

  smallest cache info --json | jq .bytes
"""

CLEAR_HELP = """Remove every render from the cache, and say how many and how much.

Examples:

  smallest cache clear

  XDG_CACHE_HOME=/tmp/ci-cache smallest cache clear
"""


def _store() -> CacheStore:
    """The cache, with the cap the config file sets."""
    from smallest_cli.options.config import cache_dir, load_config
    from smallest_cli.options.resolve import resolve_cache_cap
    from smallest_cli.output.cache import CacheStore

    return CacheStore(cache_dir(), resolve_cache_cap({}, os.environ, load_config()))


def _mb(size: int) -> str:
    from smallest_cli.options.resolve import MB

    return f"{size / MB:.1f} MB"


def _renders(count: int) -> str:
    return f"{count} render" if count == 1 else f"{count} renders"


def _info(args: Args) -> None:
    with guarded():
        store = _store()
        entries = store.entries()
        size = sum(e.size for e in entries)
        if args.json_output:
            record = {"path": str(store.directory), "entries": len(entries), "bytes": size,
                      "max_bytes": store.max_bytes}
            typer.echo(json.dumps(record))
            return
        typer.echo(f"{_renders(len(entries))}, {_mb(size)} of {_mb(store.max_bytes)}, in {store.directory}")


def build_cache_app() -> typer.Typer:
    sub = command_group("cache", CACHE_HELP)

    @sub.command("path", help=PATH_HELP, short_help=first_line(PATH_HELP))
    def path_cmd() -> None:
        from smallest_cli.options.config import cache_dir

        typer.echo(str(cache_dir()))

    sub.command("info", help=INFO_HELP, short_help=first_line(INFO_HELP))(with_options(CACHE_INFO, _info))

    @sub.command("clear", help=CLEAR_HELP, short_help=first_line(CLEAR_HELP))
    def clear_cmd() -> None:
        with guarded():
            store = _store()
            count, size = store.clear()
            typer.echo(f"removed {_renders(count)} ({_mb(size)}) from {store.directory}")

    return sub


def register(app: typer.Typer) -> None:
    app.add_typer(build_cache_app(), name="cache")
