"""``repair``: rebuild what can be rebuilt, and say what is lost for good.

Modelled on restic's ``repair index`` and ``repair packs``: every index is
read from the store; one that is damaged, or that names a pack the store no
longer holds, is replaced by new indexes holding its still-valid entries plus
the entries read back from every plain pack no usable index covers
(:mod:`statesync.sync.store.packscan`). Sealed indexes (``--encrypt all``) are
opened with their environment's key and rewritten sealed with it; without
that key they are kept untouched and listed in ``skipped``
(:mod:`statesync.sync.store.indexdocs`). New indexes are written before anything is
deleted, so a crash leaves at worst a duplicate entry, never a gap. A pack
written by a push still in flight is merely indexed twice.

With ``read_data`` every needed pack is read; one whose bytes no longer match
its id has its intact chunks copied to a new pack and is moved aside
(:mod:`statesync.sync.store.salvage`), so its corrupt chunks count as absent and a
push re-uploads them.

What cannot be rebuilt here — a missing or corrupt chunk, a damaged manifest,
a malformed ref — is reported (a :class:`~statesync.sync.verify.Damage` per
object). A later push from a folder that still holds a lost file uploads its
chunks again under the same ids, and every snapshot naming them reads again.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace

from statesync.errors import BackendUnavailable, CannotSalvage, NotFound, StatesyncError
from statesync.sync.store import codec, layout
from statesync.sync.store.chunkindex import (
    PackEntries,
    load_index,
    write_index,
)
from statesync.sync.store.indexdocs import (
    IndexDoc,
    delete_quietly,
    read_index_doc,
    rows_of,
    write_grouped,
)
from statesync.sync.store.packscan import salvage_rows, scan_pack
from statesync.sync.store.repo import Repo
from statesync.sync.store.salvage import Quarantined, quarantine
from statesync.sync.verify import Damage, check

#: After a salvage, a push re-uploads what was lost; said with each lost pack.
HEAL_HINT = (
    "a push from a folder that still holds these files uploads them again, "
    "and these snapshots read again"
)


@dataclass
class RepairResult:
    """What repair changed, and what remains damaged after it (``lost``).

    ``quarantined``: damaged packs moved aside (``damaged/...``), with how
    many of their chunks were kept; ``skipped``: what could not be repaired
    here for want of a key (not damage).
    """

    removed_indexes: list[str] = field(default_factory=list)
    rebuilt_index: str | None = None
    dropped_chunks: int = 0  # index entries of corrupt chunks removed (read_data)
    scanned_packs: list[str] = field(default_factory=list)
    unreadable_packs: list[str] = field(default_factory=list)
    lost: list[Damage] = field(default_factory=list)
    quarantined: list[Quarantined] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    torn: list[str] = field(default_factory=list)  # ids of packs found not matching their id

    @property
    def ok(self) -> bool:
        return not self.lost


@dataclass
class _Indexes:
    """The store's indexes sorted into kept, replaced, and the entries to carry over."""

    covered: set[str] = field(default_factory=set)
    replaced: list[str] = field(default_factory=list)
    carried: PackEntries = field(default_factory=dict)
    opaque: list[IndexDoc] = field(default_factory=list)


def repair(repo: Repo, read_data: bool = False) -> RepairResult:
    """Rebuild the indexes from the packs; report what is still damaged (by object).

    With ``read_data`` every needed pack is read too: a pack whose bytes do not
    match its id is salvaged and moved aside, and the index entries of corrupt
    chunks are dropped, so the next push that holds their files uploads them again.
    """
    result = RepairResult()
    present = {
        p
        for m in repo.backend.list(layout.OBJECTS)
        if (p := layout.pack_id_from_key(m.key)) is not None
    }
    found = _sort_indexes(repo, present)
    result.skipped += [
        f"{d.key}: sealed for {d.seal[0] if d.seal else '?'}, whose key is not "
        "available here; kept as it is"
        for d in found.opaque
    ]
    packs = dict(found.carried)
    for pack in sorted(present - found.covered - set(packs)):
        rows = _scan(repo, pack, result, quiet=bool(found.opaque))
        if rows is not None:
            packs[pack] = rows
    written = write_grouped(repo, packs, set(found.replaced)) if packs else []
    result.rebuilt_index = written[0] if written else None
    # Judged before the stale indexes go: they still say which missing pack held what.
    report, bad = check(repo, None, read_data)
    result.lost = [d for d in report.damaged if d.object not in found.replaced]
    forget = _quarantine(repo, result.torn + report.torn_packs, result)
    corrupt = {(pack, cid) for cid, pack in bad.items() if pack is not None}
    if corrupt or forget:
        found.replaced.extend(
            _drop_rows(
                repo,
                lambda pack, cid: pack in forget or (pack, cid) in corrupt,
                set(found.replaced),
            )
        )
        result.dropped_chunks = len(corrupt)
    for key in found.replaced:
        if key not in written:  # else: rewritten in place with its right bytes
            delete_quietly(repo, key)
            result.removed_indexes.append(key)
    for pack in sorted(forget):
        delete_quietly(repo, layout.pack_key(pack))
    return result


def _quarantine(repo: Repo, torn: list[str], result: RepairResult) -> set[str]:
    """Salvage and move aside each torn pack; return the ids whose rows must be forgotten."""
    if not torn:
        return set()
    index = load_index(repo, cached=False)
    forget = set()
    for pack in sorted(set(torn)):
        try:
            done = quarantine(repo, pack, index)
        except CannotSalvage as exc:
            result.skipped.append(f"{exc}: run repair --read-data where it is")
            continue
        if done is None:
            continue
        result.quarantined.append(done)
        if not done.rewritten:
            forget.add(pack)
        result.lost = [
            _after_salvage(d, done)
            for d in result.lost
            if d.object != done.pack or (done.lost and d.snapshots)
        ]
    return forget


def _after_salvage(damage: Damage, done: Quarantined) -> Damage:
    if damage.object != done.pack:
        return damage
    return replace(
        damage,
        problem=(
            f"{damage.problem}; moved aside to {done.moved_to}, "
            f"{done.kept} chunk(s) kept, {done.lost} lost: {HEAL_HINT}"
        ),
    )


def _sort_indexes(repo: Repo, present: set[str]) -> _Indexes:
    """Keep indexes whose packs all exist; carry the valid entries of the others."""
    out = _Indexes()
    for meta in repo.backend.list(layout.INDEX):
        doc = read_index_doc(repo, meta.key)
        if doc.opaque:
            out.opaque.append(doc)
            continue
        packs = doc.packs
        if packs is not None and set(packs) <= present:
            out.covered.update(packs)
            continue
        out.replaced.append(meta.key)
        out.carried.update({p: rows for p, rows in (packs or {}).items() if p in present})
    return out


def _scan(repo: Repo, pack: str, result: RepairResult, quiet: bool) -> list[list[object]] | None:
    """Rows read back from a plain pack no index covers (None: missing or unreadable).

    ``quiet``: an opaque sealed index may cover it, so a pack that is not
    plain is not named as unreadable.
    """
    where = layout.pack_key(pack)
    try:
        body, _ = repo.backend.get(where)
        if codec.sha256_hex(body) != pack:
            return _torn(pack, salvage_rows(body, where), result, quiet)
        rows = scan_pack(body, where)
    except NotFound:
        return None
    except BackendUnavailable:
        raise  # an outage says nothing about the pack: never rebuild without it
    except StatesyncError:
        if not quiet:
            result.unreadable_packs.append(where)
        return None
    result.scanned_packs.append(where)
    return rows


def _torn(
    pack: str, rows: list[list[object]], result: RepairResult, quiet: bool
) -> list[list[object]] | None:
    """A torn plain pack no index covers: index what still decodes, then quarantine it."""
    if not rows:
        if not quiet:
            result.unreadable_packs.append(layout.pack_key(pack))
        return None
    result.scanned_packs.append(layout.pack_key(pack))
    result.torn.append(pack)
    return rows


def _drop_rows(repo: Repo, doomed: Callable[[str, str], bool], skip: set[str]) -> list[str]:
    """Rewrite every index holding a doomed ``(pack, chunk)``; return the keys it replaces.

    A sealed index is rewritten sealed with its own key.
    """
    replaced = []
    for meta in repo.backend.list(layout.INDEX):
        doc = None if meta.key in skip else read_index_doc(repo, meta.key)
        if doc is None or doc.packs is None:
            continue
        kept = {p: _filtered(p, v, doomed) for p, v in doc.packs.items()}
        dropped = sum(len(rows_of(v)) - len(rows_of(kept[p])) for p, v in doc.packs.items())
        if not dropped:
            continue
        write_index(
            repo,
            {p: v for p, v in kept.items() if rows_of(v)},
            repo.keys(*doc.seal) if doc.seal else None,
        )
        replaced.append(meta.key)
    return replaced


def _filtered(pack: str, value: object, doomed: Callable[[str, str], bool]) -> object:
    rows = [r for r in rows_of(value) if not doomed(pack, str(r[0]))]
    return {**value, "rows": rows} if isinstance(value, dict) else rows
