"""Shared HTTP plumbing: state lookup, auth, request ids, JSON bodies, error answers, faults."""

from __future__ import annotations

import asyncio
import hmac
import json
import logging
import time
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web

from smallest_cli.protocol import contract
from smallest_cli.server.faults import Fault
from smallest_cli.server.state import ServerState

log = logging.getLogger("smallest.serve")

STATE_KEY: web.AppKey[ServerState] = web.AppKey("smallest_state", ServerState)

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

STATUS_MESSAGES: dict[int, str] = {
    400: "Bad request",
    401: "Unauthorized: invalid or missing API key",
    403: "Forbidden: the API key lacks permission or the usage limit is reached",
    404: "Not found",
    429: "Too many requests: the concurrency limit is reached, retry later",
    500: "Internal server error",
    502: "Bad gateway",
    503: "Service unavailable",
}


class HttpAnswer(Exception):
    """Raised by handlers to answer at once with `response` (errors, faults)."""

    def __init__(self, response: web.Response) -> None:
        super().__init__(response.status)
        self.response = response


def get_state(request: web.Request) -> ServerState:
    return request.app[STATE_KEY]


def request_id(request: web.Request) -> str:
    rid = request.get("request_id")
    if rid is None:
        rid = uuid.uuid4().hex
        request["request_id"] = rid
    return rid


def connection_id(request: web.Request) -> str:
    peer = request.transport.get_extra_info("peername") if request.transport else None
    key = f"{peer[0]}:{peer[1]}" if isinstance(peer, tuple) and len(peer) >= 2 else f"?{id(request)}"
    return get_state(request).journal.http_connection_id(key)


def is_authorized(header: str | None, api_key: str | None) -> bool:
    if not header:
        return False
    scheme, _, token = header.strip().partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token:
        return False
    if api_key is None:
        return True
    return hmac.compare_digest(token.encode(), api_key.encode())


def error_json(status: int, body: Any, headers: dict[str, str] | None = None) -> web.Response:
    return web.json_response(body, status=status, headers=headers)


def rate_limited(retry_after: float, message: str | None = None) -> web.Response:
    return error_json(
        429, {"message": message or STATUS_MESSAGES[429]}, headers={"Retry-After": f"{retry_after:g}"}
    )


def status_fault_response(fault: Fault) -> web.Response:
    message = fault.message or STATUS_MESSAGES.get(fault.status, "error")
    if fault.status == 429:
        return rate_limited(fault.retry_after, message)
    if fault.status == 401:
        return error_json(401, {"message": message}, headers={"WWW-Authenticate": "Bearer"})
    return error_json(fault.status, {"error": message})


async def read_json(request: web.Request, transport: str) -> Any:
    """The decoded JSON body; answers 413 over 64 KiB and 400 for bad JSON (both journaled)."""
    state = get_state(request)
    conn = connection_id(request)
    limit = contract.MAX_MESSAGE_BYTES
    if request.content_length is not None and request.content_length > limit:
        state.journal.record(transport, conn, raw=f"<{request.content_length} bytes: too large>")
        raise HttpAnswer(error_json(413, {"error": f"Request body too large (limit {limit} bytes)"}))
    try:
        raw = await request.read()
    except web.HTTPRequestEntityTooLarge:
        state.journal.record(transport, conn, raw="<body too large>")
        raise HttpAnswer(
            error_json(413, {"error": f"Request body too large (limit {limit} bytes)"})
        ) from None
    try:
        body = json.loads(raw)
    except (ValueError, UnicodeDecodeError) as err:
        state.journal.record(transport, conn, raw=raw.decode("utf-8", errors="replace"))
        state.journal.bump("bad_requests")
        raise HttpAnswer(error_json(400, {"error": f"Invalid JSON body: {err}"})) from None
    state.journal.record(transport, conn, body=body)
    return body


def client_gone(request: web.Request) -> bool:
    transport = request.transport
    return transport is None or transport.is_closing()


async def stall(state: ServerState, gone: Callable[[], bool], stall_ms: int | None) -> None:
    """Send nothing for `stall_ms` (None: until the client leaves or the server stops)."""
    deadline = None if stall_ms is None else time.monotonic() + stall_ms / 1000.0
    while not gone() and not state.stopping:
        if deadline is not None and time.monotonic() >= deadline:
            return
        await asyncio.sleep(0.02)


def abort_connection(request: web.Request) -> None:
    transport = request.transport
    if transport is not None:
        transport.abort()


@web.middleware
async def errors_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Auth for /waves/ (except health), HttpAnswer, JSON bodies for HTTP errors, never a crash."""
    state = get_state(request)
    if request.path.startswith("/waves/") and request.path != contract.HEALTH_PATH:
        if not is_authorized(request.headers.get("Authorization"), state.config.api_key):
            state.journal.bump("rejected_401")
            return error_json(401, {"message": STATUS_MESSAGES[401]}, headers={"WWW-Authenticate": "Bearer"})
    try:
        return await handler(request)
    except HttpAnswer as answer:
        return answer.response
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        return error_json(
            exc.status,
            {"error": exc.reason},
            headers={k: v for k, v in exc.headers.items() if k.lower() in ("allow",)},
        )
    except (asyncio.CancelledError, ConnectionResetError):
        raise
    except Exception:
        log.exception("internal error on %s %s", request.method, request.path)
        return error_json(500, {"error": STATUS_MESSAGES[500]})


async def add_request_id(request: web.Request, response: web.StreamResponse) -> None:
    response.headers.setdefault("X-Request-Id", request_id(request))
