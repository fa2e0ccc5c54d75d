"""The Terraform http backend's operations on the store (blocking; run off the event loop).

Each operation answers with an :class:`Answer` exactly as Terraform's client
(``internal/backend/remote-state/http/client.go``) reads it:

* ``get``: 200 with the state, 404 when there is none.
* ``put``: 200 once the state is a new snapshot. While the state is locked
  the ``?ID=`` must be the holder's lock ID (else 423 with the holder); an
  ``ID`` for a lock that is gone is refused with 409 (it was force-unlocked:
  the writer no longer holds what it thinks it holds). A changed ``lineage``
  or a lower ``serial`` is 409 unless the caller is an admin.
* ``lock``: 200 when taken or already held under the same ID (the client
  retries), 423 with the holder's LockInfo verbatim otherwise.
* ``unlock``: 200 when released or not locked. An empty body is a
  force-unlock (``terraform force-unlock``): admins only.

Locks are statesync leases (``locks/<env>``) whose purpose records the
client's LockInfo; states are snapshots holding ``terraform.tfstate``,
committed with the ref's conditional write on the head that was checked.
"""

from __future__ import annotations

import base64
import hashlib
import json
import logging
from dataclasses import dataclass, field

from statesync import api
from statesync.api import LockPolicy, Store
from statesync.errors import (
    ConflictError,
    KeyFailure,
    LockedError,
    StatesyncError,
    UsageError,
)
from statesync.server.auth import Caller, forbidden
from statesync.server.context import ServerContext
from statesync.server.tfstate import (
    STATE_FILE,
    StateHead,
    TfLock,
    from_purpose,
    head_of,
    parse_state,
    sensitive_pointers,
    to_purpose,
)

log = logging.getLogger("statesync.serve")


@dataclass(frozen=True)
class Answer:
    """An HTTP answer: status, body, extra headers."""

    status: int
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)

    @classmethod
    def text(cls, status: int, message: str) -> Answer:
        return cls(status, message.encode() + b"\n", {"Content-Type": "text/plain"})

    @classmethod
    def locked(cls, holder: TfLock) -> Answer:
        return cls(423, holder.body, {"Content-Type": "application/json"})


OK = Answer.text(200, "ok")


def _holder(store: Store, env: str) -> tuple[str, TfLock] | None:
    """``(lease id, Terraform lock)`` of ``env``'s live lease; None if it has none."""
    status = api.lock_status(store, env)
    if status is None or not status.live:
        return None
    info = status.info
    tf = from_purpose(info.purpose)
    if tf is None:  # a lease taken with `statesync lock`: describe it in Terraform's terms
        doc = {
            "ID": info.lock_id,
            "Operation": "statesync lock",
            "Info": info.purpose,
            "Who": info.holder,
            "Version": "",
            "Created": info.created_at,
            "Path": "",
        }
        tf = TfLock(info.lock_id, json.dumps(doc).encode())
    return info.lock_id, tf


def get(ctx: ServerContext, env: str) -> Answer:
    head = api.read_head_file(ctx.store, env, STATE_FILE, cache=ctx.cache)
    if head.data is None:
        return Answer.text(404, "no state")
    digest = base64.b64encode(hashlib.md5(head.data, usedforsecurity=False).digest()).decode()
    return Answer(200, head.data, {"Content-Type": "application/json", "Content-MD5": digest})


def _fence(ctx: ServerContext, env: str, lock_id: str | None) -> tuple[LockPolicy, str] | Answer:
    """The lease to write under and a description of it, or the refusal."""
    held = _holder(ctx.store, env)
    if held is None:
        if lock_id:
            return Answer.text(409, f"lock {lock_id} is not held (was it force-unlocked?)")
        return LockPolicy(), ""
    lease_id, tf = held
    if lock_id != tf.lock_id:
        return Answer.locked(tf)
    return LockPolicy(lock_id=lease_id), _describe(tf)


def _describe(tf: TfLock) -> str:
    doc = json.loads(tf.body)
    return " ".join(str(doc.get(k) or "") for k in ("Operation", "Who")).strip()


def _history_check(
    env: str, caller: Caller, new: StateHead, current: bytes | None
) -> Answer | None:
    """409 when the new state's lineage changed or its serial went down (admins may)."""
    if current is None or caller.is_admin(env):
        return None
    try:
        old = head_of(parse_state(current))
    except UsageError:
        return None  # not a state (written by other means): nothing to protect
    if new.lineage != old.lineage:
        return Answer.text(
            409,
            f"lineage changed ({old.lineage} -> {new.lineage}); "
            "an admin token may replace the state",
        )
    if new.serial < old.serial:
        return Answer.text(
            409,
            f"serial went down ({old.serial} -> {new.serial}); "
            "an admin token may roll the state back",
        )
    return None


def put(ctx: ServerContext, env: str, caller: Caller, body: bytes, lock_id: str | None) -> Answer:
    """Commit ``body`` as ``env``'s next state (see the module docstring)."""
    doc = parse_state(body)
    fence = _fence(ctx, env, lock_id)
    if isinstance(fence, Answer):
        return fence
    policy, during = fence
    head = api.read_head_file(ctx.store, env, STATE_FILE, cache=ctx.cache)
    state = head_of(doc)
    refused = _history_check(env, caller, state, head.data)
    if refused is not None:
        return refused
    sensitive = sensitive_pointers(doc)
    found = api.secret_pointers(ctx.store, STATE_FILE, body)
    result = api.commit_files(
        ctx.store,
        env,
        {STATE_FILE: body},
        parent=head.snapshot,
        sealed={STATE_FILE: sensitive},
        include_secrets=bool(sensitive or found),
        encrypt_all=ctx.settings.encrypt_all,
        lock=policy,
        index_cache=ctx.index_cache,
        message=f"terraform state serial {state.serial}" + (f" ({during})" if during else ""),
        tags={
            "terraform.serial": str(state.serial),
            "terraform.lineage": state.lineage,
            "token": caller.name,
        },
    )
    ctx.cache[f"{result.snapshot}:{STATE_FILE}"] = body  # what a GET now answers, exactly
    if ctx.metrics is not None and result.changed:
        ctx.metrics.state_writes.inc()
    return OK


def delete(ctx: ServerContext, env: str, caller: Caller, lock_id: str | None) -> Answer:
    """Make the next snapshot empty (history keeps every state); 200 if there was none."""
    fence = _fence(ctx, env, lock_id)
    if isinstance(fence, Answer):
        return fence
    head = api.read_head_file(ctx.store, env, STATE_FILE, cache=ctx.cache)
    if head.data is not None:
        api.commit_files(
            ctx.store,
            env,
            {},
            parent=head.snapshot,
            lock=fence[0],
            message="terraform state deleted",
            tags={"token": caller.name},
        )
    return OK


def lock(ctx: ServerContext, env: str, body: bytes) -> Answer:
    """Take ``env``'s lock for the client's LockInfo (idempotent for the same ID)."""
    want = TfLock.parse(body)
    for _ in range(3):  # a lock released between our two reads: try again
        try:
            ctx.store.lock(env, ttl=ctx.settings.tf_lock_ttl, purpose=to_purpose(want))
            return Answer(200, body, {"Content-Type": "application/json"})
        except LockedError:
            held = _holder(ctx.store, env)
        if held is not None:
            if held[1].lock_id == want.lock_id:
                return Answer(200, body, {"Content-Type": "application/json"})
            if ctx.metrics is not None:
                ctx.metrics.lock_conflicts.inc()
            return Answer.locked(held[1])
    return Answer.text(409, "the lock kept changing; try again")


def unlock(ctx: ServerContext, env: str, caller: Caller, body: bytes) -> Answer:
    """Release ``env``'s lock; an empty body forces it (admins only)."""
    force = not body.strip()
    if force and not caller.is_admin(env):
        raise forbidden()
    held = _holder(ctx.store, env)
    if held is None:
        return OK
    lease_id, tf = held
    if not force:
        want = TfLock.parse(body)
        if want.lock_id != tf.lock_id:
            return Answer.locked(tf)
    try:
        ctx.store.unlock(env, lease_id, force=True)
    except StatesyncError:
        if _holder(ctx.store, env) is not None:
            raise  # another lock took its place: the caller hears 423
        # released by someone else meanwhile: it is gone, as asked
    if force:
        log.warning("lock %s on %s force-unlocked by %s", tf.lock_id, env, caller.name)
    return OK


def answer_error(exc: StatesyncError) -> Answer:
    """The HTTP answer for an error the store raised (one line, nothing secret)."""
    if isinstance(exc, UsageError):
        return Answer.text(400, str(exc))
    if isinstance(exc, LockedError):
        return Answer.text(423, "locked by another holder")
    if isinstance(exc, ConflictError):
        return Answer.text(409, "the state changed meanwhile; nothing written")
    if isinstance(exc, KeyFailure):
        log.error("cannot seal or open secrets: %s", exc)
        return Answer.text(500, "the server has no key for this environment's secrets")
    log.error("store error: %s", exc)
    return Answer.text(500, "store error")
