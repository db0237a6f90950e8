"""Running up to N requests at once, ahead of the one being delivered, with the order preserved.

`Scheduler.ahead(bodies)` yields each request body with an iterator over its events, in the order
of `bodies`, and a way to send it again. While the caller consumes request i, requests i+1 ..
i+N-1 already run, each on its own transport (connection), each in a worker thread that puts its
events into a bounded queue: a request in flight holds at most `buffer_chunks` of the server's
chunks (an AudioChunk that joins several counts as that many), then waits for the caller (and the
network pushes back on the server).

How many run at once is an `AdaptiveLimit` (run/limit.py): an account that allows fewer requests
at once than N answers the extra ones 429, and the scheduler settles at what it allows. Such a
rejection, before any event, is sent again here when it may be the run's own doing (the caller
hears of it once, through `on_limit`); every other failure ends the request's iterator with its
error, and the caller retries, with backoff, through the request's `again`, which runs under the
same limit, ahead of every request after it.

With N = 1 the pipeline does not use a scheduler at all (nothing is buffered beyond what streams).
"""

from __future__ import annotations

import queue
import threading
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

from smallest_cli.errors import RateLimitError
from smallest_cli.events import AudioChunk, Done, Event
from smallest_cli.run.limit import AdaptiveLimit, Permit
from smallest_cli.transports.base import Transport

#: The server's chunks a request in flight may hold before its worker waits (about 20 ms of audio
#: each).
DEFAULT_BUFFER_CHUNKS = 256
_POLL_S = 0.1

#: A request of `ahead`: its body, its events, and its events once more (a retry).
Ahead = tuple[dict[str, Any], Iterator[Event], Callable[[], Iterator[Event]]]


class _End:
    """The worker's last queue item: the stream ended (normally or with `error`)."""

    __slots__ = ("error",)

    def __init__(self, error: BaseException | None = None) -> None:
        self.error = error


class _GaveWay(Exception):
    """The request gave its permit to one before it (see AdaptiveLimit.give_way)."""


@dataclass
class _Job:
    body: dict[str, Any]
    #: The request's place in line for a permit.
    order: int
    #: How many of the server's chunks its queue may hold.
    capacity: int
    queue: queue.SimpleQueue[Event | _End] = field(default_factory=queue.SimpleQueue)
    cancelled: threading.Event = field(default_factory=threading.Event)
    #: Some of its events are in the queue (or were taken from it).
    started: bool = False
    #: The server's chunks in the queue; guarded by `room`, which is notified when it falls.
    held: int = 0
    room: threading.Condition = field(default_factory=threading.Condition)

    def put(self, item: Event | _End, give_way: Callable[[], bool] | None = None) -> bool:
        """Queue `item`, waiting while the queue is full; False once the job was cancelled.
        Raises _GaveWay when `give_way()` says so while the queue is full."""
        weight = _weight(item)
        with self.room:
            # An item bigger than the whole queue still goes in once the queue is empty.
            while self.held and self.held + weight > self.capacity:
                if self.cancelled.is_set():
                    return False
                if not self.room.wait(_POLL_S) and give_way is not None and give_way():
                    raise _GaveWay from None
            if self.cancelled.is_set():
                return False
            self.held += weight
        self.queue.put(item)
        self.started = True
        return True

    def get(self, block: bool = True) -> Event | _End:
        """The next item; queue.Empty when not `block`ing and there is none."""
        item = self.queue.get(block)
        with self.room:
            self.held -= _weight(item)
            self.room.notify()
        return item

    def drain(self) -> None:
        """Forget the events queued so far (nobody has taken any: a request before it waits)."""
        self.started = False
        while True:
            try:
                self.get(block=False)
            except queue.Empty:
                return


def _weight(item: Event | _End) -> int:
    return item.pieces if isinstance(item, AudioChunk) else 1


class Scheduler:
    """Up to `concurrency` requests in flight on a pool of transports made by `make_transport`,
    fewer while the account allows fewer (`limit`)."""

    def __init__(
        self,
        make_transport: Callable[[], Transport],
        concurrency: int,
        buffer_chunks: int = DEFAULT_BUFFER_CHUNKS,
        limit: AdaptiveLimit | None = None,
    ) -> None:
        if concurrency < 1:
            raise ValueError(f"concurrency must be at least 1, not {concurrency}")
        self._make = make_transport
        self._concurrency = concurrency
        self._buffer_chunks = buffer_chunks
        self._limit = limit if limit is not None else AdaptiveLimit(concurrency)
        self._idle: queue.LifoQueue[Transport] = queue.LifoQueue()
        self._all: list[Transport] = []
        self._lock = threading.Lock()
        self._closed = threading.Event()
        self._threads: list[threading.Thread] = []
        #: Limits the run settled at, told to the caller's `on_limit` in the caller's thread.
        self._settled: queue.SimpleQueue[int] = queue.SimpleQueue()
        self._on_limit: Callable[[int], None] | None = None

    def ahead(
        self, bodies: Iterable[dict[str, Any]], on_limit: Callable[[int], None] | None = None
    ) -> Iterator[Ahead]:
        """Each body with its events and its `again`, in order; up to `concurrency` requests run
        at once. `on_limit(n)` hears, in the caller's thread, that the run goes on with n at once."""
        self._on_limit = on_limit
        pending: deque[_Job] = deque()
        it = iter(bodies)
        exhausted = False
        order = 0
        try:
            while True:
                while not exhausted and len(pending) < self._concurrency:
                    body = next(it, None)
                    if body is None:
                        exhausted = True
                    else:
                        pending.append(self._start(body, order))
                        order += 1
                if not pending:
                    return
                job = pending.popleft()
                yield job.body, self._events(job), self._again(job.body, job.order)
                job.cancelled.set()
        finally:
            for job in pending:
                job.cancelled.set()

    def close(self) -> None:
        """Stop every worker (they drop their requests) and close the transports."""
        self._closed.set()
        for thread in self._threads:
            thread.join(timeout=1.0)
        with self._lock:
            transports, self._all = self._all, []
        for transport in transports:
            try:
                transport.close()
            except Exception:  # noqa: BLE001 - closing a broken connection may fail in many ways
                pass

    # -- the caller's side ---------------------------------------------------------------------------

    def _events(self, job: _Job) -> Iterator[Event]:
        try:
            while True:
                item = job.get()
                self._tell_settled()
                if isinstance(item, _End):
                    if item.error is not None:
                        raise item.error
                    return
                yield item
                if isinstance(item, Done):
                    return
        finally:
            job.cancelled.set()

    def _again(self, body: dict[str, Any], order: int) -> Callable[[], Iterator[Event]]:
        """The request sent once more, in its place in line (started when first iterated, so that
        the caller's backoff comes first)."""

        def events() -> Iterator[Event]:
            yield from self._events(self._start(body, order))

        return events

    def _tell_settled(self) -> None:
        while not self._settled.empty():
            allowed = self._settled.get()
            if self._on_limit is not None:
                self._on_limit(allowed)

    # -- workers ------------------------------------------------------------------------------------

    def _start(self, body: dict[str, Any], order: int) -> _Job:
        job = _Job(body, order, self._buffer_chunks)
        transport = self._acquire()
        thread = threading.Thread(
            target=self._work, args=(job, transport), name="smallest-request", daemon=True
        )
        self._threads = [t for t in self._threads if t.is_alive()]
        self._threads.append(thread)
        thread.start()
        return job

    def _acquire(self) -> Transport:
        """An idle transport, a new one while there are fewer than `concurrency`, else the next one
        released (fewer than `concurrency` jobs wait, so one is always about to be released)."""
        while True:
            try:
                return self._idle.get_nowait()
            except queue.Empty:
                pass
            with self._lock:
                if len(self._all) < self._concurrency:
                    transport = self._make()
                    self._all.append(transport)
                    return transport
            try:
                return self._idle.get(timeout=_POLL_S)
            except queue.Empty:
                continue

    def _work(self, job: _Job, transport: Transport) -> None:
        healthy = False
        try:
            healthy = self._serve(job, transport)
        except BaseException as exc:  # noqa: BLE001 - handed to the consumer, raised there
            job.put(_End(exc))
        finally:
            if healthy and not self._closed.is_set():
                self._idle.put(transport)
            else:
                self._retire(transport)

    def _serve(self, job: _Job, transport: Transport) -> bool:
        """Send the job's request whenever the limit lets it, until it is delivered (True), stopped
        (False) or fails (raised)."""
        rejected = False
        while (permit := self._limit.acquire(job.order, lambda: self._stopped(job))) is not None:
            try:
                if rejected and (allowed := self._limit.settled()) is not None:
                    self._settled.put(allowed)
                try:
                    if not self._stream(job, transport, permit):
                        return False
                except _GaveWay:
                    job.drain()
                    continue
                except RateLimitError:
                    if job.started or not self._limit.rejected(permit):
                        raise
                    rejected = True
                    continue
                self._limit.done(permit)
                job.put(_End())
                return True
            finally:
                self._limit.release(permit)
        return False

    def _stream(self, job: _Job, transport: Transport, permit: Permit) -> bool:
        """The request's events into the job's queue; False when stopped first."""
        stream = transport.stream(job.body)
        try:
            for event in stream:
                if self._closed.is_set() or not job.put(event, lambda: self._limit.give_way(permit)):
                    return False
            return True
        finally:
            close = getattr(stream, "close", None)
            if close is not None:
                close()

    def _stopped(self, job: _Job) -> bool:
        return job.cancelled.is_set() or self._closed.is_set()

    def _retire(self, transport: Transport) -> None:
        with self._lock:
            if transport in self._all:
                self._all.remove(transport)
        try:
            transport.close()
        except Exception:  # noqa: BLE001
            pass
