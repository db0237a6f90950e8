"""End to end: `smallest batch` (the real CLI) against the real local server. Files are compared
with what the server's sync endpoint returns for the same request; the server's journal shows
which requests were made."""

from __future__ import annotations

import hashlib
import json
import signal
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from smallest_cli.protocol.segment import segment_text
from smallest_cli.protocol.wav import wav_header
from tests.helpers import Server, cli_env, run_cli, running_server
from tests.test_cli_support import add_fault, clear_faults, reference
from tests.test_reliability import SIGNALS, stop_mid_stream


def batch(
    args: list[str], env: dict[str, str], input: bytes | None = None
) -> subprocess.CompletedProcess[bytes]:
    return run_cli(["batch", *args], env, input=input)


def counter(server: Server, name: str) -> int:
    return int(requests.get(server.url + "/_smallest/requests", timeout=10).json()["counters"].get(name, 0))


def records(manifest: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in manifest.read_text(encoding="utf-8").splitlines()]


def write_jsonl(path: Path, rows: list[dict[str, Any]]) -> Path:
    path.write_text("".join(json.dumps(row) + "\n" for row in rows), encoding="utf-8")
    return path


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


# -- each kind of input ------------------------------------------------------------------------------------


def test_jsonl_rows_become_files_of_the_servers_audio(
    server: Server, env: dict[str, str], tmp_path: Path
) -> None:
    src = write_jsonl(tmp_path / "rows.jsonl", [
        {"text": "Welcome to the batch."},
        {"text": "A voice of its own.", "id": "greet", "voice": "avery"},
        {"text": "An mp3 at sixteen kilohertz.", "output": "calls/low.mp3", "sample_rate": 16000},
    ])
    out = tmp_path / "out"
    result = batch([str(src), "--out-dir", str(out), "--name", "{n:02d}-{id}-{slug}", "--json"], env)
    assert result.returncode == 0, result.stderr.decode()
    files = {
        out / "01-1-welcome-to-the-batch.wav": reference(server, "Welcome to the batch.", "wav"),
        out / "02-greet-a-voice-of-its-own.wav": reference(
            server, "A voice of its own.", "wav", voice="avery"
        ),
        out / "calls" / "low.mp3": reference(server, "An mp3 at sixteen kilohertz.", "mp3", rate=16000),
    }
    for path, expected in files.items():
        assert path.read_bytes() == expected, path
    recs = records(out / "manifest.jsonl")
    ids = (None, "greet", None)
    assert [(r["n"], r["id"], r["status"], r["output"]) for r in recs] == [
        (n, id_, "ok", str(path)) for n, id_, path in zip((1, 2, 3), ids, files, strict=True)
    ]
    for rec, path in zip(recs, files, strict=True):
        assert rec["sha256"] == sha256(path) and rec["bytes"] == path.stat().st_size
        assert rec["request_id"] and rec["audio_seconds"] > 0.5 and rec["error"] is None
    assert recs[1]["settings"]["voice"] == "avery" and recs[2]["settings"]["format"] == "mp3"
    summary = json.loads(result.stdout)
    assert (summary["rows"], summary["ok"], summary["failed"], summary["skipped"]) == (3, 3, 0, 0)
    assert not list(out.rglob("*.part*"))


@pytest.mark.parametrize("kind", ["csv", "tsv", "lines", "stdin"])
def test_csv_tsv_lines_and_stdin_rows(kind: str, server: Server, env: dict[str, str], tmp_path: Path) -> None:
    texts = ["First prompt, with a comma.", "Second prompt."]
    stdin = None
    if kind in ("csv", "tsv"):
        sep = "," if kind == "csv" else "\t"
        src = tmp_path / f"rows.{kind}"
        lines = [f"id{sep}text{sep}format\n"] + [f'r{i}{sep}"{t}"{sep}ulaw\n' for i, t in enumerate(texts)]
        src.write_text("".join(lines))
        names, fmt = ["r0.ulaw", "r1.ulaw"], "ulaw"
    else:
        src, fmt, names = tmp_path / "lines.txt", "wav", ["0001.wav", "0002.wav"]
        src.write_text("\n".join(texts) + "\n\n")
        if kind == "stdin":
            stdin, src = src.read_bytes(), Path("-")
    out = tmp_path / "out"
    args = [str(src), "--out-dir", str(out)] + (["--name", "{id}"] if fmt == "ulaw" else [])
    result = batch(args, env, input=stdin)
    assert result.returncode == 0, result.stderr.decode()
    for name, text in zip(names, texts, strict=True):
        assert (out / name).read_bytes() == reference(server, text, fmt)
    assert result.stderr.decode().startswith("smallest: 2 rows: 2 ok; ")  # the one-line summary


def test_a_directory_is_one_file_per_text_file_however_long(
    server: Server, env: dict[str, str], tmp_path: Path
) -> None:
    book = tmp_path / "book"
    book.mkdir()
    sentences = " ".join(f"Sentence number {i} of the **first** chapter is right here." for i in range(8))
    (book / "chapter-01.md").write_text(f"# Chapter one\n\n{sentences}\n")
    (book / "chapter-02.txt").write_text("The second chapter is *short*.\n")
    (book / "cover.jpg").write_bytes(b"\xff\xd8")
    out = tmp_path / "audiobook"
    result = batch([str(book), "--out-dir", str(out), "--transport", "sse"], env)
    assert result.returncode == 0, result.stderr.decode()
    # A .md file is read as Markdown (its words, no symbols), a .txt file as it is.
    spoken = "Chapter one. " + sentences.replace("**", "")
    parts = segment_text(spoken)
    assert len(parts) > 1  # one row, several requests
    pcm = b"".join(reference(server, part, "pcm") for part in parts)
    assert (out / "chapter-01.wav").read_bytes() == wav_header(24000, len(pcm)) + pcm
    assert (out / "chapter-02.wav").read_bytes() == reference(server, "The second chapter is *short*.", "wav")
    assert sorted(p.name for p in out.iterdir()) == ["chapter-01.wav", "chapter-02.wav", "manifest.jsonl"]


def test_name_applies_to_a_directorys_files_with_id_the_file_name(
    server: Server, env: dict[str, str], tmp_path: Path
) -> None:
    book = tmp_path / "book"
    book.mkdir()
    (book / "intro.txt").write_text("An introduction.\n")
    (book / "outro.txt").write_text("The end.\n")
    out = tmp_path / "out"
    result = batch([str(book), "--out-dir", str(out), "--name", "{n:02d}-{id}.mp3"], env)
    assert result.returncode == 0, result.stderr.decode()
    assert sorted(p.name for p in out.iterdir()) == ["01-intro.mp3", "02-outro.mp3", "manifest.jsonl"]
    assert (out / "02-outro.mp3").read_bytes() == reference(server, "The end.", "mp3")


def test_an_out_dir_that_is_a_file_is_named_as_one(env: dict[str, str], tmp_path: Path) -> None:
    src = tmp_path / "lines.txt"
    src.write_text("Row one.\n")
    (tmp_path / "out").write_text("not a directory")
    result = batch([str(src), "--out-dir", str(tmp_path / "out")], env)
    assert result.returncode == 2
    said = f"smallest: error: cannot use {tmp_path / 'out'} as the output directory: it is a file"
    assert result.stderr.decode().strip() == said


@pytest.mark.parametrize("flag", ["--name", "--out-dir", "--manifest", "--shard"])
def test_an_empty_flag_is_refused_not_read_as_the_default(
    flag: str, server: Server, env: dict[str, str], tmp_path: Path
) -> None:
    """`--name "$NAME"` with NAME unset: the batch does not run with the default instead."""
    src = tmp_path / "lines.txt"
    src.write_text("Row one.\n")
    out = [] if flag == "--out-dir" else ["--out-dir", str(tmp_path / "out")]
    before = counter(server, "requests")
    result = run_cli(["batch", str(src), *out, flag, ""], env, cwd=tmp_path)
    assert result.returncode == 2
    line = result.stderr.decode().strip()
    assert line == f"smallest: error: {flag} is empty: give a value, or leave the flag out"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["lines.txt"]
    assert counter(server, "requests") == before


# -- reruns and shards -------------------------------------------------------------------------------------


def test_a_rerun_skips_the_rows_done_and_force_redoes_them(
    server: Server, env: dict[str, str], tmp_path: Path
) -> None:
    src = tmp_path / "lines.txt"
    src.write_text("Row one.\nRow two.\nRow three.\n")
    out = tmp_path / "out"
    args = [str(src), "--out-dir", str(out), "--json"]

    def run(*extra: str) -> tuple[dict[str, Any], int]:
        before = counter(server, "requests")
        result = batch([*args, *extra], env)
        assert result.returncode == 0, result.stderr.decode()
        return json.loads(result.stdout), counter(server, "requests") - before

    first, sent = run()
    assert (first["ok"], sent) == (3, 3)
    again, sent = run()
    assert (again["ok"], again["skipped"], sent) == (0, 3, 0)  # no request at all
    # An edited row, and a file that is no longer the one written, are done again; nothing else is.
    src.write_text("Row one.\nRow two, edited.\nRow three.\n")
    (out / "0003.wav").write_bytes(b"not the audio")
    redo, sent = run()
    assert (redo["ok"], redo["skipped"], sent) == (2, 1, 2)
    assert (out / "0002.wav").read_bytes() == reference(server, "Row two, edited.", "wav")
    assert (out / "0003.wav").read_bytes() == reference(server, "Row three.", "wav")
    forced, sent = run("--force")
    assert (forced["ok"], forced["skipped"], sent) == (3, 0, 3)
    assert len(records(out / "manifest.jsonl")) == 3 + 2 + 3


def test_shards_split_the_rows_and_their_manifests_cover_each_once(
    server: Server, env: dict[str, str], tmp_path: Path
) -> None:
    src = tmp_path / "lines.txt"
    src.write_text("".join(f"Shard row {i}.\n" for i in range(1, 8)))
    out = tmp_path / "out"
    for k in (1, 2):
        args = [str(src), "--out-dir", str(out), "--shard", f"{k}/2", "--manifest", str(out / f"m{k}.jsonl")]
        result = batch(args, env)
        assert result.returncode == 0, result.stderr.decode()
    first, second = records(out / "m1.jsonl"), records(out / "m2.jsonl")
    assert [r["n"] for r in first] == [1, 3, 5, 7] and [r["n"] for r in second] == [2, 4, 6]
    assert sorted(r["n"] for r in first + second) == list(range(1, 8))
    for i in range(1, 8):
        assert (out / f"{i:04d}.wav").read_bytes() == reference(server, f"Shard row {i}.", "wav")


def test_with_the_cache_a_second_batch_sends_nothing_whatever_its_format(
    server: Server, env: dict[str, str], tmp_path: Path
) -> None:
    """Rows rendered once (--cache) are written again from the cache, into new files of another
    format, with no request; the manifest says the same of them as of rows sent."""
    texts = ["Cached row one.", "Cached row two, a little longer.", "Cached row three."]
    src = tmp_path / "lines.txt"
    src.write_text("\n".join(texts) + "\n")
    sent = []
    for out, extra in ((tmp_path / "wav", []), (tmp_path / "mp3", ["--format", "mp3", "--concurrency", "2"])):
        before = counter(server, "requests")
        result = batch([str(src), "--out-dir", str(out), "--cache", "--json", *extra], env)
        assert result.returncode == 0, result.stderr.decode()
        sent.append((counter(server, "requests") - before, json.loads(result.stdout)["cached"]))
    assert sent == [(3, 0), (0, 3)]
    for i, text in enumerate(texts, 1):
        assert (tmp_path / "mp3" / f"{i:04d}.mp3").read_bytes() == reference(server, text, "mp3")
    assert [r["status"] for r in records(tmp_path / "mp3" / "manifest.jsonl")] == ["ok"] * 3


# -- failures ----------------------------------------------------------------------------------------------


def test_bad_rows_are_recorded_and_the_others_go_on_exit_7(
    server: Server, env: dict[str, str], tmp_path: Path
) -> None:
    src = write_jsonl(tmp_path / "rows.jsonl", [
        {"text": "A good row."},
        {"text": "   "},
        {"text": "Too fast.", "speed": 9},
        {"text": "No such voice.", "voice": "nobody"},
        {"text": "Another good row."},
    ])
    out = tmp_path / "out"
    refused = counter(server, "bad_requests")
    result = batch([str(src), "--out-dir", str(out), "--concurrency", "2"], env)
    err = result.stderr.decode().splitlines()
    assert result.returncode == 7, err
    assert counter(server, "bad_requests") - refused == 1  # only the unknown voice was sent
    recs = {r["n"]: r for r in records(out / "manifest.jsonl")}
    assert {n: r["status"] for n, r in recs.items()} == {1: "ok", 2: "error", 3: "error", 4: "error", 5: "ok"}
    assert recs[2]["error"] == "no text to speak: the input is empty"
    assert recs[3]["error"] == "speed must be a number from 0.5 to 2.0, not 9"
    assert recs[4]["error"].startswith("request rejected (400): ") and "Invalid Voice ID" in recs[4]["error"]
    assert f"smallest: row 4 failed: {recs[4]['error']}" in err
    assert err[-1] == f"smallest: error: 3 of 5 rows failed; their errors are in {out / 'manifest.jsonl'}"
    assert (out / "0001.wav").read_bytes() == reference(server, "A good row.", "wav")
    assert (out / "0005.wav").read_bytes() == reference(server, "Another good row.", "wav")
    assert sorted(p.name for p in out.iterdir()) == ["0001.wav", "0005.wav", "manifest.jsonl"]


def test_a_wrong_key_stops_the_batch_at_once_with_exit_3(server: Server, tmp_path: Path) -> None:
    env = cli_env(server, tmp_path, SMALLEST_API_KEY="sk_wrong_0123456789")
    src = tmp_path / "lines.txt"
    src.write_text("".join(f"Row {i}.\n" for i in range(20)))
    out = tmp_path / "out"
    rejected = counter(server, "rejected_401")
    result = batch([str(src), "--out-dir", str(out), "--concurrency", "2"], env)
    assert result.returncode == 3
    assert result.stderr.decode().startswith("smallest: error: authentication failed (401)")
    assert len(result.stderr.decode().splitlines()) == 1
    assert counter(server, "rejected_401") - rejected <= 2  # those in flight, and no more
    assert (out / "manifest.jsonl").read_text() == "" and not list(out.glob("*.wav*"))


def test_an_unreadable_input_stops_after_the_rows_before_it_with_exit_2(
    server: Server, env: dict[str, str], tmp_path: Path
) -> None:
    out = tmp_path / "out"
    stdin = b"Good row one.\nSecond good row.\n\xff bad\nThird.\n"
    result = batch(["-", "--out-dir", str(out), "--concurrency", "3"], env, input=stdin)
    err = result.stderr.decode().splitlines()
    assert result.returncode == 2, err
    assert err[-1].startswith("smallest: error: stdin") and "UTF-8" in err[-1]
    assert [(r["n"], r["status"]) for r in records(out / "manifest.jsonl")] == [(1, "ok"), (2, "ok")]
    assert (out / "0002.wav").read_bytes() == reference(server, "Second good row.", "wav")
    assert sorted(p.name for p in out.iterdir()) == ["0001.wav", "0002.wav", "manifest.jsonl"]


@pytest.fixture(scope="module")
def limited_server() -> Iterator[Server]:
    """An account that allows one request at once, each held for 250 ms or more: requests sent
    together overlap whatever the machine's speed."""
    with running_server("--max-concurrency", "1", "--first-chunk-ms", "250") as srv:
        yield srv


def test_more_concurrency_than_the_account_allows_settles_and_finishes(
    limited_server: Server, tmp_path: Path
) -> None:
    env = cli_env(limited_server, tmp_path)
    src = tmp_path / "lines.txt"
    src.write_text("".join(f"Limited row {i}.\n" for i in range(1, 7)))
    out = tmp_path / "out"
    refused = counter(limited_server, "rejected_429")
    result = batch([str(src), "--out-dir", str(out), "--concurrency", "4", "--json"], env)
    err = result.stderr.decode()
    assert result.returncode == 0, err
    assert json.loads(result.stdout)["ok"] == 6
    assert counter(limited_server, "rejected_429") > refused  # the account did refuse some
    assert err.splitlines() == ["smallest: the account allows fewer requests at once; going on with 1"]
    for i in range(1, 7):
        assert (out / f"{i:04d}.wav").read_bytes() == reference(limited_server, f"Limited row {i}.", "wav")


# -- Ctrl-C and SIGTERM --------------------------------------------------------------------------------------


@SIGNALS
def test_a_stopped_batch_keeps_its_finished_rows_and_a_rerun_does_the_rest(
    sig: signal.Signals, code: int, word: str, server: Server, env: dict[str, str], tmp_path: Path
) -> None:
    mark = f"stalls{sig.value}x{tmp_path.name[-6:]}"
    texts = [f"Stopped row {i} {mark if i == 3 else ''}".strip() + "." for i in range(1, 6)]
    src = tmp_path / "lines.txt"
    src.write_text("\n".join(texts) + "\n")
    out = tmp_path / "out"
    manifest = out / "manifest.jsonl"
    # Row 3 stalls mid-stream (after more audio than a file's write buffer holds): the batch is
    # stopped while it writes that row.
    add_fault(server, kind="stall", transport="ws", after_chunks=20, stall_ms=30000, text_contains=mark)
    try:
        args = ["batch", str(src), "--out-dir", str(out)]
        returncode, stderr = stop_mid_stream(args, env, out / "0003.wav", 0, sig)
    finally:
        clear_faults(server)
    assert returncode == code
    part = out / "0003.wav.part"
    assert stderr.decode().splitlines() == [f"smallest: {word}; the audio received so far is in {part}"]
    kept = records(manifest)
    assert [(r["n"], r["status"]) for r in kept] == [(1, "ok"), (2, "ok")]
    for rec in kept:
        assert sha256(Path(rec["output"])) == rec["sha256"]
    # No unfinished row under its final name, and no work file left.
    assert sorted(p.name for p in out.iterdir()) == ["0001.wav", "0002.wav", part.name, "manifest.jsonl"]

    before = counter(server, "requests")
    result = batch([str(src), "--out-dir", str(out), "--json"], env)
    assert result.returncode == 0, result.stderr.decode()
    summary = json.loads(result.stdout)
    assert (summary["ok"], summary["skipped"]) == (3, 2)
    assert counter(server, "requests") - before == 3
    for i, text in enumerate(texts, 1):
        assert (out / f"{i:04d}.wav").read_bytes() == reference(server, text, "wav")
    assert not list(out.glob("*.part*"))
    assert [r["n"] for r in records(manifest)] == [1, 2, 3, 4, 5]
