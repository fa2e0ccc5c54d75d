"""A damaged pack: keep every chunk that still verifies, move the pack aside.

A pack whose bytes no longer match its id (a flipped byte, a truncation,
another pack's bytes written over it) is handled as restic's ``repair
packs`` does: each chunk an index places in it is opened and checked against
its own id; the ones that pass are copied as they are stored (sealed chunks
stay sealed, under the same key) into a new pack with its own index. The
damaged bytes are then copied to ``damaged/objects/...`` for inspection
(outside every prefix a reader lists) and the caller forgets the pack: its
index rows are dropped and the object deleted. The chunks that failed are
absent from then on, so the next push from a folder that still holds their
files uploads them again, and every snapshot naming them reads again.

Order of writes: the new pack, its index, the copy aside; only then may the
caller drop rows and delete. A crash leaves a chunk indexed twice, never
a chunk that exists nowhere.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass

from statesync.backends.base import CREATE, OVERWRITE
from statesync.errors import AlreadyExists, CannotSalvage, IntegrityError, KeyFailure, NotFound
from statesync.sync.store import codec, layout
from statesync.sync.store.chunkindex import ChunkIndex, Location, PackEntries, write_index
from statesync.sync.store.content import open_chunk
from statesync.sync.store.indexdocs import Seal
from statesync.sync.store.repo import Repo


@dataclass(frozen=True)
class Quarantined:
    """A damaged pack moved aside: how many of its chunks were kept, and how many are lost.

    ``rewritten``: the kept chunks rebuilt the pack's exact bytes under its own
    id (the damage was only in bytes no chunk uses), so it stays where it is.
    """

    pack: str
    moved_to: str
    kept: int
    lost: int
    rewritten: bool = False


def quarantine(repo: Repo, pack: str, index: ChunkIndex) -> Quarantined | None:
    """Salvage and move aside ``pack`` if its bytes do not match its id (None if they do).

    Raises :class:`CannotSalvage` (nothing written) if a chunk is sealed with
    a key that is not available here.
    """
    where = layout.pack_key(pack)
    try:
        body, _ = repo.backend.get(where)
    except NotFound:
        return None
    if codec.sha256_hex(body) == pack:
        return None
    located = sorted(
        ((c, loc) for c, loc in index.locations.items() if loc.pack == pack),
        key=lambda item: item[1].offset,
    )
    groups, lost = _kept_chunks(repo, where, body, located)
    rewritten = any(_store_pack(repo, blobs, seal, pack) for seal, blobs in groups.items())
    moved_to = layout.damaged_key(where)
    repo.backend.put(moved_to, body, OVERWRITE)
    kept = sum(len(blobs) for blobs in groups.values())
    return Quarantined(where, moved_to, kept, lost, rewritten)


#: A kept chunk: (chunk id, stored blob, size of its content).
_Blob = tuple[str, bytes, int]


def _kept_chunks(
    repo: Repo, where: str, body: bytes, located: list[tuple[str, Location]]
) -> tuple[dict[Seal, list[_Blob]], int]:
    """The chunks that verify, grouped by the key they are sealed with; and how many failed."""
    groups: dict[Seal, list[_Blob]] = {}
    lost = 0
    for cid, loc in located:
        blob = body[loc.offset : loc.offset + loc.length]
        try:
            open_chunk(repo, loc, cid, blob, where)
        except IntegrityError:
            lost += 1
            continue
        except KeyFailure:
            env = loc.sealed[0] if loc.sealed else "?"
            raise CannotSalvage(
                f"{where}: its chunks are sealed for {env} and that key is not available here"
            ) from None
        groups.setdefault(loc.sealed, []).append((cid, blob, loc.size))
    return groups, lost


def _store_pack(repo: Repo, blobs: list[_Blob], seal: Seal, damaged: str) -> bool:
    """Upload ``blobs`` as one pack and index it; True if that is ``damaged``'s own id."""
    rows: list[list[object]] = []
    offset = 0
    for cid, blob, size in blobs:
        rows.append([cid, offset, len(blob), size])
        offset += len(blob)
    body = b"".join(blob for _, blob, _ in blobs)
    pack = codec.sha256_hex(body)
    if pack == damaged:  # the id pins these bytes: putting them back is the repair
        repo.backend.put(layout.pack_key(pack), body, OVERWRITE)
    else:
        with contextlib.suppress(AlreadyExists):  # the very same chunks were saved before
            repo.backend.put(layout.pack_key(pack), body, CREATE)
    entries: PackEntries = {pack: {"rows": rows, "key": list(seal)} if seal else rows}
    write_index(repo, entries, repo.keys(*seal) if seal else None)
    return pack == damaged
