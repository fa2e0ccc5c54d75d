"""Smoke tests for bench/bench_cloud.py (on moto) and bench/bench_encrypt.py: tiny datasets.

No timing assertions: the statesync/raw ratio and the encryption overhead are
printed but may pass or fail on a busy machine. What must hold: the runs
complete (exit 0 or 1, never 2), the figures print, and the deterministic
targets pass (no-change push: one ref read, no upload; pulled tree equal).
The cloud smoke needs the S3 emulator (``STATESYNC_TEST_S3``, set by
scripts/test.sh, which also exports the endpoint the bench picks up).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[2] / "bench"
TINY = ["--size", "4MiB", "--files", "20"]


def _run(script: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(BENCH / script), *TINY, *args],
        capture_output=True,
        text=True,
        timeout=900,
    )


needs_s3 = pytest.mark.skipif(
    not os.environ.get("STATESYNC_TEST_S3"), reason="S3 emulator not started (run scripts/test.sh)"
)


@needs_s3
@pytest.mark.cloud
def test_bench_cloud_tiny_s3(tmp_path: Path) -> None:
    proc = _run(
        "bench_cloud.py", "--backends", "s3", "--rounds", "1", "--workdir", str(tmp_path / "cloud")
    )
    assert proc.returncode in (0, 1), proc.stdout + proc.stderr
    out = proc.stdout
    for figure in (
        "== s3 (moto)",
        "(a) full push r1",
        "raw SDK upload r1",
        "(b) no-change push",
        "(c) pull",
        "statesync/raw full upload",
        "boto3.s3.transfer",
        "pulled vs source: equal",
        "machine:",
        "targets:",
    ):
        assert figure in out, out
    assert "[PASS] s3: no-change push: 1 ref read, 0 uploads" in out, out
    assert "[PASS] s3: pulled folder equals source (sha256)" in out, out
    ratio = [ln for ln in out.splitlines() if "no slower than raw boto3" in ln]
    assert len(ratio) == 1 and ratio[0].strip().startswith(("[PASS]", "[FAIL]")), out
    assert "buckets cleaned up: 2/2" in out, out


@needs_s3
@pytest.mark.cloud
def test_bench_cloud_tiny_s3_json(tmp_path: Path) -> None:
    proc = _run(
        "bench_cloud.py",
        "--backends",
        "s3",
        "--rounds",
        "1",
        "--json",
        "--workdir",
        str(tmp_path / "cloud"),
    )
    assert proc.returncode in (0, 1), proc.stdout + proc.stderr
    fig = json.loads(proc.stdout)
    s3 = fig["backends"]["s3"]
    nc = s3["nochange_push"]
    assert nc["ref_reads"] == 1 and nc["uploads"] == 0 and nc["uploaded_bytes"] == 0
    assert s3["full_push"][0]["uploaded_bytes"] > 0
    assert s3["raw"][0]["uploaded_bytes"] == fig["dataset"]["bytes"] == 4 * 1024 * 1024
    assert s3["compare"]["equal"] is True
    assert s3["ratio"]["wall"] > 0


def test_bench_encrypt_tiny(tmp_path: Path) -> None:
    proc = _run("bench_encrypt.py", "--repeat", "1", "--workdir", str(tmp_path / "enc"))
    assert proc.returncode in (0, 1), proc.stdout + proc.stderr
    out = proc.stdout
    for figure in (
        "plain",
        "encrypted",
        "Argon2id unwrap",
        "overhead of --encrypt all",
        "(CPU seconds, push)",
        "(wall seconds, push)",
        "targets:",
    ):
        assert figure in out, out


def test_bench_encrypt_tiny_json(tmp_path: Path) -> None:
    proc = _run("bench_encrypt.py", "--repeat", "1", "--json", "--workdir", str(tmp_path / "enc"))
    assert proc.returncode in (0, 1), proc.stdout + proc.stderr
    fig = json.loads(proc.stdout)
    assert [r["mode"] for r in fig["runs"]] == ["plain", "encrypted"]
    assert all(r["uploaded_bytes"] > 0 and r["changed"] for r in fig["runs"])
    assert fig["summary"]["unwrap_seconds"] > 0
    assert len(fig["targets"]) == 2
