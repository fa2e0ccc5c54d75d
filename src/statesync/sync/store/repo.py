"""A store opened for use: its backend plus its verified descriptor.

The descriptor (``statesync.json``) is written once, create-only, by ``init``.
It names the format version, the store id, and the chunking parameters that
every writer must share for deduplication to work.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from statesync.backends.base import CREATE, Backend
from statesync.errors import (
    AlreadyExists,
    IntegrityError,
    NotFound,
    StoreExists,
    StoreNotInitialised,
)
from statesync.sync.store import fields, layout
from statesync.sync.store.sealing import KeyLookup, no_keys

if TYPE_CHECKING:
    from statesync.crypto.signing import Signer
    from statesync.crypto.trust import TrustPolicy

FORMAT = "statesync-store"
FORMAT_VERSION = 1

CHUNK_MIN, CHUNK_AVG, CHUNK_MAX = 256 * 1024, 1024 * 1024, 4 * 1024 * 1024
DEFAULT_PACK_SIZE = 16 * 1024 * 1024
#: What FastCDC 2020 (pyfastcdc) accepts for min, average and max chunk sizes.
CHUNK_MIN_RANGE, CHUNK_AVG_RANGE, CHUNK_MAX_RANGE = (64, 1 << 20), (256, 4 << 20), (1024, 16 << 20)
MAX_PACK_SIZE = 1 << 32


@dataclass(frozen=True)
class Descriptor:
    """The immutable facts of a store."""

    store_id: str
    created_at: str
    chunk_min: int
    chunk_avg: int
    chunk_max: int
    pack_size: int

    def to_json(self) -> dict[str, Any]:
        return {
            "format": FORMAT,
            "version": FORMAT_VERSION,
            "store_id": self.store_id,
            "created_at": self.created_at,
            "hash": "sha256",
            "compression": "zstd",
            "chunking": {
                "algorithm": "fastcdc-2020",
                "min": self.chunk_min,
                "avg": self.chunk_avg,
                "max": self.chunk_max,
            },
            "pack_size": self.pack_size,
        }

    @classmethod
    def from_json(cls, doc: Any) -> Descriptor:
        """Parse a descriptor; :class:`IntegrityError` if it is not one we can use.

        Every field is checked by type and range (the chunking parameters
        within what FastCDC 2020 accepts), so a writer cannot make readers crash.
        """
        where = layout.DESCRIPTOR
        doc = fields.mapping(doc, where, "descriptor")
        if doc.get("format") != FORMAT:
            raise IntegrityError(f"{where}: not a statesync store descriptor")
        if doc.get("version") != FORMAT_VERSION:
            raise IntegrityError(
                f"{where}: store format version {doc.get('version')!r} is not "
                f"supported by this statesync (supports {FORMAT_VERSION})"
            )
        ch = fields.mapping(doc.get("chunking"), where, "chunking")
        lo = fields.integer(ch.get("min"), where, "chunking.min", *CHUNK_MIN_RANGE)
        avg = fields.integer(
            ch.get("avg"), where, "chunking.avg", max(lo, CHUNK_AVG_RANGE[0]), CHUNK_AVG_RANGE[1]
        )
        hi = fields.integer(
            ch.get("max"), where, "chunking.max", max(avg, CHUNK_MAX_RANGE[0]), CHUNK_MAX_RANGE[1]
        )
        store_id = fields.text(doc.get("store_id"), where, "store_id", empty=False)
        if not layout.is_store_id(store_id):
            raise IntegrityError(f"{where}: malformed store id")
        return cls(
            store_id,
            fields.text(doc.get("created_at"), where, "created_at"),
            lo,
            avg,
            hi,
            fields.integer(doc.get("pack_size"), where, "pack_size", 1, MAX_PACK_SIZE),
        )


@dataclass
class Repo:
    """A backend whose descriptor has been read and checked.

    ``keys`` resolves an environment's data keys (the API wires it to the
    user's identities); ``signer`` signs refs when a signing key is configured;
    ``trust`` is the local trust policy checked on every ref read.
    """

    backend: Backend
    descriptor: Descriptor
    keys: KeyLookup = no_keys
    signer: Signer | None = None
    trust: TrustPolicy | None = None

    @property
    def store_id(self) -> str:
        return self.descriptor.store_id


def init_repo(backend: Backend) -> Repo:
    """Create a new store; :class:`StoreExists` if one is already there."""
    desc = Descriptor(
        store_id=uuid.uuid4().hex,
        created_at=datetime.now(UTC).isoformat(timespec="seconds"),
        chunk_min=CHUNK_MIN,
        chunk_avg=CHUNK_AVG,
        chunk_max=CHUNK_MAX,
        pack_size=DEFAULT_PACK_SIZE,
    )
    body = json.dumps(desc.to_json(), indent=2).encode() + b"\n"
    try:
        backend.put(layout.DESCRIPTOR, body, CREATE)
    except AlreadyExists:
        raise StoreExists(f"a store already exists at {backend.url}") from None
    return Repo(backend, desc)


def open_repo(backend: Backend) -> Repo:
    """Open an existing store; :class:`StoreNotInitialised` if it has no descriptor."""
    try:
        body, _ = backend.get(layout.DESCRIPTOR)
    except NotFound:
        raise StoreNotInitialised(
            f"no statesync store at {backend.url} (run 'statesync init' first)"
        ) from None
    try:
        doc = json.loads(body)
    except ValueError:
        raise IntegrityError(f"{layout.DESCRIPTOR}: malformed store descriptor") from None
    return Repo(backend, Descriptor.from_json(doc))
