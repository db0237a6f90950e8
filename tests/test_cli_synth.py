"""End to end: the real CLI against the real local server; files and stdout bytes are compared
with what the server's sync endpoint returns for the same request."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
import requests

from smallest_cli.protocol.segment import segment_text
from smallest_cli.protocol.wav import wav_header
from tests.audio_check import mp3_seconds
from tests.helpers import Server, cli_env, run_cli, running_server
from tests.test_cli_request_fields import last_body_with
from tests.test_cli_support import TEXT, add_fault, reference


@pytest.fixture(params=["close-after-complete", "keep-open"])
def server(request: pytest.FixtureRequest, server: Server, keep_open_server: Server) -> Server:
    """Each test against a server that closes the WebSocket after `complete` (the reference) and
    against one that keeps it open (an older page): the CLI must work with both."""
    return server if request.param == "close-after-complete" else keep_open_server


COMMANDS = ("speak", "stream-sse", "stream-ws")


@pytest.mark.parametrize("command", COMMANDS)
def test_wav_file_equals_the_servers_wav(
    command: str, server: Server, env: dict[str, str], tmp_path: Path
) -> None:
    out = tmp_path / "out.wav"
    result = run_cli([command, TEXT, "-o", str(out)], env)
    assert result.returncode == 0, result.stderr.decode()
    assert out.read_bytes() == reference(server, TEXT, "wav")
    assert not (tmp_path / "out.wav.part").exists()
    assert b"of audio" in result.stderr  # the plain one-line summary (stderr is not a terminal)


@pytest.mark.parametrize(
    ("command", "fmt"),
    [
        ("speak", "mp3"), ("stream-sse", "mp3"), ("stream-ws", "mp3"),
        ("speak", "ulaw"), ("stream-sse", "alaw"), ("stream-ws", "ulaw"),
        ("speak", "alaw"), ("stream-sse", "pcm"), ("stream-ws", "pcm"),
    ],
)
def test_every_format_equals_the_servers_bytes(
    command: str, fmt: str, server: Server, env: dict[str, str], tmp_path: Path
) -> None:
    out = tmp_path / f"out.{fmt}"
    result = run_cli([command, TEXT, "-o", str(out), "-r", "16000"], env)
    assert result.returncode == 0, result.stderr.decode()
    expected = reference(server, TEXT, fmt, rate=16000)
    assert len(expected) > 1000
    assert out.read_bytes() == expected


def test_format_flag_overrides_the_extension(server: Server, env: dict[str, str], tmp_path: Path) -> None:
    out = tmp_path / "audio.bin"
    result = run_cli(["stream-ws", TEXT, "-o", str(out), "--format", "alaw", "-v", "avery"], env)
    assert result.returncode == 0, result.stderr.decode()
    assert out.read_bytes() == reference(server, TEXT, "alaw", voice="avery")
    # An extension that says another format: written as asked, with a warning.
    out = tmp_path / "audio.wav"
    result = run_cli(["stream-ws", TEXT, "-o", str(out), "--format", "alaw", "-v", "avery"], env)
    assert result.returncode == 0, result.stderr.decode()
    assert out.read_bytes() == reference(server, TEXT, "alaw", voice="avery")
    assert b"smallest: warning: writing alaw audio into audio.wav, whose extension says wav" in result.stderr


@pytest.mark.parametrize("name", ["a.flac", "a.ogg", "a.m4a", "a.txt"])
def test_an_unknown_output_extension_is_refused_before_any_request(
    name: str, env: dict[str, str], tmp_path: Path
) -> None:
    result = run_cli(["speak", TEXT, "-o", str(tmp_path / name)], env)
    assert result.returncode == 2
    assert result.stderr.decode().startswith(f"smallest: error: cannot tell the audio format of {name}")
    assert not list(tmp_path.glob(f"{name}*"))


@pytest.mark.parametrize(("command", "fmt"), [("speak", "pcm"), ("stream-sse", "mp3"), ("stream-ws", "pcm")])
def test_stdout_carries_the_audio_bytes_alone(
    command: str, fmt: str, server: Server, env: dict[str, str]
) -> None:
    result = run_cli([command, TEXT, "-o", "-", "--format", fmt], env)
    assert result.returncode == 0, result.stderr.decode()
    assert result.stdout == reference(server, TEXT, fmt)


def test_stdin_with_dash_and_without_argument(server: Server, env: dict[str, str], tmp_path: Path) -> None:
    expected = reference(server, TEXT, "pcm")
    for args in (["stream-sse", "-"], ["speak"]):
        result = run_cli([*args, "-o", "-", "--format", "pcm"], env, input=(TEXT + "\n").encode())
        assert result.returncode == 0, result.stderr.decode()
        assert result.stdout == expected


def test_file_input(server: Server, env: dict[str, str], tmp_path: Path) -> None:
    src = tmp_path / "text.txt"
    src.write_text(TEXT + "\n", encoding="utf-8")
    out = tmp_path / "out.wav"
    result = run_cli(["stream-ws", "--file", str(src), "-o", str(out)], env)
    assert result.returncode == 0, result.stderr.decode()
    assert out.read_bytes() == reference(server, TEXT, "wav")


def test_long_text_is_segmented_and_joined_without_gaps(
    server: Server, env: dict[str, str], tmp_path: Path
) -> None:
    text = " ".join(f"Sentence number {i} is here to make the text long enough." for i in range(8))
    assert len(text) > 250
    parts = segment_text(text)
    pcm = b"".join(reference(server, part, "pcm") for part in parts)
    for command in ("speak", "stream-ws"):
        out = tmp_path / f"{command}.wav"
        result = run_cli([command, text, "-o", str(out), "--json"], env)
        assert result.returncode == 0, result.stderr.decode()
        assert out.read_bytes() == wav_header(24000, len(pcm)) + pcm
        stats = json.loads(result.stdout)
        assert stats["segments"] == len(parts) > 1


def test_json_stats(server: Server, env: dict[str, str], tmp_path: Path) -> None:
    out = tmp_path / "out.ulaw"
    result = run_cli(["stream-sse", TEXT, "-o", str(out), "--json", "-v", "avery"], env)
    assert result.returncode == 0, result.stderr.decode()
    stats = json.loads(result.stdout)
    assert set(stats) >= {
        "transport", "voice_id", "model", "sample_rate", "output_format", "segments", "chunks", "audio_bytes",
        "audio_seconds", "first_chunk_ms", "total_ms", "realtime_factor", "retries", "underruns", "output",
    }
    assert stats["transport"] == "sse" and stats["voice_id"] == "avery" and stats["output_format"] == "ulaw"
    assert stats["audio_bytes"] == 2 * out.stat().st_size and stats["output"] == str(out)  # PCM received
    assert stats["chunks"] > 1 and stats["segments"] == 1 and stats["retries"] == 0
    assert 0 < stats["first_chunk_ms"] <= stats["total_ms"]
    assert stats["audio_seconds"] == pytest.approx(out.stat().st_size / 24000, abs=0.001)  # 1 byte/sample
    assert result.stderr == b""  # --json replaces the human summary


@pytest.mark.parametrize("command", ["speak", "stream-sse", "stream-ws"])
def test_long_text_is_one_continuous_mp3_of_the_right_length(
    command: str, server: Server, env: dict[str, str], tmp_path: Path
) -> None:
    """Every transport carries PCM and the CLI encodes the file once: a multi-segment text is one
    MP3 stream (no encoder delay and padding at each join), as long as its audio plus one encoder
    delay and the last frame's fill."""
    text = " ".join(["A sentence of moderate length keeps the segmenter busy."] * 12)
    out = tmp_path / "long.mp3"
    result = run_cli([command, text, "-o", str(out), "-r", "8000", "--json"], env)
    assert result.returncode == 0, result.stderr.decode()
    stats = json.loads(result.stdout)
    assert stats["segments"] > 1 and stats["output_format"] == "mp3"
    frame = 576 / 8000  # MPEG-2.5 layer III at 8 kHz
    assert stats["audio_seconds"] <= mp3_seconds(out.read_bytes()) <= stats["audio_seconds"] + 3 * frame


def test_json_output_format_is_the_files(server: Server, env: dict[str, str], tmp_path: Path) -> None:
    """-o x.mp3 writes MP3 made from the PCM on the wire; --json names the file's format."""
    result = run_cli(["speak", "Hello.", "-o", str(tmp_path / "x.mp3"), "--json"], env)
    assert result.returncode == 0, result.stderr.decode()
    assert json.loads(result.stdout)["output_format"] == "mp3"
    assert last_body_with(server, "Hello.")["output_format"] == "pcm"


def test_json_goes_to_stderr_when_stdout_carries_audio(server: Server, env: dict[str, str]) -> None:
    result = run_cli(["stream-ws", TEXT, "-o", "-", "--format", "pcm", "--json"], env)
    assert result.returncode == 0, result.stderr.decode()
    pcm = reference(server, TEXT, "pcm")
    assert result.stdout == pcm
    stats = json.loads(result.stderr)
    assert stats["audio_bytes"] == len(pcm) and stats["output"] == "-"
    assert stats["audio_seconds"] == pytest.approx(len(pcm) / 48000, abs=0.001)


def test_quiet_prints_nothing(server: Server, env: dict[str, str], tmp_path: Path) -> None:
    result = run_cli(["speak", TEXT, "-o", str(tmp_path / "q.wav"), "-q"], env)
    assert result.returncode == 0 and result.stdout == b"" and result.stderr == b""


def test_word_timestamps_over_websocket(server: Server, env: dict[str, str], tmp_path: Path) -> None:
    text = "Hello there, this is Avery speaking."
    result = run_cli(
        ["stream-ws", text, "-v", "avery", "--word-timestamps", "-o", str(tmp_path / "w.wav"), "--json"], env
    )
    assert result.returncode == 0, result.stderr.decode()
    words = json.loads(result.stdout)["words"]
    assert [w["word"] for w in words] == text.split()
    assert all(w["start"] <= w["end"] for w in words)
    assert [w["start"] for w in words] == sorted(w["start"] for w in words)
    args = ["stream-ws", text, "-v", "avery", "--word-timestamps", "-o", str(tmp_path / "p.wav")]
    plain = run_cli(args, env)
    lines = plain.stdout.decode().splitlines()
    assert [line.split("\t")[2] for line in lines] == text.split()


def test_environment_voice_and_flag_precedence(server: Server, env: dict[str, str], tmp_path: Path) -> None:
    out = tmp_path / "v.wav"
    result = run_cli(["speak", TEXT, "-o", str(out)], {**env, "SMALLEST_VOICE": "liam"})
    assert result.returncode == 0, result.stderr.decode()
    assert out.read_bytes() == reference(server, TEXT, "wav", voice="liam")
    result = run_cli(["speak", TEXT, "-o", str(out), "-v", "mia"], {**env, "SMALLEST_VOICE": "liam"})
    assert out.read_bytes() == reference(server, TEXT, "wav", voice="mia")


def test_config_file_settings_apply_below_flags(server: Server, env: dict[str, str], tmp_path: Path) -> None:
    cfg = Path(env["XDG_CONFIG_HOME"]) / "smallest" / "config.toml"
    cfg.parent.mkdir(parents=True)
    cfg.write_text('voice = "daniel"\nsample_rate = 8000\n', encoding="utf-8")
    cfg.chmod(0o600)
    out = tmp_path / "c.wav"
    result = run_cli(["stream-sse", TEXT, "-o", str(out)], env)
    assert result.returncode == 0, result.stderr.decode()
    assert out.read_bytes() == reference(server, TEXT, "wav", voice="daniel", rate=8000)
    result = run_cli(["stream-sse", TEXT, "-o", str(out), "-r", "16000"], env)
    assert out.read_bytes() == reference(server, TEXT, "wav", voice="daniel", rate=16000)


def test_json_counts_every_chunk_the_server_sent(server: Server, env: dict[str, str], tmp_path: Path) -> None:
    """Chunks that arrived together reach the sinks as one piece; the count is still the server's."""
    result = run_cli(["stream-ws", TEXT, "-o", str(tmp_path / "out.wav"), "--json"], env)
    assert result.returncode == 0, result.stderr.decode()
    stats = json.loads(result.stdout)
    assert stats["chunks"] == math.ceil(stats["audio_bytes"] / 960) > 1  # 20 ms at 24 kHz


def test_a_sync_body_sent_as_a_wav_file_gives_the_same_audio(
    server: Server, env: dict[str, str], tmp_path: Path
) -> None:
    """The reference describes the sync body as "A PCM int16 WAV file"; the live service was seen to
    send raw PCM. `serve --pcm-as-wav` answers the first way: the files are the same, over several
    segments and after a dropped body that is asked for again."""
    text = " ".join(f"Sentence number {i} is here to make the text long enough." for i in range(6))
    pcm = b"".join(reference(server, part, "pcm") for part in segment_text(text))
    with running_server("--pcm-as-wav") as wav_server:
        assert requests.post(
            wav_server.url + "/waves/v1/tts", json={"text": "Hi.", "voice_id": "magnus"},
            headers=wav_server.headers, timeout=30,
        ).content.startswith(b"RIFF")
        wav_env = cli_env(wav_server, tmp_path)
        add_fault(wav_server, kind="drop", transport="sync", after_chunks=3)
        retries = []
        for name in ("x.wav", "x.pcm"):
            result = run_cli(["speak", text, "-o", str(tmp_path / name), "--json"], wav_env)
            assert result.returncode == 0, result.stderr.decode()
            retries.append(json.loads(result.stdout)["retries"])
        assert retries == [1, 0]
        assert (tmp_path / "x.wav").read_bytes() == wav_header(24000, len(pcm)) + pcm
        assert (tmp_path / "x.pcm").read_bytes() == pcm
