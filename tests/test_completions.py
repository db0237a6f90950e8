"""Shell completion: the committed scripts are current, and completing really works."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.helpers import ROOT, cli_env, run_cli

COMPLETIONS = ROOT / "completions"
FILES = ("smallest.bash", "_smallest", "smallest.fish")
COMMANDS = {"speak", "stream-sse", "stream-ws", "batch", "voices", "serve", "devices", "config", "cache"}
CONFIG_SUBCOMMANDS = {"set", "get", "unset", "list", "path"}


def _complete_bash(tmp_path: Path, line: str) -> list[str]:
    """What `smallest` answers to bash's completion protocol for the words in `line`."""
    words = line.split(" ")
    env = cli_env(
        None, tmp_path, _SMALLEST_COMPLETE="complete_bash", COMP_WORDS=line, COMP_CWORD=str(len(words) - 1)
    )
    proc = run_cli([], env)
    assert proc.returncode == 0, proc.stderr.decode()
    return proc.stdout.decode().split()


def test_committed_completion_scripts_are_current(tmp_path: Path) -> None:
    out = tmp_path / "fresh"
    proc = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "gen_completions.py"), "--out", str(out)],
        capture_output=True,
        text=True,
        cwd=ROOT,
    )
    assert proc.returncode == 0, proc.stderr
    assert sorted(p.name for p in out.iterdir()) == sorted(FILES)
    for name in FILES:
        committed = COMPLETIONS / name
        assert committed.is_file(), f"{committed} is missing; run `make completions`"
        assert committed.read_text() == (out / name).read_text(), (
            f"{committed} is stale; run `make completions`"
        )


def test_check_mode_reports_stale_files(tmp_path: Path) -> None:
    script = str(ROOT / "scripts" / "gen_completions.py")
    assert subprocess.run([sys.executable, script, "--check"], cwd=ROOT).returncode == 0
    (tmp_path / "smallest.bash").write_text("# old\n")
    proc = subprocess.run(
        [sys.executable, script, "--check", "--out", str(tmp_path)], capture_output=True, text=True
    )
    assert proc.returncode == 1
    assert "smallest.bash" in proc.stderr and "_smallest" in proc.stderr


def test_scripts_use_the_smallest_complete_variable() -> None:
    for name in FILES:
        text = (COMPLETIONS / name).read_text()
        assert "_SMALLEST_COMPLETE=complete_" in text
        assert "smallest" in text
    assert (COMPLETIONS / "_smallest").read_text().startswith("#compdef smallest\n")


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        ("smallest spe", "speak"),
        ("smallest con", "config"),
        ("smallest ser", "serve"),
        ("smallest voi", "voices"),
    ],
)
def test_bash_completes_command_names(tmp_path: Path, line: str, expected: str) -> None:
    assert expected in _complete_bash(tmp_path, line)


def test_bash_lists_all_commands_on_empty_word(tmp_path: Path) -> None:
    names = set(_complete_bash(tmp_path, "smallest "))
    assert {"speak", "config", "serve", "voices"} <= names


def test_bash_completes_config_subcommands_and_keys(tmp_path: Path) -> None:
    assert set(_complete_bash(tmp_path, "smallest config ")) >= {"set", "get", "unset", "list", "path"}
    assert _complete_bash(tmp_path, "smallest config set sa") == ["sample_rate"]
    assert _complete_bash(tmp_path, "smallest config set cache") == ["cache", "cache_max_mb"]
    assert set(_complete_bash(tmp_path, "smallest cache ")) == {"path", "info", "clear"}
    assert "api_key" in _complete_bash(tmp_path, "smallest config get ")


def test_bash_completes_the_values_of_options_that_take_few(tmp_path: Path) -> None:
    assert _complete_bash(tmp_path, "smallest speak --model ") == ["lightning_v3.1", "lightning_v3.1_pro"]
    assert _complete_bash(tmp_path, "smallest stream-ws --code s") == ["skip"]
    assert _complete_bash(tmp_path, "smallest speak -r 1") == ["16000"]
    assert _complete_bash(tmp_path, "smallest batch x --transport ") == ["ws", "sse", "sync"]
    assert _complete_bash(tmp_path, "smallest voices --gender f") == ["female"]
    assert set(_complete_bash(tmp_path, "smallest speak --format ")) == {"wav", "ulaw", "alaw", "pcm", "mp3"}


def _env_with_smallest_on_path(tmp_path: Path) -> dict[str, str]:
    """An environment whose `smallest` on PATH is this checkout's, as the sourced scripts call it."""
    bindir = tmp_path / "bin"
    bindir.mkdir()
    shim = bindir / "smallest"
    shim.write_text(f'#!/bin/sh\nexec "{sys.executable}" -m smallest_cli "$@"\n')
    shim.chmod(0o755)
    env = cli_env(None, tmp_path)
    env["PATH"] = f"{bindir}:{env.get('PATH', '/usr/bin:/bin')}"
    return env


def test_sourced_bash_script_fills_compreply(tmp_path: Path) -> None:
    """Source the committed script in a real bash and call its function as bash would on TAB."""
    env = _env_with_smallest_on_path(tmp_path)
    script = f"""
source "{COMPLETIONS / "smallest.bash"}"
complete -p smallest
COMP_WORDS=(smallest config l)
COMP_CWORD=2
_smallest_completion smallest l smallest
printf 'REPLY:%s\\n' "${{COMPREPLY[@]}}"
"""
    proc = subprocess.run(
        ["bash", "--norc", "--noprofile", "-c", script], capture_output=True, text=True, env=env
    )
    assert proc.returncode == 0, proc.stderr
    assert "complete -o default -F _smallest_completion smallest" in proc.stdout
    assert [ln for ln in proc.stdout.splitlines() if ln.startswith("REPLY:")] == ["REPLY:list"]


def test_zsh_and_fish_protocols_answer(tmp_path: Path) -> None:
    zsh = run_cli(
        [], cli_env(None, tmp_path, _SMALLEST_COMPLETE="complete_zsh", _TYPER_COMPLETE_ARGS="smallest con")
    )
    assert zsh.returncode == 0 and '"config"' in zsh.stdout.decode()
    fish_env = cli_env(
        None,
        tmp_path,
        _SMALLEST_COMPLETE="complete_fish",
        _TYPER_COMPLETE_FISH_ACTION="get-args",
        _TYPER_COMPLETE_ARGS="smallest con",
    )
    fish = run_cli([], fish_env)
    assert fish.returncode == 0 and fish.stdout.decode().startswith("config")


def _without_columns(env: dict[str, str], columns: str | None) -> dict[str, str]:
    env = {k: v for k, v in env.items() if k not in ("COLUMNS", "TERMINAL_WIDTH")}
    if columns is not None:
        env["COLUMNS"] = columns
    return env


@pytest.mark.parametrize("columns", [None, "80", "40"])
@pytest.mark.parametrize(
    ("line", "expected"), [("smallest ", COMMANDS), ("smallest config ", CONFIG_SUBCOMMANDS)]
)
def test_fish_protocol_answers_one_line_per_candidate(
    tmp_path: Path, columns: str | None, line: str, expected: set[str]
) -> None:
    """Descriptions longer than the terminal stay on their candidate's line: fish (which does not
    export COLUMNS) reads every line of the answer as a candidate of its own."""
    env = cli_env(None, tmp_path, _SMALLEST_COMPLETE="complete_fish", _TYPER_COMPLETE_FISH_ACTION="get-args")
    proc = run_cli([], {**_without_columns(env, columns), "_TYPER_COMPLETE_ARGS": line})
    assert proc.returncode == 0, proc.stderr.decode()
    lines = proc.stdout.decode().splitlines()
    assert all("\t" in ln for ln in lines), lines
    assert sorted(ln.split("\t")[0] for ln in lines) == sorted(expected)


@pytest.mark.parametrize("columns", [None, "80"])
def test_zsh_protocol_answers_one_line_per_candidate(tmp_path: Path, columns: str | None) -> None:
    env = cli_env(None, tmp_path, _SMALLEST_COMPLETE="complete_zsh", _TYPER_COMPLETE_ARGS="smallest ")
    proc = run_cli([], _without_columns(env, columns))
    assert proc.returncode == 0, proc.stderr.decode()
    lines = proc.stdout.decode().splitlines()
    assert len(lines) == len(COMMANDS)
    assert all(ln.startswith(('"', "_arguments ")) for ln in lines), lines


@pytest.mark.skipif(shutil.which("fish") is None, reason="fish is not installed")
@pytest.mark.parametrize(
    ("line", "expected"), [("smallest ", COMMANDS), ("smallest config ", CONFIG_SUBCOMMANDS)]
)
def test_sourced_fish_script_offers_each_candidate_once(
    tmp_path: Path, line: str, expected: set[str]
) -> None:
    """Source the committed script in a real fish and ask it what completes `line`."""
    env = _without_columns(_env_with_smallest_on_path(tmp_path), None)
    script = f'source "{COMPLETIONS / "smallest.fish"}"; complete -C "{line}"'
    proc = subprocess.run(["fish", "--no-config", "-c", script], capture_output=True, text=True, env=env)
    assert proc.returncode == 0, proc.stderr
    candidates = [ln.split("\t")[0] for ln in proc.stdout.splitlines()]
    assert sorted(candidates) == sorted(expected)
