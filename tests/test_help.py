"""Every command's --help shows worked examples; the synthesis commands' help lists the exit codes."""

from __future__ import annotations

import os
import re

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
