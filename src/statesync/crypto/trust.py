"""The local trust policy: which signing keys may write an environment.

Trust lives on the user's machine, never only in the store it protects
(ARCHITECTURE.md §7): ``$XDG_CONFIG_HOME/statesync/trust.json``, mode 0600::

    {"version": 1,
     "stores": {"<store id>": {"<env>": {"writers": ["ed25519:..."],
                                         "require_signed": true,
                                         "pinned": {"refs/dev": "<sha256>", ...}}}}}

Decisions (:meth:`TrustPolicy.check`), for a signature already verified:

* no entry for (store, env): anything is accepted, signed or not;
* unsigned: refused if ``require_signed``, unless it is exactly an object
  ``pinned`` when ``require_signed`` was set (the digest of its signed
  payload): the requirement applies to what is written after it is set, and
  history that predates it stays readable but cannot be replaced unsigned;
* signed by a key not in ``writers``: refused when ``writers`` is non-empty
  or ``require_signed`` is set (an entry that requires signatures but names no
  writer refuses everything, never everything-signed).

A refusal is an :class:`IntegrityError` (exit 4). A policy file that others
may write is refused too: it could be made to trust anyone.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from statesync.crypto.signing import normalise_public
from statesync.crypto.userfiles import mode_of
from statesync.errors import IntegrityError, UsageError
from statesync.fsutil import write_atomic
from statesync.paths import config_dir

VERSION = 1


def default_path() -> Path:
    """``$XDG_CONFIG_HOME/statesync/trust.json``."""
    return config_dir() / "trust.json"


@dataclass
class TrustEntry:
    """The policy of one environment of one store."""

    writers: list[str] = field(default_factory=list)
    require_signed: bool = False
    #: object key -> SHA-256 of the payload of an unsigned object accepted anyway
    pinned: dict[str, str] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        doc: dict[str, Any] = {"writers": self.writers, "require_signed": self.require_signed}
        if self.pinned:
            doc["pinned"] = dict(sorted(self.pinned.items()))
        return doc


def payload_digest(payload: bytes) -> str:
    """What a pin holds: the SHA-256 of an object's signed payload."""
    return hashlib.sha256(payload).hexdigest()


class TrustPolicy:
    """The trust file, loaded; change it with :meth:`trust`/:meth:`untrust`, then :meth:`save`."""

    def __init__(self, path: Path, stores: dict[str, dict[str, TrustEntry]] | None = None) -> None:
        self.path = path
        self.stores = stores or {}

    @classmethod
    def load(cls, path: Path | None = None) -> TrustPolicy:
        """Read the policy (absent file: empty policy). :class:`IntegrityError` if unusable."""
        path = path or default_path()
        try:
            mode, text = mode_of(path), path.read_text()
        except FileNotFoundError:
            return cls(path)
        except OSError as exc:
            raise IntegrityError(f"trust policy {path}: {exc.strerror or exc}") from None
        if mode & 0o022:
            raise IntegrityError(
                f"trust policy {path}: writable by others ({mode:04o}); "
                f"refusing to use it (run: chmod 600 {path})"
            )
        try:
            doc = json.loads(text)
            if doc["version"] != VERSION:
                raise ValueError
            stores = {
                str(sid): {str(env): _entry(e) for env, e in envs.items()}
                for sid, envs in doc["stores"].items()
            }
        except (KeyError, TypeError, ValueError, AttributeError, UsageError):
            raise IntegrityError(f"trust policy {path}: malformed") from None
        return cls(path, stores)

    def save(self) -> None:
        """Write the policy atomically, mode 0600."""
        doc = {
            "version": VERSION,
            "stores": {
                sid: {env: e.to_json() for env, e in sorted(envs.items())}
                for sid, envs in sorted(self.stores.items())
                if envs
            },
        }
        write_atomic(self.path, json.dumps(doc, indent=2).encode() + b"\n", make_parents=True)

    def entry(self, store_id: str, env: str) -> TrustEntry | None:
        return self.stores.get(store_id, {}).get(env)

    def trust(
        self, store_id: str, env: str, public: str, require_signed: bool | None = None
    ) -> TrustEntry:
        """Let ``public`` write ``env`` (a name the caller validated); ``require_signed`` None
        keeps the current setting."""
        entry = self.stores.setdefault(store_id, {}).setdefault(env, TrustEntry())
        key = normalise_public(public)
        if key not in entry.writers:
            entry.writers.append(key)
        if require_signed is not None and require_signed != entry.require_signed:
            entry.require_signed, entry.pinned = require_signed, {}
        return entry

    def require(self, store_id: str, env: str, pins: dict[str, str]) -> TrustEntry:
        """Turn ``require_signed`` on for ``env``, accepting the unsigned objects ``pins`` names."""
        entry = self.stores.setdefault(store_id, {}).setdefault(env, TrustEntry())
        if not entry.require_signed:
            entry.pinned = dict(pins)
        entry.require_signed = True
        return entry

    def untrust(
        self, store_id: str, env: str, public: str | None, require_signed: bool = False
    ) -> TrustEntry:
        """Undo :meth:`trust`: stop trusting ``public`` and/or stop requiring signatures.

        Removing the last writer removes the environment's entry altogether (a
        requirement with no writer would refuse everything). Raises
        :class:`UsageError` if ``public`` was not trusted or nothing is asked.
        """
        if public is None and not require_signed:
            raise UsageError("untrust needs PUBKEY or --require-signed")
        entry = self.entry(store_id, env)
        if public is not None:
            key = normalise_public(public)
            if entry is None or key not in entry.writers:
                raise UsageError(f"{key} is not a trusted writer of {env}")
            entry.writers.remove(key)
            require_signed = require_signed or not entry.writers
        if entry is None:
            return TrustEntry()
        if require_signed:
            entry.require_signed, entry.pinned = False, {}
        if not entry.writers and not entry.require_signed:
            del self.stores[store_id][env]
        return entry

    def check(
        self,
        store_id: str,
        env: str,
        signer_public: str | None,
        where: str,
        payload: bytes | None = None,
    ) -> None:
        """Accept or refuse an object of (``store_id``, ``env``) named ``where``.

        ``signer_public`` is the key whose signature the caller has *verified*,
        or ``None`` for an unsigned object; ``payload`` the bytes a signature
        would cover (None for an object about to be written). Raises
        :class:`IntegrityError`.
        """
        entry = self.entry(store_id, env)
        if entry is None:
            return
        if signer_public is None:
            if entry.require_signed and not (
                payload is not None and entry.pinned.get(where) == payload_digest(payload)
            ):
                raise IntegrityError(
                    f"{where}: not signed, but the local trust policy requires signatures for "
                    f"{env} (written after --require-signed was set, or changed since; "
                    f"'statesync keys untrust {env} --require-signed' turns it off)"
                )
            return
        try:
            signer = normalise_public(signer_public)
        except UsageError:
            raise IntegrityError(f"{where}: malformed signer key") from None
        if (entry.writers or entry.require_signed) and signer not in entry.writers:
            raise IntegrityError(
                f"{where}: signed by {signer}, which the local trust policy "
                f"does not trust to write {env}"
            )


def _entry(doc: dict[str, Any]) -> TrustEntry:
    pinned = doc.get("pinned", {})
    if not isinstance(pinned, dict):
        raise ValueError("pinned")
    return TrustEntry(
        [normalise_public(w) for w in doc["writers"]],
        bool(doc["require_signed"]),
        {str(k): str(v) for k, v in pinned.items()},
    )
