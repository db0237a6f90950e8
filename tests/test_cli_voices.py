"""End to end: `smallest voices` reads the catalog from the real server."""

from __future__ import annotations

import contextlib
import http.server
import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.helpers import Server, cli_env, http_server, run_cli, running_server


def ids(env: dict[str, str], *args: str) -> list[str]:
    result = run_cli(["voices", "--ids", *args], env)
    assert result.returncode == 0, result.stderr.decode()
    return result.stdout.decode().split()


STANDARD = ["--model", "lightning_v3.1"]


def test_table_lists_the_catalog(env: dict[str, str]) -> None:
    result = run_cli(["voices"], env)
    assert result.returncode == 0, result.stderr.decode()
    out = result.stdout.decode()
    for header in ("id", "name", "pool", "gender", "accent", "languages", "use cases"):
        assert header in out
    assert "magnus" in out and "Magnus" in out and "british" in out


def test_json_is_the_catalog(env: dict[str, str]) -> None:
    result = run_cli(["voices", "--json"], env)
    assert result.returncode == 0, result.stderr.decode()
    voices = json.loads(result.stdout)["voices"]
    magnus = next(v for v in voices if v["voiceId"] == "magnus")
    assert magnus["displayName"] == "Magnus" and magnus["tags"]["gender"] == "male"
    assert magnus["pools"] == ["standard"] and "pool" not in magnus
    assert len(voices) == len(ids(env))


def test_filters(env: dict[str, str]) -> None:
    assert ids(env, *STANDARD, "--accent", "british") == ["liam"]
    assert set(ids(env, *STANDARD, "--language", "hi", "--gender", "female")) == {
        "maithili", "sameera", "sakshi", "srishti", "meher", "sunidhi", "chinmayi", "aanya", "siya", "anuja",
        "avni", "ishani", "yuvika", "advika", "sana", "maya",
    }
    assert ids(env, "--accent", "canadian", "--gender", "male") == ["william"]
    assert set(ids(env, *STANDARD, "--language", "tamil")) == {"rajeshwari", "jeevan"}
    assert ids(env, "--search", "MAGN") == ["magnus"]
    assert ids(env, "--language", "klingon") == []
    english_male = set(ids(env, *STANDARD, "--language", "en", "--gender", "male", "--accent", "american"))
    assert english_male == {
        "magnus", "daniel", "jordan", "robert", "johnny", "lucas", "ronald", "blofeld", "zorin", "felix",
        "malcolm",
    }


def test_one_path_lists_both_catalogs_and_model_picks_a_pool(server: Server, env: dict[str, str]) -> None:
    """The one voices path lists the standard and Pro voices together (get-voices-openapi.yaml);
    the Pro path is asked too (another version's reading), and refused here; the Pro model card
    says which are Pro. `meher` is on both cards."""
    debug = run_cli(["voices", "--ids", "--model", "lightning_v3.1_pro", "--debug"], env)
    requests_made = [line for line in debug.stderr.decode().splitlines() if "GET " in line]
    assert [line.rsplit("/waves/v1/", 1)[1] for line in requests_made] == [
        "lightning-v3.1/get_voices", "lightning-v3.1-pro/get_voices"
    ]
    every = set(ids(env))
    pro = set(ids(env, "--model", "lightning_v3.1_pro"))
    standard = set(ids(env, *STANDARD))
    assert {"rhea", "sophie", "meher"} <= pro and "magnus" not in pro
    assert {"magnus", "meher"} <= standard and "rhea" not in standard
    assert every == pro | standard and len(every) > 100


def test_model_flag_and_errors(server: Server, env: dict[str, str], tmp_path: Path) -> None:
    assert "magnus" in ids(env, "--model", "lightning_v3.1")
    bad = run_cli(["voices", "--model", "nope"], env)
    assert bad.returncode == 2
    wrong = run_cli(["voices"], cli_env(server, tmp_path, SMALLEST_API_KEY="sk_wrong_key_0000"))
    assert wrong.returncode == 3 and len(wrong.stderr.decode().strip().splitlines()) == 1


def test_an_unknown_gender_is_refused_not_an_empty_table(env: dict[str, str]) -> None:
    result = run_cli(["voices", "--gender", "x"], env)
    assert result.returncode == 2
    assert result.stderr.decode().strip() == "smallest: error: --gender must be female or male, not 'x'"
    assert ids(env, "--gender", "FEMALE") and ids(env, "--gender", "female") == ids(env, "--gender", "FEMALE")


def test_ids_with_json_is_a_json_list_of_ids(env: dict[str, str]) -> None:
    result = run_cli(["voices", "--ids", "--json", "--search", "MAGN"], env)
    assert result.returncode == 0 and json.loads(result.stdout) == ["magnus"]


def test_no_match_says_which_filter_no_voice_has(env: dict[str, str]) -> None:
    """Stdout stays empty for a script; stderr names the filter and the catalog's own values."""
    result = run_cli(["voices", "--language", "klingon"], env)
    assert result.returncode == 0 and result.stdout == b""
    line = result.stderr.decode().strip()
    assert line.startswith("0 voices: no voice has the language 'klingon' (the catalog has: arabic, ")
    assert ", english, " in line
    both = run_cli(["voices", "--ids", "--language", "hi", "--accent", "british"], env)
    assert both.stdout == b"" and both.stderr.decode().strip() == "0 voices match"


def test_help_says_the_list_has_every_pool_unless_model_names_one(env: dict[str, str]) -> None:
    """Without --model the list has the standard and the Pro voices: help must not show a model."""
    voices_help = run_cli(["voices", "--help"], {**env, "COLUMNS": "200"})
    assert voices_help.returncode == 0
    unwrapped = " ".join(voices_help.stdout.decode().split())
    model = unwrapped.split("--model MODEL ", 1)[1].split(" -l, --language", 1)[0]
    assert model.endswith("[default: (all: standard and Pro)]"), model
    assert "lightning_v3.1)" not in model
    summary = " ".join(run_cli(["--help"], env).stdout.decode().split())
    assert " voices List the voices, standard and Pro (filters, --model, --json, --ids). " in summary


def test_the_config_files_model_does_not_narrow_the_list(env: dict[str, str]) -> None:
    every = ids(env)
    assert run_cli(["config", "set", "model", "lightning_v3.1_pro"], env).returncode == 0
    assert ids(env) == every
    assert set(ids(env, "--model", "lightning_v3.1_pro")) < set(every)


def test_search_matches_the_pool(env: dict[str, str]) -> None:
    """The table shows each voice's pool, so --search finds it there too."""
    pro = set(ids(env, "--model", "lightning_v3.1_pro"))
    assert set(ids(env, "--search", "pro")) == pro == set(ids(env, "-s", "PRO"))
    standard = set(ids(env, "--search", "standard"))
    assert {"magnus", "meher"} <= standard and "rhea" not in standard


def test_json_lists_the_pools_and_the_table_joins_them(env: dict[str, str]) -> None:
    """`jq 'select(.pools | index("pro"))'` must find a voice that is in both pools."""
    result = run_cli(["voices", "--json"], env)
    assert result.returncode == 0, result.stderr.decode()
    pools = {v["voiceId"]: v["pools"] for v in json.loads(result.stdout)["voices"]}
    assert pools["meher"] == ["pro", "standard"] and pools["rhea"] == ["pro"]
    assert all(p in (["pro"], ["standard"], ["pro", "standard"]) for p in pools.values())
    assert {v for v, p in pools.items() if "pro" in p} == set(ids(env, "--model", "lightning_v3.1_pro"))
    table = run_cli(["voices", "--search", "meher"], env).stdout.decode()
    assert [ln.split("│")[2].strip() for ln in table.splitlines() if "meher" in ln] == ["pro, standard"]


def test_a_server_with_a_path_per_pool_gives_the_same_lists(env: dict[str, str], tmp_path: Path) -> None:
    """Another version of get-voices-openapi.yaml: `lightning-v3.1` lists the standard voices only,
    `lightning-v3.1-pro` the Pro ones (`serve --voices-by-pool`). Every listing is the same."""
    with running_server("--voices-by-pool") as by_pool:
        pool_env = cli_env(by_pool, tmp_path)
        for args in ([], STANDARD, ["--model", "lightning_v3.1_pro"], ["--search", "pro"]):
            assert ids(pool_env, *args) == ids(env, *args), args
        one = json.loads(run_cli(["voices", "--json"], env).stdout)["voices"]
        each = json.loads(run_cli(["voices", "--json"], pool_env).stdout)["voices"]
    assert sorted(each, key=lambda v: v["voiceId"]) == sorted(one, key=lambda v: v["voiceId"])


@contextlib.contextmanager
def catalog_server(pro_status: int) -> Iterator[str]:
    """A real server that lists every voice at the one path and answers the Pro path with the Pro
    voices (200) or with `pro_status`: its base URL."""
    from smallest_cli.protocol.voices import PRO, catalog, pools_of

    class Catalog(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            if self.path.endswith("/lightning-v3.1/get_voices"):
                status, voices = 200, catalog()
            else:
                status, voices = pro_status, [v for v in catalog() if PRO in pools_of(v["voiceId"])]
            body = json.dumps({"voices": voices} if status == 200 else {"error": "down"}).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    with http_server(Catalog) as base:
        yield base


@pytest.mark.parametrize("pro_status", [200, 500])
def test_every_voice_at_the_one_path_and_a_pro_path_too(
    pro_status: int, server: Server, env: dict[str, str], tmp_path: Path
) -> None:
    """A voice both paths list takes its pools from the cards; a Pro path that fails (not one that
    is absent) is said, and the cards tell."""
    with catalog_server(pro_status) as base:
        other = cli_env(server, tmp_path, SMALLEST_BASE_URL=base)
        for args in (STANDARD, ["--model", "lightning_v3.1_pro"]):
            assert ids(other, *args) == ids(env, *args), args
        result = run_cli(["voices", "--ids"], other)
    warned = "smallest: warning: the Pro voice list failed (server error (500): down"
    assert (warned in result.stderr.decode()) == (pro_status == 500)


def test_a_voice_newer_than_the_cards_listed_by_both_paths_is_pro_too() -> None:
    from smallest_cli.commands.voices import _merged

    both = {"voiceId": "newcomer", "tags": {}}
    listed = _merged([both, {"voiceId": "magnus"}], [both, {"voiceId": "rhea"}])
    merged = {v["voiceId"]: v["pools"] for v in listed}
    assert merged == {"newcomer": ["pro", "standard"], "magnus": ["standard"], "rhea": ["pro"]}
