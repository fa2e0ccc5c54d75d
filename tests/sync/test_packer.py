"""Packs: many chunks per object, streamed without concatenation."""

from __future__ import annotations

import io
import os

from statesync.api import Store
from statesync.sync import layout
from statesync.sync.builder import SnapshotBuilder
from statesync.sync.packer import PackReader


def test_pack_reader_reads_seeks_and_rereads() -> None:
    parts = [b"abc", b"", b"defgh", b"i"]
    reader = PackReader(parts)
    assert reader.read() == b"abcdefghi"
    reader.seek(2)
    assert reader.read(4) == b"cdef"
    assert reader.tell() == 6
    reader.seek(-2, io.SEEK_END)
    assert reader.read() == b"hi"
    assert reader.read() == b""


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
