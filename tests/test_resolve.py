"""Settings resolution (flag > environment > config > default), output plans and text sources."""

from __future__ import annotations

import io
from pathlib import Path

import pytest

from smallest_cli.errors import UsageError
from smallest_cli.resolve import (
    MISSING_KEY_MESSAGE,
    SynthFlags,
    format_from_extension,
    plan_output,
    resolve_connection,
    resolve_synthesis,
    text_chunks,
)

ENV = {"SMALLEST_VOICE": "avery", "SMALLEST_BASE_URL": "https://env:1", "SMALLEST_API_KEY": "sk_env"}
CONFIG = {"voice": "liam", "base_url": "https://cfg:2", "api_key": "sk_cfg", "sample_rate": "16000",
          "speed": "1.5", "model": "lightning_v3.1_pro", "language": "hi"}


def test_flag_beats_environment_beats_config_beats_default() -> None:
    flags = SynthFlags(voice="meher", base_url="https://flag:3", api_key="sk_flag")
    assert resolve_synthesis(flags, ENV, CONFIG).voice_id == "meher"
    assert resolve_synthesis(SynthFlags(), ENV, CONFIG).voice_id == "avery"
    assert resolve_synthesis(SynthFlags(), {}, CONFIG).voice_id == "liam"
    assert resolve_synthesis(SynthFlags(), {}, {}).voice_id == "magnus"
    conn = resolve_connection(flags, ENV, CONFIG)
    assert conn.base_url == "https://flag:3"
    assert conn.api_key is not None and conn.api_key.reveal() == "sk_flag"
    conn = resolve_connection(SynthFlags(), ENV, CONFIG)
    assert conn.base_url == "https://env:1" and conn.api_key.reveal() == "sk_env"  # type: ignore[union-attr]
    conn = resolve_connection(SynthFlags(), {}, CONFIG)
    assert conn.base_url == "https://cfg:2" and conn.api_key.reveal() == "sk_cfg"  # type: ignore[union-attr]


def test_config_numbers_and_defaults() -> None:
    opts = resolve_synthesis(SynthFlags(), {}, CONFIG, output_format="mp3")
    assert (opts.sample_rate, opts.speed, opts.model, opts.language, opts.output_format) == (
        16000, 1.5, "lightning_v3.1_pro", "hi", "mp3")
    opts = resolve_synthesis(SynthFlags(sample_rate=8000, speed=0.5), {}, CONFIG)
    assert (opts.sample_rate, opts.speed) == (8000, 0.5)
    opts = resolve_synthesis(SynthFlags(), {}, {})
    assert (opts.sample_rate, opts.speed, opts.model, opts.language) == (24000, 1.0, "lightning_v3.1", None)


def test_missing_key_says_how_to_set_it() -> None:
    with pytest.raises(UsageError) as info:
        resolve_connection(SynthFlags(), {}, {})
    assert "SMALLEST_API_KEY" in str(info.value) and str(info.value) == MISSING_KEY_MESSAGE
    assert info.value.exit_code == 2


def test_bad_connection_flags() -> None:
    for flags in (SynthFlags(api_key="k", timeout=0), SynthFlags(api_key="k", retries=-1),
                  SynthFlags(api_key="k", base_url="ftp://x")):
        with pytest.raises(UsageError):
            resolve_connection(flags, {}, {})


@pytest.mark.parametrize(
    ("output", "fmt", "play", "expected"),
    [
        (None, None, None, (None, False, None, "pcm", True)),
        ("a.wav", None, None, ("a.wav", False, "wav", "pcm", False)),
        ("a.mp3", None, None, ("a.mp3", False, "mp3", "mp3", False)),
        ("a.ulaw", None, True, ("a.ulaw", False, "ulaw", "ulaw", True)),
        ("a.raw", None, None, ("a.raw", False, "pcm", "pcm", False)),
        ("t.mu", None, None, ("t.mu", False, "ulaw", "ulaw", False)),
        ("a.bin", None, None, ("a.bin", False, "wav", "pcm", False)),
        ("a.bin", "alaw", None, ("a.bin", False, "alaw", "alaw", False)),
        ("-", None, None, (None, True, "wav", "pcm", False)),
        ("-", "mp3", None, (None, True, "mp3", "mp3", False)),
        (None, "mp3", None, (None, False, None, "mp3", True)),
    ],
)
def test_output_plan(output, fmt, play, expected) -> None:  # type: ignore[no-untyped-def]
    plan = plan_output(output, fmt, play)
    path = str(plan.path) if plan.path else None
    assert (path, plan.to_stdout, plan.file_format, plan.server_format, plan.play) == expected


def test_unknown_format_is_usage_error() -> None:
    with pytest.raises(UsageError):
        plan_output("x.wav", "flac", None)


def test_format_from_extension() -> None:
    assert format_from_extension("a.WAV") == "wav" and format_from_extension("a.wave") == "wav"
    assert format_from_extension("x/a.raw") == "pcm" and format_from_extension("a.pcm") == "pcm"
    assert format_from_extension("a.mp3") == "mp3"
    for name in ("a.ulaw", "a.ul", "a.ulw", "a.mulaw", "a.mu"):
        assert format_from_extension(name) == "ulaw", name
    assert format_from_extension("a.al") == "alaw" and format_from_extension("a.alaw") == "alaw"
    assert format_from_extension("a.txt") is None and format_from_extension("noext") is None


def test_nothing_to_do_and_audio_onto_a_terminal_are_refused() -> None:
    with pytest.raises(UsageError, match="nothing to do: give -o FILE or --play"):
        plan_output(None, None, False)
    with pytest.raises(UsageError, match="stdout is a terminal"):
        plan_output("-", None, None, stdout_is_tty=True)
    assert plan_output("-", None, None).to_stdout
    assert plan_output("a.wav", None, None, stdout_is_tty=True).path is not None


class Tty(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_text_sources(tmp_path: Path) -> None:
    assert list(text_chunks("hi", None, Tty())) == ["hi"]
    assert "".join(text_chunks("-", None, io.StringIO("from\nstdin\n"))) == "from\nstdin\n"
    assert "".join(text_chunks(None, None, io.StringIO("piped"))) == "piped"
    f = tmp_path / "t.txt"
    f.write_text("file text\nline 2\n", encoding="utf-8")
    assert "".join(text_chunks(None, str(f), Tty())) == "file text\nline 2\n"
    with pytest.raises(UsageError):
        text_chunks(None, None, Tty())
    with pytest.raises(UsageError):
        text_chunks("a", str(f), Tty())
    with pytest.raises(UsageError):
        text_chunks(None, str(tmp_path / "missing.txt"), Tty())
    bad = tmp_path / "bad.txt"
    bad.write_bytes(b"\xff\xfe\x00bad")
    with pytest.raises(UsageError):
        list(text_chunks(None, str(bad), Tty()))
