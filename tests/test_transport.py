"""The transports against the real local server, in process: events in order ending with Done,
the WebSocket reused across requests and reopened when the server closed it, errors mapped."""

from __future__ import annotations

import socket
from collections.abc import Iterator

import pytest
import requests

from smallest_cli.errors import AuthError, NetworkError, ProtocolError, UsageError
from smallest_cli.events import AudioChunk, Done, Event
from smallest_cli.options.settings import ConnectionOptions, Secret
from smallest_cli.protocol.request import SynthesisOptions, build_request
from smallest_cli.transports import TRANSPORTS, open_transport
from tests.helpers import Server, running_server, wait_until
from tests.test_cli_support import TEXT, reference


def conn_for(server: Server, key: str | None = None, timeout: float = 10.0) -> ConnectionOptions:
    key = Secret(key or server.api_key)
    return ConnectionOptions(base_url=server.url, api_key=key, timeout=timeout, retries=3)


def body(text: str = TEXT) -> dict[str, object]:
    return build_request(text, SynthesisOptions(voice_id="magnus", sample_rate=24000))


def collect(events: Iterator[Event]) -> tuple[bytes, list[Event]]:
    seen = list(events)
    return b"".join(e.data for e in seen if isinstance(e, AudioChunk)), seen


@pytest.mark.parametrize("name", TRANSPORTS)
def test_stream_yields_the_servers_pcm_then_done(name: str, server: Server) -> None:
    transport = open_transport(name, conn_for(server))
    try:
        for _ in range(2):
            audio, events = collect(transport.stream(body()))
            assert isinstance(events[-1], Done)
            assert sum(isinstance(e, Done) for e in events) == 1
            assert audio == reference(server, TEXT, "pcm")
    finally:
        transport.close()


def _ws_connections(server: Server) -> list[str]:
    snap = requests.get(server.url + "/_smallest/requests", timeout=10).json()
    return [e["connection_id"] for e in snap["requests"] if e["transport"] == "ws"]


def ws_connections_for(server: Server, texts: tuple[str, ...], preconnect: bool = False) -> list[str]:
    """Speak `texts` through one WebSocket transport (preconnected or not), checking each one's
    audio; the connection id of each WebSocket request the server saw."""
    requests.delete(server.url + "/_smallest/requests", timeout=10)
    transport = open_transport("websocket", conn_for(server))
    try:
        if preconnect:
            transport.preconnect()
        for text in texts:
            audio, _ = collect(transport.stream(body(text)))
            assert audio == reference(server, text)
    finally:
        transport.close()
    return _ws_connections(server)


THREE = ("First request.", "Second request.", "Third request.")


def test_websocket_is_reused_while_the_server_keeps_it_open(keep_open_server: Server) -> None:
    ids = ws_connections_for(keep_open_server, THREE)
    assert len(ids) == 3 and len(set(ids)) == 1


def test_websocket_reconnects_when_the_server_closes_after_complete(server: Server) -> None:
    """The reference: the server closes the socket after `complete`; each request gets a new one,
    and from the second on it was opened while the one before it streamed."""
    ids = ws_connections_for(server, THREE)
    assert len(ids) == 3 and len(set(ids)) == 3


def test_a_websocket_the_server_closed_is_let_go(server: Server) -> None:
    """One transport serving many requests (long text, a batch's rows) keeps no closed connection:
    memory stays flat however many requests it makes."""
    import gc
    import weakref

    transport = open_transport("websocket", conn_for(server))
    # This transport's own connections, by weak reference: other tests' in this process do not count.
    made: weakref.WeakSet[object] = weakref.WeakSet()

    def alive() -> int:
        gc.collect()
        return len(made)

    try:
        for i in range(30):
            collect(transport.stream(body(f"Request {i}.")))
            made.add(transport._ws)  # type: ignore[attr-defined]
        # Thirty requests, thirty connections (the server closes each after `complete`): only the
        # last, and at most one whose reading thread has not yet seen the end, are kept.
        wait_until(lambda: alive() <= 2, timeout=10, message="at most 2 connections")
    finally:
        transport.close()


def _stream_watching_connections(
    srv: Server, transport: object, text: str, opened_before_end: int
) -> list[str]:
    """Speak `text`; before its audio ends, wait until the server has seen `opened_before_end`
    WebSocket connections in all (the next request's is opened while this one streams)."""
    events = iter(transport.stream(body(text)))  # type: ignore[attr-defined]
    first = next(events)
    assert isinstance(first, AudioChunk)
    wait_until(lambda: ws_opened(srv) >= opened_before_end, timeout=10, message="the next connection")
    rest = list(events)
    assert isinstance(rest[-1], Done)
    return _ws_connections(srv)


def ws_opened(srv: Server) -> int:
    return requests.get(srv.url + "/_smallest/requests", timeout=10).json()["counters"]["ws_connections"]


@pytest.mark.parametrize("hinted", [True, False], ids=["expect_more", "learned"])
def test_the_next_connection_is_ready_before_it_is_needed(hinted: bool) -> None:
    """With a server that closes after `complete` and takes 300 ms to its first chunk, the next
    request's connection is opened while a request streams: told that more requests follow, from
    the first request on; else once the server was seen closing one."""
    with running_server("--first-chunk-ms", "300") as srv:
        transport = open_transport("websocket", conn_for(srv))
        try:
            if hinted:
                transport.expect_more()
                assert _stream_watching_connections(srv, transport, "One.", 2) == ["ws-1"]
            else:
                assert collect(transport.stream(body("One.")))[0] == reference(srv, "One.")
                assert ws_opened(srv) == 1
            assert _stream_watching_connections(srv, transport, "Two.", 3)[-1] == "ws-2"
            assert _stream_watching_connections(srv, transport, "Three.", 4)[-1] == "ws-3"
        finally:
            transport.close()


@pytest.mark.parametrize("name", TRANSPORTS)
def test_wrong_key_is_an_auth_error(name: str, server: Server) -> None:
    transport = open_transport(name, conn_for(server, key="sk_wrong_000000000"))
    with pytest.raises(AuthError):
        collect(transport.stream(body()))
    transport.close()


@pytest.mark.parametrize("name", TRANSPORTS)
def test_bad_request_is_a_usage_error(name: str, server: Server) -> None:
    transport = open_transport(name, conn_for(server))
    bad = {**body(), "voice_id": "nobody"}
    with pytest.raises(UsageError):
        collect(transport.stream(bad))
    # The transport still works afterwards.
    audio, _ = collect(transport.stream(body()))
    assert audio == reference(server, TEXT)
    transport.close()


@pytest.mark.parametrize("name", TRANSPORTS)
def test_refused_connection_names_the_url(name: str) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    conn = ConnectionOptions(
        base_url=f"http://127.0.0.1:{port}", api_key=Secret("sk_x"), timeout=5, retries=3
    )
    transport = open_transport(name, conn)
    with pytest.raises(NetworkError) as info:
        collect(transport.stream(body()))
    assert f"127.0.0.1:{port}" in str(info.value) and "refused" in str(info.value)


def test_websocket_reconnects_after_the_server_closed_it() -> None:
    from tests.helpers import running_server, wait_until

    with running_server("--idle-timeout", "0.3") as srv:
        transport = open_transport("websocket", conn_for(srv))
        try:
            audio, _ = collect(transport.stream(body("Before the idle timeout.")))
            assert audio == reference(srv, "Before the idle timeout.")

            def ws_open() -> int:
                return requests.get(srv.url + "/_smallest/requests", timeout=10).json()["counters"]["ws_open"]

            wait_until(lambda: ws_open() == 0, message="the server to close the idle socket")
            audio, _ = collect(transport.stream(body("After the idle timeout.")))
            assert audio == reference(srv, "After the idle timeout.")
        finally:
            transport.close()
        assert len(set(_ws_connections(srv))) == 2


@pytest.mark.parametrize("dialled", [False, True], ids=["connected", "dialled early"])
def test_websocket_connections_send_no_pings_and_print_no_library_log(
    dialled: bool, keep_open_server: Server, capfd: pytest.CaptureFixture[str]
) -> None:
    """A request that --concurrency holds back stops reading its socket, so a keepalive pong could
    not arrive and the library would close the connection; and the library's log would print its
    tracebacks on stderr besides the run's one line."""
    from smallest_cli.transports.dial import Dial
    from smallest_cli.transports.websocket import WebSocketTransport

    dial = Dial(keep_open_server.url, timeout=10) if dialled else None
    transport = WebSocketTransport(conn_for(keep_open_server), dial=dial)
    try:
        audio, _ = collect(transport.stream(body()))
        assert audio == reference(keep_open_server, TEXT)
        ws = transport._ws
        assert ws is not None and ws.ping_interval is None and ws.keepalive_thread is None
        ws.logger.error("keepalive ping failed", exc_info=RuntimeError("boom"))
        ws.protocol.logger.error("parser failed")
    finally:
        transport.close()
    assert capfd.readouterr().err == ""


def test_websocket_chunks_that_arrived_together_are_one_event_and_a_drop_keeps_them(
    server: Server,
) -> None:
    """A client that falls behind gets the chunks already received as one event (its sinks and
    display do their per-chunk work once); the audio that arrived before the connection dropped is
    handed on before the error."""
    from websockets.protocol import State

    from tests.test_cli_support import add_fault, clear_faults

    add_fault(server, kind="drop", transport="ws", after_chunks=6, text_contains=TEXT)
    transport = open_transport("websocket", conn_for(server))
    try:
        events = transport.stream(body())
        first = next(events)
        assert isinstance(first, AudioChunk)
        wait_until(lambda: transport._ws is not None and transport._ws.state is State.CLOSED,
                   message="the server to drop the connection")
        rest: list[Event] = []
        with pytest.raises(ProtocolError, match="stream ended before complete"):
            for event in events:
                rest.append(event)
    finally:
        transport.close()
        clear_faults(server)
    # The first event may already hold all six (the drop came before the next read).
    chunks = [first, *rest]
    assert len(rest) <= 1 and all(isinstance(c, AudioChunk) for c in chunks)
    assert sum(c.pieces for c in chunks) == 6
    audio = b"".join(c.data for c in chunks)
    assert len(audio) == 6 * 960 and audio == reference(server, TEXT)[: len(audio)]


def test_a_frame_over_the_clients_limit_is_named_and_not_retried() -> None:
    from websockets.exceptions import ConnectionClosedError
    from websockets.frames import Close

    from smallest_cli.transports.base import closed_before_complete

    err = closed_before_complete(ConnectionClosedError(None, Close(1009, "over size limit")))
    assert str(err) == "the server sent a WebSocket frame over 16 MiB" and not err.retryable
    sent = Close(1009, "over size limit")
    echoed = closed_before_complete(ConnectionClosedError(Close(1009, ""), sent, False))
    assert str(echoed) == str(err)


@pytest.mark.parametrize(
    ("code", "kind"), [(4401, "AuthError"), (4403, "AuthError"), (4429, "RateLimitError")]
)
def test_a_close_code_that_mirrors_a_status_needs_no_reason(code: int, kind: str) -> None:
    from websockets.exceptions import ConnectionClosedError
    from websockets.frames import Close

    from smallest_cli.transports.base import closed_before_complete

    assert type(closed_before_complete(ConnectionClosedError(Close(code, ""), None))).__name__ == kind


@pytest.mark.parametrize(
    ("ctype", "refused"),
    [("text/event-stream", False), ("text/plain", False), ("application/octet-stream", False), ("", False),
     ("application/json", True), ("application/problem+json", True), ("application/vnd.api+json", True),
     ("text/html", True), ("text/xml", True), ("audio/wav", True), ("image/png", True)],
)
def test_sse_refuses_only_what_is_surely_no_event_stream(ctype: str, refused: bool) -> None:
    from smallest_cli.transports.sse import _not_events

    assert _not_events(ctype) is refused
