"""Smoke test for bench/bench_watch.py: a tiny run prints every figure; burst = one push.

No timing assertions: only the deterministic figures (the burst's push count,
the exit code) and that each timed figure is reported.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

BENCH = Path(__file__).resolve().parents[2] / "bench" / "bench_watch.py"


def test_bench_watch_tiny_json() -> None:
    proc = subprocess.run(
        [
            sys.executable,
            str(BENCH),
            "--changes",
            "3",
            "--settle",
            "0.2s",
            "--idle",
            "0.5",
            "--json",
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    fig = json.loads(proc.stdout)
    assert fig["burst_pushes"] == 1 and fig["burst_writes"] >= 1000, proc.stderr
    assert fig["exit_code"] == 0 and fig["changes"] == 3
    for key in ("latency_median_s", "latency_p95_s", "idle_cpu_percent"):
        assert fig[key] >= 0
