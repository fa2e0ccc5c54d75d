#!/usr/bin/env python3
"""Local end-to-end benchmark of statesync: push, no-change push, 1% push, pull.

    .venv/bin/python bench/bench_local.py --size 1GiB --files 2000 --big-file 512MiB \
        --workdir /tmp/ssbench [--json] [--seed 1] [--profile push]

What it does (all figures come from this run; nothing is hard-coded):

1. Generates a reproducible (seeded) dataset under WORKDIR/data: FILES files
   totalling SIZE bytes in nested folders; about 60% of the bytes are random
   (incompressible) binaries, about 40% JSON documents shaped like agent/app
   state (config, tasks with steps, logs, memory, metrics), 1 KiB .. a few MiB
   each; optionally one random file of --big-file bytes, counted inside SIZE.
2. Runs every phase in a fresh child process (peak RSS is per phase: the
   child's own high-water mark ``VmHWM`` from /proc/self/status, cross-checked
   by psutil polling from the parent; ``ru_maxrss`` is not used because Linux
   carries the parent's peak across fork+exec into it) against a fresh
   ``file://`` store in WORKDIR/store and a fresh XDG_CACHE_HOME (WORKDIR/xdg-cache):
     init; (a) full push; (b) push with nothing changed; (c) push after
     changing 1% of the files (one JSON value / a few bytes mid-file);
     (d) pull into an empty folder; (e) hash-compare pulled vs source;
     (f) which cloud SDK modules ``import statesync.cli``, ``statesync --help``
     and CLI init/push/pull on a local store import.
3. Prints the machine, a table of figures and the targets with PASS/FAIL
   (``--json``: one JSON object on stdout instead). Exit code 0 if every
   target passes, 1 if any fails, 2 if a phase crashed.

Phase seconds are measured inside the child around ``Store.open`` plus the
operation (interpreter start-up and imports are reported separately), with
the CPU seconds of the same span and the CPU that every other process used
meanwhile (a shared machine perturbs wall times; MB per CPU-second less so).
``--src-rev REV`` benches a committed revision of src/ (exported into the
workdir) instead of a working tree that others may be editing.
MB/s is 10^6 bytes of dataset per second. Files are read from a warm page
cache (they were just written), so push figures exclude cold-disk reads.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import platform
import random
import re
import shutil
import subprocess
import sys
import time
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

MiB = 1024 * 1024
KiB = 1024
SDK_ROOTS = ("boto3", "botocore", "azure", "google")
MARKER = "SSBENCH-RESULT:"
SDK_MARKER = "SSBENCH-SDK:"
WORKDIR_TAG = ".ssbench"
RSS_LIMIT = 200 * MiB
REPO = Path(__file__).resolve().parent.parent


# --------------------------------------------------------------------------- sizes


def as_installed(src: str | Path) -> str:
    """Compile the bytecode of the statesync tree ``src`` (as ``pip install`` does); return it.

    An installed statesync starts from its ``.pyc`` files. A bare source tree on a
    machine where ``PYTHONDONTWRITEBYTECODE`` is set (this one is) compiles its
    ~100 modules again in every run: about 0.25 s of CPU per command, which the
    benches would otherwise count against statesync and no user pays.
    """
    import compileall

    compileall.compile_dir(str(src), quiet=2, workers=0)
    return str(src)


def parse_size(text: str) -> int:
    m = re.fullmatch(r"\s*([0-9]+(?:\.[0-9]+)?)\s*([KMGT]?i?B?)?\s*", text, re.IGNORECASE)
    if not m:
        raise argparse.ArgumentTypeError(f"not a size: {text!r} (e.g. 512MiB, 1GiB, 4096)")
    num = float(m.group(1))
    unit = (m.group(2) or "").upper().rstrip("B").rstrip("I")
    mult = {"": 1, "K": KiB, "M": MiB, "G": 1024 * MiB, "T": 1024 * 1024 * MiB}[unit]
    return int(num * mult)


def fmt_bytes(n: float) -> str:
    for unit, div in (("GiB", 1024 * MiB), ("MiB", MiB), ("KiB", KiB)):
        if abs(n) >= div:
            return f"{n / div:.2f} {unit}"
    return f"{int(n)} B"


def dataset_line(ds: dict[str, Any]) -> str:
    """The one-line description of a generated dataset every benchmark prints."""
    big = ds.get("big_file_bytes") or 0
    return (
        f"dataset: {ds['files']} files in {ds['folders']} folders, {fmt_bytes(ds['bytes'])} "
        f"({ds['bytes']} B): {ds['json_files']} JSON {fmt_bytes(ds['json_bytes'])}, "
        f"{ds['binary_files']} random {fmt_bytes(ds['binary_bytes'])}"
        + (f", 1 big random {fmt_bytes(big)}" if big else "")
        + f"; generated in {ds['generate_seconds']:.1f} s; fingerprint {ds['fingerprint']}"
    )


def report(fig: dict[str, Any], as_json: bool, render: Callable[[dict[str, Any]], str]) -> int:
    """Print the figures (one JSON object, or the rendered report); 0 if every target passed."""
    print(json.dumps(fig, indent=None, sort_keys=True) if as_json else render(fig))
    return 0 if fig["all_pass"] else 1


def log(msg: str) -> None:
    print(f"[bench] {msg}", file=sys.stderr, flush=True)


# --------------------------------------------------------------------------- dataset

_SYLLABLES = (
    "ka",
    "lo",
    "mi",
    "ne",
    "ru",
    "sa",
    "ti",
    "vo",
    "zen",
    "dar",
    "pel",
    "qua",
    "bri",
    "st",
    "or",
    "ex",
    "an",
    "ul",
    "fi",
    "go",
    "he",
    "jo",
    "wy",
    "cy",
)
_STATUSES = ("pending", "running", "blocked", "done", "failed", "cancelled")
_LEVELS = ("DEBUG", "INFO", "INFO", "INFO", "WARNING", "ERROR")
_COMPONENTS = (
    "planner",
    "executor",
    "retriever",
    "memory",
    "tool.http",
    "tool.shell",
    "tool.python",
    "scheduler",
    "critic",
)
_TOOLS = ("http_get", "shell", "python", "search", "read_file", "write_file", "sql")
_TOP = ("agents", "sessions", "cache", "artifacts", "data", "logs", "models", "workspace")
_BIN_EXT = (".bin", ".npy", ".pkl", ".db", ".parquet", ".idx", ".pt")
BASE_TS = 1_700_000_000  # fixed epoch: contents never depend on the clock


def _vocab(rng: random.Random, n: int = 600) -> list[str]:
    return ["".join(rng.choice(_SYLLABLES) for _ in range(rng.randint(1, 4))) for _ in range(n)]


VOCAB = _vocab(random.Random("statesync-bench-vocab"))


def _ri(rng: random.Random, lo: int, hi: int) -> int:
    """randint(lo, hi) without randrange's overhead (the generator's hot spot)."""
    return lo + int(rng.random() * (hi - lo + 1))


def _pick(rng: random.Random, seq: tuple[Any, ...] | list[Any]) -> Any:
    return seq[int(rng.random() * len(seq))]


def _words(rng: random.Random, lo: int, hi: int) -> str:
    return " ".join(rng.choices(VOCAB, k=_ri(rng, lo, hi)))


_TS = [time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(BASE_TS + 2111 * k)) for k in range(4096)]


def _ts(rng: random.Random) -> str:
    return f"{_pick(rng, _TS)}.{_ri(rng, 0, 999):03d}Z"


def _task(rng: random.Random, i: int) -> dict[str, Any]:
    return {
        "id": f"task-{i:06d}",
        "title": _words(rng, 3, 9),
        "status": _pick(rng, _STATUSES),
        "priority": _ri(rng, 0, 4),
        "assignee": f"agent-{_ri(rng, 0, 99):02d}",
        "tags": rng.choices(VOCAB[:40], k=_ri(rng, 0, 4)),
        "created_at": _ts(rng),
        "updated_at": _ts(rng),
        "attempts": _ri(rng, 0, 5),
        "depends_on": [f"task-{_ri(rng, 0, max(i, 1)):06d}" for _ in range(_ri(rng, 0, 2))],
        "steps": [
            {
                "n": s,
                "tool": _pick(rng, _TOOLS),
                "args": {"target": _words(rng, 1, 3), "timeout_s": _pick(rng, (5, 10, 30, 60))},
                "ok": rng.random() > 0.1,
                "duration_ms": _ri(rng, 1, 20000),
                "output": _words(rng, 0, 25),
            }
            for s in range(_ri(rng, 0, 4))
        ],
    }


def _log(rng: random.Random) -> dict[str, Any]:
    return {
        "ts": _ts(rng),
        "level": _pick(rng, _LEVELS),
        "component": _pick(rng, _COMPONENTS),
        "msg": _words(rng, 4, 18),
        "ctx": {
            "request_id": f"{rng.getrandbits(64):016x}",
            "latency_ms": _ri(rng, 0, 5000),
            "retry": _ri(rng, 0, 3),
        },
    }


def _dump(doc: dict[str, Any], pretty: bool) -> bytes:
    """Compact JSON, or the common "one record per line" layout (top-level keys and list
    items on their own lines), built with the C encoder: ``indent=`` is pure Python
    and made generating the dataset several times slower."""
    if not pretty:
        return json.dumps(doc, separators=(",", ":")).encode()
    enc = json.dumps
    parts = []
    for k, v in doc.items():
        if isinstance(v, list) and v:
            body = ",\n    ".join(enc(x) for x in v)
            parts.append(f"  {enc(k)}: [\n    {body}\n  ]")
        else:
            parts.append(f"  {enc(k)}: {enc(v)}")
    return ("{\n" + ",\n".join(parts) + "\n}\n").encode()


def make_json(rng: random.Random, target: int, pretty: bool) -> bytes:
    """A JSON state document of roughly ``target`` bytes."""
    doc: dict[str, Any] = {
        "schema": "agent-state/v3",
        "agent_id": f"agent-{rng.randint(0, 99):02d}",
        "session_id": f"{rng.getrandbits(128):032x}",
        "updated_at": _ts(rng),
        "config": {
            "model": rng.choice(["m-small", "m-medium", "m-large"]),
            "temperature": round(rng.random(), 3),
            "max_steps": rng.choice([16, 32, 64, 128]),
            "tools": rng.sample(_TOOLS, 4),
            "limits": {"max_tokens": rng.choice([1024, 4096, 8192]), "budget_usd": 5.0},
        },
        "memory": {
            "summary": _words(rng, 10, 60),
            "facts": [_words(rng, 3, 12) for _ in range(rng.randint(0, 8))],
        },
        "metrics": {
            "steps": rng.randint(0, 10_000),
            "tokens_in": rng.randint(0, 10**7),
            "tokens_out": rng.randint(0, 10**6),
            "errors": rng.randint(0, 50),
        },
        "tasks": [],
        "logs": [],
    }
    base = len(_dump(doc, pretty))
    factor = 1.1 if pretty else 1.0  # ", " and ": " separators and line breaks
    est = base
    i = 0
    while est < target:
        if rng.random() < 0.45:
            item = _task(rng, i)
            doc["tasks"].append(item)
        else:
            item = _log(rng)
            doc["logs"].append(item)
        est += int(len(json.dumps(item, separators=(",", ":"))) * factor) + 2
        i += 1
    return _dump(doc, pretty)


def _sizes(rng: random.Random, count: int, total: int, lo: int, hi: int) -> list[int]:
    """``count`` lognormal sizes in [lo, hi] summing to about ``total``."""
    if count <= 0:
        return []
    mean = total / count
    hi = max(hi, int(mean * 2))
    lo = min(lo, max(1, int(mean)))
    raw = [rng.lognormvariate(0.0, 1.3) for _ in range(count)]
    sizes = [float(x) for x in raw]
    for _ in range(30):
        scale = total / sum(sizes)
        sizes = [min(hi, max(lo, s * scale)) for s in sizes]
        if abs(sum(sizes) - total) < max(1, total * 1e-4):
            break
    return [max(1, int(s)) for s in sizes]


def _dirs(rng: random.Random, n: int) -> list[str]:
    out = []
    for i in range(n):
        depth = rng.randint(1, 4)
        parts = [rng.choice(_TOP)]
        for d in range(1, depth):
            stem = parts[0][:-1] if parts[0].endswith("s") else parts[0]
            parts.append(
                f"{rng.choice(VOCAB[:60])}-{rng.randint(0, 30):02d}"
                if d > 1
                else f"{stem}-{i % 97:02d}"
            )
        out.append("/".join(parts))
    return sorted(set(out))


def _random_bytes(rng: random.Random, n: int, fh: Any, h: Any) -> None:
    left = n
    while left:
        k = min(left, 8 * MiB)
        block = rng.randbytes(k)
        fh.write(block)
        h.update(block)
        left -= k


def _write_json(job: tuple[str, str, int, bool, str]) -> tuple[str, int, bytes]:
    root, rel, target, pretty, key = job
    data = make_json(random.Random(key), target, pretty)
    path = Path(root) / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return rel, len(data), hashlib.sha256(data).digest()


def _write_random(job: tuple[str, str, int, str]) -> tuple[str, int, bytes]:
    root, rel, n, key = job
    path = Path(root) / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    h = hashlib.sha256()
    with open(path, "wb") as fh:
        _random_bytes(random.Random(key), n, fh, h)
    return rel, n, h.digest()


def generate(root: Path, size: int, files: int, big: int, seed: int) -> dict[str, Any]:
    """Write the dataset; return its description (paths by kind, bytes, fingerprint)."""
    if big > size:
        raise SystemExit(f"--big-file ({fmt_bytes(big)}) exceeds --size ({fmt_bytes(size)})")
    rng = random.Random(f"statesync-bench:{seed}:{size}:{files}:{big}")
    n_small = files - (1 if big else 0)
    if n_small < 1 and size - big > 0:
        raise SystemExit("--files must leave at least one file besides the big one")
    rest = size - big
    # ~60% of SIZE is random bytes (the big file included), the rest JSON.
    json_bytes = size - max(int(size * 0.6), big) if n_small else 0
    bin_bytes = rest - json_bytes
    n_json = round(n_small * json_bytes / rest) if rest else 0
    n_json = min(max(n_json, 1 if json_bytes else 0), n_small - (1 if bin_bytes else 0))
    n_bin = n_small - n_json
    dirs = _dirs(rng, max(3, files // 12))
    t0 = time.perf_counter()
    fingerprint = hashlib.sha256()
    pretty: dict[str, bool] = {}
    json_jobs = []
    for k, target in enumerate(_sizes(rng, n_json, json_bytes, KiB, 4 * MiB)):
        d = rng.choice(dirs)
        rel = f"{d}/{rng.choice(['state', 'session', 'tasks', 'memory', 'run'])}-{k:05d}.json"
        pretty[rel] = rng.random() < 0.7
        json_jobs.append((str(root), rel, target, pretty[rel], f"{seed}:json:{k}"))
    # Every file has its own seed, so writing them in parallel is still reproducible.
    with ProcessPoolExecutor(max_workers=os.cpu_count() or 1) as pool:
        json_done = list(pool.map(_write_json, json_jobs, chunksize=8))
        written_json = sum(n for _, n, _ in json_done)
        # Binaries absorb the difference so the total is exactly SIZE.
        bin_total = max(0, size - big - written_json)
        bin_sizes = _sizes(rng, n_bin, bin_total, KiB, 4 * MiB)
        if bin_sizes:
            bin_sizes[-1] = max(1, bin_sizes[-1] + bin_total - sum(bin_sizes))
        bin_jobs = [
            (
                str(root),
                f"{rng.choice(dirs)}/blob-{k:05d}{rng.choice(_BIN_EXT)}",
                n,
                f"{seed}:bin:{k}",
            )
            for k, n in enumerate(bin_sizes)
        ]
        if big:
            bin_jobs.append((str(root), "models/checkpoint-final.bin", big, f"{seed}:big"))
        bin_done = list(pool.map(_write_random, bin_jobs))
    for rel, _, digest in json_done + bin_done:
        fingerprint.update(rel.encode() + b"\0" + digest)
    json_paths = [rel for rel, _, _ in json_done]
    bin_paths = [rel for rel, _, _ in bin_done]
    written_bin = sum(n for _, n, _ in bin_done) - big
    return {
        "files": len(json_paths) + len(bin_paths),
        "bytes": written_json + written_bin + big,
        "json_files": len(json_paths),
        "json_bytes": written_json,
        "binary_files": len(bin_paths) - (1 if big else 0),
        "binary_bytes": written_bin,
        "big_file_bytes": big,
        "folders": len({str(Path(p).parent) for p in json_paths + bin_paths}),
        "generate_seconds": round(time.perf_counter() - t0, 2),
        "fingerprint": fingerprint.hexdigest()[:16],
        "_json_paths": json_paths,
        "_bin_paths": bin_paths,
        "_pretty": pretty,
    }


def change_files(root: Path, ds: dict[str, Any], pct: float, seed: int) -> dict[str, Any]:
    """Modify ``pct``% of the files in place: one JSON value, or 16 bytes mid-file."""
    rng = random.Random(f"statesync-bench-change:{seed}")
    paths = sorted(ds["_json_paths"] + ds["_bin_paths"])
    k = max(1, round(len(paths) * pct / 100))
    chosen = sorted(rng.sample(paths, k))
    json_n = bin_n = 0
    changed_bytes = 0
    for rel in chosen:
        path = root / rel
        if rel.endswith(".json"):
            doc = json.loads(path.read_bytes())
            if doc["tasks"]:
                task = doc["tasks"][len(doc["tasks"]) // 2]
                task["status"] = "done" if task["status"] != "done" else "failed"
            else:
                doc["updated_at"] = "2099-01-01T00:00:00.000Z"
            path.write_bytes(_dump(doc, ds["_pretty"][rel]))
            json_n += 1
        else:
            size = path.stat().st_size
            with open(path, "r+b") as fh:
                fh.seek(max(0, size // 2 - 8))
                fh.write(rng.randbytes(min(16, size)))
            bin_n += 1
        changed_bytes += path.stat().st_size
    return {
        "files": k,
        "json_files": json_n,
        "binary_files": bin_n,
        "bytes_of_changed_files": changed_bytes,
        "big_file_changed": any(p.startswith("models/checkpoint-final") for p in chosen),
    }


def tree_digests(root: Path) -> dict[str, str]:
    """rel path -> sha256 for every file under ``root`` (the .statesync record excluded)."""
    out: dict[str, str] = {}
    for dirpath, dirnames, filenames in os.walk(root):
        if os.path.samefile(dirpath, root):
            dirnames[:] = [d for d in dirnames if d != ".statesync"]
        for name in filenames:
            p = os.path.join(dirpath, name)
            rel = os.path.relpath(p, root).replace(os.sep, "/")
            if os.path.islink(p):
                out[rel] = "link:" + os.readlink(p)
                continue
            h = hashlib.sha256()
            with open(p, "rb") as fh:
                while block := fh.read(4 * MiB):
                    h.update(block)
            out[rel] = h.hexdigest()
    return out


# --------------------------------------------------------------------------- child phases


def vm_hwm() -> int:
    """Peak RSS of this process image (``VmHWM``, reset by exec), in bytes."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) * 1024
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


def child_main(spec: dict[str, Any]) -> None:
    """Run one phase in this (fresh) process and print its figures as one line."""
    import resource

    t0 = time.perf_counter()
    from statesync.api import Store

    t_import = time.perf_counter() - t0
    op = spec["op"]
    prof = None
    if spec.get("profile"):
        import cProfile

        prof = cProfile.Profile()
        prof.enable()
    t1, c1 = time.perf_counter(), time.process_time()
    out: dict[str, Any] = {}
    if op == "init":
        Store.init(spec["url"]).close()
    elif op == "push":
        with Store.open(spec["url"]) as store:
            r = store.push(spec["folder"], spec["env"], message=spec.get("message", ""))
        out = {
            "uploaded_bytes": r.uploaded_bytes,
            "reused_bytes": r.reused_bytes,
            "files": r.files,
            "changed": r.changed,
            "snapshot": r.snapshot,
        }
    elif op == "pull":
        with Store.open(spec["url"]) as store:
            p = store.pull(spec["folder"], spec["env"])
        out = {
            "downloaded_bytes": p.downloaded_bytes,
            "files": p.files,
            "reused_files": p.reused_files,
            "snapshot": p.snapshot,
        }
    else:
        raise SystemExit(f"unknown op {op}")
    seconds, op_cpu = time.perf_counter() - t1, time.process_time() - c1
    if prof is not None:
        prof.disable()
        prof.dump_stats(spec["profile"])
    ru = resource.getrusage(resource.RUSAGE_SELF)
    out.update(
        {
            "seconds": seconds,
            "op_cpu_seconds": op_cpu,
            "import_seconds": t_import,
            "maxrss_bytes": vm_hwm(),
            # ru_maxrss survives exec on Linux: it starts at the parent's peak, so it is
            # only an upper bound here; VmHWM is this address space's own peak.
            "ru_maxrss_bytes": ru.ru_maxrss * 1024,
            "cpu_seconds": ru.ru_utime + ru.ru_stime,
            "sdk_modules": sorted(m for m in sys.modules if m.split(".")[0] in SDK_ROOTS),
            "statesync_file": sys.modules["statesync"].__file__,
        }
    )
    print(MARKER + json.dumps(out), flush=True)


def run_phase(spec: dict[str, Any], env: dict[str, str], cwd: Path) -> dict[str, Any]:
    """Run ``spec`` in a fresh interpreter; poll its RSS with psutil as a cross-check."""
    import psutil

    cmd = [sys.executable, str(Path(__file__).resolve()), "--child", json.dumps(spec)]
    cpu0, load0 = _busy(), os.getloadavg()[0]
    t0 = time.perf_counter()
    proc = subprocess.Popen(
        cmd, env=env, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    peak = 0
    try:
        ps = psutil.Process(proc.pid)
        while proc.poll() is None:
            try:
                peak = max(peak, ps.memory_info().rss)
            except (psutil.NoSuchProcess, psutil.ZombieProcess):
                break
            time.sleep(0.01)
    except psutil.NoSuchProcess:
        pass
    stdout, stderr = proc.communicate()
    wall = time.perf_counter() - t0
    lines = [ln for ln in stdout.splitlines() if ln.startswith(MARKER)]
    if proc.returncode != 0 or not lines:
        raise PhaseError(
            f"phase {spec['op']} failed (exit {proc.returncode}):\n{stderr.strip()[-3000:]}"
        )
    res: dict[str, Any] = json.loads(lines[-1][len(MARKER) :])
    res["process_wall_seconds"] = wall
    # CPU time the rest of the machine used meanwhile (other jobs perturb timings).
    res["other_cpu_seconds"] = max(0.0, _busy() - cpu0 - res["cpu_seconds"])
    res["loadavg_1m"] = [round(load0, 2), round(os.getloadavg()[0], 2)]
    res["psutil_peak_rss_bytes"] = peak
    return res


def _busy() -> float:
    """Machine-wide busy CPU seconds so far (all cores)."""
    import psutil

    c = psutil.cpu_times()
    return float(
        c.user
        + c.nice
        + c.system
        + getattr(c, "irq", 0.0)
        + getattr(c, "softirq", 0.0)
        + getattr(c, "steal", 0.0)
    )


class PhaseError(RuntimeError):
    """A benchmark phase failed or hung (the bench exits 2)."""


_SDK_PRELUDE = (
    "import atexit, json, sys\n"
    "atexit.register(lambda: print(" + repr(SDK_MARKER) + " + json.dumps(sorted("
    "m for m in sys.modules if m.split('.')[0] in " + repr(SDK_ROOTS) + ")), flush=True))\n"
)


def sdk_check(name: str, body: str, env: dict[str, str], cwd: Path) -> dict[str, Any]:
    """Run ``body`` after a prelude that prints the imported cloud SDK modules at exit."""
    t0 = time.perf_counter()
    proc = subprocess.run(
        [sys.executable, "-c", _SDK_PRELUDE + body],
        env=env,
        cwd=cwd,
        capture_output=True,
        text=True,
    )
    wall = time.perf_counter() - t0
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith(SDK_MARKER)]
    if not lines:
        return {
            "check": name,
            "exit": proc.returncode,
            "modules": None,
            "seconds": wall,
            "error": proc.stderr.strip()[-500:],
        }
    return {
        "check": name,
        "exit": proc.returncode,
        "seconds": wall,
        "modules": json.loads(lines[-1][len(SDK_MARKER) :]),
    }


def cli_body(argv: list[str]) -> str:
    """Run the installed ``statesync`` console script (or the module's main) with ``argv``."""
    script = Path(sys.executable).parent / "statesync"
    if script.is_file():
        return (
            f"import runpy; sys.argv = {[str(script), *argv]!r}\n"
            f"runpy.run_path({str(script)!r}, run_name='__main__')\n"
        )
    return (
        f"sys.argv = {['statesync', *argv]!r}\nfrom statesync.cli import main; sys.exit(main())\n"
    )


# --------------------------------------------------------------------------- report


def machine_info() -> dict[str, Any]:
    import psutil

    cpu = platform.processor() or ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    versions = {}
    for mod in ("statesync", "pyfastcdc", "zstandard"):
        try:
            from importlib.metadata import version

            versions[mod] = version(mod)
        except Exception:
            versions[mod] = "?"
    commit = "?"
    try:
        commit = subprocess.run(
            ["git", "-C", str(REPO), "rev-parse", "--short", "HEAD"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "-C", str(REPO), "status", "--porcelain", "--", "src"],
            capture_output=True,
            text=True,
        ).stdout.strip()
        commit += " (src modified)" if dirty else ""
    except (OSError, subprocess.CalledProcessError):
        pass
    return {
        "logical_cores": os.cpu_count(),
        "physical_cores": psutil.cpu_count(logical=False),
        "cpu": cpu,
        "memory_bytes": psutil.virtual_memory().total,
        "python": platform.python_version(),
        "platform": platform.platform(),
        "versions": versions,
        "git": commit,
    }


def _mbs(nbytes: int, seconds: float) -> float:
    return nbytes / seconds / 1e6 if seconds > 0 else float("inf")


def targets(fig: dict[str, Any]) -> list[dict[str, Any]]:
    ph = fig["phases"]
    ds = fig["dataset"]["bytes"]
    out = []

    def add(name: str, ok: bool, got: str) -> None:
        out.append({"target": name, "pass": bool(ok), "measured": got})

    add(
        "no-change push uploads 0 bytes",
        ph["nochange_push"]["uploaded_bytes"] == 0,
        f"{ph['nochange_push']['uploaded_bytes']} B",
    )
    inc = ph["incremental_push"]["uploaded_bytes"]
    add(
        "1% change uploads <= 2% of dataset bytes",
        inc <= 0.02 * ds,
        f"{100 * inc / ds:.3f}% ({fmt_bytes(inc)})",
    )
    for key, label in (
        ("full_push", "full push"),
        ("nochange_push", "no-change push"),
        ("incremental_push", "1% push"),
        ("pull", "pull"),
    ):
        rss = ph[key]["maxrss_bytes"]
        add(f"peak RSS < 200 MiB: {label}", rss < RSS_LIMIT, fmt_bytes(rss))
    add("pulled folder equals source (sha256)", fig["compare"]["equal"], fig["compare"]["summary"])
    bad = {c["check"]: c["modules"] for c in fig["sdk_imports"] if c["modules"] != []}
    add(
        "no cloud SDK imported (CLI import/--help/init/push/pull, API phases)",
        not bad,
        "none" if not bad else json.dumps(bad),
    )
    return out


def render(fig: dict[str, Any]) -> str:
    m = fig["machine"]
    ds = fig["dataset"]
    ph = fig["phases"]
    lines = [
        "statesync local benchmark",
        f"machine: {m['logical_cores']} logical / {m['physical_cores']} physical cores, "
        f"{m['cpu']}, {fmt_bytes(m['memory_bytes'])} RAM",
        f"python {m['python']} on {m['platform']}; statesync {m['versions']['statesync']}, "
        f"pyfastcdc {m['versions']['pyfastcdc']}, "
        f"zstandard {m['versions']['zstandard']}",
        f"repo HEAD {m['git']}; benched source: {fig['source']}; "
        f"children imported {', '.join(fig['source_used'])}",
        f"args: {fig['args']}",
        dataset_line(ds),
        f"change set: {fig['change']['files']} files ({fig['change']['json_files']} JSON, "
        f"{fig['change']['binary_files']} binary; big file changed: "
        f"{fig['change']['big_file_changed']}), "
        f"{fmt_bytes(fig['change']['bytes_of_changed_files'])} in those files",
        "",
        f"{'phase':<18}{'seconds':>9}{'MB/s':>9}{'CPU s':>7}{'MB/CPU-s':>10}{'uploaded':>12}"
        f"{'upl % ds':>10}{'reused':>12}{'peak RSS':>11}{'start s':>9}{'others CPU s':>14}",
    ]
    for key, label in (
        ("init", "init"),
        ("full_push", "(a) full push"),
        ("nochange_push", "(b) no-change push"),
        ("incremental_push", "(c) 1% push"),
        ("pull", "(d) pull"),
    ):
        r = ph[key]
        moved = r.get("uploaded_bytes", r.get("downloaded_bytes"))
        scans = key in ("full_push", "pull", "nochange_push")
        rate = f"{_mbs(ds['bytes'], r['seconds']):.1f}" if scans else "-"
        cpu_rate = f"{_mbs(ds['bytes'], r['op_cpu_seconds']):.1f}" if scans else "-"
        up = "-" if moved is None else fmt_bytes(moved)
        pct = "-" if "uploaded_bytes" not in r else f"{100 * r['uploaded_bytes'] / ds['bytes']:.3f}"
        reused = fmt_bytes(r["reused_bytes"]) if "reused_bytes" in r else "-"
        lines.append(
            f"{label:<18}{r['seconds']:>9.2f}{rate:>9}{r['op_cpu_seconds']:>7.1f}"
            f"{cpu_rate:>10}{up:>12}{pct:>10}{reused:>12}"
            f"{fmt_bytes(r['maxrss_bytes']):>11}"
            f"{r['import_seconds']:>9.2f}{r['other_cpu_seconds']:>14.1f}"
        )
    lines += [
        "  (seconds: Store.open + operation inside a fresh child; MB/s: dataset bytes / seconds;",
        "   pull 'uploaded' column = stored bytes read; start s = importing statesync;",
        "   CPU s = the child's user+sys CPU over the same span, all threads;",
        "   MB/CPU-s = dataset bytes per CPU second, less sensitive to a busy machine;",
        "   others CPU s = CPU used meanwhile by every other process on the machine",
        "   (non-zero means the timings were perturbed);",
        "   1-min load average at phase start/end: "
        + ", ".join(f"{k} {v['loadavg_1m'][0]}/{v['loadavg_1m'][1]}" for k, v in ph.items())
        + ";",
        "   peak RSS: child's VmHWM; psutil poll peaks: "
        + ", ".join(f"{k} {fmt_bytes(v['psutil_peak_rss_bytes'])}" for k, v in ph.items())
        + ")",
        f"(e) pulled vs source: {fig['compare']['summary']}",
        "(f) cloud SDK modules imported:",
    ]
    for c in fig["sdk_imports"]:
        mods = "none" if c["modules"] == [] else (c["modules"] or f"ERROR {c.get('error')}")
        lines.append(f"    {c['check']:<38} exit {c['exit']}  {c['seconds']:.2f} s  {mods}")
    lines += ["", "targets:"]
    for t in fig["targets"]:
        lines.append(f"  [{'PASS' if t['pass'] else 'FAIL'}] {t['target']}: {t['measured']}")
    lines.append(f"overall: {'PASS' if fig['all_pass'] else 'FAIL'}")
    return "\n".join(lines)


# --------------------------------------------------------------------------- main


def prepare_workdir(work: Path) -> None:
    if work.exists() and any(work.iterdir()) and not (work / WORKDIR_TAG).exists():
        raise SystemExit(
            f"{work} exists, is not empty and is not a bench workdir; refusing to clear it"
        )
    if work.exists():
        for child in work.iterdir():
            if child.is_dir() and not child.is_symlink():
                shutil.rmtree(child)
            else:
                child.unlink()
    work.mkdir(parents=True, exist_ok=True)
    (work / WORKDIR_TAG).write_text("statesync bench workdir; cleared on every run\n")


def run(args: argparse.Namespace) -> dict[str, Any]:
    work = Path(args.workdir).resolve()
    prepare_workdir(work)
    data, store, pulled = work / "data", work / "store", work / "pulled"
    url = "file://" + str(store)
    env = {k: v for k, v in os.environ.items() if not k.startswith("STATESYNC_")}
    env.update(
        {
            "XDG_CACHE_HOME": str(work / "xdg-cache"),
            "XDG_DATA_HOME": str(work / "xdg-data"),
            "XDG_CONFIG_HOME": str(work / "xdg-config"),
        }
    )
    source = "working tree " + as_installed(REPO / "src")
    if args.src_rev:
        snap = work / "src-snapshot"
        snap.mkdir()
        rev = subprocess.run(
            ["git", "-C", str(REPO), "rev-parse", "--short", args.src_rev],
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        archive = subprocess.run(
            ["git", "-C", str(REPO), "archive", rev, "src"], capture_output=True, check=True
        ).stdout
        subprocess.run(["tar", "-x", "-C", str(snap)], input=archive, check=True)
        env["PYTHONPATH"] = as_installed(snap / "src")
        source = f"git {rev} (exported to {snap / 'src'})"
    fig: dict[str, Any] = {
        "machine": machine_info(),
        "source": source,
        "args": {
            "size": args.size,
            "files": args.files,
            "big_file": args.big_file,
            "seed": args.seed,
            "change_pct": args.change_pct,
            "workdir": str(work),
        },
    }
    log(f"generating {fmt_bytes(args.size)} in {args.files} files under {data}")
    ds = generate(data, args.size, args.files, args.big_file, args.seed)
    fig["dataset"] = {k: v for k, v in ds.items() if not k.startswith("_")}
    phases: dict[str, Any] = {}
    prof_dir = work / "profiles"

    def phase(key: str, spec: dict[str, Any]) -> dict[str, Any]:
        if args.profile and key in args.profile:
            prof_dir.mkdir(exist_ok=True)
            spec = {**spec, "profile": str(prof_dir / f"{key}.pstats")}
        log(f"phase {key} ...")
        phases[key] = run_phase(spec, env, work)
        r = phases[key]
        log(
            f"  {r['seconds']:.2f} s, RSS {fmt_bytes(r['maxrss_bytes'])}"
            + (f", uploaded {fmt_bytes(r['uploaded_bytes'])}" if "uploaded_bytes" in r else "")
        )
        return phases[key]

    phase("init", {"op": "init", "url": url})
    phase(
        "full_push",
        {"op": "push", "url": url, "folder": str(data), "env": "bench", "message": "full"},
    )
    phase(
        "nochange_push",
        {
            "op": "push",
            "url": url,
            "folder": str(data),
            "env": "bench",
            "message": "nothing changed",
        },
    )
    fig["change"] = change_files(data, ds, args.change_pct, args.seed)
    phase(
        "incremental_push",
        {"op": "push", "url": url, "folder": str(data), "env": "bench", "message": "1% changed"},
    )
    pulled.mkdir()
    phase("pull", {"op": "pull", "url": url, "folder": str(pulled), "env": "bench"})
    fig["phases"] = phases
    used = {r["statesync_file"] for r in phases.values()}
    fig["source_used"] = sorted(used)

    log("comparing pulled folder with source (sha256 of every file)")
    src, dst = tree_digests(data), tree_digests(pulled)
    missing = sorted(set(src) - set(dst))
    extra = sorted(set(dst) - set(src))
    differ = sorted(p for p in set(src) & set(dst) if src[p] != dst[p])
    leftovers = sorted(p.name for p in work.iterdir() if ".statesync-" in p.name)
    equal = not (missing or extra or differ or leftovers)
    summary = (
        f"equal: {len(src)} files, every sha256 matches"
        if equal
        else f"DIFFERENT: {len(missing)} missing, {len(extra)} extra, {len(differ)} differ, "
        f"staging leftovers {leftovers} (e.g. {(missing + extra + differ)[:3]})"
    )
    fig["compare"] = {
        "equal": equal,
        "files": len(src),
        "missing": missing[:20],
        "extra": extra[:20],
        "differ": differ[:20],
        "summary": summary,
    }

    log("checking cloud SDK imports")
    tiny, tiny_store, tiny_pull = (
        work / "imports" / "tiny",
        work / "imports" / "store",
        work / "imports" / "pulled",
    )
    tiny.mkdir(parents=True)
    (tiny / "state.json").write_text(json.dumps({"a": 1, "tasks": [1, 2, 3]}) + "\n")
    (tiny / "blob.bin").write_bytes(random.Random(args.seed).randbytes(300_000))
    turl = "file://" + str(tiny_store)
    checks = [
        sdk_check("python -c 'import statesync.cli'", "import statesync.cli\n", env, work),
        sdk_check("statesync --help", cli_body(["--help"]), env, work),
        sdk_check("statesync init (file://)", cli_body(["--store", turl, "-q", "init"]), env, work),
        sdk_check(
            "statesync push (file://)",
            cli_body(["--store", turl, "-q", "push", str(tiny), "--env", "dev"]),
            env,
            work,
        ),
        sdk_check(
            "statesync pull (file://)",
            cli_body(["--store", turl, "-q", "pull", str(tiny_pull), "--env", "dev"]),
            env,
            work,
        ),
    ]
    for key, r in phases.items():
        checks.append(
            {
                "check": f"API phase {key}",
                "exit": 0,
                "seconds": r["seconds"],
                "modules": r["sdk_modules"],
            }
        )
    for c in checks[:5]:
        if c["exit"] != 0:
            c["modules"] = c["modules"] if c["modules"] else None
            c.setdefault("error", f"exit {c['exit']}")
    fig["sdk_imports"] = checks
    fig["targets"] = targets(fig)
    fig["all_pass"] = all(t["pass"] for t in fig["targets"])
    if not args.keep:
        for sub in ("data", "pulled", "store", "imports"):
            shutil.rmtree(work / sub, ignore_errors=True)
    return fig


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument(
        "--size",
        type=parse_size,
        default=parse_size("256MiB"),
        help="dataset bytes, e.g. 1GiB (default 256MiB)",
    )
    p.add_argument("--files", type=int, default=2000, help="number of files (default 2000)")
    p.add_argument(
        "--big-file",
        type=parse_size,
        default=0,
        help="also one random file of this size, counted inside --size",
    )
    p.add_argument("--workdir", default="/tmp/ssbench", help="scratch folder (cleared)")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument(
        "--change-pct",
        type=float,
        default=1.0,
        help="percent of files changed before the incremental push (default 1)",
    )
    p.add_argument("--json", action="store_true", help="print the figures as one JSON object")
    p.add_argument("--keep", action="store_true", help="keep dataset, store and pulled folder")
    p.add_argument(
        "--profile",
        action="append",
        default=[],
        choices=["full_push", "nochange_push", "incremental_push", "pull"],
        help="cProfile this phase's main thread to WORKDIR/profiles/PHASE.pstats",
    )
    p.add_argument(
        "--src-rev",
        metavar="REV",
        help="bench the src/ of this git revision (exported to WORKDIR) instead "
        "of the working tree",
    )
    p.add_argument("--child", help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.child:
        child_main(json.loads(args.child))
        return 0
    if args.files < 1 or args.size < args.files:
        p.error("need --files >= 1 and --size >= --files bytes")
    try:
        fig = run(args)
    except PhaseError as exc:
        print(f"bench: {exc}", file=sys.stderr)
        return 2
    return report(fig, args.json, render)


if __name__ == "__main__":
    sys.exit(main())
