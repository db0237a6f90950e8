"""Pure parts of `smallest serve`: codecs, the tone engine, chunk planning, validation, faults."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

from smallest_cli.protocol.audio_formats import encode, pcm_to_alaw, pcm_to_ulaw
from smallest_cli.server.engines.base import VoiceInfo, WordTiming
from smallest_cli.server.engines.tones import ToneEngine
from smallest_cli.server.faults import FaultQueue, FaultSpecError, parse_faults
from smallest_cli.server.stream_plan import ChunkItem, WordItem, plan_unit
from smallest_cli.server.validation import ValidationFailed, parse_tts_body

AVERY = VoiceInfo("avery", "female", ("english",))
MAGNUS = VoiceInfo("magnus", "male", ("english",))
ALL_SAMPLES = np.arange(-32768, 32768, dtype="<i2").tobytes()


def _audioop():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        return pytest.importorskip("audioop")


def test_g711_matches_the_reference_encoders_for_every_sample() -> None:
    audioop = _audioop()
    assert pcm_to_ulaw(ALL_SAMPLES) == audioop.lin2ulaw(ALL_SAMPLES, 2)
    assert pcm_to_alaw(ALL_SAMPLES) == audioop.lin2alaw(ALL_SAMPLES, 2)


def test_g711_round_trips_closely() -> None:
    audioop = _audioop()
    back = np.frombuffer(audioop.ulaw2lin(pcm_to_ulaw(ALL_SAMPLES), 2), dtype="<i2").astype(int)
    original = np.frombuffer(ALL_SAMPLES, dtype="<i2").astype(int)
    assert np.max(np.abs(back - original)) <= 1024


def synth(text: str, voice: VoiceInfo = AVERY, rate: int = 24000, speed: float = 1.0):
    return ToneEngine().synthesize(text, voice=voice, sample_rate=rate, speed=speed, language=None)


def test_tone_engine_is_deterministic_and_split_invariant() -> None:
    whole = synth("Hello there, big world. Again")
    assert whole.pcm == synth("Hello there, big world. Again").pcm
    assert whole.pcm == synth("Hello there,").pcm + synth("big world. Again").pcm


def test_tone_engine_words_are_verbatim_and_exact() -> None:
    text = "  $100 is\tnot   much!  "
    result = synth(text, rate=16000)
    assert [w.word for w in result.words] == ["$100", "is", "not", "much!"]
    assert [w.id for w in result.words] == [0, 1, 2, 3]
    pcm = np.frombuffer(result.pcm, dtype="<i2")
    for w in result.words:
        a, b = round(w.start * 16000), round(w.end * 16000)
        assert w.start * 16000 == a and w.end * 16000 == b  # on sample boundaries
        assert np.abs(pcm[a:b]).max() > 3000
        assert not pcm[b : b + 50].any()  # the gap after the word is silent
    assert result.words[-1].end < result.duration


def test_tone_engine_voice_gender_changes_pitch() -> None:
    def pitch(voice: VoiceInfo) -> float:
        pcm = np.frombuffer(synth("aaaaaaaa", voice=voice).pcm, dtype="<i2").astype(float)
        return float(np.argmax(np.abs(np.fft.rfft(pcm))) * 24000 / len(pcm))

    assert pitch(AVERY) > pitch(MAGNUS) * 1.3


def test_tone_engine_no_aliasing_at_8k() -> None:
    pcm = np.frombuffer(synth("hello world", rate=8000).pcm, dtype="<i2")
    assert np.abs(pcm).max() > 3000


def _concat(items) -> bytes:
    return b"".join(i.data for i in items if isinstance(i, ChunkItem))


def test_plan_chunks_concatenate_and_words_precede_their_chunk() -> None:
    rate = 8000
    audio = bytes(range(256)) * 40  # 10240 bytes = 5120 samples = 0.64 s
    words = [WordTiming(0, "a", 0.0, 0.1), WordTiming(1, "b", 0.32, 0.4), WordTiming(2, "c", 0.33, 0.5)]
    items = plan_unit(
        audio, prefix=b"HDR", duration=0.64, output_format="wav", sample_rate=rate, chunk_ms=20, words=words
    )
    assert _concat(items) == b"HDR" + audio
    chunks = [i for i in items if isinstance(i, ChunkItem)]
    assert len(chunks[0].data) == 3 + 320 and all(len(c.data) == 320 for c in chunks[1:])
    # word b starts exactly at chunk 16's first sample (0.32 s), c inside chunk 16
    order = [("w", i.word.word) if isinstance(i, WordItem) else ("c", round(i.at * rate)) for i in items]
    assert order[0] == ("w", "a") and order[1] == ("c", 0)
    k = order.index(("w", "b"))
    assert order[k - 1] == ("c", 15 * 160) and order[k + 1] == ("w", "c") and order[k + 2] == ("c", 16 * 160)


def test_plan_mp3_splits_bytes_by_bitrate() -> None:
    audio = bytes(1000)
    items = plan_unit(
        audio, prefix=b"", duration=1.0, output_format="mp3", sample_rate=24000, chunk_ms=20, words=[]
    )
    sizes = [len(i.data) for i in items]
    assert sizes[0] == 160 and sum(sizes) == 1000  # 64 kbit/s * 20 ms


def test_encode_wav_header_sizes() -> None:
    pcm = bytes(200)
    assert encode(pcm, "wav", 16000)[40:44] == (200).to_bytes(4, "little")
    assert encode(pcm, "wav", 16000, wav_data_size=None)[40:44] == b"\xff\xff\xff\xff"
    assert encode(pcm, "pcm", 16000) == pcm
    with pytest.raises(ValueError):
        encode(pcm, "flac", 16000)


VOICES = frozenset({"avery", "magnus"})


def test_validation_defaults() -> None:
    req = parse_tts_body({"text": "hi", "voice_id": "avery"}, VOICES)
    assert (req.sample_rate, req.output_format, req.speed, req.model) == (44100, "pcm", 1.0, "lightning_v3.1")


def test_validation_collects_every_issue() -> None:
    with pytest.raises(ValidationFailed) as info:
        parse_tts_body({"text": 5, "voice_id": "x", "speed": True, "sample_rate": 1}, VOICES)
    paths = [i["path"] for i in info.value.issues]
    assert paths == [["text"], ["voice_id"], ["sample_rate"], ["speed"]]


def test_validation_streaming_pieces_may_be_empty_and_inherit_fields() -> None:
    first = parse_tts_body({"text": "a", "voice_id": "magnus", "continue": True, "sample_rate": 8000}, VOICES)
    flush = parse_tts_body({"text": "", "flush": True}, VOICES, allow_empty_text=True, defaults=first)
    assert flush.voice_id == "magnus" and flush.sample_rate == 8000 and flush.flush and not flush.cont
    with pytest.raises(ValidationFailed):
        parse_tts_body({"text": "", "voice_id": "avery"}, VOICES, allow_empty_text=True)
    with pytest.raises(ValidationFailed):
        parse_tts_body({"text": "x", "voice_id": "avery", "max_buffer_flush_ms": 1001}, VOICES)


def test_fault_queue_matching_and_counts() -> None:
    queue = FaultQueue()
    queue.add(parse_faults([{"kind": "drop", "transport": "ws", "count": 2}, {"kind": "stall"}]))
    assert queue.take("ws_connect", None) is None
    assert queue.take("sync", "x").kind == "stall"
    assert queue.take("ws", "x").kind == "drop"
    assert queue.pending()[0]["remaining"] == 1
    assert queue.take("ws", "x").kind == "drop"
    assert queue.take("ws", "x") is None and queue.fired == 3


@pytest.mark.parametrize(
    "spec",
    [
        {"kind": "drop", "transport": "ws_connect"},
        {"kind": "status", "status": 200},
        {"kind": "stall", "stall_ms": -5},
        {"kind": "drop", "count": 0},
        {"kind": "drop", "text_contains": 3},
        [1],
    ],
)
def test_fault_spec_errors(spec) -> None:
    with pytest.raises(FaultSpecError):
        parse_faults(spec)


# --- catalogs, voice ids, languages and takes ------------------------------------------------------


def test_catalog_is_the_union_without_pools() -> None:
    from smallest_cli.protocol import voices

    listed = [v["voiceId"] for v in voices.catalog()]
    assert len(listed) == len(set(listed)) == len(voices.voices())
    assert set(listed) == voices.voice_ids()
    assert all(set(v) == {"voiceId", "displayName", "tags"} for v in voices.catalog())
    assert voices.pool_of("avery") == voices.STANDARD and voices.pool_of("rhea") == voices.PRO
    # listed by the Pro card too, but a standard voice first (Pro shares the base voices)
    assert voices.pool_of("meher") == voices.STANDARD
    assert voices.pool_of("voice_abc") is None and voices.pool_of("nobody") is None
    henry = voices.find("henry")
    assert henry is not None and henry.accent == "british"  # the card's first listing


def test_every_catalog_language_is_a_request_language() -> None:
    from smallest_cli.protocol import voices

    for voice in voices.voices():
        for tag in voice.languages:
            assert voices.LANGUAGE_CODES[tag] in voices.REQUEST_LANGUAGES, (voice.voice_id, tag)
    assert len(set(voices.REQUEST_LANGUAGES)) == len(voices.REQUEST_LANGUAGES) == 33


@pytest.mark.parametrize(
    ("voice_id", "ok"),
    [("voice_a1B2", True), ("voice_", False), ("voice_a b", False), ("xvoice_a", False), ("rhea", False)],
)
def test_validation_accepts_cloned_voice_ids(voice_id: str, ok: bool) -> None:
    payload = {"text": "hi", "voice_id": voice_id}
    if ok:
        assert parse_tts_body(payload, VOICES).voice_id == voice_id
    else:
        with pytest.raises(ValidationFailed):
            parse_tts_body(payload, VOICES)


def test_validation_of_languages() -> None:
    for language in ("auto", "he", "ja", "no", "en"):
        assert parse_tts_body({"text": "hi", "voice_id": "avery", "language": language}, VOICES).language
    for field in ("language", "number_pronunciation_language"):
        with pytest.raises(ValidationFailed) as info:
            parse_tts_body({"text": "hi", "voice_id": "avery", field: "en-US"}, VOICES)
        (issue,) = info.value.issues
        assert issue["code"] == "invalid_enum_value" and issue["path"] == [field]


def test_continuation_inherits_complete_backoff_ms() -> None:
    opening = {"text": "a", "voice_id": "avery", "continue": True, "complete_backoff_ms": 10}
    first = parse_tts_body(opening, VOICES)
    assert first.complete_backoff_ms == 10
    end = parse_tts_body({"text": "", "flush": True}, VOICES, allow_empty_text=True, defaults=first)
    assert end.complete_backoff_ms == 10
    assert parse_tts_body({"text": "a", "voice_id": "avery"}, VOICES).complete_backoff_ms == 4000


def test_state_knows_cloned_voices() -> None:
    from smallest_cli.server.state import ServerConfig, ServerState

    state = ServerState(config=ServerConfig(), engine=ToneEngine())
    clone = state.voice("voice_Xy9")
    assert clone.voice_id == "voice_Xy9" and clone.gender in ("female", "male")
    assert state.voice("voice_Xy9") == clone and state.voice("rhea").accent == "indian"
    with pytest.raises(KeyError):
        state.voice("nobody")


def take(text: str, n: int, voice: VoiceInfo = AVERY) -> bytes:
    return ToneEngine().synthesize(text, voice=voice, sample_rate=16000, speed=1.0, language=None, take=n).pcm


def test_tone_takes_differ_but_keep_length_timings_and_splits() -> None:
    text = "Hello there, big world. Again"
    canonical = synth(text, rate=16000)
    assert take(text, 0) == canonical.pcm
    takes = {take(text, n) for n in (1, 2, 3, 123456789)}
    assert len(takes) == 4 and canonical.pcm not in takes
    assert {len(t) for t in takes} == {len(canonical.pcm)}
    timed = ToneEngine().synthesize(text, voice=AVERY, sample_rate=16000, speed=1.0, language=None, take=7)
    assert timed.words == canonical.words
    assert take(text, 7) == take(text, 7)  # a take is reproducible
    assert take(text, 7) == take("Hello there,", 7) + take("big world. Again", 7)
