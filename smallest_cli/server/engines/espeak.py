"""The eSpeak NG engine for `smallest serve --engine espeak`: intelligible offline speech.

eSpeak NG comes from the `espeakng-loader` wheel (library plus its data) and is driven through
ctypes in synchronous mode; soxr resamples its 22050 Hz output to the requested rate. Both belong
to the optional `speech` extra and are imported only when an engine is constructed.

The C library keeps one global state per process (voice, parameters, callback), so the loaded
library is a per-process singleton guarded by its own lock; every engine object shares it.
Word timings come from eSpeak's WORD events, whose `text_position` (1-based, in characters) is
mapped back to the verbatim whitespace-separated input words.

Every language a request may name and every catalog language has an eSpeak NG voice (Mandarin
and Norwegian under other names); a voice whose language eSpeak lacks, and a cloned voice, speak
English. A nonzero take moves eSpeak's pitch parameter a few steps and the level a few percent.
"""

from __future__ import annotations

import bisect
import ctypes
import functools
import re
import threading
import zlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from smallest_cli.errors import UsageError
from smallest_cli.server.engines.base import Synthesis, VoiceInfo, WordTiming

MISSING_EXTRA = "the espeak engine needs the speech extra: pip install 'smallest-cli[speech]'"

#: eSpeak's words-per-minute range (espeakRATE_MINIMUM, espeakRATE_MAXIMUM) and our speed-1.0 rate.
MIN_WPM = 80
MAX_WPM = 450
BASE_WPM = 175

#: Samples whose magnitude stays at or below this count as silence when finding the end of speech.
SILENCE_LEVEL = 32

# --- constants of speak_lib.h -------------------------------------------------------------------
_AUDIO_OUTPUT_SYNCHRONOUS = 2
_INITIALIZE_DONT_EXIT = 0x8000
_POS_CHARACTER = 1
_CHARS_UTF8 = 1
_ENDPAUSE = 0x1000
_PARAM_RATE = 1
_PARAM_PITCH = 3
_EVENT_LIST_TERMINATED = 0
_EVENT_WORD = 1

#: eSpeak's names for the ISO 639-1 codes it knows by another name; every other code of
#: `REQUEST_LANGUAGES` is an eSpeak NG voice name as it is.
_ESPEAK_ALIASES: dict[str, str] = {"zh": "cmn", "no": "nb"}
#: Where eSpeak has no voice for a language, it speaks English (as the service does for a language
#: a voice was not trained on).
_FALLBACK = "en-us"
#: English by catalog accent; eSpeak's plain "en" is British English.
_ENGLISH_BY_ACCENT: dict[str, str] = {
    "american": "en-us", "british": "en", "indian": "en", "canadian": "en-us", "australian": "en"
}
#: eSpeak voice variants (pitch and formants) per gender; a voice id picks one stably.
_VARIANTS: dict[str, tuple[str, ...]] = {
    "female": ("f1", "f2", "f3", "f4", "f5"),
    "male": ("m1", "m2", "m3", "m4", "m5", "m6", "m7"),
}
_LANGUAGE_CODE = re.compile(r"[a-z]{2,3}(-[a-z0-9]{2,8})*")


# --- request → eSpeak settings (pure) ------------------------------------------------------------


def words_per_minute(speed: float) -> int:
    """The eSpeak rate for a Waves `speed` (1.0 = 175 wpm), clamped to eSpeak's range."""
    return max(MIN_WPM, min(MAX_WPM, round(BASE_WPM * speed)))


def _catalog_accent(voice: VoiceInfo) -> str:
    if voice.accent:
        return voice.accent
    from smallest_cli.protocol.voices import find

    entry = find(voice.voice_id)
    return entry.accent if entry else ""


def _tag_voice(tag: str) -> str | None:
    """The eSpeak voice for a catalog language tag (e.g. "tamil" → "ta"), or None."""
    from smallest_cli.protocol.voices import LANGUAGE_CODES

    code = LANGUAGE_CODES.get(tag)
    return _ESPEAK_ALIASES.get(code, code) if code else None


def _default_language(voice: VoiceInfo) -> str:
    """The eSpeak language a voice speaks when the request says `auto`: Hindi for the bilingual
    Indian voices, else its first catalog language, else American English."""
    tags = [tag.lower() for tag in voice.languages]
    if "hindi" in tags:
        return "hi"
    for tag in tags:
        if tag == "english":
            return _english_voice(voice)
        name = _tag_voice(tag)
        if name:
            return name
    return _FALLBACK


def _english_voice(voice: VoiceInfo) -> str:
    return _ENGLISH_BY_ACCENT.get(_catalog_accent(voice), _FALLBACK)


def _language_voice(code: str, voice: VoiceInfo) -> str | None:
    """The eSpeak voice for an ISO 639-1 request language, or None for auto / malformed codes."""
    code = code.strip().lower().replace("_", "-")
    if code in ("", "auto") or not _LANGUAGE_CODE.fullmatch(code):
        return None
    if code == "en":
        return _english_voice(voice)
    return _ESPEAK_ALIASES.get(code, code)


def _variant(voice: VoiceInfo) -> str:
    variants = _VARIANTS.get(voice.gender.lower())
    if not variants:
        return ""
    return "+" + variants[zlib.crc32(voice.voice_id.encode()) % len(variants)]


def voice_names(voice: VoiceInfo, language: str | None) -> tuple[str, ...]:
    """eSpeak voice names to try in order: the request language (if any), then the voice's own,
    then English."""
    variant = _variant(voice)
    names: list[str] = []
    requested = _language_voice(language, voice) if language else None
    if requested:
        names.append(requested + variant)
    for name in (_default_language(voice) + variant, _FALLBACK + variant):
        if name not in names:
            names.append(name)
    return tuple(names)


def take_pitch(take: int) -> int:
    """eSpeak's pitch parameter (0-100, 50 = the voice's own) for a take: a few steps off 50 for
    any take but the canonical one."""
    if not take:
        return 50
    step = take % 10 - 5  # -5..4
    return 50 + (step if step < 0 else step + 1)


def take_level(take: int) -> float:
    """The gain of a take: 1 for the canonical one, else within ±5 % (never exactly 1)."""
    if not take:
        return 1.0
    fraction = (zlib.crc32(take.to_bytes(8, "little", signed=True)) % 1000 + 1) / 1001  # (0, 1)
    return 0.95 + 0.1 * fraction


# --- eSpeak output → word timings (pure) ---------------------------------------------------------


@dataclass(frozen=True, slots=True)
class InputWord:
    index: int
    start_char: int  # 0-based code-point offset in the request text
    text: str


def split_words(text: str) -> list[InputWord]:
    """The whitespace-separated words of `text`, verbatim, with their character offsets."""
    return [InputWord(i, m.start(), m.group()) for i, m in enumerate(re.finditer(r"\S+", text))]


def first_samples(words: Sequence[InputWord], events: Sequence[tuple[int, int]]) -> list[int | None]:
    """For each word, the sample offset of the first WORD event inside it (None when it has none).

    `events` are `(text_position, sample)` with eSpeak's 1-based character positions; an event
    falling in whitespace belongs to the word before it (or the first word)."""
    starts = [w.start_char for w in words]
    found: list[int | None] = [None] * len(words)
    for position, sample in events:
        i = max(0, bisect.bisect_right(starts, position - 1) - 1)
        if found[i] is None or sample < found[i]:  # type: ignore[operator]
            found[i] = sample
    return found


def speech_end(samples: Any) -> int:
    """One past the last sample louder than SILENCE_LEVEL (0 for silence); `samples` is int16 numpy."""
    import numpy as np

    loud = np.flatnonzero(np.abs(samples.astype(np.int32)) > SILENCE_LEVEL)
    return int(loud[-1]) + 1 if loud.size else 0


def word_timings(
    words: Sequence[InputWord], starts: Sequence[int | None], end_sample: int, rate: int
) -> list[WordTiming]:
    """Timings for every input word: a word without its own event starts where the next timed
    word does (or at the end of speech); starts never go backwards; each word ends where the
    next begins and the last one at `end_sample`."""
    filled: list[int] = []
    upcoming = end_sample
    for start in reversed(starts):
        upcoming = start if start is not None else upcoming
        filled.append(upcoming)
    filled.reverse()
    for i in range(1, len(filled)):
        filled[i] = max(filled[i], filled[i - 1])
    timings: list[WordTiming] = []
    for i, word in enumerate(words):
        end = filled[i + 1] if i + 1 < len(filled) else max(end_sample, filled[i])
        timings.append(WordTiming(id=word.index, word=word.text, start=filled[i] / rate, end=end / rate))
    return timings


# --- the C library -------------------------------------------------------------------------------


class _EventId(ctypes.Union):
    _fields_ = [("number", ctypes.c_int), ("name", ctypes.c_char_p), ("string", ctypes.c_char * 8)]


class _Event(ctypes.Structure):
    _fields_ = [
        ("type", ctypes.c_int),
        ("unique_identifier", ctypes.c_uint),
        ("text_position", ctypes.c_int),
        ("length", ctypes.c_int),
        ("audio_position", ctypes.c_int),
        ("sample", ctypes.c_int),
        ("user_data", ctypes.c_void_p),
        ("id", _EventId),
    ]


_SynthCallback = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.POINTER(ctypes.c_short), ctypes.c_int,
                                  ctypes.POINTER(_Event))

_PROTOTYPES: list[tuple[str, list[Any], Any]] = [
    ("espeak_Initialize", [ctypes.c_int, ctypes.c_int, ctypes.c_char_p, ctypes.c_int], ctypes.c_int),
    ("espeak_SetSynthCallback", [_SynthCallback], None),
    ("espeak_SetVoiceByName", [ctypes.c_char_p], ctypes.c_int),
    ("espeak_SetParameter", [ctypes.c_int, ctypes.c_int, ctypes.c_int], ctypes.c_int),
    ("espeak_Synth", [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_uint, ctypes.c_int, ctypes.c_uint,
                      ctypes.c_uint, ctypes.c_void_p, ctypes.c_void_p], ctypes.c_int),
    ("espeak_Terminate", [], ctypes.c_int),
    ("espeak_ng_SetRandSeed", [ctypes.c_long], None),
]
#: eSpeak seeds its noise generator (breathy female variants) from the clock; pin it.
_RANDOM_SEED = 1


@dataclass
class RawSpeech:
    """What one espeak_Synth call produced: PCM at the library's rate and its WORD events."""

    pcm: bytes
    sample_rate: int
    word_events: list[tuple[int, int]] = field(default_factory=list)  # (text_position, sample)


@dataclass
class _Sink:
    chunks: list[bytes] = field(default_factory=list)
    word_events: list[tuple[int, int]] = field(default_factory=list)
    error: BaseException | None = None


class EspeakLibrary:
    """The process's eSpeak NG: library and data paths, the synthesis callback, and the lock that
    serializes every use of the library's process-global state. Get it with `shared_library()`.

    eSpeak NG keeps synthesis state across calls that neither espeak_Initialize nor a random seed
    resets (e.g. the pitch-flutter phase), so the same request would sound slightly different
    each time. Each synthesis therefore loads a fresh copy of the library and unloads it after
    (about 2 ms), and pins the noise seed that eSpeak otherwise takes from the clock: the
    output depends on the request alone."""

    def __init__(self, library_path: str, data_path: str) -> None:
        self.library_path = library_path
        self.data_path = data_path
        self._lock = threading.Lock()
        self._sink: _Sink | None = None
        self._callback = _SynthCallback(self._on_audio)  # keep a reference: C holds the pointer
        with self._lock:
            lib = self._load()  # fail now, with the extra's message, rather than on the first request
            try:
                self.sample_rate: int = self._initialize(lib)
            finally:
                self._unload(lib)

    def _load(self) -> ctypes.CDLL:
        try:
            lib = ctypes.CDLL(self.library_path)
            for fn, argtypes, restype in _PROTOTYPES:
                getattr(lib, fn).argtypes = argtypes
                getattr(lib, fn).restype = restype
        except (OSError, AttributeError) as exc:
            raise UsageError(f"{MISSING_EXTRA} ({exc})") from exc
        return lib

    def _initialize(self, lib: ctypes.CDLL) -> int:
        rate = lib.espeak_Initialize(_AUDIO_OUTPUT_SYNCHRONOUS, 0, self.data_path.encode(),
                                     _INITIALIZE_DONT_EXIT)
        if rate <= 0:
            raise UsageError(f"{MISSING_EXTRA} (espeak_Initialize failed with {rate})")
        lib.espeak_SetSynthCallback(self._callback)
        lib.espeak_ng_SetRandSeed(_RANDOM_SEED)
        return int(rate)

    @staticmethod
    def _unload(lib: ctypes.CDLL) -> None:
        import _ctypes

        lib.espeak_Terminate()
        close = getattr(_ctypes, "dlclose", None) or getattr(_ctypes, "FreeLibrary", None)
        if close is not None:
            close(lib._handle)

    def _on_audio(self, wav: Any, n_samples: int, events: Any) -> int:
        sink = self._sink
        if sink is None:
            return 1
        try:
            if n_samples > 0 and wav:
                sink.chunks.append(ctypes.string_at(wav, n_samples * 2))
            i = 0
            while events[i].type != _EVENT_LIST_TERMINATED:
                if events[i].type == _EVENT_WORD:
                    sink.word_events.append((events[i].text_position, events[i].sample))
                i += 1
        except BaseException as exc:  # never let an exception unwind through C
            sink.error = exc
            return 1
        return 0

    def synthesize(self, text: str, voice_names: Sequence[str], wpm: int, pitch: int = 50) -> RawSpeech:
        """Speak `text` with the first voice name eSpeak accepts, at `wpm` words per minute and
        `pitch` (eSpeak's parameter: 50 is the voice's own)."""
        data = text.replace("\x00", " ").encode("utf-8") + b"\x00"
        with self._lock:
            lib = self._load()
            try:
                rate = self._initialize(lib)
                if not any(lib.espeak_SetVoiceByName(name.encode()) == 0 for name in voice_names):
                    raise UsageError(f"eSpeak NG has none of the voices {', '.join(voice_names)}")
                lib.espeak_SetParameter(_PARAM_RATE, wpm, 0)
                if pitch != 50:
                    lib.espeak_SetParameter(_PARAM_PITCH, pitch, 0)
                sink = self._sink = _Sink()
                status = lib.espeak_Synth(data, len(data), 0, _POS_CHARACTER, 0, _CHARS_UTF8 | _ENDPAUSE,
                                          None, None)
            finally:
                self._sink = None
                self._unload(lib)
        if sink.error is not None:
            raise RuntimeError("eSpeak NG synthesis callback failed") from sink.error
        if status != 0:
            raise RuntimeError(f"espeak_Synth failed with status {status}")
        return RawSpeech(b"".join(sink.chunks), rate, sink.word_events)


@functools.lru_cache(maxsize=1)
def shared_library(library_path: str, data_path: str) -> EspeakLibrary:
    """The one EspeakLibrary of this process (eSpeak NG's state is process-global)."""
    return EspeakLibrary(library_path, data_path)


# --- the engine ----------------------------------------------------------------------------------


class EspeakEngine:
    """Engine for `smallest serve --engine espeak`. Safe to call from many threads at once."""

    name = "espeak"

    def __init__(self) -> None:
        try:
            import espeakng_loader
            import numpy  # noqa: F401
            import soxr  # noqa: F401
        except ImportError as exc:
            raise UsageError(MISSING_EXTRA) from exc
        try:
            library_path = str(espeakng_loader.get_library_path())
            data_path = str(espeakng_loader.get_data_path())
        except Exception as exc:
            raise UsageError(f"{MISSING_EXTRA} ({exc})") from exc
        self._library = shared_library(library_path, data_path)

    @property
    def native_rate(self) -> int:
        return self._library.sample_rate

    def synthesize(
        self,
        text: str,
        *,
        voice: VoiceInfo,
        sample_rate: int,
        speed: float,
        language: str | None,
        take: int = 0,
    ) -> Synthesis:
        import numpy as np

        from smallest_cli.server.resample import resample_int16

        if sample_rate <= 0:
            raise ValueError(f"sample_rate must be positive, got {sample_rate}")
        words = split_words(text)
        if not words:
            return Synthesis(pcm=b"", sample_rate=sample_rate, words=[])
        raw = self._library.synthesize(
            text, voice_names(voice, language), words_per_minute(speed), take_pitch(take)
        )
        samples = np.frombuffer(raw.pcm, dtype="<i2")
        timings = word_timings(words, first_samples(words, raw.word_events), speech_end(samples),
                               raw.sample_rate)
        pcm = resample_int16(raw.pcm, raw.sample_rate, sample_rate)
        if take:
            scaled = np.frombuffer(pcm, dtype="<i2").astype(np.float64) * take_level(take)
            pcm = np.clip(np.round(scaled), -32768, 32767).astype("<i2").tobytes()
        return Synthesis(pcm=pcm, sample_rate=sample_rate, words=timings)
