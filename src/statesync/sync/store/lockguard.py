"""How a write (push, import, promote, rollback) treats its environment's lease.

A live lease held by someone else stops the write with :class:`LockedError`
(exit 5, naming the holder and expiry) unless the caller waits for it
(``timeout``), holds it (``lock_id``: the holder's own work), or deliberately
ignores it (``ignore``). A stale lease is no obstacle. The lease stays
advisory: the ref's conditional write is still the real guard.
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Iterator
from dataclasses import dataclass

from statesync.errors import LockedError, StatesyncError
from statesync.sync.store import leases as lease
from statesync.sync.store.repo import Repo

log = logging.getLogger(__name__)

#: Longest pause between two looks at a lease being waited for.
_POLL = 1.0


@dataclass(frozen=True)
class LockPolicy:
    """The caller's stance towards the environment's lease."""

    lock_id: str | None = None  # the caller holds this lease and writes under it
    ignore: bool = False  # proceed whoever holds it (the ref's conditional write still guards)
    timeout: float = 0.0  # seconds to wait for another holder's lease to go


def _until(deadline: float, attempt: lease.LockStatus) -> None:
    """Sleep before looking again, or raise the holder's error once ``deadline`` passed."""
    left = deadline - time.monotonic()
    if left <= 0:
        raise lease.held_error(attempt.env, attempt.info, attempt.expires_at, attempt.now)
    time.sleep(min(_POLL, left))


def ensure_free(repo: Repo, env: str, policy: LockPolicy) -> None:
    """Return once ``env`` may be written by this caller; :class:`LockedError` otherwise.

    Free, stale, or held under ``policy.lock_id``: go. ``policy.ignore``: go
    without looking. Another live holder: wait up to ``policy.timeout``.
    """
    if policy.ignore:
        return
    deadline = time.monotonic() + policy.timeout
    while True:
        status = lease.lock_status(repo, env)
        if status is None or not status.live:
            return
        if policy.lock_id is not None and status.info.lock_id == policy.lock_id:
            return
        _until(deadline, status)


@contextlib.contextmanager
def guarded(
    repo: Repo, env: str, purpose: str, policy: LockPolicy, ttl: float = lease.DEFAULT_TTL
) -> Iterator[lease.Lease | None]:
    """Hold ``env``'s lease for the block, as :func:`lease.held` does.

    Under the caller's own lease (``lock_id``) or with ``ignore``, no lease is
    taken (the block gets None, after the checks of :func:`ensure_free`);
    otherwise another holder's lease is waited for up to ``policy.timeout``.
    """
    if policy.ignore or policy.lock_id is not None:
        ensure_free(repo, env, policy)
        yield None
        return
    taken = _acquire(repo, env, purpose, policy.timeout, ttl)
    try:
        with lease.Heartbeat(taken):
            yield taken
    finally:
        try:
            taken.release()
        except StatesyncError as exc:  # never mask the block's own outcome
            log.warning("could not release the lease on %s: %s", env, exc)


def _acquire(repo: Repo, env: str, purpose: str, timeout: float, ttl: float) -> lease.Lease:
    deadline = time.monotonic() + timeout
    while True:
        try:
            return lease.acquire(repo, env, ttl, purpose)
        except LockedError:
            status = lease.lock_status(repo, env)
            if status is None:
                continue  # released meanwhile
            if not status.live or time.monotonic() >= deadline:
                raise
            _until(deadline, status)
