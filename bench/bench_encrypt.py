#!/usr/bin/env python3
"""Cost of ``--encrypt all``: the same full push without and with it, on a local store.

    .venv/bin/python bench/bench_encrypt.py --size 256MiB --files 1000 \
        --workdir /tmp/ssenc [--repeat 3] [--json]

What it does (all figures come from this run; nothing is hard-coded):

1. Generates bench_local's reproducible mixed dataset (about 60% random bytes,
   40% JSON state documents) under WORKDIR/data.
2. ``--repeat`` times, alternating which goes first, a plain and an encrypted
   full push of that folder, each into a fresh ``file://`` store with fresh
   user folders (XDG_*), each in fresh child processes:
     setup child: ``Store.init``; for the encrypted run also
       ``Store.open(url).keys().init("dev", ["passphrase"])`` (Argon2id wrap);
     push child: ``Store.open``; for the encrypted run ``store.repo.keys("dev",
       None)`` once, timed on its own (the fixed Argon2id unwrap cost of a
       process; the key is cached for the push); then ``store.push(folder,
       "dev", encrypt_all=...)``, timed with its CPU seconds (all threads).
   Both push children get the same environment (STATESYNC_PASSPHRASE set).
3. Prints the runs, the medians, the overhead of ``--encrypt all`` in wall and
   in CPU seconds (push only; and with the unwrap added), and the targets with
   PASS/FAIL (``--json``: one JSON object). Exit 0 if every target passes, 1 if
   any fails, 2 if a phase crashed.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import bench_local as bl
import benchlib

SCRIPT = Path(__file__).resolve()
ENV = "dev"
PASSPHRASE = "statesync-bench-passphrase"  # a bench-only passphrase for a throwaway store
TARGET_PCT = 15.0
MODES = ("plain", "encrypted")
log = bl.log


# --------------------------------------------------------------------------- child


def child_main(spec: dict[str, Any]) -> None:
    t0 = time.perf_counter()
    from statesync.api import Store

    out: dict[str, Any] = {
        "import_seconds": time.perf_counter() - t0,
        "statesync_file": sys.modules["statesync"].__file__,
    }
    encrypted = spec["mode"] == "encrypted"
    if spec["op"] == "setup":
        Store.init(spec["url"]).close()
        if encrypted:
            t1 = time.perf_counter()
            with Store.open(spec["url"]) as store:
                store.keys().init(ENV, ["passphrase"])
            out["keys_init_seconds"] = time.perf_counter() - t1
    elif spec["op"] == "push":
        with benchlib.Span() as open_span:
            store = Store.open(spec["url"])
        out["open_seconds"] = open_span.figures["seconds"]
        try:
            if encrypted:
                with benchlib.Span() as unwrap:
                    store.repo.keys(ENV, None)
                out["unwrap_seconds"] = unwrap.figures["seconds"]
                out["unwrap_cpu_seconds"] = unwrap.figures["op_cpu_seconds"]
            with benchlib.Span() as span:
                r = store.push(spec["folder"], ENV, message=spec["mode"], encrypt_all=encrypted)
        finally:
            store.close()
        out.update(span.figures)
        out.update(
            {
                "uploaded_bytes": r.uploaded_bytes,
                "files": r.files,
                "changed": r.changed,
                "snapshot": r.snapshot,
            }
        )
    else:
        raise SystemExit(f"unknown op {spec['op']}")
    benchlib.emit(out)


# --------------------------------------------------------------------------- parent


def run(args: argparse.Namespace) -> dict[str, Any]:
    work = Path(args.workdir).resolve()
    bl.prepare_workdir(work)
    data = work / "data"
    source, extra = "working tree " + str(bl.REPO / "src"), {"STATESYNC_PASSPHRASE": PASSPHRASE}
    if args.src_rev:
        extra["PYTHONPATH"], source = benchlib.src_pythonpath(work, args.src_rev)
    fig: dict[str, Any] = {
        "machine": bl.machine_info(),
        "source": source,
        "load_at_start": benchlib.load_line(),
        "args": {
            "size": args.size,
            "files": args.files,
            "repeat": args.repeat,
            "seed": args.seed,
            "workdir": str(work),
        },
    }
    log(f"generating {bl.fmt_bytes(args.size)} in {args.files} files under {data}")
    ds = bl.generate(data, args.size, args.files, 0, args.seed)
    fig["dataset"] = {k: v for k, v in ds.items() if not k.startswith("_")}
    runs: list[dict[str, Any]] = []
    for i in range(args.repeat):
        order = MODES if i % 2 == 0 else MODES[::-1]
        for mode in order:
            tag = f"{i + 1}-{mode}"
            store = work / f"store-{tag}"
            url = "file://" + str(store)
            env = benchlib.child_env(work, tag, extra)
            shutil.rmtree(data / ".statesync", ignore_errors=True)
            log(f"run {i + 1}/{args.repeat}: {mode} push ...")
            setup = benchlib.run_child(SCRIPT, {"op": "setup", "mode": mode, "url": url}, env, work)
            r = benchlib.run_child(
                SCRIPT, {"op": "push", "mode": mode, "url": url, "folder": str(data)}, env, work
            )
            r.update(
                {
                    "run": i + 1,
                    "mode": mode,
                    "position": order.index(mode) + 1,
                    "keys_init_seconds": setup.get("keys_init_seconds"),
                }
            )
            runs.append(r)
            log(
                f"  {r['seconds']:.2f} s, CPU {r['op_cpu_seconds']:.2f} s"
                + (f", unwrap {r['unwrap_seconds']:.2f} s" if "unwrap_seconds" in r else "")
            )
            shutil.rmtree(store, ignore_errors=True)
            shutil.rmtree(work / f"xdg-{tag}", ignore_errors=True)
    fig["runs"] = runs
    fig["summary"] = summarise(runs)
    fig["load_at_end"] = benchlib.load_line()
    fig["targets"] = targets(fig["summary"])
    fig["all_pass"] = all(t["pass"] for t in fig["targets"])
    if not args.keep:
        shutil.rmtree(data, ignore_errors=True)
    return fig


def summarise(runs: list[dict[str, Any]]) -> dict[str, Any]:
    med = {
        m: {
            k: benchlib.median([float(r[k]) for r in runs if r["mode"] == m])
            for k in (
                "seconds",
                "op_cpu_seconds",
                "other_cpu_seconds",
                "uploaded_bytes",
                "maxrss_bytes",
                "open_seconds",
            )
        }
        for m in MODES
    }
    enc = [r for r in runs if r["mode"] == "encrypted"]
    unwrap = benchlib.median([r["unwrap_seconds"] for r in enc])
    unwrap_cpu = benchlib.median([r["unwrap_cpu_seconds"] for r in enc])
    p, e = med["plain"], med["encrypted"]
    return {
        "median": med,
        "unwrap_seconds": unwrap,
        "unwrap_cpu_seconds": unwrap_cpu,
        "keys_init_seconds": benchlib.median([r["keys_init_seconds"] for r in enc]),
        "overhead_wall_pct": benchlib.pct(e["seconds"], p["seconds"]),
        "overhead_cpu_pct": benchlib.pct(e["op_cpu_seconds"], p["op_cpu_seconds"]),
        "overhead_wall_with_unwrap_pct": benchlib.pct(e["seconds"] + unwrap, p["seconds"]),
        "overhead_cpu_with_unwrap_pct": benchlib.pct(
            e["op_cpu_seconds"] + unwrap_cpu, p["op_cpu_seconds"]
        ),
    }


def targets(s: dict[str, Any]) -> list[dict[str, Any]]:
    p, e = s["median"]["plain"], s["median"]["encrypted"]
    return [
        {
            "target": f"--encrypt all overhead <= {TARGET_PCT:.0f}% (CPU seconds, push)",
            "pass": s["overhead_cpu_pct"] <= TARGET_PCT,
            "measured": f"{s['overhead_cpu_pct']:+.1f}% ({e['op_cpu_seconds']:.2f} vs "
            f"{p['op_cpu_seconds']:.2f} CPU s, medians)",
        },
        {
            "target": f"--encrypt all overhead <= {TARGET_PCT:.0f}% (wall seconds, push)",
            "pass": s["overhead_wall_pct"] <= TARGET_PCT,
            "measured": f"{s['overhead_wall_pct']:+.1f}% ({e['seconds']:.2f} vs "
            f"{p['seconds']:.2f} s, medians)",
        },
    ]


def render(fig: dict[str, Any]) -> str:
    m, ds, s = fig["machine"], fig["dataset"], fig["summary"]
    lines = [
        "statesync --encrypt all benchmark (local file:// store)",
        f"machine: {m['logical_cores']} logical / {m['physical_cores']} physical cores, "
        f"{m['cpu']}, {bl.fmt_bytes(m['memory_bytes'])} RAM",
        f"python {m['python']}; statesync {m['versions']['statesync']}; repo HEAD {m['git']}; "
        f"benched source: {fig['source']}",
        f"at start: {fig['load_at_start']}",
        f"args: {fig['args']}",
        bl.dataset_line(ds),
        "",
        f"{'run':<5}{'mode':<11}{'order':>6}{'push s':>9}{'MB/s':>8}{'CPU s':>8}{'MB/CPU-s':>10}"
        f"{'unwrap s':>10}{'open s':>8}{'uploaded':>12}{'peak RSS':>11}{'others CPU':>12}",
    ]
    for r in fig["runs"]:
        unwrap = f"{r['unwrap_seconds']:.2f}" if "unwrap_seconds" in r else "-"
        lines.append(
            f"{r['run']:<5}{r['mode']:<11}{r['position']:>6}{r['seconds']:>9.2f}"
            f"{bl._mbs(ds['bytes'], r['seconds']):>8.1f}{r['op_cpu_seconds']:>8.2f}"
            f"{bl._mbs(ds['bytes'], r['op_cpu_seconds']):>10.1f}{unwrap:>10}"
            f"{r['open_seconds']:>8.2f}{bl.fmt_bytes(r['uploaded_bytes']):>12}"
            f"{bl.fmt_bytes(r['maxrss_bytes']):>11}{r['other_cpu_seconds']:>12.1f}"
        )
    p, e = s["median"]["plain"], s["median"]["encrypted"]
    lines += [
        "",
        f"medians: plain {p['seconds']:.2f} s / {p['op_cpu_seconds']:.2f} CPU s; encrypted "
        f"{e['seconds']:.2f} s / {e['op_cpu_seconds']:.2f} CPU s (push only)",
        f"Argon2id unwrap (once per process, store.repo.keys): {s['unwrap_seconds']:.2f} s, "
        f"{s['unwrap_cpu_seconds']:.2f} CPU s (median); keys init (wrap): "
        f"{s['keys_init_seconds']:.2f} s",
        f"overhead of --encrypt all, push only: wall {s['overhead_wall_pct']:+.1f}%, CPU "
        f"{s['overhead_cpu_pct']:+.1f}%",
        f"overhead with the unwrap added: wall {s['overhead_wall_with_unwrap_pct']:+.1f}%, CPU "
        f"{s['overhead_cpu_with_unwrap_pct']:+.1f}%",
        "  (push s: store.push inside a fresh child, Store.open and the unwrap excluded;",
        "   CPU s: the child's user+sys CPU over the same span, all threads; MB/s and",
        "   MB/CPU-s: dataset bytes; order: 1 = ran first in its pair; others CPU: CPU used",
        "   meanwhile by every other process on the machine; peak RSS: the child's VmHWM)",
        f"at end: {fig['load_at_end']}",
        "",
        "targets:",
    ]
    for t in fig["targets"]:
        lines.append(f"  [{'PASS' if t['pass'] else 'FAIL'}] {t['target']}: {t['measured']}")
    lines.append(f"overall: {'PASS' if fig['all_pass'] else 'FAIL'}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument(
        "--size",
        type=bl.parse_size,
        default=bl.parse_size("256MiB"),
        help="dataset bytes (default 256MiB)",
    )
    p.add_argument("--files", type=int, default=1000, help="number of files (default 1000)")
    p.add_argument(
        "--repeat", type=int, default=3, help="pairs of pushes, order alternating (default 3)"
    )
    p.add_argument("--workdir", default="/tmp/ssenc", help="scratch folder (cleared)")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--json", action="store_true", help="print the figures as one JSON object")
    p.add_argument("--keep", action="store_true", help="keep the dataset")
    p.add_argument(
        "--src-rev",
        metavar="REV",
        help="bench the src/ of this git revision instead of the working tree",
    )
    p.add_argument("--child", help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.child:
        child_main(json.loads(args.child))
        return 0
    if args.files < 1 or args.size < args.files or args.repeat < 1:
        p.error("need --files >= 1, --size >= --files bytes and --repeat >= 1")
    try:
        fig = run(args)
    except benchlib.PhaseError as exc:
        print(f"bench: {exc}", file=sys.stderr)
        return 2
    return bl.report(fig, args.json, render)


if __name__ == "__main__":
    sys.exit(main())
