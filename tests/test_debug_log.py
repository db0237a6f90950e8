"""`--debug` logs each request and response on stderr, never the key nor the base64 audio."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from smallest_cli.transports.debuglog import describe_frame
from tests.helpers import Server, cli_env, run_cli, running_server

KEY = "sk_debuglog_DISTINCTIVE_4f2a9c"
REDACTED = "Authorization: Bearer sk_…9c (redacted)"
PREFIX = "smallest: debug: "


@pytest.fixture(scope="module")
def key_server() -> Iterator[Server]:
    with running_server(api_key=KEY) as srv:
        yield srv


def _debug_lines(env: dict[str, str], args: list[str]) -> list[str]:
    result = run_cli(args, env)
    output = (result.stdout + result.stderr).decode()
    assert result.returncode == 0, output
    assert KEY not in output and "DISTINCTIVE" not in output
    return [line[len(PREFIX) :] for line in result.stderr.decode().splitlines() if line.startswith(PREFIX)]


def _body(lines: list[str], marker: str) -> dict[str, object]:
    return json.loads(next(line for line in lines if line.startswith(marker))[len(marker) :])


@pytest.mark.parametrize(
    ("command", "path"), [("speak", "/waves/v1/tts"), ("stream-sse", "/waves/v1/tts/live")]
)
def test_http_commands_log_request_body_and_response(
    key_server: Server, tmp_path: Path, command: str, path: str
) -> None:
    args = [command, "Hello debug.", "-o", str(tmp_path / "a.wav"), "--debug", "--request-id", "mine.1"]
    lines = _debug_lines(cli_env(key_server, tmp_path), args)
    assert lines[:2] == [f"POST {key_server.url}{path}", REDACTED]
    assert _body(lines, "body: ")["text"] == "Hello debug."
    response = next(line for line in lines if line.startswith("response 200, X-Request-Id: "))
    # The service's ids, and the client's own id as the service echoed it.
    assert ", X-Session-Id: " in response and response.endswith(", X-External-Request-Id: mine.1")
    if command == "stream-sse":
        audio = [line for line in lines if line.startswith("recv audio: ")]
        assert audio and all(line.endswith(" bytes of audio") for line in audio)
        assert lines[-1] == 'recv message: {"status": "200", "done": true}'


def test_websocket_logs_messages_and_frames(key_server: Server, tmp_path: Path) -> None:
    args = [
        "stream-ws",
        "Hello debug.",
        "-v",
        "avery",
        "--word-timestamps",
        "-o",
        str(tmp_path / "w.wav"),
        "--debug",
    ]
    lines = _debug_lines(cli_env(key_server, tmp_path), args)
    assert lines[:2] == [f"GET {key_server.ws_url}/waves/v1/tts/live", REDACTED]
    assert lines[2].startswith("response 101, X-Request-Id: ")
    assert _body(lines, "send: ")["text"] == "Hello debug."
    chunks = [line for line in lines if line.startswith("recv chunk: ")]
    assert chunks and all(
        line.removeprefix("recv chunk: ").split(" ", 1)[1] == "bytes of audio" for line in chunks
    )
    words = [
        json.loads(line.removeprefix("recv word_timestamp: "))
        for line in lines
        if line.startswith("recv word_timestamp: ")
    ]
    assert [w["data"]["word"] for w in words] == ["Hello", "debug."]
    assert json.loads(lines[-1].removeprefix("recv complete: "))["status"] == "complete"


def test_live_session_logs_each_message(key_server: Server, tmp_path: Path) -> None:
    env = cli_env(key_server, tmp_path)
    result = run_cli(
        ["stream-ws", "--live", "-o", str(tmp_path / "l.wav"), "--debug"], env, input=b"One. Two."
    )
    err = result.stderr.decode()
    assert result.returncode == 0 and KEY not in err
    sent = [json.loads(line.split("send: ", 1)[1]) for line in err.splitlines() if "debug: send: " in line]
    assert sent[-1].get("flush") is True and any(m.get("continue") for m in sent)
    assert "debug: recv complete: " in err


def test_voices_logs_request_and_response(key_server: Server, tmp_path: Path) -> None:
    lines = _debug_lines(cli_env(key_server, tmp_path), ["voices", "--ids", "--debug"])
    assert lines[0].startswith(f"GET {key_server.url}/waves/v1/") and lines[1] == REDACTED
    assert lines[2].startswith("response 200, X-Request-Id: ")


def test_rejected_request_logs_its_status(key_server: Server, tmp_path: Path) -> None:
    env = cli_env(key_server, tmp_path, SMALLEST_API_KEY="sk_wrong_key_0000")
    result = run_cli(["stream-ws", "Hi", "-o", str(tmp_path / "r.wav"), "--debug", "--retries", "0"], env)
    assert result.returncode == 3
    assert f"{PREFIX}response 401, X-Request-Id: " in result.stderr.decode()


@pytest.mark.parametrize("command", ["speak", "stream-sse", "stream-ws"])
def test_no_debug_lines_without_the_flag(key_server: Server, tmp_path: Path, command: str) -> None:
    result = run_cli([command, "Hello.", "-o", str(tmp_path / "n.wav")], cli_env(key_server, tmp_path))
    assert result.returncode == 0
    assert PREFIX.encode() not in result.stderr + result.stdout
    assert result.stderr.decode().count("\n") == 1  # the summary alone


def test_frames_show_audio_as_its_length() -> None:
    audio = base64.b64encode(bytes(1001)).decode()
    chunk = json.dumps({"status": "chunk", "data": {"audio": audio}, "request_id": "r1"})
    assert describe_frame(chunk) == "chunk: 1001 bytes of audio"
    assert (
        describe_frame(json.dumps({"audio": audio, "status": "206"}), "audio") == "audio: 1001 bytes of audio"
    )
    word = '{"status": "word_timestamp", "data": {"id": 0, "word": "Hi", "start": 0.0, "end": 0.2}}'
    assert describe_frame(word) == f"word_timestamp: {word}"
    assert describe_frame(b"\x00\x01") == "binary frame (2 bytes)"
