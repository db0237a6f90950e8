"""End to end: every synthesis flag reaches the request body on the wire, for each transport."""

from __future__ import annotations

import json
import uuid
from pathlib import Path
from typing import Any

import pytest
import requests

from tests.helpers import Server, run_cli


def last_body_with(server: Server, text: str) -> dict[str, Any]:
    """The body of the last request the server recorded whose text is `text`."""
    log = requests.get(server.url + "/_smallest/requests", timeout=10).json()["requests"]
    bodies = [r["body"] for r in log if isinstance(r.get("body"), dict) and r["body"].get("text") == text]
    assert bodies, f"no request with text {text!r} was recorded"
    return bodies[-1]


@pytest.mark.parametrize("command", ["speak", "stream-sse", "stream-ws"])
def test_synthesis_flags_reach_the_request_body(
    command: str, server: Server, env: dict[str, str], tmp_path: Path
) -> None:
    text = f"Fields {uuid.uuid4().hex[:8]} reach the wire."
    out = tmp_path / "out.wav"
    args = [command, text, "--speed", "1.5", "-l", "hi", "--model", "lightning_v3.1_pro"]
    result = run_cli([*args, "-r", "16000", "-v", "meher", "-o", str(out)], env)
    assert result.returncode == 0, result.stderr.decode()
    body = last_body_with(server, text)
    sent = {k: body.get(k) for k in ("speed", "language", "model", "sample_rate", "voice_id")}
    assert sent == {
        "speed": 1.5,
        "language": "hi",
        "model": "lightning_v3.1_pro",
        "sample_rate": 16000,
        "voice_id": "meher",
    }


def test_a_whole_text_over_websocket_asks_for_no_wait_before_complete(
    server: Server, env: dict[str, str], tmp_path: Path
) -> None:
    """complete_backoff_ms defaults to 4000 on the service: a whole text must say 0, or every run
    ends 4 s after its audio."""
    text = f"Backoff {uuid.uuid4().hex[:8]} is zero."
    result = run_cli(["stream-ws", text, "-o", str(tmp_path / "out.wav")], env)
    assert result.returncode == 0, result.stderr.decode()
    assert last_body_with(server, text)["complete_backoff_ms"] == 0


@pytest.mark.parametrize("command", ["speak", "stream-sse", "stream-ws"])
def test_documented_request_fields_reach_the_wire(
    command: str, server: Server, env: dict[str, str], tmp_path: Path
) -> None:
    """The reference's optional fields, with literal values (tts-openapi.yaml and tts-ws.yaml:
    pronunciation_dicts (sync and SSE only), math_notation, number_pronunciation_language,
    request_id, session_id); the ids the service echoes are in --json."""
    text = f"Documented {uuid.uuid4().hex[:8]} fields."
    args = [command, text, "-o", str(tmp_path / "out.wav"), "--json", "--math-notation",
            "--number-language", "hi", "--request-id", "req-1.a_B", "--session-id", "sess_2"]
    if command != "stream-ws":
        args += ["--pronunciation-dict", "dict-one", "--pronunciation-dict", "dict-two"]
    result = run_cli(args, env)
    assert result.returncode == 0, result.stderr.decode()
    body = last_body_with(server, text)
    assert body["math_notation"] is True and body["number_pronunciation_language"] == "hi"
    assert (body["request_id"], body["session_id"]) == ("req-1.a_B", "sess_2")
    if command == "stream-ws":
        assert "pronunciation_dicts" not in body and "output_format" not in body
    else:
        assert body["pronunciation_dicts"] == ["dict-one", "dict-two"] and body["output_format"] == "pcm"
    stats = json.loads(result.stdout)
    assert (stats["external_request_id"], stats["external_session_id"]) == ("req-1.a_B", "sess_2")
    assert stats["request_id"] and stats["session_id"]


@pytest.mark.parametrize("bad", ["", "has space", "x" * 129, "semi;colon"])
def test_a_bad_request_id_is_refused_before_any_request(
    bad: str, server: Server, env: dict[str, str], tmp_path: Path
) -> None:
    text = f"Refused {uuid.uuid4().hex[:8]}."
    result = run_cli(["stream-ws", text, "-o", str(tmp_path / "out.wav"), "--request-id", bad], env)
    assert result.returncode == 2
    assert b"--request-id must be 1 to 128 of" in result.stderr
    assert not (tmp_path / "out.wav").exists()
    with pytest.raises(AssertionError, match="no request with text"):
        last_body_with(server, text)


def test_pronunciation_dicts_are_not_a_websocket_option(env: dict[str, str]) -> None:
    """The WebSocket message has no pronunciation_dicts field: stream-ws does not offer it."""
    result = run_cli(["stream-ws", "Hi.", "-o", "-", "--pronunciation-dict", "d"], env)
    assert result.returncode == 2 and b"--pronunciation-dict" in result.stderr


@pytest.mark.parametrize("command", ["speak", "stream-sse", "stream-ws"])
def test_a_catalog_voice_in_any_case_is_sent_as_the_catalog_spells_it(
    command: str, server: Server, env: dict[str, str], tmp_path: Path
) -> None:
    """`-v MEHER` is the catalog's `meher` (the service matches voice ids case-sensitively)."""
    text = f"Voice {uuid.uuid4().hex[:8]} in capitals."
    result = run_cli([command, text, "-v", "MEHER", "-o", str(tmp_path / "out.wav")], env)
    assert result.returncode == 0, result.stderr.decode()
    assert last_body_with(server, text)["voice_id"] == "meher"


def test_the_voice_is_checked_alike_from_environment_and_config_and_a_clone_is_sent_as_given(
    server: Server, env: dict[str, str], tmp_path: Path
) -> None:
    out = str(tmp_path / "out.wav")
    text = f"Voice {uuid.uuid4().hex[:8]} from the environment."
    result = run_cli(["stream-ws", text, "-o", out], {**env, "SMALLEST_VOICE": "Avery"})
    assert result.returncode == 0, result.stderr.decode()
    assert last_body_with(server, text)["voice_id"] == "avery"

    assert run_cli(["config", "set", "voice", "LIAM"], env).returncode == 0
    assert run_cli(["config", "get", "voice"], env).stdout.decode().strip() == "liam"
    text = f"Voice {uuid.uuid4().hex[:8]} from the config file."
    result = run_cli(["speak", text, "-o", out], env)
    assert result.returncode == 0, result.stderr.decode()
    assert last_body_with(server, text)["voice_id"] == "liam"

    text = f"Voice {uuid.uuid4().hex[:8]} cloned."
    result = run_cli(["stream-sse", text, "-v", "voice_AbC123", "-o", out], env)
    assert result.returncode == 0, result.stderr.decode()
    assert last_body_with(server, text)["voice_id"] == "voice_AbC123"


@pytest.mark.parametrize("command", ["speak", "stream-ws"])
def test_a_language_given_by_name_is_sent_as_its_code(
    command: str, server: Server, env: dict[str, str], tmp_path: Path
) -> None:
    """`voices --language hindi` finds the Hindi voices; `-l Hindi` on a run asks for them too."""
    text = f"Language by name for {command}."
    args = [command, text, "-l", "Hindi", "--number-language", "english", "-o", str(tmp_path / "x.wav")]
    result = run_cli(args, env)
    assert result.returncode == 0, result.stderr.decode()
    body = last_body_with(server, text)
    assert (body["language"], body["number_pronunciation_language"]) == ("hi", "en")
