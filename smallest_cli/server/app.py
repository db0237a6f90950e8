"""The aiohttp application: routes, middleware, shutdown of open WebSockets."""

from __future__ import annotations

from aiohttp import WSCloseCode, web

from smallest_cli.protocol import contract
from smallest_cli.server import control
from smallest_cli.server.http_common import STATE_KEY, add_request_id, errors_middleware
from smallest_cli.server.http_tts import sse_tts, sync_tts
from smallest_cli.server.info import get_pro_voices, get_voices, health
from smallest_cli.server.state import ServerState
from smallest_cli.server.ws_tts import ws_tts


async def _close_websockets(app: web.Application) -> None:
    state = app[STATE_KEY]
    state.stopping = True
    for ws in list(state.websockets):
        await ws.close(code=WSCloseCode.GOING_AWAY, message=b"server shutdown")


def build_app(state: ServerState) -> web.Application:
    app = web.Application(middlewares=[errors_middleware], client_max_size=contract.MAX_MESSAGE_BYTES)
    app[STATE_KEY] = state
    app.on_response_prepare.append(add_request_id)
    app.on_shutdown.append(_close_websockets)
    app.router.add_post(contract.TTS_PATH, sync_tts)
    app.router.add_post(contract.LIVE_PATH, sse_tts)
    app.router.add_get(contract.LIVE_PATH, ws_tts)
    app.router.add_get(contract.HEALTH_PATH, health)
    app.router.add_get(contract.VOICES_PATH, get_voices)
    if state.config.voices_by_pool:
        app.router.add_get(contract.PRO_VOICES_PATH, get_pro_voices)
    control.add_routes(app)
    return app
