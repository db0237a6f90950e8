"""The bench's network mode (scripts/bench_network.py, scripts/delay_proxy.py): the delay proxy
delays, and the dropout finder tells the audio's own pauses from silences it does not have."""

from __future__ import annotations

import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator

import pytest

from tests.helpers import ROOT

sys.path.insert(0, str(ROOT / "scripts"))
import bench_network  # noqa: E402


@pytest.fixture
def echo_server() -> Iterator[int]:
    server = socket.create_server(("127.0.0.1", 0))

    def serve() -> None:
        conn, _ = server.accept()
        with conn:
            while data := conn.recv(1024):
                conn.sendall(data)

    threading.Thread(target=serve, daemon=True).start()
    yield server.getsockname()[1]
    server.close()


def test_the_proxy_delays_each_direction_and_keeps_the_bytes(echo_server: int) -> None:
    proxy = subprocess.Popen(
        [sys.executable, str(ROOT / "scripts" / "delay_proxy.py"), f"127.0.0.1:{echo_server}", "40"],
        stdout=subprocess.PIPE, text=True,
    )
    try:
        assert proxy.stdout is not None
        host, port = proxy.stdout.readline().strip().split(":")
        connected = time.monotonic()
        with socket.create_connection((host, int(port)), timeout=10) as sock:
            for message in (b"first", b"second"):
                t0 = time.monotonic()
                sock.sendall(message)
                got = b""
                while len(got) < len(message):
                    got += sock.recv(1024)
                assert got == message
                assert time.monotonic() - t0 >= 0.080  # 40 ms there, 40 ms back
                if message == b"first":  # and the TCP handshake's round trip before it
                    assert time.monotonic() - connected >= 0.160
    finally:
        proxy.terminate()
        proxy.wait()


def _tone_with_gaps(rate: int, gaps_ms: list[tuple[int, int]], total_ms: int) -> list[int]:
    samples = [1000] * (total_ms * rate // 1000)
    for start, length in gaps_ms:
        a = start * rate // 1000
        samples[a : a + length * rate // 1000] = [0] * (length * rate // 1000)
    return samples


def test_silences_are_found_after_the_first_sound() -> None:
    samples = [0] * 480 + _tone_with_gaps(48000, [(100, 30), (300, 5)], 500)
    first, gaps = bench_network.silences(samples, 48000)
    assert first == 480
    assert [(round(s), round(n)) for s, n in gaps] == [(100, 30)]  # 5 ms is below the floor


def test_a_dropout_is_a_silence_the_audio_does_not_have() -> None:
    own = [(300.0, 72.0), (700.0, 160.0)]
    recorded = [(16.0, 23.0), (323.0, 72.0), (723.0, 160.0)]  # a dropout, then the same pauses late
    assert bench_network.dropouts(recorded, own) == [(16.0, 23.0)]
    assert bench_network.dropouts(own, own) == []


def test_a_hold_next_to_a_pause_is_a_dropout_of_its_own_length() -> None:
    """A playback hold that runs into the audio's pause (before or after it) makes one longer
    silence: the dropout is the difference, and the later pauses are still the audio's own."""
    own = [(300.0, 72.0), (700.0, 160.0), (900.0, 72.0)]
    before = [(300.0, 572.0), (1200.0, 160.0), (1400.0, 72.0)]  # 500 ms, then the first pause
    after = [(300.0, 72.0), (700.0, 660.0), (1400.0, 72.0)]  # the second pause, then 500 ms
    assert bench_network.dropouts(before, own) == [(300.0, 500.0)]
    assert bench_network.dropouts(after, own) == [(700.0, 500.0)]
