"""Retention policies stored per environment: ``policy/retention/<env>.json``.

Stored in the store, not in statesync.toml, so every machine that runs gc
applies the same rule. Written with a conditional write (two editors never
lose an update) and signed with the writer's Ed25519 key when one is
configured; a policy whose signature does not verify is an
:class:`IntegrityError`, and gc then refuses to apply it.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from statesync.backends.base import CREATE, Update
from statesync.errors import (
    AlreadyExists,
    Contention,
    IntegrityError,
    NotFound,
    PreconditionFailed,
    StatesyncError,
)
from statesync.optimistic import AGAIN, Again, retry_conditional
from statesync.sync.store import layout
from statesync.sync.store.repo import Repo
from statesync.sync.store.retention import Policy
from statesync.whoami import user_at_host

_DOMAIN = b"statesync-retention-policy-v1\n"
_ATTEMPTS = 5


@dataclass(frozen=True)
class StoredPolicy:
    """An environment's policy as stored: the rule, who wrote it, and with which key."""

    env: str
    policy: Policy
    updated_by: str = ""
    updated_at: str = ""
    signer: str | None = None
    signature: str | None = field(default=None, repr=False)

    def payload(self) -> bytes:
        """The bytes a signature covers."""
        body = {
            "env": self.env,
            "policy": self.policy.to_json(),
            "updated_by": self.updated_by,
            "updated_at": self.updated_at,
        }
        return _DOMAIN + json.dumps(body, sort_keys=True).encode()

    def to_json(self) -> dict[str, Any]:
        return {
            "env": self.env,
            "policy": self.policy.to_json(),
            "updated_by": self.updated_by,
            "updated_at": self.updated_at,
            "signed_by": self.signer,
        }


def _decode(env: str, body: bytes) -> StoredPolicy:
    where = layout.retention_policy_key(env)
    try:
        doc = json.loads(body)
        sig = doc.get("signature")
        stored = StoredPolicy(
            env,
            Policy.from_json(doc["policy"]),
            str(doc["updated_by"]),
            str(doc["updated_at"]),
            str(sig["public"]) if sig else None,
            str(sig["sig"]) if sig else None,
        )
        if doc.get("env") != env:
            raise ValueError
    except (ValueError, KeyError, TypeError, StatesyncError):
        raise IntegrityError(f"{where}: malformed retention policy") from None
    if stored.signer is not None:
        from statesync.crypto.signing import verify

        if not verify(stored.signer, stored.payload(), str(stored.signature)):
            raise IntegrityError(f"{where}: signature does not match (tampered or forged)")
    return stored


def _encode(stored: StoredPolicy) -> bytes:
    doc: dict[str, Any] = {
        "version": 1,
        "env": stored.env,
        "policy": stored.policy.to_json(),
        "updated_by": stored.updated_by,
        "updated_at": stored.updated_at,
    }
    if stored.signer is not None:
        doc["signature"] = {"public": stored.signer, "sig": stored.signature}
    return json.dumps(doc, indent=2, sort_keys=True).encode() + b"\n"


def read_policy(repo: Repo, env: str) -> StoredPolicy | None:
    """``env``'s stored policy, or None (gc then keeps all of its snapshots)."""
    try:
        body, _ = repo.backend.get(layout.retention_policy_key(env))
    except NotFound:
        return None
    return _decode(env, body)


def set_policy(repo: Repo, env: str, policy: Policy) -> StoredPolicy:
    """Store ``policy`` for ``env`` (an empty one removes the stored policy); return it."""
    key = layout.retention_policy_key(env)

    def attempt(_n: int) -> StoredPolicy | Again:
        try:
            _, version = repo.backend.get(key)
            mode: Any = Update(version)
        except NotFound:
            version, mode = None, CREATE
        stored = _signed(
            repo,
            StoredPolicy(
                env, policy, user_at_host(), datetime.now(UTC).isoformat(timespec="seconds")
            ),
        )
        try:
            if policy.empty:
                if version is not None:
                    repo.backend.delete(key, version)
            else:
                repo.backend.put(key, _encode(stored), mode)
        except (AlreadyExists, PreconditionFailed):
            return AGAIN  # someone else changed it meanwhile: write ours over theirs, knowingly
        return stored

    return retry_conditional(
        attempt,
        attempts=_ATTEMPTS,
        gave_up=lambda: Contention(
            f"{key} changed {_ATTEMPTS} times while being written; try again"
        ),
    )


def _signed(repo: Repo, stored: StoredPolicy) -> StoredPolicy:
    if repo.signer is None:
        return stored
    return StoredPolicy(
        stored.env,
        stored.policy,
        stored.updated_by,
        stored.updated_at,
        repo.signer.public,
        repo.signer.sign(stored.payload()),
    )
