"""The local server's own control endpoints (the real service has none): faults and inspection.

POST   /_smallest/faults    queue faults (a fault object, a list, or {"faults": [...]})
GET    /_smallest/faults    pending faults and how many fired
DELETE /_smallest/faults    clear pending faults
GET    /_smallest/requests  received TTS bodies / WebSocket messages, in order, and counters
DELETE /_smallest/requests  clear that log and the counters
"""

from __future__ import annotations

import json

from aiohttp import web

from smallest_cli.server.faults import FaultSpecError, parse_faults
from smallest_cli.server.http_common import error_json, get_state

PREFIX = "/_smallest"


async def add_faults(request: web.Request) -> web.Response:
    state = get_state(request)
    try:
        faults = parse_faults(json.loads(await request.read()))
    except ValueError as err:  # FaultSpecError and JSON errors
        message = str(err) if isinstance(err, FaultSpecError) else f"Invalid JSON body: {err}"
        return error_json(400, {"error": message})
    state.faults.add(faults)
    return web.json_response({"queued": len(faults), "pending": state.faults.pending()})


async def list_faults(request: web.Request) -> web.Response:
    state = get_state(request)
    return web.json_response({"pending": state.faults.pending(), "fired": state.faults.fired})


async def clear_faults(request: web.Request) -> web.Response:
    state = get_state(request)
    cleared = len(state.faults.pending())
    state.faults.clear()
    return web.json_response({"cleared": cleared})


async def list_requests(request: web.Request) -> web.Response:
    state = get_state(request)
    extra = {
        "active_requests": state.limiter.active,
        "peak_active_requests": state.limiter.peak,
        "faults_fired": state.faults.fired,
        "ws_open": len(state.websockets),
    }
    return web.json_response(state.journal.snapshot(extra))


async def clear_requests(request: web.Request) -> web.Response:
    state = get_state(request)
    state.journal.clear()
    state.limiter.peak = state.limiter.active
    return web.json_response({"cleared": True})


def add_routes(app: web.Application) -> None:
    app.router.add_post(f"{PREFIX}/faults", add_faults)
    app.router.add_get(f"{PREFIX}/faults", list_faults)
    app.router.add_delete(f"{PREFIX}/faults", clear_faults)
    app.router.add_get(f"{PREFIX}/requests", list_requests)
    app.router.add_delete(f"{PREFIX}/requests", clear_requests)
