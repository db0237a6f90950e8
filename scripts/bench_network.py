"""First audio and first sound over a far network: `make bench`'s network mode.

`smallest serve --first-chunk-ms 100 --rtf 3.3` (with TLS when `openssl` can make a certificate)
runs behind `scripts/delay_proxy.py`, which delays every byte by RTT/2 each way, at RTT 60 and
150 ms. Each client speaks the short text, interleaved, `--runs` times (median):

- **first audio, to a file**: from spawning the client to the first PCM byte on its stdout
  (`bench.measure`): the CLI's three commands (`-o - --format pcm`), `floor_ws.py`, the SDK;
- **first sound, playing**: from spawning the client to the first sample above |200| recorded
  from the monitor of a PulseAudio null sink, which plays in real time (recipe:
  ../shared/audio-testing.md): the CLI's three commands and `docs_ws.py` (the docs' example);
- **dropouts**: silences of 10 ms or more in that recording that the audio itself does not
  have (its own pauses are read from the same client's file output), and the CLI's `--json`
  underruns.

    .venv/bin/python scripts/bench_network.py [--runs N] [--rtt 60,150]

Needs PulseAudio (`pulseaudio`, `pulseaudio-utils`, `libasound2-plugins`; installed when root)
for the playing rows; without it they are skipped with a note. Results are printed and written
to bench-results/network-latest.md.
"""

from __future__ import annotations

import argparse
import array
import contextlib
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import bench  # noqa: E402

from smallest_cli.server.launch import running_server  # noqa: E402

ROOT = bench.ROOT
SCRIPTS = ROOT / "scripts"
TEXT = "Hello there, this is a short test sentence."
FILE_CLIENTS = ("speak", "stream-sse", "stream-ws", "floor", "sdk")
PLAY_CLIENTS = ("speak", "stream-sse", "stream-ws", "docs")
SINK_RATE = 48000
LOUD = 200  # |sample| above this is sound
MIN_GAP_MS = 10.0
PULSE_DIR = Path(tempfile.gettempdir()) / "smallest-bench-pulse"
#: Quiet runs in a recording: (start in ms after the first sound, length in ms).
Gaps = list[tuple[float, float]]


# -- the far server ------------------------------------------------------------------------------------


@dataclass
class FarServer:
    url: str  # the proxy's base URL (http or https)
    ws_url: str
    env: dict[str, str]  # SSL_CERT_FILE when TLS is on


def make_certificate(directory: Path) -> tuple[Path, Path] | None:
    """A self-signed certificate for 127.0.0.1 (cert, key), or None without the openssl CLI."""
    if shutil.which("openssl") is None:
        return None
    cert, key = directory / "cert.pem", directory / "key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", "/CN=127.0.0.1",
         "-addext", "subjectAltName=IP:127.0.0.1", "-keyout", str(key), "-out", str(cert)],
        check=True, capture_output=True,
    )
    return cert, key


def serve_supports_tls() -> bool:
    cmd = [sys.executable, "-m", "smallest_cli", "serve", "--help"]
    out = subprocess.run(cmd, capture_output=True, text=True)
    return "--tls-cert" in out.stdout


@contextlib.contextmanager
def far_server(rtt_ms: float, directory: Path) -> Iterator[FarServer]:
    tls = make_certificate(directory) if serve_supports_tls() else None
    args = ["--first-chunk-ms", "100", "--rtf", "3.3"]
    if tls is not None:
        args += ["--tls-cert", str(tls[0]), "--tls-key", str(tls[1])]
    with running_server(*args, api_key=bench.API_KEY) as server:
        target = server.url.split("://", 1)[1]
        proxy = subprocess.Popen(
            [sys.executable, str(SCRIPTS / "delay_proxy.py"), target, str(rtt_ms / 2)],
            stdout=subprocess.PIPE, text=True,
        )
        try:
            assert proxy.stdout is not None
            address = proxy.stdout.readline().strip()
            scheme = "https" if tls is not None else "http"
            env = {"SSL_CERT_FILE": str(tls[0])} if tls is not None else {}
            ws = "wss" if tls is not None else "ws"
            yield FarServer(f"{scheme}://{address}", f"{ws}://{address}/waves/v1/tts/live", env)
        finally:
            proxy.terminate()
            proxy.wait()


def command(client: str, server: FarServer, text_file: Path, play: bool) -> list[str]:
    if client in ("floor", "sdk", "docs"):
        script = {"floor": "floor_ws.py", "sdk": "sdk_ws.py", "docs": "docs_ws.py"}[client]
        tail = [] if client == "docs" else ["-"]
        return [sys.executable, str(SCRIPTS / script), server.ws_url, bench.API_KEY, str(text_file), *tail]
    out = ["--json"] if play else ["-o", "-", "--format", "pcm"]
    return [*bench.smallest_cmd(), client, "-f", str(text_file), *out]


#: Trusted CA variables of this machine's environment: dropped, so that every client trusts the
#: bench's CA alone (through SSL_CERT_FILE) and none loads a system bundle the others do not.
CA_VARIABLES = ("SSL_CERT_FILE", "SSL_CERT_DIR", "REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE")


def client_env(home: Path, server: FarServer) -> dict[str, str]:
    env = {k: v for k, v in bench.client_env(home, None).items() if k not in CA_VARIABLES}
    env.update(server.env, SMALLEST_BASE_URL=server.url, SMALLEST_API_KEY=bench.API_KEY)
    env["XDG_RUNTIME_DIR"] = str(PULSE_DIR)
    return env


# -- the real-time sink --------------------------------------------------------------------------------


def start_pulseaudio() -> str | None:
    """Start a PulseAudio daemon with a null sink named `speaker`; None when it runs, else why not."""
    if shutil.which("pulseaudio") is None or shutil.which("parec") is None:
        return "PulseAudio is not installed (apt-get install pulseaudio pulseaudio-utils libasound2-plugins)"
    PULSE_DIR.mkdir(mode=0o700, exist_ok=True)
    env = {**os.environ, "XDG_RUNTIME_DIR": str(PULSE_DIR)}
    if subprocess.run(["pactl", "info"], env=env, capture_output=True).returncode != 0:
        subprocess.run(
            ["pulseaudio", "--daemonize=yes", "--exit-idle-time=-1", "-n",
             f"--load=module-null-sink sink_name=speaker rate={SINK_RATE}",
             "--load=module-native-protocol-unix"],
            env=env, capture_output=True,
        )
    ok = subprocess.run(["pactl", "info"], env=env, capture_output=True).returncode == 0
    return None if ok else "the PulseAudio daemon did not start"


class Recorder:
    """Records the null sink's monitor for the whole bench, so that the sink keeps running at a low
    latency (a sink nobody records starts late, by up to two seconds)."""

    def __init__(self) -> None:
        env = {**os.environ, "XDG_RUNTIME_DIR": str(PULSE_DIR)}
        self._proc = subprocess.Popen(
            ["parec", "-d", "speaker.monitor", "--format=s16le", f"--rate={SINK_RATE}", "--channels=1",
             "--latency-msec=5", "--raw"], stdout=subprocess.PIPE, env=env,
        )
        self._lock = threading.Lock()
        self._data = bytearray()
        self._arrivals: list[tuple[int, float]] = []  # (bytes so far, monotonic time)
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self._proc.stdout is not None
        fd = self._proc.stdout.fileno()
        while data := os.read(fd, 960):
            with self._lock:
                self._data += data
                self._arrivals.append((len(self._data), time.monotonic()))

    def mark(self) -> int:
        with self._lock:
            return len(self._data)

    def since(self, mark: int) -> tuple[array.array, list[tuple[int, float]]]:
        with self._lock:
            data = bytes(self._data[mark:])
            arrivals = [(n - mark, t) for n, t in self._arrivals if n > mark]
        samples = array.array("h")
        samples.frombytes(data[: len(data) // 2 * 2])
        return samples, arrivals

    def close(self) -> None:
        self._proc.terminate()
        self._proc.wait()


def silences(samples: Sequence[int], rate: int) -> tuple[int | None, Gaps]:
    """(index of the first loud sample, [(start ms after it, length ms)] of quiet runs of at least
    MIN_GAP_MS between the first and the last loud sample)."""
    loud = [i for i, s in enumerate(samples) if abs(s) > LOUD]
    if not loud:
        return None, []
    first, gaps, run = loud[0], [], None
    for i in range(first, loud[-1] + 1):
        if abs(samples[i]) <= LOUD:
            run = i if run is None else run
        elif run is not None:
            if (i - run) * 1000 / rate >= MIN_GAP_MS:
                gaps.append(((run - first) * 1000 / rate, (i - run) * 1000 / rate))
            run = None
    return first, gaps


def dropouts(recorded: Gaps, own: Gaps) -> Gaps:
    """The recorded silences the audio does not have, as (start, length of what is not its own).
    A recorded silence that starts within 15 ms of one of the audio's own pauses is that pause
    when it is at most 5 ms longer, and a dropout of the difference when longer (a hold in
    playback next to a pause merges with it, and the two start together). After each dropout
    every later pause is shifted by its length, so the comparison allows for the shift so far."""
    extra: list[tuple[float, float]] = []
    shift = 0.0
    for start, length in recorded:
        own_pause = max((n for s, n in own if abs(start - shift - s) <= 15), default=0.0)
        lost = length - own_pause
        if lost > 5:
            extra.append((start, lost))
            shift += lost
    return extra


# -- runs ----------------------------------------------------------------------------------------------


@dataclass
class Row:
    rtt: float
    measure: str  # "file" or "play"
    client: str
    values: list[float] = field(default_factory=list)
    dropouts: list[int] = field(default_factory=list)
    underruns: list[int] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    def median(self) -> float | None:
        return statistics.median(self.values) if self.values else None


def play_once(cmd: list[str], env: dict[str, str], recorder: Recorder, own: Gaps) -> dict:
    mark = recorder.mark()
    t0 = time.monotonic()
    proc = subprocess.run(cmd, env=env, capture_output=True, timeout=120)
    deadline = time.monotonic() + 0.5  # the sink's tail: what was played reaches the monitor
    while time.monotonic() < deadline:
        time.sleep(0.05)
    samples, arrivals = recorder.since(mark)
    first, gaps = silences(samples, SINK_RATE)
    result: dict = {"ok": proc.returncode == 0, "error": proc.stderr.decode(errors="replace")[-200:]}
    if first is not None:
        result["first_sound_ms"] = (next(t for n, t in arrivals if n > first * 2) - t0) * 1000
        result["dropouts"] = dropouts(gaps, own)
    with contextlib.suppress(ValueError, IndexError, KeyError):
        result["underruns"] = json.loads(proc.stdout.decode().strip().splitlines()[-1])["underruns"]
    return result


def own_pauses(server: FarServer, home: Path, text_file: Path) -> Gaps:
    """The audio's own pauses, from the CLI's PCM written to stdout."""
    out = subprocess.run(command("stream-ws", server, text_file, play=False), env=client_env(home, server),
                         capture_output=True, check=True).stdout
    samples = array.array("h")
    samples.frombytes(out[: len(out) // 2 * 2])
    return silences(samples, bench.SAMPLE_RATE)[1]


def bench_rtt(rtt: float, runs: int, home: Path, text_file: Path, recorder: Recorder | None,
              sdk: bool, log) -> list[Row]:
    rows: dict[tuple[str, str], Row] = {}
    with far_server(rtt, home) as server:
        env = client_env(home, server)
        own = own_pauses(server, home, text_file)
        plan = [("file", c) for c in FILE_CLIENTS if c != "sdk" or sdk]
        if recorder is not None:
            plan += [("play", c) for c in PLAY_CLIENTS]
        for measure, client in plan:  # one warm-up each
            warm = command(client, server, text_file, measure == "play")
            subprocess.run(warm, env=env, capture_output=True)
        for i in range(runs):
            for measure, client in plan:
                row = rows.setdefault((measure, client), Row(rtt, measure, client))
                cmd = command(client, server, text_file, measure == "play")
                if measure == "file":
                    run = bench.measure(cmd, env, timeout=60)
                    if run.ok and run.ttfa_ms is not None:
                        row.values.append(run.ttfa_ms)
                    else:
                        row.errors.append(run.error)
                    continue
                assert recorder is not None
                res = play_once(cmd, env, recorder, own)
                if res["ok"] and "first_sound_ms" in res:
                    row.values.append(res["first_sound_ms"])
                    row.dropouts.append(len(res["dropouts"]))
                else:
                    row.errors.append(res["error"])
                if "underruns" in res:
                    row.underruns.append(res["underruns"])
            log(f"  RTT {rtt:.0f} ms: run {i + 1}/{runs} done")
    return list(rows.values())


def report(rows: list[Row], notes: list[str], tls: bool) -> str:
    lines = [
        f"Network mode: `smallest serve --first-chunk-ms 100 --rtf 3.3`{' over TLS' if tls else ''} "
        "behind a delay proxy; medians in ms from spawning the client.",
        "",
        "| RTT | measure | client | median ms | vs floor (file) | dropouts | underruns | runs |",
        "|---:|---|---|---:|---:|---:|---:|---:|",
    ]
    for row in rows:
        floor = next((r.median() for r in rows if r.rtt == row.rtt and r.client == "floor"), None)
        med = row.median()
        ratio = f"{med / floor:.2f}×" if med is not None and floor else ""
        drop = str(sum(row.dropouts)) if row.measure == "play" else ""
        under = str(sum(row.underruns)) if row.underruns else ""
        failed = f" ({len(row.errors)} failed: {row.errors[0][:60]})" if row.errors else ""
        value = "" if med is None else f"{med:.0f}"
        runs = f"{len(row.values)}{failed}"
        cells = [f"{row.rtt:.0f}", row.measure, row.client, value, ratio, drop, under, runs]
        lines.append("| " + " | ".join(cells) + " |")
    lines += ["", *(f"- {n}" for n in notes)]
    return "\n".join(lines) + "\n"


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--runs", type=int, default=7)
    ap.add_argument("--rtt", default="60,150", help="round-trip times in ms, comma-separated")
    ap.add_argument("--no-sdk", action="store_true")
    ap.add_argument("--no-play", action="store_true", help="only first audio to a file")
    ap.add_argument("--out", default=str(ROOT / "bench-results"))
    args = ap.parse_args(argv)

    def log(msg: str) -> None:
        print(msg, file=sys.stderr, flush=True)

    notes = [bench.compile_package(), bench.installed_note()]
    sdk_note = None if args.no_sdk else bench.ensure_sdk()
    if sdk_note or args.no_sdk:
        notes.append(f"SDK rows skipped: {sdk_note or '--no-sdk'}")
    pulse_note = "--no-play" if args.no_play else start_pulseaudio()
    if pulse_note:
        notes.append(f"playing rows skipped: {pulse_note}")
    recorder = None if pulse_note else Recorder()
    home = Path(tempfile.mkdtemp(prefix="smallest-bench-net-"))
    try:
        text_file = home / "short.txt"
        text_file.write_text(TEXT, encoding="utf-8")
        rows: list[Row] = []
        for rtt in (float(x) for x in args.rtt.split(",")):
            log(f"RTT {rtt:.0f} ms")
            sdk = not (args.no_sdk or sdk_note)
            rows += bench_rtt(rtt, args.runs, home, text_file, recorder, sdk=sdk, log=log)
    finally:
        if recorder is not None:
            recorder.close()
        shutil.rmtree(home, ignore_errors=True)
    text = report(rows, notes, tls=serve_supports_tls() and shutil.which("openssl") is not None)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "network-latest.md").write_text(text, encoding="utf-8")
    print(text)
    return 0 if all(not r.errors for r in rows) else 1


if __name__ == "__main__":
    bench.as_installed(__file__, sys.argv[1:])
    sys.exit(main())
