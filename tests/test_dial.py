"""The early connection (transports/dial.py): TCP opens while the command sets up, and nothing,
the key least of all, is sent on it before the input is known to be good."""

from __future__ import annotations

import contextlib
import json
import select
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from smallest_cli.protocol.upgrade import upgrade_request
from smallest_cli.transports.dial import Dial, address_of, proxied
from tests.helpers import ROOT, TEST_KEY, cli_env, cli_probe, run_cli, wait_until


@pytest.mark.parametrize("url", [
    "https://api.smallest.ai", "https://api.smallest.ai/", "https://API.Smallest.AI:8443/waves/v1",
    "http://127.0.0.1:8080", "http://127.0.0.1:0", "http://localhost:", "https://[::1]:9443/x",
    "https://[::1]", "https://user:pw@host.example:444/p?q=1#f", "https://host.example?x=1",
    "https://host.example#frag", "wss://host.example/waves/v1/tts/live", "ws://host.example",
    "HTTPS://host.example", "http://h\u00e9.example:81",
])
def test_the_dial_finds_the_address_urlsplit_finds(url: str) -> None:
    """The dial reads the host and port with string methods (urllib.parse would load before the
    SYN); a socket is handed out only to a URL that urlsplit places on the same address."""
    from urllib.parse import urlsplit

    parts = urlsplit(url)
    secure = parts.scheme.lower() in ("https", "wss")
    assert address_of(url) == (secure, parts.hostname, parts.port or (443 if secure else 80))


@pytest.mark.parametrize("url", ["", "api.smallest.ai", "https://", "https://:443", "https://h:port",
                                 "https://h:99999", "https://[::1", "https://h:1:2"])
def test_the_dial_leaves_a_url_without_a_host_and_port_alone(url: str) -> None:
    assert address_of(url) is None


@pytest.fixture
def listener() -> Iterator[socket.socket]:
    sock = socket.create_server(("127.0.0.1", 0))
    yield sock
    sock.close()


def _url(listener: socket.socket) -> str:
    return f"http://127.0.0.1:{listener.getsockname()[1]}"


def test_a_dial_is_taken_once_and_only_for_its_own_host(listener: socket.socket) -> None:
    dial = Dial(_url(listener), timeout=5)
    accepted, _ = listener.accept()
    assert dial.take("ws://localhost:1/x") is None  # another host or port: not this socket
    sock = dial.take(_url(listener).replace("http", "ws") + "/waves/v1/tts/live")
    assert sock is not None
    sock.sendall(b"ping")
    assert accepted.recv(4) == b"ping"
    assert dial.take(_url(listener)) is None  # taken already
    sock.close()
    accepted.close()


def test_a_failed_dial_hands_its_error_to_the_first_taker() -> None:
    """As if the transport had connected itself: tried once, not once here and once there."""
    free = socket.create_server(("127.0.0.1", 0))
    port = free.getsockname()[1]
    free.close()  # nothing listens there now: refused
    dial = Dial(f"http://127.0.0.1:{port}", timeout=5)
    with pytest.raises(ConnectionRefusedError):
        dial.take(f"ws://127.0.0.1:{port}/")
    assert dial.take(f"ws://127.0.0.1:{port}/") is None  # a retry connects anew


def test_proxy_variables_turn_the_dial_off() -> None:
    assert proxied({"HTTPS_PROXY": "http://proxy:3128"})
    assert proxied({"all_proxy": "socks5://p"})
    assert proxied({"socks_proxy": "socks5://p"})  # any *_proxy, as urllib reads them
    assert not proxied({"NO_PROXY": "example.com", "PATH": "/bin", "https_proxy": ""})


def test_an_idle_socket_the_server_closed_is_not_handed_on(listener: socket.socket) -> None:
    """A slow pipe's first text may come after the server gave up on the unused connection."""
    dial = Dial(_url(listener), timeout=5)
    accepted, _ = listener.accept()
    accepted.close()  # the server's idle timeout
    wait_until(
        lambda: dial._sock is not None and select.select([dial._sock], [], [], 0)[0],
        message="the handshake and then the close to arrive",
    )
    assert dial.take(_url(listener)) is None


def _held_dial(url: str, monkeypatch: pytest.MonkeyPatch) -> tuple[Dial, threading.Event]:
    """A dial whose thread stops after TCP until the returned event is set (TLS, say, still on its way)."""
    from smallest_cli.transports import dial as dial_module

    go = threading.Event()
    connect = dial_module.Dial._connect

    def held(self: Dial) -> socket.socket:
        sock = connect(self)
        go.wait(10)
        return sock

    monkeypatch.setattr(dial_module.Dial, "_connect", held)
    return Dial(url, timeout=5), go


def _received(sock: socket.socket, size: int) -> bytes:
    """`size` bytes from `sock`, or fewer when it closes first."""
    sock.settimeout(10)
    data = b""
    while len(data) < size and (piece := sock.recv(size - len(data))):
        data += piece
    return data


@pytest.mark.parametrize("when", ["before the handshakes end", "after them"])
def test_the_upgrade_is_written_once_as_soon_as_the_connection_is_up(
    listener: socket.socket, monkeypatch: pytest.MonkeyPatch, when: str
) -> None:
    """By the dial's thread when the handshakes are still going on, else at once by the caller;
    the transport then learns the key its answer is checked against."""
    url = _url(listener).replace("http:", "ws:") + "/waves/v1/tts/live"
    upgrade = upgrade_request(url, {"Authorization": f"Bearer {TEST_KEY}"})
    assert upgrade is not None
    dial, go = _held_dial(_url(listener), monkeypatch)
    accepted, _ = listener.accept()
    if when == "after them":
        go.set()
        wait_until(lambda: dial._sock is not None, message="the dial to finish")
    dial.upgrade(upgrade)
    dial.upgrade(upgrade)  # once only
    go.set()
    sock = dial.take(url)
    assert sock is not None and dial.upgraded(url) == upgrade
    sock.close()
    assert _received(accepted, 2 * len(upgrade.request)) == upgrade.request
    accepted.close()


def test_a_socket_upgraded_for_another_url_is_not_handed_on(listener: socket.socket) -> None:
    """The server answers the upgrade it got: a request for another endpoint connects anew."""
    ws = _url(listener).replace("http:", "ws:")
    upgrade = upgrade_request(ws + "/waves/v1/tts/live?timeout=3600", {})
    assert upgrade is not None
    dial = Dial(_url(listener), timeout=5)
    accepted, _ = listener.accept()
    dial.upgrade(upgrade)
    assert dial.take(ws + "/waves/v1/tts/live") is None
    assert dial.upgraded(ws + "/waves/v1/tts/live") is None
    assert _received(accepted, 2 * len(upgrade.request)) == upgrade.request  # then closed
    accepted.close()


def test_an_upgrade_for_another_host_is_not_written(listener: socket.socket) -> None:
    """The key goes only to the host the dial connected to."""
    upgrade = upgrade_request("ws://127.0.0.2:1/waves/v1/tts/live", {"Authorization": f"Bearer {TEST_KEY}"})
    assert upgrade is not None
    dial = Dial(_url(listener), timeout=5)
    accepted, _ = listener.accept()
    dial.upgrade(upgrade)
    url = _url(listener).replace("http:", "ws:") + "/waves/v1/tts/live"
    sock = dial.take(url)
    assert sock is not None and dial.upgraded(url) is None
    sock.close()
    assert _received(accepted, 1) == b""
    accepted.close()


class _DropsFirstUpgrade:
    """A TCP relay to `target` that reads the first connection's upgrade and closes it unanswered
    (a server that gave up on the socket); later connections pass through."""

    def __init__(self, target: tuple[str, int]) -> None:
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self.listener.getsockname()[1]}"
        self.dropped = b""
        self._target = target
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        first, _ = self.listener.accept()
        while b"\r\n\r\n" not in self.dropped and (piece := first.recv(4096)):
            self.dropped += piece
        first.close()
        while True:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            upstream = socket.create_connection(self._target)
            for a, b in ((client, upstream), (upstream, client)):
                threading.Thread(target=_pipe, args=(a, b), daemon=True).start()


def _pipe(source: socket.socket, sink: socket.socket) -> None:
    with contextlib.suppress(OSError):
        while data := source.recv(65536):
            sink.sendall(data)
    with contextlib.suppress(OSError):
        sink.shutdown(socket.SHUT_WR)


def test_an_early_upgrade_left_unanswered_is_made_again_on_a_new_connection(server, tmp_path: Path) -> None:
    host, port = server.url.split("://", 1)[1].rsplit(":", 1)
    relay = _DropsFirstUpgrade((host, int(port)))
    try:
        out = tmp_path / "a.wav"
        env = cli_env(server, tmp_path, SMALLEST_BASE_URL=relay.url)
        # No retry: the transport itself connects anew, as for any socket that went stale.
        result = run_cli(["stream-ws", "Answered the second time.", "-o", str(out), "--retries", "0"], env)
        assert result.returncode == 0, result.stderr
        assert relay.dropped.startswith(b"GET /waves/v1/tts/live HTTP/1.1\r\n")
        assert out.stat().st_size > 44
    finally:
        relay.listener.close()


class _ConnectProxy:
    """An HTTP proxy that serves CONNECT only, noting each request line."""

    def __init__(self) -> None:
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.url = f"http://127.0.0.1:{self.listener.getsockname()[1]}"
        self.requests: list[bytes] = []
        threading.Thread(target=self._serve, daemon=True).start()

    def _serve(self) -> None:
        while True:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            head = b""
            while b"\r\n\r\n" not in head and (piece := client.recv(4096)):
                head += piece
            line = head.split(b"\r\n", 1)[0]
            self.requests.append(line)
            host, port = line.split()[1].decode().rsplit(":", 1)
            upstream = socket.create_connection((host, int(port)))
            client.sendall(b"HTTP/1.1 200 Connection established\r\n\r\n")
            for a, b in ((client, upstream), (upstream, client)):
                threading.Thread(target=_pipe, args=(a, b), daemon=True).start()


def test_a_websocket_run_goes_through_the_proxy_the_environment_names(server, tmp_path: Path) -> None:
    """With a proxy configured there is no early connection, and websockets' own connect tunnels
    every connection through it."""
    proxy = _ConnectProxy()
    try:
        out = tmp_path / "a.wav"
        env = cli_env(server, tmp_path, ws_proxy=proxy.url)
        for name in ("no_proxy", "NO_PROXY"):
            env.pop(name, None)
        text = "Through the proxy, sentence after sentence. " * 12  # several requests, each tunnelled
        result = run_cli(["stream-ws", text, "-o", str(out), "--json"], env)
        assert result.returncode == 0, result.stderr
        target = server.url.split("://", 1)[1].encode()
        # One per request at least (the next one's connection may be opened ahead, unused).
        assert len(proxy.requests) >= json.loads(result.stdout)["segments"] >= 2
        assert set(proxy.requests) == {b"CONNECT " + target + b" HTTP/1.1"}
        assert out.stat().st_size > 44
    finally:
        proxy.listener.close()


def test_nothing_is_written_on_a_socket_taken_already(listener: socket.socket) -> None:
    url = _url(listener).replace("http:", "ws:") + "/x"
    upgrade = upgrade_request(url, {})
    assert upgrade is not None
    dial = Dial(_url(listener), timeout=5)
    accepted, _ = listener.accept()
    sock = dial.take(url)
    assert sock is not None
    dial.upgrade(upgrade)
    assert dial.upgraded(url) is None
    sock.close()
    assert _received(accepted, 1) == b""
    accepted.close()


@pytest.mark.skipif(not socket.has_ipv6, reason="no IPv6")
def test_an_ipv6_literal_is_dialled_and_taken() -> None:
    try:
        server = socket.create_server(("::1", 0), family=socket.AF_INET6)
    except OSError:
        pytest.skip("no IPv6 loopback")
    with server:
        url = f"http://[::1]:{server.getsockname()[1]}"
        dial = Dial(url, timeout=5)
        accepted, _ = server.accept()
        sock = dial.take(url)
        assert sock is not None
        assert dial.take("http://::1:80") is None  # not a URL a host can be read from: no traceback
        sock.close()
        accepted.close()


@pytest.mark.parametrize("command", ["speak", "stream-sse", "stream-ws"])
def test_the_connection_opens_before_the_input_arrives_and_carries_nothing_for_bad_input(
    listener: socket.socket, tmp_path: Path, command: str
) -> None:
    """The TCP connection opens while the CLI still waits for stdin; empty input is refused
    (exit 2) with not one byte sent, so the key never left the machine."""
    env = cli_env(None, tmp_path, SMALLEST_BASE_URL=_url(listener), SMALLEST_API_KEY=TEST_KEY)
    proc = subprocess.Popen(
        [sys.executable, "-m", "smallest_cli", command, "-o", str(tmp_path / "out.wav")],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env, cwd=ROOT,
    )
    try:
        listener.settimeout(20)
        accepted, _ = listener.accept()  # while stdin is still open and empty
        assert proc.poll() is None
        _, err = proc.communicate(b"", timeout=20)  # no text at all
        assert proc.returncode == 2, err
        assert b"smallest: error:" in err
        ready, _, _ = select.select([accepted], [], [], 5)
        assert ready and accepted.recv(65536) == b""  # closed, with nothing sent
        accepted.close()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


@pytest.mark.parametrize("command", ["speak", "stream-sse", "stream-ws"])
def test_the_first_request_goes_over_the_early_connection(server, tmp_path: Path, command: str) -> None:
    """Two segments, one connection: the dialled socket carries the first request, and the
    session (or the WebSocket's next connection) the second, with no error."""
    env = cli_env(server, tmp_path)
    out = tmp_path / "a.wav"
    text = "Early connection. " * 20  # more than one request
    result = run_cli([command, text, "-o", str(out), "--json"], env)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["segments"] >= 2
    assert out.stat().st_size > 44


@pytest.mark.parametrize("command", ["speak", "stream-sse"])
def test_an_ipv6_base_url_works_over_the_early_connection(command: str, tmp_path: Path) -> None:
    """urllib3 names an IPv6 host without brackets: the early socket is still found for it."""
    try:
        socket.create_server(("::1", 0), family=socket.AF_INET6).close()
    except OSError:
        pytest.skip("no IPv6 loopback")
    from tests.helpers import running_server

    with running_server("--host", "::1") as v6:
        out = tmp_path / "a.wav"
        result = run_cli([command, "Over six.", "-o", str(out)], cli_env(v6, tmp_path))
        assert result.returncode == 0, result.stderr
        assert out.stat().st_size > 44


# -- the dial started from the parsed arguments (run/early.py) -----------------------------------------


def _early(listener: socket.socket, flags: dict[str, object], environ: dict[str, str]) -> object:
    from smallest_cli.run.early import early_dial

    dial = early_dial({"concurrency": 1, **flags}, environ)
    if dial is not None:
        dial.close()
    return dial


@pytest.mark.parametrize(
    ("flags", "environ"),
    [
        ({"cache": True}, {}),  # a cache hit makes no connection
        ({}, {"SMALLEST_API_KEY": ""}),  # no key: the run stops before any request
        ({"concurrency": 3}, {}),  # each request connects on its own
        ({}, {"HTTPS_PROXY": "http://proxy:3128"}),
        ({"timeout": 0.0}, {}),
        ({"timeout": float("nan")}, {}),
        ({"base_url": "http://127.0.0.1:99999"}, {}),  # no such port: the run reports it
        ({"base_url": "http://[::1"}, {}),
    ],
)
def test_no_early_dial_where_the_run_would_not_use_it(
    listener: socket.socket, tmp_path: Path, flags: dict[str, object], environ: dict[str, str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path))
    env = {"SMALLEST_API_KEY": TEST_KEY, "SMALLEST_BASE_URL": _url(listener), **environ}
    assert _early(listener, flags, env) is None


def test_an_unreadable_config_file_leaves_the_dial_to_the_run(
    listener: socket.socket, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "smallest").mkdir()
    (tmp_path / "smallest" / "config.toml").write_text("speed = [", encoding="utf-8")
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path))
    env = {"SMALLEST_API_KEY": TEST_KEY, "SMALLEST_BASE_URL": _url(listener)}
    assert _early(listener, {}, env) is None


@pytest.mark.parametrize("source", ["flag", "environment", "config file"])
def test_the_early_dial_goes_where_the_settings_say(
    listener: socket.socket, tmp_path: Path, source: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """flag > environment > config file, as the run resolves it: the other layers name a port
    nothing listens on."""
    from smallest_cli.run.early import early_dial

    nowhere = "http://127.0.0.1:9"
    (tmp_path / "smallest").mkdir()
    in_file = _url(listener) if source == "config file" else nowhere
    (tmp_path / "smallest" / "config.toml").write_text(
        f'base_url = "{in_file}"\napi_key = "{TEST_KEY}"\n', encoding="utf-8"
    )
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path))
    environ = {"flag": {"SMALLEST_BASE_URL": nowhere}, "environment": {"SMALLEST_BASE_URL": _url(listener)},
               "config file": {}}[source]
    flags: dict[str, object] = {"concurrency": 1}
    if source == "flag":
        flags["base_url"] = _url(listener) + "/"
    dial = early_dial(flags, environ)
    assert dial is not None
    listener.settimeout(10)
    accepted, _ = listener.accept()
    assert dial.take(_url(listener)) is not None
    accepted.close()
    dial.close()


def _dial_probe(loaded: list[str]) -> str:
    """The CLI, noting which of `loaded` are imported when the dial starts."""
    return cli_probe(f"""
from smallest_cli.transports import dial

LOADED = {loaded!r}
seen = []
opened = dial.Dial.__init__


def noting(self, *args, **kwargs):
    seen.append(sorted(m for m in LOADED if m in sys.modules))
    opened(self, *args, **kwargs)


dial.Dial.__init__ = noting
""", "','.join(seen[0]) if seen else 'no-dial', '-'")


@pytest.mark.parametrize("command", ["speak", "stream-sse", "stream-ws"])
def test_the_connection_starts_before_the_command_body_imports(server, tmp_path: Path, command: str) -> None:
    """The handshakes overlap the imports of the run, its settings and the network library."""
    later = ["smallest_cli.run.synth", "smallest_cli.options.settings", "smallest_cli.events",
             "dataclasses", "websockets", "requests"]
    probe = _dial_probe(later)
    out = subprocess.run(
        [sys.executable, "-c", probe, command, "Early.", "-o", str(tmp_path / "a.wav")],
        capture_output=True, text=True, env=cli_env(server, tmp_path), stdin=subprocess.DEVNULL, timeout=60,
    )
    assert out.stdout.rsplit("RESULT:", 1)[1].split() == ["0", "-"], out.stdout + out.stderr


UPGRADE_PROBE = cli_probe("""
import socket

seen = []
sendall = socket.socket.sendall


def noting(self, data, *args):
    if bytes(data[:4]) == b"GET " and not seen:
        seen.append(sys._getframe(1).f_code.co_name)
    return sendall(self, data, *args)


socket.socket.sendall = noting
""", "seen")


@pytest.mark.parametrize("how", ["argument", "file"])
def test_the_websocket_upgrade_leaves_from_the_early_connection(server, tmp_path: Path, how: str) -> None:
    """Text that needs no waiting is checked first, and the dial writes the upgrade as soon as its
    connection is up, while the WebSocket library imports; websockets then takes the answer."""
    (tmp_path / "in.txt").write_text("Early upgrade.\n", encoding="utf-8")
    text = ["Early upgrade."] if how == "argument" else ["--file", str(tmp_path / "in.txt")]
    out = tmp_path / "a.wav"
    result = subprocess.run(
        [sys.executable, "-c", UPGRADE_PROBE, "stream-ws", *text, "-o", str(out)],
        capture_output=True, text=True, env=cli_env(server, tmp_path), stdin=subprocess.DEVNULL, timeout=60,
    )
    written_by = result.stdout.rsplit("RESULT:", 1)[1].split()
    assert written_by == ["0", "['_written']"], result.stdout + result.stderr
    assert out.stat().st_size > 44


@pytest.mark.parametrize("command", ["speak", "stream-sse", "stream-ws"])
def test_text_in_an_argument_that_is_no_good_sends_nothing(
    listener: socket.socket, tmp_path: Path, command: str
) -> None:
    """Read before the network library imports, the text is still checked before anything is sent."""
    env = cli_env(None, tmp_path, SMALLEST_BASE_URL=_url(listener), SMALLEST_API_KEY=TEST_KEY)
    result = run_cli([command, " \n ", "-o", str(tmp_path / "out.wav")], env)
    assert result.returncode == 2 and b"smallest: error:" in result.stderr, result.stderr
    listener.settimeout(10)
    accepted, _ = listener.accept()  # the early connection was made
    assert _received(accepted, 1) == b""
    accepted.close()


def test_a_fault_in_the_dial_thread_is_raised_where_the_socket_is_taken(
    listener: socket.socket, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An unexpected error in the background thread reaches the main thread (and its guard), not
    a half-printed report from a thread the process may not wait for."""
    from smallest_cli.transports import dial as dial_module

    def broken() -> None:
        raise RuntimeError("a fault in set-up")

    monkeypatch.setattr(dial_module, "_client_context", broken)
    url = _url(listener).replace("http:", "https:")
    with pytest.raises(RuntimeError, match="a fault in set-up"):
        Dial(url, timeout=5).take(url)
