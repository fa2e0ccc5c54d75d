"""Passphrase recipients: ``passphrase[:label]`` (Argon2id, then AES-256-GCM).

The key-encryption key is Argon2id(passphrase, salt) with RFC 9106's second
recommended parameters by default (64 MiB, 3 passes, 4 lanes); the salt (16
random bytes, new for every stanza) and the parameters are stored in the
stanza. Reading a stanza refuses parameters beyond sane limits, so a store
cannot make a reader allocate unbounded memory.

The passphrase comes from, in order: ``STATESYNC_PASSPHRASE_<LABEL>``,
``STATESYNC_PASSPHRASE``, ``STATESYNC_PASSPHRASE_<LABEL>_FILE``,
``STATESYNC_PASSPHRASE_FILE`` (one trailing newline stripped),
``STATESYNC_PASSPHRASE_<LABEL>_COMMAND``, ``STATESYNC_PASSPHRASE_COMMAND``
(its stdout: :mod:`.passphrase_command`), and only when stdin is a terminal,
an interactive prompt. It is read once per process. (A label named ``file``
or ``command`` has no variable of its own: those names are the generic ones.)
"""

from __future__ import annotations

import base64
import getpass
import os
import re
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.kdf.argon2 import Argon2id

from statesync.crypto import aead
from statesync.crypto.providers.base import Provider, Stanza, WrapContext, b64param
from statesync.errors import IntegrityError, KeyFailure, UsageError

TYPE = "passphrase"
SALT_SIZE = 16
_LABEL_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$")


@dataclass(frozen=True)
class KdfParams:
    """Argon2id cost parameters (memory in KiB)."""

    memory_kib: int = 64 * 1024
    iterations: int = 3
    lanes: int = 4

    def to_json(self, salt: bytes) -> dict[str, Any]:
        return {
            "kdf": "argon2id",
            "salt": base64.b64encode(salt).decode(),
            "memory_kib": self.memory_kib,
            "iterations": self.iterations,
            "lanes": self.lanes,
        }

    @classmethod
    def from_stanza(cls, stanza: Stanza) -> KdfParams:
        """The stanza's parameters, within limits; :class:`KeyFailure` otherwise."""
        p = stanza.params
        try:
            values = [p[name] for name in ("memory_kib", "iterations", "lanes")]
            if p.get("kdf") != "argon2id" or any(type(v) is not int for v in values):
                raise ValueError
            params = cls(*values)
        except (KeyError, TypeError, ValueError):
            raise KeyFailure(f"{stanza.id}: unknown or malformed KDF parameters") from None
        if not (
            8 * params.lanes <= params.memory_kib <= MAX.memory_kib
            and 1 <= params.iterations <= MAX.iterations
            and 1 <= params.lanes <= MAX.lanes
        ):
            raise KeyFailure(f"{stanza.id}: KDF parameters out of bounds")
        return params


DEFAULT = KdfParams()
#: The most a stanza may ask a reader to spend (2 GiB, 64 passes, 16 lanes).
MAX = KdfParams(2 * 1024 * 1024, 64, 16)


_GENERIC = ("STATESYNC_PASSPHRASE_FILE", "STATESYNC_PASSPHRASE_COMMAND")


def env_name(label: str) -> str:
    """``STATESYNC_PASSPHRASE_<LABEL>``: the label upper-cased, other characters as ``_``."""
    return "STATESYNC_PASSPHRASE_" + re.sub(r"[^A-Z0-9]", "_", label.upper())


def _read_file(path: str) -> str:
    try:
        text = Path(path).read_text()
    except OSError as exc:
        raise KeyFailure(f"cannot read passphrase file {path}: {exc.strerror or exc}") from None
    return text[:-2] if text.endswith("\r\n") else text.removesuffix("\n")


def read_passphrase(label: str, confirm: bool = False) -> str | None:
    """The passphrase for ``label`` from the environment, a file, or a prompt; else ``None``."""
    own = env_name(label)
    for var in (own, "STATESYNC_PASSPHRASE"):
        if os.environ.get(var) and var not in _GENERIC:
            return os.environ[var]
    for var in (own + "_FILE", "STATESYNC_PASSPHRASE_FILE"):
        if os.environ.get(var):
            return _read_file(os.environ[var])
    for var in (own + "_COMMAND", "STATESYNC_PASSPHRASE_COMMAND"):
        if os.environ.get(var):
            from statesync.crypto.providers.passphrase_command import run_passphrase_command

            return run_passphrase_command(os.environ[var])
    if not sys.stdin.isatty():
        return None
    first = getpass.getpass(f"statesync passphrase ({label}): ")
    if confirm and getpass.getpass(f"repeat passphrase ({label}): ") != first:
        raise KeyFailure("the passphrases did not match")
    return first


class PassphraseProvider(Provider):
    """``passphrase:<label>``: a data key wrapped under an Argon2id-derived key."""

    type = TYPE

    def __init__(
        self,
        label: str = "default",
        params: KdfParams = DEFAULT,
        source: Callable[[str, bool], str | None] = read_passphrase,
    ) -> None:
        if not _LABEL_RE.match(label):
            raise UsageError(f"invalid passphrase label {label!r}: letters, digits, '.', '_', '-'")
        self.label = label
        self.params = params
        self._source = source
        self._passphrase: str | None = None
        self._keks: dict[tuple[bytes, KdfParams], bytes] = {}

    def stanza_id(self) -> str:
        return f"{TYPE}:{self.label}"

    def known_id(self) -> str:
        return self.stanza_id()

    def describe(self) -> str:
        return self.stanza_id()

    def _secret(self, confirm: bool) -> bytes:
        if self._passphrase is None:
            self._passphrase = self._source(self.label, confirm)
        if not self._passphrase:
            raise KeyFailure(
                f"{self.describe()}: no passphrase given (set STATESYNC_PASSPHRASE, "
                "STATESYNC_PASSPHRASE_FILE or STATESYNC_PASSPHRASE_COMMAND, or run at a terminal)"
            )
        return self._passphrase.encode()

    def _kek(self, salt: bytes, params: KdfParams, confirm: bool = False) -> bytes:
        secret = self._secret(confirm)
        if (salt, params) not in self._keks:
            self._keks[salt, params] = Argon2id(
                salt=salt,
                length=aead.KEY_SIZE,
                iterations=params.iterations,
                lanes=params.lanes,
                memory_cost=params.memory_kib,
            ).derive(secret)
        return self._keks[salt, params]

    def wrap(self, key: bytes, ctx: WrapContext) -> Stanza:
        salt = os.urandom(SALT_SIZE)
        kek = self._kek(salt, self.params, confirm=True)
        return Stanza(ctx.stanza_id, TYPE, aead.seal(kek, key, ctx.aad), self.params.to_json(salt))

    def unwrap(self, stanza: Stanza, ctx: WrapContext) -> bytes | None:
        if stanza.type != TYPE:
            return None
        salt = b64param(stanza, "salt")
        if len(salt) < 8:  # the KDFs refuse shorter salts; this stanza was altered
            raise KeyFailure(f"{stanza.id}: stanza parameter 'salt' is missing or malformed")
        kek = self._kek(salt, KdfParams.from_stanza(stanza))
        try:
            return aead.open_sealed(kek, stanza.wrapped, ctx.aad, stanza.id)
        except IntegrityError:
            raise KeyFailure(f"{stanza.id}: wrong passphrase (or the stanza was altered)") from None

    def carry(self, stanza: Stanza) -> Provider | None:
        """The same passphrase under ``stanza``'s label (call after a successful unwrap)."""
        if stanza.type != TYPE or self._passphrase is None:
            return None
        secret = self._passphrase
        return PassphraseProvider(
            stanza.id.partition(":")[2] or "default", self.params, lambda _label, _confirm: secret
        )
