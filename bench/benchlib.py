"""Helpers shared by bench_cloud.py and bench_encrypt.py (bench_local.py stays standalone).

* :func:`run_child` runs one phase in a fresh interpreter and parses its result line;
* :class:`Span` measures a span inside a child: wall seconds, this process's CPU
  seconds (all threads), the CPU of given other processes (emulators) and the CPU
  every other process on the machine used meanwhile;
* :func:`tree_cpu` is the user+system CPU of processes and their descendants;
* :func:`median`, :func:`pct` for reports.

Standard library plus psutil (a dev dependency of the project).
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import bench_local as bl

MARKER = bl.MARKER
PhaseError = bl.PhaseError


def tree_cpu(pids: list[int]) -> float:
    """user+system CPU seconds of ``pids`` and all their live descendants (0 if gone)."""
    import psutil

    total = 0.0
    seen: set[int] = set()
    for pid in pids:
        try:
            root = psutil.Process(pid)
            procs = [root, *root.children(recursive=True)]
        except psutil.Error:
            continue
        for p in procs:
            if p.pid in seen:
                continue
            seen.add(p.pid)
            try:
                t = p.cpu_times()
            except psutil.Error:
                continue
            total += t.user + t.system
    return total


class Span:
    """Wall/CPU figures of a ``with`` block, measured inside the process doing the work."""

    def __init__(self, others: list[int] | None = None) -> None:
        self.others = list(others or [])
        self.figures: dict[str, Any] = {}

    def __enter__(self) -> Span:
        self._load0 = os.getloadavg()[0]
        self._busy0 = bl._busy()
        self._other0 = tree_cpu(self.others)
        self._cpu0 = time.process_time()
        self._t0 = time.perf_counter()
        return self

    def __exit__(self, *exc: object) -> None:
        seconds = time.perf_counter() - self._t0
        cpu = time.process_time() - self._cpu0
        other = tree_cpu(self.others) - self._other0
        busy = bl._busy() - self._busy0
        self.figures = {
            "seconds": seconds,
            "op_cpu_seconds": cpu,
            "emulator_cpu_seconds": other,
            # CPU of every process but this one and the emulators, over the same span.
            "other_cpu_seconds": max(0.0, busy - cpu - other),
            "loadavg_1m": [round(self._load0, 2), round(os.getloadavg()[0], 2)],
        }


def emit(result: dict[str, Any]) -> None:
    """Print a child's result line (the parent reads the last one)."""
    result.setdefault("maxrss_bytes", bl.vm_hwm())
    print(MARKER + json.dumps(result), flush=True)


def run_child(
    script: Path,
    spec: dict[str, Any],
    env: dict[str, str],
    cwd: Path,
    wrap: list[str] | None = None,
    timeout: float | None = None,
) -> dict[str, Any]:
    """Run ``script --child SPEC`` in a fresh interpreter (optionally under ``wrap``)."""
    cmd = [*(wrap or []), sys.executable, str(script), "--child", json.dumps(spec)]
    t0 = time.perf_counter()
    try:
        proc = subprocess.run(
            cmd, env=env, cwd=cwd, capture_output=True, text=True, timeout=timeout
        )
    except subprocess.TimeoutExpired as exc:
        raise PhaseError(f"phase {spec.get('op')} timed out after {timeout} s") from exc
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith(MARKER)]
    if proc.returncode != 0 or not lines:
        raise PhaseError(
            f"phase {spec.get('op')} failed (exit {proc.returncode}):\n"
            f"{proc.stderr.strip()[-3000:]}"
        )
    res: dict[str, Any] = json.loads(lines[-1][len(MARKER) :])
    res["process_wall_seconds"] = time.perf_counter() - t0
    if wrap:
        res["stderr_tail"] = proc.stderr.strip()[-1500:]
    return res


def median(xs: list[float]) -> float:
    return float(statistics.median(xs)) if xs else float("nan")


def pct(new: float, base: float) -> float:
    return 100.0 * (new - base) / base if base > 0 else float("inf")


def load_line() -> str:
    la = os.getloadavg()
    return (
        f"load average {la[0]:.1f} {la[1]:.1f} {la[2]:.1f} on {os.cpu_count()} logical "
        "cores: the machine is shared; wall seconds are perturbed, CPU seconds less so"
    )


def child_env(work: Path, tag: str, extra: dict[str, str] | None = None) -> dict[str, str]:
    """The environment of a child: no STATESYNC_* from outside, private XDG folders."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("STATESYNC_")}
    for var in ("XDG_CACHE_HOME", "XDG_DATA_HOME", "XDG_CONFIG_HOME", "XDG_STATE_HOME"):
        env[var] = str(work / f"xdg-{tag}" / var.split("_")[1].lower())
    env.update(extra or {})
    return env


def src_pythonpath(work: Path, rev: str) -> tuple[str, str]:
    """Export ``src/`` of git ``rev`` into ``work``; return (PYTHONPATH, description)."""
    snap = work / "src-snapshot"
    snap.mkdir()
    short = subprocess.run(
        ["git", "-C", str(bl.REPO), "rev-parse", "--short", rev],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    archive = subprocess.run(
        ["git", "-C", str(bl.REPO), "archive", short, "src"], capture_output=True, check=True
    ).stdout
    subprocess.run(["tar", "-x", "-C", str(snap)], input=archive, check=True)
    return bl.as_installed(snap / "src"), f"git {short} (exported to {snap / 'src'})"
