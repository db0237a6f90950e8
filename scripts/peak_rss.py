"""Run the CLI and read its own peak RSS (VmHWM, Linux): shared by scripts/bench_long_text.py and
tests/test_long_text.py, so that both measure memory the same way."""

from __future__ import annotations

import re
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

#: Runs the CLI (its arguments after `-c`), then reports its peak RSS (VmHWM, Linux) on stderr.
PEAK_WRAPPER = """
import atexit, sys
def report():
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                sys.stderr.write("PEAK_KB " + line.split()[1] + "\\n")
atexit.register(report)
sys.argv = ["smallest", *sys.argv[1:]]
from smallest_cli.__main__ import main
main()
"""


def run_with_peak_rss(
    args: Sequence[str], env: dict[str, str], timeout: float | None = 120.0
) -> tuple[subprocess.CompletedProcess[bytes], int | None]:
    """Run the CLI with `args`; the finished process and its peak RSS in KiB (None if not reported)."""
    proc = subprocess.run(
        [sys.executable, "-c", PEAK_WRAPPER, *args], capture_output=True, env=env, cwd=ROOT, timeout=timeout
    )
    match = re.search(rb"PEAK_KB (\d+)", proc.stderr)
    return proc, int(match.group(1)) if match else None
