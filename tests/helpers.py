"""Shared test helpers: start a real `smallest serve` on loopback, run the real CLI against it."""

from __future__ import annotations

import ctypes.util
import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path
from typing import IO, Any

from smallest_cli.server import launch
from smallest_cli.server.launch import Server

TEST_KEY = "sk_test_0123456789abcdef"
ROOT = Path(__file__).resolve().parent.parent


#: Set to 1 (CI does) to make tests that need PortAudio fail when it is missing instead of skipping.
REQUIRE_PORTAUDIO_ENV = "SMALLEST_REQUIRE_PORTAUDIO"


def require_portaudio() -> None:
    """Skip the calling test (or module) when PortAudio is not installed; fail it instead when
    SMALLEST_REQUIRE_PORTAUDIO=1, so that a CI without PortAudio cannot pass by skipping playback.
    Checked without loading PortAudio (the ALSA configuration is read when it loads)."""
    if ctypes.util.find_library("portaudio") is not None:
        return
    import pytest  # here, not at the top: scripts/bench.py imports this module and measures children's RSS

    reason = "PortAudio (libportaudio2) is not installed"
    if os.environ.get(REQUIRE_PORTAUDIO_ENV) == "1":
        pytest.fail(f"{reason}, and {REQUIRE_PORTAUDIO_ENV}=1 requires it", pytrace=False)
    pytest.skip(reason, allow_module_level=True)


#: Set to 1 (CI does) to make the eSpeak tests fail when their dependencies are missing instead of skipping.
REQUIRE_ESPEAK_ENV = "SMALLEST_REQUIRE_ESPEAK"


def require_module(name: str, env_var: str) -> Any:
    """Import and return module `name`; when it is missing, skip the calling test (or module), or
    fail it instead when the environment variable `env_var` is 1, so that CI cannot pass by skipping."""
    import importlib

    import pytest

    try:
        return importlib.import_module(name)
    except ImportError as exc:
        reason = f"could not import {name!r}: {exc}"
        if os.environ.get(env_var) == "1":
            pytest.fail(f"{reason}, and {env_var}=1 requires it", pytrace=False)
        pytest.skip(reason, allow_module_level=True)


#: Texts for the eSpeak concurrency tests: punctuation, digits, Devanagari, Spanish.
VARIED_TEXTS = (
    "The quick brown fox jumps over the lazy dog.",
    "It costs $5.20, maybe more!",
    "नमस्ते दुनिया, आप कैसे हैं?",
    "Hola amigo, ¿cómo estás hoy?",
    "Twenty streams at once, each one correct.",
)


def varied_requests(
    voices: Sequence[Any], languages: Sequence[str | None], voice_key: str, n: int = 20
) -> list[dict[str, Any]]:
    """`n` different synthesis requests (text, voice, sample rate, speed and language all vary),
    the voice under `voice_key` ("voice" for the engine, "voice_id" for a request body)."""
    return [
        {
            "text": VARIED_TEXTS[i % len(VARIED_TEXTS)],
            voice_key: voices[(i * 7) % len(voices)],
            "sample_rate": (8000, 16000, 24000, 44100)[i % 4],
            "speed": (0.8, 1.0, 1.25, 1.6)[i % 4],
            "language": languages[i % len(languages)],
        }
        for i in range(n)
    ]


def strip_zeros(pcm: bytes) -> bytes:
    """Drop leading and trailing all-zero int16 samples (stream pre-fill and drain padding)."""
    start, end = 0, len(pcm) - len(pcm) % 2
    while start < end and pcm[start : start + 2] == b"\0\0":
        start += 2
    while end > start and pcm[end - 2 : end] == b"\0\0":
        end -= 2
    return pcm[start:end]


def wait_until(predicate, timeout: float = 10.0, interval: float = 0.01, message: str = "condition"):
    """Poll `predicate` until it returns a truthy value or the deadline passes."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {message}")
        time.sleep(interval)


def running_server(
    *args: str,
    api_key: str = TEST_KEY,
    timeout: float = 20.0,
    tls: tuple[Path, Path] | None = None,
    log: IO[bytes] | None = None,
) -> AbstractContextManager[Server]:
    """Start `smallest serve --port 0 ARGS...` with the tests' key; see `smallest_cli.server.launch`."""
    return launch.running_server(*args, api_key=api_key, timeout=timeout, cwd=ROOT, tls=tls, log=log)


def cli_env(server: Server | None, tmp_home: Path, **extra: str) -> dict[str, str]:
    """An environment for the CLI: pointed at `server`, with isolated config and cache directories."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("SMALLEST_")}
    env["XDG_CONFIG_HOME"] = str(tmp_home / "config")
    env["XDG_CACHE_HOME"] = str(tmp_home / "cache")
    env["HOME"] = str(tmp_home)
    env["NO_COLOR"] = "1"
    if server is not None:
        env["SMALLEST_BASE_URL"] = server.url
        env["SMALLEST_API_KEY"] = server.api_key
    env.update(extra)
    return env


def run_cli(
    args: Sequence[str],
    env: dict[str, str],
    input: bytes | None = None,
    timeout: float = 60.0,
    cwd: Path = ROOT,
) -> subprocess.CompletedProcess[bytes]:
    """Run the real CLI as a subprocess; stdout and stderr captured as bytes."""
    return subprocess.run(
        [sys.executable, "-m", "smallest_cli", *args],
        input=input if input is not None else b"",
        capture_output=True,
        env=env,
        timeout=timeout,
        cwd=cwd,
    )


def cli_probe(setup: str, report: str) -> str:
    """A script for `python -c` that runs `setup` (code that patches the CLI to watch it), then the
    CLI with the script's own arguments, and prints `RESULT: <exit code> <report>` (an expression
    evaluated once the CLI is done)."""
    return f"""
import sys
{setup}
sys.argv = ["smallest", *sys.argv[1:]]
from smallest_cli.__main__ import main

code = 0
try:
    main()
except SystemExit as exc:
    code = exc.code or 0
print("RESULT:", code, {report})
"""


@contextmanager
def http_server(handler: type) -> Iterator[str]:
    """A real HTTP server on a free loopback port, answering with `handler` (a
    BaseHTTPRequestHandler, its access log silenced) from a thread: its base URL."""
    import http.server
    import threading

    quiet = type(handler.__name__, (handler,), {"log_message": lambda self, *args: None})
    with http.server.ThreadingHTTPServer(("127.0.0.1", 0), quiet) as httpd:
        threading.Thread(target=httpd.serve_forever, daemon=True).start()
        try:
            yield f"http://127.0.0.1:{httpd.server_address[1]}"
        finally:
            httpd.shutdown()


@contextmanager
def ws_server(handler: Callable[[Any], None]) -> Iterator[str]:
    """A real WebSocket server on a free loopback port (websockets' sync server), `handler` run
    for each connection: its base URL, as --base-url takes it (http://)."""
    import threading

    from websockets.sync.server import serve

    with serve(handler, "127.0.0.1", 0) as wsd:
        threading.Thread(target=wsd.serve_forever, daemon=True).start()
        try:
            yield f"http://127.0.0.1:{wsd.socket.getsockname()[1]}"
        finally:
            wsd.shutdown()
