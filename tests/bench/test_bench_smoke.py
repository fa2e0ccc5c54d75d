"""Smoke test for bench/bench_local.py: a tiny dataset, every byte/RSS/import target PASS.

No timing assertions: only the deterministic targets (bytes uploaded, peak RSS,
cloud SDK imports, pulled tree equal to the source).
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

BENCH = Path(__file__).resolve().parents[2] / "bench" / "bench_local.py"
TINY = ["--size", "8MiB", "--files", "50", "--big-file", "4MiB"]


def _run(tmp_path: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(BENCH), *TINY, "--workdir", str(tmp_path / "ssbench"), *extra],
        capture_output=True,
        text=True,
        timeout=600,
    )


def test_bench_tiny_all_targets_pass(tmp_path: Path) -> None:
    proc = _run(tmp_path)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    out = proc.stdout
    for figure in (
        "(a) full push",
        "(b) no-change push",
        "(c) 1% push",
        "(d) pull",
        "(e) pulled vs source: equal",
        "(f) cloud SDK modules imported",
        "machine:",
        "python ",
    ):
        assert figure in out, out
    targets = [ln for ln in out.splitlines() if ln.strip().startswith("[")]
    assert len(targets) >= 8, out
    assert all(ln.strip().startswith("[PASS]") for ln in targets), out
    assert "overall: PASS" in out


def test_bench_tiny_json(tmp_path: Path) -> None:
    proc = _run(tmp_path, "--json")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    fig = json.loads(proc.stdout)
    assert fig["all_pass"] is True
    ds = fig["dataset"]
    assert ds["files"] == 50
    assert ds["bytes"] == 8 * 1024 * 1024
    ph = fig["phases"]
    assert ph["nochange_push"]["uploaded_bytes"] == 0
    assert ph["full_push"]["uploaded_bytes"] > 0
    assert 0 < ph["incremental_push"]["uploaded_bytes"] <= 0.02 * ds["bytes"]
    for key in ("full_push", "nochange_push", "incremental_push", "pull"):
        assert ph[key]["maxrss_bytes"] < 200 * 1024 * 1024
    assert fig["compare"]["equal"] is True
    assert all(c["modules"] == [] for c in fig["sdk_imports"])
