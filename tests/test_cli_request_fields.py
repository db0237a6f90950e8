"""End to end: every synthesis flag reaches the request body on the wire, for each transport."""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

import pytest
import requests

from tests.helpers import Server, run_cli


def last_body_with(server: Server, text: str) -> dict[str, Any]:
    """The body of the last request the server recorded whose text is `text`."""
    log = requests.get(server.url + "/_smallest/requests", timeout=10).json()["requests"]
    bodies = [r["body"] for r in log if isinstance(r.get("body"), dict) and r["body"].get("text") == text]
    assert bodies, f"no request with text {text!r} was recorded"
    return bodies[-1]


@pytest.mark.parametrize("command", ["speak", "stream-sse", "stream-ws"])
def test_synthesis_flags_reach_the_request_body(
    command: str, server: Server, env: dict[str, str], tmp_path: Path
) -> None:
    text = f"Fields {uuid.uuid4().hex[:8]} reach the wire."
    out = tmp_path / "out.wav"
    args = [command, text, "--speed", "1.5", "-l", "hi", "--model", "lightning_v3.1_pro"]
    result = run_cli([*args, "-r", "16000", "-v", "meher", "-o", str(out)], env)
    assert result.returncode == 0, result.stderr.decode()
    body = last_body_with(server, text)
    sent = {k: body.get(k) for k in ("speed", "language", "model", "sample_rate", "voice_id")}
    assert sent == {
        "speed": 1.5,
        "language": "hi",
        "model": "lightning_v3.1_pro",
        "sample_rate": 16000,
        "voice_id": "meher",
    }


def test_a_whole_text_over_websocket_asks_for_no_wait_before_complete(
    server: Server, env: dict[str, str], tmp_path: Path
) -> None:
    """complete_backoff_ms defaults to 4000 on the service: a whole text must say 0, or every run
    ends 4 s after its audio."""
    text = f"Backoff {uuid.uuid4().hex[:8]} is zero."
    result = run_cli(["stream-ws", text, "-o", str(tmp_path / "out.wav")], env)
    assert result.returncode == 0, result.stderr.decode()
    assert last_body_with(server, text)["complete_backoff_ms"] == 0
