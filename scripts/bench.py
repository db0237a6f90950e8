"""`make bench`: how fast the CLI turns text into audio bytes, beside a floor script and the SDK.

Every client runs as a whole process against `smallest serve` on loopback and writes raw PCM to
stdout (`-o - --format pcm` for the CLI), which this script reads: the time to first audio (TTFA)
is from just before the process is spawned to the first byte read from its stdout. Wall time ends
when the process is reaped; CPU time comes from wait4's rusage of that process. Peak RSS is the
client's own VmHWM (Linux /proc/self/status), written to stderr at exit by PEAK_RUNNER, which runs
the client's script in the same process: wait4's ru_maxrss would also count the pre-exec copy of
this bench process (≈ 25 MiB), which hides the client's own size and any growth.

Clients: `smallest speak`, `smallest stream-sse`, `smallest stream-ws`; `scripts/floor_ws.py` (plain
`websockets`, the least a Python client can do); `scripts/sdk_ws.py` (the official `smallestai`
SDK's WavesStreamingTTS, installed with pip when missing, else skipped with a note). Also
`smallest --help` / `--version` against `python -c pass`.

Modes: `ideal` (the server answers at once, unlimited speed) and `realistic` (100 ms first chunk,
real-time factor 3.3, 20 ms chunks). In realistic mode `lag` is how long after the server's first
chunk was due the client wrote it (the server's journal gives each request's arrival time on the
shared monotonic clock).

    python scripts/bench.py            # default run (a few minutes)
    python scripts/bench.py --quick    # smoke run: short text, one run, ideal mode only
    python scripts/bench.py --dry      # print the plan, run nothing

Results: bench-results/bench-<time>.md and .json, and bench-results/latest.{md,json}.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import re
import select
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path

from smallest_cli.server.launch import running_server as start_server

ROOT = Path(__file__).resolve().parent.parent

SCRIPTS = ROOT / "scripts"
API_KEY = "sk_bench_0123456789abcdef"
SAMPLE_RATE = 24000
PCM_BYTES_PER_SECOND = 2 * SAMPLE_RATE
SDK_REQUIREMENT = "smallestai==5.14.*"

MODES: dict[str, tuple[str, ...]] = {
    "ideal": (),
    "realistic": ("--first-chunk-ms", "100", "--rtf", "3.3", "--chunk-ms", "20"),
}
REALISTIC_FIRST_CHUNK_S = 0.100
REALISTIC_RTF = 3.3
SIZES: dict[str, int] = {"short": 40, "medium": 1_000, "long": 50_000}
CLIENTS: tuple[str, ...] = ("speak", "stream-sse", "stream-ws", "floor", "sdk")

# The performance targets (checked in the report, never in unit tests).
HELP_MAX_MS = 120.0
TTFA_MAX_VS_FLOOR = 1.10
TTFA_MAX_VS_SDK = 0.75
LAG_MAX_MS = 30.0
RSS_MAX_MIB = 100.0
RSS_MAX_VS_MINUTE = 1.2
CPU_MAX_MS_PER_AUDIO_S = 2.0

PROSE = (
    "The quick brown fox jumps over the lazy dog, and then it rests for a while. "
    "Streaming speech should start at once; nobody likes to wait for the first word! "
    "Can a command line player keep up with a fast server? It should, and with little effort. "
)


def make_text(chars: int) -> str:
    """Deterministic English-like text of exactly `chars` characters (ending at a word)."""
    if chars <= 40:
        return "Hello from the shell, streaming speech."[:chars].ljust(chars, ".")
    text = (PROSE * (chars // len(PROSE) + 2))[:chars]
    cut = text.rfind(" ")
    return (text[:cut] + ".").ljust(chars, ".")[:chars]


# -- one measured process -----------------------------------------------------------------------------

#: `python -c PEAK_RUNNER <script> args...` (or `-c CODE`, or `-m MODULE args...`) runs the script as
#: `python <script>` would, in this same process, then writes its own peak RSS (VmHWM, KiB) to
#: stderr at exit. It imports nothing beyond the builtin `atexit` (no runpy for scripts), so start-up
#: time and memory stay those of the bare client.
PEAK_RUNNER = """
import atexit, os, sys
def _peak():
    try:
        with open("/proc/self/status") as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    os.write(2, b"\\n" + PEAK_MARK + line.split()[1].encode() + b"\\n")
    except OSError:
        pass
PEAK_MARK = b"BENCH_PEAK_KB "
atexit.register(_peak)
del sys.argv[0]
if sys.argv[0] == "-c":
    code, sys.argv = sys.argv[1], ["-c", *sys.argv[2:]]
    exec(compile(code, "<string>", "exec"), {"__name__": "__main__", "__builtins__": __builtins__})
elif sys.argv[0] == "-m":
    import runpy
    del sys.argv[0]
    runpy.run_module(sys.argv[0], run_name="__main__", alter_sys=True)
else:
    path = sys.argv[0]
    sys.path[0] = os.path.dirname(os.path.abspath(path))
    with open(path, "rb") as f:
        code = compile(f.read(), path, "exec")
    exec(code, {"__name__": "__main__", "__file__": path, "__builtins__": __builtins__})
"""
PEAK_MARK = b"BENCH_PEAK_KB "


def peak_wrapped(cmd: Sequence[str]) -> list[str]:
    """`cmd` (a Python script, `python script`, `python -c`, `python -m`) run under PEAK_RUNNER."""
    args = list(cmd[1:]) if cmd[0] == sys.executable else list(cmd)
    return [sys.executable, "-c", PEAK_RUNNER, *args]


def split_peak(stderr: bytes) -> tuple[int | None, bytes]:
    """The peak (KiB) PEAK_RUNNER reported, and stderr without its line."""
    at = stderr.rfind(b"\n" + PEAK_MARK)
    if at < 0:
        return None, stderr
    line_end = stderr.find(b"\n", at + 1)
    value = stderr[at + 1 + len(PEAK_MARK) : None if line_end < 0 else line_end]
    try:
        return int(value), stderr[:at] + (b"" if line_end < 0 else stderr[line_end + 1 :])
    except ValueError:
        return None, stderr


@dataclass
class Run:
    ok: bool
    ttfa_ms: float | None
    wall_ms: float
    cpu_ms: float
    #: The client's own peak RSS (VmHWM at exit); None when it did not report (killed).
    rss_mib: float | None
    out_bytes: int
    #: Realistic mode: first byte minus (request arrival + the server's first-chunk delay).
    lag_ms: float | None = None
    error: str = ""
    #: Monotonic time of the first byte (absolute, to compare with the server's clock).
    first_byte_at: float | None = None


def measure(cmd: Sequence[str], env: dict[str, str], timeout: float = 900.0) -> Run:
    """Spawn `cmd` under PEAK_RUNNER; read its stdout to the end; reap it with wait4 for CPU time;
    its own peak RSS from what PEAK_RUNNER wrote to stderr."""
    cmd = peak_wrapped(cmd)
    with tempfile.TemporaryFile() as err:
        t0 = time.monotonic()
        proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=err, stdin=subprocess.DEVNULL, env=env)
        assert proc.stdout is not None
        fd = proc.stdout.fileno()
        first: float | None = None
        total = 0
        deadline = t0 + timeout
        timed_out = False
        while True:
            ready, _, _ = select.select([fd], [], [], max(0.0, deadline - time.monotonic()))
            if not ready:
                timed_out = True
                proc.kill()
                break
            data = os.read(fd, 1 << 20)
            if not data:
                break
            if first is None:
                first = time.monotonic()
            total += len(data)
        proc.stdout.close()
        _, status, usage = os.wait4(proc.pid, 0)
        end = time.monotonic()
        proc.returncode = os.waitstatus_to_exitcode(status)
        err.seek(0)
        peak_kib, stderr = split_peak(err.read())
        message = stderr.decode(errors="replace").strip().splitlines()
    error = "timed out" if timed_out else ("" if proc.returncode == 0 else f"exit {proc.returncode}")
    if error and message:
        error += ": " + message[-1][:200]
    return Run(
        ok=not error,
        ttfa_ms=None if first is None else (first - t0) * 1000,
        wall_ms=(end - t0) * 1000,
        cpu_ms=(usage.ru_utime + usage.ru_stime) * 1000,
        rss_mib=None if peak_kib is None else peak_kib / 1024,
        out_bytes=total,
        error=error,
        first_byte_at=first,
    )


# -- the server ----------------------------------------------------------------------------------------


@dataclass
class Server:
    url: str
    proc: subprocess.Popen[bytes]
    #: The server journal's time origin on this machine's monotonic clock (None: not calibrated).
    origin: float | None = None

    @property
    def ws_url(self) -> str:
        return "ws://" + self.url[len("http://") :] + "/waves/v1/tts/live"

    def _call(self, method: str, path: str, body: bytes | None = None) -> tuple[int, bytes]:
        req = urllib.request.Request(self.url + path, data=body, method=method)
        req.add_header("Authorization", f"Bearer {API_KEY}")
        req.add_header("Content-Type", "application/json")
        try:
            with urllib.request.urlopen(req, timeout=10) as resp:
                return resp.status, resp.read()
        except urllib.error.HTTPError as exc:
            return exc.code, exc.read()

    def clear_journal(self) -> None:
        self._call("DELETE", "/_smallest/requests")

    def first_request_t(self) -> float | None:
        """Journal time (s since the server started) of the first TTS request since the last clear."""
        _, data = self._call("GET", "/_smallest/requests")
        reqs = json.loads(data).get("requests", [])
        return float(reqs[0]["t"]) if reqs else None

    def calibrate(self, tries: int = 7) -> None:
        """Find the journal's time origin: a malformed TTS body is journaled on arrival and refused
        at once, so arrival lies between send and answer; keep the tightest bracket."""
        best: tuple[float, float] | None = None
        for _ in range(tries):
            self.clear_journal()
            before = time.monotonic()
            self._call("POST", "/waves/v1/tts", b"x")
            after = time.monotonic()
            t = self.first_request_t()
            if t is None:
                continue
            if best is None or after - before < best[0]:
                best = (after - before, (before + after) / 2 - t)
        self.origin = None if best is None else best[1]


@contextmanager
def running_server(mode: str) -> Iterator[Server]:
    """A `smallest serve` in `mode`, started as the tests start theirs, calibrated."""
    with start_server(*MODES[mode], api_key=API_KEY, timeout=30) as started:
        server = Server(url=started.url, proc=started.proc)
        server.calibrate()
        yield server


# -- clients -------------------------------------------------------------------------------------------


def smallest_cmd() -> list[str]:
    """The installed console script when there is one (what users run), else `python -m`."""
    script = Path(sys.executable).with_name("smallest")
    return [str(script)] if script.exists() else [sys.executable, "-m", "smallest_cli"]


def client_cmd(client: str, server: Server, text_file: Path) -> list[str]:
    if client == "floor":
        return [sys.executable, str(SCRIPTS / "floor_ws.py"), server.ws_url, API_KEY, str(text_file), "-"]
    if client == "sdk":
        return [sys.executable, str(SCRIPTS / "sdk_ws.py"), server.ws_url, API_KEY, str(text_file), "-"]
    return [*smallest_cmd(), client, "-f", str(text_file), "-o", "-", "--format", "pcm"]


def client_env(home: Path, server: Server | None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SMALLEST_")}
    env.update(HOME=str(home), XDG_CONFIG_HOME=str(home / "config"), NO_COLOR="1")
    if server is not None:
        env.update(SMALLEST_BASE_URL=server.url, SMALLEST_API_KEY=API_KEY)
    return env


#: Set (to the directory of the virtualenv) in the environment of a bench run again by
#: `as_installed`; the clients never see it (client_env drops SMALLEST_*).
INSTALLED_MARK = "SMALLEST_BENCH_INSTALLED"
#: pip's console script for `smallest`, as `pip install` writes it.
CONSOLE_SCRIPT = """#!{python}
import sys
from smallest_cli.__main__ import main
if __name__ == '__main__':
    sys.argv[0] = sys.argv[0].removesuffix('.exe')
    sys.exit(main())
"""


def as_installed(script: str, argv: Sequence[str]) -> None:
    """Run `script` again (never returns) under a virtualenv laid out as a user's install, where
    every client of the bench runs: the development install (`pip install -e`) runs setuptools'
    editable finder at every start of every Python process of the venv, which imports pathlib,
    re, enum and urllib.parse (about 12 ms) that no user's `pip install` or pipx pays for, and
    which hides what the CLI's own start-up costs. The venv reaches the package and this venv's
    site-packages (the libraries, the SDK) through plain path lines of a .pth file, and has pip's
    console script for `smallest`. Returns when already running there (the venv is removed when
    that run exits, whatever it does)."""
    venv_made = os.environ.get(INSTALLED_MARK)
    if venv_made:
        import atexit

        atexit.register(shutil.rmtree, venv_made, True)
        return
    import sysconfig

    venv = Path(tempfile.mkdtemp(prefix="smallest-bench-venv-"))
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    python = venv / "bin" / "python"
    purelib = "import sysconfig; print(sysconfig.get_paths()['purelib'])"
    found = subprocess.run([str(python), "-c", purelib], check=True, capture_output=True, text=True)
    site = Path(found.stdout.strip())
    libraries = sysconfig.get_paths()["purelib"]
    (site / "smallest-bench.pth").write_text(f"{ROOT}\n{libraries}\n", encoding="utf-8")
    console = venv / "bin" / "smallest"
    console.write_text(CONSOLE_SCRIPT.format(python=python), encoding="utf-8")
    console.chmod(0o755)
    os.execve(str(python), [str(python), script, *argv], {**os.environ, INSTALLED_MARK: str(venv)})


def installed_note() -> str:
    """What the report says of where the clients ran."""
    if not os.environ.get(INSTALLED_MARK):
        return "clients ran in the development venv (editable install)"
    return "clients ran in a virtualenv laid out as a user's install (no editable finder: bench.as_installed)"


def compile_package() -> str:
    """Write the package's bytecode, as `pip install` does for a wheel (and Python does on first
    import, unless PYTHONDONTWRITEBYTECODE is set, as it may be in CI sandboxes): without it every
    run compiles `smallest_cli` from source (~30 ms) while the floor and the SDK import their
    libraries from site-packages bytecode. Returns a note for the report."""
    import compileall

    ok = compileall.compile_dir(str(ROOT / "smallest_cli"), quiet=1)
    return "smallest_cli bytecode compiled before the runs (as pip does at install)" + (
        "" if ok else " — some files failed to compile"
    )


def ensure_sdk() -> str | None:
    """None when the SDK is importable (installing it with pip if needed), else why not."""
    if importlib.util.find_spec("smallestai") is not None:
        return None
    print(f"bench: installing {SDK_REQUIREMENT} for the SDK rows", file=sys.stderr)
    proc = subprocess.run(
        [sys.executable, "-m", "pip", "install", "-q", SDK_REQUIREMENT], capture_output=True, text=True
    )
    importlib.invalidate_caches()
    if proc.returncode != 0 or importlib.util.find_spec("smallestai") is None:
        tail = (proc.stderr.strip().splitlines() or ["unknown error"])[-1]
        return f"smallestai could not be installed ({tail[:160]})"
    return None


# -- statistics and the report -------------------------------------------------------------------------


def median(values: Sequence[float | None]) -> float | None:
    vals = [v for v in values if v is not None]
    return statistics.median(vals) if vals else None


@dataclass
class Row:
    mode: str
    size: str
    client: str
    runs: list[Run] = field(default_factory=list)
    note: str = ""
    #: Instructions of one run, counted by callgrind (the tricks rows), else None.
    instructions: int | None = None

    def summary(self) -> dict[str, float | int | str | None]:
        ok = [r for r in self.runs if r.ok]
        audio = self.mode != "startup"
        audio_s = median([r.out_bytes / PCM_BYTES_PER_SECOND for r in ok]) if audio else None
        cpu = median([r.cpu_ms for r in ok])
        return {
            "mode": self.mode,
            "size": self.size,
            "client": self.client,
            "runs": len(self.runs),
            "ok": len(ok),
            "ttfa_ms": median([r.ttfa_ms for r in ok]) if audio else None,
            "ttfa_min_ms": min((r.ttfa_ms for r in ok if r.ttfa_ms is not None and audio), default=None),
            "wall_ms": median([r.wall_ms for r in ok]),
            "cpu_ms": cpu,
            "rss_mib": median([r.rss_mib for r in ok]),
            "audio_s": audio_s,
            "cpu_ms_per_audio_s": (cpu / audio_s) if cpu is not None and audio_s else None,
            "lag_ms": median([r.lag_ms for r in ok]),
            "out_bytes": median([r.out_bytes for r in ok]),
            "note": self.note or "; ".join(sorted({r.error for r in self.runs if r.error}))[:200],
            "instructions": self.instructions,
        }


def fmt(value: float | int | str | None, digits: int = 0) -> str:
    if value is None:
        return "–"
    if isinstance(value, str):
        return value
    return f"{value:.{digits}f}"


COLUMNS: tuple[tuple[str, str, int], ...] = (
    ("mode", "mode", 0),
    ("size", "text", 0),
    ("client", "client", 0),
    ("ttfa_ms", "first audio ms", 1),
    ("ttfa_min_ms", "min", 1),
    ("lag_ms", "lag ms", 1),
    ("wall_ms", "wall ms", 0),
    ("cpu_ms", "CPU ms", 0),
    ("rss_mib", "peak RSS MiB", 1),
    ("audio_s", "audio s", 1),
    ("cpu_ms_per_audio_s", "CPU ms/audio s", 2),
    ("cpu_net_ms_per_audio_s", "net of start-up", 2),
    ("ok", "ok", 0),
    ("note", "note", 0),
)


def markdown_table(summaries: Sequence[dict[str, float | int | str | None]]) -> str:
    head = "| " + " | ".join(title for _, title, _ in COLUMNS) + " |"
    sep = "|" + "|".join("---" if d == 0 and k in ("mode", "size", "client", "note") else "---:"
                         for k, _, d in COLUMNS) + "|"
    lines = [head, sep]
    for s in summaries:
        cells = []
        for key, _, digits in COLUMNS:
            value = s.get(key)
            cells.append(f"{value}/{s['runs']}" if key == "ok" else fmt(value, digits))
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def _find(summaries: Sequence[dict], mode: str, size: str, client: str) -> dict | None:
    for s in summaries:
        if (s["mode"], s["size"], s["client"]) == (mode, size, client) and s["ok"]:
            return s
    return None


def marginal_cpu(summaries: Sequence[dict], s: dict) -> float | None:
    """CPU ms per audio second with the client's fixed start-up cost taken out: the slope between
    its short-text row and `s` (same client, same mode), (CPU − CPU short) / (audio − audio short).
    The short text's CPU is almost all start-up (interpreter, imports, connection: ≈ 80–100 ms),
    which would otherwise count as per-second cost, spread thinner the longer the text."""
    short = _find(summaries, s["mode"], "short", s["client"])
    if short is None or s is short:
        return None
    values = (s.get("cpu_ms"), s.get("audio_s"), short.get("cpu_ms"), short.get("audio_s"))
    if any(v is None for v in values):
        return None
    cpu, audio, cpu0, audio0 = values
    return (cpu - cpu0) / (audio - audio0) if audio > audio0 else None


def add_marginal_cpu(summaries: Sequence[dict]) -> None:
    """Fill each row's `cpu_net_ms_per_audio_s` (see marginal_cpu)."""
    for s in summaries:
        measured = s["ok"] and s["mode"] != "startup"
        s["cpu_net_ms_per_audio_s"] = marginal_cpu(summaries, s) if measured else None


def check_targets(summaries: Sequence[dict]) -> list[tuple[str, str, bool | None]]:
    """(target, measured, met) for every performance target that this run measured."""
    checks: list[tuple[str, str, bool | None]] = []

    def add(name: str, value: float | None, limit: float, unit: str = "", how: str = "") -> None:
        if value is None:
            checks.append((name, "not measured", None))
        else:
            checks.append((name, f"{value:.2f}{unit}{how}", value <= limit))

    for client in ("--help", "--version"):
        s = _find(summaries, "startup", "-", f"smallest {client}")
        add(f"`smallest {client}` wall ≤ {HELP_MAX_MS:.0f} ms", s and s["wall_ms"], HELP_MAX_MS, " ms")
    for size in ("short", "medium", "long"):
        ws, floor, sdk = (_find(summaries, "ideal", size, c) for c in ("stream-ws", "floor", "sdk"))
        if ws is None or floor is None:
            continue
        add(f"ideal {size}: stream-ws first audio ≤ {TTFA_MAX_VS_FLOOR}× floor",
            ws["ttfa_ms"] / floor["ttfa_ms"], TTFA_MAX_VS_FLOOR, "×",
            f" ({ws['ttfa_ms']:.1f} vs {floor['ttfa_ms']:.1f} ms)")
        if sdk is not None:
            add(f"ideal {size}: stream-ws first audio ≤ {TTFA_MAX_VS_SDK}× SDK",
                ws["ttfa_ms"] / sdk["ttfa_ms"], TTFA_MAX_VS_SDK, "×",
                f" ({ws['ttfa_ms']:.1f} vs {sdk['ttfa_ms']:.1f} ms)")
    for client in ("speak", "stream-sse", "stream-ws"):
        s = _find(summaries, "realistic", "short", client)
        if s is not None:
            add(f"realistic short: {client} lag after the server's first chunk ≤ {LAG_MAX_MS:.0f} ms",
                s["lag_ms"], LAG_MAX_MS, " ms")
    for client in ("speak", "stream-sse", "stream-ws"):
        long, minute = _find(summaries, "ideal", "long", client), _find(summaries, "ideal", "medium", client)
        if long is None:
            continue
        add(f"ideal long ({long['audio_s'] / 60:.0f} min audio): {client} peak RSS ≤ {RSS_MAX_MIB:.0f} MiB",
            long["rss_mib"], RSS_MAX_MIB, " MiB")
        if minute is not None and long["rss_mib"] is not None and minute["rss_mib"]:
            add(f"{client} peak RSS long ≤ {RSS_MAX_VS_MINUTE}× medium ({minute['audio_s']:.0f} s audio)",
                long["rss_mib"] / minute["rss_mib"], RSS_MAX_VS_MINUTE, "×",
                f" ({long['rss_mib']:.1f} vs {minute['rss_mib']:.1f} MiB)")
    for client in ("speak", "stream-sse", "stream-ws"):
        for size in ("medium", "long"):
            s = _find(summaries, "ideal", size, client)
            if s is None:
                continue
            net = marginal_cpu(summaries, s)
            add(f"ideal {size} ({s['audio_s']:.0f} s audio): {client} CPU ≤ {CPU_MAX_MS_PER_AUDIO_S} ms "
                "per audio second, start-up excluded",
                net, CPU_MAX_MS_PER_AUDIO_S, " ms",
                f" (whole process {s['cpu_ms_per_audio_s']:.2f} ms: {s['cpu_ms']:.0f} ms CPU)"
                if s.get("cpu_ms_per_audio_s") is not None else "")
    return checks


def report(summaries: Sequence[dict], meta: dict[str, object]) -> str:
    lines = [
        "# smallest benchmark",
        "",
        f"{meta['when']} · {meta['python']} · {meta['cpus']} CPUs · runs: {meta['runs']} · "
        f"{meta['duration_s']:.0f} s",
        "",
        "Medians over the runs. *first audio*: process spawn → first PCM byte on its stdout; *lag*: "
        "first byte minus the moment the server's first chunk was due (realistic mode); CPU from "
        "wait4; peak RSS: the client's own VmHWM at exit; *net of start-up*: (CPU − CPU on the "
        "short text) / (audio − short audio), same client and mode.",
        "",
        markdown_table(summaries),
        "",
        "## Targets",
        "",
        "| target | measured | met |",
        "|---|---|---|",
    ]
    for name, measured, met in check_targets(summaries):
        lines.append(f"| {name} | {measured} | {'–' if met is None else ('yes' if met else '**no**')} |")
    lines += [
        "",
        f"## Start-up tricks (each must save ≥ {TRICK_MIN_GAIN_MS:g} ms to first audio to stay)",
        "",
        "| trick (smallest_cli/startup.py) | saves ms, wall clock | saves ms, by instructions | keep |",
        "|---|---:|---:|---|",
    ]
    for name, wall, by_instructions, keep in trick_gains(summaries):
        verdict = "–" if keep is None else ("yes" if keep else "**no**")
        lines.append(f"| {name} | {fmt(wall, 1)} | {fmt(by_instructions, 1)} | {verdict} |")
    notes = meta.get("notes") or []
    if notes:
        lines += ["", "## Notes", ""] + [f"- {n}" for n in notes]  # type: ignore[operator]
    return "\n".join(lines) + "\n"


# -- the plan ------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Plan:
    modes: tuple[str, ...]
    #: (mode, size) → runs
    runs: dict[tuple[str, str], int]
    clients: tuple[str, ...]
    startup_runs: int


def make_plan(quick: bool, runs: int | None, clients: Sequence[str], long: bool) -> Plan:
    if quick:
        n = runs or 1
        return Plan(("ideal",), {("ideal", "short"): n}, tuple(clients), n)
    n = runs or 7
    table = {("ideal", "short"): n, ("ideal", "medium"): max(1, (n + 1) // 2), ("realistic", "short"): n}
    if long:
        table[("ideal", "long")] = max(1, min(n, 3))
    return Plan(("ideal", "realistic"), table, tuple(clients), n)


def describe(plan: Plan) -> str:
    lines = [f"startup: smallest --help / --version vs python -c pass, {plan.startup_runs} runs each"]
    for (mode, size), n in plan.runs.items():
        lines.append(f"{mode} {size} ({SIZES[size]} chars): {', '.join(plan.clients)} × {n} runs")
    return "\n".join(lines)


# -- start-up tricks ------------------------------------------------------------------------------------

#: Each trick of smallest_cli/startup.py, and how to run the CLI without it (the same CLI otherwise).
TRICKS: dict[str, str] = {
    "all tricks": "",
    "without collector_paused": (
        "import contextlib; startup.collector_paused = contextlib.nullcontext; "
        "startup.streaming_starts = lambda: None"
    ),
    "without seed_websockets_version": "startup.seed_websockets_version = lambda: False",
    "without defer_urllib_request": "startup.defer_urllib_request = lambda: False",
    "without flat_table": "from smallest_cli.options import config; config.flat_table = lambda text: None",
}
#: A trick stays only while it saves at least this much time to first audio (docs/benchmark.md).
TRICK_MIN_GAIN_MS = 3.0
TRICK_RUNNER = """
import sys
from smallest_cli import startup
{disable}
sys.argv = ["smallest", *sys.argv[1:]]
from smallest_cli.__main__ import main
main()
"""


def trick_cmd(variant: str, text_file: Path) -> list[str]:
    code = TRICK_RUNNER.format(disable=TRICKS[variant])
    return [sys.executable, "-c", code, "stream-ws", "-f", str(text_file), "-o", "-", "--format", "pcm"]


def callgrind_instructions(cmd: Sequence[str], env: dict[str, str]) -> int | None:
    """Instructions `cmd` (a Python command) executes, counted by valgrind's callgrind: the same
    count for the same code and input whatever else the machine does, where wall and CPU times on
    a shared machine move by tens of milliseconds. None without valgrind."""
    valgrind = shutil.which("valgrind")
    if valgrind is None:
        return None
    proc = subprocess.run(
        [valgrind, "--tool=callgrind", "--callgrind-out-file=/dev/null", *cmd],
        env=env, capture_output=True, stdin=subprocess.DEVNULL, timeout=600,
    )
    found = re.search(rb"Collected : (\d+)", proc.stderr)
    return int(found.group(1)) if proc.returncode == 0 and found else None


def bench_tricks(runs: int, home: Path, text_file: Path, log, count: bool = True) -> list[Row]:
    """stream-ws's time to first audio (ideal server, short text) with every trick, and without each
    one, interleaved so that load and caches hit every variant alike; and, with `count`, each
    variant's instruction count (callgrind), which the verdict uses when it is there."""
    rows = {name: Row("tricks", "short", name) for name in TRICKS}
    # A config file as `smallest config set voice magnus` leaves it: most users have one, and
    # reading it is on the way to the early dial's SYN (flat_table's trick).
    from smallest_cli.options.config import render

    config_file = home / "config" / "smallest" / "config.toml"
    config_file.parent.mkdir(parents=True, exist_ok=True)
    config_file.write_text(render({"voice": "magnus"}), encoding="utf-8")
    with running_server("ideal") as server:
        env = client_env(home, server)
        for name in TRICKS:
            measure(trick_cmd(name, text_file), env)  # warm-up
        for _ in range(runs):
            for name in TRICKS:
                rows[name].runs.append(measure(trick_cmd(name, text_file), env))
        for name in TRICKS if count else ():
            rows[name].instructions = callgrind_instructions(trick_cmd(name, text_file), env)
    config_file.unlink()
    for row in rows.values():
        log(f"  {row.client}: first audio {fmt(row.summary()['ttfa_ms'], 1)} ms, "
            f"{fmt(row.instructions and row.instructions / 1e6, 1)} M instructions")
    return list(rows.values())


def trick_gains(summaries: Sequence[dict]) -> list[tuple[str, float | None, float | None, bool | None]]:
    """(trick, ms it saves to first audio by wall clock, ms it saves by instructions, whether it
    saves at least TRICK_MIN_GAIN_MS). Instructions are turned into milliseconds at the rate the
    all-tricks run executed them (its instructions / its CPU ms); the verdict goes by them when
    valgrind counted them, else by the (noisy) wall clock."""
    base = _find(summaries, "tricks", "short", "all tricks")
    out: list[tuple[str, float | None, float | None, bool | None]] = []
    for name in TRICKS:
        row = _find(summaries, "tricks", "short", name)
        if name == "all tricks" or base is None or row is None:
            continue
        wall = None if None in (row["ttfa_ms"], base["ttfa_ms"]) else row["ttfa_ms"] - base["ttfa_ms"]
        by_instructions = None
        if row["instructions"] and base["instructions"] and base["cpu_ms"]:
            rate = base["instructions"] / base["cpu_ms"]
            by_instructions = (row["instructions"] - base["instructions"]) / rate
        gain = by_instructions if by_instructions is not None else wall
        out.append((name.removeprefix("without "), wall, by_instructions,
                    None if gain is None else gain >= TRICK_MIN_GAIN_MS))
    return out


# -- running it ----------------------------------------------------------------------------------------


def bench_startup(plan: Plan, home: Path, log) -> list[Row]:
    cases = {
        "python -c pass": [sys.executable, "-c", "pass"],
        "smallest --help": [*smallest_cmd(), "--help"],
        "smallest --version": [*smallest_cmd(), "--version"],
    }
    rows = {name: Row("startup", "-", name) for name in cases}
    env = client_env(home, None)
    for cmd in cases.values():
        measure(cmd, env)  # warm-up (bytecode and page caches)
    for _ in range(plan.startup_runs):
        for name, cmd in cases.items():
            rows[name].runs.append(measure(cmd, env))
    for row in rows.values():
        log(f"  {row.client}: {fmt(row.summary()['wall_ms'], 1)} ms")
    return list(rows.values())


def bench_mode(
    mode: str, plan: Plan, home: Path, texts: dict[str, Path], sdk_note: str | None, log
) -> list[Row]:
    rows: list[Row] = []
    with running_server(mode) as server:
        env = client_env(home, server)
        for (m, size), n in plan.runs.items():
            if m != mode:
                continue
            group = {c: Row(mode, size, c) for c in plan.clients}
            active = [c for c in plan.clients if not (c == "sdk" and sdk_note)]
            if "sdk" in group and sdk_note:
                group["sdk"].note = f"skipped: {sdk_note}"
            if size == "short":
                for c in active:  # warm-up
                    measure(client_cmd(c, server, texts[size]), env)
            for i in range(n):
                for c in active:
                    server.clear_journal()
                    run = measure(client_cmd(c, server, texts[size]), env)
                    if mode == "realistic" and run.ok and server.origin is not None and run.first_byte_at:
                        t = server.first_request_t()
                        if t is not None:
                            due = server.origin + t + REALISTIC_FIRST_CHUNK_S
                            if c == "speak":
                                # The sync endpoint sends its body once the whole audio is made.
                                due += run.out_bytes / PCM_BYTES_PER_SECOND / REALISTIC_RTF
                            run.lag_ms = (run.first_byte_at - due) * 1000
                    group[c].runs.append(run)
                    log(f"  {mode} {size} {c} #{i + 1}: first audio {fmt(run.ttfa_ms, 1)} ms, "
                        f"wall {run.wall_ms:.0f} ms{'' if run.ok else ' FAILED ' + run.error}")
            rows.extend(group.values())
    return rows


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true", help="smoke run: short text, ideal mode, one run")
    ap.add_argument("--dry", action="store_true", help="print the plan and exit")
    ap.add_argument("--runs", type=int, default=None, help="runs per short case (default 7)")
    ap.add_argument("--no-long", action="store_true", help="leave out the 50,000-character (≈1 h audio) rows")
    ap.add_argument("--no-sdk", action="store_true", help="leave out the official SDK's rows")
    ap.add_argument("--clients", default=",".join(CLIENTS), help="comma-separated, of " + ",".join(CLIENTS))
    ap.add_argument("--out", default=str(ROOT / "bench-results"), help="directory for the results")
    ap.add_argument("--tricks-only", action="store_true", help="only the start-up tricks' A/B rows")
    args = ap.parse_args(argv)

    clients = [c for c in args.clients.split(",") if c]
    unknown = set(clients) - set(CLIENTS)
    if unknown:
        ap.error(f"unknown clients: {', '.join(sorted(unknown))}")
    if args.no_sdk and "sdk" in clients:
        clients.remove("sdk")
    plan = make_plan(args.quick, args.runs, clients, long=not args.no_long)
    print(describe(plan))
    if args.dry:
        return 0

    def log(msg: str) -> None:
        print(msg, file=sys.stderr, flush=True)

    started = time.monotonic()
    notes: list[str] = [compile_package(), installed_note()]
    sdk_note = ensure_sdk() if "sdk" in clients else None
    if sdk_note:
        notes.append(f"SDK rows skipped: {sdk_note}")
    home = Path(tempfile.mkdtemp(prefix="smallest-bench-"))
    try:
        texts = {}
        for size, chars in SIZES.items():
            texts[size] = home / f"{size}.txt"
            texts[size].write_text(make_text(chars), encoding="utf-8")
        rows: list[Row] = []
        if not args.tricks_only:
            log("startup")
            rows += bench_startup(plan, home, log)
            for mode in plan.modes:
                log(mode)
                rows += bench_mode(mode, plan, home, texts, sdk_note, log)
        log("start-up tricks")
        tricks_runs = plan.startup_runs if args.quick else max(plan.startup_runs, 15)
        rows += bench_tricks(tricks_runs, home, texts["short"], log, count=not args.quick)
    finally:
        shutil.rmtree(home, ignore_errors=True)

    summaries = [r.summary() for r in rows]
    add_marginal_cpu(summaries)
    for mode in plan.modes:
        for size in SIZES:
            sizes = {s["out_bytes"] for s in summaries
                     if s["mode"] == mode and s["size"] == size and s["ok"] and s["out_bytes"] is not None}
            if len(sizes) > 1:
                notes.append(f"{mode} {size}: the clients' audio sizes differ: {sorted(sizes)}")
    meta = {
        "when": time.strftime("%Y-%m-%d %H:%M:%S"),
        "python": sys.version.split()[0],
        "cpus": os.cpu_count(),
        "runs": {f"{m} {s}": n for (m, s), n in plan.runs.items()},
        "duration_s": time.monotonic() - started,
        "notes": notes,
    }
    text = report(summaries, meta)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    stamp = time.strftime("%Y%m%d-%H%M%S")
    data = json.dumps({"meta": meta, "rows": summaries, "runs": {
        f"{r.mode}/{r.size}/{r.client}": [asdict(x) for x in r.runs] for r in rows}}, indent=1)
    for name in (f"bench-{stamp}", "latest"):
        (out / f"{name}.md").write_text(text, encoding="utf-8")
        (out / f"{name}.json").write_text(data, encoding="utf-8")
    print(text)
    print(f"written to {out}/bench-{stamp}.md and .json", file=sys.stderr)
    return 0 if all(s["ok"] == s["runs"] or s["note"].startswith("skipped") for s in summaries) else 1


if __name__ == "__main__":
    as_installed(__file__, sys.argv[1:])
    sys.exit(main())
