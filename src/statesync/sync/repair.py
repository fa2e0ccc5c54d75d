"""``repair``: rebuild what can be rebuilt, and say what is lost for good.

Modelled on restic's ``repair index``: every index is read from the store;
one that is damaged, or that names a pack the store no longer holds, is
replaced by one new index holding its still-valid entries plus the entries
read back from every plain pack no usable index covers
(:mod:`statesync.sync.store.packscan`). The new index is written before anything
is deleted, so a crash leaves at worst a duplicate entry, never a gap. A
pack written by a push still in flight is merely indexed twice.

What cannot be rebuilt here — a missing pack's chunks, a damaged manifest,
a malformed ref — is reported (a :class:`~statesync.sync.verify.Damage` per
object). A later push from a folder that still holds a lost file uploads its
chunks again under the same ids, and every snapshot naming them reads again.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass, field
from typing import Any

from statesync.backends.base import OVERWRITE
from statesync.errors import BackendUnavailable, IntegrityError, NotFound, StatesyncError
from statesync.sync.store import codec, layout
from statesync.sync.store.chunkindex import INDEX_VERSION, ChunkIndex, PackEntries, write_index
from statesync.sync.store.packscan import scan_pack
from statesync.sync.store.repo import Repo
from statesync.sync.verify import Damage, check


@dataclass
class RepairResult:
    """What repair changed, and what remains damaged after it (``lost``)."""

    removed_indexes: list[str] = field(default_factory=list)
    rebuilt_index: str | None = None
    dropped_chunks: int = 0  # entries of corrupt chunks removed (read_data)
    scanned_packs: list[str] = field(default_factory=list)
    unreadable_packs: list[str] = field(default_factory=list)
    lost: list[Damage] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.lost


@dataclass
class _Indexes:
    """The store's indexes sorted into kept, replaced, and the entries to carry over."""

    covered: set[str] = field(default_factory=set)
    replaced: list[str] = field(default_factory=list)
    carried: PackEntries = field(default_factory=dict)


def repair(repo: Repo, read_data: bool = False) -> RepairResult:
    """Rebuild the indexes from the packs; report what is still damaged (by object).

    With ``read_data`` every needed chunk is read too, and the index entries of
    corrupt chunks are dropped, so the next push that holds their files
    uploads them again.
    """
    result = RepairResult()
    present = {p for m in repo.backend.list(layout.OBJECTS)
               if (p := layout.pack_id_from_key(m.key)) is not None}
    found = _sort_indexes(repo, present)
    packs = dict(found.carried)
    for pack in sorted(present - found.covered - set(packs)):
        rows = _scan(repo, pack, result)
        if rows is not None:
            packs[pack] = rows
    if packs:
        result.rebuilt_index = _write_rebuilt(repo, packs, found.replaced)
    # Judged before the stale indexes go: they still say which missing pack held what.
    report, bad = check(repo, None, read_data)
    result.lost = [d for d in report.damaged if d.object not in found.replaced]
    corrupt = {(pack, cid) for cid, pack in bad.items() if pack is not None}
    if corrupt:
        found.replaced.extend(_drop_rows(repo, corrupt, set(found.replaced), result))
    for key in found.replaced:
        if key != result.rebuilt_index:  # else: rewritten in place with its right bytes
            with contextlib.suppress(NotFound):
                repo.backend.delete(key)
            result.removed_indexes.append(key)
    return result


def _write_rebuilt(repo: Repo, packs: PackEntries, replaced: list[str]) -> str:
    """Write the new index; over a damaged body that has the very same id, overwrite it.

    The rebuilt index of an unchanged set of packs is byte-identical to the
    original, so a corrupt original holds its key: the id pins the right
    bytes, which makes replacing them safe.
    """
    index_id, body = codec.seal_document({"version": INDEX_VERSION, "packs": packs})
    key = layout.index_key(index_id)
    if key in replaced:
        repo.backend.put(key, body, OVERWRITE)
        return key
    return layout.index_key(str(write_index(repo, packs)))


def _sort_indexes(repo: Repo, present: set[str]) -> _Indexes:
    """Keep indexes whose packs all exist; carry the valid entries of the others."""
    out = _Indexes()
    for meta in repo.backend.list(layout.INDEX):
        packs = _read_index(repo, meta.key)
        if packs is not None and set(packs) <= present:
            out.covered.update(packs)
            continue
        out.replaced.append(meta.key)
        out.carried.update({p: rows for p, rows in (packs or {}).items() if p in present})
    return out


def _read_index(repo: Repo, key: str) -> PackEntries | None:
    """An index's packs as stored, or None if it is damaged in any way."""
    try:
        body, _ = repo.backend.get(key)
        doc = codec.open_document(body, layout.index_id_from_key(key), key)
    except (IntegrityError, NotFound):
        return None
    if not isinstance(doc, dict) or doc.get("version") != INDEX_VERSION:
        return None
    packs = doc.get("packs")
    if not isinstance(packs, dict):
        return None
    try:
        ChunkIndex().add_packs(packs)
    except (KeyError, TypeError, ValueError, AttributeError):
        return None
    return packs


def _scan(repo: Repo, pack: str, result: RepairResult) -> list[list[object]] | None:
    where = layout.pack_key(pack)
    try:
        body, _ = repo.backend.get(where)
        if codec.sha256_hex(body) != pack:
            raise IntegrityError(f"{where}: content does not match its id")
        rows = scan_pack(body, where)
    except NotFound:
        return None
    except BackendUnavailable:
        raise  # an outage says nothing about the pack: never rebuild without it
    except StatesyncError:
        result.unreadable_packs.append(where)
        return None
    result.scanned_packs.append(where)
    return rows


def _drop_rows(repo: Repo, corrupt: set[tuple[str, str]], skip: set[str],
               result: RepairResult) -> list[str]:
    """Rewrite every index naming a corrupt ``(pack, chunk)``; return the keys it replaces."""
    replaced = []
    for meta in repo.backend.list(layout.INDEX):
        packs = None if meta.key in skip else _read_index(repo, meta.key)
        if packs is None:
            continue
        kept = {p: _filtered(p, v, corrupt) for p, v in packs.items()}
        dropped = sum(len(_rows(v)) - len(_rows(kept[p])) for p, v in packs.items())
        if not dropped:
            continue
        result.dropped_chunks += dropped
        write_index(repo, {p: v for p, v in kept.items() if _rows(v)})
        replaced.append(meta.key)
    return replaced


def _rows(value: Any) -> list[list[Any]]:
    """An index's rows for one pack (plain: a list; sealed: ``{"rows", "key"}``)."""
    return list(value["rows"] if isinstance(value, dict) else value)


def _filtered(pack: str, value: Any, corrupt: set[tuple[str, str]]) -> Any:
    rows = [r for r in _rows(value) if (pack, str(r[0])) not in corrupt]
    return {**value, "rows": rows} if isinstance(value, dict) else rows
