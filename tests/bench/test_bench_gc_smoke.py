"""Smoke test for bench/bench_gc.py: a small history, gc keeps exactly N, verify clean."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

BENCH = Path(__file__).resolve().parents[2] / "bench" / "bench_gc.py"


def test_bench_gc_small_history(tmp_path: Path) -> None:
    proc = subprocess.run(
        [
            sys.executable,
            str(BENCH),
            "--snapshots",
            "12",
            "--keep-last",
            "3",
            "--workdir",
            str(tmp_path / "w"),
            "--json",
        ],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    doc = json.loads(proc.stdout)
    assert doc["ok"] and doc["kept"] == 3 and doc["snapshots_removed"] == 9
    assert doc["verify_clean"] and doc["second_gc_removed"] == 0
