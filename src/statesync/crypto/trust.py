"""The local trust policy: which signing keys may write an environment.

Trust lives on the user's machine, never only in the store it protects
(DESIGN.md §6): ``$XDG_CONFIG_HOME/statesync/trust.json``, mode 0600::

    {"version": 1,
     "stores": {"<store id>": {"<env>": {"writers": ["ed25519:..."],
                                         "require_signed": true}}}}

Decisions (:meth:`TrustPolicy.check`), for a signature already verified:

* no entry for (store, env): anything is accepted, signed or not;
* unsigned: refused if ``require_signed``;
* signed by a key not in ``writers``: refused when ``writers`` is non-empty
  or ``require_signed`` is set (an entry that requires signatures but names no
  writer refuses everything, never everything-signed).

A refusal is an :class:`IntegrityError` (exit 4). A policy file that others
may write is refused too: it could be made to trust anyone.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from statesync.crypto.signing import normalise_public
from statesync.crypto.userfiles import config_dir, mode_of, write_private
from statesync.errors import IntegrityError, UsageError
from statesync.sync import layout

VERSION = 1


def default_path() -> Path:
    """``$XDG_CONFIG_HOME/statesync/trust.json``."""
    return config_dir() / "trust.json"


@dataclass
class TrustEntry:
    """The policy of one environment of one store."""

    writers: list[str] = field(default_factory=list)
    require_signed: bool = False

    def to_json(self) -> dict[str, Any]:
        return {"writers": self.writers, "require_signed": self.require_signed}


class TrustPolicy:
    """The trust file, loaded; change it with :meth:`trust`/:meth:`untrust`, then :meth:`save`."""

    def __init__(self, path: Path, stores: dict[str, dict[str, TrustEntry]] | None = None
                 ) -> None:
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
            raise IntegrityError(f"trust policy {path}: writable by others ({mode:04o}); "
                                 f"refusing to use it (run: chmod 600 {path})")
        try:
            doc = json.loads(text)
            if doc["version"] != VERSION:
                raise ValueError
            stores = {str(sid): {str(env): TrustEntry([normalise_public(w) for w in e["writers"]],
                                                      bool(e["require_signed"]))
                                 for env, e in envs.items()}
                      for sid, envs in doc["stores"].items()}
        except (KeyError, TypeError, ValueError, AttributeError, UsageError):
            raise IntegrityError(f"trust policy {path}: malformed") from None
        return cls(path, stores)

    def save(self) -> None:
        """Write the policy atomically, mode 0600."""
        doc = {"version": VERSION,
               "stores": {sid: {env: e.to_json() for env, e in sorted(envs.items())}
                          for sid, envs in sorted(self.stores.items()) if envs}}
        write_private(self.path, json.dumps(doc, indent=2).encode() + b"\n")

    def entry(self, store_id: str, env: str) -> TrustEntry | None:
        return self.stores.get(store_id, {}).get(env)

    def trust(self, store_id: str, env: str, public: str,
              require_signed: bool | None = None) -> TrustEntry:
        """Let ``public`` write ``env``; ``require_signed`` None keeps the current setting."""
        entry = self.stores.setdefault(store_id, {}).setdefault(layout.validate_env(env),
                                                                TrustEntry())
        key = normalise_public(public)
        if key not in entry.writers:
            entry.writers.append(key)
        if require_signed is not None:
            entry.require_signed = require_signed
        return entry

    def untrust(self, store_id: str, env: str, public: str) -> TrustEntry:
        """Stop trusting ``public`` for ``env``; :class:`UsageError` if it was not trusted."""
        key = normalise_public(public)
        entry = self.entry(store_id, env)
        if entry is None or key not in entry.writers:
            raise UsageError(f"{key} is not a trusted writer of {env}")
        entry.writers.remove(key)
        if not entry.writers and not entry.require_signed:
            del self.stores[store_id][env]
        return entry

    def check(self, store_id: str, env: str, signer_public: str | None, where: str) -> None:
        """Accept or refuse an object of (``store_id``, ``env``) named ``where``.

        ``signer_public`` is the key whose signature the caller has *verified*,
        or ``None`` for an unsigned object. Raises :class:`IntegrityError`.
        """
        entry = self.entry(store_id, env)
        if entry is None:
            return
        if signer_public is None:
            if entry.require_signed:
                raise IntegrityError(f"{where}: not signed, but the local trust policy "
                                     f"requires signatures for {env}")
            return
        try:
            signer = normalise_public(signer_public)
        except UsageError:
            raise IntegrityError(f"{where}: malformed signer key") from None
        if (entry.writers or entry.require_signed) and signer not in entry.writers:
            raise IntegrityError(f"{where}: signed by {signer}, which the local trust policy "
                                 f"does not trust to write {env}")
