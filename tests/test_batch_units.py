"""The pure parts of `smallest batch`: reading rows of each input kind (bad rows included), shards,
name templates and slugs, row options, the manifest's skip logic, and the feed that runs the rows'
requests ahead across rows through the real scheduler."""

from __future__ import annotations

import io
import json
import os
import threading
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import pytest

from smallest_cli.errors import InputError, ServerError, UsageError
from smallest_cli.events import AudioChunk, Done, Event
from smallest_cli.options.settings import ConnectionOptions
from smallest_cli.output import manifest
from smallest_cli.output.batch_display import BatchDisplay
from smallest_cli.output.names import check_template, output_path, render, slug
from smallest_cli.protocol.request import SynthesisOptions
from smallest_cli.run.batch import RowFeed, RowPlan, Settings, _Batch, row_options
from smallest_cli.run.scheduler import Scheduler
from smallest_cli.source.batch import (
    Row,
    Shard,
    json_row,
    open_rows,
    parse_shard,
    table_header,
    table_row,
    whole_lines,
)

# -- reading rows -------------------------------------------------------------------------------------


def _rows(path: Path | str, stdin: str = "") -> list[Row]:
    return list(open_rows(str(path), io.StringIO(stdin)).rows)


def test_a_file_of_lines_is_one_row_per_non_empty_line(tmp_path: Path) -> None:
    src = tmp_path / "prompts.txt"
    src.write_text("  First line.\n\n   \nSecond line.\nThird, with no newline", encoding="utf-8")
    rows = _rows(src)
    assert [(r.n, r.fields["text"]) for r in rows] == [
        (1, "First line."), (2, "Second line."), (3, "Third, with no newline")
    ]
    assert all(r.error is None for r in rows)


def test_stdin_is_one_row_per_line() -> None:
    rows = _rows("-", stdin="one\n\ntwo\n")
    assert [(r.n, r.fields["text"]) for r in rows] == [(1, "one"), (2, "two")]


def test_jsonl_rows_keep_their_fields_and_bad_lines_are_bad_rows(tmp_path: Path) -> None:
    src = tmp_path / "rows.jsonl"
    lines = [
        '{"text": "Hi.", "id": "a", "voice": "avery", "speed": 1.2, "sample_rate": 16000}',
        "",
        "not json",
        '["a list"]',
        '{"text": "x", "voic": "typo", "id": "c"}',
        '{"text": "x", "speed": [1]}',
        '{"text": "x", "math": true}',
        '{"id": "no-text"}',
        '{"text": 5}',
    ]
    src.write_text("\n".join(lines) + "\n", encoding="utf-8")
    rows = _rows(src)
    assert [r.n for r in rows] == list(range(1, 9))  # the blank line is no row
    assert rows[0] == Row(1, {"text": "Hi.", "id": "a", "voice": "avery", "speed": 1.2, "sample_rate": 16000})
    errors = [r.error for r in rows[1:]]
    assert errors[0].startswith("not JSON: Expecting value")
    assert errors[1] == "not a JSON object but list"
    assert errors[2].startswith("unknown field 'voic'; the fields are text, output, id")
    assert errors[3] == "speed must be a string or a number, not [1]"
    assert errors[4].startswith("unknown field 'math'")
    assert errors[5] == errors[6] == "no text: every row needs a text string"
    assert rows[3].fields == {"id": "c"}  # a bad row keeps its id for its record


def test_json_row_refuses_a_boolean_value() -> None:
    assert json_row(1, '{"text": "x", "speed": true}').error == "speed must be a string or a number, not true"


@pytest.mark.parametrize(("suffix", "sep"), [(".csv", ","), (".tsv", "\t")])
def test_csv_and_tsv_rows_by_their_header(tmp_path: Path, suffix: str, sep: str) -> None:
    src = tmp_path / f"rows{suffix}"
    body = [
        ["ID", " Text", "voice"], ["a", "Hello, there.", "avery"], [], ["b", "Second", ""], ["c", "short"]
    ]
    src.write_text("\n".join(sep.join(f'"{c}"' if sep in c else c for c in r) for r in body) + "\n")
    rows = _rows(src)
    assert rows[0] == Row(1, {"id": "a", "text": "Hello, there.", "voice": "avery"})
    assert rows[1] == Row(2, {"id": "b", "text": "Second"})  # an empty cell is no field
    assert rows[2].n == 3 and rows[2].error == "2 columns where the header has 3"


def test_a_csv_header_must_name_known_columns_with_text(tmp_path: Path) -> None:
    for header in (["id", "voice"], ["text", "colour"], ["text", "text"]):
        with pytest.raises(UsageError, match="the first row must name the columns"):
            table_header(header, "rows.csv")
    src = tmp_path / "rows.csv"
    src.write_text("txt\nhello\n")
    with pytest.raises(UsageError, match="rows.csv: the first row must name the columns"):
        open_rows(str(src), io.StringIO())
    src.write_text("")
    with pytest.raises(UsageError, match="is empty"):
        open_rows(str(src), io.StringIO())


def test_a_csv_row_without_text_has_empty_text() -> None:
    assert table_row(4, ["id", "text"], ["x", " "]) == Row(4, {"id": "x", "text": ""})


def test_a_directory_is_one_row_per_text_file_in_name_order(tmp_path: Path) -> None:
    book = tmp_path / "book"
    book.mkdir()
    for name in ("chapter-02.md", "chapter-01.txt", "cover.png", ".draft.txt", "notes.MD"):
        (book / name).write_text("text")
    (book / "sub.txt").mkdir()  # a directory is no row
    rows = _rows(book)
    assert [(r.n, r.path.name if r.path else None) for r in rows] == [
        (1, "chapter-01.txt"), (2, "chapter-02.md"), (3, "notes.MD")
    ]
    assert rows[0].fields == {"id": "chapter-01"}
    opened = open_rows(str(book), io.StringIO())
    assert opened.count is not None and opened.count(Shard(2, 2)) == 1


def test_bad_inputs_are_usage_errors(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="no such file or directory"):
        open_rows(str(tmp_path / "missing.jsonl"), io.StringIO())
    (tmp_path / "empty").mkdir()
    with pytest.raises(UsageError, match="has no .txt, .md, .markdown files"):
        open_rows(str(tmp_path / "empty"), io.StringIO())
    binary = tmp_path / "rows.txt"
    binary.write_bytes(b"hello\n\xff\xfe\n")
    with pytest.raises(UsageError, match="is not UTF-8 text"):
        open_rows(str(binary), io.StringIO())


def test_a_long_line_read_in_pieces_is_one_line() -> None:
    assert list(whole_lines(["ab", "c\n", "d\n", "e"])) == ["abc\n", "d\n", "e"]


def test_rows_are_counted_without_being_kept(tmp_path: Path) -> None:
    src = tmp_path / "rows.txt"
    src.write_text("".join(f"line {i}\n" for i in range(1, 11)))
    opened = open_rows(str(src), io.StringIO())
    assert opened.count is not None
    assert [opened.count(Shard(k, 3)) for k in (1, 2, 3)] == [4, 3, 3]
    assert open_rows("-", io.StringIO("x\n")).count is None  # stdin cannot be read twice


# -- shards --------------------------------------------------------------------------------------------


def test_shards_take_each_row_exactly_once() -> None:
    shards = [parse_shard(f"{k}/4", "--shard") for k in range(1, 5)]
    for n in range(1, 101):
        assert sum(shard.takes(n) for shard in shards) == 1
    assert [n for n in range(1, 10) if shards[1].takes(n)] == [2, 6]
    assert parse_shard(None, "--shard").takes(7)


@pytest.mark.parametrize("text", ["0/2", "3/2", "1/0", "a/b", "1", "1/2/3", "-1/2", ""])
def test_a_bad_shard_is_refused(text: str) -> None:
    with pytest.raises(UsageError, match="--shard must be K/N with 1 <= K <= N"):
        parse_shard(text, "--shard")


# -- names ---------------------------------------------------------------------------------------------


def test_templates_name_the_four_fields() -> None:
    template = check_template("{n:04d}-{id}-{voice}-{slug}", "--name")
    assert render(template, 7, "greet", "avery", "Hello, World!") == "0007-greet-avery-hello-world"
    assert render("{id}", 12, None, "magnus", "x") == "12"  # a row without an id: its number


@pytest.mark.parametrize(
    ("template", "message"),
    [
        ("{text}", "may name {n}, {id}, {voice}, {slug}, not {text}"),
        ("{n.real}", "not {n.real}"),
        ("{id[0]}", "not {id[0]}"),
        ("{}", "not {}"),
        ("{id:04d}", "is not a template"),
        ("{n", "is not a template"),
    ],
)
def test_a_bad_template_is_refused(template: str, message: str) -> None:
    with pytest.raises(UsageError, match=message.replace("{", r"\{").replace("[", r"\[")):
        check_template(template, "--name")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Hello, World!", "hello-world"),
        ("  Café déjà vu — naïve  ", "cafe-deja-vu-naive"),
        ("Order #42: ship it", "order-42-ship-it"),
        ("नमस्ते दुनिया", "untitled"),
        ("", "untitled"),
        ("a" * 60, "a" * 40),
        ("The quick brown fox jumps over the lazy dog again", "the-quick-brown-fox-jumps-over-the-lazy"),
    ],
)
def test_slug_is_short_and_file_safe(text: str, expected: str) -> None:
    assert slug(text) == expected
    assert len(slug(text)) <= 40


def test_output_paths_stay_under_the_directory(tmp_path: Path) -> None:
    assert output_path(tmp_path, "0001", "wav") == tmp_path / "0001.wav"
    assert output_path(tmp_path, "sub/a.mp3", "wav") == tmp_path / "sub" / "a.mp3"
    assert output_path(tmp_path, "chapter-01", "mp3") == tmp_path / "chapter-01.mp3"
    for name in ("/etc/passwd", "../up.wav", "a/../../b.wav", "", " ", ".", "a\0b"):
        with pytest.raises(UsageError, match="is not a file name under the output directory"):
            output_path(tmp_path, name, "wav")


# -- a row's options -----------------------------------------------------------------------------------

DEFAULTS = SynthesisOptions(voice_id="magnus", sample_rate=24000, math_notation=True)


def test_a_rows_fields_override_the_defaults_with_the_flags_checks() -> None:
    fields = {"voice": "AVERY", "speed": "1.5", "sample_rate": 16000, "language": "HI"}
    options = row_options(DEFAULTS, fields)
    assert (options.voice_id, options.speed, options.sample_rate, options.language) == (
        "avery", 1.5, 16000, "hi"
    )
    assert options.math_notation  # a flag no field sets stays
    assert row_options(DEFAULTS, {"voice": "", "speed": None}) == DEFAULTS  # empty: not given


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"speed": 3}, "speed must be a number from 0.5 to 2.0, not 3"),
        ({"speed": "fast"}, "speed must be a number"),
        ({"sample_rate": 22050}, "sample rate must be one of"),
        ({"model": "lightning_v9"}, "model must be one of"),
        ({"language": "xx"}, "language must be one of"),
        ({"voice": "two words"}, "a voice id has no spaces"),
    ],
)
def test_a_bad_field_is_the_flags_message(fields: dict[str, Any], message: str) -> None:
    with pytest.raises(UsageError, match=message):
        row_options(DEFAULTS, fields)


# -- the manifest ----------------------------------------------------------------------------------------

SETTINGS = manifest.settings_of(DEFAULTS, "wav", "abc")


def _record(n: int, output: str, sha: str | None, error: str | None = None) -> str:
    rec = manifest.record(n, None, Path(output), SETTINGS, error=error, sha256=sha)
    return json.dumps(rec)


def test_the_index_keeps_each_rows_last_record_when_it_is_ok() -> None:
    lines = [
        _record(1, "o/1.wav", "aa"),
        _record(2, "o/2.wav", "bb"),
        '{"n": 3, "status": "ok", "outp',  # cut short by a crash
        _record(2, "o/2.wav", None, error="server error"),  # a later failure undoes it
        _record(3, "o/3.wav", "cc", error="boom"),
        _record(3, "o/3.wav", "dd"),
        "[]",
    ]
    done = manifest.index(lines)
    assert sorted(done) == [1, 3]
    assert done[3] == manifest.Done(os.path.realpath("o/3.wav"), "dd", manifest.settings_key(SETTINGS))


def test_a_row_is_done_only_with_its_file_output_and_settings(tmp_path: Path) -> None:
    out = tmp_path / "0001.wav"
    out.write_bytes(b"RIFF audio")
    found = manifest.file_digest(out)
    assert found is not None and found[1] == 10
    done = manifest.Done(os.path.realpath(out), found[0], manifest.settings_key(SETTINGS))
    assert manifest.is_done(done, out, dict(SETTINGS))
    assert manifest.is_done(done, out, dict(reversed(list(SETTINGS.items()))))  # key order is no change
    assert not manifest.is_done(None, out, SETTINGS)
    assert not manifest.is_done(done, tmp_path / "other.wav", SETTINGS)
    assert not manifest.is_done(done, out, {**SETTINGS, "speed": 1.1})
    assert not manifest.is_done(done, out, {**SETTINGS, "text_sha256": "edited"})
    out.write_bytes(b"RIFF other")
    assert not manifest.is_done(done, out, SETTINGS)
    out.unlink()
    assert not manifest.is_done(done, out, SETTINGS)


def test_a_rerun_finds_the_file_however_the_directory_is_spelled(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "sub").mkdir()
    out = tmp_path / "out"
    out.mkdir()
    (out / "1.wav").write_bytes(b"RIFF one")
    sha = manifest.file_digest(out / "1.wav")
    assert sha is not None
    monkeypatch.chdir(tmp_path)
    rec = manifest.record(1, None, Path("out/1.wav"), SETTINGS, base=Path("out"), sha256=sha[0])
    old = {**rec, "n": 2, "file": None}  # a record with no `file`: its output as given
    (out / "manifest.jsonl").write_text(json.dumps(rec) + "\n" + json.dumps(old) + "\n")
    assert rec["file"] == "1.wav"
    for cwd, spelled in ((tmp_path, out / "1.wav"), (tmp_path / "sub", Path("../out/1.wav"))):
        monkeypatch.chdir(cwd)
        done = manifest.load_index(Path(os.path.relpath(out / "manifest.jsonl")))
        assert manifest.is_done(done[1], spelled, SETTINGS), cwd
    monkeypatch.chdir(tmp_path)
    done = manifest.load_index(out / "manifest.jsonl")
    assert manifest.is_done(done[2], out / "1.wav", SETTINGS)


def test_appending_after_a_record_cut_short_starts_a_new_line(tmp_path: Path) -> None:
    path = tmp_path / "manifest.jsonl"
    path.write_text(_record(1, "o/1.wav", "aa") + "\n" + '{"n": 2, "sta')
    writer = manifest.Manifest(path)
    writer.append(json.loads(_record(3, "o/3.wav", "cc")))
    writer.close()
    lines = path.read_text().splitlines()
    assert len(lines) == 3 and json.loads(lines[2])["n"] == 3
    assert sorted(manifest.load_index(path)) == [1, 3]
    assert manifest.load_index(tmp_path / "none.jsonl") == {}


# -- the feed: rows' requests run ahead across rows, written in order --------------------------------------


class _Transport:
    name = "fake"

    def __init__(self, sent: list[str], lock: threading.Lock) -> None:
        self.sent, self.lock = sent, lock

    def stream(self, body: dict[str, Any]) -> Iterator[Event]:
        with self.lock:
            self.sent.append(body["text"])
        if body["text"].startswith("bad"):
            raise ServerError("refused")
        yield AudioChunk(body["text"].encode())
        yield Done()

    def close(self) -> None:
        return None


def _plan(n: int, *texts: str) -> RowPlan:
    return RowPlan(n, None, options=DEFAULTS, segments=iter(texts) if texts else None, skip=not texts)


def _feed(
    concurrency: int, plans: Iterable[RowPlan], written: dict[int, list[bytes]] | None = None
) -> tuple[dict[int, list[bytes]], list[int], list[str]]:
    """Run `plans` through a feed as the batch does: what each row was written (into `written`,
    kept if the feed raises), the rows settled without a request, and the texts the transports
    were sent. A row's ServerError fails that row only."""
    sent: list[str] = []
    lock = threading.Lock()
    scheduler = Scheduler(lambda: _Transport(sent, lock), concurrency)
    settled: list[int] = []
    feed = RowFeed(plans, lambda plan: settled.append(plan.n), scheduler, lambda allowed: None)
    written = {} if written is None else written
    try:
        for plan in feed.rows():
            chunks = written.setdefault(plan.n, [])
            try:
                for request in feed.requests(plan):
                    assert request.events is not None
                    chunks.extend(e.data for e in request.events if isinstance(e, AudioChunk))
            except ServerError:
                feed.drop(plan)
    finally:
        scheduler.close()
    return written, settled, sent


def _plans() -> list[RowPlan]:
    return [_plan(1, "1a", "1b"), _plan(2), _plan(3, "bad 3a", "3b", "3c"), _plan(4, "4a"), _plan(5)]


@pytest.mark.parametrize("concurrency", [1, 3])
def test_the_feed_gives_each_row_its_own_requests_in_order(concurrency: int) -> None:
    plans = _plans()
    written, settled, _ = _feed(concurrency, plans)
    assert written == {1: [b"1a", b"1b"], 3: [], 4: [b"4a"]}
    assert settled == [2, 5]
    assert plans[2].cancelled


def test_a_failed_row_sends_no_more_of_its_requests() -> None:
    """One at a time, the requests are made as they are needed: those after the failure never are."""
    _, _, sent = _feed(1, _plans())
    assert sent == ["1a", "1b", "bad 3a", "4a"]


@pytest.mark.parametrize("concurrency", [1, 3])
def test_an_unreadable_input_fails_no_row_and_stops_after_the_rows_before(concurrency: int) -> None:
    """The input is read ahead, inside a row's requests: its error must not become that row's."""

    def plans() -> Iterator[RowPlan]:
        yield _plan(1, "1a", "1b")
        yield _plan(2, "2a", "2b")
        raise InputError("stdin is not UTF-8 text")

    written: dict[int, list[bytes]] = {}
    with pytest.raises(InputError, match="stdin is not UTF-8 text"):
        _feed(concurrency, plans(), written)
    assert written == {1: [b"1a", b"1b"], 2: [b"2a", b"2b"]}


def test_a_rows_last_request_ends_it_before_the_next_row_is_read() -> None:
    """A row piped in is written, and saved, without waiting for the next line."""
    finished: list[int] = []

    def plans() -> Iterator[RowPlan]:
        yield _plan(1, "1a", "1b")
        assert finished == [1], "row 2 was read before row 1 was finished"
        yield _plan(2, "bad 2a", "2b")
        assert finished == [1, 2], "row 3 was read before row 2 was dropped"
        yield _plan(3, "3a")

    sent: list[str] = []
    scheduler = Scheduler(lambda: _Transport(sent, threading.Lock()), 1)
    feed = RowFeed(plans(), lambda plan: None, scheduler, lambda allowed: None)
    try:
        for plan in feed.rows():
            try:
                for request in feed.requests(plan):
                    assert request.events is not None
                    list(request.events)
            except ServerError:
                feed.drop(plan)
            finished.append(plan.n)
    finally:
        scheduler.close()
    assert finished == [1, 2, 3] and sent == ["1a", "1b", "bad 2a", "3a"]


# -- a row's plan: its output checked before any request ---------------------------------------------------


def _batch(
    out_dir: Path, fmt: str | None = None, template: str = "{n:04d}", source: Path | None = None
) -> _Batch:
    settings = Settings(
        transport="http", defaults=DEFAULTS, fmt=fmt, conn=ConnectionOptions(timeout=5.0, retries=0),
        template=template, out_dir=out_dir, manifest=out_dir / manifest.MANIFEST_NAME, source=source,
        shard=Shard(1, 1), markdown_text=None, markdown_files=None, cache=None,
    )
    display = BatchDisplay("quiet", transport="sync")
    return _Batch(settings, {}, manifest.Manifest(settings.manifest), display, named=None)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("fields", "fmt", "template"),
    [
        ({"output": "manifest.jsonl"}, "wav", "{n:04d}"),
        ({"output": "./manifest.jsonl"}, "wav", "{n:04d}"),
        ({}, "wav", "manifest.jsonl"),
    ],
)
def test_no_row_may_write_over_the_manifest(
    tmp_path: Path, fields: dict[str, str], fmt: str, template: str
) -> None:
    plan = _batch(tmp_path, fmt, template).plan(Row(1, {"text": "a", **fields}))
    assert plan.error == f"{tmp_path / 'manifest.jsonl'} is the manifest: name the row's output otherwise"


@pytest.mark.parametrize("output", ["rows.jsonl", "./rows.jsonl", "link.jsonl"])
def test_no_row_may_write_over_the_batch_input(tmp_path: Path, output: str) -> None:
    source = tmp_path / "rows.jsonl"
    source.write_text('{"text": "a"}\n')
    (tmp_path / "link.jsonl").symlink_to("rows.jsonl")
    plan = _batch(tmp_path, "wav", source=source).plan(Row(1, {"text": "a", "output": output}))
    assert plan.error == f"{tmp_path / output} is the batch's input: name the row's output otherwise"


def test_an_output_name_the_system_refuses_fails_its_row(tmp_path: Path) -> None:
    batch = _batch(tmp_path, template="{n:>300}")
    too_long = batch.plan(Row(1, {"text": "a"}))
    assert too_long.error == f"cannot write {tmp_path / (' ' * 299 + '1.wav')}: File name too long"
    nul = batch.plan(Row(2, {"text": "a", "output": "a\0b"}))
    assert nul.error == "output 'a\\x00b' is not a file name under the output directory"
