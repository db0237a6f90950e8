"""End to end: `smallest voices` reads the catalog from the real server."""

from __future__ import annotations

import json
from pathlib import Path

from tests.helpers import Server, cli_env, run_cli


def ids(env: dict[str, str], *args: str) -> list[str]:
    result = run_cli(["voices", "--ids", *args], env)
    assert result.returncode == 0, result.stderr.decode()
    return result.stdout.decode().split()


def test_table_lists_the_catalog(env: dict[str, str]) -> None:
    result = run_cli(["voices"], env)
    assert result.returncode == 0, result.stderr.decode()
    out = result.stdout.decode()
    for header in ("id", "name", "gender", "accent", "languages", "use cases"):
        assert header in out
    assert "magnus" in out and "Magnus" in out and "british" in out


def test_json_is_the_catalog(env: dict[str, str]) -> None:
    result = run_cli(["voices", "--json"], env)
    assert result.returncode == 0, result.stderr.decode()
    voices = json.loads(result.stdout)["voices"]
    magnus = next(v for v in voices if v["voiceId"] == "magnus")
    assert magnus["displayName"] == "Magnus" and magnus["tags"]["gender"] == "male"
    assert len(voices) == len(ids(env))


def test_filters(env: dict[str, str]) -> None:
    assert ids(env, "--accent", "british") == ["liam"]
    assert set(ids(env, "--language", "hi", "--gender", "female")) == {
        "maithili", "sameera", "sakshi", "srishti", "meher"
    }
    assert set(ids(env, "--language", "tamil")) == {"rajeshwari", "jeevan"}
    assert ids(env, "--search", "MAGN") == ["magnus"]
    assert ids(env, "--language", "klingon") == []
    english_male = set(ids(env, "--language", "en", "--gender", "male", "--accent", "american"))
    assert english_male == {"magnus", "daniel"}


def test_model_flag_and_errors(server: Server, env: dict[str, str], tmp_path: Path) -> None:
    assert "magnus" in ids(env, "--model", "lightning_v3.1")
    bad = run_cli(["voices", "--model", "nope"], env)
    assert bad.returncode == 2
    wrong = run_cli(["voices"], cli_env(server, tmp_path, SMALLEST_API_KEY="sk_wrong_key_0000"))
    assert wrong.returncode == 3 and len(wrong.stderr.decode().strip().splitlines()) == 1
