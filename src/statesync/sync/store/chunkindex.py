"""Which chunks the store holds, and where: the pack indexes.

Each push that uploads packs writes one immutable ``index/<id>`` object
mapping chunk id -> (pack, offset, length, size). Index objects are cached on
disk by id; the listing is always read from the store, so an index that gc
removed is never trusted, and each cached body is re-verified against its id.

Damage stays local: an index that cannot be read is skipped with a warning
(its chunks are then unknown, so a push uploads them again), and a location
whose pack is absent from the store's listing of ``objects/`` is dropped, so
a push never "reuses" a chunk that is gone (the cost: one ``list`` per load).
A read that needs a chunk no usable index names rebuilds its location from
the packs no usable index covers (:mod:`statesync.sync.store.packscan`).
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from statesync.backends.base import CREATE
from statesync.errors import (
    AlreadyExists,
    BackendUnavailable,
    IntegrityError,
    KeyFailure,
    NotFound,
    StatesyncError,
)
from statesync.fsutil import write_atomic
from statesync.paths import cache_dir
from statesync.sync.store import codec, fields, layout
from statesync.sync.store.repo import Repo
from statesync.sync.store.sealing import EnvKeys, index_header

INDEX_VERSION = 1
log = logging.getLogger(__name__)


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


@dataclass(frozen=True)
class IndexDamage:
    """An index object that could not be used, and why."""

    key: str
    problem: str


class ChunkIndex:
    """Chunk id -> :class:`Location`, loaded from every index object in the store.

    ``damaged``: index objects skipped; ``lost``: chunk id -> the missing pack
    that was its only known home; ``indexed_packs``: every pack a usable index
    names; ``present_packs``: the packs the store listed (None: not listed);
    ``unreadable``: (index key, env) of sealed indexes skipped for want of
    that environment's key.
    """

    def __init__(self) -> None:
        self.locations: dict[str, Location] = {}
        self.damaged: list[IndexDamage] = []
        self.lost: dict[str, str] = {}
        self.indexed_packs: set[str] = set()
        self.present_packs: set[str] | None = None
        self.unreadable: list[tuple[str, str]] = []
        #: index id -> the packs it names (usable indexes only; gc rewrites from it)
        self.packs_by_index: dict[str, set[str]] = {}
        self._repo: Repo | None = None  # set when a damaged index may be rebuilt from packs

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
                    pack_id,
                    fields.integer(off, where, "offset"),
                    fields.integer(length, where, "length"),
                    fields.integer(size, where, "size"),
                    sealed,
                )

    def locate(self, chunk_id: str) -> Location:
        """Where ``chunk_id`` is; :class:`IntegrityError` naming its missing pack if gone."""
        if chunk_id not in self.locations and self._repo is not None:
            repo, self._repo = self._repo, None  # scan the uncovered packs once
            self._rescan(repo)
        try:
            return self.locations[chunk_id]
        except KeyError:
            if self.unreadable and chunk_id not in self.lost:
                envs = ", ".join(sorted({env for _, env in self.unreadable}))
                raise KeyFailure(
                    f"chunk {chunk_id[:12]} is not in any index readable here; "
                    f"sealed indexes of {envs} need their key"
                ) from None
            pack = self.lost.get(chunk_id)
            where = f" (its pack {layout.pack_key(pack)} is missing)" if pack else ""
            if not pack and self.damaged:  # the likely cause: say it in the one error line
                first = self.damaged[0]
                where = f" (a damaged index may have named it: {first.key}: {first.problem})"
            raise IntegrityError(
                f"chunk {chunk_id[:12]} is missing from the store{where}"
            ) from None

    def uncovered_packs(self) -> list[str]:
        """Packs in the store that no usable index names (damaged indexes' or crashed pushes')."""
        return sorted((self.present_packs or set()) - self.indexed_packs)

    def _rescan(self, repo: Repo) -> None:
        from statesync.sync.store.packscan import scan_pack

        for pack in self.uncovered_packs():
            where = layout.pack_key(pack)
            intact = False
            try:
                body, _ = repo.backend.get(where)
                if codec.sha256_hex(body) != pack:
                    raise IntegrityError(f"{where}: content does not match its id")
                intact = True
                self.add_packs({pack: scan_pack(body, where)})
            except BackendUnavailable:
                raise  # the store is away: not a damaged pack
            except StatesyncError as exc:
                # An intact pack that does not scan is sealed: only its index locates its
                # chunks (said by the error of a chunk not found, not as a warning here).
                level = logging.INFO if intact else logging.WARNING
                log.log(level, "%s: cannot rebuild its index from it: %s", where, exc)


def load_index(
    repo: Repo,
    *,
    cached: bool = True,
    skip_packs: frozenset[str] = frozenset(),
    known: dict[str, ChunkIndex] | None = None,
) -> ChunkIndex:
    """Read every index object, skipping damaged ones, and keep only locations that exist.

    ``cached=False`` reads every index body from the store (``verify``).
    ``skip_packs``: packs to count as absent (those a running gc condemned,
    see :mod:`statesync.sync.store.gc_marker`). ``known``: index id -> its
    rows, already read and verified by this process (index objects never
    change): only listed ids not in it are read, and those read are added to
    it (a long-lived writer's memory, :mod:`statesync.sync.store.indexcache`).
    Which packs exist always comes from the fresh listing. Never raises for a
    damaged index: it is named in ``damaged`` and logged.
    """
    ids = [layout.index_id_from_key(m.key) for m in repo.backend.list(layout.INDEX)]
    # Listed after the indexes: a pack is uploaded before the index naming it.
    present = {
        p
        for m in repo.backend.list(layout.OBJECTS)
        if (p := layout.pack_id_from_key(m.key)) is not None
    } - skip_packs
    index = ChunkIndex()
    index.present_packs = present
    for index_id, doc in zip(ids, _read_all(repo, ids, cached, known), strict=True):
        if isinstance(doc, _Unreadable):
            index.unreadable.append((layout.index_key(index_id), doc.env))
        elif isinstance(doc, IndexDamage):
            # A damaged keyring (not the index) is named by the error of whatever needed
            # it, and repair cannot help: no warning for it.
            level = logging.INFO if doc.problem.startswith(layout.KEYS) else logging.WARNING
            log.log(level, "%s: %s; skipped (run 'statesync repair')", doc.key, doc.problem)
            index.damaged.append(doc)
        else:
            if known is not None:
                known[index_id] = doc
            index.packs_by_index[index_id] = {loc.pack for loc in doc.locations.values()}
            _merge(index, doc, present)
    for cid in [c for c in index.lost if c in index.locations]:
        del index.lost[cid]
    if index.damaged or index.uncovered_packs():  # a deleted index too: locate() rescans
        index._repo = repo
    return index


def _read_all(
    repo: Repo, ids: list[str], cached: bool, known: dict[str, ChunkIndex] | None
) -> list[ChunkIndex | IndexDamage | _Unreadable]:
    """Each index's rows, in ``ids``' order; only those not ``known`` are read (8 at once)."""
    have = known or {}
    todo = [i for i in ids if i not in have]
    if len(todo) > 1:  # a pool only when there is something to overlap
        with ThreadPoolExecutor(max_workers=8) as pool:
            read = dict(
                zip(todo, pool.map(lambda i: _read_one(repo, i, cached), todo), strict=True)
            )
    else:
        read = {i: _read_one(repo, i, cached) for i in todo}
    return [have[i] if i in have else read[i] for i in ids]


def learn(index: ChunkIndex, packs: PackEntries) -> ChunkIndex:
    """Add the rows of packs this process just uploaded (they exist) to ``index``.

    Returns those rows alone, as :func:`load_index` reads an index naming them.
    """
    part = ChunkIndex()
    part.add_packs(packs)
    present = {loc.pack for loc in part.locations.values()}
    if index.present_packs is not None:
        index.present_packs |= present
    _merge(index, part, present)
    for cid in part.locations:
        index.lost.pop(cid, None)
    return part


def _read_one(repo: Repo, index_id: str, cached: bool) -> ChunkIndex | IndexDamage | _Unreadable:
    where = layout.index_key(index_id)
    try:
        part = ChunkIndex()
        doc = _load_one(repo, index_id, cached)
        if isinstance(doc, _Unreadable):
            return doc
        part.add_packs(doc["packs"], where)
    except IntegrityError as exc:
        return IndexDamage(where, str(exc).removeprefix(f"{where}: "))
    except (KeyError, TypeError, ValueError, AttributeError):
        return IndexDamage(where, "malformed index")
    return part


def read_index_doc(repo: Repo, index_id: str) -> tuple[PackEntries, tuple[str, int] | None] | None:
    """One index's packs and the key that seals it (None: plaintext) for gc's rewrite.

    Returns None for an index that cannot be read here (damaged, or sealed
    and no key): gc then leaves it alone.
    """
    where = layout.index_key(index_id)
    try:
        body, _ = repo.backend.get(where)
        doc = _opened(repo, body, index_id, where)
        if isinstance(doc, _Unreadable):
            return None
        return doc["packs"], index_header(body, where)
    except (StatesyncError, KeyError, TypeError, ValueError):
        return None


def _merge(index: ChunkIndex, part: ChunkIndex, present: set[str]) -> None:
    """Add ``part``'s locations whose pack exists; remember the others as lost."""
    for cid, loc in part.locations.items():
        index.indexed_packs.add(loc.pack)
        if loc.pack in present:
            index.locations[cid] = loc
        else:
            index.lost.setdefault(cid, loc.pack)


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
    # Names come from the store: hash the store id and insist on an id-shaped
    # index name, so neither can make the cache path leave the cache folder.
    if not layout.is_object_id(index_id):
        raise IntegrityError(f"{layout.index_key(index_id)}: malformed index name")
    folder = hashlib.sha256(b"statesync-cache\n" + repo.store_id.encode()).hexdigest()[:32]
    return cache_dir() / folder / "index" / index_id


@dataclass(frozen=True)
class _Unreadable:
    """A sealed index whose environment's key is not available here."""

    env: str


def _load_one(
    repo: Repo, index_id: str, cached: bool = True
) -> dict[str, PackEntries] | _Unreadable:
    where = layout.index_key(index_id)
    path = _cache_path(repo, index_id)
    with contextlib.suppress(OSError, IntegrityError):
        if cached:
            return _opened(repo, path.read_bytes(), index_id, where)
    try:
        body, _ = repo.backend.get(where)
    except NotFound:  # removed between list and get (gc): nothing to trust
        return {"packs": {}}
    doc = _opened(repo, body, index_id, where)
    _cache_put(repo, index_id, body)
    return doc


def _opened(
    repo: Repo, body: bytes, index_id: str, where: str
) -> dict[str, PackEntries] | _Unreadable:
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
    # Not fsynced: every cached body is verified against its id when read, and
    # one lost to a crash is simply fetched from the store again.
    path = _cache_path(repo, index_id)
    with contextlib.suppress(OSError):
        path.parent.mkdir(parents=True, exist_ok=True)
        write_atomic(path, body, durable=False)
