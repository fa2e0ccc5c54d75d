"""Smoke test for bench/bench_tag_lookup.py: it runs and its index answers what a scan answers."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

BENCH = Path(__file__).resolve().parents[2] / "bench" / "bench_tag_lookup.py"


def test_bench_tag_lookup_tiny(tmp_path: Path) -> None:
    proc = subprocess.run(
        [
            sys.executable,
            str(BENCH),
            "--store",
            str(tmp_path / "store"),
            "--snapshots",
            "6",
            "--repeat",
            "1",
            "--json",
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    [row] = json.loads(proc.stdout)
    assert row["snapshots"] == 6 and {"index_one_hit_ms", "scan_ms"} <= set(row)
