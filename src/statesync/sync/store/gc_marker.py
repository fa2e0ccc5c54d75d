"""The gc generation marker, ``gc/generation.json``, and the check every writer makes.

Every gc run publishes a new generation before it deletes anything, with the
packs it is about to delete ("condemned"). A writer reads the marker *before*
it lists the store's packs and never reuses a chunk from a condemned pack;
just before it moves a ref it reads the marker again (:func:`confirm`). If
the generation is unchanged, no gc began deleting since it looked, and any
later gc sees its manifest (see docs/ARCHITECTURE.md, "Garbage collection").
If it changed, the writer re-confirms, against a fresh listing, that every
chunk its manifest names is still there, or raises :class:`GcRaced`.

``cuts`` names snapshots gc removed from a history, which a kept snapshot
(or one a rebase is still making) may name as its parent: log shows where
history was cut there, and verify does not call them damage. The marker is
signed when the writer has a signing key.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from statesync.backends.base import CREATE, Update, Version
from statesync.errors import AlreadyExists, GcRaced, IntegrityError, NotFound, PreconditionFailed
from statesync.sync.store import layout
from statesync.sync.store.repo import Repo
from statesync.whoami import user_at_host

_DOMAIN = b"statesync-gc-marker-v1\n"


@dataclass(frozen=True)
class Marker:
    """One gc generation: 0 means no gc ever ran in this store."""

    generation: int = 0
    condemned: frozenset[str] = frozenset()
    cuts: frozenset[str] = frozenset()
    updated_by: str = ""
    updated_at: str = ""
    version: Version | None = None

    def payload(self) -> bytes:
        """The bytes a signature covers."""
        return _DOMAIN + json.dumps(self._fields(), sort_keys=True).encode()

    def _fields(self) -> dict[str, Any]:
        return {
            "generation": self.generation,
            "condemned": sorted(self.condemned),
            "cuts": sorted(self.cuts),
            "updated_by": self.updated_by,
            "updated_at": self.updated_at,
        }


def read_marker(repo: Repo) -> Marker:
    """The current marker (generation 0 if absent); :class:`IntegrityError` if forged or torn."""
    try:
        body, version = repo.backend.get(layout.gc_marker_key())
    except NotFound:
        return Marker()
    return _decode(body, version)


def _decode(body: bytes, version: Version) -> Marker:
    where = layout.gc_marker_key()
    try:
        doc = json.loads(body)
        marker = Marker(
            int(doc["generation"]),
            frozenset(map(str, doc["condemned"])),
            frozenset(map(str, doc["cuts"])),
            str(doc["updated_by"]),
            str(doc["updated_at"]),
            version,
        )
        sig = doc.get("signature")
        if marker.generation < 1 or (sig is not None and not isinstance(sig, dict)):
            raise ValueError
    except (ValueError, KeyError, TypeError):
        raise IntegrityError(f"{where}: malformed gc marker") from None
    if sig is not None:
        from statesync.crypto.signing import verify

        if not verify(str(sig.get("public")), marker.payload(), str(sig.get("sig"))):
            raise IntegrityError(f"{where}: signature does not match (tampered or forged)")
    return marker


def publish(
    repo: Repo, current: Marker, *, generation: int, condemned: set[str], cuts: set[str]
) -> Marker:
    """Write the marker conditionally on ``current``; return what was written.

    Only a gc holding the gc lease calls this; a failed condition means another
    gc wrote meanwhile, raised as :class:`GcRaced` so nothing is deleted.
    """
    new = Marker(
        generation,
        frozenset(condemned),
        frozenset(cuts),
        user_at_host(),
        datetime.now(UTC).isoformat(timespec="seconds"),
    )
    doc: dict[str, Any] = {"version": 1, **new._fields()}
    if repo.signer is not None:
        doc["signature"] = {"public": repo.signer.public, "sig": repo.signer.sign(new.payload())}
    body = json.dumps(doc, indent=1, sort_keys=True).encode() + b"\n"
    mode = Update(current.version) if current.version is not None else CREATE
    try:
        version = repo.backend.put(layout.gc_marker_key(), body, mode)
    except (AlreadyExists, PreconditionFailed):
        raise GcRaced(
            f"{layout.gc_marker_key()} changed under this gc (another gc ran); nothing was deleted"
        ) from None
    return Marker(new.generation, new.condemned, new.cuts, new.updated_by, new.updated_at, version)


def confirm(repo: Repo, snapshot: str, chunk_ids: set[str], seen: int | None) -> None:
    """Check, just before a ref moves to ``snapshot``, that no gc removed what it needs.

    ``seen`` is the generation read before the writer listed the packs it
    reused (None: it did not list any). Raises :class:`GcRaced` if the
    manifest or a chunk is gone or condemned.
    """
    marker = read_marker(repo)
    if marker.generation == (seen if seen is not None else 0):
        return
    from statesync.sync.store.chunkindex import load_index

    try:
        repo.backend.head(layout.snapshot_key(snapshot))
    except NotFound:
        raise GcRaced(
            f"snapshot {snapshot[:12]} was removed by a concurrent gc before its "
            "ref moved; nothing was changed, run it again"
        ) from None
    if not chunk_ids:
        return
    index = load_index(repo, skip_packs=marker.condemned)
    gone = [c for c in chunk_ids if c not in index]
    if gone:
        raise GcRaced(
            f"a concurrent gc removed {len(gone)} chunk(s) this write reused "
            f"(gc generation {marker.generation}); nothing was changed, run it again"
        )
