"""``show``'s typed result: a snapshot's metadata and files, without chunk lists.

:class:`SnapshotInfo` is a frozen record with ``created_at`` as a tz-aware UTC
:class:`datetime`; :meth:`SnapshotInfo.to_json` is the CLI's ``--json`` form.
Item access (``info["entries"]``) reads that JSON form, for callers written
when ``show`` returned a dict.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from statesync.sync.store.encryption import Encryption
from statesync.sync.store.manifest import Entry, Manifest


@dataclass(frozen=True)
class FileInfo:
    """One entry of a snapshot: what it is, not where its chunks are."""

    path: str
    kind: str  # document, binary, secret-file, symlink
    mode: int
    size: int
    digest: str
    secret_pointers: tuple[str, ...] = ()
    target: str | None = None  # a link's target

    @classmethod
    def of(cls, e: Entry) -> FileInfo:
        return cls(e.path, e.kind, e.mode, e.size, e.digest, tuple(e.secret_pointers), e.target)

    def to_json(self) -> dict[str, Any]:
        doc: dict[str, Any] = {
            "path": self.path,
            "kind": self.kind,
            "mode": self.mode,
            "size": self.size,
            "digest": self.digest,
        }
        if self.secret_pointers:
            doc["secret_pointers"] = list(self.secret_pointers)
        if self.target is not None:
            doc["target"] = self.target
        return doc


@dataclass(frozen=True)
class SnapshotInfo:
    """A snapshot as ``show`` describes it."""

    id: str
    env: str
    store_id: str
    parents: tuple[str, ...]
    created_at: datetime  # tz-aware, UTC
    author: str
    host: str
    message: str
    tags: dict[str, str]
    secret_files: tuple[str, ...]
    encryption: Encryption
    tool_version: str
    version: int
    entries: tuple[FileInfo, ...]

    @classmethod
    def of(cls, m: Manifest, snapshot: str) -> SnapshotInfo:
        return cls(
            id=snapshot,
            env=m.env,
            store_id=m.store_id,
            parents=tuple(m.parents),
            created_at=utc(m.created_at),
            author=m.author,
            host=m.host,
            message=m.message,
            tags=dict(m.tags),
            secret_files=tuple(m.secret_files),
            encryption=m.encryption,
            tool_version=m.tool_version,
            version=m.version,
            entries=tuple(FileInfo.of(e) for e in sorted(m.entries, key=lambda e: e.path)),
        )

    def to_json(self) -> dict[str, Any]:
        """The JSON form (``show --json``): RFC 3339 ``created_at``, entries without chunks."""
        return {
            "id": self.id,
            "env": self.env,
            "store_id": self.store_id,
            "parents": list(self.parents),
            "created_at": self.created_at.isoformat(),
            "author": self.author,
            "host": self.host,
            "message": self.message,
            "tags": dict(self.tags),
            "secret_files": list(self.secret_files),
            "encryption": self.encryption.to_json(),
            "tool_version": self.tool_version,
            "version": self.version,
            "entries": [e.to_json() for e in self.entries],
        }

    def __getitem__(self, key: str) -> Any:
        """``info[key]`` of :meth:`to_json` (the dict ``show`` used to return)."""
        return self.to_json()[key]


def utc(text: str) -> datetime:
    """An ISO 8601 timestamp as a tz-aware UTC datetime (one without a zone is taken as UTC)."""
    value = datetime.fromisoformat(text)
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)
