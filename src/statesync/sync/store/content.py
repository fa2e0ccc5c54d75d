"""Read a snapshot's file contents from the store, verifying every byte.

Each chunk is checked against its id after decompression (and decryption when
its pack is sealed), then each file against its digest. Writing contents into
a folder is :mod:`statesync.sync.folder.download`.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator

from statesync.errors import IntegrityError
from statesync.sync.store import codec, layout
from statesync.sync.store.chunkindex import ChunkIndex, Location
from statesync.sync.store.manifest import Entry
from statesync.sync.store.repo import Repo
from statesync.sync.store.reread import reread_once


def open_chunk(repo: Repo, loc: Location, cid: str, blob: bytes, where: str) -> bytes:
    """Decode one stored chunk (decrypting it if its pack is sealed) and verify its id."""
    if loc.sealed is None:
        return codec.open_blob(blob, cid, loc.size, where)
    keys = repo.keys(*loc.sealed)
    return codec.open_blob(
        keys.open_chunk(cid, blob, where), cid, loc.size, where, name=keys.chunk_id
    )


def iter_entry(repo: Repo, index: ChunkIndex, entry: Entry) -> Iterator[bytes]:
    """Yield an entry's content chunk by chunk, each verified; then check the digest.

    Memory is bounded by one chunk. A chunk that fails its check is read once
    more (transit damage); raises :class:`IntegrityError` on any lasting mismatch.
    """
    h = hashlib.sha256()
    for cid, _size in entry.chunks:
        loc = index.locate(cid)
        where = layout.pack_key(loc.pack)
        data = reread_once(
            where,
            lambda: repo.backend.get_range(where, loc.offset, loc.length),  # noqa: B023
            lambda blob: open_chunk(repo, loc, cid, blob, where),  # noqa: B023
        )
        h.update(data)
        yield data
    if h.hexdigest() != entry.digest:
        raise IntegrityError(f"{entry.path}: content does not match the snapshot digest")


def read_entry(repo: Repo, index: ChunkIndex, entry: Entry) -> bytes:
    """An entry's whole content in memory (for documents and bundles)."""
    return b"".join(iter_entry(repo, index, entry))
