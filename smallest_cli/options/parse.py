"""Parse `speak` / `stream-sse` / `stream-ws` arguments without typer, from the option table.

Importing typer, building the app and letting it coerce values (it builds pydantic TypeAdapters)
costs well over 100 ms, more than the service's whole first-chunk promise. The common, plain
invocations are parsed here instead, into the same `Args` typer hands the command. Anything this
parser is not sure about (help, an unknown or repeated option, a missing or unusual value, `--`,
bundled short options, shell completion) gives None, and typer parses it, so that errors and help
read the same either way. Both parsers read `options.table`, so they cannot drift apart.
"""

from __future__ import annotations

from smallest_cli.options.table import OPTIONS, SYNTH_COMMANDS, Option, options_for

TYPE_CHECKING = False  # typing.TYPE_CHECKING, without importing typing (startup.py)
if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence
    from typing import Any

# Only plain numerals: anything else goes to typer, whose coercion and messages stay the reference.
# (`re` is imported, and the pattern compiled, when a number is first given: the common invocation
# has none.)
_NUMERALS = {"int": r"-?[0-9]+", "float": r"-?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)"}
_CONVERT = {"int": int, "float": float}


class Args(dict):  # type: ignore[type-arg]
    """The parsed options of a command, by field (`options.table`), readable as attributes."""

    def __getattr__(self, name: str) -> Any:
        try:
            return self[name]
        except KeyError:
            raise AttributeError(name) from None


class FastCall:
    """A synthesis command the fast path can run: its name and its parsed options."""

    __slots__ = ("command", "args")

    def __init__(self, command: str, args: Args) -> None:
        self.command = command
        self.args = args


def synth_defaults() -> Args:
    """Every synthesis option's value when it is not given (TEXT included), as typer passes them."""
    values = Args(text=None)
    for option in OPTIONS:
        if option.commands & SYNTH_COMMANDS.keys():
            values[option.field] = option.unset()
    return values


def completing(environ: Mapping[str, str]) -> bool:
    """True when a shell's completion script runs `smallest` to ask what fits (docs/completions.md)."""
    return any(k.startswith("_SMALLEST_COMPLETE") for k in environ)


def parse(argv: Sequence[str], environ: Mapping[str, str] | None = None) -> FastCall | None:
    """`argv` without the program name → the call, or None when typer must handle it."""
    if not argv or argv[0] not in SYNTH_COMMANDS:
        return None
    if environ is not None and completing(environ):
        return None
    command = argv[0]
    spelled = _spellings(options_for(command))
    values: dict[str, Any] = {}
    i = 1
    while i < len(argv):
        token = argv[i]
        i += 1
        if not token.startswith("-") or token == "-":
            if "text" in values:
                return None
            values["text"] = token
            continue
        name, eq, inline = token.partition("=")
        option = spelled.get(name)
        if option is None:
            return None  # --help, --, -abc, unknown options
        if option.kind in ("flag", "switch"):
            if eq:
                return None
            value: Any = name != option.spellings[-1] if option.kind == "switch" else True
        else:
            if eq and not name.startswith("--"):
                return None  # `-o=x` means the value "=x" to click; leave it to typer
            if not eq:
                if i >= len(argv):
                    return None
                inline = argv[i]
                i += 1
            value = _convert(inline, option.kind)
            if value is None:
                return None
        if option.kind == "multi":
            values[option.field] = (*values.get(option.field, ()), value)
            continue
        if option.field in values:
            return None
        values[option.field] = value
    args = synth_defaults()
    args.update(values)
    return FastCall(command, args)


def _spellings(options: Sequence[Option]) -> dict[str, Option]:
    return {spelling: option for option in options for spelling in option.spellings}


def _convert(text: str, kind: str) -> Any:
    if kind not in _NUMERALS:
        return text
    import re

    return _CONVERT[kind](text) if re.fullmatch(_NUMERALS[kind], text) else None
