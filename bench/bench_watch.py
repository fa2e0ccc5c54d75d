#!/usr/bin/env python3
"""Benchmark of ``statesync watch``: change-to-snapshot latency, one push per burst, idle CPU.

    .venv/bin/python bench/bench_watch.py [--store URL] [--changes 50] [--settle 1s]
        [--idle 10] [--follow] [--json]

1. Starts a real ``statesync watch`` process (``--json`` events) on a fresh
   folder and store (a local ``file://`` store unless ``--store`` names one;
   an emulator store needs its variables, e.g. ``source .emulators/env``).
2. Makes CHANGES changes, one at a time: writes a new value, then waits for
   the push event of the next serial. Latency = the event's time minus the
   write's time (the event is written once the ref has moved: the change is a
   snapshot in the store). Prints median and p95, and the target
   (settle + 1 s local, settle + 2 s on an emulator).
3. Writes 1,000 times within about a second, then counts the snapshots the
   burst made (target: 1).
4. Leaves the watcher idle for IDLE seconds and prints its CPU use in % of
   one core from /proc (target: < 1%).
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path
from typing import Any

SRC = Path(__file__).resolve().parents[1] / "src"


def seconds(text: str) -> float:
    return float(text[:-2]) / 1000 if text.endswith("ms") else float(text.rstrip("s"))


class Watcher:
    """The watch process and the events it printed."""

    def __init__(self, store: str, folder: Path, args: list[str], env: dict[str, str]) -> None:
        cmd = [
            sys.executable,
            "-m",
            "statesync.cli",
            "--store",
            store,
            "--json",
            "watch",
            str(folder),
            "--env",
            "bench",
            *args,
        ]
        self.proc = subprocess.Popen(
            cmd, stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True, env=env
        )
        self.events: list[dict[str, Any]] = []
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.proc.stderr is not None
        for line in self.proc.stderr:
            if line.startswith("{"):
                self.events.append(json.loads(line))

    def wait_serial(self, serial: int, timeout: float = 60) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for e in list(self.events):
                if e.get("kind") == "push" and e.get("serial") == serial:
                    return e
            time.sleep(0.005)
        raise SystemExit(f"no push of serial {serial} within {timeout} s")

    def cpu_seconds(self) -> float:
        fields = Path(f"/proc/{self.proc.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def stop(self) -> int:
        self.proc.send_signal(signal.SIGTERM)
        return self.proc.wait(60)


def fresh_store(backend: str) -> str:
    """A new bucket (container) on the emulator, as a store URL."""
    sys.path.insert(0, str(SRC))
    name = f"sswatch-{uuid.uuid4().hex[:20]}"
    if backend == "s3":
        from statesync.backends import s3

        s3.make_client().create_bucket(Bucket=name)
        return f"s3://{name}/bench"
    if backend == "azure":
        from statesync.backends import azure

        azure.make_service().create_container(name)
        return f"az://{name}/bench"
    from statesync.backends import gcs

    gcs.make_client().create_bucket(name)
    return f"gs://{name}/bench"


def write(path: Path, value: object) -> None:
    path.write_text(json.dumps({"value": value, "pad": "x" * 200}) + "\n")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    ap.add_argument("--store", help="store URL (default: a fresh local store)")
    ap.add_argument(
        "--backend",
        choices=["s3", "azure", "gcs"],
        help="a fresh bucket on that emulator (its variables must be set)",
    )
    ap.add_argument("--changes", type=int, default=50)
    ap.add_argument("--settle", default="1s")
    ap.add_argument("--idle", type=float, default=10.0)
    ap.add_argument("--follow", action="store_true", help="watch with --follow")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    work = Path(tempfile.mkdtemp(prefix="bench-watch-"))
    env = {
        **os.environ,
        "PYTHONPATH": f"{SRC}{os.pathsep}{os.environ.get('PYTHONPATH', '')}",
        **{
            k: str(work / k.lower())
            for k in ("XDG_CONFIG_HOME", "XDG_DATA_HOME", "XDG_STATE_HOME", "XDG_CACHE_HOME")
        },
    }
    store = args.store or (fresh_store(args.backend) if args.backend else (work / "store").as_uri())
    subprocess.run(
        [sys.executable, "-m", "statesync.cli", "--store", store, "init"],
        env=env,
        check=True,
        capture_output=True,
    )
    folder = work / "state"
    folder.mkdir()
    doc = folder / "state.json"
    write(doc, 0)
    settle = seconds(args.settle)
    w = Watcher(
        store,
        folder,
        ["--settle", args.settle, "--interval", "30s", *(["--follow"] if args.follow else [])],
        env,
    )
    w.wait_serial(1)
    latencies = []
    for i in range(args.changes):
        time.sleep(0.05)
        started = time.time()
        write(doc, i + 1)
        event = w.wait_serial(i + 2)
        latencies.append(event["at"] - started)
    serial = args.changes + 1
    burst_start = time.monotonic()
    n = 0
    while time.monotonic() - burst_start < 1.0 or n < 1000:
        write(doc, f"burst {n}")
        n += 1
        time.sleep(0.0008)
    w.wait_serial(serial + 1)
    time.sleep(settle * 3 + 1)
    burst_pushes = len(
        [e for e in w.events if e.get("kind") == "push" and e.get("serial", 0) > serial]
    )
    cpu0, t0 = w.cpu_seconds(), time.monotonic()
    time.sleep(args.idle)
    idle_pct = 100 * (w.cpu_seconds() - cpu0) / (time.monotonic() - t0)
    code = w.stop()
    remote = not store.startswith("file://")
    target = settle + (2.0 if remote else 1.0)
    p95 = sorted(latencies)[max(0, int(len(latencies) * 0.95) - 1)]
    fig = {
        "store": store.split("://")[0],
        "changes": args.changes,
        "settle_s": settle,
        "latency_median_s": statistics.median(latencies),
        "latency_p95_s": p95,
        "latency_target_s": target,
        "burst_writes": n,
        "burst_pushes": burst_pushes,
        "idle_cpu_percent": idle_pct,
        "follow": args.follow,
        "exit_code": code,
    }
    fig["all_pass"] = (
        fig["latency_median_s"] <= target
        and p95 <= target
        and burst_pushes == 1
        and idle_pct < 1.0
        and code == 0
    )
    if args.json:
        print(json.dumps(fig, indent=2))
    else:
        ok = {True: "PASS", False: "FAIL"}
        print(f"store: {fig['store']}  changes: {args.changes}  settle: {settle:g} s")
        print(
            f"[{ok[fig['latency_median_s'] <= target]}] change -> snapshot median "
            f"{fig['latency_median_s']:.3f} s (target <= {target:g} s)"
        )
        print(f"[{ok[p95 <= target]}] change -> snapshot p95 {p95:.3f} s")
        print(f"[{ok[burst_pushes == 1]}] {n} writes in about 1 s -> {burst_pushes} push(es)")
        print(
            f"[{ok[idle_pct < 1.0]}] idle CPU {idle_pct:.2f}% of one core over "
            f"{args.idle:g} s{' (--follow)' if args.follow else ''}"
        )
        print(f"[{ok[code == 0]}] SIGTERM exit code {code}")
        print(f"overall: {ok[fig['all_pass']]}")
    return 0 if fig["all_pass"] else 1


if __name__ == "__main__":
    sys.exit(main())
