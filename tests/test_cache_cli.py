"""The audio cache end to end: the real CLI against a real `smallest serve`, each test with a cache
directory of its own (cli_env's XDG_CACHE_HOME). A hit is checked on the server's side: no request,
not even a connection, reaches it."""

from __future__ import annotations

import json
import time
import uuid
from pathlib import Path

import pytest
import requests

from tests.helpers import Server, cli_env, run_cli, running_server
from tests.test_cli_support import add_fault, reference
from tests.test_live_text import cli

COMMANDS = ["speak", "stream-sse", "stream-ws"]


def traffic(server: Server) -> tuple[int, int, int]:
    """What reached the server: TTS requests, HTTP connections and WebSocket connections."""
    counters = requests.get(server.url + "/_smallest/requests", timeout=10).json()["counters"]
    return counters["requests"], counters["http_connections"], counters["ws_connections"]


def unique_text() -> str:
    return f"Cached {uuid.uuid4().hex[:8]}, said twice, with a few more words for several chunks."


def stats(result: object) -> dict:
    assert result.returncode == 0, result.stderr.decode()  # type: ignore[attr-defined]
    return json.loads(result.stdout)  # type: ignore[attr-defined]


def run_json(env: dict[str, str], *args: str) -> dict:
    """Run the CLI with `args` and --json; its stats."""
    return stats(run_cli([*args, "--json"], env))


def cache_root(env: dict[str, str]) -> Path:
    return Path(env["XDG_CACHE_HOME"]) / "smallest"


@pytest.mark.parametrize("command", COMMANDS)
def test_the_second_run_makes_no_request_and_writes_the_same_bytes(
    command: str, server: Server, env: dict[str, str], tmp_path: Path
) -> None:
    text = unique_text()
    first = run_json(env, command, text, "-o", str(tmp_path / "1.wav"), "--cache")
    assert first["cache"] == "miss" and first["request_id"]
    before = traffic(server)
    second = run_json(env, command, text, "-o", str(tmp_path / "2.wav"), "--cache")
    assert second["cache"] == "hit"
    assert traffic(server) == before
    assert (tmp_path / "2.wav").read_bytes() == (tmp_path / "1.wav").read_bytes()
    assert (tmp_path / "1.wav").read_bytes() == reference(server, text, "wav")
    assert second["audio_bytes"] == first["audio_bytes"]


def test_one_render_serves_every_format_and_transport(
    server: Server, env: dict[str, str], tmp_path: Path
) -> None:
    """The entry is PCM: a wav run's render is an mp3 on stdout, over another transport, with no
    request; the same bytes as an mp3 made without the cache."""
    text = unique_text()
    assert run_json(env, "speak", text, "-o", str(tmp_path / "a.wav"), "--cache")["cache"] == "miss"
    before = traffic(server)
    hit = run_cli(["stream-ws", text, "-o", "-", "--format", "mp3", "--cache", "-q"], env)
    assert hit.returncode == 0, hit.stderr.decode()
    assert traffic(server) == before
    uncached = run_cli(["stream-sse", text, "-o", "-", "--format", "mp3", "-q"], env)
    assert hit.stdout == uncached.stdout and len(hit.stdout) > 1000


@pytest.mark.parametrize(("flag", "value"), [("--voice", "avery"), ("--speed", "1.5"), ("-r", "16000")])
def test_a_changed_setting_is_a_miss(
    flag: str, value: str, server: Server, env: dict[str, str], tmp_path: Path
) -> None:
    text = unique_text()
    run_json(env, "speak", text, "-o", str(tmp_path / "a.wav"), "--cache")
    before = traffic(server)
    changed = run_json(env, "speak", text, flag, value, "-o", str(tmp_path / "b.wav"), "--cache")
    assert changed["cache"] == "miss"
    assert traffic(server)[0] == before[0] + 1
    assert (tmp_path / "b.wav").read_bytes() != (tmp_path / "a.wav").read_bytes()


def test_cache_true_in_the_config_file_turns_it_on_and_no_cache_off(
    server: Server, env: dict[str, str], tmp_path: Path
) -> None:
    config = Path(env["XDG_CONFIG_HOME"]) / "smallest" / "config.toml"
    config.parent.mkdir(parents=True)
    config.write_text("cache = true\n")
    text = unique_text()
    assert run_json(env, "stream-sse", text, "-o", str(tmp_path / "a.wav"))["cache"] == "miss"
    assert run_json(env, "stream-sse", text, "-o", str(tmp_path / "b.wav"))["cache"] == "hit"
    before = traffic(server)
    off = run_json(env, "stream-sse", text, "-o", str(tmp_path / "c.wav"), "--no-cache")
    assert off["cache"] == "off" and traffic(server)[0] == before[0] + 1


def test_a_run_without_the_cache_says_off_and_stores_nothing(env: dict[str, str], tmp_path: Path) -> None:
    result = run_cli(["speak", unique_text(), "-o", str(tmp_path / "a.wav"), "--json"], env)
    assert stats(result)["cache"] == "off"
    assert not cache_root(env).exists()


def test_a_hit_needs_no_server(tmp_path: Path) -> None:
    """The server that made the render is gone: the hit still plays out, exit 0 (the key is still
    needed: the settings are checked as for any run)."""
    text = unique_text()
    with running_server() as gone:
        env = cli_env(gone, tmp_path)
        run_json(env, "stream-ws", text, "-o", str(tmp_path / "a.wav"), "--cache")
    hit = run_cli(["stream-ws", text, "-o", str(tmp_path / "b.wav"), "--cache"], env)
    assert hit.returncode == 0, hit.stderr.decode()
    assert (tmp_path / "b.wav").read_bytes() == (tmp_path / "a.wav").read_bytes()
    assert hit.stderr.decode().startswith("smallest: ") and "(from cache, magnus)" in hit.stderr.decode()


def test_a_hit_writes_the_same_captions_and_words(
    server: Server, env: dict[str, str], tmp_path: Path
) -> None:
    text = "\n\n".join(f"Paragraph {n} of the {unique_text()}" for n in range(8))  # several requests
    (tmp_path / "in.txt").write_text(text)

    def run(name: str) -> dict:
        out, captions = str(tmp_path / f"{name}.wav"), str(tmp_path / f"{name}.srt")
        args = ["-v", "avery", "-f", str(tmp_path / "in.txt"), "-o", out, "--captions", captions, "--cache"]
        return run_json(env, "stream-ws", *args)

    first = run("a")
    before = traffic(server)
    second = run("b")
    assert (first["cache"], second["cache"]) == ("miss", "hit") and traffic(server) == before
    assert first["segments"] == second["segments"] > 1
    assert second["words"] == first["words"] and len(first["words"]) > 50
    assert (tmp_path / "b.srt").read_bytes() == (tmp_path / "a.srt").read_bytes()
    assert (tmp_path / "b.wav").read_bytes() == (tmp_path / "a.wav").read_bytes()


def test_a_long_text_run_ahead_is_stored_and_replayed_in_order(
    server: Server, env: dict[str, str], tmp_path: Path
) -> None:
    (tmp_path / "in.txt").write_text(" ".join(f"Sentence {n} of {unique_text()}" for n in range(12)))
    args = ["-f", str(tmp_path / "in.txt"), "--concurrency", "3", "--cache", "--format", "pcm"]
    first = run_json(env, "stream-sse", *args, "-o", str(tmp_path / "a.pcm"))
    before = traffic(server)
    second = run_json(env, "stream-sse", *args, "-o", str(tmp_path / "b.pcm"))
    assert (first["cache"], second["cache"]) == ("miss", "hit") and traffic(server) == before
    assert second["segments"] == first["segments"] > 3
    assert (tmp_path / "b.pcm").read_bytes() == (tmp_path / "a.pcm").read_bytes()


def test_piped_text_names_its_render_whatever_the_pauses_of_the_writer(
    server: Server, env: dict[str, str], tmp_path: Path
) -> None:
    """A pause of the writer sends the finished sentence at once without the cache (its own
    request); with it, nothing goes before the end, so the pause changes neither the requests nor
    the render's name."""
    first, second = f"First {unique_text()}", f"Second {unique_text()}"
    args = ["stream-ws", "--no-live", "--cache", "--json", "-o"]
    with cli([*args, str(tmp_path / "a.wav")], env) as (proc, out):
        assert proc.stdin is not None
        proc.stdin.write(f"{first}\n".encode())
        proc.stdin.flush()
        time.sleep(0.3)  # the writer pauses (the input's shape, not a wait for anything)
        proc.stdin.write(f"{second}\n".encode())
        proc.stdin.close()
        assert proc.wait(timeout=30) == 0
        paused = json.loads(out.join())
    whole = run_cli([*args, str(tmp_path / "b.wav")], env, input=f"{first}\n{second}\n".encode())
    assert (paused["cache"], stats(whole)["cache"]) == ("miss", "hit")
    assert (tmp_path / "b.wav").read_bytes() == (tmp_path / "a.wav").read_bytes()


def test_live_input_is_not_cached(env: dict[str, str], tmp_path: Path) -> None:
    args = ["stream-ws", "--live", "--cache", "-o", str(tmp_path / "a.wav"), "--json"]
    for _ in range(2):
        result = run_cli(args, env, input=b"Spoken as it arrives.\n")
        assert stats(result)["cache"] == "off"
    assert not cache_root(env).exists()


@pytest.mark.parametrize(
    ("command", "transport"), [("speak", "sync"), ("stream-sse", "sse"), ("stream-ws", "ws")]
)
def test_an_interrupted_render_stores_nothing(
    command: str, transport: str, server: Server, env: dict[str, str], tmp_path: Path
) -> None:
    text = unique_text()
    add_fault(server, kind="drop", transport=transport, after_chunks=3, text_contains=text)
    failed = run_cli([command, text, "-o", str(tmp_path / "a.wav"), "--cache", "--retries", "0"], env)
    assert failed.returncode == 5, failed.stderr.decode()
    assert list(cache_root(env).iterdir()) == []  # no entry, no leftover of the one being written
    again = run_json(env, command, text, "-o", str(tmp_path / "b.wav"), "--cache")
    assert again["cache"] == "miss"
    assert (tmp_path / "b.wav").read_bytes() == reference(server, text, "wav")


def test_cache_path_info_and_clear(env: dict[str, str], tmp_path: Path) -> None:
    root = cache_root(env)
    path = run_cli(["cache", "path"], env)
    assert path.returncode == 0 and path.stdout.decode() == f"{root}\n"
    empty = run_cli(["cache", "info", "--json"], env)
    assert json.loads(empty.stdout) == {"path": str(root), "entries": 0, "bytes": 0, "max_bytes": 500_000_000}
    for n in range(2):
        run_json(env, "speak", unique_text(), "-o", str(tmp_path / f"{n}.wav"), "--cache")
    size = sum(f.stat().st_size for f in root.rglob("*") if f.is_file())
    info = json.loads(run_cli(["cache", "info", "--json"], env).stdout)
    assert info == {"path": str(root), "entries": 2, "bytes": size, "max_bytes": 500_000_000}
    plain = run_cli(["cache", "info"], env)
    assert plain.stdout.decode() == f"2 renders, {size / 1e6:.1f} MB of 500.0 MB, in {root}\n"
    cleared = run_cli(["cache", "clear"], env)
    assert cleared.returncode == 0
    assert cleared.stdout.decode() == f"removed 2 renders ({size / 1e6:.1f} MB) from {root}\n"
    assert list(root.iterdir()) == []
    assert json.loads(run_cli(["cache", "info", "--json"], env).stdout)["entries"] == 0


def test_the_size_cap_from_the_config_file_evicts(env: dict[str, str], tmp_path: Path) -> None:
    """Each render is about 0.8 MB (17 s at 24 kHz): a 1 MB cap keeps the most recent one only."""
    config = Path(env["XDG_CONFIG_HOME"]) / "smallest" / "config.toml"
    config.parent.mkdir(parents=True)
    config.write_text("cache = true\ncache_max_mb = 1\n")
    words = " ".join(["syllable"] * 30)
    for n in range(3):
        run_json(env, "speak", f"{n} {words}", "-o", str(tmp_path / f"{n}.wav"))
    info = json.loads(run_cli(["cache", "info", "--json"], env).stdout)
    assert info["max_bytes"] == 1_000_000
    assert info["entries"] == 1 and 700_000 < info["bytes"] <= 1_000_000
    last = run_json(env, "speak", f"2 {words}", "-o", str(tmp_path / "again.wav"))
    assert last["cache"] == "hit"  # the most recent one stayed
