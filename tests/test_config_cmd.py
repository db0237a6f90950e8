"""`smallest config ...` run as a real subprocess against an isolated config directory."""

from __future__ import annotations

import os
import stat
import sys
from pathlib import Path

import pytest

from tests.helpers import TEST_KEY, cli_env, run_cli

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

posix_only = pytest.mark.skipif(os.name == "nt", reason="POSIX file modes")


def _cfg(tmp_path: Path) -> Path:
    return tmp_path / "config" / "smallest" / "config.toml"


def _out(proc) -> str:
    return proc.stdout.decode()


def _err(proc) -> str:
    return proc.stderr.decode()


def test_path_prints_the_xdg_location(tmp_path: Path) -> None:
    proc = run_cli(["config", "path"], cli_env(None, tmp_path))
    assert proc.returncode == 0, _err(proc)
    assert _out(proc).strip() == str(_cfg(tmp_path))
    assert not _cfg(tmp_path).exists()


def test_path_defaults_to_home_dot_config(tmp_path: Path) -> None:
    env = cli_env(None, tmp_path)
    del env["XDG_CONFIG_HOME"]
    proc = run_cli(["config", "path"], env)
    assert _out(proc).strip() == str(tmp_path / ".config" / "smallest" / "config.toml")


def test_a_key_given_as_an_argument_is_stored_with_a_warning(tmp_path: Path) -> None:
    """`config set api_key sk_...` put the key in the process list without a word; stdin does not."""
    proc = run_cli(["config", "set", "api_key", TEST_KEY], cli_env(None, tmp_path))
    assert proc.returncode == 0, _err(proc)
    assert _err(proc).strip().splitlines() == [
        "smallest: warning: the key was visible to other users of this machine (process list, "
        "shell history); next time give - and the key on stdin: `smallest config set api_key -`"
    ]
    assert TEST_KEY not in _err(proc)


def test_the_missing_key_error_suggests_stdin(tmp_path: Path) -> None:
    env = cli_env(None, tmp_path)
    env["SMALLEST_BASE_URL"] = "http://127.0.0.1:9"
    proc = run_cli(["speak", "Hi.", "-o", str(tmp_path / "x.wav")], env)
    assert proc.returncode == 2
    assert "`smallest config set api_key -` (it reads the key from stdin" in _err(proc)


@posix_only
def test_set_api_key_from_stdin_stores_it_0600_and_never_prints_it(tmp_path: Path) -> None:
    env = cli_env(None, tmp_path)
    proc = run_cli(["config", "set", "api_key", "-"], env, input=f"{TEST_KEY}\n".encode())
    assert proc.returncode == 0, _err(proc)
    assert proc.stdout == b"" and proc.stderr == b""
    cfg = _cfg(tmp_path)
    assert stat.S_IMODE(cfg.stat().st_mode) == 0o600
    assert stat.S_IMODE(cfg.parent.stat().st_mode) == 0o700
    with cfg.open("rb") as fh:
        assert tomllib.load(fh) == {"api_key": TEST_KEY}

    for args in (["config", "get", "api_key"], ["config", "list"]):
        proc = run_cli(args, env)
        assert proc.returncode == 0, _err(proc)
        assert TEST_KEY not in _out(proc) + _err(proc)
    assert _out(run_cli(["config", "get", "api_key"], env)).strip() == "sk_…ef"


def test_set_get_list_unset_round_trip(tmp_path: Path) -> None:
    env = cli_env(None, tmp_path)
    for key, value in (("voice", "meher"), ("sample-rate", "16000"), ("speed", "1.5"), ("api_key", TEST_KEY)):
        proc = run_cli(["config", "set", key, value], env)
        assert proc.returncode == 0, _err(proc)
    assert _out(run_cli(["config", "get", "voice"], env)) == "meher\n"
    assert _out(run_cli(["config", "get", "sample_rate"], env)) == "16000\n"
    proc = run_cli(["config", "list"], env)
    assert _out(proc) == "voice = meher\nsample_rate = 16000\nspeed = 1.5\napi_key = sk_…ef\n"

    assert run_cli(["config", "unset", "voice"], env).returncode == 0
    proc = run_cli(["config", "get", "voice"], env)
    assert proc.returncode == 2
    assert _err(proc).strip() == f"smallest: error: voice is not set in {_cfg(tmp_path)}"
    again = run_cli(["config", "unset", "voice"], env)
    assert again.returncode == 0 and "was not set" in _err(again)


@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        (["set", "speed", "3"], "speed must be a number from 0.5 to 2.0"),
        (["set", "sample_rate", "22050"], "sample rate must be one of 8000, 16000, 24000, 44100"),
        (["set", "model", "lightning"], "model must be one of lightning_v3.1, lightning_v3.1_pro"),
        (["set", "base_url", "localhost:8123"], "base_url must look like https://host[:port]"),
        (["set", "api_key", ""], "api_key must not be empty"),
        (["set", "api_key", "sk_a b"], "api_key must be one word of printable ASCII characters"),
        (["set", "cache_max_mb", "-5"], "cache_max_mb must be a whole number of MB, 1 or more, not '-5'"),
        (["set", "speed", "--", "-1"], "speed must be a number from 0.5 to 2.0, not '-1'"),
        (["set", "base_url", "http://example.com"], "refusing to send the API key unencrypted"),
        (["set", "colour", "red"], "unknown config key 'colour'"),
        (["get", "colour"], "unknown config key 'colour'"),
        (["unset", "colour"], "unknown config key 'colour'"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(tmp_path: Path, args: list[str], fragment: str) -> None:
    proc = run_cli(["config", *args], cli_env(None, tmp_path))
    assert proc.returncode == 2
    lines = _err(proc).splitlines()
    assert len(lines) == 1 and lines[0].startswith("smallest: error: ") and fragment in lines[0]
    assert not _cfg(tmp_path).exists()


def test_empty_stdin_for_dash_is_an_error(tmp_path: Path) -> None:
    proc = run_cli(["config", "set", "api_key", "-"], cli_env(None, tmp_path), input=b"\n")
    assert proc.returncode == 2
    assert "no value for api_key on standard input" in _err(proc)
    assert not _cfg(tmp_path).exists()


def test_multiline_stdin_for_dash_is_an_error(tmp_path: Path) -> None:
    proc = run_cli(["config", "set", "voice", "-"], cli_env(None, tmp_path), input=b"a\nb\n")
    assert proc.returncode == 2
    assert "single line" in _err(proc)


def test_unparsable_file_reports_path_and_line(tmp_path: Path) -> None:
    cfg = _cfg(tmp_path)
    cfg.parent.mkdir(parents=True)
    cfg.write_text('voice = "magnus"\nspeed = = 1\n')
    proc = run_cli(["config", "list"], cli_env(None, tmp_path))
    assert proc.returncode == 2
    lines = _err(proc).splitlines()
    assert len(lines) == 1
    assert lines[0].startswith(f"smallest: error: cannot parse config file {cfg}, line 2: ")


@posix_only
def test_list_warns_about_a_world_readable_file_with_a_key(tmp_path: Path) -> None:
    env = cli_env(None, tmp_path)
    run_cli(["config", "set", "api_key", "-"], env, input=TEST_KEY.encode())
    cfg = _cfg(tmp_path)
    cfg.chmod(0o644)
    proc = run_cli(["config", "list"], env)
    assert proc.returncode == 0
    warning = f"smallest: warning: {cfg} is readable by other users (mode 0644); run: chmod 600 {cfg}"
    assert warning in _err(proc).splitlines()
    # Writing again replaces the file with a 0600 one.
    run_cli(["config", "set", "voice", "magnus"], env)
    assert stat.S_IMODE(cfg.stat().st_mode) == 0o600
    assert "warning" not in _err(run_cli(["config", "list"], env))


def test_environment_override_is_noted_on_stderr(tmp_path: Path) -> None:
    env = cli_env(None, tmp_path, SMALLEST_VOICE="liam")
    run_cli(["config", "set", "voice", "meher"], env)
    proc = run_cli(["config", "get", "voice"], env)
    assert _out(proc) == "meher\n"
    assert "SMALLEST_VOICE is set in the environment" in _err(proc)


@pytest.mark.parametrize("sub", ["set", "get", "unset", "list", "path"])
def test_each_command_help_has_examples(tmp_path: Path, sub: str) -> None:
    proc = run_cli(["config", sub, "--help"], cli_env(None, tmp_path))
    assert proc.returncode == 0
    text = _out(proc)
    assert "Examples:" in text
    assert text.count(f"smallest config {sub}") >= 2 or text.count("smallest config") >= 2


def test_config_without_subcommand_shows_help(tmp_path: Path) -> None:
    proc = run_cli(["config"], cli_env(None, tmp_path))
    assert proc.returncode in (0, 2)
    assert "set" in _out(proc) + _err(proc) and "list" in _out(proc) + _err(proc)


def test_list_of_an_empty_config_says_so_on_stderr(tmp_path: Path) -> None:
    result = run_cli(["config", "list"], cli_env(None, tmp_path))
    assert result.returncode == 0
    assert result.stdout == b""
    assert result.stderr.decode().startswith("smallest: note: nothing is set in ")


def test_set_and_unset_keep_the_users_comments(tmp_path: Path) -> None:
    """Only the line of the key changes; the rest of a hand-written file is kept byte for byte."""
    env = cli_env(None, tmp_path)
    path = _cfg(tmp_path)
    path.parent.mkdir(parents=True)
    hand_written = '# my personal notes\nvoice = "meher"   # favourite voice\n'
    path.write_text(hand_written)
    proc = run_cli(["config", "set", "sample_rate", "16000"], env)
    assert proc.returncode == 0, _err(proc)
    assert path.read_text() == hand_written + "sample_rate = 16000\n"
    proc = run_cli(["config", "set", "voice", "liam"], env)
    assert proc.returncode == 0, _err(proc)
    proc = run_cli(["config", "unset", "sample_rate"], env)
    assert proc.returncode == 0, _err(proc)
    assert path.read_text() == '# my personal notes\nvoice = "liam"   # favourite voice\n'


@pytest.mark.parametrize("sub", [["set", "voice", "liam"], ["unset", "voice"], ["get", "voice"]])
def test_an_unparsable_file_is_one_line_that_says_how_to_fix_it(tmp_path: Path, sub: list[str]) -> None:
    cfg = _cfg(tmp_path)
    cfg.parent.mkdir(parents=True)
    cfg.write_text("voice = meher\n")
    proc = run_cli(["config", *sub], cli_env(None, tmp_path))
    assert proc.returncode == 2
    assert _err(proc).splitlines() == [
        f"smallest: error: cannot parse config file {cfg}, line 1: Invalid value; fix it in a text editor "
        "(`smallest config path` names it), or remove it to start afresh"
    ]
    assert cfg.read_text() == "voice = meher\n"
