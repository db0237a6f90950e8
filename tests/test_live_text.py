"""Live text: `stream-ws --live` (and piped stdin that keeps delivering) speaks before
stdin is closed, sends `continue: true` pieces flushed at sentence ends and an empty `flush: true`
at EOF. End to end with the real CLI and server, plus the pure parts (splitter, sniffing)."""

from __future__ import annotations

import base64
import itertools
import json
import os
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
import requests
from hypothesis import given, settings
from hypothesis import strategies as st

from smallest_cli.errors import UsageError
from smallest_cli.protocol.graphemes import is_boundary
from smallest_cli.protocol.live import LiveSplitter, live_messages
from smallest_cli.protocol.request import SynthesisOptions
from smallest_cli.source.live import FdReader, first_text, sniff
from tests.helpers import ROOT, Server, cli_env, run_cli, running_server, wait_until, ws_server
from tests.test_cli_errors import ws_connection_count
from tests.test_cli_support import reference
from tests.test_protocol_segment import SCRIPTS_TEXT, pieces

FIRST = "Once upon a time there was a small robot. It liked to sing"
SECOND = " songs about the sea. Everyone listened! The end."


class Output:
    """Collects a process's stdout in a thread, so the test can watch bytes arrive."""

    def __init__(self, stream) -> None:
        self.data = bytearray()
        self._stream = stream
        self._thread = threading.Thread(target=self._pump, daemon=True)
        self._thread.start()

    def _pump(self) -> None:
        while chunk := self._stream.read1(65536):
            self.data += chunk

    def join(self) -> bytes:
        self._thread.join(timeout=30)
        return bytes(self.data)


@contextmanager
def cli(args: list[str], env: dict[str, str]) -> Iterator[tuple[subprocess.Popen[bytes], Output]]:
    proc = subprocess.Popen(
        [sys.executable, "-m", "smallest_cli", *args],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env, cwd=ROOT,
    )
    try:
        assert proc.stdout is not None
        yield proc, Output(proc.stdout)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def ws_messages_since(server: Server, marker: str) -> list[dict]:
    entries = requests.get(server.url + "/_smallest/requests", timeout=10).json()["requests"]
    start = max(
        i for i, e in enumerate(entries)
        if e["transport"] == "ws" and marker in (e.get("body") or {}).get("text", "")
    )
    conn = entries[start]["connection_id"]
    return [e["body"] for e in entries[start:] if e["connection_id"] == conn]


@pytest.mark.parametrize("flag", [["--live"], []], ids=["--live", "auto"])
def test_live_stdin_speaks_before_eof(flag: list[str], server: Server, env: dict[str, str]) -> None:
    marker = f"Marker{len(flag)}"
    first = f"{marker} {FIRST}"
    connections = ws_connection_count(server)
    with cli(["stream-ws", *flag, "-o", "-", "--format", "pcm", "-v", "avery"], env) as (proc, out):
        assert proc.stdin is not None
        proc.stdin.write(first.encode())
        proc.stdin.flush()
        # The first sentence is spoken while stdin is still open.
        wait_until(lambda: len(out.data) > 0, timeout=15, message="audio before EOF")
        assert proc.poll() is None
        proc.stdin.write(SECOND.encode())
        proc.stdin.close()
        assert proc.wait(timeout=30) == 0, proc.stderr.read().decode() if proc.stderr else ""
        audio = out.join()
    # The tone engine's audio does not depend on where the text was cut into units.
    assert audio == reference(server, first + SECOND, "pcm", voice="avery")
    # One handshake: the background connect is the live session's even when live is detected.
    assert ws_connection_count(server) == connections + 1
    bodies = ws_messages_since(server, marker)
    assert "".join(b["text"] for b in bodies) == first + SECOND
    assert all(b.get("continue") is True for b in bodies[:-1])
    assert bodies[-1]["text"] == "" and bodies[-1].get("flush") is True and not bodies[-1].get("continue")
    # More text is coming after a piece: wait as long as allowed; after the last message, briefly.
    assert {b["complete_backoff_ms"] for b in bodies[:-1]} == {10000}
    assert bodies[-1]["complete_backoff_ms"] == 250
    flushed = [b["text"] for b in bodies[:-1] if b.get("flush")]
    assert flushed and all(t.rstrip().endswith((".", "!", "?")) for t in flushed)
    assert all(len(b["text"]) <= 250 for b in bodies)


def test_live_input_with_concurrency_is_one_live_request(server: Server, env: dict[str, str]) -> None:
    """--concurrency runs segments of plain text ahead; live text is one request, spoken whole."""
    text = "Concurrent marker. " + FIRST + SECOND
    with cli(["stream-ws", "--live", "--concurrency", "3", "-o", "-", "--format", "pcm", "-v", "avery"],
             env) as (proc, out):
        assert proc.stdin is not None
        proc.stdin.write(text.encode())
        proc.stdin.close()
        assert proc.wait(timeout=30) == 0, proc.stderr.read().decode() if proc.stderr else ""
        audio = out.join()
    assert audio == reference(server, text, "pcm", voice="avery")
    assert "".join(b["text"] for b in ws_messages_since(server, "Concurrent marker")) == text


def test_live_never_sends_whitespace_alone(server: Server, env: dict[str, str]) -> None:
    """Blank text is a 400 on the real service: the newline after a sentence waits for more text."""
    first = "Blank marker one. Two.\n"
    with cli(["stream-ws", "--live", "-o", "-", "--format", "pcm", "-v", "avery"], env) as (proc, out):
        assert proc.stdin is not None
        proc.stdin.write(first.encode())
        proc.stdin.flush()
        wait_until(lambda: len(out.data) > 0, timeout=15, message="audio of the first line")
        proc.stdin.write(b"\n  \nThree.\n\n")
        proc.stdin.close()
        assert proc.wait(timeout=30) == 0, proc.stderr.read().decode() if proc.stderr else ""
        out.join()
    bodies = ws_messages_since(server, "Blank marker")
    assert [b for b in bodies[:-1] if not b["text"].strip()] == []
    assert "".join(b["text"] for b in bodies) == first + "\n  \nThree."
    assert bodies[-1]["text"] == "" and bodies[-1].get("flush") is True


def test_live_pieces_cut_inside_a_character_are_sent_whole(server: Server, env: dict[str, str]) -> None:
    """stdin that pauses inside the conjunct स्ते (as an LLM's tokens may), then a run of Hindi
    longer than a message: every message ends between two characters."""
    first = "Grapheme marker नमस"
    rest = "्ते दुनिया। " + "नमस्ते" * 50 + "।"

    def marker_arrived() -> bool:
        entries = requests.get(server.url + "/_smallest/requests", timeout=10).json()["requests"]
        return any("Grapheme marker" in (e.get("body") or {}).get("text", "") for e in entries)

    with cli(["stream-ws", "--live", "-o", "-", "--format", "pcm"], env) as (proc, out):
        assert proc.stdin is not None
        proc.stdin.write(first.encode())
        proc.stdin.flush()
        wait_until(marker_arrived, timeout=15, message="the first piece's message")
        proc.stdin.write(rest.encode())
        proc.stdin.close()
        assert proc.wait(timeout=30) == 0, proc.stderr.read().decode() if proc.stderr else ""
        out.join()
    texts = [b["text"] for b in ws_messages_since(server, "Grapheme marker")]
    assert "".join(texts) == first + rest
    ends = list(itertools.accumulate(len(t) for t in texts[:-1]))
    assert [(first + rest)[e - 2 : e + 2] for e in ends if not is_boundary(first + rest, e)] == []
    assert all(len(t) <= 250 for t in texts)


def test_live_input_may_pause_longer_than_the_idle_timeout(tmp_path: Path) -> None:
    """A slow LLM or a person typing: the live session asks for a long idle timeout (`?timeout=`)."""
    with running_server("--idle-timeout", "0.5") as srv:
        env = cli_env(srv, tmp_path)
        with cli(["stream-ws", "--live", "-o", "-", "--format", "pcm", "-v", "avery"], env) as (proc, out):
            assert proc.stdin is not None
            proc.stdin.write(b"Before the pause. ")
            proc.stdin.flush()
            wait_until(lambda: len(out.data) > 0, timeout=15, message="audio before the pause")
            threading.Event().wait(1.2)  # the scenario: the input pauses past the server's 0.5 s
            assert proc.poll() is None, proc.stderr.read().decode() if proc.stderr else ""
            proc.stdin.write(b" After the pause.")
            proc.stdin.close()
            assert proc.wait(timeout=30) == 0, proc.stderr.read().decode() if proc.stderr else ""
            audio = out.join()
        assert audio == reference(srv, "Before the pause.  After the pause.", "pcm", voice="avery")


#: The number of the read system call, for /proc/PID/syscall.
READ_SYSCALL = {"x86_64": 0, "aarch64": 63}.get(os.uname().machine)


def reads_stdin(pid: int) -> bool:
    """Whether process `pid` is blocked in read(0, ...) (Linux: /proc/PID/syscall)."""
    try:
        fields = Path(f"/proc/{pid}/syscall").read_text().split()
    except OSError:
        return False
    return len(fields) > 1 and fields[0] == str(READ_SYSCALL) and int(fields[1], 16) == 0


@pytest.mark.skipif(READ_SYSCALL is None, reason="needs /proc/PID/syscall numbers for this machine")
@pytest.mark.parametrize("flag", ["--no-live", "--live"])
def test_no_connection_carries_the_key_before_the_input_arrives(
    flag: str, server: Server, env: dict[str, str], tmp_path: Path
) -> None:
    """The key leaves the machine only once the input is known to be good: while stdin is silent,
    the CLI waits for it with no connection open; then it makes exactly one."""
    before = ws_connection_count(server)
    with cli(["stream-ws", flag, "-o", str(tmp_path / "out.wav"), "--no-play"], env) as (proc, _):
        wait_until(lambda: reads_stdin(proc.pid), timeout=15, message="the CLI to wait for stdin")
        assert ws_connection_count(server) == before
        assert proc.stdin is not None
        proc.stdin.write(b"Late input.")
        proc.stdin.close()
        assert proc.wait(timeout=30) == 0
    assert ws_connection_count(server) == before + 1
    assert (tmp_path / "out.wav").read_bytes() == reference(server, "Late input.", "wav")


def test_live_with_text_argument_is_a_usage_error(env: dict[str, str]) -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "smallest_cli", "stream-ws", "--live", "Hello", "-o", "-"],
        input=b"", capture_output=True, env=env, cwd=ROOT, timeout=30,
    )
    assert proc.returncode == 2
    assert b"--live" in proc.stderr


def test_live_with_empty_input_is_a_usage_error(env: dict[str, str]) -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "smallest_cli", "stream-ws", "--live", "-o", "-"],
        input=b"  \n", capture_output=True, env=env, cwd=ROOT, timeout=30,
    )
    assert proc.returncode == 2
    assert b"empty" in proc.stderr


# -- the pure parts -------------------------------------------------------------------------------


def _feed_all(pieces: list[str]) -> list[tuple[str, bool]]:
    splitter = LiveSplitter()
    out: list[tuple[str, bool]] = []
    for piece in pieces:
        out += splitter.feed(piece)
    return out + splitter.finish()


def _flushed_sentences(out: list[tuple[str, bool]]) -> list[str]:
    """The text of each flushed run of messages, stripped: what the server speaks as one sentence."""
    joined, sentences = "", []
    for t, flush in out:
        joined += t
        if flush:
            sentences.append(joined.strip())
            joined = ""
    return sentences


@pytest.mark.parametrize("step", [1, 3, 17, 1000])
def test_splitter_keeps_the_text_and_flushes_at_sentence_ends(step: int) -> None:
    text = "Dr. Smith paid $3.14 today. Then he left! Did he? Yes... he did. " + "x" * 600 + " end"
    out = _feed_all([text[i : i + step] for i in range(0, len(text), step)])
    assert "".join(t for t, _ in out) == text
    assert all(len(t) <= 250 for t, _ in out)
    assert _flushed_sentences(out) == [
        "Dr. Smith paid $3.14 today.", "Then he left!", "Did he?", "Yes... he did."
    ]


@pytest.mark.parametrize("step", [1, 2, 5, 1000])
def test_splitter_sends_no_whitespace_only_message(step: int) -> None:
    text = "Hello there.\n \nNew line. \t Next!\n\n\nDr. Who?\n  "
    out = _feed_all([text[i : i + step] for i in range(0, len(text), step)])
    assert all(t.strip() for t, _ in out)
    assert "".join(t for t, _ in out) == text.rstrip()
    assert _flushed_sentences(out) == ["Hello there.", "New line.", "Next!", "Dr. Who?"]


@pytest.mark.parametrize("step", [1, 4, 7, 1000])
@pytest.mark.parametrize(
    "text",
    ["नमस्ते" * 60 + "। अगला वाक्य।", "தமிழ்நாடுஸ்தே" * 30, "Thumbs 👍🏽 up 🧑🏽\u200d💻 " * 30],
    ids=["hindi", "tamil", "emoji"],
)
def test_splitter_never_ends_a_message_inside_a_character(text: str, step: int) -> None:
    """Pieces cut anywhere (an LLM's tokens split conjuncts), and runs longer than a message."""
    out = _feed_all([text[i : i + step] for i in range(0, len(text), step)])
    assert "".join(t for t, _ in out) == text.rstrip()
    assert all(len(t) <= 250 for t, _ in out)
    ends = list(itertools.accumulate(len(t) for t, _ in out))
    assert [e for e in ends if not is_boundary(text, e)] == []


@settings(max_examples=300, deadline=None)
@given(text=SCRIPTS_TEXT, cuts=st.lists(st.integers(min_value=0), max_size=30))
def test_splitter_messages_hold_whole_characters(text: str, cuts: list[int]) -> None:
    out = _feed_all(pieces(text, cuts))
    sent = "".join(t for t, _ in out)
    assert text.startswith(sent) and not text[len(sent) :].strip()  # only trailing blanks dropped
    assert all(t.strip() and len(t) <= 250 for t, _ in out)
    ends = list(itertools.accumulate(len(t) for t, _ in out))
    assert [e for e in ends if not is_boundary(text, e)] == []


def test_live_messages_end_with_an_empty_flush() -> None:
    opts = SynthesisOptions(voice_id="avery", sample_rate=16000)
    bodies = list(live_messages(iter(["Hi there. How", " are you"]), opts))
    # A piece's last character waits for the next one (it could take a combining mark).
    assert [b["text"] for b in bodies] == ["Hi there.", " Ho", "w are yo", "u", ""]
    assert [b.get("flush", False) for b in bodies] == [True, False, False, False, True]
    assert [b.get("continue", False) for b in bodies] == [True, True, True, True, False]
    assert all(b["voice_id"] == "avery" and b["sample_rate"] == 16000 for b in bodies)


def test_sniff_a_pipe_that_closes_at_once_is_not_live() -> None:
    r, w = os.pipe()
    os.write(w, b"All the text at once.\n")
    os.close(w)
    found = sniff(FdReader(r), seconds=5)
    os.close(r)
    assert found == type(found)("All the text at once.\n", live=False)


def test_sniff_a_pipe_that_keeps_delivering_is_live() -> None:
    r, w = os.pipe()
    os.write(w, "Thinking… ".encode())
    start = time.monotonic()
    found = sniff(FdReader(r), seconds=0.05)
    assert found.live and found.head == "Thinking… "
    assert time.monotonic() - start < 5
    os.close(w)
    os.close(r)


def test_fd_reader_rejects_bad_utf8_with_the_offset() -> None:
    r, w = os.pipe()
    os.write(w, b"abc\xff")
    os.close(w)
    with pytest.raises(UsageError, match="byte 3"):
        list(FdReader(r).pieces())
    os.close(r)


def test_first_text_waits_for_words() -> None:
    assert "".join(first_text(iter([" ", "\n", "Hi", " there"]))) == " \nHi there"
    with pytest.raises(UsageError):
        first_text(iter([" ", "\n"]))



def _speak(ws: Any, text: str) -> bytes:
    """Send `text`'s "audio" (its characters as 16-bit samples) as one chunk frame; that audio."""
    pcm = b"".join(ord(c).to_bytes(2, "little") for c in text)
    ws.send(json.dumps({"status": "chunk", "data": {"audio": base64.b64encode(pcm).decode()}}))
    return pcm


@contextmanager
def completing_on_quiet(quiet_s: float) -> Iterator[tuple[str, list[dict[str, Any]]]]:
    """A real WebSocket server of the reading in which `complete` follows the last chunk after a
    pause, whatever `continue` says: each text is answered with a chunk (its characters as 16-bit
    samples), and `quiet_s` with no message ends the request and closes the socket. Its base URL,
    and per connection the texts received, the audio sent and whether it completed."""
    connections: list[dict[str, Any]] = []

    def handler(ws: Any) -> None:
        seen: dict[str, Any] = {"texts": [], "audio": b"", "completed": False}
        connections.append(seen)
        while True:
            try:
                message = json.loads(ws.recv(timeout=quiet_s if seen["texts"] else None))
            except TimeoutError:
                ws.send(json.dumps({"status": "complete"}))
                seen["completed"] = True
                return
            seen["texts"].append(message["text"])
            if message["text"]:
                seen["audio"] += _speak(ws, message["text"])

    with ws_server(handler) as base:
        yield base, connections


def test_a_request_the_server_completes_early_goes_on_in_a_new_one(server: Server, tmp_path: Path) -> None:
    """Live text that pauses longer than the server waits before `complete`: the text after the
    pause goes as a new request on a new connection, its audio after the first's; exit 0."""
    out = tmp_path / "live.pcm"
    with completing_on_quiet(0.3) as (base, connections):
        env = cli_env(server, tmp_path, SMALLEST_BASE_URL=base)
        with cli(["stream-ws", "--live", "-o", str(out)], env) as (proc, _):
            assert proc.stdin is not None
            proc.stdin.write(b"First sentence here.\n")
            proc.stdin.flush()
            wait_until(lambda: bool(connections) and connections[0]["completed"], timeout=15,
                       message="the first request completed by the server")
            proc.stdin.write(b"Second sentence arrives later.\n")
            proc.stdin.close()
            assert proc.wait(timeout=30) == 0, proc.stderr.read().decode() if proc.stderr else ""
    assert ["".join(c["texts"]).strip() for c in connections] == [
        "First sentence here.", "Second sentence arrives later."
    ]
    assert out.read_bytes() == b"".join(c["audio"] for c in connections)


@pytest.mark.parametrize("input_ends", ["after", "at once"])
def test_text_the_server_took_after_deciding_to_complete_is_sent_again(
    input_ends: str, server: Server, tmp_path: Path
) -> None:
    """A message on its way while the server decides to end the request is dropped by it: the
    message was sent after the last audio arrived, so it goes again in the next request. And once
    the input ends, no connection is opened for the closing flush alone."""
    connections: list[dict[str, Any]] = []
    dropped: list[str] = []

    def handler(ws: Any) -> None:
        seen: dict[str, Any] = {"texts": [], "audio": b""}
        connections.append(seen)
        while True:
            message = json.loads(ws.recv())
            if len(connections) == 1 and seen["texts"] and message["text"]:
                ws.send(json.dumps({"status": "complete"}))  # decided before this one arrived
                dropped.append(message["text"])
                return
            seen["texts"].append(message["text"])
            if message["text"]:
                seen["audio"] += _speak(ws, message["text"])
            if not message.get("continue"):
                ws.send(json.dumps({"status": "complete"}))
                return

    with ws_server(handler) as base:
        env = cli_env(server, tmp_path, SMALLEST_BASE_URL=base)
        with cli(["stream-ws", "--live", "--format", "pcm", "-o", "-"], env) as (proc, output):
            assert proc.stdin is not None
            proc.stdin.write(b"First sentence here.\n")
            proc.stdin.flush()
            # Received, so the next message goes after the last audio arrived.
            wait_until(lambda: bool(output.data), timeout=15, message="the first audio written")
            proc.stdin.write(b"Second sentence arrives later.\n")
            proc.stdin.flush()
            if input_ends == "after":  # the request ended while the input went on
                wait_until(lambda: bool(dropped), timeout=15, message="the second sentence dropped")
            proc.stdin.close()
            assert proc.wait(timeout=30) == 0, proc.stderr.read().decode() if proc.stderr else ""
            audio = output.join()
    assert ["".join(c["texts"]).strip() for c in connections] == [
        "First sentence here.", "Second sentence arrives later."
    ]
    assert audio == b"".join(c["audio"] for c in connections)


def test_no_connection_is_opened_for_the_closing_flush_alone(server: Server, tmp_path: Path) -> None:
    """The server ended the request in a pause, and then the input ended: nothing is left to say."""
    with completing_on_quiet(0.3) as (base, connections):
        env = cli_env(server, tmp_path, SMALLEST_BASE_URL=base)
        with cli(["stream-ws", "--live", "--format", "pcm", "-o", "-"], env) as (proc, output):
            assert proc.stdin is not None
            proc.stdin.write(b"Only sentence here.\n")
            proc.stdin.flush()
            wait_until(lambda: bool(connections) and connections[0]["completed"], timeout=15,
                       message="the request completed by the server")
            proc.stdin.close()
            assert proc.wait(timeout=30) == 0, proc.stderr.read().decode() if proc.stderr else ""
            audio = output.join()
    assert len(connections) == 1 and audio == connections[0]["audio"]


def test_text_that_brings_no_audio_is_sent_again_once_at_most(server: Server, tmp_path: Path) -> None:
    """Text the server has nothing to say for ("...") after the last audio: sent again once in
    case it was dropped, and not for ever."""
    connections: list[list[str]] = []

    def handler(ws: Any) -> None:
        texts: list[str] = []
        connections.append(texts)
        while True:
            message = json.loads(ws.recv())
            texts.append(message["text"])
            if any(c.isalpha() for c in message["text"]):
                _speak(ws, message["text"])
            if not message.get("continue"):
                ws.send(json.dumps({"status": "complete"}))
                return

    with ws_server(handler) as base:
        env = cli_env(server, tmp_path, SMALLEST_BASE_URL=base)
        with cli(["stream-ws", "--live", "--format", "pcm", "-o", "-"], env) as (proc, output):
            assert proc.stdin is not None
            proc.stdin.write(b"Words first.\n")
            proc.stdin.flush()
            wait_until(lambda: bool(output.data), timeout=15, message="the first audio written")
            proc.stdin.write(b"...\n")
            proc.stdin.close()
            assert proc.wait(timeout=30) == 0, proc.stderr.read().decode() if proc.stderr else ""
    assert len(connections) == 2 and "".join(connections[1]).strip() == "..."


def test_live_input_claims_no_real_time_factor(env: dict[str, str], tmp_path: Path) -> None:
    """The input sets a live run's pace: a factor would only measure how fast it was typed."""
    args = ["stream-ws", "--live", "-o", str(tmp_path / "x.wav"), "--json"]
    result = run_cli(args, env, input=b"Hello there.\n")
    assert result.returncode == 0, result.stderr.decode()
    assert json.loads(result.stdout)["realtime_factor"] is None
