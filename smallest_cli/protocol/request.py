"""Building and validating TTS request bodies (the same JSON for sync, SSE and WebSocket)."""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Any

from smallest_cli.errors import UsageError
from smallest_cli.protocol import contract

#: What every transport carries: 16-bit little-endian mono PCM. Files in the other formats are made
#: by the CLI (`protocol.audio_formats`): the WebSocket message has no `output_format` at all, and
#: long text encoded per request would be a string of separate MP3s, not one.
WIRE_FORMAT = "pcm"
#: Client-chosen ids the service echoes back: 1 to 128 of these characters.
ID_PATTERN = r"[A-Za-z0-9_.-]{1,128}"


@dataclass(frozen=True)
class SynthesisOptions:
    """What to synthesize: the fields of a TTS request other than the text."""

    voice_id: str
    sample_rate: int
    model: str = contract.DEFAULT_MODEL
    speed: float = 1.0
    language: str | None = None
    word_timestamps: bool = False
    #: Pronunciation dictionary ids (sync and SSE; the WebSocket message has no such field).
    pronunciation_dicts: tuple[str, ...] = ()
    math_notation: bool = False
    #: The language numbers are read in (`number_pronunciation_language`).
    number_language: str | None = None
    request_id: str | None = None
    session_id: str | None = None


# -- the checks of each request value: flags, the environment and the config file all use these ------


def check_voice(value: str) -> str:
    """A voice id: a catalog voice in the catalog's spelling (`-v MEHER` is `meher`, as the voices
    filters ignore case too); any other id, such as a cloned voice's, exactly as given."""
    voice = value.strip()
    if not voice:
        raise UsageError("the voice id is empty")
    if any(c.isspace() for c in voice):
        raise UsageError(f"a voice id has no spaces, not {value!r}")
    if voice == voice.lower():
        return voice  # as the catalog spells its ids: the catalog need not be loaded to check
    from smallest_cli.protocol.voices import canonical_voice_id

    return canonical_voice_id(voice)


def check_model(value: str) -> str:
    if value not in contract.MODELS:
        raise UsageError(f"model must be one of {', '.join(contract.MODELS)}, not {value!r}")
    return value


def check_sample_rate(value: int | str) -> int:
    try:
        rate = int(value)
    except ValueError:
        rate = -1
    if rate not in contract.SAMPLE_RATES:
        allowed = ", ".join(str(r) for r in contract.SAMPLE_RATES)
        raise UsageError(f"sample rate must be one of {allowed}, not {value!r}")
    return rate


def check_speed(value: float | str) -> float:
    try:
        speed = float(value)
    except ValueError:
        speed = math.nan
    if not contract.SPEED_MIN <= speed <= contract.SPEED_MAX:
        bounds = f"{contract.SPEED_MIN} to {contract.SPEED_MAX}"
        raise UsageError(f"speed must be a number from {bounds}, not {value!r}")
    return speed


def check_language(value: str, what: str = "language") -> str:
    """A language code the reference lists (lower case; an English name such as "hindi" is taken
    for its code, as `voices --language` takes both), or UsageError naming them."""
    from smallest_cli.protocol.voices import LANGUAGE_CODES, REQUEST_LANGUAGES

    code = value.strip().lower()
    code = LANGUAGE_CODES.get(code, code)
    if code not in REQUEST_LANGUAGES:
        raise UsageError(f"{what} must be one of {', '.join(REQUEST_LANGUAGES)}, not {value!r}")
    return code


def check_id(value: str, what: str) -> str:
    """A client id (`request_id`, `session_id`) of the reference's pattern."""
    if not re.fullmatch(ID_PATTERN, value):
        raise UsageError(f"{what} must be 1 to 128 of A-Z a-z 0-9 _ . -, not {value!r}")
    return value


def build_request(text: str, opts: SynthesisOptions, **extra: Any) -> dict[str, Any]:
    """The JSON body for one request. `extra` carries WebSocket-only fields (continue, flush, ...)."""
    body: dict[str, Any] = {
        "text": text,
        "voice_id": opts.voice_id,
        "model": opts.model,
        "sample_rate": opts.sample_rate,
        "speed": opts.speed,
        "output_format": WIRE_FORMAT,
    }
    optional = {
        "language": opts.language,
        "word_timestamps": opts.word_timestamps or None,
        "pronunciation_dicts": list(opts.pronunciation_dicts) or None,
        "math_notation": opts.math_notation or None,
        "number_pronunciation_language": opts.number_language,
        "request_id": opts.request_id,
        "session_id": opts.session_id,
    }
    body.update((k, v) for k, v in optional.items() if v is not None)
    body.update(extra)
    return body


#: `complete_backoff_ms` of a WebSocket message whose text is whole: the server may send `complete`
#: as soon as the last chunk is out (its default, 4000, would hold every short run for 4 s).
WHOLE_TEXT_BACKOFF_MS = 0
#: ... of a live piece (`continue`): as long as allowed, since more text is coming.
LIVE_PIECE_BACKOFF_MS = contract.COMPLETE_BACKOFF_MS[1]
#: ... of the message that ends live input: a short wait for the last chunks.
LIVE_END_BACKOFF_MS = 250


#: Fields of the sync and SSE body that the WebSocket message schema does not have.
_NOT_IN_WEBSOCKET = ("output_format", "pronunciation_dicts")


def websocket_message(body: dict[str, Any]) -> dict[str, Any]:
    """`body` as a WebSocket message: without the fields the WebSocket schema lacks (its frames are
    PCM), and saying how long to wait for `complete` (a whole text's wait unless the body says)."""
    message = {k: v for k, v in body.items() if k not in _NOT_IN_WEBSOCKET}
    message.setdefault("complete_backoff_ms", WHOLE_TEXT_BACKOFF_MS)
    return message
