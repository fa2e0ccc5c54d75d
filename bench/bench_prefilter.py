#!/usr/bin/env python3
"""The secret-key prefilter on 20,000 small JSON files: per-file cost and whole-push CPU.

    PYTHONPATH=src .venv/bin/python bench/bench_prefilter.py --workdir /tmp/sspref \\
        [--push-src before=/tmp/old/src --push-src after=src] [--rounds 3]

Generates bench_restic's small-files dataset (``--files`` JSON documents of
``--size`` bytes), reads it into memory and times, in this one process with
``time.process_time``, ``SecretPolicy.may_hold_secret_keys`` against the
prefilter it replaced (the oracle kept in ``tests/sync/secrets/prefilter_oracle.py``),
alternated, ``--rounds`` times; prints the medians in microseconds per file.
With ``--push-src NAME=SRC`` (twice, say), it also times a first push of the
dataset into a fresh local store and a no-change push right after, with each
source tree on PYTHONPATH, under ``/usr/bin/time`` (user+sys CPU seconds of
the client), the trees alternated per round; prints the medians.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # tests.sync.secrets

import bench_restic as br

Check = Callable[[str, bytes], bool]


def per_file_us(docs: list[tuple[str, bytes]], rounds: int) -> dict[str, float]:
    """Median microseconds per document of the old and the new prefilter, alternated."""
    from statesync.sync.secrets.policy import SecretPolicy
    from tests.sync.secrets.prefilter_oracle import old_may_hold_secret_keys

    policy = SecretPolicy()
    checks: dict[str, Check] = {
        "old": lambda p, d: old_may_hold_secret_keys(policy, p, d),
        "new": policy.may_hold_secret_keys,
    }
    for check in checks.values():  # warm: compile, build the automaton
        check(*docs[0])
    times: dict[str, list[float]] = {name: [] for name in checks}
    for _ in range(rounds):
        for name, check in checks.items():
            t0 = time.process_time()
            for path, data in docs:
                check(path, data)
            times[name].append((time.process_time() - t0) / len(docs) * 1e6)
    return {name: statistics.median(v) for name, v in times.items()}


def push_cpu(src: Path, data: Path, work: Path, tag: str) -> tuple[float, float]:
    """CPU seconds (user+sys) of a first push into a fresh store and of a no-change push."""
    store = work / f"store-{tag}"
    shutil.rmtree(store, ignore_errors=True)
    shutil.rmtree(data / ".statesync", ignore_errors=True)
    env = {k: v for k, v in os.environ.items() if not k.startswith("STATESYNC_")}
    env["PYTHONPATH"] = br.bl.as_installed(src)
    for var in ("XDG_CACHE_HOME", "XDG_DATA_HOME", "XDG_CONFIG_HOME", "XDG_STATE_HOME"):
        env[var] = str(work / f"xdg-{tag}" / var.split("_")[1].lower())
    shutil.rmtree(work / f"xdg-{tag}", ignore_errors=True)
    exe = str(Path(sys.executable).parent / "statesync")
    url = store.as_uri()
    subprocess.run([exe, "--store", url, "-q", "init"], env=env, check=True, capture_output=True)
    push = [exe, "--store", url, "-q", "push", str(data), "--env", "bench"]
    timef = work / "time.txt"
    _, first, _ = br.timed(push, env, data, timef)
    _, again, _ = br.timed(push, env, data, timef)
    return first, again


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--workdir", default="/tmp/sspref")
    p.add_argument("--files", type=int, default=20000)
    p.add_argument("--size", type=int, default=2048)
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--push-src", action="append", default=[], metavar="NAME=SRC")
    p.add_argument("--json", action="store_true")
    args = p.parse_args()
    work = Path(args.workdir).resolve()
    data = work / "data"
    if not (data / "tasks-000").is_dir():
        shutil.rmtree(data, ignore_errors=True)
        br.small_dataset(data, args.files, args.size)
    paths = sorted(data.glob("tasks-*/task-*.json"))
    docs = [(str(f.relative_to(data)), f.read_bytes()) for f in paths]
    out: dict[str, object] = {"files": len(docs), "bytes": sum(len(d) for _, d in docs)}
    us = per_file_us(docs, args.rounds)
    out["prefilter_us_per_file"] = us
    print(
        f"prefilter, us per file (median of {args.rounds}): "
        + ", ".join(f"{k} {v:.1f}" for k, v in us.items()),
        flush=True,
    )
    if args.push_src:
        srcs = dict(s.split("=", 1) for s in args.push_src)
        runs: dict[str, dict[str, list[float]]] = {
            n: {"first": [], "nothing_changed": []} for n in srcs
        }
        for r in range(args.rounds):
            for name, src in srcs.items():
                first, again = push_cpu(Path(src).resolve(), data, work, f"{name}-{r}")
                runs[name]["first"].append(first)
                runs[name]["nothing_changed"].append(again)
                print(
                    f"round {r} {name}: first push {first:.2f} s CPU, "
                    f"no-change push {again:.2f} s CPU",
                    flush=True,
                )
        medians = {n: {c: statistics.median(v) for c, v in m.items()} for n, m in runs.items()}
        out["push_cpu_s"] = {"runs": runs, "medians": medians}
        for name, m in medians.items():
            print(
                f"{name}: first push {m['first']:.2f} s CPU, "
                f"no-change {m['nothing_changed']:.2f} s CPU (medians of {args.rounds})"
            )
    if args.json:
        print(json.dumps(out, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
