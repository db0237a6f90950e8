"""Long-text benchmark: 100 KB and 1 MB of text through `smallest stream-ws` (and `speak`) into a
file against a local `smallest serve` (tone engine, no pacing, 500 ms chunks), reporting wall time,
audio size and the CLI's peak RSS (VmHWM). Memory must stay flat as the text grows.

    python scripts/bench_long_text.py [--sizes 100000,1000000] [--commands stream-ws,speak]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

from peak_rss import run_with_peak_rss

from smallest_cli.server.launch import running_server

ROOT = Path(__file__).resolve().parent.parent

KEY = "sk_bench_0123456789abcdef"
WORDS = "the quick brown fox jumps over a lazy dog while seven bright stars shine on".split()


def prose(chars: int) -> str:
    out, size, n = [], 0, 7
    while size < chars:
        n = (n * 1103515245 + 12345) % 2**31
        sentence = " ".join(WORDS[(n >> (k % 16)) % len(WORDS)] for k in range(4 + n % 14)).capitalize() + "."
        out.append(sentence)
        size += len(sentence) + 1
    return " ".join(out)[:chars]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="100000,1000000")
    parser.add_argument("--commands", default="stream-ws,speak")
    parser.add_argument("--rate", default="8000")
    args = parser.parse_args()
    with running_server("--chunk-ms", "500", api_key=KEY) as server, tempfile.TemporaryDirectory() as tmp:
        env = {**os.environ, "SMALLEST_BASE_URL": server.url, "SMALLEST_API_KEY": KEY}
        for size in (int(s) for s in args.sizes.split(",")):
            src = Path(tmp) / f"{size}.txt"
            src.write_text(prose(size), encoding="utf-8")
            for command in args.commands.split(","):
                out = Path(tmp) / "out.pcm"
                start = time.monotonic()
                proc, peak = run_with_peak_rss(
                    [command, "-f", str(src), "-o", str(out), "-r", args.rate, "-q"], env, timeout=None
                )
                wall = time.monotonic() - start
                status = "ok" if proc.returncode == 0 else f"exit {proc.returncode}"
                audio = out.stat().st_size if out.exists() else 0
                print(
                    f"{command:10} {size:>9} chars  {wall:6.1f} s  {audio / 1e6:8.1f} MB audio  "
                    f"peak RSS {peak / 1024 if peak is not None else float('nan'):6.1f} MB  {status}",
                    flush=True,
                )
                out.unlink(missing_ok=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
