"""Leases: ``locks/<env>``, for work that must not even start twice (ARCHITECTURE.md §3).

A lease is an object created only if absent, naming who took it, why, and
for how long. Its holder renews it (a :class:`Heartbeat` does so every ttl/3);
a lease not renewed within its TTL is stale, and the next :func:`acquire`
takes it over with a conditional update of the exact version it judged
stale (never delete-then-create), so two takers cannot both win.

Staleness is judged by the store's clock: the lock's ``Meta.modified`` (set
by the store at its last write) plus its TTL (and one second, for stores that
stamp whole seconds), against the store's "now",
read by writing a tiny probe object and reading back its timestamp. Clock
skew between machines therefore cannot expire a live lease or keep a dead
one. Only a backend that reports no timestamps falls back to the local clock
and the ``renewed_at`` recorded in the lock body.

A lease is advisory: the ref's conditional write stays the real guard, so a
holder that lost its lease still cannot overwrite anyone's push.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import socket
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import asdict, dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Any

from statesync.backends.base import CREATE, Backend, PutMode, Update, Version
from statesync.errors import (
    AlreadyExists,
    BackendError,
    IntegrityError,
    LockedError,
    NotFound,
    NotLocked,
    PreconditionFailed,
    StatesyncError,
    UsageError,
)
from statesync.optimistic import AGAIN, Again, retry_conditional
from statesync.sync.store import fields, layout
from statesync.sync.store.repo import Repo
from statesync.whoami import holder_id, user_at_host

log = logging.getLogger(__name__)

DEFAULT_TTL = 600
_MAX_TTL = 366 * 86400
#: S3 and Azure stamp whole seconds (so does ``created_at``): waiting one more
#: second means a lease is never judged stale early.
_CLOCK_GRACE = timedelta(seconds=1)
#: How often acquire/release re-read a lock that changed under them before giving up.
_ATTEMPTS = 5


@dataclass(frozen=True)
class LockInfo:
    """The body of ``locks/<env>``."""

    lock_id: str
    holder: str  # user@host
    host: str
    pid: int
    purpose: str
    created_at: str
    ttl_seconds: int
    renewed_at: str = ""
    #: :func:`statesync.whoami.holder_id` of the taker (user and machine, unforgeable)
    holder_id: str = ""

    def to_bytes(self) -> bytes:
        return json.dumps(asdict(self), indent=2, sort_keys=True).encode() + b"\n"


@dataclass(frozen=True)
class _Current:
    """A lock as read: body, the version to condition on, the store's timestamp.

    ``problem``: why the body is malformed (``info`` is then a placeholder).
    """

    info: LockInfo
    version: Version
    modified: datetime | None
    problem: str = ""


def local_now() -> datetime:
    """This machine's clock (UTC): used only where the store gives no timestamps.

    The one place leases read the local clock, so a test can replace it.
    """
    return datetime.now(UTC)


def _iso(stamp: datetime) -> str:
    return stamp.astimezone(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


#: How the owner gets past a damaged lease; said in the error.
_RECOVER = (
    "the lease is damaged: replace it with 'statesync lock ENV --force', "
    "or write with --ignore-lock"
)
#: What a damaged lease is shown as where it is listed or replaced, not refused.
_UNREADABLE = LockInfo("", "an unknown holder (malformed lease)", "", 0, "", "", DEFAULT_TTL)


def _parse(body: bytes, key: str) -> LockInfo:
    """Read a lock body; :class:`IntegrityError` naming the lease and its bad field.

    A lease is written whole (create or conditional update), so a body that
    does not parse is damage to the store, not a lock: exit 4, never a wait
    for a holder who does not exist. Out of range (a TTL of 1e20, a pid of
    "x") is malformed too, never a crash.
    """
    try:
        doc = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        raise IntegrityError(f"{key}: malformed lease (not JSON); {_RECOVER}") from None
    try:
        fields.mapping(doc, key, "lease")
        created = fields.text(doc.get("created_at", ""), key, "created_at")
        return LockInfo(
            fields.text(doc.get("lock_id"), key, "lock_id", empty=False),
            fields.text(doc.get("holder"), key, "holder", empty=False),
            fields.text(doc.get("host", ""), key, "host"),
            fields.integer(doc.get("pid", 0), key, "pid", 0, 1 << 31),
            fields.text(doc.get("purpose", ""), key, "purpose"),
            created,
            fields.integer(doc.get("ttl_seconds"), key, "ttl_seconds", 1, _MAX_TTL),
            fields.optional_text(doc.get("renewed_at"), key, "renewed_at") or created,
            fields.text(doc.get("holder_id", ""), key, "holder_id"),
        )
    except IntegrityError as exc:
        raise IntegrityError(f"{exc}; {_RECOVER}") from None


def store_now(backend: Backend) -> datetime | None:
    """The store's own clock: write a probe object, read its timestamp, delete it.

    Returns ``None`` when the backend reports no timestamps.
    """
    key = layout.clock_probe_key(uuid.uuid4().hex)
    backend.put(key, b"statesync clock probe\n", CREATE)
    try:
        return backend.head(key).modified
    finally:
        # A leftover probe is harmless (tiny, never read again).
        with contextlib.suppress(StatesyncError):
            backend.delete(key)


def _read(repo: Repo, env: str, damaged_ok: bool = False) -> _Current | None:
    """The lock with a timestamp of the same version it was read at; None if absent.

    A malformed lock is :class:`IntegrityError`, or with ``damaged_ok`` a
    :class:`_Current` whose ``problem`` says what is wrong (to list or replace it).
    """
    key = layout.lock_key(env)

    def attempt(_: int) -> _Current | Again | None:
        try:
            body, version = repo.backend.get(key)
            meta = repo.backend.head(key)
        except NotFound:
            return None
        if meta.version != version:
            return AGAIN  # rewritten between the two reads
        try:
            return _Current(_parse(body, key), version, meta.modified)
        except IntegrityError as exc:
            if not damaged_ok:
                raise
            return _Current(_UNREADABLE, version, meta.modified, str(exc))

    return retry_conditional(
        attempt,
        attempts=_ATTEMPTS,
        gave_up=lambda: LockedError(f"{key} keeps changing while being read; try again"),
    )


def _expiry(repo: Repo, cur: _Current, probe: bool = True) -> tuple[datetime, datetime]:
    """``(expires_at, now)``, both on the store's clock when the backend has one.

    ``probe=False`` writes no clock probe: the expiry still comes from the
    store's timestamp of the lease's last write, but "now" is this machine's
    clock (the grace of ``_CLOCK_GRACE`` absorbs a small skew).
    """
    ttl = timedelta(seconds=cur.info.ttl_seconds) + _CLOCK_GRACE
    if cur.modified is not None:
        now = store_now(repo.backend) if probe else local_now()
        if now is not None:
            return cur.modified + ttl, now
    try:  # no store timestamps: the holder's own record, on our clock
        renewed = datetime.fromisoformat(cur.info.renewed_at.replace("Z", "+00:00"))
        if renewed.tzinfo is None:
            renewed = renewed.replace(tzinfo=UTC)
        return (renewed + ttl).astimezone(UTC), local_now()
    except (ValueError, OverflowError):  # unparsable, or past year 9999 once the TTL is added
        return local_now() + ttl, local_now()  # nothing to judge by: count it as just renewed


def _span(seconds: float) -> str:
    s = max(0, round(seconds))
    parts = [(s // 86400, "d"), (s % 86400 // 3600, "h"), (s % 3600 // 60, "m"), (s % 60, "s")]
    return "".join(f"{n}{u}" for n, u in parts if n) or "0s"


def _describe(info: LockInfo) -> str:
    purpose = f"for {info.purpose!r}" if info.purpose else "(no purpose given)"
    pid = f", pid {info.pid}" if info.pid else ""
    return f"{info.holder}{pid} {purpose}"


def _held_message(env: str, info: LockInfo, expires: datetime, now: datetime) -> str:
    return (
        f"environment {env!r} is locked by {_describe(info)}; the lease expires "
        f"{_iso(expires)} by the store's clock (in {_span((expires - now).total_seconds())}) "
        f"unless renewed; lock id {info.lock_id or '?'}"
    )


def held_error(env: str, info: LockInfo, expires: datetime, now: datetime) -> LockedError:
    """The :class:`LockedError` for a live lease, with the holder as ``--json`` details."""
    return LockedError(_held_message(env, info, expires, now)).with_details(
        lock={
            "env": env,
            "lock_id": info.lock_id,
            "holder": info.holder,
            "pid": info.pid,
            "purpose": info.purpose,
            "expires_at": _iso(expires),
        }
    )


@dataclass(frozen=True)
class LockStatus:
    """A lock as found in the store, judged by the store's clock."""

    env: str
    info: LockInfo
    expires_at: datetime
    now: datetime
    problem: str = ""  # the lock is malformed (listed by list_locks only)

    @property
    def live(self) -> bool:
        return self.now < self.expires_at

    def to_json(self) -> dict[str, Any]:
        out = {
            "env": self.env,
            "lock_id": self.info.lock_id,
            "holder": self.info.holder,
            "pid": self.info.pid,
            "purpose": self.info.purpose,
            "expires_at": _iso(self.expires_at),
            "stale": not self.live,
        }
        return {**out, "malformed": self.problem} if self.problem else out


def lock_status(
    repo: Repo, env: str, damaged_ok: bool = False, *, probe: bool = True
) -> LockStatus | None:
    """``env``'s lock and whether it is live; None if there is none.

    A malformed lock is :class:`IntegrityError` naming it, unless ``damaged_ok``.
    ``probe=False`` judges without writing anything (a read-only view): the
    lease's own store timestamp plus its TTL against this machine's clock,
    so a skew between the two shifts the verdict by that much (see :func:`_expiry`).
    """
    cur = _read(repo, env, damaged_ok)
    if cur is None:
        return None
    expires, now = _expiry(repo, cur, probe)
    return LockStatus(env, cur.info, expires, now, cur.problem)


def list_locks(repo: Repo, *, probe: bool = True) -> list[LockStatus]:
    """Every lock in the store (live, stale or malformed), by environment (``probe``: as above)."""
    envs = sorted(layout.env_from_lock_key(m.key) for m in repo.backend.list(layout.LOCKS))
    found = (lock_status(repo, env, damaged_ok=True, probe=probe) for env in envs)
    return [st for st in found if st is not None]


def renew(repo: Repo, env: str, lock_id: str, ttl: float | None = None) -> Lease:
    """Renew ``env``'s lease from any process that knows its ``lock_id`` (``lock --renew``).

    Restarts its TTL (``ttl`` replaces it when given). Raises
    :class:`LockedError` if another lock holds the environment,
    :class:`NotLocked` if it is not locked at all.
    """
    cur = _read(repo, env)
    if cur is None:
        raise NotLocked(f"environment {env!r} is not locked (no {layout.lock_key(env)})")
    if cur.info.lock_id != lock_id:
        raise LockedError(
            f"{layout.lock_key(env)} is held by {_describe(cur.info)} with lock "
            f"id {cur.info.lock_id or '?'}, not {lock_id}; nothing renewed"
        )
    info = cur.info if ttl is None else replace(cur.info, ttl_seconds=_check_ttl(ttl))
    lease = Lease(repo, env, info, cur.version, local_now())
    lease.renew()
    return lease


def _write(repo: Repo, key: str, body: bytes, mode: PutMode) -> Version | None:
    """Conditional put; the new version, or None if the condition failed.

    A retried write that had in fact landed is recognised by its exact body
    (every body carries a fresh lock id or renewal time).
    """
    try:
        return repo.backend.put(key, body, mode)
    except (AlreadyExists, PreconditionFailed, NotFound):
        try:
            now, version = repo.backend.get(key)
        except NotFound:
            return None
        return version if now == body else None


def _check_ttl(ttl: float) -> int:
    if not isinstance(ttl, int | float) or not 1 <= ttl <= _MAX_TTL:
        raise UsageError(f"lease TTL must be from 1 second to 366 days, got {ttl!r}")
    return int(ttl)


class Lease:
    """A lease this process holds on ``locks/<env>``.

    ``version`` is the lock object's version as last written by us; every
    renewal is conditional on it. ``lost`` is set once a renewal fails: the
    holder must give up its work (:meth:`check` raises).
    """

    def __init__(
        self, repo: Repo, env: str, info: LockInfo, version: Version, expires_at: datetime
    ) -> None:
        self.repo = repo
        self.env = env
        self.info = info
        self.version = version
        self.expires_at = expires_at
        self.lost = threading.Event()
        self._mutex = threading.Lock()

    @property
    def key(self) -> str:
        return layout.lock_key(self.env)

    @property
    def lock_id(self) -> str:
        return self.info.lock_id

    @property
    def ttl(self) -> int:
        return self.info.ttl_seconds

    def to_json(self) -> dict[str, Any]:
        """What ``statesync lock`` prints."""
        return {
            "env": self.env,
            "lock_id": self.lock_id,
            "holder": self.info.holder,
            "host": self.info.host,
            "pid": self.info.pid,
            "purpose": self.info.purpose,
            "created_at": self.info.created_at,
            "ttl_seconds": self.ttl,
            "expires_at": _iso(self.expires_at),
        }

    def check(self) -> None:
        """Raise :class:`LockedError` if the lease has been lost."""
        if self.lost.is_set():
            raise LockedError(
                f"lease lost: {self.key} (lock id {self.lock_id}) is no longer "
                "held by this process; giving up"
            )

    def renew(self) -> None:
        """Rewrite the lock conditionally on our last version; restarts its TTL.

        Raises :class:`LockedError` ("lease lost") if the lock was taken over
        or removed; :attr:`lost` is then set. Backend faults pass through.
        """
        with self._mutex:
            self.check()
            # Microseconds keep each renewal's body unique: _write tells a retried
            # renewal that landed from someone else's write by the exact bytes.
            stamp = local_now().isoformat(timespec="microseconds")
            info = replace(self.info, renewed_at=stamp)
            version = _write(self.repo, self.key, info.to_bytes(), Update(self.version))
            if version is None:
                self.lost.set()
                cur = _read(self.repo, self.env)
                now = f"now held by {_describe(cur.info)}" if cur else "it was removed"
                raise LockedError(
                    f"lease lost: {self.key} (lock id {self.lock_id}) changed "
                    f"since this process last renewed it; {now}"
                )
            self.info, self.version = info, version
            self.expires_at = _written_expiry(self.repo, self.key, self.ttl)

    def release(self) -> None:
        """Remove the lock if it is still ours (see :func:`release`)."""
        with self._mutex:
            release(self.repo, self.env, self.lock_id)


def _written_expiry(repo: Repo, key: str, ttl: int) -> datetime:
    with contextlib.suppress(NotFound):
        modified = repo.backend.head(key).modified
        if modified is not None:
            return modified + timedelta(seconds=ttl)
    return local_now() + timedelta(seconds=ttl)


def acquire(
    repo: Repo, env: str, ttl: float = DEFAULT_TTL, purpose: str = "", force: bool = False
) -> Lease:
    """Take the lease on ``env``: create the lock, or take over a stale one.

    Raises :class:`LockedError` naming the holder, purpose and expiry when
    another live lease holds it, :class:`IntegrityError` naming a malformed
    one, and :class:`UsageError` for a TTL under 1s. ``force`` takes over
    whatever lease is there (live, or malformed), conditionally on the
    version read, so a lease changed meanwhile is not overwritten blindly.
    """
    key = layout.lock_key(env)
    seconds = _check_ttl(ttl)
    now = _iso(local_now())
    info = LockInfo(
        uuid.uuid4().hex,
        user_at_host(),
        socket.gethostname(),
        os.getpid(),
        purpose,
        now,
        seconds,
        now,
        holder_id(),
    )
    body = info.to_bytes()

    def attempt(_: int) -> Lease | Again:
        version = _write(repo, key, body, CREATE)
        if version is None:
            cur = _read(repo, env, damaged_ok=force)
            if cur is None:
                return AGAIN  # released meanwhile: try to create again
            _may_take_over(repo, env, cur, force)
            version = _write(repo, key, body, Update(cur.version))
        if version is None:
            return AGAIN  # someone else took it over first: look again
        return Lease(repo, env, info, version, _written_expiry(repo, key, seconds))

    return retry_conditional(
        attempt,
        attempts=_ATTEMPTS,
        gave_up=lambda: LockedError(
            f"{key} changed {_ATTEMPTS} times while acquiring it; try again"
        ),
    )


def _may_take_over(repo: Repo, env: str, cur: _Current, force: bool) -> None:
    """Return if ``cur`` may be replaced (stale, or ``force``); else :class:`LockedError`."""
    if force:
        log.warning(
            "replacing the lease on %s held by %s (lock --force)",
            env,
            cur.problem or cur.info.holder,
        )
        return
    expires, store_time = _expiry(repo, cur)
    if store_time < expires:
        raise held_error(env, cur.info, expires, store_time)
    log.warning(
        "taking over the stale lease on %s from %s (expired %s)",
        env,
        cur.info.holder,
        _iso(expires),
    )


def _ours(info: LockInfo) -> bool:
    """Taken by this uid's user on this host and machine (not judged by ``LOGNAME``)."""
    return info.holder == user_at_host() and info.holder_id == holder_id()


def release(repo: Repo, env: str, lock_id: str, force: bool = False) -> LockInfo:
    """Delete ``locks/<env>`` only if it is still the lock ``lock_id``; return what was removed.

    The delete is conditional on the version read, so a lock renewed or taken
    over meanwhile is never removed. Raises :class:`LockedError` if another
    lock holds the environment (naming its holder), or, without ``force``, if
    the lock was not taken by this user on this machine (see :func:`_ours`);
    :class:`NotLocked` if the environment is not locked at all.
    """
    key = layout.lock_key(env)

    def attempt(_: int) -> LockInfo | Again:
        cur = _read(repo, env)
        if cur is None:
            raise NotLocked(f"environment {env!r} is not locked (no {key})")
        if cur.info.lock_id != lock_id:
            raise LockedError(
                f"{key} is held by {_describe(cur.info)} with lock id "
                f"{cur.info.lock_id or '?'}, not {lock_id}; nothing removed"
            )
        if not force and not _ours(cur.info):
            raise LockedError(
                f"{key} is held by {_describe(cur.info)}, not by {user_at_host()}; "
                f"use unlock --force {lock_id} to remove it"
            )
        try:
            repo.backend.delete(key, cur.version)
        except PreconditionFailed:
            return AGAIN  # renewed, taken over or removed since read: look again
        return cur.info

    return retry_conditional(
        attempt,
        attempts=_ATTEMPTS,
        gave_up=lambda: LockedError(
            f"{key} changed {_ATTEMPTS} times while releasing it; try again"
        ),
    )


class Heartbeat:
    """Renews a lease every ttl/3 on a daemon thread until stopped.

    A renewal that finds the lock taken over sets ``lost`` at once. Backend
    faults (:class:`BackendError`: the store unreachable, throttling) are
    retried at the next beat; once a whole TTL has passed without a successful
    renewal, the lease is presumed lost too (a peer may already have taken it
    over) and ``lost`` is set. Any other error (a damaged lock) sets ``lost``
    at once; a bug sets it and ends the thread with its traceback.
    """

    def __init__(self, lease: Lease, interval: float | None = None) -> None:
        self.lease = lease
        self.lost = lease.lost
        self.interval = interval if interval is not None else max(0.05, lease.ttl / 3)
        self._stop = threading.Event()
        self._thread = threading.Thread(
            target=self._run, daemon=True, name=f"statesync-lease-{lease.env}"
        )

    def start(self) -> Heartbeat:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join()

    def __enter__(self) -> Heartbeat:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def _run(self) -> None:
        try:
            self._beat()
        except BaseException:
            self.lost.set()  # a bug ended the heartbeat: nobody renews the lease any more
            raise

    def _beat(self) -> None:
        last_ok = time.monotonic()
        while not self._stop.wait(self.interval):
            try:
                self.lease.renew()
                last_ok = time.monotonic()
            except LockedError as exc:
                log.warning("%s", exc)
                return
            except BackendError as exc:  # the store is flaky or away: retry until the TTL is spent
                if time.monotonic() - last_ok >= self.lease.ttl:
                    self.lost.set()
                    log.warning(
                        "lease on %s presumed lost: no renewal for %ss (%s)",
                        self.lease.env,
                        self.lease.ttl,
                        exc,
                    )
                    return
                log.warning("renewing the lease on %s failed, retrying: %s", self.lease.env, exc)
            except StatesyncError as exc:  # e.g. a damaged lock: renewing again cannot help
                self.lost.set()
                log.warning("lease on %s presumed lost: %s", self.lease.env, exc)
                return


@contextlib.contextmanager
def held(repo: Repo, env: str, purpose: str, ttl: float = DEFAULT_TTL) -> Iterator[Lease]:
    """Hold the lease on ``env`` (heartbeat running) for the ``with`` block.

    Raises :class:`LockedError` if another holder has it. The block should
    call ``lease.check()`` before each irreversible step. On exit the lease is
    released; failing to release (e.g. it was lost) is logged, not raised, so
    it never masks the block's own outcome.
    """
    lease = acquire(repo, env, ttl, purpose)
    try:
        with Heartbeat(lease):
            yield lease
    finally:
        try:
            lease.release()
        except StatesyncError as exc:
            log.warning("could not release the lease on %s: %s", env, exc)
