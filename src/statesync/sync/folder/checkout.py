"""Pull: write a snapshot into a folder atomically, keeping what is not ours.

The new tree is built in a staging folder beside the target, then swapped in
with one atomic exchange (``renameat2(RENAME_EXCHANGE)`` where the kernel has
it), so the folder is never half-written. Local files that already hold the
right content, secret files, unmanaged files and the folder record are
hard-linked into the staging folder, not copied or downloaded.

Links are never written through (the rules are in
:mod:`statesync.sync.store.tree_rules`): the staging folder is written with
no-follow operations (:mod:`statesync.sync.folder.nofollow`), every link (from the
snapshot or kept from the folder) is created after every file and folder, and
a snapshot entry under a link the folder keeps is refused before anything is
written.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import logging
import os
import shutil
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path

from statesync.errors import (
    IntegrityError,
    LocalChangesConflict,
    LocalFileError,
    NotAFolder,
)
from statesync.sync.folder import nofollow
from statesync.sync.folder import staging as staging_mod
from statesync.sync.folder.download import download_entries
from statesync.sync.folder.remember import remember_sync
from statesync.sync.folder.reuse import cached_entry
from statesync.sync.folder.stored import StoredForm
from statesync.sync.folder.unseal import Unsealer, placeholders_in
from statesync.sync.folder.workdir import (
    RECORD_DIR,
    EnvRecord,
    Scan,
    WorkRecord,
    ignore_matcher,
    scan_folder,
)
from statesync.sync.progress import MeterFactory, meter
from statesync.sync.secrets import policy as secrets
from statesync.sync.store import seen as seen_serials
from statesync.sync.store.chunkindex import load_index
from statesync.sync.store.manifest import Entry, Manifest
from statesync.sync.store.repo import Repo
from statesync.sync.store.tree_rules import under_any

log = logging.getLogger(__name__)


@dataclass
class CheckoutPlan:
    """What the pull will do, decided before anything is written."""

    fetch: list[Entry] = field(default_factory=list)
    keep: list[str] = field(default_factory=list)  # local paths hard-linked as they are
    reuse: list[Entry] = field(default_factory=list)  # snapshot entries satisfied locally
    remove: list[str] = field(default_factory=list)
    conflicts: list[str] = field(default_factory=list)


def make_plan(
    scan: Scan,
    manifest: Manifest,
    rec: EnvRecord | None,
    form: StoredForm,
    force: bool,
    carried_secrets: set[str],
    selected: Callable[[str], bool] | None = None,
) -> CheckoutPlan:
    """Decide per path; conflicts are listed, not raised, so all are reported.

    Secret files are compared like any file only when the snapshot carries
    them (``carried_secrets``); otherwise the local ones are left alone.
    Local paths ``selected`` refuses (a partial pull) are kept as they are;
    ``manifest`` then holds only the selected entries.
    """
    plan = CheckoutPlan()
    wanted = manifest.by_path()
    files = {**scan.files, **{p: f for p, f in scan.secrets.items() if p in carried_secrets}}
    mode = manifest.encryption
    for path, f in files.items():
        if selected is not None and not selected(path):
            plan.keep.append(path)
            continue
        cached = cached_entry(rec, f, mode)  # only if stored as this manifest stores it
        digest = cached.digest if cached else form.digest(f)
        recorded = rec.files.get(path) if rec else None
        unchanged = rec is not None and rec.is_unchanged(f)  # since it was synced
        pristine = recorded is not None and (recorded.digest == digest or unchanged)
        entry = wanted.get(path)
        if entry is not None and entry.digest == digest:
            plan.keep.append(path)  # same bytes; the mode is set after linking
            plan.reuse.append(entry)
        elif pristine or force:
            plan.remove.append(path)
        elif entry is not None or recorded is not None:
            plan.conflicts.append(path)
        else:
            plan.keep.append(path)  # unmanaged and not in the snapshot
    local_secrets = set(scan.secret_files) - carried_secrets
    kept = set(plan.keep) | local_secrets
    plan.fetch = [
        e
        for e in manifest.entries
        if e.path not in kept and (e.kind == "secret-file") == (e.path in carried_secrets)
    ]
    fetched = {e.path for e in plan.fetch}
    plan.keep = [p for p in plan.keep if p not in fetched] + sorted(local_secrets - fetched)
    return plan


@dataclass
class PullOutcome:
    files: int
    downloaded_bytes: int
    reused_files: int
    removed: list[str]
    kept_unmanaged: list[str]
    #: documents left with a secret placeholder (this machine has no value for it)
    placeholders: list[str] = field(default_factory=list)
    #: secret files of the snapshot the folder still lacks (not stored, or not opened)
    secrets_left_out: list[str] = field(default_factory=list)


def restore(
    repo: Repo,
    folder: Path,
    manifest: Manifest,
    rec: EnvRecord | None,
    policy: secrets.SecretPolicy,
    force: bool,
    progress: MeterFactory | None,
    skip_secrets: bool = False,
    *,
    only: Callable[[str], bool] | None = None,
    exclude: tuple[str, ...] = (),
    record: Callable[[Path, Scan], None] | None = None,
) -> tuple[PullOutcome, Scan]:
    """Make ``folder`` hold ``manifest``; returns the outcome and the final scan.

    ``record(staging, scan)``: called once the new tree is staged, before the
    swap, to write the folder's record inside the staging folder (``scan`` is of
    the staging folder), so the tree and the record naming it land in one atomic
    swap: a process killed right after the swap leaves a folder whose record
    says what it holds (not the previous snapshot, which made its files look
    like local changes to the next push or watch).

    ``only`` (``pull --path``) restricts the pull to the paths it accepts:
    every other local file stays as it is. Paths the folder ignores
    (``.statesyncignore``, then ``exclude``) are neither written nor removed.
    Raises :class:`LocalChangesConflict`, :class:`IntegrityError` or
    :class:`KeyFailure` before the folder is touched.
    """
    # The target named through a link is the folder it names: swap there, not the link.
    folder = Path(os.path.realpath(folder))
    exists = folder.exists()
    if exists and not folder.is_dir():
        raise NotAFolder(f"{folder}: exists and is not a folder")
    scan = scan_folder(folder, policy, exclude) if exists else Scan({}, [])
    unsealer = Unsealer(repo, manifest, skip_secrets, policy)
    ignored = ignore_matcher(folder, exclude) if exists else None
    selected = _selector(only, ignored.matches if ignored else None)
    if selected is not None:
        manifest = replace(manifest, entries=[e for e in manifest.entries if selected(e.path)])
    plan = make_plan(
        scan,
        manifest,
        rec,
        unsealer.form(policy),
        force,
        unsealer.carried_secret_files(),
        selected,
    )
    plan.keep += scan.excluded
    if plan.conflicts:
        shown = ", ".join(plan.conflicts[:5]) + (" ..." if len(plan.conflicts) > 5 else "")
        raise LocalChangesConflict(
            f"pull would overwrite {len(plan.conflicts)} local change(s): {shown} "
            "(push them first, or pull --force)"
        )
    check_kept_tree(folder, scan, plan)
    made = make_parents(folder.parent)
    for name in staging_mod.remove_stale(folder):
        log.info("removed %s, left beside %s by a pull that was killed", name, folder)
    staging = staging_mod.staging_name(folder)
    try:
        staging.mkdir(mode=0o700)
    except OSError as exc:
        remove_parents(made)
        msg = f"cannot create a staging folder beside {folder}: {exc.strerror}"
        raise LocalFileError(msg) from None
    held = staging_mod.hold(staging)  # until the swap is done and the old tree deleted
    try:
        _set_folder_mode(staging, folder if exists else None)
        read = _stage(repo, folder, staging, scan, plan, unsealer, progress)
        if record is not None:
            record(staging, scan_folder(staging, policy, exclude))
        _swap(staging, folder, exists)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        staging_mod.release(held)
        remove_parents(made)
        raise
    shutil.rmtree(staging, ignore_errors=True)
    staging_mod.release(held)
    managed = {e.path for e in manifest.entries}
    unmanaged = [
        p
        for p in plan.keep
        if p not in managed
        and p not in scan.secret_files
        and (selected is None or selected(p))
        and p not in scan.excluded
    ]
    final = scan_folder(folder, policy, exclude)
    outcome = PullOutcome(
        len(manifest.entries),
        read,
        len(plan.reuse),
        plan.remove,
        unmanaged,
        placeholders_in(manifest, final.files, policy),
        _secrets_left_out(manifest, final),
    )
    return outcome, final


def _secrets_left_out(manifest: Manifest, final: Scan) -> list[str]:
    """Secret files the snapshot names (stored or kept by their machine) the folder lacks."""
    named = set(manifest.secret_files) | {
        e.path for e in manifest.entries if e.kind == "secret-file"
    }
    return sorted(named - set(final.secret_files))


def make_parents(path: Path) -> list[Path]:
    """Create ``path`` and its missing parents (like ``mkdir -p``); the ones made, deepest last.

    Raises :class:`LocalFileError` when one cannot be made (a file in the way,
    no permission), having removed those it made.
    """
    missing: list[Path] = []
    probe = path
    while not probe.exists() and not probe.is_symlink() and probe != probe.parent:
        missing.append(probe)
        probe = probe.parent
    made: list[Path] = []
    for p in reversed(missing):
        try:
            p.mkdir()
        except OSError as exc:
            remove_parents(made)
            raise LocalFileError(f"cannot create {p}: {exc.strerror or exc}") from None
        made.append(p)
    return made


def remove_parents(made: list[Path]) -> None:
    """Remove the folders :func:`make_parents` made, if they are still empty."""
    for p in reversed(made):
        try:
            p.rmdir()
        except OSError:
            return


# CUT


def _selector(
    only: Callable[[str], bool] | None, ignored: Callable[[str], bool] | None
) -> Callable[[str], bool] | None:
    """The paths a pull may write or remove: accepted by ``only`` and not ``ignored``."""
    if only is None and ignored is None:
        return None
    return lambda p: (only is None or only(p)) and not (ignored is not None and ignored(p))


def check_kept_tree(folder: Path, scan: Scan, plan: CheckoutPlan) -> None:
    """Refuse a pull whose new tree would put a file under one the folder keeps (or the reverse).

    A snapshot entry under a link the folder keeps is an :class:`IntegrityError`
    (writing it would write through the link); under a kept file, a kept file
    under a snapshot entry, or a snapshot entry where the folder holds what
    push skips (a fifo, a link with a non-UTF-8 target), is a
    :class:`LocalChangesConflict`.
    """
    staying = set(plan.keep) | set(scan.skipped)
    incoming = {e.path for e in plan.fetch}
    for path in sorted(incoming & set(scan.skipped)):
        raise LocalChangesConflict(
            f"local {path!r} is not a file or link statesync can "
            "record, and the snapshot has that path (move it)"
        )
    for path in sorted(incoming):
        parent = under_any(path, staying)
        if parent is not None and (folder / parent).is_symlink():
            raise IntegrityError(
                f"snapshot entry {path!r} lies under {parent!r}, a link in {folder}; pull never "
                "writes through a link (remove the link, or pull --force to replace it)"
            )
        if parent is not None:
            raise LocalChangesConflict(
                f"snapshot entry {path!r} lies under the local file "
                f"{parent!r} (move it, or pull --force)"
            )
    for path in sorted(staying):
        parent = under_any(path, incoming)
        if parent is not None:
            raise LocalChangesConflict(
                f"local {path!r} lies under {parent!r}, which the "
                "snapshot makes a file or link (move it, or pull --force)"
            )


def _kept_links(folder: Path, scan: Scan, plan: CheckoutPlan) -> dict[str, str]:
    """Links the folder keeps: path -> target, re-created last in the staging folder."""
    return {
        p: os.readlink(folder / p) for p in [*plan.keep, *scan.skipped] if (folder / p).is_symlink()
    }


def _local_copy(scan: Scan, path: str) -> Path | None:
    """This folder's own ``path``, if the scan reached it without going through a link."""
    f = scan.files.get(path) or scan.secrets.get(path)
    return f.abspath if f is not None and not f.is_link else None


def _stage(
    repo: Repo,
    folder: Path,
    staging: Path,
    scan: Scan,
    plan: CheckoutPlan,
    unsealer: Unsealer,
    progress: MeterFactory | None,
) -> int:
    links = _kept_links(folder, scan, plan) if folder.exists() else {}
    if folder.exists():
        _copy_dirs(folder, staging, {e.path for e in plan.fetch})
        for path in [*plan.keep, *scan.skipped]:
            if path not in links:
                _link(folder / path, staging / path)
        if (folder / RECORD_DIR).is_dir():
            shutil.copytree(folder / RECORD_DIR, staging / RECORD_DIR, symlinks=True)
    regular = [e for e in plan.fetch if e.kind != "symlink"]
    bar = meter(progress, "pull", sum(e.size for e in regular))
    try:
        read = download_entries(repo, load_index(repo), regular, staging, bar) if regular else 0
    finally:
        bar.close()
    for e in plan.fetch:
        if e.kind == "symlink":
            links[e.path] = str(e.target)
        elif e.kind == "secret-file":
            unsealer.secret_file(staging / e.path, e)
        elif e.secret_pointers:
            unsealer.document(_local_copy(scan, e.path), staging / e.path, e)
        else:
            nofollow.chmod(staging, e.path, e.mode)
    for e in plan.reuse:
        if e.kind not in ("symlink", "secret-file") and not e.secret_pointers:
            nofollow.chmod(staging, e.path, e.mode)
    # Last, so that no file or folder is ever written after (and through) a link.
    for path, target in sorted(links.items()):
        nofollow.symlink(staging, path, target)
    return read


def _set_folder_mode(staging: Path, original: Path | None) -> None:
    if original is not None:
        shutil.copymode(original, staging)
        return
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(staging, 0o777 & ~umask)


def _copy_dirs(src: Path, dst: Path, replaced: set[str]) -> None:
    """Re-create ``src``'s folders (not links, nor those the snapshot ``replaced``) in ``dst``."""
    for dirpath, dirnames, _ in os.walk(src):
        rel = os.path.relpath(dirpath, src)
        if rel == ".":
            dirnames[:] = [d for d in dirnames if d != RECORD_DIR]
        base = "" if rel == "." else rel.replace(os.sep, "/") + "/"
        dirnames[:] = [
            d
            for d in dirnames
            if not os.path.islink(os.path.join(dirpath, d)) and base + d not in replaced
        ]
        for d in dirnames:
            target = dst / rel / d
            target.mkdir(parents=True, exist_ok=True)
            shutil.copymode(os.path.join(dirpath, d), target)


def _link(src: Path, dst: Path) -> None:
    dst.parent.mkdir(parents=True, exist_ok=True)
    try:
        os.link(src, dst, follow_symlinks=False)
    except OSError:  # no hard links here: copy, never what a link names
        shutil.copy2(src, dst, follow_symlinks=False)


_RENAME_EXCHANGE = 2


def _exchange(a: Path, b: Path) -> bool:
    """Atomically swap two paths with renameat2; False if the kernel/libc cannot."""
    libc_name = ctypes.util.find_library("c")
    if libc_name is None:
        return False
    libc = ctypes.CDLL(libc_name, use_errno=True)
    fn = getattr(libc, "renameat2", None)
    if fn is None:
        return False
    at_fdcwd = -100
    rc = fn(at_fdcwd, os.fsencode(a), at_fdcwd, os.fsencode(b), _RENAME_EXCHANGE)
    return bool(rc == 0)


def _swap(staging: Path, folder: Path, exists: bool) -> None:
    """Put ``staging`` at ``folder``; the old tree ends up at ``staging`` (to delete)."""
    if not exists:
        os.rename(staging, folder)
        return
    if _exchange(staging, folder):
        return
    backup = staging.with_name(staging.name + "-old")
    os.rename(folder, backup)
    os.rename(staging, folder)
    os.rename(backup, staging)


def remember_pull(
    record: WorkRecord,
    store_id: str,
    env: str,
    snapshot: str,
    serial: int,
    manifest: Manifest,
    final: Scan,
) -> None:
    """Record the pulled snapshot and a stat cache of the files as they now are."""
    # serial 0: a snapshot pulled by id, whose encryption need not be the env's
    remember_sync(
        record,
        store_id,
        env,
        snapshot=snapshot,
        serial=serial,
        files={**final.files, **final.secrets},
        entries=manifest.by_path(),
        encryption=manifest.encryption,
        secrets_included=manifest.encryption.secrets,
        remember_encryption=bool(serial),
    )


def highest_seen(record: WorkRecord, store_id: str, env: str) -> int:
    """The highest serial this folder or this user has seen.

    Read it *before* reading the ref: serials only grow in the store, so a
    serial remembered earlier can exceed the ref read later only if the ref
    went backwards, while one remembered meanwhile (by a concurrent process
    of this user) may legitimately be newer than what we read.
    """
    return max(record.highest_serial(store_id, env), seen_serials.highest(store_id, env))
