#!/usr/bin/env python3
"""Cost of ``find_snapshots`` (the tag index) against reading every manifest of the history.

    .venv/bin/python bench/bench_tag_lookup.py --store URL --snapshots 50,200 [--repeat 5]

For each size, a fresh sub-prefix gets SNAPSHOTS ``save_object`` commits, each
tagged ``agent_id`` (one of 10) and ``session_id`` (unique); then the median
time of a lookup by session (one hit) and by agent (SNAPSHOTS/10 hits) through
the index, and of the naive way (walk the history, read every manifest, filter
its tags). Figures come from this run only; nothing is asserted.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from collections.abc import Callable

from statesync.api import Store
from statesync.sync import history


def _median_ms(fn: Callable[[], object], repeat: int) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return round(statistics.median(times) * 1000, 1)


def _scan(store: Store, env: str, tags: dict[str, str]) -> list[str]:
    """The naive lookup: every snapshot of the history, each manifest read."""
    entries = history.log(store.repo, env, 1_000_000)
    return [e.snapshot for e in entries if all(e.tags.get(k) == v for k, v in tags.items())]


def measure(url: str, snapshots: int, repeat: int) -> dict[str, float]:
    store = Store.init(url)
    for i in range(snapshots):
        store.save_object({"step": i}, "agents", agent_id=f"a{i % 10}", session_id=f"s{i}")
    one, many = {"session_id": f"s{snapshots // 2}"}, {"agent_id": "a3"}
    assert [m.snapshot for m in store.find_snapshots("agents", tags=one)] == _scan(
        store, "agents", one
    )
    return {
        "snapshots": snapshots,
        "index_one_hit_ms": _median_ms(lambda: store.find_snapshots("agents", tags=one), repeat),
        "index_many_hits_ms": _median_ms(lambda: store.find_snapshots("agents", tags=many), repeat),
        "scan_ms": _median_ms(lambda: _scan(store, "agents", one), repeat),
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--store", required=True, help="an empty store URL (sub-prefixes are used)")
    ap.add_argument("--snapshots", default="50,200")
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    rows = [
        measure(f"{args.store.rstrip('/')}/n{n}", n, args.repeat)
        for n in map(int, args.snapshots.split(","))
    ]
    if args.json:
        print(json.dumps(rows, indent=2))
        return
    for r in rows:
        print(
            f"{r['snapshots']:>6} snapshots: find by session {r['index_one_hit_ms']} ms, "
            f"by agent ({r['snapshots'] // 10} hits) {r['index_many_hits_ms']} ms; "
            f"reading every manifest {r['scan_ms']} ms"
        )


if __name__ == "__main__":
    main()
