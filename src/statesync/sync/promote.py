"""Environments: promote one environment's state to another, roll one back, log them all.

Promotion gives TO a new snapshot whose entries are FROM's head entries, so
nothing is uploaded again (chunks are shared within a store); its parent is
TO's current head, and its tags name the source environment and snapshot.
Rollback gives an environment a new snapshot with an old snapshot's entries:
a new, higher serial, so pulls with rollback protection accept it as the
intentional move it is. Both run under the target environment's lease, and
the ref's conditional write still guards against any writer that bypasses it.

Secrets: secret values and secret files are never in the store (ARCHITECTURE.md
§7), only their names: each entry's ``secret_pointers`` (JSON pointers whose
values are the secret marker) and the manifest's ``secret_files``. Promotion
copies those names unchanged, so TO's machines keep their own secret values
when they pull: a promoted document arrives with markers, and pull puts the
local values back at those pointers. Secrets included in the store
(``--include-secrets``) are bound to their environment: :mod:`reseal` keeps
TO's own sealed secrets and re-seals FROM's others for TO's key.
"""

from __future__ import annotations

from dataclasses import dataclass

from statesync.errors import (
    BackendUnavailable,
    EnvNotFound,
    PolicyViolation,
    StatesyncError,
    UsageError,
)
from statesync.sync import commit as commit_mod
from statesync.sync import history
from statesync.sync.secrets.reseal import Resealed, needs_resealing, reseal
from statesync.sync.store import layout, sticky
from statesync.sync.store.leases import DEFAULT_TTL
from statesync.sync.store.lockguard import LockPolicy, guarded
from statesync.sync.store.manifest import load_manifest
from statesync.sync.store.refs import (
    RefState,
    list_envs,
    read_ref,
    read_trusted_head,
    require_trusted_head,
)
from statesync.sync.store.repo import Repo
from statesync.sync.store.resolve import resolve_trusted


@dataclass
class PromoteResult:
    """TO's new head; ``changed`` is False when TO already held exactly FROM's files."""

    snapshot: str
    env: str
    serial: int
    parent: str | None
    source_env: str
    source_snapshot: str
    files: int
    changed: bool


@dataclass
class RollbackResult:
    """The environment's new head, holding the files of ``rollback_to``."""

    snapshot: str
    env: str
    serial: int
    parent: str | None  # None when a malformed ref was replaced
    rollback_to: str
    files: int
    changed: bool


def promotion_path(src_env: str, dst_env: str) -> str:
    """The rule spelling of a promotion, as in ``[promotion] allowed``."""
    return f"{src_env}->{dst_env}"


def check_promotion(src_env: str, dst_env: str, allowed: list[str] | None) -> None:
    """Raise :class:`PolicyViolation` unless ``allowed`` is None or names this path."""
    if allowed is None or promotion_path(src_env, dst_env) in allowed:
        return
    paths = ", ".join(allowed) or "none"
    raise PolicyViolation(
        f"promotion {src_env} -> {dst_env} is not allowed by "
        f"[promotion] allowed in statesync.toml (allowed: {paths})"
    )


def promote(
    repo: Repo,
    src_env: str,
    dst_env: str,
    message: str = "",
    allowed: list[str] | None = None,
    ttl: float = DEFAULT_TTL,
    lock: LockPolicy | None = None,
    allow_downgrade: bool = False,
) -> PromoteResult:
    """Give ``dst_env`` a new snapshot holding ``src_env``'s head files.

    Raises :class:`UsageError` (same env), :class:`PolicyViolation` (path not
    allowed), :class:`EnvNotFound` (no FROM) — all before anything is
    written — :class:`LockedError` if TO's lease is held, :class:`RefConflict`
    if TO moved under us.
    """
    src_env, dst_env = layout.validate_env(src_env), layout.validate_env(dst_env)
    if src_env == dst_env:
        raise UsageError(f"cannot promote {src_env!r} to itself")
    check_promotion(src_env, dst_env, allowed)
    source = require_trusted_head(repo, src_env).ref.snapshot
    manifest = load_manifest(repo, source)
    tags = {"promoted_from": src_env, "source_snapshot": source}
    with guarded(
        repo, dst_env, f"promote {src_env}->{dst_env}", lock or LockPolicy(), ttl
    ) as lease:
        state = read_trusted_head(repo, dst_env)  # never keep TO's secrets from a refused head
        parent = state.ref.snapshot if state else None
        target = load_manifest(repo, parent) if parent else None
        fit = (
            reseal(repo, manifest, target, dst_env)
            if needs_resealing(manifest, target)
            else Resealed(manifest.entries, manifest.secret_files)
        )
        sticky.guard(
            repo.store_id,
            dst_env,
            fit.encryption,
            head_present=state is not None,
            allow_downgrade=allow_downgrade,
            what="promote",
        )
        if lease is not None:
            lease.check()
        snap, new, changed = commit_mod.commit_entries(
            repo,
            dst_env,
            state,
            parent,
            fit.entries,
            message=message or f"promote {src_env} {source[:12]}",
            tags=tags,
            secret_files=fit.secret_files,
            encryption=fit.encryption,
            base=target,
        )
    return PromoteResult(
        snap, dst_env, new.ref.serial, parent, src_env, source, len(manifest.entries), changed
    )


def rollback(
    repo: Repo,
    env: str,
    snapshot: str,
    message: str = "",
    ttl: float = DEFAULT_TTL,
    lock: LockPolicy | None = None,
    allow_downgrade: bool = False,
) -> RollbackResult:
    """Give ``env`` a new snapshot (new serial) with the files of an older one of its own.

    ``snapshot`` is an id or unique prefix. Only the environment's own
    snapshots qualify, so a rollback cannot bypass the promotion rule.
    Raises :class:`EnvNotFound`, :class:`SnapshotNotFound`, :class:`UsageError`
    (another environment's snapshot), :class:`LockedError`, :class:`RefConflict`.
    """
    env = layout.validate_env(env)
    current = _replaceable_ref(repo, env)
    # Only what the trusted head reaches; over a malformed ref, a full id.
    target = resolve_trusted(repo, snapshot, None if current.broken else env)
    manifest = load_manifest(repo, target)
    if manifest.env != env:
        raise UsageError(
            f"snapshot {target[:12]} belongs to {manifest.env!r}, not {env!r} "
            "(rollback stays within one environment; use promote)"
        )
    sticky.guard(
        repo.store_id,
        env,
        manifest.encryption,
        head_present=not current.broken,
        allow_downgrade=allow_downgrade,
        what="rollback",
    )
    with guarded(repo, env, f"rollback to {target[:12]}", lock or LockPolicy(), ttl) as lease:
        state = _replaceable_ref(repo, env)
        if lease is not None:
            lease.check()
        snap, new, changed = commit_mod.commit_entries(
            repo,
            env,
            state,
            state.ref.snapshot or None,
            manifest.entries,
            message=message or f"rollback to {target[:12]}",
            tags={"rollback_to": target},
            secret_files=manifest.secret_files,
            encryption=manifest.encryption,
        )
    return RollbackResult(
        snap,
        env,
        new.ref.serial,
        state.ref.snapshot or None,
        target,
        len(manifest.entries),
        changed,
    )


def _replaceable_ref(repo: Repo, env: str) -> RefState:
    """``env``'s trusted head (:func:`require_trusted_head`); a malformed ref is returned
    as broken, to be replaced (rollback)."""
    state = read_ref(repo, env, replace_broken=True)
    if state is None:
        raise EnvNotFound(f"environment {env!r} does not exist in this store")
    return state if state.broken else require_trusted_head(repo, env)


@dataclass
class LogAll:
    """Every readable environment's history, and what stops the others being read."""

    envs: dict[str, list[history.LogEntry]]
    errors: dict[str, str]


def log_all(repo: Repo, limit: int) -> LogAll:
    """Every environment's history (newest first, at most ``limit`` each), by name.

    A damaged environment (malformed ref, unreadable manifest, no key) is
    named in ``errors`` and the others are still shown.
    """
    out = LogAll({}, {})
    for env in list_envs(repo):
        try:
            out.envs[env] = history.log(repo, env, limit)
        except EnvNotFound:  # removed between listing and reading
            continue
        except BackendUnavailable:
            raise  # the store is away: no environment is damaged by that
        except StatesyncError as exc:
            out.errors[env] = str(exc)
    return out
