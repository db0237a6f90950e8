"""The interface every transport implements, and error wording shared by all of them."""

from __future__ import annotations

import socket
from collections.abc import Iterable, Iterator
from typing import TYPE_CHECKING, Any, Protocol

from smallest_cli.errors import NetworkError, ProtocolError, ServerError, SmallestError, flat_text
from smallest_cli.events import Event

if TYPE_CHECKING:
    from websockets.exceptions import ConnectionClosed


class Transport(Protocol):
    """Sends one TTS request per `stream()` call and yields its events in order, ending with Done.

    Raises a SmallestError (usually from errors.py via the protocol parsers) on any failure; a stream
    that ends before its terminator raises ProtocolError ("... (truncated)").
    """

    #: Short name for displays and stats: "http", "sse" or "websocket".
    name: str

    def stream(self, body: dict[str, Any]) -> Iterator[Event]: ...

    def preconnect(self, live: bool = False) -> None:
        """Start connecting now, in the background, for the first request (for a live session when
        `live`); transports that gain nothing from it do nothing."""

    def stream_live(self, messages: Iterable[dict[str, Any]]) -> Iterator[Event]:
        """One request whose text arrives over time (`protocol.live`); only the WebSocket has it."""

    def expect_more(self) -> None:
        """More requests will follow: get the next one's connection ready while one streams."""

    def close(self) -> None: ...


def stall_error(timeout: float, url: str | None = None) -> NetworkError:
    """No connection, byte or frame within `timeout` seconds."""
    where = f" ({url})" if url else ""
    return NetworkError(f"no data from the server for {timeout:g} s{where}")


def exception_chain(exc: BaseException) -> Iterator[BaseException]:
    """The exception, its causes/contexts and any exceptions in its args, depth first, once each."""
    seen: set[int] = set()
    todo: list[BaseException] = [exc]
    while todo:
        cur = todo.pop()
        if id(cur) in seen:
            continue
        seen.add(id(cur))
        yield cur
        for nxt in (cur.__cause__, cur.__context__, *getattr(cur, "args", ())):
            if isinstance(nxt, BaseException):
                todo.append(nxt)
        reason = getattr(cur, "reason", None)
        if isinstance(reason, BaseException):
            todo.append(reason)


#: OpenSSL's verify codes for a certificate whose issuer is not trusted, which a private CA (or a
#: proxy's) named in the environment would fix: UNABLE_TO_GET_ISSUER_CERT, DEPTH_ZERO_SELF_SIGNED_CERT,
#: SELF_SIGNED_CERT_IN_CHAIN, UNABLE_TO_GET_ISSUER_CERT_LOCALLY, UNABLE_TO_VERIFY_LEAF_SIGNATURE.
_UNKNOWN_ISSUER_CODES = frozenset({2, 18, 19, 20, 21})


def _certificate_failure(exc: BaseException) -> str | None:
    """The reason a server's certificate was not accepted, when that is why `exc` happened."""
    import ssl  # on the error path only: an http:// run need not import it

    for cur in exception_chain(exc):
        if isinstance(cur, ssl.SSLCertVerificationError):
            reason = f"TLS certificate verify failed: {cur.verify_message}"
            if cur.verify_code in _UNKNOWN_ISSUER_CODES:
                reason += " (to trust a private CA, point SSL_CERT_FILE at its PEM file)"
            return reason
    return None


def describe_connect_failure(exc: BaseException) -> str:
    """A short reason for a failed connection: "connection refused", "host not found", ..."""
    for cur in exception_chain(exc):
        if isinstance(cur, ConnectionRefusedError):
            return "connection refused"
        if isinstance(cur, socket.gaierror):
            return "host not found"
    for cur in exception_chain(exc):
        if isinstance(cur, ConnectionResetError):
            return "connection reset"
        if isinstance(cur, OSError) and cur.strerror:
            return cur.strerror[0].lower() + cur.strerror[1:]
    text = str(exc).strip() or type(exc).__name__
    return " ".join(text.split())[:200]


def unreachable_error(url: str, exc: BaseException) -> SmallestError:
    """The error for a connection that failed; a certificate that is not accepted fails the same way
    every time, so that one is not retried, nor is an answer that is not HTTP (a wrong port)."""
    import http.client

    for cur in exception_chain(exc):
        if isinstance(cur, http.client.BadStatusLine) and not isinstance(cur, http.client.RemoteDisconnected):
            line = flat_text(str(cur.args[0]) if cur.args else "")[:80]
            return ProtocolError(f"{url} did not answer in HTTP (its first line: {line!r})", retryable=False)
    certificate = _certificate_failure(exc)
    why = certificate or describe_connect_failure(exc)
    return NetworkError(f"cannot reach {url}: {why}", retryable=certificate is None)


#: Largest WebSocket frame accepted from the server (a chunk frame is a few KB of base64).
MAX_FRAME_BYTES = 16 * 1024 * 1024
#: Close codes that give a reason for the refusal: 1008 (policy violation) and the 4000s that
#: mirror an HTTP status (4401, 4403, 4429).
_REFUSALS = range(4400, 4500)


def closed_before_complete(exc: ConnectionClosed) -> SmallestError:
    """A WebSocket closed before its request's `complete`: the audio received is truncated, unless
    the close says why the request was refused (an auth failure is not retried), or the client
    closed it on a frame over its size limit."""
    sent, rcvd = exc.sent, exc.rcvd
    if sent is not None and sent.code == 1009:  # the client's own close: "message too big"
        mib = MAX_FRAME_BYTES // (1024 * 1024)
        return ProtocolError(f"the server sent a WebSocket frame over {mib} MiB", retryable=False)
    if rcvd is None:
        why = "no close frame"
    else:
        reason = flat_text(rcvd.reason)  # the server's
        why = f"code {rcvd.code}" + (f": {reason}" if reason else "")
        if rcvd.code in _REFUSALS or (reason and rcvd.code == 1008):
            from smallest_cli.protocol.http_errors import error_for_message

            code = str(rcvd.code - 4000) if rcvd.code in _REFUSALS else None
            refused = error_for_message(reason, code=code)
            if not isinstance(refused, ServerError):
                return refused
    return ProtocolError(
        f"stream ended before complete (truncated): the server closed the connection ({why})"
    )
