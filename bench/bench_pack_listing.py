#!/usr/bin/env python3
"""Cost of confirming that reused chunks still exist: one ``list`` of ``objects/`` per load.

    .venv/bin/python bench/bench_pack_listing.py --store s3://bucket/prefix \
        --packs 100,1000,5000 [--repeat 5] [--json]

Every push (and every read that loads the chunk index) lists ``objects/`` once,
so a chunk whose pack was deleted is never "reused" (issue 11). This bench
fills a fresh store with PACKS placeholder pack objects (one byte each: a
listing's cost does not depend on object sizes), then reports the median time
of the listing alone and of a whole ``load_index`` (index listing + objects
listing + index bodies). The store URL must be empty or absent; each size gets
its own sub-prefix. Figures come from this run only.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import statistics
import time
from collections.abc import Callable

from statesync.api import Store
from statesync.backends.base import CREATE
from statesync.sync.store import layout
from statesync.sync.store.chunkindex import load_index


def _median_ms(fn: Callable[[], object], repeat: int) -> float:
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return round(statistics.median(times) * 1000, 1)


def measure(url: str, packs: int, repeat: int) -> dict[str, float]:
    """Fill a fresh store at ``url`` with ``packs`` placeholders; time the listings."""
    store = Store.init(url)
    backend = store.repo.backend
    for i in range(packs):
        backend.put(layout.pack_key(hashlib.sha256(str(i).encode()).hexdigest()), b"x", CREATE)
    return {
        "packs": packs,
        "list_ms": _median_ms(lambda: sum(1 for _ in backend.list(layout.OBJECTS)), repeat),
        "load_index_ms": _median_ms(lambda: load_index(store.repo), repeat),
    }


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--store", required=True)
    p.add_argument("--packs", default="100,1000")
    p.add_argument("--repeat", type=int, default=5)
    p.add_argument("--json", action="store_true")
    args = p.parse_args(argv)
    rows = [
        measure(f"{args.store.rstrip('/')}/n{n}", int(n), args.repeat)
        for n in args.packs.split(",")
    ]
    if args.json:
        print(json.dumps({"store": args.store, "rows": rows}, indent=2))
    else:
        for r in rows:
            print(
                f"packs={r['packs']:>6}: list objects/ {r['list_ms']:8.1f} ms, "
                f"whole load_index {r['load_index_ms']:8.1f} ms"
            )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
