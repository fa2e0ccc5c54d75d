"""SnapshotBuilder: entries whose digest is the SHA-256 of the whole file."""

from __future__ import annotations

import hashlib
import os

import pytest

from statesync.api import Store
from statesync.sync.store.builder import SnapshotBuilder
from statesync.sync.store.sealing import EnvKeys


@pytest.mark.parametrize("size", [0, 10, 300 * 1024, 3 * 1024 * 1024, 9 * 1024 * 1024])
def test_the_entry_digest_is_the_files_sha256_for_any_chunk_count(size: int) -> None:
    store = Store.init(f"memory://builder-{size}")
    builder = SnapshotBuilder(store.repo)
    data = os.urandom(size)
    entry = builder.add_bytes("f.bin", data, 0o644)
    builder.finish()
    assert entry.digest == hashlib.sha256(data).hexdigest()
    assert sum(n for _, n in entry.chunks) == size
    if len(entry.chunks) == 1:  # one chunk: the file's digest is its chunk id
        assert entry.chunks[0][0] == entry.digest


def test_keyed_chunk_ids_never_stand_in_for_the_file_digest() -> None:
    store = Store.init("memory://builder-keyed")
    keys = EnvKeys(store.store_id, "dev", 1, os.urandom(32))  # --encrypt all: keyed chunk ids
    builder = SnapshotBuilder(store.repo, keys=keys)
    data = os.urandom(1000)
    entry = builder.add_bytes("f.bin", data, 0o644)
    builder.abort()
    assert entry.chunks[0][0] == keys.chunk_id(data)
    assert entry.digest == hashlib.sha256(data).hexdigest() != entry.chunks[0][0]
