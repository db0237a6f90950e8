"""One setting's value from its layers: flag > environment > config file > the table's fallback.

Apart from `options.resolve` (which checks the values and builds the settings) because the first
connection is started from the parsed arguments (`run.early`), before the modules that checking
needs are imported.
"""

from __future__ import annotations

from smallest_cli.errors import UsageError
from smallest_cli.options.table import BY_FIELD, Option

TYPE_CHECKING = False  # typing.TYPE_CHECKING, without importing typing (startup.py)
if TYPE_CHECKING:
    from collections.abc import Mapping
    from typing import Any


def setting(
    field: str, flags: Mapping[str, Any], environ: Mapping[str, str], config: Mapping[str, str]
) -> Any:
    """`field`'s value: its flag, else its environment variable, else the config file, else the
    table's fallback. An empty environment variable or config value counts as not given; an empty
    flag is an error (`-v "$VOICE"` with VOICE unset), not a quiet fall back to the default."""
    given = _given(field, flags, environ, config)
    return BY_FIELD[field].fallback if given is None else given[0]


class naming_the_environment:
    """A check's UsageError about `field`'s value names the environment variable the value came
    from, which the user may have set long ago and forgotten (the config file's values are named
    when the file is read; a flag is on the command line in front of them). A class, not
    contextlib's decorator: this module is read before the first connection's SYN (startup.py)."""

    def __init__(self, field: str, flags: Mapping[str, Any], environ: Mapping[str, str]) -> None:
        self._field, self._flags, self._environ = field, flags, environ

    def __enter__(self) -> None:
        return None

    def __exit__(self, kind: object, err: BaseException | None, trace: object) -> None:
        if isinstance(err, UsageError):
            env = BY_FIELD[self._field].env
            if self._flags.get(self._field) is None and env and self._environ.get(env):
                raise UsageError(f"{env}: {err}") from None


def given_by(
    field: str, flags: Mapping[str, Any], environ: Mapping[str, str], config: Mapping[str, str]
) -> str | None:
    """Where `setting` takes `field`'s value from, for a message: the flag's spelling, the
    environment variable, or `FIELD in the config file`; None for the table's fallback."""
    given = _given(field, flags, environ, config)
    return None if given is None else given[1]


def given_flag(field: str, flags: Mapping[str, Any]) -> Any:
    """The flag's value for `field` (None when not given); UsageError when it is given blank, which
    is nearly always an unset shell variable (`--name "$NAME"`), not a wish for the default."""
    flag = flags.get(field)
    if isinstance(flag, str) and not flag.strip():
        raise UsageError(f"{BY_FIELD[field].spellings[0]} is empty: give a value, or leave the flag out")
    return flag


def _given(
    field: str, flags: Mapping[str, Any], environ: Mapping[str, str], config: Mapping[str, str]
) -> tuple[Any, str] | None:
    """The first layer that gives `field` a value: (the value, where it comes from)."""
    option = BY_FIELD[field]
    flag = given_flag(field, flags)
    for value, where in (
        (flag, option.spellings[0]),
        (environ.get(option.env) if option.env is not None else None, option.env),
        (_from_config(option, config), f"{field} in the config file"),
    ):
        if value is not None and value != "":
            return value, str(where)
    return None


def _from_config(option: Option, config: Mapping[str, str]) -> Any:
    text = config.get(option.field) if option.config else None
    if text is not None and option.kind == "switch":
        return text == "true"  # the config file's canonical "true" or "false"
    if text is None or option.kind not in ("int", "float"):
        return text
    try:
        return int(text) if option.kind == "int" else float(text)
    except ValueError:
        raise UsageError(f"config file: {option.field} {text!r} is not a number") from None
