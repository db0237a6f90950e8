"""WebSocketTransport.preconnect(): the first connection opens in a background thread and the first
request takes it over, or raises the very error connecting raised; close() abandons it."""

from __future__ import annotations

import socket
import threading

import pytest
import requests

from smallest_cli.errors import AuthError, NetworkError
from smallest_cli.transports import open_transport
from tests.helpers import Server, wait_until
from tests.test_cli_support import TEXT, reference
from tests.test_transport import body, collect, conn_for, ws_connections_for


def _connect_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name == "smallest-ws-connect"]


def test_first_request_uses_the_preconnected_socket(keep_open_server: Server) -> None:
    ids = ws_connections_for(keep_open_server, (TEXT, "Second request."), preconnect=True)
    assert len(ids) == 2 and len(set(ids)) == 1


def test_a_failed_preconnect_is_the_first_requests_error() -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    from smallest_cli.options.settings import ConnectionOptions, Secret

    transport = open_transport(
        "websocket",
        ConnectionOptions(base_url=f"http://127.0.0.1:{port}", api_key=Secret("sk_x"), timeout=5, retries=3),
    )
    transport.preconnect()
    with pytest.raises(NetworkError) as info:
        collect(transport.stream(body()))
    assert f"127.0.0.1:{port}" in str(info.value) and "refused" in str(info.value)
    transport.close()


def test_a_rejected_key_is_an_auth_error_after_preconnect(server: Server) -> None:
    transport = open_transport("websocket", conn_for(server, key="sk_wrong_000000000"))
    transport.preconnect()
    with pytest.raises(AuthError):
        collect(transport.stream(body()))
    transport.close()


def test_close_abandons_an_unused_preconnection(server: Server) -> None:
    transport = open_transport("websocket", conn_for(server))
    transport.preconnect()
    transport.close()  # before, during or after the handshake: nothing raised, nothing kept open
    wait_until(lambda: not _connect_threads(), message="the connecting thread ends")
    # A new request on the same transport connects afresh.
    audio, _ = collect(transport.stream(body()))
    assert audio == reference(server, TEXT)
    transport.close()


def test_ctrl_c_while_taking_over_the_preconnection_closes_it(
    server: Server, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Ctrl-C while the first request waits for the background connect: the socket is closed once
    opened, even though the request never got it (close() is not needed for that)."""
    from smallest_cli.transports import websocket

    def interrupted(self: websocket._Pending) -> None:
        self._thread.join()
        raise KeyboardInterrupt

    monkeypatch.setattr(websocket._Pending, "result", interrupted)
    transport = open_transport("websocket", conn_for(server))
    transport.preconnect()
    with pytest.raises(KeyboardInterrupt):
        collect(transport.stream(body()))
    wait_until(lambda: _ws_open(server) == 0, message="the abandoned socket to close")


def _ws_open(server: Server) -> int:
    return requests.get(server.url + "/_smallest/requests", timeout=10).json()["counters"]["ws_open"]
