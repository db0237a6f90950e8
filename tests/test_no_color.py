"""NO_COLOR on a terminal: no colour escape codes; stderr that is not a terminal: no escape codes at all."""

from __future__ import annotations

import os
import re
import select
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

import pytest

from tests.helpers import ROOT, Server, cli_env

SGR = re.compile(rb"\x1b\[([0-9;]*)m")
COLOUR_PARAMS = {*range(30, 39), *range(40, 49), *range(90, 98), *range(100, 108)}


def colour_codes(data: bytes) -> list[bytes]:
    """The SGR sequences in `data` that set a foreground or background colour."""
    return [m.group(0) for m in SGR.finditer(data)
            if any(p and int(p) in COLOUR_PARAMS for p in m.group(1).split(b";"))]


def terminal_env(server: Server, tmp_path: Path, no_color: bool) -> dict[str, str]:
    env = cli_env(server, tmp_path, TERM="xterm-256color", COLUMNS="120", LINES="40")
    for name in ("FORCE_COLOR", "TTY_COMPATIBLE", "TTY_INTERACTIVE", "CLICOLOR_FORCE", "NO_COLOR"):
        env.pop(name, None)
    if no_color:
        env["NO_COLOR"] = "1"
    return env


def run_on_pty(
    args: Sequence[str], env: dict[str, str], cwd: Path, stderr_pipe: bool = False, stdin: bytes | None = None
) -> tuple[int, bytes, bytes]:
    """Run the CLI with stdout (and stderr, unless `stderr_pipe`) on a pseudo-terminal, and `stdin`
    piped in when given: (exit code, what the terminal showed, what the stderr pipe got)."""
    master, slave = os.openpty()
    try:
        proc = subprocess.Popen(
            [sys.executable, "-m", "smallest_cli", *args], stdout=slave,
            stdin=subprocess.DEVNULL if stdin is None else subprocess.PIPE,
            stderr=subprocess.PIPE if stderr_pipe else slave, env={**env, "PYTHONPATH": str(ROOT)}, cwd=cwd,
        )
    finally:
        os.close(slave)
    if proc.stdin is not None:
        proc.stdin.write(stdin or b"")
        proc.stdin.close()
    shown = bytearray()
    try:
        while True:  # until the child's end of the terminal is closed (EIO on Linux)
            ready, _, _ = select.select([master], [], [], 30)
            assert ready, "the CLI produced nothing for 30 s"
            try:
                data = os.read(master, 65536)
            except OSError:
                break
            if not data:
                break
            shown += data
        err = proc.stderr.read() if proc.stderr is not None else b""
        code = proc.wait(timeout=30)
    finally:
        os.close(master)
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    return code, bytes(shown), err


SPEAK = ["speak", "Colour check, one two three.", "-o", "out.wav"]


@pytest.mark.parametrize("args", [["voices"], SPEAK], ids=["voices", "speak"])
def test_no_color_on_a_terminal_has_no_colour_codes(server: Server, tmp_path: Path, args: list[str]) -> None:
    code, shown, _ = run_on_pty(args, terminal_env(server, tmp_path, no_color=True), tmp_path)
    assert code == 0, shown
    assert shown.strip(), "nothing on the terminal"
    assert colour_codes(shown) == [], shown
    if args == SPEAK:
        assert (tmp_path / "out.wav").stat().st_size > 44


def test_without_no_color_the_terminal_is_coloured(server: Server, tmp_path: Path) -> None:
    """The control: the same run on the same pseudo-terminal does colour without NO_COLOR, so the
    test above can tell."""
    code, shown, _ = run_on_pty(SPEAK, terminal_env(server, tmp_path, no_color=False), tmp_path)
    assert code == 0, shown
    assert colour_codes(shown), shown


@pytest.mark.parametrize("args", [["voices"], SPEAK], ids=["voices", "speak"])
def test_stderr_that_is_a_pipe_gets_no_escape_codes(server: Server, tmp_path: Path, args: list[str]) -> None:
    env = terminal_env(server, tmp_path, no_color=False)
    code, shown, err = run_on_pty(args, env, tmp_path, stderr_pipe=True)
    assert code == 0, (shown, err)
    assert b"\x1b" not in err, err
    if args == SPEAK:
        assert b"s of audio" in err  # the plain summary line
