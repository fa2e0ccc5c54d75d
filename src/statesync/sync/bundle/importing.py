"""Import planning: overlay a validated bundle on an environment's head.

:func:`plan_import` decides everything (and redacts secret values) before a
single byte is written to the store; :func:`upload` then stores the contents.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from statesync import jsonpointer
from statesync.errors import BundleError, ImportTreeClash
from statesync.sync.bundle.schema import Bundle, Component, check_tree
from statesync.sync.bundle.seal import Resealer
from statesync.sync.secrets import policy as secrets
from statesync.sync.store.builder import SnapshotBuilder, symlink_entry
from statesync.sync.store.manifest import Entry, Manifest
from statesync.sync.store.repo import Repo


@dataclass
class ImportPlan:
    """What an import will commit.

    ``entries`` holds every final entry except ``uploads`` (files whose bytes
    come from the bundle, already redacted); ``pointers`` are their secret
    JSON pointers. ``refused`` are secret-glob paths the bundle carried.
    """

    entries: dict[str, Entry]
    uploads: list[Component] = field(default_factory=list)
    pointers: dict[str, list[str]] = field(default_factory=dict)
    skipped: list[str] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)
    refused: list[str] = field(default_factory=list)
    secret_names: list[str] = field(default_factory=list)
    imported: int = 0
    sealed_files: list[str] = field(default_factory=list)  # uploads of kind secret-file


def plan_import(
    bundle: Bundle,
    base: Manifest | None,
    env: str,
    *,
    skip_existing: bool,
    policy: secrets.SecretPolicy,
    seal: Resealer | None = None,
) -> ImportPlan:
    """Decide the new snapshot: ``base`` entries overlaid with the bundle's files.

    Secret-glob paths are refused (listed, never stored); with
    ``skip_existing`` paths the base has are kept and listed as skipped; a
    binary without content is taken from the base if it has the same digest,
    else listed as missing (the base's own file at that path, if any, stays).
    Sealed secrets (values, and files of kind ``secret-file``) are sealed again
    by ``seal`` or left out (see :mod:`statesync.sync.bundle.seal`).
    Raises :class:`UnparseableSecretDocument` if a document cannot be redacted
    and :class:`StatesyncError` if a bundle file clashes with a base folder.
    """
    have = base.by_path() if base else {}
    plan = ImportPlan(entries=dict(have))
    for comp in bundle.components:
        if comp.kind == "secret-file":
            if not (skip_existing and comp.path in have):
                _take_sealed(plan, comp, seal, have)
            else:
                plan.skipped.append(comp.path)
        elif policy.is_secret_file(comp.path):
            plan.refused.append(comp.path)
        elif skip_existing and comp.path in have:
            plan.skipped.append(comp.path)
        else:
            _take(plan, comp, have.get(comp.path), bundle, policy, seal)
    names = (
        set(base.secret_files if base else [])
        | set(bundle.secret_files)
        | set(plan.refused)
        | set(plan.secret_names)
    )
    names -= {p for p, e in plan.entries.items() if e.kind == "secret-file"}
    names -= set(plan.sealed_files)
    plan.secret_names = sorted(names)
    try:
        check_tree(
            [*plan.entries, *(c.path for c in plan.uploads)],
            f"import into {env}",
            [p for p, e in plan.entries.items() if e.kind == "symlink"],
        )
    except BundleError as exc:
        raise ImportTreeClash(str(exc)) from None
    return plan


def _take_sealed(
    plan: ImportPlan, comp: Component, seal: Resealer | None, have: dict[str, Entry]
) -> None:
    """A secret file as the source sealed it: sealed for the target, or kept by name only."""
    blob = (
        seal.secret_file(comp.path, comp.data if comp.data is not None else _read(comp))
        if seal is not None
        else None
    )
    if blob is None:
        plan.secret_names.append(comp.path)  # the target's own file (if any) stays
        return
    plan.entries.pop(comp.path, None)
    _replace(comp, blob)
    plan.uploads.append(comp)
    plan.sealed_files.append(comp.path)
    plan.imported += 1


def _take(
    plan: ImportPlan,
    comp: Component,
    old: Entry | None,
    bundle: Bundle,
    policy: secrets.SecretPolicy,
    seal: Resealer | None = None,
) -> None:
    if comp.kind == "symlink":
        plan.entries[comp.path] = symlink_entry(comp.path, str(comp.target))
    elif not comp.included:
        if old is None or old.kind == "symlink" or old.digest != comp.sha256:
            plan.missing.append(comp.path)
            return
    else:
        plan.entries.pop(comp.path, None)
        plan.pointers[comp.path] = _redact(
            comp, policy, bundle.secret_values.get(comp.path, []), seal
        )
        plan.uploads.append(comp)
    plan.imported += 1


def _redact(
    comp: Component, policy: secrets.SecretPolicy, listed: list[str], seal: Resealer | None = None
) -> list[str]:
    """Redact (or seal, see ``seal``) a document's secret values in place; return its pointers.

    Pointers the bundle lists are kept where the document holds the marker there.
    Only the secret values' bytes change; a document past a size, nesting or
    alias limit raises :class:`statesync.errors.DocumentLimit`.
    """
    if not secrets.is_scanned(comp.path):
        return []
    data = comp.data if comp.data is not None else _read(comp)
    sealed: list[str] = []
    if seal is not None:
        data, sealed = seal.document(comp.path, data)
        if sealed:
            _replace(comp, data)
    sealer = seal.value_sealer(comp.path) if seal is not None else None
    redacted, found = secrets.redact(comp.path, data, policy, sealer)
    found += [p for p in sealed if p not in found]
    if found:
        _replace(comp, redacted)
    extra = [p for p in listed if p not in found]
    return found + _marker_pointers(comp.path, redacted, extra)


def _read(comp: Component) -> bytes:
    assert comp.file is not None
    return comp.file.read_bytes()


def _replace(comp: Component, data: bytes) -> None:
    if comp.file is None:
        comp.data = data
    else:
        comp.file.write_bytes(data)


def _marker_pointers(path: str, data: bytes, pointers: list[str]) -> list[str]:
    if not pointers:
        return []
    try:
        doc = secrets.parse_document(path, data)
    except (ValueError, UnicodeDecodeError):
        return []
    return [p for p in pointers if _at(doc, p) == secrets.MARKER]


def _at(doc: Any, pointer: str) -> Any:
    try:
        tokens = jsonpointer.split(pointer)
    except ValueError:
        return None
    node = doc
    for tok in tokens:
        if isinstance(node, dict) and tok in node:
            node = node[tok]
        elif isinstance(node, list) and tok.isascii() and tok.isdigit() and int(tok) < len(node):
            node = node[int(tok)]
        else:
            return None
    return node


def upload(repo: Repo, plan: ImportPlan) -> SnapshotBuilder:
    """Store the planned uploads; afterwards ``plan.entries`` is the whole snapshot.

    On any error the builder is aborted (uploaded packs stay unreferenced for gc).
    """
    builder = SnapshotBuilder(repo)
    try:
        for entry in plan.entries.values():
            builder.reuse(entry)
        for comp in plan.uploads:
            entry = _add(builder, comp)
            entry.secret_pointers = plan.pointers.get(comp.path, [])
            if comp.path in plan.sealed_files:
                entry.kind, entry.mode = "secret-file", comp.mode & 0o600
            plan.entries[comp.path] = entry
        builder.finish()
    except BaseException:
        builder.abort()
        raise
    return builder


def _add(builder: SnapshotBuilder, comp: Component) -> Entry:
    if comp.data is not None:
        return builder.add_bytes(comp.path, comp.data, comp.mode)
    assert comp.file is not None
    with open(comp.file, "rb") as fh:
        return builder.add_stream(comp.path, fh, comp.mode)
