"""The `smallest serve` command itself: startup line, signals, options, engine loading."""

from __future__ import annotations

import json
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
import requests

from smallest_cli.errors import UsageError
from tests.helpers import ROOT, running_server, wait_until
from tests.test_server_helpers import add_faults, body, inspect, post_sse, post_sync, ws_connect


def _serve(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "smallest_cli", "serve", *args],
        capture_output=True,
        text=True,
        timeout=30,
        cwd=ROOT,
    )


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
def test_prints_one_url_line_and_stops_cleanly(sig: signal.Signals) -> None:
    with running_server() as srv:
        assert srv.url.startswith("http://127.0.0.1:")
        assert requests.get(srv.url + "/waves/v1/health", timeout=10).status_code == 200
        srv.proc.send_signal(sig)
        out, _ = srv.proc.communicate(timeout=10)
        assert srv.proc.returncode == 0
        assert out == b""  # nothing after the URL line


def test_without_api_key_any_bearer_token_is_accepted() -> None:
    cmd = [sys.executable, "-m", "smallest_cli", "serve", "--port", "0"]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, cwd=ROOT)
    try:
        assert proc.stdout is not None
        url = proc.stdout.readline().decode().strip()
        ok = requests.post(
            url + "/waves/v1/tts", json=body("hi"), headers={"Authorization": "Bearer x"}, timeout=10
        )
        assert ok.status_code == 200
        assert requests.post(url + "/waves/v1/tts", json=body("hi"), timeout=10).status_code == 401
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def test_unknown_engine_is_a_one_line_usage_error() -> None:
    out = _serve("--port", "0", "--engine", "nope")
    assert out.returncode == 2 and out.stdout == ""
    assert out.stderr.strip().splitlines() == [
        "smallest: error: unknown engine 'nope'; choose one of: tones, espeak"
    ]


def test_missing_espeak_dependencies_are_a_usage_error(monkeypatch: pytest.MonkeyPatch) -> None:
    from smallest_cli.server.engines import registry

    monkeypatch.setitem(sys.modules, "smallest_cli.server.engines.espeak", None)  # import fails
    with pytest.raises(UsageError, match="espeak engine is not available"):
        registry.load_engine("espeak")


@pytest.mark.parametrize(
    "args",
    [["--chunk-ms", "0"], ["--rtf", "-1"], ["--port", "70000"], ["--idle-timeout", "0"], ["--api-key", " "]],
)
def test_bad_options_exit_2(args: list[str]) -> None:
    out = _serve("--port", "0", *args) if "--port" not in args else _serve(*args)
    assert out.returncode == 2 and out.stdout == ""
    assert out.stderr.startswith("smallest: error: ")


def test_port_in_use_exit_2() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        out = _serve("--port", str(taken.getsockname()[1]))
    assert out.returncode == 2 and "cannot listen" in out.stderr


def test_chunk_ms_option_sets_chunk_size() -> None:
    with running_server("--chunk-ms", "50") as srv:
        _, result = post_sse(srv, body(sample_rate=8000))
        sizes = [len(__import__("base64").b64decode(o["audio"])) for n, o in result.events if n == "audio"]
        assert sizes[0] == 800  # 50 ms of 8 kHz 16-bit
        assert result.audio == post_sync(srv, body(sample_rate=8000)).content


def test_serve_help_imports_no_heavy_modules() -> None:
    probe = (
        "import sys\nfrom smallest_cli.cli import build_app\n"
        "try:\n    build_app()(prog_name='smallest', args=['serve', '--help'])\n"
        "except SystemExit:\n    pass\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in "
        "{'numpy','sounddevice','websockets','requests','aiohttp','lameenc'}))"
    )
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True, cwd=ROOT)
    assert out.stdout.strip().splitlines()[-1] == "[]"
    assert "--max-concurrency" in out.stdout and "--first-chunk-ms" in out.stdout
    assert "--keep-open" in out.stdout and "--varied-takes" in out.stdout


def test_stops_promptly_with_open_and_stalled_streams() -> None:
    with running_server() as srv:
        add_faults(srv, {"kind": "stall", "transport": "sse"})
        add_faults(srv, {"kind": "stall", "transport": "ws"})
        sse = threading.Thread(
            target=lambda: requests.post(
                srv.url + "/waves/v1/tts/live", json=body(), headers=srv.headers, timeout=30
            ),
            daemon=True,
        )
        sse.start()
        with ws_connect(srv) as ws:
            ws.send(json.dumps(body()))
            wait_until(
                lambda: inspect(srv)["counters"]["active_requests"] == 2, message="both streams stalled"
            )
            started = time.monotonic()
            srv.proc.send_signal(signal.SIGTERM)
            srv.proc.wait(timeout=15)
            assert time.monotonic() - started < 5
            assert srv.proc.returncode == 0
        sse.join(timeout=10)


def _can_bind(host: str) -> bool:
    try:
        with socket.socket() as s:
            s.bind((host, 0))
        return True
    except OSError:
        return False


def test_host_option_binds_that_address_and_prints_it() -> None:
    if not _can_bind("127.0.0.2"):
        pytest.skip("this machine cannot bind 127.0.0.2")
    with running_server("--host", "127.0.0.2") as srv:
        assert srv.url.startswith("http://127.0.0.2:")
        resp = requests.get(srv.url + "/waves/v1/health", timeout=10)
        assert resp.status_code == 200 and resp.json()["status"] == "ok"


def test_missing_espeak_module_skips_or_fails_when_required(monkeypatch: pytest.MonkeyPatch) -> None:
    """Developers without the speech extra skip the eSpeak tests; CI (SMALLEST_REQUIRE_ESPEAK=1) fails."""
    from tests.helpers import REQUIRE_ESPEAK_ENV, require_module

    monkeypatch.setitem(sys.modules, "espeakng_loader", None)  # import fails
    monkeypatch.delenv(REQUIRE_ESPEAK_ENV, raising=False)
    with pytest.raises(pytest.skip.Exception):
        require_module("espeakng_loader", REQUIRE_ESPEAK_ENV)
    monkeypatch.setenv(REQUIRE_ESPEAK_ENV, "1")
    with pytest.raises(pytest.fail.Exception, match="SMALLEST_REQUIRE_ESPEAK=1"):
        require_module("espeakng_loader", REQUIRE_ESPEAK_ENV)
    assert require_module("json", REQUIRE_ESPEAK_ENV) is json


def listening_addresses(port: int) -> set[str]:
    """The local addresses with a listening TCP socket on `port` (Linux: /proc/net/tcp and tcp6)."""
    found = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            lines = Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            local, state = line.split()[1], line.split()[3]
            address, hex_port = local.rsplit(":", 1)
            if state == "0A" and int(hex_port, 16) == port:  # 0A: LISTEN
                found.add(address)
    return found


@pytest.mark.skipif(not Path("/proc/net/tcp").exists(), reason="needs Linux's /proc/net/tcp")
def test_listens_on_loopback_only_by_default() -> None:
    """The socket itself, not the printed URL: by default nothing outside this machine can connect."""
    with running_server() as srv:
        port = int(srv.url.rsplit(":", 1)[1])
        assert listening_addresses(port) == {"0100007F"}  # 127.0.0.1, little-endian hex
