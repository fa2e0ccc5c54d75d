"""``verify``: check every ref, manifest and index, and with ``read_data`` every chunk.

Problems are collected, not raised one at a time, so one run reports every
damaged object by name. The caller turns a non-empty report into exit 4.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field

from statesync.errors import (
    IntegrityError,
    KeyFailure,
    NotFound,
    SnapshotNotFound,
    StatesyncError,
)
from statesync.sync import codec, layout
from statesync.sync.chunkindex import ChunkIndex, Location, load_index
from statesync.sync.download import open_chunk
from statesync.sync.manifest import Manifest, load_manifest
from statesync.sync.refs import list_envs, read_trusted_head
from statesync.sync.repo import Repo


@dataclass
class VerifyReport:
    """What was checked and every problem found (object name: what is wrong)."""

    refs: int = 0
    snapshots: int = 0
    chunks: int = 0
    packs_read: int = 0
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems


def verify(repo: Repo, env: str | None, read_data: bool) -> VerifyReport:
    """Check refs (all, or ``env``), every snapshot they reach, and the chunks they use."""
    report = VerifyReport()
    try:
        index = load_index(repo)
    except IntegrityError as exc:
        report.problems.append(str(exc))
        index = ChunkIndex()
    needed: dict[str, int] = {}
    for name in [env] if env else list_envs(repo):
        _walk_env(repo, name, report, needed)
    for cid in sorted(needed):
        if cid not in index:
            report.problems.append(f"chunk {cid[:12]}: missing from every index")
    report.chunks = len(needed)
    if read_data:
        _read_packs(repo, index, needed, report)
    return report


def _walk_env(repo: Repo, env: str, report: VerifyReport, needed: dict[str, int]) -> None:
    try:
        state = read_trusted_head(repo, env)
    except StatesyncError as exc:
        report.problems.append(str(exc))
        return
    if state is None:
        report.problems.append(f"{layout.ref_key(env)}: no such environment")
        return
    report.refs += 1
    todo, seen = [state.ref.snapshot], set()
    while todo:
        snap = todo.pop()
        if snap in seen:
            continue
        seen.add(snap)
        manifest = _manifest(repo, snap, report)
        if manifest is None:
            continue
        report.snapshots += 1
        todo.extend(manifest.parents)
        for e in manifest.entries:
            for cid, size in e.chunks:
                needed[cid] = int(size)


def _manifest(repo: Repo, snap: str, report: VerifyReport) -> Manifest | None:
    try:
        return load_manifest(repo, snap)
    except SnapshotNotFound:
        report.problems.append(f"{layout.snapshot_key(snap)}: missing")
    except IntegrityError as exc:
        report.problems.append(str(exc))
    return None


def _read_packs(repo: Repo, index: ChunkIndex, needed: dict[str, int],
                report: VerifyReport) -> None:
    by_pack: dict[str, list[tuple[str, Location]]] = defaultdict(list)
    for cid in needed:
        if cid in index:
            loc = index.locate(cid)
            by_pack[loc.pack].append((cid, loc))
    for pack, chunks in sorted(by_pack.items()):
        where = layout.pack_key(pack)
        try:
            body, _ = repo.backend.get(where)
        except NotFound:
            report.problems.append(f"{where}: missing")
            continue
        report.packs_read += 1
        if codec.sha256_hex(body) != pack:
            report.problems.append(f"{where}: content does not match its id")
        for cid, loc in chunks:
            try:
                open_chunk(repo, loc, cid, body[loc.offset : loc.offset + loc.length], where)
            except (IntegrityError, KeyFailure) as exc:
                report.problems.append(str(exc))
