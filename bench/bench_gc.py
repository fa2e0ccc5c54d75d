#!/usr/bin/env python3
"""gc on a store of many snapshots: how long it takes, and that verify stays clean.

    .venv/bin/python bench/bench_gc.py --snapshots 500 --keep-last 10 \
        [--store URL] [--workdir /tmp/ssgc] [--json]

1. Makes a store (a fresh ``file://`` store under WORKDIR unless ``--store``)
   and pushes SNAPSHOTS snapshots of a folder of 20 JSON state files, each
   push changing two of them (so history shares most chunks, as real state does).
2. Runs ``gc --keep-last N`` with no grace period and times it (seconds, by
   the monotonic clock), then a second gc with nothing left to do.
3. Runs ``verify --read-data`` over the whole store and reports whether it is clean.

Prints the figures (``--json``: one JSON object). Exit 0 if verify is clean and
gc kept exactly N snapshots, 1 otherwise. No target is asserted on time: the
seconds are for the note (issue 13: "gc on 500 snapshots finishes in seconds").
"""

from __future__ import annotations

import argparse
import json
import os
import random
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

FILES = 20


def _doc(rng: random.Random, i: int, n: int) -> bytes:
    tasks = [
        {
            "id": t,
            "status": rng.choice(["todo", "doing", "done"]),
            "note": "".join(rng.choices("abcdefghij ", k=400)),
        }
        for t in range(30)
    ]
    return (json.dumps({"file": i, "rev": n, "tasks": tasks}, indent=2) + "\n").encode()


def make_history(store: Any, folder: Path, snapshots: int) -> float:
    """Push ``snapshots`` snapshots; return the seconds it took."""
    rng = random.Random(1)
    folder.mkdir(parents=True, exist_ok=True)
    for i in range(FILES):
        (folder / f"state-{i:02d}.json").write_bytes(_doc(rng, i, 0))
    started = time.monotonic()
    for n in range(snapshots):
        for i in rng.sample(range(FILES), 2):
            (folder / f"state-{i:02d}.json").write_bytes(_doc(rng, i, n + 1))
        store.push(folder, "dev", message=f"rev {n}")
        if n % 100 == 99:
            print(f"  {n + 1} snapshots pushed", file=sys.stderr)
    return time.monotonic() - started


def run(args: argparse.Namespace) -> dict[str, Any]:
    from statesync import api
    from statesync.api import Store
    from statesync.sync.store.retention import Policy

    work = Path(args.workdir or tempfile.mkdtemp(prefix="ssgc-"))
    os.environ.setdefault("XDG_CACHE_HOME", str(work / "xdg-cache"))
    os.environ.setdefault("XDG_STATE_HOME", str(work / "xdg-state"))
    url = args.store or (work / "store").as_uri()
    with Store.init(url) as store:
        push_s = make_history(store, work / "data", args.snapshots)
        started = time.monotonic()
        report = api.gc(store, policy=Policy(keep_last=args.keep_last), grace=0)
        gc_s = time.monotonic() - started
        started = time.monotonic()
        again = api.gc(store, policy=Policy(keep_last=args.keep_last), grace=0)
        gc2_s = time.monotonic() - started
        started = time.monotonic()
        verified = store.verify(read_data=True)
        verify_s = time.monotonic() - started
        kept = len(store.log("dev", limit=args.snapshots))
    return {
        "store": url,
        "snapshots": args.snapshots,
        "keep_last": args.keep_last,
        "push_seconds": round(push_s, 2),
        "gc_seconds": round(gc_s, 2),
        "gc_again_seconds": round(gc2_s, 2),
        "verify_read_data_seconds": round(verify_s, 2),
        "snapshots_removed": len(report.snapshots_removed),
        "packs_removed": report.packs_removed,
        "packs_repacked": report.packs_repacked,
        "freed_bytes": report.freed_bytes,
        "second_gc_removed": len(again.snapshots_removed),
        "kept": kept,
        "verify_clean": verified.ok,
        "problems": verified.problems[:5],
    }


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--snapshots", type=int, default=500)
    p.add_argument("--keep-last", type=int, default=10)
    p.add_argument("--store", help="store URL (default: a fresh local store in WORKDIR)")
    p.add_argument("--workdir")
    p.add_argument("--json", action="store_true")
    args = p.parse_args()
    fig = run(args)
    ok = fig["verify_clean"] and fig["kept"] == min(args.keep_last, args.snapshots)
    if args.json:
        print(json.dumps({**fig, "ok": ok}, indent=2))
    else:
        for key, value in fig.items():
            print(f"{key:26} {value}")
        print(f"overall: {'PASS' if ok else 'FAIL'}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
