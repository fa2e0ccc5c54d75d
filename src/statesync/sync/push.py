"""Push: snapshot a folder and move an environment to it, never losing an update.

Order of writes (ARCHITECTURE.md §3): packs, then their index, then the manifest
(create-only), then the ref (conditional). A crash or a lost race at any
step leaves only unreferenced objects, which gc removes later.
"""

from __future__ import annotations

import io
import os
from dataclasses import dataclass, replace
from pathlib import Path

from statesync.errors import (
    GcRaced,
    IntegrityError,
    LocalFileError,
    NotAFolder,
    RefConflict,
    UsageError,
)
from statesync.sync import progress as meters
from statesync.sync.commit import PushOptions, PushResult, commit, push_result
from statesync.sync.folder import reuse
from statesync.sync.folder.remember import remember_sync
from statesync.sync.folder.stable import read_stable, read_stable_bytes
from statesync.sync.folder.stored import StoredForm
from statesync.sync.folder.workdir import (
    EnvRecord,
    LocalFile,
    Scan,
    WorkRecord,
    scan_folder,
)
from statesync.sync.rebase import rebase_push
from statesync.sync.secrets import policy as secrets
from statesync.sync.secrets import redaction
from statesync.sync.store import layout, sticky
from statesync.sync.store.builder import SnapshotBuilder, symlink_entry
from statesync.sync.store.encryption import PLAINTEXT, Encryption
from statesync.sync.store.manifest import (
    Entry,
    Manifest,
    is_document,
    load_manifest,
)
from statesync.sync.store.refs import (
    RefState,
    read_head_to_replace,
    read_trusted_head,
)
from statesync.sync.store.repo import Repo
from statesync.sync.store.sealing import EnvKeys


def expected_parent(
    state: RefState | None, rec: EnvRecord | None, env: str, force: bool
) -> str | None:
    """The parent the push builds on; :class:`RefConflict` if the folder is behind."""
    if state is None:
        return None
    if force:
        return state.ref.snapshot or None  # a broken ref being replaced has none
    if rec is None:
        raise RefConflict(
            f"{state.ref.describe()}; this folder was never pulled from it "
            "(pull first, or push --force to replace its contents)"
        ).with_details(head=state.ref.head_fields())
    if rec.snapshot != state.ref.snapshot:
        raise RefConflict(
            f"environment moved since this folder synced ({rec.snapshot[:12]}): "
            f"{state.ref.describe()} (pull first, or push --rebase)"
        ).with_details(head=state.ref.head_fields(), expected=rec.snapshot)
    return state.ref.snapshot


def _tracked(scan: Scan, rec: EnvRecord | None) -> dict[str, LocalFile]:
    """The files a snapshot holds: secret files too when the env includes them."""
    if rec is not None and rec.secrets_included:
        return {**scan.files, **scan.secrets}
    return scan.files


def _unchanged(scan: Scan, rec: EnvRecord | None, state: RefState | None) -> bool:
    if rec is None or state is None or rec.snapshot != state.ref.snapshot:
        return False
    files = _tracked(scan, rec)
    if set(files) != set(rec.files):
        return False
    return all(rec.is_unchanged(f) for f in files.values())


@dataclass
class Sealing:
    """What this push encrypts, decided from the flags and the environment's head.

    Both modes are sticky: once an environment's head includes secrets or is
    fully encrypted, later pushes keep doing so, so a push without the flag can
    neither drop secrets from the store nor write plaintext into it.
    """

    include_secrets: bool
    everything: bool
    keys: EnvKeys | None

    @classmethod
    def decide(cls, repo: Repo, env: str, head: Manifest | None, opts: PushOptions) -> Sealing:
        """The modes for a push onto trusted ``head``; :class:`IntegrityError` on a downgrade.

        This machine's own memory (:mod:`sticky`) counts as much as the head:
        a head that vanished or went plaintext does not turn encryption off.
        """
        enc = head.encryption if head else PLAINTEXT
        include = opts.include_secrets or enc.secrets
        everything = opts.encrypt_all or enc.everything
        if opts.allow_downgrade:
            sticky.forget(repo.store_id, env)
        else:
            sticky.check(repo.store_id, env, include, everything, head is not None)
        keys = repo.keys(env, None) if include or everything else None
        return cls(include, everything, keys)

    def form(self, policy: secrets.SecretPolicy) -> StoredForm:
        return StoredForm(policy, self.keys if self.include_secrets else None)

    def manifest_field(self) -> Encryption:
        """The ``encryption`` field of the snapshot this push writes."""
        if self.keys is None:
            return PLAINTEXT
        return Encryption(
            secrets=self.include_secrets,
            everything=self.everything,
            generation=self.keys.generation,
        )


def _entry_for(f: LocalFile, builder: SnapshotBuilder, form: StoredForm) -> Entry | None:
    """``f``'s entry; None if it was removed since the folder was listed (a temp file)."""
    mode = f.st.st_mode
    try:
        if f.is_link:
            return symlink_entry(f.path, os.readlink(f.fspath))
        if form.keys is not None and form.policy.is_secret_file(f.path):
            sealed = form.secret_file(f.path, _read_whole(f))
            entry = builder.add_stream(f.path, io.BytesIO(sealed), mode & 0o600)
            entry.kind = "secret-file"
            return entry
        if secrets.is_scanned(f.path) and f.st.st_size <= secrets.MAX_PARSE:
            data, pointers = form.document(f.path, _read_whole(f))
            entry = builder.add_stream(f.path, io.BytesIO(data), mode)
            entry.secret_pointers = pointers
            return entry
        if is_document(f.path):  # too large to parse: refused if it may hold secrets
            redaction.refuse_large_secrets(f.path, f.abspath, form.policy)
        read = read_stable(f.fspath, lambda fh: builder.add_stream(f.path, fh, mode), f.path)
        f.st = read.st  # the stat cache must describe the version that was read
        return read.value
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise LocalFileError(f"cannot read {f.fspath}: {exc.strerror}") from None


def _read_whole(f: LocalFile) -> bytes:
    """One consistent version of ``f`` (:class:`TornFile` if it keeps changing)."""
    read = read_stable_bytes(f.fspath, f.path)
    f.st = read.st  # the stat cache must describe the version that was read
    return read.value


def build_entries(
    files: dict[str, LocalFile],
    rec: EnvRecord | None,
    builder: SnapshotBuilder,
    form: StoredForm,
    mode: Encryption = PLAINTEXT,
) -> list[Entry]:
    """Entries for ``files``, re-reading files that may have changed or were stored otherwise.

    ``mode`` is how this push seals (default: nothing); a cached entry stored
    another way never stands in for a file (see :mod:`statesync.sync.folder.reuse`).
    A file removed since the folder was listed is dropped from ``files`` too.
    """
    entries = []
    for f in list(files.values()):
        cached = reuse.cached_entry(rec, f, mode)
        if cached is not None and builder.has_chunks(cached):
            entries.append(builder.reuse(cached))
        elif (entry := _entry_for(f, builder, form)) is not None:
            entries.append(_keep_mode(entry, rec))
        else:
            del files[f.path]
    return entries


def _keep_mode(entry: Entry, rec: EnvRecord | None) -> Entry:
    """Pull narrows documents holding secrets to 0600; that is not a change to push."""
    row = rec.files.get(entry.path) if rec and entry.secret_pointers else None
    if row is not None and row.mode & 0o600 == entry.mode:
        entry.mode = row.mode
    return entry


def _nothing_to_push(
    repo: Repo,
    files: dict[str, LocalFile],
    rec: EnvRecord | None,
    state: RefState,
    head: Manifest,
    sealing: Sealing,
    policy: secrets.SecretPolicy,
) -> bool:
    """True if the folder holds exactly the head, sealed the way this push would seal it.

    Compared in the head's own stored form (its key generation), so a push with
    no edits is no new serial after a pull or a rotation too.
    """
    if not sealing.manifest_field().same_kind(head.encryption):
        return False  # encryption turned on: the head must be re-sealed
    keys = None
    if sealing.include_secrets:
        keys = repo.keys(head.env, head.encryption.key_generation())
    return reuse.same_as_head(files, rec, state.ref.snapshot, head, StoredForm(policy, keys))


#: How many times a push that lost a race with gc starts over (each re-lists the store).
GC_ATTEMPTS = 3


def push(repo: Repo, folder: Path, env: str, opts: PushOptions) -> PushResult:
    """Snapshot ``folder`` into ``env`` (see :func:`push_once`).

    A concurrent gc that removed chunks this push reused (:class:`GcRaced`)
    makes it start over from a fresh listing, up to :data:`GC_ATTEMPTS` times.
    A ``folder`` that is missing (or not a folder) is :class:`NotAFolder`
    (exit 1), before the store is read: it is no conflict with the environment.
    """
    if not folder.is_dir():
        raise NotAFolder(
            f"{folder}: no such folder" if not folder.exists() else f"{folder}: not a folder"
        )
    for _ in range(GC_ATTEMPTS - 1):
        try:
            return push_once(repo, folder, env, opts)
        except GcRaced:
            continue
    return push_once(repo, folder, env, opts)


def push_once(repo: Repo, folder: Path, env: str, opts: PushOptions) -> PushResult:
    """Snapshot ``folder`` into ``env``.

    Raises :class:`RefConflict` if the env moved since the folder synced,
    unless ``opts.rebase`` (merge, see :mod:`statesync.sync.rebase`) or
    ``opts.force`` (replace the contents, keeping the history);
    :class:`KeyFailure` if encryption is asked for and no key can be unwrapped.
    """
    record = WorkRecord.load(folder)
    rec = record.get(repo.store_id, env)
    seen = record.highest_serial(repo.store_id, env)
    if opts.force:  # an untrusted or malformed head may be replaced, but nothing of it is used
        state, trusted = read_head_to_replace(repo, env)
    else:
        state, trusted = read_trusted_head(repo, env, seen=seen), True
    if state is not None and state.broken:
        _no_downgrade_over_broken(repo, env, opts)
    pending = record.pending(repo.store_id, env)
    if state is not None and trusted and pending and state.ref.snapshot == pending.snapshot:
        # this folder's own push wrote the ref and died before recording it; after a
        # merge the folder still holds its own side, so that is its base, not the merge
        rec = (
            replace(rec, snapshot=pending.holds, serial=state.ref.serial)
            if rec
            else EnvRecord(pending.holds, state.ref.serial)
        )
    if opts.rebase or not trusted:  # rebase merges a moved env; a refused head is no parent
        parent = rec.snapshot if rec else None
    else:
        parent = expected_parent(state, rec, env, opts.force)
    scan = scan_folder(folder, opts.policy, opts.exclude, rec.is_unchanged if rec else None)
    if (
        state is not None
        and trusted
        and not (opts.include_secrets or opts.encrypt_all or opts.force)
        and rec is not None
        and _unchanged(scan, rec, state)  # --force re-checks that every chunk exists
        and reuse.chunks_stored(
            repo,
            reuse.recorded_chunk_ids(rec, _tracked(scan, rec)),
            env if reuse.recorded_sealing(rec).everything else None,
        )
    ):
        return push_result(
            env,
            state,
            parent=parent,
            files=len(scan.files),
            reused=sum(f.st.st_size for f in scan.files.values()),
            changed=False,
            secret_files=scan.secret_files,
            skipped=scan.skipped,
        )
    head, parent = _head_and_parent(repo, state if trusted else None, parent, opts.force)
    sealing = Sealing.decide(repo, env, head, opts)
    files = {**scan.files, **scan.secrets} if sealing.include_secrets else scan.files
    excluded = [p for p in scan.secret_files if p not in files]
    if (
        state is not None
        and head is not None
        and parent == state.ref.snapshot
        and not opts.force
        and _nothing_to_push(repo, files, rec, state, head, sealing, opts.policy)
        and reuse.all_stored(repo, head.entries, env if head.encryption.everything else None)
    ):  # lost chunks: upload them again
        return push_result(
            env,
            state,
            parent=parent,
            files=len(files),
            reused=sum(f.st.st_size for f in files.values()),
            changed=False,
            secret_files=excluded,
            skipped=scan.skipped,
        )
    progress = meters.meter(opts.progress, "push", sum(f.st.st_size for f in files.values()))
    builder = SnapshotBuilder(repo, progress, keys=sealing.keys if sealing.everything else None)
    try:
        entries = build_entries(
            files, rec, builder, sealing.form(opts.policy), sealing.manifest_field()
        )
        builder.finish()
    except BaseException:
        builder.abort()
        raise
    finally:
        progress.close()
    ours = Manifest(
        store_id=repo.store_id,
        env=env,
        parents=[parent] if parent else [],
        entries=entries,
        message=opts.message,
        tags=dict(opts.tags),
        secret_files=sorted(excluded),
        encryption=sealing.manifest_field(),
    )
    if opts.rebase:
        return rebase_push(repo, folder, env, state, parent, ours, scan, builder, opts)

    def before_ref(snap: str) -> None:
        record.set_pending(repo.store_id, env, snap)
        record.save()

    _, new_state, changed = commit(
        repo,
        env,
        state,
        parent,
        ours,
        head if state and parent == state.ref.snapshot else None,
        before_ref=before_ref,
        gc_seen=builder.gc_generation,
    )
    remember_sync(
        record,
        repo.store_id,
        env,
        snapshot=new_state.ref.snapshot,
        serial=new_state.ref.serial,
        files=files,
        entries={e.path: e for e in entries},
        encryption=sealing.manifest_field(),
        secrets_included=sealing.include_secrets,
    )
    return push_result(
        env,
        new_state,
        parent=parent,
        files=len(entries),
        uploaded=builder.uploaded_bytes,
        reused=builder.reused_bytes,
        changed=changed,
        secret_files=excluded,
        skipped=scan.skipped,
    )


def _head_and_parent(
    repo: Repo, state: RefState | None, parent: str | None, force: bool
) -> tuple[Manifest | None, str | None]:
    """The head's manifest and the push's parent; a damaged head is replaced by ``force``.

    A head manifest that fails its checks is :class:`IntegrityError`, except
    under ``--force``: nothing of it is used and it is no parent (verify and
    repair name it; the history below it stays as it is).
    """
    if state is None or not state.ref.snapshot:
        return None, parent
    try:
        return load_manifest(repo, state.ref.snapshot), parent
    except IntegrityError:
        if not force:
            raise
        return None, None if parent == state.ref.snapshot else parent


def _no_downgrade_over_broken(repo: Repo, env: str, opts: PushOptions) -> None:
    """A broken ref hides whether the env was encrypted: with keys, the flag must be given."""
    if opts.include_secrets or opts.encrypt_all:
        return
    if any(True for _ in repo.backend.list(layout.keyring_prefix(env))):
        raise UsageError(
            f"{layout.ref_key(env)} is malformed and {env} has keys: replace it "
            "with push --force --include-secrets or --encrypt all, as it was"
        )
