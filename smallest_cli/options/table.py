"""Every command-line option of `smallest`, declared once.

Each row says what an option is (its field, spellings, kind, help, commands, default) and where
else its value may come from (environment variable, config-file key, built-in fallback). Derived
from this table, and written nowhere else:

* the typer commands' parameters, and so `--help` and the shell completions (`commands.common`);
* the fast parser that runs the synthesis commands without typer (`options.parse`);
* the settings' resolution order, flag > environment > config file > fallback (`options.resolve`);
* the config file's keys and the variables that override them (`options.config`).

Adding an option means adding one row. The table is plain objects of a class with slots, which
imports nothing: the synthesis commands read it before the first connection's SYN (startup.py).
"""

from __future__ import annotations

from smallest_cli.protocol import contract

TYPE_CHECKING = False  # typing.TYPE_CHECKING, without importing typing (startup.py)
if TYPE_CHECKING:
    from collections.abc import Mapping
    from typing import Any

#: The audio format when neither --format nor the output file's extension names one.
DEFAULT_FORMAT = "wav"
#: The file name of a batch row without an output field; the format's extension is added (`0001.wav`).
DEFAULT_TEMPLATE = "{n:04d}"

#: The commands that synthesize speech, each with the transport it uses.
SYNTH_COMMANDS: Mapping[str, str] = {"speak": "http", "stream-sse": "sse", "stream-ws": "websocket"}
_SYNTH = frozenset(SYNTH_COMMANDS)
_WS = frozenset({"stream-ws"})
_BATCH = frozenset({"batch"})
#: Synthesis options that are also the defaults of every row of a batch.
_ROWS = _SYNTH | _BATCH
_CLIENT = _ROWS | {"voices"}
_SERVE = frozenset({"serve"})
_VOICES = frozenset({"voices"})
#: What `--code` may say of a Markdown code block.
CODE_BLOCKS = ("note", "skip", "read")
#: The audio cache's size cap unless the config file or a flag says.
_CACHE_MAX_MB = 500
#: `smallest cache info`, the one subcommand with an option of the table.
CACHE_INFO = "cache info"
#: `batch --transport`'s values, and the transport each names.
BATCH_TRANSPORTS: Mapping[str, str] = {"ws": "websocket", "sse": "sse", "sync": "http"}

class Option:
    """One option of one or more commands."""

    __slots__ = ("field", "spellings", "kind", "help", "commands", "fallback", "shown_default", "metavar",
                 "env", "config", "help_for", "hidden_for", "shown_for", "choices")

    def __init__(
        self,
        field: str,
        spellings: tuple[str, ...],
        kind: str,
        help: str,
        commands: frozenset[str],
        *,
        fallback: Any = None,
        shown_default: str | None = None,
        metavar: str | None = None,
        env: str | None = None,
        config: str | None = None,
        help_for: Mapping[str, str] | None = None,
        hidden_for: frozenset[str] = frozenset(),
        shown_for: Mapping[str, str] | None = None,
        choices: tuple[str, ...] = (),
    ) -> None:
        self.field = field
        #: Long spelling first; for a switch, the "off" spelling comes last.
        self.spellings = spellings
        #: "str", "int", "float" take a value; "multi" takes one each time it is given (a tuple,
        #: empty when it is not); "flag" is True when given; "switch" has an on and an off spelling
        #: (`--play/--no-play`) and is None when neither is given.
        self.kind = kind
        self.help = help
        self.commands = commands
        #: The built-in value when neither a flag, the environment nor the config file sets it.
        self.fallback = fallback
        #: How help shows the default when it is not simply `fallback` (e.g. "from the --output
        #: extension").
        self.shown_default = shown_default
        self.metavar = metavar
        #: The environment variable that sets it.
        self.env = env
        #: When the config file may set it (under the key `field`): what `smallest config` says of it.
        self.config = config
        #: Help for commands where the option means something narrower or different.
        self.help_for = help_for
        #: Commands that accept it without listing it in their help.
        self.hidden_for = hidden_for
        #: How help shows the default in commands where the option's unset value means something else.
        self.shown_for = shown_for
        #: The values it takes, when they are few and fixed: shell completion offers them.
        self.choices = choices

    def __repr__(self) -> str:
        return f"Option({self.field!r}, {self.spellings!r}, {self.kind!r})"

    def help_in(self, command: str) -> str:
        return (self.help_for or {}).get(command, self.help)

    def unset(self) -> Any:
        """What the parsers hand over when the option is not given: False for a flag; None where
        the environment or the config file may still set it (the resolver applies the fallback) and
        for a switch; else the fallback itself."""
        if self.kind == "flag":
            return False
        if self.kind == "multi":
            return ()
        if self.kind == "switch" or self.env is not None or self.config is not None:
            return None
        return self.fallback

    def shown(self, command: str) -> str | None:
        """The default as help shows it in `command`, when the parsers' value does not show it already."""
        if self.shown_for is not None and command in self.shown_for:
            return self.shown_for[command]
        if self.shown_default is not None:
            return self.shown_default
        if self.unset() is None and self.fallback is not None:
            return str(self.fallback)
        return None


OPTIONS: tuple[Option, ...] = (
    Option("file", ("--file", "-f"), "str", "Read the text from this file.", _SYNTH, metavar="FILE"),
    Option("voice", ("--voice", "-v"), "str", "Voice id (see `smallest voices`).", _ROWS,
           fallback="magnus", env="SMALLEST_VOICE", config="voice id, e.g. magnus, meher, avery, liam"),
    Option("model", ("--model",), "str", "lightning_v3.1 or lightning_v3.1_pro.", _CLIENT,
           fallback=contract.DEFAULT_MODEL, config="one of " + ", ".join(contract.MODELS),
           choices=contract.MODELS,
           # The catalog lists every pool: voices filters by a model only when --model names one.
           help_for={"voices": "List only this model's voices: lightning_v3.1 or lightning_v3.1_pro (the "
                               "config file's model does not apply here)."},
           shown_for={"voices": "all: standard and Pro"}),
    Option("sample_rate", ("--sample-rate", "-r"), "int", "8000, 16000, 24000 or 44100 Hz.", _ROWS,
           fallback=24000, config="one of " + ", ".join(str(r) for r in contract.SAMPLE_RATES),
           choices=tuple(str(r) for r in contract.SAMPLE_RATES), metavar="HZ"),
    Option("speed", ("--speed",), "float", "0.5 to 2.0.", _ROWS, fallback=1.0,
           config=f"{contract.SPEED_MIN} to {contract.SPEED_MAX}"),
    Option("language", ("--language", "-l"), "str", "ISO 639-1 code or English name, e.g. en, hi, hindi.",
           _CLIENT, config="ISO 639-1 code (or English name) such as en, hi, es, or auto",
           help_for={"voices": "Language name or ISO 639-1 code (english, en, hi, ...)."}),
    Option("fmt", ("--format",), "str", "pcm, wav, mp3, ulaw or alaw.", _ROWS,
           shown_default=f"from the output file's extension, else {DEFAULT_FORMAT}",
           choices=contract.OUTPUT_FORMATS),
    Option("output", ("--output", "-o"), "str",
           "Write the audio to this file; '-' writes the audio bytes to stdout.", _SYNTH, metavar="FILE"),
    Option("play", ("--play", "--no-play"), "switch", "Play the audio.", _SYNTH,
           shown_default="play when there is no --output"),
    Option("device", ("--device",), "str", "Output device (see `smallest devices`).", _SYNTH),
    Option("json_output", ("--json",), "flag", "Print the run's stats as one JSON object (stderr when -o -).",
           _CLIENT | {"devices", CACHE_INFO},
           help_for={"voices": "Print the (filtered) catalog as JSON.",
                     "batch": "Print a summary of the batch as one JSON object.",
                     "devices": "Print the devices as a JSON array.",
                     CACHE_INFO: "Print the cache's directory, entries, size and cap as JSON."}),
    Option("quiet", ("--quiet", "-q"), "flag", "Print nothing but warnings and errors.", _ROWS),
    Option("base_url", ("--base-url",), "str",
           "Server base URL, e.g. http://127.0.0.1:8123 for `smallest serve`.", _CLIENT,
           fallback=contract.DEFAULT_BASE_URL, env="SMALLEST_BASE_URL",
           config=f"http(s)://host[:port] (default {contract.DEFAULT_BASE_URL})", metavar="URL"),
    Option("api_key", ("--api-key",), "str", "API key (better: SMALLEST_API_KEY).", _CLIENT | {"serve"},
           env="SMALLEST_API_KEY", config="Smallest AI API key (shown redacted)",
           help_for={"serve": "Accept only this key (default: any non-empty Bearer token)."}, metavar="KEY"),
    Option("timeout", ("--timeout",), "float", "Seconds without data before giving up.", _CLIENT,
           fallback=30.0, metavar="SECONDS"),
    Option("retries", ("--retries",), "int", "Retries per request on rate limits, server and network errors.",
           _ROWS, fallback=3, metavar="N"),
    Option("allow_insecure", ("--allow-insecure",), "flag",
           "Allow sending the API key over plain http:// to a remote host.", _CLIENT),
    Option("debug", ("--debug",), "flag",
           "Show tracebacks and log each request and response (key redacted).", _CLIENT),
    Option("word_timestamps", ("--word-timestamps",), "flag",
           "Print each word's start and end time (seconds).", _WS),
    Option("concurrency", ("--concurrency",), "int",
           "Requests in flight at once for long text, each on its own connection; the audio stays in "
           "order. One account unit allows one active request: an account that allows fewer than N "
           "refuses the extra ones (429), and the run goes on with as many as it allows.", _ROWS,
           fallback=1,
           help_for={"batch": "Requests in flight at once, across rows, each on its own connection; the "
                              "rows are written in order. An account that allows fewer refuses the extra "
                              "ones (429), and the batch goes on with as many as it allows."}, metavar="N"),
    Option("captions", ("--captions",), "str",
           "Write captions to FILE: SRT, WebVTT or JSON by its extension (.srt, .vtt, .json), from word "
           "timestamps (implies --word-timestamps; needs a voice that sends them, e.g. -v avery).", _SYNTH,
           metavar="FILE",
           # Accepted but not listed by speak and stream-sse: there it only says to use stream-ws.
           hidden_for=frozenset({"speak", "stream-sse"})),
    Option("live", ("--live", "--no-live"), "switch",
           "Read stdin as it arrives (e.g. from an LLM) and start speaking before it ends: pieces sent "
           "with continue, flushed at sentence ends and at EOF.", _WS,
           shown_default="live when stdin is a pipe that keeps delivering text"),
    Option("pronunciation_dicts", ("--pronunciation-dict",), "multi",
           "A pronunciation dictionary to apply, by id; repeat for several.",
           frozenset({"speak", "stream-sse", "batch"}), metavar="ID",
           help_for={"batch": "A pronunciation dictionary to apply, by id; repeat for several "
                              "(with a transport other than ws: its message has no such field)."}),
    Option("math_notation", ("--math-notation",), "flag", "Read formulas and math notation as math.",
           _ROWS),
    Option("number_language", ("--number-language",), "str",
           "Read numbers in this language (ISO 639-1 code), whatever --language says.", _ROWS,
           metavar="CODE"),
    Option("request_id", ("--request-id",), "str",
           "Your id for each request, echoed by the service (1 to 128 of A-Z a-z 0-9 _ . -).", _SYNTH,
           metavar="ID"),
    Option("session_id", ("--session-id",), "str",
           "Your id for the session, echoed by the service (1 to 128 of A-Z a-z 0-9 _ . -).", _SYNTH,
           metavar="ID"),
    Option("markdown", ("--markdown", "--plain"), "switch",
           "Read the text as Markdown, as a person would: no symbols or URLs, link labels and alt text "
           "kept, code blocks as --code says, tables row by row.", _ROWS,
           shown_default="Markdown for .md and .markdown files",
           config="true or false: read all text as Markdown (default: only .md and .markdown files)",
           help_for={"batch": "Read every row's text as Markdown, as a person would (or, with --plain, "
                              "every directory's .md file as plain text)."}),
    Option("code", ("--code",), "str",
           "Markdown code blocks: note (say that one is there), skip, or read them out.", _ROWS,
           fallback="note", metavar="|".join(CODE_BLOCKS), choices=CODE_BLOCKS),
    Option("cache", ("--cache", "--no-cache"), "switch",
           "Keep whole renders in the audio cache and replay one with no request when every setting that "
           "shapes the audio is the same (see `smallest cache`).", _ROWS, fallback=False,
           shown_default="off", config="true or false: use the audio cache (as --cache)"),
    Option("cache_max_mb", ("--cache-max-mb",), "int",
           "Size cap of the audio cache in MB: after each store the least recently used entries go.",
           _ROWS, fallback=_CACHE_MAX_MB, metavar="MB",
           config=f"size cap of the audio cache in MB (default {_CACHE_MAX_MB})"),
    # -- batch -----------------------------------------------------------------------------------------
    Option("out_dir", ("--out-dir",), "str",
           "Write each row's audio file under this directory (made if missing).", _BATCH,
           fallback=".", metavar="DIR"),
    Option("name", ("--name",), "str",
           "Name the file of each row that has no output field: {n} its number (from 1), {id} (else "
           "the number), {voice}, {slug} (its first words, file-safe); Python format specs apply. "
           "The extension chooses the format; a name without one gets the format's. For a directory, {id} "
           "is each file's name without extension, and the default is {id}.", _BATCH,
           shown_default=f"{DEFAULT_TEMPLATE}.{DEFAULT_FORMAT}", metavar="TEMPLATE"),
    Option("manifest", ("--manifest",), "str",
           "Append one JSON record per finished row to this file; a rerun skips the rows it says are done.",
           _BATCH, shown_default="DIR/manifest.jsonl", metavar="FILE"),
    Option("force", ("--force",), "flag", "Redo every row, even those the manifest says are done.", _BATCH),
    Option("shard", ("--shard",), "str",
           "Take only the rows n with (n-1) % N == K-1: N machines or jobs split one input with no "
           "coordination, and their manifests concatenate.", _BATCH, metavar="K/N"),
    Option("transport", ("--transport",), "str",
           f"{', '.join(list(BATCH_TRANSPORTS)[:-1])} or {list(BATCH_TRANSPORTS)[-1]}.", _BATCH,
           fallback="ws", choices=tuple(BATCH_TRANSPORTS)),
    # -- voices ----------------------------------------------------------------------------------------
    Option("gender", ("--gender",), "str", "female or male.", _VOICES, choices=("female", "male")),
    Option("accent", ("--accent",), "str", "american, british, indian, ...", _VOICES),
    Option("search", ("--search", "-s"), "str", "Text to find in id, name, pool or tags.", _VOICES),
    Option("ids", ("--ids",), "flag", "Print only the voice ids, one per line (with --json, a JSON array).",
           _VOICES),
    # -- serve -----------------------------------------------------------------------------------------
    Option("host", ("--host",), "str", "Address to bind.", _SERVE, fallback="127.0.0.1"),
    Option("port", ("--port",), "int", "Port to bind; 0 picks a free one.", _SERVE, fallback=8123),
    Option("engine", ("--engine",), "str", "Speech engine: tones (default) or espeak.", _SERVE,
           fallback="tones"),
    Option("first_chunk_ms", ("--first-chunk-ms",), "float", "Latency before the first chunk.",
           _SERVE, fallback=0.0),
    Option("rtf", ("--rtf",), "float", "Real-time factor of audio generation; 0 = unlimited.",
           _SERVE, fallback=0.0),
    Option("chunk_ms", ("--chunk-ms",), "float", "Milliseconds of audio per streamed chunk.",
           _SERVE, fallback=20.0),
    Option("max_concurrency", ("--max-concurrency",), "int",
           "Active TTS requests allowed at once, and 5 WebSocket connections per request (429 beyond); "
           "0 = unlimited.", _SERVE, fallback=0),
    Option("idle_timeout", ("--idle-timeout",), "float",
           "WebSocket idle timeout in seconds (a client's ?timeout=N overrides).", _SERVE,
           fallback=60.0),
    Option("tls_cert", ("--tls-cert",), "str",
           "Serve https and wss with this certificate (PEM, its chain after it); needs --tls-key.",
           _SERVE, metavar="FILE"),
    Option("tls_key", ("--tls-key",), "str", "The private key of --tls-cert (PEM).", _SERVE,
           metavar="FILE"),
    Option("access_log", ("--access-log",), "flag", "Log every HTTP request to stderr.", _SERVE),
    Option("keep_open", ("--keep-open",), "flag",
           "Keep a WebSocket open after `complete` for further requests (by default it is closed, "
           "as the API reference says).", _SERVE),
    Option("varied_takes", ("--varied-takes",), "flag",
           "Render every request as a new take, slightly different audio each time, as a neural "
           "service does (by default the same request gives the same bytes).", _SERVE),
    Option("voices_by_pool", ("--voices-by-pool",), "flag",
           "Serve the standard voices at lightning-v3.1/get_voices and the Pro ones at "
           "lightning-v3.1-pro/get_voices, as one version of the reference reads (by default the one path "
           "lists both).", _SERVE),
    Option("pcm_as_wav", ("--pcm-as-wav",), "flag",
           "Answer a sync request for pcm with a WAV file, as the API reference describes the body (by "
           "default raw PCM, as the live service was seen to send).", _SERVE),
)

BY_FIELD: Mapping[str, Option] = {o.field: o for o in OPTIONS}


def options_for(command: str) -> tuple[Option, ...]:
    """The options of `command`, in the table's order (which is the order help lists them in)."""
    return tuple(o for o in OPTIONS if command in o.commands)
