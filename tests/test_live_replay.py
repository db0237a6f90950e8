"""run/replay.LiveReplay: a live request sent again after a failure before its first audio, replaying
what the failed attempt took from the input and going on with the rest; never after audio."""

from __future__ import annotations

import queue
import threading
from collections.abc import Iterable, Iterator
from typing import Any

import pytest

from smallest_cli.errors import NetworkError, RateLimitError
from smallest_cli.events import AudioChunk, Done, Event
from smallest_cli.protocol.request import SynthesisOptions
from smallest_cli.run.pipeline import Pipeline, Prepared
from smallest_cli.run.replay import LiveReplay
from tests.test_pipeline import MemorySink, Recorder


def messages(*texts: str) -> Iterator[dict[str, Any]]:
    return iter([{"text": t, "continue": True} for t in texts])


class LiveTransport:
    """Each attempt reads its messages, then follows its script: "refuse" (429 once it has read
    `refuse_after` messages), "audio-then-drop" (audio, then the connection drops), or "ok"
    (audio of everything it read, then Done)."""

    name = "fake"

    def __init__(self, *script: str, refuse_after: int = 2) -> None:
        self.script = list(script)
        self.refuse_after = refuse_after
        self.sent: list[list[str]] = []

    def stream_live(self, msgs: Iterable[dict[str, Any]]) -> Iterator[Event]:
        step = self.script.pop(0)
        sent: list[str] = []
        self.sent.append(sent)
        for message in msgs:
            sent.append(message["text"])
            if step == "refuse" and len(sent) == self.refuse_after:
                raise RateLimitError("rate limited by the server: Too many requests")
        yield AudioChunk("".join(sent).encode())
        if step == "audio-then-drop":
            raise NetworkError("the server closed the connection")
        yield Done()


def test_a_refused_attempt_is_replayed_then_the_input_goes_on() -> None:
    transport = LiveTransport("refuse", "ok")
    replay = LiveReplay(transport, messages("a", "b", "c", "d"))  # type: ignore[arg-type]
    first = replay.attempt()
    assert first is not None
    with pytest.raises(RateLimitError):
        list(first)
    second = replay.attempt()
    assert second is not None
    assert [e.data for e in second if isinstance(e, AudioChunk)] == [b"abcd"]
    assert transport.sent == [["a", "b"], ["a", "b", "c", "d"]]


def test_no_attempt_after_the_first_audio() -> None:
    transport = LiveTransport("audio-then-drop")
    replay = LiveReplay(transport, messages("a", "b"))  # type: ignore[arg-type]
    first = replay.attempt()
    assert first is not None
    with pytest.raises(NetworkError):
        list(first)
    assert replay.attempt() is None


def test_no_attempt_once_more_text_was_sent_than_is_kept() -> None:
    transport = LiveTransport("refuse", refuse_after=3)
    replay = LiveReplay(transport, messages("ab", "cd", "ef"), max_chars=3)  # type: ignore[arg-type]
    first = replay.attempt()
    assert first is not None
    with pytest.raises(RateLimitError):
        list(first)
    assert replay.attempt() is None


class Handles:
    """Hands each attempt's message iterator to the test, which reads it from its own threads (as
    the WebSocket's sender threads do)."""

    name = "fake"

    def __init__(self) -> None:
        self.attempts: list[Iterator[dict[str, Any]]] = []

    def stream_live(self, msgs: Iterable[dict[str, Any]]) -> Iterator[Event]:
        self.attempts.append(iter(msgs))
        return iter(())


def test_a_replaced_sender_waiting_for_input_hands_what_it_reads_to_the_new_attempt() -> None:
    typed: queue.Queue[str | None] = queue.Queue()
    source = ({"text": t} for t in iter(typed.get, None))
    handles = Handles()
    replay = LiveReplay(handles, source)  # type: ignore[arg-type]
    for _ in replay.attempt() or ():
        pass
    old = handles.attempts[0]
    typed.put("a")
    assert next(old)["text"] == "a"
    old_rest: list[Any] = []
    waiting = threading.Thread(target=lambda: old_rest.extend(old), daemon=True)
    waiting.start()  # the old sender waits for more input
    for _ in replay.attempt() or ():
        pass
    new = handles.attempts[1]
    assert next(new)["text"] == "a"  # replayed at once, though the old sender waits on the input
    typed.put("b")
    assert next(new)["text"] == "b"
    waiting.join(timeout=10)
    assert old_rest == []  # the replaced attempt sent nothing more
    typed.put(None)
    assert list(new) == []


def live_pipeline(transport: LiveTransport) -> tuple[Pipeline, MemorySink, Recorder]:
    sink, rec = MemorySink(), Recorder()
    pipe = Pipeline(
        transport=transport,  # type: ignore[arg-type]
        options=SynthesisOptions(voice_id="avery", sample_rate=8000),
        sinks=[sink],
        observer=rec,
        sleep=lambda _s: None,
    )
    return pipe, sink, rec


def test_the_pipeline_retries_live_input_refused_before_audio() -> None:
    transport = LiveTransport("refuse", "ok")
    pipe, sink, rec = live_pipeline(transport)
    replay = LiveReplay(transport, messages("Hello ", "there. ", "More."))  # type: ignore[arg-type]
    stats = pipe.run([Prepared(None, replay.attempt(), again=replay.attempt)])
    assert bytes(sink.data) == b"Hello there. More."
    assert stats.retries == 1 and len(rec.retries) == 1


def test_the_pipeline_does_not_retry_live_input_after_audio() -> None:
    transport = LiveTransport("audio-then-drop", "ok")
    pipe, sink, rec = live_pipeline(transport)
    replay = LiveReplay(transport, messages("Hello ", "there."))  # type: ignore[arg-type]
    with pytest.raises(NetworkError):
        pipe.run([Prepared(None, replay.attempt(), again=replay.attempt)])
    assert bytes(sink.data) == b"Hello there." and sink.aborted
    assert rec.retries == [] and len(transport.sent) == 1
