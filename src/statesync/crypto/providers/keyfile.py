"""Key-file recipients: ``keyfile:/path`` (a local random 32-byte key).

``statesync keys keyfile new PATH`` writes a fresh key, base64 on one line,
to a new file created with mode 0600 (never over an existing file). A key
file readable or writable by group or others is refused: the key protects
every secret of the environments it is a recipient of.

The stanza id is ``keyfile:<fingerprint>``, where the fingerprint is an HKDF
subkey of the key (public, reveals nothing): moving or renaming the file
changes nothing. The data key is sealed with AES-256-GCM under another HKDF
subkey, bound to the stanza's :class:`WrapContext`.
"""

from __future__ import annotations

import base64
import binascii
import os
import stat
from pathlib import Path

from statesync.crypto import aead
from statesync.crypto.providers.base import Provider, Stanza, WrapContext
from statesync.errors import IntegrityError, KeyFailure, UsageError
from statesync.fsutil import write_atomic

TYPE = "keyfile"


def fingerprint(key: bytes) -> str:
    """The public fingerprint of a key file's key (32 hex digits)."""
    return aead.derive(key, "statesync keyfile-id", 16).hex()


def new_keyfile(path: Path) -> str:
    """Create a key file at ``path`` (0600, must not exist); return its stanza id.

    Raises :class:`UsageError` if the file exists.
    """
    key = os.urandom(aead.KEY_SIZE)
    try:
        write_atomic(path, base64.b64encode(key) + b"\n", exclusive=True, make_parents=True)
    except FileExistsError:
        raise UsageError(f"{path} already exists; refusing to overwrite a key file") from None
    return f"{TYPE}:{fingerprint(key)}"


def load_keyfile(path: Path) -> bytes:
    """The 32-byte key in ``path``. Raises :class:`KeyFailure` if absent, malformed or too open."""
    try:
        with path.open("rb") as f:
            mode = os.fstat(f.fileno()).st_mode
            raw = f.read(1024)
    except OSError as exc:
        raise KeyFailure(f"keyfile {path}: {exc.strerror or exc}") from None
    if mode & 0o077:
        raise KeyFailure(
            f"keyfile {path}: permissions {stat.S_IMODE(mode):04o} are too open "
            f"(run: chmod 600 {path})"
        )
    if len(raw) == aead.KEY_SIZE:
        return raw
    try:
        key = base64.b64decode(raw.strip(), validate=True)
    except (binascii.Error, ValueError):
        key = b""
    if len(key) != aead.KEY_SIZE:
        raise KeyFailure(f"keyfile {path}: not a statesync key file (32 bytes, or base64 of them)")
    return key


class KeyfileProvider(Provider):
    """A recipient/identity backed by a local key file (read lazily, on first use)."""

    type = TYPE

    def __init__(self, path: Path) -> None:
        self.path = path
        self._key: bytes | None = None

    def _load(self) -> bytes:
        if self._key is None:
            self._key = load_keyfile(self.path)
        return self._key

    def stanza_id(self) -> str:
        return f"{TYPE}:{fingerprint(self._load())}"

    def known_id(self) -> str | None:
        try:
            return self.stanza_id()
        except KeyFailure:
            return None

    def describe(self) -> str:
        return f"{TYPE}:{self.path}"

    def wrap(self, key: bytes, ctx: WrapContext) -> Stanza:
        kek = aead.derive(self._load(), "statesync keyfile-wrap")
        return Stanza(
            ctx.stanza_id,
            TYPE,
            aead.seal(kek, key, ctx.aad),
            {"fingerprint": fingerprint(self._load())},
        )

    def unwrap(self, stanza: Stanza, ctx: WrapContext) -> bytes | None:
        if stanza.type != TYPE or stanza.id != self.stanza_id():
            return None
        kek = aead.derive(self._load(), "statesync keyfile-wrap")
        try:
            return aead.open_sealed(kek, stanza.wrapped, ctx.aad, stanza.id)
        except IntegrityError:
            # Our key and our fingerprint, yet the seal fails: altered or moved.
            raise IntegrityError(
                f"{stanza.id}: wrapped key failed authentication (the keyring was altered or moved)"
            ) from None
