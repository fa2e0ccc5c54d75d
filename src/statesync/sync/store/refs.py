"""Environment refs and the optimistic lock that guards them.

``refs/<env>`` holds ``{snapshot, serial, store_id, env, updated_at,
updated_by}``. A ref is only ever written with a conditional put: create for a
new environment, ``Update(version)`` otherwise, so two writers can never both
win. ``serial`` only grows.
"""

from __future__ import annotations

import json
import re
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
from statesync.sync.store import fields, layout
from statesync.sync.store import seen as seen_serials
from statesync.sync.store.repo import Repo
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

    def head_fields(self) -> dict[str, Any]:
        """The head as structured error details (``--json``)."""
        return {
            "env": self.env,
            "snapshot": self.snapshot,
            "serial": self.serial,
            "updated_by": self.updated_by,
            "updated_at": self.updated_at,
        }

    def describe(self) -> str:
        """A one-line account of who moved the environment where, and when."""
        return (
            f"{self.env} is at snapshot {self.snapshot[:12]} (serial {self.serial}), "
            f"pushed by {self.updated_by} at {self.updated_at}"
        )


@dataclass(frozen=True)
class RefState:
    """A ref as read, with the version to pass to the next conditional write.

    ``broken`` names what is wrong with a ref read only to be replaced
    (:func:`read_ref` with ``replace_broken``): its ``ref`` then has no
    snapshot (``""``) and the highest serial that can still be told.
    """

    ref: Ref
    version: Version
    broken: str | None = None


def _parse(body: bytes, env: str, store_id: str) -> Ref:
    where = layout.ref_key(env)
    try:
        doc = fields.mapping(json.loads(body), where, "ref")
    except ValueError:  # also UnicodeDecodeError
        raise IntegrityError(
            f"{where}: malformed ref (replace it deliberately with push --force or rollback)"
        ) from None
    sig = doc.get("signature")
    if sig is not None:
        sig = fields.mapping(sig, where, "signature")
    ref = Ref(
        fields.text(doc.get("snapshot"), where, "snapshot"),
        fields.integer(doc.get("serial"), where, "serial", 1),
        fields.text(doc.get("store_id"), where, "store_id"),
        fields.text(doc.get("env"), where, "env"),
        fields.text(doc.get("updated_at"), where, "updated_at"),
        fields.text(doc.get("updated_by"), where, "updated_by"),
        fields.text(sig.get("public"), where, "signature.public") if sig else None,
        fields.text(sig.get("sig"), where, "signature.sig") if sig else None,
    )
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
        repo.trust.check(
            repo.store_id,
            state.ref.env,
            state.ref.signer,
            layout.ref_key(state.ref.env),
            state.ref.payload(),
        )
    return state


def read_ref(repo: Repo, env: str, *, replace_broken: bool = False) -> RefState | None:
    """Read an environment's ref, or ``None`` if the environment does not exist.

    A malformed ref raises :class:`IntegrityError`, unless ``replace_broken``
    (a deliberate ``push --force`` or ``rollback``): then it is returned as a
    broken :class:`RefState` whose version lets the conditional write replace
    exactly those bytes.
    """
    try:
        body, version = repo.backend.get(layout.ref_key(env))
    except NotFound:
        return None
    try:
        return RefState(_parse(body, env, repo.store_id), version)
    except IntegrityError as exc:
        if not replace_broken:
            raise
        return RefState(_placeholder(repo, env, body), version, broken=str(exc))


_SERIAL_RE = re.compile(rb'"serial"\s*:\s*([0-9]{1,18})')


def _placeholder(repo: Repo, env: str, body: bytes) -> Ref:
    """A stand-in for a broken ref: no snapshot, the highest serial still legible.

    The serial is what the torn body still shows or what this user last saw,
    so the replacement's serial (one more) does not look like a rollback here.
    """
    found = _SERIAL_RE.search(body)
    serial = max(int(found.group(1)) if found else 0, seen_serials.highest(repo.store_id, env))
    return Ref("", serial, repo.store_id, env, "", "")


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


def read_trusted_head(
    repo: Repo, env: str, *, seen: int = 0, allow_rollback: bool = False
) -> RefState | None:
    """The one read of an environment's head for any purpose; ``None`` if it has none.

    The ref is parsed and its signature verified (:func:`read_ref`), then the
    local trust policy is applied and its serial compared with the highest
    this user (or the caller's folder: ``seen``) has seen. Raises
    :class:`IntegrityError` for a head the policy refuses or one that went
    backwards (unless ``allow_rollback``): such a head is never merged, kept,
    re-signed or shown as the environment.
    """
    floor = max(seen, seen_serials.highest(repo.store_id, env))  # before the ref: see restore
    state = read_ref(repo, env)
    if state is None:
        return None
    try:
        check_trust(repo, state)
    except IntegrityError as exc:
        raise IntegrityError(
            f"{exc}; nothing was read from it (check who wrote it; "
            "to replace it with your folder: push --force)"
        ) from None
    if state.ref.serial < floor and not allow_rollback:
        raise IntegrityError(
            f"refs/{env} went backwards: serial {state.ref.serial} but this folder has seen "
            f"{floor} (a replayed or rolled-back ref; pull --allow-rollback to accept it)"
        )
    return state


def require_trusted_head(
    repo: Repo, env: str, *, seen: int = 0, allow_rollback: bool = False
) -> RefState:
    """:func:`read_trusted_head`, but :class:`EnvNotFound` when the environment has no head.

    A ref that is gone although this user (or ``seen``) has seen a serial of it
    is the last step of a rollback (a deleted ref): :class:`IntegrityError`,
    unless ``allow_rollback``.
    """
    state = read_trusted_head(repo, env, seen=seen, allow_rollback=allow_rollback)
    if state is None:
        vanished(repo, env, seen, allow_rollback)
        raise EnvNotFound(f"environment {env!r} does not exist in this store")
    return state


def vanished(repo: Repo, env: str, seen: int = 0, allow_rollback: bool = False) -> None:
    """Raise :class:`IntegrityError` if ``env``'s absent ref had a serial this user has seen."""
    floor = max(seen, seen_serials.highest(repo.store_id, env))
    if floor and not allow_rollback:
        raise IntegrityError(
            f"refs/{env} is missing, but this machine has seen serial {floor} of it "
            "(a deleted or rolled-back ref; pull --allow-rollback to accept it)"
        )


def read_head_to_replace(repo: Repo, env: str) -> tuple[RefState | None, bool]:
    """The head ``push --force`` replaces, and whether it is trusted.

    Replacing a refused or malformed head is a legitimate recovery, so it is returned (its
    version guards the conditional write) rather than raised; the caller must
    not build on, keep or re-sign anything of an untrusted one.
    """
    try:
        return read_trusted_head(repo, env), True
    except IntegrityError:
        return read_ref(repo, env, replace_broken=True), False


def list_envs(repo: Repo) -> list[str]:
    """Every environment with a ref, sorted."""
    return [layout.env_from_ref_key(m.key) for m in repo.backend.list(layout.REFS)]


def broken_envs(repo: Repo) -> dict[str, str]:
    """Environment -> what is wrong with its ref, for every ref that cannot be read."""
    out = {}
    for env in list_envs(repo):
        try:
            read_ref(repo, env)
        except IntegrityError as exc:
            out[env] = str(exc)
    return out


def write_ref(repo: Repo, env: str, snapshot: str, current: RefState | None) -> RefState:
    """Move ``env`` to ``snapshot`` if it is still at ``current`` (None: must not exist).

    Raises :class:`RefConflict` naming who moved the environment if another
    writer got there first. A retried write that had in fact landed is
    recognised by re-reading and comparing, not reported as a conflict.
    """
    # Above anything this user has seen too: a head that was deleted or replayed
    # must not make our own readers see the serial go backwards.
    floor = max(current.ref.serial if current else 0, seen_serials.highest(repo.store_id, env))
    ref = Ref(
        snapshot=snapshot,
        serial=floor + 1,
        store_id=repo.store_id,
        env=env,
        updated_at=datetime.now(UTC).isoformat(timespec="seconds"),
        updated_by=user_at_host(),
    )
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
        err = RefConflict(f"push lost the race: {theirs}")
        raise err.with_details(head=now.ref.head_fields() if now else None) from None
    seen_serials.remember(repo.store_id, env, ref.serial)  # every writer, not only push
    return RefState(ref, version)


def _signed(repo: Repo, ref: Ref) -> Ref:
    """Sign ``ref`` with the configured key; refuse an unsigned write the policy forbids."""
    if repo.signer is None:
        if repo.trust is not None:  # fail before writing what our own readers would refuse
            repo.trust.check(repo.store_id, ref.env, None, layout.ref_key(ref.env))
        return ref
    return replace(ref, signer=repo.signer.public, signature=repo.signer.sign(ref.payload()))


def _encode(ref: Ref) -> bytes:
    doc: dict[str, Any] = {k: v for k, v in asdict(ref).items() if k not in ("signer", "signature")}
    if ref.signer is not None:
        doc["signature"] = {"public": ref.signer, "sig": ref.signature}
    return json.dumps(doc, indent=2, sort_keys=True).encode() + b"\n"
