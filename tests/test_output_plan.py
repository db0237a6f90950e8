"""The output plan: where the audio goes and in which formats (`--output`, `--format`, `--play`)."""

from __future__ import annotations

from pathlib import Path

import pytest

from smallest_cli.errors import UsageError
from smallest_cli.output.plan import check_output_path, format_from_extension, plan_output


@pytest.mark.parametrize(
    ("output", "fmt", "play", "expected"),
    [
        (None, None, None, (None, False, None, True)),
        ("a.wav", None, None, ("a.wav", False, "wav", False)),
        ("a.mp3", None, None, ("a.mp3", False, "mp3", False)),
        ("a.ulaw", None, True, ("a.ulaw", False, "ulaw", True)),
        ("a.raw", None, None, ("a.raw", False, "pcm", False)),
        ("t.mu", None, None, ("t.mu", False, "ulaw", False)),
        ("noext", None, None, ("noext", False, "wav", False)),
        ("a.bin", "alaw", None, ("a.bin", False, "alaw", False)),
        ("-", None, None, (None, True, "wav", False)),
        ("-", "mp3", None, (None, True, "mp3", False)),
    ],
)
def test_output_plan(output, fmt, play, expected) -> None:  # type: ignore[no-untyped-def]
    plan = plan_output(output, fmt, play)
    path = str(plan.path) if plan.path else None
    assert (path, plan.to_stdout, plan.file_format, plan.play) == expected


def test_a_format_without_an_output_is_refused() -> None:
    """Playing takes the PCM the server sends: --format only chooses what -o writes."""
    with pytest.raises(UsageError, match="--format chooses the format of the audio written with -o"):
        plan_output(None, "mp3", None)


def test_unknown_format_is_usage_error() -> None:
    with pytest.raises(UsageError):
        plan_output("x.wav", "flac", None)


@pytest.mark.parametrize(
    ("given", "fmt"), [("raw", "pcm"), ("WAVE", "wav"), ("mulaw", "ulaw"), ("MP3", "mp3")]
)
def test_format_takes_the_extensions_names_too(given: str, fmt: str) -> None:
    assert plan_output("-", given, None).file_format == fmt


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


@pytest.mark.parametrize("name", ["a.flac", "a.ogg", "a.m4a", "a.txt", "a.bin"])
def test_an_extension_that_names_no_format_is_refused(name: str) -> None:
    """Filling a.flac with WAV bytes would look like success and play as noise."""
    refused = rf"cannot tell the audio format of {name} from \.\w+: use one of \.wav"
    with pytest.raises(UsageError, match=refused):
        plan_output(name, None, None)


def test_a_format_that_differs_from_the_extension_is_written_with_a_warning() -> None:
    plan = plan_output("a.wav", "mp3", None)
    assert plan.file_format == "mp3"
    assert plan.warnings == ("smallest: warning: writing mp3 audio into a.wav, whose extension says wav",)
    assert plan_output("a.mp3", "mp3", None).warnings == ()


def test_a_path_the_system_refuses_is_a_usage_error(tmp_path: Path) -> None:
    path = tmp_path / ("x" * 300 + ".wav")
    with pytest.raises(UsageError, match=r"^cannot write .*x\.wav: File name too long$"):
        check_output_path(path)
