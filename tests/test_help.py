"""Every command's --help shows worked examples; the synthesis commands' help lists the exit codes."""

from __future__ import annotations

import os
import re
from typing import Any

import pytest

from tests.helpers import run_cli

COMMANDS = ["speak", "stream-sse", "stream-ws", "batch", "voices", "serve", "devices", "config", "cache"]
SYNTH = {"speak", "stream-sse", "stream-ws"}


def _help(cmd: str) -> str:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SMALLEST_")}
    result = run_cli([cmd, "--help"], {**env, "NO_COLOR": "1", "COLUMNS": "200"}, timeout=30)
    assert result.returncode == 0, result.stderr
    assert result.stderr == b""
    return result.stdout.decode()


@pytest.mark.parametrize("cmd", COMMANDS)
def test_help_has_examples_of_the_command(cmd: str) -> None:
    out = _help(cmd)
    assert "Examples:" in out
    examples = out.split("Examples:", 1)[1]
    usage = re.compile(rf"^\s+(smallest {re.escape(cmd)}\b|\S.*\|\s*smallest\b|.*\bsmallest\b.*\|)")
    lines = [line for line in examples.splitlines() if usage.match(line)]
    assert len(lines) >= 2, out


@pytest.mark.parametrize("cmd", sorted(SYNTH))
def test_synthesis_help_lists_the_exit_codes(cmd: str) -> None:
    out = " ".join(_help(cmd).split())  # unwrapped
    assert "Exit codes:" in out
    for code, meaning in [("0", "success"), ("2", "usage"), ("3", "authentication"), ("4", "rate limited"),
                          ("5", "server"), ("6", "network"), ("130", "interrupted")]:
        assert re.search(rf"\b{code} {meaning}", out), (code, meaning)


def test_readme_exit_code_table_matches_the_errors_module() -> None:
    """The README's table and `--help` say the same thing: both come from errors.EXIT_CODES."""
    import re
    from pathlib import Path

    from smallest_cli.errors import EXIT_CODES

    readme = (Path(__file__).resolve().parent.parent / "README.md").read_text(encoding="utf-8")
    table = dict(re.findall(r"^\| (\d+) \| (.+?) \|$", readme.split("### Exit codes", 1)[1], re.M))
    assert sorted(int(code) for code in table) == [code for code, _ in EXIT_CODES]
    for code, meaning in EXIT_CODES:
        assert table[str(code)].startswith(meaning), code


def _command_paths() -> list[list[str]]:
    """Every command and subcommand, as the words that name it (the root is [])."""
    import typer.main

    from smallest_cli.cli import build_app

    def walk(command: Any, path: list[str]) -> list[list[str]]:
        found = [path]
        for name, sub in sorted(getattr(command, "commands", {}).items()):
            found += walk(sub, [*path, name])
        return found

    return walk(typer.main.get_command(build_app()), [])


def _example_paragraphs(out: str) -> list[list[str]]:
    """The lines of each example (a paragraph of the Examples section, indented under it)."""
    lines = out.split("Examples:\n", 1)[1].splitlines()
    paragraphs: list[list[str]] = [[]]
    for line in lines:
        if line.strip() and len(line) - len(line.lstrip()) < 4:
            break  # the next section (Settings:, Exit codes:, Options:, ...)
        if line.strip():
            paragraphs[-1].append(line)
        elif paragraphs[-1]:
            paragraphs.append([])
    return [p for p in paragraphs if p]


@pytest.mark.parametrize("path", _command_paths(), ids=lambda p: " ".join(p) or "smallest")
def test_every_example_fits_on_one_line_at_80_columns(path: list[str]) -> None:
    """An example cut in two cannot be copied into a shell; click wraps help at 80 columns at most,
    so an example must fit whatever the terminal."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("SMALLEST_")}
    result = run_cli([*path, "--help"], {**env, "NO_COLOR": "1", "COLUMNS": "80"}, timeout=30)
    assert result.returncode == 0, result.stderr
    out = result.stdout.decode()
    if "Examples:" not in out:
        return
    examples = _example_paragraphs(out)
    assert examples, out
    assert [p for p in examples if len(p) != 1] == []
    assert any(p[0].lstrip().startswith("smallest ") for p in examples)
