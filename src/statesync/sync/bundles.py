"""Export and import bundles: one self-contained file per snapshot (README "Bundles").

Formats, chosen by the file's suffix (see :mod:`statesync.sync.bundle.schema`):

* ``.json`` / ``.yaml`` / ``.yml`` — one document; documents inline as UTF-8
  text, binaries as base64 only with ``include_binaries`` (else listed with
  ``include_binary: false``);
* ``.tar.zst`` — a zstd-compressed tar: ``statesync-bundle.json`` (the same
  document without contents) then ``files/<path>`` per file; streamed both ways.

Export writes atomically (temp file beside the target, fsync, rename; mode
0600). Import validates the whole bundle before it writes anything to the
store, then commits one snapshot on top of the environment's head with the
same conditional ref write as push.
"""

from __future__ import annotations

import contextlib
import shutil
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from statesync.errors import LocalFileError, UsageError
from statesync.sync.bundle import exporting as bundle_export
from statesync.sync.bundle import schema
from statesync.sync.bundle.document import read_document, write_document
from statesync.sync.bundle.importing import plan_import, upload
from statesync.sync.bundle.io import TAR_ZST, atomic_output, bundle_format
from statesync.sync.bundle.seal import Resealer
from statesync.sync.bundle.tar import read_tar, write_tar
from statesync.sync.commit import commit_entries
from statesync.sync.secrets.policy import SecretPolicy
from statesync.sync.store import sticky
from statesync.sync.store.chunkindex import load_index
from statesync.sync.store.manifest import load_manifest
from statesync.sync.store.refs import read_trusted_head
from statesync.sync.store.repo import Repo


@dataclass
class ExportResult:
    """What an export wrote. ``bytes`` is the bundle file's size."""

    path: str
    format: str
    snapshot: str
    files: int
    binaries_included: int
    bytes: int
    omitted_binaries: list[str] = field(default_factory=list)
    secret_files: list[str] = field(default_factory=list)


@dataclass
class ImportResult:
    """What an import did.

    ``files`` counts the new snapshot's files (as push does); ``imported`` the
    bundle files taken. ``skipped``: kept from the environment (skip-existing);
    ``missing``: binaries the bundle lists without content and the environment
    lacks; ``secret_files``: secret-glob paths the bundle carried, not stored.
    """

    snapshot: str
    env: str
    serial: int
    files: int
    skipped: list[str]
    changed: bool
    imported: int = 0
    missing: list[str] = field(default_factory=list)
    secret_files: list[str] = field(default_factory=list)
    parent: str | None = None
    uploaded_bytes: int = 0
    reused_bytes: int = 0
    #: sealed secrets of the bundle not stored (``path#pointer`` or a secret file), and why
    left_out: list[str] = field(default_factory=list)
    note: str = ""


# --- export --------------------------------------------------------------------


def export_bundle(
    repo: Repo,
    snapshot: str,
    out: Path,
    *,
    include_binaries: bool,
    paths: list[str],
    description: str,
    tags: dict[str, str],
) -> ExportResult:
    """Write ``snapshot`` (filtered by the ``paths`` globs) as one bundle file at ``out``.

    Raises :class:`UsageError` for an unknown suffix or globs that match
    nothing, :class:`SnapshotNotFound`, :class:`IntegrityError` if stored
    content is damaged, :class:`StatesyncError` if ``out`` cannot be written.
    ``out`` is never left half-written.
    """
    fmt = bundle_format(out)
    manifest = load_manifest(repo, snapshot)
    entries, secret_names = bundle_export.select(manifest, paths)
    header = bundle_export.build_header(
        manifest,
        snapshot,
        entries,
        secret_names,
        description=description,
        tags=tags,
        paths=paths,
        include_binaries=include_binaries,
    )
    index = load_index(repo)
    with atomic_output(out) as fh:
        if fmt == TAR_ZST:
            header["components"] = [
                bundle_export.component_header(e, include_binaries) for e in entries
            ]
            write_tar(fh, header, bundle_export.members(repo, index, entries, include_binaries))
        else:
            write_document(
                fh,
                fmt,
                header,
                (bundle_export.inline(repo, index, e, include_binaries) for e in entries),
            )
    binaries = [e for e in entries if e.kind == "binary"]
    return ExportResult(
        str(out),
        fmt,
        snapshot,
        len(entries),
        len(binaries) if include_binaries else 0,
        out.stat().st_size,
        [] if include_binaries else [e.path for e in binaries],
        secret_names,
    )


# --- import --------------------------------------------------------------------


@contextlib.contextmanager
def load_bundle(path: Path) -> Iterator[schema.Bundle]:
    """Read and fully validate a bundle; a ``.tar.zst`` is extracted into a private
    (0700) temp folder that is removed when the block ends, whatever happens.

    Raises :class:`UsageError` (unknown suffix, no such file), :class:`BundleError`,
    or :class:`LocalFileError` if the temp folder cannot be written (disk full).
    """
    fmt = bundle_format(path)
    if fmt != TAR_ZST:
        yield read_document(path, fmt)
        return
    try:
        tmp = Path(tempfile.mkdtemp(prefix="statesync-import-"))
    except OSError as exc:
        raise LocalFileError(f"cannot create a temporary folder: {exc.strerror}") from None
    try:
        try:
            bundle = read_tar(path, tmp)
        except OSError as exc:
            raise LocalFileError(f"{path.name}: cannot extract: {exc.strerror}") from None
        yield bundle
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def import_bundle(
    repo: Repo,
    path: Path,
    env: str,
    *,
    skip_existing: bool,
    message: str,
    policy: SecretPolicy,
    allow_downgrade: bool = False,
) -> ImportResult:
    """Validate the bundle at ``path`` completely, then commit it on top of ``env``'s head.

    Nothing is written to the store unless the whole bundle is valid. Raises
    :class:`UsageError`, :class:`BundleError` (exit 4: truncated, malformed,
    unsafe, unknown version, checksum mismatch), :class:`UnparseableSecretDocument`,
    or :class:`RefConflict` (exit 3) if another writer moved ``env`` meanwhile;
    :class:`IntegrityError` if it would store ``env`` with less encryption than
    this machine used for it (:func:`statesync.sync.store.sticky.guard`).
    """
    with load_bundle(path) as bundle:
        state = read_trusted_head(repo, env)
        parent = state.ref.snapshot if state else None
        base = load_manifest(repo, parent) if parent else None
        if base is not None and base.encryption.everything:
            raise UsageError(
                f"{env} is fully encrypted (--encrypt all); importing into it is "
                "not supported yet: import into another environment and promote"
            )
        seal = Resealer.for_import(repo, bundle, env, base)
        sticky.guard(
            repo.store_id,
            env,
            seal.encryption(base),
            head_present=state is not None,
            allow_downgrade=allow_downgrade,
            what="import",
        )  # before any upload
        plan = plan_import(bundle, base, env, skip_existing=skip_existing, policy=policy, seal=seal)
        builder = upload(repo, plan)
    text = message or bundle.description or f"import {path.name}"
    snap, new, changed = commit_entries(
        repo,
        env,
        state,
        parent,
        list(plan.entries.values()),
        message=text,
        tags=bundle.tags,
        secret_files=plan.secret_names,
        encryption=seal.encryption(base),
        base=base,
    )
    return ImportResult(
        snap,
        env,
        new.ref.serial,
        len(plan.entries),
        plan.skipped,
        changed,
        plan.imported,
        plan.missing,
        plan.refused,
        parent,
        builder.uploaded_bytes,
        builder.reused_bytes,
        seal.left_out,
        seal.note(),
    )
