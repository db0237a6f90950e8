"""The WebSocket endpoint (`/waves/v1/tts/live`): one JSON message per request, JSON frames back.

The API reference says the server closes the socket after `complete`; an older page says it may be
reused. Both are handled: an open socket is reused, a closed one replaced. `preconnect()` opens the
first connection in a background thread while the command finishes setting up; and once the server
is seen closing after `complete` (or `expect_more()` says more requests follow), each request opens
the next request's connection in the background while its own audio streams, so that long text has
no handshake between segments. Imports `websockets` at module level.
"""

from __future__ import annotations

import json
import logging
import os
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import ExitStack
from typing import TYPE_CHECKING, Any

from websockets.client import ClientProtocol
from websockets.exceptions import (
    ConnectionClosed,
    InvalidHandshake,
    InvalidMessage,
    InvalidStatus,
    InvalidURI,
)
from websockets.protocol import State
from websockets.sync.client import ClientConnection, connect
from websockets.uri import parse_uri

from smallest_cli.errors import NetworkError, ProtocolError, SmallestError, UsageError
from smallest_cli.events import AudioChunk, Done, Event
from smallest_cli.options.settings import ConnectionOptions
from smallest_cli.protocol import contract
from smallest_cli.protocol.frames import parse_ws_frame, with_request_id
from smallest_cli.protocol.http_errors import error_from_http
from smallest_cli.protocol.request import websocket_message
from smallest_cli.protocol.upgrade import USER_AGENT, Upgrade, upgrade_request
from smallest_cli.transports.base import (
    MAX_FRAME_BYTES,
    closed_before_complete,
    stall_error,
    unreachable_error,
)
from smallest_cli.transports.dial import open_socket, proxied
from smallest_cli.transports.tls import client_ssl_context

if TYPE_CHECKING:
    import socket

    from smallest_cli.transports.debuglog import DebugLog
    from smallest_cli.transports.dial import Dial

#: Longest wait for the server's close frame after a failed or interrupted request.
BROKEN_CLOSE_TIMEOUT_S = 0.2
#: The library's logger for every connection, silent: it would print a traceback on stderr for a
#: failure that the run reports once, as one line. (Connections also send no keepalive pings: a
#: request held back, by `--concurrency` or by speakers slower than the server, stops reading its
#: socket on purpose, so the pong could not arrive; a connection the run waits on has its own
#: stall timeout.)
_SILENT_LOGGER = logging.Logger("smallest.websockets")
_SILENT_LOGGER.disabled = True


class _StaleConnection(Exception):
    """A reused (or preconnected) socket turned out to be closed before this request got any
    frame: reconnect."""


class WebSocketTransport:
    name = "websocket"

    def __init__(
        self, conn: ConnectionOptions, log: DebugLog | None = None, dial: Dial | None = None
    ) -> None:
        self._conn = conn
        self._log = log
        #: TCP and TLS to the server, started by the command before this module was imported.
        self._dial = dial
        self._url = contract.live_url(conn.base_url)
        #: Live input may pause longer than the server's idle timeout (60 s): ask for a long one.
        self._live_url = f"{self._url}?timeout={contract.LIVE_IDLE_TIMEOUT_S}"
        self._ws: ClientConnection | None = None
        #: Holds the open connection's context (websockets wants connect() used as a context manager).
        self._stack = ExitStack()
        #: The first connection, being opened in the background (`preconnect`).
        self._pending: _Pending | None = None
        #: The pending connection is for a live session (opened with its idle timeout).
        self._pending_live = False
        #: Open the next request's connection while a request streams (see the module docstring).
        self._spare = False

    def expect_more(self) -> None:
        """More requests will follow this one: keep the next connection ready while one streams."""
        self._spare = True

    def preconnect(self, live: bool = False) -> None:
        """Start opening the connection now, in a background thread, so that the TCP and WebSocket
        handshakes overlap the caller's remaining set-up (outputs, display). The first request
        (`stream_live` when `live`) takes the connection over, or raises the error its opening
        raised, as if it had connected itself; `close()` abandons it. A connection opened for a
        live session also serves a plain first request (it only has a longer idle timeout)."""
        if self._pending is None and self._ws is None:
            self._open_in_background(live)

    def _open_in_background(self, live: bool) -> None:
        url = self._live_url if live else self._url
        self._pending = _Pending(lambda stack, abandoned: self._open(stack, url, abandoned))
        self._pending_live = live

    def stream(self, body: dict[str, Any]) -> Iterator[Event]:
        payload = json.dumps(websocket_message(body))
        try:
            reused = self._is_open()
            if not reused:
                # The server closed the last request's socket: it does so after `complete`.
                self._spare = self._spare or self._ws is not None
                # Let go of it: a transport may serve thousands of requests (a batch's rows).
                self._drop()
                # A connection opened in the background may have waited past the server's idle
                # timeout: like a reused one, it may be closed before this request gets a frame.
                reused = self._pending is not None
                self._ws = self._connect(live=False)
            try:
                yield from self._exchange(payload, reused=reused)
            except _StaleConnection:
                self._spare = True
                self._drop()
                self._ws = self._connect(live=False)
                yield from self._exchange(payload, reused=False)
        except BaseException:
            # Mid-request failure or an abandoned generator: the socket's state is unknown.
            self._drop(broken=True)
            raise

    def stream_live(self, messages: Iterable[dict[str, Any]]) -> Iterator[Event]:
        """One request whose text arrives over time (`continue`/`flush` messages, produced lazily);
        on a fresh connection, since the messages cannot be sent twice. See `ws_live`. When the
        server ends the request before the input ends, the rest goes on a new connection."""
        from smallest_cli.transports.ws_live import exchange_live

        rest: Iterable[dict[str, Any]] | None = messages
        try:
            while rest is not None:
                self._drop()
                self._ws = self._connect(live=True)
                rest = yield from exchange_live(self._ws, rest, self._conn.timeout, log=self._log)
        except BaseException:
            self._drop(broken=True)
            raise

    def close(self) -> None:
        pending, self._pending = self._pending, None
        if pending is not None:
            pending.abandon()
        self._drop()
        if self._dial is not None:
            self._dial.close()

    def _is_open(self) -> bool:
        return self._ws is not None and self._ws.protocol.state is State.OPEN

    def _drop(self, broken: bool = False) -> None:
        """Close the socket. A `broken` request (error, Ctrl-C) does not wait long for the server's
        side of the closing handshake: a server busy streaming may never answer it."""
        if broken and self._ws is not None:
            self._ws.close_timeout = BROKEN_CLOSE_TIMEOUT_S
        self._ws = None
        stack, self._stack = self._stack, ExitStack()
        try:
            stack.close()
        except Exception:  # noqa: BLE001 - closing a broken socket may fail in many ways
            pass

    def _connect(self, live: bool) -> ClientConnection:
        """The preconnected socket when it can serve this kind of session, else a new one."""
        pending = self._pending
        if pending is not None and (self._pending_live or not live):
            try:
                ws, stack = pending.result()
            except BaseException:
                # Its error, or Ctrl-C while waiting for it: closed once the opening is done.
                self._pending = None
                pending.abandon()
                raise
            self._pending = None
            self._stack.enter_context(stack)
            return ws
        self._pending = None
        if pending is not None:
            pending.abandon()
        return self._open(self._stack, self._live_url if live else self._url)

    def _open(self, stack: ExitStack, url: str, abandoned: threading.Event | None = None) -> ClientConnection:
        """Connect to `url`, with the connection's context entered on `stack`; errors as SmallestError.
        A background preconnect passes its `abandoned` event: once set, nothing more is logged."""
        timeout = self._conn.timeout

        def debug_log() -> DebugLog | None:
            return None if abandoned is not None and abandoned.is_set() else self._log

        log = debug_log()
        if log is not None:
            log.request("GET", url, self._conn.api_key)
        try:
            ws = stack.enter_context(self._connection(url))
        except InvalidStatus as exc:
            resp = exc.response
            log = debug_log()
            if log is not None:
                log.response(resp.status_code, resp.headers)
            raise error_from_http(resp.status_code, resp.body or b"", resp.headers, url=url) from None
        except InvalidURI as exc:
            raise UsageError(f"invalid server URL {self._url}: {exc}") from None
        except TimeoutError:
            raise stall_error(timeout, self._url) from None
        except InvalidHandshake as exc:
            raise ProtocolError(f"WebSocket handshake with {self._url} failed: {exc}") from None
        except OSError as exc:
            raise unreachable_error(self._url, exc) from None
        log = debug_log()
        if log is not None and ws.response is not None:
            log.response(ws.response.status_code, ws.response.headers)
        return ws

    def _connection(self, url: str) -> ClientConnection:
        """A connection to `url`: over the dialled socket when there is one, else a new one. The
        upgrade is written before websockets starts reading the socket (see `_upgraded`). As
        over the dialled socket, a redirect is not followed: the reference names none."""
        upgrade = None if proxied(os.environ) else upgrade_request(url, self._conn.auth_headers())
        if upgrade is None:
            return self._connect_new(url)
        # The dialled socket gets an upgrade of its own: each connection has its own key (RFC 6455).
        dialled = self._dialled(url)
        if dialled is not None:
            return dialled
        deadline = time.monotonic() + self._conn.timeout
        parts = parse_uri(url)
        sock = open_socket(parts.secure, parts.host, parts.port, self._conn.timeout)
        return self._upgraded(sock, upgrade, max(0.0, deadline - time.monotonic()), written=False)

    def _connect_new(self, url: str) -> ClientConnection:
        """websockets' own connect: through a proxy (looked up only when one is configured: else
        it would load urllib.request, see startup.defer_urllib_request), or for a URL that
        websockets encodes its own way (user info, not ASCII)."""
        timeout = self._conn.timeout
        return connect(
            url,
            ssl=client_ssl_context() if url.startswith("wss:") else None,
            additional_headers=self._conn.auth_headers(),
            user_agent_header=USER_AGENT,
            open_timeout=timeout,
            close_timeout=_close_timeout(timeout),
            max_size=MAX_FRAME_BYTES,
            compression=None,
            ping_interval=None,
            logger=_SILENT_LOGGER,
            proxy=True if proxied(os.environ) else None,
        )

    def _dialled(self, url: str) -> ClientConnection | None:
        """The connection over the socket the command dialled early, with its early upgrade or
        else one written now; None when there is none for `url`, or it went stale while it waited
        (then the caller connects anew)."""
        dial = self._dial
        sock = dial.take(url) if dial is not None else None
        if sock is None:
            return None
        assert dial is not None
        sent = dial.upgraded(url)
        upgrade = sent or upgrade_request(url, self._conn.auth_headers())
        assert upgrade is not None
        try:
            return self._upgraded(sock, upgrade, self._conn.timeout, written=sent is not None)
        except TimeoutError:
            raise  # a stall, not a stale socket: reported as such, not waited for twice
        except (OSError, ConnectionClosed, InvalidMessage):  # `_upgraded` closed the socket
            return None

    def _upgraded(
        self, sock: socket.socket, upgrade: Upgrade, timeout: float, *, written: bool
    ) -> ClientConnection:
        """websockets' connection over `sock`, once `upgrade` is on it (`written` already, by the
        dial, or written here first): it reads the answer within `timeout` and checks it, as its
        own handshake would. websockets reads in a thread of its own from the start; an upgrade
        written after that could cross a read on a TLS socket, which OpenSSL does not allow (such
        a race left upgrades unanswered). `sock` is closed when this fails."""
        try:
            if not written:
                sock.sendall(upgrade.request)
            protocol = ClientProtocol(parse_uri(upgrade.url), max_size=MAX_FRAME_BYTES, logger=_SILENT_LOGGER)
            protocol.key = upgrade.key
            ws = ClientConnection(
                sock, protocol, close_timeout=_close_timeout(self._conn.timeout), ping_interval=None
            )
        except BaseException:
            sock.close()
            raise
        try:
            if not ws.response_rcvd.wait(timeout):
                raise TimeoutError("timed out while waiting for the upgrade's answer")
            if protocol.handshake_exc is not None:
                raise protocol.handshake_exc
        except BaseException:
            ws.close_socket()
            ws.recv_events_thread.join()
            raise
        return ws

    def _exchange(self, payload: str, *, reused: bool) -> Iterator[Event]:
        ws = self._ws
        assert ws is not None
        if self._log is not None:
            self._log.sent(payload)
        try:
            ws.send(payload)
        except ConnectionClosed:
            if reused:
                raise _StaleConnection from None
            raise NetworkError(f"the server closed the connection to {self._url}") from None
        if self._spare and self._pending is None:
            self._open_in_background(live=False)
        audio = _AudioRun()
        try:
            yield from self._receive(ws, audio, reused=reused)
        except SmallestError:
            if audio.pieces:  # what arrived before the failure is not lost
                yield audio.take()
            raise

    def _receive(self, ws: ClientConnection, audio: _AudioRun, *, reused: bool) -> Iterator[Event]:
        """The request's events until its Done; chunk frames are held in `audio` while more have
        already arrived, and handed on together once none is waiting."""
        log = self._log
        timeout = self._conn.timeout
        got_frame = False
        #: The last frame that parsed, kept to name the request id in an error (read only then).
        last_good: str | bytes | None = None
        # Only frames the request understands put the stall off (a server sending heartbeats of
        # its own, and nothing else, must still time out); the wait after one is counted from when
        # the consumer, who may block (a full player), asks for more.
        deadline = time.monotonic() + timeout
        progressed = False
        while True:
            if progressed:
                deadline = time.monotonic() + timeout
                progressed = False
            try:
                frame = ws.recv(timeout=0 if audio.pieces else max(0.0, deadline - time.monotonic()))
            except TimeoutError:
                if audio.pieces:
                    yield audio.take()
                    continue
                raise with_request_id(stall_error(timeout), last_good) from None
            except ConnectionClosed as exc:
                # An idle socket the server let go of; a close that says why (1008, 4401) is an
                # answer to this request, and sending it again on a new socket would only repeat it.
                if reused and not got_frame and (exc.rcvd is None or exc.rcvd.code in (1000, 1001)):
                    raise _StaleConnection from None
                raise with_request_id(closed_before_complete(exc), last_good) from None
            if log is not None:
                log.received(frame)
            try:
                event = parse_ws_frame(frame)
            except NetworkError as err:
                # The idle-timeout notice of a reused socket, read before our request's frames.
                if reused and not got_frame:
                    raise _StaleConnection from None
                raise with_request_id(err, last_good) from None
            except SmallestError as err:
                raise with_request_id(err, last_good) from None
            got_frame = True
            last_good = frame
            progressed = event is not None
            if type(event) is AudioChunk:
                if audio.full:
                    yield audio.take()
                audio.hold(event.data)
                continue
            if audio.pieces:
                yield audio.take()
            if event is not None:
                yield event
                if isinstance(event, Done):
                    return


def _close_timeout(timeout: float) -> float:
    """How long a closing handshake may take: short, whatever the stall timeout."""
    return min(timeout, 2.0)


class _AudioRun:
    """Chunks' audio that had all arrived when the first was read, held to be handed on as one
    AudioChunk: a client that falls behind the server then does its per-chunk work (sinks, display,
    writes) once per run of chunks. A run is `full` from `MAX_BYTES` on, so memory stays flat."""

    __slots__ = ("data", "pieces")
    MAX_BYTES = 64 * 1024

    def __init__(self) -> None:
        self.data = bytearray()
        self.pieces = 0

    @property
    def full(self) -> bool:
        return len(self.data) >= self.MAX_BYTES

    def hold(self, data: bytes) -> None:
        self.data += data
        self.pieces += 1

    def take(self) -> AudioChunk:
        chunk = AudioChunk(bytes(self.data), self.pieces)
        self.data.clear()
        self.pieces = 0
        return chunk


class _Pending:
    """A connection opened by a background thread. `result()` waits for it (or raises its error);
    `abandon()` closes it without waiting: now when it is open, else when the thread is done."""

    def __init__(self, open_: Callable[[ExitStack, threading.Event], ClientConnection]) -> None:
        self._open = open_
        self._stack = ExitStack()
        self._ws: ClientConnection | None = None
        self._error: BaseException | None = None
        self._lock = threading.Lock()
        self._finished = False
        self._abandoned = threading.Event()
        self._thread = threading.Thread(target=self._run, name="smallest-ws-connect", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        try:
            self._ws = self._open(self._stack, self._abandoned)
        except BaseException as exc:  # noqa: BLE001 - handed to the thread that asks for the result
            self._error = exc
        with self._lock:
            self._finished = True
            abandoned = self._abandoned.is_set()
        if abandoned:
            self._close()

    def result(self) -> tuple[ClientConnection, ExitStack]:
        self._thread.join()
        if self._error is not None:
            raise self._error
        assert self._ws is not None
        return self._ws, self._stack

    def abandon(self) -> None:
        with self._lock:
            self._abandoned.set()
            finished = self._finished
        if finished:
            self._close()

    def _close(self) -> None:
        if self._ws is not None:
            self._ws.close_timeout = BROKEN_CLOSE_TIMEOUT_S
        try:
            self._stack.close()
        except Exception:  # noqa: BLE001 - closing an unused socket may fail in many ways
            pass
