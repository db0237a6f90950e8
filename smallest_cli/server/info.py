"""`GET /waves/v1/health` and `GET /waves/v1/{model}/get_voices`."""

from __future__ import annotations

from aiohttp import web

from smallest_cli import __version__
from smallest_cli.protocol import contract
from smallest_cli.protocol.voices import catalog
from smallest_cli.server.http_common import error_json, get_state


async def health(request: web.Request) -> web.Response:
    state = get_state(request)
    return web.json_response({"status": "ok", "engine": state.engine.name, "version": __version__})


async def get_voices(request: web.Request) -> web.Response:
    model = request.match_info["model"]
    if model not in contract.CATALOG_MODEL_PATH.values():
        options = ", ".join(contract.CATALOG_MODEL_PATH.values())
        return error_json(404, {"error": f"Unknown model {model!r}; expected one of {options}"})
    return web.json_response({"voices": catalog()})
