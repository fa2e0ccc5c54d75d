#!/usr/bin/env python3
"""Start-up cost of ``statesync --help``: wall and CPU time per run, against bare Python.

    .venv/bin/python bench/bench_cli_help.py [--runs 30] [--src PATH ...]

Each case runs ``python -m statesync.cli --help`` RUNS times (PYTHONPATH=SRC
for each ``--src``, default: this checkout's src/) and ``python -c pass`` as
the floor. CPU time (user+sys of the child) is steadier than wall time on a
shared machine. The target is under 100 ms. Figures come from this run only.
"""

from __future__ import annotations

import argparse
import compileall
import json
import os
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

SRC = Path(__file__).resolve().parent.parent / "src"


def measure(argv: list[str], src: str | None, runs: int) -> dict[str, float]:
    """Median and minimum wall time and median CPU time of ``argv``, in ms."""
    env = {**os.environ, **({"PYTHONPATH": src} if src else {})}
    wall, cpu = [], []
    for _ in range(runs):
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        start = time.perf_counter()
        subprocess.run(argv, env=env, stdout=subprocess.DEVNULL, check=True)
        wall.append((time.perf_counter() - start) * 1000)
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpu.append((after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime) * 1000)
    return {
        "wall_min_ms": round(min(wall), 1),
        "wall_median_ms": round(statistics.median(wall), 1),
        "cpu_median_ms": round(statistics.median(cpu), 1),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--runs", type=int, default=30, help="runs per case (default: 30)")
    ap.add_argument("--src", action="append", help="a src/ folder to measure (repeatable)")
    args = ap.parse_args()
    cases = [("python -c pass", [sys.executable, "-c", "pass"], None)]
    for src in args.src or [str(SRC)]:
        compileall.compile_dir(src, quiet=2)  # as pip does at install (PYTHONDONTWRITEBYTECODE)
        cases.append((f"{src} --help", [sys.executable, "-m", "statesync.cli", "--help"], src))
    for name, argv, src in cases:
        print(json.dumps({"case": name, **measure(argv, src, args.runs)}))


if __name__ == "__main__":
    main()
