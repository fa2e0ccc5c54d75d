#!/usr/bin/env python3
"""Cloud benchmark of statesync on the local emulators, against the raw SDK uploads.

    .venv/bin/python bench/bench_cloud.py --size 512MiB --files 500 \
        --backends s3,azure,gcs --workdir /tmp/sscloud [--rounds 2] [--json]

What it does (all figures come from this run; nothing is hard-coded):

1. Generates bench_local's reproducible mixed dataset (about 60% random bytes,
   40% JSON state documents) under WORKDIR/data.
2. Finds the emulators: ``--env-file FILE`` if given; else the SDK variables of
   this process's environment (as scripts/test.sh exports them) when they
   answer; else ``.emulators/env`` when its endpoints answer (other engineers'
   emulators are reused, not restarted); else it starts its own with
   ``scripts/emulators.py start --env-file .emulators/bench-env`` and stops them
   at the end (``--own-emulators`` forces that). Only loopback endpoints are used.
3. For each backend, every phase in a fresh child process, in a fresh bucket
   (container):
     (a) statesync full push (``Store.open`` + ``push``);
     (b) a push with nothing changed; the child wraps
         ``statesync.backends.retry.RetryingBackend`` (every backend call of the
         engine goes through it) and urllib3's ``HTTPConnectionPool.urlopen``
         (every HTTP request of boto3, azure and google) to count calls;
     (c) pull into an empty folder, then sha256 of every file against the source;
     raw: the same files uploaded with the SDK alone into another fresh bucket:
         S3 ``boto3.s3.transfer`` TransferManager ``upload`` (what ``upload_file``
         uses) with ``max_concurrency=4``; Azure ``BlobClient.upload_blob(
         max_concurrency=4)`` and GCS ``Blob.upload_from_filename``, each over a
         ``ThreadPoolExecutor(4)`` (4 files at a time). The raw client is created
         inside the timed span, as ``Store.open`` is for statesync.
   With ``--rounds N`` the full push and the raw upload are repeated N times
   (fresh buckets), alternating which goes first; ratios use the medians.
   The buckets are emptied and deleted at the end (``--keep-buckets`` not to).
4. Prints the machine, a table per backend, ratios statesync/raw and the
   targets with PASS/FAIL (``--json``: one JSON object). Exit 0 if every target
   passes, 1 if any fails, 2 if a phase crashed.

Seconds are measured inside the child around the operation (interpreter start
and imports excluded), with the same span's CPU seconds of the child (all
threads), of the emulator process serving it (found by its listening port;
its CPU includes any other client's requests while it is shared) and of every
other process on the machine. MB/s is 10^6 dataset bytes per second.
"""

from __future__ import annotations

import argparse
import collections
import functools
import json
import os
import shlex
import shutil
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

sys.path.insert(0, str(Path(__file__).resolve().parent))

import bench_local as bl
import benchlib

SCRIPT = Path(__file__).resolve()
BACKENDS = ("s3", "azure", "gcs")
SCHEME = {"s3": "s3", "azure": "az", "gcs": "gs"}
EMULATOR = {"s3": "moto", "azure": "Azurite", "gcs": "fake-gcs-server"}
RAW_SDK = {
    "s3": "boto3 TransferManager",
    "azure": "azure upload_blob",
    "gcs": "GCS upload_from_filename",
}
# The variables that point each SDK at its endpoint (as scripts/emulators.py writes them).
SDK_VARS = {
    "s3": ("AWS_ENDPOINT_URL", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_DEFAULT_REGION"),
    "azure": ("AZURE_STORAGE_CONNECTION_STRING",),
    "gcs": ("STORAGE_EMULATOR_HOST", "GOOGLE_CLOUD_PROJECT"),
}
DEFAULT_ENV_FILE = bl.REPO / ".emulators" / "env"
OWN_ENV_FILE = bl.REPO / ".emulators" / "bench-env"
RAW_WORKERS = 4
ENV_NAME = "bench"
READS = ("get", "get_range", "open_read", "head")
log = bl.log


# --------------------------------------------------------------------------- emulators


def read_env_file(path: Path) -> dict[str, str]:
    out = {}
    for line in path.read_text().splitlines():
        if line.startswith("export ") and "=" in line:
            key, value = line[len("export ") :].split("=", 1)
            out[key] = " ".join(shlex.split(value))
    return out


def endpoint(backend: str, env: dict[str, str]) -> str | None:
    """The emulator's base URL for ``backend`` in ``env`` (None if not configured)."""
    if backend == "s3":
        return env.get("AWS_ENDPOINT_URL")
    if backend == "gcs":
        return env.get("STORAGE_EMULATOR_HOST")
    for part in env.get("AZURE_STORAGE_CONNECTION_STRING", "").split(";"):
        if part.startswith("BlobEndpoint="):
            return part.split("=", 1)[1]
    return None


def _probe(backend: str, base: str) -> str:
    return {
        "s3": base.rstrip("/") + "/",
        "azure": base.rstrip("/") + "?comp=list",
        "gcs": base.rstrip("/") + "/storage/v1/b?project=test",
    }[backend]


def is_loopback(url: str) -> bool:
    host = urlsplit(url).hostname or ""
    return host == "localhost" or host.startswith("127.") or host == "::1"


def answers(url: str) -> bool:
    """True if anything speaks HTTP at ``url`` (an error status still means it is up)."""
    try:
        with urllib.request.urlopen(url, timeout=3):
            return True
    except urllib.error.HTTPError:
        return True
    except OSError:
        return False


def all_answer(backends: list[str], env: dict[str, str]) -> bool:
    for b in backends:
        base = endpoint(b, env)
        if not base or not is_loopback(base) or not answers(_probe(b, base)):
            return False
    return True


def listening_pid(url: str) -> int | None:
    """The pid listening on ``url``'s port on this machine (the emulator serving it)."""
    import psutil

    port = urlsplit(url).port
    try:
        for c in psutil.net_connections(kind="tcp"):
            if c.status == psutil.CONN_LISTEN and c.laddr and c.laddr.port == port and c.pid:
                return int(c.pid)
    except psutil.Error:
        pass
    return None


class Emulators:
    """The emulator endpoints this run uses, and whether this run started them."""

    def __init__(self, env: dict[str, str], source: str, started: Path | None) -> None:
        self.env = env
        self.source = source
        self.started = started
        self.pids: dict[str, list[int]] = {}
        self.info: dict[str, Any] = {}

    @classmethod
    def select(cls, backends: list[str], env_file: str | None, own: bool) -> Emulators:
        wanted = sorted({v for b in backends for v in SDK_VARS[b]})
        if env_file:
            env = read_env_file(Path(env_file))
            if not all_answer(backends, env):
                raise SystemExit(
                    f"bench: the emulators of {env_file} do not answer "
                    "(or are not on the loopback address)"
                )
            return cls(env, f"reused, from {env_file}", None)
        if not own:
            here = {k: os.environ[k] for k in wanted if k in os.environ}
            if all(endpoint(b, here) for b in backends) and all_answer(backends, here):
                return cls(here, "reused, from this process's environment", None)
            if DEFAULT_ENV_FILE.exists():
                env = read_env_file(DEFAULT_ENV_FILE)
                if all_answer(backends, env):
                    return cls(env, f"reused, from {DEFAULT_ENV_FILE}", None)
        log(f"starting our own emulators (env file {OWN_ENV_FILE})")
        subprocess.run(
            [
                sys.executable,
                str(bl.REPO / "scripts" / "emulators.py"),
                "start",
                "--env-file",
                str(OWN_ENV_FILE),
            ],
            check=True,
            stdout=sys.stderr,
        )
        env = read_env_file(OWN_ENV_FILE)
        return cls(env, f"started by this run ({OWN_ENV_FILE}), stopped at its end", OWN_ENV_FILE)

    def resolve(self, backends: list[str]) -> None:
        for b in backends:
            base = endpoint(b, self.env) or ""
            pid = listening_pid(base)
            self.pids[b] = [pid] if pid else []
            cmd = ""
            if pid:
                import psutil

                try:
                    cmd = " ".join(" ".join(psutil.Process(pid).cmdline()).split())[:90]
                except psutil.Error:
                    cmd = "?"
            self.info[b] = {"emulator": EMULATOR[b], "endpoint": base, "pid": pid, "cmdline": cmd}

    def sdk_env(self) -> dict[str, str]:
        keep = {v for vs in SDK_VARS.values() for v in vs}
        return {k: v for k, v in self.env.items() if k in keep}

    def alive(self, backend: str) -> bool:
        base = endpoint(backend, self.env)
        return bool(base) and answers(_probe(backend, str(base)))

    def stop(self) -> None:
        if self.started is not None and self.started.exists():
            log("stopping the emulators this run started")
            subprocess.run(
                [
                    sys.executable,
                    str(bl.REPO / "scripts" / "emulators.py"),
                    "stop",
                    "--env-file",
                    str(self.started),
                ],
                check=False,
                stdout=sys.stderr,
            )


# --------------------------------------------------------------------------- child side


def _key_kind(key: str) -> str:
    if key == "statesync.json":
        return "descriptor"
    for prefix, name in (
        ("refs/", "ref"),
        ("objects/", "pack"),
        ("index/", "index"),
        ("snapshots/", "manifest"),
        ("keys/", "keyring"),
        ("locks/", "lock"),
    ):
        if key.startswith(prefix):
            return name
    return "other"


def install_counters() -> tuple[collections.Counter[str], collections.Counter[str]]:
    """Count every RetryingBackend call (by verb and key kind) and every HTTP request."""
    import urllib3.connectionpool as cp

    from statesync.backends.retry import RetryingBackend

    calls: collections.Counter[str] = collections.Counter()
    http: collections.Counter[str] = collections.Counter()
    lock = threading.Lock()

    def wrap(name: str) -> None:
        orig = getattr(RetryingBackend, name)

        @functools.wraps(orig)
        def counted(self: Any, key: str, *a: Any, **kw: Any) -> Any:
            with lock:
                calls[f"{name} {_key_kind(key)}"] += 1
            return orig(self, key, *a, **kw)

        setattr(RetryingBackend, name, counted)

    for name in (*READS, "put", "delete", "list"):
        wrap(name)
    orig_urlopen = cp.HTTPConnectionPool.urlopen

    def urlopen(self: Any, method: str, url: str, *a: Any, **kw: Any) -> Any:
        with lock:
            http[method] += 1
        return orig_urlopen(self, method, url, *a, **kw)

    cp.HTTPConnectionPool.urlopen = urlopen  # type: ignore[method-assign]
    return calls, http


def request_summary(calls: dict[str, int], http: dict[str, int]) -> dict[str, Any]:
    return {
        "backend_calls": dict(sorted(calls.items())),
        "ref_reads": sum(n for k, n in calls.items() if k in {f"{v} ref" for v in READS}),
        "uploads": sum(n for k, n in calls.items() if k.startswith("put ")),
        "http_requests": dict(sorted(http.items())),
        "http_total": sum(http.values()),
    }


def make_bucket(backend: str, name: str) -> None:
    if backend == "s3":
        from statesync.backends import s3

        client = s3.make_client()
        client.create_bucket(Bucket=name)
        client.close()
    elif backend == "azure":
        from statesync.backends import azure

        azure.make_service().create_container(name)
    else:
        from statesync.backends import gcs

        gcs.make_client().create_bucket(name)


def delete_buckets(backend: str, names: list[str]) -> dict[str, Any]:
    """Empty and delete ``names`` (they hold hundreds of MB in a shared emulator)."""
    out: dict[str, Any] = {}
    for name in names:
        try:
            if backend == "s3":
                from statesync.backends import s3

                client = s3.make_client()
                for page in client.get_paginator("list_objects_v2").paginate(Bucket=name):
                    keys = [{"Key": o["Key"]} for o in page.get("Contents", [])]
                    for i in range(0, len(keys), 1000):
                        client.delete_objects(
                            Bucket=name, Delete={"Objects": keys[i : i + 1000], "Quiet": True}
                        )
                for up in client.list_multipart_uploads(Bucket=name).get("Uploads", []):
                    client.abort_multipart_upload(
                        Bucket=name, Key=up["Key"], UploadId=up["UploadId"]
                    )
                client.delete_bucket(Bucket=name)
            elif backend == "azure":
                from statesync.backends import azure

                azure.make_service().delete_container(name)
            else:
                from statesync.backends import gcs

                gclient = gcs.make_client()
                blobs = list(gclient.list_blobs(name))
                with ThreadPoolExecutor(4) as pool:
                    list(pool.map(lambda b: b.delete(), blobs))
                gclient.bucket(name).delete()
            out[name] = "deleted"
        except Exception as exc:  # report, never fail the bench on cleanup
            out[name] = f"not deleted: {type(exc).__name__}: {str(exc)[:200]}"
    return out


def raw_upload(backend: str, bucket: str, root: Path, files: list[str]) -> str:
    """Upload ``files`` under ``raw/`` with the SDK alone; return what was used."""
    paths = [(str(root / rel), f"raw/{rel}") for rel in files]
    if backend == "s3":
        import boto3
        from boto3.s3.transfer import TransferConfig, create_transfer_manager

        client = boto3.session.Session().client("s3")
        with create_transfer_manager(client, TransferConfig(max_concurrency=RAW_WORKERS)) as tm:
            futures = [tm.upload(path, bucket, key) for path, key in paths]
            for fut in futures:
                fut.result()
        kind = type(tm).__name__
        client.close()
        return (
            f"boto3 {boto3.__version__}: boto3.s3.transfer {kind}.upload (upload_file's "
            f"path), max_concurrency={RAW_WORKERS}, default client config"
        )
    if backend == "azure":
        from azure.storage.blob import BlobServiceClient
        from azure.storage.blob import __version__ as azv

        service = BlobServiceClient.from_connection_string(
            os.environ["AZURE_STORAGE_CONNECTION_STRING"]
        )
        container = service.get_container_client(bucket)

        def one_azure(job: tuple[str, str]) -> None:
            with open(job[0], "rb") as fh:
                container.get_blob_client(job[1]).upload_blob(
                    fh, overwrite=True, max_concurrency=RAW_WORKERS
                )

        with ThreadPoolExecutor(RAW_WORKERS) as pool:
            list(pool.map(one_azure, paths))
        service.close()
        return (
            f"azure-storage-blob {azv}: BlobClient.upload_blob(max_concurrency="
            f"{RAW_WORKERS}) over ThreadPoolExecutor({RAW_WORKERS})"
        )
    from google.auth.credentials import AnonymousCredentials
    from google.cloud import storage

    gclient = storage.Client(
        project=os.environ.get("GOOGLE_CLOUD_PROJECT") or "test", credentials=AnonymousCredentials()
    )  # type: ignore[no-untyped-call]
    gbucket = gclient.bucket(bucket)

    def one_gcs(job: tuple[str, str]) -> None:
        gbucket.blob(job[1]).upload_from_filename(job[0])

    with ThreadPoolExecutor(RAW_WORKERS) as pool:
        list(pool.map(one_gcs, paths))
    gclient.close()
    return (
        f"google-cloud-storage {storage.__version__}: Blob.upload_from_filename over "
        f"ThreadPoolExecutor({RAW_WORKERS})"
    )


def child_main(spec: dict[str, Any]) -> None:
    t0 = time.perf_counter()
    from statesync.api import Store

    t_import = time.perf_counter() - t0
    op = spec["op"]
    emu = spec.get("emu_pids", [])
    out: dict[str, Any] = {
        "import_seconds": t_import,
        "statesync_file": sys.modules["statesync"].__file__,
    }
    if op == "init":
        make_bucket(spec["backend"], spec["bucket"])
        Store.init(spec["url"]).close()
    elif op == "cleanup":
        out["buckets"] = delete_buckets(spec["backend"], spec["buckets"])
    elif op == "raw":
        make_bucket(spec["backend"], spec["bucket"])
        files = json.loads(Path(spec["files_list"]).read_text())
        calls, http = install_counters()
        with benchlib.Span(emu) as span:
            out["sdk"] = raw_upload(spec["backend"], spec["bucket"], Path(spec["folder"]), files)
        out.update(span.figures)
        out.update(request_summary(calls, http))
        out["uploaded_bytes"] = sum((Path(spec["folder"]) / f).stat().st_size for f in files)
    elif op in ("push", "pull"):
        calls, http = install_counters()
        with benchlib.Span(emu) as span, Store.open(spec["url"]) as store:
            if op == "push":
                r = store.push(spec["folder"], ENV_NAME, message=spec.get("message", ""))
            else:
                p = store.pull(spec["folder"], ENV_NAME)
        out.update(span.figures)
        out.update(request_summary(calls, http))
        if op == "push":
            out.update(
                {
                    "uploaded_bytes": r.uploaded_bytes,
                    "reused_bytes": r.reused_bytes,
                    "files": r.files,
                    "changed": r.changed,
                    "snapshot": r.snapshot,
                }
            )
        else:
            out.update(
                {"downloaded_bytes": p.downloaded_bytes, "files": p.files, "snapshot": p.snapshot}
            )
    else:
        raise SystemExit(f"unknown op {op}")
    benchlib.emit(out)


# --------------------------------------------------------------------------- parent side


def fresh_bucket() -> str:
    return f"ssbench-{uuid.uuid4().hex[:24]}"


def bench_backend(
    b: str,
    args: argparse.Namespace,
    emu: Emulators,
    work: Path,
    data: Path,
    files_list: Path,
    src_digests: dict[str, str],
    ds_bytes: int,
    pythonpath: str | None,
) -> dict[str, Any]:
    res: dict[str, Any] = {"full_push": [], "raw": [], "buckets": []}
    base_env = emu.sdk_env()
    if pythonpath:
        base_env["PYTHONPATH"] = pythonpath
    profiles = work / "profiles"

    def phase(key: str, spec: dict[str, Any], tag: str) -> dict[str, Any]:
        if not emu.alive(b):
            raise benchlib.PhaseError(
                f"{EMULATOR[b]} at {endpoint(b, emu.env)} stopped "
                "answering (someone stopped the shared emulators?)"
            )
        wrap = None
        if args.py_spy and key in args.py_spy:
            profiles.mkdir(exist_ok=True)
            out = profiles / f"{b}-{tag}-{key}.txt"
            wrap = [
                args.py_spy_bin,
                "record",
                "--native",
                "--format",
                "raw",
                "-r",
                str(args.py_spy_rate),
                "-o",
                str(out),
                *(["--idle"] if args.py_spy_idle else []),
                "--",
            ]
            log(f"  (profiling with py-spy into {out})")
        log(f"{b}: {key} ({tag}) ...")
        env = benchlib.child_env(work, f"{b}-{tag}", base_env)
        r = benchlib.run_child(
            SCRIPT,
            {**spec, "backend": b, "emu_pids": emu.pids[b]},
            env,
            work,
            wrap,
            timeout=args.phase_timeout,
        )
        if "seconds" in r:
            log(
                f"  {r['seconds']:.2f} s, CPU {r['op_cpu_seconds']:.1f} s, emulator CPU "
                f"{r['emulator_cpu_seconds']:.1f} s, others {r['other_cpu_seconds']:.1f} s"
            )
        return r

    try:
        for rnd in range(args.rounds):
            order = ("statesync", "raw") if rnd % 2 == 0 else ("raw", "statesync")
            tag = f"r{rnd + 1}"
            for what in order:
                bucket = fresh_bucket()
                res["buckets"].append(bucket)
                if what == "raw":
                    r = phase(
                        "raw",
                        {
                            "op": "raw",
                            "bucket": bucket,
                            "folder": str(data),
                            "files_list": str(files_list),
                        },
                        tag,
                    )
                    r["round"], r["position"] = rnd + 1, order.index(what) + 1
                    res["raw"].append(r)
                    continue
                url = f"{SCHEME[b]}://{bucket}/store"
                shutil.rmtree(data / ".statesync", ignore_errors=True)
                phase("init", {"op": "init", "bucket": bucket, "url": url}, tag)
                r = phase(
                    "full_push",
                    {"op": "push", "url": url, "folder": str(data), "message": "full"},
                    tag,
                )
                r["round"], r["position"] = rnd + 1, order.index(what) + 1
                res["full_push"].append(r)
                if rnd == 0:
                    res["url"] = url
                    res["nochange_push"] = phase(
                        "nochange_push",
                        {
                            "op": "push",
                            "url": url,
                            "folder": str(data),
                            "message": "nothing changed",
                        },
                        tag,
                    )
                    pulled = work / f"pulled-{b}"
                    shutil.rmtree(pulled, ignore_errors=True)
                    pulled.mkdir()
                    res["pull"] = phase(
                        "pull", {"op": "pull", "url": url, "folder": str(pulled)}, tag
                    )
                    log(f"{b}: comparing pulled folder with source (sha256)")
                    res["compare"] = compare(src_digests, bl.tree_digests(pulled))
                    shutil.rmtree(pulled, ignore_errors=True)
    finally:
        if not args.keep_buckets and res["buckets"]:
            log(f"{b}: deleting {len(res['buckets'])} bench buckets")
            try:
                c = benchlib.run_child(
                    SCRIPT,
                    {"op": "cleanup", "backend": b, "buckets": res["buckets"]},
                    benchlib.child_env(work, f"{b}-cleanup", base_env),
                    work,
                    timeout=args.phase_timeout,
                )
                res["cleanup"] = c["buckets"]
            except benchlib.PhaseError as exc:
                res["cleanup"] = {"error": str(exc)[-500:]}
    res["ratio"] = ratios(res, ds_bytes)
    return res


def compare(src: dict[str, str], dst: dict[str, str]) -> dict[str, Any]:
    missing = sorted(set(src) - set(dst))
    extra = sorted(set(dst) - set(src))
    differ = sorted(p for p in set(src) & set(dst) if src[p] != dst[p])
    equal = not (missing or extra or differ)
    summary = (
        f"equal: {len(src)} files, every sha256 matches"
        if equal
        else f"DIFFERENT: {len(missing)} missing, {len(extra)} extra, {len(differ)} differ "
        f"(e.g. {(missing + extra + differ)[:3]})"
    )
    return {
        "equal": equal,
        "files": len(src),
        "missing": missing[:20],
        "extra": extra[:20],
        "differ": differ[:20],
        "summary": summary,
    }


def ratios(res: dict[str, Any], ds_bytes: int) -> dict[str, float]:
    ss, raw = res["full_push"], res["raw"]
    if not ss or not raw:
        return {}

    def med(rows: list[dict[str, Any]], key: str) -> float:
        return benchlib.median([float(r[key]) for r in rows])

    def both(rows: list[dict[str, Any]]) -> float:
        return benchlib.median([r["op_cpu_seconds"] + r["emulator_cpu_seconds"] for r in rows])

    def div(a: float, b: float) -> float:
        return a / b if b > 0 else float("inf")

    return {
        "statesync_seconds": med(ss, "seconds"),
        "raw_seconds": med(raw, "seconds"),
        "wall": div(med(ss, "seconds"), med(raw, "seconds")),
        "client_cpu": div(med(ss, "op_cpu_seconds"), med(raw, "op_cpu_seconds")),
        "emulator_cpu": div(med(ss, "emulator_cpu_seconds"), med(raw, "emulator_cpu_seconds")),
        "client_plus_emulator_cpu": div(both(ss), both(raw)),
        "statesync_http_requests": med(ss, "http_total"),
        "raw_http_requests": med(raw, "http_total"),
    }


def targets(fig: dict[str, Any]) -> list[dict[str, Any]]:
    out = []

    def add(name: str, ok: bool, got: str) -> None:
        out.append({"target": name, "pass": bool(ok), "measured": got})

    for b, res in fig["backends"].items():
        if "error" in res:
            add(f"{b}: bench completed", False, res["error"][-300:])
            continue
        ratio = res["ratio"]
        if b == "s3":
            add(
                "full push to moto S3 no slower than raw boto3 TransferManager upload "
                "(ratio <= 1.0)",
                ratio["wall"] <= 1.0,
                f"{ratio['wall']:.2f} ({ratio['statesync_seconds']:.2f} s vs "
                f"{ratio['raw_seconds']:.2f} s, median of {len(res['full_push'])}; "
                f"client CPU ratio {ratio['client_cpu']:.2f}, client+emulator CPU ratio "
                f"{ratio['client_plus_emulator_cpu']:.2f})",
            )
        nc = res["nochange_push"]
        add(
            f"{b}: no-change push: 1 ref read, 0 uploads",
            nc["ref_reads"] == 1 and nc["uploads"] == 0,
            f"{nc['ref_reads']} ref read(s), {nc['uploads']} upload(s), "
            f"{nc['http_total']} HTTP request(s)",
        )
        add(
            f"{b}: pulled folder equals source (sha256)",
            res["compare"]["equal"],
            res["compare"]["summary"],
        )
    return out


def _fmt_row(label: str, r: dict[str, Any], ds_bytes: int, moved_key: str) -> str:
    mbs = bl._mbs(ds_bytes, r["seconds"])
    cpu_rate = bl._mbs(ds_bytes, r["op_cpu_seconds"])
    moved = r.get(moved_key)
    return (
        f"{label:<26}{r['seconds']:>9.2f}{mbs:>8.1f}{r['op_cpu_seconds']:>8.1f}"
        f"{cpu_rate:>10.1f}{r['emulator_cpu_seconds']:>9.1f}{r['other_cpu_seconds']:>9.1f}"
        f"{'-' if moved is None else bl.fmt_bytes(moved):>12}{r['http_total']:>7}"
        f"{bl.fmt_bytes(r['maxrss_bytes']):>11}"
    )


def _calls(r: dict[str, Any]) -> str:
    return ", ".join(f"{k} x{n}" for k, n in r["backend_calls"].items()) or "none"


def render(fig: dict[str, Any]) -> str:
    m, ds = fig["machine"], fig["dataset"]
    lines = [
        "statesync cloud benchmark (emulators on 127.0.0.1)",
        f"machine: {m['logical_cores']} logical / {m['physical_cores']} physical cores, "
        f"{m['cpu']}, {bl.fmt_bytes(m['memory_bytes'])} RAM",
        f"python {m['python']}; statesync {m['versions']['statesync']}; repo HEAD {m['git']}; "
        f"benched source: {fig['source']}",
        f"at start: {fig['load_at_start']}",
        f"args: {fig['args']}",
        bl.dataset_line(ds),
        f"emulators: {fig['emulators']['source']}",
        "statesync.toml seen by the children: "
        + (
            f"{fig['config']}: {Path(fig['config']).read_text().strip()!r}"
            if fig["config"]
            else "none (built-in secret policy)"
        ),
    ]
    for b, info in fig["emulators"]["backends"].items():
        lines.append(
            f"  {b}: {info['emulator']} at {info['endpoint']}, pid {info['pid']} "
            f"({info['cmdline']})"
        )
    for b, res in fig["backends"].items():
        lines += ["", f"== {b} ({EMULATOR[b]})"]
        if "error" in res:
            lines.append(f"  CRASHED: {res['error'][-1500:]}")
            continue
        lines.append(
            f"{'phase':<26}{'seconds':>9}{'MB/s':>8}{'CPU s':>8}{'MB/CPU-s':>10}"
            f"{'emu CPU':>9}{'others':>9}{'moved':>12}{'HTTP':>7}{'peak RSS':>11}"
        )
        rows = sorted(
            [("full", r) for r in res["full_push"]] + [("raw", r) for r in res["raw"]],
            key=lambda x: (x[1]["round"], x[1]["position"]),
        )
        for kind, r in rows:
            label = (
                f"(a) full push r{r['round']}"
                if kind == "full"
                else f"raw SDK upload r{r['round']}"
            )
            lines.append(_fmt_row(label, r, ds["bytes"], "uploaded_bytes"))
        lines.append(
            _fmt_row("(b) no-change push", res["nochange_push"], ds["bytes"], "uploaded_bytes")
        )
        lines.append(_fmt_row("(c) pull", res["pull"], ds["bytes"], "downloaded_bytes"))
        ratio = res["ratio"]
        nc = res["nochange_push"]
        lines += [
            f"  raw SDK: {res['raw'][0]['sdk']}",
            f"  statesync/raw full upload (median of {len(res['full_push'])} round(s)): "
            f"wall {ratio['wall']:.2f}x ({ratio['statesync_seconds']:.2f} s / "
            f"{ratio['raw_seconds']:.2f} s); client CPU {ratio['client_cpu']:.2f}x; emulator "
            f"CPU {ratio['emulator_cpu']:.2f}x; client+emulator CPU "
            f"{ratio['client_plus_emulator_cpu']:.2f}x; HTTP requests "
            f"{ratio['statesync_http_requests']:.0f} vs {ratio['raw_http_requests']:.0f}",
            f"  (a) full push backend calls: {_calls(res['full_push'][0])}",
            f"  (b) no-change push: ref reads {nc['ref_reads']}, uploads {nc['uploads']}; "
            f"backend calls: {_calls(nc)}; HTTP {nc['http_requests']}",
            f"  (c) pull backend calls: {_calls(res['pull'])}",
            f"  (c) pulled vs source: {res['compare']['summary']}",
        ]
        if res.get("cleanup"):
            gone = sum(1 for v in res["cleanup"].values() if v == "deleted")
            lines.append(
                f"  buckets cleaned up: {gone}/{len(res['cleanup'])}"
                + ("" if gone == len(res["cleanup"]) else f" {res['cleanup']}")
            )
    lines += [
        "",
        "  (seconds: the operation inside a fresh child (Store.open + push/pull; raw: client",
        "   creation + uploads), imports excluded; MB/s and MB/CPU-s: dataset bytes;",
        "   CPU s: the child's user+sys CPU, all threads; emu CPU: the emulator process tree",
        "   serving the backend over the same span (includes other clients' requests when",
        "   the emulators are shared); others: CPU of every other process on the machine",
        "   meanwhile (non-zero means the timings were perturbed); moved: bytes uploaded",
        "   (statesync: compressed packs) or read; HTTP: requests counted at urllib3;",
        "   peak RSS: the child's VmHWM)",
        f"at end: {fig['load_at_end']}",
        "",
        "targets:",
    ]
    for t in fig["targets"]:
        lines.append(f"  [{'PASS' if t['pass'] else 'FAIL'}] {t['target']}: {t['measured']}")
    lines.append(f"overall: {'PASS' if fig['all_pass'] else 'FAIL'}")
    return "\n".join(lines)


def run(args: argparse.Namespace) -> dict[str, Any]:
    work = Path(args.workdir).resolve()
    bl.prepare_workdir(work)
    data = work / "data"
    backends = args.backends
    pythonpath, source = None, "working tree " + bl.as_installed(bl.REPO / "src")
    if args.src_rev:
        pythonpath, source = benchlib.src_pythonpath(work, args.src_rev)
    fig: dict[str, Any] = {
        "machine": bl.machine_info(),
        "source": source,
        "load_at_start": benchlib.load_line(),
        "args": {
            "size": args.size,
            "files": args.files,
            "backends": backends,
            "rounds": args.rounds,
            "seed": args.seed,
            "workdir": str(work),
        },
    }
    if args.key_pattern:
        (work / "statesync.toml").write_text(
            f"[secrets]\nkey_pattern = {json.dumps(args.key_pattern)}\n"
        )
    fig["config"] = next(
        (
            str(d / "statesync.toml")
            for d in (work, *work.parents)
            if (d / "statesync.toml").is_file()
        ),
        None,
    )
    log(f"generating {bl.fmt_bytes(args.size)} in {args.files} files under {data}")
    ds = bl.generate(data, args.size, args.files, 0, args.seed)
    fig["dataset"] = {k: v for k, v in ds.items() if not k.startswith("_")}
    files = sorted(ds["_json_paths"] + ds["_bin_paths"])
    files_list = work / "files.json"
    files_list.write_text(json.dumps(files))
    src_digests = bl.tree_digests(data)
    emu = Emulators.select(backends, args.env_file, args.own_emulators)
    fig["backends"] = {}
    try:
        emu.resolve(backends)
        fig["emulators"] = {"source": emu.source, "backends": emu.info}
        for b in backends:
            try:
                fig["backends"][b] = bench_backend(
                    b, args, emu, work, data, files_list, src_digests, ds["bytes"], pythonpath
                )
            except benchlib.PhaseError as exc:
                log(f"{b}: {exc}")
                fig["backends"][b] = {"error": str(exc)}
    finally:
        emu.stop()
    fig["load_at_end"] = benchlib.load_line()
    fig["targets"] = targets(fig)
    fig["all_pass"] = all(t["pass"] for t in fig["targets"])
    fig["crashed"] = any("error" in r for r in fig["backends"].values())
    if not args.keep:
        shutil.rmtree(data, ignore_errors=True)
    return fig


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument(
        "--size",
        type=bl.parse_size,
        default=bl.parse_size("512MiB"),
        help="dataset bytes (default 512MiB)",
    )
    p.add_argument("--files", type=int, default=500, help="number of files (default 500)")
    p.add_argument(
        "--backends",
        default="s3,azure,gcs",
        help="comma-separated subset of s3,azure,gcs (default all)",
    )
    p.add_argument("--workdir", default="/tmp/sscloud", help="scratch folder (cleared)")
    p.add_argument(
        "--rounds",
        type=int,
        default=2,
        help="full push and raw upload repeated, order alternating (default 2)",
    )
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--json", action="store_true", help="print the figures as one JSON object")
    p.add_argument("--keep", action="store_true", help="keep the dataset")
    p.add_argument("--keep-buckets", action="store_true", help="do not delete the buckets")
    p.add_argument("--env-file", help="use the emulators of this env file")
    p.add_argument(
        "--own-emulators",
        action="store_true",
        help=f"start (and stop) our own emulators, env file {OWN_ENV_FILE}",
    )
    p.add_argument(
        "--src-rev",
        metavar="REV",
        help="bench the src/ of this git revision instead of the working tree",
    )
    p.add_argument(
        "--key-pattern",
        metavar="REGEX",
        help="diagnostic: write WORKDIR/statesync.toml with [secrets] key_pattern "
        "= REGEX (the children run in WORKDIR) to see what the secret-key "
        "pattern costs; default: no file, the built-in pattern",
    )
    p.add_argument(
        "--phase-timeout",
        type=float,
        default=1800.0,
        help="seconds before a phase is declared hung (default 1800)",
    )
    p.add_argument(
        "--py-spy",
        action="append",
        default=[],
        choices=["full_push", "raw", "nochange_push", "pull"],
        help="record this phase with py-spy (--native, raw format) into WORKDIR/profiles/",
    )
    p.add_argument("--py-spy-bin", default="/tmp/pyspy-venv/bin/py-spy")
    p.add_argument("--py-spy-rate", type=int, default=100)
    p.add_argument("--py-spy-idle", action="store_true", help="also sample idle threads")
    p.add_argument("--child", help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.child:
        child_main(json.loads(args.child))
        return 0
    args.backends = [b.strip() for b in args.backends.split(",") if b.strip()]
    bad = [b for b in args.backends if b not in BACKENDS]
    if bad or not args.backends:
        p.error(f"unknown backend(s) {bad}; choose from {', '.join(BACKENDS)}")
    if args.files < 1 or args.size < args.files or args.rounds < 1:
        p.error("need --files >= 1, --size >= --files bytes and --rounds >= 1")
    fig = run(args)
    code = bl.report(fig, args.json, render)
    return 2 if fig["crashed"] else code


if __name__ == "__main__":
    sys.exit(main())
