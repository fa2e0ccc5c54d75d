#!/usr/bin/env python3
"""Web view benchmark: rendering an environment's history on a 10,000-snapshot store.

    PYTHONPATH=src .venv/bin/python bench/bench_web.py [--snapshots 10000] [--rounds 5]
                                                       [--workdir DIR] [--json]

What it does (every figure comes from this run):

1. Builds a local store under WORKDIR (default: a temporary folder) with one
   environment ``bench`` of N snapshots. Fast: one real ``save_object`` makes
   the first snapshot (its chunk and index); the other N-1 manifests reuse its
   entries, each naming the previous one as parent, and are stored create-only
   as push stores them; the ref is written once at the end.
2. Serves the web view (``statesync.server.web.web_routes`` in a minimal
   Starlette app) with uvicorn on 127.0.0.1 and a free port, in this process,
   and GETs pages over HTTP (urllib), timing each request from send to last byte:
   * page 1, cold (fresh server: nothing cached);
   * page 100 by cursor (``?page=100&at=<its first snapshot>``, what the pager's
     "Older" link gives), cold: reads that page's 50 manifests only;
   * page 100 by number alone (``?page=100``), cold: walks 4,950 first parents;
   * page 1, page 100 by cursor and by number, warm (median of ROUNDS).
3. Prints the table (``--json``: one JSON object). No target is asserted: the
   issue asks for "fast on 10,000 snapshots (paged)"; read the figures.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import threading
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from statesync.api import Store
from statesync.sync.store import manifest as manifest_mod
from statesync.sync.store import refs

ENV = "bench"
PAGE = 50


def build(url: str, count: int) -> tuple[float, str]:
    """A store with ``count`` snapshots in ENV; (seconds taken, head id)."""
    started = time.perf_counter()
    store = Store.init(url)
    try:
        first = store.save_object({"step": 0, "service": "web"}, ENV).snapshot
        base = manifest_mod.load_manifest(store.repo, first)
        prev = first
        for i in range(1, count):
            m = manifest_mod.Manifest(
                store_id=store.store_id,
                env=ENV,
                parents=[prev],
                entries=base.entries,
                message=f"step {i}",
            )
            prev = manifest_mod.store_manifest(store.repo, m)
        refs.write_ref(store.repo, ENV, prev, refs.read_ref(store.repo, ENV))
    finally:
        store.close()
    return time.perf_counter() - started, prev


class Ctx:
    def __init__(self, url: str) -> None:
        self.store_url = url
        self.opened = Store.open(url)

    def store(self) -> Store:
        return self.opened


@contextmanager
def serve(url: str) -> Iterator[str]:
    import uvicorn
    from starlette.applications import Starlette

    from statesync.server.web import web_routes

    ctx = Ctx(url)
    server = uvicorn.Server(
        uvicorn.Config(
            Starlette(routes=web_routes(ctx)),
            host="127.0.0.1",
            port=0,
            log_level="warning",
            lifespan="off",
        )
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    try:
        while not server.started:
            if not thread.is_alive():
                raise SystemExit("uvicorn did not start")
            time.sleep(0.01)
        yield f"http://127.0.0.1:{server.servers[0].sockets[0].getsockname()[1]}"
    finally:
        server.should_exit = True
        thread.join(timeout=30)
        ctx.opened.close()


def timed_get(url: str) -> tuple[float, bytes]:
    started = time.perf_counter()
    with urllib.request.urlopen(url, timeout=600) as resp:
        body = resp.read()
        if resp.status != 200:
            raise SystemExit(f"{url}: HTTP {resp.status}")
    return time.perf_counter() - started, body


def cursor_of_page(head: str, store_url: str, page: int) -> str:
    """The first snapshot of ``page`` (found outside the timed spans)."""
    store = Store.open(store_url)
    try:
        snap = head
        for _ in range((page - 1) * PAGE):
            snap = manifest_mod.load_manifest(store.repo, snap).parents[0]
        return snap
    finally:
        store.close()


def measure(store_url: str, head: str, rounds: int) -> dict[str, float]:
    at = cursor_of_page(head, store_url, 100)
    paths = {
        "page 1": "/env/bench",
        "page 100 by cursor": f"/env/bench?page=100&at={at}",
        "page 100 by number": "/env/bench?page=100",
    }
    out: dict[str, float] = {}
    for name, path in paths.items():
        with serve(store_url) as base:  # a fresh server: a cold cache
            seconds, body = timed_get(base + path)
            if body.count(b'<td class="mono"><a href="/snap/') != PAGE:
                raise SystemExit(f"{path}: not a page of {PAGE} snapshots")
            out[f"{name}, cold"] = seconds
            out[f"{name}, warm (median of {rounds})"] = statistics.median(
                timed_get(base + path)[0] for _ in range(rounds)
            )
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--snapshots", type=int, default=10_000)
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--workdir", type=Path)
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args(argv)
    if args.snapshots < 100 * PAGE:
        ap.error(f"--snapshots must be at least {100 * PAGE}: page 100 is measured")
    with tempfile.TemporaryDirectory(dir=args.workdir) as tmp:
        for name in ("CACHE", "DATA", "CONFIG", "STATE"):  # pins and caches stay in the run
            os.environ[f"XDG_{name}_HOME"] = str(Path(tmp) / f"xdg-{name.lower()}")
        url = (Path(tmp) / "store").as_uri()
        build_seconds, head = build(url, args.snapshots)
        figures = measure(url, head, args.rounds)
    result: dict[str, Any] = {
        "snapshots": args.snapshots,
        "build_seconds": build_seconds,
        "cpus": os.cpu_count(),
        "load": os.getloadavg()[0],
        "seconds": figures,
    }
    if args.json:
        print(json.dumps(result))
        return 0
    print(
        f"store of {args.snapshots} snapshots built in {build_seconds:.1f} s "
        f"({os.cpu_count()} cpus, load {os.getloadavg()[0]:.1f})"
    )
    for name, seconds in figures.items():
        print(f"  GET /env/{ENV} {name:<38} {seconds * 1000:9.1f} ms")
    return 0


if __name__ == "__main__":
    sys.exit(main())
