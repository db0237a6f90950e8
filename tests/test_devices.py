"""`smallest devices` (an empty list when there is no device), and the errors when PortAudio is missing or
playback has no device: one line, exit 2."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.helpers import REQUIRE_PORTAUDIO_ENV, ROOT, cli_env, require_portaudio, run_cli

ALSA_DIR = Path(__file__).resolve().parent / "alsa"

# Make sounddevice believe PortAudio is not installed (what happens without libportaudio2).
NO_PORTAUDIO_PRELUDE = """
import ctypes.util
_real = ctypes.util.find_library
ctypes.util.find_library = lambda name: None if "portaudio" in name else _real(name)
"""


def _env(tmp_path: Path, conf: str | None) -> dict[str, str]:
    env = cli_env(None, tmp_path)
    if conf is not None:
        env["ALSA_CONFIG_PATH"] = str(ALSA_DIR / conf)
        env["AUDIO_CAPTURE_FILE"] = str(tmp_path / "capture.raw")
    return env


def _one_error_line(result: subprocess.CompletedProcess[bytes]) -> str:
    err = result.stderr.decode()
    assert "Traceback" not in err
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1, err
    return lines[0]


needs_portaudio = pytest.mark.usefixtures("portaudio")


@needs_portaudio
def test_devices_plain_listing(tmp_path: Path) -> None:
    result = run_cli(["devices"], _env(tmp_path, "capture.conf"))
    assert result.returncode == 0, result.stderr.decode()
    lines = result.stdout.decode().splitlines()
    assert "NAME" in lines[0] and "CHANNELS" in lines[0]
    default = [line for line in lines[1:] if line.startswith("*")]
    assert len(default) == 1 and "default" in default[0] and "Hz" in default[0]


@needs_portaudio
def test_devices_json(tmp_path: Path) -> None:
    result = run_cli(["devices", "--json"], _env(tmp_path, "capture.conf"))
    assert result.returncode == 0, result.stderr.decode()
    devices = json.loads(result.stdout)
    assert [d["name"] for d in devices if d["is_default"]] == ["default"]
    assert set(devices[0]) >= {"index", "name", "is_default", "channels", "default_samplerate"}


@needs_portaudio
def test_devices_without_any_device_is_an_empty_list(tmp_path: Path) -> None:
    """Listing nothing is an answer, not an error: the table says so on stderr, --json is []."""
    result = run_cli(["devices"], _env(tmp_path, "nodevice.conf"))
    assert result.returncode == 0
    assert _one_error_line(result) == (
        "0 audio output devices: PortAudio found none (playback needs one; -o FILE saves the audio)"
    )
    assert result.stdout == b""
    as_json = run_cli(["devices", "--json"], _env(tmp_path, "nodevice.conf"))
    assert as_json.returncode == 0 and as_json.stderr == b""
    assert json.loads(as_json.stdout) == []


@needs_portaudio
def test_playing_to_a_file_without_any_device_advises_no_play(server, tmp_path: Path) -> None:
    """`-o FILE --play` already writes a file: the advice must not be 'use -o FILE'. The first
    request, sent while the device opens, is dropped: no file, no part file."""
    env = {**_env(tmp_path, "nodevice.conf"), "SMALLEST_BASE_URL": server.url,
           "SMALLEST_API_KEY": server.api_key}
    result = run_cli(["speak", "Hello.", "-o", str(tmp_path / "x.wav"), "--play"], env)
    assert result.returncode == 2
    assert _one_error_line(result) == (
        "smallest: error: no audio output device found; use --no-play (with -o FILE to save the audio)"
    )
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith("x.")) == []


def _run_without_portaudio(code: str, tmp_path: Path) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(
        [sys.executable, "-c", NO_PORTAUDIO_PRELUDE + code],
        capture_output=True,
        env={**_env(tmp_path, None), "PYTHONPATH": str(ROOT)},
        cwd=ROOT,
        timeout=60,
    )


def test_ensure_portaudio_without_the_library(tmp_path: Path) -> None:
    code = """
from smallest_cli.output.devices import ensure_portaudio
from smallest_cli.errors import AudioDeviceError
try:
    ensure_portaudio()
except AudioDeviceError as e:
    print(e.exit_code, e)
"""
    result = _run_without_portaudio(code, tmp_path)
    assert result.returncode == 0, result.stderr.decode()
    assert result.stdout.decode().strip() == (
        "2 PortAudio library not found: install it (Debian/Ubuntu: apt-get install libportaudio2); "
        "use --no-play (with -o FILE to save the audio)"
    )


def test_devices_command_without_portaudio(tmp_path: Path) -> None:
    code = """
import sys
from smallest_cli.cli import build_app
build_app()(prog_name="smallest", args=["devices"])
"""
    result = _run_without_portaudio(code, tmp_path)
    assert result.returncode == 2
    assert _one_error_line(result) == (
        "smallest: error: PortAudio library not found: "
        "install it (Debian/Ubuntu: apt-get install libportaudio2)"
    )


def test_player_without_portaudio(tmp_path: Path) -> None:
    code = """
from smallest_cli.output.player import Player
from smallest_cli.errors import AudioDeviceError
try:
    Player(24000)
except AudioDeviceError as e:
    print("ok", e)
"""
    result = _run_without_portaudio(code, tmp_path)
    assert result.stdout.decode().startswith("ok PortAudio library not found"), result.stderr.decode()


def test_devices_help_has_examples() -> None:
    result = run_cli(["devices", "--help"], {**os.environ, "NO_COLOR": "1", "COLUMNS": "120"})
    out = result.stdout.decode()
    assert result.returncode == 0
    assert "smallest devices --json" in out and "--json" in out


def test_missing_portaudio_skips_or_fails_when_required(monkeypatch: pytest.MonkeyPatch) -> None:
    """Developers without PortAudio skip the playback tests; CI (SMALLEST_REQUIRE_PORTAUDIO=1) fails."""
    import ctypes.util

    monkeypatch.setattr(ctypes.util, "find_library", lambda name: None)
    monkeypatch.delenv(REQUIRE_PORTAUDIO_ENV, raising=False)
    with pytest.raises(pytest.skip.Exception):
        require_portaudio()
    monkeypatch.setenv(REQUIRE_PORTAUDIO_ENV, "1")
    with pytest.raises(pytest.fail.Exception, match="SMALLEST_REQUIRE_PORTAUDIO=1"):
        require_portaudio()
