"""End to end playback: `smallest speak` with no -o plays through PortAudio into an ALSA `file`
device (see /work/shared/audio-testing.md), so the captured samples can be compared with the
server's PCM; and the no-device path is one line and exit 2."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.helpers import Server, run_cli, strip_zeros
from tests.test_cli_support import TEXT, reference

ALSA = Path(__file__).parent / "alsa"
CAPTURE_CONF = (ALSA / "capture.conf").read_text()
# A default device that does not exist: PortAudio lists none (an empty config would abort libasound).
NO_DEVICE_CONF = (ALSA / "nodevice.conf").read_text()


def nonzero_samples(pcm: bytes) -> bytes:
    """The non-zero int16 samples in order. The capture device consumes instantly, so a chunk that
    arrives late is an underrun the callback fills with silence: compare what was played, not when."""
    samples = [pcm[i : i + 2] for i in range(0, len(pcm) - 1, 2)]
    return b"".join(s for s in samples if s != b"\0\0")


@pytest.mark.parametrize(("command", "extra"), [("speak", []), ("stream-ws", ["--format", "mp3"])])
def test_played_samples_equal_the_servers_pcm(
    command: str, extra: list[str], server: Server, env: dict[str, str], tmp_path: Path
) -> None:
    conf = tmp_path / "asound.conf"
    conf.write_text(CAPTURE_CONF)
    capture = tmp_path / "capture.raw"
    play_env = {**env, "ALSA_CONFIG_PATH": str(conf), "AUDIO_CAPTURE_FILE": str(capture)}
    result = run_cli([command, TEXT, *extra], play_env)
    assert result.returncode == 0, result.stderr.decode()
    assert capture.exists()
    if not extra:
        played = capture.read_bytes()
        expected = reference(server, TEXT, "pcm")
        assert nonzero_samples(played) == nonzero_samples(expected)
        assert len(strip_zeros(played)) >= len(strip_zeros(expected))
    else:
        assert len(strip_zeros(capture.read_bytes())) > 0.5 * len(reference(server, TEXT, "pcm"))


def test_played_and_written_at_once(server: Server, env: dict[str, str], tmp_path: Path) -> None:
    conf = tmp_path / "asound.conf"
    conf.write_text(CAPTURE_CONF)
    capture = tmp_path / "capture.raw"
    out = tmp_path / "both.ulaw"
    play_env = {**env, "ALSA_CONFIG_PATH": str(conf), "AUDIO_CAPTURE_FILE": str(capture)}
    result = run_cli(["stream-sse", TEXT, "-o", str(out), "--play", "-r", "16000"], play_env)
    assert result.returncode == 0, result.stderr.decode()
    assert out.read_bytes() == reference(server, TEXT, "ulaw", rate=16000)
    assert capture.stat().st_size >= 2 * out.stat().st_size  # one int16 sample per ulaw byte


def test_no_audio_device_is_one_line_and_exit_2(env: dict[str, str], tmp_path: Path) -> None:
    conf = tmp_path / "asound.conf"
    conf.write_text(NO_DEVICE_CONF)
    result = run_cli(["speak", TEXT], {**env, "ALSA_CONFIG_PATH": str(conf)})
    assert result.returncode == 2
    lines = [line for line in result.stderr.decode().splitlines() if line.startswith("smallest")]
    assert len(lines) == 1 and "Traceback" not in result.stderr.decode()
    assert "device" in lines[0].lower()
