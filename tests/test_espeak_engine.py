"""EspeakEngine: real eSpeak NG speech, voices and languages honoured, word timings on the audio."""

from __future__ import annotations

import sys
import time
from collections.abc import Iterator

import pytest

from tests.helpers import REQUIRE_ESPEAK_ENV, require_module

np = require_module("numpy", REQUIRE_ESPEAK_ENV)
require_module("soxr", REQUIRE_ESPEAK_ENV)
require_module("espeakng_loader", REQUIRE_ESPEAK_ENV)

from smallest_cli.errors import EXIT_USAGE, UsageError  # noqa: E402
from smallest_cli.protocol.voices import catalog  # noqa: E402
from smallest_cli.server.engines.base import Synthesis, VoiceInfo  # noqa: E402
from smallest_cli.server.engines.espeak import (  # noqa: E402
    MISSING_EXTRA,
    EspeakEngine,
    voice_names,
    words_per_minute,
)

AVERY = VoiceInfo("avery", "female", ("english",))
MAGNUS = VoiceInfo("magnus", "male", ("english",))
LIAM = VoiceInfo("liam", "male", ("english",))
MEHER = VoiceInfo("meher", "female", ("hindi", "english"))
DANIELLA = VoiceInfo("daniella", "female", ("spanish",))
PAUSE_MARKS = tuple(",.;!?")


@pytest.fixture(scope="module")
def engine() -> Iterator[EspeakEngine]:
    yield EspeakEngine()


def speak(engine: EspeakEngine, text: str, voice: VoiceInfo = AVERY, *, sample_rate: int = 24000,
          speed: float = 1.0, language: str | None = "auto") -> Synthesis:
    return engine.synthesize(text, voice=voice, sample_rate=sample_rate, speed=speed, language=language)


def samples(synthesis: Synthesis):
    return np.frombuffer(synthesis.pcm, dtype="<i2").astype(np.float64)


def rms(x) -> float:
    return float(np.sqrt(np.mean(x**2))) if len(x) else 0.0


def voice_of(entry: dict) -> VoiceInfo:
    return VoiceInfo(entry["voiceId"], entry["tags"]["gender"], tuple(entry["tags"]["language"]))


def test_speech_is_loud_and_grows_with_the_text(engine: EspeakEngine) -> None:
    short = speak(engine, "Hello.")
    long = speak(engine, "Hello. This sentence is quite a lot longer than the first one, isn't it?")
    assert rms(samples(short)) > 500 and rms(samples(long)) > 500
    assert 0.3 < short.duration < 2.0
    assert long.duration > 3 * short.duration
    assert short.sample_rate == 24000 and len(short.pcm) % 2 == 0


def test_speed_maps_to_rate(engine: EspeakEngine) -> None:
    assert (words_per_minute(1.0), words_per_minute(0.5), words_per_minute(2.0)) == (175, 88, 350)
    assert words_per_minute(0.1) == 80 and words_per_minute(10) == 450
    text = "The quick brown fox jumps over the lazy dog."
    slow, normal, fast = (speak(engine, text, speed=s).duration for s in (0.5, 1.0, 2.0))
    assert slow > 1.6 * normal and normal > 1.6 * fast


@pytest.mark.parametrize("rate", [8000, 16000, 22050, 24000, 44100])
def test_every_rate_has_the_same_duration(engine: EspeakEngine, rate: int) -> None:
    text = "Resampling keeps the length of speech."
    native = speak(engine, text, sample_rate=engine.native_rate)
    out = speak(engine, text, sample_rate=rate)
    assert len(out.pcm) == 2 * round(len(native.pcm) / 2 * rate / engine.native_rate)
    assert out.words == native.words
    assert rms(samples(out)) > 500


def test_voice_mapping_follows_language_accent_and_gender() -> None:
    assert voice_names(AVERY, "auto")[0].startswith("en-us+f")
    assert voice_names(MAGNUS, None)[0].startswith("en-us+m")
    assert voice_names(LIAM, "auto")[0].startswith("en+m")  # eSpeak's "en" is British English
    assert voice_names(MEHER, "auto")[0].startswith("hi+f")
    assert voice_names(MEHER, "en")[0].startswith("en+f")
    assert voice_names(DANIELLA, "auto")[0].startswith("es+f")
    assert voice_names(AVERY, "es")[0].startswith("es+f")
    expected = {"tamil": "ta", "malayalam": "ml", "telugu": "te", "marathi": "mr", "gujarati": "gu",
                "kannada": "kn"}
    for entry in catalog():
        voice = voice_of(entry)
        tag = voice.languages[0]
        if tag in expected:
            assert voice_names(voice, "auto")[0].split("+")[0] == expected[tag]
    # the voice's own language stays as the fallback after an override
    assert voice_names(AVERY, "xx")[-1] == voice_names(AVERY, "auto")[0]


def test_every_catalog_voice_and_language_speaks(engine: EspeakEngine) -> None:
    for entry in catalog():
        out = speak(engine, "One two.", voice_of(entry), sample_rate=8000)
        assert rms(samples(out)) > 300, entry["voiceId"]
    for language in ("en", "hi", "es", "de", "fr", "ta", "auto", "zz", "not a language"):
        assert rms(samples(speak(engine, "One two.", AVERY, sample_rate=8000, language=language))) > 300


def test_voices_and_languages_change_the_audio(engine: EspeakEngine) -> None:
    text = "Good morning."
    female, male, british = (speak(engine, text, v).pcm for v in (AVERY, MAGNUS, LIAM))
    assert len({female, male, british}) == 3
    assert speak(engine, text, AVERY, language="es").pcm != female
    assert speak(engine, text, AVERY, language="auto").pcm == speak(engine, text, AVERY, language=None).pcm


def test_deterministic_across_interleaved_requests(engine: EspeakEngine) -> None:
    text = "Determinism matters for tests."
    first = speak(engine, text, MAGNUS, speed=1.3, sample_rate=16000)
    speak(engine, "Something else entirely, in Hindi.", MEHER, speed=0.7, sample_rate=44100)
    again = speak(engine, text, MAGNUS, speed=1.3, sample_rate=16000)
    assert again.pcm == first.pcm and again.words == first.words


def test_deterministic_across_a_clock_second(engine: EspeakEngine) -> None:
    """eSpeak seeds the breath noise of female variants from time(); the engine pins the seed.
    Synthesize until the wall-clock second has changed (at most about one second)."""
    text = "It costs $5.20, maybe more!"
    first = speak(engine, text, AVERY, sample_rate=8000)
    start_second = int(time.time())
    deadline = time.monotonic() + 3
    while int(time.time()) == start_second and time.monotonic() < deadline:
        assert speak(engine, text, AVERY, sample_rate=8000).pcm == first.pcm
    assert int(time.time()) != start_second
    assert speak(engine, text, AVERY, sample_rate=8000).pcm == first.pcm


def test_blank_text_gives_no_audio(engine: EspeakEngine) -> None:
    out = speak(engine, "  \n\t ")
    assert out.pcm == b"" and out.words == [] and out.sample_rate == 24000


def test_missing_extra_is_a_usage_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "espeakng_loader", None)
    with pytest.raises(UsageError) as caught:
        EspeakEngine()
    assert str(caught.value) == MISSING_EXTRA
    assert caught.value.exit_code == EXIT_USAGE


# --- word timings --------------------------------------------------------------------------------

TIMED_TEXTS = [
    (AVERY, "Hello world, seven bright boats arrive today. It costs $5.20, maybe more!"),
    (LIAM, "Good morning, my friend. The weather is lovely; shall we walk?"),
    (MEHER, "नमस्ते दुनिया, आप कैसे हैं?"),
    (DANIELLA, "Hola amigo, ¿cómo estás hoy? Muy bien, gracias."),
]


@pytest.mark.parametrize("voice,text", TIMED_TEXTS, ids=[v.voice_id for v, _ in TIMED_TEXTS])
def test_word_timings_cover_the_verbatim_input(engine: EspeakEngine, voice: VoiceInfo, text: str) -> None:
    out = speak(engine, text, voice)
    assert [(w.id, w.word) for w in out.words] == list(enumerate(text.split()))
    for word, following in zip(out.words, out.words[1:], strict=False):
        assert word.start < word.end == following.start
    last = out.words[-1]
    assert last.start < last.end <= out.duration
    assert out.duration - last.end < 0.5  # eSpeak's end pause is trailing silence, not the last word
    assert rms(samples(out)[int(last.end * out.sample_rate):]) < 50


@pytest.mark.parametrize("rate", [8000, 24000])
@pytest.mark.parametrize("voice,text", TIMED_TEXTS, ids=[v.voice_id for v, _ in TIMED_TEXTS])
def test_word_starts_fall_on_energy_onsets(engine: EspeakEngine, voice: VoiceInfo, text: str,
                                           rate: int) -> None:
    out = speak(engine, text, voice, sample_rate=rate)
    x = samples(out)
    overall = rms(x)

    def window(t0: float, t1: float):
        return x[max(0, int(t0 * rate)) : max(0, int(t1 * rate))]

    pauses = 0
    for i, word in enumerate(out.words):
        assert rms(window(word.start, word.start + 0.15)) > 0.3 * overall, word
        if i and out.words[i - 1].word.endswith(PAUSE_MARKS):
            # silence right before, speech right after: the start sits on the onset (±20 ms)
            assert rms(window(word.start - 0.06, word.start - 0.02)) < 0.1 * overall, word
            # the 10 ms RMS envelope first rises within (start - 20 ms, start + 60 ms); the late
            # bound leaves room for the silent closure of a plosive ("cómo")
            frames = [word.start - 0.04 + k * 0.01 for k in range(25)]
            onset = next(t for t in frames if rms(window(t, t + 0.01)) > 0.15 * overall)
            assert word.start - 0.02 <= onset <= word.start + 0.06, (word, onset)
            pauses += 1
    assert pauses >= 1


def test_expanded_words_keep_their_first_time(engine: EspeakEngine) -> None:
    out = speak(engine, "Pay $5.20 on 12/05/2024 now")
    assert [w.word for w in out.words] == ["Pay", "$5.20", "on", "12/05/2024", "now"]
    durations = [w.end - w.start for w in out.words]
    # "five dollars twenty" and the spoken date take far longer than the plain words
    assert durations[1] > 2 * durations[0] and durations[3] > 2 * durations[2]


def test_words_without_speech_get_zero_length(engine: EspeakEngine) -> None:
    out = speak(engine, "Yes — no")
    assert [w.word for w in out.words] == ["Yes", "—", "no"]
    dash = out.words[1]
    assert dash.start == dash.end == out.words[2].start


def test_pro_languages_map_to_espeak_voices_and_every_request_language_speaks(engine: EspeakEngine) -> None:
    from smallest_cli.protocol.voices import LANGUAGE_CODES, REQUEST_LANGUAGES, voices

    renamed = {"zh": "cmn", "no": "nb"}  # eSpeak NG's names for Mandarin and Norwegian Bokmål
    for voice in voices():
        tag = voice.languages[0]
        if tag not in ("english", "hindi"):
            code = LANGUAGE_CODES[tag]
            own = voice_names(VoiceInfo(voice.voice_id, voice.gender, voice.languages), "auto")[0]
            assert own.split("+")[0] == renamed.get(code, code), voice.voice_id
    for language in REQUEST_LANGUAGES:
        names = voice_names(AVERY, language)
        assert names[-1].startswith("en-us+")  # English when eSpeak lacks a language
        out = speak(engine, "One two.", AVERY, sample_rate=8000, language=language)
        assert rms(samples(out)) > 300, language


def test_cloned_voices_speak_english(engine: EspeakEngine) -> None:
    from smallest_cli.server.state import cloned_voice

    clone = cloned_voice("voice_Ab12")
    assert voice_names(clone, None)[0].startswith("en-us+")
    assert rms(samples(speak(engine, "One two.", clone, sample_rate=8000))) > 300


def test_takes_differ_and_take_zero_is_the_canonical_render(engine: EspeakEngine) -> None:
    text = "Every take is a little different."
    canonical = speak(engine, text, MEHER, language=None)
    assert engine.synthesize(text, voice=MEHER, sample_rate=24000, speed=1.0, language=None,
                             take=0).pcm == canonical.pcm
    takes = [engine.synthesize(text, voice=MEHER, sample_rate=24000, speed=1.0, language=None, take=n)
             for n in (11, 12, 11)]
    assert takes[0].pcm != canonical.pcm and takes[0].pcm != takes[1].pcm
    assert takes[0].pcm == takes[2].pcm  # one take is reproducible
    assert [w.word for w in takes[0].words] == text.split()
