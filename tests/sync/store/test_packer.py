"""Packs: many chunks per object, streamed without concatenation."""

from __future__ import annotations

import hashlib
import os

from statesync.api import Store
from statesync.sync.store import layout
from statesync.sync.store.builder import SnapshotBuilder


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
