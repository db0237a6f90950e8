"""Bounded load: 100 concurrent WebSocket streams, each complete and byte-equal to the sync body."""

from __future__ import annotations

import asyncio
import base64
import json
import time

from websockets.asyncio.client import connect

from tests.helpers import Server
from tests.test_server_helpers import LIVE, inspect, post_sync, ws_body

STREAMS = 100
FORMATS = ("pcm", "wav", "mp3", "ulaw", "alaw")


def _payload(n: int) -> dict:
    return ws_body(
        f"Stream number {n % 10} says hello to the load test.",
        output_format=FORMATS[n % len(FORMATS)],
        sample_rate=(8000, 16000, 24000, 44100)[n % 4],
        voice_id=("avery", "liam", "magnus", "meher")[n % 4],
        word_timestamps=True,
    )


async def _stream(server: Server, payload: dict) -> tuple[bytes, list[dict], dict]:
    frames: list[dict] = []
    async with connect(server.ws_url + LIVE, additional_headers=server.headers, max_size=None) as ws:
        await ws.send(json.dumps(payload))
        async for raw in ws:
            frame = json.loads(raw)
            frames.append(frame)
            if frame["status"] in ("complete", "error"):
                break
    audio = b"".join(base64.b64decode(f["data"]["audio"]) for f in frames if f["status"] == "chunk")
    words = [f["data"] for f in frames if f["status"] == "word_timestamp"]
    return audio, words, frames[-1]


async def _all(server: Server, payloads: list[dict]) -> list[tuple[bytes, list[dict], dict]]:
    return await asyncio.wait_for(asyncio.gather(*(_stream(server, p) for p in payloads)), timeout=90)


def test_hundred_concurrent_websocket_streams(server: Server) -> None:
    payloads = [_payload(n) for n in range(STREAMS)]
    # 20 distinct requests (text x format x rate x voice) repeat 5 times each
    expected = {json.dumps(p, sort_keys=True): post_sync(server, p).content for p in payloads[:20]}
    started = time.monotonic()
    results = asyncio.run(_all(server, payloads))
    elapsed = time.monotonic() - started
    for payload, (audio, words, last) in zip(payloads, results, strict=True):
        assert last["status"] == "complete", last
        assert audio == expected[json.dumps(payload, sort_keys=True)]
        if payload["voice_id"] in ("avery", "liam", "meher"):
            assert [w["word"] for w in words] == payload["text"].split()
        else:
            assert words == []
    assert inspect(server)["counters"]["active_requests"] == 0
    assert elapsed < 60
