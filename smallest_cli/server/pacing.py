"""Pacing like the real service: a first-chunk latency, then audio at a real-time factor."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass


@dataclass(frozen=True)
class Pacing:
    first_chunk_ms: float = 0.0
    #: Audio is produced `rtf` times faster than it plays; 0 = as fast as possible.
    rtf: float = 0.0
    chunk_ms: float = 20.0


class Pacer:
    """Release times for one unit of audio, measured from when the unit was asked for."""

    def __init__(self, pacing: Pacing) -> None:
        self.pacing = pacing
        self.start = time.monotonic()

    def due(self, audio_time: float) -> float:
        """Monotonic time at which audio starting at `audio_time` (s into the unit) may be sent."""
        delay = self.pacing.first_chunk_ms / 1000.0
        if self.pacing.rtf > 0:
            delay += audio_time / self.pacing.rtf
        return self.start + delay

    async def wait(self, audio_time: float) -> None:
        if self.pacing.first_chunk_ms <= 0 and self.pacing.rtf <= 0:
            return
        remaining = self.due(audio_time) - time.monotonic()
        if remaining > 0:
            await asyncio.sleep(remaining)
