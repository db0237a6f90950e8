"""Run `speak` / `stream-sse` / `stream-ws` without building the Typer app, when that is safe.

Importing typer, building the app and letting typer 0.29 coerce values (it builds pydantic
TypeAdapters) costs well over 100 ms, more than the service's whole first-chunk promise. For
the common, plain invocations this module parses the arguments itself into the very `SynthArgs`
typer would produce and calls `run_synth` directly. Anything it is not sure about (help, an unknown
or repeated option, a missing or unusual value, `--`, bundled short options, shell completion)
returns None and the caller falls back to typer, so that errors and help read exactly as before.

tests/test_startup.py checks that this table matches the typer commands' options, and that both
parsers give the same SynthArgs for the same arguments.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any, NamedTuple

#: Command name → transport, for the commands that have a fast path.
FAST_COMMANDS: dict[str, str] = {"speak": "http", "stream-sse": "sse", "stream-ws": "websocket"}

#: Options that take a value: spelling → (SynthArgs field, kind).
VALUE_OPTIONS: dict[str, tuple[str, str]] = {
    "--file": ("file", "str"),
    "-f": ("file", "str"),
    "--voice": ("voice", "str"),
    "-v": ("voice", "str"),
    "--model": ("model", "str"),
    "--sample-rate": ("sample_rate", "int"),
    "-r": ("sample_rate", "int"),
    "--speed": ("speed", "float"),
    "--language": ("language", "str"),
    "-l": ("language", "str"),
    "--format": ("fmt", "str"),
    "--output": ("output", "str"),
    "-o": ("output", "str"),
    "--device": ("device", "str"),
    "--base-url": ("base_url", "str"),
    "--api-key": ("api_key", "str"),
    "--timeout": ("timeout", "float"),
    "--retries": ("retries", "int"),
    "--concurrency": ("concurrency", "int"),
    "--captions": ("captions", "str"),
}

#: Flags: spelling → (SynthArgs field, value when given).
FLAGS: dict[str, tuple[str, bool]] = {
    "--play": ("play", True),
    "--no-play": ("play", False),
    "--json": ("json_output", True),
    "--quiet": ("quiet", True),
    "-q": ("quiet", True),
    "--allow-insecure": ("allow_insecure", True),
    "--debug": ("debug", True),
    "--word-timestamps": ("word_timestamps", True),
    "--live": ("live", True),
    "--no-live": ("live", False),
}

#: Options that only some commands have (typer rejects them elsewhere).
ONLY_FOR: dict[str, frozenset[str]] = {
    "--word-timestamps": frozenset({"stream-ws"}),
    "--live": frozenset({"stream-ws"}),
    "--no-live": frozenset({"stream-ws"}),
}

#: What typer passes when an option is not given.
DEFAULTS: dict[str, Any] = {
    "text": None, "file": None, "voice": None, "model": None, "sample_rate": None, "speed": None,
    "language": None, "fmt": None, "output": None, "play": None, "device": None, "json_output": False,
    "quiet": False, "base_url": None, "api_key": None, "timeout": None, "retries": None,
    "allow_insecure": False, "debug": False, "word_timestamps": False, "concurrency": 1,
    "captions": None, "live": None,
}

# Only plain numerals: anything else goes to typer, whose coercion and messages stay the reference.
# (Compiled by `re` when a number is first given: the common invocation has none.)
_INT = r"-?[0-9]+"
_FLOAT = r"-?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)"


class FastCall(NamedTuple):
    """A command the fast path can run: its transport and every SynthArgs field's value.
    (A NamedTuple: this module runs before every first audio byte, and a dataclass costs ~0.5 ms.)"""

    command: str
    transport: str
    values: dict[str, Any]


def parse(argv: Sequence[str], environ: dict[str, str] | Any = None) -> FastCall | None:
    """`argv` without the program name → the call, or None when typer must handle it."""
    if not argv or argv[0] not in FAST_COMMANDS:
        return None
    if environ is not None and any(k.startswith("_SMALLEST_COMPLETE") for k in environ):
        return None
    command = argv[0]
    values: dict[str, Any] = {}
    text_seen = False
    i = 1
    while i < len(argv):
        token = argv[i]
        i += 1
        if token.startswith("-") and token != "-":
            name, eq, inline = token.partition("=")
            if command not in ONLY_FOR.get(name, FAST_COMMANDS):
                return None
            if name in FLAGS:
                if eq:
                    return None
                field, value = FLAGS[name]
            elif name in VALUE_OPTIONS:
                if eq and not name.startswith("--"):
                    return None  # `-o=x` means the value "=x" to click; leave it to typer
                if not eq:
                    if i >= len(argv):
                        return None
                    inline = argv[i]
                    i += 1
                field, kind = VALUE_OPTIONS[name]
                value = _convert(inline, kind)
                if value is None:
                    return None
            else:
                return None  # --help, --, -abc, unknown options
            if field in values:
                return None
            values[field] = value
        else:
            if text_seen:
                return None
            text_seen = True
            values["text"] = token
    return FastCall(command, FAST_COMMANDS[command], {**DEFAULTS, **values})


def _convert(text: str, kind: str) -> Any:
    if kind == "int":
        return int(text) if re.fullmatch(_INT, text) else None
    if kind == "float":
        return float(text) if re.fullmatch(_FLOAT, text) else None
    return text


def try_run(argv: Sequence[str], environ: Any) -> int | None:
    """Run a plain synthesis command as typer would and return its exit code; None when typer
    must run it (see `parse`)."""
    call = parse(argv, environ)
    if call is None:
        return None
    import dataclasses
    import sys

    from smallest_cli.commands import synth

    if {f.name for f in dataclasses.fields(synth.SynthArgs)} != set(DEFAULTS):
        return None  # SynthArgs grew a field this table does not know: typer knows it
    args = synth.SynthArgs(**call.values)
    try:
        synth.run_synth(call.transport, args)
    except Exception as exc:  # Ctrl-C outside the command's own guard: see __main__.main
        typer = sys.modules.get("typer")
        if typer is not None and isinstance(exc, typer.Exit):
            return int(exc.exit_code)
        raise
    return 0


def seed_websockets_version() -> None:
    """Let `import websockets` skip `importlib.metadata` (about a quarter of its import time).

    websockets' `version.py` imports importlib.metadata at the top but uses it only in development
    checkouts (`released = False`). For a release, the same module is built here from the literal
    values in that file; in any other case nothing is done and websockets imports as usual.
    """
    import sys

    if "websockets.version" in sys.modules:
        return
    import importlib.util

    try:
        spec = importlib.util.find_spec("websockets")
    except (ImportError, ValueError):
        return
    if spec is None or not spec.submodule_search_locations:
        return
    import os

    path = os.path.join(list(spec.submodule_search_locations)[0], "version.py")
    try:
        with open(path, encoding="utf-8") as f:
            source = f.read()
    except OSError:
        return
    # Plain line checks, not regexes: compiling patterns here would cost more than they save.
    lines = source.splitlines()
    released = next((line for line in lines if line in ("released = True", "released = False")), None)
    prefix = 'tag = version = commit = "'
    tagged = (line for line in lines if line.startswith(prefix) and line.endswith('"'))
    literal = next((line[len(prefix) : -1] for line in tagged), None)
    if released != "released = True" or not literal or '"' in literal:
        return
    import types

    module = types.ModuleType("websockets.version")
    module.__file__ = path
    module.__all__ = ["tag", "version", "commit"]  # type: ignore[attr-defined]
    module.released = True  # type: ignore[attr-defined]
    module.tag = module.version = module.commit = literal  # type: ignore[attr-defined]
    sys.modules["websockets.version"] = module
