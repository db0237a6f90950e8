"""Plain text from a slow pipe: a finished sentence is sent as soon as the writer pauses after it,
not when a full segment or EOF arrives. End to end with the real CLI and `smallest serve`."""

from __future__ import annotations

from pathlib import Path

import pytest
import requests

from tests.helpers import Server, wait_until
from tests.test_cli_support import reference
from tests.test_live_text import cli


def texts_with(server: Server, tag: str) -> list[str]:
    """The text of every request (or WebSocket message) the server received that contains `tag`."""
    entries = requests.get(server.url + "/_smallest/requests", timeout=10).json()["requests"]
    # The server is shared: other tests' bodies may be any JSON (a list, a malformed request).
    bodies = [e.get("body") for e in entries]
    return [b["text"] for b in bodies if isinstance(b, dict) and tag in str(b.get("text", ""))]


@pytest.mark.parametrize(
    "args", [["speak"], ["stream-sse"], ["stream-ws", "--no-live"]], ids=["speak", "sse", "ws-no-live"]
)
def test_a_finished_sentence_is_sent_while_the_pipe_is_still_open(
    args: list[str], server: Server, env: dict[str, str], tmp_path: Path
) -> None:
    tag = "Pipe" + "".join(word.strip("-").capitalize() for word in args)
    first, second = f"First sentence {tag}.", f"Second one {tag}."
    out = tmp_path / "out.pcm"
    with cli([*args, "-o", str(out)], env) as (proc, _):
        assert proc.stdin is not None
        proc.stdin.write(f"{first}\n".encode())
        proc.stdin.flush()
        # The second sentence is not written until the first one has gone out.
        wait_until(lambda: texts_with(server, tag), timeout=15, message="the first sentence's request")
        assert proc.poll() is None
        assert texts_with(server, tag) == [first]
        proc.stdin.write(f"{second}\n".encode())
        proc.stdin.close()
        assert proc.wait(timeout=30) == 0, proc.stderr.read().decode() if proc.stderr else ""
    assert texts_with(server, tag) == [first, second]
    assert out.read_bytes() == reference(server, first) + reference(server, second)
