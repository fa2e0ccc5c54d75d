"""After the whole suite: no planted secret value is anywhere in any test store.

Tests that put a secret into a folder use :func:`planted` for its value. At the
end of the session (see ``tests/conftest.py``) every object of every store the
session wrote (local stores under pytest's base temporary folder, and the
buckets the session's rigs made on the loopback emulators) is read, raw and
zstd-decompressed (a pack is a run of frames), and searched for the planted
marker, also in base64 and UTF-16. Sealed values (AES-GCM) carry no trace of
it; a clear one does.
Memory stores die with their worker process and are not scanned.
"""

from __future__ import annotations

import base64
import contextlib
import os
from collections.abc import Iterator
from pathlib import Path

from statesync.errors import StatesyncError

#: The marker every planted secret value carries; nothing else in the suite writes it.
MARKER = "pl4nted-s3cr3t"
#: Objects larger than this are read only raw (test stores hold no such secrets).
MAX_INFLATE = 256 * 1024 * 1024


def planted(name: str) -> str:
    """A secret value for a test folder; the end-of-session scan looks for it in every store."""
    return f"{MARKER}-{name}"


def _needles() -> list[bytes]:
    raw = MARKER.encode()
    out = [raw, MARKER.encode("utf-16-le"), MARKER.encode("utf-16-be")]
    # base64 of any bytes holding the marker holds base64(raw[k:k+9]) for the k
    # that puts raw[k] on a 3-byte group boundary.
    out += [base64.b64encode(raw[k : k + 9]) for k in range(3)]
    return out


NEEDLES = _needles()


def inflated(raw: bytes) -> bytes:
    """Every zstd frame in ``raw`` decompressed and joined (b"" if there is none)."""
    import zstandard

    out: list[bytes] = []
    start = raw.find(b"\x28\xb5\x2f\xfd")
    while start != -1 and sum(map(len, out)) < MAX_INFLATE:
        try:
            reader = zstandard.ZstdDecompressor().stream_reader(
                raw[start:], read_across_frames=True
            )
            out.append(reader.read(MAX_INFLATE))
            break
        except zstandard.ZstdError:
            start = raw.find(b"\x28\xb5\x2f\xfd", start + 1)
    return b"".join(out)


def leaks(raw: bytes) -> bool:
    """True if ``raw`` or its decompressed form holds a planted secret."""
    return any(n in raw for n in NEEDLES) or any(n in inflated(raw) for n in NEEDLES)


def local_store_objects(root: Path) -> Iterator[tuple[str, bytes]]:
    """(name, bytes) of every object of every local store (a folder with statesync.json)."""
    for descriptor in root.rglob("statesync.json"):
        store = descriptor.parent
        for dirpath, _dirs, files in os.walk(store):
            for name in files:
                path = Path(dirpath) / name
                if not path.is_symlink() and path.is_file():
                    yield str(path), path.read_bytes()


#: The file (set by the controller, see tests/conftest.py) where rigs note the buckets they make.
BUCKETS_VAR = "STATESYNC_LEAKSCAN_BUCKETS"


def record_bucket(scheme: str, bucket: str) -> None:
    """Note a bucket a rig made on an emulator, so the end-of-session scan reads it."""
    path = os.environ.get(BUCKETS_VAR)
    if path:
        with open(path, "a") as fh:  # one short line: appends from workers do not interleave
            fh.write(f"{scheme} {bucket}\n")


def emulator_objects() -> Iterator[tuple[str, bytes]]:
    """(url, bytes) of every object in every bucket this session made on the emulators."""
    from statesync.backends import open_backend

    path = os.environ.get(BUCKETS_VAR)
    lines = Path(path).read_text().split() if path and Path(path).is_file() else []
    for scheme, bucket in zip(lines[::2], lines[1::2], strict=True):
        backend = open_backend(f"{scheme}://{bucket}")
        try:
            for meta in backend.list(""):
                with contextlib.suppress(StatesyncError):  # a fault test's damaged object
                    yield f"{scheme}://{bucket}/{meta.key}", backend.get(meta.key)[0]
        finally:
            backend.close()


def scan(root: Path, clouds: bool = True) -> tuple[list[str], int]:
    """The objects holding a planted secret (local stores first), and how many were read."""
    count, found = 0, []
    objects = [local_store_objects(root)] + ([emulator_objects()] if clouds else [])
    for source in objects:
        for name, raw in source:
            count += 1
            if leaks(raw):
                found.append(name)
    return found, count
