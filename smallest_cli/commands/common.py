"""What the typer commands share: their options, made from the option table (`options.table`)."""

from __future__ import annotations

import inspect
from collections.abc import Callable, Sequence
from typing import Any

from smallest_cli.options.parse import Args
from smallest_cli.options.table import options_for


def with_options(
    command: str, body: Callable[[Args], None], arguments: Sequence[inspect.Parameter] = ()
) -> Callable[..., None]:
    """A typer command function for `command`: its positional `arguments`, then one parameter per
    row of the option table (`options.table`) that `command` has. `body` gets every value as Args."""
    import typer

    kinds = {"str": str, "int": int, "float": float, "flag": bool, "switch": bool}
    params = list(arguments)
    for option in options_for(command):
        unset = option.unset()
        annotation: Any = kinds[option.kind]
        declarations = ["/".join(option.spellings)] if option.kind == "switch" else list(option.spellings)
        info = typer.Option(
            unset,
            *declarations,
            help=option.help_in(command),
            show_default=option.shown() or True,
            metavar=option.metavar,
            hidden=command in option.hidden_for,
        )
        params.append(inspect.Parameter(
            option.field, inspect.Parameter.KEYWORD_ONLY, default=info,
            annotation=annotation | None if unset is None else annotation,
        ))

    def run(**values: Any) -> None:
        body(Args(values))

    run.__signature__ = inspect.Signature(params)  # type: ignore[attr-defined]
    return run
