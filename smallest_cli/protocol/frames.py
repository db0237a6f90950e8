"""Parsing the WebSocket server's JSON text frames into typed events (pure: no I/O).

Frames (see waves-protocol.md):
  {"status": "chunk", "data": {"audio": "<base64>"}, "request_id": ..., "session_id": ...}
  {"status": "word_timestamp", "data": {"id": 0, "word": "Hello", "start": 0.0, "end": 0.32}}
  {"status": "complete", "message": "All chunks sent", "done": true}
  {"status": "error", "message": "...", "error": {"message": "...", "code": "..."}}
"""

from __future__ import annotations

import base64
import binascii
import functools
import json
import math
import sys
from collections.abc import Callable, Mapping
from typing import Any

from smallest_cli.errors import ProtocolError, SmallestError
from smallest_cli.events import AudioChunk, Done, Event, WordTimestamp
from smallest_cli.protocol.http_errors import error_from_payload, one_line

_B64_STRIP = str.maketrans("", "", " \t\r\n")

#: Strict base64 (no characters outside the alphabet, padded), as `b64decode(validate=True)`:
#: straight to binascii where it can be told to be strict (3.11), without that wrapper's steps on
#: every chunk of the stream.
_strict_b64: Callable[[str], bytes] = (
    functools.partial(binascii.a2b_base64, strict_mode=True) if sys.version_info >= (3, 11)
    else functools.partial(base64.b64decode, validate=True)
)


def decode_audio_b64(value: Any, *, request_id: str | None = None) -> bytes:
    """Decode a base64 audio field; tolerate line breaks and missing padding, reject anything else."""
    if not isinstance(value, str):
        raise ProtocolError(
            f"malformed audio frame: audio is {type(value).__name__}, not a base64 string",
            request_id=request_id,
        )
    try:
        return _strict_b64(value)  # the usual frame: compact and padded
    except ValueError:  # binascii.Error, or not ASCII
        pass
    compact = value.translate(_B64_STRIP)
    compact += "=" * (-len(compact) % 4)
    try:
        return _strict_b64(compact)
    except ValueError as exc:  # binascii.Error, or not ASCII
        raise ProtocolError(f"malformed audio frame: bad base64 ({exc})", request_id=request_id) from None


def _preview(text: str) -> str:
    return one_line(text, 80)


def _load_object(text: str | bytes, what: str) -> dict[str, Any]:
    if isinstance(text, (bytes, bytearray, memoryview)):
        raise ProtocolError(f"unexpected binary {what} ({len(bytes(text))} bytes); expected JSON text")
    try:
        obj = json.loads(text)
    except ValueError:
        raise ProtocolError(f"malformed {what}: not JSON: {_preview(text)!r}") from None
    if not isinstance(obj, dict):
        raise ProtocolError(f"malformed {what}: expected a JSON object, got {_preview(text)!r}")
    return obj


def _str_or_none(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


def _request_id(frame: Mapping[str, Any]) -> str | None:
    return _str_or_none(frame.get("request_id"))


def _number(value: Any, name: str, request_id: str | None) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise ProtocolError(
            f"malformed word_timestamp frame: {name} is {value!r}, not a number", request_id=request_id
        )
    return float(value)


def done_with_ids(ids: Mapping[str, Any], request_id: str | None) -> Done:
    """The end of a request, with the ids a `complete` frame (or a response's headers, mapped to
    the same names) carries."""
    return Done(
        request_id=request_id,
        session_id=_str_or_none(ids.get("session_id")),
        external_request_id=_str_or_none(ids.get("external_request_id")),
        external_session_id=_str_or_none(ids.get("external_session_id")),
    )


def with_request_id(err: SmallestError, earlier_frame: str | bytes | None) -> SmallestError:
    """`err`, naming the request id of an earlier frame of its request when it has none of its own
    (an error frame may carry no ids: tts-ws.yaml's ErrorResponse has only `status` and `error`)."""
    if err.request_id is None and earlier_frame is not None:
        try:
            rid = json.loads(earlier_frame).get("request_id")
        except (ValueError, AttributeError):
            rid = None
        if isinstance(rid, str) and rid:
            err.request_id = rid
    return err


def parse_ws_frame(text: str | bytes) -> Event | None:
    """One server frame → an event; None for frames to ignore (unknown status).

    Raises the mapped SmallestError for an `error` frame and ProtocolError for malformed frames
    (binary, not JSON, missing or mistyped fields, bad base64).
    """
    frame = _load_object(text, "WebSocket frame")
    status = frame.get("status")
    if status == "chunk":
        # Most frames are chunks: their request id is read only to name it in an error.
        data = frame.get("data")
        if not isinstance(data, dict) or "audio" not in data:  # JSON objects are dicts
            raise ProtocolError("malformed chunk frame: no data.audio", request_id=_request_id(frame))
        try:
            return AudioChunk(decode_audio_b64(data["audio"]))
        except ProtocolError as err:
            err.request_id = _request_id(frame)
            raise
    request_id = _request_id(frame)
    if status == "word_timestamp":
        data = frame.get("data")
        if not isinstance(data, Mapping):
            raise ProtocolError("malformed word_timestamp frame: no data object", request_id=request_id)
        word_id = data.get("id")
        word = data.get("word")
        if isinstance(word_id, bool) or not isinstance(word_id, int):
            raise ProtocolError(
                f"malformed word_timestamp frame: id is {word_id!r}, not an integer", request_id=request_id
            )
        if not isinstance(word, str):
            raise ProtocolError(
                f"malformed word_timestamp frame: word is {word!r}, not a string", request_id=request_id
            )
        start = _number(data.get("start"), "start", request_id)
        end = _number(data.get("end"), "end", request_id)
        return WordTimestamp(id=word_id, word=word, start=start, end=end)
    if status == "complete":
        return done_with_ids(frame, request_id)
    if status == "error":
        raise error_from_payload(frame, request_id=request_id)
    if status is None and ("error" in frame) and "data" not in frame:
        # An error object without a status (some gateways): still an error.
        raise error_from_payload(frame, request_id=request_id)
    if status is None and frame.get("done") is True:
        return done_with_ids(frame, request_id)
    if status is None:
        raise ProtocolError(f"malformed WebSocket frame: no status: {_preview(str(text))!r}")
    return None
