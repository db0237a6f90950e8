"""SseParser (the SSE standard's line and field rules) and the Waves SSE event mapping."""

from __future__ import annotations

import base64
import json
import re

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from smallest_cli.errors import AuthError, ProtocolError, RateLimitError, ServerError, UsageError
from smallest_cli.events import AudioChunk, Done
from smallest_cli.protocol.sse import SseMessage, SseParser, sse_events


def parse_all(*pieces: bytes) -> list[SseMessage]:
    parser = SseParser()
    out: list[SseMessage] = []
    for piece in pieces:
        out += parser.feed(piece)
    return out


def test_basic_event_with_type_and_data() -> None:
    msgs = parse_all(b'event: audio\ndata: {"audio": "AAA="}\n\n')
    assert msgs == [SseMessage(event="audio", data='{"audio": "AAA="}', id=None)]


def test_event_defaults_to_message_and_id_persists() -> None:
    msgs = parse_all(b"id: 7\ndata: a\n\ndata: b\n\n")
    assert msgs == [SseMessage("message", "a", "7"), SseMessage("message", "b", "7")]


@pytest.mark.parametrize("eol", [b"\n", b"\r\n", b"\r"])
def test_line_endings(eol: bytes) -> None:
    stream = eol.join([b"event: audio", b"data: x", b"", b"data: y", b"", b""])
    assert [(m.event, m.data) for m in parse_all(stream)] == [("audio", "x"), ("message", "y")]


def test_cr_then_lf_in_next_feed_is_one_line_end() -> None:
    # If the LF after the CR were a second line end, "data: 1" would be dispatched early, then
    # "data: 2" alone: instead both lines belong to one event.
    msgs = parse_all(b"data: 1\r", b"\ndata: 2\r", b"\n\r", b"\n")
    assert msgs == [SseMessage("message", "1\n2")]


def test_lone_cr_at_end_of_feed_then_other_byte() -> None:
    msgs = parse_all(b"data: 1\r", b"\r")
    assert msgs == [SseMessage("message", "1")]


def test_multiple_data_lines_joined_with_newline() -> None:
    assert parse_all(b"data: a\ndata:b\ndata:  c\ndata\n\n") == [SseMessage("message", "a\nb\n c\n")]


def test_comments_and_unknown_fields_are_ignored() -> None:
    msgs = parse_all(b": keep-alive\nfoo: bar\ndata: x\n: more\n\n")
    assert msgs == [SseMessage("message", "x")]


def test_event_without_data_is_not_dispatched() -> None:
    assert parse_all(b"event: ping\n\n: c\n\n\n") == []
    # and its event type does not leak into the next event
    assert parse_all(b"event: ping\n\ndata: z\n\n") == [SseMessage("message", "z")]


def test_utf8_split_across_feeds() -> None:
    raw = "data: héllo — नमस्ते 你好\n\n".encode()
    for cut in range(len(raw) + 1):
        assert parse_all(raw[:cut], raw[cut:]) == [SseMessage("message", "héllo — नमस्ते 你好")]


def test_bom_at_stream_start_is_ignored() -> None:
    assert parse_all(b"\xef\xbb\xbfdata: x\n\n") == [SseMessage("message", "x")]


def test_retry_field_recorded() -> None:
    parser = SseParser()
    parser.feed(b"retry: 1500\n\n")
    assert parser.retry_ms == 1500


def test_incomplete_and_finish() -> None:
    parser = SseParser()
    assert parser.feed(b'data: {"done": true}\n') == []
    assert parser.incomplete
    assert parser.finish() == []
    assert not parser.incomplete


def test_overlong_line_is_protocol_error() -> None:
    parser = SseParser(max_line_bytes=100)
    with pytest.raises(ProtocolError):
        parser.feed(b"data: " + b"x" * 200)


_line_values = st.text(
    alphabet=st.characters(blacklist_categories=("Cs",), blacklist_characters="\r\n"), max_size=20
)


@settings(max_examples=150, deadline=None)
@given(
    events=st.lists(
        st.tuples(st.sampled_from(["", "audio", "done"]), st.lists(_line_values, min_size=1, max_size=3)),
        max_size=6,
    ),
    eol=st.sampled_from(["\n", "\r\n", "\r"]),
    cuts=st.lists(st.integers(min_value=0, max_value=2000), max_size=10),
)
def test_any_split_gives_same_events(events: list[tuple[str, list[str]]], eol: str, cuts: list[int]) -> None:
    text = ""
    expected: list[SseMessage] = []
    for name, lines in events:
        if name:
            text += f"event: {name}{eol}"
        for line in lines:
            text += f"data: {line}{eol}"
        text += eol
        expected.append(SseMessage(name or "message", "\n".join(lines)))
    raw = text.encode()
    points = sorted({min(c, len(raw)) for c in cuts})
    pieces = [raw[a:b] for a, b in zip([0, *points], [*points, len(raw)], strict=True)]
    assert parse_all(*pieces) == expected
    assert parse_all(*[raw[i : i + 1] for i in range(len(raw))]) == expected


def reference_parse(raw: bytes) -> list[SseMessage]:
    """The standard's algorithm on a whole stream: decode it at once, then split it into lines."""
    text = raw.decode("utf-8", errors="replace").removeprefix("\ufeff")
    lines = re.split("\r\n|\r|\n", text)[:-1]  # the last piece has no line end: never a line
    out: list[SseMessage] = []
    event, data, last_id = "", [], None
    for line in lines:
        if not line:
            if data:
                out.append(SseMessage(event or "message", "\n".join(data), last_id))
            event, data = "", []
            continue
        name, sep, value = line.partition(":")
        value = value[1:] if sep and value.startswith(" ") else value
        if name == "event":
            event = value
        elif name == "data":
            data.append(value)
        elif name == "id" and "\0" not in value:
            last_id = value
    return out


_VALUE_BYTES = [b"x", b" ", b":", b"\xc3\xa9", b"\xe2\x82", b"\xff", b"\0", b"\r"]
_line_bytes = st.tuples(
    st.sampled_from([b"", b"data", b"event", b"id", b"x", b"\xef\xbb\xbfdata", b":"]),
    st.sampled_from([b"", b":", b": ", b":  "]),
    st.lists(st.sampled_from(_VALUE_BYTES), max_size=6),
    st.sampled_from([b"\n", b"\r", b"\r\n"]),
).map(lambda parts: parts[0] + parts[1] + b"".join(parts[2]) + parts[3])
_stream_bytes = st.tuples(st.lists(_line_bytes, max_size=12), st.binary(max_size=4)).map(
    lambda lines_and_tail: b"".join(lines_and_tail[0]) + lines_and_tail[1]
)


@settings(max_examples=300, deadline=None)
@given(raw=_stream_bytes, cuts=st.lists(st.integers(min_value=0, max_value=200), max_size=8))
def test_any_bytes_in_any_split_parse_as_the_whole_stream_does(raw: bytes, cuts: list[int]) -> None:
    expected = reference_parse(raw)
    points = sorted({min(c, len(raw)) for c in cuts})
    pieces = [raw[a:b] for a, b in zip([0, *points], [*points, len(raw)], strict=True)]
    assert parse_all(raw) == expected
    assert parse_all(*pieces) == expected
    assert parse_all(*[raw[i : i + 1] for i in range(len(raw))]) == expected


# --- sse_events ---------------------------------------------------------------------------------


def msg(obj: object, event: str = "audio") -> SseMessage:
    return SseMessage(event=event, data=json.dumps(obj))


def test_audio_event() -> None:
    pcm = b"\x01\x00\xff\x7f" * 10
    b64 = base64.b64encode(pcm).decode()
    assert sse_events(msg({"audio": b64})) == [AudioChunk(pcm)]
    assert sse_events(msg({"audio": b64, "done": False, "status": "206"})) == [AudioChunk(pcm)]


def test_done_event_carries_request_id() -> None:
    assert sse_events(msg({"done": True}, event="message"), request_id="r1") == [Done("r1")]
    assert sse_events(msg({"done": True, "request_id": "r2"})) == [Done("r2")]


def test_audio_and_done_in_one_object() -> None:
    assert sse_events(msg({"audio": "AAE=", "done": True})) == [AudioChunk(b"\x00\x01"), Done()]


def test_empty_audio_is_skipped() -> None:
    assert sse_events(msg({"audio": "", "done": False})) == []


@pytest.mark.parametrize(
    ("obj", "cls"),
    [
        ({"error": "Internal failure"}, ServerError),
        ({"status": "error", "message": "boom"}, ServerError),
        ({"message": "Too many requests"}, RateLimitError),
        ({"error": [{"path": ["voice_id"], "message": "Invalid Voice ID"}]}, UsageError),
        ({"status": "error", "error": {"code": "unauthorized", "message": "bad key"}}, AuthError),
    ],
)
def test_error_payloads_raise(obj: dict[str, object], cls: type[Exception]) -> None:
    with pytest.raises(cls) as info:
        sse_events(msg(obj), request_id="rq")
    assert type(info.value) is cls
    assert info.value.request_id == "rq"  # type: ignore[attr-defined]
    assert "\n" not in str(info.value)


def test_error_event_with_plain_text() -> None:
    with pytest.raises(ServerError, match="stream failed"):
        sse_events(SseMessage(event="error", data="stream failed"))


@pytest.mark.parametrize(
    "data",
    ["not json", "[1, 2]", '"str"', '{"audio": "@@@"}', '{"audio": 5}', '{"foo": 1}', '{"done": "yes"}'],
)
def test_malformed_raises_protocol_error(data: str) -> None:
    with pytest.raises(ProtocolError):
        sse_events(SseMessage(event="audio", data=data))


def test_end_to_end_stream() -> None:
    pcm = bytes(range(256)) * 4
    chunks = [pcm[i : i + 300] for i in range(0, len(pcm), 300)]
    body = b"".join(
        b"event: audio\r\ndata: "
        + json.dumps({"audio": base64.b64encode(c).decode(), "done": False}).encode()
        + b"\r\n\r\n"
        for c in chunks
    ) + b'data: {"done": true}\r\n\r\n'
    parser = SseParser()
    events = []
    for i in range(0, len(body), 37):
        for m in parser.feed(body[i : i + 37]):
            events += sse_events(m)
    assert b"".join(e.data for e in events if isinstance(e, AudioChunk)) == pcm
    assert isinstance(events[-1], Done)
