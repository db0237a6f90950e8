"""What the typer commands share: their options, made from the option table (`options.table`), and
how help and command groups are made."""

from __future__ import annotations

import inspect
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from smallest_cli.options.parse import Args
from smallest_cli.options.table import Option, options_for

if TYPE_CHECKING:
    import typer


def first_line(help_text: str) -> str:
    """The help's first line, for command lists (click would cut it at ~45 characters with "...")."""
    return help_text.split("\n", 1)[0]


def command_group(name: str, help_text: str) -> typer.Typer:
    """A group of subcommands (`smallest config ...`); without a subcommand it shows its help."""
    import typer

    return typer.Typer(
        name=name,
        help=help_text,
        short_help=first_line(help_text),
        no_args_is_help=True,
        context_settings={"help_option_names": ["-h", "--help"]},
    )


def _metavar(option: Option) -> str | None:
    """The placeholder for an option's value in help when the table names none: its long name in
    capitals (`--base-url BASE-URL`), as the table's own ones read (FILE, DIR, ID)."""
    if option.kind in ("flag", "switch"):
        return None
    return option.spellings[0].lstrip("-").upper()


def _offering(choices: tuple[str, ...]) -> Callable[[str], list[str]]:
    """A completer of an option's fixed values."""
    return lambda incomplete: [c for c in choices if c.startswith(incomplete)]


def with_options(
    command: str, body: Callable[[Args], None], arguments: Sequence[inspect.Parameter] = ()
) -> Callable[..., None]:
    """A typer command function for `command`: its positional `arguments`, then one parameter per
    row of the option table (`options.table`) that `command` has. `body` gets every value as Args."""
    import typer

    kinds = {"str": str, "int": int, "float": float, "multi": list[str], "flag": bool, "switch": bool}
    params = list(arguments)
    for option in options_for(command):
        # A repeated option's "not given" is None to typer, turned into the table's () below.
        unset = None if option.kind == "multi" else option.unset()
        annotation: Any = kinds[option.kind]
        declarations = ["/".join(option.spellings)] if option.kind == "switch" else list(option.spellings)
        info = typer.Option(
            unset,
            *declarations,
            help=option.help_in(command),
            show_default=option.shown(command) or True,
            metavar=option.metavar or _metavar(option),
            hidden=command in option.hidden_for,
            autocompletion=_offering(option.choices) if option.choices else None,
        )
        params.append(inspect.Parameter(
            option.field, inspect.Parameter.KEYWORD_ONLY, default=info,
            annotation=annotation | None if unset is None else annotation,
        ))

    multi = [o.field for o in options_for(command) if o.kind == "multi"]

    def run(**values: Any) -> None:
        # typer hands a repeated option over as a list (or None): the parsers agree on a tuple.
        body(Args({**values, **{field: tuple(values[field] or ()) for field in multi}}))

    run.__signature__ = inspect.Signature(params)  # type: ignore[attr-defined]
    return run
