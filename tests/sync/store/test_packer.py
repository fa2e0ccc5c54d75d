"""Packs: many chunks per object, streamed without concatenation."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import pytest

from statesync.api import Store
from statesync.errors import EnvNotFound, StatesyncError
from statesync.sync.store import layout
from statesync.sync.store import repo as repo_mod
from statesync.sync.store.builder import SnapshotBuilder
from statesync.sync.store.chunkindex import load_index


def test_a_pack_is_named_by_the_sha256_of_its_stored_bytes() -> None:
    store = Store.init("memory://packer-hash")
    builder = SnapshotBuilder(store.repo)
    for i in range(50):
        builder.add_bytes(f"f{i}.bin", os.urandom(4096), 0o644)
    builder.finish()
    (pack,) = store.repo.backend.list(layout.OBJECTS)
    body, _ = store.repo.backend.get(pack.key)
    assert pack.key == layout.pack_key(hashlib.sha256(body).hexdigest())


def test_small_files_share_packs_and_one_index(tmp_path: object) -> None:
    store = Store.init("memory://packer-test")
    builder = SnapshotBuilder(store.repo)
    for i in range(300):
        builder.add_bytes(f"f{i}.bin", os.urandom(2048), 0o644)
    builder.finish()
    packs = list(store.repo.backend.list(layout.OBJECTS))
    assert len(packs) == 1 and packs[0].size > 300 * 2048
    assert len(list(store.repo.backend.list(layout.INDEX))) == 1
    assert builder.uploaded_bytes == packs[0].size


def test_thousands_of_tiny_chunks_batched_across_packs_all_read_back(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Chunks go to the workers in batches; a batch that fills packs leaves none out."""
    monkeypatch.setattr(repo_mod, "DEFAULT_PACK_SIZE", 64 * 1024)  # read by init_repo
    folder = tmp_path / "src"
    for i in range(1500):
        p = folder / f"d{i // 100}" / f"f{i}.bin"
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_bytes(os.urandom(700 + i % 300))  # incompressible: packs fill predictably
    store = Store.init(str(tmp_path / "store"))
    store.push(folder, "e")
    packs = list(store.repo.backend.list(layout.OBJECTS))
    assert len(packs) > 10  # 1.3 MB of chunks in packs of 64 KiB
    located = load_index(store.repo).locations
    assert len(located) == 1500
    assert len({loc.pack for loc in located.values()}) == len(packs)
    store.pull(tmp_path / "back", "e")
    for i in range(1500):
        rel = f"d{i // 100}/f{i}.bin"
        assert (tmp_path / "back" / rel).read_bytes() == (folder / rel).read_bytes()


def test_a_failed_pack_upload_in_a_batch_fails_the_push(tmp_path: Path) -> None:
    """A worker's failure is raised to the producer, not lost with its batch."""
    store = Store.init(str(tmp_path / "store"))
    folder = tmp_path / "src"
    folder.mkdir()
    for i in range(50):
        (folder / f"f{i}.json").write_text(f'{{"n": {i}}}')
    objects = tmp_path / "store" / "objects"
    if objects.exists():
        objects.rmdir()
    objects.write_bytes(b"")  # a file where the pack folders go: every pack write fails
    with pytest.raises(StatesyncError):
        store.push(folder, "e")
    with pytest.raises(EnvNotFound):  # nothing half-visible: no snapshot, no ref
        store.log("e")
