"""`GET /waves/v1/health` and `GET /waves/v1/lightning-v3.1/get_voices`."""

from __future__ import annotations

from aiohttp import web

from smallest_cli import __version__
from smallest_cli.protocol.voices import catalog
from smallest_cli.server.http_common import get_state

#: The one voices path: it lists the standard and the Pro catalogs together, without saying which
#: voice belongs to which (the model cards say that). No other model name has a voices path here.


async def health(request: web.Request) -> web.Response:
    state = get_state(request)
    return web.json_response({"status": "ok", "engine": state.engine.name, "version": __version__})


async def get_voices(request: web.Request) -> web.Response:
    return web.json_response({"voices": catalog()})
