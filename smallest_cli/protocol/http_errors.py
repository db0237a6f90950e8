"""Turning server failures into the CLI's exception hierarchy (pure: no I/O).

Two entry points:

* `error_from_http(status, body, headers)` for a non-2xx HTTP answer (sync, SSE, get_voices, the
  WebSocket upgrade).
* `error_from_payload(obj)` for an error object inside a stream (a WebSocket `error` frame or an SSE
  event carrying `error`/`status: "error"`), by its status when its code is one, else classified by
  its code and message text.

Both word a fault the same way (`error_for_status`): `rate limited (429): <the server's message>`,
then ` (request id X)` when the server gave one. Every message is one line and quotes what the
server said, so the user sees the server's reason.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Mapping
from typing import Any

from smallest_cli.errors import (
    AuthError,
    NetworkError,
    RateLimitError,
    ServerError,
    SmallestError,
    UsageError,
    flat_text,
)
from smallest_cli.protocol import contract

#: Longest server text quoted in a message.
MAX_DETAIL_CHARS = 300

_USAGE_STATUSES = frozenset({400, 404, 405, 409, 413, 414, 415, 422})
#: Client errors that say "later" rather than "never": retried as server faults are.
_RETRYABLE_4XX = frozenset({408, 425})

# Patterns for classifying error text, compiled (and cached by `re`) when an error is first
# classified: this module is imported before every first request, which usually succeeds.
_RATE_RE = r"(?i)rate[ _-]?limit|concurren|too[ _-]?many|\b429\b"
_AUTH_RE = (
    r"(?i)\b40[13]\b|unauthori[sz]ed|forbidden|authenticat|api[ _-]?key|permission|usage[ _-]?limit|"
    r"\bauth\b|credential"
)
_DENIED_RE = r"(?i)\b403\b|forbidden|permission|usage[ _-]?limit"
_IDLE_RE = r"(?i)timed?[ _-]?out\b.*\binactiv|\bidle\b"
_USAGE_RE = (
    r"(?i)\b4(?:00|04|13|22)\b|invalid|validation|bad[ _-]?request|unprocessable|not[ _-]?found|"
    r"unsupported|too[ _-]?long|\brequired\b|\bexpected\b|must be|unknown (?:voice|model|field|language)"
)


def one_line(text: str, limit: int = MAX_DETAIL_CHARS) -> str:
    """`flat_text` (one line, no control characters) cut to `limit` characters (with an ellipsis)."""
    flat = flat_text(text)
    if len(flat) > limit:
        flat = flat[: limit - 1].rstrip() + "…"
    return flat


def header(headers: Mapping[str, str], name: str) -> str | None:
    """Case-insensitive header lookup on any mapping."""
    value = headers.get(name)
    if value is not None:
        return value
    lowered = name.lower()
    for key, val in headers.items():
        if key.lower() == lowered:
            return val
    return None


def response_request_id(headers: Mapping[str, str]) -> str | None:
    """The request id a response's headers carry, or None."""
    return header(headers, contract.REQUEST_ID_HEADER) or None


def parse_retry_after(value: str | None, now: float | None = None) -> float | None:
    """`Retry-After` as seconds to wait: delta-seconds or an HTTP date (relative to `now`, epoch s).

    Returns None when absent, unparseable or negative (then the usual backoff applies); a date in
    the past is 0.
    """
    if value is None:
        return None
    text = value.strip()
    if not text:
        return None
    try:
        seconds = float(text)
    except ValueError:
        pass
    else:
        if seconds != seconds or seconds in (float("inf"), float("-inf")) or seconds < 0:
            return None
        return seconds
    # Here, not at the top: email.utils (with datetime, calendar, locale) would otherwise load
    # between the SYN and the WebSocket upgrade of every run, for a header that is rarely a date.
    import datetime
    import email.utils

    try:
        when = email.utils.parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError, OverflowError):
        return None
    if when is None:
        return None
    if when.tzinfo is None:
        # RFC 9110 dates are GMT; parsedate_to_datetime leaves "-0000" naive.
        when = when.replace(tzinfo=datetime.timezone.utc)
    reference = time.time() if now is None else now
    return max(0.0, when.timestamp() - reference)


def format_zod_issues(issues: list[Any]) -> str:
    """`[{"path": ["voice_id"], "message": "Invalid Voice ID"}, ...]` → `voice_id: Invalid Voice ID; ...`."""
    parts: list[str] = []
    for issue in issues:
        if isinstance(issue, Mapping):
            message = issue.get("message")
            path = issue.get("path")
            text = str(message) if message is not None else one_line(json.dumps(issue, default=str))
            if isinstance(path, list) and path:
                text = ".".join(str(p) for p in path) + ": " + text
            elif isinstance(path, str) and path:
                text = f"{path}: {text}"
            parts.append(text)
        elif issue is not None:
            parts.append(str(issue))
    return "; ".join(p for p in parts if p)


def describe_error_body(obj: Any) -> tuple[str, str | None]:
    """(the server's message, its error code) from any documented error shape; message may be ""."""
    if isinstance(obj, str):
        return obj, None
    if isinstance(obj, list):
        return format_zod_issues(obj), _first_code(obj)
    if not isinstance(obj, Mapping):
        return ("" if obj is None else str(obj)), None
    outer = obj.get("message")
    outer_text = outer if isinstance(outer, str) else ""
    code = _code_of(obj)
    inner = obj.get("error")
    inner_text = ""
    if isinstance(inner, str):
        inner_text = inner
    elif isinstance(inner, list):
        inner_text = format_zod_issues(inner)
        code = code or _first_code(inner)
    elif isinstance(inner, Mapping):
        inner_text, inner_code = describe_error_body(inner)
        code = inner_code or code
    if not inner_text:
        detail = obj.get("detail")  # FastAPI-style bodies
        if isinstance(detail, str):
            inner_text = detail
        elif isinstance(detail, list):
            inner_text = format_zod_issues(detail)
    if outer_text and inner_text and inner_text.lower() not in outer_text.lower():
        if outer_text.lower() in inner_text.lower():
            return inner_text, code
        return f"{outer_text}: {inner_text}", code
    return outer_text or inner_text, code


def _code_of(obj: Mapping[str, Any]) -> str | None:
    code = obj.get("code")
    if code is None or isinstance(code, (Mapping, list)):
        return None
    return str(code)


def _first_code(issues: list[Any]) -> str | None:
    for issue in issues:
        if isinstance(issue, Mapping) and _code_of(issue):
            return _code_of(issue)
    return None


#: What a status is called, and what it means when the server says no more than its reason phrase.
_NAMES: dict[int, tuple[str, str]] = {
    401: ("authentication failed", "the API key was rejected"),
    403: ("access denied", "the API key lacks permission or the usage limit is reached"),
    404: ("not found", ""),
    405: ("method not allowed", ""),
    413: ("request too large", ""),
    414: ("request URI too long", ""),
    415: ("unsupported media type", ""),
    429: ("rate limited", "over the account's concurrency limit"),
}


def _kind(status: int) -> tuple[type[SmallestError], str, str]:
    """(the exception class, the fault's name, what it means) for an HTTP status."""
    name, meaning = _NAMES.get(status, ("", ""))
    if status in (401, 403):
        return AuthError, name, meaning
    if status == 429:
        return RateLimitError, name, meaning
    if status in _USAGE_STATUSES or (400 <= status <= 499 and status not in _RETRYABLE_4XX):
        return UsageError, name or "request rejected", meaning
    if 500 <= status <= 599:
        return ServerError, "server error", meaning
    return ServerError, "unexpected status", meaning


def _only_the_reason(detail: str, status: int) -> bool:
    """True when `detail` is empty or only the status's reason phrase ("Forbidden")."""
    from http import HTTPStatus

    said = detail.strip().rstrip(".").lower().removeprefix(str(status)).strip()
    try:
        phrase = HTTPStatus(status).phrase.lower()
    except ValueError:
        phrase = ""
    return said in ("", phrase, "unauthorised")


def error_for_status(
    status: int,
    message: str,
    *,
    request_id: str | None = None,
    retry_after: float | None = None,
    show_status: bool = True,
) -> SmallestError:
    """The one wording of a server fault, whichever transport reported it:
    `<kind> (<status>): <the server's message>`, and ` (request id X)` when printed with one.

    When the server's message is empty or only the reason phrase, what the status means is said
    instead. `show_status=False` is for an in-stream error whose status was inferred from its text.
    """
    cls, kind, meaning = _kind(status)
    detail = one_line(message)
    if meaning and _only_the_reason(detail, status):
        detail = meaning
    head = f"{kind} ({status})" if show_status else kind
    if not detail and not show_status:
        detail = "(no message)"
    text = f"{head}: {detail}" if detail else head
    return cls(text, request_id=request_id, retry_after=retry_after)


def _status_of(code: str | None) -> int | None:
    """An error code that is an HTTP error status ("429") as a number; else None."""
    if code is not None and re.fullmatch(r"[45][0-9][0-9]", code.strip()):
        return int(code)
    return None


def error_for_message(
    message: str,
    *,
    code: str | None = None,
    request_id: str | None = None,
    retry_after: float | None = None,
) -> SmallestError:
    """An in-stream error (WS error frames, SSE error events): worded by its status when its code
    is one, else classified by its code and text and worded the same way without a status."""
    status = _status_of(code)
    if status is not None:
        return error_for_status(status, message, request_id=request_id, retry_after=retry_after)
    detail = one_line(message)
    probe = f"{code or ''} {detail}"
    if re.search(_RATE_RE, probe):
        status = 429
    elif re.search(_IDLE_RE, detail):
        return NetworkError(f"the server closed the idle connection: {detail}", request_id=request_id)
    elif re.search(_AUTH_RE, probe):
        status = 403 if re.search(_DENIED_RE, probe) else 401
    elif re.search(_USAGE_RE, probe):
        status = 400
    else:
        status = 500
    return error_for_status(
        status, detail, request_id=request_id, retry_after=retry_after, show_status=False
    )


def error_from_payload(obj: Any, *, request_id: str | None = None) -> SmallestError:
    """The error an error object in a stream stands for (`{"status": "error", "error": {"message",
    "code"}}` and the like); its status is `error.code` when that is one, else `status_code`."""
    message, code = describe_error_body(obj)
    if isinstance(obj, Mapping):
        rid = obj.get("request_id")
        if isinstance(rid, str) and rid:
            request_id = request_id or rid
        retry_after = _retry_after_of(obj)
        status = obj.get("status_code", obj.get("statusCode"))
        if isinstance(status, int) and not isinstance(status, bool) and _status_of(code) is None:
            code = str(status)
    else:
        retry_after = None
    return error_for_message(message, code=code, request_id=request_id, retry_after=retry_after)


def _seconds(value: Any) -> float | None:
    """A finite, non-negative number of seconds (a number, or a string as the header has it); else
    None (a negative one too: the usual backoff applies)."""
    if isinstance(value, bool) or not isinstance(value, (str, int, float)):
        return None
    return parse_retry_after(str(value))


def _retry_after_of(obj: Mapping[str, Any]) -> float | None:
    """`retry_after` at the top level or inside the `error` object (the WebSocket 429 frame)."""
    top = _seconds(obj.get("retry_after"))
    if top is not None:
        return top
    inner = obj.get("error")
    return _seconds(inner.get("retry_after")) if isinstance(inner, Mapping) else None


def _body_text(body: bytes) -> tuple[str, str | None, str | None]:
    """(message, code, request id in the body) from an HTTP error body of any shape."""
    text = body.decode("utf-8", errors="replace").strip()
    if not text:
        return "", None, None
    try:
        obj = json.loads(text)
    except ValueError:
        if text.startswith("<"):  # an HTML error page from a proxy
            text = _html_text(text)
        return one_line(text), None, None
    message, code = describe_error_body(obj)
    rid = obj.get("request_id") if isinstance(obj, Mapping) else None
    return one_line(message), code, rid if isinstance(rid, str) and rid else None


def body_message(body: bytes) -> str:
    """What a body of any shape (JSON error, HTML page, text) says, on one line; "" for nothing."""
    return _body_text(body)[0]


def _without_query(url: str) -> str:
    """A URL as a message names it: without its query (`?timeout=N`), which is ours, not the user's."""
    return url.split("?", 1)[0]


def _redirect(status: int, location: str | None, url: str | None) -> UsageError:
    """A redirect, which the client does not follow: the text and key go only where the user said."""
    asked = f" {_without_query(url)}" if url else ""
    where = f" to {one_line(location, 200)}" if location else ""
    return UsageError(
        f"the server redirects ({status}){where}, which is not followed: "
        f"if the API has moved, give its new address as the base URL (asked{asked})"
    )


def _html_text(page: str) -> str:
    """What an HTML error page says: its title (nginx repeats it as the heading and adds its own
    name below), else its text without tags, scripts and styles."""
    from html import unescape

    title = re.search(r"(?is)<title[^>]*>(.*?)</title>", page)
    if title and title.group(1).strip():
        return unescape(title.group(1))
    page = re.sub(r"(?is)<(script|style)[^>]*>.*?</\1>", " ", page)
    return unescape(re.sub(r"<[^>]*>", " ", page))


def error_from_http(
    status: int,
    body: bytes,
    headers: Mapping[str, str],
    *,
    now: float | None = None,
    url: str | None = None,
) -> SmallestError:
    """The exception for a non-2xx HTTP answer. `now` (epoch seconds) resolves a dated Retry-After.

    A bare 404 names the `url` asked for: it nearly always means a base URL with a path of its own
    (`…/waves/v1`), which the endpoint's path then repeats.
    """
    if 300 <= status <= 399:
        return _redirect(status, header(headers, "Location"), url)
    detail, _code, body_rid = _body_text(body)
    if status == 404 and url and _only_the_reason(detail, status):
        detail = f"no endpoint at {_without_query(url)}; check the base URL (scheme, host and port)"
    # RFC 9110 gives Retry-After to 503 as well as 429: both are retried after the server's wait.
    retry_after = parse_retry_after(header(headers, "Retry-After"), now) if status in (429, 503) else None
    return error_for_status(
        status, detail, request_id=response_request_id(headers) or body_rid, retry_after=retry_after
    )
