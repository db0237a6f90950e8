"""Fault injection, the inspection endpoint, the concurrency limit and pacing of `smallest serve`."""

from __future__ import annotations

import base64
import json
import socket
import time
from collections.abc import Iterator

import pytest
import requests
from websockets.exceptions import ConnectionClosed, InvalidStatus
from websockets.sync.client import ClientConnection, connect

from tests.helpers import Server, running_server, wait_until
from tests.test_server_helpers import (
    LIVE,
    TTS,
    add_faults,
    body,
    clear_faults,
    inspect,
    parse_sse,
    post_sse,
    post_sync,
    ws_body,
    ws_collect,
    ws_connect,
    ws_request,
)

CHUNK = 960  # 20 ms of 24 kHz pcm


@pytest.fixture
def srv(server: Server) -> Iterator[Server]:
    clear_faults(server)
    yield server
    clear_faults(server)


# --- status faults -------------------------------------------------------------------------------


@pytest.mark.parametrize("status", [401, 403, 429, 500])
def test_status_fault_on_sync_and_sse(srv: Server, status: int) -> None:
    add_faults(srv, {"kind": "status", "status": status, "transport": "sync"})
    add_faults(srv, {"kind": "status", "status": status, "transport": "sse", "retry_after": 3})
    resp = post_sync(srv, body())
    assert resp.status_code == status and resp.headers["X-Request-Id"]
    assert resp.json()
    if status == 429:
        assert resp.headers["Retry-After"] == "1"
    resp, _ = post_sse(srv, body())
    assert resp.status_code == status
    if status == 429:
        assert resp.headers["Retry-After"] == "3"
    assert post_sync(srv, body()).status_code == 200  # consumed: the next request is fine


@pytest.mark.parametrize("status", [429, 500])
def test_status_fault_on_ws_is_an_error_frame_and_the_socket_stays(srv: Server, status: int) -> None:
    add_faults(srv, {"kind": "status", "status": status, "transport": "ws", "message": "injected"})
    with ws_connect(srv) as ws:
        ws.send(json.dumps(body()))
        err = ws_collect(ws).last
        assert err == {
            "status": "error",
            "message": "injected",
            "error": {
                "message": "injected",
                "code": str(status),
                **({"retry_after": 1.0} if status == 429 else {}),
            },
            "session_id": err["session_id"],
        }
        ws.send(json.dumps(ws_body()))
        assert ws_collect(ws).last["status"] == "complete"


@pytest.mark.parametrize("status", [401, 403])
def test_auth_fault_on_ws_sends_error_then_closes(srv: Server, status: int) -> None:
    add_faults(srv, {"kind": "status", "status": status, "transport": "ws"})
    with ws_connect(srv) as ws:
        ws.send(json.dumps(body()))
        err = ws_collect(ws).last
        assert err["status"] == "error" and err["error"]["code"] == str(status)
        with pytest.raises(ConnectionClosed) as info:
            ws.recv(timeout=10)
        assert info.value.rcvd is not None and info.value.rcvd.code == 1008


def test_ws_connect_fault_refuses_the_upgrade(srv: Server) -> None:
    add_faults(srv, {"kind": "status", "status": 403, "transport": "ws_connect"})
    with pytest.raises(InvalidStatus) as info:
        connect(srv.ws_url + LIVE, additional_headers=srv.headers, open_timeout=10)
    assert info.value.response.status_code == 403
    assert ws_request(srv, ws_body()).last["status"] == "complete"


# --- stream faults -------------------------------------------------------------------------------


def chunks_until_closed(ws: ClientConnection) -> tuple[list[bytes], ConnectionClosed]:
    """The audio of each frame until the server closes the connection (every frame is a chunk)."""
    chunks: list[bytes] = []
    with pytest.raises(ConnectionClosed) as info:
        while True:
            frame = json.loads(ws.recv(timeout=10))
            assert frame["status"] == "chunk"
            chunks.append(base64.b64decode(frame["data"]["audio"]))
    return chunks, info.value


def test_drop_on_ws_after_n_chunks(srv: Server) -> None:
    add_faults(srv, {"kind": "drop", "after_chunks": 3, "transport": "ws"})
    with ws_connect(srv) as ws:
        ws.send(json.dumps(body()))
        chunks, closed = chunks_until_closed(ws)
    assert len(chunks) == 3
    assert closed.rcvd is None  # no close frame: the connection was dropped


def test_drop_on_sse_after_n_chunks(srv: Server) -> None:
    add_faults(srv, {"kind": "drop", "after_chunks": 2, "transport": "sse"})
    received = b""
    with pytest.raises(requests.exceptions.RequestException):
        with requests.post(srv.url + LIVE, json=body(), headers=srv.headers, stream=True, timeout=10) as resp:
            for piece in resp.iter_content(None):
                received += piece
    result = parse_sse(received)
    assert len(result.events) == 2 and not result.done


def raw_post(server: Server, path: str, payload: dict) -> tuple[dict[str, str], bytes]:
    """POST over a bare socket; read until the server closes or resets. (headers, body bytes)."""
    data = json.dumps(payload).encode()
    host = server.url[len("http://") :]
    head = (
        f"POST {path} HTTP/1.1\r\nHost: {host}\r\nAuthorization: Bearer {server.api_key}\r\n"
        f"Content-Type: application/json\r\nContent-Length: {len(data)}\r\nConnection: close\r\n\r\n"
    )
    hostname, port = host.rsplit(":", 1)
    received = b""
    with socket.create_connection((hostname, int(port)), timeout=10) as sock:
        sock.sendall(head.encode() + data)
        try:
            while piece := sock.recv(65536):
                received += piece
        except ConnectionResetError:
            pass
    raw_headers, _, rest = received.partition(b"\r\n\r\n")
    lines = raw_headers.decode().split("\r\n")
    headers = {k.lower(): v.strip() for k, _, v in (line.partition(":") for line in lines[1:])}
    headers[":status"] = lines[0].split()[1]
    return headers, rest


def test_drop_on_sync_cuts_the_body(srv: Server) -> None:
    full = post_sync(srv, body()).content
    add_faults(srv, {"kind": "drop", "after_chunks": 4, "transport": "sync"})
    headers, received = raw_post(srv, TTS, body())
    assert headers[":status"] == "200" and int(headers["content-length"]) == len(full)
    assert received == full[: 4 * CHUNK]


def test_no_terminator_on_sync_leaves_the_body_short(srv: Server) -> None:
    full = post_sync(srv, body()).content
    add_faults(srv, {"kind": "no_terminator", "transport": "sync"})
    headers, received = raw_post(srv, TTS, body())
    assert int(headers["content-length"]) == len(full)
    assert 0 < len(received) < len(full) and full.startswith(received)


def test_no_terminator_on_ws_closes_without_complete(srv: Server) -> None:
    full = post_sync(srv, body())
    add_faults(srv, {"kind": "no_terminator", "transport": "ws"})
    with ws_connect(srv) as ws:
        ws.send(json.dumps(body()))
        chunks, closed = chunks_until_closed(ws)
    assert b"".join(chunks) == full.content
    assert closed.rcvd is not None and closed.rcvd.code == 1000


def test_no_terminator_on_sse_ends_without_done(srv: Server) -> None:
    add_faults(srv, {"kind": "no_terminator", "transport": "sse"})
    resp, result = post_sse(srv, body())
    assert resp.status_code == 200 and not result.done
    assert result.audio == post_sync(srv, body()).content


def test_malformed_frame_on_ws(srv: Server) -> None:
    add_faults(srv, {"kind": "malformed", "after_chunks": 1, "transport": "ws"})
    with ws_connect(srv) as ws:
        ws.send(json.dumps(body()))
        assert json.loads(ws.recv(timeout=10))["status"] == "chunk"
        raw = ws.recv(timeout=10)
        with pytest.raises(ValueError):
            json.loads(raw)


def test_malformed_event_on_sse(srv: Server) -> None:
    add_faults(srv, {"kind": "malformed", "after_chunks": 0, "transport": "sse"})
    resp = requests.post(srv.url + LIVE, json=body(), headers=srv.headers, timeout=10)
    first = resp.content.split(b"\n\n")[0]
    assert first.startswith(b"event: audio\ndata: ")
    with pytest.raises(ValueError):
        json.loads(first.split(b"data: ", 1)[1])


def test_malformed_sync_body(srv: Server) -> None:
    add_faults(srv, {"kind": "malformed", "transport": "sync"})
    resp = post_sync(srv, body(output_format="wav"))
    assert resp.status_code == 200 and not resp.content.startswith(b"RIFF")
    assert resp.headers["Content-Type"].startswith("text/html")


def test_stall_on_ws_then_resume(srv: Server) -> None:
    add_faults(srv, {"kind": "stall", "after_chunks": 2, "stall_ms": 1500, "transport": "ws"})
    with ws_connect(srv) as ws:
        ws.send(json.dumps(ws_body()))
        for _ in range(2):
            assert json.loads(ws.recv(timeout=10))["status"] == "chunk"
        with pytest.raises(TimeoutError):
            ws.recv(timeout=0.3)  # stalled
        rest = ws_collect(ws)
    assert rest.last["status"] == "complete"


def test_stall_forever_on_sse_until_the_client_leaves(srv: Server) -> None:
    add_faults(srv, {"kind": "stall", "after_chunks": 1, "transport": "sse"})
    with pytest.raises(requests.exceptions.RequestException):  # a read timeout
        with requests.post(
            srv.url + LIVE, json=body(), headers=srv.headers, stream=True, timeout=(5, 0.5)
        ) as r:
            for _ in r.iter_content(None):
                pass
    # the stalled handler notices the client left and frees its slot
    wait_until(lambda: inspect(srv)["counters"]["active_requests"] == 0, message="stalled stream to end")


def test_stall_on_sync(srv: Server) -> None:
    add_faults(srv, {"kind": "stall", "after_chunks": 1, "stall_ms": 300, "transport": "sync"})
    started = time.monotonic()
    resp = post_sync(srv, body())
    assert resp.status_code == 200 and resp.content == post_sync(srv, body()).content
    assert time.monotonic() - started >= 0.3


def test_fault_matching_transport_count_and_text(srv: Server) -> None:
    add_faults(
        srv, {"kind": "status", "status": 500, "transport": "sse", "count": 2, "text_contains": "boom"}
    )
    assert post_sync(srv, body("boom here")).status_code == 200  # other transport
    assert post_sse(srv, body("quiet"))[0].status_code == 200  # text does not match
    assert post_sse(srv, body("boom one"))[0].status_code == 500
    pending = requests.get(srv.url + "/_smallest/faults", timeout=10).json()["pending"]
    assert len(pending) == 1 and pending[0]["remaining"] == 1
    assert post_sse(srv, body("boom two"))[0].status_code == 500
    assert post_sse(srv, body("boom three"))[0].status_code == 200


def test_faults_are_consumed_in_order(srv: Server) -> None:
    add_faults(srv, {"kind": "status", "status": 429}, {"kind": "status", "status": 500})
    assert [post_sync(srv, body()).status_code for _ in range(3)] == [429, 500, 200]


def test_fault_endpoint_validates_and_clears(srv: Server) -> None:
    url = srv.url + "/_smallest/faults"
    for bad in (
        {"kind": "explode"},
        {"kind": "drop", "transport": "carrier-pigeon"},
        {"kind": "drop", "x": 1},
        {"kind": "status", "status": 418},
        {"kind": "drop", "after_chunks": -1},
        "nope",
    ):
        resp = requests.post(url, json=bad, timeout=10)
        assert resp.status_code == 400 and resp.json()["error"], bad
    assert requests.post(url, data=b"{", timeout=10).status_code == 400
    resp = requests.post(
        url, json={"faults": [{"kind": "drop"}, {"kind": "stall", "stall_ms": 10}]}, timeout=10
    )
    assert resp.json()["queued"] == 2
    assert requests.delete(url, timeout=10).json() == {"cleared": 2}
    assert requests.get(url, timeout=10).json()["pending"] == []


# --- inspection ------------------------------------------------------------------------------------


def test_inspection_records_bodies_connections_and_counters(srv: Server) -> None:
    assert requests.delete(srv.url + "/_smallest/requests", timeout=10).status_code == 200
    with requests.Session() as session:
        for text in ("first", "second"):
            session.post(srv.url + TTS, json=body(text), headers=srv.headers, timeout=10)
    post_sse(srv, body("third"))
    ws_request(srv, ws_body("fourth"))
    snap = inspect(srv)
    entries = snap["requests"]
    assert [e["body"]["text"] for e in entries] == ["first", "second", "third", "fourth"]
    assert [e["transport"] for e in entries] == ["sync", "sync", "sse", "ws"]
    assert entries[0]["connection_id"] == entries[1]["connection_id"] != entries[2]["connection_id"]
    assert [e["seq"] for e in entries] == sorted(e["seq"] for e in entries)
    counters = snap["counters"]
    assert counters["requests"] == 4 and counters["sync_requests"] == 2
    assert counters["sse_requests"] == 1 and counters["ws_requests"] == 1
    assert counters["ws_connections"] == 1 and counters["ws_messages"] == 1
    assert counters["http_connections"] >= 2
    text = json.dumps(snap)
    assert srv.api_key not in text and "Authorization" not in text


def test_inspection_keeps_malformed_messages_as_raw(srv: Server) -> None:
    requests.delete(srv.url + "/_smallest/requests", timeout=10)
    requests.post(srv.url + TTS, data=b"{broken", headers=srv.headers, timeout=10)
    with ws_connect(srv) as ws:
        ws.send("not json either")
        ws_collect(ws)
    raws = [e.get("raw") for e in inspect(srv)["requests"]]
    assert raws == ["{broken", "not json either"]


# --- concurrency limit and pacing (own servers) ---------------------------------------------------


def test_concurrency_limit_429_with_retry_after_across_transports() -> None:
    with running_server("--max-concurrency", "1", "--rtf", "1") as srv:
        with ws_connect(srv) as busy:
            busy.send(json.dumps(body("one two three four five six seven eight")))  # ~3 s at rtf 1
            wait_until(lambda: inspect(srv)["counters"]["active_requests"] == 1, message="stream to start")
            resp = post_sync(srv, body())
            assert resp.status_code == 429 and float(resp.headers["Retry-After"]) > 0
            assert resp.headers["X-Request-Id"]
            assert post_sse(srv, body())[0].status_code == 429
            err = ws_request(srv, ws_body()).last
            assert err["status"] == "error" and err["error"]["code"] == "429"
            busy.close()
        wait_until(lambda: inspect(srv)["counters"]["active_requests"] == 0, message="slot to be released")
        assert post_sync(srv, body()).status_code == 200
        assert inspect(srv)["counters"]["rejected_429"] == 3


def test_pacing_first_chunk_latency_and_rtf() -> None:
    with running_server("--first-chunk-ms", "300", "--rtf", "4", "--chunk-ms", "40") as srv:
        text = "pacing makes this stream take a while"  # ~2.3 s of audio
        with ws_connect(srv) as ws:
            started = time.monotonic()
            ws.send(json.dumps(ws_body(text)))
            first = json.loads(ws.recv(timeout=10))
            first_at = time.monotonic() - started
            assert first["status"] == "chunk"
            assert len(__import__("base64").b64decode(first["data"]["audio"])) == 2 * 960  # 40 ms
            rest = ws_collect(ws)
            total = time.monotonic() - started
        duration = (len(rest.audio) + 1920) / 2 / 24000
        assert first_at >= 0.3
        assert total >= 0.3 + (duration - 0.04) / 4 - 0.05
        started = time.monotonic()
        assert post_sync(srv, body(text)).status_code == 200
        assert time.monotonic() - started >= 0.3 + duration / 4 - 0.05
