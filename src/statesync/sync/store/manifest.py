"""Snapshot manifests: what a snapshot holds, sealed so its id pins every byte.

The stored body is canonical JSON compressed with zstd; the snapshot id is
the SHA-256 of that body. Reading a manifest re-checks the id, the format
version, the store id and every path and link by the rules of
:mod:`statesync.sync.store.tree_rules` (nothing under a link, no ``..``, no absolute paths).
"""

from __future__ import annotations

import contextlib
import socket
from dataclasses import dataclass, field
from dataclasses import fields as fields_of
from datetime import UTC, datetime
from typing import Any, NamedTuple

from statesync.backends.base import CREATE
from statesync.errors import AlreadyExists, IntegrityError, NotFound, SnapshotNotFound
from statesync.sync.store import codec, fields, layout
from statesync.sync.store.encryption import PLAINTEXT, Encryption
from statesync.sync.store.repo import Repo
from statesync.sync.store.sealing import EnvKeys, manifest_header
from statesync.sync.store.tree_rules import check_link_target, check_tree
from statesync.sync.store.tree_rules import check_path as check_path  # re-exported: older callers
from statesync.version import __version__
from statesync.whoami import user

MANIFEST_VERSION = 1
KINDS = ("document", "binary", "symlink", "secret-file")
DOCUMENT_SUFFIXES = (".json", ".tfstate", ".yaml", ".yml")


def is_document(path: str) -> bool:
    """True for the paths stored as kind ``document`` (JSON and YAML, by suffix)."""
    return path.lower().endswith(DOCUMENT_SUFFIXES)


class ChunkRef(NamedTuple):
    """One chunk of a file, in order: its id and its plain size.

    A tuple, so it costs no more than the ``[chunk id, size]`` pair it is on
    the wire, and serialises as exactly that pair.
    """

    cid: str
    size: int


@dataclass
class Entry:
    """One file of a snapshot. ``chunks`` are its :class:`ChunkRef` in order.

    ``digest`` is the SHA-256 of the file's stored bytes; ``secret_pointers``
    are the JSON pointers whose values were replaced by the secret marker.
    """

    path: str
    kind: str
    mode: int
    size: int
    digest: str
    chunks: list[ChunkRef] = field(default_factory=list)
    secret_pointers: list[str] = field(default_factory=list)
    target: str | None = None


@dataclass
class Manifest:
    """A snapshot: metadata plus entries sorted by path."""

    store_id: str
    env: str
    parents: list[str]
    entries: list[Entry]
    message: str = ""
    tags: dict[str, str] = field(default_factory=dict)
    secret_files: list[str] = field(default_factory=list)
    encryption: Encryption = PLAINTEXT
    created_at: str = field(default_factory=lambda: datetime.now(UTC).isoformat())
    author: str = field(default_factory=user)
    host: str = field(default_factory=socket.gethostname)
    tool_version: str = __version__
    version: int = MANIFEST_VERSION

    def by_path(self) -> dict[str, Entry]:
        return {e.path: e for e in self.entries}

    def to_json(self) -> dict[str, Any]:
        doc = {f.name: getattr(self, f.name) for f in fields_of(self) if f.name != "entries"}
        doc["encryption"] = self.encryption.to_json()
        doc["entries"] = [_entry_json(e) for e in sorted(self.entries, key=lambda e: e.path)]
        return doc


def _entry_json(e: Entry) -> dict[str, Any]:
    doc = {f.name: getattr(e, f.name) for f in fields_of(e)}
    return {k: v for k, v in doc.items() if v is not None and v != []}


def check_symlink(path: str, target: object, where: str) -> None:
    """Refuse a link target no folder can hold; see :mod:`statesync.sync.store.tree_rules`."""
    check_link_target(path, target, where)


def check_entries(entries: list[Entry], where: str) -> None:
    """The tree rules over a whole manifest: nothing under a link or file, no repeats."""
    check_tree(
        [e.path for e in entries], where, links=[e.path for e in entries if e.kind == "symlink"]
    )


def _chunks(value: Any, where: str, name: str = "chunks") -> list[ChunkRef]:
    if not isinstance(value, list):
        raise fields.bad(where, "chunks", "a list of [chunk id, size]")
    out: list[ChunkRef] = []
    for item in value:
        if not isinstance(item, list) or len(item) != 2:
            raise fields.bad(where, "chunks", "a list of [chunk id, size]")
        out.append(
            ChunkRef(
                fields.text(item[0], where, "chunk id", empty=False),
                fields.integer(item[1], where, "chunk size"),
            )
        )
    return out


def _mode(value: Any, where: str, name: str) -> int:
    return fields.integer(value, where, name, 0, 0o7777)


def _pass(value: Any, where: str, name: str) -> Any:
    return value


_ENTRY_CHECKS = {
    "path": fields.text,
    "kind": fields.text,
    "mode": _mode,
    "size": fields.integer,
    "digest": fields.text,
    "chunks": _chunks,
    "secret_pointers": fields.texts,
    "target": fields.optional_text,
}
_HEADER_CHECKS = {
    "store_id": fields.text,
    "env": fields.text,
    "parents": fields.texts,
    "message": fields.text,
    "tags": fields.text_map,
    "secret_files": fields.texts,
    "encryption": fields.mapping,
    "created_at": fields.text,
    "author": fields.text,
    "host": fields.text,
    "tool_version": fields.text,
}


def _checked_fields(
    doc: dict[str, Any], cls: type, required: tuple[str, ...], checks: dict[str, Any], where: str
) -> dict[str, Any]:
    """``doc``'s fields of dataclass ``cls``, each checked by type; :class:`IntegrityError`."""
    known = {f.name for f in fields_of(cls)} - {"entries"}
    for name in sorted(set(doc) - known):
        raise fields.bad(where, name, f"no such {cls.__name__.lower()} field")
    for name in required:
        if name not in doc:
            raise fields.bad(where, name, "a value")
    return {name: checks.get(name, _pass)(value, where, name) for name, value in doc.items()}


def _parse_entry(raw: Any, where: str) -> Entry:
    """One entry, every field checked by type and range; :class:`IntegrityError` otherwise."""
    entry = Entry(
        **_checked_fields(
            fields.mapping(raw, where, "entry"),
            Entry,
            ("path", "kind", "mode", "size", "digest"),
            _ENTRY_CHECKS,
            where,
        )
    )
    check_path(entry.path, where)
    if entry.kind not in KINDS:
        raise IntegrityError(f"{where}: unknown entry kind {entry.kind!r}")
    if entry.kind == "symlink":
        check_symlink(entry.path, entry.target, where)
    if sum(c.size for c in entry.chunks) != entry.size and entry.kind != "symlink":
        raise IntegrityError(f"{where}: sizes of {entry.path!r} do not add up")
    return entry


def _checked_header(doc: dict[str, Any], where: str) -> dict[str, Any]:
    """The manifest's own fields (entries apart), checked by type."""
    out = _checked_fields(doc, Manifest, ("store_id", "env", "parents"), _HEADER_CHECKS, where)
    if "encryption" in out:
        out["encryption"] = Encryption.from_json(out["encryption"], where)
    return out


def parse_manifest(doc: Any, where: str, store_id: str) -> Manifest:
    """Validate a decoded manifest document; :class:`IntegrityError` if anything is off."""
    doc = dict(fields.mapping(doc, where, "manifest"))
    if doc.get("version") != MANIFEST_VERSION:
        raise IntegrityError(f"{where}: manifest version {doc.get('version')!r} is not supported")
    raw_entries = doc.pop("entries", None)
    if not isinstance(raw_entries, list):
        raise fields.bad(where, "entries", "a list")
    entries = [_parse_entry(e, where) for e in raw_entries]
    manifest = Manifest(entries=entries, **_checked_header(doc, where))
    check_entries(manifest.entries, where)
    if manifest.store_id != store_id:
        raise IntegrityError(f"{where}: belongs to another store")
    return manifest


def store_manifest(repo: Repo, manifest: Manifest, keys: EnvKeys | None = None) -> str:
    """Write the manifest create-only and return its snapshot id.

    With ``keys`` (``--encrypt all``) the body is sealed; the id is still the
    SHA-256 of exactly what is stored.
    """
    check_entries(manifest.entries, "snapshot to store")  # never write what a read refuses
    _, body = codec.seal_document(manifest.to_json())
    if keys is not None:
        body = keys.seal_manifest(body)
    snap_id = codec.sha256_hex(body)
    # AlreadyExists means identical bytes: the same snapshot is already stored.
    with contextlib.suppress(AlreadyExists):
        repo.backend.put(layout.snapshot_key(snap_id), body, CREATE)
    return snap_id


def load_manifest(repo: Repo, snapshot_id: str) -> Manifest:
    """Read and verify a snapshot; :class:`SnapshotNotFound` or :class:`IntegrityError`."""
    where = layout.snapshot_key(snapshot_id)
    try:
        body, _ = repo.backend.get(where)
    except NotFound:
        raise SnapshotNotFound(f"snapshot {snapshot_id[:12]} not found in the store") from None
    if codec.sha256_hex(body) != snapshot_id:
        raise IntegrityError(f"{where}: content does not match its id (tampered or corrupt)")
    sealed = manifest_header(body, where)
    if sealed is not None:
        body = repo.keys(*sealed).open_manifest(body, where)
    manifest = parse_manifest(codec.open_document(body, None, where), where, repo.store_id)
    if sealed is not None and manifest.env != sealed[0]:
        raise IntegrityError(f"{where}: sealed for {sealed[0]} but names {manifest.env}")
    return manifest
