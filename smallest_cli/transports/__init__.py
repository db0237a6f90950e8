"""Transports: one request in, typed events out (sync HTTP, SSE, WebSocket).

`open_transport(name, conn)` imports the transport's module (and its network library) only when
called, so that importing this package stays cheap.
"""

from __future__ import annotations

from smallest_cli.settings import ConnectionOptions
from smallest_cli.transports.base import Transport

#: Transport names as shown to the user, mapped to the command that uses them.
TRANSPORTS: tuple[str, ...] = ("http", "sse", "websocket")


def open_transport(name: str, conn: ConnectionOptions) -> Transport:
    """A ready transport for `name` (one of TRANSPORTS). Nothing is connected until `stream()`."""
    if name == "http":
        from smallest_cli.transports.http_sync import SyncHttpTransport

        return SyncHttpTransport(conn)
    if name == "sse":
        from smallest_cli.transports.sse import SseTransport

        return SseTransport(conn)
    if name == "websocket":
        from smallest_cli.transports.websocket import WebSocketTransport

        return WebSocketTransport(conn)
    raise ValueError(f"unknown transport {name!r}")


__all__ = ["TRANSPORTS", "Transport", "open_transport"]
