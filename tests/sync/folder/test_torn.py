"""Push never records a torn file: a file rewritten while it is read is read again."""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from statesync.api import Store
from statesync.errors import TornFile
from statesync.sync.store.refs import read_ref
from tests.helpers import write

# A separate process, so it really runs while push reads (no GIL shared).
# Each version is a JSON document whose checksum field covers its payload; the
# in-place writer truncates and writes in pieces, as careless apps do.
_WRITER = r"""
import hashlib, json, os, random, sys, time
path, how, stop = sys.argv[1], sys.argv[2], sys.argv[3]
n = 0
while not os.path.exists(stop):
    n += 1
    payload = str(n) * random.randint(20000, 60000)
    doc = {"n": n, "payload": payload,
           "checksum": hashlib.sha256(payload.encode()).hexdigest()}
    data = json.dumps(doc).encode()
    if how == "rename":
        with open(path + ".tmp", "wb") as fh:
            fh.write(data)
        os.replace(path + ".tmp", path)
    else:
        with open(path, "wb", buffering=0) as fh:
            for at in range(0, len(data), 4096):
                fh.write(data[at:at + 4096])
    time.sleep(random.random() * 0.03)
"""


def _complete(data: bytes) -> bool:
    """True if ``data`` is one whole version the writer wrote."""
    try:
        doc = json.loads(data)
    except ValueError:
        return False
    return bool(doc["checksum"] == hashlib.sha256(doc["payload"].encode()).hexdigest())


@pytest.fixture(params=["rename", "inplace"])
def busy_folder(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Path]:
    root = tmp_path / "app"
    write(root, "notes.txt", "steady\n")
    write(root, "state.json", {"n": 0, "payload": "", "checksum": hashlib.sha256().hexdigest()})
    stop = tmp_path / "stop"
    proc = subprocess.Popen(
        [sys.executable, "-c", _WRITER, str(root / "state.json"), request.param, str(stop)]
    )
    try:
        time.sleep(0.2)  # let it start rewriting
        yield root
    finally:
        stop.touch()
        proc.wait(timeout=30)


def _snapshot_file(store: Store, snapshot: str, dest: Path) -> bytes:
    store.pull(dest, snapshot=snapshot, force=True)
    return (dest / "state.json").read_bytes()


def test_every_pushed_copy_is_one_whole_version(busy_folder: Path, tmp_path: Path) -> None:
    store = Store.init(str(tmp_path / "store"))
    pushed, refused = [], 0
    for i in range(10):
        before = read_ref(store.repo, "dev")
        try:
            result = store.push(busy_folder, "dev", message=f"push {i}")
        except TornFile as exc:
            assert "state.json" in str(exc)
            after = read_ref(store.repo, "dev")
            assert (after.ref.serial if after else 0) == (before.ref.serial if before else 0)
            refused += 1
            continue
        pushed.append(result.snapshot)
    torn = [
        s[:12]
        for i, s in enumerate(pushed)
        if not _complete(_snapshot_file(store, s, tmp_path / f"out{i}"))
    ]
    assert torn == [], f"{len(torn)} of {len(pushed)} pushed snapshots hold a torn state.json"
    assert pushed or refused


def test_a_quiet_file_is_read_once_and_cached(tmp_path: Path) -> None:
    root = tmp_path / "app"
    write(root, "state.json", {"n": 1})
    store = Store.init(str(tmp_path / "store"))
    first = store.push(root, "dev")
    again = store.push(root, "dev")
    assert first.changed and not again.changed
    assert _snapshot_file(store, first.snapshot, tmp_path / "out") == b'{\n  "n": 1\n}\n'
