#!/usr/bin/env python3
"""CPU seconds of each stage a push (and a raw SDK upload) does per byte, on one thread.

    .venv/bin/python bench/bench_stages.py --size 512MiB --files 500 --workdir /tmp/ssstages

Generates bench_local's dataset, reads every file once into memory (so no
stage pays for disk), then times each stage alone over the whole dataset with
``time.process_time`` (single thread, GIL held or not): the secret-key
prefilter (``SecretPolicy.may_hold_secret_keys`` on every JSON document),
FastCDC chunking, SHA-256 of chunks (chunk ids) and of files (entry digests;
a one-chunk file reuses its chunk id, so only files of two or more chunks are
hashed), zstd of every chunk, SHA-256 of the stored bytes (the pack ids: the
one pass the S3 path makes over them, since the drivers take that digest and
payload signing is off), and SHA-256 plus CRC32 of the dataset (what a raw
boto3 upload over plain http does: SigV4 payload hash, default checksum).
These are the building blocks; the sums per pipeline are printed for
comparison with bench_cloud's CPU figures.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
import time
import zlib
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import bench_local as bl


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--size", type=bl.parse_size, default=bl.parse_size("512MiB"))
    p.add_argument("--files", type=int, default=500)
    p.add_argument("--workdir", default="/tmp/ssstages")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--json", action="store_true")
    args = p.parse_args()
    from statesync.sync.secrets import policy as secrets
    from statesync.sync.store import codec
    from statesync.sync.store.chunker import Chunker
    from statesync.sync.store.repo import CHUNK_AVG, CHUNK_MAX, CHUNK_MIN, Descriptor

    work = Path(args.workdir).resolve()
    bl.prepare_workdir(work)
    ds = bl.generate(work / "data", args.size, args.files, 0, args.seed)
    blobs = {
        rel: (work / "data" / rel).read_bytes()
        for rel in sorted(ds["_json_paths"] + ds["_bin_paths"])
    }
    total = sum(len(b) for b in blobs.values())
    desc = Descriptor("x", "x", CHUNK_MIN, CHUNK_AVG, CHUNK_MAX, 16 << 20)
    policy = secrets.SecretPolicy()
    out: dict[str, Any] = {
        "dataset_bytes": total,
        "files": len(blobs),
        "statesync_file": sys.modules["statesync"].__file__,
        "stages": {},
    }

    def stage(name: str, fn: Any) -> Any:
        c0, t0 = time.process_time(), time.perf_counter()
        result = fn()
        out["stages"][name] = {
            "cpu_seconds": time.process_time() - c0,
            "seconds": time.perf_counter() - t0,
        }
        bl.log(f"{name}: {out['stages'][name]['cpu_seconds']:.2f} CPU s")
        return result

    docs = {k: v for k, v in blobs.items() if secrets.is_document(k)}
    parsed = stage(
        "prefilter: may_hold_secret_keys (JSON docs, bytes)",
        lambda: sum(policy.may_hold_secret_keys(k, v) for k, v in docs.items()),
    )
    out["docs"] = len(docs)
    out["docs_parsed_after_prefilter"] = parsed
    chunker = Chunker(desc)
    import io

    chunks: list[bytes] = stage(
        "FastCDC chunking (Chunker.chunks)",
        lambda: [c for b in blobs.values() for c in chunker.chunks(io.BytesIO(b))],
    )
    out["chunks"] = len(chunks)
    stage("sha256 of chunks (chunk ids)", lambda: [codec.sha256_hex(c) for c in chunks])
    many = [b for b in blobs.values() if len(list(chunker.chunks(io.BytesIO(b)))) > 1]
    stage(
        "sha256 of files of 2+ chunks (entry digests)",
        lambda: [hashlib.sha256(b).digest() for b in many],
    )
    stored: list[bytes] = stage(
        "zstd of chunks (codec.seal_blob)", lambda: [codec.seal_blob(c) for c in chunks]
    )
    out["stored_bytes"] = sum(len(s) for s in stored)
    import zstandard

    level3 = zstandard.ZstdCompressor(level=3)
    stored3: list[bytes] = stage(
        "zstd level 3 of chunks (for comparison only)", lambda: [level3.compress(c) for c in chunks]
    )
    out["stored_bytes_level3"] = sum(len(s) for s in stored3)
    stage("sha256 of stored bytes (one pass)", lambda: [hashlib.sha256(s).digest() for s in stored])
    stage(
        "sha256 of dataset bytes (one pass, raw SigV4 payload)",
        lambda: [hashlib.sha256(b).digest() for b in blobs.values()],
    )
    stage(
        "crc32 of dataset bytes (raw boto3 default checksum)",
        lambda: [zlib.crc32(b) for b in blobs.values()],
    )
    st = {k: v["cpu_seconds"] for k, v in out["stages"].items()}
    one_stored = st["sha256 of stored bytes (one pass)"]
    out["model"] = {
        "statesync_local_work": st["prefilter: may_hold_secret_keys (JSON docs, bytes)"]
        + st["FastCDC chunking (Chunker.chunks)"]
        + st["sha256 of chunks (chunk ids)"]
        + st["sha256 of files of 2+ chunks (entry digests)"]
        + st["zstd of chunks (codec.seal_blob)"],
        "statesync_s3_hashes_of_stored_bytes": one_stored,
        "raw_s3_sigv4_plus_crc32": st["sha256 of dataset bytes (one pass, raw SigV4 payload)"]
        + st["crc32 of dataset bytes (raw boto3 default checksum)"],
    }
    if args.json:
        print(json.dumps(out, sort_keys=True))
    else:
        print(
            f"dataset {bl.fmt_bytes(total)} in {len(blobs)} files; {len(docs)} JSON docs, "
            f"{parsed} pass the prefilter (parsed by redact); {len(chunks)} chunks; stored "
            f"{bl.fmt_bytes(out['stored_bytes'])} (at zstd level 3: "
            f"{bl.fmt_bytes(out['stored_bytes_level3'])}); code {out['statesync_file']}"
        )
        print(f"{'stage (one thread, data in memory)':<58}{'CPU s':>8}{'MB/CPU-s':>10}")
        for name, r in out["stages"].items():
            print(f"{name:<58}{r['cpu_seconds']:>8.2f}{bl._mbs(total, r['cpu_seconds']):>10.0f}")
        m = out["model"]
        print(
            f"statesync local stages (prefilter+CDC+sha256 ids and digests+zstd): "
            f"{m['statesync_local_work']:.2f} CPU s; + one sha256 pass over stored bytes "
            f"(pack ids): {m['statesync_s3_hashes_of_stored_bytes']:.2f} CPU s"
        )
        print(
            f"raw boto3 hashing (SigV4 sha256 + CRC32 of the dataset): "
            f"{m['raw_s3_sigv4_plus_crc32']:.2f} CPU s"
        )
        print("(MB/CPU-s: dataset bytes per CPU second of that stage alone)")
    import shutil

    shutil.rmtree(work / "data", ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
