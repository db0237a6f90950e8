"""Batch benchmark (not run in CI): `smallest batch` against the README's shell loop, and its memory
over 10,000 rows.

1. Speed: 24 short prompts against `smallest serve --first-chunk-ms 100 --rtf 3.3 --max-concurrency 4`
   (an account of four units, speaking as fast as the service), written to WAV files by the README's
   loop (one `smallest speak` process per line) and by `smallest batch --concurrency 4`; wall time,
   medians of interleaved runs, and the speed-up (the target: at least 3.5x).
2. Memory: `smallest batch` over 1,000 and 10,000 one-line rows (ideal server, 8 kHz, --concurrency
   4), the CLI's own peak RSS (VmHWM, scripts/peak_rss.py): flat means the 10,000-row run peaks
   no higher than 1.2x the 1,000-row run.

    python scripts/bench_batch.py [--runs 3] [--rows 1000,10000] [--no-memory]
"""

from __future__ import annotations

import argparse
import compileall
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from peak_rss import run_with_peak_rss

from smallest_cli.server.launch import running_server

ROOT = Path(__file__).resolve().parent.parent
KEY = "sk_bench_0123456789abcdef"
#: The README's recipe "Batch a file of lines into numbered WAVs", as written there.
README_LOOP = (
    "n=0; while IFS= read -r line; do n=$((n+1)); "
    "smallest speak -q \"$line\" -o \"$(printf 'line-%03d.wav' \"$n\")\"; done < lines.txt"
)
SERVER = ("--first-chunk-ms", "100", "--rtf", "3.3", "--max-concurrency", "4")
TARGET_SPEEDUP = 3.5
RSS_MAX_RATIO = 1.2
PROMPTS = 24
SUBJECTS = ("order", "parcel", "invoice", "meeting", "account", "flight", "ticket", "payment")
STATES = ("is confirmed", "has shipped", "is ready", "was updated", "needs you", "is on time")


def prompts(n: int) -> list[str]:
    """`n` short prompts (about 40 characters, 2 to 3 seconds of audio each), all different."""
    return [
        f"Your {SUBJECTS[i % len(SUBJECTS)]} number {i + 1} {STATES[i % len(STATES)]}." for i in range(n)
    ]


def timed(command: list[str], cwd: Path, env: dict[str, str]) -> float:
    started = time.monotonic()
    proc = subprocess.run(command, cwd=cwd, env=env, capture_output=True)
    wall = time.monotonic() - started
    if proc.returncode != 0:
        raise SystemExit(f"{command[:3]} failed ({proc.returncode}): {proc.stderr.decode()[-500:]}")
    return wall


def speed(runs: int) -> float:
    """The loop's and the batch's wall times; returns the speed-up."""
    with running_server(*SERVER, api_key=KEY) as server, tempfile.TemporaryDirectory() as tmp:
        env = {**os.environ, "SMALLEST_BASE_URL": server.url, "SMALLEST_API_KEY": KEY,
               "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"}
        work = Path(tmp)
        (work / "lines.txt").write_text("\n".join(prompts(PROMPTS)) + "\n")
        loop, batch = [], []
        for run in range(runs):  # interleaved, so that a busy moment of the machine hits both
            for name in ("loop", "batch"):
                out = work / f"{name}-{run}"
                out.mkdir()
                if name == "loop":
                    shutil.copy(work / "lines.txt", out)
                    loop.append(timed(["bash", "-c", README_LOOP], out, env))
                else:
                    args = ["batch", "lines.txt", "--out-dir", str(out), "--concurrency", "4", "-q"]
                    batch.append(timed(["smallest", *args], work, env))
                assert len(list(out.glob("*.wav"))) == PROMPTS, out
        loop_s, batch_s = statistics.median(loop), statistics.median(batch)
        ratio = loop_s / batch_s
        print(f"{PROMPTS} prompts, server {' '.join(SERVER)}, medians of {runs} interleaved runs:")
        print(f"  README loop (smallest speak per line)  {loop_s:6.2f} s   runs: {_list(loop)}")
        print(f"  smallest batch --concurrency 4          {batch_s:6.2f} s   runs: {_list(batch)}")
        met = "met" if ratio >= TARGET_SPEEDUP else "NOT met"
        print(f"  speed-up {ratio:.1f}x (target >= {TARGET_SPEEDUP}x: {met})")
        return ratio


def memory(sizes: list[int]) -> None:
    """Peak RSS of batches of one-line rows of each size; the largest against the smallest."""
    peaks: dict[int, float] = {}
    with running_server(api_key=KEY) as server, tempfile.TemporaryDirectory() as tmp:
        env = {**os.environ, "SMALLEST_BASE_URL": server.url, "SMALLEST_API_KEY": KEY}
        for size in sizes:
            src = Path(tmp) / f"rows-{size}.txt"
            src.write_text("".join(f"Row {i}.\n" for i in range(1, size + 1)))
            out = Path(tmp) / f"out-{size}"
            args = ["batch", str(src), "--out-dir", str(out), "-r", "8000", "--concurrency", "4", "-q"]
            started = time.monotonic()
            proc, peak = run_with_peak_rss(args, env, timeout=None)
            wall = time.monotonic() - started
            if proc.returncode != 0 or peak is None:
                raise SystemExit(f"batch of {size} failed ({proc.returncode}): {proc.stderr.decode()[-500:]}")
            files = sum(1 for _ in out.glob("*.wav"))
            peaks[size] = peak / 1024
            print(f"  {size:>6} rows  {wall:6.1f} s  {files} files  peak RSS {peaks[size]:5.1f} MiB",
                  flush=True)
            shutil.rmtree(out)
    low, high = min(sizes), max(sizes)
    ratio = peaks[high] / peaks[low]
    met = "met" if ratio <= RSS_MAX_RATIO else "NOT met"
    print(f"  {high} rows peak / {low} rows peak = {ratio:.2f} (flat: <= {RSS_MAX_RATIO}: {met})")


def _list(values: list[float]) -> str:
    return ", ".join(f"{v:.2f}" for v in values)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--rows", default="1000,10000")
    parser.add_argument("--no-memory", action="store_true")
    args = parser.parse_args()
    # As pip does for a wheel (this sandbox sets PYTHONDONTWRITEBYTECODE=1): see docs/benchmark.md.
    compileall.compile_dir(ROOT / "smallest_cli", quiet=1)
    speed(args.runs)
    if not args.no_memory:
        print("Memory (ideal server, one-line rows, 8 kHz, --concurrency 4):")
        memory([int(s) for s in args.rows.split(",")])
    return 0


if __name__ == "__main__":
    sys.exit(main())
