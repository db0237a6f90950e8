"""The first request, sent while the command opens its outputs.

Opening the audio device takes about 100 ms (PortAudio's library, its start-up, the host's
devices), and the display and the pipeline take a few more: time in which the first request could
already be on its way and the server making its first audio. So the first request is made in a
background thread, which waits there for the first event; the pipeline then reads that event and
the rest of the stream in its own thread, as from any other request. Only the first is sent this
way: once audio flows, the next requests are made as the pipeline reaches them.

The input is read and checked before: nothing leaves the machine for input that is not good.
"""

from __future__ import annotations

import itertools
import threading
from collections.abc import Iterable, Iterator

from smallest_cli.events import Event
from smallest_cli.protocol.request import SynthesisOptions, build_request
from smallest_cli.run.pipeline import Prepared
from smallest_cli.transports.base import Transport


def send_first(
    transport: Transport, segments: Iterable[str | Prepared], options: SynthesisOptions
) -> Iterator[str | Prepared]:
    """`segments`, the first one's request already sent (a plain text segment's; a live or
    prefetched one is on its way already)."""
    items = iter(segments)
    first = next(items, None)
    if first is None:
        return items
    if isinstance(first, str):
        body = build_request(first, options)
        first = Prepared(body, _FirstAwaited(transport.stream(body)))
    return itertools.chain((first,), items)


class _FirstAwaited(Iterator[Event]):
    """`events`, the first of them awaited in a daemon thread from the start. An error before it
    is raised to the reader, as if the reader had made the request itself."""

    def __init__(self, events: Iterator[Event]) -> None:
        self._events = events
        self._first: list[Event] = []
        self._error: BaseException | None = None
        self._thread: threading.Thread | None = threading.Thread(
            target=self._await_first, name="smallest-first-request", daemon=True
        )
        self._thread.start()

    def _await_first(self) -> None:
        try:
            self._first.append(next(self._events))
        except StopIteration:
            pass
        except BaseException as exc:  # noqa: BLE001 - raised to the reader
            self._error = exc

    def __next__(self) -> Event:
        thread, self._thread = self._thread, None
        if thread is None:
            return next(self._events)
        thread.join()
        if self._error is not None:
            raise self._error
        if not self._first:
            raise StopIteration
        return self._first.pop()
