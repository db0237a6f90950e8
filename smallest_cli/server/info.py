"""`GET /waves/v1/health` and the voice catalog paths."""

from __future__ import annotations

from aiohttp import web

from smallest_cli import __version__
from smallest_cli.protocol.voices import PRO, STANDARD, catalog, pools_of
from smallest_cli.server.http_common import get_state


async def health(request: web.Request) -> web.Response:
    state = get_state(request)
    return web.json_response({"status": "ok", "engine": state.engine.name, "version": __version__})


async def get_voices(request: web.Request) -> web.Response:
    """The standard and the Pro catalogs together, without saying which voice is in which (the
    model cards say that); with --voices-by-pool, the standard voices only."""
    if get_state(request).config.voices_by_pool:
        return web.json_response({"voices": _pool(STANDARD)})
    return web.json_response({"voices": catalog()})


async def get_pro_voices(request: web.Request) -> web.Response:
    """The Pro voices (only routed with --voices-by-pool)."""
    return web.json_response({"voices": _pool(PRO)})


def _pool(pool: str) -> list[dict[str, object]]:
    return [v for v in catalog() if pool in pools_of(str(v["voiceId"]))]
