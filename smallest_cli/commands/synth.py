"""`smallest speak`, `smallest stream-sse`, `smallest stream-ws`: their help, examples and options.

The options come from the option table; the body is `run.synth.run_synth`, which the fast path
(`options.parse`) also calls without typer.
"""

from __future__ import annotations

import inspect
from typing import TYPE_CHECKING, NamedTuple

from smallest_cli.commands.common import with_options
from smallest_cli.errors import EXIT_CODES_HELP
from smallest_cli.options.parse import Args, synth_defaults

if TYPE_CHECKING:
    import typer


class CommandSpec(NamedTuple):
    """One of the three commands, for typer."""

    name: str
    summary: str
    examples: tuple[str, ...]


COMMANDS: tuple[CommandSpec, ...] = (
    CommandSpec(
        "speak",
        "Speak TEXT through the synchronous endpoint (one response per request), streamed as it arrives.",
        (
            'smallest speak "Hello from the shell"',
            'smallest speak "Saved for later" -o hello.wav',
            "cat notes.txt | smallest speak -v avery --speed 1.2",
        ),
    ),
    CommandSpec(
        "stream-sse",
        "Speak TEXT through the server-sent-events endpoint: audio plays as the first events arrive.",
        (
            'smallest stream-sse "Streaming over SSE"',
            'smallest stream-sse -f chapter.txt -o chapter.mp3',
            'smallest stream-sse "Raw PCM" --format pcm -o - | aplay -f S16_LE -r 24000',
        ),
    ),
    CommandSpec(
        "stream-ws",
        "Speak TEXT over a WebSocket (one socket for all segments), optionally with word timestamps.",
        (
            'smallest stream-ws "Lowest latency"',
            'smallest stream-ws -v avery --word-timestamps "Hello world" -o hi.wav',
            'echo "Phone quality" | smallest stream-ws -r 8000 -o call.ulaw',
        ),
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


def _text_argument() -> inspect.Parameter:
    import typer

    info = typer.Argument(
        None, metavar="TEXT", help="The text to speak; '-' reads stdin.", show_default=False
    )
    kind = inspect.Parameter.POSITIONAL_OR_KEYWORD
    return inspect.Parameter("text", kind, default=info, annotation=str | None)


def register(app: typer.Typer) -> None:
    for spec in COMMANDS:

        def body(args: Args, name: str = spec.name) -> None:
            from smallest_cli.run.synth import run_synth

            # Options another synthesis command has (--live on speak, say) are unset here.
            run_synth(name, Args({**synth_defaults(), **args}))

        command = with_options(spec.name, body, [_text_argument()])
        app.command(spec.name, help=_help(spec), short_help=spec.summary)(command)
