"""The WebSocket upgrade request, written without the WebSocket library (RFC 6455, section 4.1).

Every WebSocket connection made without a proxy writes it before websockets starts reading the
socket (`transports.websocket`), and the early connection (`transports.dial`) as soon as TLS is up
and the input is known to be good, while `websockets` is still importing; websockets then reads
and checks the server's answer against `key` as if it had sent the request itself. The bytes are
those websockets writes for the same URL, headers and key (tests/test_upgrade.py), so the server
sees one request either way. A URL outside the plain case (user info, a fragment,
anything not ASCII) gets no early upgrade: websockets encodes those its own way.
"""

from __future__ import annotations

import base64
import os
import sys
from collections.abc import Mapping
from typing import NamedTuple
from urllib.parse import urlsplit

from smallest_cli import __version__

#: Sent on every WebSocket upgrade, early or not.
USER_AGENT = f"smallest/{__version__} Python/{sys.version_info[0]}.{sys.version_info[1]}"


class Upgrade(NamedTuple):
    """An upgrade request for `url`, with the Sec-WebSocket-Key the answer must match."""

    url: str
    key: str
    #: Holds the API key: never shown (see `__repr__`).
    request: bytes

    def __repr__(self) -> str:
        return f"Upgrade(url={self.url!r}, request=<{len(self.request)} bytes>)"


def upgrade_request(url: str, headers: Mapping[str, str], key: str | None = None) -> Upgrade | None:
    """The GET that asks `url` (ws or wss) for a WebSocket, with `headers` (the key's
    Authorization) and a fresh random key unless `key` is given; None outside the plain case."""
    if not url.isascii():
        return None
    parts = urlsplit(url)
    default_port = 443 if parts.scheme == "wss" else 80
    try:
        port = parts.port or default_port
    except ValueError:
        return None
    host = parts.hostname
    if parts.scheme not in ("ws", "wss") or not host or parts.username is not None or parts.fragment:
        return None
    if ":" in host:  # an IPv6 address
        host = f"[{host}]"
    if port != default_port:
        host = f"{host}:{port}"
    resource = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    if key is None:
        key = base64.b64encode(os.urandom(16)).decode()
    lines = [
        f"GET {resource} HTTP/1.1",
        f"Host: {host}",
        "Upgrade: websocket",
        "Connection: Upgrade",
        f"Sec-WebSocket-Key: {key}",
        "Sec-WebSocket-Version: 13",
        *(f"{name}: {value}" for name, value in headers.items()),
        f"User-Agent: {USER_AGENT}",
    ]
    return Upgrade(url, key, ("\r\n".join(lines) + "\r\n\r\n").encode("iso-8859-1"))
