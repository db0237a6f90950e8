"""Fuzzing the client's parsers: whatever the server sends, only SmallestError subclasses escape
(each mapped to an exit code), never KeyError/TypeError/... that would end in a traceback."""

from __future__ import annotations

import json

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from smallest_cli.errors import SmallestError
from smallest_cli.events import AudioChunk, Done, WordTimestamp
from smallest_cli.protocol.frames import parse_ws_frame
from smallest_cli.protocol.http_errors import error_from_http, error_from_payload
from smallest_cli.protocol.sse import SseParser, sse_events

FUZZ = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])

json_scalars = st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20)
json_values = st.recursive(
    json_scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=12,
)
FIELD_NAMES = [
    "status",
    "data",
    "audio",
    "done",
    "error",
    "message",
    "code",
    "request_id",
    "retry_after",
    "id",
    "word",
    "start",
    "end",
    "issues",
    "path",
    "detail",
    "status_code",
]
STATUSES = ["chunk", "word_timestamp", "complete", "error", None, "206", 5]
waves_like = st.recursive(
    st.dictionaries(st.sampled_from(FIELD_NAMES), json_values, max_size=6),
    lambda inner: st.dictionaries(st.sampled_from(FIELD_NAMES), inner | json_values, max_size=5),
    max_leaves=8,
).map(lambda d: d)
frames = st.one_of(
    st.builds(lambda d, s: {**d, "status": s}, waves_like, st.sampled_from(STATUSES)),
    waves_like,
    json_values,
)


def _only_smallest_errors(fn, *args, **kwargs):  # type: ignore[no-untyped-def]
    try:
        return fn(*args, **kwargs)
    except SmallestError as err:
        assert str(err) and "\n" not in str(err)
        return None


@FUZZ
@given(frames)
def test_ws_frame_parser_on_json(frame: object) -> None:
    event = _only_smallest_errors(parse_ws_frame, json.dumps(frame))
    assert event is None or isinstance(event, (AudioChunk, Done, WordTimestamp))


@FUZZ
@given(st.text(max_size=200) | st.binary(max_size=200))
def test_ws_frame_parser_on_anything(raw: str | bytes) -> None:
    _only_smallest_errors(parse_ws_frame, raw)


@FUZZ
@given(
    st.lists(
        st.one_of(
            st.binary(max_size=60),
            st.builds(lambda f: f"event: audio\ndata: {json.dumps(f)}\n\n".encode(), frames),
            st.sampled_from(
                [b"\r\n", b"\r", b"\n\n", b": comment\n", b"data:", b"event: error\n", b"id: \0\n"]
            ),
        ),
        max_size=8,
    ),
    st.integers(1, 17),
)
def test_sse_parser_and_mapping(pieces: list[bytes], split: int) -> None:
    parser = SseParser(max_line_bytes=4096)
    stream = b"".join(pieces)
    for i in range(0, len(stream), split):
        messages = _only_smallest_errors(parser.feed, stream[i : i + split]) or []
        for msg in messages:
            _only_smallest_errors(sse_events, msg, request_id="rid")
    parser.finish()


@FUZZ
@given(
    st.integers(100, 699),
    st.binary(max_size=200) | frames.map(lambda f: json.dumps(f).encode()),
    st.dictionaries(
        st.sampled_from(["Retry-After", "X-Request-Id", "retry-after", "Content-Type"]),
        st.text(max_size=40),
        max_size=3,
    ),
)
def test_http_error_mapping_never_raises(status: int, body: bytes, headers: dict[str, str]) -> None:
    err = error_from_http(status, body, headers)
    assert isinstance(err, SmallestError) and "\n" not in str(err)
    assert err.retry_after is None or err.retry_after >= 0


@FUZZ
@given(frames)
def test_payload_mapping_never_raises(obj: object) -> None:
    err = error_from_payload(obj)
    assert isinstance(err, SmallestError) and "\n" not in str(err)
    assert err.retry_after is None or err.retry_after >= 0
