"""The public Python API: the one entry point the CLI and programs use.

    from statesync import Store
    store = Store.open("s3://bucket/prefix")      # or a path, or None: configured
    result = store.push("./state", env="dev", message="nightly")
    store.pull("./restore", env="dev")

Every method raises :class:`statesync.errors.StatesyncError` subclasses only;
each carries the CLI exit code of DESIGN.md §7.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

from statesync.backends import open_backend, parse_url
from statesync.backends.retry import RetryingBackend
from statesync.config import Config, load_config
from statesync.errors import UsageError
from statesync.sync import history
from statesync.sync import bundles as bundle
from statesync.sync import push as engine
from statesync.sync.store import layout
from statesync.sync.store import leases as lease_mod
from statesync.sync import promote as promote_mod
from statesync.sync.store import promotion_rule as rule_mod
from statesync.sync import pull as pull_mod
from statesync.sync.store.builder import SnapshotBuilder
from statesync.sync.store.chunkindex import load_index
from statesync.sync.store.content import read_entry
from statesync.sync.push import PushOptions, PushResult
from statesync.sync.history import Diff, LogEntry, Status
from statesync.sync.store.lockguard import LockPolicy, ensure_free
from statesync.sync.store.manifest import load_manifest
from statesync.sync.pull import PullOptions, PullResult
from statesync.sync.push_plan import PushPlan, plan_push
from statesync.sync.store.refs import broken_envs, list_envs, read_trusted_head, require_trusted_head
from statesync.sync.repair import RepairResult
from statesync.sync.repair import repair as repair_store
from statesync.sync.store.repo import Repo, init_repo, open_repo
from statesync.sync.store.sealing import EnvKeys
from statesync.sync.secrets.policy import SecretPolicy
from statesync.sync.folder.unseal import Unsealer
from statesync.sync.verify import VerifyReport
from statesync.sync.verify import verify as verify_store

if TYPE_CHECKING:
    from statesync.keys import KeyAdmin
    from statesync.sync.gc import GcReport
    from statesync.sync.retention import Policy as RetentionPolicy
    from statesync.sync.retention_store import StoredPolicy as StoredRetention

OBJECT_PATH = "object.json"

__all__ = ["Diff", "LockPolicy", "LogEntry", "PullResult", "PushResult", "Status", "Store"]


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
    def _backend(url: str | None) -> tuple[RetryingBackend, Config]:
        cfg = load_config(url)
        return RetryingBackend(open_backend(cfg.store)), cfg

    @classmethod
    def open(cls, url: str | None = None) -> Store:
        """Open an existing store (``None``: resolve from env/config/default)."""
        backend, cfg = cls._backend(url)
        repo = open_repo(backend)
        _check_pin(repo)
        return cls(repo, cfg)

    @classmethod
    def init(cls, url: str | None = None) -> Store:
        """Create a store; :class:`StoreExists` if there is one already."""
        backend, cfg = cls._backend(url)
        repo = init_repo(backend)
        _check_pin(repo, reset=True)  # this machine made it: pin the id it chose
        return cls(repo, cfg)

    @classmethod
    def pin(cls, url: str | None = None, *, reset: bool = False) -> dict[str, Any]:
        """This machine's pin of the store's id; ``reset`` re-pins to what the store says now.

        Without ``reset``, a store whose id differs from the pin raises
        :class:`IntegrityError` as every other command does.
        """
        backend, _ = cls._backend(url)
        try:
            repo = open_repo(backend)
            return {"store": pin_url(repo), "store_id": repo.store_id,
                    **_check_pin(repo, reset=reset)}
        finally:
            backend.close()

    def close(self) -> None:
        self.repo.backend.close()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # --- folders -----------------------------------------------------------

    def push(self, folder: str | Path, env: str = "default", *, message: str = "",
             tags: dict[str, str] | None = None, force: bool = False, rebase: bool = False,
             include_secrets: bool = False, encrypt_all: bool = False,
             progress: bool = False, lock: LockPolicy | None = None,
             allow_downgrade: bool = False) -> PushResult:
        """Snapshot ``folder`` into ``env`` (see :func:`statesync.sync.push.push`).

        ``include_secrets`` seals secret values and files with the environment's
        key instead of leaving them out; ``encrypt_all`` seals every chunk and
        the manifest too. Both stay on for the environment once used, also
        when its head vanishes or goes plaintext, unless ``allow_downgrade``.
        ``lock``: how another holder's lease is treated (default:
        :class:`LockedError`).
        """
        if force and rebase:
            raise UsageError("--rebase and --force exclude each other")
        opts = PushOptions(message, dict(tags or {}), force, rebase, self.policy, progress,
                           include_secrets, encrypt_all, allow_downgrade)
        env = layout.validate_env(env)
        ensure_free(self.repo, env, lock or LockPolicy())
        return engine.push(self.repo, Path(folder), env, opts)

    def plan_push(self, folder: str | Path, env: str = "default", *,
                  include_secrets: bool = False) -> PushPlan:
        """What :meth:`push` would exclude, redact and upload; writes nothing."""
        return plan_push(self.repo, Path(folder), layout.validate_env(env), self.policy,
                         include_secrets)

    def pull(self, folder: str | Path, env: str = "default", *, snapshot: str | None = None,
             force: bool = False, allow_rollback: bool = False, skip_secrets: bool = False,
             progress: bool = False) -> PullResult:
        """Restore ``env``'s head (or ``snapshot``) into ``folder`` atomically.

        ``skip_secrets`` pulls everything else when no key is available: sealed
        secrets are not decrypted and this machine's own values and files stay.
        """
        opts = PullOptions(force, allow_rollback, self.policy, progress, skip_secrets)
        return pull_mod.pull(self.repo, Path(folder), layout.validate_env(env), snapshot, opts)

    def status(self, folder: str | Path, env: str = "default") -> Status:
        return history.status(self.repo, Path(folder), layout.validate_env(env), self.policy)

    # --- history -----------------------------------------------------------

    def envs(self) -> list[str]:
        return list_envs(self.repo)

    def log(self, env: str = "default", limit: int = 20) -> list[LogEntry]:
        return history.log(self.repo, layout.validate_env(env), limit)

    def show(self, name: str) -> dict[str, Any]:
        """A snapshot's manifest (without chunk lists); ``name`` is an env or id prefix."""
        snap = history.resolve(self.repo, name)
        return history.manifest_summary(load_manifest(self.repo, snap), snap)

    def diff(self, a: str, b: str) -> Diff:
        return history.diff(self.repo, a, b)

    # --- environments and leases ---------------------------------------------

    def broken_envs(self) -> dict[str, str]:
        """Environment -> what is wrong with its ref, for each ref that cannot be read."""
        return broken_envs(self.repo)

    def log_all(self, limit: int = 20) -> promote_mod.LogAll:
        """Every environment's history, newest first, by name; damaged ones in ``errors``."""
        return promote_mod.log_all(self.repo, limit)

    def lock(self, env: str, ttl: float = lease_mod.DEFAULT_TTL,
             purpose: str = "") -> lease_mod.Lease:
        """Take ``env``'s lease (no heartbeat: renew it, or use ``statesync.sync.store.leases.held``).

        Raises :class:`LockedError` naming the holder and expiry if it is held.
        """
        return lease_mod.acquire(self.repo, layout.validate_env(env), ttl, purpose)

    def renew_lock(self, env: str, lock_id: str, ttl: float | None = None) -> lease_mod.Lease:
        """Renew ``env``'s lease ``lock_id`` (restarting its TTL, or setting a new one)."""
        return lease_mod.renew(self.repo, layout.validate_env(env), lock_id, ttl)

    def locks(self) -> list[lease_mod.LockStatus]:
        """Every lease in the store, live or stale."""
        return lease_mod.list_locks(self.repo)

    def unlock(self, env: str, lock_id: str, force: bool = False) -> lease_mod.LockInfo:
        """Remove ``env``'s lease if it is still ``lock_id`` (another holder's: ``force``)."""
        return lease_mod.release(self.repo, layout.validate_env(env), lock_id, force)

    def promote(self, src: str, dst: str, message: str = "", *,
                lock: LockPolicy | None = None) -> promote_mod.PromoteResult:
        """Give ``dst`` ``src``'s head files as a new snapshot, if the rules allow it.

        The store's promotion rule (:mod:`statesync.sync.store.promotion_rule`) and,
        as a local additional restriction, ``[promotion] allowed`` of statesync.toml.
        """
        rule_mod.check(self.repo, layout.validate_env(src), layout.validate_env(dst))
        allowed = load_config(self.url).promotion_allowed  # the rule as it is now
        return promote_mod.promote(self.repo, src, dst, message, allowed, lock=lock)

    def promotion_rule(self) -> rule_mod.PromotionRule | None:
        """The store's promotion rule (None: the store has none, every path is allowed)."""
        return rule_mod.read_rule(self.repo)

    def change_promotion_rule(self, allow: list[str] | None = None,
                              deny: list[str] | None = None) -> rule_mod.PromotionRule:
        """Allow and disallow ``FROM->TO`` paths in the store's rule, for every caller."""
        return rule_mod.change(self.repo, list(allow or []), list(deny or []))

    def rollback(self, env: str, snapshot: str, message: str = "", *,
                 lock: LockPolicy | None = None) -> promote_mod.RollbackResult:
        """Give ``env`` a new snapshot (new serial) with an older snapshot's files."""
        return promote_mod.rollback(self.repo, env, snapshot, message, lock=lock)

    def verify(self, env: str | None = None, read_data: bool = False) -> VerifyReport:
        """Check refs, manifests, indexes (and chunks); problems are listed by object."""
        return verify_store(self.repo, layout.validate_env(env) if env else None, read_data)

    def repair(self, read_data: bool = False) -> RepairResult:
        """Rebuild indexes from packs (``read_data``: forget corrupt chunks); ``lost``: gone."""
        return repair_store(self.repo, read_data)

    # --- bundles -----------------------------------------------------------

    def export(self, path: str | Path, *, env: str | None = None, snapshot: str | None = None,
               include_binaries: bool = False, paths: list[str] | None = None,
               description: str = "", tags: dict[str, str] | None = None) -> bundle.ExportResult:
        """Write one self-contained bundle file (.json, .yaml/.yml or .tar.zst)."""
        if (env is None) == (snapshot is None):
            raise UsageError("export needs exactly one of --env or --snapshot")
        snap = history.resolve(self.repo, snapshot) if snapshot else self._head(str(env))
        return bundle.export_bundle(self.repo, snap, Path(path), include_binaries=include_binaries,
                                    paths=list(paths or []), description=description,
                                    tags=dict(tags or {}))

    def import_(self, path: str | Path, env: str = "default", *, skip_existing: bool = False,
                message: str = "", lock: LockPolicy | None = None) -> bundle.ImportResult:
        """Validate a bundle completely, then commit it to ``env`` as a new snapshot."""
        env = layout.validate_env(env)
        ensure_free(self.repo, env, lock or LockPolicy())
        return bundle.import_bundle(self.repo, Path(path), env,
                                    skip_existing=skip_existing, message=message,
                                    policy=self.policy)

    # --- in-memory objects (agent state) -----------------------------------

    def save_object(self, obj: Any, env: str = "default", *, agent_id: str | None = None,
                    session_id: str | None = None, description: str = "",
                    tags: dict[str, str] | None = None, include_secrets: bool = False,
                    encrypt_all: bool = False) -> PushResult:
        """Snapshot a JSON-able object; secret-named keys are handled as in files.

        Builds on the environment's current head; a concurrent writer makes this
        raise :class:`RefConflict` rather than lose either update. Encryption
        modes are those of push, and sticky in the same way.
        """
        try:
            data = (json.dumps(obj, indent=2, sort_keys=True) + "\n").encode()
        except (TypeError, ValueError) as exc:
            raise UsageError(f"object is not JSON-serialisable: {exc}") from None
        env = layout.validate_env(env)
        meta = dict(tags or {})
        meta.update({k: v for k, v in (("agent_id", agent_id), ("session_id", session_id)) if v})
        state = read_trusted_head(self.repo, env)
        parent = state.ref.snapshot if state else None
        head = load_manifest(self.repo, parent) if parent else None
        opts = PushOptions(policy=self.policy, include_secrets=include_secrets,
                           encrypt_all=encrypt_all)
        sealing = engine.Sealing.decide(self.repo, env, head, opts)
        data, pointers = sealing.form(self.policy).document(OBJECT_PATH, data)
        builder = SnapshotBuilder(self.repo, keys=sealing.keys if sealing.everything else None)
        entry = builder.add_bytes(OBJECT_PATH, data, 0o600)
        entry.secret_pointers = pointers
        builder.finish()
        snap, new, changed = engine.commit_entries(self.repo, env, state, parent, [entry],
                                                   message=description, tags=meta,
                                                   encryption=sealing.manifest_field(),
                                                   base=head, gc_seen=builder.gc_generation)
        return PushResult(snap, env, new.ref.serial, parent, 1, builder.uploaded_bytes,
                          builder.reused_bytes, changed)

    def load_object(self, env: str = "default", *, snapshot: str | None = None,
                    skip_secrets: bool = False) -> Any:
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

    # --- keys and trust (DESIGN.md §6) ----------------------------------------

    def keys(self, identities: list[str] | None = None) -> KeyAdmin:
        """Key management (``[keys] recipients`` of statesync.toml + ``identities`` specs)."""
        from statesync.keys import KeyAdmin

        return KeyAdmin(self.repo, load_config(self.url).recipients, identities or [])

    def _head(self, env: str) -> str:
        return require_trusted_head(self.repo, layout.validate_env(env)).ref.snapshot


def pin_url(repo: Repo) -> str:
    """The canonical spelling of the store's URL, the key of its local pin."""
    return parse_url(repo.backend.url).canonical


def _check_pin(repo: Repo, reset: bool = False) -> dict[str, Any]:
    """Hold the store to the id this machine pinned (DESIGN.md §6: trust stays local).

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
    from statesync.sync.store.keyring import KeyService
    from statesync.crypto.providers import default_identities

    service: list[KeyService] = []

    def lookup(env: str, generation: int | None) -> EnvKeys:
        if not service:
            service.append(KeyService(repo, default_identities(config.recipients)))
        gen, key = service[0].data_key(env, generation)
        return EnvKeys(repo.store_id, env, gen, key)

    repo.keys = lookup
    repo.signer = signing.default_signer()
    repo.trust = trust.TrustPolicy.load()


# --- retention and garbage collection (DESIGN.md §8) --------------------------


def gc(store: Store, *, env: str | None = None, policy: RetentionPolicy | None = None,
       dry_run: bool = False, grace: float | None = None,
       repack_below: float | None = None) -> GcReport:
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
        env=layout.validate_env(env) if env else None, policy=policy, dry_run=dry_run,
        grace=gc_mod.DEFAULT_GRACE if grace is None else max(0.0, float(grace)),
        repack_below=(gc_mod.DEFAULT_REPACK_BELOW if repack_below is None
                      else float(repack_below)))
    return gc_mod.gc(store.repo, opts)


def gc_policy(store: Store, env: str) -> StoredRetention | None:
    """``env``'s retention policy as stored in the store (None: it has none)."""
    from statesync.sync import retention_store

    return retention_store.read_policy(store.repo, layout.validate_env(env))


def set_gc_policy(store: Store, env: str, policy: RetentionPolicy) -> StoredRetention:
    """Store ``policy`` for ``env``, for every machine's gc (an empty policy removes it)."""
    from statesync.sync import retention_store

    return retention_store.set_policy(store.repo, layout.validate_env(env), policy)
