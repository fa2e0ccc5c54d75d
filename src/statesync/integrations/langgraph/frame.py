"""The stored form of one LangGraph object (head, checkpoint, write batch).

``MAGIC | generation (4 bytes, 0 = plaintext) | SHA-256 of payload | payload``.
The payload is a zstd frame of a msgpack record (:mod:`statesync.sync.store.codec`),
or, for an encrypted thread, that frame padded to a size bucket and sealed with
AES-256-GCM under a subkey of the environment's data key, with the store id,
environment and the object's own key in the associated data: a sealed object
moved to another key, thread or store does not open. Every read checks the
digest first (damage is an :class:`IntegrityError`, never a wrong checkpoint).
"""

from __future__ import annotations

import threading
from typing import Any

import ormsgpack
import zstandard

from statesync.crypto import aead
from statesync.errors import IntegrityError
from statesync.sync.store import codec, sealing

MAGIC = b"statesync-langgraph-v1\n"
_DIGEST = 32
_HEADER = len(MAGIC) + 4 + _DIGEST
#: The largest record a reader inflates (a checkpoint holds the graph's whole state).
MAX_RECORD = 256 * 1024 * 1024
_LABEL = "statesync langgraph"


class Sealer:
    """Seals and opens frames for one store and environment (thread-safe).

    ``keys`` resolves the environment's data key (``None`` generation: newest);
    it raises :class:`KeyFailure` when no identity can unwrap it. Keys are
    unwrapped once per generation and kept (a passphrase costs a slow KDF);
    the generation for writing is the newest when first needed.
    """

    def __init__(self, store_id: str, env: str, keys: sealing.KeyLookup) -> None:
        self.store_id, self.env, self._lookup = store_id, env, keys
        self._keys: dict[int | None, sealing.EnvKeys] = {}
        self._lock = threading.Lock()

    def keys(self, generation: int | None) -> sealing.EnvKeys:
        with self._lock:  # one unwrap, not one per thread racing for it
            if generation not in self._keys:
                found = self._lookup(self.env, generation)
                self._keys[generation] = self._keys[found.generation] = found
            return self._keys[generation]

    def _ad(self, key: str) -> bytes:
        return aead.aad(self.store_id, self.env, "langgraph", key)

    def _subkey(self, keys: sealing.EnvKeys) -> bytes:
        return aead.derive(keys.data_key, _LABEL)

    def encode(self, key: str, record: dict[str, Any], *, encrypt: bool) -> bytes:
        """The stored bytes of ``record`` at ``key`` (sealed when ``encrypt``)."""
        body = codec.seal_blob(ormsgpack.packb(record))
        generation = 0
        if encrypt:
            keys = self.keys(None)
            generation = keys.generation
            body = aead.seal(self._subkey(keys), codec.pad(body), self._ad(key))
        digest = bytes.fromhex(codec.sha256_hex(body))
        return MAGIC + generation.to_bytes(4, "big") + digest + body

    def decode(self, key: str, data: bytes) -> tuple[dict[str, Any], bool]:
        """``(record, encrypted)`` of the bytes read at ``key``.

        Raises :class:`IntegrityError` for damaged, foreign or moved bytes and
        :class:`KeyFailure` when a sealed object's key cannot be had.
        """
        if len(data) < _HEADER or not data.startswith(MAGIC):
            raise IntegrityError(f"{key}: not a statesync LangGraph object")
        generation = int.from_bytes(data[len(MAGIC) : len(MAGIC) + 4], "big")
        body = data[_HEADER:]
        if codec.sha256_hex(body) != data[len(MAGIC) + 4 : _HEADER].hex():
            raise IntegrityError(f"{key}: content does not match its digest (damaged)")
        if generation:
            keys = self.keys(generation)
            body = aead.open_sealed(self._subkey(keys), body, self._ad(key), key)
        return _unpack(key, body), bool(generation)


def _unpack(key: str, body: bytes) -> dict[str, Any]:
    try:
        record = ormsgpack.unpackb(bytes(codec.inflate(body, MAX_RECORD, key)))
    except (zstandard.ZstdError, ormsgpack.MsgpackDecodeError):
        raise IntegrityError(f"{key}: cannot be decoded (corrupt)") from None
    if not isinstance(record, dict):
        raise IntegrityError(f"{key}: not a LangGraph record")
    return record
