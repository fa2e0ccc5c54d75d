"""gc's mark phase: which snapshots the policies keep, and which objects are garbage.

Reads only. A snapshot is *forgotten* when it is in some environment's
history, no policy keeps it and no head is it; a manifest in no history
(a crashed or lost-race push) is *dangling* and goes once older than
:data:`MANIFEST_GRACE`. Every other manifest is a root: its chunks are live.
A pack goes when none of its chunks is live and the store's clock says it is
older than the grace period; a pack whose live bytes are under the repack
threshold is rewritten. What gc cannot read (a sealed manifest or index
without its key, a damaged index) is never judged garbage: everything it
might need is kept.
"""

from __future__ import annotations

import contextlib
from collections import defaultdict
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime

from statesync.backends.base import Meta
from statesync.errors import IntegrityError, KeyFailure, SnapshotNotFound, StatesyncError
from statesync.sync.store import retention
from statesync.sync.store.chunkindex import ChunkIndex
from statesync.sync.store.manifest import Manifest, load_manifest
from statesync.sync.store.refs import list_envs, read_ref
from statesync.sync.store.repo import Repo

#: A manifest no ref reaches may be a push about to move its ref: it is kept at least this long.
MANIFEST_GRACE = 15 * 60
_READERS = 16


@dataclass
class History:
    """Every environment's history as read: heads, manifests, and what could not be read."""

    heads: dict[str, str] = field(default_factory=dict)
    snaps_of: dict[str, set[str]] = field(default_factory=lambda: defaultdict(set))
    manifests: dict[str, Manifest] = field(default_factory=dict)
    sealed: set[str] = field(default_factory=set)  # no key here
    missing: set[str] = field(default_factory=set)
    sealed_envs: set[str] = field(default_factory=set)


def read_history(repo: Repo, listed: Iterable[str] = ()) -> History:
    """Walk every environment from its head through all parents.

    ``listed`` (the snapshot ids in the store) are read first, in parallel:
    a history is a chain, so walking it alone would read one manifest at a time.
    Raises :class:`IntegrityError` for a ref or manifest that cannot be
    parsed: gc must know every history before it removes anything.
    """
    hist = History()
    ids = list(listed)
    # The first read alone unwraps the key (a KDF) once, before the others need it.
    for batch in (ids[:1], ids[1:]):
        with ThreadPoolExecutor(max_workers=_READERS) as pool:
            list(pool.map(lambda snap: _prefetch(repo, snap, hist), batch))
    for env in list_envs(repo):
        try:  # signatures checked; a local trust policy is no reason to delete anything
            state = read_ref(repo, env)
        except StatesyncError as exc:
            raise IntegrityError(
                f"{exc}; gc removed nothing (fix or replace that ref "
                "first: its history would look like garbage)"
            ) from None
        if state is not None:
            hist.heads[env] = state.ref.snapshot
            _walk(repo, env, state.ref.snapshot, hist)
    return hist


def _prefetch(repo: Repo, snap: str, hist: History) -> None:
    """Read ``snap`` ahead of the walk; a damaged one is judged only if a history needs it."""
    with contextlib.suppress(IntegrityError):
        load_one(repo, snap, hist)


def _walk(repo: Repo, env: str, head: str, hist: History) -> None:
    todo = [head]
    while todo:
        snap = todo.pop()
        if snap in hist.snaps_of[env]:
            continue
        hist.snaps_of[env].add(snap)
        manifest = load_one(repo, snap, hist)
        if manifest is None:
            if snap in hist.sealed:
                hist.sealed_envs.add(env)
            continue
        todo.extend(manifest.parents)


def load_one(repo: Repo, snap: str, hist: History) -> Manifest | None:
    """``snap``'s manifest (cached in ``hist``); None if sealed without a key, or missing."""
    if snap in hist.manifests:
        return hist.manifests[snap]
    try:
        hist.manifests[snap] = load_manifest(repo, snap)
    except SnapshotNotFound:
        hist.missing.add(snap)
    except KeyFailure:
        hist.sealed.add(snap)
    except IntegrityError as exc:
        raise IntegrityError(f"{exc}; gc removed nothing (run statesync verify)") from None
    return hist.manifests.get(snap)


def _created(m: Manifest) -> datetime:
    try:
        return datetime.fromisoformat(m.created_at.replace("Z", "+00:00"))
    except ValueError:
        return datetime.min  # an unreadable date counts as the oldest


def kept_of(hist: History, env: str, policy: retention.Policy) -> set[str]:
    """What ``policy`` keeps of ``env``'s history, plus its head; all of it if any is sealed."""
    snaps = hist.snaps_of[env]
    if env in hist.sealed_envs:
        return set(snaps)
    listed = [
        retention.Snap(s, _created(hist.manifests[s]), hist.manifests[s].tags)
        for s in snaps
        if s in hist.manifests
    ]
    return retention.keep(listed, policy) | {hist.heads[env]}


@dataclass
class Marks:
    """The outcome of marking: what goes, what stays, and what is rewritten."""

    forget: set[str] = field(default_factory=set)
    dangling: set[str] = field(default_factory=set)
    live: set[str] = field(default_factory=set)
    dead_packs: set[str] = field(default_factory=set)
    repack: set[str] = field(default_factory=set)
    cuts: set[str] = field(default_factory=set)
    keep_unknown: bool = False  # some live chunk or index cannot be placed: keep unindexed packs


def age(meta: Meta, now: datetime | None) -> float:
    """Seconds since the store last wrote ``meta`` (0 when either clock is unknown)."""
    if meta.modified is None or now is None:
        return 0.0
    return (now - meta.modified).total_seconds()


def mark_snapshots(
    repo: Repo,
    hist: History,
    kept: set[str],
    listed: dict[str, Meta],
    now: datetime | None,
    old_cuts: frozenset[str],
    grace: float,
) -> Marks:
    """Forgotten and dangling manifests, the live chunks of the rest, and the history cuts.

    Young dangling manifests (no history reached them) are read here: they are roots.
    """
    reachable = set().union(*hist.snaps_of.values()) if hist.snaps_of else set()
    marks = Marks(forget=(reachable & set(listed)) - kept - hist.sealed)
    for snap in set(listed) - reachable if not hist.sealed else ():  # sealed: parents unknown
        if now is not None and age(listed[snap], now) >= max(grace, MANIFEST_GRACE):
            marks.dangling.add(snap)
    for snap in sorted(set(listed) - marks.forget - marks.dangling):
        m = load_one(repo, snap, hist)
        if m is None:
            continue
        marks.live |= {str(c) for e in m.entries for c, _ in e.chunks}
        marks.cuts |= {
            p for p in m.parents if p in marks.forget or (p in hist.missing and p in old_cuts)
        }
    marks.keep_unknown = bool(hist.sealed)
    return marks


def mark_packs(
    index: ChunkIndex,
    packs: dict[str, Meta],
    marks: Marks,
    now: datetime | None,
    grace: float,
    repack_below: float,
) -> None:
    """Which present packs are garbage (``dead_packs``) and which to rewrite (``repack``)."""
    live_bytes: dict[str, int] = defaultdict(int)
    for cid in marks.live:
        if cid in index:
            loc = index.locations[cid]
            live_bytes[loc.pack] += loc.length
        else:
            marks.keep_unknown = True
    keep_unindexed = marks.keep_unknown or bool(index.damaged or index.unreadable)
    sealed = {loc.pack for loc in index.locations.values() if loc.sealed}
    for pack, meta in packs.items():
        if age(meta, now) < grace or (grace > 0 and now is None):
            continue
        if pack not in index.indexed_packs:
            if not keep_unindexed:
                marks.dead_packs.add(pack)
        elif marks.keep_unknown and pack in sealed:
            continue
        elif live_bytes[pack] == 0:
            marks.dead_packs.add(pack)
        elif live_bytes[pack] < repack_below * meta.size:
            marks.repack.add(pack)
