"""What `-o` names is written, not replaced: a named pipe or a device (/dev/fd/1) is written in place
as stdout is, a symbolic link stays a link to the file that gets the audio, and a file replaced by
a finished run keeps its permissions. (Targets are made in the test's own directory: a regression
must not be able to replace a device of the machine.)"""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from smallest_cli.errors import UsageError
from smallest_cli.output.plan import check_output_path
from tests.helpers import ROOT, Server, run_cli
from tests.test_cli_support import TEXT, reference


@pytest.mark.parametrize("command", ["speak", "stream-ws"])
def test_a_named_pipe_is_written_in_place(
    command: str, server: Server, env: dict[str, str], tmp_path: Path
) -> None:
    fifo = tmp_path / "audio.pcm"
    os.mkfifo(fifo)
    received = bytearray()

    def read() -> None:
        with open(fifo, "rb") as reader:
            while chunk := reader.read(65536):
                received.extend(chunk)

    reader = threading.Thread(target=read, daemon=True)  # daemon: a replaced pipe never opens
    reader.start()
    result = run_cli([command, TEXT, "-o", str(fifo)], env)
    reader.join(timeout=30)
    assert result.returncode == 0, result.stderr.decode()
    assert bytes(received) == reference(server, TEXT, "pcm")
    assert stat.S_ISFIFO(os.stat(fifo).st_mode)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["audio.pcm"]


def test_dev_fd_1_is_stdout_written_in_place(server: Server, env: dict[str, str]) -> None:
    result = run_cli(["stream-sse", TEXT, "-o", "/dev/fd/1", "--format", "pcm"], env)
    assert result.returncode == 0, result.stderr.decode()
    assert result.stdout == reference(server, TEXT, "pcm")


def test_a_symbolic_link_stays_a_link_to_the_audio(
    server: Server, env: dict[str, str], tmp_path: Path
) -> None:
    (tmp_path / "sub").mkdir()
    target = tmp_path / "sub" / "target.pcm"
    target.write_bytes(b"old")
    link = tmp_path / "link.pcm"
    link.symlink_to(Path("sub") / "target.pcm")
    result = run_cli(["speak", TEXT, "-o", str(link)], env)
    assert result.returncode == 0, result.stderr.decode()
    assert link.is_symlink() and os.readlink(link) == os.path.join("sub", "target.pcm")
    assert target.read_bytes() == reference(server, TEXT, "pcm")
    assert sorted(p.name for p in (tmp_path / "sub").iterdir()) == ["target.pcm"]


def test_a_replaced_file_keeps_its_permissions(server: Server, env: dict[str, str], tmp_path: Path) -> None:
    out = tmp_path / "private.pcm"
    out.write_bytes(b"old")
    out.chmod(0o600)
    result = run_cli(["stream-ws", TEXT, "-o", str(out)], env)
    assert result.returncode == 0, result.stderr.decode()
    assert out.read_bytes() == reference(server, TEXT, "pcm")
    assert stat.S_IMODE(out.stat().st_mode) == 0o600


def test_a_pipe_is_refused_where_only_a_file_will_do(tmp_path: Path) -> None:
    fifo = tmp_path / "captions.srt"
    os.mkfifo(fifo)
    with pytest.raises(UsageError, match="it is not a regular file"):
        check_output_path(fifo)
    check_output_path(fifo, stream_ok=True)


def test_a_finished_run_removes_the_part_an_earlier_failed_run_left(
    server: Server, env: dict[str, str], tmp_path: Path
) -> None:
    out = tmp_path / "talk.pcm"
    (tmp_path / "talk.pcm.part").write_bytes(b"what an interrupted run kept")
    (tmp_path / "talk.pcm.part.1").write_bytes(b"another run's work file")
    result = run_cli(["speak", TEXT, "-o", str(out)], env)
    assert result.returncode == 0, result.stderr.decode()
    assert out.read_bytes() == reference(server, TEXT, "pcm")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["talk.pcm", "talk.pcm.part.1"]


@pytest.mark.parametrize("target", ["/dev/stdout", "/dev/fd/1", "/proc/self/fd/1"])
def test_stdout_named_by_a_path_is_written_where_it_stands(
    target: str, server: Server, env: dict[str, str], tmp_path: Path
) -> None:
    """`{ echo head; smallest ... -o /dev/stdout; } > f` keeps the head, and the WAV after it has
    its sizes patched, as with -o -: the descriptor is written as it is, never reopened."""
    out = tmp_path / "f.bin"
    with open(out, "wb") as f:
        f.write(b"HEADLINE\n")
        f.flush()
        result = subprocess.run(
            [sys.executable, "-m", "smallest_cli", "speak", TEXT, "-o", target, "-q"],
            stdout=f, stderr=subprocess.PIPE, env=env, cwd=ROOT, timeout=60,
        )
    assert result.returncode == 0, result.stderr.decode()
    assert out.read_bytes() == b"HEADLINE\n" + reference(server, TEXT, "wav")


def test_dev_stdout_is_stdout_for_the_json_report_too(server: Server, env: dict[str, str]) -> None:
    result = run_cli(["speak", TEXT, "-o", "/dev/stdout", "--format", "wav", "--json"], env)
    assert result.returncode == 0, result.stderr.decode()
    assert result.stdout[44:] == reference(server, TEXT, "wav")[44:]  # a pipe: a streaming header
    assert json.loads(result.stderr)["output"] == "-"


def test_a_descriptor_that_is_not_open_is_named(env: dict[str, str]) -> None:
    result = run_cli(["speak", TEXT, "-o", "/dev/fd/7"], env)
    assert result.returncode == 2
    said = "smallest: error: cannot write /dev/fd/7: descriptor 7 is not open"
    assert result.stderr.decode().strip() == said
