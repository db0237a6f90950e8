"""The server's configuration and its per-application state (no module-level mutable state)."""

from __future__ import annotations

import weakref
from dataclasses import dataclass, field
from typing import Any

from smallest_cli.protocol import contract
from smallest_cli.protocol.voices import catalog
from smallest_cli.server.engines.base import Engine, VoiceInfo
from smallest_cli.server.faults import FaultQueue
from smallest_cli.server.journal import Journal
from smallest_cli.server.limiter import ConcurrencyLimiter
from smallest_cli.server.pacing import Pacing

DEFAULT_PORT = 8123


@dataclass(frozen=True)
class ServerConfig:
    host: str = "127.0.0.1"
    port: int = DEFAULT_PORT
    #: When set, only this key is accepted; otherwise any non-empty bearer token is.
    api_key: str | None = field(default=None, repr=False)
    engine: str = "tones"
    pacing: Pacing = field(default_factory=Pacing)
    max_concurrency: int = 0
    idle_timeout: float = contract.DEFAULT_IDLE_TIMEOUT_S
    access_log: bool = False


def catalog_voices() -> dict[str, VoiceInfo]:
    voices: dict[str, VoiceInfo] = {}
    for v in catalog():
        tags = v.get("tags", {})
        voices[v["voiceId"]] = VoiceInfo(
            voice_id=v["voiceId"],
            gender=str(tags.get("gender", "female")),
            languages=tuple(tags.get("language", ())),
        )
    return voices


@dataclass
class ServerState:
    config: ServerConfig
    engine: Engine
    voices: dict[str, VoiceInfo] = field(default_factory=catalog_voices)
    faults: FaultQueue = field(default_factory=FaultQueue)
    journal: Journal = field(default_factory=Journal)
    limiter: ConcurrencyLimiter = field(init=False)
    #: Open WebSocket responses, closed on shutdown.
    websockets: weakref.WeakSet[Any] = field(default_factory=weakref.WeakSet)
    #: Set when shutting down: stalls and streams end early.
    stopping: bool = False

    def __post_init__(self) -> None:
        self.limiter = ConcurrencyLimiter(self.config.max_concurrency)
