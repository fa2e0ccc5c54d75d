#!/usr/bin/env python3
"""statesync against restic on the same datasets and the same store, alternating A B A B.

    set -a; source /tmp/emu/env; set +a     # for the S3 (moto) backend
    .venv/bin/python bench/bench_restic.py --workdir /tmp/ssrestic \
        [--size 64MiB --files 200] [--small-files 20000 --small-size 2KiB] \
        [--rounds 3] [--backends local,s3] [--cpu-hog 2] [--json]

What it does (all figures come from this run; nothing is hard-coded):

1. Finds restic on PATH; if it is missing it runs ``apt-get install -y restic``
   (as root, or with ``--no-install`` it skips restic clearly and exits 2).
2. Generates two reproducible datasets: bench_local's mixed one (SIZE bytes in
   FILES files, about 60% random binaries and 40% JSON state documents) and a
   small-files one (SMALL_FILES JSON documents of about SMALL_SIZE each).
3. For each backend and round, with a fresh copy of the data and fresh stores,
   runs both tools as the real command-line programs (``statesync`` of this
   checkout's ``src/`` and ``restic``), in the order A B in even rounds and B A
   in odd ones, case by case:
     full push; nothing changed; 1% of the files changed (both tools see the same
     change); restore into an empty folder (checked byte for byte against the
     source); ``--encrypt all`` full push (statesync only, into its own store:
     restic always encrypts, so it is compared with restic's full push of the
     same round); ``--include-secrets`` full push of a copy with a credential
     planted in every JSON document (each tool into a fresh store; statesync's
     snapshot then pulled, untimed, and checked byte for byte); small files:
     first push and nothing changed.
   Each command runs under GNU ``/usr/bin/time``: CPU seconds are the user+sys of
   that command and everything it waited for, peak RSS its ``ru_maxrss`` (time
   forks the command, so the bench's own memory is not carried into it).
   Store setup (``init``, key generation) is not timed.
4. Uploaded bytes: on the local store, the growth of the store folder; on S3,
   request bodies sent, counted with the requests by a forwarder
   (bench/s3count.py) that both tools talk to instead of the emulator.
5. ``--cpu-hog N`` runs N busy-loop processes beside the whole run (a busy machine).
6. Prints medians per case and tool, and the ratios statesync/restic of wall
   and CPU seconds (``--json``: one JSON object). Exit 0 when the run completed.

Both tools use their defaults otherwise (restic: compression auto, its cache
under a private XDG_CACHE_HOME; statesync: its stat cache in the folder record).
``restic`` is given ``--exclude .statesync`` so it never backs up statesync's record.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import statistics
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

sys.path.insert(0, str(Path(__file__).resolve().parent))

import bench_local as bl
from s3count import Counts, Forwarder

PASSPHRASE = "statesync-bench-passphrase"  # bench-only, for throwaway stores
ENV = "bench"
MIXED_CASES = (
    "full_push",
    "nothing_changed",
    "one_pct_changed",
    "restore",
    "encrypt_all",
    "include_secrets",
)
SMALL_CASES = ("small_first_push", "small_nothing_changed")
TIME_FMT = "%e %U %S %M"


class BenchError(Exception):
    """A command failed or restic is unavailable."""


# --------------------------------------------------------------------------- running


@dataclass
class Run:
    """Figures of one command."""

    wall: float
    cpu: float
    rss: int
    uploaded: int
    requests: int | None
    extra: dict[str, Any] = field(default_factory=dict)


def timed(cmd: list[str], env: dict[str, str], cwd: Path, timef: Path) -> tuple[float, float, int]:
    """Run ``cmd`` under GNU time; return (wall, user+sys CPU, peak RSS bytes)."""
    t0 = time.perf_counter()
    proc = subprocess.run(
        ["/usr/bin/time", "-f", TIME_FMT, "-o", str(timef), *cmd],
        env=env,
        cwd=cwd,
        capture_output=True,
        text=True,
    )
    wall = time.perf_counter() - t0
    if proc.returncode != 0:
        raise BenchError(
            f"{' '.join(cmd[:4])} ... exit {proc.returncode}: {proc.stderr.strip()[-2000:]}"
        )
    fields = timef.read_text().split()[-4:]
    return wall, float(fields[1]) + float(fields[2]), int(fields[3]) * 1024


def tree_bytes(root: Path) -> int:
    total = 0
    for dirpath, _, files in os.walk(root):
        for name in files:
            with contextlib.suppress(FileNotFoundError):
                total += os.lstat(os.path.join(dirpath, name)).st_size
    return total


class Backend:
    """Where the stores live: a local folder, or a bucket on the S3 emulator."""

    def __init__(self, name: str, work: Path, fwd: Forwarder | None, bucket: str) -> None:
        self.name, self.work, self.fwd, self.bucket = name, work, fwd, bucket

    def urls(self, tag: str) -> tuple[str, str]:
        """(statesync store URL, restic repository) for a fresh store named ``tag``."""
        if self.fwd is None:
            return str(self.work / "stores" / f"ss-{tag}"), str(self.work / "stores" / f"rs-{tag}")
        port = self.fwd.port
        return f"s3://{self.bucket}/ss-{tag}", f"s3:http://127.0.0.1:{port}/{self.bucket}/rs-{tag}"

    def measure(self, cmd: list[str], env: dict[str, str], cwd: Path, store: str) -> Run:
        before_counts = self.fwd.counts.snapshot() if self.fwd else None
        before = tree_bytes(Path(store)) if self.fwd is None else 0
        wall, cpu, rss = timed(cmd, env, cwd, self.work / "time.out")
        if self.fwd is None or before_counts is None:
            return Run(wall, cpu, rss, tree_bytes(Path(store)) - before, None)
        d = Counts.delta(before_counts, self.fwd.counts.snapshot())
        return Run(wall, cpu, rss, d["uploaded_bytes"], d["requests"], d)


class Tool:
    name = ""

    def __init__(self, work: Path, base_env: dict[str, str]) -> None:
        self.work, self.base_env = work, base_env

    def env(self, tag: str) -> dict[str, str]:
        env = dict(self.base_env)
        for var in ("XDG_CACHE_HOME", "XDG_DATA_HOME", "XDG_CONFIG_HOME", "XDG_STATE_HOME"):
            env[var] = str(self.work / f"xdg-{self.name}-{tag}" / var.split("_")[1].lower())
        return env

    def init(self, url: str, tag: str, encrypt: bool) -> None:
        """Create the store (untimed)."""
        raise NotImplementedError

    def push(self, url: str, data: Path, encrypt: bool, secrets: bool = False) -> list[str]:
        """The command that snapshots ``data`` (run with ``data`` as its working folder).

        ``secrets``: statesync keeps the secret values, sealed (``--include-secrets``);
        restic keeps every byte anyway.
        """
        raise NotImplementedError

    def restore(self, url: str, target: Path) -> list[str]:
        """The command that restores the latest snapshot into ``target``."""
        raise NotImplementedError


class Statesync(Tool):
    name = "statesync"

    def __init__(self, work: Path, base_env: dict[str, str], src: Path) -> None:
        env = {k: v for k, v in base_env.items() if not k.startswith("STATESYNC_")}
        env["PYTHONPATH"] = bl.as_installed(src)
        env["STATESYNC_PASSPHRASE"] = PASSPHRASE
        super().__init__(work, env)
        self.exe = [str(Path(sys.executable).parent / "statesync")]

    def init(self, url: str, tag: str, encrypt: bool) -> None:
        env = self.env(tag)
        subprocess.run(
            [*self.exe, "--store", url, "-q", "init"], env=env, check=True, capture_output=True
        )
        if encrypt:
            keys = [*self.exe, "--store", url, "-q", "keys", "init", ENV]
            subprocess.run(
                [*keys, "--recipient", "passphrase"], env=env, check=True, capture_output=True
            )

    def push(self, url: str, data: Path, encrypt: bool, secrets: bool = False) -> list[str]:
        extra = ["--encrypt", "all"] if encrypt else []
        extra += ["--include-secrets"] if secrets else []
        return [*self.exe, "--store", url, "-q", "push", str(data), "--env", ENV, *extra]

    def restore(self, url: str, target: Path) -> list[str]:
        return [*self.exe, "--store", url, "-q", "pull", str(target), "--env", ENV]


class Restic(Tool):
    name = "restic"

    def __init__(self, work: Path, base_env: dict[str, str], exe: str) -> None:
        env = dict(base_env)
        env["RESTIC_PASSWORD"] = PASSPHRASE
        super().__init__(work, env)
        self.exe = exe

    def init(self, repo: str, tag: str, encrypt: bool) -> None:
        subprocess.run(
            [self.exe, "-r", repo, "init", "-q"], env=self.env(tag), check=True, capture_output=True
        )

    def push(self, repo: str, data: Path, encrypt: bool, secrets: bool = False) -> list[str]:
        return [
            self.exe,
            "-r",
            repo,
            "backup",
            ".",
            "-q",
            "--host",
            "bench",
            "--exclude",
            ".statesync",
        ]

    def restore(self, repo: str, target: Path) -> list[str]:
        return [self.exe, "-r", repo, "restore", "latest", "--target", str(target), "-q"]


# --------------------------------------------------------------------------- datasets


def small_dataset(root: Path, count: int, size: int) -> dict[str, Any]:
    """``count`` JSON task documents of about ``size`` bytes each, 100 per folder."""
    import random

    rng = random.Random(f"statesync-bench-small:{count}:{size}")
    total = 0
    for i in range(count):
        path = root / f"tasks-{i // 100:03d}" / f"task-{i:05d}.json"
        path.parent.mkdir(parents=True, exist_ok=True)
        doc = bl.make_json(rng, size, True)
        path.write_bytes(doc)
        total += len(doc)
    return {"files": count, "bytes": total}


def plant_secrets(root: Path, seed: int) -> int:
    """Give every JSON document under ``root`` a credential as its first key; how many got one.

    ``{"api_key": "sk-bench-<32 hex>", ...``: a key the default secret pattern
    names, with a different random value in each document.
    """
    import random

    rng = random.Random(f"statesync-bench-secrets:{seed}")
    planted = 0
    for path in sorted(root.rglob("*.json")):
        body = path.read_bytes()
        if body.startswith(b"{") and body[1:].lstrip()[:1] == b'"':  # an object with a key
            value = f"sk-bench-{rng.getrandbits(128):032x}"
            path.write_bytes(b'{"api_key": "' + value.encode() + b'", ' + body[1:])
            planted += 1
    if not planted:
        raise BenchError(f"{root}: no JSON document to plant a secret in")
    return planted


def ensure_restic(install: bool) -> str:
    exe = shutil.which("restic")
    if exe:
        return exe
    if not install or os.geteuid() != 0 or not shutil.which("apt-get"):
        raise BenchError("restic not found on PATH (install it: apt-get install -y restic)")
    bl.log("restic not found: apt-get install -y restic")
    subprocess.run(["apt-get", "install", "-y", "-q", "restic"], check=True, capture_output=True)
    exe = shutil.which("restic")
    if not exe:
        raise BenchError("apt-get installed restic but it is not on PATH")
    return exe


# --------------------------------------------------------------------------- one round


def round_mixed(
    be: Backend, tools: list[Tool], base: Path, r: int, ds: dict[str, Any], seed: int
) -> dict[str, dict[str, Run]]:
    """All mixed-dataset cases of one round on one backend: {case: {tool: Run}}."""
    work = be.work / f"{be.name}-r{r}"
    shutil.rmtree(work, ignore_errors=True)
    data = work / "data"
    shutil.copytree(base, data, symlinks=True)
    order = tools if r % 2 == 0 else tools[::-1]
    out: dict[str, dict[str, Run]] = {c: {} for c in MIXED_CASES}
    urls = {}
    for t in tools:
        url = be.urls(f"{be.name}-r{r}")[0 if t.name == "statesync" else 1]
        t.init(url, f"{be.name}-r{r}", False)
        urls[t.name] = url
    enc_url = be.urls(f"{be.name}-r{r}-enc")[0]
    ss = tools[0] if tools[0].name == "statesync" else tools[1]
    ss.init(enc_url, f"{be.name}-r{r}-enc", True)

    def go(case: str, t: Tool, cmd: list[str], store: str, tag: str) -> None:
        run = be.measure(cmd, t.env(tag), data, store)
        out[case][t.name] = run
        bl.log(f"{be.name} r{r} {case:18} {t.name:9} {run.wall:6.2f} s  {run.cpu:6.2f} CPU s")

    tag = f"{be.name}-r{r}"
    for case in ("full_push", "nothing_changed"):
        for t in order:
            go(case, t, t.push(urls[t.name], data, False), urls[t.name], tag)
    bl.change_files(data, ds, 1.0, seed)
    for t in order:
        go("one_pct_changed", t, t.push(urls[t.name], data, False), urls[t.name], tag)
    want = bl.tree_digests(data)
    for t in order:
        target = work / f"restore-{t.name}"
        go("restore", t, t.restore(urls[t.name], target), urls[t.name], tag)
        check_restore(t.name, target, data, want)
    enc_data = work / "data-enc"
    shutil.copytree(base, enc_data, symlinks=True)
    run = be.measure(ss.push(enc_url, enc_data, True), ss.env(f"{tag}-enc"), enc_data, enc_url)
    out["encrypt_all"]["statesync"] = run
    out["encrypt_all"]["restic"] = out["full_push"]["restic"]
    bl.log(f"{be.name} r{r} encrypt_all        statesync {run.wall:6.2f} s  {run.cpu:6.2f} CPU s")
    out["include_secrets"] = round_secrets(be, order, base, work, seed)
    shutil.rmtree(work, ignore_errors=True)
    return out


def round_secrets(
    be: Backend, order: list[Tool], base: Path, work: Path, seed: int
) -> dict[str, Run]:
    """Full push of the mixed dataset with a credential in every JSON document.

    statesync pushes it with ``--include-secrets`` into a store with a key
    (each secret value sealed, the rest stored as for a plain push); restic backs
    up the same copy into a fresh repository. Afterwards statesync's snapshot is
    pulled (untimed) and checked byte for byte: the secrets come back as written.
    """
    data = work / "data-sec"
    shutil.copytree(base, data, symlinks=True)
    plant_secrets(data, seed)
    tag = f"{work.name}-sec"
    out: dict[str, Run] = {}
    for t in order:
        url = be.urls(tag)[0 if t.name == "statesync" else 1]
        t.init(url, tag, True)
        cmd = t.push(url, data, False, secrets=True)
        out[t.name] = run = be.measure(cmd, t.env(tag), data, url)
        bl.log(f"{be.name} {work.name} include_secrets {t.name} {run.wall:.2f} s {run.cpu:.2f} CPU")
        if t.name == "statesync":
            target = work / "restore-sec"
            subprocess.run(t.restore(url, target), env=t.env(tag), check=True, capture_output=True)
            check_restore("statesync --include-secrets", target, data, bl.tree_digests(data))
    return out


def check_restore(name: str, target: Path, data: Path, want: dict[str, str]) -> None:
    """The restored tree must equal the source, byte for byte."""
    got = bl.tree_digests(target)
    if got != want:
        missing = sorted(set(want) - set(got))[:3]
        extra = sorted(set(got) - set(want))[:3]
        raise BenchError(f"{name} restore differs: missing {missing}, extra {extra}")


def round_small(be: Backend, tools: list[Tool], base: Path, r: int) -> dict[str, dict[str, Run]]:
    work = be.work / f"{be.name}-small-r{r}"
    shutil.rmtree(work, ignore_errors=True)
    data = work / "data"
    shutil.copytree(base, data)
    order = tools if r % 2 == 0 else tools[::-1]
    tag = f"{be.name}-small-r{r}"
    out: dict[str, dict[str, Run]] = {c: {} for c in SMALL_CASES}
    urls = {}
    for t in tools:
        urls[t.name] = be.urls(tag)[0 if t.name == "statesync" else 1]
        t.init(urls[t.name], tag, False)
    for case in SMALL_CASES:
        for t in order:
            run = be.measure(t.push(urls[t.name], data, False), t.env(tag), data, urls[t.name])
            out[case][t.name] = run
            bl.log(f"{be.name} r{r} {case:22} {t.name:9} {run.wall:6.2f} s  {run.cpu:6.2f} CPU s")
    shutil.rmtree(work, ignore_errors=True)
    return out


# --------------------------------------------------------------------------- report


def summarise(rounds: list[dict[str, dict[str, Run]]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for case in rounds[0]:
        row: dict[str, Any] = {}
        for tool in ("statesync", "restic"):
            runs = [rd[case][tool] for rd in rounds]
            reqs = [x.requests for x in runs if x.requests is not None]
            row[tool] = {
                "wall": statistics.median(x.wall for x in runs),
                "cpu": statistics.median(x.cpu for x in runs),
                "rss": max(x.rss for x in runs),
                "uploaded": statistics.median(x.uploaded for x in runs),
                "requests": statistics.median(reqs) if reqs else None,
                "walls": [round(x.wall, 3) for x in runs],
                "cpus": [round(x.cpu, 3) for x in runs],
            }
        s, rr = row["statesync"], row["restic"]
        row["wall_ratio"] = s["wall"] / rr["wall"] if rr["wall"] else float("inf")
        row["cpu_ratio"] = s["cpu"] / rr["cpu"] if rr["cpu"] else float("inf")
        out[case] = row
    return out


def render(fig: dict[str, Any]) -> str:
    lines = [
        f"machine: {fig['machine']}",
        f"command: {fig['command']}",
        f"restic: {fig['restic_version']}; statesync: {fig['statesync_src']}",
        f"mixed dataset: {fig['mixed']['files']} files, {bl.fmt_bytes(fig['mixed']['bytes'])}; "
        f"small: {fig['small']['files']} files, {bl.fmt_bytes(fig['small']['bytes'])}",
        f"rounds: {fig['rounds']} (medians; A B / B A alternated); cpu hogs: {fig['cpu_hog']}; "
        f"load before {fig['load_before']} after {fig['load_after']}",
    ]
    for be, cases in fig["backends"].items():
        lines += [
            "",
            f"## {be}",
            "| case | statesync wall s | restic wall s | wall ratio | statesync CPU s | "
            "restic CPU s | CPU ratio | uploaded ss / restic | requests ss / restic | "
            "peak RSS ss / restic |",
            "|---|---|---|---|---|---|---|---|---|---|",
        ]
        for case, row in cases.items():
            s, r = row["statesync"], row["restic"]
            req = "-" if s["requests"] is None else f"{s['requests']:.0f} / {r['requests']:.0f}"
            lines.append(
                f"| {case} | {s['wall']:.2f} | {r['wall']:.2f} | {row['wall_ratio']:.2f}x | "
                f"{s['cpu']:.2f} | {r['cpu']:.2f} | {row['cpu_ratio']:.2f}x | "
                f"{bl.fmt_bytes(s['uploaded'])} / {bl.fmt_bytes(r['uploaded'])} | {req} | "
                f"{bl.fmt_bytes(s['rss'])} / {bl.fmt_bytes(r['rss'])} |"
            )
    if "help_seconds" in fig:
        lines += ["", f"`statesync --help`: {fig['help_seconds'] * 1000:.0f} ms (median of 5)"]
    return "\n".join(lines)


def help_seconds(env: dict[str, str]) -> float:
    walls = []
    for _ in range(5):
        t0 = time.perf_counter()
        subprocess.run(
            [str(Path(sys.executable).parent / "statesync"), "--help"], env=env, capture_output=True
        )
        walls.append(time.perf_counter() - t0)
    return statistics.median(walls)


def start_hogs(n: int) -> list[subprocess.Popen[bytes]]:
    return [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(n)]


def s3_setup(work: Path) -> tuple[Forwarder, str]:
    url = os.environ.get("AWS_ENDPOINT_URL", "")
    u = urlparse(url)
    if not url or u.hostname not in ("127.0.0.1", "localhost"):
        raise BenchError("S3 needs AWS_ENDPOINT_URL on 127.0.0.1 (source /tmp/emu/env)")
    fwd = Forwarder((u.hostname or "127.0.0.1", u.port or 80))
    import boto3

    bucket = f"ssbench-{uuid.uuid4().hex[:10]}"
    boto3.client("s3", endpoint_url=url).create_bucket(Bucket=bucket)
    return fwd, bucket


def s3_cleanup(bucket: str) -> None:
    import boto3

    s3 = boto3.resource("s3", endpoint_url=os.environ["AWS_ENDPOINT_URL"])
    b = s3.Bucket(bucket)
    b.objects.all().delete()
    b.delete()


def machine() -> str:
    m = bl.machine_info()
    mem = m["memory_bytes"] / (1 << 30)
    return (
        f"{m['logical_cores']} logical cores ({m['cpu']}), {mem:.1f} GiB, Python {m['python']}, "
        f"{m['platform']}, git {m['git']}"
    )


def run(args: argparse.Namespace) -> dict[str, Any]:
    restic = ensure_restic(not args.no_install)
    work = Path(args.workdir).resolve()
    bl.prepare_workdir(work)
    ds = bl.generate(work / "base-mixed", args.size, args.files, 0, args.seed)
    small = small_dataset(work / "base-small", args.small_files, args.small_size)
    base_env = dict(os.environ)
    src = Path(args.src).resolve() if args.src else bl.REPO / "src"
    hogs = start_hogs(args.cpu_hog)
    fig: dict[str, Any] = {
        "machine": machine(),
        "command": " ".join(["bench/bench_restic.py", *sys.argv[1:]]),
        "restic_version": subprocess.run(
            [restic, "version"], capture_output=True, text=True
        ).stdout.strip(),
        "statesync_src": str(src),
        "mixed": {"files": ds["files"], "bytes": ds["bytes"]},
        "small": small,
        "rounds": args.rounds,
        "cpu_hog": args.cpu_hog,
        "load_before": round(os.getloadavg()[0], 2),
        "backends": {},
    }
    try:
        fig["help_seconds"] = help_seconds(Statesync(work, base_env, src).base_env)
        for name in args.backends.split(","):
            fwd, bucket = s3_setup(work) if name == "s3" else (None, "")
            env = dict(base_env)
            if fwd is not None:
                # both tools talk to the emulator through the counting forwarder
                env["AWS_ENDPOINT_URL"] = f"http://127.0.0.1:{fwd.port}"
            be = Backend(name, work, fwd, bucket)
            tools: list[Tool] = [Statesync(work, env, src), Restic(work, env, restic)]
            try:
                rounds = []
                for r in range(args.rounds):
                    res = round_mixed(be, tools, work / "base-mixed", r, ds, args.seed)
                    res.update(round_small(be, tools, work / "base-small", r))
                    rounds.append(res)
            finally:
                if bucket:
                    s3_cleanup(bucket)
            fig["backends"][name] = summarise(rounds)
    finally:
        for h in hogs:
            h.kill()
            h.wait()
    fig["load_after"] = round(os.getloadavg()[0], 2)
    return fig


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--workdir", default="/tmp/ssrestic")
    p.add_argument("--size", type=bl.parse_size, default=bl.parse_size("64MiB"))
    p.add_argument("--files", type=int, default=200)
    p.add_argument("--small-files", type=int, default=20000)
    p.add_argument("--small-size", type=bl.parse_size, default=bl.parse_size("2KiB"))
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--backends", default="local,s3")
    p.add_argument("--cpu-hog", type=int, default=0, help="busy-loop processes beside the run")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--src", help="statesync src/ folder to bench (default: this checkout's)")
    p.add_argument("--no-install", action="store_true", help="never apt-get install restic")
    p.add_argument("--json", action="store_true")
    args = p.parse_args(argv)
    try:
        fig = run(args)
    except BenchError as exc:
        print(f"bench_restic: {exc}", file=sys.stderr)
        return 2
    print(json.dumps(fig, default=str) if args.json else render(fig))
    return 0


if __name__ == "__main__":
    sys.exit(main())
