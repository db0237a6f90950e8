"""Settings resolution: flag > environment > config > the option table's fallback."""

from __future__ import annotations

import pytest

from smallest_cli.errors import UsageError
from smallest_cli.options.layers import setting
from smallest_cli.options.resolve import (
    MISSING_KEY_MESSAGE,
    resolve_connection,
    resolve_synthesis,
)

ENV = {"SMALLEST_VOICE": "avery", "SMALLEST_BASE_URL": "https://env:1", "SMALLEST_API_KEY": "sk_env"}
CONFIG = {"voice": "liam", "base_url": "https://cfg:2", "api_key": "sk_cfg", "sample_rate": "16000",
          "speed": "1.5", "model": "lightning_v3.1_pro", "language": "hi"}


def test_flag_beats_environment_beats_config_beats_default() -> None:
    flags = dict(voice="meher", base_url="https://flag:3", api_key="sk_flag")
    assert resolve_synthesis(flags, ENV, CONFIG).voice_id == "meher"
    assert resolve_synthesis(dict(), ENV, CONFIG).voice_id == "avery"
    assert resolve_synthesis(dict(), {}, CONFIG).voice_id == "liam"
    assert resolve_synthesis(dict(), {}, {}).voice_id == "magnus"
    conn = resolve_connection(flags, ENV, CONFIG)
    assert conn.base_url == "https://flag:3"
    assert conn.api_key is not None and conn.api_key.reveal() == "sk_flag"
    conn = resolve_connection(dict(), ENV, CONFIG)
    assert conn.base_url == "https://env:1" and conn.api_key.reveal() == "sk_env"  # type: ignore[union-attr]
    conn = resolve_connection(dict(), {}, CONFIG)
    assert conn.base_url == "https://cfg:2" and conn.api_key.reveal() == "sk_cfg"  # type: ignore[union-attr]


def test_config_numbers_and_defaults() -> None:
    opts = resolve_synthesis(dict(), {}, CONFIG)
    assert (opts.sample_rate, opts.speed, opts.model, opts.language) == (
        16000, 1.5, "lightning_v3.1_pro", "hi")
    opts = resolve_synthesis(dict(sample_rate=8000, speed=0.5), {}, CONFIG)
    assert (opts.sample_rate, opts.speed) == (8000, 0.5)
    opts = resolve_synthesis(dict(), {}, {})
    assert (opts.sample_rate, opts.speed, opts.model, opts.language) == (24000, 1.0, "lightning_v3.1", None)


def test_missing_key_says_how_to_set_it() -> None:
    with pytest.raises(UsageError) as info:
        resolve_connection(dict(), {}, {})
    assert "SMALLEST_API_KEY" in str(info.value) and str(info.value) == MISSING_KEY_MESSAGE
    assert info.value.exit_code == 2


def test_bad_connection_flags() -> None:
    for flags in (dict(api_key="k", timeout=0), dict(api_key="k", retries=-1),
                  dict(api_key="k", base_url="ftp://x")):
        with pytest.raises(UsageError):
            resolve_connection(flags, {}, {})


@pytest.mark.parametrize(
    ("field", "spelling"), [("voice", "--voice"), ("api_key", "--api-key"), ("base_url", "--base-url")]
)
def test_an_empty_flag_is_an_error_but_an_empty_variable_is_unset(field: str, spelling: str) -> None:
    environ = {"SMALLEST_API_KEY": "sk_from_the_environment", "SMALLEST_VOICE": ""}
    with pytest.raises(UsageError, match=f"^{spelling} is empty: give a value, or leave the flag out$"):
        setting(field, {field: " "}, environ, {})
    assert setting("voice", {}, environ, {"voice": "avery"}) == "avery"
    assert setting("api_key", {"api_key": None}, environ, {}) == "sk_from_the_environment"


@pytest.mark.parametrize("timeout", [float("inf"), 1e10, 86_400.5, float("nan"), -1.0])
def test_a_timeout_beyond_a_day_or_not_a_number_is_refused(timeout: float) -> None:
    with pytest.raises(UsageError, match="--timeout must be more than 0 and at most 86400 seconds"):
        resolve_connection(dict(api_key="k", timeout=timeout), {}, {})
    assert resolve_connection(dict(api_key="k", timeout=86_400), {}, {}).timeout == 86_400


@pytest.mark.parametrize(
    ("given", "sent"),
    [
        ("MEHER", "meher"),
        ("Avery", "avery"),
        ("  liam ", "liam"),
        ("voice_AbC123", "voice_AbC123"),  # a cloned voice: the service matches its id as it is
        ("Voice_AbC123", "Voice_AbC123"),  # no catalog voice: as given, for the server to judge
    ],
)
def test_catalog_voice_ids_match_in_any_case_others_are_sent_as_given(given: str, sent: str) -> None:
    """The same check for the flag, the environment and the config file."""
    assert resolve_synthesis(dict(voice=given), {}, {}).voice_id == sent
    assert resolve_synthesis(dict(), {"SMALLEST_VOICE": given}, {}).voice_id == sent
    assert resolve_synthesis(dict(), {}, {"voice": given}).voice_id == sent


@pytest.mark.parametrize("given", ["  ", "two words"])
def test_a_blank_or_spaced_voice_id_is_refused_from_every_source(given: str) -> None:
    for flags, environ, config in (
        (dict(voice=given), {}, {}), (dict(), {"SMALLEST_VOICE": given}, {}), (dict(), {}, {"voice": given})
    ):
        with pytest.raises(UsageError):
            resolve_synthesis(flags, environ, config)


def test_the_catalog_spells_its_ids_in_lower_case() -> None:
    """check_voice skips the catalog for an id already in lower case: that is only right while every
    catalog id is in lower case."""
    from smallest_cli.protocol.voices import voice_ids

    assert all(v == v.lower() for v in voice_ids())
