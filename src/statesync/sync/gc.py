"""``gc``: apply retention policies and remove what no kept snapshot needs.

One gc at a time: it holds the store's gc lease (``locks/_gc``, heartbeat
running) and stops before each batch of deletions if the lease was lost.
The protocol that keeps concurrent pushes safe is in docs/ARCHITECTURE.md
("Garbage collection"); in order:

1. mark (:mod:`statesync.sync.gc_plan`): histories, policies, live chunks,
   garbage packs (older than ``grace`` by the store's clock) and packs to rewrite;
2. rewrite mostly-garbage packs (copies first);
3. publish a new gc generation naming the condemned packs;
4. look again: manifests written since step 1 and refs moved since then
   spare whatever they need;
5. delete forgotten manifests, condemned packs, then stale indexes;
6. publish the generation again with nothing condemned.

``dry_run`` does steps 1 and 4's reads only and writes nothing at all.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from statesync.backends.base import Meta
from statesync.errors import EnvNotFound, KeyFailure, StatesyncError
from statesync.sync import gc_plan, gc_sweep
from statesync.sync.gc_plan import History, Marks
from statesync.sync.store import gc_marker, layout, retention
from statesync.sync.store import leases as lease_mod
from statesync.sync.store.chunkindex import ChunkIndex, load_index
from statesync.sync.store.refs import list_envs, read_ref
from statesync.sync.store.repo import Repo
from statesync.sync.store.retention_store import read_policy
from statesync.sync.store.sealing import EnvKeys, KeyLookup

log = logging.getLogger(__name__)

#: Packs younger than this (by the store's clock) are never removed: a push may be
#: uploading them before its index and manifest name them.
DEFAULT_GRACE = 3600
#: A pack whose live bytes are under this share of its size is rewritten.
DEFAULT_REPACK_BELOW = 0.5
GC_TTL = 120


@dataclass(frozen=True)
class GcOptions:
    """What gc applies. ``policy`` None: each environment's stored policy (or keep all).

    ``env`` limits retention to one environment (unreferenced objects are
    still removed store-wide).
    """

    env: str | None = None
    policy: retention.Policy | None = None
    dry_run: bool = False
    grace: float = DEFAULT_GRACE
    repack_below: float = DEFAULT_REPACK_BELOW


@dataclass(frozen=True)
class EnvOutcome:
    """One environment: the policy applied, the snapshots kept and those removed."""

    env: str
    policy: dict[str, Any]
    kept: list[str]
    removed: list[str]
    note: str = ""


@dataclass
class GcReport:
    """What gc removed (or would, under ``dry_run``) and wrote; bytes as stored."""

    dry_run: bool
    generation: int
    envs: list[EnvOutcome] = field(default_factory=list)
    snapshots_removed: list[str] = field(default_factory=list)
    packs_removed: int = 0
    packs_repacked: int = 0
    packs_written: int = 0
    indexes_removed: int = 0
    indexes_written: int = 0
    removed_bytes: int = 0
    written_bytes: int = 0
    notes: list[str] = field(default_factory=list)

    @property
    def freed_bytes(self) -> int:
        return self.removed_bytes - self.written_bytes


def gc(repo: Repo, opts: GcOptions) -> GcReport:
    """Run gc; :class:`LockedError` if another gc holds the lease.

    Raises :class:`IntegrityError` (nothing removed) for a ref or manifest
    that cannot be parsed, :class:`GcRaced` if another gc wrote the marker.
    """
    inner = repo.keys
    repo.keys = _once_per_key(inner)
    try:
        if opts.dry_run:
            return _run(repo, opts, None)
        with lease_mod.held(repo, layout.GC_LEASE, "gc", ttl=GC_TTL) as lease:
            return _run(repo, opts, lease)
    finally:
        repo.keys = inner


def _once_per_key(inner: KeyLookup) -> KeyLookup:
    """``inner``, asked at most once per (env, generation), one caller at a time.

    gc reads many sealed objects from many threads: unwrapping a key is a
    memory-hard KDF, and a missing key would otherwise be tried by every thread.
    """
    lock = threading.Lock()
    memo: dict[tuple[str, int | None], EnvKeys | KeyFailure] = {}

    def lookup(env: str, generation: int | None) -> EnvKeys:
        with lock:
            if (env, generation) not in memo:
                try:
                    memo[env, generation] = inner(env, generation)
                except KeyFailure as exc:
                    memo[env, generation] = exc
            found = memo[env, generation]
        if isinstance(found, KeyFailure):
            raise KeyFailure(str(found))
        return found

    return lookup


@dataclass
class _Scan:
    hist: History
    snaps: dict[str, Meta]
    packs: dict[str, Meta]
    indexes: dict[str, Meta]
    index: ChunkIndex
    now: datetime | None


def _scan(repo: Repo, dry_run: bool) -> _Scan:
    # Listed before the refs are read: a manifest always exists before a ref names it.
    snaps = {layout.snapshot_id_from_key(m.key): m for m in repo.backend.list(layout.SNAPSHOTS)}
    hist = gc_plan.read_history(repo, snaps)
    indexes = {layout.index_id_from_key(m.key): m for m in repo.backend.list(layout.INDEX)}
    packs = {
        p: m
        for m in repo.backend.list(layout.OBJECTS)
        if (p := layout.pack_id_from_key(m.key)) is not None
    }
    index = load_index(repo)
    # A dry run writes nothing, not even a clock probe: the newest stamp it listed
    # is never later than the store's clock, so it never reports more than a run would.
    stamps = [m.modified for d in (snaps, indexes, packs) for m in d.values() if m.modified]
    now = max(stamps, default=None) if dry_run else lease_mod.store_now(repo.backend)
    return _Scan(hist, snaps, packs, indexes, index, now)


def _policies(repo: Repo, hist: History, opts: GcOptions) -> dict[str, retention.Policy]:
    """The policy applied to each environment in scope (others keep everything)."""
    if opts.env and opts.env not in hist.heads:
        raise EnvNotFound(f"environment {opts.env!r} does not exist in this store")
    out = {}
    for env in [opts.env] if opts.env else sorted(hist.heads):
        stored = read_policy(repo, env)
        out[env] = opts.policy or (stored.policy if stored else retention.Policy())
    return out


def _kept(hist: History, policies: dict[str, retention.Policy], report: GcReport) -> set[str]:
    kept: set[str] = set()
    for env in sorted(hist.heads):
        policy = policies.get(env, retention.Policy())
        mine = gc_plan.kept_of(hist, env, policy)
        kept |= mine
        if env in policies:
            note = (
                "sealed and no key here: all of its snapshots kept"
                if env in hist.sealed_envs
                else ""
            )
            report.envs.append(
                EnvOutcome(
                    env,
                    policy.to_json(),
                    sorted(mine),
                    sorted(hist.snaps_of[env] - mine - hist.missing),
                    note,
                )
            )
    return kept


def _run(repo: Repo, opts: GcOptions, lease: lease_mod.Lease | None) -> GcReport:
    marker = gc_marker.read_marker(repo)
    scan = _scan(repo, opts.dry_run)
    report = GcReport(opts.dry_run, marker.generation + (0 if opts.dry_run else 1))
    kept = _kept(scan.hist, _policies(repo, scan.hist, opts), report)
    # A snapshot another environment's history keeps is kept (promotion shares parents).
    marks = gc_plan.mark_snapshots(
        repo, scan.hist, kept, scan.snaps, scan.now, marker.cuts, opts.grace
    )
    gc_plan.mark_packs(scan.index, scan.packs, marks, scan.now, opts.grace, opts.repack_below)
    if scan.hist.sealed:
        report.notes.append(
            f"{len(scan.hist.sealed)} sealed snapshot(s) cannot be read "
            "without their key: packs they may need were kept"
        )
    if opts.dry_run:
        _plan_only(scan, marks, report)
        return report
    assert lease is not None
    _sweep(repo, scan, marks, marker, report, lease)
    return report


def _plan_only(scan: _Scan, marks: Marks, report: GcReport) -> None:
    report.snapshots_removed = sorted(marks.forget | marks.dangling)
    gone = marks.dead_packs | marks.repack
    report.packs_removed, report.packs_repacked = len(gone), len(marks.repack)
    stale = [i for i, named in scan.index.packs_by_index.items() if named & gone]
    report.indexes_removed = len(stale)
    if marks.repack:
        report.notes.append(
            f"a run would also write the live part of {len(marks.repack)} "
            "rewritten pack(s), which freed_bytes does not subtract"
        )
    report.removed_bytes = (
        sum(scan.snaps[s].size for s in report.snapshots_removed)
        + sum(scan.packs[p].size for p in gone)
        + sum(scan.indexes[i].size for i in stale if i in scan.indexes)
    )


def _sweep(
    repo: Repo,
    scan: _Scan,
    marks: Marks,
    marker: gc_marker.Marker,
    report: GcReport,
    lease: lease_mod.Lease,
) -> None:
    copies = gc_sweep.repack(repo, scan.index, marks.repack, marks.live)
    # A copy may land on a pack already there unindexed (same bytes, same id), which
    # the marks call dead: it holds the copied chunks now, so it stays.
    condemned = (marks.dead_packs | marks.repack) - copies.pack_ids
    # Every snapshot removed from a history is a cut, not only those a kept one names: a
    # writer that read one as its merge base before this gc may name it as a parent after
    # the look below (push --rebase). The next gc keeps only the cuts still named.
    marks.cuts |= marks.forget
    published = gc_marker.publish(
        repo, marker, generation=report.generation, condemned=condemned, cuts=marks.cuts
    )
    spared = _look_again(repo, scan, marks, condemned, copies.copied)
    if spared:
        condemned -= spared
        published = gc_marker.publish(
            repo, published, generation=report.generation, condemned=condemned, cuts=marks.cuts
        )
    gone_snaps = sorted(marks.forget | marks.dangling)
    gc_sweep.delete_all(repo, map(layout.snapshot_key, gone_snaps), lease.check)
    gc_sweep.delete_all(repo, map(layout.pack_key, sorted(condemned)), lease.check)
    # Absent by the index load's own listing of objects/, taken after its listing of
    # index/: a pack is uploaded before the index naming it, so a pack that listing
    # lacks is really gone. Not by scan.packs, listed earlier: a push that uploads a pack
    # and its index between the two would have its index deleted here (issue 18).
    absent = set(scan.index.indexed_packs) - (scan.index.present_packs or set())
    removed_idx, rewritten = gc_sweep.rewrite_indexes(
        repo, scan.index, condemned | absent, lease.check
    )
    gc_marker.publish(
        repo, published, generation=report.generation, condemned=set(), cuts=marks.cuts
    )
    report.snapshots_removed = gone_snaps
    report.packs_removed, report.packs_written = len(condemned), copies.packs
    report.packs_repacked = len(marks.repack & condemned)
    report.indexes_removed = len(removed_idx)
    report.indexes_written = copies.indexes + rewritten.indexes
    report.written_bytes = copies.bytes + rewritten.bytes
    report.removed_bytes = (
        sum(scan.snaps[s].size for s in gone_snaps)
        + sum(scan.packs[p].size for p in condemned)
        + sum(scan.indexes[i].size for i in removed_idx if i in scan.indexes)
    )


def _look_again(
    repo: Repo, scan: _Scan, marks: Marks, condemned: set[str], copied: frozenset[str]
) -> set[str]:
    """Packs to spare for manifests written, and refs moved, since the scan.

    A chunk with a fresh copy (repack) needs nothing spared. Called after the
    condemned set is published, so any writer that checks the marker before
    this listing has written its manifest already (docs/ARCHITECTURE.md).
    """
    fresh = [
        layout.snapshot_id_from_key(m.key)
        for m in repo.backend.list(layout.SNAPSHOTS)
        if layout.snapshot_id_from_key(m.key) not in scan.snaps
    ]
    for env, state in _heads_now(repo).items():
        if state in marks.forget or state in marks.dangling:  # moved onto a doomed snapshot
            marks.forget.discard(state)
            marks.dangling.discard(state)
            fresh.append(state)
            log.info("gc: %s now points at %s: kept", env, state[:12])
    need: set[str] = set()
    unknown = False
    for snap in fresh:
        m = gc_plan.load_one(repo, snap, scan.hist)
        if m is None:
            unknown = True
            continue
        need |= {str(c) for e in m.entries for c, _ in e.chunks}
        marks.cuts |= {p for p in m.parents if p in marks.forget}
    spared = {scan.index.locations[c].pack for c in need - copied if c in scan.index}
    if unknown or any(c not in scan.index for c in need):
        spared |= {
            p
            for p in condemned
            if p not in scan.index.indexed_packs or (unknown and _sealed(scan.index, p))
        }
    return spared & condemned


def _sealed(index: ChunkIndex, pack: str) -> bool:
    return any(loc.pack == pack and loc.sealed for loc in index.locations.values())


def _heads_now(repo: Repo) -> dict[str, str]:
    out = {}
    for env in list_envs(repo):
        try:
            state = read_ref(repo, env)
        except StatesyncError:
            continue  # a ref torn now was readable at the scan: keep what it had
        if state is not None:
            out[env] = state.ref.snapshot
    return out
