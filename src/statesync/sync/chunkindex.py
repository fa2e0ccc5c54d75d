"""Which chunks the store holds, and where: the pack indexes.

Each push that uploads packs writes one immutable ``index/<id>`` object
mapping chunk id -> (pack, offset, length, size). Index objects are cached on
disk by id; the listing is always read from the store, so an index that gc
removed is never trusted, and each cached body is re-verified against its id.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from statesync.backends.base import CREATE
from statesync.errors import AlreadyExists, IntegrityError, KeyFailure, NotFound
from statesync.paths import cache_dir
from statesync.sync import codec, fields, layout
from statesync.sync.repo import Repo
from statesync.sync.sealing import EnvKeys, index_header

INDEX_VERSION = 1


@dataclass(frozen=True)
class Location:
    """Where one chunk lives: ``length`` stored bytes at ``offset`` in ``pack``."""

    pack: str
    offset: int
    length: int
    size: int
    sealed: tuple[str, int] | None = None  # (env, key generation) under --encrypt all


#: pack id -> rows ``[chunk id, offset, length, size]``, or ``{"rows": rows,
#: "key": [env, generation]}`` for a pack sealed with an environment's key.
PackEntries = dict[str, Any]


class ChunkIndex:
    """Chunk id -> :class:`Location`, loaded from every index object in the store."""

    def __init__(self) -> None:
        self.locations: dict[str, Location] = {}
        #: (index key, env) of sealed indexes skipped for want of that env's key
        self.unreadable: list[tuple[str, str]] = []

    def __contains__(self, chunk_id: str) -> bool:
        return chunk_id in self.locations

    def add_packs(self, packs: PackEntries, where: str = layout.INDEX) -> None:
        """Add an index's packs; every row checked by type and range (:class:`IntegrityError`)."""
        for pack_id, value in packs.items():
            rows, sealed = value, None
            if isinstance(value, dict):
                env, gen = value["key"]
                sealed = (fields.text(env, where, "key"), fields.integer(gen, where, "key", 1))
                rows = value["rows"]
            fields.hex_id(pack_id, where, "pack id")
            for cid, off, length, size in rows:
                self.locations[fields.text(cid, where, "chunk id", empty=False)] = Location(
                    pack_id, fields.integer(off, where, "offset"),
                    fields.integer(length, where, "length"), fields.integer(size, where, "size"),
                    sealed)

    def locate(self, chunk_id: str) -> Location:
        try:
            return self.locations[chunk_id]
        except KeyError:
            if self.unreadable:
                envs = ", ".join(sorted({env for _, env in self.unreadable}))
                raise KeyFailure(f"chunk {chunk_id[:12]} is not in any index readable here; "
                                 f"sealed indexes of {envs} need their key") from None
            raise IntegrityError(f"chunk {chunk_id[:12]} is missing from the store") from None


def load_index(repo: Repo) -> ChunkIndex:
    """Read every index object (cached by id, always verified)."""
    ids = [layout.index_id_from_key(m.key) for m in repo.backend.list(layout.INDEX)]
    index = ChunkIndex()
    with ThreadPoolExecutor(max_workers=8) as pool:
        for index_id, doc in zip(ids, pool.map(lambda i: _load_one(repo, i), ids), strict=True):
            if isinstance(doc, _Unreadable):
                index.unreadable.append((layout.index_key(index_id), doc.env))
                continue
            try:
                index.add_packs(doc["packs"], layout.index_key(index_id))
            except (KeyError, TypeError, ValueError):
                raise IntegrityError(f"{layout.index_key(index_id)}: malformed index") from None
    return index


def write_index(repo: Repo, packs: PackEntries, keys: EnvKeys | None = None) -> str | None:
    """Store an index for freshly uploaded ``packs``; return its id (None if empty).

    ``keys`` (``--encrypt all``): the index is sealed with them; its id is
    still the SHA-256 of exactly what is stored.
    """
    if not packs:
        return None
    index_id, body = codec.seal_document({"version": INDEX_VERSION, "packs": packs})
    if keys is not None:
        body = keys.seal_index(body)
        index_id = codec.sha256_hex(body)
    with contextlib.suppress(AlreadyExists):
        repo.backend.put(layout.index_key(index_id), body, CREATE)
    _cache_put(repo, index_id, body)
    return index_id


def _cache_path(repo: Repo, index_id: str) -> Path:
    return cache_dir() / repo.store_id / "index" / index_id


@dataclass(frozen=True)
class _Unreadable:
    """A sealed index whose environment's key is not available here."""

    env: str


def _load_one(repo: Repo, index_id: str) -> dict[str, PackEntries] | _Unreadable:
    where = layout.index_key(index_id)
    path = _cache_path(repo, index_id)
    with contextlib.suppress(OSError, IntegrityError):
        return _opened(repo, path.read_bytes(), index_id, where)
    try:
        body, _ = repo.backend.get(where)
    except NotFound:  # removed between list and get (gc): nothing to trust
        return {"packs": {}}
    doc = _opened(repo, body, index_id, where)
    _cache_put(repo, index_id, body)
    return doc


def _opened(repo: Repo, body: bytes, index_id: str,
            where: str) -> dict[str, PackEntries] | _Unreadable:
    """Verify ``body`` against its id, unseal it if sealed, and check its shape."""
    if codec.sha256_hex(body) != index_id:
        raise IntegrityError(f"{where}: content does not match its id (tampered or corrupt)")
    sealed = index_header(body, where)
    if sealed is not None:
        try:
            keys = repo.keys(*sealed)
        except KeyFailure:
            return _Unreadable(sealed[0])
        body = keys.open_index(body, where)
    return _checked(codec.open_document(body, None, where), where)


def _checked(doc: object, where: str) -> dict[str, PackEntries]:
    if not isinstance(doc, dict) or doc.get("version") != INDEX_VERSION:
        raise IntegrityError(f"{where}: unknown index format")
    if not isinstance(doc.get("packs"), dict):
        raise IntegrityError(f"{where}: malformed index")
    return doc


def _cache_put(repo: Repo, index_id: str, body: bytes) -> None:
    path = _cache_path(repo, index_id)
    with contextlib.suppress(OSError):
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent)
        with os.fdopen(fd, "wb") as fh:
            fh.write(body)
        os.replace(tmp, path)
