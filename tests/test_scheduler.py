"""scheduler.Scheduler: requests run ahead, in order, with bounded buffering and at most N transports,
and settle at what an account allows when it refuses (429) requests over its limit."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import Any

import pytest

from smallest_cli.errors import RateLimitError, ServerError
from smallest_cli.events import AudioChunk, Done, Event
from smallest_cli.run.limit import AdaptiveLimit
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


def _scheduler(n: int, buffer_chunks: int = 4) -> tuple[Scheduler, list[FakeTransport], dict[str, int]]:
    log: list[str] = []
    produced: dict[str, int] = {}
    lock = threading.Lock()
    made: list[FakeTransport] = []

    def make() -> FakeTransport:
        t = FakeTransport(log, produced, lock)
        made.append(t)
        return t

    return Scheduler(make, n, buffer_chunks=buffer_chunks), made, produced


def test_order_is_kept_and_transports_are_bounded() -> None:
    sched, made, _ = _scheduler(3)
    bodies = [{"text": f"s{i}"} for i in range(10)]
    out = b""
    for _body, events, _again in sched.ahead(bodies):
        out += b"".join(e.data for e in events if isinstance(e, AudioChunk))
    sched.close()
    assert out == b"".join(f"s{i}:{k};".encode() for i in range(10) for k in range(50))
    assert 1 <= len(made) <= 3
    assert all(t.closed for t in made)


def test_requests_ahead_buffer_a_bounded_number_of_events() -> None:
    sched, _, produced = _scheduler(3, buffer_chunks=4)
    it = sched.ahead([{"text": f"s{i}"} for i in range(5)])
    _, first, _ = next(it)
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
        for body, events, _again in sched.ahead([{"text": "ok"}, {"text": "bad"}, {"text": "later"}]):
            seen.append(body["text"])
            list(events)
    sched.close()
    assert seen == ["ok", "bad"]


def test_concurrency_must_be_positive() -> None:
    with pytest.raises(ValueError):
        Scheduler(lambda: None, 0)  # type: ignore[arg-type, return-value]


# -- an account that allows fewer requests at once ----------------------------------------------------


class Account:
    """A fake service allowing `allowed` requests at once: one more is refused (429) before any
    event. It answers nothing until `gate` requests have arrived, so that they overlap however the
    threads are scheduled; texts in `refuse_once` are refused on their first try whatever the limit."""

    def __init__(self, allowed: int, gate: int, refuse_once: tuple[str, ...] = ()) -> None:
        self.allowed, self.gate = allowed, gate
        self.refuse_once = set(refuse_once)
        self.lock = threading.Lock()
        self.active = self.peak = self.tried = self.refused = 0
        self.all_arrived = threading.Event()

    def stream(self, body: dict[str, Any]) -> Iterator[Event]:
        text = body["text"]
        with self.lock:
            self.tried += 1
            if self.tried >= self.gate:
                self.all_arrived.set()
        assert self.all_arrived.wait(timeout=20)
        with self.lock:
            if self.active >= self.allowed or text in self.refuse_once:
                self.refuse_once.discard(text)
                self.refused += 1
                raise RateLimitError("over the account's concurrency limit", retry_after=1.0)
            self.active += 1
            self.peak = max(self.peak, self.active)
        try:
            for i in range(50):
                yield AudioChunk(f"{text}:{i};".encode())
            yield Done()
        finally:
            with self.lock:
                self.active -= 1


class AccountTransport:
    name = "fake"

    def __init__(self, account: Account) -> None:
        self.account = account

    def stream(self, body: dict[str, Any]) -> Iterator[Event]:
        return self.account.stream(body)

    def close(self) -> None:
        pass


def _limited(account: Account, concurrency: int) -> Scheduler:
    # A clock that stands still: no probing up again during the test.
    limit = AdaptiveLimit(concurrency, clock=lambda: 0.0)
    return Scheduler(lambda: AccountTransport(account), concurrency, buffer_chunks=4, limit=limit)


def _audio(texts: list[str]) -> bytes:
    return b"".join(f"{t}:{k};".encode() for t in texts for k in range(50))


def _consume(sched: Scheduler, texts: list[str], told: list[int]) -> bytes:
    """Every request's audio, in order, consumed in a thread (a deadlock fails the test, not hangs it)."""
    out: list[bytes] = []

    def run() -> None:
        for _body, events, _again in sched.ahead([{"text": t} for t in texts], told.append):
            out.append(b"".join(e.data for e in events if isinstance(e, AudioChunk)))

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    thread.join(timeout=30)
    assert not thread.is_alive(), "the requests never finished"
    return b"".join(out)


def test_an_account_limit_below_the_concurrency_settles_and_delivers_everything() -> None:
    account = Account(allowed=1, gate=4)
    sched = _limited(account, 4)
    texts = [f"s{i}" for i in range(8)]
    told: list[int] = []
    assert _consume(sched, texts, told) == _audio(texts)
    sched.close()
    assert account.refused >= 3 and account.peak == 1
    assert told == [1]  # said once


def test_the_request_needed_first_never_waits_behind_a_later_one() -> None:
    """The first request is refused while a later one holds the account's only slot with its
    buffer full: the later one gives way (else the run would wait forever)."""
    account = Account(allowed=1, gate=4, refuse_once=("s0",))
    sched = _limited(account, 4)
    texts = [f"s{i}" for i in range(5)]
    told: list[int] = []
    assert _consume(sched, texts, told) == _audio(texts)
    sched.close()
    assert account.peak == 1 and told == [1]


def test_a_request_refused_alone_fails_with_the_rate_limit_and_again_too() -> None:
    account = Account(allowed=0, gate=3)
    sched = _limited(account, 3)
    told: list[int] = []
    it = sched.ahead([{"text": f"s{i}"} for i in range(3)], told.append)
    _body, events, again = next(it)
    with pytest.raises(RateLimitError):
        list(events)
    with pytest.raises(RateLimitError):
        list(again())
    it.close()
    sched.close()
    assert told == [1]


def test_a_joined_chunk_takes_as_much_room_as_the_chunks_it_holds() -> None:
    """The buffer of a request ahead is counted in the server's chunks, so that chunks joined
    by the transport (up to 64 KiB each) do not let it hold more audio than that."""
    from smallest_cli.run.scheduler import _GaveWay, _Job

    job = _Job({}, order=0, capacity=4)
    assert job.put(AudioChunk(b"a", pieces=3))
    with pytest.raises(_GaveWay):  # 3 + 3 > 4: full, so the worker is asked whether to give way
        job.put(AudioChunk(b"b", pieces=3), give_way=lambda: True)
    assert job.put(AudioChunk(b"c"), give_way=lambda: True)  # 3 + 1 fits
    assert job.get() == AudioChunk(b"a", pieces=3)
    assert job.put(AudioChunk(b"d", pieces=3), give_way=lambda: True)  # 1 + 3 fits
    job.drain()
    assert job.put(AudioChunk(b"e", pieces=9), give_way=lambda: True)  # empty: goes in whole


@pytest.mark.parametrize("cancel", [False, True], ids=["taken", "cancelled"])
def test_a_full_queue_lets_the_worker_on_when_the_caller_takes_or_cancels(cancel: bool) -> None:
    from smallest_cli.run.scheduler import _Job

    job = _Job({}, order=0, capacity=4)
    assert job.put(AudioChunk(b"a", pieces=3))
    waited = threading.Event()
    result: list[bool] = []

    def give_way() -> bool:
        waited.set()  # asked only while the queue is full
        return False

    worker = threading.Thread(target=lambda: result.append(job.put(AudioChunk(b"b", pieces=3), give_way)))
    worker.start()
    wait_until(waited.is_set, message="the worker waits for room")
    if cancel:
        job.cancelled.set()
    else:
        assert job.get() == AudioChunk(b"a", pieces=3)
    worker.join(timeout=10)
    assert result == [not cancel]
