"""The public Python API: the one entry point the CLI and programs use.

    from statesync import Store
    store = Store.open("s3://bucket/prefix")      # or a path, or None: configured
    result = store.push("./state", env="dev", message="nightly")
    store.pull("./restore", env="dev")

Every method raises :class:`statesync.errors.StatesyncError` subclasses only;
each carries the CLI exit code of ARCHITECTURE.md §5.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator, MutableMapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO, ParamSpec, TypeVar

from statesync.backends import open_backend, parse_url
from statesync.backends.retry import RetryingBackend
from statesync.config import Config, load_config
from statesync.errors import RefConflict, StatesyncError, UsageError
from statesync.paths import isolated as isolated  # re-exported: an isolated home for programs
from statesync.sync import commit as commit_mod
from statesync.sync import history, tagindex
from statesync.sync import objects as objcommit
from statesync.sync import pull as pull_mod
from statesync.sync import push as push_mod
from statesync.sync.commit import PushOptions, PushResult, push_result
from statesync.sync.folder.unseal import Unsealer
from statesync.sync.history import Diff, LogEntry, Status
from statesync.sync.progress import MeterFactory
from statesync.sync.pull import PullOptions, PullResult
from statesync.sync.push_plan import PushPlan, plan_push
from statesync.sync.secrets import docspans, redaction
from statesync.sync.secrets.policy import SecretPolicy
from statesync.sync.snapshot_info import SnapshotInfo
from statesync.sync.store import layout
from statesync.sync.store import leases as lease_mod
from statesync.sync.store import promotion_rule as rule_mod
from statesync.sync.store.builder import SnapshotBuilder
from statesync.sync.store.chunkindex import ChunkIndex, load_index
from statesync.sync.store.content import iter_entry, read_entry
from statesync.sync.store.indexcache import IndexCache
from statesync.sync.store.lockguard import LockPolicy, ensure_free
from statesync.sync.store.manifest import Manifest, load_manifest
from statesync.sync.store.refs import (
    Ref,
    broken_envs,
    list_envs,
    read_trusted_head,
    require_trusted_head,
)
from statesync.sync.store.repo import Repo, init_repo, open_repo
from statesync.sync.store.sealing import EnvKeys

if TYPE_CHECKING:
    # Imported where used: a push or pull need none of them (start-up of every command).
    from statesync.formats import transfer
    from statesync.keys import KeyAdmin
    from statesync.sync import bundles as bundle
    from statesync.sync import promote as promote_mod
    from statesync.sync.gc import GcReport
    from statesync.sync.repair import RepairResult
    from statesync.sync.store.retention import Policy as RetentionPolicy
    from statesync.sync.store.retention_store import StoredPolicy as StoredRetention
    from statesync.sync.verify import VerifyReport

_P = ParamSpec("_P")
_T = TypeVar("_T")
OBJECT_PATH = "object.json"


async def _to_thread(fn: Callable[_P, _T], /, *args: _P.args, **kw: _P.kwargs) -> _T:
    """``asyncio.to_thread``, importing asyncio only when an async method is used."""
    import asyncio

    return await asyncio.to_thread(fn, *args, **kw)


BYTES_PATH = "object.bin"

__all__ = [
    "Config",
    "Diff",
    "IndexCache",
    "LockPolicy",
    "LogEntry",
    "PullResult",
    "PushResult",
    "SnapshotInfo",
    "Status",
    "Store",
    "isolated",
]


class Store:
    """A statesync store, opened and verified."""

    def __init__(self, repo: Repo, config: Config | None = None) -> None:
        self.repo = repo
        self.config = config or Config(repo.backend.url, SecretPolicy(), "given")
        self.policy = self.config.policy
        _wire_security(repo, self.config)

    @property
    def url(self) -> str:
        return self.repo.backend.url

    @property
    def store_id(self) -> str:
        return self.repo.store_id

    @staticmethod
    def _backend(
        url: str | None, config: Config | None, retry_budget: float | None = None
    ) -> tuple[RetryingBackend, Config]:
        cfg = _resolve_config(url, config)
        return RetryingBackend(open_backend(cfg.store), budget=retry_budget), cfg

    @classmethod
    def open(
        cls,
        url: str | None = None,
        *,
        config: Config | None = None,
        retry_budget: float | None = None,
    ) -> Store:
        """Open an existing store.

        With ``url`` or ``config`` nothing else is read: no ``statesync.toml``
        of the working folder, no ``STATESYNC_STORE`` (``config`` holds the
        secret policy and recipients; default: the built-in policy, no
        recipients; ``url`` wins over ``config.store``). With neither, the
        CLI's resolution (:meth:`configured`). ``retry_budget``: seconds one
        store call may spend retrying transient faults (default:
        ``STATESYNC_RETRY_BUDGET`` or the CLI's budget).
        """
        backend, cfg = cls._backend(url, config, retry_budget)
        repo = open_repo(backend)
        _check_pin(repo)
        return cls(repo, cfg)

    @classmethod
    def configured(cls, store: str | None = None, *, retry_budget: float | None = None) -> Store:
        """Open the store as the CLI does: ``store`` (``--store``), then ``STATESYNC_STORE``,
        then the nearest ``statesync.toml``, then the default; the policy from that file."""
        return cls.open(config=load_config(store), retry_budget=retry_budget)

    @classmethod
    def init(cls, url: str | None = None, *, config: Config | None = None) -> Store:
        """Create a store (``url``, ``config``: as for open); :class:`StoreExists` if one exists."""
        backend, cfg = cls._backend(url, config)
        repo = init_repo(backend)
        _check_pin(repo, reset=True)  # this machine made it: pin the id it chose
        return cls(repo, cfg)

    @classmethod
    def pin(
        cls, url: str | None = None, *, reset: bool = False, config: Config | None = None
    ) -> dict[str, Any]:
        """This machine's pin of the store's id; ``reset`` re-pins to what the store says now.

        Without ``reset``, a store whose id differs from the pin raises
        :class:`IntegrityError` as every other command does.
        """
        backend, _ = cls._backend(url, config)
        try:
            repo = open_repo(backend)
            return {
                "store": pin_url(repo),
                "store_id": repo.store_id,
                **_check_pin(repo, reset=reset),
            }
        finally:
            backend.close()

    def close(self) -> None:
        self.repo.backend.close()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # --- folders -----------------------------------------------------------

    def push(
        self,
        folder: str | Path,
        env: str = "default",
        *,
        message: str = "",
        tags: dict[str, str] | None = None,
        force: bool = False,
        rebase: bool = False,
        include_secrets: bool = False,
        encrypt_all: bool = False,
        progress: MeterFactory | None = None,
        lock: LockPolicy | None = None,
        allow_downgrade: bool = False,
        exclude: list[str] | None = None,
    ) -> PushResult:
        """Snapshot ``folder`` into ``env`` (see :func:`statesync.sync.push.push`).

        Paths matched by the folder's ``.statesyncignore`` or by ``exclude``
        (``.gitignore`` patterns, which win ties) are not pushed.

        ``include_secrets`` seals secret values and files with the environment's
        key instead of leaving them out; ``encrypt_all`` seals every chunk and
        the manifest too. ``progress`` makes the meters that count bytes
        (see :mod:`statesync.sync.progress`). Both stay on for the environment once used, also
        when its head vanishes or goes plaintext, unless ``allow_downgrade``.
        ``lock``: how another holder's lease is treated (default:
        :class:`LockedError`).
        """
        if force and rebase:
            raise UsageError("--rebase and --force exclude each other")
        opts = PushOptions(
            message=message,
            tags=dict(tags or {}),
            force=force,
            rebase=rebase,
            policy=self.policy,
            progress=progress,
            include_secrets=include_secrets,
            encrypt_all=encrypt_all,
            allow_downgrade=allow_downgrade,
            exclude=tuple(exclude or ()),
        )
        env = layout.validate_env(env)
        ensure_free(self.repo, env, lock or LockPolicy())
        return push_mod.push(self.repo, Path(folder), env, opts)

    def plan_push(
        self, folder: str | Path, env: str = "default", *, include_secrets: bool = False
    ) -> PushPlan:
        """What :meth:`push` would exclude, redact and upload; writes nothing."""
        return plan_push(
            self.repo, Path(folder), layout.validate_env(env), self.policy, include_secrets
        )

    def pull(
        self,
        folder: str | Path,
        env: str = "default",
        *,
        snapshot: str | None = None,
        force: bool = False,
        allow_rollback: bool = False,
        skip_secrets: bool = False,
        progress: MeterFactory | None = None,
        paths: list[str] | None = None,
        exclude: list[str] | None = None,
    ) -> PullResult:
        """Restore ``env``'s head (or ``snapshot``) into ``folder`` atomically.

        ``skip_secrets`` pulls everything else when no key is available: sealed
        secrets are not decrypted and this machine's own values and files stay.
        ``paths`` (``.gitignore`` patterns): only the matching files are written
        or removed, the rest of the folder and its sync record stay as they
        are (:class:`ViewNotFound` if none matches). Paths the folder's
        ``.statesyncignore`` or ``exclude`` match are never written or removed.
        """
        opts = PullOptions(
            force=force,
            allow_rollback=allow_rollback,
            policy=self.policy,
            progress=progress,
            skip_secrets=skip_secrets,
            paths=tuple(paths or ()),
            exclude=tuple(exclude or ()),
        )
        return pull_mod.pull(self.repo, Path(folder), layout.validate_env(env), snapshot, opts)

    def status(self, folder: str | Path, env: str = "default") -> Status:
        return history.status(self.repo, Path(folder), layout.validate_env(env), self.policy)

    # --- history -----------------------------------------------------------

    def envs(self) -> list[str]:
        return list_envs(self.repo)

    def log(self, env: str = "default", limit: int = 20) -> list[LogEntry]:
        return history.log(self.repo, layout.validate_env(env), limit)

    def show(self, name: str) -> SnapshotInfo:
        """A snapshot's metadata and files (no chunk lists); ``name`` is an env or id prefix.

        ``created_at`` is a tz-aware UTC datetime; ``.to_json()`` is ``show --json``.
        """
        snap = history.resolve(self.repo, name)
        return SnapshotInfo.of(load_manifest(self.repo, snap), snap)

    def diff(self, a: str, b: str) -> Diff:
        return history.diff(self.repo, a, b)

    def cat(self, ref: str, path: str, *, skip_secrets: bool = False) -> Iterator[bytes]:
        """The bytes of ``path`` in ``ref`` (an environment or a snapshot id or prefix).

        Streamed and verified as read; secrets as a pull would write them
        (see :func:`statesync.sync.cat.cat`). Raises :class:`ViewNotFound` for
        a path the snapshot lacks, :class:`KeyFailure`, :class:`IntegrityError`.
        """
        from statesync.sync.cat import cat

        snap = history.resolve(self.repo, ref)
        return cat(self.repo, snap, path, policy=self.policy, skip_secrets=skip_secrets)

    # --- environments and leases ---------------------------------------------

    def broken_envs(self) -> dict[str, str]:
        """Environment -> what is wrong with its ref, for each ref that cannot be read."""
        return broken_envs(self.repo)

    def log_all(self, limit: int = 20) -> promote_mod.LogAll:
        """Every environment's history, newest first, by name; damaged ones in ``errors``."""
        from statesync.sync import promote as promote_mod

        return promote_mod.log_all(self.repo, limit)

    def lock(
        self,
        env: str,
        ttl: float = lease_mod.DEFAULT_TTL,
        purpose: str = "",
        *,
        force: bool = False,
    ) -> lease_mod.Lease:
        """Take ``env``'s lease (no heartbeat: renew it, or use ``leases.held``).

        Raises :class:`LockedError` naming the holder and expiry if it is held,
        :class:`IntegrityError` naming a malformed lease; ``force`` replaces
        whatever lease is there (a damaged one, or another holder's).
        """
        return lease_mod.acquire(self.repo, layout.validate_env(env), ttl, purpose, force)

    def renew_lock(self, env: str, lock_id: str, ttl: float | None = None) -> lease_mod.Lease:
        """Renew ``env``'s lease ``lock_id`` (restarting its TTL, or setting a new one)."""
        return lease_mod.renew(self.repo, layout.validate_env(env), lock_id, ttl)

    def locks(self, *, probe_clock: bool = True) -> list[lease_mod.LockStatus]:
        """Every lease in the store, live or stale.

        Judged by the store's clock, read by writing a probe object; with
        ``probe_clock=False`` nothing is written and "now" is this machine's
        clock against the store's timestamp of each lease (read-only views).
        """
        return lease_mod.list_locks(self.repo, probe=probe_clock)

    def unlock(self, env: str, lock_id: str, force: bool = False) -> lease_mod.LockInfo:
        """Remove ``env``'s lease if it is still ``lock_id`` (another holder's: ``force``).

        ``env`` may also be ``_gc``, the store's gc lease, so that a killed gc's lease
        can be broken before it goes stale; a gc still running stops before its next
        batch of deletions once its lease is gone.
        """
        name = env if env == layout.GC_LEASE else layout.validate_env(env)
        return lease_mod.release(self.repo, name, lock_id, force)

    def promote(
        self,
        src: str,
        dst: str,
        message: str = "",
        *,
        lock: LockPolicy | None = None,
        allow_downgrade: bool = False,
    ) -> promote_mod.PromoteResult:
        """Give ``dst`` ``src``'s head files as a new snapshot, if the rules allow it.

        The store's promotion rule (:mod:`statesync.sync.store.promotion_rule`) and,
        as a local additional restriction, ``[promotion] allowed`` of statesync.toml.
        Like push, it refuses (:class:`IntegrityError`) to store ``dst`` with less
        encryption than this machine used for it, unless ``allow_downgrade``.
        """
        rule_mod.check(self.repo, layout.validate_env(src), layout.validate_env(dst))
        allowed = self._current_config().promotion_allowed  # the rule as it is now
        from statesync.sync import promote as promote_mod

        return promote_mod.promote(
            self.repo, src, dst, message, allowed, lock=lock, allow_downgrade=allow_downgrade
        )

    def promotion_rule(self) -> rule_mod.PromotionRule | None:
        """The store's promotion rule (None: the store has none, every path is allowed)."""
        return rule_mod.read_rule(self.repo)

    def change_promotion_rule(
        self, allow: list[str] | None = None, deny: list[str] | None = None
    ) -> rule_mod.PromotionRule:
        """Allow and disallow ``FROM->TO`` paths in the store's rule, for every caller."""
        return rule_mod.change(self.repo, list(allow or []), list(deny or []))

    def rollback(
        self,
        env: str,
        snapshot: str,
        message: str = "",
        *,
        lock: LockPolicy | None = None,
        allow_downgrade: bool = False,
    ) -> promote_mod.RollbackResult:
        """Give ``env`` a new snapshot (new serial) with an older snapshot's files.

        An older snapshot stored with less encryption than this machine used
        for ``env`` is refused (:class:`IntegrityError`) unless ``allow_downgrade``.
        """
        from statesync.sync import promote as promote_mod

        return promote_mod.rollback(
            self.repo, env, snapshot, message, lock=lock, allow_downgrade=allow_downgrade
        )

    def verify(self, env: str | None = None, read_data: bool = False) -> VerifyReport:
        """Check refs, manifests, indexes (and chunks); problems are listed by object."""
        from statesync.sync.verify import verify as verify_store

        return verify_store(self.repo, layout.validate_env(env) if env else None, read_data)

    def repair(self, read_data: bool = False) -> RepairResult:
        """Rebuild indexes from packs (``read_data``: forget corrupt chunks); ``lost``: gone."""
        from statesync.sync.repair import repair as repair_store

        return repair_store(self.repo, read_data)

    # --- bundles -----------------------------------------------------------

    def export(
        self,
        path: str | Path,
        *,
        env: str | None = None,
        snapshot: str | None = None,
        include_binaries: bool = False,
        paths: list[str] | None = None,
        description: str = "",
        tags: dict[str, str] | None = None,
    ) -> bundle.ExportResult:
        """Write one self-contained bundle file (.json, .yaml/.yml or .tar.zst)."""
        if (env is None) == (snapshot is None):
            raise UsageError("export needs exactly one of --env or --snapshot")
        snap = history.resolve(self.repo, snapshot) if snapshot else self._head(str(env))
        from statesync.sync import bundles as bundle

        return bundle.export_bundle(
            self.repo,
            snap,
            Path(path),
            include_binaries=include_binaries,
            paths=list(paths or []),
            description=description,
            tags=dict(tags or {}),
        )

    def import_(
        self,
        path: str | Path,
        env: str = "default",
        *,
        skip_existing: bool = False,
        message: str = "",
        lock: LockPolicy | None = None,
        allow_downgrade: bool = False,
    ) -> bundle.ImportResult:
        """Validate a bundle completely, then commit it to ``env`` as a new snapshot.

        Refuses (:class:`IntegrityError`) to store ``env`` with less encryption
        than this machine used for it, unless ``allow_downgrade``.
        """
        env = layout.validate_env(env)
        ensure_free(self.repo, env, lock or LockPolicy())
        from statesync.sync import bundles as bundle

        return bundle.import_bundle(
            self.repo,
            Path(path),
            env,
            skip_existing=skip_existing,
            message=message,
            policy=self.policy,
            allow_downgrade=allow_downgrade,
        )

    # --- in-memory objects (agent state) -----------------------------------

    def save_object(
        self,
        obj: Any,
        env: str = "default",
        *,
        agent_id: str | None = None,
        session_id: str | None = None,
        description: str = "",
        tags: dict[str, str] | None = None,
        include_secrets: bool = False,
        encrypt_all: bool = False,
        lock: LockPolicy | None = None,
    ) -> PushResult:
        """Snapshot a JSON-able object; :meth:`load_object` returns exactly it.

        Secret-looking values are sealed with the environment's key (also
        without ``include_secrets`` when the environment has keys); with no
        key the save is refused with :class:`SecretRefused` naming the key
        paths, never replaced by a marker. Builds on the environment's current
        head; a concurrent writer makes this raise :class:`RefConflict` rather
        than lose either update. Encryption modes are those of push, and sticky
        in the same way. ``lock``: as for :meth:`push`, another holder's live
        lease is :class:`LockedError` unless the policy waits for it, names the
        caller's own or ignores it.
        """
        try:
            data = (json.dumps(obj, indent=2, sort_keys=True) + "\n").encode()
        except (TypeError, ValueError) as exc:
            raise UsageError(f"object is not JSON-serialisable: {exc}") from None
        env = layout.validate_env(env)
        ensure_free(self.repo, env, lock or LockPolicy())
        meta = dict(tags or {})
        meta.update({k: v for k, v in (("agent_id", agent_id), ("session_id", session_id)) if v})
        return self.commit_files(
            env,
            [objcommit.FileSpec(OBJECT_PATH, data)],
            message=description,
            tags=meta,
            include_secrets=include_secrets,
            encrypt_all=encrypt_all,
        )

    def load_object(
        self, env: str = "default", *, snapshot: str | None = None, skip_secrets: bool = False
    ) -> Any:
        """The object saved by :meth:`save_object`.

        Sealed secret values are decrypted (:class:`KeyFailure` without a key,
        unless ``skip_secrets``); secrets that were never stored come back as
        the marker.
        """
        snap = history.resolve(self.repo, snapshot) if snapshot else self._head(env)
        manifest = load_manifest(self.repo, snap)
        entry = manifest.by_path().get(OBJECT_PATH)
        if entry is None:
            raise UsageError(f"snapshot {snap[:12]} holds no saved object")
        data = read_entry(self.repo, load_index(self.repo), entry)
        opened = Unsealer(self.repo, manifest, skip_secrets).unseal(entry, data, None)
        return json.loads(opened if opened is not None else data)

    # --- keys and trust (ARCHITECTURE.md §7) ----------------------------------------

    def keys(self, identities: list[str] | None = None) -> KeyAdmin:
        """Key management (``[keys] recipients`` of statesync.toml + ``identities`` specs)."""
        from statesync.keys import KeyAdmin

        extra = [*self.config.identities, *(identities or [])]
        return KeyAdmin(self.repo, self._current_config().recipients, extra)

    # --- agent state: files, bytes, tag lookups, async (objects/) ------------

    def commit_files(
        self,
        env: str,
        files: list[objcommit.FileSpec],
        *,
        message: str = "",
        tags: dict[str, str] | None = None,
        include_secrets: bool = False,
        encrypt_all: bool = False,
    ) -> PushResult:
        """Commit in-memory ``files`` as ``env``'s next snapshot (:mod:`~statesync.sync.objects`).

        Raises :class:`SecretRefused`, :class:`RefConflict`. Leases are not
        checked (as for save_object before): the ref's conditional write guards.
        """
        env = layout.validate_env(env)
        opts = objcommit.CommitOptions(
            policy=self.policy,
            message=message,
            tags=tags,
            include_secrets=include_secrets,
            encrypt_all=encrypt_all,
        )
        return objcommit.commit_files(self.repo, env, files, opts)

    def save_bytes(
        self,
        data: bytes | bytearray | memoryview | BinaryIO,
        env: str = "default",
        *,
        agent_id: str | None = None,
        session_id: str | None = None,
        description: str = "",
        tags: dict[str, str] | None = None,
        encrypt_all: bool = False,
    ) -> PushResult:
        """Snapshot binary state (bytes, or a stream read to its end in bounded memory).

        :meth:`load_bytes` returns the same bytes. ``encrypt_all`` seals them.
        """
        meta = dict(tags or {})
        meta.update({k: v for k, v in (("agent_id", agent_id), ("session_id", session_id)) if v})
        spec = (
            objcommit.FileSpec(BYTES_PATH, bytes(data), document=False)
            if isinstance(data, (bytes, bytearray, memoryview))
            else objcommit.FileSpec(BYTES_PATH, stream=data, document=False)
        )
        return self.commit_files(
            env, [spec], message=description, tags=meta, encrypt_all=encrypt_all
        )

    def iter_bytes(self, env: str = "default", *, snapshot: str | None = None) -> Iterator[bytes]:
        """The bytes saved by :meth:`save_bytes`, chunk by chunk, each verified.

        Raises :class:`UsageError` if the snapshot holds none, :class:`IntegrityError`.
        """
        snap = history.resolve(self.repo, snapshot) if snapshot else self._head(env)
        entry = load_manifest(self.repo, snap).by_path().get(BYTES_PATH)
        if entry is None:
            raise UsageError(f"snapshot {snap[:12]} holds no saved bytes")
        return iter_entry(self.repo, load_index(self.repo), entry)

    def load_bytes(self, env: str = "default", *, snapshot: str | None = None) -> bytes:
        """The bytes saved by :meth:`save_bytes` (whole; :meth:`iter_bytes` streams)."""
        return b"".join(self.iter_bytes(env, snapshot=snapshot))

    def find_snapshots(
        self, env: str = "default", *, tags: dict[str, str], limit: int | None = None
    ) -> list[tagindex.SnapshotMatch]:
        """``env``'s snapshots carrying every tag of ``tags``, newest first (tag index)."""
        return tagindex.find(self.repo, layout.validate_env(env), dict(tags), limit)

    def rebuild_tag_index(self, env: str = "default") -> int:
        """Re-create ``env``'s tag index from its history (after damage); snapshots read."""
        return tagindex.rebuild(self.repo, layout.validate_env(env))

    async def asave_object(self, obj: Any, env: str = "default", **kw: Any) -> PushResult:
        return await _to_thread(self.save_object, obj, env, **kw)

    async def aload_object(self, env: str = "default", **kw: Any) -> Any:
        return await _to_thread(self.load_object, env, **kw)

    async def asave_bytes(self, data: bytes, env: str = "default", **kw: Any) -> PushResult:
        return await _to_thread(self.save_bytes, data, env, **kw)

    async def aload_bytes(self, env: str = "default", **kw: Any) -> bytes:
        return await _to_thread(self.load_bytes, env, **kw)

    async def afind_snapshots(
        self, env: str = "default", **kw: Any
    ) -> list[tagindex.SnapshotMatch]:
        return await _to_thread(self.find_snapshots, env, **kw)

    # --- the seeds' formats: Wassette, Persist (formats/) ---------------------

    def import_file(
        self,
        path: str | Path,
        env: str = "default",
        *,
        skip_existing: bool = False,
        message: str = "",
        lock: LockPolicy | None = None,
        components: list[str] | None = None,
        allow_downgrade: bool = False,
    ) -> bundle.ImportResult | transfer.FormatImportResult:
        """Import a statesync bundle, Wassette state (JSON/YAML) or Persist ``.json.gz``.

        The format is told from the file's bytes (:mod:`statesync.formats.detect`);
        :class:`FormatError` for anything else. Validates everything before writing.
        ``components``: only these Wassette components. ``allow_downgrade`` as
        for :meth:`import_`.
        """
        from statesync.formats import detect, transfer

        found = detect.detect(Path(path))
        if found.format == detect.BUNDLE:
            if components is not None:
                raise UsageError("--component selects Wassette components: a bundle has none")
            return self.import_(
                path,
                env,
                skip_existing=skip_existing,
                message=message,
                lock=lock,
                allow_downgrade=allow_downgrade,
            )
        env = layout.validate_env(env)
        ensure_free(self.repo, env, lock or LockPolicy())
        opts = objcommit.CommitOptions(policy=self.policy)
        return transfer.import_detected(
            self.repo,
            found,
            Path(path).name,
            env,
            skip_existing=skip_existing,
            message=message,
            opts=opts,
            components=components,
        )

    def export_format(
        self,
        path: str | Path,
        fmt: str,
        *,
        env: str | None = None,
        snapshot: str | None = None,
        include_binaries: bool = False,
        components: list[str] | None = None,
        paths: list[str] | None = None,
        description: str = "",
        tags: dict[str, str] | None = None,
    ) -> transfer.FormatExportResult:
        """Write a Wassette (``wassette``, ``wassette-yaml``) or Persist (``persist``) file.

        ``description``/``tags`` set the file's own metadata (Wassette's snapshot
        ``metadata``, Persist's ``description``) over what the snapshot holds.
        """
        if (env is None) == (snapshot is None):
            raise UsageError("export needs exactly one of --env or --snapshot")
        snap = history.resolve(self.repo, snapshot) if snapshot else self._head(str(env))
        from statesync.formats import transfer

        return transfer.export_format(
            self.repo,
            snap,
            Path(path),
            fmt,
            include_binaries=include_binaries,
            components=components,
            paths=paths,
            description=description,
            tags=dict(tags or {}),
        )

    def _current_config(self) -> Config:
        """The configuration as it is now: read again if it came from the CLI's resolution.

        A given configuration (``Store.open(url)``, ``config=``) is used as it is.
        """
        if self.config.source == "given":
            return self.config
        named = self.config.file.path if self.config.file.reason != "found in folder" else None
        cwd = self.config.file.path.parent if self.config.file.path and not named else None
        return load_config(self.url, cwd=cwd, config_file=named)

    def _head(self, env: str) -> str:
        return require_trusted_head(self.repo, layout.validate_env(env)).ref.snapshot


def _resolve_config(url: str | None, config: Config | None) -> Config:
    """``config`` (its store replaced by ``url``), a default one for ``url``, or the CLI's."""
    if config is not None:
        return replace(config, store=url) if url else config
    if url is not None:
        return Config(url, source="given")
    return load_config()


def pin_url(repo: Repo) -> str:
    """The canonical spelling of the store's URL, the key of its local pin."""
    return parse_url(repo.backend.url).canonical


def _check_pin(repo: Repo, reset: bool = False) -> dict[str, Any]:
    """Hold the store to the id this machine pinned (ARCHITECTURE.md §7: trust stays local).

    Afterwards ``repo.store_id`` is the pinned id, so the trust policy, the
    serials seen and the sticky encryption choices are keyed by the pin.
    Raises :class:`IntegrityError` if the store now claims another id.
    """
    from statesync.crypto import pins

    url = pin_url(repo)
    if url.startswith("memory://"):  # lives in this process only
        return {"pinned": repo.store_id, "first_use": False}
    if reset:
        previous = pins.reset(url, repo.store_id)
        return {"pinned": repo.store_id, "previous": previous, "first_use": previous is None}
    got = pins.check(url, repo.store_id)
    return {"pinned": got.store_id, "first_use": got.first_use}


def _wire_security(repo: Repo, config: Config) -> None:
    """Give the engine this user's keys (unwrapped on first use), signer and trust policy."""
    from statesync.crypto import signing, trust
    from statesync.crypto.providers import default_identities
    from statesync.sync.store.keyring import KeyService

    service: list[KeyService] = []

    def lookup(env: str, generation: int | None) -> EnvKeys:
        if not service:
            specs = [*config.recipients, *config.identities]
            service.append(KeyService(repo, default_identities(specs)))
        gen, key = service[0].data_key(env, generation)
        return EnvKeys(repo.store_id, env, gen, key)

    repo.keys = lookup
    repo.signer = signing.default_signer()
    repo.trust = trust.TrustPolicy.load()


# --- read-only views for the web view (statesync.server.web) -----------------------


def head_ref(store: Store, env: str) -> Ref:
    """``env``'s trusted head ref (serial, who moved it when, signer).

    Raises :class:`EnvNotFound`, or :class:`IntegrityError` for a head the
    trust policy refuses or one that went backwards.
    """
    return require_trusted_head(store.repo, layout.validate_env(env)).ref


def log_entry(store: Store, snapshot: str) -> LogEntry:
    """One snapshot's line of history (reads only its own manifest).

    Manifests are immutable and named by their hash, so callers may cache the
    result by id. Raises :class:`SnapshotNotFound` or :class:`IntegrityError`.
    """
    m = load_manifest(store.repo, snapshot)
    return LogEntry(
        snapshot,
        m.created_at,
        m.author,
        m.host,
        m.message,
        m.tags,
        m.parents,
        len(m.entries),
        sum(e.size for e in m.entries),
    )


def resolve_snapshot(store: Store, name: str) -> str:
    """An environment name or snapshot id (prefix) -> full id, as ``show`` resolves it.

    A full id of an environment the local trust policy says nothing about is
    taken as it is (what :func:`history.resolve` would accept anyway) without
    walking every history to find it: fast on long histories.
    """
    text = name.lower()
    if layout.is_object_id(text):
        env = load_manifest(store.repo, text).env
        if store.repo.trust is None or store.repo.trust.entry(store.store_id, env) is None:
            return text
    return history.resolve(store.repo, name)


def snapshot_manifest(store: Store, snapshot: str) -> Manifest:
    """The verified manifest of the full id ``snapshot`` (see :func:`resolve_snapshot`)."""
    return load_manifest(store.repo, snapshot)


def diff_snapshots(store: Store, a: str, b: str) -> Diff:
    """:meth:`Store.diff` of two names resolved by :func:`resolve_snapshot`."""
    return history.diff(
        store.repo,
        resolve_snapshot(store, a),
        resolve_snapshot(store, b),
        resolver=lambda repo, name: name,
    )


#: A sealed value string as push writes it (``statesync:enc:v<N>:<generation>:<base64>``).
_SEALED_VALUE = re.compile(rb"statesync:enc:v[0-9]+:[0-9]+:[A-Za-z0-9+/=]+")


def chunk_index(store: Store) -> ChunkIndex:
    """Where every chunk is; pass it to :func:`redacted_file` to read many files at one listing."""
    return load_index(store.repo)


def redacted_file(
    store: Store, snapshot: str, path: str, *, index: ChunkIndex | None = None
) -> bytes:
    """A file of a snapshot as stored, with every secret value shown as the marker.

    Sealed values are never opened: the bytes come from the store's redacted
    form, the recorded secret pointers get the marker and any sealed string
    left is masked too. Raises :class:`UsageError` for a path the snapshot
    lacks, a link, a sealed secret file, or a document whose secret values
    cannot be located (nothing is shown then); :class:`IntegrityError` for
    damaged content.
    """
    entry = load_manifest(store.repo, snapshot).by_path().get(path)
    if entry is None or entry.kind in ("symlink", "secret-file"):
        raise UsageError(f"{path!r} has no content to show in snapshot {snapshot[:12]}")
    data = read_entry(store.repo, index or load_index(store.repo), entry)
    if entry.secret_pointers:
        try:
            spans = redaction.values_at(path, data, entry.secret_pointers, store.policy)
        except (ValueError, StatesyncError):  # UnicodeDecodeError too
            raise UsageError(f"{path}: its secret values cannot be located; not shown") from None
        marker = redaction.scalar_for(path, redaction.MARKER)
        data = redaction.splice(data, [(s, marker) for ss in spans.values() for s in ss])
    return _SEALED_VALUE.sub(redaction.MARKER.encode(), data)


# --- whole files in memory (statesync serve: Terraform state) ---------------------


@dataclass(frozen=True)
class HeadFile:
    """One file of an environment's head, as its writer gave it (secrets opened)."""

    snapshot: str | None  # the head snapshot; None when the environment has none
    data: bytes | None  # None when the head has no such file (or there is no head)


def read_head_file(
    store: Store, env: str, path: str, *, cache: MutableMapping[str, bytes | None] | None = None
) -> HeadFile:
    """``path`` of ``env``'s trusted head with sealed values decrypted.

    ``cache`` (snapshot id and path -> bytes) spares re-reading a snapshot
    already read: snapshots never change, so only the ref is read again. It
    holds opened secrets: keep it in memory only. Raises :class:`KeyFailure`
    when a sealed value cannot be opened here and :class:`IntegrityError`
    for a damaged or untrusted head.
    """
    state = read_trusted_head(store.repo, layout.validate_env(env))
    if state is None or not state.ref.snapshot:
        return HeadFile(None, None)
    snap, key = state.ref.snapshot, f"{state.ref.snapshot}:{path}"
    if cache is not None:
        try:  # (not "in" then get: another thread may evict it between the two)
            return HeadFile(snap, cache[key])
        except KeyError:
            pass
    data = _read_file(store, snap, path)
    if cache is not None:
        cache[key] = data
    return HeadFile(snap, data)


def _read_file(store: Store, snapshot: str, path: str) -> bytes | None:
    manifest = load_manifest(store.repo, snapshot)
    entry = manifest.by_path().get(path)
    if entry is None:
        return None
    data = read_entry(store.repo, load_index(store.repo), entry)
    opened = Unsealer(store.repo, manifest, False).unseal(entry, data, None)
    return opened if opened is not None else data


def commit_files(
    store: Store,
    env: str,
    files: dict[str, bytes],
    *,
    parent: str | None,
    sealed: dict[str, list[str]] | None = None,
    message: str = "",
    tags: dict[str, str] | None = None,
    include_secrets: bool = False,
    encrypt_all: bool = False,
    lock: LockPolicy | None = None,
    index_cache: IndexCache | None = None,
) -> PushResult:
    """Make ``files`` (path -> bytes) ``env``'s next snapshot, if its head is still ``parent``.

    Documents are stored as push stores them (secret values found by the
    policy are sealed with ``include_secrets``, else replaced by the marker);
    ``sealed`` names further JSON pointers per path to seal (e.g. Terraform's
    sensitive values), which needs the environment's key like
    ``include_secrets``. Raises :class:`RefConflict` when the head is not
    ``parent`` (or moves meanwhile), :class:`LockedError` for another
    holder's lease, :class:`KeyFailure` without a key. ``index_cache``: a
    long-lived caller's chunk index (:mod:`statesync.sync.store.indexcache`),
    so a commit does not list the store.
    """
    env = layout.validate_env(env)
    ensure_free(store.repo, env, lock or LockPolicy())
    state = read_trusted_head(store.repo, env)
    head_id = state.ref.snapshot if state and state.ref.snapshot else None
    if head_id != parent:
        raise RefConflict(
            f"environment {env!r} is at {str(head_id)[:12]}, not at "
            f"{str(parent)[:12]}; nothing written"
        ).with_details(head=head_id)
    head = load_manifest(store.repo, head_id) if head_id else None
    extra = {p: v for p, v in (sealed or {}).items() if v}
    opts = PushOptions(
        policy=store.policy, include_secrets=include_secrets or bool(extra), encrypt_all=encrypt_all
    )
    sealing = push_mod.Sealing.decide(store.repo, env, head, opts)
    builder = SnapshotBuilder(
        store.repo, keys=sealing.keys if sealing.everything else None, index_cache=index_cache
    )
    entries = []
    for path, data in sorted(files.items()):
        wanted = _outside_policy(store.policy, path, data, extra.get(path, []))
        data, pointers = _seal_pointers(sealing, path, data, wanted)
        stored, found = sealing.form(store.policy).document(path, data)
        entry = builder.add_bytes(path, stored, 0o600)
        entry.secret_pointers = list(dict.fromkeys(pointers + found))
        entries.append(entry)
    builder.finish()
    _, new, changed = commit_mod.commit_entries(
        store.repo,
        env,
        state,
        head_id,
        entries,
        message=message,
        tags=dict(tags or {}),
        encryption=sealing.manifest_field(),
        base=head,
        gc_seen=builder.gc_generation,
    )
    return push_result(
        env,
        new,
        parent=head_id,
        files=len(entries),
        uploaded=builder.uploaded_bytes,
        reused=builder.reused_bytes,
        changed=changed,
    )


def _seal_pointers(
    sealing: push_mod.Sealing, path: str, data: bytes, pointers: list[str]
) -> tuple[bytes, list[str]]:
    """``data`` with the values at ``pointers`` sealed whole; the pointers found."""
    keys = sealing.keys
    if not pointers or keys is None:
        return data, []
    try:
        spans = redaction.values_at(path, data, pointers, SecretPolicy())
    except (ValueError, UnicodeDecodeError):
        raise UsageError(f"{path}: not a valid JSON document; nothing written") from None
    changes = []
    for pointer, found in spans.items():
        for span in found:
            raw = data[span.start : span.end]
            if not redaction.is_placeholder(raw):
                changes.append((span, docspans.scalar(keys.seal_bytes(path, pointer, raw))))
    return redaction.splice(data, changes), list(spans)


def _outside_policy(policy: SecretPolicy, path: str, data: bytes, pointers: list[str]) -> list[str]:
    """``pointers`` not at or under a value the policy seals anyway (no nested seals)."""
    locator = redaction.locator_for(path)
    if locator is None or not pointers or not policy.may_hold_secret_keys(path, data):
        return pointers
    try:
        found = [s.pointer for s in locator.locate(data, policy)]
    except (ValueError, UnicodeDecodeError):
        raise UsageError(f"{path}: not a valid JSON document; nothing written") from None
    return [p for p in pointers if not any(p == q or p.startswith(q + "/") for q in found)]


def secret_pointers(store: Store, path: str, data: bytes) -> list[str]:
    """JSON pointers of the values in ``data`` that the store's secret policy names.

    Raises :class:`UsageError` when a document of ``path``'s kind does not parse.
    """
    locator = redaction.locator_for(path)
    if locator is None or not store.policy.may_hold_secret_keys(path, data):
        return []  # the policy's own fast, never-wrong "no" (as push uses it)
    try:
        return list(dict.fromkeys(s.pointer for s in locator.locate(data, store.policy)))
    except (ValueError, UnicodeDecodeError):
        raise UsageError(f"{path}: not a valid document; nothing written") from None


def lock_status(store: Store, env: str) -> lease_mod.LockStatus | None:
    """``env``'s lease (live or stale, judged by the store's clock); None if it has none."""
    return lease_mod.lock_status(store.repo, layout.validate_env(env))


def find_snapshots(
    store: Store, env: str, *, tags: dict[str, str], limit: int | None = None
) -> list[tagindex.SnapshotMatch]:
    """:meth:`Store.find_snapshots` as a function."""
    return store.find_snapshots(env, tags=tags, limit=limit)


async def afind_snapshots(
    store: Store, env: str, *, tags: dict[str, str], limit: int | None = None
) -> list[tagindex.SnapshotMatch]:
    """:meth:`Store.afind_snapshots` as a function."""
    return await store.afind_snapshots(env, tags=tags, limit=limit)


# --- the watch service (statesync.service) ---------------------------------------


def ref_version(store: Store, env: str) -> str | None:
    """The opaque version of ``env``'s ref (one small HEAD request), None if absent.

    A change of this token means someone moved the environment; it is the
    cheapest way to follow an environment. Raises :class:`BackendError` subclasses.
    """
    from statesync.errors import NotFound

    try:
        return store.repo.backend.head(layout.ref_key(layout.validate_env(env))).version.token
    except NotFound:
        return None


def folder_differs(store: Store, folder: str | Path, env: str = "default") -> bool:
    """True if ``folder`` may hold changes not yet pushed to ``env`` (no store access).

    Compares each file's size, mtime and inode with the folder's record of
    its last sync; a folder never synced with ``env`` differs. False
    positives are possible (a touched file), false negatives are not.
    """
    from statesync.sync.folder import workdir

    root = Path(folder)
    record = workdir.WorkRecord.load(root)
    rec = record.get(store.store_id, layout.validate_env(env))
    if rec is None or record.pending(store.store_id, env):
        return True
    scan = workdir.scan_folder(root, store.policy)
    files = {**scan.files, **scan.secrets} if rec.secrets_included else scan.files
    if set(files) != set(rec.files):
        return True
    return any(rec.files[p].stat_key() != f.stat_key() for p, f in files.items())


# --- retention and garbage collection (DESIGN.md §8) --------------------------


def gc(
    store: Store,
    *,
    env: str | None = None,
    policy: RetentionPolicy | None = None,
    dry_run: bool = False,
    grace: float | None = None,
    repack_below: float | None = None,
) -> GcReport:
    """Apply retention and remove what no kept snapshot needs (see :mod:`statesync.sync.gc`).

    ``policy`` None applies each environment's stored policy (none: keep all
    of its snapshots); ``env`` limits retention to that environment. ``grace``
    (seconds, by the store's clock) protects recent packs; ``repack_below``
    is the live share under which a pack is rewritten. Raises
    :class:`LockedError` if another gc runs, :class:`IntegrityError` (nothing
    removed) if a ref or manifest cannot be parsed.
    """
    from statesync.sync import gc as gc_mod

    opts = gc_mod.GcOptions(
        env=layout.validate_env(env) if env else None,
        policy=policy,
        dry_run=dry_run,
        grace=gc_mod.DEFAULT_GRACE if grace is None else max(0.0, float(grace)),
        repack_below=(gc_mod.DEFAULT_REPACK_BELOW if repack_below is None else float(repack_below)),
    )
    return gc_mod.gc(store.repo, opts)


def gc_policy(store: Store, env: str) -> StoredRetention | None:
    """``env``'s retention policy as stored in the store (None: it has none)."""
    from statesync.sync.store import retention_store

    return retention_store.read_policy(store.repo, layout.validate_env(env))


def set_gc_policy(store: Store, env: str, policy: RetentionPolicy) -> StoredRetention:
    """Store ``policy`` for ``env``, for every machine's gc (an empty policy removes it)."""
    from statesync.sync.store import retention_store

    return retention_store.set_policy(store.repo, layout.validate_env(env), policy)
