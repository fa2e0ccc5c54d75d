"""One commit path: a manifest stored, then the ref moved if the env is still where we read it.

Push, rebase, import, promotion, rollback and the object API all end here:
:func:`commit` (and :func:`commit_entries` for entries built elsewhere) is the
only writer of a snapshot's manifest followed by its ref, and
:func:`push_result` the only maker of a :class:`PushResult`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from statesync.sync import progress as meters
from statesync.sync.secrets import policy as secrets
from statesync.sync.store import gc_marker, sticky
from statesync.sync.store.encryption import PLAINTEXT, Encryption
from statesync.sync.store.manifest import Entry, Manifest, load_manifest, store_manifest
from statesync.sync.store.refs import RefState, write_ref
from statesync.sync.store.repo import Repo
from statesync.sync.store.sealing import EnvKeys


@dataclass(frozen=True, kw_only=True)
class PushResult:
    """What a push did; ``changed`` is False when nothing differed from the parent."""

    snapshot: str
    env: str
    serial: int
    parent: str | None
    files: int
    uploaded_bytes: int
    reused_bytes: int
    changed: bool
    secret_files: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)


@dataclass(frozen=True, kw_only=True)
class PushOptions:
    """How a push runs; every field is named by its callers."""

    message: str = ""
    tags: dict[str, str] = field(default_factory=dict)
    force: bool = False
    rebase: bool = False
    policy: secrets.SecretPolicy = field(default_factory=secrets.SecretPolicy)
    progress: meters.MeterFactory | None = None
    include_secrets: bool = False
    encrypt_all: bool = False
    allow_downgrade: bool = False  # store less encryption than this machine used before
    exclude: tuple[str, ...] = ()  # --exclude patterns, after the folder's .statesyncignore


def push_result(
    env: str,
    state: RefState,
    *,
    parent: str | None,
    files: int,
    uploaded: int = 0,
    reused: int = 0,
    changed: bool,
    secret_files: Sequence[str] = (),
    skipped: Sequence[str] = (),
) -> PushResult:
    """The :class:`PushResult` of a push that left ``env`` at ``state``."""
    return PushResult(
        snapshot=state.ref.snapshot,
        env=env,
        serial=state.ref.serial,
        parent=parent,
        files=files,
        uploaded_bytes=uploaded,
        reused_bytes=reused,
        changed=changed,
        secret_files=list(secret_files),
        skipped=list(skipped),
    )


def same_content(a: Manifest, entries: list[Entry], secret_files: list[str]) -> bool:
    """True if ``entries`` describe exactly the parent's files."""

    def key(e: Entry) -> tuple[object, ...]:
        return (e.path, e.kind, e.mode, e.digest, tuple(e.secret_pointers), e.target)

    return sorted(map(key, a.entries)) == sorted(map(key, entries)) and sorted(
        a.secret_files
    ) == sorted(secret_files)


def commit(
    repo: Repo,
    env: str,
    state: RefState | None,
    parent: str | None,
    manifest: Manifest,
    base: Manifest | None = None,
    *,
    before_ref: Callable[[str], None] | None = None,
    gc_seen: int | None = None,
) -> tuple[str, RefState, bool]:
    """Store ``manifest`` and move ``env`` to it if the env is still at ``state``.

    Returns ``(snapshot, new ref state, changed)``; when the entries equal the
    parent's, nothing is written and ``changed`` is False. ``base`` is the
    parent's manifest when the caller has already read it. The entries' chunks
    must already be in the store. Raises :class:`RefConflict` on a lost race.
    ``before_ref`` is called with the snapshot id just before the ref is written.
    ``gc_seen``: the gc generation read before the chunks were listed
    (:func:`statesync.sync.store.gc_marker.confirm`; :class:`GcRaced` if gc removed any).
    """
    if state is not None and parent is not None and parent == state.ref.snapshot:
        base = base or load_manifest(repo, parent)
        if (
            same_content(base, manifest.entries, manifest.secret_files)
            and base.encryption == manifest.encryption
        ):
            return parent, state, False
    manifest.parents = [parent] if parent else []
    snap_id = store_manifest(repo, manifest, sealing_keys(repo, manifest))
    gc_marker.confirm(repo, snap_id, chunk_ids(manifest), gc_seen)
    if before_ref is not None:
        before_ref(snap_id)
    new_state = write_ref(repo, env, snap_id, state)
    sticky.remember(repo.store_id, env, manifest.encryption)
    return snap_id, new_state, True


def commit_entries(
    repo: Repo,
    env: str,
    state: RefState | None,
    parent: str | None,
    entries: list[Entry],
    *,
    message: str = "",
    tags: dict[str, str] | None = None,
    secret_files: list[str] | None = None,
    encryption: Encryption = PLAINTEXT,
    base: Manifest | None = None,
    gc_seen: int | None = None,
) -> tuple[str, RefState, bool]:
    """:func:`commit` for entries built elsewhere (import, promotion, rollback, objects).

    ``encryption`` must describe how the entries were sealed (the manifest is
    sealed too when it says ``all``).
    """
    manifest = Manifest(
        store_id=repo.store_id,
        env=env,
        parents=[],
        entries=entries,
        message=message,
        tags=dict(tags or {}),
        secret_files=sorted(secret_files or []),
        encryption=encryption,
    )
    return commit(repo, env, state, parent, manifest, base, gc_seen=gc_seen)


def chunk_ids(manifest: Manifest) -> set[str]:
    """Every chunk ``manifest`` names."""
    return {str(cid) for e in manifest.entries for cid, _ in e.chunks}


def sealing_keys(repo: Repo, manifest: Manifest) -> EnvKeys | None:
    """The keys that seal ``manifest`` itself (``--encrypt all``), else None."""
    enc = manifest.encryption
    return repo.keys(manifest.env, enc.key_generation()) if enc.everything else None
