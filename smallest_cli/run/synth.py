"""The body of `speak`, `stream-sse` and `stream-ws`: parsed options in, a finished run out.

The plan, in data-flow order: settings and outputs are resolved and checked, the text is read up
to the first request's worth (so that no connection carries the key before the input is known to
be good), the transport starts connecting while the outputs open, and the pipeline streams the
segments into the outputs and the display. With the audio cache on, the whole text is read first
(`run.cached`): a hit is replayed with no connection at all, a miss is stored as it streams.

Live text, captions and --concurrency import their modules only when asked for: every module
imported before the first audio byte delays it (tests/test_startup.py pins this).
"""

from __future__ import annotations

import json
import os
import sys
import time
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple

from smallest_cli import startup
from smallest_cli.errors import SmallestError, UsageError, eprint
from smallest_cli.options.parse import Args
from smallest_cli.options.settings import ConnectionOptions
from smallest_cli.options.table import BY_FIELD, SYNTH_COMMANDS
from smallest_cli.output.plan import OutputPlan
from smallest_cli.protocol.contract import MAX_TEXT_CHARS
from smallest_cli.protocol.request import SynthesisOptions
from smallest_cli.transports.base import Transport

if TYPE_CHECKING:
    from smallest_cli.output.cache import CacheStore, EntryWriter
    from smallest_cli.output.display import Display
    from smallest_cli.run.cached import Lookup
    from smallest_cli.run.pipeline import Prefetch, Prepared
    from smallest_cli.source.places import SpokenPlaces
    from smallest_cli.source.text import Text
    from smallest_cli.transports.dial import Dial


def run_synth(command: str, args: Args, dial: Dial | None = None) -> None:
    """Run synthesis command `command` (speak, stream-sse or stream-ws) with its parsed options."""
    started = time.monotonic()
    from smallest_cli.options.config import guarded_with_config

    try:
        with guarded_with_config(args) as config:
            _run(SYNTH_COMMANDS[command], args, config, started, dial)
    finally:
        if dial is not None:
            dial.close()


class Settings(NamedTuple):
    """Everything resolved and checked before any connection is made."""

    plan: OutputPlan
    captions: Path | None
    options: SynthesisOptions
    conn: ConnectionOptions
    #: Markdown's code-block mode when the text is read as Markdown, else None.
    markdown: str | None
    #: The audio cache, when --cache (or `cache = true`) is on.
    cache: CacheStore | None


def _run(transport_name: str, args: Args, config: dict[str, str], started: float, dial: Dial | None) -> None:
    from smallest_cli.source.text import TextSource

    settings = _settings(transport_name, args, config)
    live = args.live if transport_name == "websocket" else False
    source = TextSource(args.text, args.file, live, sys.stdin)
    places = _places(args, settings)

    def read() -> Text:
        return _spoken(source.read(), settings.markdown, places)

    if settings.cache is None:
        _send(transport_name, args, settings, read, started, dial=dial, at_once=not source.waits)
        return
    # The whole text is read and split into its requests before any connection: a hit makes none.
    text = read()
    if text.live:
        _send(transport_name, args, settings, lambda: text, started)
        return
    from smallest_cli.run.cached import look_up

    # Without the pauses of piped text: nothing is sent before its end anyway, and they would make
    # the requests, and so the render's name, depend on how fast the text was written.
    whole = text._replace(pieces=(piece for piece in text.pieces if piece))
    found = look_up(settings.cache, _plain_segments(whole), settings.options, settings.conn.base_url)
    try:
        if found.entry is not None:
            _replay(transport_name, args, settings, found, text, started)
        else:
            _send(transport_name, args, settings, lambda: text, started, found, at_once=True)
    finally:
        found.close()


def _send(
    transport_name: str,
    args: Args,
    settings: Settings,
    read_text: Callable[[], Text],
    started: float,
    miss: Lookup | None = None,
    dial: Dial | None = None,
    at_once: bool = False,
) -> None:
    """Make the requests and stream their audio; `miss`: the cache's, whose requests are spooled
    already and whose render is stored as it streams; `at_once`: the text is read without waiting
    (an argument, a file, a text read already)."""
    from smallest_cli.transports import open_transport

    log = debug_log(args.debug)
    # Unless `__main__` started them from the parsed arguments (run/early.py), TCP and TLS start
    # now, while the network library imports and stdin is awaited (transports/dial.py).
    if dial is None:
        from smallest_cli.run.early import start_dial

        dial = start_dial(settings.conn.base_url, settings.conn.timeout, args.concurrency, os.environ)
    try:
        # The first request's text is read and checked before any connection carries the key:
        # before the network library loads when that needs no waiting (see `_read_ahead`).
        ahead = _read_ahead(transport_name, settings, read_text, miss, dial) if at_once else None
        transport = open_transport(transport_name, settings.conn, log, dial)
    except BaseException:
        if dial is not None:
            dial.close()
        raise
    prefetch = None
    try:
        if ahead is None:
            text = read_text()
            segments = _segments(text, transport, settings.options)
        else:
            text, segments = ahead
        if args.concurrency > 1 and not text.live:
            from smallest_cli.run.scheduler import Scheduler

            prefetch = Scheduler(lambda: open_transport(transport_name, settings.conn, log), args.concurrency)
        else:
            # Connects in the background while the outputs and the display are set up.
            transport.preconnect(live=text.live)
            if text.size is not None and text.size > MAX_TEXT_CHARS:
                transport.expect_more()
            from smallest_cli.run.first import send_first

            segments = send_first(transport, segments, settings.options)
        writer = None if miss is None else miss.writer(eprint)
        outputs = _open_outputs(settings, args.device, writer)
        cache = "off" if writer is None else "miss"
        _stream(args, settings, transport, segments, outputs, prefetch, started, text, cache)
    finally:
        if prefetch is not None:
            prefetch.close()
        transport.close()


def _read_ahead(
    transport_name: str,
    settings: Settings,
    read_text: Callable[[], Text],
    miss: Lookup | None,
    dial: Dial | None,
) -> tuple[Text, Iterable[str | Prepared]]:
    """The text and its requests, the first one's checked; a WebSocket run's early connection
    then sends the upgrade as soon as it can, while websockets imports (run/early.py)."""
    text = read_text()
    segments = _plain_segments(text) if miss is None else miss.requests
    if dial is not None and transport_name == "websocket":
        from smallest_cli.run.early import upgrade_early

        upgrade_early(dial, settings.conn)
    return text, segments


def _replay(
    transport_name: str, args: Args, settings: Settings, hit: Lookup, text: Text, started: float
) -> None:
    """Play or write a stored render: the pipeline as usual, its events read from the cache."""
    from smallest_cli.run.cached import NoTransport, replay

    assert hit.entry is not None
    outputs = _open_outputs(settings, args.device)
    segments = replay(hit.entry, hit.requests)
    transport = NoTransport(transport_name)
    _stream(args, settings, transport, segments, outputs, None, started, text, "hit")


def _settings(transport_name: str, args: Args, config: dict[str, str]) -> Settings:
    from smallest_cli.options.resolve import (
        check_concurrency,
        key_warnings,
        resolve_connection,
        resolve_markdown,
        resolve_synthesis,
    )
    from smallest_cli.output.plan import check_distinct, check_output_path, plan_output, require_stdout
    from smallest_cli.source.text import is_tty

    plan = plan_output(args.output, args.fmt, args.play, stdout_is_tty=is_tty(sys.stdout))
    if plan.to_stdout:
        require_stdout("the audio (-o -)")
    elif args.json_output:
        require_stdout("the --json report")
    if plan.path is not None:
        # The first request goes out before the file opens (run/first.py).
        check_output_path(plan.path, stream_ok=True)
    for warning in plan.warnings:
        eprint(warning)
    captions = _caption_path(transport_name, args.captions)
    spelled = {field: BY_FIELD[field].spellings[0] for field in ("file", "output", "captions")}
    check_distinct({
        spelled["file"]: Path(args.file) if args.file else None,
        spelled["output"]: plan.path,
        spelled["captions"]: captions,
    })
    options = resolve_synthesis(
        args, os.environ, config, word_timestamps=args.word_timestamps or captions is not None
    )
    if options.word_timestamps:
        from smallest_cli.options.resolve import check_word_voice

        warning = check_word_voice(options.voice_id, captions=captions is not None)
        if warning:
            eprint(warning)
    # The key is needed even for a cache hit: the settings are checked the same way for every run.
    conn = resolve_connection(args, os.environ, config)
    for warning in key_warnings(flag_key=args.api_key, environ=os.environ, config=config):
        eprint(warning)
    check_concurrency(args.concurrency)
    markdown = resolve_markdown(args, os.environ, config)
    return Settings(plan, captions, options, conn, markdown, cache_store(args, config))


def _places(args: Args, settings: Settings) -> SpokenPlaces | None:
    """Where the words are in the source, when words are listed with their places: in --json and
    in a JSON caption file (SRT and WebVTT have no place for them)."""
    if not settings.options.word_timestamps:
        return None
    if not args.json_output:
        if settings.captions is None:
            return None
        from smallest_cli.output.captions import caption_format

        if caption_format(str(settings.captions)) != "json":
            return None
    from smallest_cli.source.places import SpokenPlaces

    return SpokenPlaces()


def _spoken(text: Text, markdown: str | None, places: SpokenPlaces | None = None) -> Text:
    """`text`, as the words a reader says when it is read as Markdown (`markdown`: the --code mode),
    both for the run and for the progress bar's count; the Markdown parser is imported only then.
    With `places`, the run's words are noted there as they are read, with their places in the source."""
    if markdown is None:
        if places is None:
            return text
        from smallest_cli.source.places import placed_plain

        return text._replace(pieces=placed_plain(text.pieces, places), places=places)
    from smallest_cli.source.markdown import spoken

    reread = text.reread
    return text._replace(
        pieces=spoken(text.pieces, markdown, places),
        reread=None if reread is None else lambda: spoken(reread(), markdown),
        places=places,
    )


def cache_store(args: Args, config: dict[str, str]) -> CacheStore | None:
    """The audio cache when it is on (output.cache is imported only then)."""
    from smallest_cli.options.resolve import resolve_cache

    cap = resolve_cache(args, os.environ, config)
    if cap is None:
        return None
    from smallest_cli.options.config import cache_dir
    from smallest_cli.output.cache import CacheStore

    return CacheStore(cache_dir(), cap)


def _segments(text: Text, transport: Transport, options: SynthesisOptions) -> Iterable[str | Prepared]:
    """The requests to make, once the first one's text has arrived: plain text segmented (a
    UsageError when it is empty), or live text as one request whose messages are sent as the text
    arrives (and sent again on a retry, until its first audio)."""
    from smallest_cli.run.pipeline import Prepared

    if not text.live:
        return _plain_segments(text)
    from smallest_cli.protocol.live import live_messages
    from smallest_cli.run.replay import LiveReplay
    from smallest_cli.source.live import first_text

    replay = LiveReplay(transport, live_messages(first_text(text.pieces), options))
    return [Prepared(None, replay.attempt(), again=replay.attempt)]


def _plain_segments(text: Text) -> Iterator[str]:
    """The requests of plain text (a UsageError when it is empty)."""
    from smallest_cli.run.pipeline import first_and_rest, segments_from_chunks

    return first_and_rest(segments_from_chunks(text.pieces))


def _stream(
    args: Args,
    settings: Settings,
    transport: Transport,
    segments: Iterable[str | Prepared],
    outputs: Outputs,
    prefetch: Prefetch | None,
    started: float,
    text: Text,
    cache: str,
) -> None:
    from smallest_cli.output.display import Display, choose_mode
    from smallest_cli.run.pipeline import Pipeline

    plan = settings.plan
    display = Display(
        mode=choose_mode(args.quiet, sys.stderr),
        transport="cache" if cache == "hit" else transport.name,
        voice=settings.options.voice_id,
        played_seconds=outputs.played_seconds,
        word_stream=None if args.json_output or not args.word_timestamps else (
            sys.stderr if plan.to_stdout else sys.stdout
        ),
        collect_words=args.json_output and settings.options.word_timestamps,
    )
    pipeline = Pipeline(
        transport=transport, options=settings.options, sinks=outputs.sinks, observer=display,
        retries=settings.conn.retries, max_wait=settings.conn.timeout,
        output=plan.output, file_format=plan.file_format, started=started,
        word_sinks=outputs.word_sinks, prefetch=prefetch, places=text.places,
    )
    if display.mode == "live" and text.reread is not None:
        _count_ahead(text.reread, display)
    startup.streaming_starts()
    with display:
        stats = pipeline.run(segments)
        stats.underruns = outputs.underruns()
    stats.cache = cache
    if cache == "hit" or text.live:
        stats.realtime_factor = None  # nothing was made, or the input set the pace
    if not args.json_output:
        display.summary(stats)
        return
    record: dict[str, Any] = stats.as_dict()
    if settings.options.word_timestamps:  # --word-timestamps, or --captions
        record["words"] = display.words
    print(json.dumps(record), file=sys.stderr if plan.to_stdout else sys.stdout, flush=True)


def _count_ahead(reread: Callable[[], Iterable[str]], display: Display) -> None:
    """Count the segments and characters of the whole text for the progress bar, in a thread:
    segmenting takes about a second per megabyte, which the first request must not wait for."""
    import threading

    from smallest_cli.run.pipeline import segments_from_chunks

    def count() -> None:
        segments = chars = 0
        try:
            for segment in segments_from_chunks(reread()):
                segments += 1
                chars += len(segment)
        except SmallestError:
            return  # the run reads the text as well, and says what is wrong with it
        display.expect(segments, chars)

    threading.Thread(target=count, name="smallest-count", daemon=True).start()


def debug_log(debug: bool) -> Any:
    """The request log for --debug (on stderr), else None; debuglog is imported only then."""
    if not debug:
        return None
    from smallest_cli.transports.debuglog import DebugLog

    return DebugLog(sys.stderr)


def _caption_path(transport_name: str, captions: str | None) -> Path | None:
    """The --captions file, checked before any request (exit 2 on speak/stream-sse: no word timings)."""
    if captions is None:
        return None
    if transport_name != "websocket":
        raise UsageError(
            "--captions needs word timestamps, which only stream-ws receives: "
            "use `smallest stream-ws --captions FILE`"
        )
    from smallest_cli.output.captions import caption_format
    from smallest_cli.output.plan import check_output_path

    caption_format(captions)
    path = Path(captions)
    check_output_path(path)
    return path


class Outputs(NamedTuple):
    """The opened sinks, the player among them when playing, and the caption file."""

    sinks: list[Any]
    player: Any | None
    word_sinks: list[Any]

    @property
    def played_seconds(self) -> Callable[[], float] | None:
        player = self.player
        return None if player is None else (lambda: float(player.played_seconds))

    def underruns(self) -> int:
        return int(self.player.underruns) if self.player is not None else 0


def _open_outputs(settings: Settings, device: str | None, cache: EntryWriter | None = None) -> Outputs:
    """The sinks for the plan: the cache's first (it stores a whole render even when playing its
    end is stopped), then file or stdout, then the player, then the caption file. A failure while
    opening one aborts those already open (no stray .part file, no cache entry)."""
    from smallest_cli.output import sinks as sink_mod
    from smallest_cli.output.plan import is_stream_target

    plan, sample_rate = settings.plan, settings.options.sample_rate
    opened: list[Any] = [] if cache is None else [cache]
    player = None
    try:
        if plan.path is not None and is_stream_target(plan.path):
            opened.append(sink_mod.stream_sink(plan.path, plan.file_format, sample_rate))
        elif plan.path is not None:
            opened.append(sink_mod.FileSink(plan.path, plan.file_format, sample_rate))
        elif plan.to_stdout:
            opened.append(sink_mod.StdoutSink(plan.file_format, sample_rate))
        if plan.play:
            from smallest_cli.output.devices import ensure_portaudio, resolve_device
            from smallest_cli.output.player import Player

            ensure_portaudio()
            player = Player(sample_rate, device=resolve_device(device))
            opened.append(sink_mod.PlayerSink(player))
        word_sinks = [] if cache is None else [cache.words]
        if settings.captions is not None:
            word_sinks.append(_caption_file(settings.captions))
    except BaseException:
        for sink in opened:
            sink.abort()
        if player is not None and not any(isinstance(s, sink_mod.PlayerSink) for s in opened):
            player.close()
        raise
    return Outputs(sinks=opened, player=player, word_sinks=word_sinks)


def _caption_file(path: Path) -> Any:
    from smallest_cli.output.captions import CaptionFile

    return CaptionFile(path, warn=eprint)
