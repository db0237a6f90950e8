"""Running up to N requests at once, ahead of the one being delivered, with the order preserved.

`Scheduler.ahead(bodies)` yields each request body with an iterator over its events, in the order
of `bodies`. While the caller consumes request i, requests i+1 .. i+N-1 already run, each on its
own transport (connection), each in a worker thread that puts its events into a bounded queue: a
request in flight holds at most `buffer_events` events (chunks of a few KB), then waits for the
caller (and the network pushes back on the server). Nothing here retries: a failed request's
iterator raises its error, and the caller retries on its own transport.

With N = 1 the pipeline does not use a scheduler at all (nothing is buffered beyond what streams).
"""

from __future__ import annotations

import queue
import threading
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

from smallest_cli.events import Done, Event
from smallest_cli.transports.base import Transport

#: Events a request in flight may hold before its worker waits (about 20 ms of audio each).
DEFAULT_BUFFER_EVENTS = 256
_POLL_S = 0.1


class _End:
    """The worker's last queue item: the stream ended (normally or with `error`)."""

    __slots__ = ("error",)

    def __init__(self, error: BaseException | None = None) -> None:
        self.error = error


@dataclass
class _Job:
    body: dict[str, Any]
    queue: queue.Queue[Event | _End]
    cancelled: threading.Event = field(default_factory=threading.Event)

    def put(self, item: Event | _End) -> bool:
        """Queue `item`, waiting while the queue is full; False once the job was cancelled."""
        while not self.cancelled.is_set():
            try:
                self.queue.put(item, timeout=_POLL_S)
                return True
            except queue.Full:
                continue
        return False

    def events(self) -> Iterator[Event]:
        try:
            while True:
                item = self.queue.get()
                if isinstance(item, _End):
                    if item.error is not None:
                        raise item.error
                    return
                yield item
                if isinstance(item, Done):
                    return
        finally:
            self.cancelled.set()


class Scheduler:
    """Up to `concurrency` requests in flight on a pool of transports made by `make_transport`."""

    def __init__(
        self,
        make_transport: Callable[[], Transport],
        concurrency: int,
        buffer_events: int = DEFAULT_BUFFER_EVENTS,
    ) -> None:
        if concurrency < 1:
            raise ValueError(f"concurrency must be at least 1, not {concurrency}")
        self._make = make_transport
        self._concurrency = concurrency
        self._buffer_events = buffer_events
        self._idle: queue.LifoQueue[Transport] = queue.LifoQueue()
        self._all: list[Transport] = []
        self._lock = threading.Lock()
        self._closed = threading.Event()
        self._threads: list[threading.Thread] = []

    def ahead(self, bodies: Iterable[dict[str, Any]]) -> Iterator[tuple[dict[str, Any], Iterator[Event]]]:
        """Each body with its events, in order; up to `concurrency` requests run at once."""
        pending: deque[_Job] = deque()
        it = iter(bodies)
        exhausted = False
        try:
            while True:
                while not exhausted and len(pending) < self._concurrency:
                    body = next(it, None)
                    if body is None:
                        exhausted = True
                    else:
                        pending.append(self._start(body))
                if not pending:
                    return
                job = pending.popleft()
                yield job.body, job.events()
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

    # -- workers ------------------------------------------------------------------------------------

    def _start(self, body: dict[str, Any]) -> _Job:
        job = _Job(body, queue.Queue(maxsize=self._buffer_events))
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
            stream = transport.stream(job.body)
            try:
                for event in stream:
                    if self._closed.is_set() or not job.put(event):
                        return
                healthy = True
            finally:
                close = getattr(stream, "close", None)
                if close is not None:
                    close()
            job.put(_End())
        except BaseException as exc:  # noqa: BLE001 - handed to the consumer, raised there
            job.put(_End(exc))
        finally:
            if healthy and not self._closed.is_set():
                self._idle.put(transport)
            else:
                self._retire(transport)

    def _retire(self, transport: Transport) -> None:
        with self._lock:
            if transport in self._all:
                self._all.remove(transport)
        try:
            transport.close()
        except Exception:  # noqa: BLE001
            pass
