"""error_from_http: every documented error body shape, status mapping, Retry-After, request ids."""

from __future__ import annotations

import json
import time
from types import SimpleNamespace

import pytest

from smallest_cli.errors import (
    EXIT_AUTH,
    EXIT_RATE_LIMIT,
    EXIT_SERVER,
    EXIT_USAGE,
    AuthError,
    ProtocolError,
    RateLimitError,
    ServerError,
    UsageError,
)
from smallest_cli.protocol.http_errors import error_from_http, format_zod_issues, one_line, parse_retry_after
from smallest_cli.transports.base import closed_before_complete

ZOD_VOICE = {"error": [{"code": "custom", "path": ["voice_id"], "message": "Invalid Voice ID"}]}
ZOD_ENUM = {
    "error": [
        {
            "received": "mulaw",
            "code": "invalid_enum_value",
            "options": ["wav", "ulaw", "alaw", "pcm", "mp3"],
            "path": ["output_format"],
            "message": "Invalid enum value. Expected 'wav' | 'ulaw' | 'alaw' | 'pcm' | 'mp3', "
            "received 'mulaw'",
        }
    ]
}


def body(obj: object) -> bytes:
    return json.dumps(obj).encode()


def test_zod_single_issue() -> None:
    err = error_from_http(400, body(ZOD_VOICE), {})
    assert isinstance(err, UsageError) and err.exit_code == EXIT_USAGE
    assert "voice_id: Invalid Voice ID" in str(err)
    assert "(400)" in str(err)


def test_zod_several_issues_joined() -> None:
    both = {"error": ZOD_VOICE["error"] + ZOD_ENUM["error"]}
    text = str(error_from_http(400, body(both), {}))
    assert "voice_id: Invalid Voice ID; output_format: Invalid enum value." in text
    assert "received 'mulaw'" in text


def test_format_zod_nested_path() -> None:
    assert format_zod_issues([{"path": ["a", 0, "b"], "message": "bad"}, {"message": "x"}]) == "a.0.b: bad; x"


@pytest.mark.parametrize(
    "raw",
    [body({"error": "Voice not found"}), body({"message": "Voice not found"}), b"Voice not found\n"],
)
def test_other_shapes(raw: bytes) -> None:
    err = error_from_http(404, raw, {})
    assert isinstance(err, UsageError)
    assert "Voice not found" in str(err) and "404" in str(err)


def test_a_bare_404_names_the_url_asked_for_without_its_query() -> None:
    err = error_from_http(404, b"Not Found", {}, url="wss://h/waves/v1/waves/v1/tts/live?timeout=60")
    assert str(err) == (
        "not found (404): no endpoint at wss://h/waves/v1/waves/v1/tts/live; "
        "check the base URL (scheme, host and port)"
    )


def test_a_404_with_the_servers_own_reason_keeps_it() -> None:
    err = error_from_http(404, body({"error": "Voice not found"}), {}, url="https://h/waves/v1/tts")
    assert str(err) == "not found (404): Voice not found"


@pytest.mark.parametrize("status", [400, 404, 413, 422])
def test_usage_statuses(status: int) -> None:
    assert type(error_from_http(status, b"", {})) is UsageError


def test_401_message() -> None:
    err = error_from_http(401, body({"message": "Unauthorized: invalid or missing API key"}), {})
    assert type(err) is AuthError and err.exit_code == EXIT_AUTH
    assert str(err) == "authentication failed (401): Unauthorized: invalid or missing API key"


@pytest.mark.parametrize(
    ("status", "said", "expected"),
    [
        (401, "Unauthorized", "authentication failed (401): the API key was rejected"),
        (401, "", "authentication failed (401): the API key was rejected"),
        (403, "Forbidden.",
         "access denied (403): the API key lacks permission or the usage limit is reached"),
        (429, "Too Many Requests", "rate limited (429): over the account's concurrency limit"),
        (500, "Internal Server Error", "server error (500): Internal Server Error"),
        (503, "", "server error (503)"),
    ],
)
def test_a_bare_reason_phrase_is_replaced_by_what_the_status_means(
    status: int, said: str, expected: str
) -> None:
    """A reason phrase says no more than the status; where the status has a meaning to give (auth,
    rate limit), that is said instead. A 5xx has none: the server's words stay."""
    assert str(error_from_http(status, body({"message": said}) if said else b"", {})) == expected


def test_403_quotes_the_server() -> None:
    err = error_from_http(403, body({"error": "Usage limit exceeded"}), {})
    assert type(err) is AuthError
    assert str(err) == "access denied (403): Usage limit exceeded"


def test_a_403_message_is_said_once() -> None:
    """The server's "Forbidden: the API key lacks permission ..." once, not after the CLI's own
    explanation of a 403 saying the same."""
    detail = "Forbidden: the API key lacks permission or the usage limit is reached"
    err = error_from_http(403, body({"error": detail}), {})
    assert str(err) == f"access denied (403): {detail}"
    assert str(err).count("lacks permission") == 1


#: One fault each: (status, the server's message, the exception class).
FAULTS = [
    (401, "Unauthorized: invalid or missing API key", AuthError),
    (403, "Forbidden: the API key lacks permission", AuthError),
    (429, "Too many requests: the concurrency limit is reached", RateLimitError),
    (400, "voice_id: Invalid Voice ID", UsageError),
    (422, "speed: Number must be <= 2", UsageError),
    (500, "Internal server error", ServerError),
    (503, "Service unavailable", ServerError),
]


@pytest.mark.parametrize(("status", "said", "cls"), FAULTS)
def test_one_wording_per_fault_whatever_the_transport(status: int, said: str, cls: type) -> None:
    """An HTTP answer (sync, SSE, the WebSocket upgrade), a WebSocket error frame and an SSE error
    event reporting the same fault read the same: `<kind> (<status>): <message> (request id X)`."""
    from smallest_cli.protocol.frames import parse_ws_frame
    from smallest_cli.protocol.sse import SseMessage, sse_events

    http = error_from_http(status, body({"message": said}), {"X-Request-Id": "rid-1"})
    frame = {"status": "error", "error": {"message": said, "code": str(status)}, "request_id": "rid-1"}
    with pytest.raises(cls) as ws:
        parse_ws_frame(json.dumps(frame))
    event = SseMessage(event="error", data=json.dumps({"error": said, "status_code": status}))
    with pytest.raises(cls) as sse:
        sse_events(event, request_id="rid-1")
    assert type(http) is cls
    kind = str(http).split(" (")[0]
    assert str(http) == f"{kind} ({status}): {said} (request id rid-1)"
    assert str(ws.value) == str(sse.value) == str(http)


def test_an_error_frame_without_a_status_code_is_worded_by_its_text_without_one() -> None:
    from smallest_cli.protocol.http_errors import error_from_payload

    err = error_from_payload({"status": "error", "error": {"message": "Rate limit exceeded", "code": "rl"}})
    assert type(err) is RateLimitError and str(err) == "rate limited: Rate limit exceeded"


def test_429_retry_after_seconds() -> None:
    err = error_from_http(429, body({"message": "Too many requests"}), {"retry-after": "3"})
    assert type(err) is RateLimitError and err.exit_code == EXIT_RATE_LIMIT
    assert err.retry_after == 3.0


def test_429_retry_after_http_date() -> None:
    now = 1_700_000_000.0  # 2023-11-14 22:13:20 GMT
    err = error_from_http(429, b"", {"Retry-After": "Tue, 14 Nov 2023 22:13:30 GMT"}, now=now)
    assert err.retry_after == pytest.approx(10.0)


def test_503_retry_after_is_honoured_and_a_500s_is_not() -> None:
    assert error_from_http(503, b"", {"Retry-After": "3"}).retry_after == 3.0
    assert error_from_http(500, b"", {"Retry-After": "3"}).retry_after is None


def test_a_ws_frames_retry_after_may_be_an_http_date() -> None:
    from email.utils import formatdate

    from smallest_cli.protocol.http_errors import error_from_payload

    inner = {"code": "429", "retry_after": formatdate(time.time() + 30, usegmt=True)}
    got = error_from_payload({"status": "error", "message": "x", "error": inner}).retry_after
    assert got is not None and 25 < got <= 30


def test_429_without_retry_after() -> None:
    assert error_from_http(429, b"", {}).retry_after is None


@pytest.mark.parametrize(
    ("value", "expected"),
    [("0", 0.0), ("1.5", 1.5), ("-4", None), ("soon", None), ("", None), (None, None), ("nan", None)],
)
def test_parse_retry_after(value: str | None, expected: float | None) -> None:
    assert parse_retry_after(value, now=0.0) == expected


def test_retry_after_date_in_past_is_zero() -> None:
    assert parse_retry_after("Tue, 14 Nov 2023 22:13:30 GMT", now=2_000_000_000.0) == 0.0


@pytest.mark.parametrize("status", [500, 502, 503, 504])
def test_5xx(status: int) -> None:
    err = error_from_http(status, b"<html><body><h1>502 Bad Gateway</h1></body></html>", {})
    assert type(err) is ServerError and err.exit_code == EXIT_SERVER and err.retryable
    assert str(status) in str(err)
    assert "<" not in str(err)


def test_an_html_page_is_read_by_its_title_or_its_text() -> None:
    nginx = (
        b"<html><head><title>429 Too Many Requests</title></head><body><center><h1>429 Too Many "
        b"Requests</h1></center><hr><center>nginx</center></body></html>"
    )
    assert str(error_from_http(429, nginx, {})) == "rate limited (429): over the account's concurrency limit"
    page = b"<html><h1>502 Bad Gateway</h1><style>p{x:1}</style><p>The upstream &amp; co timed out</p></html>"
    said = "server error (502): 502 Bad Gateway The upstream & co timed out"
    assert str(error_from_http(502, page, {})) == said


def test_other_client_errors_are_not_retried_but_a_timeout_is() -> None:
    err = error_from_http(418, b"teapot", {})
    assert type(err) is UsageError and not err.retryable
    assert str(err) == "request rejected (418): teapot"
    for status in (408, 425, 502, 599):
        later = error_from_http(status, b"", {})
        assert type(later) is ServerError and later.retryable


@pytest.mark.parametrize("status", [301, 302, 307, 308])
def test_a_redirect_is_not_followed_and_says_where_it_points(status: int) -> None:
    err = error_from_http(status, b"", {"location": "http://elsewhere.example/waves/v1/tts"},
                          url="https://api.example/waves/v1/tts")
    assert type(err) is UsageError and not err.retryable
    assert str(err) == (
        f"the server redirects ({status}) to http://elsewhere.example/waves/v1/tts, which is not followed: "
        "if the API has moved, give its new address as the base URL (asked https://api.example/waves/v1/tts)"
    )


def test_request_id_header_case_insensitive() -> None:
    err = error_from_http(500, b"", {"x-request-id": "abc-123"})
    assert err.request_id == "abc-123"
    assert "abc-123" in str(err)


def test_message_is_one_line_and_bounded() -> None:
    err = error_from_http(500, ("line\n" * 500).encode(), {})
    assert "\n" not in str(err)
    assert len(str(err)) < 400


def test_invalid_utf8_body() -> None:
    assert "server error (500)" in str(error_from_http(500, b"\xff\xfe oops", {}))


def test_ws_429_frame_retry_after_inside_error_object() -> None:
    from smallest_cli.errors import RateLimitError
    from smallest_cli.protocol.http_errors import error_from_payload

    frame = {"status": "error", "message": "Too many requests", "error": {"code": "429", "retry_after": 0.25}}
    err = error_from_payload(frame)
    assert isinstance(err, RateLimitError) and err.retry_after == 0.25
    assert error_from_payload({**frame, "retry_after": 2}).retry_after == 2.0
    for bad in (True, "soon", float("nan"), -1, "-1", None, [1]):
        inner = {"code": "429", "retry_after": bad}
        got = error_from_payload({"status": "error", "message": "x", "error": inner}).retry_after
        assert got is None, bad  # the usual backoff, as for the header


def test_a_servers_text_cannot_drive_the_terminal() -> None:
    """Escape sequences, backspaces and bells in an error's text are dropped; whitespace becomes
    single spaces."""
    assert one_line("bad\x1b[2J\x1b]0;owned\x07 key\r\nnow\bx\x9b31m") == "bad[2J]0;owned key nowx31m"
    assert one_line("a \x1b b\x07 ") == "a b"
    err = ProtocolError("the stream broke", request_id="r1\x1b]0;owned\x07\n")
    assert str(err) == "the stream broke (request id r1]0;owned)"
    closed = SimpleNamespace(rcvd=SimpleNamespace(code=1011, reason="bye\x1b[31m\r\nnow"), sent=None)
    assert str(closed_before_complete(closed)).endswith("(code 1011: bye[31m now)")  # type: ignore[arg-type]
