"""The Typer application: builds the app from the command modules and runs it.

Command modules only parse options and wire pure code, transports and sinks together; they
import heavy modules (numpy, sounddevice, websockets, requests, aiohttp) inside the functions
that need them so that `smallest --help` stays fast.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from smallest_cli import __version__

if TYPE_CHECKING:
    import typer

EXIT_CODES_HELP = (
    "Exit codes: 0 success, 2 usage or bad input, 3 authentication (401/403), "
    "4 rate limited after retries, 5 server or protocol error (including truncated streams), "
    "6 network (unreachable, timeout), 130 interrupted."
)

APP_HELP = f"""Streaming text-to-speech for the shell, powered by Smallest AI Waves (Lightning v3.1).

Examples:

  smallest speak "Hello from the shell"

  echo "Saved to a file" | smallest stream-ws -o hello.wav

  smallest serve --port 8123 &   # an offline, protocol-faithful local server

{EXIT_CODES_HELP}
"""


def _version_callback(value: bool) -> None:
    import typer

    if value:
        typer.echo(f"smallest {__version__}")
        raise typer.Exit()


def build_app() -> typer.Typer:
    # typer is imported here, not at module level: `smallest_cli.__main__` runs the synthesis
    # commands without it when their arguments are plain (see smallest_cli/fastpath.py).
    import typer

    app = typer.Typer(
        name="smallest",
        help=APP_HELP,
        no_args_is_help=True,
        add_completion=True,
        pretty_exceptions_enable=False,
        context_settings={"help_option_names": ["-h", "--help"]},
    )

    @app.callback()
    def _root(
        version: bool = typer.Option(
            False, "--version", callback=_version_callback, is_eager=True, help="Show the version and exit."
        ),
    ) -> None:
        """Streaming text-to-speech for the shell."""

    from smallest_cli.commands import config_cmd, devices, serve, synth, voices

    for module in (synth, voices, serve, devices, config_cmd):
        module.register(app)
    return app


def run() -> None:
    build_app()(prog_name="smallest")
