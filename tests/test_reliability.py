"""Reliability end to end: faults injected into the real `smallest serve`, bad input, and the key's
safety, each through the real CLI. docs/reliability.md lists every case with the test backing it.
(Cases already covered in test_cli_errors.py are not repeated here.)"""

from __future__ import annotations

import contextlib
import json
import os
import re
import signal
import subprocess
import sys
import time
import uuid
import wave
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from smallest_cli.options.security import CMDLINE_KEY_WARNING
from smallest_cli.server.http_common import STATUS_MESSAGES
from tests.helpers import ROOT, TEST_KEY, Server, cli_env, run_cli, running_server, wait_until
from tests.test_cli_support import add_fault, clear_faults, reference
from tests.test_live_text import cli, ws_messages_since

REQUEST_ID = re.compile(r"\(request id [0-9a-f]{32}\)")


def one_line(stderr: bytes) -> str:
    lines = stderr.decode().strip().splitlines()
    assert len(lines) == 1, lines
    assert "Traceback" not in lines[0] and "Exception ignored" not in lines[0]
    return lines[0]


def last_line(stderr: bytes) -> str:
    text = stderr.decode()
    assert "Traceback" not in text and "Exception ignored" not in text
    return text.strip().splitlines()[-1]


def marker() -> str:
    return f"zq{uuid.uuid4().hex[:8]}"


def unique_text() -> str:
    return f"Reliability {marker()}, with a few more words to make several chunks of audio."


def wav_frames(path: Path) -> int:
    with wave.open(str(path), "rb") as w:
        assert (w.getnchannels(), w.getsampwidth(), w.getframerate()) == (1, 2, 24000)
        return w.getnframes()


# -- rate limits and server errors: retried, then the documented exit code --------------------------


@pytest.mark.parametrize(("command", "transport"), [("speak", "sync"), ("stream-ws", "ws")])
def test_429_honours_retry_after_then_succeeds(
    command: str, transport: str, server: Server, env: dict[str, str], tmp_path: Path
) -> None:
    """HTTP: the Retry-After header; WebSocket: error.retry_after inside the 429 error frame."""
    text = unique_text()
    add_fault(
        server, kind="status", status=429, retry_after=0.3, count=2, transport=transport, text_contains=text
    )
    out = tmp_path / "r.wav"
    started = time.monotonic()
    result = run_cli([command, text, "-o", str(out), "--json"], env)
    elapsed = time.monotonic() - started
    assert result.returncode == 0, result.stderr.decode()
    assert out.read_bytes() == reference(server, text, "wav")
    err = result.stderr.decode()
    assert "retry 1 in 0.3 s" in err and "retry 2 in 0.3 s" in err
    assert '"retries": 2' in result.stdout.decode()
    # The waits are real, not only announced: two of 0.3 s take at least 0.6 s (a lower bound,
    # however slow the machine).
    assert elapsed >= 0.6


def test_429_with_default_retries_retries_three_times_then_exits_4(
    server: Server, env: dict[str, str], tmp_path: Path
) -> None:
    """No --retries flag: the default is 3 retries, so 4 rate-limited answers exhaust it."""
    text = unique_text()
    add_fault(server, kind="status", status=429, retry_after=0, count=4, transport="sync", text_contains=text)
    result = run_cli(["speak", text, "-o", str(tmp_path / "r.wav")], env)
    assert result.returncode == 4, result.stderr.decode()
    assert result.stderr.decode().count("; retry ") == 3
    assert last_line(result.stderr).startswith("smallest: error: rate limited")


def test_a_long_retry_after_is_capped_by_the_timeout(
    server: Server, env: dict[str, str], tmp_path: Path
) -> None:
    """A Retry-After of 600 s: the CLI waits at most --timeout and says what it is waiting for."""
    text = unique_text()
    fault = {"kind": "status", "status": 429, "retry_after": 600, "count": 1, "transport": "sync"}
    add_fault(server, **fault, text_contains=text)
    out = tmp_path / "r.wav"
    started = time.monotonic()
    result = run_cli(["speak", text, "-o", str(out), "--timeout", "1"], env, timeout=120)
    assert result.returncode == 0, result.stderr.decode()
    assert time.monotonic() - started < 60  # far below the 600 s asked for
    err = result.stderr.decode()
    assert "retry 1 in 1.0 s (the server asked for 600 s; --timeout caps the wait)" in err
    assert out.read_bytes() == reference(server, text, "wav")


@pytest.fixture(scope="module")
def limited_server() -> Iterator[Server]:
    """An account that allows one request at once; each request holds it for 250 ms or more, so
    that requests sent together overlap whatever the machine's speed."""
    with running_server("--max-concurrency", "1", "--first-chunk-ms", "250") as srv:
        yield srv


def counter(server: Server, name: str) -> int:
    return requests.get(server.url + "/_smallest/requests", timeout=10).json()["counters"].get(name, 0)


SETTLED = "smallest: the account allows fewer requests at once; going on with 1"


@pytest.mark.parametrize("command", ["speak", "stream-ws"])
def test_an_account_limit_below_concurrency_settles_and_finishes(
    command: str, limited_server: Server, tmp_path: Path
) -> None:
    """--concurrency 4 against an account allowing 1: the extra requests are refused (429), the run
    says once that it goes on with 1, and the file is the serial run's, segment for segment."""
    env = cli_env(limited_server, tmp_path)
    text = " ".join(f"Sentence {i} of a text long enough for several segments." for i in range(20))
    serial, concurrent = tmp_path / "serial.wav", tmp_path / "concurrent.wav"
    ok = run_cli([command, text, "-o", str(serial)], env)
    assert ok.returncode == 0, ok.stderr.decode()
    refused = counter(limited_server, "rejected_429")
    result = run_cli([command, text, "-o", str(concurrent), "--concurrency", "4", "--json"], env)
    err = result.stderr.decode()
    assert result.returncode == 0, err
    assert concurrent.read_bytes() == serial.read_bytes()
    stats = json.loads(result.stdout)
    assert stats["segments"] >= 6 and stats["retries"] == 0
    assert counter(limited_server, "rejected_429") > refused  # the account did refuse some
    assert err.splitlines() == [SETTLED], err  # one line, no retry storm


def test_a_request_refused_even_alone_still_exits_4(
    server: Server, env: dict[str, str], tmp_path: Path
) -> None:
    """Settling at a lower concurrency does not hide a request that the account keeps refusing:
    once it is refused alone, each refusal counts against --retries."""
    mark = marker()
    add_fault(
        server, kind="status", status=429, retry_after=0.1, count=30, transport="sync", text_contains=mark
    )
    args = ["speak", _long_text(mark), "-o", str(tmp_path / "r.wav"), "--concurrency", "4", "--retries", "1"]
    try:
        result = run_cli(args, env)
    finally:
        clear_faults(server)
    assert result.returncode == 4, result.stderr.decode()
    assert last_line(result.stderr).startswith("smallest: error: rate limited")
    assert result.stderr.decode().count("; retry ") == 1


@pytest.mark.parametrize("fmt", ["pcm", "mp3"])
def test_live_input_refused_before_audio_is_replayed_and_goes_on(
    fmt: str, server: Server, env: dict[str, str], tmp_path: Path
) -> None:
    """Live text is sent as it arrives: a 429 before any audio is retried on a new connection that
    sends the text so far again, then the rest of the input; the audio is a clean run's (mp3: its
    encoder has had nothing of the refused attempt to take back)."""
    mark = marker()
    first = f"Live {mark} once upon a time there was a small robot. It liked to sing"
    second = " songs about the sea. Everyone listened! The end."
    add_fault(server, kind="status", status=429, retry_after=0.2, transport="ws", text_contains=mark)
    fired = counter(server, "faults_fired")
    out = tmp_path / f"live.{fmt}"
    with cli(["stream-ws", "--live", "-o", str(out), "-v", "avery", "--json"], env) as (proc, stdout):
        assert proc.stdin is not None and proc.stderr is not None
        proc.stdin.write(first.encode())
        proc.stdin.flush()
        wait_until(lambda: counter(server, "faults_fired") > fired, timeout=15, message="the 429")
        proc.stdin.write(second.encode())
        proc.stdin.close()
        code = proc.wait(timeout=30)
        err = proc.stderr.read().decode()
        assert code == 0, err
        assert json.loads(stdout.join())["retries"] == 1
    assert out.read_bytes() == reference(server, first + second, fmt, voice="avery")
    assert err.count("; retry 1 in 0.2 s") == 1
    replayed = ws_messages_since(server, mark)
    assert "".join(b["text"] for b in replayed) == first + second


@pytest.mark.parametrize("status", [500, 502, 503])
def test_5xx_without_retry_after_backs_off_half_a_second(
    status: int, server: Server, env: dict[str, str], tmp_path: Path
) -> None:
    text = unique_text()
    add_fault(server, kind="status", status=status, count=1, transport="sync", text_contains=text)
    out = tmp_path / "s.wav"
    result = run_cli(["speak", text, "-o", str(out)], env)
    assert result.returncode == 0, result.stderr.decode()
    assert "retry 1 in 0.5 s" in result.stderr.decode()
    assert out.read_bytes() == reference(server, text, "wav")


@pytest.mark.parametrize(("command", "transport"), [("speak", "sync"), ("stream-sse", "sse")])
def test_5xx_after_retries_exits_5_naming_the_request_id(
    command: str, transport: str, server: Server, env: dict[str, str], tmp_path: Path
) -> None:
    text = unique_text()
    add_fault(server, kind="status", status=503, count=1, transport=transport, text_contains=text)
    result = run_cli([command, text, "-o", str(tmp_path / "s.wav"), "--retries", "0"], env)
    assert result.returncode == 5
    line = one_line(result.stderr)
    assert "server error (503)" in line and REQUEST_ID.search(line)


#: Each fault as injected, the flags of the run, its exit code, and the one line it gives on every
#: transport (the server's messages are serve's own).
SAME_FAULT = {
    "429-after-retries": (
        {"kind": "status", "status": 429, "retry_after": 0, "count": 3}, ["--retries", "2"], 4,
        f"rate limited (429): {STATUS_MESSAGES[429]}",
    ),
    "500-no-retries": (
        {"kind": "status", "status": 500}, ["--retries", "0"], 5,
        f"server error (500): {STATUS_MESSAGES[500]}",
    ),
    "401": ({"kind": "status", "status": 401}, [], 3, f"authentication failed (401): {STATUS_MESSAGES[401]}"),
    "400": ({"kind": "status", "status": 400}, [], 2, f"request rejected (400): {STATUS_MESSAGES[400]}"),
}


@pytest.mark.parametrize("fault", SAME_FAULT)
def test_the_same_fault_reads_the_same_on_every_transport(
    fault: str, server: Server, env: dict[str, str], tmp_path: Path
) -> None:
    """`<kind> (<status>): <the server's message> (request id X)`, whichever transport reported it.
    HTTP answers carry X-Request-Id, so speak and stream-sse name it. A WebSocket error frame is
    what tts-ws.yaml's ErrorResponse says (`status`, `error.message`, `error.code`, no request id),
    and serve rejects the request on its first message, before any frame of it carried an id: so
    stream-ws names none, and invents none."""
    spec, flags, exit_code, wording = SAME_FAULT[fault]
    retries = spec.get("count", 1) - 1
    for command, transport in (("speak", "sync"), ("stream-sse", "sse"), ("stream-ws", "ws")):
        text = unique_text()
        add_fault(server, **spec, transport=transport, text_contains=text)
        result = run_cli([command, text, "-o", str(tmp_path / "f.wav"), *flags], env)
        assert result.returncode == exit_code, (command, result.stderr.decode())
        assert result.stderr.decode().count("; retry ") == retries, command
        line = last_line(result.stderr)
        rid = REQUEST_ID.search(line)
        assert (rid is not None) == (transport != "ws"), (command, line)
        named = f" {rid.group(0)}" if rid else ""
        assert line == f"smallest: error: {wording}{named}", (command, line)


# -- dropped and truncated streams: exit 5, request id, a valid .part --------------------------------


@pytest.mark.parametrize(
    ("command", "transport", "kind"),
    [
        ("speak", "sync", "drop"),
        ("stream-sse", "sse", "drop"),
        ("stream-ws", "ws", "drop"),
        ("speak", "sync", "no_terminator"),
        ("stream-sse", "sse", "malformed"),
        ("stream-ws", "ws", "malformed"),
    ],
)
def test_broken_stream_exits_5_and_keeps_a_valid_part(
    command: str, transport: str, kind: str, server: Server, env: dict[str, str], tmp_path: Path
) -> None:
    text = unique_text()
    add_fault(server, kind=kind, transport=transport, after_chunks=3, text_contains=text)
    out = tmp_path / "b.wav"
    result = run_cli([command, text, "-o", str(out), "--retries", "0"], env)
    assert result.returncode == 5
    line = one_line(result.stderr)
    assert ("truncated" if kind != "malformed" else "malformed") in line
    assert REQUEST_ID.search(line), line
    part = Path(str(out) + ".part")
    assert line.endswith(f"the audio received so far is in {part}")
    assert not out.exists()
    full = reference(server, text, "pcm")
    frames = wav_frames(part)
    assert 0 < frames * 2 < len(full)
    with wave.open(str(part), "rb") as w:
        assert w.readframes(frames) == full[: frames * 2]  # exactly what was received, no garbage


@pytest.mark.parametrize("kind", ["drop", "malformed"])
def test_a_broken_live_stream_names_the_request_id(
    kind: str, server: Server, env: dict[str, str], tmp_path: Path
) -> None:
    """Live input (`--live`, its own receive loop) names the request id of the request's earlier
    frames too, as the whole-text WebSocket run above does."""
    text = unique_text()
    add_fault(server, kind=kind, transport="ws", after_chunks=3, text_contains=text.split(",")[0])
    out = tmp_path / "l.wav"
    result = run_cli(["stream-ws", "--live", "-o", str(out), "--retries", "0"], env, input=text.encode())
    assert result.returncode == 5, result.stderr.decode()
    line = last_line(result.stderr)
    assert ("truncated" if kind == "drop" else "malformed WebSocket frame") in line
    assert REQUEST_ID.search(line), line


def test_malformed_sync_body_exits_5(server: Server, env: dict[str, str], tmp_path: Path) -> None:
    text = unique_text()
    add_fault(server, kind="malformed", transport="sync", text_contains=text)
    result = run_cli(["speak", text, "-o", str(tmp_path / "m.wav"), "--retries", "0"], env)
    assert result.returncode == 5
    line = one_line(result.stderr)
    assert "malformed response: text/html instead of audio" in line and REQUEST_ID.search(line)
    assert not (tmp_path / "m.wav.part").exists()  # nothing received, nothing kept


def test_stall_on_sync_exits_6(server: Server, env: dict[str, str], tmp_path: Path) -> None:
    text = unique_text()
    add_fault(server, kind="stall", transport="sync", after_chunks=1, stall_ms=5000, text_contains=text)
    args = ["speak", text, "-o", str(tmp_path / "s.wav"), "--timeout", "0.5", "--retries", "0"]
    result = run_cli(args, env, timeout=20)
    assert result.returncode == 6
    assert "no data from the server for 0.5 s" in one_line(result.stderr)


# -- long text: a failed segment is retried from its start; output equals a fault-free run ----------


def _long_text(mark: str) -> str:
    first = "The first part of a long text speaks about rivers, hills and the weather of the coast. " * 2
    second = f"The second part carries the {mark} marker, so that only it fails on the server. " * 2
    third = "The third part ends the text with a short and quiet closing sentence for the listener."
    return first + second + third


@pytest.mark.parametrize(
    ("command", "fault"),
    [
        ("speak", {"kind": "drop", "transport": "sync", "after_chunks": 4}),
        ("stream-sse", {"kind": "status", "status": 500, "transport": "sse"}),
        ("stream-ws", {"kind": "drop", "transport": "ws", "after_chunks": 4}),
        ("stream-ws", {"kind": "status", "status": 429, "retry_after": 0, "transport": "ws"}),
    ],
)
def test_failed_segment_of_long_text_is_retried_without_gap_or_duplicate(
    command: str, fault: dict[str, object], server: Server, env: dict[str, str], tmp_path: Path
) -> None:
    mark = marker()
    text = _long_text(mark)
    assert len(text) > 300
    clean, faulty = tmp_path / "clean.wav", tmp_path / "faulty.wav"
    ok = run_cli([command, text, "-o", str(clean)], env)
    assert ok.returncode == 0, ok.stderr.decode()
    add_fault(server, **fault, text_contains=mark)
    result = run_cli([command, text, "-o", str(faulty), "--json"], env)
    assert result.returncode == 0, result.stderr.decode()
    assert '"retries": 1' in result.stdout.decode() and '"segments": 3' in result.stdout.decode()
    assert "segment 2:" in result.stderr.decode()
    assert faulty.read_bytes() == clean.read_bytes()


# -- Ctrl-C and closed pipes ---------------------------------------------------------------------------


def stop_mid_stream(
    args: list[str], env: dict[str, str], out: Path, min_bytes: int, sig: signal.Signals
) -> tuple[int, bytes]:
    """Run the CLI with `args`, and send it `sig` once its audio file being written to `out` holds
    more than `min_bytes` of audio; its exit code and stderr."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "smallest_cli", *args],
        # A run that does not stop is aborted below; faulthandler then prints where each thread was.
        env={**env, "PYTHONFAULTHANDLER": "1"},
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    work = out.with_name(f"{out.name}.part.{proc.pid}")  # the run's own file while it writes

    def written() -> bool:
        return work.exists() and work.stat().st_size > 44 + min_bytes

    try:
        wait_until(written, timeout=20, message="audio")
        proc.send_signal(sig)
        try:
            _, stderr = proc.communicate(timeout=20)
        except subprocess.TimeoutExpired:
            proc.send_signal(signal.SIGABRT)
            _, stderr = proc.communicate(timeout=20)
            pytest.fail(f"still running 20 s after {sig.name}:\n{stderr.decode(errors='replace')}")
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    return proc.returncode, stderr


SIGNALS = pytest.mark.parametrize(
    ("sig", "code", "word"),
    [
        (signal.SIGINT, 130, "interrupted"),
        (signal.SIGTERM, 143, "terminated"),
        (signal.SIGHUP, 129, "hung up"),
    ],
    ids=["ctrl-c", "sigterm", "sighup"],
)


@pytest.mark.parametrize(
    ("command", "transport"), [("speak", "sync"), ("stream-sse", "sse"), ("stream-ws", "ws")]
)
@SIGNALS
def test_ctrl_c_or_sigterm_mid_stream_keeps_a_valid_part(
    command: str, transport: str, sig: signal.Signals, code: int, word: str, server: Server,
    env: dict[str, str], tmp_path: Path,
) -> None:
    """Ctrl-C, and SIGTERM from `timeout` or a cancelled CI job: one line, the audio so far kept as
    a valid FILE.part, the request closed."""
    text = unique_text()
    add_fault(server, kind="stall", transport=transport, after_chunks=5, stall_ms=30000, text_contains=text)
    out = tmp_path / "c.wav"
    part = Path(str(out) + ".part")
    returncode, stderr = stop_mid_stream([command, text, "-o", str(out)], env, out, 0, sig)
    assert returncode == code
    assert one_line(stderr) == f"smallest: {word}; the audio received so far is in {part}"
    assert not out.exists() and wav_frames(part) > 0
    # The .part holds the server's own samples, from the start: a prefix of its audio.
    with wave.open(str(part)) as w:
        kept = w.readframes(w.getnframes())
    assert reference(server, text, "pcm").startswith(kept)

    # The socket was closed: the server sees the request end (its stall lasts 30 s otherwise).
    def closed() -> bool:
        counters = requests.get(server.url + "/_smallest/requests", timeout=10).json()["counters"]
        return counters["active_requests"] == 0 and counters["ws_open"] == 0

    wait_until(closed, timeout=10, message="the server to see the connection closed")


# -- captions: kept up to the audio kept -------------------------------------------------------------


def caption_cues(path: Path) -> list[tuple[float, float, str]]:
    """(start, end, text) of each cue of an SRT, WebVTT or JSON caption file, read by parsers that
    are not the CLI's: a file they reject fails the test."""
    import json

    import srt
    import webvtt

    text = path.read_text(encoding="utf-8")
    if path.name.endswith((".srt", ".srt.part")):
        return [(c.start.total_seconds(), c.end.total_seconds(), c.content) for c in srt.parse(text)]
    if path.name.endswith((".vtt", ".vtt.part")):
        def seconds(stamp: webvtt.models.Timestamp) -> float:  # (*_in_seconds are whole seconds)
            return stamp.in_milliseconds() / 1000

        return [(seconds(c.start_time), seconds(c.end_time), c.text) for c in webvtt.from_string(text)]
    doc = json.loads(text)
    assert all(w["end"] <= doc["cues"][-1]["end"] for w in doc["words"])
    return [(c["start"], c["end"], c["text"]) for c in doc["cues"]]


def assert_captions_kept(captions: Path, audio_part: Path, text: str) -> None:
    """`captions` was not written; its `.part` holds cues of the first words of `text`, the last
    one ending within the audio kept in `audio_part`."""
    part = Path(str(captions) + ".part")
    assert not captions.exists() and part.exists()
    assert not list(captions.parent.glob(captions.name + ".part.*"))  # no work file left behind
    cues = caption_cues(part)
    words = " ".join(c[2] for c in cues).split()
    assert cues and words == text.split()[: len(words)] and len(words) < len(text.split())
    assert cues[-1][1] <= wav_frames(audio_part) / 24000


@pytest.mark.parametrize("name", ["subs.srt", "subs.vtt", "subs.json"])
def test_captions_of_a_broken_stream_are_kept_as_part(
    name: str, server: Server, env: dict[str, str], tmp_path: Path
) -> None:
    text = unique_text()
    # 80 chunks of 20 ms: the drop is in the middle of a word, whose caption must not be kept.
    add_fault(server, kind="drop", transport="ws", after_chunks=80, text_contains=text)
    out, captions = tmp_path / "b.wav", tmp_path / name
    args = ["stream-ws", text, "-v", "avery", "-o", str(out), "--captions", str(captions), "--retries", "0"]
    result = run_cli(args, env)
    assert result.returncode == 5
    part = Path(str(out) + ".part")
    assert one_line(result.stderr).endswith(
        f"the audio received so far is in {part}; the captions so far are in {captions}.part"
    )
    assert_captions_kept(captions, part, text)


@SIGNALS
def test_captions_are_kept_on_ctrl_c_or_sigterm(
    sig: signal.Signals, code: int, word: str, server: Server, env: dict[str, str], tmp_path: Path
) -> None:
    text = unique_text()
    add_fault(server, kind="stall", transport="ws", after_chunks=80, stall_ms=30000, text_contains=text)
    out, captions = tmp_path / "c.wav", tmp_path / "subs.srt"
    args = ["stream-ws", text, "-v", "avery", "-o", str(out), "--captions", str(captions)]
    # Most of the 80 chunks (20 ms, 960 bytes each) before the stall are in: the stall is in the
    # middle of a word, whose caption must not be kept.
    returncode, stderr = stop_mid_stream(args, env, out, 70 * 960, sig)
    assert returncode == code
    part = Path(str(out) + ".part")
    assert one_line(stderr) == (
        f"smallest: {word}; the audio received so far is in {part}; "
        f"the captions so far are in {captions}.part"
    )
    assert_captions_kept(captions, part, text)


@pytest.mark.parametrize(
    ("kind", "message", "code"),
    [
        ("KeyboardInterrupt", "interrupted", 130),
        ("Interrupted", "interrupted; the audio received so far is in out.wav.part", 130),
        ("Terminated", "terminated; the audio received so far is in out.wav.part", 143),
    ],
    ids=["ctrl-c-twice", "ctrl-c-twice-with-a-part", "sigterm-then-ctrl-c"],
)
def test_a_second_stop_while_exiting_still_says_the_first_once(
    kind: str, message: str, code: int, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """The synthesis commands nest two guards; a second stop while the inner one makes its exit
    (importing typer takes ~100 ms) reaches the outer one. GNU `timeout` makes it common: it
    signals the run, then its process group. Still one message, the first stop's, with the
    `.part` it names."""
    import typer

    from smallest_cli import errors

    make_exit = errors._exit
    calls: list[int] = []

    def second_stop_on_first_exit(exit_code: int) -> Exception:
        calls.append(exit_code)
        if len(calls) == 1:
            raise KeyboardInterrupt
        return make_exit(exit_code)

    monkeypatch.setattr(errors, "_exit", second_stop_on_first_exit)
    first = KeyboardInterrupt() if kind == "KeyboardInterrupt" else getattr(errors, kind)(message)
    with pytest.raises(typer.Exit) as info, errors.guarded(), errors.guarded():
        raise first
    assert info.value.exit_code == code and calls == [code, code]
    assert capsys.readouterr().err == f"smallest: {message}\n"


def test_scrub_redacts_a_real_key_but_not_a_too_short_one() -> None:
    from smallest_cli.errors import _scrub

    message = "smallest: error: the key sk_live_abcdef123 was rejected (kind 401)"
    assert _scrub(message, (KEY, "k")) == message
    assert _scrub(message, ("sk_live_abcdef123",)) == (
        "smallest: error: the key sk_…(redacted) was rejected (kind 401)"
    )


@pytest.mark.parametrize("command", ["speak", "stream-sse", "stream-ws"])
def test_closed_stdout_pipe_ends_quietly(command: str, env: dict[str, str]) -> None:
    """`smallest speak ... -o - | head -c 1000`: no traceback, no 'Exception ignored' noise."""
    text = "A long enough text to produce far more than a thousand bytes of audio. " * 3
    proc = subprocess.Popen(
        [sys.executable, "-m", "smallest_cli", command, text, "-o", "-", "--format", "pcm"],
        env=env,
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    assert proc.stdout is not None and proc.stderr is not None
    head = proc.stdout.read(1000)
    proc.stdout.close()  # what `head -c 1000` does once it has its bytes
    stderr = proc.stderr.read()
    proc.wait(timeout=30)
    assert len(head) == 1000
    assert proc.returncode == 0, stderr.decode()  # the README promises 0 when the reader goes away
    assert stderr.strip() == b"", stderr.decode()


def test_closed_pipe_with_a_real_shell_pipeline(env: dict[str, str]) -> None:
    cmd = f'{sys.executable} -m smallest_cli stream-ws "$TEXT" -o - | head -c 1000 | wc -c'
    result = subprocess.run(
        ["bash", "-o", "pipefail", "-c", cmd],
        env={**env, "TEXT": "Words for a pipe. " * 12},
        cwd=ROOT,
        capture_output=True,
        timeout=60,
    )
    assert result.stdout.strip() == b"1000"
    assert result.returncode == 0, result.stderr.decode()
    assert b"Traceback" not in result.stderr and b"Exception ignored" not in result.stderr


# -- bad input: one line, exit 2, and nothing sent -----------------------------------------------------


@pytest.fixture(scope="module")
def quiet_server() -> Iterator[Server]:
    """A server of its own, so that its request counters show exactly what these tests sent."""
    with running_server() as srv:
        yield srv


def _sent(srv: Server) -> int:
    return int(requests.get(srv.url + "/_smallest/requests", timeout=10).json()["counters"]["requests"])


def _bad_input_cases(tmp: Path) -> list[tuple[list[str], bytes | None, dict[str, str], str]]:
    """(args, stdin, extra env, expected text in the message)."""
    (tmp / "binary.bin").write_bytes(b"RIFF\0\0\0\0WAVEfmt " + bytes(range(256)))
    (tmp / "latin1.txt").write_bytes("Caf\u00e9 au lait".encode("latin-1"))
    (tmp / "adir").mkdir()
    (tmp / "notes.txt").write_text("Keep me.\n")
    out = str(tmp / "o.wav")
    return [
        (["speak", "", "-o", out], None, {}, "empty"),
        (["speak", "-f", str(tmp / "notes.txt"), "-o", str(tmp / "notes.txt"), "--format", "wav"], None, {},
         f"--file and --output name the same file, {tmp / 'notes.txt'}"),
        (["stream-ws", "hi", "-v", "avery", "-o", str(tmp / "c.srt"), "--format", "wav", "--captions",
          str(tmp / "c.srt")], None, {}, "--output and --captions name the same file"),
        (["stream-ws", "  \t ", "-o", out], None, {}, "empty"),
        (["stream-sse", "-o", out], b" \n\n \n", {}, "empty"),
        (["speak", "-f", str(tmp / "binary.bin"), "-o", out], None, {}, "binary file (NUL byte at byte 4)"),
        (
            ["speak", "-f", str(tmp / "latin1.txt"), "-o", out],
            None,
            {},
            "not UTF-8 text: invalid continuation byte at byte 3",
        ),
        (["speak", "-f", str(tmp / "missing.txt"), "-o", out], None, {}, "No such file"),
        (["speak", "-f", str(tmp / "adir"), "-o", out], None, {}, "is a directory"),
        (
            ["stream-ws", "-o", out],
            b"Hello \xe9t\xe9",
            {},
            "stdin is not UTF-8 text: invalid continuation byte at byte 6",
        ),
        # One long line: the offset counts from the start of stdin, not from a decoder's buffer.
        (["speak", "-o", out], b"word " * 1700 + b"\xff", {}, "invalid start byte at byte 8500"),
        (["speak", "hi", "-o", out, "-r", "22050"], None, {}, "sample rate must be one of"),
        (["speak", "hi", "-o", out, "-l", "klingon"], None, {}, "language must be one of"),
        (["speak", "hi", "-o", out, "--number-language", "xx"], None, {}, "--number-language must be"),
        (["speak", "hi", "-o", out, "--speed", "2.5"], None, {}, "speed"),
        (["speak", "hi", "-o", out, "--speed", "0.1"], None, {}, "speed"),
        (["speak", "hi", "-o", out, "--format", "flac"], None, {}, "format"),
        (["speak", "hi", "-o", out, "--model", "lightning_v2"], None, {}, "model"),
        (["speak", "hi", "-o", str(tmp / "adir")], None, {}, "is a directory"),
        (["speak", "hi", "-o", str(tmp / "nowhere" / "x.wav")], None, {}, "does not exist"),
        (["speak", "hi", "-o", out, "--base-url", "ftp://127.0.0.1"], None, {}, "bad base URL"),
        (["speak", "hi", "-o", out, "--base-url", "http://127.0.0.1:99999"], None, {}, "port"),
        (["speak", "hi", "-o", out, "--base-url", "http://exa mple.com"], None, {}, "bad base URL"),
        (["speak", "hi", "-o", out, "--base-url", "http://"], None, {}, "no valid host"),
        (["speak", "hi", "-o", out], None, {"SMALLEST_API_KEY": ""}, "set SMALLEST_API_KEY"),
        (["speak", "hi", "-o", out], None, {"SMALLEST_BASE_URL": "ftp://x"}, "SMALLEST_BASE_URL: bad base"),
        (["voices"], None, {"SMALLEST_BASE_URL": "http://"}, "SMALLEST_BASE_URL: bad base URL"),
        (["stream-ws", "hi", "-o", out], None, {"SMALLEST_VOICE": "a b"}, "SMALLEST_VOICE: a voice id"),
        (["stream-ws", "hi", "-o", out, "--base-url", "http://10.255.255.1:9"], None, {}, "--allow-insecure"),
        (["voices", "--base-url", "http://api.example.com"], None, {}, "refusing to send the API key"),
    ]


def test_bad_input_is_one_line_exit_2_and_nothing_is_sent(quiet_server: Server, tmp_path: Path) -> None:
    failures = []
    for args, stdin, extra, expected in _bad_input_cases(tmp_path):
        env = cli_env(quiet_server, tmp_path, **extra)
        if extra.get("SMALLEST_API_KEY") == "":
            del env["SMALLEST_API_KEY"]
        before = _sent(quiet_server)
        result = run_cli(args, env, input=stdin)
        lines = result.stderr.decode().strip().splitlines()
        if (
            result.returncode != 2
            or len(lines) != 1
            or expected not in lines[0]
            or not lines[0].startswith("smallest: error: ")
            or _sent(quiet_server) != before
        ):
            failures.append((args, result.returncode, lines))
        assert not (tmp_path / "o.wav.part").exists()
    assert not failures, failures
    assert (tmp_path / "notes.txt").read_text() == "Keep me.\n"
    assert _sent(quiet_server) == 0


def test_insecure_remote_is_allowed_with_the_flag(tmp_path: Path) -> None:
    """--allow-insecure lifts the refusal: the CLI then tries to connect (and fails: exit 6)."""
    env = cli_env(None, tmp_path, SMALLEST_API_KEY=TEST_KEY)
    args = [
        "speak",
        "hi",
        "-o",
        str(tmp_path / "x.wav"),
        "--base-url",
        "http://192.0.2.1:9",
        "--allow-insecure",
        "--timeout",
        "0.3",
        "--retries",
        "0",
    ]
    result = run_cli(args, env)
    assert result.returncode == 6, result.stderr.decode()


def test_unknown_voice_quotes_the_server(env: dict[str, str], tmp_path: Path) -> None:
    result = run_cli(["speak", "hello", "-v", "nobody", "-o", str(tmp_path / "x.wav")], env)
    assert result.returncode == 2
    assert "voice_id: Invalid Voice ID" in one_line(result.stderr)


# -- the key: where it comes from, where it never goes ----------------------------------------------

KEY = "sk_live_DISTINCTIVE_7f3a9c2e5b1d"


@pytest.fixture(scope="module")
def key_server() -> Iterator[Server]:
    with running_server(api_key=KEY) as srv:
        yield srv


def test_api_key_flag_works_and_warns(key_server: Server, tmp_path: Path) -> None:
    env = cli_env(key_server, tmp_path)
    del env["SMALLEST_API_KEY"]
    result = run_cli(["speak", "hello", "-o", str(tmp_path / "k.wav"), "--api-key", KEY, "-q"], env)
    assert result.returncode == 0, result.stderr.decode()
    assert one_line(result.stderr) == CMDLINE_KEY_WARNING
    assert CMDLINE_KEY_WARNING.startswith("smallest: warning: --api-key is visible to other users")


def test_config_file_key_warns_once_when_readable_by_others(key_server: Server, tmp_path: Path) -> None:
    env = cli_env(key_server, tmp_path)
    del env["SMALLEST_API_KEY"]
    setup = run_cli(["config", "set", "api_key", KEY], env)
    assert setup.returncode == 0, setup.stderr.decode()
    path = tmp_path / "config" / "smallest" / "config.toml"
    assert path.stat().st_mode & 0o777 == 0o600
    args = ["speak", "hello", "-o", str(tmp_path / "k.wav"), "-q"]
    quiet = run_cli(args, env)
    assert quiet.returncode == 0 and quiet.stderr == b""
    path.chmod(0o644)
    warned = run_cli(args, env)
    assert warned.returncode == 0
    assert (
        one_line(warned.stderr)
        == f"smallest: warning: {path} is readable by other users (mode 0644); run: chmod 600 {path}"
    )


def test_key_never_printed_even_with_debug(key_server: Server, tmp_path: Path) -> None:
    env = cli_env(key_server, tmp_path)
    runs = []
    text = unique_text()
    add_fault(key_server, kind="drop", transport="any", after_chunks=2, count=3, text_contains=text)
    for command in ("speak", "stream-sse", "stream-ws"):
        runs.append(run_cli([command, text, "-o", str(tmp_path / "d.wav"), "--retries", "0", "--debug"], env))
    wrong = KEY[:-1] + "X"  # a rejected key must not be echoed either
    for command in ("speak", "stream-ws"):
        runs.append(
            run_cli([command, "hi", "-o", str(tmp_path / "w.wav"), "--debug", "--api-key", wrong], env)
        )
    runs.append(run_cli(["voices", "--debug", "--api-key", wrong], env))
    runs.append(
        run_cli(["speak", "hi", "--debug", "--api-key", KEY, "--base-url", "http://203.0.113.9"], env)
    )
    runs.append(run_cli(["speak", "hi", "-o", str(tmp_path / "x.wav"), "--debug", "-r", "1"], env))
    for result in runs:
        assert result.returncode != 0
        output = result.stdout + result.stderr
        assert KEY.encode() not in output and wrong.encode() not in output, output.decode()
        assert b"DISTINCTIVE" not in output
    assert any(b"Traceback" in r.stderr for r in runs)  # --debug did print tracebacks
    journal = requests.get(key_server.url + "/_smallest/requests", timeout=10).text
    assert KEY not in journal


@pytest.mark.parametrize(
    "args",
    [
        ["speak", "Hi there.", "-o", "-"],
        ["stream-ws", "Hi there.", "-o", "-"],
        ["stream-sse", "Hi there.", "-o", "-"],
        ["speak", "Hi there.", "-o", "{tmp}/x.wav", "--json"],
        ["voices"],
        ["voices", "--json"],
    ],
    ids=["speak", "stream-ws", "stream-sse", "json", "voices", "voices-json"],
)
def test_stdout_on_a_full_disk_is_one_line_exit_2(
    args: list[str], env: dict[str, str], tmp_path: Path
) -> None:
    """`> /dev/full`: the data cannot be written; one line, exit 2, no traceback."""
    with open("/dev/full", "wb") as full:
        result = subprocess.run(
            [sys.executable, "-m", "smallest_cli", *[a.format(tmp=tmp_path) for a in args]],
            env=env, cwd=ROOT, stdout=full, stderr=subprocess.PIPE, stdin=subprocess.DEVNULL, timeout=60,
        )
    assert result.returncode == 2, result.stderr.decode()
    assert one_line(result.stderr) == "smallest: error: cannot write to stdout: No space left on device"


@pytest.mark.parametrize(
    ("args", "what"),
    [
        ("speak 'Hi there.' -o -", "the audio (-o -)"),
        ("stream-ws 'Hi there.' -o {tmp}/x.wav --json", "the --json report"),
        ("batch {tmp}/rows.txt --out-dir {tmp}/out --json", "the --json report"),
        ("voices", "the voice list"),
    ],
    ids=["audio", "json", "batch-json", "voices"],
)
def test_data_for_a_closed_stdout_is_refused_before_any_request(
    args: str, what: str, env: dict[str, str], tmp_path: Path
) -> None:
    (tmp_path / "rows.txt").write_text("Hi there.\n")
    command = f"{sys.executable} -m smallest_cli {args.format(tmp=tmp_path)} >&-"
    result = subprocess.run(["bash", "-c", command], env=env, cwd=ROOT, capture_output=True, timeout=60)
    assert result.returncode == 2
    assert one_line(result.stderr) == f"smallest: error: stdout is closed: {what} has nowhere to go"
    assert not (tmp_path / "x.wav").exists() and not (tmp_path / "out").exists()


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A directory on a 128 KB file system of its own (a tmpfs; root only, else skipped)."""
    where = tmp_path / "small"
    where.mkdir()
    if os.geteuid() != 0 or subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=128k", "tmpfs", str(where)], capture_output=True
    ).returncode != 0:
        pytest.skip("mounting a small tmpfs needs root")
    try:
        yield where
    finally:
        subprocess.run(["umount", "-l", str(where)], capture_output=True)


LONG_TEXT = " ".join(f"Sentence number {i} is here to make the text long enough." for i in range(40))


@pytest.mark.parametrize(("command", "fmt"), [("stream-sse", "wav"), ("speak", "mp3"), ("stream-ws", "pcm")])
def test_a_full_disk_keeps_the_audio_that_reached_it(
    command: str, fmt: str, small_disk: Path, env: dict[str, str]
) -> None:
    out = small_disk / f"x.{fmt}"
    result = run_cli([command, LONG_TEXT, "-o", str(out), "--retries", "0"], env)
    assert result.returncode == 2
    line = one_line(result.stderr)
    assert "No space left on device" in line and line.endswith(f"the audio received so far is in {out}.part")
    assert [p.name for p in small_disk.iterdir()] == [f"x.{fmt}.part"]
    if fmt == "wav":
        with wave.open(str(small_disk / "x.wav.part")) as w:
            assert w.getnframes() * 2 + 44 == (small_disk / "x.wav.part").stat().st_size


def _fill(directory: Path) -> None:
    with contextlib.suppress(OSError), open(directory / "filler", "wb") as filler:
        while True:
            filler.write(b"\0" * 4096)
            filler.flush()


@pytest.mark.parametrize("fmt", ["wav", "mp3"])
def test_a_disk_full_from_the_start_is_left_as_it_was(
    fmt: str, small_disk: Path, env: dict[str, str]
) -> None:
    _fill(small_disk)
    result = run_cli(["stream-sse", LONG_TEXT, "-o", str(small_disk / f"x.{fmt}"), "--retries", "0"], env)
    assert result.returncode == 2
    assert "No space left on device" in one_line(result.stderr)
    assert [p.name for p in small_disk.iterdir()] == ["filler"]


def test_captions_that_fill_the_disk_leave_no_work_file(
    small_disk: Path, env: dict[str, str], tmp_path: Path
) -> None:
    """The run fails, its audio whole in its file and said so, and no caption work file is left."""
    _fill(small_disk)
    audio = tmp_path / "a.wav"
    args = ["stream-ws", "-v", "avery", LONG_TEXT, "-o", str(audio), "--captions", str(small_disk / "x.srt")]
    result = run_cli(args, env)
    assert result.returncode == 2
    line = one_line(result.stderr)
    assert "No space left on device" in line and line.endswith(f"the audio received so far is in {audio}")
    assert [p.name for p in small_disk.iterdir()] == ["filler"]
    with wave.open(str(audio)) as w:
        assert w.getnframes() * 2 + 44 == audio.stat().st_size > 44


@pytest.mark.parametrize("signal_kind", ["KeyboardInterrupt", "TerminateSignal"])
def test_a_stop_that_lands_while_a_class_is_made_is_a_stop(
    signal_kind: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """Before Python 3.12 a Ctrl-C raised in a class's __set_name__ (a dataclass made as a module
    imports) comes wrapped in a RuntimeError: still one line and the stop's exit code."""
    import typer

    from smallest_cli import errors

    stop = KeyboardInterrupt() if signal_kind == "KeyboardInterrupt" else errors.TerminateSignal()
    with pytest.raises(typer.Exit) as info, errors.guarded():
        raise RuntimeError("Error calling __set_name__ on '_Field' instance 'x' in 'Row'") from stop
    expected = {"KeyboardInterrupt": (130, "interrupted"), "TerminateSignal": (143, "terminated")}
    assert (info.value.exit_code, capsys.readouterr().err) == (
        expected[signal_kind][0], f"smallest: {expected[signal_kind][1]}\n")


def test_a_runtime_error_of_another_cause_is_not_a_stop() -> None:
    from smallest_cli import errors

    with pytest.raises(RuntimeError), errors.guarded():
        raise RuntimeError("a bug") from ValueError("x")
