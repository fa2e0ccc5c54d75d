"""Commit files built in memory (objects, bytes, imported components) as one snapshot.

Secret values in documents are never silently replaced: they are sealed with
the environment's key (as ``push --include-secrets``), or, when the
environment has no key, the commit is refused with :class:`SecretRefused`
naming each ``path#pointer`` before anything is written.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import BinaryIO

from statesync.errors import BackendError, SecretRefused
from statesync.sync import commit as commit_mod
from statesync.sync import push as push_mod
from statesync.sync import tagindex
from statesync.sync.commit import PushOptions, PushResult, push_result
from statesync.sync.folder.stored import StoredForm
from statesync.sync.secrets.policy import SecretPolicy
from statesync.sync.store import layout
from statesync.sync.store.builder import SnapshotBuilder
from statesync.sync.store.manifest import Entry, Manifest, load_manifest
from statesync.sync.store.refs import read_trusted_head
from statesync.sync.store.repo import Repo

_log = logging.getLogger("statesync")


@dataclass(frozen=True)
class FileSpec:
    """One file of the snapshot: a ``document`` (scanned for secrets) or raw bytes/stream."""

    path: str
    data: bytes = b""
    stream: BinaryIO | None = None
    document: bool = True
    mode: int = 0o600


@dataclass(frozen=True)
class CommitOptions:
    """How the snapshot is committed (keyword-only record)."""

    policy: SecretPolicy
    message: str = ""
    tags: dict[str, str] | None = None
    include_secrets: bool = False
    encrypt_all: bool = False


def secret_pointers(policy: SecretPolicy, files: list[FileSpec]) -> list[str]:
    """``path#pointer`` of every secret value the documents hold (values never returned)."""
    form = StoredForm(policy, None)
    return [f"{f.path}#{p}" for f in files if f.document for p in form.document(f.path, f.data)[1]]


def check_tags(policy: SecretPolicy, tags: dict[str, str], message: str) -> None:
    """Tags and the message are stored in clear: :class:`SecretRefused` for secret-looking ones."""
    bad = [
        f"tag {k}" for k, v in tags.items() if policy.is_secret_key(k) or policy.is_secret_value(v)
    ]
    if policy.is_secret_value(message):
        bad.append("the message")
    if bad:
        raise SecretRefused(
            f"refusing to store a secret-looking {', '.join(bad)}: snapshot tags "
            "and messages are never sealed"
        )


def _has_keys(repo: Repo, env: str) -> bool:
    return any(True for _ in repo.backend.list(layout.keyring_prefix(env)))


def _sealing(
    repo: Repo, env: str, head: Manifest | None, files: list[FileSpec], opts: PushOptions
) -> push_mod.Sealing:
    sealing = push_mod.Sealing.decide(repo, env, head, opts)
    if sealing.include_secrets:
        return sealing
    found = secret_pointers(opts.policy, files)
    if not found:
        return sealing
    if not _has_keys(repo, env):
        raise SecretRefused(
            f"refusing to store secret-looking value(s) at {', '.join(found)}: environment "
            f"{env} has no key to seal them (run 'statesync keys init {env}'), or rename the key"
        )
    return push_mod.Sealing.decide(repo, env, head, replace(opts, include_secrets=True))


def _entry(builder: SnapshotBuilder, form: StoredForm, f: FileSpec) -> Entry:
    if f.stream is not None:
        return builder.add_stream(f.path, f.stream, f.mode)
    if not f.document:
        return builder.add_bytes(f.path, f.data, f.mode)
    data, pointers = form.document(f.path, f.data)
    entry = builder.add_bytes(f.path, data, f.mode)
    entry.secret_pointers = pointers
    return entry


#: Given the head it builds on (None: a new env), the files to write and the head's
#: entries to keep unchanged; called once, on the same head the ref write expects.
Layer = Callable[[Manifest | None], tuple[list[FileSpec], list[Entry]]]


def _index(repo: Repo, env: str, snapshot: str) -> None:
    """Index the committed snapshot; if the store fails now, the next lookup catches up
    (the index never promises more than it holds), so the commit still succeeded."""
    try:
        tagindex.index_snapshot(repo, env, snapshot)
    except BackendError as exc:
        _log.warning(
            "tag index of %s not written (%s): the next lookup will add it",
            snapshot[:12],
            type(exc).__name__,
        )


def commit_files(repo: Repo, env: str, files: list[FileSpec], opts: CommitOptions) -> PushResult:
    """Commit ``files`` as ``env``'s whole next snapshot; see :func:`commit_layer`."""
    return commit_layer(repo, env, lambda _head: (files, []), opts)


def commit_layer(repo: Repo, env: str, layer: Layer, opts: CommitOptions) -> PushResult:
    """Commit what ``layer`` makes of ``env``'s head as its next snapshot, then index its tags.

    Raises :class:`SecretRefused` (nothing written), :class:`RefConflict` if
    another writer moved ``env`` meanwhile, :class:`KeyFailure` without a key
    to unwrap, :class:`IntegrityError` for a head the trust policy refuses.
    """
    check_tags(opts.policy, dict(opts.tags or {}), opts.message)
    state = read_trusted_head(repo, env)
    parent = state.ref.snapshot if state else None
    head = load_manifest(repo, parent) if parent else None
    push_opts = PushOptions(
        policy=opts.policy, include_secrets=opts.include_secrets, encrypt_all=opts.encrypt_all
    )
    files, kept = layer(head)
    written = {f.path for f in files}
    keep = [e for e in kept if e.path not in written]
    sealing = _sealing(repo, env, head, files, push_opts)
    builder = SnapshotBuilder(repo, keys=sealing.keys if sealing.everything else None)
    form = sealing.form(opts.policy)
    entries = [_entry(builder, form, f) for f in files] + keep
    builder.finish()
    snap, new, changed = commit_mod.commit_entries(
        repo,
        env,
        state,
        parent,
        entries,
        message=opts.message,
        tags=dict(opts.tags or {}),
        encryption=sealing.manifest_field(),
        base=head,
        gc_seen=builder.gc_generation,
    )
    _index(repo, env, snap)
    return push_result(
        env,
        new,
        parent=parent,
        files=len(entries),
        uploaded=builder.uploaded_bytes,
        reused=builder.reused_bytes,
        changed=changed,
    )
