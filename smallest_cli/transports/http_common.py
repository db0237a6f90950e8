"""What the sync and SSE transports share: a streaming POST and a body reader, with errors mapped.

Imports `requests` at module level: import this module only on the code path that sends requests.
"""

from __future__ import annotations

import http.client
from collections.abc import Iterable, Iterator, Mapping
from typing import TYPE_CHECKING, Any

import requests
import requests.adapters
import urllib3.exceptions
import urllib3.response

from smallest_cli.errors import ProtocolError, SmallestError, UsageError
from smallest_cli.events import Done, Event
from smallest_cli.options.settings import ConnectionOptions
from smallest_cli.protocol import contract
from smallest_cli.protocol.frames import done_with_ids
from smallest_cli.protocol.http_errors import body_message, error_from_http, response_request_id
from smallest_cli.transports.base import exception_chain, stall_error, unreachable_error
from smallest_cli.transports.tls import client_ssl_context

if TYPE_CHECKING:
    from smallest_cli.transports.debuglog import DebugLog
    from smallest_cli.transports.dial import Dial

#: Largest read from the socket at once; smaller reads return as soon as any bytes arrived.
READ_SIZE = 64 * 1024
#: At most this much of an error body is read (error bodies are small JSON).
MAX_ERROR_BODY = 64 * 1024
#: After a stream's terminator, at most this much of the rest of its body is read (see finish_body).
MAX_TRAILING_BODY = 64 * 1024


class _TlsAdapter(requests.adapters.HTTPAdapter):
    """Every https connection, proxied or not, through the client's one TLS context, whose CAs are
    the only ones trusted (see transports.tls)."""

    def build_connection_pool_key_attributes(
        self, request: requests.PreparedRequest, verify: Any, cert: Any = None
    ) -> tuple[dict[str, Any], dict[str, Any]]:
        host_params, pool_kwargs = super().build_connection_pool_key_attributes(request, verify, cert)
        if host_params.get("scheme") == "https":
            pool_kwargs.pop("ca_certs", None)
            pool_kwargs.pop("ca_cert_dir", None)
            pool_kwargs.update(ssl_context=client_ssl_context(), cert_reqs="CERT_REQUIRED")
        return host_params, pool_kwargs

    def cert_verify(self, conn: Any, url: str, verify: Any, cert: Any) -> None:
        # requests would name a bundle (certifi's, or REQUESTS_CA_BUNDLE) that urllib3 then loads
        # again into the context for every connection: the context holds the CAs already.
        conn.cert_reqs = "CERT_REQUIRED"
        conn.ca_certs = None
        conn.ca_cert_dir = None


def new_session() -> requests.Session:
    """A session whose https connections verify certificates with the client's TLS context."""
    session = requests.Session()
    session.mount("https://", _TlsAdapter())
    return session


def _is_timeout(exc: BaseException) -> bool:
    """A stall (connect or read), as opposed to a refused or broken connection."""
    if isinstance(exc, requests.Timeout):
        return True
    for cur in exception_chain(exc):
        if isinstance(cur, urllib3.exceptions.NewConnectionError):
            return False  # a subclass of ConnectTimeoutError, but a refusal
        if isinstance(cur, (TimeoutError, urllib3.exceptions.TimeoutError)):
            return True
    return False


def post_streaming(
    session: requests.Session,
    conn: ConnectionOptions,
    path: str,
    body: dict[str, Any],
    accept: str,
    log: DebugLog | None = None,
) -> requests.Response:
    """POST `body` as JSON; return the open 2xx response (body not read yet) or raise the mapped error."""
    url = conn.base_url.rstrip("/") + path
    # No compression: audio barely shrinks, and compressed events would wait in the compressor.
    headers = {**conn.auth_headers(), "Accept": accept, "Accept-Encoding": "identity"}
    headers["Content-Type"] = "application/json"
    if log is not None:
        log.request("POST", url, conn.api_key, body)
    try:
        # Never followed: a redirect would resend the text without the key (a 401 that blames the
        # key), or to another host, or over http; the user is told where it points instead.
        resp = session.post(
            url, json=body, headers=headers, stream=True, timeout=(conn.timeout, conn.timeout),
            allow_redirects=False,
        )
    except requests.exceptions.InvalidURL as exc:
        raise SmallestError(f"invalid server URL {url}: {exc}") from None
    except requests.RequestException as exc:
        if _is_timeout(exc):
            raise stall_error(conn.timeout, url) from None
        raise unreachable_error(url, exc) from None
    if log is not None:
        log.response(resp.status_code, resp.headers)
    if resp.status_code >= 300:
        raise error_for_response(resp, conn.timeout)
    resp.raw.decode_content = body_is_encoded(resp)
    return resp


def body_is_encoded(resp: requests.Response) -> bool:
    """Whether the body comes compressed although the request asked for none (a proxy may do it):
    urllib3 decodes it then, and an encoding it cannot decode is an error, never audio."""
    codings = [c.strip().lower() for c in resp.headers.get("Content-Encoding", "").split(",")]
    codings = [c for c in codings if c and c != "identity"]
    unknown = [c for c in codings if c not in urllib3.response.HTTPResponse.CONTENT_DECODERS]
    if unknown:
        resp.close()
        raise ProtocolError(
            f"the server compressed its response with {', '.join(unknown)}, which cannot be decoded here",
            request_id=response_request_id(resp.headers),
            retryable=False,  # the same request gets the same encoding
        )
    return bool(codings)


class HttpTransport:
    """The part of the sync and SSE transports that is the same: one pooled session (so every
    segment reuses the connection), a streaming POST, and closing the session."""

    name = "http"

    def __init__(
        self, conn: ConnectionOptions, log: DebugLog | None = None, dial: Dial | None = None
    ) -> None:
        self._conn = conn
        self._log = log
        self._session = new_session()
        self._dial = dial
        if dial is not None:
            adopt_dial(self._session, conn.base_url, dial)

    def _post(self, path: str, body: dict[str, Any], accept: str) -> requests.Response:
        return post_streaming(self._session, self._conn, path, body, accept=accept, log=self._log)

    def preconnect(self, live: bool = False) -> None:
        """Nothing to do before the first request: the session connects then."""

    def expect_more(self) -> None:
        """Nothing to do: the session keeps its connection alive between requests."""

    def stream_live(self, messages: Iterable[dict[str, Any]]) -> Iterator[Event]:
        raise UsageError("live input needs the WebSocket endpoint: use `smallest stream-ws --live`")

    def close(self) -> None:
        self._session.close()
        if self._dial is not None:
            self._dial.close()


def adopt_dial(session: requests.Session, base_url: str, dial: Dial) -> None:
    """Make the session's first connection to `base_url`'s host the socket `dial` opened early
    (TCP, and TLS verified with the same context, see transports/tls.py); later connections, and
    all of them when the dial failed, are made by urllib3 as usual. urllib3 builds its connections
    from the pool class's `ConnectionCls`, and a connection whose `connect()` leaves `sock` set is
    open (tests/test_dial.py fails if that stops being so)."""
    scheme = "https" if base_url.startswith("https:") else "http"
    manager = session.get_adapter(base_url).poolmanager
    base_pool = manager.pool_classes_by_scheme[scheme]

    class DialledConnection(base_pool.ConnectionCls):  # type: ignore[misc,name-defined]
        def connect(self) -> None:
            host = f"[{self.host}]" if ":" in self.host else self.host  # urllib3 unbrackets IPv6
            sock = dial.take(f"{scheme}://{host}:{self.port}")
            if sock is None:
                super().connect()
                return
            self.sock = sock
            if scheme == "https":
                self.is_verified = True  # by the dial, with hostname checking

    pool = type("DialledPool", (base_pool,), {"ConnectionCls": DialledConnection})
    manager.pool_classes_by_scheme = {**manager.pool_classes_by_scheme, scheme: pool}


def content_type(resp: requests.Response) -> str:
    """The response's media type, lower case, without parameters ("" when none is given)."""
    return resp.headers.get("Content-Type", "").split(";")[0].strip().lower()


def wrong_content_type(resp: requests.Response, wanted: str) -> ProtocolError:
    """A 2xx answer that is not what was asked for (a gateway's JSON or HTML page): named, with
    what its body says when it says anything; the response is closed."""
    ctype = content_type(resp)
    said = body_message(_error_body(resp))
    detail = f": {said}" if said else ""
    request_id = response_request_id(resp.headers)
    return ProtocolError(f"malformed response: {ctype} instead of {wanted}{detail}", request_id=request_id)


def error_for_response(resp: requests.Response, timeout: float) -> SmallestError:
    """The mapped error for a non-2xx response (its body read, at most MAX_ERROR_BODY bytes)."""
    return error_from_http(resp.status_code, _error_body(resp), resp.headers, url=resp.url)


def _error_body(resp: requests.Response) -> bytes:
    """The start of a body that is no audio (at most MAX_ERROR_BODY bytes); the response closed."""
    try:
        return resp.raw.read(MAX_ERROR_BODY, decode_content=True) or b""
    except (urllib3.exceptions.HTTPError, OSError):
        return b""
    finally:
        resp.close()


def iter_body(resp: requests.Response, timeout: float) -> Iterator[bytes]:
    """The response body as it arrives (each piece returned as soon as the socket has bytes).

    A stall longer than `timeout` raises NetworkError; a dropped connection raises ProtocolError
    (truncated). The caller decides whether a clean end of body was complete.
    """
    request_id = response_request_id(resp.headers)
    raw = resp.raw
    try:
        while True:
            try:
                data = raw.read1(READ_SIZE)
            except (urllib3.exceptions.HTTPError, requests.RequestException, OSError) as exc:
                if _is_timeout(exc):
                    err = stall_error(timeout)
                    err.request_id = request_id
                    raise err from None
                raise ProtocolError(
                    f"the connection broke mid-response (truncated): {_short(exc)}", request_id=request_id
                ) from None
            if not data:
                return
            yield data
    finally:
        resp.close()


def finish_body(resp: requests.Response) -> None:
    """Read what is left of a body whose content already ended (the chunked terminator after SSE's
    `done`), at most MAX_TRAILING_BODY bytes, then close: a body read to its end returns the
    connection to the pool for the next request; one closed early makes urllib3 discard it (a new
    TCP and TLS handshake per request). Errors here are ignored: the content was complete."""
    left = MAX_TRAILING_BODY
    try:
        while left > 0:
            data = resp.raw.read1(min(READ_SIZE, left))
            if not data:
                break
            left -= len(data)
    except (urllib3.exceptions.HTTPError, requests.RequestException, OSError):
        pass
    finally:
        resp.close()


def _short(exc: BaseException) -> str:
    """The reason for a broken body, in words (not urllib3's nested reprs)."""
    for cur in exception_chain(exc):
        if isinstance(cur, urllib3.exceptions.IncompleteRead) and isinstance(cur.expected, int):
            return f"the server closed the connection {cur.expected} bytes short of its Content-Length"
        if isinstance(cur, http.client.IncompleteRead):
            return "the server closed the connection in the middle of the body"
        if isinstance(cur, ConnectionResetError):
            return "the connection was reset"
    return " ".join(str(exc).split())[:160] or type(exc).__name__


def done_from_headers(headers: Mapping[str, str], request_id: str | None) -> Done:
    """The end of an HTTP request, with the ids its response headers carry."""
    ids = {name: headers.get(header) for name, header in contract.ID_HEADERS.items()}
    return done_with_ids(ids, request_id or response_request_id(headers))
