"""`smallest serve` against Smallest AI's published API reference: one row per published fact.

Each row names the file of the public repository smallest-inc/smallest-ai-documentation that states
the fact and the field or section where it does, and checks it against a real `smallest serve`
over real sockets. Where versions of the reference disagree, the server must satisfy every reading.
"""

from __future__ import annotations

import base64
import json
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from typing import Any

import pytest
import requests
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import ClientConnection

from smallest_cli.protocol import voices
from tests.helpers import Server, running_server
from tests.test_server_helpers import (
    LIVE,
    TTS,
    body,
    post_sse,
    post_sync,
    ws_body,
    ws_collect,
    ws_connect,
    ws_request,
)

TTS_OPENAPI = "fern/apis/waves/openapi/tts-openapi.yaml"
TTS_WS = "fern/apis/waves/asyncapi/tts-ws.yaml"
VOICES_OPENAPI = "fern/apis/waves/openapi/get-voices-openapi.yaml"
PRO_CARD = "fern/products/waves/pages/text-to-speech/model-cards/lightning-v-3-1-pro.mdx"
STREAM_PAGE = "fern/products/waves/pages/text-to-speech/stream-tts.mdx"

VOICES = "/waves/v1/lightning-v3.1/get_voices"
MODELS = ("lightning_v3.1", "lightning_v3.1_pro")
PRO_VOICE = "kai"  # a Pro-only voice (Vietnamese)
SHORT = {"text": "Hi there.", "sample_rate": 8000}


@dataclass(frozen=True)
class Fact:
    name: str
    #: "<file>: <field or section>" of the reference that states the fact.
    source: str
    check: Callable[[Server], None]
    #: `smallest serve` options the fact needs (none: the shared default server).
    serve: tuple[str, ...] = ()


# --- helpers -------------------------------------------------------------------------------------


def _get_voices(server: Server, path: str = VOICES) -> requests.Response:
    return requests.get(server.url + path, headers=server.headers, timeout=10)


def _frames_until_closed(ws: ClientConnection, deadline: float) -> tuple[list[dict[str, Any]], float]:
    """Every frame until the server closes the socket, and when the last chunk arrived
    (time.monotonic()); fails if the socket is still open at `deadline`."""
    frames: list[dict[str, Any]] = []
    last_chunk = 0.0
    while True:
        try:
            frame = json.loads(ws.recv(timeout=max(0.01, deadline - time.monotonic())))
        except ConnectionClosed:
            return frames, last_chunk
        frame["_at"] = time.monotonic()
        if frame["status"] == "chunk":
            last_chunk = frame["_at"]
        frames.append(frame)


def _complete_gap(server: Server, payload: dict[str, Any]) -> float:
    """Seconds between the last chunk and `complete` of one WebSocket request."""
    with ws_connect(server) as ws:
        ws.send(json.dumps(payload))
        frames, last_chunk = _frames_until_closed(ws, time.monotonic() + 20)
    assert frames[-1]["status"] == "complete" and last_chunk
    return float(frames[-1]["_at"]) - last_chunk


def _issue_paths(resp: requests.Response) -> set[tuple[Any, ...]]:
    assert resp.status_code == 400, resp.text
    return {tuple(issue["path"]) for issue in resp.json()["error"]}


# --- voices --------------------------------------------------------------------------------------


def voices_path_serves_both_catalogs(server: Server) -> None:
    resp = _get_voices(server)
    assert resp.status_code == 200
    listed = [v["voiceId"] for v in resp.json()["voices"]]
    assert len(listed) == len(set(listed))
    standard = {v.voice_id for v in voices.voices() if v.pool == voices.STANDARD}
    pro = {v.voice_id for v in voices.voices() if v.pool == voices.PRO}
    assert set(listed) == standard | pro and "avery" in standard and PRO_VOICE in pro
    assert len(pro) > 150


def voices_have_the_schema_and_no_pool_flag(server: Server) -> None:
    tags = {"language", "accent", "gender", "age", "emotions", "usecases"}
    for voice in _get_voices(server).json()["voices"]:
        assert set(voice) == {"voiceId", "displayName", "tags"}, voice
        assert set(voice["tags"]) <= tags and voice["tags"]["gender"] in ("female", "male")
        assert voice["tags"]["language"] and all(isinstance(x, str) for x in voice["tags"]["language"])
    assert "pool" not in _get_voices(server).text


def pro_voices_path_is_not_served(server: Server) -> None:
    resp = _get_voices(server, "/waves/v1/lightning-v3.1-pro/get_voices")
    assert resp.status_code == 404 and "error" in resp.json()


# --- voices and models in TTS requests ------------------------------------------------------------


def every_voice_works_with_either_model(server: Server) -> None:
    with requests.Session() as session:
        for voice_id in sorted(voices.voice_ids()):
            for model in MODELS:
                payload = {**SHORT, "voice_id": voice_id, "model": model}
                resp = session.post(server.url + TTS, json=payload, headers=server.headers, timeout=10)
                assert resp.status_code == 200 and len(resp.content) > 1000, (voice_id, model, resp.text)


def pro_voice_streams_on_every_transport(server: Server) -> None:
    payload = body("Xin chao.", voice_id=PRO_VOICE, model="lightning_v3.1_pro", language="vi")
    whole = post_sync(server, payload)
    assert whole.status_code == 200 and len(whole.content) > 1000
    assert post_sse(server, payload)[1].audio == whole.content
    assert ws_request(server, {**payload, "complete_backoff_ms": 0}).audio == whole.content


def cloned_voice_id_is_accepted(server: Server) -> None:
    payload = body(voice_id="voice_Ab12cd34")
    assert post_sync(server, payload).status_code == 200
    result = ws_request(server, ws_body(voice_id="voice_Ab12cd34"))
    assert result.last["status"] == "complete" and result.audio


def unknown_voice_id_is_400(server: Server) -> None:
    for voice_id in ("nobody", "voice_", "voice_a-b", "Avery"):
        resp = post_sync(server, body(voice_id=voice_id))
        assert resp.status_code == 400
        invalid = {"code": "custom", "path": ["voice_id"], "message": "Invalid Voice ID"}
        assert resp.json()["error"] == [invalid], voice_id


def every_reference_language_is_accepted(server: Server) -> None:
    assert {"auto", "en", "hi", "he", "ja", "zh", "no", "nl", "sv"} <= set(voices.REQUEST_LANGUAGES)
    with requests.Session() as session:
        for language in voices.REQUEST_LANGUAGES:
            payload = {**SHORT, "voice_id": "avery", "language": language}
            resp = session.post(server.url + TTS, json=payload, headers=server.headers, timeout=10)
            assert resp.status_code == 200, (language, resp.text)


def other_languages_are_400(server: Server) -> None:
    for language in ("xx", "english", "EN", "en-US"):
        (issue,) = post_sync(server, body(language=language)).json()["error"]
        assert issue["code"] == "invalid_enum_value" and issue["path"] == ["language"]
        assert issue["received"] == language and issue["options"] == list(voices.REQUEST_LANGUAGES)
        assert _issue_paths(post_sse(server, body(language=language))[0]) == {("language",)}
    err = ws_request(server, ws_body(language="xx")).last
    assert err["status"] == "error" and err["error"]["code"] == "400"
    assert [i["path"] for i in err["error"]["issues"]] == [["language"]]


def word_timestamps_only_on_base_voices(server: Server) -> None:
    base = ws_request(server, ws_body(voice_id="meher", model="lightning_v3.1_pro", word_timestamps=True))
    assert [w["word"] for w in base.words] == body()["text"].split()
    pro_only = ws_request(server, ws_body(voice_id="rhea", model="lightning_v3.1_pro", word_timestamps=True))
    assert pro_only.words == [] and pro_only.audio and pro_only.last["status"] == "complete"


# --- WebSocket -----------------------------------------------------------------------------------


def ws_closes_after_complete(server: Server) -> None:
    with ws_connect(server) as ws:
        ws.send(json.dumps(ws_body()))
        assert ws_collect(ws).last["status"] == "complete"
        with pytest.raises(ConnectionClosed) as closed:
            ws.recv(timeout=10)
    assert closed.value.rcvd is not None and closed.value.rcvd.code == 1000


def complete_frame_has_the_reference_shape(server: Server) -> None:
    mine = ws_request(server, ws_body(session_id="my-session-123", request_id="my-request-456"))
    chunk = mine.frames[0]
    assert mine.last == {
        "status": "complete",
        "session_id": chunk["session_id"],
        "request_id": chunk["request_id"],
        "external_session_id": "my-session-123",
        "external_request_id": "my-request-456",
    }
    plain = ws_request(server, ws_body()).last
    assert set(plain) == {"status", "session_id", "request_id"}  # client ids omitted when not sent
    assert all("done" not in frame for frame in mine.frames)


def keep_open_serves_request_after_request(server: Server) -> None:
    with ws_connect(server) as ws:
        results = []
        for text in ("First request.", "Second request.", "Third request."):
            ws.send(json.dumps(ws_body(text)))
            results.append(ws_collect(ws))
            assert results[-1].last["status"] == "complete"
            assert results[-1].audio == post_sync(server, body(text)).content
    assert len({r.last["session_id"] for r in results}) == 1  # one session per connection
    assert len({r.last["request_id"] for r in results}) == 3


def complete_backoff_ms_is_waited_after_the_last_chunk(server: Server) -> None:
    gap = _complete_gap(server, body(complete_backoff_ms=700))
    assert 0.65 <= gap < 2.7, gap


def complete_backoff_ms_defaults_to_4000(server: Server) -> None:
    payload = body()
    assert "complete_backoff_ms" not in payload
    gap = _complete_gap(server, payload)
    assert 3.95 <= gap < 6.0, gap


def complete_backoff_ms_range_is_0_to_10000(server: Server) -> None:
    assert _complete_gap(server, body(complete_backoff_ms=0)) < 0.5
    for bad in (-1, 10001):
        err = ws_request(server, body(complete_backoff_ms=bad)).last
        assert err["status"] == "error" and err["error"]["code"] == "400"
        assert [i["path"] for i in err["error"]["issues"]] == [["complete_backoff_ms"]]


# --- SSE and HTTP headers --------------------------------------------------------------------------


def sse_ends_with_the_done_event(server: Server) -> None:
    resp = requests.post(server.url + LIVE, json=body(), headers=server.headers, timeout=10)
    assert resp.status_code == 200 and resp.headers["Content-Type"].startswith("text/event-stream")
    events = [e for e in resp.content.decode().split("\n\n") if e]
    *audio, last = events
    assert last == 'data: {"status": "200", "done": true}'
    assert json.loads(last[len("data: ") :])["done"] is True  # the openapi text's `{"done": true}`
    for event in audio:
        name, data = event.split("\n")
        assert name == "event: audio"
        assert json.loads(data[len("data: ") :])["done"] is False
    joined = b"".join(base64.b64decode(json.loads(e.split("\n")[1][6:])["audio"]) for e in audio)
    assert joined == post_sync(server, body()).content


def http_answers_carry_the_id_headers(server: Server) -> None:
    for post in (post_sync, lambda s, p: post_sse(s, p)[0]):
        echoed = post(server, body(session_id="sess.1", request_id="req_2"))
        assert echoed.status_code == 200
        assert echoed.headers["X-External-Session-Id"] == "sess.1"
        assert echoed.headers["X-External-Request-Id"] == "req_2"
        plain = post(server, body())
        assert plain.headers["X-External-Session-Id"] == "" and plain.headers["X-External-Request-Id"] == ""
        for resp in (echoed, plain):
            assert resp.headers["X-Session-Id"] and resp.headers["X-Request-Id"]
        assert echoed.headers["X-Request-Id"] != plain.headers["X-Request-Id"]


# --- renders -------------------------------------------------------------------------------------


def varied_takes_differ_for_the_same_text(server: Server) -> None:
    first, second = (post_sync(server, body()).content for _ in range(2))
    assert first != second and len(first) == len(second) > 1000  # another take, same timing
    streamed = ws_request(server, ws_body()).audio
    assert len(streamed) == len(first) and streamed not in (first, second)


FACTS: tuple[Fact, ...] = (
    Fact("voices_path_serves_both_catalogs",
         f"{VOICES_OPENAPI}: paths./waves/v1/{{model}}/get_voices (lightning-v3.1); "
         f"{PRO_CARD}: Best Practices > Language selection (Pro voices' tags live on that catalog)",
         voices_path_serves_both_catalogs),
    Fact("voices_have_the_schema_and_no_pool_flag",
         f"{VOICES_OPENAPI}: responses.200 voices[] (voiceId, displayName, tags.language/accent/gender/"
         "age/emotions/usecases); which pool a voice is in is only in the model cards",
         voices_have_the_schema_and_no_pool_flag),
    Fact("pro_voices_path_is_not_served",
         f"{TTS_OPENAPI}: TtsRequest.language (voice catalog at GET /waves/v1/lightning-v3.1/get_voices); "
         f"{TTS_WS}: ttsRequest.message.language (same)",
         pro_voices_path_is_not_served),
    Fact("every_voice_works_with_either_model",
         f"{TTS_OPENAPI}: synthesizeSpeech, Common gotchas (\"The API does not reject mismatched "
         "pairings\"); "
         f"{PRO_CARD}: Best Practices > Voice ID + model pairing",
         every_voice_works_with_either_model),
    Fact("pro_voice_streams_on_every_transport",
         f"{TTS_OPENAPI}: TtsRequest.model enum; {TTS_WS}: ttsRequest.message.model enum; "
         f"{PRO_CARD}: Voice Catalog",
         pro_voice_streams_on_every_transport),
    Fact("cloned_voice_id_is_accepted",
         f"{TTS_OPENAPI}: synthesizeSpeech, Key features (\"Cloned voice IDs (voice_*) ... same param as "
         "catalog voices\")",
         cloned_voice_id_is_accepted),
    Fact("unknown_voice_id_is_400", f"{TTS_OPENAPI}: /waves/v1/tts responses.400", unknown_voice_id_is_400),
    Fact("every_reference_language_is_accepted",
         f"{TTS_OPENAPI}: TtsRequest.language enum (every version); {TTS_WS}: ttsRequest.message.language "
         f"enum; {PRO_CARD}: Supported Languages",
         every_reference_language_is_accepted),
    Fact("other_languages_are_400", f"{TTS_OPENAPI}: TtsRequest.language enum; {TTS_WS}: language enum",
         other_languages_are_400),
    Fact("word_timestamps_only_on_base_voices",
         f"{PRO_CARD}: FAQ > Are word-level timestamps supported on Pro voices?; "
         f"{TTS_WS}: ttsRequest.message.word_timestamps",
         word_timestamps_only_on_base_voices),
    Fact("ws_closes_after_complete",
         f"{TTS_WS}: ttsResponse.message.status (\"complete — terminal frame; the server closes the "
         "WebSocket after this\")",
         ws_closes_after_complete),
    Fact("complete_frame_has_the_reference_shape",
         f"{TTS_WS}: components.schemas.CompletionStatus, example completionStatus, "
         "ttsResponse.message.external_session_id/external_request_id (\"omitted if not provided\")",
         complete_frame_has_the_reference_shape),
    Fact("keep_open_serves_request_after_request",
         f"{STREAM_PAGE}: WebSocket vs SSE (\"Multiple messages: Reuse same connection\"); "
         f"{TTS_WS}: ttsResponse.message.session_id (stable for the connection lifetime)",
         keep_open_serves_request_after_request, serve=("--keep-open",)),
    Fact("complete_backoff_ms_is_waited_after_the_last_chunk",
         f"{TTS_WS}: ttsRequest.message.complete_backoff_ms (\"wait after the last chunk is sent before "
         "sending the complete response\")",
         complete_backoff_ms_is_waited_after_the_last_chunk),
    Fact("complete_backoff_ms_defaults_to_4000",
         f"{TTS_WS}: ttsRequest.message.complete_backoff_ms (default: 4000)",
         complete_backoff_ms_defaults_to_4000),
    Fact("complete_backoff_ms_range_is_0_to_10000",
         f"{TTS_WS}: ttsRequest.message.complete_backoff_ms (minimum: 0, maximum: 10000)",
         complete_backoff_ms_range_is_0_to_10000),
    Fact("sse_ends_with_the_done_event",
         f"{TTS_OPENAPI}: /waves/v1/tts/live responses.200 text/event-stream (\"terminated by a "
         "data: {\"done\": true} frame\")",
         sse_ends_with_the_done_event),
    Fact("http_answers_carry_the_id_headers",
         f"{TTS_OPENAPI}: /waves/v1/tts and /waves/v1/tts/live responses.200.headers (X-Session-Id, "
         "X-Request-Id, X-External-Session-Id, X-External-Request-Id: \"empty if not provided\")",
         http_answers_carry_the_id_headers),
    Fact("varied_takes_differ_for_the_same_text",
         f"{TTS_OPENAPI} and {TTS_WS}: no field or section promises that two renders of one text are "
         "equal (a neural service's are not); `--varied-takes` serves that reading",
         varied_takes_differ_for_the_same_text, serve=("--varied-takes",)),
)


@pytest.fixture(scope="module")
def servers(server: Server) -> Iterator[Callable[[tuple[str, ...]], Server]]:
    """The server a fact needs: the shared one, or one started (once) with the fact's options."""
    with ExitStack() as stack:
        started: dict[tuple[str, ...], Server] = {(): server}

        def get(options: tuple[str, ...]) -> Server:
            if options not in started:
                started[options] = stack.enter_context(running_server(*options))
            return started[options]

        yield get


@pytest.mark.parametrize("fact", FACTS, ids=[f.name for f in FACTS])
def test_published_fact(fact: Fact, servers: Callable[[tuple[str, ...]], Server]) -> None:
    assert fact.source.startswith("fern/")
    fact.check(servers(fact.serve))
