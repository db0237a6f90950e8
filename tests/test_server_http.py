"""Conformance of `smallest serve` over plain HTTP: sync TTS, SSE, catalog, health, auth, validation."""

from __future__ import annotations

import base64
import io
import json
import struct
import wave

import pytest
import requests

from smallest_cli.protocol import voices
from smallest_cli.protocol.audio_formats import encode
from smallest_cli.protocol.wav import wav_header
from tests.audio_check import mp3_seconds
from tests.helpers import Server
from tests.test_server_helpers import LIVE, TTS, body, post_sse, post_sync

FORMATS = ("pcm", "wav", "mp3", "ulaw", "alaw")


def test_health_needs_no_key(server: Server) -> None:
    resp = requests.get(server.url + "/waves/v1/health", timeout=10)
    assert resp.status_code == 200
    assert resp.json()["status"] == "ok"
    assert resp.headers["X-Request-Id"]


def test_get_voices_returns_catalog_with_tags(server: Server) -> None:
    resp = requests.get(
        server.url + "/waves/v1/lightning-v3.1/get_voices", headers=server.headers, timeout=10
    )
    assert resp.status_code == 200
    listed = resp.json()["voices"]
    assert {v["voiceId"] for v in listed} == voices.voice_ids()
    avery = next(v for v in listed if v["voiceId"] == "avery")
    assert avery["displayName"] == "Avery"
    assert avery["tags"]["language"] == ["english"] and avery["tags"]["gender"] == "female"
    assert avery["tags"]["accent"] == "american"


#: The "Top Voices" of the standard model card (lightning-v-3-1.mdx), which tells readers to use
#: these ids as they are.
TOP_VOICES = (
    "jordan robert johnny lucas magnus ronald blofeld zorin felix malcolm lauren hannah vanessa brooke "
    "olivia rachel nicole elizabeth ilsa christine william erica chloe sunidhi chinmayi aanya siya anuja "
    "avni ishani yuvika advika sana sameera srishti sakshi maya wasim rehan parth atharv vivaan devansh "
    "aarush"
).split()


def test_the_standard_cards_top_voices_are_listed_and_spoken(server: Server) -> None:
    url = server.url + "/waves/v1/lightning-v3.1/get_voices"
    resp = requests.get(url, headers=server.headers, timeout=10)
    assert set(TOP_VOICES) <= {v["voiceId"] for v in resp.json()["voices"]}
    for voice_id in TOP_VOICES:
        spoken = post_sync(server, body(text="Hi.", voice_id=voice_id, model="lightning_v3.1"))
        assert spoken.status_code == 200 and len(spoken.content) > 1000, (voice_id, spoken.text[:200])


@pytest.mark.parametrize("model", ["lightning-v9", "lightning-v3.1-pro", "lightning_v3.1"])
def test_other_catalog_paths_are_404_json(server: Server, model: str) -> None:
    resp = requests.get(server.url + f"/waves/v1/{model}/get_voices", headers=server.headers, timeout=10)
    assert resp.status_code == 404 and "error" in resp.json()


@pytest.mark.parametrize(
    "headers",
    [{}, {"Authorization": "Bearer sk_wrong"}, {"Authorization": "Basic abc"}, {"Authorization": "Bearer "}],
)
def test_auth_is_required_and_restricted_to_the_key(server: Server, headers: dict[str, str]) -> None:
    for path in (TTS, LIVE, "/waves/v1/lightning-v3.1/get_voices"):
        method = requests.get if path.endswith("get_voices") else requests.post
        resp = method(server.url + path, json=body(), headers=headers, timeout=10)
        assert resp.status_code == 401, path
        assert resp.json()["message"]
        assert resp.headers["X-Request-Id"]


def test_sync_pcm_default_rate_and_headers(server: Server) -> None:
    payload = {"text": "Hello there", "voice_id": "magnus"}
    resp = post_sync(server, payload)
    assert resp.status_code == 200
    assert resp.headers["Content-Type"] == "audio/wav"
    assert resp.headers["X-Request-Id"]
    assert not resp.content.startswith(b"RIFF")
    assert len(resp.content) % 2 == 0
    # default 44100 Hz: the same text at 24000 Hz is shorter by that ratio (within a few samples per word)
    at_24k = post_sync(server, {**payload, "sample_rate": 24000}).content
    assert abs(len(resp.content) / 44100 - len(at_24k) / 24000) < 0.002


def _pcm_stats(pcm: bytes) -> tuple[int, float]:
    import numpy as np

    samples = np.frombuffer(pcm, dtype="<i2").astype(np.float64)
    return len(samples), float(np.sqrt(np.mean(samples**2)))


@pytest.mark.parametrize("rate", [8000, 16000, 24000, 44100])
def test_sync_wav_parses_with_the_wave_module(server: Server, rate: int) -> None:
    resp = post_sync(server, body(output_format="wav", sample_rate=rate))
    assert resp.status_code == 200 and resp.content.startswith(b"RIFF")
    with wave.open(io.BytesIO(resp.content)) as w:
        assert (w.getframerate(), w.getnchannels(), w.getsampwidth()) == (rate, 1, 2)
        frames = w.readframes(w.getnframes())
    assert resp.content[:44] == wav_header(rate, len(frames))
    n, rms = _pcm_stats(frames)
    assert n == w.getnframes() and rms > 1000  # audible, never silent
    assert frames == post_sync(server, body(sample_rate=rate)).content  # wav = header + the pcm


def test_sync_mp3_is_real_mp3(server: Server) -> None:
    resp = post_sync(server, body(output_format="mp3"))
    assert resp.status_code == 200 and resp.headers["Content-Type"] == "audio/wav"
    data = resp.content
    assert data[0] == 0xFF and data[1] & 0xE0 == 0xE0  # MPEG frame sync
    pcm = post_sync(server, body()).content
    # The request's PCM through LAME at fixed settings: as long as the speech, plus the encoder's
    # delay and the last frame's fill.
    assert data == encode(pcm, "mp3", 24000)
    assert len(pcm) / 48000 <= mp3_seconds(data) < len(pcm) / 48000 + 0.1
    assert _pcm_stats(pcm)[1] > 500


@pytest.mark.parametrize("fmt", ["ulaw", "alaw"])
def test_sync_g711_is_one_byte_per_sample(server: Server, fmt: str) -> None:
    pcm = post_sync(server, body()).content
    resp = post_sync(server, body(output_format=fmt))
    assert resp.status_code == 200 and len(resp.content) == len(pcm) // 2
    assert len(set(resp.content)) > 20


@pytest.mark.parametrize("fmt", FORMATS)
def test_same_request_gives_identical_bytes(server: Server, fmt: str) -> None:
    a = post_sync(server, body(output_format=fmt)).content
    b = post_sync(server, body(output_format=fmt)).content
    assert a == b and len(a) > 1000


def test_duration_proportional_to_text_and_divided_by_speed(server: Server) -> None:
    short = len(post_sync(server, body("one two three four")).content)
    long = len(post_sync(server, body("one two three four " * 4)).content)
    assert 3.5 < long / short < 4.5
    fast = len(post_sync(server, body("one two three four", speed=2.0)).content)
    slow = len(post_sync(server, body("one two three four", speed=0.5)).content)
    assert abs(short / fast - 2) < 0.01 and abs(slow / short - 2) < 0.01


def test_pitch_varies_by_word(server: Server) -> None:
    import numpy as np

    def dominant(word: str) -> float:
        pcm = np.frombuffer(post_sync(server, body(word)).content, dtype="<i2").astype(float)
        spectrum = np.abs(np.fft.rfft(pcm))
        return float(np.argmax(spectrum) * 24000 / len(pcm))

    pitches = {round(dominant(w)) for w in ("alpha", "bravo", "charlie", "delta", "echo")}
    assert len(pitches) >= 3


@pytest.mark.parametrize("fmt", FORMATS)
def test_sse_stream_concatenates_to_the_sync_body(server: Server, fmt: str) -> None:
    payload = body(output_format=fmt)
    resp, result = post_sse(server, payload)
    assert resp.status_code == 200
    assert resp.headers["Content-Type"].startswith("text/event-stream")
    assert resp.headers["X-Request-Id"]
    assert result.done
    assert result.events[-1] == ("message", {"status": "200", "done": True})
    for name, obj in result.events[:-1]:
        assert name == "audio" and set(obj) == {"audio", "done", "status"}
        assert obj["done"] is False and obj["status"] == "206"
    if fmt == "wav":  # "per-chunk framing bytes": each chunk a WAV of its own samples
        chunks = [base64.b64decode(obj["audio"]) for _, obj in result.events[:-1]]
        assert all(c[:4] == b"RIFF" and c[40:44] == struct.pack("<I", len(c) - 44) for c in chunks)
        assert b"".join(c[44:] for c in chunks) == post_sync(server, payload).content[44:]
        return
    assert result.audio == post_sync(server, payload).content


def test_sse_framing_is_exact(server: Server) -> None:
    resp = requests.post(server.url + LIVE, json=body("Hi"), headers=server.headers, timeout=10)
    text = resp.content.decode()
    assert text.startswith("event: audio\ndata: {")
    assert text.endswith('\n\ndata: {"status": "200", "done": true}\n\n')


def test_sse_chunks_carry_chunk_ms_of_audio(server: Server) -> None:
    _, result = post_sse(server, body(sample_rate=24000))
    sizes = [len(__import__("base64").b64decode(o["audio"])) for n, o in result.events if n == "audio"]
    assert set(sizes[:-1]) == {24000 * 20 // 1000 * 2}  # 20 ms of 16-bit samples
    assert 0 < sizes[-1] <= 960


def test_external_ids_are_echoed(server: Server) -> None:
    resp = post_sync(server, body(request_id="req-1.a_b", session_id="sess-9"))
    assert resp.headers["X-External-Request-Id"] == "req-1.a_b"
    assert resp.headers["X-External-Session-Id"] == "sess-9"
    resp, _ = post_sse(server, body(request_id="r2"))
    assert resp.headers["X-External-Request-Id"] == "r2"


def _issues(resp: requests.Response) -> list[dict]:
    assert resp.status_code == 400, resp.text
    issues = resp.json()["error"]
    assert isinstance(issues, list) and issues
    return issues


def test_validation_unknown_voice(server: Server) -> None:
    (issue,) = _issues(post_sync(server, body(voice_id="nobody")))
    assert issue == {"code": "custom", "path": ["voice_id"], "message": "Invalid Voice ID"}


def test_validation_bad_enum(server: Server) -> None:
    (issue,) = _issues(post_sync(server, body(output_format="mulaw")))
    assert issue == {
        "received": "mulaw",
        "code": "invalid_enum_value",
        "options": ["wav", "ulaw", "alaw", "pcm", "mp3"],
        "path": ["output_format"],
        "message": "Invalid enum value. Expected 'wav' | 'ulaw' | 'alaw' | 'pcm' | 'mp3', received 'mulaw'",
    }
    (issue,) = _issues(post_sync(server, body(model="lightning_v9")))
    assert issue["code"] == "invalid_enum_value" and issue["path"] == ["model"]


@pytest.mark.parametrize(
    ("fields", "path", "code"),
    [
        ({"sample_rate": 22050}, "sample_rate", "custom"),
        ({"sample_rate": "24000"}, "sample_rate", "invalid_type"),
        ({"speed": 0.4}, "speed", "too_small"),
        ({"speed": 2.01}, "speed", "too_big"),
        ({"text": ""}, "text", "too_small"),
        ({"text": "a" * 251}, "text", "too_big"),
        ({"text": "   "}, "text", "custom"),
        ({"request_id": "bad id!"}, "request_id", "custom"),
        ({"word_timestamps": "yes"}, "word_timestamps", "invalid_type"),
    ],
)
def test_validation_400_bodies(server: Server, fields: dict, path: str, code: str) -> None:
    for post in (post_sync, lambda s, p: post_sse(s, p)[0]):
        (issue,) = _issues(post(server, body(**fields)))
        assert issue["path"] == [path] and issue["code"] == code and issue["message"]


def test_validation_missing_fields_and_limits(server: Server) -> None:
    issues = _issues(post_sync(server, {"sample_rate": 16000}))
    assert {tuple(i["path"]) for i in issues} == {("text",), ("voice_id",)}
    assert all(i["code"] == "invalid_type" and i["message"] == "Required" for i in issues)
    assert post_sync(server, body("a" * 250)).status_code == 200
    assert post_sync(server, body(speed=0.5)).status_code == 200
    assert post_sync(server, body(speed=2)).status_code == 200


def test_validation_non_object_body(server: Server) -> None:
    (issue,) = _issues(post_sync(server, ["not", "an", "object"]))
    assert issue["code"] == "invalid_type" and issue["path"] == []


def test_malformed_json_gets_400_not_a_crash(server: Server) -> None:
    for path in (TTS, LIVE):
        resp = requests.post(server.url + path, data=b"{nope", headers=server.headers, timeout=10)
        assert resp.status_code == 400 and "error" in resp.json()
    assert requests.get(server.url + "/waves/v1/health", timeout=10).status_code == 200


def test_oversized_body_gets_413_json(server: Server) -> None:
    big = json.dumps(body("x" * 70000)).encode()
    resp = requests.post(server.url + TTS, data=big, headers=server.headers, timeout=10)
    assert resp.status_code == 413 and "error" in resp.json()
    assert requests.get(server.url + "/waves/v1/health", timeout=10).status_code == 200


def test_word_timestamps_flag_is_accepted_and_ignored_on_http(server: Server) -> None:
    plain = post_sync(server, body()).content
    assert post_sync(server, body(word_timestamps=True)).content == plain
