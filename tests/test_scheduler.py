"""scheduler.Scheduler: requests run ahead, in order, with bounded buffering and at most N transports."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import Any

import pytest

from smallest_cli.errors import ServerError
from smallest_cli.events import AudioChunk, Done, Event
from smallest_cli.run.scheduler import Scheduler
from tests.helpers import wait_until


class FakeTransport:
    name = "fake"

    def __init__(self, log: list[str], produced: dict[str, int], lock: threading.Lock) -> None:
        self.log, self.produced, self.lock = log, produced, lock
        self.closed = False

    def stream(self, body: dict[str, Any]) -> Iterator[Event]:
        text = body["text"]
        with self.lock:
            self.log.append(text)
        if text == "bad":
            raise ServerError("boom")
        for i in range(50):
            with self.lock:
                self.produced[text] = i + 1
            yield AudioChunk(f"{text}:{i};".encode())
        yield Done()

    def close(self) -> None:
        self.closed = True


def _scheduler(n: int, buffer_events: int = 4) -> tuple[Scheduler, list[FakeTransport], dict[str, int]]:
    log: list[str] = []
    produced: dict[str, int] = {}
    lock = threading.Lock()
    made: list[FakeTransport] = []

    def make() -> FakeTransport:
        t = FakeTransport(log, produced, lock)
        made.append(t)
        return t

    return Scheduler(make, n, buffer_events=buffer_events), made, produced


def test_order_is_kept_and_transports_are_bounded() -> None:
    sched, made, _ = _scheduler(3)
    bodies = [{"text": f"s{i}"} for i in range(10)]
    out = b""
    for _body, events in sched.ahead(bodies):
        out += b"".join(e.data for e in events if isinstance(e, AudioChunk))
    sched.close()
    assert out == b"".join(f"s{i}:{k};".encode() for i in range(10) for k in range(50))
    assert 1 <= len(made) <= 3
    assert all(t.closed for t in made)


def test_requests_ahead_buffer_a_bounded_number_of_events() -> None:
    sched, _, produced = _scheduler(3, buffer_events=4)
    it = sched.ahead([{"text": f"s{i}"} for i in range(5)])
    _, first = next(it)
    # s1 and s2 run ahead, but each stops once its queue is full (4 queued + 1 waiting to be put).
    wait_until(lambda: produced.get("s1", 0) >= 5 and produced.get("s2", 0) >= 5, message="ahead")
    assert produced["s1"] <= 6 and produced["s2"] <= 6 and "s3" not in produced
    assert sum(1 for _ in first) == 51
    it.close()
    sched.close()


def test_a_failed_request_raises_in_order() -> None:
    sched, _, _ = _scheduler(2)
    seen = []
    with pytest.raises(ServerError, match="boom"):
        for body, events in sched.ahead([{"text": "ok"}, {"text": "bad"}, {"text": "later"}]):
            seen.append(body["text"])
            list(events)
    sched.close()
    assert seen == ["ok", "bad"]


def test_concurrency_must_be_positive() -> None:
    with pytest.raises(ValueError):
        Scheduler(lambda: None, 0)  # type: ignore[arg-type, return-value]
