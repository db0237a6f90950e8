"""`smallest --help` and `--version` must not import heavy modules (startup speed)."""

from __future__ import annotations

import subprocess
import sys

HEAVY = ("numpy", "sounddevice", "websockets", "requests", "aiohttp")

PROBE = """
import sys
from smallest_cli.cli import build_app
try:
    build_app()(prog_name="smallest", args=sys.argv[1:])
except SystemExit:
    pass
heavy = sorted(m for m in sys.modules if m.split(".")[0] in {heavy!r})
print("HEAVY:" + ",".join(heavy))
"""


def _heavy_after(*args: str) -> str:
    out = subprocess.run(
        [sys.executable, "-c", PROBE.format(heavy=set(HEAVY)), *args], capture_output=True, text=True, check=True
    ).stdout
    return out.rsplit("HEAVY:", 1)[1].strip()


def test_help_imports_no_heavy_modules() -> None:
    assert _heavy_after("--help") == ""


def test_version_imports_no_heavy_modules() -> None:
    assert _heavy_after("--version") == ""


def test_version_prints_version() -> None:
    from smallest_cli import __version__

    out = subprocess.run([sys.executable, "-m", "smallest_cli", "--version"], capture_output=True, text=True)
    assert out.returncode == 0
    assert out.stdout.strip() == f"smallest {__version__}"
