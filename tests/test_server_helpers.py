"""Plain-client helpers for the `smallest serve` conformance tests (requests + websockets only)."""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass, field
from typing import Any

import requests
from websockets.sync.client import ClientConnection, connect

from tests.helpers import Server

TTS = "/waves/v1/tts"
LIVE = "/waves/v1/tts/live"


def body(text: str = "Hello there, small world.", **fields: Any) -> dict[str, Any]:
    return {"text": text, "voice_id": "avery", "sample_rate": 24000, **fields}


def ws_body(text: str = "Hello there, small world.", **fields: Any) -> dict[str, Any]:
    """A WebSocket message that asks for `complete` right after the last chunk: without
    `complete_backoff_ms` the server waits the reference's default 4 s first."""
    return body(text, **{"complete_backoff_ms": 0, **fields})


def post_sync(server: Server, payload: Any, **kw: Any) -> requests.Response:
    return requests.post(server.url + TTS, json=payload, headers=server.headers, timeout=30, **kw)


@dataclass
class SseResult:
    events: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    audio: bytes = b""
    done: bool = False


def parse_sse(raw: bytes) -> SseResult:
    """A small strict SSE reader for tests: events end at a blank line; data lines are joined."""
    out = SseResult()
    for block in raw.decode("utf-8").replace("\r\n", "\n").split("\n\n"):
        if not block.strip():
            continue
        name, data = "message", []
        for line in block.split("\n"):
            if line.startswith(":"):
                continue
            key, _, value = line.partition(":")
            value = value[1:] if value.startswith(" ") else value
            if key == "event":
                name = value
            elif key == "data":
                data.append(value)
        obj = json.loads("\n".join(data))
        out.events.append((name, obj))
        if "audio" in obj:
            out.audio += base64.b64decode(obj["audio"])
        if obj.get("done") is True:
            out.done = True
    return out


def post_sse(server: Server, payload: Any) -> tuple[requests.Response, SseResult]:
    resp = requests.post(
        server.url + LIVE, json=payload, headers={**server.headers, "Accept": "text/event-stream"}, timeout=30
    )
    return resp, (parse_sse(resp.content) if resp.status_code == 200 else SseResult())


def ws_connect(server: Server, query: str = "", **kw: Any) -> ClientConnection:
    # max_queue=None: a test that stops reading mid-stream must not stall the closing handshake
    # behind unread frames (the sync client stops reading its socket when its queue is full).
    kw.setdefault("max_queue", None)
    return connect(server.ws_url + LIVE + query, additional_headers=server.headers, open_timeout=10, **kw)


@dataclass
class WsResult:
    frames: list[dict[str, Any]] = field(default_factory=list)

    @property
    def audio(self) -> bytes:
        return b"".join(base64.b64decode(f["data"]["audio"]) for f in self.frames if f["status"] == "chunk")

    @property
    def words(self) -> list[dict[str, Any]]:
        return [f["data"] for f in self.frames if f["status"] == "word_timestamp"]

    @property
    def last(self) -> dict[str, Any]:
        return self.frames[-1]


def ws_collect(ws: ClientConnection, timeout: float = 20.0) -> WsResult:
    """Frames until `complete` or `error` (inclusive)."""
    result = WsResult()
    while True:
        frame = json.loads(ws.recv(timeout=timeout))
        result.frames.append(frame)
        if frame.get("status") in ("complete", "error"):
            return result


def ws_request(server: Server, payload: Any) -> WsResult:
    with ws_connect(server) as ws:
        ws.send(json.dumps(payload))
        return ws_collect(ws)


def inspect(server: Server) -> dict[str, Any]:
    return requests.get(server.url + "/_smallest/requests", timeout=10).json()


def add_faults(server: Server, *faults: dict[str, Any]) -> None:
    resp = requests.post(server.url + "/_smallest/faults", json=list(faults), timeout=10)
    assert resp.status_code == 200, resp.text


def clear_faults(server: Server) -> None:
    requests.delete(server.url + "/_smallest/faults", timeout=10)


def test_parse_sse_joins_data_lines_and_skips_comments() -> None:
    raw = b': hi\r\nevent: audio\r\ndata: {"audio":\r\ndata: "AAE="}\r\n\r\ndata: {"done": true}\n\n'
    result = parse_sse(raw)
    assert result.audio == b"\x00\x01" and result.done
