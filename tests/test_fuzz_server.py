"""Fuzzing `smallest serve` over the network: random JSON, raw bodies and WebSocket messages on
the sync, SSE and WebSocket paths. Every answer is a well-formed response (never a 5xx or a dead
server), and afterwards a health check and a normal request still succeed."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
import requests
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import connect

from tests.helpers import Server, running_server

FUZZ = settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)

scalars = (
    st.none()
    | st.booleans()
    | st.integers(-(2**40), 2**40)
    | st.floats(allow_nan=False)
    | st.text(max_size=30)
)
values = st.recursive(
    scalars,
    lambda i: st.lists(i, max_size=3) | st.dictionaries(st.text(max_size=6), i, max_size=3),
    max_leaves=8,
)
FIELDS = [
    "text",
    "voice_id",
    "model",
    "sample_rate",
    "speed",
    "language",
    "output_format",
    "word_timestamps",
    "continue",
    "flush",
    "max_buffer_flush_ms",
    "complete_backoff_ms",
    "request_id",
    "session_id",
]
GOOD = {"text": "Hi there.", "voice_id": "magnus", "sample_rate": 8000, "output_format": "pcm"}
bodies = st.one_of(
    st.dictionaries(st.sampled_from(FIELDS), values, max_size=6).map(lambda d: json.dumps(d).encode()),
    st.dictionaries(st.sampled_from(FIELDS), values, max_size=4).map(
        lambda d: json.dumps({**GOOD, **d}).encode()
    ),
    values.map(lambda v: json.dumps(v).encode()),
    st.binary(max_size=300),
)


@pytest.fixture(scope="module")
def fuzz_server() -> Iterator[Server]:
    """A server of its own: fuzzing must not disturb the shared one."""
    with running_server("--idle-timeout", "5") as srv:
        yield srv


def _still_healthy(srv: Server) -> None:
    health = requests.get(srv.url + "/waves/v1/health", timeout=10)
    assert health.status_code == 200 and health.json()["status"] == "ok"
    resp = requests.post(srv.url + "/waves/v1/tts", json=GOOD, headers=srv.headers, timeout=10)
    assert resp.status_code == 200 and len(resp.content) > 1000


def test_server_binds_loopback(fuzz_server: Server) -> None:
    assert fuzz_server.url.startswith("http://127.0.0.1:")


@pytest.mark.parametrize("path", ["/waves/v1/tts", "/waves/v1/tts/live"])
def test_http_paths_survive_random_bodies(path: str, fuzz_server: Server) -> None:
    session = requests.Session()
    accept = "text/event-stream" if path.endswith("live") else "audio/wav"

    @FUZZ
    @given(bodies, st.sampled_from(["application/json", "text/plain", "application/octet-stream"]))
    def one(body: bytes, ctype: str) -> None:
        headers = {**fuzz_server.headers, "Accept": accept, "Content-Type": ctype}
        resp = session.post(fuzz_server.url + path, data=body, headers=headers, timeout=10)
        assert resp.status_code in (200, 400, 413, 415, 422), (resp.status_code, body[:100])
        if resp.status_code != 200:
            assert isinstance(resp.json(), dict)  # a JSON error body, never a stack trace
        elif path.endswith("live"):
            assert resp.text.rstrip().endswith('data: {"status": "200", "done": true}')

    one()
    _still_healthy(fuzz_server)


def test_websocket_survives_random_messages(fuzz_server: Server) -> None:
    url = fuzz_server.ws_url + "/waves/v1/tts/live"
    # Valid on its own, and ends any request the fuzz message opened with `continue: true`.
    end = json.dumps({"text": "", "voice_id": "magnus"})

    @FUZZ
    @given(bodies, st.booleans())
    def one(body: bytes, as_text: bool) -> None:
        with connect(url, additional_headers=fuzz_server.headers, open_timeout=10) as conn:
            try:
                conn.send(body.decode("utf-8", "replace") if as_text else body)
                conn.send(end)
                while True:  # every answer is a JSON frame of the contract, up to complete/error
                    frame = json.loads(conn.recv(timeout=10))
                    assert frame["status"] in ("chunk", "word_timestamp", "complete", "error"), frame
                    if frame["status"] in ("complete", "error"):
                        break
            except ConnectionClosed as closed:
                # Only a deliberate close is allowed (1009 too big, 1008 policy), never a crash.
                assert closed.rcvd is not None and closed.rcvd.code in (1000, 1008, 1009), closed

    one()
    _still_healthy(fuzz_server)
    with connect(url, additional_headers=fuzz_server.headers, open_timeout=10) as conn:
        conn.send(json.dumps(GOOD))
        statuses = []
        while not statuses or statuses[-1] != "complete":
            statuses.append(json.loads(conn.recv(timeout=10))["status"])
        assert "chunk" in statuses
