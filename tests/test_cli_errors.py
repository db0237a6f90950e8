"""End to end: failures become one line on stderr and the documented exit code; retries resume
without gaps. Faults are injected into the real server over its control endpoint."""

from __future__ import annotations

import base64
import contextlib
import http.server
import os
import re
import socket
import socketserver
import subprocess
import sys
import threading
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from tests.helpers import ROOT, TEST_KEY, Server, cli_env, http_server, run_cli, ws_server
from tests.test_cli_support import add_fault, reference


def one_line(stderr: bytes) -> str:
    lines = stderr.decode().strip().splitlines()
    assert len(lines) == 1, lines
    assert "Traceback" not in lines[0]
    return lines[0]


def unique_text() -> str:
    """A text only this test sends, so a fault matching it cannot hit another test's request."""
    return f"Fault test {uuid.uuid4().hex[:8]}, with a few more words to make several chunks."


def _counters(server: Server) -> dict[str, int]:
    return requests.get(server.url + "/_smallest/requests", timeout=10).json()["counters"]


def ws_connection_count(server: Server) -> int:
    return _counters(server)["ws_connections"]


@pytest.mark.parametrize(
    "args", [["-f", "/nonexistent/a.txt"], ["hello", "-f", "/nonexistent/a.txt"]], ids=["no-file", "both"]
)
def test_bad_input_makes_no_connection(args: list[str], server: Server, tmp_path: Path) -> None:
    """The input is checked before the background connect starts: exit 2, no handshake, and the
    debug log says nothing after the error."""
    before = ws_connection_count(server)
    env = cli_env(server, tmp_path)
    result = run_cli(["stream-ws", "--debug", *args, "-o", str(tmp_path / "x.wav")], env)
    assert result.returncode == 2
    assert result.stderr.decode().strip().splitlines()[-1].startswith("smallest: error: ")
    assert b"response 101" not in result.stderr
    assert ws_connection_count(server) == before


@pytest.mark.parametrize("command", ["speak", "stream-sse", "stream-ws"])
def test_wrong_key_exits_3(command: str, server: Server, tmp_path: Path) -> None:
    env = cli_env(server, tmp_path, SMALLEST_API_KEY="sk_wrong_key_123456")
    result = run_cli([command, "hello", "-o", str(tmp_path / "x.wav")], env)
    assert result.returncode == 3
    line = one_line(result.stderr)
    # Every transport asks over HTTP (the WebSocket its upgrade), so every one names the request id.
    assert re.fullmatch(
        r"smallest: error: authentication failed \(401\): Unauthorized: invalid or missing API key "
        r"\(request id [0-9a-f]{32}\)",
        line,
    ), line
    assert not (tmp_path / "x.wav").exists() and not (tmp_path / "x.wav.part").exists()


@pytest.mark.parametrize("command", ["speak", "stream-sse", "stream-ws", "voices"])
@pytest.mark.parametrize(
    "bad", ["\n", "\x01", "ключ", " "], ids=["line-break", "control", "non-ascii", "space"]
)
def test_a_key_no_header_can_carry_is_refused_unshown_before_any_request(
    command: str, bad: str, server: Server, tmp_path: Path
) -> None:
    env = cli_env(server, tmp_path, SMALLEST_API_KEY=f"sk_Zq7xW{bad}Kp3vN")
    before = _counters(server)
    out = [] if command == "voices" else ["hello", "-o", str(tmp_path / "x.wav")]
    result = run_cli([command, *out], env)
    assert result.returncode == 2
    assert one_line(result.stderr) == (
        "smallest: error: SMALLEST_API_KEY must be one word of printable ASCII characters, as keys are "
        "(the key is not shown)"
    )
    assert b"Zq7xW" not in result.stderr + result.stdout and b"Kp3vN" not in result.stderr + result.stdout
    after = _counters(server)
    assert (after["http_connections"], after["ws_connections"]) == (
        before["http_connections"], before["ws_connections"]
    )
    assert not list(tmp_path.glob("x.wav*"))


@pytest.mark.parametrize("command", ["speak", "stream-sse", "stream-ws"])
def test_unknown_voice_exits_2(command: str, env: dict[str, str], tmp_path: Path) -> None:
    result = run_cli([command, "hello", "-v", "nobody", "-o", str(tmp_path / "x.wav")], env)
    assert result.returncode == 2
    assert "voice" in one_line(result.stderr).lower()


@pytest.mark.parametrize("command", ["speak", "stream-sse", "stream-ws"])
def test_unreachable_server_exits_6_naming_the_url(command: str, tmp_path: Path) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = cli_env(None, tmp_path, SMALLEST_API_KEY=TEST_KEY, SMALLEST_BASE_URL=f"http://127.0.0.1:{port}")
    result = run_cli([command, "hello", "-o", str(tmp_path / "x.wav"), "--retries", "0"], env)
    assert result.returncode == 6
    line = one_line(result.stderr)
    assert f"127.0.0.1:{port}" in line and "refused" in line


@pytest.mark.parametrize("command", ["speak", "stream-sse", "stream-ws", "voices"])
def test_a_base_url_with_the_api_path_is_named_on_404(command: str, server: Server, tmp_path: Path) -> None:
    """`…/waves/v1` as the base URL doubles the path: the 404 says which URL was asked for."""
    env = cli_env(server, tmp_path, SMALLEST_BASE_URL=server.url + "/waves/v1")
    out = [] if command == "voices" else ["hello", "-o", str(tmp_path / "x.wav")]
    result = run_cli([command, *out], env)
    assert result.returncode == 2
    base = server.ws_url if command == "stream-ws" else server.url
    path = {"speak": "tts", "voices": "lightning-v3.1/get_voices"}.get(command, "tts/live")
    expected = f"no endpoint at {base}/waves/v1/waves/v1/{path}; check the base URL"
    assert expected in one_line(result.stderr)


@contextlib.contextmanager
def redirecting_to(target: str, status: int) -> Iterator[str]:
    """A real HTTP server on a free port that answers every request with a redirect to `target`
    (the same path): its base URL."""

    class Redirect(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"  # a WebSocket client reads no other

        def _answer(self) -> None:
            self.send_response(status)
            self.send_header("Location", target + self.path)
            self.send_header("Content-Length", "0")
            self.send_header("Connection", "close")
            self.end_headers()
            self.close_connection = True

        do_GET = do_POST = _answer

    with http_server(Redirect) as base:
        yield base


@contextlib.contextmanager
def answering_json_200() -> Iterator[str]:
    """A real HTTP server that answers every POST with a 200 JSON error, as a misconfigured
    gateway may: its base URL."""

    class Json200(http.server.BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            self.rfile.read(int(self.headers.get("Content-Length", "0")))
            body = b'{"error": "something went wrong"}'
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    with http_server(Json200) as base:
        yield base


def test_an_event_stream_relabelled_by_a_proxy_is_still_read(server: Server, tmp_path: Path) -> None:
    """A proxy may call the stream text/plain: only types that are surely not events are refused."""
    pcm = bytes(range(256)) * 4

    class Relabelled(http.server.BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            self.rfile.read(int(self.headers.get("Content-Length", "0")))
            audio = base64.b64encode(pcm).decode()
            body = f'event: audio\ndata: {{"audio": "{audio}"}}\n\ndata: {{"done": true}}\n\n'.encode()
            self.send_response(200)
            self.send_header("Content-Type", "text/plain; charset=utf-8")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    with http_server(Relabelled) as base:
        env = cli_env(server, tmp_path, SMALLEST_BASE_URL=base)
        result = run_cli(["stream-sse", "hello", "-o", str(tmp_path / "x.pcm")], env)
    assert result.returncode == 0, result.stderr.decode()
    assert (tmp_path / "x.pcm").read_bytes() == pcm


@pytest.mark.parametrize(("command", "wanted"), [("speak", "audio"), ("stream-sse", "an event stream")])
def test_a_200_that_is_not_audio_says_what_it_is(
    command: str, wanted: str, server: Server, tmp_path: Path
) -> None:
    with answering_json_200() as base:
        env = cli_env(server, tmp_path, SMALLEST_BASE_URL=base)
        result = run_cli([command, "hello", "-o", str(tmp_path / "x.wav"), "--retries", "0"], env)
    assert result.returncode == 5
    assert one_line(result.stderr) == (
        f"smallest: error: malformed response: application/json instead of {wanted}: something went wrong"
    )


@pytest.mark.parametrize(
    ("code", "reason", "exit_code", "said"),
    [
        (1008, "Unauthorized: invalid API key", 3, "authentication failed: Unauthorized: invalid API key"),
        (4403, "usage limit reached", 3, "access denied (403): usage limit reached"),
        (1008, "policy", 5, "stream ended before complete (truncated): the server closed the connection "
                            "(code 1008: policy)"),
    ],
)
def test_a_websocket_closed_with_a_reason_before_any_frame(
    code: int, reason: str, exit_code: int, said: str, server: Server, tmp_path: Path
) -> None:
    """The close answers the request: an auth refusal is exit 3 and not retried, and no close is
    taken for an idle socket's and the request silently sent again."""
    requests_seen: list[str] = []

    def refuse(ws: Any) -> None:
        requests_seen.append(ws.recv())
        ws.close(code, reason)

    with ws_server(refuse) as base:
        env = cli_env(server, tmp_path, SMALLEST_BASE_URL=base)
        result = run_cli(["stream-ws", "hello", "-o", str(tmp_path / "x.wav"), "--retries", "1"], env)
    assert result.returncode == exit_code
    lines = result.stderr.decode().strip().splitlines()
    assert lines[-1] == f"smallest: error: {said}"
    assert len(requests_seen) == (1 if exit_code == 3 else 2)  # a truncation is retried once


@pytest.mark.parametrize("command", ["speak", "stream-sse"])
def test_a_port_that_does_not_speak_http_is_named_not_unreachable(
    command: str, server: Server, tmp_path: Path
) -> None:
    """An SSH server, say, on the port named: it answered, so it is no network fault (exit 6),
    and a retry would get the same answer."""

    class Ssh(socketserver.BaseRequestHandler):
        def handle(self) -> None:
            self.request.sendall(b"SSH-2.0-OpenSSH_9.2\r\n")
            self.request.recv(65536)

    with socketserver.ThreadingTCPServer(("127.0.0.1", 0), Ssh) as ssh:
        threading.Thread(target=ssh.serve_forever, daemon=True).start()
        base = f"http://127.0.0.1:{ssh.server_address[1]}"
        env = cli_env(server, tmp_path, SMALLEST_BASE_URL=base)
        result = run_cli([command, "hello", "-o", str(tmp_path / "x.wav"), "--retries", "2"], env)
        ssh.shutdown()
    assert result.returncode == 5
    line = one_line(result.stderr)
    assert line.startswith(f"smallest: error: {base}/waves/v1/") and line.endswith(
        "did not answer in HTTP (its first line: 'SSH-2.0-OpenSSH_9.2')"
    ), line


@pytest.mark.parametrize("command", ["speak", "stream-sse", "stream-ws", "voices"])
@pytest.mark.parametrize("status", [301, 307])
def test_a_redirect_is_not_followed(command: str, status: int, server: Server, tmp_path: Path) -> None:
    """Following it would send the text (a 307) somewhere the user did not name, without the key:
    exit 2, where it points, and the server it points to hears nothing."""
    before = _counters(server)
    with redirecting_to(server.url, status) as base:
        env = cli_env(server, tmp_path, SMALLEST_BASE_URL=base)
        out = [] if command == "voices" else ["hello", "-o", str(tmp_path / "x.wav"), "--retries", "2"]
        result = run_cli([command, *out], env)
    assert result.returncode == 2
    line = one_line(result.stderr)
    head = f"smallest: error: the server redirects ({status}) to {server.url}/waves/v1/"
    assert line.startswith(head) and "which is not followed" in line, line
    after = _counters(server)
    assert (after["requests"], after["ws_connections"]) == (before["requests"], before["ws_connections"])


def test_missing_key_exits_2_and_says_how_to_set_it(server: Server, tmp_path: Path) -> None:
    env = cli_env(server, tmp_path)
    del env["SMALLEST_API_KEY"]
    result = run_cli(["speak", "hello", "-o", str(tmp_path / "x.wav")], env)
    assert result.returncode == 2
    assert "SMALLEST_API_KEY" in one_line(result.stderr)


@pytest.mark.parametrize("command", ["speak", "stream-sse", "stream-ws"])
def test_a_text_argument_that_is_not_utf8_exits_2_before_any_request(
    command: str, server: Server, tmp_path: Path
) -> None:
    before = _counters(server)
    text = os.fsdecode(b"caf\xe9 au lait")  # Latin-1 bytes, as a shell in another locale passes them
    result = run_cli([command, text, "-o", str(tmp_path / "x.wav")], cli_env(server, tmp_path))
    assert result.returncode == 2
    assert one_line(result.stderr) == (
        "smallest: error: the text argument is not UTF-8 text: invalid continuation byte at byte 3"
    )
    assert _counters(server)["requests"] == before["requests"]
    assert not list(tmp_path.glob("x.wav*"))


@pytest.mark.parametrize("args", [["speak", "   "], ["stream-ws", "-"], ["stream-sse"]])
def test_empty_text_exits_2(args: list[str], env: dict[str, str], tmp_path: Path) -> None:
    result = run_cli([*args, "-o", str(tmp_path / "x.wav")], env, input=b"  \n")
    assert result.returncode == 2
    assert "empty" in one_line(result.stderr)


def test_bad_options_exit_2(env: dict[str, str], tmp_path: Path) -> None:
    for extra in (["-r", "22050"], ["--speed", "3"], ["--format", "flac"], ["--model", "nope"]):
        result = run_cli(["speak", "hello", "-o", str(tmp_path / "x.wav"), *extra], env)
        assert result.returncode == 2, extra
        one_line(result.stderr)


def test_audio_onto_a_terminal_exits_2(env: dict[str, str]) -> None:
    """`-o -` with stdout on a terminal (a pty here) refuses before any request, writing nothing there."""
    leader, follower = os.openpty()
    try:
        proc = subprocess.run(
            [sys.executable, "-m", "smallest_cli", "speak", "hello", "-o", "-"],
            stdin=subprocess.DEVNULL, stdout=follower, stderr=subprocess.PIPE, env=env, timeout=60, cwd=ROOT,
        )
        os.set_blocking(leader, False)
        try:
            written = os.read(leader, 1024)
        except (BlockingIOError, OSError):
            written = b""
    finally:
        os.close(leader)
        os.close(follower)
    assert proc.returncode == 2
    assert one_line(proc.stderr) == (
        "smallest: error: stdout is a terminal; pipe it (smallest ... -o - | aplay) or use -o FILE"
    )
    assert written == b""


def test_no_play_without_output_exits_2(env: dict[str, str]) -> None:
    result = run_cli(["speak", "hello", "--no-play"], env)
    assert result.returncode == 2
    assert one_line(result.stderr) == "smallest: error: nothing to do: give -o FILE or --play"


def test_unwritable_output_exits_2(env: dict[str, str], tmp_path: Path) -> None:
    result = run_cli(["speak", "hello", "-o", str(tmp_path / "missing" / "x.wav")], env)
    assert result.returncode == 2
    one_line(result.stderr)


ALL = [("speak", "sync"), ("stream-sse", "sse"), ("stream-ws", "ws")]


@pytest.mark.parametrize(("command", "transport"), ALL)
def test_dropped_stream_is_retried_and_resumed(
    command: str, transport: str, server: Server, env: dict[str, str], tmp_path: Path
) -> None:
    text = unique_text()
    add_fault(server, kind="drop", transport=transport, after_chunks=3, text_contains=text)
    out = tmp_path / "out.wav"
    result = run_cli([command, text, "-o", str(out), "--json"], env)
    assert result.returncode == 0, result.stderr.decode()
    assert out.read_bytes() == reference(server, text, "wav")
    assert '"retries": 1' in result.stdout.decode()


@pytest.mark.parametrize(("command", "transport"), [("stream-sse", "sse"), ("stream-ws", "ws")])
def test_truncated_stream_without_retries_exits_5(
    command: str, transport: str, server: Server, env: dict[str, str], tmp_path: Path
) -> None:
    text = unique_text()
    add_fault(server, kind="no_terminator", transport=transport, after_chunks=2, text_contains=text)
    result = run_cli([command, text, "-o", str(tmp_path / "t.wav"), "--retries", "0"], env)
    assert result.returncode == 5
    assert "truncated" in one_line(result.stderr)
    assert not (tmp_path / "t.wav").exists()


def test_forbidden_exits_3(server: Server, env: dict[str, str], tmp_path: Path) -> None:
    text = unique_text()
    add_fault(server, kind="status", status=403, transport="sync", text_contains=text)
    result = run_cli(["speak", text, "-o", str(tmp_path / "f.wav")], env)
    assert result.returncode == 3 and "403" in one_line(result.stderr), result.stderr.decode()


def test_server_error_is_retried(server: Server, env: dict[str, str], tmp_path: Path) -> None:
    text = unique_text()
    add_fault(server, kind="status", status=500, count=1, transport="sse", text_contains=text)
    out = tmp_path / "s.wav"
    result = run_cli(["stream-sse", text, "-o", str(out)], env)
    assert result.returncode == 0, result.stderr.decode()
    assert out.read_bytes() == reference(server, text, "wav")
    assert b"retry 1" in result.stderr


@pytest.mark.parametrize(("command", "transport"), [("stream-sse", "sse"), ("stream-ws", "ws")])
def test_stall_times_out_with_exit_6(
    command: str, transport: str, server: Server, env: dict[str, str], tmp_path: Path
) -> None:
    text = unique_text()
    add_fault(server, kind="stall", transport=transport, after_chunks=1, stall_ms=5000, text_contains=text)
    args = [command, text, "-o", str(tmp_path / "s.wav"), "--timeout", "0.5", "--retries", "0"]
    result = run_cli(args, env)
    assert result.returncode == 6
    assert "no data from the server for 0.5 s" in one_line(result.stderr)


@contextlib.contextmanager
def heartbeats_only() -> Iterator[tuple[str, str]]:
    """A real server whose answers, on SSE and the WebSocket, are a heartbeat every 0.1 s and no
    audio ever (SSE `: keepalive` comments, WebSocket frames of a status no request knows): the
    base URLs of its SSE and its WebSocket side."""
    class KeepAlive(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_POST(self) -> None:
            self.rfile.read(int(self.headers.get("Content-Length", "0")))
            self.send_response(200)
            self.send_header("Content-Type", "text/event-stream")
            self.end_headers()
            with contextlib.suppress(OSError):
                while not stop.wait(0.1):
                    self.wfile.write(b": keepalive\n\n")
                    self.wfile.flush()

    def heartbeat(ws: Any) -> None:
        with contextlib.suppress(Exception):
            ws.recv()
            while not stop.wait(0.1):
                ws.send('{"status": "heartbeat"}')

    stop = threading.Event()
    with http_server(KeepAlive) as sse_base, ws_server(heartbeat) as ws_base:
        try:
            yield sse_base, ws_base
        finally:
            stop.set()


@pytest.mark.parametrize(
    "command",
    [["stream-sse", "hello"], ["stream-ws", "hello"], ["stream-ws", "--live"]],
    ids=["sse", "ws", "live"],
)
def test_heartbeats_without_audio_still_time_out(command: list[str], server: Server, tmp_path: Path) -> None:
    with heartbeats_only() as (sse_url, ws_url):
        base = ws_url if command[0] == "stream-ws" else sse_url
        env = cli_env(server, tmp_path, SMALLEST_BASE_URL=base)
        args = [*command, "-o", str(tmp_path / "s.wav"), "--timeout", "1", "--retries", "0"]
        result = run_cli(args, env, input=b"hello\n", timeout=30)
    assert result.returncode == 6, result.stderr.decode()
    assert "no data from the server for 1 s" in one_line(result.stderr)


@pytest.mark.parametrize("live", [[], ["--live"]], ids=["piped", "live"])
def test_bad_stdin_never_reaches_the_server(live: list[str], server: Server, tmp_path: Path) -> None:
    """Non-UTF-8 input is refused before any connection carries the key: no handshake at all."""
    before = ws_connection_count(server)
    env = cli_env(server, tmp_path)
    bad = b"Hello \xff\xfe there.\n"
    result = run_cli(["stream-ws", *live, "-o", str(tmp_path / "x.wav")], env, input=bad)
    assert result.returncode == 2
    assert one_line(result.stderr) == "smallest: error: stdin is not UTF-8 text: invalid start byte at byte 6"
    assert ws_connection_count(server) == before


def test_a_bad_byte_after_the_first_request_stops_with_what_was_received(
    server: Server, tmp_path: Path
) -> None:
    """stdin is read as it is spoken: a bad byte far into it is found after the first requests
    went out; the run stops with exit 2 and keeps the audio received as FILE.part."""
    good = "".join(f"Line {i} of the input is plain text, read a line at a time.\n" for i in range(100))
    env = cli_env(server, tmp_path)
    out = tmp_path / "x.wav"
    # --no-live: read line by line (the sniffer would read the whole pipe at once).
    piped = good.encode() + b"bad \xff byte\n"
    result = run_cli(["stream-ws", "--no-live", "-o", str(out)], env, input=piped)
    assert result.returncode == 2
    where = len(good.encode()) + 4
    assert f"stdin is not UTF-8 text: invalid start byte at byte {where}" in one_line(result.stderr)
    assert not out.exists()
    part = tmp_path / "x.wav.part"
    assert part.read_bytes()[:4] == b"RIFF" and part.stat().st_size > 44


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["speak", "--speed", "abc", "Hi"], "Invalid value for '--speed'"),
        (["speak", "-r", "abc", "Hi"], "Invalid value for '--sample-rate' / '-r'"),
        (["stream-ws", "--bogus", "Hi"], "No such option: --bogus"),
        (["speak", "Hi", "--live"], "--live is not an option of speak; stream-ws takes it (see: smallest"),
        (["voices", "--cache"], "--cache is not an option of voices; batch, speak, stream-sse and stream-ws"),
        (["voices", "--model"], "Option '--model' requires an argument."),
        (["config", "get"], "Missing argument 'key'."),
        (["bogus"], "No such command 'bogus'."),
    ],
)
def test_a_bad_flag_is_one_error_line_not_a_usage_block(
    args: list[str], message: str, env: dict[str, str]
) -> None:
    result = run_cli(args, env)
    assert result.returncode == 2 and result.stdout == b""
    line = one_line(result.stderr)
    assert line.startswith(f"smallest: error: {message}"), line
