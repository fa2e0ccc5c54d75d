"""Environment refs and the optimistic lock that guards them.

``refs/<env>`` holds ``{snapshot, serial, store_id, env, updated_at,
updated_by}``. A ref is only ever written with a conditional put: create for a
new environment, ``Update(version)`` otherwise, so two writers can never both
win. ``serial`` only grows.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, replace
from datetime import UTC, datetime
from typing import Any

from statesync.backends.base import CREATE, Update, Version
from statesync.errors import (
    AlreadyExists,
    EnvNotFound,
    IntegrityError,
    NotFound,
    PreconditionFailed,
    RefConflict,
)
from statesync.sync import fields, layout
from statesync.sync.repo import Repo
from statesync.whoami import user_at_host


@dataclass(frozen=True)
class Ref:
    """One environment's head."""

    snapshot: str
    serial: int
    store_id: str
    env: str
    updated_at: str
    updated_by: str
    signer: str | None = None  # verified public key of the signature, if signed
    signature: str | None = None

    def payload(self) -> bytes:
        """The bytes a signature covers: every field but the signature itself."""
        fields = {k: v for k, v in asdict(self).items() if k not in ("signer", "signature")}
        return b"statesync-ref-v1\n" + json.dumps(fields, sort_keys=True).encode()

    def describe(self) -> str:
        """A one-line account of who moved the environment where, and when."""
        return (f"{self.env} is at snapshot {self.snapshot[:12]} (serial {self.serial}), "
                f"pushed by {self.updated_by} at {self.updated_at}")


@dataclass(frozen=True)
class RefState:
    """A ref as read, with the version to pass to the next conditional write."""

    ref: Ref
    version: Version


def _parse(body: bytes, env: str, store_id: str) -> Ref:
    where = layout.ref_key(env)
    try:
        doc = fields.mapping(json.loads(body), where, "ref")
    except ValueError:  # also UnicodeDecodeError
        raise IntegrityError(f"{where}: malformed ref") from None
    sig = doc.get("signature")
    if sig is not None:
        sig = fields.mapping(sig, where, "signature")
    ref = Ref(fields.text(doc.get("snapshot"), where, "snapshot"),
              fields.integer(doc.get("serial"), where, "serial", 1),
              fields.text(doc.get("store_id"), where, "store_id"),
              fields.text(doc.get("env"), where, "env"),
              fields.text(doc.get("updated_at"), where, "updated_at"),
              fields.text(doc.get("updated_by"), where, "updated_by"),
              fields.text(sig.get("public"), where, "signature.public") if sig else None,
              fields.text(sig.get("sig"), where, "signature.sig") if sig else None)
    if ref.env != env or ref.store_id != store_id or not layout.is_object_id(ref.snapshot):
        raise IntegrityError(f"{where}: ref does not belong to this store and environment")
    if ref.signer is not None:
        from statesync.crypto.signing import verify

        if not verify(ref.signer, ref.payload(), str(ref.signature)):
            raise IntegrityError(f"{where}: signature does not match (tampered or forged)")
    return ref


def check_trust(repo: Repo, state: RefState) -> RefState:
    """Apply the local trust policy to a read ref; :class:`IntegrityError` if refused."""
    if repo.trust is not None:
        repo.trust.check(repo.store_id, state.ref.env, state.ref.signer,
                         layout.ref_key(state.ref.env))
    return state


def read_ref(repo: Repo, env: str) -> RefState | None:
    """Read an environment's ref, or ``None`` if the environment does not exist."""
    try:
        body, version = repo.backend.get(layout.ref_key(env))
    except NotFound:
        return None
    return RefState(_parse(body, env, repo.store_id), version)


def require_ref(repo: Repo, env: str) -> RefState:
    """Like :func:`read_ref` but :class:`EnvNotFound` when absent, and trust-checked.

    This is the read path of pull, log, export and promotion: a ref the local
    trust policy refuses (unsigned where signatures are required, or signed by
    an untrusted key) raises :class:`IntegrityError`.
    """
    state = read_ref(repo, env)
    if state is None:
        raise EnvNotFound(f"environment {env!r} does not exist in this store")
    return check_trust(repo, state)


def list_envs(repo: Repo) -> list[str]:
    """Every environment with a ref, sorted."""
    return [layout.env_from_ref_key(m.key) for m in repo.backend.list(layout.REFS)]


def write_ref(repo: Repo, env: str, snapshot: str, current: RefState | None) -> RefState:
    """Move ``env`` to ``snapshot`` if it is still at ``current`` (None: must not exist).

    Raises :class:`RefConflict` naming who moved the environment if another
    writer got there first. A retried write that had in fact landed is
    recognised by re-reading and comparing, not reported as a conflict.
    """
    ref = Ref(snapshot=snapshot, serial=(current.ref.serial + 1) if current else 1,
              store_id=repo.store_id, env=env,
              updated_at=datetime.now(UTC).isoformat(timespec="seconds"),
              updated_by=user_at_host())
    ref = _signed(repo, ref)
    body = _encode(ref)
    mode = CREATE if current is None else Update(current.version)
    try:
        version = repo.backend.put(layout.ref_key(env), body, mode)
    except (AlreadyExists, PreconditionFailed):
        now = read_ref(repo, env)
        if now is not None and now.ref == ref:
            return now
        theirs = now.ref.describe() if now else f"{env} was deleted"
        raise RefConflict(f"push lost the race: {theirs}") from None
    return RefState(ref, version)


def _signed(repo: Repo, ref: Ref) -> Ref:
    """Sign ``ref`` with the configured key; refuse an unsigned write the policy forbids."""
    if repo.signer is None:
        if repo.trust is not None:  # fail before writing what our own readers would refuse
            repo.trust.check(repo.store_id, ref.env, None, layout.ref_key(ref.env))
        return ref
    return replace(ref, signer=repo.signer.public, signature=repo.signer.sign(ref.payload()))


def _encode(ref: Ref) -> bytes:
    doc: dict[str, Any] = {k: v for k, v in asdict(ref).items()
                           if k not in ("signer", "signature")}
    if ref.signer is not None:
        doc["signature"] = {"public": ref.signer, "sig": ref.signature}
    return json.dumps(doc, indent=2, sort_keys=True).encode() + b"\n"
