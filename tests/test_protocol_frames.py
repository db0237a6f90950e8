"""parse_ws_frame: the WebSocket JSON frames of the contract, errors and malformed frames."""

from __future__ import annotations

import base64
import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from smallest_cli.errors import (
    AuthError,
    NetworkError,
    ProtocolError,
    RateLimitError,
    ServerError,
    UsageError,
)
from smallest_cli.events import AudioChunk, Done, WordTimestamp
from smallest_cli.protocol.frames import decode_audio_b64, parse_ws_frame


def frame(**obj: object) -> str:
    return json.dumps(obj)


@settings(max_examples=100, deadline=None)
@given(st.binary(max_size=2000))
def test_chunk_roundtrip(pcm: bytes) -> None:
    b64 = base64.b64encode(pcm).decode()
    text = frame(status="chunk", data={"audio": b64}, request_id="r", session_id="s")
    assert parse_ws_frame(text) == AudioChunk(pcm)


def test_word_timestamp() -> None:
    text = frame(status="word_timestamp", data={"id": 0, "word": "$100", "start": 0, "end": 0.32})
    assert parse_ws_frame(text) == WordTimestamp(id=0, word="$100", start=0.0, end=0.32)


def test_complete() -> None:
    assert parse_ws_frame(frame(status="complete", message="All chunks sent", done=True)) == Done()
    assert parse_ws_frame(frame(status="complete", done=True, request_id="abc")) == Done("abc")


def test_unknown_status_is_ignored() -> None:
    assert parse_ws_frame(frame(status="progress", data={})) is None


def test_missing_padding_and_line_breaks_in_base64_tolerated() -> None:
    assert decode_audio_b64("AAE") == b"\x00\x01"
    assert decode_audio_b64("AAEC\nAwQF") == bytes(range(6))


@pytest.mark.parametrize(
    ("message", "error", "cls"),
    [
        ("Rate limit exceeded", None, RateLimitError),
        ("Request failed", {"code": "concurrency_limit_exceeded", "message": "limit"}, RateLimitError),
        ("Too many concurrent requests", None, RateLimitError),
        ("error", {"code": "429", "message": "slow down"}, RateLimitError),
        ("Unauthorized: invalid API key", {"code": "401"}, AuthError),
        ("Forbidden", {"code": "403", "message": "usage limit reached"}, AuthError),
        ("Invalid API key", None, AuthError),
        ("Connection timed out after 60 seconds of inactivity", None, NetworkError),
        ("Invalid Voice ID", {"code": "400", "message": "Invalid Voice ID"}, UsageError),
        ("Validation failed", [{"path": ["speed"], "message": "Number must be <= 2"}], UsageError),
        ("Internal error", {"code": "internal", "message": "model crashed"}, ServerError),
        ("Unexpected token < in JSON at position 0", None, ServerError),
        ("Unexpected error", None, ServerError),
        ("text is required", None, UsageError),
        ("Voice not found", None, UsageError),
        ("", None, ServerError),
    ],
)
def test_error_frames(message: str, error: object, cls: type[Exception]) -> None:
    obj: dict[str, object] = {"status": "error", "message": message, "request_id": "req-9"}
    if error is not None:
        obj["error"] = error
    with pytest.raises(cls) as info:
        parse_ws_frame(json.dumps(obj))
    err = info.value
    assert type(err) is cls
    assert err.request_id == "req-9"  # type: ignore[attr-defined]
    text = str(err)
    assert "\n" not in text
    if message:
        assert message in text


def test_error_message_names_inner_detail() -> None:
    with pytest.raises(ServerError) as info:
        parse_ws_frame(frame(status="error", message="Synthesis failed", error={"message": "GPU OOM"}))
    assert "Synthesis failed" in str(info.value) and "GPU OOM" in str(info.value)


def test_idle_timeout_is_network_error_with_message() -> None:
    with pytest.raises(NetworkError, match="Connection timed out after 5 seconds of inactivity"):
        parse_ws_frame(frame(status="error", message="Connection timed out after 5 seconds of inactivity"))


def test_zod_list_in_error_frame() -> None:
    bad = [{"code": "custom", "path": ["voice_id"], "message": "Invalid Voice ID"}]
    with pytest.raises(UsageError, match="voice_id: Invalid Voice ID"):
        parse_ws_frame(frame(status="error", error=bad))


@pytest.mark.parametrize(
    "text",
    [
        b"\x00\x01binary",
        "not json",
        "[]",
        "42",
        frame(status="chunk"),
        frame(status="chunk", data={"audio": "!!!"}),
        frame(status="chunk", data={"audio": None}),
        frame(status="chunk", data="AAAA"),
        frame(status="word_timestamp", data={"id": "0", "word": "a", "start": 0, "end": 1}),
        frame(status="word_timestamp", data={"id": 0, "word": "a", "start": None, "end": 1}),
        frame(status="word_timestamp", data={"id": 0, "start": 0, "end": 1}),
        frame(status="word_timestamp"),
        frame(data={"audio": "AAAA"}),
    ],
)
def test_malformed_frames(text: str | bytes) -> None:
    with pytest.raises(ProtocolError):
        parse_ws_frame(text)


def test_statusless_error_object_still_raises() -> None:
    with pytest.raises(RateLimitError):
        parse_ws_frame(frame(error="rate limit"))


def test_auth_error_wording() -> None:
    with pytest.raises(AuthError, match="^access denied: Usage limit reached"):
        parse_ws_frame(frame(status="error", message="Usage limit reached"))
    with pytest.raises(AuthError, match="^authentication failed: Invalid API key"):
        parse_ws_frame(frame(status="error", message="Invalid API key"))
    with pytest.raises(AuthError, match=r"^access denied \(403\): Usage limit reached$"):
        parse_ws_frame(frame(status="error", error={"message": "Usage limit reached", "code": "403"}))
