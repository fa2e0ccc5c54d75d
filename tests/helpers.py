"""Small helpers for building folders and comparing trees in tests."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any


def write(root: Path, rel: str, data: bytes | str | Any, mode: int | None = None) -> Path:
    path = root / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(data, str):
        data = data.encode()
    elif not isinstance(data, bytes):
        data = (json.dumps(data, indent=2) + "\n").encode()
    path.write_bytes(data)
    if mode is not None:
        os.chmod(path, mode)
    return path


def tree(root: Path, skip_record: bool = True) -> dict[str, tuple[str, int]]:
    """path -> (sha256 or link target, mode) for everything under ``root``."""
    out: dict[str, tuple[str, int]] = {}
    for dirpath, dirnames, filenames in os.walk(root):
        rel = os.path.relpath(dirpath, root)
        if skip_record and rel == ".":
            dirnames[:] = [d for d in dirnames if d != ".statesync"]
        for name in filenames + [d for d in dirnames if os.path.islink(os.path.join(dirpath, d))]:
            p = Path(dirpath) / name
            key = os.path.normpath(os.path.join(rel, name))
            if p.is_symlink():
                out[key] = ("->" + os.readlink(p), 0)
            else:
                out[key] = (hashlib.sha256(p.read_bytes()).hexdigest(), p.stat().st_mode & 0o777)
    return out


def store_bytes(backend: Any) -> bytes:
    """Every byte of every object in a store, plus its zstd-decompressed form."""
    import zstandard

    blobs = []
    for meta in backend.list(""):
        raw = backend.get(meta.key)[0]
        blobs.append(raw)
        try:
            reader = zstandard.ZstdDecompressor().stream_reader(raw, read_across_frames=True)
            blobs.append(reader.read())
        except zstandard.ZstdError:
            pass
    return b"\n".join(blobs)


def child_output(code: str) -> str:
    """The stripped stdout of ``code`` run by a fresh interpreter (asserting it exits 0).

    For what only a new process shows: which modules a command imports.
    """
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    return proc.stdout.strip()
