"""`smallest speak`, `smallest stream-sse`, `smallest stream-ws`: one set of options, one pipeline.

This module only parses options and wires resolve → sinks → transport → pipeline → display.
Everything heavy (requests, websockets, sounddevice, numpy) is imported inside `run_synth`.
"""

from __future__ import annotations

import gc
import inspect
import json
import os
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple

from smallest_cli.cli import EXIT_CODES_HELP
from smallest_cli.commands.common import eprint, guarded
from smallest_cli.errors import SmallestError, UsageError

if TYPE_CHECKING:
    import typer


@dataclass(frozen=True)
class SynthArgs:
    """Every option of the three commands, as parsed."""

    text: str | None
    file: str | None
    voice: str | None
    model: str | None
    sample_rate: int | None
    speed: float | None
    language: str | None
    fmt: str | None
    output: str | None
    play: bool | None
    device: str | None
    json_output: bool
    quiet: bool
    base_url: str | None
    api_key: str | None
    timeout: float | None
    retries: int | None
    debug: bool
    word_timestamps: bool = False
    allow_insecure: bool = False
    #: Requests in flight at once (`--concurrency`).
    concurrency: int = 1
    #: `--captions FILE` (stream-ws).
    captions: str | None = None
    #: `--live/--no-live` (stream-ws); None decides from stdin.
    live: bool | None = None


class CommandSpec(NamedTuple):
    """One of the three commands, for typer. (A NamedTuple: this module loads before every first
    audio byte, and a frozen dataclass costs ~0.5 ms to create.)"""

    name: str
    transport: str
    summary: str
    examples: tuple[str, ...]
    word_timestamps: bool = False


COMMANDS: tuple[CommandSpec, ...] = (
    CommandSpec(
        "speak",
        "http",
        "Speak TEXT through the synchronous endpoint (one response per request), streamed as it arrives.",
        (
            'smallest speak "Hello from the shell"',
            'smallest speak "Saved for later" -o hello.wav',
            "cat notes.txt | smallest speak -v avery --speed 1.2",
        ),
    ),
    CommandSpec(
        "stream-sse",
        "sse",
        "Speak TEXT through the server-sent-events endpoint: audio plays as the first events arrive.",
        (
            'smallest stream-sse "Streaming over SSE"',
            'smallest stream-sse -f chapter.txt -o chapter.mp3',
            'smallest stream-sse "Raw samples" --format pcm -o - | aplay -f S16_LE -r 24000',
        ),
    ),
    CommandSpec(
        "stream-ws",
        "websocket",
        "Speak TEXT over a WebSocket (one socket for all segments), optionally with word timestamps.",
        (
            'smallest stream-ws "Lowest latency"',
            'smallest stream-ws -v avery --word-timestamps "Hello world" -o hi.wav',
            'echo "Phone quality" | smallest stream-ws -r 8000 -o call.ulaw',
        ),
        word_timestamps=True,
    ),
)


def _help(spec: CommandSpec) -> str:
    examples = "\n\n".join(f"  {e}" for e in spec.examples)
    return (
        f"{spec.summary}\n\n"
        "TEXT may be '-' (or left out with piped input) to read stdin; longer text is split into "
        "requests of at most 250 characters. Plays the audio unless --output is given.\n\n"
        f"Examples:\n\n{examples}\n\n"
        "Settings: flag > environment (SMALLEST_API_KEY, SMALLEST_BASE_URL, SMALLEST_VOICE) > "
        "config file (smallest config) > default.\n\n"
        f"{EXIT_CODES_HELP}"
    )


def _make_command(spec: CommandSpec) -> Callable[..., None]:
    # typer is imported here, not at module level, so that the fast path (smallest_cli/fastpath.py)
    # can call run_synth without it.
    import typer

    def command(
        text: str | None = typer.Argument(
            None, metavar="TEXT", help="The text to speak; '-' reads stdin.", show_default=False
        ),
        file: str | None = typer.Option(None, "--file", "-f", help="Read the text from this file."),
        voice: str | None = typer.Option(
            None, "--voice", "-v", help="Voice id (see `smallest voices`).", show_default="magnus"
        ),
        model: str | None = typer.Option(
            None, "--model", help="lightning_v3.1 or lightning_v3.1_pro.", show_default="lightning_v3.1"
        ),
        sample_rate: int | None = typer.Option(
            None, "--sample-rate", "-r", help="8000, 16000, 24000 or 44100 Hz.", show_default="24000"
        ),
        speed: float | None = typer.Option(None, "--speed", help="0.5 to 2.0.", show_default="1.0"),
        language: str | None = typer.Option(None, "--language", "-l", help="ISO 639-1 code, e.g. en, hi."),
        fmt: str | None = typer.Option(
            None,
            "--format",
            help="pcm, wav, mp3, ulaw or alaw.",
            show_default="from the --output extension, else wav",
        ),
        output: str | None = typer.Option(
            None, "--output", "-o", help="Write the audio to this file; '-' writes the audio bytes to stdout."
        ),
        play: bool | None = typer.Option(
            None, "--play/--no-play", help="Play the audio.", show_default="play when there is no --output"
        ),
        device: str | None = typer.Option(None, "--device", help="Output device (see `smallest devices`)."),
        json_output: bool = typer.Option(
            False, "--json", help="Print the run's stats as one JSON object (stderr when -o -)."
        ),
        quiet: bool = typer.Option(False, "--quiet", "-q", help="Print nothing but errors."),
        base_url: str | None = typer.Option(
            None, "--base-url", help="Server base URL, e.g. http://127.0.0.1:8123 for `smallest serve`."
        ),
        api_key: str | None = typer.Option(None, "--api-key", help="API key (better: SMALLEST_API_KEY)."),
        timeout: float | None = typer.Option(
            None, "--timeout", help="Seconds without data before giving up.", show_default="30"
        ),
        retries: int | None = typer.Option(
            None, "--retries", help="Retries per request on rate limits, server and network errors.",
            show_default="3",
        ),
        allow_insecure: bool = typer.Option(
            False, "--allow-insecure", help="Allow sending the API key over plain http:// to a remote host."
        ),
        debug: bool = typer.Option(
            False, "--debug", help="Show tracebacks and log each request and response (key redacted)."
        ),
        word_timestamps: bool = typer.Option(
            False, "--word-timestamps", help="Print each word's start and end time (seconds)."
        ),
        concurrency: int = typer.Option(
            1, "--concurrency", help="Requests in flight at once for long text, each on its own connection; "
            "the audio stays in order. One account unit allows one active request.",
        ),
        captions: str | None = typer.Option(
            None, "--captions", metavar="FILE",
            help="Write captions to FILE: SRT, WebVTT or JSON by its extension (.srt, .vtt, .json), "
            "from word timestamps (implies --word-timestamps; needs a voice that sends them, e.g. -v avery).",
            # Accepted but not listed by speak and stream-sse: there it only says to use stream-ws.
            hidden=not spec.word_timestamps,
        ),
        live: bool | None = typer.Option(
            None, "--live/--no-live",
            help="Read stdin as it arrives (e.g. from an LLM) and start speaking before it ends: pieces "
            "sent with continue, flushed at sentence ends and at EOF.",
            show_default="live when stdin is a pipe that keeps delivering text",
        ),
    ) -> None:
        if not spec.word_timestamps:
            # Hidden from typer below, so their defaults would be the typer.Option objects (truthy).
            word_timestamps, live = False, None
        args = SynthArgs(
            text=text, file=file, voice=voice, model=model, sample_rate=sample_rate, speed=speed,
            language=language, fmt=fmt, output=output, play=play, device=device, json_output=json_output,
            quiet=quiet, base_url=base_url, api_key=api_key, timeout=timeout, retries=retries, debug=debug,
            word_timestamps=word_timestamps, allow_insecure=allow_insecure, concurrency=concurrency,
            captions=captions, live=live,
        )
        run_synth(spec.transport, args)

    if not spec.word_timestamps:
        sig = inspect.signature(command)
        params = [p for p in sig.parameters.values() if p.name not in ("word_timestamps", "live")]
        command.__signature__ = sig.replace(parameters=params)  # type: ignore[attr-defined]
    command.__doc__ = _help(spec)
    return command


def register(app: typer.Typer) -> None:
    for spec in COMMANDS:
        app.command(spec.name, help=_help(spec), short_help=spec.summary)(_make_command(spec))


def run_synth(transport_name: str, args: SynthArgs) -> None:
    """The command body shared by speak / stream-sse / stream-ws."""
    started = time.monotonic()
    secrets = tuple(k for k in (args.api_key, os.environ.get("SMALLEST_API_KEY")) if k)
    with guarded(args.debug, secrets=secrets):
        from smallest_cli.config import load_config

        config = load_config()
        secrets += (config.get("api_key", ""),)
        with guarded(args.debug, secrets=secrets):
            _run(transport_name, args, config, started)


def _run(transport_name: str, args: SynthArgs, config: dict[str, str], started: float) -> None:
    # Live text, captions and --concurrency import their modules only when asked for: every
    # module imported here delays the first audio byte (tests/test_startup.py pins this).
    from smallest_cli.preflight import check_output_path
    from smallest_cli.protocol.request import validate_options
    from smallest_cli.resolve import (
        SynthFlags,
        is_tty,
        plan_output,
        resolve_connection,
        resolve_synthesis,
        text_chunks,
    )
    from smallest_cli.security import key_warnings
    from smallest_cli.transports import open_transport

    flags = SynthFlags(
        voice=args.voice, model=args.model, sample_rate=args.sample_rate, speed=args.speed,
        language=args.language, base_url=args.base_url, api_key=args.api_key, timeout=args.timeout,
        retries=args.retries, allow_insecure=args.allow_insecure,
    )
    plan = plan_output(args.output, args.fmt, args.play, stdout_is_tty=is_tty(sys.stdout))
    if plan.path is not None:
        check_output_path(plan.path)
    caption_path = _caption_path(transport_name, args.captions)
    options = resolve_synthesis(
        flags, os.environ, config, output_format=plan.server_format,
        word_timestamps=args.word_timestamps or caption_path is not None,
    )
    validate_options(options)
    if options.word_timestamps:
        from smallest_cli.resolve import check_word_voice

        warning = check_word_voice(options.voice_id, captions=caption_path is not None)
        if warning:
            eprint(warning)
    conn = resolve_connection(flags, os.environ, config)
    for warning in key_warnings(flag_key=args.api_key, environ=os.environ, config=config):
        eprint(warning)
    if args.concurrency < 1:
        raise UsageError(f"--concurrency must be 1 or more, got {args.concurrency}")
    live_flag = args.live if transport_name == "websocket" else False
    # The input is checked before any connection is made (no text, an unreadable file: exit 2 and
    # no handshake); only whether piped stdin is live waits for the input (its first text).
    chunks = None if live_flag is True else text_chunks(args.text, args.file, sys.stdin)
    sniffing = live_flag is None and _from_stdin(args.text, args.file)
    choice = None if sniffing else _choose_input(args.text, args.file, live_flag)
    log = _debug_log(args.debug)
    transport = open_transport(transport_name, conn, log)
    if transport_name == "websocket" and args.concurrency == 1:
        # The TCP and WebSocket handshakes run in the background while the input is read and the
        # outputs and the display are set up; the first request takes the connection over. Input
        # that may turn out live gets a live session's connection, which a plain request can use.
        live_url = live_flag is True or sniffing
        transport.preconnect(live=live_url)  # type: ignore[attr-defined]  # WebSocketTransport
    try:
        from smallest_cli.pipeline import Pipeline, Prepared, first_and_rest, segments_from_chunks

        live, live_chunks = choice if choice is not None else _choose_input(args.text, args.file, live_flag)
        if not live:
            chunks = live_chunks if live_chunks is not None else chunks
            assert chunks is not None
            segments: Any = first_and_rest(segments_from_chunks(chunks))
        else:
            assert live_chunks is not None
            from smallest_cli.live import first_text, live_messages

            live_pieces = first_text(live_chunks)
        from smallest_cli.display import Display, choose_mode

        outputs = _open_outputs(plan, options.sample_rate, args.device)
    except BaseException:
        transport.close()  # abandons the connection being opened
        raise
    scheduler = None
    if live:
        stream_live = transport.stream_live  # type: ignore[attr-defined]  # WebSocketTransport
        segments = [Prepared(None, stream_live(live_messages(live_pieces, options)))]
    elif args.concurrency > 1:
        from smallest_cli.scheduler import Scheduler

        scheduler = Scheduler(lambda: open_transport(transport_name, conn, log), args.concurrency)
    try:
        display = Display(
            mode=choose_mode(args.quiet, sys.stderr),
            transport=transport.name,
            voice=options.voice_id,
            played_seconds=outputs.played_seconds,
            word_stream=None if args.json_output or not args.word_timestamps else (
                sys.stderr if plan.to_stdout else sys.stdout
            ),
            collect_words=args.json_output and args.word_timestamps,
        )
        pipeline = Pipeline(
            transport=transport,
            options=options,
            sinks=outputs.sinks,
            observer=display,
            retries=conn.retries,
            output=plan.output,
            file_format=plan.file_format,
            started=started,
            word_sinks=[_caption_file(caption_path)] if caption_path is not None else [],
            prefetch=scheduler,
        )
        # Set-up is over; the collector was off for it (see __main__.main). What set-up made is
        # frozen (kept out of every later collection: it is modules, classes and settings that live
        # as long as the process), or the first collection would scan all of it before the first byte.
        gc.freeze()
        gc.enable()
        with display:
            stats = pipeline.run(segments)
            stats.underruns = outputs.underruns()
    finally:
        if scheduler is not None:
            scheduler.close()
        transport.close()
    if args.json_output:
        record: dict[str, Any] = stats.as_dict()
        if args.word_timestamps:
            record["words"] = display.words
        stream = sys.stderr if plan.to_stdout else sys.stdout
        print(json.dumps(record), file=stream, flush=True)
    else:
        display.summary(stats)


def _debug_log(debug: bool) -> Any:
    """The request log for --debug (on stderr), else None; debuglog is imported only then."""
    if not debug:
        return None
    from smallest_cli.debuglog import DebugLog

    return DebugLog(sys.stderr)


def _choose_input(text: str | None, file: str | None, live: bool | None) -> tuple[bool, Iterator[str] | None]:
    """`live.choose_input` as (live, chunks), without importing `live` when the text cannot be live:
    the flag says no, or the text is an argument or a file (choose_input's own test)."""
    if live is False or (live is None and not _from_stdin(text, file)):
        return False, None
    from smallest_cli.live import choose_input

    choice = choose_input(text, file, live, sys.stdin)
    return choice.live, choice.chunks


def _from_stdin(text: str | None, file: str | None) -> bool:
    """Whether the text is read from stdin (no TEXT or --file, or `-` for one of them)."""
    return text in (None, "-") and file in (None, "-") and not (text == "-" and file == "-")


def _caption_file(path: Path) -> Any:
    from smallest_cli.caption_file import CaptionFile

    return CaptionFile(path, warn=eprint)


def _caption_path(transport_name: str, captions: str | None) -> Path | None:
    """The --captions file, checked before any request (exit 2 on speak/stream-sse: no word timings)."""
    if captions is None:
        return None
    if transport_name != "websocket":
        raise UsageError(
            "--captions needs word timestamps, which only stream-ws receives: "
            "use `smallest stream-ws --captions FILE`"
        )
    from smallest_cli.caption_file import caption_format
    from smallest_cli.preflight import check_output_path

    caption_format(captions)
    path = Path(captions)
    check_output_path(path)
    return path


class _Outputs(NamedTuple):
    """The opened sinks, and the player among them when playing."""

    sinks: list[Any]
    player: Any | None

    @property
    def played_seconds(self) -> Callable[[], float] | None:
        player = self.player
        return None if player is None else (lambda: float(player.played_seconds))

    def underruns(self) -> int:
        return int(self.player.underruns) if self.player is not None else 0


def _open_outputs(plan: Any, sample_rate: int, device: str | None) -> _Outputs:
    """The sinks for the plan: file or stdout first, then the player. A failure while opening one
    aborts those already open (no stray .part file)."""
    from smallest_cli import sinks as sink_mod

    opened: list[Any] = []
    player = None
    try:
        if plan.path is not None:
            opened.append(sink_mod.FileSink(plan.path, plan.file_format, sample_rate))
        elif plan.to_stdout:
            opened.append(sink_mod.StdoutSink(plan.file_format, sample_rate))
        if plan.play:
            from smallest_cli.audio.codecs import make_decoder
            from smallest_cli.audio.devices import ensure_portaudio, resolve_device
            from smallest_cli.audio.player import Player

            ensure_portaudio()
            player = Player(sample_rate, device=resolve_device(device))
            opened.append(sink_mod.PlayerSink(player, make_decoder(plan.server_format, sample_rate)))
    except (SmallestError, KeyboardInterrupt):
        for sink in opened:
            sink.abort()
        if player is not None and not any(isinstance(s, sink_mod.PlayerSink) for s in opened):
            player.close()
        raise
    return _Outputs(sinks=opened, player=player)
