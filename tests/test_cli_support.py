"""Helpers for the end-to-end CLI tests (no tests here): the server's own answer for a request,
fault injection, and reading the server's request journal. Everything goes over real HTTP."""

from __future__ import annotations

from typing import Any

import requests

from smallest_cli.protocol.request import SynthesisOptions, build_request
from tests.helpers import Server

TEXT = "Hello from the end to end tests."


def reference(
    server: Server, text: str, fmt: str = "pcm", voice: str = "magnus", rate: int = 24000, **opts: Any
) -> bytes:
    """What the server's sync endpoint returns for the same request the CLI sends, in `fmt` (the
    CLI receives PCM and encodes the other formats itself, with the same encoder)."""
    options = SynthesisOptions(voice_id=voice, sample_rate=rate, **opts)
    body = {**build_request(text, options), "output_format": fmt}
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
