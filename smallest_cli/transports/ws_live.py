"""One WebSocket request whose text arrives over time (live input): a sender thread sends the
messages as they come (it blocks while the input waits) while the caller's thread receives frames
and yields events. The websockets sync client allows send and recv from different threads.

A stall is only reported once all the text was sent (while the input is quiet, so is the server);
an input error in the sender (bad UTF-8) is raised in the caller's thread.

A server may end the request (`complete`) while input is still coming: one that reads
`complete_backoff_ms` as a wait after the last chunk whatever `continue` says does so after a
pause in the input longer than that. The rest of the input is then the caller's to send as a new
request (`exchange_live` returns it): with the message the closing socket refused, and the ones
sent since audio last arrived, which the server may have decided to drop before they reached it (a
phrase said twice is better than one lost).
"""

from __future__ import annotations

import itertools
import json
import threading
import time
from collections import deque
from collections.abc import Generator, Iterable, Iterator
from typing import TYPE_CHECKING, Any

from websockets.exceptions import ConnectionClosed
from websockets.sync.client import ClientConnection

from smallest_cli.errors import SmallestError
from smallest_cli.events import AudioChunk, Done, Event, WordTimestamp
from smallest_cli.protocol.frames import parse_ws_frame, with_request_id
from smallest_cli.protocol.request import websocket_message
from smallest_cli.transports.base import closed_before_complete, stall_error

if TYPE_CHECKING:
    from smallest_cli.transports.debuglog import DebugLog

_POLL_S = 0.1


class _Sender(threading.Thread):
    def __init__(
        self, ws: ClientConnection, messages: Iterable[dict[str, Any]], log: DebugLog | None = None
    ) -> None:
        super().__init__(name="smallest-live-sender", daemon=True)
        self._ws = ws
        self._log = log
        self._messages = iter(messages)
        self._halt = threading.Event()
        #: A message taken from the input and not sent (the request ended first).
        self._unsent: dict[str, Any] | None = None
        #: The messages sent since audio last arrived, with when (monotonic): a server that ends
        #: the request may have decided so before they reached it.
        self._unheard: deque[tuple[float, dict[str, Any]]] = deque()
        #: Whether any audio came: a request that brought none is not sent again for what it
        #: could not say (text with nothing to speak would be sent for ever).
        self._heard_any = False
        #: An error while producing the messages (reading the input), raised by the receiver.
        self.error: BaseException | None = None
        #: When the last message was sent (monotonic), once all were.
        self.finished_at: float | None = None

    def run(self) -> None:
        try:
            for message in self._messages:
                if self._halt.is_set():
                    self._unsent = message
                    return
                payload = json.dumps(websocket_message(message))
                if self._log is not None:
                    self._log.sent(payload)
                try:
                    self._ws.send(payload)
                except ConnectionClosed:
                    self._unsent = message  # the receiver sees the closed socket and reports it
                    return
                self._unheard.append((time.monotonic(), message))
            self.finished_at = time.monotonic()
        except BaseException as exc:  # noqa: BLE001 - handed to the receiving thread
            self.error = exc

    def stop(self) -> None:
        self._halt.set()

    def heard(self, at: float) -> None:
        """Audio arrived at `at` (monotonic): the messages sent before it reached the server while
        the request was still going (it sent this after they were on their way)."""
        self._heard_any = True
        unheard = self._unheard
        while unheard and unheard[0][0] <= at:
            unheard.popleft()

    def rest(self) -> Iterator[dict[str, Any]] | None:
        """Once the thread has ended: the messages sent since audio last arrived, the one not sent
        and the input's rest; None when they say nothing (the input ended, and only its closing
        flush is left) or when this request brought no audio at all."""
        pending = [message for _, message in self._unheard]
        if self._unsent is not None:
            pending.append(self._unsent)
        closing = self._unsent is not None and not self._unsent.get("continue")
        said = any(str(m.get("text", "")).strip() for m in pending)
        if (self.finished_at is not None or closing) and not (self._heard_any and said):
            return None
        return itertools.chain(pending, self._messages)


def _check_stall(sender: _Sender, last_frame: float, timeout: float, last_good: str | bytes | None) -> None:
    """A stall error once all was sent and no frame of the request came for `timeout` since."""
    done = sender.finished_at
    if done is not None and time.monotonic() - max(done, last_frame) > timeout:
        raise with_request_id(stall_error(timeout), last_good) from None


def exchange_live(
    ws: ClientConnection, messages: Iterable[dict[str, Any]], timeout: float, log: DebugLog | None = None
) -> Generator[Event, None, Iterator[dict[str, Any]] | None]:
    """Send `messages` from a thread; yield the request's events until `complete`. Returns None,
    or the messages still to send when the server ended the request before the input ended."""
    sender = _Sender(ws, messages, log)
    sender.start()
    last_frame = time.monotonic()
    #: The last frame that parsed, kept to name the request id in an error (read only then).
    last_good: str | bytes | None = None
    try:
        while True:
            if sender.error is not None:
                raise sender.error
            try:
                frame = ws.recv(timeout=_POLL_S)
            except TimeoutError:
                _check_stall(sender, last_frame, timeout, last_good)
                continue
            except ConnectionClosed as exc:
                if sender.error is not None:
                    raise sender.error from None
                raise with_request_id(closed_before_complete(exc), last_good) from None
            if log is not None:
                log.received(frame)
            try:
                event = parse_ws_frame(frame)
            except SmallestError as err:
                raise with_request_id(err, last_good) from None
            last_good = frame
            if event is None:  # a frame the request does not know puts no stall off
                _check_stall(sender, last_frame, timeout, last_good)
                continue
            last_frame = time.monotonic()
            if isinstance(event, Done):
                return (yield from _ended(sender, event))
            if isinstance(event, (AudioChunk, WordTimestamp)):
                sender.heard(last_frame)
            yield event
    finally:
        sender.stop()


def _ended(sender: _Sender, done: Done) -> Generator[Event, None, Iterator[dict[str, Any]] | None]:
    """The request is complete: what is left to say when it ended before the input did or before
    the server could have heard all of it (`_Sender.rest`), else its Done."""
    sender.stop()
    sender.join()  # it may be waiting for the input's next piece: that goes in the next request
    if sender.error is not None:
        raise sender.error
    rest = sender.rest()
    if rest is not None:
        return rest
    yield done
    return None
