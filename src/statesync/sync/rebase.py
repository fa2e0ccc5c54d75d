"""``push --rebase``: when the environment moved, merge instead of failing.

Our folder's state is stored as its own snapshot (parent: the snapshot the
folder last synced). It is merged three-way with the new head (base: that
same parent) into a merge snapshot whose parents are the head and ours, and
the ref is moved conditionally; if someone pushes again meanwhile, the merge
is redone against the newer head, a bounded number of times. Afterwards the
folder is updated to the merged state, exactly as a pull would, so the next
push starts from what the environment holds.
"""

from __future__ import annotations

import dataclasses
import logging
import random
from pathlib import Path

from statesync.errors import RefConflict, SnapshotNotFound
from statesync.optimistic import AGAIN, Again, retry_conditional
from statesync.sync.commit import (
    PushOptions,
    PushResult,
    chunk_ids,
    push_result,
    same_content,
    sealing_keys,
)
from statesync.sync.folder.checkout import remember_pull, restore
from statesync.sync.folder.remember import remember_sync
from statesync.sync.folder.workdir import EnvRecord, Scan, WorkRecord, file_row
from statesync.sync.merge import merge
from statesync.sync.secrets import policy as secrets
from statesync.sync.store import gc_marker, sticky
from statesync.sync.store.builder import SnapshotBuilder
from statesync.sync.store.chunkindex import ChunkIndex, load_index
from statesync.sync.store.content import read_entry
from statesync.sync.store.manifest import Entry, Manifest, load_manifest, store_manifest
from statesync.sync.store.refs import RefState, read_trusted_head, write_ref
from statesync.sync.store.repo import Repo

MAX_ATTEMPTS = 20

log = logging.getLogger("statesync")


def _base(repo: Repo, parent: str | None) -> Manifest | None:
    """The snapshot the folder last synced, or None when there is none or gc removed it."""
    if not parent:
        return None
    try:
        return load_manifest(repo, parent)
    except SnapshotNotFound:
        log.warning(
            "the snapshot this folder last synced (%s) is gone from the store (gc): "
            "merging without a base",
            parent[:12],
        )
        return None


def rebase_push(
    repo: Repo,
    folder: Path,
    env: str,
    state: RefState | None,
    parent: str | None,
    ours: Manifest,
    scan: Scan,
    builder: SnapshotBuilder,
    opts: PushOptions,
) -> PushResult:
    """Land ``ours`` on whatever ``env`` holds now; :class:`RefConflict` on real conflicts.

    When the snapshot the folder last synced is gone (a gc removed it), there
    is no base: the merge is the one of a folder that never synced (a file
    both sides hold with other bytes is a conflict). The folder's snapshot
    that a merge names as its second parent names no parent itself: its base
    may be removed by a gc at any moment before the ref moves (two gcs may
    pass while we merge), and no history may point at a snapshot the store
    no longer has. The base stays recorded in the folder, where merges read it.
    """
    base_manifest = _base(repo, parent)
    if (
        state is not None
        and base_manifest is not None
        and state.ref.snapshot == parent
        and same_content(base_manifest, ours.entries, ours.secret_files)
    ):
        return _record(repo, folder, env, state, ours, scan, builder, changed=False)
    side = dataclasses.replace(ours, parents=[])  # what a merge names as its second parent
    ours_id = store_manifest(repo, side, sealing_keys(repo, side))
    base = base_manifest.by_path() if base_manifest else {}
    index: list[ChunkIndex] = []

    def attempt(n: int) -> PushResult | Again:
        nonlocal state
        if n:  # the ref moved again: merge with the newer head
            state = read_trusted_head(repo, env)  # never merge a head we cannot trust
            index.clear()  # its chunks may be newer than the index the last attempt loaded
        fast = False
        if state is None or state.ref.snapshot == parent:  # nobody pushed since: no merge
            fast, manifest, heads = True, ours, [parent] if parent else []
        else:
            theirs = load_manifest(repo, state.ref.snapshot)
            entries = _merged_entries(repo, base, ours, theirs, builder, opts, index)
            if same_content(theirs, entries, _secret_files(ours, theirs)):
                return _land(
                    repo,
                    folder,
                    env,
                    state,
                    state.ref.snapshot,
                    theirs,
                    ours_id,
                    ours,
                    scan,
                    builder,
                    opts,
                    changed=False,
                )
            manifest = _merge_manifest(repo, env, entries, ours, theirs, opts)
            heads = [state.ref.snapshot, ours_id]
        manifest.parents = heads
        snap = store_manifest(repo, manifest, sealing_keys(repo, manifest))
        gc_marker.confirm(repo, snap, chunk_ids(manifest), builder.gc_generation)
        # a kill after the ref write is recognised as ours: the folder holds ``snap``, or
        # (a merge) its own side ``ours_id`` until the merge's tree is written into it
        _mark_pending(folder, repo.store_id, env, snap, snap if fast else ours_id)
        try:
            new_state = write_ref(repo, env, snap, state)
        except RefConflict:
            return AGAIN
        sticky.remember(repo.store_id, env, manifest.encryption)
        return _land(
            repo,
            folder,
            env,
            new_state,
            snap,
            manifest,
            snap if fast else ours_id,
            ours,
            scan,
            builder,
            opts,
            changed=True,
        )

    return retry_conditional(
        attempt,
        attempts=MAX_ATTEMPTS,
        backoff=lambda n: random.uniform(0.02, 0.1) * min(n + 1, 10),
        gave_up=lambda: RefConflict(
            f"{env} kept moving: gave up after {MAX_ATTEMPTS} merge attempts"
        ),
    )


def _secret_files(ours: Manifest, theirs: Manifest) -> list[str]:
    return sorted(set(ours.secret_files) | set(theirs.secret_files))


def _merged_entries(
    repo: Repo,
    base: dict[str, Entry],
    ours: Manifest,
    theirs: Manifest,
    builder: SnapshotBuilder,
    opts: PushOptions,
    index: list[ChunkIndex],
) -> list[Entry]:
    def read(e: Entry) -> bytes:
        if not index:
            index.append(load_index(repo))
        return read_entry(repo, index[0], e)

    result = merge(base, ours.by_path(), theirs.by_path(), read)
    if result.conflicts:
        shown = "; ".join(result.conflicts[:10])
        more = f" and {len(result.conflicts) - 10} more" if len(result.conflicts) > 10 else ""
        raise RefConflict(
            f"cannot rebase onto {theirs.env} at {_head(theirs)}: "
            f"{len(result.conflicts)} conflict(s): {shown}{more}"
        ).with_details(conflicts=list(result.conflicts))
    if result.documents:
        docs = SnapshotBuilder(repo, keys=sealing_keys(repo, ours))
        for path, (data, like) in result.documents.items():
            data, pointers = secrets.redact(path, data, opts.policy)
            entry = docs.add_bytes(path, data, like.mode)
            entry.secret_pointers = pointers
            result.entries[path] = entry
        docs.finish()
        index.clear()
    return [result.entries[p] for p in sorted(result.entries)]


def _head(m: Manifest) -> str:
    return f"{m.created_at[:19]} by {m.author}@{m.host}"


def _merge_manifest(
    repo: Repo, env: str, entries: list[Entry], ours: Manifest, theirs: Manifest, opts: PushOptions
) -> Manifest:
    return Manifest(
        store_id=repo.store_id,
        env=env,
        parents=[],
        entries=entries,
        message=opts.message or "merge",
        tags=dict(opts.tags),
        secret_files=_secret_files(ours, theirs),
        encryption=ours.encryption,
    )


def _land(
    repo: Repo,
    folder: Path,
    env: str,
    state: RefState,
    snap: str,
    manifest: Manifest,
    ours_id: str,
    ours: Manifest,
    scan: Scan,
    builder: SnapshotBuilder,
    opts: PushOptions,
    changed: bool,
) -> PushResult:
    """Bring the folder to the landed snapshot and record it."""
    if snap == ours_id:  # no merge was needed: the folder already holds it
        return _record(repo, folder, env, state, ours, scan, builder, changed)
    by_path = ours.by_path()
    rows = {p: file_row(f, by_path[p]) for p, f in scan.files.items() if p in by_path}
    synced_as_ours = EnvRecord(ours_id, 0, rows, 0)

    def record_staged(staging: Path, staged: Scan) -> None:  # lands with the swap
        remember_pull(
            WorkRecord.load(staging), repo.store_id, env, snap, state.ref.serial, manifest, staged
        )

    restore(repo, folder, manifest, synced_as_ours, opts.policy, False, None, record=record_staged)
    return push_result(
        env,
        state,
        parent=ours.parents[0] if ours.parents else None,
        files=len(manifest.entries),
        uploaded=builder.uploaded_bytes,
        reused=builder.reused_bytes,
        changed=changed,
        secret_files=scan.secret_files,
        skipped=scan.skipped,
    )


def _mark_pending(folder: Path, store_id: str, env: str, snap: str, holds: str) -> None:
    """Note in the folder's record the snapshot the ref is about to move to (see push.py).

    ``holds`` is the snapshot of what the folder holds: ``snap`` itself when no
    merge was needed, else the folder's own side of the merge. The next push,
    finding ``snap`` as the head, takes ``holds`` as the folder's base instead
    of seeing its own changes on both sides (a false conflict after a kill
    between ref and record).
    """
    record = WorkRecord.load(folder)
    record.set_pending(store_id, env, snap, holds)
    record.save()


def _record(
    repo: Repo,
    folder: Path,
    env: str,
    state: RefState,
    ours: Manifest,
    scan: Scan,
    builder: SnapshotBuilder,
    changed: bool,
) -> PushResult:
    remember_sync(
        WorkRecord.load(folder),
        repo.store_id,
        env,
        snapshot=state.ref.snapshot,
        serial=state.ref.serial,
        files=scan.files,
        entries=ours.by_path(),
        encryption=ours.encryption,
        secrets_included=ours.encryption.secrets,
    )
    return push_result(
        env,
        state,
        parent=ours.parents[0] if ours.parents else None,
        files=len(ours.entries),
        uploaded=builder.uploaded_bytes,
        reused=builder.reused_bytes,
        changed=changed,
        secret_files=scan.secret_files,
        skipped=scan.skipped,
    )
