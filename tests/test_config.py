"""smallest_cli.options.config: where the file is, how it is read, validated and written."""

from __future__ import annotations

import os
import stat
import sys
from pathlib import Path

import pytest

from smallest_cli.errors import EXIT_USAGE, UsageError
from smallest_cli.options import config, config_edit, resolve

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

posix_only = pytest.mark.skipif(os.name == "nt", reason="POSIX file modes")


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.fixture
def cfg(tmp_path: Path) -> Path:
    return tmp_path / "xdg" / "smallest" / "config.toml"


# --- location --------------------------------------------------------------------------------


def test_config_path_uses_xdg_config_home(tmp_path: Path) -> None:
    env = {"XDG_CONFIG_HOME": str(tmp_path / "x"), "HOME": str(tmp_path / "h")}
    assert config.config_path(env) == tmp_path / "x" / "smallest" / "config.toml"


def test_config_path_defaults_to_home_dot_config(tmp_path: Path) -> None:
    assert config.config_path({"HOME": str(tmp_path)}) == tmp_path / ".config" / "smallest" / "config.toml"


def test_config_path_ignores_relative_xdg_config_home(tmp_path: Path) -> None:
    env = {"XDG_CONFIG_HOME": "relative/dir", "HOME": str(tmp_path)}
    assert config.config_path(env) == tmp_path / ".config" / "smallest" / "config.toml"


def test_config_path_reads_the_process_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path))
    assert config.config_path() == tmp_path / "smallest" / "config.toml"


# --- loading ---------------------------------------------------------------------------------


def test_missing_file_is_empty(cfg: Path) -> None:
    assert config.load_config(cfg) == {}
    assert not cfg.parent.exists()


def test_load_returns_canonical_strings(cfg: Path) -> None:
    cfg.parent.mkdir(parents=True)
    cfg.write_text(
        'voice = "meher"\nmodel = "lightning_v3.1_pro"\nsample_rate = 16000\nspeed = 1.25\n'
        'base_url = "http://127.0.0.1:8123/"\napi_key = "sk_abcdefghijklmnop"\nlanguage = "HI"\n'
    )
    assert config.load_config(cfg) == {
        "api_key": "sk_abcdefghijklmnop",
        "base_url": "http://127.0.0.1:8123",
        "voice": "meher",
        "model": "lightning_v3.1_pro",
        "language": "hi",
        "sample_rate": "16000",
        "speed": "1.25",
    }


def test_load_accepts_numbers_written_as_strings(cfg: Path) -> None:
    cfg.parent.mkdir(parents=True)
    cfg.write_text('sample_rate = "8000"\nspeed = 2\n')
    assert config.load_config(cfg) == {"sample_rate": "8000", "speed": "2.0"}


def test_syntax_error_names_path_and_line(cfg: Path) -> None:
    cfg.parent.mkdir(parents=True)
    cfg.write_text('voice = "magnus"\n\nspeed = = 1\n')
    with pytest.raises(UsageError) as info:
        config.load_config(cfg)
    assert str(cfg) in str(info.value)
    assert "line 3" in str(info.value)
    assert info.value.exit_code == EXIT_USAGE


def test_non_utf8_file_is_a_usage_error(cfg: Path) -> None:
    cfg.parent.mkdir(parents=True)
    cfg.write_bytes(b'voice = "\xff"\n')
    with pytest.raises(UsageError, match="not UTF-8"):
        config.load_config(cfg)


def test_directory_in_place_of_file_is_a_usage_error(cfg: Path) -> None:
    cfg.mkdir(parents=True)
    with pytest.raises(UsageError, match="is a directory"):
        config.load_config(cfg)


def test_an_on_off_setting_is_a_toml_boolean(cfg: Path) -> None:
    cfg.parent.mkdir(parents=True)
    cfg.write_text("markdown = true\n")
    assert config.load_config(cfg) == {"markdown": "true"}
    assert config.set_value("markdown", "off", cfg) == "false"
    with cfg.open("rb") as fh:
        assert tomllib.load(fh) == {"markdown": False}


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ('colour = "red"\n', "unknown key 'colour'"),
        ('markdown = "sometimes"\n', "markdown must be true or false, not 'sometimes'"),
        ("sample_rate = 22050\n", "sample rate must be one of 8000, 16000, 24000, 44100"),
        ('model = "lightning_v2"\n', "model must be one of"),
        ("speed = 3.0\n", "speed must be a number from 0.5 to 2.0"),
        ('base_url = "ftp://example.com"\n', "base_url must look like"),
        ("voice = true\n", "voice must be a string or a number"),
        ("sample_rate = 24000.5\n", "sample_rate must be a string or a whole number"),
        ("[voice]\nname = 'x'\n", "voice must be a string or a number"),
        ('language = "klingon"\n', "language must be one of auto, en, hi"),
    ],
)
def test_bad_keys_and_values_are_usage_errors_naming_the_file(cfg: Path, text: str, fragment: str) -> None:
    cfg.parent.mkdir(parents=True)
    cfg.write_text(text)
    with pytest.raises(UsageError) as info:
        config.load_config(cfg)
    assert fragment in str(info.value)
    assert str(cfg) in str(info.value)


# --- validation ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("key", "value", "canonical"),
    [
        ("sample_rate", "44100", "44100"),
        ("speed", "0.5", "0.5"),
        ("speed", "2", "2.0"),
        ("model", "lightning_v3.1", "lightning_v3.1"),
        ("base_url", "https://api.smallest.ai/", "https://api.smallest.ai"),
        ("base_url", "http://[::1]:8123", "http://[::1]:8123"),
        ("language", "auto", "auto"),
        ("voice", " magnus ", "magnus"),
        ("voice", "MEHER", "meher"),
        ("voice", "voice_AbC123", "voice_AbC123"),
        ("api_key", "sk_x\n", "sk_x"),
    ],
)
def test_validate_value_accepts_and_canonicalizes(key: str, value: str, canonical: str) -> None:
    assert config.validate_value(key, value) == canonical


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("sample_rate", "abc"),
        ("sample_rate", "48000"),
        ("speed", "0.49"),
        ("speed", "2.01"),
        ("speed", "nan"),
        ("speed", "fast"),
        ("model", "LIGHTNING_V3.1 "),
        ("base_url", "api.smallest.ai"),
        ("base_url", "https://"),
        ("base_url", "https://exa mple.com"),
        ("voice", ""),
        ("voice", "two words"),
        ("api_key", "sk\x00x"),
        ("api_key", "sk_ключ"),
        ("api_key", "sk x"),
        ("language", "e"),
    ],
)
def test_validate_value_rejects(key: str, value: str) -> None:
    with pytest.raises(UsageError):
        config.validate_value(key, value)


def test_normalize_key_accepts_dashes_and_rejects_unknown() -> None:
    assert config.normalize_key("sample-rate") == "sample_rate"
    assert config.normalize_key("API_KEY") == "api_key"
    known = "known keys: voice, model, sample_rate, speed, language, base_url, api_key"
    with pytest.raises(UsageError, match=known):
        config.normalize_key("apikey")


# --- writing ---------------------------------------------------------------------------------


@posix_only
def test_set_value_creates_file_0600_and_dir_0700(cfg: Path) -> None:
    assert config.set_value("voice", "meher", cfg) == "meher"
    assert _mode(cfg) == 0o600
    assert _mode(cfg.parent) == 0o700
    assert config.load_config(cfg) == {"voice": "meher"}


@posix_only
def test_set_value_replaces_a_wide_file_with_a_0600_one(cfg: Path) -> None:
    cfg.parent.mkdir(parents=True)
    cfg.write_text('voice = "magnus"\n')
    cfg.chmod(0o644)
    config.set_value("api_key", "sk_abcdefghijklmnop", cfg)
    assert _mode(cfg) == 0o600
    assert config.load_config(cfg) == {"api_key": "sk_abcdefghijklmnop", "voice": "magnus"}


def test_set_value_writes_typed_toml(cfg: Path) -> None:
    config.set_value("sample_rate", "16000", cfg)
    config.set_value("speed", "1.5", cfg)
    config.set_value("model", "lightning_v3.1_pro", cfg)
    with cfg.open("rb") as fh:
        assert tomllib.load(fh) == {"sample_rate": 16000, "speed": 1.5, "model": "lightning_v3.1_pro"}


def test_strings_are_quoted_so_any_key_round_trips(cfg: Path) -> None:
    awkward = 'sk_"quoted"\\back#hash\'single'
    config.set_value("api_key", awkward, cfg)
    assert config.load_config(cfg)["api_key"] == awkward
    with cfg.open("rb") as fh:
        assert tomllib.load(fh)["api_key"] == awkward


def test_toml_string_escapes_control_characters() -> None:
    text = "a\tb\nc\x01d\x7f"
    assert tomllib.loads(f"k = {config.toml_string(text)}")["k"] == text


def test_invalid_set_leaves_file_untouched(cfg: Path) -> None:
    config.set_value("voice", "magnus", cfg)
    before = cfg.read_bytes()
    with pytest.raises(UsageError):
        config.set_value("speed", "9", cfg)
    with pytest.raises(UsageError):
        config.set_value("nope", "1", cfg)
    assert cfg.read_bytes() == before


def test_set_does_not_clobber_an_unparsable_file(cfg: Path) -> None:
    cfg.parent.mkdir(parents=True)
    cfg.write_text("voice = \n")
    with pytest.raises(UsageError, match="line 1"):
        config.set_value("voice", "magnus", cfg)
    assert cfg.read_text() == "voice = \n"


def test_bad_value_in_file_can_be_repaired_with_set_or_unset(cfg: Path) -> None:
    cfg.parent.mkdir(parents=True)
    cfg.write_text('speed = 9\nvoice = "magnus"\ncolour = "red"\n')
    config.set_value("speed", "1.0", cfg)
    config.unset_value("colour", cfg)
    assert config.load_config(cfg) == {"voice": "magnus", "speed": "1.0"}


def test_unset_value(cfg: Path) -> None:
    config.set_value("voice", "magnus", cfg)
    config.set_value("speed", "1.5", cfg)
    assert config.unset_value("voice", cfg) is True
    assert config.unset_value("voice", cfg) is False
    assert config.load_config(cfg) == {"speed": "1.5"}


def test_unset_on_missing_file_creates_nothing(cfg: Path) -> None:
    assert config.unset_value("voice", cfg) is False
    assert not cfg.exists()


def test_get_value(cfg: Path) -> None:
    assert config.get_value("voice", cfg) is None
    config.set_value("voice", "liam", cfg)
    assert config.get_value("voice", cfg) == "liam"


def test_write_leaves_no_temp_files(cfg: Path) -> None:
    for v in ("a", "b", "c"):
        config.set_value("voice", v, cfg)
    assert sorted(p.name for p in cfg.parent.iterdir()) == ["config.toml"]


@posix_only
def test_symlinked_config_file_is_followed(tmp_path: Path, cfg: Path) -> None:
    real = tmp_path / "dotfiles" / "smallest.toml"
    real.parent.mkdir()
    real.write_text('voice = "magnus"\n')
    cfg.parent.mkdir(parents=True)
    cfg.symlink_to(real)
    config.set_value("speed", "1.5", cfg)
    assert cfg.is_symlink()
    assert config.load_config(real) == {"voice": "magnus", "speed": "1.5"}


# --- permissions -----------------------------------------------------------------------------


@posix_only
def test_permission_warning_for_wide_file_with_api_key(cfg: Path) -> None:
    config.set_value("api_key", "sk_abcdefghijklmnop", cfg)
    assert config.permission_warning(cfg) is None
    cfg.chmod(0o644)
    assert config.permission_warning(cfg) == (
        f"smallest: warning: {cfg} is readable by other users (mode 0644); run: chmod 600 {cfg}"
    )


@posix_only
def test_no_permission_warning_without_api_key_or_file(cfg: Path) -> None:
    assert config.permission_warning(cfg) is None
    config.set_value("voice", "magnus", cfg)
    cfg.chmod(0o644)
    assert config.permission_warning(cfg) is None


# --- editing a hand-written file in place ----------------------------------------------------

HAND_WRITTEN = (
    "# my personal notes\n"
    "\n"
    'voice = "meher"   # favourite voice\n'
    "  speed=1.25\t# a little faster\n"
    "# the end\n"
)


def test_set_line_replaces_only_the_value_keeping_the_comment() -> None:
    assert config_edit.set_line(HAND_WRITTEN, "voice", '"liam"') == HAND_WRITTEN.replace('"meher"', '"liam"')
    assert config_edit.set_line(HAND_WRITTEN, "speed", "1.5") == HAND_WRITTEN.replace("1.25", "1.5")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (HAND_WRITTEN, HAND_WRITTEN + "sample_rate = 16000\n"),
        ("# notes, no final newline", "# notes, no final newline\nsample_rate = 16000\n"),
        ('voice = "x"\r\n# windows\r\n', 'voice = "x"\r\n# windows\r\nsample_rate = 16000\r\n'),
    ],
)
def test_set_line_appends_a_new_key_at_the_end(text: str, expected: str) -> None:
    assert config_edit.set_line(text, "sample_rate", "16000") == expected


def test_set_line_finds_a_quoted_key_and_a_value_with_a_hash() -> None:
    text = '"voice" = "a#b" # c\r\n'
    assert config_edit.set_line(text, "voice", '"d"') == '"voice" = "d" # c\r\n'


def test_unset_line_removes_only_that_line() -> None:
    assert config_edit.unset_line(HAND_WRITTEN, "voice") == (
        "# my personal notes\n\n  speed=1.25\t# a little faster\n# the end\n"
    )
    assert config_edit.unset_line(HAND_WRITTEN, "model") is None
    assert config_edit.keys_in(HAND_WRITTEN) == ["voice", "speed"]


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ('voice = "x"\n[extra]\nspeed = 1.5\n', "line 2 is a table"),
        ('notes = """\nvoice = "x"\n"""\n', "line 1 is not a one-line `key = value`"),
        ("langs = [\n  'en',\n]\n", "line 1 is not a one-line `key = value`"),
        ('voice.id = "x"\n', "line 1 is not a one-line `key = value`"),
        ('x = "a"\nx = "b"\n', "x is given twice (lines 1 and 2)"),
    ],
)
def test_a_structure_the_line_editor_cannot_handle_is_uneditable(text: str, reason: str) -> None:
    edits = (lambda: config_edit.set_line(text, "speed", "1.5"), lambda: config_edit.unset_line(text, "x"))
    for edit in edits:
        with pytest.raises(config_edit.Uneditable) as err:
            edit()
        assert str(err.value) == reason


@posix_only
def test_set_and_unset_keep_a_hand_written_file_and_its_mode(cfg: Path) -> None:
    cfg.parent.mkdir(parents=True)
    cfg.write_text(HAND_WRITTEN)
    cfg.chmod(0o644)
    config.set_value("sample_rate", "16000", cfg)
    config.set_value("voice", "liam", cfg)
    assert cfg.read_text() == HAND_WRITTEN.replace('"meher"', '"liam"') + "sample_rate = 16000\n"
    assert _mode(cfg) == 0o600
    assert config.unset_value("sample_rate", cfg) is True
    assert cfg.read_text() == HAND_WRITTEN.replace('"meher"', '"liam"')


def test_a_file_the_line_editor_cannot_handle_is_refused_not_rewritten(cfg: Path) -> None:
    cfg.parent.mkdir(parents=True)
    text = '# notes\nvoice = """meher"""\n'
    cfg.write_text(text)
    for edit in (lambda: config.set_value("speed", "1.5", cfg), lambda: config.unset_value("voice", cfg)):
        with pytest.raises(UsageError) as err:
            edit()
        assert err.value.message == (
            f"config file {cfg}: cannot change it safely "
            "(line 2 is not a one-line `key = value`); edit it by hand"
        )
    assert cfg.read_text() == text


def test_a_file_with_a_table_is_refused_not_rewritten(cfg: Path) -> None:
    cfg.parent.mkdir(parents=True)
    text = '# notes\nvoice = "meher"\n[profile]\n'
    cfg.write_text(text)
    for edit in (lambda: config.set_value("speed", "1.5", cfg), lambda: config.unset_value("voice", cfg)):
        with pytest.raises(UsageError) as err:
            edit()
        assert err.value.message == (
            f"config file {cfg}: profile is not a string or a number; edit the file by hand"
        )
    assert cfg.read_text() == text


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("voice", "meher"),
        ("model", "lightning_v3.1_pro"),
        ("sample_rate", "16000"),
        ("speed", "1.5"),
        ("language", "HI"),
        ("base_url", "https://api.example.com/"),
        ("base_url", "http://localhost:8123"),
        ("base_url", "http://127.0.0.1:9"),
        ("api_key", " sk_abcdefghijklmnop "),
        ("markdown", "yes"),
        ("cache", "on"),
        ("cache_max_mb", "64"),
    ],
)
def test_a_value_config_set_stores_passes_the_run_time_checks(cfg: Path, key: str, value: str) -> None:
    config.set_value(key, value, cfg)
    loaded = config.load_config(cfg)
    resolve.resolve_synthesis({}, {}, loaded)
    resolve.resolve_connection({}, {}, loaded, need_key=False)
    assert resolve.resolve_cache_cap({}, {}, loaded) > 0
    resolve.resolve_markdown({}, {}, loaded)


@pytest.mark.parametrize("url", ["http://example.com", "http://192.168.1.5:8080/"])
def test_config_set_refuses_a_base_url_every_run_refuses(cfg: Path, url: str) -> None:
    """Plain http to a host that is not loopback is refused by a run without --allow-insecure, which
    the file cannot hold."""
    with pytest.raises(UsageError, match="refusing to send the API key unencrypted") as err:
        config.set_value("base_url", url, cfg)
    with pytest.raises(UsageError) as run_err:
        resolve.resolve_connection({"base_url": url}, {}, {}, need_key=False)
    assert err.value.message.split(";")[0] == run_err.value.message.split(";")[0]
    assert not cfg.exists()


# -- the flat reader: the file `config set` writes, read without tomllib --------------------------

from hypothesis import example, given  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

_PIECES = st.sampled_from(
    [" ", "\t", "=", '"', "#", "\\", ".", "-", "+", "0", "7", "e", "_", "'", "[", "]", "true", "false",
     "tru", "api_key", "voice", "speed", "1.5", "24000", "00", "\r", "\x7f", "\x01", "é", "\u00a0"]
)
_LINE = st.one_of(
    st.lists(_PIECES, max_size=8).map("".join),
    st.builds(lambda key, value, comment: f"{key} = {value}{comment}",
              st.sampled_from(["voice", "speed", "sample_rate", "cache", "api-key", "x1"]),
              st.one_of(st.text(max_size=6).map(lambda t: f'"{t}"'), st.integers().map(str),
                        st.floats(allow_nan=False, allow_infinity=False).map(repr),
                        st.sampled_from(["true", "false"])),
              st.sampled_from(["", " # note", "#", "  "])),
)


def _typed(table: dict[str, object] | None) -> object:
    """`table` with each value's type, as 1 == 1.0 == True would hide a wrong one."""
    return None if table is None else {k: (type(v).__name__, v) for k, v in table.items()}


@given(st.lists(_LINE, max_size=6))
@example(["\r"])  # a carriage return that ends no line
@example(['voice = "a"\r', "speed = 1.5\r", ""])
def test_the_flat_reader_reads_what_tomllib_reads_or_leaves_it_to_tomllib(lines: list[str]) -> None:
    text = "\n".join(lines)
    flat = config.flat_table(text)
    try:
        expected = tomllib.loads(text)
    except tomllib.TOMLDecodeError:
        assert flat is None
        return
    assert flat is None or _typed(flat) == _typed(expected)


def _canonical(key: str) -> st.SearchStrategy[str]:
    """Values as `config set` stores them (validate_value's canonical text)."""
    if key in config.BOOLEAN_KEYS:
        return st.sampled_from(["true", "false"])
    if key in config.NUMERIC_KEYS:
        return st.one_of(st.integers(0, 10**6).map(str), st.floats(0.5, 2.0).map(repr))
    return st.text(min_size=1, max_size=12)


@given(st.sets(st.sampled_from(config.KEYS), max_size=6).flatmap(
    lambda keys: st.fixed_dictionaries({k: _canonical(k) for k in keys})))
def test_the_flat_reader_reads_every_file_config_set_writes_without_escapes(values: dict[str, str]) -> None:
    """A value with a backslash, a quote or a control character is written escaped: tomllib reads
    that file. Every other file `render` writes is the flat reader's."""
    escaped = any('"' in v or "\\" in v or any(c < " " or c == "\x7f" for c in v) for v in values.values())
    text = config.render(values)
    if not escaped:
        assert _typed(config.flat_table(text)) == _typed(tomllib.loads(text))


def test_a_config_error_names_the_file_as_config_path_does(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The file is found without pathlib (before the early dial's SYN); its name in a message is
    still the one `smallest config path` prints, doubled slashes and `.` parts dropped."""
    monkeypatch.setenv("XDG_CONFIG_HOME", f"{tmp_path}//xdg/.")
    shown = config.config_path()
    shown.parent.mkdir(parents=True)
    shown.write_text("voice = \n", encoding="utf-8")
    with pytest.raises(UsageError) as err:
        config.load_config()
    assert f"cannot parse config file {shown}, line 1" in str(err.value)
