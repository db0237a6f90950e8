from __future__ import annotations

import signal
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import settings

from tests.helpers import Server, cli_env, require_portaudio, running_server

# Property tests draw the same examples on every run, so that CI is never red by chance; a run with
# `--hypothesis-profile explore` draws new random ones (as many per test) to look for bugs.
settings.register_profile("deterministic", derandomize=True, database=None)
settings.register_profile("explore", derandomize=False)
settings.load_profile("deterministic")


def pytest_configure(config: pytest.Config) -> None:
    """Give Ctrl-C back to the processes the tests stop with it. A run started in the background
    of a script inherits SIGINT ignored and would pass it on to every CLI it spawns, which (as it
    should) then keeps ignoring it: the Ctrl-C tests would fail for how the run was started."""
    if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
        signal.signal(signal.SIGINT, signal.default_int_handler)


@pytest.fixture(scope="session")
def server() -> Iterator[Server]:
    """One shared `smallest serve` (tone engine, no pacing) for the whole session."""
    with running_server() as srv:
        yield srv


@pytest.fixture(scope="session")
def keep_open_server() -> Iterator[Server]:
    """A `smallest serve --keep-open`: its WebSocket stays open after `complete` for more requests,
    as an older documentation page describes (the reference, and `server`, close it)."""
    with running_server("--keep-open") as srv:
        yield srv


@pytest.fixture
def env(server: Server, tmp_path: Path) -> dict[str, str]:
    """CLI environment pointed at the shared server, with an isolated config directory."""
    return cli_env(server, tmp_path)


@pytest.fixture
def portaudio() -> None:
    """For tests that play through PortAudio: skip without it (fail under SMALLEST_REQUIRE_PORTAUDIO=1)."""
    require_portaudio()
