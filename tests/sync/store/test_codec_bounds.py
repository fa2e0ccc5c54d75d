"""Decompression is bounded by what the reader expects, never by what a frame declares.

A store writer can plant a small zstd object whose header declares gigabytes
(zstd's one-shot API allocates the declared size whatever ``max_output_size``
says) or that really inflates to gigabytes. Every read must stay small and
end in an integrity error (exit 4) naming the object.
"""

from __future__ import annotations

import hashlib
import json
import os
import resource
import struct
import subprocess
import sys
import tracemalloc
from pathlib import Path

import pytest
import zstandard

from statesync.errors import IntegrityError
from statesync.sync.store import codec
from tests.e2e.test_cli import run
from tests.helpers import write

GIB = 1 << 30


def declared_bomb(declared: int, content: bytes = b"{}" * 50) -> bytes:
    """A zstd frame whose header declares ``declared`` bytes but holds only ``content``."""
    header = b"\x28\xb5\x2f\xfd" + bytes([0xC0, 0x50]) + struct.pack("<Q", declared)
    block = (1 | (len(content) << 3)).to_bytes(3, "little")  # last, raw
    return header + block + content


def real_bomb(size: int) -> bytes:
    """A frame that really inflates to ``size`` zero bytes (built a MiB at a time)."""
    cctx = zstandard.ZstdCompressor(level=1)
    chunker = cctx.chunker(size=size)
    zero = bytes(1 << 20)
    out = [piece for _ in range(size >> 20) for piece in chunker.compress(zero)]
    return b"".join([*out, *chunker.finish()])  # type: ignore[no-untyped-call]


def peak_allocation(fn: object) -> int:
    tracemalloc.start()
    try:
        with pytest.raises(IntegrityError) as err:
            fn()  # type: ignore[operator]
        assert err.value.exit_code == 4
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def test_a_declared_size_is_not_allocated() -> None:
    bomb = declared_bomb(4 * GIB)
    doc = peak_allocation(lambda: codec.open_document(bomb, None, "index/x"))
    blob = peak_allocation(lambda: codec.open_blob(bomb, "0" * 64, 100, "objects/p"))
    assert doc < 64 << 20 and blob < 64 << 20


def test_a_real_bomb_stops_at_the_limit(monkeypatch: pytest.MonkeyPatch) -> None:
    bomb = real_bomb(256 << 20)
    assert len(bomb) < 64 * 1024
    monkeypatch.setattr(codec, "MAX_DOCUMENT", 16 << 20)
    with pytest.raises(IntegrityError, match=r"snapshots/abc: decompresses to more than"):
        codec.open_document(bomb, None, "snapshots/abc")
    assert peak_allocation(lambda: codec.open_blob(bomb, "0" * 64, 4096, "objects/p")) < 16 << 20


def test_a_frame_asking_for_a_huge_window_is_refused() -> None:
    single_segment = (
        b"\x28\xb5\x2f\xfd"
        + bytes([0xE0])
        + struct.pack("<Q", 8 * GIB)
        + (1 | (4 << 3)).to_bytes(3, "little")
        + b"{}{}"
    )
    with pytest.raises(IntegrityError, match="index/y: cannot be decoded"):
        codec.open_document(single_segment, None, "index/y")


def _limited_run(args: list[str], cwd: Path, limit: int) -> subprocess.CompletedProcess[str]:
    def cap() -> None:
        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))

    return subprocess.run(
        [sys.executable, "-m", "statesync.cli", *args],
        capture_output=True,
        text=True,
        cwd=cwd,
        env=dict(os.environ),
        timeout=120,
        preexec_fn=cap,
    )


def test_a_planted_index_bomb_stays_local_within_bounded_memory(tmp_path: Path) -> None:
    """The bomb is one damaged index: skipped with a warning by push and pull, exit 4 in verify."""
    store = tmp_path / "store"
    assert run("--store", store.as_uri(), "init").returncode == 0
    src = write(tmp_path / "src", "state.json", {"a": 1}).parent
    assert run("--store", store.as_uri(), "push", str(src), "--env", "dev").returncode == 0
    bomb = declared_bomb(8 * GIB)
    index_id = hashlib.sha256(bomb).hexdigest()
    (store / "index").mkdir(exist_ok=True)
    (store / "index" / index_id).write_bytes(bomb)  # a store writer's 40-byte object
    write(src, "more.json", {"b": 2})
    for args in (
        ["push", str(src), "--env", "dev"],
        ["pull", str(tmp_path / "out"), "--env", "dev"],
    ):
        proc = _limited_run(["--store", store.as_uri(), *args], tmp_path, 3 * GIB)
        assert proc.returncode == 0, proc.stderr
        assert f"index/{index_id}" in proc.stderr and "internal error" not in proc.stderr
    assert json.loads((tmp_path / "out" / "more.json").read_text()) == {"b": 2}
    proc = _limited_run(["--store", store.as_uri(), "verify"], tmp_path, 3 * GIB)
    assert proc.returncode == 4 and f"index/{index_id}" in proc.stderr, proc.stderr
