"""Pack index objects as ``repair`` reads and rewrites them: plain, sealed, or opaque.

An index written under ``--encrypt all`` is sealed with its environment's
key. Repair opens it when that key is available here and writes what
replaces it sealed with the same key generation, so no row of a sealed pack
ever lands in a plain index. Without the key the index is *opaque*: it is
kept exactly as it is (it is not damage, and deleting it would lose the only
map of packs that cannot be read back without it).
"""

from __future__ import annotations

import contextlib
from collections.abc import Collection
from dataclasses import dataclass
from typing import Any

from statesync.backends.base import OVERWRITE
from statesync.errors import IntegrityError, KeyFailure, NotFound
from statesync.sync.store import codec, layout
from statesync.sync.store.chunkindex import INDEX_VERSION, ChunkIndex, PackEntries, write_index
from statesync.sync.store.repo import Repo
from statesync.sync.store.sealing import index_header

#: The key a pack's rows are sealed with: ``(env, generation)``, or None for a plain pack.
Seal = tuple[str, int] | None


@dataclass(frozen=True)
class IndexDoc:
    """One index object: its packs (None if damaged), its seal, and whether it is opaque."""

    key: str
    packs: PackEntries | None
    seal: Seal = None
    opaque: bool = False  # sealed, and its environment's key is not available here

    @property
    def damaged(self) -> bool:
        return self.packs is None and not self.opaque


def read_index_doc(repo: Repo, key: str) -> IndexDoc:
    """Read and check ``key``; damage and missing keys are reported in the result, not raised."""
    try:
        body, _ = repo.backend.get(key)
        if codec.sha256_hex(body) != layout.index_id_from_key(key):
            return IndexDoc(key, None)
        seal = index_header(body, key)
        if seal is not None:
            try:
                body = repo.keys(*seal).open_index(body, key)
            except KeyFailure:
                return IndexDoc(key, None, seal, opaque=True)
            except IntegrityError as exc:
                if str(exc).startswith(layout.KEYS):  # its keyring is damaged, not the index
                    return IndexDoc(key, None, seal, opaque=True)
                raise
        packs = _packs_of(codec.open_document(body, None, key))
    except (IntegrityError, NotFound):
        return IndexDoc(key, None)
    return IndexDoc(key, packs, seal)


def _packs_of(doc: object) -> PackEntries | None:
    if not isinstance(doc, dict) or doc.get("version") != INDEX_VERSION:
        return None
    packs = doc.get("packs")
    if not isinstance(packs, dict):
        return None
    try:
        ChunkIndex().add_packs(packs)  # every row checked by type and range
    except (IntegrityError, KeyError, TypeError, ValueError, AttributeError):
        return None
    return packs


def seal_of(value: Any) -> Seal:
    """The key a pack entry's rows are sealed with (entries were checked on reading)."""
    if isinstance(value, dict):
        env, gen = value["key"]
        return str(env), int(gen)
    return None


def rows_of(value: Any) -> list[list[Any]]:
    """A pack entry's rows (plain: a list; sealed: ``{"rows", "key"}``)."""
    return list(value["rows"] if isinstance(value, dict) else value)


def write_grouped(repo: Repo, packs: PackEntries, in_place: Collection[str] = ()) -> list[str]:
    """Write ``packs`` as one index per seal (plain, or each env's key); return their keys.

    A plain index whose key is in ``in_place`` (a damaged original holding the
    very same id) is overwritten: the id pins the right bytes.
    """
    groups: dict[Seal, PackEntries] = {}
    for pack, value in packs.items():
        groups.setdefault(seal_of(value), {})[pack] = value
    return [
        _write_one(repo, group, seal, in_place)
        for seal, group in sorted(groups.items(), key=lambda item: item[0] or ("", 0))
    ]


def _write_one(repo: Repo, packs: PackEntries, seal: Seal, in_place: Collection[str]) -> str:
    if seal is None:
        index_id, body = codec.seal_document({"version": INDEX_VERSION, "packs": packs})
        key = layout.index_key(index_id)
        if key in in_place:
            repo.backend.put(key, body, OVERWRITE)
            return key
    return layout.index_key(str(write_index(repo, packs, repo.keys(*seal) if seal else None)))


def delete_quietly(repo: Repo, key: str) -> None:
    """Delete ``key``; already gone is fine (another repair, or gc)."""
    with contextlib.suppress(NotFound):
        repo.backend.delete(key)
