"""What the server received, for tests to inspect (`GET /_smallest/requests`).

Keeps the most recent TTS request bodies and WebSocket messages, in arrival order, with their
transport and connection id, plus counters. Headers are never recorded (no Authorization).
"""

from __future__ import annotations

import time
from collections import Counter, deque
from dataclasses import dataclass, field
from typing import Any

MAX_ENTRIES = 5000
#: Undecodable messages are kept as text, cut to this many characters.
MAX_RAW_CHARS = 2000


@dataclass
class Journal:
    max_entries: int = MAX_ENTRIES
    started: float = field(default_factory=time.monotonic)
    entries: deque[dict[str, Any]] = field(default_factory=deque)
    counters: Counter[str] = field(default_factory=Counter)
    _seq: int = 0
    _peers: dict[str, str] = field(default_factory=dict)

    def record(self, transport: str, connection_id: str, body: Any = None, raw: str | None = None) -> None:
        self._seq += 1
        entry: dict[str, Any] = {
            "seq": self._seq,
            "t": round(time.monotonic() - self.started, 6),
            "transport": transport,
            "connection_id": connection_id,
        }
        if raw is not None:
            entry["raw"] = raw[:MAX_RAW_CHARS]
        else:
            entry["body"] = body
        self.entries.append(entry)
        while len(self.entries) > self.max_entries:
            self.entries.popleft()

    def bump(self, name: str, n: int = 1) -> None:
        self.counters[name] += n

    def http_connection_id(self, peer: str) -> str:
        """A stable id for an HTTP (keep-alive) connection, from its peer address; counts new ones."""
        conn = self._peers.get(peer)
        if conn is None:
            self.counters["http_connections"] += 1
            conn = f"http-{self.counters['http_connections']}"
            self._peers[peer] = conn
            if len(self._peers) > self.max_entries:
                self._peers.pop(next(iter(self._peers)))
        return conn

    def new_ws_connection(self) -> str:
        self.counters["ws_connections"] += 1
        return f"ws-{self.counters['ws_connections']}"

    def clear(self) -> None:
        self.entries.clear()
        self.counters.clear()
        self._peers.clear()

    def snapshot(self, extra_counters: dict[str, int] | None = None) -> dict[str, Any]:
        counters = {
            "http_connections": 0,
            "ws_connections": 0,
            "requests": 0,
            "sync_requests": 0,
            "sse_requests": 0,
            "ws_requests": 0,
            "ws_messages": 0,
            **self.counters,
            **(extra_counters or {}),
        }
        return {"requests": list(self.entries), "counters": counters}
