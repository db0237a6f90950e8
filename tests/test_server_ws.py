"""Conformance of `smallest serve`'s WebSocket `/waves/v1/tts/live`."""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator

import pytest
from websockets.exceptions import ConnectionClosed, InvalidStatus
from websockets.sync.client import connect

from smallest_cli.protocol.voices import WORD_TIMESTAMP_VOICES
from tests.helpers import Server, running_server
from tests.test_server_helpers import (
    LIVE,
    body,
    inspect,
    post_sync,
    ws_body,
    ws_collect,
    ws_connect,
    ws_request,
)

FORMATS = ("pcm", "wav", "mp3", "ulaw", "alaw")


@pytest.fixture(scope="module")
def keep_open() -> Iterator[Server]:
    """A server that keeps each socket open after `complete`, for several requests per socket."""
    with running_server("--keep-open") as srv:
        yield srv


def test_handshake_requires_the_key(server: Server) -> None:
    for headers in ({}, {"Authorization": "Bearer sk_nope"}):
        with pytest.raises(InvalidStatus) as info:
            connect(server.ws_url + LIVE, additional_headers=headers, open_timeout=10)
        assert info.value.response.status_code == 401


@pytest.mark.parametrize("fmt", FORMATS)
def test_chunks_concatenate_to_the_sync_body(server: Server, fmt: str) -> None:
    payload = ws_body(output_format=fmt)
    result = ws_request(server, payload)
    assert result.last["status"] == "complete"
    assert result.audio == post_sync(server, payload).content


def test_frame_shapes(server: Server) -> None:
    result = ws_request(server, ws_body(request_id="ext-1", session_id="s.1", word_timestamps=True))
    chunks = [f for f in result.frames if f["status"] == "chunk"]
    assert chunks
    for f in chunks:
        assert set(f) == {
            "status",
            "data",
            "request_id",
            "session_id",
            "external_request_id",
            "external_session_id",
        }
        assert set(f["data"]) == {"audio"}
        assert f["external_request_id"] == "ext-1" and f["external_session_id"] == "s.1"
    assert len({f["request_id"] for f in result.frames}) == 1
    done = result.last
    assert done == {
        "status": "complete",
        "session_id": chunks[0]["session_id"],
        "request_id": chunks[0]["request_id"],
        "external_request_id": "ext-1",
        "external_session_id": "s.1",
    }
    for w in result.words:
        assert set(w) == {"id", "word", "start", "end"}


def test_chunk_size_is_chunk_ms_of_audio(server: Server) -> None:
    result = ws_request(server, ws_body(sample_rate=16000, output_format="ulaw"))
    sizes = [len(__import__("base64").b64decode(f["data"]["audio"])) for f in result.frames[:-1]]
    assert set(sizes[:-1]) == {320} and sizes[-1] <= 320


def test_wav_header_is_at_the_start_of_the_first_chunk(server: Server) -> None:
    result = ws_request(server, ws_body(output_format="wav"))
    first = __import__("base64").b64decode(result.frames[0]["data"]["audio"])
    assert first.startswith(b"RIFF") and len(first) == 44 + 960


def test_word_timestamps_are_exact_and_interleaved(server: Server) -> None:
    text = "Hello there, $100 is   a lot! Really."
    result = ws_request(server, ws_body(text, word_timestamps=True, voice_id="liam", sample_rate=24000))
    words = result.words
    assert [w["word"] for w in words] == text.split()
    assert [w["id"] for w in words] == list(range(len(words)))
    duration = len(result.audio) / 2 / 24000
    assert words[0]["start"] == 0.0
    for a, b in zip(words, words[1:], strict=False):
        assert a["start"] < a["end"] < b["start"]
    assert words[-1]["end"] < duration
    # each word frame comes just before the chunk in which the word starts
    import numpy as np

    pcm = np.frombuffer(result.audio, dtype="<i2")
    elapsed = 0  # samples
    for f in result.frames:
        if f["status"] == "chunk":
            elapsed += len(__import__("base64").b64decode(f["data"]["audio"])) // 2
        elif f["status"] == "word_timestamp":
            start, end = f["data"]["start"], f["data"]["end"]
            assert elapsed <= round(start * 24000) < elapsed + 480
            burst = pcm[round(start * 24000) : round(end * 24000)]
            gap = pcm[round(end * 24000) : round(end * 24000) + 100]
            assert np.abs(burst).max() > 3000 and np.abs(gap).max() == 0


@pytest.mark.parametrize("voice", ["magnus", "daniella"])
def test_no_word_frames_for_other_voices(server: Server, voice: str) -> None:
    assert voice not in WORD_TIMESTAMP_VOICES
    result = ws_request(server, ws_body(voice_id=voice, word_timestamps=True))
    assert result.words == [] and result.last["status"] == "complete"


def test_no_word_frames_unless_asked(server: Server) -> None:
    assert ws_request(server, ws_body(voice_id="meher")).words == []


def test_several_requests_on_one_socket_with_keep_open(keep_open: Server) -> None:
    with ws_connect(keep_open) as ws:
        seen = []
        for fmt in ("pcm", "mp3", "wav"):
            payload = ws_body(f"Request in {fmt} now", output_format=fmt)
            ws.send(json.dumps(payload))
            result = ws_collect(ws)
            assert result.last["status"] == "complete"
            assert result.audio == post_sync(keep_open, payload).content
            seen.append(result.last["request_id"])
        assert len(set(seen)) == 3


def test_pipelined_requests_are_answered_in_order_with_keep_open(keep_open: Server) -> None:
    with ws_connect(keep_open) as ws:
        texts = ["first one", "second one here", "third"]
        for t in texts:
            ws.send(json.dumps(ws_body(t)))
        for t in texts:
            result = ws_collect(ws)
            assert result.audio == post_sync(keep_open, body(t)).content


def test_the_socket_closes_after_complete_by_default(server: Server) -> None:
    with ws_connect(server) as ws:
        ws.send(json.dumps(ws_body("only one request")))
        assert ws_collect(ws).last["status"] == "complete"
        with pytest.raises(ConnectionClosed) as info:
            ws.recv(timeout=10)
        assert info.value.rcvd is not None and info.value.rcvd.code == 1000


def test_streaming_input_continue_and_flush(server: Server) -> None:
    pieces = ["Hel", "lo the", "re, how ", "are you"]
    with ws_connect(server) as ws:
        for p in pieces:
            ws.send(json.dumps(ws_body(p, **{"continue": True}, word_timestamps=True)))
        ws.send(json.dumps({"text": "", "flush": True}))
        result = ws_collect(ws)
    assert result.last["status"] == "complete"
    assert [w["word"] for w in result.words] == "Hello there, how are you".split()
    # one unit: identical to the sync audio of the whole text
    assert result.audio == post_sync(server, body("Hello there, how are you")).content


def test_streaming_input_flushes_units_on_the_request_timeline(server: Server) -> None:
    with ws_connect(server) as ws:
        opening = ws_body("One two. Three", **{"continue": True}, word_timestamps=True, voice_id="meher")
        ws.send(json.dumps(opening))
        ws.send(json.dumps({"text": " four", "continue": True, "flush": True}))
        ws.send(json.dumps({"text": "five six", "continue": False}))
        result = ws_collect(ws)
    words = result.words
    assert [w["word"] for w in words] == ["One", "two.", "Three", "four", "five", "six"]
    assert [w["id"] for w in words] == list(range(6))
    assert all(a["end"] < b["start"] for a, b in zip(words, words[1:], strict=False))
    # the tone engine's audio depends only on the words, so the units add up to the whole
    whole = post_sync(server, body("One two. Three four five six", voice_id="meher")).content
    assert result.audio == whole
    assert words[-1]["end"] < len(result.audio) / 2 / 24000


def test_streaming_wav_has_one_header_with_unknown_size(server: Server) -> None:
    with ws_connect(server) as ws:
        ws.send(json.dumps(ws_body("First part. ", **{"continue": True}, output_format="wav")))
        ws.send(json.dumps({"text": " Second part", "flush": True}))
        audio = ws_collect(ws).audio
    assert audio.startswith(b"RIFF") and audio.count(b"RIFF") == 1
    assert audio[4:8] == b"\xff\xff\xff\xff"


def test_max_buffer_flush_ms_synthesizes_after_quiet_input(server: Server) -> None:
    with ws_connect(server) as ws:
        ws.send(json.dumps(ws_body("waiting for more ", **{"continue": True}, max_buffer_flush_ms=50)))
        frame = json.loads(ws.recv(timeout=10))  # audio comes before any further input
        assert frame["status"] == "chunk"
        ws.send(json.dumps({"text": "", "flush": True}))
        assert ws_collect(ws).last["status"] == "complete"


def test_empty_flush_without_open_request_completes(server: Server) -> None:
    with ws_connect(server) as ws:
        ws.send(json.dumps({"text": "", "flush": True, "voice_id": "avery"}))
        frames = ws_collect(ws).frames
    assert len(frames) == 1
    assert frames[0]["status"] == "complete" and "done" not in frames[0]
    assert set(frames[0]) == {"status", "session_id", "request_id"}


def test_validation_error_frame_keeps_the_socket_open(server: Server) -> None:
    with ws_connect(server) as ws:
        ws.send(json.dumps(body(voice_id="nobody", output_format="mulaw")))
        err = ws_collect(ws).last
        assert err["status"] == "error" and err["message"]
        assert err["error"]["code"] == "400"
        assert {tuple(i["path"]) for i in err["error"]["issues"]} == {("voice_id",), ("output_format",)}
        ws.send(json.dumps(ws_body()))
        assert ws_collect(ws).last["status"] == "complete"


def test_malformed_and_binary_messages_get_error_frames(server: Server) -> None:
    with ws_connect(server) as ws:
        ws.send("{not json")
        err = ws_collect(ws).last
        assert err["status"] == "error" and err["error"]["code"] == "invalid_json"
        ws.send(b"\x00\x01")
        assert ws_collect(ws).last["error"]["code"] == "invalid_message"
        ws.send(json.dumps(ws_body("still alive")))
        assert ws_collect(ws).last["status"] == "complete"


def test_oversized_message_gets_an_error_frame(server: Server) -> None:
    with ws_connect(server, max_size=None) as ws:
        ws.send(json.dumps(body("x" * (65 * 1024))))
        err = ws_collect(ws).last
        assert err["status"] == "error" and err["error"]["code"] == "message_too_large"
        ws.send(json.dumps(ws_body("ok")))
        assert ws_collect(ws).last["status"] == "complete"


def test_huge_message_closes_with_1009_not_a_crash(server: Server) -> None:
    # Above aiohttp's own frame limit (4 MiB) the server closes with 1009; the client may see a
    # reset instead if it is still sending when that happens. Either way the server lives on.
    with ws_connect(server, max_size=None) as ws:
        with pytest.raises((ConnectionClosed, OSError)) as info:
            ws.send("x" * (5 * 1024 * 1024))
            ws.recv(timeout=10)
        if isinstance(info.value, ConnectionClosed) and info.value.rcvd is not None:
            assert info.value.rcvd.code == 1009
    assert ws_request(server, ws_body("after")).last["status"] == "complete"


def test_idle_timeout_query(server: Server) -> None:
    with ws_connect(server, query="?timeout=1") as ws:
        frame = json.loads(ws.recv(timeout=10))
        assert frame["status"] == "error"
        assert frame["message"] == "Connection timed out after 1 seconds of inactivity"
        with pytest.raises(ConnectionClosed):
            ws.recv(timeout=10)


def test_idle_clock_is_reset_by_messages_and_not_run_while_busy() -> None:
    # a 1.5 s utterance takes ~0.75 s to stream; the socket stays open after it for the idle clock
    with running_server("--rtf", "2", "--keep-open") as srv:
        with ws_connect(srv, query="?timeout=0.5") as ws:
            ws.send(json.dumps(ws_body("one two three four five six")))
            assert ws_collect(ws).last["status"] == "complete"
            frame = json.loads(ws.recv(timeout=10))
            assert frame["status"] == "error" and "inactivity" in frame["message"]


@pytest.mark.parametrize("value", ["abc", "0", "-5", "nan"])
def test_bad_timeout_query_is_400(server: Server, value: str) -> None:
    with pytest.raises(InvalidStatus) as info:
        url = server.ws_url + LIVE + f"?timeout={value}"
        connect(url, additional_headers=server.headers, open_timeout=10)
    assert info.value.response.status_code == 400


def test_any_positive_integer_is_a_timeout(server: Server) -> None:
    """tts-ws.yaml: "Pass any positive integer (seconds)", so a day and a year are both accepted."""
    for value in ("100000", "31536000"):
        with ws_connect(server, query=f"?timeout={value}") as ws:
            ws.send(json.dumps(ws_body("long idle timeout")))
            assert ws_collect(ws).last["status"] == "complete"


def test_messages_are_journaled_in_order(server: Server) -> None:
    marker = "journal marker words"
    with ws_connect(server) as ws:
        ws.send(json.dumps(ws_body(marker, **{"continue": True})))
        ws.send(json.dumps({"text": "", "flush": True}))
        ws_collect(ws)
    entries = [e for e in inspect(server)["requests"] if e["transport"] == "ws"]
    mine = entries[-2:]
    assert mine[0]["body"]["text"] == marker and mine[0]["body"]["continue"] is True
    assert mine[1]["body"] == {"text": "", "flush": True}
    assert mine[0]["connection_id"] == mine[1]["connection_id"]


def test_websocket_connections_are_capped_at_five_per_concurrency_slot() -> None:
    """concurrency-and-limits.mdx: up to 5 WebSocket connections at once per unit of concurrency;
    the next upgrade is refused with a 429 until one closes."""
    with running_server("--max-concurrency", "1") as srv:
        with contextlib.ExitStack() as stack:
            for _ in range(5):
                stack.enter_context(ws_connect(srv))
            with pytest.raises(InvalidStatus) as info:
                connect(srv.ws_url + LIVE, additional_headers=srv.headers, open_timeout=10)
            assert info.value.response.status_code == 429
            assert b"at most 5 at once" in info.value.response.body
        with ws_connect(srv) as ws:
            ws.send(json.dumps(ws_body("after the others closed")))
            assert ws_collect(ws).last["status"] == "complete"


@pytest.mark.parametrize("field", ["max_buffer_flush_ms", "complete_backoff_ms"])
def test_the_integer_fields_refuse_a_fraction(server: Server, field: str) -> None:
    """tts-ws.yaml gives both `type: integer`: 1.5 is refused (it was cut to 1), 5.0 is taken."""
    err = ws_request(server, ws_body("a fraction", **{field: 1.5})).last
    assert err["status"] == "error" and err["error"]["code"] == "400"
    assert err["error"]["issues"] == [{
        "code": "invalid_type", "expected": "integer", "received": "float", "path": [field],
        "message": "Expected integer, received float",
    }]
    assert ws_request(server, ws_body("a whole one", **{field: 5.0})).last["status"] == "complete"
