#!/usr/bin/env python3
"""Benchmark of ``statesync serve``'s Terraform backend on a local store.

    .venv/bin/python bench/bench_serve.py [--writes 30] [--history 1,200,1000]
                                          [--reads 50] [--clients 20] [--json]

Starts ``statesync serve`` as a real process (a token, on 127.0.0.1, any
free port) over a fresh local store in a temporary folder, then, over HTTP
with the token (as Terraform would):

1. for each history size H of ``--history``, a server over a store of its
   own whose environment is given H prior writes (the first through the
   server, the rest through ``api.commit_files`` in this process: another
   writer, as a CLI push would be; the server is not told); then
   ``--writes`` rounds of one state write (POST, Content-MD5) of a 100 KiB
   Terraform state to each server in turn (so the machine's varying load
   weighs on every size alike), each with the next serial and one changed
   output; the write cost must not grow with H;
2. ``--reads`` GETs of the head (the largest store);
   then the same writes through ``api.commit_files`` in this process (no
   HTTP, no server, with a chunk index cache as the server keeps), to show
   the store's share of a write;
3. ``--clients`` threads at once, each on its own environment: LOCK, 5
   writes under the lock ID, GET, UNLOCK; every answer must be 200.

Prints the medians, p90s and maxima (milliseconds, measured by the client
around each request) per history size, the concurrent run's wall time and
error count, and the targets (write <= 50 ms median at every history size,
the median at the largest history within 1.5x of the smallest's, GET <= 10 ms
median, no errors with 20 clients) with PASS/FAIL. Exit 0 if every target
passes, 1 otherwise.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import json
import os
import re
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx

ROOT = Path(__file__).resolve().parent.parent


def state(serial: int, size: int = 100 * 1024) -> bytes:
    """A Terraform-shaped state of about ``size`` bytes (outputs), ``serial`` varies."""
    outputs = {
        f"o{i:04d}": {"value": f"value-{i}-" + "x" * 40, "type": "string"}
        for i in range(size // 110)
    }
    outputs["changed"] = {"value": str(serial), "type": "string"}
    doc = {
        "version": 4,
        "terraform_version": "1.0.3",
        "serial": serial,
        "lineage": "bench-lineage",
        "outputs": outputs,
        "resources": [],
    }
    return json.dumps(doc, indent=2).encode() + b"\n"


def md5(body: bytes) -> str:
    return base64.b64encode(hashlib.md5(body).digest()).decode()


#: every server started, stopped at the end whatever happens
_RUNNING: list[subprocess.Popen[str]] = []


def start(tmp: Path) -> tuple[subprocess.Popen[str], str, str]:
    env = {
        **os.environ,
        "XDG_CONFIG_HOME": str(tmp / "cfg"),
        "XDG_DATA_HOME": str(tmp / "data"),
        "XDG_STATE_HOME": str(tmp / "state"),
        "XDG_CACHE_HOME": str(tmp / "cache"),
        "PYTHONPATH": str(ROOT / "src") + os.pathsep + os.environ.get("PYTHONPATH", ""),
    }
    store = (tmp / "store").as_uri()
    cli = [sys.executable, "-m", "statesync.cli"]
    subprocess.run([*cli, "--store", store, "init"], env=env, check=True, capture_output=True)
    out = subprocess.run(
        [*cli, "--json", "serve", "tokens", "add", "bench", "--env", "*=admin"],
        env=env,
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    token = json.loads(out)["token"]
    proc = subprocess.Popen(
        [*cli, "--store", store, "serve", "--listen", "127.0.0.1:0"],
        env=env,
        stderr=subprocess.PIPE,
        text=True,
    )
    _RUNNING.append(proc)
    assert proc.stderr is not None
    for line in proc.stderr:
        found = re.search(r"listening on (http\S+)", line)
        if found:
            threading.Thread(target=proc.stderr.read, daemon=True).start()
            return proc, found.group(1), token
    raise SystemExit("the server did not start")


def client(url: str, token: str) -> httpx.Client:
    """An HTTP client with TCP_NODELAY, as Go's (Terraform's) sets by default."""
    nodelay = [(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)]
    return httpx.Client(
        base_url=url,
        headers={"Authorization": f"Bearer {token}"},
        timeout=60,
        transport=httpx.HTTPTransport(socket_options=nodelay),
    )


def timed(fn: object, *args: object) -> tuple[float, httpx.Response]:
    began = time.perf_counter()
    resp = fn(*args)  # type: ignore[operator]
    return (time.perf_counter() - began) * 1000, resp


def post(c: httpx.Client, path: str, body: bytes, lock_id: str | None = None) -> httpx.Response:
    params = {"ID": lock_id} if lock_id else None
    return c.post(path, content=body, params=params, headers={"Content-MD5": md5(body)})


def p90(values: list[float]) -> float:
    return sorted(values)[int(len(values) * 0.9) - 1] if values else 0.0


def client_run(url: str, token: str, index: int) -> int:
    """One concurrent client; returns the number of non-200 answers."""
    env, errors = f"/tf/bench-{index:02d}", 0
    lock = json.dumps(
        {
            "ID": str(uuid.uuid4()),
            "Operation": "OperationTypeApply",
            "Info": "",
            "Who": f"client{index}",
            "Version": "1.0.3",
            "Created": "",
            "Path": "",
        }
    )
    lock_id = json.loads(lock)["ID"]
    with client(url, token) as c:
        answers = [c.request("LOCK", env, content=lock.encode())]
        answers += [post(c, env, state(s, 20 * 1024), lock_id) for s in range(1, 6)]
        answers += [c.get(env), c.request("UNLOCK", env, content=lock.encode())]
    errors += sum(r.status_code != 200 for r in answers)
    return errors


def _inproc_api(tmp: Path) -> Any:
    """``statesync.api`` of this checkout, with user folders of its own under ``tmp``."""
    for var in ("CONFIG", "DATA", "STATE", "CACHE"):
        os.environ[f"XDG_{var}_HOME"] = str(tmp / f"inproc-{var.lower()}")
    sys.path.insert(0, str(ROOT / "src"))  # this checkout, as the server runs it
    from statesync import api

    return api


def prefill(tmp: Path, env: str, serials: range) -> None:
    """Give ``env`` more history: one commit per serial, by another writer than the server."""
    api = _inproc_api(tmp)
    cache = api.IndexCache()  # this writer's own; the server's knows nothing of these
    with api.Store.open((tmp / "store").as_uri()) as store:
        for serial in serials:
            parent = api.read_head_file(store, env, "terraform.tfstate").snapshot
            api.commit_files(
                store,
                env,
                {"terraform.tfstate": state(serial)},
                parent=parent,
                index_cache=cache,
            )


def commit_only(tmp: Path, count: int) -> list[float]:
    """The same writes through ``api.commit_files`` in this process: the store's share."""
    api = _inproc_api(tmp)
    cache = api.IndexCache()
    times = []
    with api.Store.init((tmp / "inproc-store").as_uri()) as store:
        parent = None
        for serial in range(1, count + 2):
            began = time.perf_counter()
            result = api.commit_files(
                store,
                "bench",
                {"terraform.tfstate": state(serial)},
                parent=parent,
                index_cache=cache,
            )
            times.append((time.perf_counter() - began) * 1000)
            parent = result.snapshot
    return times[1:]


def write_series(
    tmp: Path, history: list[int], writes: int
) -> tuple[dict[int, list[float]], tuple[str, str]]:
    """Per history size, the client-side times of ``writes`` POSTs, taken in turns.

    One server and store per history size, prefilled, then the writes go
    round-robin (one to each store in turn), so the machine's load, which
    varies, weighs on every series alike. Returns the series and the
    largest store's (url, token), still serving.
    """
    servers = {}
    for size in history:
        folder = tmp / f"history-{size}"
        folder.mkdir()
        servers[size] = start(folder)
    clients = {size: client(url, token) for size, (_, url, token) in servers.items()}
    for size, c in clients.items():
        post(c, "/tf/bench", state(1))  # the first write makes the env and loads the index
        if size > 1:
            prefill(tmp / f"history-{size}", "bench", range(2, size + 1))
    series: dict[int, list[float]] = {size: [] for size in history}
    for n in range(writes):
        for size, c in clients.items():
            ms, resp = timed(post, c, "/tf/bench", state(max(size, 1) + 1 + n))
            assert resp.status_code == 200, resp.text
            series[size].append(ms)
    for c in clients.values():
        c.close()
    _, url, token = servers[history[-1]]
    return series, (url, token)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--writes", type=int, default=30)
    ap.add_argument("--history", default="1,200,1000", help="prior writes before each series")
    ap.add_argument("--reads", type=int, default=50)
    ap.add_argument("--clients", type=int, default=20)
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    history = sorted({max(1, int(h)) for h in args.history.split(",")})
    with tempfile.TemporaryDirectory(prefix="bench-serve-") as tmp:
        try:
            series, (url, token) = write_series(Path(tmp), history, args.writes)
            with client(url, token) as c:
                reads = [timed(c.get, "/tf/bench") for _ in range(args.reads)]
            assert all(r.status_code == 200 for _, r in reads)
            began = time.perf_counter()
            with ThreadPoolExecutor(args.clients) as pool:
                errors = sum(pool.map(lambda i: client_run(url, token, i), range(args.clients)))
            wall = time.perf_counter() - began
        finally:
            for running in _RUNNING:
                running.terminate()
                running.wait(timeout=15)
        inproc = commit_only(Path(tmp), args.writes)
    r = [ms for ms, _ in reads]
    by_history = {
        str(h): {
            "write_ms_median": statistics.median(w),
            "write_ms_p90": p90(w),
            "write_ms_max": max(w),
        }
        for h, w in series.items()
    }
    medians = [v["write_ms_median"] for v in by_history.values()]
    result = {
        "state_bytes": len(state(2)),
        "writes_per_series": args.writes,
        "by_history": by_history,
        "get_ms_median": statistics.median(r),
        "get_ms_p90": p90(r),
        "commit_only_ms_median": statistics.median(inproc),
        "clients": args.clients,
        "concurrent_wall_s": wall,
        "concurrent_errors": errors,
        "cpus": os.cpu_count(),
        "load_average": os.getloadavg(),
    }
    targets = {
        "write median <= 50 ms at every history size": max(medians) <= 50,
        f"flat: median after {history[-1]} writes <= 1.5x after {history[0]}": (
            medians[-1] <= 1.5 * medians[0]
        ),
        "GET median <= 10 ms": result["get_ms_median"] <= 10,
        f"{args.clients} concurrent clients, no errors": errors == 0,
    }
    if args.json:
        print(json.dumps({**result, "targets": targets}, indent=2))
    else:
        report(result, targets, args)
    return 0 if all(targets.values()) else 1


def report(result: dict[str, Any], targets: dict[str, bool], args: argparse.Namespace) -> None:
    load = ", ".join(f"{x:.1f}" for x in result["load_average"])
    print(f"state {result['state_bytes']} B on a local store, {os.cpu_count()} CPUs, load {load}")
    for size, w in result["by_history"].items():
        print(
            f"write after {size:>5} prior writes: median {w['write_ms_median']:.1f} ms  "
            f"p90 {w['write_ms_p90']:.1f} ms  max {w['write_ms_max']:.1f} ms"
            f"  ({args.writes} writes)"
        )
    print(
        f"  of which the store's commit (api.commit_files, no HTTP): median "
        f"{result['commit_only_ms_median']:.1f} ms"
    )
    print(
        f"GET    median {result['get_ms_median']:.1f} ms  p90 {result['get_ms_p90']:.1f} ms"
        f"  ({args.reads} reads)"
    )
    print(
        f"{args.clients} clients x (LOCK, 5 writes, GET, UNLOCK): "
        f"{result['concurrent_wall_s']:.2f} s, {result['concurrent_errors']} errors"
    )
    for name, passed in targets.items():
        print(f"{'PASS' if passed else 'FAIL'}  {name}")


if __name__ == "__main__":
    sys.exit(main())
