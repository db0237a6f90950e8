"""The concurrency limit: active TTS requests across sync, SSE and WebSocket (0 = unlimited)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class ConcurrencyLimiter:
    limit: int = 0
    active: int = 0
    peak: int = 0
    rejected: int = 0

    def try_acquire(self) -> bool:
        """Take a slot; False (and counted as rejected) when over the limit. Event-loop thread only."""
        if self.limit and self.active >= self.limit:
            self.rejected += 1
            return False
        self.active += 1
        self.peak = max(self.peak, self.active)
        return True

    def release(self) -> None:
        self.active = max(0, self.active - 1)
