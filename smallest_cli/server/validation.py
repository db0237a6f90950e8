"""Validating TTS request bodies like the real service, with its zod-style 400 issue lists."""

from __future__ import annotations

import math
import re
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from typing import Any

from smallest_cli.protocol import contract
from smallest_cli.protocol.voices import REQUEST_LANGUAGES, is_cloned_voice

_ID_RE = re.compile(r"^[A-Za-z0-9_.-]{1,128}$")

Issue = dict[str, Any]

#: tts-ws.yaml, `complete_backoff_ms`: "Default is 4000ms".
DEFAULT_COMPLETE_BACKOFF_MS = 4000


class ValidationFailed(Exception):
    """The body is invalid; `issues` is the list sent back as `{"error": issues}` with status 400."""

    def __init__(self, issues: list[Issue]) -> None:
        super().__init__("; ".join(f"{'.'.join(map(str, i['path']))}: {i['message']}" for i in issues))
        self.issues = issues


@dataclass(frozen=True)
class TtsRequest:
    text: str
    voice_id: str
    model: str = contract.DEFAULT_MODEL
    sample_rate: int = contract.SERVER_DEFAULT_SAMPLE_RATE
    speed: float = 1.0
    language: str | None = None
    output_format: str = "pcm"
    word_timestamps: bool = False
    session_id: str | None = None
    request_id: str | None = None
    #: WebSocket streaming input.
    cont: bool = False
    flush: bool = False
    max_buffer_flush_ms: int = 0
    complete_backoff_ms: int = DEFAULT_COMPLETE_BACKOFF_MS


def _type_name(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, (int, float)):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    return "object"


def _invalid_type(path: str, expected: str, value: Any, missing: bool = False) -> Issue:
    received = "undefined" if missing else _type_name(value)
    message = "Required" if missing else f"Expected {expected}, received {received}"
    return {
        "code": "invalid_type",
        "expected": expected,
        "received": received,
        "path": [path],
        "message": message,
    }


def _enum_issue(path: str, value: Any, options: Collection[str]) -> Issue:
    expected = " | ".join(f"'{o}'" for o in options)
    return {
        "received": value,
        "code": "invalid_enum_value",
        "options": list(options),
        "path": [path],
        "message": f"Invalid enum value. Expected {expected}, received '{value}'",
    }


def _range_issue(path: str, code: str, bound: float, kind: str) -> Issue:
    if kind == "string":
        word = "at least" if code == "too_small" else "at most"
        message = f"String must contain {word} {int(bound)} character(s)"
    else:
        word = "greater than or equal to" if code == "too_small" else "less than or equal to"
        message = f"Number must be {word} {bound:g}"
    key = "minimum" if code == "too_small" else "maximum"
    return {
        "code": code,
        key: bound,
        "type": kind,
        "inclusive": True,
        "exact": False,
        "message": message,
        "path": [path],
    }


def _custom(path: str, message: str) -> Issue:
    return {"code": "custom", "path": [path], "message": message}


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


class _Checker:
    def __init__(self, body: Mapping[str, Any]) -> None:
        self.body = body
        self.issues: list[Issue] = []

    def string(self, name: str, required: bool = False) -> str | None:
        if name not in self.body or self.body[name] is None:
            if required:
                self.issues.append(_invalid_type(name, "string", None, missing=True))
            return None
        value = self.body[name]
        if not isinstance(value, str):
            self.issues.append(_invalid_type(name, "string", value))
            return None
        return value

    def boolean(self, name: str, default: bool) -> bool:
        value = self.body.get(name)
        if value is None:
            return default
        if not isinstance(value, bool):
            self.issues.append(_invalid_type(name, "boolean", value))
            return default
        return value

    def number(self, name: str, default: float, low: float, high: float) -> float:
        value = self.body.get(name)
        if value is None:
            return default
        if not _is_number(value):
            self.issues.append(_invalid_type(name, "number", value))
            return default
        if value < low:
            self.issues.append(_range_issue(name, "too_small", low, "number"))
        elif value > high:
            self.issues.append(_range_issue(name, "too_big", high, "number"))
        return float(value)

    def integer(self, name: str, default: int, low: int, high: int) -> int:
        """A whole number (tts-ws.yaml gives these fields `type: integer`; 5.0 is one, 1.5 is not)."""
        value = self.body.get(name)
        if value is not None and _is_number(value) and not float(value).is_integer():
            # zod's words for a fraction where an integer is expected
            issue = _invalid_type(name, "integer", value)
            self.issues.append({**issue, "received": "float", "message": "Expected integer, received float"})
            return default
        return int(self.number(name, default, low, high))

    def enum(self, name: str, default: str, options: Collection[str]) -> str:
        value = self.body.get(name)
        if value is None:
            return default
        if not isinstance(value, str):
            self.issues.append(_invalid_type(name, "string", value))
            return default
        if value not in options:
            self.issues.append(_enum_issue(name, value, options))
            return default
        return value


def _text(check: _Checker, body: Mapping[str, Any], *, may_be_empty: bool) -> str:
    """The `text` field; empty only in a streaming-input message (`continue`/`flush`)."""
    text = check.string("text", required=not may_be_empty)
    text = "" if text is None else text
    if len(text) > contract.MAX_TEXT_CHARS:
        check.issues.append(_range_issue("text", "too_big", contract.MAX_TEXT_CHARS, "string"))
    elif not may_be_empty:
        if not text and "text" in body and isinstance(body.get("text"), str):
            check.issues.append(_range_issue("text", "too_small", 1, "string"))
        elif text and not text.strip():
            check.issues.append(_custom("text", "Text must contain at least one word"))
    return text


def _language(check: _Checker, name: str) -> str | None:
    """A language field: a code of the reference's enum (or absent)."""
    value = check.string(name)
    if value is not None and value not in REQUEST_LANGUAGES:
        check.issues.append(_enum_issue(name, value, REQUEST_LANGUAGES))
        return None
    return value


def _sample_rate(check: _Checker, raw: Any) -> int:
    """The `sample_rate` field, or the server's default when it is left out."""
    if raw is None:
        return contract.SERVER_DEFAULT_SAMPLE_RATE
    if not _is_number(raw):
        check.issues.append(_invalid_type("sample_rate", "number", raw))
    elif raw not in contract.SAMPLE_RATES:
        rates = ", ".join(str(r) for r in contract.SAMPLE_RATES)
        check.issues.append(_custom("sample_rate", f"Invalid sample rate. Expected one of {rates}"))
    else:
        return int(raw)
    return contract.SERVER_DEFAULT_SAMPLE_RATE


def _inherit(body: Mapping[str, Any], defaults: TtsRequest) -> dict[str, Any]:
    """`body` with the fields it leaves out taken from the request it continues."""
    inherited = {
        "voice_id": defaults.voice_id,
        "model": defaults.model,
        "sample_rate": defaults.sample_rate,
        "speed": defaults.speed,
        "language": defaults.language,
        "output_format": defaults.output_format,
        "complete_backoff_ms": defaults.complete_backoff_ms,
    }
    return {**{k: v for k, v in inherited.items() if v is not None}, **body}


def _client_ids(check: _Checker) -> dict[str, str | None]:
    """`session_id` and `request_id`: the client's correlation ids, echoed back."""
    ids: dict[str, str | None] = {}
    for name in ("session_id", "request_id"):
        value = check.string(name)
        if value is not None and not _ID_RE.match(value):
            check.issues.append(_custom(name, f"{name} must be 1-128 characters of A-Z a-z 0-9 _ . -"))
            value = None
        ids[name] = value
    return ids


def parse_tts_body(
    body: Any,
    voice_ids: Collection[str],
    *,
    allow_empty_text: bool = False,
    defaults: TtsRequest | None = None,
) -> TtsRequest:
    """A checked TtsRequest from a decoded JSON body, or ValidationFailed with every issue found.

    `allow_empty_text` is for WebSocket streaming-input messages (`continue`/`flush`); `defaults`
    fills fields a continuation message leaves out from the request it continues.
    """
    if not isinstance(body, Mapping):
        raise ValidationFailed([{**_invalid_type("", "object", body), "path": []}])
    if defaults is not None:
        body = _inherit(body, defaults)
    check = _Checker(body)
    cont = check.boolean("continue", False)
    flush = check.boolean("flush", False)
    text = _text(check, body, may_be_empty=allow_empty_text and (cont or flush))
    voice_id = check.string("voice_id", required=True)
    if voice_id is not None and voice_id not in voice_ids and not is_cloned_voice(voice_id):
        check.issues.append(_custom("voice_id", "Invalid Voice ID"))
    model = check.enum("model", contract.DEFAULT_MODEL, contract.MODELS)
    output_format = check.enum("output_format", "pcm", contract.OUTPUT_FORMATS)
    sample_rate = _sample_rate(check, body.get("sample_rate"))
    speed = check.number("speed", 1.0, contract.SPEED_MIN, contract.SPEED_MAX)
    language = _language(check, "language")
    _language(check, "number_pronunciation_language")
    word_timestamps = check.boolean("word_timestamps", False)
    max_flush = check.integer("max_buffer_flush_ms", 0, *contract.MAX_BUFFER_FLUSH_MS)
    backoff = check.integer(
        "complete_backoff_ms", DEFAULT_COMPLETE_BACKOFF_MS, *contract.COMPLETE_BACKOFF_MS
    )
    ids = _client_ids(check)
    dicts = body.get("pronunciation_dicts")
    if dicts is not None and not (isinstance(dicts, list) and all(isinstance(d, str) for d in dicts)):
        check.issues.append(_invalid_type("pronunciation_dicts", "array", dicts))
    if check.issues:
        raise ValidationFailed(check.issues)
    assert voice_id is not None
    return TtsRequest(
        text=text,
        voice_id=voice_id,
        model=model,
        sample_rate=sample_rate,
        speed=speed,
        language=language,
        output_format=output_format,
        word_timestamps=word_timestamps,
        session_id=ids["session_id"],
        request_id=ids["request_id"],
        cont=cont,
        flush=flush,
        max_buffer_flush_ms=max_flush,
        complete_backoff_ms=backoff,
    )
