"""Transports: one request in, typed events out (sync HTTP, SSE, WebSocket).

`open_transport(name, conn)` imports the transport's module (and its network library) only when
called, so that importing this package stays cheap.
"""

from __future__ import annotations

TYPE_CHECKING = False  # typing.TYPE_CHECKING, without importing typing (startup.py)
if TYPE_CHECKING:
    from smallest_cli.options.settings import ConnectionOptions
    from smallest_cli.transports.base import Transport
    from smallest_cli.transports.debuglog import DebugLog
    from smallest_cli.transports.dial import Dial

#: Transport names as shown to the user, mapped to the command that uses them.
TRANSPORTS: tuple[str, ...] = ("http", "sse", "websocket")


def open_transport(
    name: str, conn: ConnectionOptions, log: DebugLog | None = None, dial: Dial | None = None
) -> Transport:
    """A ready transport for `name` (one of TRANSPORTS). Nothing is connected until `stream()`;
    `log` (--debug) gets every request and response; the first connection is `dial`'s socket."""
    if name == "http":
        from smallest_cli.transports.http_sync import SyncHttpTransport

        return SyncHttpTransport(conn, log, dial)
    if name == "sse":
        from smallest_cli.transports.sse import SseTransport

        return SseTransport(conn, log, dial)
    if name == "websocket":
        from smallest_cli.transports.websocket import WebSocketTransport

        return WebSocketTransport(conn, log, dial)
    raise ValueError(f"unknown transport {name!r}")


__all__ = ["TRANSPORTS", "open_transport"]
