"""The stored form of one LangGraph object (head, checkpoint, write set).

``MAGIC | generation (4 bytes, 0 = plaintext) | SHA-256 of payload (32)
| signature length (2) | signature | payload``.

The payload is a zstd frame of a msgpack record (:mod:`statesync.sync.store.codec`),
or, for an encrypted thread, that frame padded to a size bucket and sealed with
AES-256-GCM under a subkey of the environment's data key, with the store id,
environment and the object's *slot* (its key, less a checkpoint's content
address) in the associated data: a sealed object moved to another slot, thread
or store does not open.

The signature, when the writer has a signing key (``repo.signer``, as for refs
and keyrings), is ``"<ed25519:public> <base64 signature>"`` over the store id,
the slot, the generation and the payload's digest: an object moved to another
slot or store, or changed by one byte, no longer verifies. Every read checks
the digest, then the signature, then the local trust policy for the saver's
environment (``statesync keys trust ENV KEY --require-signed`` refuses unsigned
objects and other signers), before it opens anything: damage or tampering is an
:class:`IntegrityError`, never a wrong checkpoint.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Any

import ormsgpack
import zstandard

from statesync.crypto import aead, signing
from statesync.crypto.signing import Signer
from statesync.crypto.trust import TrustPolicy
from statesync.errors import IntegrityError
from statesync.sync.store import codec, sealing

MAGIC = b"statesync-langgraph-v2\n"
_DIGEST = 32
_FIXED = len(MAGIC) + 4 + _DIGEST + 2
#: The largest record a reader inflates (a checkpoint holds the graph's whole state).
MAX_RECORD = 256 * 1024 * 1024
_LABEL = "statesync langgraph"
_SIGNED = b"statesync-langgraph-v2 signature\n"


@dataclass(frozen=True)
class Opened:
    """An object read and verified: its record, whether it was sealed, who signed it."""

    record: dict[str, Any]
    encrypted: bool
    signer: str | None


class Sealer:
    """Encodes and verifies the objects of one store for one environment (thread-safe).

    ``keys`` resolves the environment's data key (``None`` generation: newest);
    it raises :class:`KeyFailure` when no identity can unwrap it. Keys are
    unwrapped once per generation and kept (a passphrase costs a slow KDF).
    ``signer`` signs every object written; ``trust`` is applied to every read.
    """

    def __init__(
        self,
        store_id: str,
        env: str,
        keys: sealing.KeyLookup,
        *,
        signer: Signer | None = None,
        trust: TrustPolicy | None = None,
    ) -> None:
        self.store_id, self.env, self._lookup = store_id, env, keys
        self.signer, self.trust = signer, trust
        self._keys: dict[int | None, sealing.EnvKeys] = {}
        self._lock = threading.Lock()
        self._may_write: str | None = None  # "" once judged allowed; else the refusal

    def keys(self, generation: int | None) -> sealing.EnvKeys:
        with self._lock:  # one unwrap, not one per thread racing for it
            if generation not in self._keys:
                found = self._lookup(self.env, generation)
                self._keys[generation] = self._keys[found.generation] = found
            return self._keys[generation]

    def _ad(self, slot: str) -> bytes:
        return aead.aad(self.store_id, self.env, "langgraph", slot)

    def _subkey(self, keys: sealing.EnvKeys) -> bytes:
        return aead.derive(keys.data_key, _LABEL)

    def _signed_bytes(self, slot: str, generation: bytes, digest: bytes) -> bytes:
        return b"".join((_SIGNED, self.store_id.encode(), b"\n", slot.encode(), b"\n")) + (
            generation + digest
        )

    def encode(self, slot: str, record: dict[str, Any], *, encrypt: bool) -> bytes:
        """The stored bytes of ``record`` at ``slot`` (sealed when ``encrypt``, signed
        when this user has a signing key)."""
        self._check_may_write(slot)
        body = codec.seal_blob(ormsgpack.packb(record))
        generation = 0
        if encrypt:
            keys = self.keys(None)
            generation = keys.generation
            body = aead.seal(self._subkey(keys), codec.pad(body), self._ad(slot))
        gen = generation.to_bytes(4, "big")
        digest = bytes.fromhex(codec.sha256_hex(body))
        sig = b""
        if self.signer is not None:
            text = self.signer.sign(self._signed_bytes(slot, gen, digest))
            sig = f"{self.signer.public} {text}".encode()
        return b"".join((MAGIC, gen, digest, len(sig).to_bytes(2, "big"), sig, body))

    def _check_may_write(self, slot: str) -> None:
        """Refuse to write what this user's own trust policy would refuse to read.

        (Judged once: the policy and the signing key do not change while a saver runs.)
        """
        if self._may_write is None:
            try:
                if self.trust is not None:
                    public = self.signer.public if self.signer else None
                    self.trust.check(self.store_id, self.env, public, slot)
                self._may_write = ""
            except IntegrityError as exc:
                self._may_write = str(exc)
        if self._may_write:
            raise IntegrityError(f"refusing to write: {self._may_write}")

    def decode(self, slot: str, data: bytes) -> Opened:
        """The verified record of the bytes read at ``slot``.

        Raises :class:`IntegrityError` for damaged, foreign, moved, forged or
        (by the local trust policy) refused bytes, and :class:`KeyFailure` when a
        sealed object's key cannot be had.
        """
        if len(data) < _FIXED or not data.startswith(MAGIC):
            raise IntegrityError(f"{slot}: not a statesync LangGraph object")
        at = len(MAGIC)
        gen, digest = data[at : at + 4], data[at + 4 : at + 4 + _DIGEST]
        siglen = int.from_bytes(data[_FIXED - 2 : _FIXED], "big")
        sig, body = data[_FIXED : _FIXED + siglen], data[_FIXED + siglen :]
        if len(sig) != siglen or codec.sha256_hex(body) != digest.hex():
            raise IntegrityError(f"{slot}: content does not match its digest (damaged)")
        signer = self._check_signature(slot, gen, digest, sig)
        generation = int.from_bytes(gen, "big")
        if generation:
            keys = self.keys(generation)
            body = aead.open_sealed(self._subkey(keys), body, self._ad(slot), slot)
        return Opened(_unpack(slot, body), bool(generation), signer)

    def _check_signature(self, slot: str, gen: bytes, digest: bytes, sig: bytes) -> str | None:
        """The verified signer (None: unsigned), accepted by the trust policy, or raise."""
        signer: str | None = None
        if sig:
            public, _, text = sig.decode("ascii", "replace").partition(" ")
            if not signing.verify(public, self._signed_bytes(slot, gen, digest), text):
                raise IntegrityError(f"{slot}: signature does not match (tampered or forged)")
            signer = public
        if self.trust is not None:
            self.trust.check(self.store_id, self.env, signer, slot)
        return signer


def _unpack(key: str, body: bytes) -> dict[str, Any]:
    try:
        record = ormsgpack.unpackb(bytes(codec.inflate(body, MAX_RECORD, key)))
    except (zstandard.ZstdError, ormsgpack.MsgpackDecodeError):
        raise IntegrityError(f"{key}: cannot be decoded (corrupt)") from None
    if not isinstance(record, dict):
        raise IntegrityError(f"{key}: not a LangGraph record")
    return record
