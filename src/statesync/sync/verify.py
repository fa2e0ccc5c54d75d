"""``verify``: check the store itself — refs, manifests, indexes, packs (and every chunk).

Everything is read from the store, never from this machine's cache. Without
``read_data`` it is cheap: one ``list`` of ``index/`` and one of ``objects/``
prove that every pack a snapshot needs exists; with it, every needed pack is
read and every chunk checked against its id.

Problems are collected, not raised one at a time: each damaged object is
named once with every environment, snapshot and file that depends on it.
What cannot be checked without a key is reported in ``skipped``, not as
damage. The caller turns damage (never a skip) into exit 4.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field

from statesync.errors import (
    BackendUnavailable,
    EnvNotFound,
    IntegrityError,
    KeyFailure,
    KeyringMissing,
    NotFound,
    SnapshotNotFound,
    StatesyncError,
)
from statesync.sync.store import codec, gc_marker, layout, leases, promotion_rule
from statesync.sync.store import seen as seen_serials
from statesync.sync.store.chunkindex import ChunkIndex, Location, load_index
from statesync.sync.store.content import open_chunk
from statesync.sync.store.keyring import Keyring
from statesync.sync.store.manifest import Manifest, load_manifest
from statesync.sync.store.refs import list_envs, read_trusted_head
from statesync.sync.store.repo import Repo


@dataclass(frozen=True)
class Damage:
    """One damaged or missing object (a store key) and what depends on it."""

    object: str
    problem: str
    envs: tuple[str, ...] = ()
    snapshots: tuple[str, ...] = ()
    files: tuple[str, ...] = ()

    def describe(self) -> str:
        """One line: the object, the problem and its dependents."""
        deps = [
            f"{label} {', '.join(v[:12] if label == 'snapshots' else v for v in values)}"
            for label, values in (
                ("envs", self.envs),
                ("snapshots", self.snapshots),
                ("files", self.files),
            )
            if values
        ]
        return f"{self.object}: {self.problem}" + (
            f" (needed by {'; '.join(deps)})" if deps else ""
        )


@dataclass
class VerifyReport:
    """What was checked, each damaged object (``damaged``) and what was not checked.

    ``problems`` holds one line per damaged object (see :meth:`Damage.describe`).
    """

    refs: int = 0
    snapshots: int = 0
    chunks: int = 0
    packs_read: int = 0
    problems: list[str] = field(default_factory=list)
    damaged: list[Damage] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    torn_packs: list[str] = field(default_factory=list)  # read, and not matching their id

    @property
    def ok(self) -> bool:
        return not self.damaged

    def add(self, damage: Damage) -> None:
        self.damaged.append(damage)
        self.problems.append(damage.describe())


@dataclass
class _Walk:
    """What the walk of every history found: snapshots by env, and chunks needed."""

    envs_of: dict[str, set[str]] = field(default_factory=lambda: defaultdict(set))
    needed: dict[str, int] = field(default_factory=dict)
    bad_chunks: dict[str, tuple[str, str]] = field(default_factory=dict)  # cid -> (key, why)
    cut: frozenset[str] = frozenset()  # parents gc removed on purpose: no damage
    #: damaged or missing keyring -> (problem, envs, snapshots that cannot be opened without it)
    rings: dict[str, tuple[str, set[str], set[str]]] = field(default_factory=dict)
    hid_index: list[str] = field(default_factory=list)  # damaged keyrings an index needs
    unexplained: int = 0  # damaged indexes no damaged keyring explains
    broken: bool = False  # a history reached a damaged manifest: what is below it is unreached


#: A damaged chunk: chunk id -> (pack id, or None if no usable index names one).
BadChunks = dict[str, str | None]


def verify(repo: Repo, env: str | None, read_data: bool) -> VerifyReport:
    """Check ``env`` (all environments if None); :class:`EnvNotFound` if ``env`` is absent."""
    return check(repo, env, read_data)[0]


def check(repo: Repo, env: str | None, read_data: bool) -> tuple[VerifyReport, BadChunks]:
    """:func:`verify`, also returning every needed chunk found damaged and where (repair)."""
    report = VerifyReport()
    walk = _Walk(cut=_check_records(repo, report))
    envs = [env] if env else list_envs(repo)
    walk.rings = _check_keyrings(repo, [env] if env else None)
    index = load_index(repo, cached=False)
    for damage in index.damaged:
        ring = _ring_damage(walk, damage.problem, None, None)
        if ring is None:
            report.add(Damage(damage.key, damage.problem + " (statesync repair rebuilds it)"))
        elif ring not in walk.hid_index:
            walk.hid_index.append(ring)
    walk.unexplained = len(index.damaged) - sum(
        _ring_damage(walk, d.problem, None, None) is not None for d in index.damaged
    )
    for _key, ring_env in index.unreadable:  # sealed with a generation whose keyring is bad
        for ring in sorted(walk.rings):
            if ring.startswith(layout.keyring_prefix(ring_env)) and ring not in walk.hid_index:
                walk.hid_index.append(ring)
    if env is None:
        _vanished_refs(repo, envs, report)
    for name in envs:
        _walk_env(repo, name, report, walk, env is not None)
    report.chunks = len(walk.needed)
    _check_chunks(index, walk)
    if read_data:
        _read_packs(repo, index, walk, report)
        if env is None and walk.broken:
            _check_unreached_manifests(repo, walk, report)
    else:
        _check_sizes(repo, index, walk, report)
    _name_dependents(repo, walk, report)
    _name_rings(walk, report)
    return report, {
        cid: index.locations[cid].pack if cid in index else None for cid in walk.bad_chunks
    }


def _walk_env(repo: Repo, env: str, report: VerifyReport, walk: _Walk, asked: bool) -> None:
    try:
        state = read_trusted_head(repo, env)
    except BackendUnavailable:
        raise  # the store is away: that is no damage of the ref, and verify cannot go on
    except StatesyncError as exc:
        report.add(Damage(layout.ref_key(env), _problem(exc, layout.ref_key(env)), envs=(env,)))
        return
    if state is None:
        if asked:
            raise EnvNotFound(f"environment {env!r} does not exist in this store")
        return  # removed between listing and reading
    report.refs += 1
    todo = [state.ref.snapshot]
    while todo:
        snap = todo.pop()
        if snap in walk.envs_of:
            walk.envs_of[snap].add(env)
            continue
        walk.envs_of[snap].add(env)
        manifest = _manifest(repo, snap, env, report, walk)
        if manifest is None:
            continue
        report.snapshots += 1
        todo.extend(manifest.parents)
        for e in manifest.entries:
            for cid, size in e.chunks:
                walk.needed[cid] = int(size)


def _manifest(
    repo: Repo, snap: str, env: str, report: VerifyReport, walk: _Walk
) -> Manifest | None:
    where = layout.snapshot_key(snap)
    try:
        return load_manifest(repo, snap)
    except SnapshotNotFound:
        if snap not in walk.cut:
            walk.broken = True
            report.add(Damage(where, "missing", envs=(env,), snapshots=(snap,)))
    except IntegrityError as exc:
        if _ring_damage(walk, _problem(exc, where), env, snap) is None:
            walk.broken = True
            report.add(Damage(where, _problem(exc, where), envs=(env,), snapshots=(snap,)))
    except KeyringMissing as exc:
        problem = f"missing (key generation named by {where})"
        walk.rings.setdefault(exc.key, (problem, set(), set()))
        _ring_damage(walk, f"{exc.key}: ", env, snap)
    except KeyFailure:
        report.skipped.append(
            f"{where} ({env}): sealed and no key here, so it and the "
            "history and files below it were not checked"
        )
    return None


def _problem(exc: StatesyncError, where: str) -> str:
    return str(exc).removeprefix(f"{where}: ")


def _check_chunks(index: ChunkIndex, walk: _Walk) -> None:
    """Every needed chunk some index names; else its pack, the keyring hiding it, or itself."""
    hint = " (an index is damaged: statesync repair may rebuild it)" if index.damaged else ""
    for cid in walk.needed:
        if cid in index:
            continue
        pack = index.lost.get(cid)
        if pack:
            walk.bad_chunks[cid] = (layout.pack_key(pack), "missing")
        elif walk.hid_index and not walk.unexplained:
            ring = walk.hid_index[0]  # only keyrings hide indexes: the chunk is behind one
            walk.bad_chunks[cid] = (ring, walk.rings[ring][0])
        else:
            walk.bad_chunks[cid] = (f"chunk {cid[:12]}", "missing from every index" + hint)


def _check_sizes(repo: Repo, index: ChunkIndex, walk: _Walk, report: VerifyReport) -> None:
    """Without reading data: a pack shorter than its index rows need is truncated.

    One more ``list`` of ``objects/`` (for the sizes); the chunks it cuts off
    are damaged, and the pack is named in ``torn_packs`` so repair salvages it.
    """
    sizes = {
        p: m.size
        for m in repo.backend.list(layout.OBJECTS)
        if (p := layout.pack_id_from_key(m.key)) is not None
    }
    for cid in walk.needed:
        if cid not in index:
            continue
        loc = index.locate(cid)
        size = sizes.get(loc.pack)
        if size is not None and loc.offset + loc.length > size:
            walk.bad_chunks[cid] = (
                layout.pack_key(loc.pack),
                f"truncated ({size} bytes; its index needs more)",
            )
            if loc.pack not in report.torn_packs:
                report.torn_packs.append(loc.pack)


def _read_packs(repo: Repo, index: ChunkIndex, walk: _Walk, report: VerifyReport) -> None:
    by_pack: dict[str, list[tuple[str, Location]]] = defaultdict(list)
    for cid in walk.needed:
        if cid in index:
            loc = index.locate(cid)
            by_pack[loc.pack].append((cid, loc))
    for pack, chunks in sorted(by_pack.items()):
        where = layout.pack_key(pack)
        try:
            body, _ = repo.backend.get(where)
        except NotFound:  # deleted since the listing
            walk.bad_chunks.update((cid, (where, "missing")) for cid, _ in chunks)
            continue
        report.packs_read += 1
        # Each chunk is still opened: repair must know which ones are really lost.
        torn = codec.sha256_hex(body) != pack
        why = "content does not match its id" if torn else None
        if torn:
            report.torn_packs.append(pack)
        checked = len(report.skipped)
        if not _open_chunks(repo, where, body, chunks, walk, report, why) and torn:
            unchecked = len(report.skipped) > checked  # sealed chunks, no key: not judged
            report.add(
                Damage(
                    where,
                    f"{why} ("
                    + (
                        "its sealed chunks cannot be checked without their key"
                        if unchecked
                        else "no chunk a snapshot needs is affected"
                    )
                    + ")",
                )
            )


def _open_chunks(
    repo: Repo,
    where: str,
    body: bytes,
    chunks: list[tuple[str, Location]],
    walk: _Walk,
    report: VerifyReport,
    why: str | None,
) -> bool:
    """Open every chunk; record the bad ones (under ``why`` if given); True if any was bad."""
    skipped, bad = 0, False
    for cid, loc in chunks:
        try:
            open_chunk(repo, loc, cid, body[loc.offset : loc.offset + loc.length], where)
        except IntegrityError as exc:
            walk.bad_chunks[cid] = (where, why or _problem(exc, where))
            bad = True
        except KeyFailure:
            skipped += 1
    if skipped:
        report.skipped.append(f"{where}: {skipped} sealed chunk(s) not decrypted (no key here)")
    return bad


def _name_dependents(repo: Repo, walk: _Walk, report: VerifyReport) -> None:
    """One :class:`Damage` per bad object, naming every snapshot and file that uses it.

    The manifests are read a second time only when something is damaged.
    """
    if not walk.bad_chunks:
        return
    deps: dict[tuple[str, str], tuple[set[str], set[str], set[str]]] = {}
    for snap, envs in sorted(walk.envs_of.items()):
        try:
            manifest = load_manifest(repo, snap)
        except StatesyncError:  # already reported or skipped
            continue
        for e in manifest.entries:
            for cid, _size in e.chunks:
                if cid in walk.bad_chunks:
                    d_envs, d_snaps, d_files = deps.setdefault(
                        walk.bad_chunks[cid], (set(), set(), set())
                    )
                    d_envs.update(envs)
                    d_snaps.add(snap)
                    d_files.add(e.path)
    for (obj, why), (d_envs, d_snaps, d_files) in sorted(deps.items()):
        report.add(
            Damage(obj, why, tuple(sorted(d_envs)), tuple(sorted(d_snaps)), tuple(sorted(d_files)))
        )


def _check_keyrings(
    repo: Repo, envs: list[str] | None
) -> dict[str, tuple[str, set[str], set[str]]]:
    """Every keyring under ``keys/``: parsed, bound to its name, trusted; no generation missing.

    A keyring is read without any key (it holds only wrapped keys). Generations
    are numbered from 1 up, so a gap below the newest is a deleted keyring.
    Returns damaged key -> (problem, envs, snapshots); dependents are added later.
    """
    found: dict[str, set[int]] = defaultdict(set)
    for meta in repo.backend.list(layout.KEYS):
        name = meta.key.removeprefix(layout.KEYS).split("/", 1)[0]
        try:
            gen = layout.keyring_generation_from_key(name, meta.key)
        except StatesyncError:  # not an environment name: nothing reads it
            continue
        if gen is not None and (envs is None or name in envs):
            found[name].add(gen)
    bad: dict[str, tuple[str, set[str], set[str]]] = {}
    for env, gens in sorted(found.items()):
        for gen in range(1, max(gens) + 1):
            key = layout.keyring_key(env, gen)
            if gen not in gens:
                bad[key] = (f"missing (generation {gen} of {max(gens)})", {env}, set())
                continue
            try:
                ring = Keyring.parse(repo.backend.get(key)[0], repo.store_id, env, gen)
                if repo.trust is not None:
                    repo.trust.check(ring.store_id, env, ring.signer, ring.key, ring.payload())
            except NotFound:
                bad[key] = ("missing", {env}, set())
            except IntegrityError as exc:
                bad[key] = (_problem(exc, key), {env}, set())
    return bad


def _ring_damage(walk: _Walk, problem: str, env: str | None, snap: str | None) -> str | None:
    """The damaged keyring ``problem`` is about (the object itself is not damaged), or None.

    The keyring then records ``env`` and ``snap`` among what depends on it.
    """
    for key, (_, envs, snaps) in walk.rings.items():
        if problem.startswith(f"{key}: ") or problem.startswith(f"{key} "):
            if env:
                envs.add(env)
            if snap:
                snaps.add(snap)
            return key
    return None


def _name_rings(walk: _Walk, report: VerifyReport) -> None:
    """One :class:`Damage` per damaged keyring, merged with what its hidden chunks need."""
    for key, (problem, d_envs, d_snaps) in sorted(walk.rings.items()):
        files: set[str] = set()
        for old in [d for d in report.damaged if d.object == key]:
            report.damaged.remove(old)
            report.problems.remove(old.describe())
            d_envs.update(old.envs)
            d_snaps.update(old.snapshots)
            files.update(old.files)
        report.add(
            Damage(
                key, problem, tuple(sorted(d_envs)), tuple(sorted(d_snaps)), tuple(sorted(files))
            )
        )


def _vanished_refs(repo: Repo, envs: list[str], report: VerifyReport) -> None:
    """A ref gone from the store that this machine has seen a serial of: damage (rollback)."""
    for env in seen_serials.envs(repo.store_id):
        if env not in envs:
            serial = seen_serials.highest(repo.store_id, env)
            report.add(
                Damage(
                    layout.ref_key(env),
                    f"missing, but this machine has seen serial {serial} of it "
                    "(a deleted or rolled-back ref)",
                    envs=(env,),
                )
            )


def _check_unreached_manifests(repo: Repo, walk: _Walk, report: VerifyReport) -> None:
    """With a history broken by a damaged manifest, those below it must still match their id.

    Every manifest no history reaches is read (they are below the damage, or
    garbage for gc); its id is the SHA-256 of its stored body, so this needs
    no key. A store whose histories are intact is not searched for stray
    manifests: no one reads them, and gc removes them.
    """
    for meta in repo.backend.list(layout.SNAPSHOTS):
        snap = layout.snapshot_id_from_key(meta.key)
        if snap in walk.envs_of or not layout.is_object_id(snap):
            continue
        try:
            body, _ = repo.backend.get(meta.key)
        except NotFound:  # removed by a gc since the listing
            continue
        if codec.sha256_hex(body) != snap:
            report.add(Damage(meta.key, "content does not match its id (no history reaches it)"))


def _check_records(repo: Repo, report: VerifyReport) -> frozenset[str]:
    """The store's small records: the gc marker, the promotion rule, every lease.

    Each that does not parse is named (a lease with its env: its pushes and
    locks stop on it; ``lock --force`` replaces it). Returns the history cuts
    of the gc marker (none if it is damaged: every missing parent is then named).
    """
    cuts: frozenset[str] = frozenset()
    try:
        cuts = gc_marker.read_marker(repo).cuts
    except IntegrityError as exc:
        where = layout.gc_marker_key()
        report.add(Damage(where, _problem(exc, where)))
    try:
        promotion_rule.read_rule(repo)
    except IntegrityError as exc:
        where = layout.promotion_rule_key()
        report.add(Damage(where, _problem(exc, where)))
    for meta in repo.backend.list(layout.LOCKS):
        env = layout.env_from_lock_key(meta.key)
        if "/" in env:  # a clock probe (locks/_clock/...): lives only while a lease is judged
            continue
        lock = leases.lock_status(repo, env, damaged_ok=True, probe=False)
        if lock is not None and lock.problem:
            report.add(Damage(meta.key, _problem(IntegrityError(lock.problem), meta.key), (env,)))
    return cuts
