"""Turning server failures into the CLI's exception hierarchy (pure: no I/O).

Two entry points:

* `error_from_http(status, body, headers)` for a non-2xx HTTP answer (sync, SSE, get_voices, ...).
* `error_from_payload(obj)` for an error object inside a stream (a WebSocket `error` frame or an SSE
  event carrying `error`/`status: "error"`), classified by its code and message text.

Every message is one line and quotes what the server said, so the user sees the server's reason.
"""

from __future__ import annotations

import datetime
import email.utils
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
)

#: Longest server text quoted in a message.
MAX_DETAIL_CHARS = 300

_USAGE_STATUSES = frozenset({400, 404, 405, 409, 413, 414, 415, 422})

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
    """Collapse whitespace to single spaces and cut to `limit` characters (with an ellipsis)."""
    flat = " ".join(text.split())
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


def parse_retry_after(value: str | None, now: float | None = None) -> float | None:
    """`Retry-After` as seconds to wait: delta-seconds or an HTTP date (relative to `now`, epoch s).

    Returns None when absent or unparseable; never negative.
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
        if seconds != seconds or seconds in (float("inf"), float("-inf")):
            return None
        return max(0.0, seconds)
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


def error_for_message(
    message: str,
    *,
    code: str | None = None,
    request_id: str | None = None,
    retry_after: float | None = None,
) -> SmallestError:
    """Classify an in-stream error by its code and text (WS error frames, SSE error events)."""
    detail = one_line(message) or "(no message)"
    probe = f"{code or ''} {detail}"
    if re.search(_RATE_RE, probe):
        return RateLimitError(
            f"rate limited by the server: {detail}", request_id=request_id, retry_after=retry_after
        )
    if re.search(_IDLE_RE, detail):
        return NetworkError(f"the server closed the idle connection: {detail}", request_id=request_id)
    if re.search(_AUTH_RE, probe):
        prefix = "access denied" if re.search(_DENIED_RE, probe) else "authentication failed"
        return AuthError(f"{prefix}: {detail}", request_id=request_id)
    if re.search(_USAGE_RE, probe):
        return UsageError(f"the server rejected the request: {detail}", request_id=request_id)
    return ServerError(f"server error: {detail}", request_id=request_id)


def error_from_payload(obj: Any, *, request_id: str | None = None) -> SmallestError:
    """Classify an error object from a stream (`{"status": "error", "message", "error": {...}}` etc.)."""
    message, code = describe_error_body(obj)
    if isinstance(obj, Mapping):
        rid = obj.get("request_id")
        if isinstance(rid, str) and rid:
            request_id = request_id or rid
        retry_after = _retry_after_of(obj)
        status = obj.get("status_code", obj.get("statusCode"))
        if isinstance(status, int) and not isinstance(status, bool) and code is None:
            code = str(status)
    else:
        retry_after = None
    return error_for_message(message, code=code, request_id=request_id, retry_after=retry_after)


def _seconds(value: Any) -> float | None:
    """A finite, non-negative number of seconds (numbers or numeric strings); else None."""
    if isinstance(value, bool):
        return None
    if isinstance(value, str):
        return parse_retry_after(value, now=0.0) if value.strip().replace(".", "", 1).isdigit() else None
    if isinstance(value, (int, float)) and value == value and value not in (float("inf"), float("-inf")):
        return max(0.0, float(value))
    return None


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
            text = re.sub(r"<[^>]*>", " ", text)
        return one_line(text), None, None
    message, code = describe_error_body(obj)
    rid = obj.get("request_id") if isinstance(obj, Mapping) else None
    return one_line(message), code, rid if isinstance(rid, str) and rid else None


def _adds(detail: str, message: str) -> str:
    """`: detail` when the server's detail says more than `message`; "" when it only says the same
    (after its own reason phrase, as in "Forbidden: the API key lacks permission ...")."""
    said = detail.split(": ", 1)[-1].strip().rstrip(".").lower()
    return "" if not said or said in message.lower() else f": {detail}"


def error_from_http(
    status: int, body: bytes, headers: Mapping[str, str], *, now: float | None = None
) -> SmallestError:
    """The exception for a non-2xx HTTP answer. `now` (epoch seconds) resolves a dated Retry-After."""
    detail, _code, body_rid = _body_text(body)
    request_id = header(headers, "X-Request-Id") or body_rid
    suffix = f": {detail}" if detail else ""
    if status == 401:
        msg = "authentication failed: the API key was rejected (401)"
        if detail and detail.lower() not in ("unauthorized", "unauthorised"):
            msg += f": {detail}"
        return AuthError(msg, request_id=request_id)
    if status == 403:
        denied = "access denied (403): the API key lacks permission or the usage limit is reached"
        return AuthError(denied + _adds(detail, denied), request_id=request_id)
    if status == 429:
        return RateLimitError(
            "rate limited (429): over the account's concurrency limit" + suffix,
            request_id=request_id,
            retry_after=parse_retry_after(header(headers, "Retry-After"), now),
        )
    if status in _USAGE_STATUSES:
        what = {
            404: "not found",
            405: "method not allowed",
            413: "request too large",
            414: "request URI too long",
            415: "unsupported media type",
        }.get(status, "request rejected")
        return UsageError(f"{what} ({status}){suffix}", request_id=request_id)
    if 500 <= status <= 599:
        return ServerError(f"server error ({status}){suffix}", request_id=request_id)
    return ServerError(f"unexpected HTTP status {status}{suffix}", request_id=request_id)
