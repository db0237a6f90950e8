"""Live input that can be sent again until its first audio: a failed attempt (a 429, a dropped
connection) is replayed on a new connection, and the input then goes on where it was.

Live text is consumed as it is sent, so `LiveReplay` keeps every message taken from the input
until the request's first audio (or word) arrives; from then on a failure is final, since what was
played or written cannot be taken back. Before the first audio only a little text has been sent
(the server speaks a sentence, or 250 characters, as soon as it has them); past `max_chars` kept,
the request cannot be sent again either, and the messages are let go.

Each attempt's sender thread (transports/ws_live.py) reads its messages from the replay. A
replaced attempt's sender may still be waiting for input: what it takes is logged for the current
attempt, which sends it in its place.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import Any

from smallest_cli.events import AudioChunk, Event, WordTimestamp
from smallest_cli.transports.base import Transport

#: Characters of text kept for a replay (as much as a fast producer sends before the first audio).
REPLAY_MAX_CHARS = 16 * 1024


class LiveReplay:
    """The attempts of one live request whose messages come from `messages`.

    Every message taken from the input goes into one log; each attempt reads the log from its
    start, taking from the input when it reaches the end. Once the request cannot be sent again,
    what the attempt has sent is dropped from the log."""

    def __init__(
        self, transport: Transport, messages: Iterator[dict[str, Any]], max_chars: int = REPLAY_MAX_CHARS
    ) -> None:
        self._transport = transport
        self._source = messages
        self._max_chars = max_chars
        self._log: list[dict[str, Any]] = []
        #: How many messages were dropped from the front of the log.
        self._base = 0
        self._chars = 0
        #: A new attempt may start (nothing heard yet, and the whole log kept).
        self._replayable = True
        self._attempts = 0
        #: The input's error, raised for whichever attempt reads next.
        self._error: BaseException | None = None
        self._lock = threading.Lock()
        #: One thread at a time reads the input (an old attempt's sender may still wait on it).
        self._reading = threading.Lock()

    def attempt(self) -> Iterator[Event] | None:
        """The events of a new attempt (on a new connection, started when first iterated), or None
        once the request can no longer be sent again."""
        with self._lock:
            if not self._replayable:
                return None
            self._attempts += 1
            attempt = self._attempts
        return self._events(attempt)

    def _events(self, attempt: int) -> Iterator[Event]:
        for event in self._transport.stream_live(self._messages(attempt)):
            if self._replayable and (
                isinstance(event, WordTimestamp) or (isinstance(event, AudioChunk) and event.data)
            ):
                with self._lock:
                    self._replayable = False
            yield event

    def _messages(self, attempt: int) -> Iterator[dict[str, Any]]:
        index = 0
        while (message := self._message(attempt, index)) is not None:
            index += 1
            yield message

    def _message(self, attempt: int, index: int) -> dict[str, Any] | None:
        """Message `index` of `attempt`: from the log, else the next from the input; None at the
        end of the input or once a later attempt has begun."""
        while True:
            with self._lock:
                if attempt != self._attempts:
                    return None
                if index < self._base + len(self._log):
                    return self._logged(index)
                if self._error is not None:
                    raise self._error
            with self._reading:
                with self._lock:
                    if attempt != self._attempts or index < self._base + len(self._log):
                        continue  # replaced, or an attempt replaced meanwhile took one from the input
                try:
                    message = next(self._source, None)
                except BaseException as exc:
                    self._error = exc
                    raise
                if message is None:
                    return None
                with self._lock:
                    self._log.append(message)
                    self._chars += len(message.get("text", ""))
                    if self._chars > self._max_chars:
                        self._replayable = False

    def _logged(self, index: int) -> dict[str, Any]:
        """Message `index` from the log; once nothing can be replayed, dropped with those before it."""
        message = self._log[index - self._base]
        if not self._replayable:
            del self._log[: index + 1 - self._base]
            self._base = index + 1
        return message
