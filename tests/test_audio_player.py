"""Real playback through PortAudio into an ALSA `file` device (tests/alsa/capture.conf).

Each scenario runs in a subprocess: PortAudio reads the ALSA configuration when sounddevice is
imported. The captured raw samples, stripped of the stream's leading/trailing zeros, must equal
what was played exactly.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.helpers import ROOT, require_portaudio, strip_zeros

ALSA_DIR = Path(__file__).resolve().parent / "alsa"
RATE = 24000

require_portaudio()

SCENARIO = r"""
import json, struct, sys, time
from smallest_cli.output.player import Player
from smallest_cli.output.sinks import PlayerSink

fmt, rate, src, piece = sys.argv[1], int(sys.argv[2]), sys.argv[3], int(sys.argv[4])
prebuffer = float(sys.argv[5])
data = open(src, "rb").read()
player = Player(rate, prebuffer_seconds=prebuffer)
sink = PlayerSink(player)
for i in range(0, len(data), piece):
    sink.write(data[i : i + piece])
queued_before_drain = player.queued_seconds
sink.close()
print(json.dumps({"played": player.played_seconds, "queued": player.queued_seconds,
                  "underruns": player.underruns, "queued_before_drain": queued_before_drain}))
"""


def _noise(n: int, seed: int = 12345) -> bytes:
    """Deterministic int16 samples, none of them zero (so stripping zeros cannot eat audio)."""
    out = bytearray()
    x = seed
    for _ in range(n):
        x = (1103515245 * x + 12345) & 0x7FFFFFFF
        v = (x >> 8) % 30000 - 15000
        out += (v or 1).to_bytes(2, "little", signed=True)
    return bytes(out)


def alsa_env(tmp_path: Path, conf: str = "capture.conf") -> dict[str, str]:
    env = dict(os.environ)
    env["ALSA_CONFIG_PATH"] = str(ALSA_DIR / conf)
    env["AUDIO_CAPTURE_FILE"] = str(tmp_path / "capture.raw")
    env["PYTHONPATH"] = str(ROOT)
    return env


def run_py(code: str, args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", code, *args], capture_output=True, text=True, env=env, cwd=ROOT, timeout=60
    )


def nonzero(pcm: bytes) -> bytes:
    """The non-zero samples in order: gaps of silence (underruns) removed."""
    return b"".join(pcm[i : i + 2] for i in range(0, len(pcm) - 1, 2) if pcm[i : i + 2] != b"\0\0")


def play(
    tmp_path: Path, fmt: str, data: bytes, piece: int, rate: int = RATE, prebuffer: float = 0.0
) -> tuple[bytes, dict]:
    """Play `data` (PCM) through PlayerSink(Player) into the capture device.

    The test device consumes instantly (no real-time pacing), so a stream started at the first
    write runs dry between writes: those underrun gaps are silence. A prebuffer larger than the
    audio starts playback at drain(), with no gaps.
    """
    src = tmp_path / f"input.{fmt}"
    src.write_bytes(data)
    args = [fmt, str(rate), str(src), str(piece), str(prebuffer)]
    result = run_py(SCENARIO, args, alsa_env(tmp_path))
    assert result.returncode == 0, result.stderr
    capture = tmp_path / "capture.raw"
    assert capture.exists(), result.stderr
    return capture.read_bytes(), json.loads(result.stdout.strip().splitlines()[-1])


def test_pcm_played_exactly(tmp_path: Path) -> None:
    pcm = _noise(3 * RATE)  # three seconds
    captured, stats = play(tmp_path, "pcm", pcm, piece=4097, prebuffer=10)  # odd pieces split samples
    assert strip_zeros(captured) == pcm
    assert stats["played"] >= 3.0 and stats["queued"] == 0 and stats["underruns"] == 0
    assert stats["queued_before_drain"] == pytest.approx(3.0)  # write() did not wait for the device


def test_pcm_played_while_written(tmp_path: Path) -> None:
    pcm = _noise(2 * RATE)
    captured, stats = play(tmp_path, "pcm", pcm, piece=999)  # starts with the first write
    assert nonzero(captured) == pcm
    assert stats["played"] >= 2.0 and stats["queued"] == 0


CLOSE_SCENARIO = r"""
import time
from smallest_cli.output.player import Player
p = Player(24000, max_queue_seconds=60)
p.write(b"\x01\x00" * 24000 * 20)
t = time.monotonic()
p.close(); p.close()
assert time.monotonic() - t < 5
p.write(b"\x01\x00")  # ignored after close
print("ok")
"""


def test_close_stops_at_once(tmp_path: Path) -> None:
    result = run_py(CLOSE_SCENARIO, [], alsa_env(tmp_path))
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "ok"


DEVICES_SCENARIO = r"""
import json
from smallest_cli.output.devices import list_output_devices, resolve_device
from smallest_cli.errors import UsageError
devs = list_output_devices()
out = {"devices": [d.to_dict() for d in devs], "none": resolve_device(None)}
default = next(d for d in devs if d.name == "default")
out["by_name"] = resolve_device("DEFAULT")
out["by_index"] = resolve_device(str(default.index))
out["default_index"] = default.index
for bad in ("no-such-device", "9999"):
    try:
        resolve_device(bad)
    except UsageError as e:
        out[bad] = str(e)
print(json.dumps(out))
"""


def test_list_and_resolve_devices(tmp_path: Path) -> None:
    result = run_py(DEVICES_SCENARIO, [], alsa_env(tmp_path))
    assert result.returncode == 0, result.stderr
    out = json.loads(result.stdout)
    assert any(d["name"] == "default" and d["channels"] > 0 for d in out["devices"])
    assert out["by_name"] == out["by_index"] == out["default_index"]
    assert "choose one of" in out["no-such-device"] and "default" in out["no-such-device"]
    assert "9999" in out["9999"]


NO_DEVICE_SCENARIO = r"""
from smallest_cli.output.devices import list_output_devices, resolve_device
from smallest_cli.output.player import Player
from smallest_cli.errors import AudioDeviceError
assert list_output_devices() == []
for fn in (lambda: resolve_device(None), lambda: Player(24000)):
    try:
        fn()
    except AudioDeviceError as e:
        print(e)
"""


def test_no_device_is_a_clear_error(tmp_path: Path) -> None:
    result = run_py(NO_DEVICE_SCENARIO, [], alsa_env(tmp_path, "nodevice.conf"))
    assert result.returncode == 0, result.stderr
    lines = result.stdout.strip().splitlines()
    assert lines == ["no audio output device found; use --no-play (with -o FILE to save the audio)"] * 2


UNDERRUN_SCENARIO = r"""
from smallest_cli.output.player import Player
now = [0.0]
# Never starts by itself (the test calls the callback); after a gap it holds the audio until the
# source has been quiet for 0.2 s (far below the 10 s threshold), on the test's clock.
p = Player(24000, prebuffer_seconds=10, clock=lambda: now[0])
out = bytearray(200)
def tick():
    p._callback(out, 100, None, None)
    return p.underruns
counts = [tick(), tick()]  # nothing written yet: not an underrun
p.write(b"\x01\x00" * 150)
counts += [tick(), tick(), tick(), tick()]  # plays 100, plays 50 and runs dry, stays dry
p.write(b"\x01\x00" * 200)
counts += [tick(), tick()]  # held: the same gap
now[0] += 0.2
counts += [tick(), tick(), tick()]  # the source went quiet: plays 100, 100, dry again
print(counts)
p.close()
p = Player(24000, prebuffer_seconds=10, clock=lambda: now[0])
out = bytearray(2048)
def block():  # a device block of 1024 frames
    p._callback(out, 1024, None, None)
    return p.underruns
p.write(b"\x01\x00" * 480)
counts = [block()]  # a first chunk smaller than the block: playback starting, not a gap
p.write(b"\x01\x00" * 2048)
counts += [block(), block()]  # plays two whole blocks
p.write(b"\x01\x00" * 300)
counts += [block()]  # runs dry: one gap ...
p.write(b"\x01\x00" * 300)
now[0] += 0.2
counts += [block(), block()]  # ... however many partly filled or empty callbacks it lasts
print(counts)
p.close()
"""


def test_underruns_count_gaps_not_dry_callbacks(tmp_path: Path) -> None:
    result = run_py(UNDERRUN_SCENARIO, [], alsa_env(tmp_path))
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().splitlines() == ["[0, 0, 0, 1, 1, 1, 1, 1, 1, 1, 2]", "[0, 0, 0, 1, 1, 1]"]


START_SCENARIO = r"""
import sys
from smallest_cli.output.player import Player

class HostStart:
    # What PortAudio does on start: it fills the host buffer (latency plus one period of 208
    # frames) from the callback at once, before the device plays anything.
    latency = 832 / 24000

    def __init__(self, player):
        self.player, self.filled = player, bytearray()

    def start(self):
        for _ in range(5):
            out = bytearray(2 * 208)
            self.player._callback(out, 208, None, None)
            self.filled += out

    def abort(self):
        pass

    def close(self):
        pass

prebuffer = None if sys.argv[1] == "auto" else float(sys.argv[1])
pace = float(sys.argv[2])  # seconds between two chunks' arrivals
now = [0.0]
p = Player(24000, prebuffer_seconds=prebuffer, clock=lambda: now[0])
p._stream.close()
p._stream = host = HostStart(p)
chunk = b"\x01\x00" * 480  # 20 ms, as the server streams it
writes = 0
while not host.filled:
    p.write(chunk)
    writes += 1
    now[0] += pace
print(writes, host.filled.count(b"\x00\x00"), p.underruns)
p.close()
"""


@pytest.mark.parametrize(("prebuffer", "pace", "expected"), [
    ("auto", "0.006", "4 0 0"), ("auto", "0.0", "4 0 0"), ("auto", "0.02", "4 0 0"),
    ("0", "0.006", "1 560 1"),
])
def test_playback_starts_once_the_host_buffer_can_be_filled(
    tmp_path: Path, prebuffer: str, pace: str, expected: str
) -> None:
    """The start fills the host buffer (1040 frames) at once: started on one 20 ms chunk, it holds
    560 frames of silence after it (a click). By default the player waits for the buffer plus one
    chunk of margin (4 chunks here), whatever the pace the first chunks came at: two or three
    say nothing of the pace to come (a burst, then the server's own)."""
    result = run_py(START_SCENARIO, [prebuffer, pace], alsa_env(tmp_path))
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == expected


PACED_SCENARIO = r"""
import array, sys
from smallest_cli.output.player import Player

# The chunks' arrival times: the first `burst` one ms apart, then one every `pace` seconds.
pace, burst = float(sys.argv[1]), int(sys.argv[2])
arrivals = [i * 0.001 if i < burst else (burst - 1) * 0.001 + (i - burst + 1) * pace for i in range(40)]
now = [0.0]
PERIOD = 208 / 24000

class Host:
    # PortAudio's host side: the buffer filled at the start, then a block every period.
    latency = 832 / 24000
    started_at = None
    silent = 0

    def start(self):
        self.started_at = now[0]
        for _ in range(5):
            self.block()

    def block(self):
        out = bytearray(2 * 208)
        p._callback(out, 208, None, None)
        self.silent += array.array("h", bytes(out)).count(0)

    def abort(self):
        pass

    def close(self):
        pass

p = Player(24000, clock=lambda: now[0])
p._stream.close()
p._stream = host = Host()
chunk = b"\x01\x00" * 480
writes, next_block = 0, None
while writes < 40:
    if next_block is not None and next_block < arrivals[writes]:
        now[0] = next_block
        host.block()
        next_block += PERIOD
        continue
    now[0] = arrivals[writes]
    p.write(chunk)
    writes += 1
    if next_block is None and host.started_at is not None:
        next_block = host.started_at + PERIOD
print(arrivals.index(host.started_at) + 1, host.silent, p.underruns)
p.close()
"""


@pytest.mark.parametrize(("pace", "burst"), [("0.00606", "1"), ("0.016", "1"), ("0.02", "1"), ("0.02", "3"),
                                            ("0.00606", "3")])
def test_the_start_lasts_until_the_next_chunk(tmp_path: Path, pace: str, burst: str) -> None:
    """Chunks of 20 ms at a steady pace (3.3x real time, a little faster than real time, real
    time), the first ones in a burst or not, PortAudio's callbacks every 208 frames once started:
    the player starts on the fourth chunk and the device never takes silence while chunks keep
    coming. (A start sized from the first few arrivals' pace took silence after a burst.)"""
    result = run_py(PACED_SCENARIO, [pace, burst], alsa_env(tmp_path))
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "4 0 0"


#: A Player on the test's clock whose stream the test drives: it calls the callback itself.
DRIVEN_PLAYER = r"""
from smallest_cli.output.player import Player

class Stream:  # stands in for PortAudio's
    latency = 832 / 24000

    def start(self):
        pass

    def abort(self):
        pass

    def close(self):
        pass

now = [0.0]
p = Player(24000, clock=lambda: now[0])
p._stream.close()
p._stream = Stream()
"""

HOLD_SCENARIO = DRIVEN_PLAYER + r"""
import threading, time
import sounddevice as sd
out = bytearray(2 * 208)

def block():
    p._callback(out, 208, None, None)
    return bytes(out)

chunk = b"\x01\x00" * 480  # 20 ms
for _ in range(4):
    p.write(chunk)  # the host buffer and a chunk: starts
played = b"".join(block() for _ in range(10))  # plays the 1920 frames, then runs dry
# A source at 0.8x real time: a 20 ms chunk every 25 ms, three device blocks meanwhile.
chunks = 0
while chunks < 100 and not any([any(block()) for _ in range(3)]):
    now[0] += 0.025
    p.write(chunk)
    chunks += 1
print(played.count(b"\x01\x00"), chunks, p.underruns)
# Another gap, a tail too short to resume with, then the end: the tail plays.
while any(block()):
    pass
p.write(chunk)
drain = threading.Thread(target=p.drain)
drain.start()
deadline = time.monotonic() + 10
while not p._draining and time.monotonic() < deadline:
    time.sleep(0.001)
tail = b""
try:
    while True:
        tail += block()
except sd.CallbackStop:  # raised after the last block was filled
    tail += bytes(out)
    p._on_finished()
drain.join()
print(tail.count(b"\x01\x00"), p.underruns)
"""


def test_after_a_gap_a_slow_source_resumes_with_enough_to_last_and_the_end_plays(tmp_path: Path) -> None:
    """From a source at 0.8x real time the held audio resumes once 0.4 s is queued (20 chunks, 21
    when floating point lands the rate a hair under 0.8), not chunk by chunk; held callbacks play
    silence and keep the audio. A tail held at the end of the stream is played by drain()."""
    result = run_py(HOLD_SCENARIO, [], alsa_env(tmp_path))
    assert result.returncode == 0, result.stderr
    first, second = result.stdout.strip().splitlines()
    played, chunks, underruns = first.split()
    assert (int(played), underruns) == (1920, "1") and int(chunks) in (20, 21)
    assert second.split() == ["480", "2"]


RELEASED_SCENARIO = DRIVEN_PLAYER + r"""
BLOCK = 1024  # a device block longer than a 20 ms chunk
out = bytearray(2 * BLOCK)
chunk = b"\x01\x00" * 480

def block():
    p._callback(out, BLOCK, None, None)
    samples = [out[i:i + 2] for i in range(0, len(out), 2)]
    return samples.count(b"\x01\x00")

for _ in range(4):
    p.write(chunk)  # starts
while block():
    pass  # plays it all: a gap
p.write(chunk)  # one chunk, then the source is quiet: the hold lets it play ...
now[0] += 0.25
first = block()  # ... and it runs dry at once
# Then a source at 0.8x real time for 3 s: a chunk every 25 ms, a block every 42.7 ms.
next_chunk, next_block, partial = now[0], now[0], 0
while now[0] < 3.25:
    if next_chunk <= next_block:
        now[0] = next_chunk
        p.write(chunk)
        next_chunk += 0.025
    else:
        now[0] = next_block
        played = block()
        partial += 0 < played < BLOCK
        next_block += BLOCK / 24000
print(first, partial, p.underruns)
"""


def test_a_hold_that_ended_with_less_than_a_block_holds_again_at_the_next_gap(tmp_path: Path) -> None:
    """A hold released by a quiet source with less than one device block queued plays it and runs
    dry at once: the player holds again, so that a slow source after it does not stutter (a
    partly filled block at the end of a hold, not one in every callback)."""
    result = run_py(RELEASED_SCENARIO, [], alsa_env(tmp_path))
    assert result.returncode == 0, result.stderr
    # The chunk plays; one partly filled block ends the next hold; the two gaps are counted.
    assert result.stdout.split() == ["480", "1", "2"]
