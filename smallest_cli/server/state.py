"""The server's configuration and its per-application state (no module-level mutable state)."""

from __future__ import annotations

import weakref
import zlib
from dataclasses import dataclass, field
from typing import Any

from smallest_cli.protocol import contract
from smallest_cli.protocol.voices import is_cloned_voice, voices
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
    #: Keep a WebSocket open after `complete` for further requests (the reference closes it).
    keep_open: bool = False
    #: Render every request as a new take (slightly different audio each time), as a neural service
    #: does, instead of the same bytes for the same request.
    varied_takes: bool = False
    #: Answer a sync request for pcm with a WAV file (the reference's "A PCM int16 WAV file"), not
    #: the raw PCM the live service was seen to send.
    pcm_as_wav: bool = False
    #: Serve the voice catalogs per pool (`lightning-v3.1` standard, `lightning-v3.1-pro` Pro), as
    #: one version of the reference reads, instead of both together at the one path.
    voices_by_pool: bool = False
    #: With both, serve https and wss (PEM files: the certificate with its chain, and its key).
    tls_cert: str | None = None
    tls_key: str | None = None


def catalog_voices() -> dict[str, VoiceInfo]:
    return {
        v.voice_id: VoiceInfo(voice_id=v.voice_id, gender=v.gender, languages=v.languages, accent=v.accent)
        for v in voices()
    }


def cloned_voice(voice_id: str) -> VoiceInfo:
    """A cloned voice: the id alone picks its gender (stably); it speaks English, the language the
    engines fall back to."""
    gender = ("female", "male")[zlib.crc32(voice_id.encode()) % 2]
    return VoiceInfo(voice_id=voice_id, gender=gender, languages=())


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

    def voice(self, voice_id: str) -> VoiceInfo:
        """What the engine needs of an accepted voice id (a catalog or a cloned voice)."""
        known = self.voices.get(voice_id)
        if known is not None:
            return known
        if is_cloned_voice(voice_id):
            return cloned_voice(voice_id)
        raise KeyError(voice_id)
