"""End to end: `smallest serve --engine espeak` gives 20 concurrent WebSocket streams the very audio
that a serial synchronous POST gives for the same request."""

from __future__ import annotations

import asyncio
import base64
import json

import pytest

pytest.importorskip("numpy")
pytest.importorskip("soxr")
pytest.importorskip("espeakng_loader")

import requests  # noqa: E402
from websockets.asyncio.client import connect  # noqa: E402

from smallest_cli.protocol.voices import WORD_TIMESTAMP_VOICES, catalog  # noqa: E402
from tests.helpers import Server, running_server, varied_requests  # noqa: E402


def tts_requests() -> list[dict]:
    voices = [v["voiceId"] for v in catalog()]
    languages = ("auto", "en", "auto", "es", "hi")
    return [{**r, "output_format": "pcm"} for r in varied_requests(voices, languages, voice_key="voice_id")]


def sync_pcm(server: Server, body: dict) -> bytes:
    resp = requests.post(f"{server.url}/waves/v1/tts", json=body, timeout=30,
                         headers={**server.headers, "Accept": "audio/wav"})
    assert resp.status_code == 200, resp.text
    return resp.content


async def stream_pcm(server: Server, body: dict) -> tuple[bytes, list[dict]]:
    """One WebSocket stream: (all chunk audio, word_timestamp data) up to `complete`."""
    audio = bytearray()
    words: list[dict] = []
    async with connect(f"{server.ws_url}/waves/v1/tts/live", additional_headers=server.headers) as ws:
        await ws.send(json.dumps({**body, "word_timestamps": True}))
        async for message in ws:
            frame = json.loads(message)
            if frame["status"] == "chunk":
                audio += base64.b64decode(frame["data"]["audio"])
            elif frame["status"] == "word_timestamp":
                words.append(frame["data"])
            elif frame["status"] == "complete":
                return bytes(audio), words
            else:
                raise AssertionError(f"unexpected frame {frame}")
    raise AssertionError("socket closed before complete")


async def all_streams(server: Server, bodies: list[dict]) -> list[tuple[bytes, list[dict]]]:
    return await asyncio.wait_for(asyncio.gather(*(stream_pcm(server, b) for b in bodies)), timeout=60)


def test_twenty_concurrent_streams_equal_serial_sync_audio() -> None:
    bodies = tts_requests()
    with running_server("--engine", "espeak") as server:
        serial = [sync_pcm(server, body) for body in bodies]
        streams = asyncio.run(all_streams(server, bodies))
    assert len(set(serial)) > 10  # the requests really differ
    for body, expected, (audio, words) in zip(bodies, serial, streams, strict=True):
        assert len(expected) > 0.3 * body["sample_rate"] * 2, body  # at least 0.3 s of speech
        assert audio == expected, body
        if body["voice_id"] in WORD_TIMESTAMP_VOICES:
            assert [(w["id"], w["word"]) for w in words] == list(enumerate(body["text"].split()))
            starts = [w["start"] for w in words]
            assert starts == sorted(starts) and words[-1]["end"] <= len(audio) / 2 / body["sample_rate"]
