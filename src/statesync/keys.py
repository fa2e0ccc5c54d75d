"""Key management as the ``statesync keys`` commands do it; results are JSON-able dicts.

Recipients default to ``[keys] recipients`` of statesync.toml. Identities
(what unwraps existing keys) are those recipients, any extra ``identities``
specs, and a passphrase when ``STATESYNC_PASSPHRASE``/``_FILE`` is set.
No result ever holds key material.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from statesync.crypto import signing
from statesync.crypto.providers import Provider, default_identities, resolve
from statesync.crypto.providers.keyfile import new_keyfile
from statesync.crypto.trust import TrustPolicy, payload_digest
from statesync.errors import UsageError
from statesync.sync.store import layout
from statesync.sync.store.keyring import KeyService
from statesync.sync.store.refs import read_ref
from statesync.sync.store.repo import Repo

REMOVAL_NOTE = (
    "removal stops unwrapping through this store; it cannot take back keys already "
    "unwrapped: run 'statesync keys rotate {env}' so new writes use a key it never had"
)


class KeyAdmin:
    """Key management of one store."""

    def __init__(
        self, repo: Repo, configured: Sequence[str] = (), identities: Sequence[str] = ()
    ) -> None:
        self.repo = repo
        self.configured = list(configured)
        self.service = KeyService(repo, default_identities([*self.configured, *identities]))

    def _recipients(self, specs: Sequence[str] | None) -> list[Provider]:
        specs = list(specs or self.configured)
        if not specs:
            raise UsageError(
                "no recipients: give --recipient SPEC or set [keys] recipients in statesync.toml"
            )
        return [resolve(s) for s in specs]

    def init(self, env: str, recipients: Sequence[str] | None = None) -> dict[str, Any]:
        """Create generation 1 of ``env`` for ``recipients`` (default: configured)."""
        gen = self.service.create(env, self._recipients(recipients))
        return self.list_keys(env) | {"created": gen}

    def rotate(self, env: str, recipients: Sequence[str] | None = None) -> dict[str, Any]:
        """New generation; ``recipients`` None keeps the current generation's recipients."""
        chosen = self._recipients(recipients) if recipients else None
        gen = self.service.rotate(env, chosen)
        return self.list_keys(env) | {"created": gen}

    def add_recipient(self, env: str, spec: str) -> dict[str, Any]:
        recipient = resolve(spec)
        changed = self.service.add_recipient(env, recipient)
        return {"env": env, "added": recipient.stanza_id(), "generations": changed}

    def remove_recipient(self, env: str, stanza_id: str) -> dict[str, Any]:
        changed = self.service.remove_recipient(env, stanza_id)
        return {
            "env": env,
            "removed": stanza_id,
            "generations": changed,
            "note": REMOVAL_NOTE.format(env=env),
        }

    def list_keys(self, env: str) -> dict[str, Any]:
        """Generations and their recipients (ids, types); no secrets."""
        gens = self.service.describe(layout.validate_env(env))
        return {
            "env": env,
            "current": gens[-1]["generation"] if gens else None,
            "key_generations": gens,
        }

    def trust(self, env: str, public: str, require_signed: bool | None = None) -> dict[str, Any]:
        """Trust ``public`` to write ``env`` of this store (local policy file).

        ``require_signed`` applies to what is written from now on: the unsigned
        ref and keyrings ``env`` has now are pinned (by digest) and stay readable.
        """
        policy = TrustPolicy.load()
        env = layout.validate_env(env)
        entry = policy.trust(self.repo.store_id, env, public)
        out: dict[str, Any] = {}
        if require_signed:
            pins = self._unsigned_now(env)
            was = entry.require_signed
            entry = policy.require(
                self.repo.store_id, env, {k: payload_digest(v) for k, v in pins.items()}
            )
            if pins and not was:
                out["note"] = (
                    f"unsigned objects written before this stay readable: "
                    f"{', '.join(sorted(pins))}; what is written from now on must "
                    "be signed (a signed push or rotate signs the new ref or "
                    "generation)"
                )
        policy.save()
        return {
            "store_id": self.repo.store_id,
            "env": env,
            **entry.to_json(),
            "policy": str(policy.path),
            **out,
        }

    def _unsigned_now(self, env: str) -> dict[str, bytes]:
        """Object key -> payload of ``env``'s unsigned ref and keyrings, as they are now."""
        found = self.service.unsigned_keyrings(env)
        state = read_ref(self.repo, env)
        if state is not None and state.ref.signer is None:
            found[layout.ref_key(env)] = state.ref.payload()
        return found

    def untrust(self, env: str, public: str | None, require_signed: bool = False) -> dict[str, Any]:
        """Undo :meth:`trust`: drop ``public`` as a writer and/or stop requiring signatures."""
        policy = TrustPolicy.load()
        entry = policy.untrust(self.repo.store_id, env, public, require_signed)
        policy.save()
        return {
            "store_id": self.repo.store_id,
            "env": env,
            **entry.to_json(),
            "policy": str(policy.path),
        }


def keyfile_new(path: str | Path) -> dict[str, Any]:
    """Create a key file (0600, never over an existing file)."""
    stanza_id = new_keyfile(Path(path).expanduser())
    return {"keyfile": str(path), "id": stanza_id, "recipient": f"keyfile:{path}"}


def signing_new(path: str | Path | None = None) -> dict[str, Any]:
    """Create a signing key (0600); the result holds only its public key."""
    target = Path(path).expanduser() if path else signing.default_key_path()
    return {"signing_key": str(target), "public_key": signing.generate(target)}
