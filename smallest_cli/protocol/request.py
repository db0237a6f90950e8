"""Building and validating TTS request bodies (the same JSON for sync, SSE and WebSocket)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from smallest_cli.errors import UsageError
from smallest_cli.protocol import contract


@dataclass(frozen=True)
class SynthesisOptions:
    """What to synthesize: the fields of a TTS request other than the text."""

    voice_id: str
    sample_rate: int
    model: str = contract.DEFAULT_MODEL
    speed: float = 1.0
    language: str | None = None
    #: The format requested from the server (the CLI asks for pcm when it writes wav itself).
    output_format: str = "pcm"
    word_timestamps: bool = False


def validate_options(opts: SynthesisOptions) -> None:
    """Raise UsageError (exit 2) for options outside the contract, before any request is sent."""
    if opts.model not in contract.MODELS:
        raise UsageError(f"unknown model {opts.model!r}; choose one of: {', '.join(contract.MODELS)}")
    if opts.sample_rate not in contract.SAMPLE_RATES:
        rates = ", ".join(str(r) for r in contract.SAMPLE_RATES)
        raise UsageError(f"sample rate {opts.sample_rate} is not supported; choose one of: {rates}")
    if not (contract.SPEED_MIN <= opts.speed <= contract.SPEED_MAX):
        raise UsageError(f"speed {opts.speed} is outside {contract.SPEED_MIN}–{contract.SPEED_MAX}")
    contract.check_format(opts.output_format)
    if not opts.voice_id.strip():
        raise UsageError("the voice id is empty")


def build_request(text: str, opts: SynthesisOptions, **extra: Any) -> dict[str, Any]:
    """The JSON body for one request. `extra` carries WebSocket-only fields (continue, flush, ...)."""
    body: dict[str, Any] = {
        "text": text,
        "voice_id": opts.voice_id,
        "model": opts.model,
        "sample_rate": opts.sample_rate,
        "speed": opts.speed,
        "output_format": opts.output_format,
    }
    if opts.language:
        body["language"] = opts.language
    if opts.word_timestamps:
        body["word_timestamps"] = True
    body.update(extra)
    return body


#: `complete_backoff_ms` of a WebSocket message whose text is whole: the server may send `complete`
#: as soon as the last chunk is out (its default, 4000, would hold every short run for 4 s).
WHOLE_TEXT_BACKOFF_MS = 0
#: ... of a live piece (`continue`): as long as allowed, since more text is coming.
LIVE_PIECE_BACKOFF_MS = contract.COMPLETE_BACKOFF_MS[1]
#: ... of the message that ends live input: a short wait for the last chunks.
LIVE_END_BACKOFF_MS = 250


def websocket_message(body: dict[str, Any]) -> dict[str, Any]:
    """`body` as a WebSocket message: it says how long to wait for `complete` (a whole text's wait
    unless the body says otherwise)."""
    if "complete_backoff_ms" in body:
        return body
    return {**body, "complete_backoff_ms": WHOLE_TEXT_BACKOFF_MS}
