"""The body of `smallest batch`: rows in, one audio file and one manifest record per row out.

It follows the one-way flow of every command, so its parts live where that flow puts them: the
rows are read in `source/batch.py` (text in, nothing decided); here each row becomes its request
options (protocol/request.py's checks, the same as for every flag), its output path
(`output/names.py`, `output/plan.py`) and its segments; the requests of all rows go through one
`Scheduler` (run/scheduler.py), up to --concurrency at once across rows, settling at what the
account allows; each row's events go through a `Pipeline` (retries, roll-back) into a `FileSink`;
the manifest (`output/manifest.py`) and the display (`output/batch_display.py`) are outputs like
the audio.

Rows are written one after the other, in input order, in the main thread, while the requests of
the rows after it already run: the file of each row is whole before it gets its final name, and
Ctrl-C stops at a row boundary or inside one row (kept as FILE.part). Rows with nothing to send
(skipped, or failed before any request) are settled as the scheduler's feed reaches them, up to
--concurrency rows ahead of the one being written. Nothing is kept per row but the manifest's
index of rows done (for the skip) and the outputs used (two rows may not share one): memory
stays flat however many rows there are.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import json
import os
import sys
import threading
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any, NamedTuple

from smallest_cli.errors import (
    AuthError,
    InputError,
    Interrupted,
    NetworkError,
    RowsFailed,
    SmallestError,
    UsageError,
    eprint,
)
from smallest_cli.options.config import guarded_with_config
from smallest_cli.options.layers import given_flag
from smallest_cli.options.parse import Args
from smallest_cli.options.resolve import (
    MARKDOWN_SUFFIXES,
    check_concurrency,
    key_warnings,
    resolve_connection,
    resolve_markdown,
    resolve_synthesis,
)
from smallest_cli.options.settings import ConnectionOptions
from smallest_cli.options.table import BATCH_TRANSPORTS, BY_FIELD, DEFAULT_FORMAT, DEFAULT_TEMPLATE
from smallest_cli.output import sinks
from smallest_cli.output.batch_display import BatchDisplay
from smallest_cli.output.cache import CacheStore
from smallest_cli.output.display import choose_mode, counted
from smallest_cli.output.manifest import (
    MANIFEST_NAME,
    Done,
    Manifest,
    file_digest,
    is_done,
    load_index,
    record,
    settings_of,
)
from smallest_cli.output.names import check_template, output_path, render
from smallest_cli.output.plan import check_output_path, format_named, plan_output, require_stdout
from smallest_cli.protocol.request import (
    SynthesisOptions,
    build_request,
    check_language,
    check_model,
    check_sample_rate,
    check_speed,
    check_voice,
)
from smallest_cli.run.cached import Lookup, NoTransport, look_up, replay
from smallest_cli.run.pipeline import (
    NullObserver,
    Pipeline,
    Prefetch,
    Prepared,
    first_and_rest,
    segments_from_chunks,
)
from smallest_cli.run.scheduler import Ahead, Scheduler
from smallest_cli.run.synth import cache_store, debug_log
from smallest_cli.source.batch import Row, Shard, open_rows, parse_shard
from smallest_cli.source.textinput import open_text_file
from smallest_cli.transports import open_transport
from smallest_cli.transports.base import Transport

#: A row's fields that override the request options: the option's field and its check.
_ROW_OPTIONS: Mapping[str, tuple[str, Callable[[Any], Any]]] = {
    "voice": ("voice_id", lambda v: check_voice(str(v))),
    "model": ("model", check_model),
    "sample_rate": ("sample_rate", check_sample_rate),
    "speed": ("speed", check_speed),
    "language": ("language", lambda v: check_language(str(v))),
}


def run_batch(args: Args) -> None:
    """`smallest batch INPUT` with its parsed options."""
    with guarded_with_config(args) as config:
        _run(args, config)


class Settings(NamedTuple):
    """The batch's settings, checked before any request."""

    transport: str
    #: Every row's request options unless the row says otherwise.
    defaults: SynthesisOptions
    #: --format, when given.
    fmt: str | None
    conn: ConnectionOptions
    template: str
    out_dir: Path
    manifest: Path
    #: The input file (None for stdin or a directory): no row may write over it.
    source: Path | None
    shard: Shard
    #: The --code mode of rows read as Markdown (None: read as plain text): rows of text, and a
    #: directory's .md and .markdown files.
    markdown_text: str | None
    markdown_files: str | None
    #: The audio cache, when --cache (or `cache = true`) is on.
    cache: CacheStore | None


def _settings(args: Args, config: dict[str, str]) -> Settings:
    def spelled(field: str) -> str:
        return BY_FIELD[field].spellings[0]

    if args.json_output:
        require_stdout("the --json report")
    transport = BATCH_TRANSPORTS.get(args.transport)
    if transport is None:
        raise UsageError(
            f"{spelled('transport')} must be {', '.join(BATCH_TRANSPORTS)}, not {args.transport!r}"
        )
    defaults = resolve_synthesis(args, os.environ, config)
    if defaults.pronunciation_dicts and transport == "websocket":
        raise UsageError(
            f"{spelled('pronunciation_dicts')} needs {spelled('transport')} sse or sync: "
            "the WebSocket message has no such field"
        )
    fmt = format_named(args.fmt) if args.fmt is not None else None
    conn = resolve_connection(args, os.environ, config)
    for warning in key_warnings(flag_key=args.api_key, environ=os.environ, config=config):
        eprint(warning)
    check_concurrency(args.concurrency)
    out_dir = Path(given_flag("out_dir", args))
    manifest = given_flag("manifest", args)
    # A directory's rows are files: named after them (`{id}`), unless --name says otherwise.
    template = given_flag("name", args) or ("{id}" if os.path.isdir(args.input) else DEFAULT_TEMPLATE)
    return Settings(
        transport=transport,
        defaults=defaults,
        fmt=fmt,
        conn=conn,
        template=check_template(template, spelled("name")),
        out_dir=out_dir,
        manifest=Path(manifest) if manifest else out_dir / MANIFEST_NAME,
        source=Path(args.input) if args.input != "-" and not os.path.isdir(args.input) else None,
        shard=parse_shard(given_flag("shard", args), spelled("shard")),
        markdown_text=resolve_markdown(args, os.environ, config, markdown_file=False),
        markdown_files=resolve_markdown(args, os.environ, config, markdown_file=True),
        cache=cache_store(args, config),
    )


def _run(args: Args, config: dict[str, str]) -> None:
    settings = _settings(args, config)
    rows = open_rows(args.input, sys.stdin)
    _make_dir(settings.out_dir)
    done = {} if args.force else load_index(settings.manifest)
    display = BatchDisplay(choose_mode(args.quiet, sys.stderr), transport=args.transport)
    if display.mode == "live" and rows.count is not None:
        _count_ahead(rows.count, settings.shard, display)
    log = debug_log(args.debug)

    def make_transport() -> Transport:
        return open_transport(settings.transport, settings.conn, log)

    manifest = Manifest(settings.manifest)
    # Names the transport for the pipelines' stats; every request goes through the scheduler's own.
    named = make_transport()
    scheduler = Scheduler(make_transport, args.concurrency)
    try:
        batch = _Batch(settings, done, manifest, display, named)
        with display:
            batch.run(rows.rows, scheduler)
    finally:
        scheduler.close()
        named.close()
        manifest.close()
    _report(args, settings, display)


def _report(args: Args, settings: Settings, display: BatchDisplay) -> None:
    tally = display.tally
    if args.json_output:
        summary = {**tally.as_dict(), "total_ms": round(display.elapsed() * 1000, 1),
                   "transport": args.transport, "out_dir": str(settings.out_dir),
                   "manifest": str(settings.manifest)}
        print(json.dumps(summary), flush=True)
    else:
        display.summary(str(settings.manifest))
    if tally.failed:
        rows = counted(tally.rows, "row", "rows")
        raise RowsFailed(f"{tally.failed} of {rows} failed; their errors are in {settings.manifest}")


def _make_dir(directory: Path) -> None:
    try:
        directory.mkdir(parents=True, exist_ok=True)
    except FileExistsError:
        raise UsageError(f"cannot use {directory} as the output directory: it is a file") from None
    except OSError as err:
        raise UsageError(f"cannot make the directory {directory}: {err.strerror or err}") from None


def _count_ahead(count: Callable[[Shard], int], shard: Shard, display: BatchDisplay) -> None:
    """Count the rows, reading the input again in a thread, for the progress bar: the first
    request must not wait for it."""

    def run() -> None:
        try:
            display.total = count(shard)
        except SmallestError:
            return  # the batch reads the input as well, and says what is wrong with it

    threading.Thread(target=run, name="smallest-count", daemon=True).start()


# -- a row's plan --------------------------------------------------------------------------------------


@dataclasses.dataclass
class RowPlan:
    """What a row will do: its output, options and segments; or why it fails; or that it is done."""

    n: int
    id: str | None
    output: Path | None = None
    options: SynthesisOptions | None = None
    fmt: str = "wav"
    settings: dict[str, Any] | None = None
    #: Its text's requests, the first one known to exist; None when nothing is to be sent.
    segments: Iterator[str] | None = None
    error: str | None = None
    #: The manifest says it is done: no request.
    skip: bool = False
    #: Its render in the audio cache (with --cache): a hit (`entry`) is written with no request, a
    #: miss is stored as it streams.
    cached: Lookup | None = None
    #: It failed: send no more of its requests.
    cancelled: bool = False
    #: Its last request has been handed out: the row is known to have no more without reading
    #: the next row (which, on a pipe, may not have come yet).
    taken_all: bool = False


def row_options(defaults: SynthesisOptions, fields: Mapping[str, Any]) -> SynthesisOptions:
    """The row's request options: `defaults`, with each field the row gives checked and put in."""
    changes = {
        attr: check(value)
        for key, (attr, check) in _ROW_OPTIONS.items()
        if (value := fields.get(key)) is not None and str(value).strip()
    }
    return dataclasses.replace(defaults, **changes)


def _segments(pieces: Iterable[str], markdown: str | None) -> Iterator[str]:
    """The requests of a row's text (read as Markdown when `markdown` is a --code mode), checked
    to be at least one: an empty text is a UsageError."""
    if markdown is not None:
        from smallest_cli.source.markdown import spoken

        pieces = spoken(pieces, markdown)
    return first_and_rest(segments_from_chunks(pieces))


def _read(rows: Iterable[Row]) -> Iterator[Row]:
    """The rows; what stops the input being read past a row is an InputError, no row's fault."""
    try:
        yield from rows
    except UsageError as err:
        raise InputError(str(err)) from None


def _text_of(value: Any) -> str | None:
    return None if value is None or not str(value).strip() else str(value)


class _Batch:
    """Plans, writes and records the rows; see the module docstring."""

    def __init__(
        self,
        settings: Settings,
        done: dict[int, Done],
        manifest: Manifest,
        display: BatchDisplay,
        named: Transport,
    ) -> None:
        self.settings = settings
        self.done = done
        self.manifest = manifest
        self.display = display
        self.named = named
        #: Each output used so far (made absolute), and the row that uses it; the manifest's (0)
        #: and the input file's (-1) are no row's: a row's audio renamed over one would lose it.
        self.used: dict[str, int] = {os.path.realpath(settings.manifest): 0}
        if settings.source is not None:
            self.used.setdefault(os.path.realpath(settings.source), -1)

    def run(self, rows: Iterable[Row], prefetch: Prefetch) -> None:
        shard = self.settings.shard
        plans = (self.plan(row) for row in _read(rows) if shard.takes(row.n))
        feed = RowFeed(plans, self.settle, prefetch, self.display.on_limit)
        for plan in feed.rows():
            self.write(plan, feed)

    def plan(self, row: Row) -> RowPlan:
        plan = RowPlan(row.n, _text_of(row.fields.get("id")))
        try:
            if row.error is not None:
                raise UsageError(row.error)
            self._place(plan, row)
            text_sha, pieces = self._text(row)
            markdown = self._markdown(row)
            assert plan.options is not None and plan.output is not None
            plan.settings = settings_of(plan.options, plan.fmt, text_sha, markdown)
            if is_done(self.done.get(row.n), plan.output, plan.settings):
                plan.skip = True
                return plan
            plan.segments = _segments(pieces(), markdown)
            cache = self.settings.cache
            if cache is not None:
                # The whole text is read to name the render (spooled: memory stays flat).
                plan.cached = look_up(cache, plan.segments, plan.options, self.settings.conn.base_url)
                plan.segments = None if plan.cached.entry is not None else iter(plan.cached.requests)
        except UsageError as err:
            plan.error = str(err)
        return plan

    def _place(self, plan: RowPlan, row: Row) -> None:
        """The row's options, output path and format, checked; the output's directory made."""
        fields = row.fields
        plan.options = row_options(self.settings.defaults, fields)
        row_fmt = _text_of(fields.get("format"))
        fmt = format_named(row_fmt) if row_fmt is not None else self.settings.fmt
        name = _text_of(fields.get("output")) or render(
            self.settings.template, row.n, plan.id, plan.options.voice_id, str(fields.get("text", ""))
        )
        path = output_path(self.settings.out_dir, name, fmt or DEFAULT_FORMAT)
        output = plan_output(str(path), fmt, False)
        for warning in output.warnings:
            self.display.note(warning)
        other = self.used.setdefault(os.path.realpath(path), row.n)
        if other == 0:
            raise UsageError(f"{path} is the manifest: name the row's output otherwise")
        if other == -1:
            raise UsageError(f"{path} is the batch's input: name the row's output otherwise")
        if other != row.n:
            raise UsageError(f"row {other} writes {path} already")
        _make_dir(path.parent)
        check_output_path(path)
        assert output.file_format is not None
        plan.output, plan.fmt = path, output.file_format

    def _text(self, row: Row) -> tuple[str, Callable[[], Iterable[str]]]:
        """The row's text as its sha256, and a way to read it (a directory's file is read then)."""
        path = row.path
        if path is None:
            text = str(row.fields.get("text", ""))
            return hashlib.sha256(text.encode("utf-8")).hexdigest(), lambda: [text]
        found = file_digest(path)
        if found is None:
            raise UsageError(f"cannot read {path}")
        # open_text_file checks first that the whole file is UTF-8 text.
        return found[0], lambda: open_text_file(path)

    def _markdown(self, row: Row) -> str | None:
        """The row's --code mode when its text is read as Markdown, else None."""
        if row.path is not None and row.path.name.lower().endswith(MARKDOWN_SUFFIXES):
            return self.settings.markdown_files
        return self.settings.markdown_text

    def settle(self, plan: RowPlan) -> None:
        """A row with nothing to send: skipped, written from the audio cache, or recorded as failed."""
        if plan.skip:
            self.display.row_skipped()
        elif plan.cached is not None and plan.cached.entry is not None:
            hit = plan.cached
            try:
                self._write(plan, replay(hit.entry, hit.requests), hit=True)
            finally:
                hit.close()
        else:
            self._failed(plan, plan.error or "")

    def write(self, plan: RowPlan, feed: RowFeed) -> None:
        """Write a row whose requests run through `feed`."""
        try:
            self._write(plan, feed.requests(plan), hit=False, drop=lambda: feed.drop(plan))
        finally:
            if plan.cached is not None:
                plan.cached.close()

    def _write(
        self,
        plan: RowPlan,
        requests: Iterable[Prepared],
        *,
        hit: bool,
        drop: Callable[[], None] | None = None,
    ) -> None:
        """Write one row from its `requests` into its file, and record it; `drop` forgets the
        requests left when the row fails. A `hit` is read from the audio cache while another row
        is being written: it is not the display's current row."""
        assert plan.output is not None and plan.options is not None
        if not hit:
            self.display.row_started(plan.n)
        conn = self.settings.conn
        try:
            sink = sinks.FileSink(plan.output, plan.fmt, plan.options.sample_rate)
            outputs: list[Any] = [sink]
            words: list[Any] = []
            if plan.cached is not None and plan.cached.entry is None:
                store = plan.cached.writer(self.display.note)  # a miss: stored as it streams
                outputs.insert(0, store)
                words.append(store.words)
            pipeline = Pipeline(
                transport=NoTransport(self.named.name) if hit else self.named, options=plan.options,
                sinks=outputs, observer=NullObserver() if hit else self.display,
                retries=conn.retries, max_wait=conn.timeout, output=str(plan.output), file_format=plan.fmt,
                word_sinks=words,
            )
            stats = pipeline.run(requests)
            found = file_digest(plan.output)
            if found is None:
                raise UsageError(f"cannot read back {plan.output}")
        except (Interrupted, AuthError, NetworkError, InputError):
            raise  # no row can go on: stop the batch (a rerun goes on from here)
        except SmallestError as err:
            if drop is not None:
                drop()
            self._failed(plan, str(err))
            return
        with contextlib.suppress(OSError):
            sink.part_path.unlink(missing_ok=True)  # what an earlier, stopped run kept of this row
        sha, size = found
        self.manifest.append(record(
            plan.n, plan.id, plan.output, plan.settings, base=self.manifest.path.parent,
            audio_seconds=stats.audio_seconds, size=size, sha256=sha, request_id=stats.request_id,
        ))
        self.display.row_written(plan.n, stats.audio_seconds, size, cached=hit)

    def _failed(self, plan: RowPlan, error: str) -> None:
        self.manifest.append(
            record(plan.n, plan.id, plan.output, plan.settings, base=self.manifest.path.parent, error=error)
        )
        self.display.row_failed(plan.n, error)


# -- the rows' requests, run ahead across rows ----------------------------------------------------------


class RowFeed:
    """The rows that send requests, in input order, each with its requests (`requests`), which run
    ahead through `prefetch` (the scheduler) across rows. Rows that send none are handed to
    `settle` as the feed passes them."""

    def __init__(
        self,
        plans: Iterable[RowPlan],
        settle: Callable[[RowPlan], None],
        prefetch: Prefetch,
        on_limit: Callable[[int], None],
    ) -> None:
        self._settle = settle
        #: Rows whose requests the feed has begun, not yet handed out by `rows`.
        self._waiting: deque[RowPlan] = deque()
        #: The row of each request sent ahead and not yet taken, in order, and whether it is the
        #: row's last.
        self._owners: deque[tuple[RowPlan, bool]] = deque()
        #: The next request, taken from the scheduler to see whose it is.
        self._held: Ahead | None = None
        #: Why the input could not be read past the rows planned: raised once they are written.
        self._unread: InputError | None = None
        self._ahead = prefetch.ahead(self._bodies(plans), on_limit)

    def _bodies(self, plans: Iterable[RowPlan]) -> Iterator[dict[str, Any]]:
        for plan in self._readable(plans):
            if plan.segments is None:
                self._settle(plan)
                continue
            self._waiting.append(plan)
            assert plan.options is not None
            # One request ahead within the row: its last is marked as it is sent.
            text = next(plan.segments, None)
            while text is not None and not plan.cancelled:
                following = next(plan.segments, None)
                self._owners.append((plan, following is None))
                yield build_request(text, plan.options)
                text = following

    def _readable(self, plans: Iterable[RowPlan]) -> Iterator[RowPlan]:
        """The plans until the input cannot be read: the requests of the rows before go on, and
        the error waits for `rows` (raised in a row's requests, it would fail that row)."""
        try:
            yield from plans
        except InputError as err:
            self._unread = err

    def rows(self) -> Iterator[RowPlan]:
        """The rows that send requests; then InputError if the input could not be read to its end."""
        while self._waiting or self._pull():
            yield self._waiting.popleft()
        if self._unread is not None:
            raise self._unread

    def requests(self, plan: RowPlan) -> Iterator[Prepared]:
        """`plan`'s requests, each with its events and its `again` (for a retry)."""
        while (item := self._take(plan)) is not None:
            yield Prepared(*item)

    def drop(self, plan: RowPlan) -> None:
        """`plan` failed: send no more of its requests, and drop those already sent."""
        plan.cancelled = True
        # Only those sent: taking one more would read the next row, which may not have come yet.
        while self._owners and self._owners[0][0] is plan and self._take(plan) is not None:
            pass

    def _pull(self) -> bool:
        """Take the next request from the scheduler, if any: the rows before it are then known."""
        if self._held is None:
            self._held = next(self._ahead, None)
        return bool(self._waiting)

    def _take(self, plan: RowPlan) -> Ahead | None:
        if plan.taken_all:
            return None
        self._pull()
        if self._held is None or self._owners[0][0] is not plan:
            return None
        _, plan.taken_all = self._owners.popleft()
        item, self._held = self._held, None
        return item


