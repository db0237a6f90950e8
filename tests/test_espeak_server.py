"""End to end: `smallest serve --engine espeak` gives 20 concurrent WebSocket streams the very audio
that a serial synchronous POST gives for the same request."""

from __future__ import annotations

import asyncio
import base64
import json

from tests.helpers import REQUIRE_ESPEAK_ENV, require_module

np = require_module("numpy", REQUIRE_ESPEAK_ENV)
require_module("soxr", REQUIRE_ESPEAK_ENV)
require_module("espeakng_loader", REQUIRE_ESPEAK_ENV)

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
        # complete_backoff_ms 0: `complete` right after the last chunk, not the reference's 4 s later
        await ws.send(json.dumps({**body, "word_timestamps": True, "complete_backoff_ms": 0}))
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


def test_every_output_format_carries_the_same_speech_and_chunks_follow_chunk_ms() -> None:
    """One text as wav, mp3, ulaw, alaw and pcm from the eSpeak engine: each is that same speech in its
    format; with --chunk-ms 40 the first WebSocket chunk is exactly 40 ms at the requested rate."""
    import io
    import wave

    from tests.audio_check import alaw_decode, mp3_seconds, ulaw_decode

    rate = 16000
    request = {"text": "Every format says the same thing.", "voice_id": "avery", "sample_rate": rate}
    with running_server("--engine", "espeak", "--chunk-ms", "40") as server:
        got = {fmt: sync_pcm(server, {**request, "output_format": fmt})
               for fmt in ("pcm", "wav", "mp3", "ulaw", "alaw")}
        first_chunk = asyncio.run(first_ws_chunk(server, {**request, "output_format": "pcm"}))
    pcm = got["pcm"]
    n = len(pcm) // 2
    assert n > 0.5 * rate  # real speech, not an empty body

    with wave.open(io.BytesIO(got["wav"])) as w:
        assert (w.getnchannels(), w.getsampwidth(), w.getframerate()) == (1, 2, rate)
        assert w.getnframes() == n
        assert w.readframes(n) == pcm

    for law, decode in (("ulaw", ulaw_decode), ("alaw", alaw_decode)):
        assert len(got[law]) == n, law  # one byte per sample
        decoded = np.frombuffer(decode(got[law]), dtype="<i2").astype(np.int32)
        original = np.frombuffer(pcm, dtype="<i2").astype(np.int32)
        # G.711 keeps the waveform: the error stays within a quantization step (about 1/16 of the value).
        assert np.all(np.abs(decoded - original) <= np.abs(original) // 16 + 64), law

    # The MP3 lasts as long as the speech, plus the encoder's delay and the last frame's fill.
    assert n / rate <= mp3_seconds(got["mp3"]) <= (n + 3 * 1152) / rate

    assert len(first_chunk) == 2 * rate * 40 // 1000  # 40 ms of 16-bit mono


async def first_ws_chunk(server: Server, body: dict) -> bytes:
    # max_queue=None: with unread frames queued, a bounded queue pauses reading and the close
    # handshake below would wait out its 10 s timeout for the server's close frame.
    url = f"{server.ws_url}/waves/v1/tts/live"
    async with connect(url, additional_headers=server.headers, max_queue=None) as ws:
        await ws.send(json.dumps(body))
        async for message in ws:
            frame = json.loads(message)
            if frame["status"] == "chunk":
                return base64.b64decode(frame["data"]["audio"])
    raise AssertionError("no chunk")
