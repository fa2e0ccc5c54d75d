"""gc's writes: rewrite mostly-garbage packs, delete what is gone, rewrite indexes.

Copies are written before anything is condemned, so a reader or a push that
skips a condemned pack finds every live chunk of it in the new pack. A
chunk's stored blob is copied byte for byte: a sealed chunk's associated
data names the store and the chunk, never its pack, so it moves without
being opened (the new index is sealed with the same key, which gc must have).
"""

from __future__ import annotations

import contextlib
import hashlib
from collections import defaultdict
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from statesync.backends.base import CREATE, Digested
from statesync.errors import AlreadyExists, IntegrityError, KeyFailure, NotFound
from statesync.sync.store import codec, layout
from statesync.sync.store.chunkindex import (
    ChunkIndex,
    Location,
    PackEntries,
    read_index_doc,
    write_index,
)
from statesync.sync.store.repo import Repo

_WORKERS = 8


@dataclass
class Written:
    """What gc wrote: new pack and index ids, and their stored bytes."""

    packs: int = 0
    indexes: int = 0
    bytes: int = 0
    copied: frozenset[str] = frozenset()  # chunks that now also live in a new pack
    #: the packs the copies went to; one may have been there already, unindexed (a gc
    #: killed after its copy, before the copy's index): never condemn these
    pack_ids: frozenset[str] = frozenset()


def repack(repo: Repo, index: ChunkIndex, packs: set[str], live: set[str]) -> Written:
    """Copy the live chunks of ``packs`` into new packs, one index per sealing key.

    Packs whose key is not available here are left as they are (removed from ``packs``).
    """
    groups: dict[tuple[str, int] | None, list[tuple[str, Location]]] = defaultdict(list)
    for cid in sorted(live):
        loc = index.locations.get(cid)
        if loc is not None and loc.pack in packs:
            groups[loc.sealed].append((cid, loc))
    out = Written()
    copied: set[str] = set()
    written: set[str] = set()
    for sealed, chunks in groups.items():
        try:
            keys = repo.keys(*sealed) if sealed else None
        except KeyFailure:
            packs.difference_update({loc.pack for _, loc in chunks})
            continue
        body_of = _bodies(repo, {loc.pack for _, loc in chunks})
        parts = [body_of[loc.pack][loc.offset : loc.offset + loc.length] for _, loc in chunks]
        rows, offset = [], 0
        for (cid, loc), blob in zip(chunks, parts, strict=True):
            rows.append([cid, offset, len(blob), loc.size])
            offset += len(blob)
        pack_id = hashlib.sha256(b"".join(parts)).hexdigest()
        with contextlib.suppress(AlreadyExists):  # the same bytes are already there
            repo.backend.put(layout.pack_key(pack_id), Digested(parts, pack_id), CREATE)
        entries: PackEntries = {pack_id: {"rows": rows, "key": list(sealed)} if sealed else rows}
        index_id = write_index(repo, entries, keys)
        out.packs += 1
        out.indexes += 1
        out.bytes += offset + _size(repo, layout.index_key(str(index_id)))
        copied |= {cid for cid, _ in chunks}
        written.add(pack_id)
    out.copied, out.pack_ids = frozenset(copied), frozenset(written)
    return out


def _bodies(repo: Repo, packs: set[str]) -> dict[str, bytes]:
    """Each pack's body, checked against its id (:class:`IntegrityError` if torn)."""
    out = {}
    for pack in packs:
        body, _ = repo.backend.get(layout.pack_key(pack))
        if codec.sha256_hex(body) != pack:
            raise IntegrityError(
                f"{layout.pack_key(pack)}: content does not match its id; "
                "gc stopped before deleting anything (run statesync repair)"
            )
        out[pack] = body
    return out


def _size(repo: Repo, key: str) -> int:
    try:
        return repo.backend.head(key).size
    except NotFound:
        return 0


def delete_all(repo: Repo, keys: Iterable[str], check: Callable[[], None]) -> None:
    """Delete every key (absent ones are fine), calling ``check`` (the lease) before each batch."""
    batch: list[str] = []
    for key in keys:
        batch.append(key)
        if len(batch) >= 100:
            _delete_batch(repo, batch, check)
            batch = []
    if batch:
        _delete_batch(repo, batch, check)


def _delete_batch(repo: Repo, batch: list[str], check: Callable[[], None]) -> None:
    check()
    with ThreadPoolExecutor(max_workers=_WORKERS) as pool:
        list(pool.map(repo.backend.delete, batch))


def rewrite_indexes(
    repo: Repo, index: ChunkIndex, gone: set[str], check: Callable[[], None]
) -> tuple[list[str], Written]:
    """Delete indexes naming only removed packs; rewrite those naming some.

    Returns the index ids removed and what was written. An index gc cannot
    read or re-seal here stays as it is: its stale rows name absent packs,
    which every reader drops.
    """
    removed: list[str] = []
    out = Written()
    for index_id, named in sorted(index.packs_by_index.items()):
        if not named & gone:
            continue
        survivors = named - gone
        if survivors and not _rewrite(repo, index_id, survivors, out):
            continue
        removed.append(index_id)
    delete_all(repo, [layout.index_key(i) for i in removed], check)
    return removed, out


def _rewrite(repo: Repo, index_id: str, survivors: set[str], out: Written) -> bool:
    """Write a new index with only ``survivors``' rows; False if that cannot be done here."""
    found = read_index_doc(repo, index_id)
    if found is None:
        return False
    packs, sealed = found
    try:
        keys = repo.keys(*sealed) if sealed else None
    except KeyFailure:
        return False
    new_id = write_index(repo, {p: v for p, v in packs.items() if p in survivors}, keys)
    out.indexes += 1
    out.bytes += _size(repo, layout.index_key(str(new_id)))
    return True
