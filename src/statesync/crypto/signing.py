"""Ed25519 signatures of what statesync writes (manifest ids, ref records).

A signing key is a PKCS#8 PEM file without password, mode 0600, at
``$STATESYNC_SIGNING_KEY`` or ``$XDG_CONFIG_HOME/statesync/signing.key``.
Public keys are written ``ed25519:<base64 of the 32 raw bytes>``; signatures
are the base64 of the 64 raw bytes. Whether a signer is *trusted* is the
local trust policy's business (:mod:`statesync.crypto.trust`), not this module's.
"""

from __future__ import annotations

import base64
import binascii
import os
from dataclasses import dataclass
from pathlib import Path

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from statesync.crypto.userfiles import mode_of
from statesync.errors import KeyFailure, UsageError
from statesync.fsutil import write_atomic
from statesync.paths import config_dir

PREFIX = "ed25519:"
_RAW = serialization.Encoding.Raw, serialization.PublicFormat.Raw


def default_key_path() -> Path:
    """``$STATESYNC_SIGNING_KEY``, else ``$XDG_CONFIG_HOME/statesync/signing.key``."""
    env = os.environ.get("STATESYNC_SIGNING_KEY")
    return Path(env).expanduser() if env else config_dir() / "signing.key"


def public_text(key: Ed25519PublicKey) -> str:
    """``ed25519:<base64>`` for a public key."""
    return PREFIX + base64.b64encode(key.public_bytes(*_RAW)).decode()


def parse_public(text: str) -> Ed25519PublicKey:
    """The key named by ``ed25519:<base64>``; :class:`UsageError` if malformed."""
    try:
        if not text.startswith(PREFIX):
            raise ValueError
        raw = base64.b64decode(text[len(PREFIX) :], validate=True)
        return Ed25519PublicKey.from_public_bytes(raw)
    except (ValueError, binascii.Error):
        raise UsageError(
            f"not an Ed25519 public key (want ed25519:<base64>): {text[:60]!r}"
        ) from None


def normalise_public(text: str) -> str:
    """The canonical text of a public key (so equal keys compare equal as strings)."""
    return public_text(parse_public(text.strip()))


@dataclass(frozen=True)
class Signer:
    """A loaded signing key."""

    private: Ed25519PrivateKey
    path: Path

    @property
    def public(self) -> str:
        return public_text(self.private.public_key())

    def sign(self, data: bytes) -> str:
        """The base64 Ed25519 signature of ``data``."""
        return base64.b64encode(self.private.sign(data)).decode()


def generate(path: Path | None = None) -> str:
    """Write a new signing key to ``path`` (default: :func:`default_key_path`), mode 0600.

    Never replaces an existing key (:class:`UsageError`). Returns the public key text.
    """
    path = path or default_key_path()
    key = Ed25519PrivateKey.generate()
    pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    try:
        write_atomic(path, pem, exclusive=True, make_parents=True)
    except FileExistsError:
        raise UsageError(f"{path} already exists; refusing to replace a signing key") from None
    return public_text(key.public_key())


def load_signer(path: Path | None = None) -> Signer:
    """Load a signing key; :class:`KeyFailure` if missing, unreadable, too open or not Ed25519."""
    path = path or default_key_path()
    try:
        mode = mode_of(path)
        pem = path.read_bytes()
    except OSError as exc:
        raise KeyFailure(f"signing key {path}: {exc.strerror or exc}") from None
    if mode & 0o077:
        raise KeyFailure(
            f"signing key {path}: permissions {mode:04o} are too open (run: chmod 600 {path})"
        )
    try:
        key = serialization.load_pem_private_key(pem, password=None)
    except (ValueError, TypeError):
        raise KeyFailure(f"signing key {path}: not an unencrypted PEM private key") from None
    if not isinstance(key, Ed25519PrivateKey):
        raise KeyFailure(f"signing key {path}: not an Ed25519 key")
    return Signer(key, path)


def default_signer() -> Signer | None:
    """The configured signing key, or ``None`` when there is none at the default path.

    A key named by ``STATESYNC_SIGNING_KEY`` must exist (:class:`KeyFailure`).
    """
    path = default_key_path()
    if not os.environ.get("STATESYNC_SIGNING_KEY") and not path.exists():
        return None
    return load_signer(path)


def sign(data: bytes, path: Path | None = None) -> str:
    """Sign ``data`` with the key at ``path`` (default: :func:`default_key_path`)."""
    return load_signer(path).sign(data)


def verify(public: str, data: bytes, sig: str) -> bool:
    """True only if ``sig`` is ``public``'s valid signature of ``data`` (malformed: False)."""
    try:
        key = parse_public(public)
        key.verify(base64.b64decode(sig, validate=True), data)
    except (UsageError, ValueError, binascii.Error, InvalidSignature):
        return False
    return True
