"""Helpers for the end-to-end CLI tests (no tests here): the server's own answer for a request,
fault injection, and reading the server's request journal. Everything goes over real HTTP."""

from __future__ import annotations

from typing import Any

import requests

from tests.helpers import Server

TEXT = "Hello from the end to end tests."


def reference(server: Server, text: str, fmt: str = "pcm", voice: str = "magnus", rate: int = 24000) -> bytes:
    """What the server's sync endpoint returns for the request the CLI makes by default, in `fmt`
    (the CLI receives PCM and encodes the other formats itself, with the same encoder). The body is
    written out from the reference (tts-openapi.yaml, TtsRequest) with the CLI's defaults, not built
    by the CLI's own code, so a wrong field in the CLI's request shows up as different audio."""
    body = {"text": text, "voice_id": voice, "model": "lightning_v3.1", "sample_rate": rate, "speed": 1.0,
            "output_format": fmt}
    resp = requests.post(
        server.url + "/waves/v1/tts", json=body, headers={**server.headers, "Accept": "audio/wav"}, timeout=30
    )
    assert resp.status_code == 200, resp.text
    return resp.content


def add_fault(server: Server, **fault: Any) -> None:
    resp = requests.post(server.url + "/_smallest/faults", json=fault, timeout=10)
    assert resp.status_code < 300, resp.text


def clear_faults(server: Server) -> None:
    requests.delete(server.url + "/_smallest/faults", timeout=10)
