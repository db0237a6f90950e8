"""The Typer application: builds the app from the command modules and runs it.

Command modules only parse options and wire pure code, transports and sinks together; they
import heavy modules (numpy, sounddevice, websockets, requests, aiohttp) inside the functions
that need them so that `smallest --help` stays fast.

Help is click's plain formatter (`rich_markup_mode=None`): typer's rich help costs ~50 ms to import
(rich.markdown, rich.traceback) and ~20 ms to render. `smallest [COMMAND] --help` is printed
straight from the built click command (`print_help`), without parsing: parsing runs typer's
coercion of the root options, which imports pydantic (~75 ms) just to coerce their unset values.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

from smallest_cli import __version__
from smallest_cli.errors import EXIT_CODES_HELP, EXIT_INTERRUPTED, eprint

if TYPE_CHECKING:
    import typer


APP_HELP = f"""Streaming text-to-speech for the shell, powered by Smallest AI Waves (Lightning v3.1).

Examples:

  smallest speak "Hello from the shell"

  echo "Saved to a file" | smallest stream-ws -o hello.wav

  smallest serve --port 8123 &   # a local, offline Waves server

{EXIT_CODES_HELP}
"""


def _version_callback(value: bool) -> None:
    import typer

    if value:
        typer.echo(f"smallest {__version__}")
        raise typer.Exit()


def build_app() -> typer.Typer:
    # typer is imported here, not at module level: `smallest_cli.__main__` runs the synthesis
    # commands without it when their arguments are plain (see smallest_cli/options/parse.py).
    import typer

    app = typer.Typer(
        name="smallest",
        help=APP_HELP,
        no_args_is_help=True,
        add_completion=True,
        pretty_exceptions_enable=False,
        rich_markup_mode=None,
        context_settings={"help_option_names": ["-h", "--help"]},
    )

    @app.callback()
    def _root(
        version: bool = typer.Option(
            False, "--version", callback=_version_callback, is_eager=True, help="Show the version and exit."
        ),
    ) -> None:
        """Streaming text-to-speech for the shell."""

    from smallest_cli.commands import batch, cache_cmd, config_cmd, devices, serve, synth, voices

    for module in (synth, batch, voices, serve, devices, config_cmd, cache_cmd):
        module.register(app)
    return app


HELP_OPTIONS = ("-h", "--help")


def print_help(app: typer.Typer, argv: Sequence[str], environ: Mapping[str, str]) -> bool:
    """`smallest --help` / `smallest COMMAND --help`: print the help typer would print (same command,
    context settings and formatter) without parsing any option, and return True. Anything else
    (other arguments, shell completion) returns False and is left to typer."""
    from smallest_cli.options.parse import completing

    if completing(environ):
        return False
    if not (1 <= len(argv) <= 2 and argv[-1] in HELP_OPTIONS):
        return False
    import typer.main

    group = typer.main.get_command(app)
    ctx = group.context_class(group, info_name="smallest", **group.context_settings)
    if len(argv) == 2:
        command = group.get_command(ctx, argv[0])  # type: ignore[attr-defined]
        if command is None:
            return False  # typer reports the unknown command
        ctx = command.context_class(command, info_name=argv[0], parent=ctx, **command.context_settings)
    typer.echo(ctx.get_help(), color=ctx.color)
    return True


#: The width descriptions are laid out in when completing: wider than any of them, so none wraps.
COMPLETION_COLUMNS = "100000"


def run() -> None:
    import os
    import sys

    from smallest_cli.options.parse import completing

    if completing(os.environ):
        # typer lays each description out at the terminal's width (80 when COLUMNS is unset, as
        # fish leaves it), and the shells read every line of the answer as a candidate.
        os.environ["COLUMNS"] = COMPLETION_COLUMNS
    app = build_app()
    if print_help(app, sys.argv[1:], os.environ):
        return
    sys.exit(_invoke(app))


def _invoke(app: typer.Typer) -> int:
    """Run the app; a bad option or value is one `smallest: error:` line and exit 2, like every
    other mistake, instead of click's usage block."""
    import typer.main

    command = typer.main.get_command(app)
    try:
        code = command.main(prog_name="smallest", standalone_mode=False)
    except typer.Abort:
        eprint("smallest: interrupted")
        return EXIT_INTERRUPTED
    except Exception as exc:  # click's exceptions live in typer's private copy of click
        if not hasattr(exc, "format_message") or not hasattr(exc, "exit_code"):
            raise
        if type(exc).__name__ == "NoArgsIsHelpError":
            exc.show()  # no command, or a group without its subcommand: the help says what exists
            return int(exc.exit_code)
        ctx = getattr(exc, "ctx", None)
        see = f" (see: {ctx.command_path} --help)" if ctx is not None else ""
        message = _elsewhere(exc, ctx) or exc.format_message()
        eprint(f"smallest: error: {message}{see}")
        return int(exc.exit_code)
    return code if isinstance(code, int) else 0


def _elsewhere(exc: Exception, ctx: object) -> str | None:
    """For an option this command lacks but others have (`speak --live`), which commands take it:
    click would suggest the command's own options that look alike instead."""
    from smallest_cli.options.table import OPTIONS

    name = getattr(exc, "option_name", None)
    command = getattr(ctx, "info_name", None)
    if type(exc).__name__ != "NoSuchOption" or not name or not command:
        return None
    owners = sorted({c for o in OPTIONS if name in o.spellings for c in o.commands} - {command})
    if not owners:
        return None
    if len(owners) == 1:
        return f"{name} is not an option of {command}; {owners[0]} takes it"
    return f"{name} is not an option of {command}; {', '.join(owners[:-1])} and {owners[-1]} take it"
