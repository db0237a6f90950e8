"""Synthesize one unit of text off the event loop and encode it in the requested format."""

from __future__ import annotations

import asyncio
import secrets
from dataclasses import dataclass, replace
from functools import partial

from smallest_cli.protocol.audio_formats import encode
from smallest_cli.server.engines.base import Engine, VoiceInfo, WordTiming
from smallest_cli.server.stream_plan import PlanItem, WordItem, plan_unit
from smallest_cli.server.validation import TtsRequest


@dataclass(frozen=True)
class RenderedUnit:
    #: Encoded audio without any wav header.
    audio: bytes
    #: The wav header to put before `audio` (empty for other formats or later units).
    prefix: bytes
    duration: float
    #: Word timings relative to the unit's start, ids relative to the unit's first word.
    words: list[WordTiming]

    @property
    def body(self) -> bytes:
        return self.prefix + self.audio


def _render_sync(
    engine: Engine,
    voice: VoiceInfo,
    req: TtsRequest,
    text: str,
    wav_header: bool,
    wav_size_known: bool,
    take: int,
) -> RenderedUnit:
    synth = engine.synthesize(
        text, voice=voice, sample_rate=req.sample_rate, speed=req.speed, language=req.language, take=take
    )
    if req.output_format == "wav":
        full = encode(
            synth.pcm, "wav", req.sample_rate, wav_data_size=len(synth.pcm) if wav_size_known else None
        )
        prefix, audio = (full[:44], full[44:]) if wav_header else (b"", full[44:])
    else:
        prefix, audio = b"", encode(synth.pcm, req.output_format, req.sample_rate)
    return RenderedUnit(audio=audio, prefix=prefix, duration=synth.duration, words=list(synth.words))


async def render(
    engine: Engine,
    voice: VoiceInfo,
    req: TtsRequest,
    text: str,
    *,
    wav_header: bool = True,
    wav_size_known: bool = True,
    take: int = 0,
) -> RenderedUnit:
    """Run the engine in a worker thread so the event loop never blocks. `take`: see `new_take`."""
    loop = asyncio.get_running_loop()
    return await loop.run_in_executor(
        None, partial(_render_sync, engine, voice, req, text, wav_header, wav_size_known, take)
    )


def new_take(varied: bool) -> int:
    """The take of a new request: 0 (the canonical render) unless takes are varied, then a random
    nonzero one; every unit of one request uses the request's take."""
    return secrets.randbelow(2**31 - 1) + 1 if varied else 0


def unit_plan(
    unit: RenderedUnit, req: TtsRequest, chunk_ms: float, time_offset: float = 0.0, id_offset: int = 0
) -> list[PlanItem]:
    """Frames for a unit, with word times and ids moved onto the request's timeline."""
    items = plan_unit(
        unit.audio,
        prefix=unit.prefix,
        duration=unit.duration,
        output_format=req.output_format,
        sample_rate=req.sample_rate,
        chunk_ms=chunk_ms,
        words=unit.words,
    )
    if not time_offset and not id_offset:
        return items
    return [
        WordItem(
            replace(
                it.word,
                id=it.word.id + id_offset,
                start=it.word.start + time_offset,
                end=it.word.end + time_offset,
            )
        )
        if isinstance(it, WordItem)
        else it
        for it in items
    ]
