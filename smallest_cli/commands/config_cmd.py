"""`smallest config set|get|unset|list|path`: read and edit the user's config file."""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping
from pathlib import Path

import typer

from smallest_cli.commands.common import command_group, first_line
from smallest_cli.errors import UsageError, eprint, guarded
from smallest_cli.options import config
from smallest_cli.options.security import CONFIG_KEY_ARG_WARNING
from smallest_cli.options.settings import Secret

# "\b" keeps the table's lines as written (click rewraps every other paragraph).
KEYS_HELP = "Keys:\n\n\b\n" + "\n".join(f"  {name:<12} {about}" for name, about in config.KEY_HELP)

ORDER_HELP = (
    "Settings are taken from a flag first, then the environment (SMALLEST_API_KEY, SMALLEST_BASE_URL, "
    "SMALLEST_VOICE), then this file, then the built-in default."
)
STDIN_HELP = (
    "A VALUE of - reads the value from standard input, so an API key stays out of your shell history "
    "(at a terminal it is asked for without echo)."
)

CONFIG_HELP = f"""Read and edit the config file (~/.config/smallest/config.toml, or under $XDG_CONFIG_HOME).

{ORDER_HELP}

Examples:

  smallest config set voice meher

  printf '%s' "$KEY" | smallest config set api_key -

  smallest config list

{KEYS_HELP}
"""

SET_HELP = f"""Store KEY = VALUE in the config file (created with mode 0600).

Only KEY's line changes: comments and the rest of a file edited by hand are kept.

{STDIN_HELP}

Examples:

  smallest config set api_key -

  smallest config set voice meher

  smallest config set sample_rate 16000

{KEYS_HELP}
"""

GET_HELP = """Print one value from the config file (the API key is shown redacted).

Exits with status 2 when the key is not set.

Examples:

  smallest config get voice

  smallest config get api_key

  voice=$(smallest config get voice 2>/dev/null || echo magnus)
"""

UNSET_HELP = """Remove KEY from the config file, so the default (or the environment) applies again.

Examples:

  smallest config unset voice

  smallest config unset api_key

  smallest config unset sample-rate
"""

LIST_HELP = """Print every setting in the config file as `key = value` lines (the API key redacted).

Examples:

  smallest config list

  smallest config list | grep voice

  cat "$(smallest config path)"
"""

PATH_HELP = """Print where the config file is (it may not exist yet).

Examples:

  smallest config path

  ${EDITOR:-vi} "$(smallest config path)"

  XDG_CONFIG_HOME=/tmp/cfg smallest config path
"""


def shown(key: str, value: str) -> str:
    """How a stored value is displayed: secrets redacted, everything else as is."""
    return Secret(value).redacted() if key in config.SECRET_KEYS else value


def read_stdin_value(key: str) -> str:
    """The value for `set KEY -`: hidden prompt at a terminal, else all of stdin, trimmed."""
    if sys.stdin is None:
        raise UsageError(f"no standard input to read {key} from")
    if sys.stdin.isatty():
        import getpass

        try:
            text = getpass.getpass(f"{key}: ")
        except EOFError:
            text = ""
    else:
        text = sys.stdin.read()
    value = text.strip()
    if not value:
        raise UsageError(f"no value for {key} on standard input")
    if "\n" in value:
        raise UsageError(f"the value for {key} on standard input must be a single line")
    return value


def _override_note(key: str, environ: Mapping[str, str]) -> None:
    var = config.ENV_OVERRIDES.get(key)
    if var and environ.get(var):
        eprint(
            f"smallest: note: {var} is set in the environment and takes precedence over {key} "
            "in the config file"
        )


def _warn_permissions(path: Path) -> None:
    warning = config.permission_warning(path)
    if warning:
        eprint(warning)


def _set(key: str, value: str) -> None:
    path = config.config_path()
    name = config.normalize_key(key)
    from_stdin = value == "-"
    if from_stdin:
        value = read_stdin_value(name)
    config.set_value(name, value, path)
    if name in config.SECRET_KEYS and not from_stdin:
        # Only once a key is stored: a refused value is one error line, as any other bad input.
        eprint(CONFIG_KEY_ARG_WARNING)
    _override_note(name, os.environ)


def _get(key: str) -> None:
    path = config.config_path()
    name = config.normalize_key(key)
    values = config.load_config(path)
    _warn_permissions(path)
    if name not in values:
        raise UsageError(f"{name} is not set in {path}")
    typer.echo(shown(name, values[name]))
    _override_note(name, os.environ)


def _unset(key: str) -> None:
    path = config.config_path()
    if not config.unset_value(key, path):
        eprint(f"smallest: note: {key} was not set in {path}")


def _list() -> None:
    path = config.config_path()
    values = config.load_config(path)
    _warn_permissions(path)
    if not values:
        eprint(f"smallest: note: nothing is set in {path} (smallest config set KEY VALUE)")
    for key, value in values.items():
        typer.echo(f"{key} = {shown(key, value)}")
    for key in values:
        _override_note(key, os.environ)


KEY_ARG_HELP = "One of: " + ", ".join(config.KEYS) + "."


def complete_key(incomplete: str) -> list[str]:
    """Shell completion for KEY arguments."""
    return [k for k in config.KEYS if k.startswith(incomplete.lower().replace("-", "_"))]


def build_config_app() -> typer.Typer:
    sub = command_group("config", CONFIG_HELP)

    # A VALUE that starts with a dash (`-5`) is the value, so its check can say what is wrong with it.
    dash_value = {"ignore_unknown_options": True}

    @sub.command("set", help=SET_HELP, short_help=first_line(SET_HELP), context_settings=dash_value)
    def set_cmd(
        key: str = typer.Argument(..., autocompletion=complete_key, help=KEY_ARG_HELP),
        value: str = typer.Argument(..., help="The value, or - to read it from stdin."),
    ) -> None:
        with guarded():
            _set(key, value)

    @sub.command("get", help=GET_HELP, short_help=first_line(GET_HELP))
    def get_cmd(
        key: str = typer.Argument(..., autocompletion=complete_key, help=KEY_ARG_HELP),
    ) -> None:
        with guarded():
            _get(key)

    @sub.command("unset", help=UNSET_HELP, short_help=first_line(UNSET_HELP))
    def unset_cmd(
        key: str = typer.Argument(..., autocompletion=complete_key, help=KEY_ARG_HELP),
    ) -> None:
        with guarded():
            _unset(key)

    @sub.command("list", help=LIST_HELP, short_help=first_line(LIST_HELP))
    def list_cmd() -> None:
        with guarded():
            _list()

    @sub.command("path", help=PATH_HELP, short_help=first_line(PATH_HELP))
    def path_cmd() -> None:
        with guarded():
            typer.echo(str(config.config_path()))

    return sub


def register(app: typer.Typer) -> None:
    app.add_typer(build_config_app(), name="config")
