"""`make bench` (scripts/bench.py): its pure parts, and a seconds-long smoke run. No timed assertions."""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from pathlib import Path

from tests.helpers import ROOT

SCRIPT = ROOT / "scripts" / "bench.py"


def _bench():
    spec = importlib.util.spec_from_file_location("bench", SCRIPT)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["bench"] = module
    spec.loader.exec_module(module)
    return module


def test_texts_have_the_promised_sizes() -> None:
    bench = _bench()
    for size, chars in bench.SIZES.items():
        text = bench.make_text(chars)
        assert len(text) == chars, size
        assert text.strip() == text and "  " not in text


def test_floor_segments_stay_within_the_request_limit() -> None:
    sys.path.insert(0, str(ROOT / "scripts"))
    try:
        from floor_ws import segments
    finally:
        sys.path.remove(str(ROOT / "scripts"))
    text = _bench().make_text(5000)
    parts = segments(text)
    assert all(0 < len(p) <= 250 for p in parts)
    assert " ".join(parts).split() == text.split()


def test_targets_are_checked_from_the_summaries() -> None:
    bench = _bench()

    def row(mode: str, size: str, client: str, **values: float) -> dict:
        base = {"mode": mode, "size": size, "client": client, "runs": 3, "ok": 3, "note": ""}
        return {**base, **values}

    summaries = [
        row("startup", "-", "smallest --help", wall_ms=80.0),
        row("ideal", "short", "stream-ws", ttfa_ms=90.0),
        row("ideal", "short", "floor", ttfa_ms=80.0),
        row("ideal", "short", "sdk", ttfa_ms=160.0),
        row("realistic", "short", "stream-ws", lag_ms=40.0),
    ]
    checks = {name: met for name, _, met in bench.check_targets(summaries)}
    assert checks["`smallest --help` wall ≤ 120 ms"] is True
    assert checks["`smallest --version` wall ≤ 120 ms"] is None
    assert checks["ideal short: stream-ws first audio ≤ 1.1× floor"] is False
    assert checks["ideal short: stream-ws first audio ≤ 0.75× SDK"] is True
    assert checks["realistic short: stream-ws lag after the server's first chunk ≤ 30 ms"] is False
    table = bench.markdown_table([bench.Row("ideal", "short", "floor").summary()])
    assert table.count("\n") == 2 and "| ideal | short | floor |" in table


def test_cpu_per_audio_second_excludes_the_start_up_cost() -> None:
    bench = _bench()

    def row(size: str, client: str, cpu_ms: float, audio_s: float, rss_mib: float) -> dict:
        return {"mode": "ideal", "size": size, "client": client, "runs": 3, "ok": 3, "note": "",
                "cpu_ms": cpu_ms, "audio_s": audio_s, "rss_mib": rss_mib,
                "cpu_ms_per_audio_s": cpu_ms / audio_s}

    summaries = [
        row("short", "stream-ws", 90.0, 3.0, 30.0),
        row("medium", "stream-ws", 200.0, 71.0, 31.0),  # 2.8 ms/s whole, (200-90)/68 = 1.6 net
        row("long", "stream-ws", 9000.0, 3540.0, 40.0),  # (9000-90)/3537 = 2.5 net
    ]
    bench.add_marginal_cpu(summaries)
    assert abs(summaries[1]["cpu_net_ms_per_audio_s"] - 110 / 68) < 1e-9
    assert summaries[0]["cpu_net_ms_per_audio_s"] is None
    checks = {name: met for name, _, met in bench.check_targets(summaries)}
    cpu = "stream-ws CPU ≤ 2.0 ms per audio second, start-up excluded"
    assert checks[f"ideal medium (71 s audio): {cpu}"] is True
    assert checks[f"ideal long (3540 s audio): {cpu}"] is False
    assert checks["stream-ws peak RSS long ≤ 1.2× medium (71 s audio)"] is False


def test_peak_rss_is_the_clients_own() -> None:
    bench = _bench()
    assert bench.split_peak(b"warn\n\nBENCH_PEAK_KB 1234\n") == (1234, b"warn\n")
    assert bench.split_peak(b"Error: boom\n") == (None, b"Error: boom\n")
    run = bench.measure([sys.executable, "-c", "import sys; sys.stdout.write('x'); sys.exit(3)"], {})
    assert run.out_bytes == 1 and not run.ok and run.error.startswith("exit 3")
    # Not the bench process's pre-exec size (pytest here: far above a bare interpreter's ≈ 10 MiB).
    assert run.rss_mib is not None and 3 < run.rss_mib < 20


def test_dry_run_prints_the_plan() -> None:
    out = subprocess.run(
        [sys.executable, str(SCRIPT), "--dry"], capture_output=True, text=True, check=True, timeout=30
    ).stdout
    assert "ideal short" in out and "realistic short" in out and "ideal long" in out


def test_quick_smoke_run_writes_the_table(tmp_path: Path) -> None:
    proc = subprocess.run(
        [sys.executable, str(SCRIPT), "--quick", "--no-sdk", "--clients", "stream-ws,floor",
         "--out", str(tmp_path)],
        capture_output=True, text=True, timeout=120, cwd=ROOT,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    data = json.loads((tmp_path / "latest.json").read_text())
    rows = {(r["mode"], r["client"]): r for r in data["rows"]}
    for key in (("ideal", "stream-ws"), ("ideal", "floor")):
        assert rows[key]["ok"] == 1 and rows[key]["ttfa_ms"] > 0
        assert rows[key]["out_bytes"] == rows[("ideal", "floor")]["out_bytes"] > 0
    assert rows[("startup", "smallest --help")]["ok"] == 1
    assert (tmp_path / "latest.md").read_text().startswith("# smallest benchmark")
