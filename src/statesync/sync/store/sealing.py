"""What the engine encrypts, and how: one environment's keys for one generation.

Every subkey is derived from the environment's data key with its own label.
Secret values and secret files are sealed *deterministically* (the nonce is
an HMAC of associated data and plaintext, as in SIV), so an unchanged secret
gives the same bytes at every push: documents still diff, dedupe and merge,
and equal ciphertexts reveal only "unchanged at this path". Chunks and
manifests under ``--encrypt all`` use random nonces; chunk ids are keyed
HMACs so equal names reveal nothing to the store. Associated data binds
store id, environment, path and JSON pointer (or chunk id): a ciphertext moved
anywhere else fails to open (exit 4).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from statesync.crypto import aead
from statesync.errors import IntegrityError, KeyFailure
from statesync.sync.store import codec

#: Stands in for a secret value in the store.
MARKER = "<statesync:secret>"
#: Prefix of a secret value sealed for the store (``--include-secrets``).
SEALED_PREFIX = "statesync:enc:v1:"
#: Every sealed value starts with this (``v1``: a JSON value, ``v2``: exact source bytes).
SEALED_FAMILY = "statesync:enc:"
VALUE_PREFIX = SEALED_PREFIX

#: Prefix of a value sealed from its exact source bytes (v1 sealed a JSON value).
BYTES_PREFIX = "statesync:enc:v2:"
#: The generation field of a sealed value string: 1 to 999999999, no leading zero.
_GENERATION = re.compile(r"[1-9][0-9]{0,8}")

MANIFEST_MAGIC = b"statesync-sealed-manifest-v1\n"
INDEX_MAGIC = b"statesync-sealed-index-v1\n"


@dataclass(frozen=True)
class EnvKeys:
    """Subkeys of one environment's data key (one generation)."""

    store_id: str
    env: str
    generation: int
    data_key: bytes
    #: Subkeys by label, derived on first use (one HKDF per label, not one per chunk).
    _subkeys: dict[str, bytes] = field(default_factory=dict, init=False, repr=False, compare=False)

    def _sub(self, label: str) -> bytes:
        key = self._subkeys.get(label)
        if key is None:
            key = self._subkeys[label] = aead.derive(self.data_key, f"statesync {label}")
        return key

    # --- secrets inside documents and secret files (deterministic) ----------

    def _seal_det(self, label: str, plaintext: bytes, ad: bytes) -> bytes:
        key = self._sub(label)
        nonce = hmac.new(self._sub(label + " siv"), ad + plaintext, hashlib.sha256).digest()[:12]
        header = bytes([aead.VERSION])
        return header + nonce + AESGCM(key).encrypt(nonce, plaintext, header + ad)

    def seal_value(self, path: str, pointer: str, value: Any) -> str:
        """A secret JSON value as an opaque string bound to this store/env/path/pointer."""
        ad = aead.aad(self.store_id, self.env, path, pointer)
        blob = self._seal_det("value", json.dumps(value, sort_keys=True).encode(), ad)
        return f"{VALUE_PREFIX}{self.generation}:{base64.b64encode(blob).decode()}"

    def open_value(self, path: str, pointer: str, sealed: str) -> Any:
        """Inverse of :meth:`seal_value`; :class:`IntegrityError` if moved or damaged."""
        return json.loads(self._open_det("value", path, pointer, sealed))

    def seal_bytes(self, path: str, pointer: str, raw: bytes) -> str:
        """A secret value's exact source text, sealed as a ``v2`` string for that place."""
        ad = aead.aad(self.store_id, self.env, path, pointer)
        blob = self._seal_det("value bytes", raw, ad)
        return f"{BYTES_PREFIX}{self.generation}:{base64.b64encode(blob).decode()}"

    def open_bytes(self, path: str, pointer: str, sealed: str) -> bytes:
        """The source text a sealed value stands for: exact for ``v2``, JSON text for ``v1``.

        Raises :class:`IntegrityError` if the value was moved or damaged.
        """
        if not sealed.startswith(BYTES_PREFIX):
            return json.dumps(self.open_value(path, pointer, sealed)).encode()
        return self._open_det("value bytes", path, pointer, sealed)

    def _open_det(self, label: str, path: str, pointer: str, sealed: str) -> bytes:
        """The plaintext of a sealed value string ``PREFIX:GEN:BASE64`` sealed under ``label``."""
        where = f"{path}#{pointer}"
        try:
            blob = base64.b64decode(sealed.split(":", 4)[4], validate=True)
        except (IndexError, ValueError, binascii.Error):
            raise IntegrityError(f"{where}: malformed encrypted value") from None
        ad = aead.aad(self.store_id, self.env, path, pointer)
        return aead.open_sealed(self._sub(label), blob, ad, where)

    def seal_file(self, path: str, data: bytes) -> bytes:
        """A secret file's content, bound to this store/env/path; starts with the generation."""
        sealed = self._seal_det("secret-file", data, aead.aad(self.store_id, self.env, path))
        return self.generation.to_bytes(4, "big") + sealed

    def open_file(self, path: str, blob: bytes) -> bytes:
        """Inverse of :meth:`seal_file` (use :func:`file_generation` to pick the keys)."""
        ad = aead.aad(self.store_id, self.env, path)
        return aead.open_sealed(self._sub("secret-file"), blob[4:], ad, path)

    # --- --encrypt all: chunks and manifests ---------------------------------

    def chunk_id(self, chunk: bytes | memoryview) -> str:
        """Keyed chunk name: equal names reveal nothing without the key."""
        return hmac.new(self._sub("chunk-id"), chunk, hashlib.sha256).hexdigest()

    def seal_chunk(self, chunk_id: str, stored: bytes) -> bytes:
        """A chunk's zstd frame, padded to a size bucket (:func:`codec.pad`), then sealed."""
        return aead.seal(self._sub("chunk"), codec.pad(stored), aead.aad(self.store_id, chunk_id))

    def open_chunk(self, chunk_id: str, blob: bytes, where: str) -> bytes:
        return aead.open_sealed(self._sub("chunk"), blob, aead.aad(self.store_id, chunk_id), where)

    def _header(self) -> bytes:
        return json.dumps({"env": self.env, "generation": self.generation}).encode() + b"\n"

    def seal_manifest(self, body: bytes) -> bytes:
        """A manifest's zstd body, padded to a size bucket (entry counts do not show), sealed."""
        ad = aead.aad(self.store_id, self.env, "manifest")
        return (
            MANIFEST_MAGIC + self._header() + aead.seal(self._sub("manifest"), codec.pad(body), ad)
        )

    def open_manifest(self, sealed: bytes, where: str) -> bytes:
        ciphertext = sealed[len(MANIFEST_MAGIC) :].split(b"\n", 1)[1]
        ad = aead.aad(self.store_id, self.env, "manifest")
        return aead.open_sealed(self._sub("manifest"), ciphertext, ad, where)

    def seal_index(self, body: bytes) -> bytes:
        """A pack index's zstd body, padded and sealed: rows, counts and sizes stay private."""
        ad = aead.aad(self.store_id, self.env, "index")
        return INDEX_MAGIC + self._header() + aead.seal(self._sub("index"), codec.pad(body), ad)

    def open_index(self, sealed: bytes, where: str) -> bytes:
        """Inverse of :meth:`seal_index` (the zstd body); :class:`IntegrityError` if damaged."""
        ciphertext = sealed[len(INDEX_MAGIC) :].split(b"\n", 1)[-1]
        ad = aead.aad(self.store_id, self.env, "index")
        return aead.open_sealed(self._sub("index"), ciphertext, ad, where)


#: Resolves the keys of (env, generation); generation None means "newest, for writing".
KeyLookup = Callable[[str, int | None], EnvKeys]


def manifest_header(body: bytes, where: str) -> tuple[str, int] | None:
    """``(env, generation)`` of a sealed manifest, or None for a plain one."""
    return _sealed_header(body, MANIFEST_MAGIC, where)


def index_header(body: bytes, where: str) -> tuple[str, int] | None:
    """``(env, generation)`` of a sealed pack index, or None for a plain one."""
    return _sealed_header(body, INDEX_MAGIC, where)


def _sealed_header(body: bytes, magic: bytes, where: str) -> tuple[str, int] | None:
    if not body.startswith(magic):
        return None
    try:
        head = json.loads(body[len(magic) :].split(b"\n", 1)[0])
        env, gen = head["env"], head["generation"]
    except (ValueError, KeyError, TypeError, IndexError):
        raise IntegrityError(f"{where}: malformed encrypted header") from None
    if not isinstance(env, str) or type(gen) is not int or gen < 1:
        raise IntegrityError(f"{where}: malformed encrypted header")
    return env, gen


def file_generation(blob: bytes) -> int:
    """The key generation that sealed a secret file's stored bytes."""
    return int.from_bytes(blob[:4], "big")


def value_generation(sealed: str) -> int | None:
    """The key generation of a sealed value string, or None if it is not one.

    The generation is written as ASCII digits without a leading zero, at most
    nine of them, and is >= 1 (what :meth:`EnvKeys.seal_bytes` writes). Anything
    else (``0``, ``-1``, ``+3``, `` 3``, a non-ASCII digit, a 5000-digit number)
    is not a sealed value: such a string is kept as written, never taken to a
    key lookup (a generation below 1 has no keyring name).
    """
    if not isinstance(sealed, str):
        return None
    prefix = next((p for p in (VALUE_PREFIX, BYTES_PREFIX) if sealed.startswith(p)), None)
    if prefix is None:
        return None
    digits = sealed[len(prefix) :].split(":", 1)[0]
    if not _GENERATION.fullmatch(digits):
        return None
    return int(digits)


def no_keys(env: str, generation: int | None) -> EnvKeys:
    """The lookup used when no key service is configured."""
    raise KeyFailure(
        f"{env}: encrypted content needs a key, and no identity is configured "
        "(set STATESYNC_PASSPHRASE or [keys] recipients)"
    )
