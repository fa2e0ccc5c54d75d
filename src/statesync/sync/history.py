"""Read-only views: log, diff between snapshots or environments, folder status."""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from statesync import jsonpointer
from statesync.errors import EnvNotFound, KeyFailure, SnapshotNotFound, UsageError
from statesync.sync.folder.reuse import cached_entry
from statesync.sync.folder.stored import StoredForm
from statesync.sync.folder.unseal import Unsealer
from statesync.sync.folder.workdir import WorkRecord, scan_folder
from statesync.sync.secrets import policy as secrets
from statesync.sync.store import gc_marker, layout
from statesync.sync.store.chunkindex import ChunkIndex, load_index
from statesync.sync.store.content import read_entry
from statesync.sync.store.encryption import PLAINTEXT
from statesync.sync.store.manifest import Entry, Manifest, is_document, load_manifest
from statesync.sync.store.refs import read_trusted_head, require_trusted_head
from statesync.sync.store.repo import Repo
from statesync.sync.store.resolve import check_id_or_prefix, resolve_trusted

#: Documents up to this size get a key-level diff.
_DOC_DIFF_MAX = 4 * 1024 * 1024


@dataclass
class LogEntry:
    """One snapshot of a history; ``merge`` when it has more than one parent (a rebase)."""

    snapshot: str
    created_at: str
    author: str
    host: str
    message: str
    tags: dict[str, str]
    parents: list[str]
    files: int
    size: int
    #: gc removed this snapshot's parent (retention cut the history here)
    history_cut: bool = False
    #: the ref's serial when it pointed here (None where it cannot be told)
    serial: int | None = None

    @property
    def merge(self) -> bool:
        return len(self.parents) > 1


def log(repo: Repo, env: str, limit: int) -> list[LogEntry]:
    """The environment's history, newest first, following first parents.

    Where gc removed a parent, the last entry says so (``history_cut``); a
    parent missing for any other reason is :class:`SnapshotNotFound`. Each
    entry's ``serial`` is the head's, less one per step: every commit moves
    the ref once, one serial up, onto a snapshot whose first parent is the
    head it replaced (:mod:`statesync.sync.commit`, :mod:`statesync.sync.rebase`).
    """
    state = require_trusted_head(repo, env)
    out: list[LogEntry] = []
    snap: str | None = state.ref.snapshot
    while snap and len(out) < limit:
        try:
            m = load_manifest(repo, snap)
        except SnapshotNotFound:
            if not out or snap not in gc_marker.read_marker(repo).cuts:
                raise
            out[-1].history_cut = True
            break
        out.append(
            LogEntry(
                snap,
                m.created_at,
                m.author,
                m.host,
                m.message,
                m.tags,
                m.parents,
                len(m.entries),
                sum(e.size for e in m.entries),
                serial=_serial_at(state.ref.serial, len(out)),
            )
        )
        snap = m.parents[0] if m.parents else None
    return out


def _serial_at(head_serial: int, depth: int) -> int | None:
    serial = head_serial - depth
    return serial if serial >= 1 else None


def resolve(repo: Repo, name: str) -> str:
    """An environment name (its trusted head) or a snapshot id or prefix -> snapshot id.

    Ids resolve only within trusted history (:func:`resolve_trusted`). Only a
    name found as neither raises :class:`EnvNotFound`; everything else comes
    through as itself: an environment whose head the trust policy refuses or a
    tampered ref (:class:`IntegrityError`), an unreachable store
    (:class:`BackendUnavailable`), an ambiguous prefix (:class:`UsageError`).
    """
    if not layout.is_object_id(name.lower()):
        try:
            env = layout.validate_env(name)
        except UsageError:
            env = None
        state = read_trusted_head(repo, env) if env else None
        if state is not None:
            return state.ref.snapshot
    if not _is_id_or_prefix(name):
        raise _neither(name)
    try:
        return resolve_trusted(repo, name)
    except SnapshotNotFound:
        raise _neither(name) from None


def _is_id_or_prefix(name: str) -> bool:
    try:
        check_id_or_prefix(name)
    except UsageError:
        return False
    return True


def _neither(name: str) -> EnvNotFound:
    return EnvNotFound(
        f"{name!r} is neither an environment nor a snapshot id "
        "(ids: at least 8 hex digits, within a trusted history)"
    )


@dataclass
class Diff:
    a: str
    b: str
    added: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    modified: dict[str, list[str]] = field(default_factory=dict)  # path -> changed pointers


def _pointers(a: Any, b: Any, at: str, out: list[str]) -> None:
    if isinstance(a, dict) and isinstance(b, dict):
        for k in sorted(set(a) | set(b), key=str):
            p = jsonpointer.join(at, k)
            if k not in a or k not in b:
                out.append(p)
            else:
                _pointers(a[k], b[k], p, out)
    elif isinstance(a, list) and isinstance(b, list) and len(a) == len(b):
        for i, (x, y) in enumerate(zip(a, b, strict=True)):
            _pointers(x, y, f"{at}/{i}", out)
    elif a != b:
        out.append(at or "/")


def _doc_changes(repo: Repo, index: ChunkIndex, ea: Entry, eb: Entry) -> list[str]:
    if not (is_document(ea.path) and max(ea.size, eb.size) <= _DOC_DIFF_MAX):
        return []
    try:
        da = secrets.parse_document(ea.path, read_entry(repo, index, ea))
        db = secrets.parse_document(eb.path, read_entry(repo, index, eb))
    except (ValueError, UnicodeDecodeError):
        return []
    out: list[str] = []
    _pointers(da, db, "", out)
    return out


def diff(repo: Repo, a: str, b: str, *, resolver: Callable[[Repo, str], str] | None = None) -> Diff:
    """Paths added, removed and modified from ``a`` to ``b`` (keys for documents).

    ``resolver`` turns the names into ids (default :func:`resolve`).
    """
    ida, idb = (resolver or resolve)(repo, a), (resolver or resolve)(repo, b)
    ma, mb = load_manifest(repo, ida).by_path(), load_manifest(repo, idb).by_path()
    out = Diff(ida, idb, sorted(set(mb) - set(ma)), sorted(set(ma) - set(mb)))
    changed = [
        p
        for p in sorted(set(ma) & set(mb))
        if ma[p].digest != mb[p].digest or ma[p].mode != mb[p].mode
    ]
    index = load_index(repo) if changed else ChunkIndex()
    for p in changed:
        out.modified[p] = _doc_changes(repo, index, ma[p], mb[p])
    return out


@dataclass
class Status:
    """A folder against the snapshot it last synced, and where the environment is now.

    ``added``, ``modified`` and ``deleted`` are this folder's own changes,
    measured against ``base``: the snapshot the folder last synced
    (``synced``, at ``synced_serial``), or the head when the folder never
    synced this environment or its synced snapshot is gone (gc). Changes
    others pushed since are not local changes: they show as ``env_moved``
    (the head, at ``head_serial``, is no longer ``synced``).
    """

    env: str
    head: str | None
    synced: str | None
    env_moved: bool
    base: str | None = None
    head_serial: int | None = None
    synced_serial: int | None = None
    added: list[str] = field(default_factory=list)
    modified: list[str] = field(default_factory=list)
    deleted: list[str] = field(default_factory=list)

    @property
    def clean(self) -> bool:
        return not (self.added or self.modified or self.deleted)


def _base_manifest(
    repo: Repo, synced: str | None, head: str | None
) -> tuple[str | None, Manifest | None]:
    """The snapshot local changes are measured against, and its manifest."""
    if synced:
        with contextlib.suppress(SnapshotNotFound):  # gc removed it: the head is all we have
            return synced, load_manifest(repo, synced)
    return head, load_manifest(repo, head) if head else None


def status(repo: Repo, folder: Path, env: str, policy: secrets.SecretPolicy) -> Status:
    """This folder's changes since it last synced ``env``, and whether the env moved since.

    Raises :class:`NotAFolder` if ``folder`` is not a folder, and what reading the
    head raises (an untrusted or tampered ref: :class:`IntegrityError`).
    """
    scan = scan_folder(folder, policy)
    state = read_trusted_head(repo, env)
    rec = WorkRecord.load(folder).get(repo.store_id, env)
    head = state.ref.snapshot if state else None
    base, manifest = _base_manifest(repo, rec.snapshot if rec else None, head)
    wanted: dict[str, Entry] = manifest.by_path() if manifest else {}
    form = StoredForm(policy)
    if manifest is not None:
        with contextlib.suppress(KeyFailure):  # without a key, compare redacted forms
            form = Unsealer(repo, manifest, skip=False).form(policy)
    st = Status(
        env,
        head,
        rec.snapshot if rec else None,
        env_moved=head is not None and rec is not None and rec.snapshot != head,
        base=base,
        head_serial=state.ref.serial if state else None,
        synced_serial=rec.serial if rec else None,
    )
    for path, f in scan.files.items():
        entry = wanted.get(path)
        if entry is None:
            st.added.append(path)
            continue
        cached = cached_entry(rec, f, manifest.encryption if manifest else PLAINTEXT)
        digest = cached.digest if cached else form.digest(f)
        if digest != entry.digest:
            st.modified.append(path)
    st.deleted = sorted(set(wanted) - set(scan.files) - set(scan.secret_files))
    return st


def manifest_summary(m: Manifest, snap: str) -> dict[str, Any]:
    """A JSON-able description of a snapshot for ``show``."""
    doc = m.to_json()
    doc["id"] = snap
    for e in doc["entries"]:
        e.pop("chunks", None)
    return doc
