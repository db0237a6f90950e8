"""The first request is sent while the command opens its outputs (run/first.py)."""

from __future__ import annotations

import subprocess
import sys
import threading
from collections.abc import Iterator
from typing import Any

import pytest

from smallest_cli.errors import NetworkError
from smallest_cli.events import AudioChunk, Done, Event
from smallest_cli.protocol.request import SynthesisOptions
from smallest_cli.run.first import send_first
from smallest_cli.run.pipeline import Pipeline, Prepared
from tests.helpers import cli_env, cli_probe, wait_until

OPTIONS = SynthesisOptions(voice_id="magnus", sample_rate=8000)


class GatedTransport:
    """Records each request as the server would see it; its first event waits for `release`."""

    name = "fake"

    def __init__(self, fail_first: bool = False) -> None:
        self.sent: list[str] = []
        self.release = threading.Event()
        self.fail_first = fail_first

    def stream(self, body: dict[str, Any]) -> Iterator[Event]:
        self.sent.append(body["text"])
        if self.fail_first and len(self.sent) == 1:
            raise NetworkError("dropped before the first chunk")
        assert self.release.wait(10)
        yield AudioChunk(body["text"].encode())
        yield Done(request_id=body["text"])


class Sink:
    def __init__(self) -> None:
        self.data = bytearray()

    def write(self, data: bytes) -> None:
        self.data += data

    def begin_segment(self, retryable: bool) -> None:
        pass

    def rollback(self) -> bool:
        return True

    def end_segment(self) -> None:
        pass

    def close(self) -> None:
        pass

    def abort(self) -> str | None:
        return None


def test_the_first_request_goes_out_before_anybody_reads_it_and_only_the_first() -> None:
    transport = GatedTransport()
    segments = send_first(transport, iter(["one.", "two."]), OPTIONS)
    wait_until(lambda: transport.sent == ["one."], message="the first request")
    transport.release.set()
    sink = Sink()
    Pipeline(transport=transport, options=OPTIONS, sinks=[sink]).run(segments)
    assert transport.sent == ["one.", "two."]
    assert bytes(sink.data) == b"one.two."


def test_an_error_before_the_first_event_reaches_the_pipeline_which_retries() -> None:
    transport = GatedTransport(fail_first=True)
    transport.release.set()
    sink, slept = Sink(), []
    segments = send_first(transport, iter(["one."]), OPTIONS)
    stats = Pipeline(transport=transport, options=OPTIONS, sinks=[sink], sleep=slept.append).run(segments)
    assert transport.sent == ["one.", "one."]
    assert bytes(sink.data) == b"one." and stats.retries == 1 and len(slept) == 1


def test_a_request_on_its_way_already_is_left_as_it_is() -> None:
    transport = GatedTransport()
    live = Prepared(None, iter([AudioChunk(b"live"), Done()]))
    assert list(send_first(transport, iter([live, "two."]), OPTIONS)) == [live, "two."]
    assert transport.sent == []


def test_only_the_first_segment_is_read_ahead() -> None:
    """Later segments are read as the pipeline reaches them (a slow pipe's text is not awaited)."""
    transport = GatedTransport()
    transport.release.set()
    items = iter(["one.", "two.", "three."])
    ahead = send_first(transport, items, OPTIONS)
    assert next(items) == "two."
    first = next(ahead)
    assert isinstance(first, Prepared) and first.body is not None and first.body["text"] == "one."
    assert list(ahead) == ["three."]


ORDER_PROBE = cli_probe("""
from smallest_cli.run import synth
from smallest_cli.transports import http_sync, sse, websocket

order = []
opened = synth._open_outputs


def opening(*args, **kwargs):
    order.append("outputs")
    return opened(*args, **kwargs)


synth._open_outputs = opening
for cls in (http_sync.SyncHttpTransport, sse.SseTransport, websocket.WebSocketTransport):
    def stream(self, body, _stream=cls.stream):
        order.append("request")
        return _stream(self, body)

    cls.stream = stream
""", "','.join(order)")


@pytest.mark.parametrize("command", ["speak", "stream-sse", "stream-ws"])
def test_the_cli_makes_its_first_request_before_it_opens_the_outputs(server, tmp_path, command: str) -> None:
    out = subprocess.run(
        [sys.executable, "-c", ORDER_PROBE, command, "One. " * 80, "-o", str(tmp_path / "a.wav")],
        capture_output=True, text=True, env=cli_env(server, tmp_path), stdin=subprocess.DEVNULL, timeout=60,
    )
    code, order = out.stdout.rsplit("RESULT:", 1)[1].split()
    assert code == "0", out.stderr
    assert order.split(",")[:3] == ["request", "outputs", "request"]
