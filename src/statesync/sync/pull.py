"""Pull: choose the snapshot, check it is not a rollback, restore it atomically."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path

from statesync.errors import IntegrityError, SnapshotNotFound, ViewNotFound
from statesync.sync.folder.checkout import highest_seen, remember_pull, restore
from statesync.sync.folder.workdir import Scan, WorkRecord
from statesync.sync.progress import MeterFactory
from statesync.sync.secrets import policy as secrets
from statesync.sync.secrets.pathmatch import PathMatcher
from statesync.sync.store import layout
from statesync.sync.store import seen as seen_serials
from statesync.sync.store.manifest import Manifest, load_manifest
from statesync.sync.store.refs import require_trusted_head
from statesync.sync.store.repo import Repo
from statesync.sync.store.resolve import resolve_trusted

log = logging.getLogger(__name__)


@dataclass
class PullResult:
    """What a pull did. ``serial`` is 0 when a snapshot was pulled by id."""

    snapshot: str
    env: str
    serial: int
    files: int
    downloaded_bytes: int
    reused_files: int
    removed: list[str] = field(default_factory=list)
    kept_unmanaged: list[str] = field(default_factory=list)
    #: documents holding a secret placeholder: this machine has no value for it
    placeholders: list[str] = field(default_factory=list)
    #: secret files of the snapshot that the folder lacks
    secrets_left_out: list[str] = field(default_factory=list)
    #: the snapshot carries its secrets sealed (a key opens them); else they were never stored
    secrets_sealed: bool = False


@dataclass(frozen=True, kw_only=True)
class PullOptions:
    """How a pull runs; every field is named by its callers."""

    force: bool = False
    allow_rollback: bool = False
    policy: secrets.SecretPolicy = field(default_factory=secrets.SecretPolicy)
    progress: MeterFactory | None = None
    skip_secrets: bool = False
    paths: tuple[str, ...] = ()  # --path: only matching files (.gitignore patterns)
    exclude: tuple[str, ...] = ()  # --exclude: never written or removed (after .statesyncignore)


def pull(repo: Repo, folder: Path, env: str, snapshot: str | None, opts: PullOptions) -> PullResult:
    """Make ``folder`` hold ``env``'s head (or ``snapshot``); nothing half-written.

    With ``opts.paths`` only the matching files are written or removed and
    the folder's record of its last sync is left as it was (the folder does
    not hold the snapshot); :class:`ViewNotFound` if no file matches.
    Raises :class:`EnvNotFound`, :class:`SnapshotNotFound`, :class:`IntegrityError`
    (corruption or rollback: folder untouched) or :class:`LocalChangesConflict`.
    """
    only = PathMatcher(opts.paths, "--path") if opts.paths else None
    record = WorkRecord.load(folder) if folder.is_dir() else WorkRecord(folder, {"envs": {}})
    if snapshot is None:
        seen = highest_seen(record, repo.store_id, env)
        snap_id, serial, manifest = _head(repo, env, seen, opts.allow_rollback)
    else:
        snap_id, serial = resolve_trusted(repo, snapshot), 0
        manifest = load_manifest(repo, snap_id)
    env = manifest.env if snapshot is not None else env
    rec = record.get(repo.store_id, env)
    if only is not None and not any(only.matches(e.path) for e in manifest.entries):
        shown = " ".join(opts.paths)
        raise ViewNotFound(f"no file of snapshot {snap_id[:12]} matches --path {shown}")

    def record_staged(staging: Path, staged: Scan) -> None:
        remember_pull(
            WorkRecord.load(staging), repo.store_id, env, snap_id, serial, manifest, staged
        )

    outcome, _final = restore(
        repo,
        folder,
        manifest,
        rec,
        opts.policy,
        opts.force,
        opts.progress,
        opts.skip_secrets,
        only=only.matches if only else None,
        exclude=opts.exclude,
        record=record_staged if only is None else None,
    )
    if only is not None and serial:
        seen_serials.remember(repo.store_id, env, serial)  # still no going back below it
    wanted = {e.path for e in manifest.entries if only is None or only.matches(e.path)}
    return PullResult(
        snap_id,
        env,
        serial,
        outcome.files,
        outcome.downloaded_bytes,
        outcome.reused_files,
        [p for p in outcome.removed if p not in wanted],
        outcome.kept_unmanaged,
        outcome.placeholders,
        outcome.secrets_left_out,
        manifest.encryption.secrets,
    )


def _head(repo: Repo, env: str, seen: int, allow_rollback: bool) -> tuple[str, int, Manifest]:
    """``env``'s trusted head: its snapshot id, serial and manifest.

    A gc may remove the head's snapshot between the ref's read and the manifest's
    once a push has moved the ref on (retention keeps the newest): the ref is then
    read once more. If the ref did not move, the store lost the head's manifest:
    :class:`IntegrityError` (exit 4), the store is damaged.
    """
    state = require_trusted_head(repo, env, seen=seen, allow_rollback=allow_rollback)
    try:
        return state.ref.snapshot, state.ref.serial, load_manifest(repo, state.ref.snapshot)
    except SnapshotNotFound:
        again = require_trusted_head(repo, env, seen=seen, allow_rollback=allow_rollback)
        if again.ref.snapshot == state.ref.snapshot:
            raise IntegrityError(
                f"{layout.snapshot_key(state.ref.snapshot)}: missing, but refs/{env} "
                f"(serial {state.ref.serial}) names it: the store is damaged "
                "(statesync verify names what else is)"
            ) from None
        log.info("pull: %s moved on while its head was read: pulling the new head", env)
        return again.ref.snapshot, again.ref.serial, load_manifest(repo, again.ref.snapshot)
