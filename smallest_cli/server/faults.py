"""Fault injection for reliability tests: a queue of faults, each consumed by matching TTS requests.

Controlled over HTTP by the local server only (`POST/GET/DELETE /_smallest/faults`, docs/serve.md).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Any

FAULT_KINDS: tuple[str, ...] = ("status", "drop", "stall", "malformed", "no_terminator")
#: `ws_connect` matches WebSocket upgrades (not requests); `any` matches sync, sse and ws requests.
TRANSPORTS: tuple[str, ...] = ("any", "sync", "sse", "ws", "ws_connect")
STATUSES: tuple[int, ...] = (400, 401, 403, 404, 429, 500, 502, 503)
#: How long a stall without `stall_ms` lasts: effectively until the client gives up.
STALL_FOREVER_MS = 600_000


class FaultSpecError(ValueError):
    """A fault description that cannot be used; the message says why."""


@dataclass(frozen=True)
class Fault:
    kind: str
    transport: str = "any"
    count: int = 1
    #: kind=status: the HTTP status (WebSocket: an error frame with this code).
    status: int = 500
    #: kind=status with 429: the Retry-After header (seconds).
    retry_after: float = 1.0
    #: drop/stall/malformed/no_terminator: how many audio chunks are sent first.
    after_chunks: int = 0
    #: kind=stall: pause length; None stalls until the client goes away.
    stall_ms: int | None = None
    #: Optional server message for status faults.
    message: str | None = None
    #: Only requests whose text contains this string match.
    text_contains: str | None = None

    def matches(self, transport: str, text: str | None) -> bool:
        if transport == "ws_connect":
            if self.transport != "ws_connect":
                return False
        elif self.transport not in ("any", transport):
            return False
        return self.text_contains is None or (text is not None and self.text_contains in text)


def _int(spec: Mapping[str, Any], name: str, default: int, low: int, high: int) -> int:
    value = spec.get(name, default)
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise FaultSpecError(f"{name} must be an integer from {low} to {high}")
    return value


def parse_fault(spec: Any) -> Fault:
    if not isinstance(spec, Mapping):
        raise FaultSpecError("each fault must be a JSON object")
    unknown = set(spec) - {f for f in Fault.__dataclass_fields__}
    if unknown:
        raise FaultSpecError(f"unknown fault field(s): {', '.join(sorted(unknown))}")
    kind = spec.get("kind")
    if kind not in FAULT_KINDS:
        raise FaultSpecError(f"kind must be one of {', '.join(FAULT_KINDS)}")
    transport = spec.get("transport", "any")
    if transport not in TRANSPORTS:
        raise FaultSpecError(f"transport must be one of {', '.join(TRANSPORTS)}")
    if transport == "ws_connect" and kind != "status":
        raise FaultSpecError("transport ws_connect only takes kind status (the upgrade is refused)")
    status = _int(spec, "status", 500, 100, 599)
    if kind == "status" and status not in STATUSES:
        raise FaultSpecError(f"status must be one of {', '.join(map(str, STATUSES))}")
    retry_after = spec.get("retry_after", 1.0)
    if isinstance(retry_after, bool) or not isinstance(retry_after, (int, float)) or retry_after < 0:
        raise FaultSpecError("retry_after must be a number of seconds >= 0")
    stall_ms = spec.get("stall_ms")
    if stall_ms is not None:
        stall_ms = _int(spec, "stall_ms", 0, 0, STALL_FOREVER_MS)
    for name in ("message", "text_contains"):
        if spec.get(name) is not None and not isinstance(spec.get(name), str):
            raise FaultSpecError(f"{name} must be a string")
    return Fault(
        kind=kind,
        transport=transport,
        count=_int(spec, "count", 1, 1, 1_000_000),
        status=status,
        retry_after=float(retry_after),
        after_chunks=_int(spec, "after_chunks", 0, 0, 1_000_000),
        stall_ms=stall_ms,
        message=spec.get("message"),
        text_contains=spec.get("text_contains"),
    )


def parse_faults(obj: Any) -> list[Fault]:
    """A list of faults from `[...]`, `{"faults": [...]}` or a single fault object."""
    if isinstance(obj, Mapping) and "faults" in obj:
        obj = obj["faults"]
    if isinstance(obj, Mapping):
        obj = [obj]
    if not isinstance(obj, list):
        raise FaultSpecError('expected a fault object, a list of them, or {"faults": [...]}')
    return [parse_fault(spec) for spec in obj]


class FaultQueue:
    """Pending faults in the order added; `take` consumes one use of the first match."""

    def __init__(self) -> None:
        self._entries: list[list[Any]] = []  # [fault, remaining uses]
        self.fired = 0

    def add(self, faults: list[Fault]) -> None:
        self._entries.extend([f, f.count] for f in faults)

    def clear(self) -> None:
        self._entries.clear()

    def take(self, transport: str, text: str | None) -> Fault | None:
        for entry in self._entries:
            fault: Fault = entry[0]
            if fault.matches(transport, text):
                entry[1] -= 1
                if entry[1] <= 0:
                    self._entries.remove(entry)
                self.fired += 1
                return fault
        return None

    def pending(self) -> list[dict[str, Any]]:
        return [{**asdict(f), "remaining": n} for f, n in self._entries]
