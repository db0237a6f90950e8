"""Long text end to end: any length through every transport, gapless and in order, with
--concurrency, one WebSocket for all segments, and flat memory however long the text."""

from __future__ import annotations

import json
import unicodedata
from pathlib import Path

import pytest
import requests

from scripts.peak_rss import run_with_peak_rss
from smallest_cli.protocol.segment import segment_text
from tests.helpers import Server, cli_env, run_cli, running_server
from tests.test_cli_support import reference

COMMANDS = ("speak", "stream-sse", "stream-ws")
_WORDS = "the quick brown fox jumps over a lazy dog while seven bright stars shine on".split()


def long_text(chars: int, seed: int = 7) -> str:
    """Deterministic prose of about `chars` characters: sentences and clauses of varied length."""
    out: list[str] = []
    size = 0
    n = seed
    while size < chars:
        n = (n * 1103515245 + 12345) % 2**31
        count = 4 + n % 14
        words = [_WORDS[(n >> (k % 16)) % len(_WORDS)] for k in range(count)]
        sentence = " ".join(words).capitalize() + ".!?,;"[n % 5]
        out.append(sentence)
        size += len(sentence) + 1
    return " ".join(out)[:chars].rstrip()


TEXT_5K = long_text(5000)


@pytest.fixture(scope="module")
def expected_5k(server: Server) -> bytes:
    """What the CLI must produce: the server's PCM for each segment, concatenated."""
    parts = segment_text(TEXT_5K)
    assert len(parts) > 20
    return b"".join(reference(server, part, "pcm") for part in parts)


def journal(server: Server) -> list[dict]:
    return requests.get(server.url + "/_smallest/requests", timeout=10).json()["requests"]


@pytest.mark.parametrize("command", COMMANDS)
@pytest.mark.parametrize("concurrency", [1, 3])
def test_5000_characters_equal_the_concatenated_segments(
    command: str, concurrency: int, expected_5k: bytes, server: Server, env: dict[str, str], tmp_path: Path
) -> None:
    out = tmp_path / "out.pcm"
    args = [command, "-f", str(tmp_path / "in.txt"), "-o", str(out), "--json"]
    args += ["--concurrency", str(concurrency)]
    (tmp_path / "in.txt").write_text(TEXT_5K, encoding="utf-8")
    result = run_cli(args, env)
    assert result.returncode == 0, result.stderr.decode()
    assert out.read_bytes() == expected_5k
    stats = json.loads(result.stdout)
    assert stats["segments"] == len(segment_text(TEXT_5K))
    assert stats["audio_bytes"] == len(expected_5k)


@pytest.mark.parametrize("keep_open", [True, False], ids=["keep-open", "close-after-complete"])
def test_websocket_segments_and_their_connections(
    keep_open: bool, server: Server, keep_open_server: Server, tmp_path: Path
) -> None:
    """Every segment in order; on one connection while the server keeps it open, else each on its
    own, opened while the segment before it streamed (the last of them, for no segment, unused)."""
    srv = keep_open_server if keep_open else server
    marker = f"Zebra marker {keep_open}."
    text = marker + " " + long_text(1200, seed=3)
    requests.delete(srv.url + "/_smallest/requests", timeout=10)
    result = run_cli(["stream-ws", text, "-o", str(tmp_path / "o.pcm")], cli_env(srv, tmp_path))
    assert result.returncode == 0, result.stderr.decode()
    ours = journal(srv)
    assert [e["body"]["text"] for e in ours] == segment_text(text)
    connections = [e["connection_id"] for e in ours]
    opened = requests.get(srv.url + "/_smallest/requests", timeout=10).json()["counters"]["ws_connections"]
    if keep_open:
        assert len(set(connections)) == 1
    else:
        assert len(set(connections)) == len(connections) and opened == len(connections) + 1


@pytest.mark.parametrize("command", ["speak", "stream-sse"])
def test_http_segments_share_one_connection(
    command: str, server: Server, env: dict[str, str], tmp_path: Path
) -> None:
    """Every segment's request reuses the first keep-alive connection (against the real service a
    new one would cost a TLS handshake per segment): SSE bodies are read to their end after `done`."""
    text = long_text(1200, seed=5)
    requests.delete(server.url + "/_smallest/requests", timeout=10)
    result = run_cli([command, text, "-o", str(tmp_path / "o.pcm")], env)
    assert result.returncode == 0, result.stderr.decode()
    counters = requests.get(server.url + "/_smallest/requests", timeout=10).json()["counters"]
    assert counters["requests"] == len(segment_text(text)) > 3
    assert counters["http_connections"] == 1


def test_concurrency_runs_requests_ahead_in_order(tmp_path: Path) -> None:
    """With 200 ms before each first chunk, three requests in flight overlap on the server, and the
    audio still comes out in order."""
    text = long_text(1500, seed=11)
    with running_server("--first-chunk-ms", "200") as srv:
        env = cli_env(srv, tmp_path)
        expected = b"".join(reference(srv, part, "pcm") for part in segment_text(text))
        requests.delete(srv.url + "/_smallest/requests", timeout=10)
        out = tmp_path / "c.pcm"
        result = run_cli(["stream-ws", text, "-o", str(out), "--concurrency", "3"], env)
        assert result.returncode == 0, result.stderr.decode()
        assert out.read_bytes() == expected
        counters = requests.get(srv.url + "/_smallest/requests", timeout=10).json()["counters"]
        assert counters["peak_active_requests"] >= 2
        # The server closes each socket after `complete`: a connection per request, and at most
        # one unused spare per transport of the three.
        segments = len(segment_text(text))
        assert segments <= counters["ws_connections"] <= segments + 3


#: Hindi written without spaces or dandas: a segment can only end between two characters, and
#: 250 (the request limit) falls inside the conjunct स्ते of the 42nd नमस्ते.
HINDI_RUN = "नमस्ते" * 100


@pytest.mark.parametrize("command", COMMANDS)
def test_text_without_spaces_is_split_between_characters(
    command: str, server: Server, env: dict[str, str], tmp_path: Path
) -> None:
    requests.delete(server.url + "/_smallest/requests", timeout=10)
    result = run_cli([command, HINDI_RUN, "-o", str(tmp_path / "o.pcm")], env)
    assert result.returncode == 0, result.stderr.decode()
    texts = [e["body"]["text"] for e in journal(server)]
    assert "".join(texts) == HINDI_RUN
    assert len(texts) > 1 and all(len(t) <= 250 for t in texts)
    # Every request holds whole characters (न, म, the conjunct स्ते): none starts with a vowel sign
    # or a virama, and none ends with a virama (its next letter would start the next request).
    assert not [t[:2] for t in texts if unicodedata.category(t[0]).startswith("M")]
    assert not [t[-2:] for t in texts if t.endswith("\N{DEVANAGARI SIGN VIRAMA}")]


def test_concurrency_must_be_positive(env: dict[str, str]) -> None:
    result = run_cli(["speak", "Hello.", "-o", "-", "--concurrency", "0"], env)
    assert result.returncode == 2
    assert b"--concurrency" in result.stderr


def peak_rss_kb(args: list[str], env: dict[str, str]) -> int:
    """Run the CLI in a wrapper that reports the process's peak RSS (VmHWM) at exit."""
    proc, peak = run_with_peak_rss(args, env)
    assert proc.returncode == 0, proc.stderr.decode()
    assert peak is not None, proc.stderr.decode()
    return peak


@pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="needs /proc (Linux)")
def test_memory_stays_flat_for_long_text(tmp_path: Path) -> None:
    """100 KB of text (about 1.9 hours of 8 kHz audio, 110 MB of PCM) costs no more memory than
    10 KB. The full 1 MB run (1.1 GB of PCM, about a minute through the tone engine) is
    `scripts/bench_long_text.py`; here a server with 500 ms chunks and no pacing keeps it fast."""
    with running_server("--chunk-ms", "500") as srv:
        env = cli_env(srv, tmp_path)
        peaks = {}
        for size in (10_000, 100_000):
            src = tmp_path / f"{size}.txt"
            src.write_text(long_text(size, seed=size), encoding="utf-8")
            out = tmp_path / f"{size}.pcm"
            peaks[size] = peak_rss_kb(["stream-ws", "-f", str(src), "-o", str(out), "-r", "8000", "-q"], env)
            assert out.stat().st_size > size * 500  # about 1100 bytes of 8 kHz PCM per character
    assert peaks[100_000] - peaks[10_000] < 8 * 1024, peaks
