"""AES-256-GCM with associated data, and HKDF subkeys with a domain label.

Every ciphertext names where it belongs in its associated data (store id,
environment, path, JSON pointer, ...), so a ciphertext moved to another
place, environment or store fails to open: an integrity fault (exit 4), never
a silent wrong answer. Every subkey is derived from its parent with its own
domain label, so a key made for one purpose is useless for another.

Sealed format (``seal``)::

    1 byte version (1) | 12 byte random nonce | ciphertext || 16 byte tag

The version byte is authenticated too (it is prefixed to the associated data).
"""

from __future__ import annotations

import os

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from statesync.errors import IntegrityError

VERSION = 1
KEY_SIZE = 32
NONCE_SIZE = 12
TAG_SIZE = 16
#: Bytes a sealed blob adds to its plaintext.
OVERHEAD = 1 + NONCE_SIZE + TAG_SIZE


def _check_key(key: bytes) -> None:
    if len(key) != KEY_SIZE:
        raise ValueError(f"AES-256-GCM needs a {KEY_SIZE}-byte key, got {len(key)} bytes")


def seal(key: bytes, plaintext: bytes, aad: bytes) -> bytes:
    """Encrypt and authenticate ``plaintext`` bound to ``aad`` under a 32-byte ``key``.

    A fresh random 96-bit nonce per call: safe for far more than the 2**32
    messages one key will ever seal here. Raises ``ValueError`` for a bad key.
    """
    _check_key(key)
    header = bytes([VERSION])
    nonce = os.urandom(NONCE_SIZE)
    return header + nonce + AESGCM(key).encrypt(nonce, plaintext, header + aad)


def open_sealed(key: bytes, blob: bytes, aad: bytes, where: str) -> bytes:
    """Decrypt a :func:`seal` blob; it must have been sealed with exactly ``aad``.

    Raises :class:`IntegrityError` ``"{where}: ..."`` when the blob is truncated,
    of an unknown version, flipped, moved (other ``aad``) or sealed under another
    key: GCM cannot tell these apart, and none of them may yield plaintext.
    """
    _check_key(key)
    if len(blob) < OVERHEAD:
        raise IntegrityError(f"{where}: encrypted data is truncated")
    if blob[0] != VERSION:
        raise IntegrityError(f"{where}: unknown encryption format version {blob[0]}")
    header, nonce, body = blob[:1], blob[1 : 1 + NONCE_SIZE], blob[1 + NONCE_SIZE :]
    try:
        return AESGCM(key).decrypt(nonce, body, header + aad)
    except InvalidTag:
        raise IntegrityError(
            f"{where}: encrypted data failed authentication (tampered, moved, or another key)"
        ) from None


def derive(key: bytes, label: str, length: int = KEY_SIZE) -> bytes:
    """HKDF-SHA256 subkey of ``key`` for one purpose, named by ``label``.

    Labels are fixed strings such as ``"statesync chunk-id"``, ``"statesync
    chunk"``, ``"statesync manifest"``, ``"statesync value"``: two labels never
    give related keys.
    """
    if not label:
        raise ValueError("derive needs a domain label")
    return HKDF(algorithm=hashes.SHA256(), length=length, salt=None, info=label.encode()).derive(
        key
    )


def aad(*parts: str) -> bytes:
    """Unambiguous associated data for ``parts`` (store id, env, path, pointer, ...).

    Each part is UTF-8 with a 4-byte big-endian length before it, and the count
    of parts comes first, so ``("ab", "c")`` and ``("a", "bc")`` differ.
    """
    out = bytearray(len(parts).to_bytes(4, "big"))
    for part in parts:
        raw = part.encode()
        out += len(raw).to_bytes(4, "big") + raw
    return bytes(out)
