"""``push --dry-run``: what a push would exclude, redact and upload, writing nothing.

The plan reads the environment's head and the folder, and redacts documents
in memory exactly as push would; it writes nothing to the store, the folder
or its record, and it never holds a secret value (pointers name them).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from statesync.errors import KeyFailure
from statesync.sync import history
from statesync.sync.folder.workdir import LocalFile, scan_folder
from statesync.sync.secrets import policy as secrets
from statesync.sync.store.manifest import load_manifest
from statesync.sync.store.refs import read_ref
from statesync.sync.store.repo import Repo


@dataclass(frozen=True)
class RedactedFile:
    """A document whose secret values push replaces (by the marker or sealed)."""

    path: str
    pointers: list[str]


@dataclass(frozen=True)
class PushPlan:
    """What ``push`` would do. ``secrets_sealed``: secret files and values would be
    sealed with the environment's key (``--include-secrets``, or the env already does)
    instead of left out. ``upload`` are the added and modified files (their stored
    bytes, ``upload_bytes``, at most: chunks the store has are not sent again).
    ``refused`` are documents push would stop at (they may hold secrets and do not parse).
    """

    env: str
    head: str | None
    secrets_sealed: bool
    excluded: list[str]
    redacted: list[RedactedFile]
    upload: list[str]
    deleted: list[str]
    upload_bytes: int
    refused: list[str] = field(default_factory=list)
    dry_run: bool = True


def plan_push(
    repo: Repo, folder: Path, env: str, policy: secrets.SecretPolicy, include_secrets: bool
) -> PushPlan:
    """Plan a push of ``folder`` into ``env``; raises what reading the head raises."""
    status = history.status(repo, folder, env, policy)
    scan = scan_folder(folder, policy)
    sealed = include_secrets or _head_includes_secrets(repo, env)
    redacted, refused, size = [], [], 0
    upload = sorted(status.added + status.modified)
    for path in sorted(scan.files):
        f = scan.files[path]
        stored, pointers, problem = _stored(f, policy)
        if problem:
            refused.append(problem)
        if pointers:
            redacted.append(RedactedFile(path, pointers))
        if path in upload:
            size += stored
    return PushPlan(
        env,
        status.head,
        sealed,
        sorted(scan.secret_files),
        redacted,
        upload,
        status.deleted,
        size,
        refused,
    )


def _stored(f: LocalFile, policy: secrets.SecretPolicy) -> tuple[int, list[str], str | None]:
    """``(stored size, secret pointers, refusal)`` of one local file."""
    if f.is_link or not secrets.is_scanned(f.path) or f.st.st_size > secrets.MAX_PARSE:
        return f.st.st_size, [], None
    try:
        data, pointers = secrets.redact(f.path, f.abspath.read_bytes(), policy)
    except secrets.UnparseableSecretDocument as exc:
        return f.st.st_size, [], str(exc)
    return len(data), pointers, None


def _head_includes_secrets(repo: Repo, env: str) -> bool:
    state = read_ref(repo, env)
    if state is None:
        return False
    try:
        return load_manifest(repo, state.ref.snapshot).encryption.secrets
    except KeyFailure:  # a fully encrypted head: sealing is on
        return True
