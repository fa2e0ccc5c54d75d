"""Smoke test for bench/bench_serve.py: tiny runs, every answer 200, the series all printed.

No timing assertions (the machine's load decides those): only that the
bench runs end to end, that its write series covers each history size, and
that the concurrent clients met no error.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[2] / "bench" / "bench_serve.py"


@pytest.mark.long  # about 13 s (three server processes); the server tests cover writes
def test_bench_serve_tiny_run_reports_each_history_size() -> None:
    args = ["--writes", "2", "--history", "1,4", "--reads", "2", "--clients", "2", "--json"]
    proc = subprocess.run(
        [sys.executable, str(BENCH), *args], capture_output=True, text=True, timeout=600
    )
    assert proc.returncode in (0, 1), proc.stdout + proc.stderr  # 1: a timing target missed
    result = json.loads(proc.stdout)
    assert sorted(result["by_history"]) == ["1", "4"]
    assert all(v["write_ms_median"] > 0 for v in result["by_history"].values())
    assert result["concurrent_errors"] == 0
    assert result["targets"]["2 concurrent clients, no errors"] is True
