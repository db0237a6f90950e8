"""Choosing an engine by name. Engines with optional dependencies are imported only when chosen."""

from __future__ import annotations

from smallest_cli.errors import UsageError
from smallest_cli.server.engines.base import Engine

ENGINE_NAMES: tuple[str, ...] = ("tones", "espeak")


def load_engine(name: str) -> Engine:
    """The engine called `name`. Raises UsageError (one clear line) when it cannot be used here."""
    if name == "tones":
        from smallest_cli.server.engines.tones import ToneEngine

        return ToneEngine()
    if name == "espeak":
        try:
            from smallest_cli.server.engines.espeak import EspeakEngine
        except ImportError as err:
            raise UsageError(f"the espeak engine is not available: {err}") from None
        return EspeakEngine()
    raise UsageError(f"unknown engine {name!r}; choose one of: {', '.join(ENGINE_NAMES)}")
