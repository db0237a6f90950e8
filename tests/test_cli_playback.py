"""End to end playback: `smallest speak` with no -o plays through PortAudio into an ALSA `file`
device (see /work/shared/audio-testing.md), so the captured samples can be compared with the
server's PCM; and the no-device path is one line and exit 2."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.helpers import Server, cli_env, run_cli, running_server, strip_zeros
from tests.test_cli_support import TEXT, add_fault, reference

ALSA = Path(__file__).parent / "alsa"
CAPTURE_CONF = (ALSA / "capture.conf").read_text()
# A default device that does not exist: PortAudio lists none (an empty config would abort libasound).
NO_DEVICE_CONF = (ALSA / "nodevice.conf").read_text()


def nonzero_samples(pcm: bytes) -> bytes:
    """The non-zero int16 samples in order. The capture device consumes instantly, so a chunk that
    arrives late is an underrun the callback fills with silence: compare what was played, not when."""
    samples = [pcm[i : i + 2] for i in range(0, len(pcm) - 1, 2)]
    return b"".join(s for s in samples if s != b"\0\0")


@pytest.mark.parametrize("command", ["speak", "stream-sse", "stream-ws"])
def test_played_samples_equal_the_servers_pcm(
    command: str, server: Server, env: dict[str, str], tmp_path: Path
) -> None:
    conf = tmp_path / "asound.conf"
    conf.write_text(CAPTURE_CONF)
    capture = tmp_path / "capture.raw"
    play_env = {**env, "ALSA_CONFIG_PATH": str(conf), "AUDIO_CAPTURE_FILE": str(capture)}
    result = run_cli([command, TEXT], play_env)
    assert result.returncode == 0, result.stderr.decode()
    assert capture.exists()
    played = capture.read_bytes()
    expected = reference(server, TEXT, "pcm")
    assert nonzero_samples(played) == nonzero_samples(expected)
    assert len(strip_zeros(played)) >= len(strip_zeros(expected))


def capture_env(env: dict[str, str], tmp_path: Path) -> tuple[dict[str, str], Path]:
    conf = tmp_path / "asound.conf"
    conf.write_text(CAPTURE_CONF)
    capture = tmp_path / "capture.raw"
    return {**env, "ALSA_CONFIG_PATH": str(conf), "AUDIO_CAPTURE_FILE": str(capture)}, capture


@pytest.mark.parametrize("fmt", ["pcm", "wav", "mp3", "ulaw", "alaw"])
def test_played_and_written_at_once(fmt: str, server: Server, env: dict[str, str], tmp_path: Path) -> None:
    play_env, capture = capture_env(env, tmp_path)
    out = tmp_path / f"both.{fmt}"
    result = run_cli(["stream-sse", TEXT, "-o", str(out), "--play", "-r", "16000"], play_env)
    assert result.returncode == 0, result.stderr.decode()
    written = reference(server, TEXT, fmt, rate=16000)
    assert out.read_bytes() == written
    assert capture.exists()
    # The speakers get the PCM on the wire, whatever the file's format.
    played = nonzero_samples(capture.read_bytes())
    assert played == nonzero_samples(reference(server, TEXT, "pcm", rate=16000))
    assert len(played) > 0


LONG_TEXT = (
    "The morning train left the station exactly on time. "
    "Passengers settled into their seats with coffee and newspapers. "
    "Outside, the fields rolled past in shades of green and gold. "
    "A conductor walked the aisle, checking tickets one by one. "
    "Somewhere a child laughed at a dog chasing its own tail. "
    "The river appeared, wide and slow, beneath a stone bridge. "
    "By noon the city skyline rose against a pale blue sky. "
    "Everyone gathered their bags as the brakes began to sigh."
)


def test_multi_segment_playback_plays_every_segment_in_order(
    server: Server, env: dict[str, str], tmp_path: Path
) -> None:
    from smallest_cli.protocol.segment import segment_text

    segments = segment_text(LONG_TEXT)
    assert len(LONG_TEXT) > 250 and len(segments) >= 2, segments
    play_env, capture = capture_env(env, tmp_path)
    result = run_cli(["stream-ws", LONG_TEXT], play_env)
    assert result.returncode == 0, result.stderr.decode()
    expected = b"".join(nonzero_samples(reference(server, seg, "pcm")) for seg in segments)
    assert nonzero_samples(capture.read_bytes()) == expected


@pytest.mark.parametrize("device", ["default", "0"])
def test_device_by_name_or_index_plays(
    device: str, server: Server, env: dict[str, str], tmp_path: Path
) -> None:
    play_env, capture = capture_env(env, tmp_path)
    result = run_cli(["speak", TEXT, "--device", device], play_env)
    assert result.returncode == 0, result.stderr.decode()
    assert nonzero_samples(capture.read_bytes()) == nonzero_samples(reference(server, TEXT, "pcm"))


def test_unknown_device_is_one_line_and_exit_2(env: dict[str, str], tmp_path: Path) -> None:
    play_env, capture = capture_env(env, tmp_path)
    result = run_cli(["speak", TEXT, "--device", "nosuch"], play_env)
    stderr = result.stderr.decode()
    assert result.returncode == 2, stderr
    lines = [line for line in stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("smallest: error:"), stderr
    assert "nosuch" in lines[0]
    assert not capture.exists() or not strip_zeros(capture.read_bytes())


def test_no_audio_device_is_one_line_and_exit_2(env: dict[str, str], tmp_path: Path) -> None:
    conf = tmp_path / "asound.conf"
    conf.write_text(NO_DEVICE_CONF)
    result = run_cli(["speak", TEXT], {**env, "ALSA_CONFIG_PATH": str(conf)})
    assert result.returncode == 2
    lines = [line for line in result.stderr.decode().splitlines() if line.startswith("smallest")]
    assert len(lines) == 1 and "Traceback" not in result.stderr.decode()
    assert "device" in lines[0].lower()


@pytest.mark.parametrize("command", ["speak", "stream-ws"])
def test_a_retry_is_a_new_take_the_file_keeps_it_whole_playback_continues(
    command: str, tmp_path: Path
) -> None:
    """A server whose every render differs (--varied-takes, as a neural service's do) drops the
    first request after 3 chunks. Playback cannot take bytes back: it has take 1's start and take 2
    from there on. The file rolls back: it is take 2 whole, so it differs from what was played in
    its first bytes only, never a splice of two takes."""
    with running_server("--varied-takes") as srv:
        env = cli_env(srv, tmp_path)
        transport = "ws" if command == "stream-ws" else "sync"
        add_fault(srv, kind="drop", transport=transport, after_chunks=3, count=1)
        play_env, capture = capture_env(env, tmp_path)
        out = tmp_path / "take.pcm"
        result = run_cli([command, TEXT, "-o", str(out), "--play", "--json"], play_env)
        assert result.returncode == 0, result.stderr.decode()
        assert '"retries": 1' in result.stdout.decode()
    written, played = nonzero_samples(out.read_bytes()), nonzero_samples(capture.read_bytes())
    # 3 chunks of 20 ms at 24 kHz: what take 1 gave before the drop.
    head = 3 * 960
    after = nonzero_samples(out.read_bytes()[head:])
    assert played.endswith(after) and len(after) > len(written) // 2
    assert written != played
