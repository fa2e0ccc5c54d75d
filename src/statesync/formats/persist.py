"""Persist snapshots (``.json.gz``), read and written as persist-core does.

A file is gzip of the compact JSON ``{"metadata": {...}, "agent_state": ...}``.
``content_hash`` is the lowercase hex SHA-256 of
``serde_json::to_string(&agent_state)``: compact, keys sorted (serde_json's
map is a BTreeMap), non-ASCII as UTF-8, floats as Rust's ryu prints them
(``1e20``, ``1.5e-7``, ``100.0``). ``uncompressed_size`` is that text's length
in bytes; ``compressed_size`` is null in the file, because persist-core
serialises the container before it compresses it.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import uuid
import zlib
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from statesync.errors import BundleError, IntegrityError

FORMAT_VERSION = 1
_MAX_INFLATED = 1 << 31
_I64_MIN, _U64_MAX = -(1 << 63), (1 << 64) - 1
_STR_FIELDS = (
    "agent_id",
    "session_id",
    "timestamp",
    "content_hash",
    "snapshot_id",
    "compression_algorithm",
)


@dataclass(frozen=True)
class PersistMetadata:
    """persist-core's ``SnapshotMetadata`` (field order is the file's)."""

    agent_id: str
    session_id: str
    snapshot_index: int
    timestamp: str
    content_hash: str
    format_version: int
    snapshot_id: str
    description: str | None
    uncompressed_size: int
    compressed_size: int | None
    compression_algorithm: str


@dataclass(frozen=True)
class PersistSnapshot:
    metadata: PersistMetadata
    agent_state: Any


# --- serde_json's compact form -------------------------------------------------------


def ryu(value: float) -> str:
    """``value`` as Rust's ryu (serde_json) prints a finite f64."""
    if value == 0:
        return "-0.0" if str(value).startswith("-") else "0.0"
    sign, digits, exp = Decimal(repr(value)).normalize().as_tuple()
    text = "".join(map(str, digits))
    point = len(text) + int(exp)  # where the decimal point falls, from the left
    out = _ryu_digits(text, point)
    return "-" + out if sign else out


def _ryu_digits(text: str, point: int) -> str:
    n = len(text)
    if n <= point <= 16:
        return text + "0" * (point - n) + ".0"
    if 0 < point <= 16:
        return f"{text[:point]}.{text[point:]}"
    if -5 < point <= 0:
        return "0." + "0" * -point + text
    mantissa = text if n == 1 else f"{text[0]}.{text[1:]}"
    return f"{mantissa}e{point - 1}"


def compact(value: Any) -> str:
    """``serde_json::to_string`` of the ``serde_json::Value`` that ``value`` parses into."""
    if isinstance(value, dict):
        return "{" + ",".join(f"{_str(k)}:{compact(value[k])}" for k in sorted(value)) + "}"
    if isinstance(value, list):
        return "[" + ",".join(compact(v) for v in value) + "]"
    if isinstance(value, bool) or value is None:
        return json.dumps(value)
    if isinstance(value, int):  # serde_json holds integers beyond i64/u64 as f64
        return str(value) if _I64_MIN <= value <= _U64_MAX else ryu(float(value))
    if isinstance(value, float):
        return ryu(value)
    return _str(value)


def _str(text: str) -> str:
    return json.dumps(text, ensure_ascii=False)


def content_hash(agent_state: Any) -> tuple[str, int]:
    """(content_hash, uncompressed_size) exactly as persist-core computes them."""
    body = compact(agent_state).encode()
    return hashlib.sha256(body).hexdigest(), len(body)


# --- reading ------------------------------------------------------------------------


def _inflate(raw: bytes, where: str) -> bytes:
    try:
        d = zlib.decompressobj(16 + zlib.MAX_WBITS)
        out = d.decompress(raw, _MAX_INFLATED)
    except zlib.error:
        raise BundleError(f"{where}: not a valid gzip file (truncated or damaged)") from None
    if d.unconsumed_tail or not d.eof:
        raise BundleError(f"{where}: gzip data is truncated or too large")
    return out


def read(raw: bytes, where: str) -> PersistSnapshot:
    """Parse and verify a Persist ``.json.gz``; the content hash must match exactly.

    Raises :class:`BundleError` (malformed) or :class:`IntegrityError` (hash mismatch).
    """
    body = _inflate(raw, where) if is_gzip(raw) else raw  # NoCompression writes plain JSON
    try:
        doc = json.loads(body, parse_constant=_no_constant)
    except (ValueError, UnicodeDecodeError):
        raise BundleError(f"{where}: not a Persist snapshot (invalid JSON inside)") from None
    try:  # a lone surrogate ("\\ud800") parses but cannot be hashed or stored as UTF-8
        json.dumps(doc, ensure_ascii=False).encode("utf-8")
    except UnicodeEncodeError:
        raise BundleError(f"{where}: a string is not valid Unicode (a lone surrogate)") from None
    meta = _metadata(doc, where)
    got, _size = content_hash(doc["agent_state"])
    if got != meta.content_hash:
        raise IntegrityError(
            f"{where}: content_hash does not match agent_state "
            f"(expected {meta.content_hash[:16]}…, got {got[:16]}…): tampered"
        )
    return PersistSnapshot(meta, doc["agent_state"])


def _no_constant(name: str) -> Any:
    raise ValueError(name)


def _metadata(doc: Any, where: str) -> PersistMetadata:
    if (
        not isinstance(doc, dict)
        or not isinstance(doc.get("metadata"), dict)
        or "agent_state" not in doc
    ):
        raise BundleError(f"{where}: not a Persist snapshot (needs metadata and agent_state)")
    m = doc["metadata"]
    for key in _STR_FIELDS:
        if not isinstance(m.get(key), str):
            raise BundleError(f"{where}: metadata.{key} must be a string")
    for key in ("snapshot_index", "format_version", "uncompressed_size"):
        if type(m.get(key)) is not int or m[key] < 0:
            raise BundleError(f"{where}: metadata.{key} must be an unsigned integer")
    if not isinstance(m.get("description"), (str, type(None))):
        raise BundleError(f"{where}: metadata.description must be null or a string")
    size = m.get("compressed_size")
    if size is not None and (type(size) is not int or size < 0):
        raise BundleError(f"{where}: metadata.compressed_size must be null or an unsigned integer")
    if m["format_version"] > FORMAT_VERSION:
        raise BundleError(f"{where}: incompatible snapshot format version {m['format_version']}")
    if not (m["agent_id"] and m["session_id"] and m["snapshot_id"]):
        raise BundleError(f"{where}: agent_id, session_id and snapshot_id cannot be empty")
    return PersistMetadata(**{k: m.get(k) for k in PersistMetadata.__dataclass_fields__})


# --- writing ------------------------------------------------------------------------


def build(
    agent_state: Any,
    *,
    agent_id: str,
    session_id: str,
    snapshot_index: int,
    timestamp: str,
    description: str | None,
    snapshot_id: str | None = None,
) -> bytes:
    """A Persist ``.json.gz`` for ``agent_state`` (gzip, deterministic: no name, mtime 0)."""
    digest, size = content_hash(agent_state)
    meta = PersistMetadata(
        agent_id,
        session_id,
        snapshot_index,
        timestamp,
        digest,
        FORMAT_VERSION,
        snapshot_id or str(uuid.uuid4()),
        description,
        size,
        None,
        "gzip",
    )
    fields = ",".join(f"{_str(k)}:{compact(v)}" for k, v in meta.__dict__.items())
    body = '{"metadata":{' + fields + '},"agent_state":' + compact(agent_state) + "}"
    return gzip.compress(body.encode(), mtime=0)


def is_gzip(head: bytes) -> bool:
    return head[:2] == b"\x1f\x8b"
