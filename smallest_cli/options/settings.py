"""Where and how to talk to the service, and the key that never prints itself. No I/O here."""

from __future__ import annotations

from dataclasses import dataclass, field

from smallest_cli.protocol import contract


class Secret:
    """An API key that never shows itself in reprs, logs or tracebacks."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def reveal(self) -> str:
        return self._value

    def redacted(self) -> str:
        v = self._value
        return (v[:3] + "…" + v[-2:]) if len(v) >= 12 else "…"

    def __repr__(self) -> str:
        return f"Secret({self.redacted()!r})"

    __str__ = __repr__

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Secret) and other._value == self._value

    def __hash__(self) -> int:
        return hash(self._value)


@dataclass(frozen=True)
class ConnectionOptions:
    """Where and how to talk to the service."""

    #: Seconds without progress (connect, or no frame) before a request fails with a network error.
    timeout: float
    retries: int
    base_url: str = contract.DEFAULT_BASE_URL
    api_key: Secret | None = field(default=None, repr=False)
    allow_insecure: bool = False

    def auth_headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.api_key.reveal()}"} if self.api_key else {}
