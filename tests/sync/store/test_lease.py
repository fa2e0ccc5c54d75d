"""Leases on every backend: exclusion, expiry by the store's clock, atomic takeover, release."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from statesync.api import LockPolicy, Store
from statesync.backends.base import OVERWRITE, Backend, Meta, PutData, PutMode, Update, Version
from statesync.backends.memory import MemoryBackend
from statesync.errors import (
    BackendUnavailable,
    IntegrityError,
    LockedError,
    RefConflict,
    StatesyncError,
    UsageError,
)
from statesync.sync import commit
from statesync.sync.store import layout
from statesync.sync.store import leases as lease
from statesync.sync.store.builder import SnapshotBuilder
from statesync.sync.store.leases import Heartbeat, Lease, acquire, held, release, store_now
from statesync.sync.store.manifest import Entry
from statesync.sync.store.refs import read_ref
from statesync.sync.store.repo import Repo, init_repo
from statesync.whoami import user_at_host
from tests.cloud_rigs import on_emulator
from tests.delegating import Delegating

# --- test backends --------------------------------------------------------------


class StoreClock:
    """The store's own clock, moved only by the test (``None``: no timestamps at all)."""

    def __init__(self, now: datetime | None) -> None:
        self.now = now

    def __call__(self) -> datetime | None:
        return self.now

    def advance(self, seconds: float) -> None:
        assert self.now is not None
        self.now += timedelta(seconds=seconds)


class ClockedBackend(Delegating):
    """Stamps every write with the test's store clock instead of the real time."""

    def __init__(self, inner: Backend, clock: StoreClock) -> None:
        super().__init__(inner)
        self.clock = clock
        self.stamps: dict[tuple[str, Version], datetime | None] = {}

    def put(self, key: str, data: PutData, mode: PutMode = OVERWRITE) -> Version:
        version = self.inner.put(key, data, mode)
        self.stamps[(key, version)] = self.clock()
        return version

    def head(self, key: str) -> Meta:
        meta = self.inner.head(key)
        return replace(meta, modified=self.stamps.get((key, meta.version)))


class HookedBackend(Delegating):
    """Runs ``before_delete`` / fails lock puts on demand, to force interleavings and faults."""

    def __init__(self, inner: Backend) -> None:
        super().__init__(inner)
        self.before_delete: Callable[[], None] | None = None
        self.fail_lock_puts = False
        self.lock_put_fault: Exception = BackendUnavailable("store unreachable (test)")

    def delete(self, key: str, expected: Version | None = None) -> None:
        hook, self.before_delete = self.before_delete, None
        if hook is not None:
            hook()
        self.inner.delete(key, expected)

    def put(self, key: str, data: PutData, mode: PutMode = OVERWRITE) -> Version:
        if self.fail_lock_puts and key == layout.lock_key("prod"):
            raise self.lock_put_fault
        return self.inner.put(key, data, mode)


# --- fixtures and helpers -----------------------------------------------------------


@pytest.fixture
def store(any_store_url: str) -> Store:
    return Store.init(any_store_url)


@pytest.fixture
def repo(store: Store) -> Repo:
    return store.repo


def clocked_repo(clock: StoreClock) -> Repo:
    return init_repo(ClockedBackend(MemoryBackend(uuid.uuid4().hex), clock))


def lock_body(repo: Repo, env: str = "prod") -> dict[str, object]:
    doc: dict[str, object] = json.loads(repo.backend.get(layout.lock_key(env))[0])
    return doc


def lock_exists(repo: Repo, env: str = "prod") -> bool:
    return any(m.key == layout.lock_key(env) for m in repo.backend.list(layout.LOCKS))


def probes_left(repo: Repo) -> list[str]:
    return [m.key for m in repo.backend.list(layout.clock_probe_key(""))]


def as_someone_else(monkeypatch: pytest.MonkeyPatch, fn: Callable[[], Lease]) -> Lease:
    with monkeypatch.context() as m:
        m.setattr(lease, "user_at_host", lambda: "alice@elsewhere")
        return fn()


def acquire_when_stale(repo: Repo, env: str, purpose: str, within: float = 10) -> Lease:
    """Poll until the current lease has expired by the store's clock, then take it."""
    deadline = time.monotonic() + within
    while True:
        try:
            return acquire(repo, env, 60, purpose)
        except LockedError:
            assert time.monotonic() < deadline, "stale lease was never taken over"
            time.sleep(0.1)


def object_entries(repo: Repo, doc: object) -> list[Entry]:
    builder = SnapshotBuilder(repo)
    entry = builder.add_bytes("object.json", json.dumps(doc).encode(), 0o600)
    builder.finish()
    return [entry]


# --- acquire --------------------------------------------------------------------


def test_acquire_writes_who_why_and_for_how_long(repo: Repo) -> None:
    held_lease = acquire(repo, "prod", 60, "deploy v2")
    body = lock_body(repo)
    assert body["lock_id"] == held_lease.lock_id and len(held_lease.lock_id) == 32
    assert body["holder"] == user_at_host() and "@" in str(body["holder"])
    assert body["purpose"] == "deploy v2" and body["ttl_seconds"] == 60
    assert isinstance(body["pid"], int) and body["host"] and body["created_at"]
    assert held_lease.expires_at > datetime.now(UTC) + timedelta(seconds=30)


def test_a_held_lease_refuses_a_second_holder_naming_holder_purpose_and_expiry(
    repo: Repo,
) -> None:
    first = acquire(repo, "prod", 600, "deploy v2")
    with pytest.raises(LockedError) as err:
        acquire(repo, "prod", 60, "another deploy")
    msg = str(err.value)
    assert err.value.exit_code == 5 and "\n" not in msg
    assert user_at_host() in msg and "'deploy v2'" in msg and first.lock_id in msg
    assert "expires" in msg and "store's clock" in msg and "(in 10m" in msg
    assert lock_body(repo)["lock_id"] == first.lock_id
    assert probes_left(repo) == []


def test_leases_of_different_environments_are_independent(repo: Repo) -> None:
    acquire(repo, "prod", 60)
    assert acquire(repo, "staging", 60).env == "staging"


def test_many_takers_of_a_free_lease_get_exactly_one_winner(repo: Repo) -> None:
    results: list[str] = []

    def take() -> None:
        try:
            acquire(repo, "prod", 60, "race")
            results.append("won")
        except LockedError:
            results.append("locked")

    threads = [threading.Thread(target=take) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(results) == ["locked"] * 5 + ["won"]


@pytest.mark.parametrize("ttl", [0, 0.5, -5, 400 * 86400, float("nan")])
def test_an_unusable_ttl_is_a_usage_error(repo: Repo, ttl: float) -> None:
    with pytest.raises(UsageError):
        acquire(repo, "prod", ttl)
    assert not lock_exists(repo)


def test_an_unreadable_lock_is_store_damage_naming_it(repo: Repo) -> None:
    repo.backend.put(layout.lock_key("prod"), b"not json", OVERWRITE)
    with pytest.raises(IntegrityError, match="locks/prod: malformed lease") as caught:
        acquire(repo, "prod", 60)
    assert caught.value.exit_code == 4 and "lock ENV --force" in str(caught.value)


# --- the store's clock --------------------------------------------------------------


def test_the_store_clock_is_read_from_a_probe_that_is_then_removed(repo: Repo) -> None:
    now = store_now(repo.backend)
    assert now is not None and now.tzinfo is not None
    # The emulators run on this machine, so here the store's clock is ours.
    assert abs((now - datetime.now(UTC)).total_seconds()) < 60
    assert probes_left(repo) == []


@pytest.mark.parametrize("skew_hours", [-5, 5])
def test_staleness_is_judged_by_the_store_clock_not_the_local_one(skew_hours: int) -> None:
    clock = StoreClock(datetime.now(UTC) + timedelta(hours=skew_hours))
    repo = clocked_repo(clock)
    holder = acquire(repo, "prod", 60, "deploy")
    # By our clock this lock was written 5 hours ago (or 5 hours ahead): only the
    # store's clock can say it is fresh.
    with pytest.raises(LockedError) as err:
        acquire(repo, "prod", 60, "other")
    assert clock.now is not None
    expected_expiry = clock.now + timedelta(seconds=61)
    shown = expected_expiry.astimezone(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")
    assert shown in str(err.value)  # the expiry, on the store's clock, as the user reads it
    clock.advance(60)
    with pytest.raises(LockedError):
        acquire(repo, "prod", 60, "other")
    clock.advance(2)  # past TTL plus the one-second grace, by the store's clock only
    taker = acquire(repo, "prod", 60, "other")
    assert lock_body(repo)["lock_id"] == taker.lock_id != holder.lock_id
    with pytest.raises(LockedError, match="lease lost"):
        holder.renew()
    assert holder.lost.is_set() and probes_left(repo) == []


def test_renewal_restarts_the_ttl_on_the_store_clock() -> None:
    clock = StoreClock(datetime.now(UTC) - timedelta(hours=3))
    repo = clocked_repo(clock)
    holder = acquire(repo, "prod", 60)
    clock.advance(50)
    holder.renew()
    clock.advance(50)  # 100 s after acquiring, 50 s after renewing
    with pytest.raises(LockedError):
        acquire(repo, "prod", 60)


def test_without_store_timestamps_the_local_clock_decides(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    local = StoreClock(datetime(2030, 1, 1, tzinfo=UTC))
    monkeypatch.setattr(lease, "local_now", local)
    repo = clocked_repo(StoreClock(None))
    holder = acquire(repo, "prod", 60)
    local.advance(60)
    with pytest.raises(LockedError):
        acquire(repo, "prod", 60)
    local.advance(2)
    assert acquire(repo, "prod", 60).lock_id != holder.lock_id


def test_only_one_of_many_takers_wins_a_stale_lease() -> None:
    clock = StoreClock(datetime.now(UTC))
    repo = clocked_repo(clock)
    acquire(repo, "prod", 60, "dead holder")
    clock.advance(120)
    winners: list[Lease] = []
    refused: list[str] = []
    barrier = threading.Barrier(6)

    def take() -> None:
        barrier.wait()
        try:
            winners.append(acquire(repo, "prod", 60, "taker"))
        except LockedError as exc:
            refused.append(str(exc))

    threads = [threading.Thread(target=take) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(winners) == 1 and len(refused) == 5
    assert lock_body(repo)["lock_id"] == winners[0].lock_id
    assert all("taker" in msg for msg in refused)  # refused by the winner, not the dead holder


# --- holders that die or lose their lease ---------------------------------------------

_HOLDER = """
import sys, time
from statesync.api import Store
from statesync.sync.store.leases import Heartbeat
lease = Store.open(sys.argv[1]).lock("prod", ttl=2, purpose="killed worker")
Heartbeat(lease).start()
print(lease.lock_id, flush=True)
time.sleep(600)
"""


def test_a_killed_holders_lease_is_taken_over_after_its_ttl_and_not_before(
    any_store_url: str, store: Store
) -> None:
    if any_store_url.startswith("memory://"):
        pytest.skip("a memory store is private to one process")
    proc = subprocess.Popen(
        [sys.executable, "-c", _HOLDER, any_store_url],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        their_id = proc.stdout.readline().strip()
        assert their_id, proc.stderr.read() if proc.stderr else ""
        time.sleep(3.5)  # well past the 2 s TTL: only the heartbeat keeps it alive
        with pytest.raises(LockedError, match="killed worker"):
            acquire(store.repo, "prod", 60, "taker")
    finally:
        proc.kill()
        proc.wait()
    killed = time.monotonic()
    with pytest.raises(LockedError, match="killed worker"):
        acquire(store.repo, "prod", 60, "taker")
    taker = acquire_when_stale(store.repo, "prod", "taker")
    waited = time.monotonic() - killed
    # Its last renewal was at most ttl/3 before the kill: expiry is >= 2 - 0.67 s later.
    assert 1.2 <= waited < 8, waited
    assert lock_body(store.repo)["lock_id"] == taker.lock_id != their_id


def test_a_holder_that_lost_its_lease_cannot_overwrite_the_new_holders_push(
    store: Store,
) -> None:
    repo = store.repo
    store.save_object({"v": 0}, "prod")
    slow = acquire(repo, "prod", 1, "slow job")
    slow_state = read_ref(repo, "prod")
    assert slow_state is not None
    slow_entries = object_entries(repo, {"v": "slow"})
    fast = acquire_when_stale(repo, "prod", "fast job")
    with pytest.raises(LockedError, match="lease lost") as err:
        slow.renew()
    assert "fast job" in str(err.value) and slow.lost.is_set()
    with pytest.raises(LockedError):
        slow.check()
    store.save_object({"v": "fast"}, "prod", lock=LockPolicy(lock_id=fast.lock_id))
    # The ref's conditional write is the real guard, lease or no lease.
    with pytest.raises(RefConflict):
        commit.commit_entries(repo, "prod", slow_state, slow_state.ref.snapshot, slow_entries)
    assert store.load_object("prod") == {"v": "fast"}
    fast.release()
    assert not lock_exists(repo)


def test_heartbeat_keeps_renewing(repo: Repo) -> None:
    held_lease = acquire(repo, "prod", 60)
    first = held_lease.version
    with Heartbeat(held_lease, interval=0.05) as hb:
        time.sleep(0.5)
        assert not hb.lost.is_set()
    assert held_lease.version != first
    assert repo.backend.head(layout.lock_key("prod")).version == held_lease.version
    assert lock_body(repo)["renewed_at"]


def test_heartbeat_sets_lost_when_the_lease_is_taken_over(repo: Repo) -> None:
    held_lease = acquire(repo, "prod", 60)
    key = layout.lock_key("prod")
    theirs = json.dumps({"lock_id": "f" * 32, "holder": "bob@other", "ttl_seconds": 60})
    with Heartbeat(held_lease, interval=0.05) as hb:
        while True:  # take it over as another machine would, racing the heartbeat
            _, version = repo.backend.get(key)
            try:
                repo.backend.put(key, theirs.encode(), Update(version))
                break
            except StatesyncError:
                continue
        assert hb.lost.wait(5)
    with pytest.raises(LockedError, match="lease lost"):
        held_lease.check()


def test_heartbeat_survives_brief_faults_and_gives_up_after_a_ttl(store: Store) -> None:
    backend = HookedBackend(store.repo.backend)
    repo = Repo(backend, store.repo.descriptor)
    held_lease = acquire(repo, "prod", 1)
    backend.fail_lock_puts = True
    with Heartbeat(held_lease, interval=0.05) as hb:
        time.sleep(0.4)
        assert not hb.lost.is_set()  # faults within the TTL: keep trying
        assert hb.lost.wait(5)  # a whole TTL without renewal: presumed lost


def test_heartbeat_does_not_retry_what_is_no_backend_fault(store: Store) -> None:
    backend = HookedBackend(store.repo.backend)
    repo = Repo(backend, store.repo.descriptor)
    held_lease = acquire(repo, "prod", 60)
    backend.lock_put_fault = IntegrityError("locks/prod: not a lock (test)")
    backend.fail_lock_puts = True
    with Heartbeat(held_lease, interval=0.05) as hb:
        assert hb.lost.wait(5)  # at once, not after the 60 s TTL: renewing cannot help
    with pytest.raises(LockedError, match="lease lost"):
        held_lease.check()


def test_heartbeat_hit_by_a_bug_marks_the_lease_lost_and_lets_the_bug_through(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    escaped: list[type[BaseException] | None] = []
    monkeypatch.setattr(threading, "excepthook", lambda args: escaped.append(args.exc_type))
    backend = HookedBackend(store.repo.backend)
    repo = Repo(backend, store.repo.descriptor)
    held_lease = acquire(repo, "prod", 60)
    backend.lock_put_fault = RuntimeError("a bug (test)")
    backend.fail_lock_puts = True
    with Heartbeat(held_lease, interval=0.05) as hb:
        assert hb.lost.wait(5)
    assert escaped == [RuntimeError]


def test_held_releases_on_success_and_on_error(repo: Repo) -> None:
    with held(repo, "prod", "job", 60) as inside:
        assert lock_body(repo)["lock_id"] == inside.lock_id
    assert not lock_exists(repo)
    with pytest.raises(RuntimeError), held(repo, "prod", "job", 60):
        raise RuntimeError("work failed")
    assert not lock_exists(repo)


def test_held_refuses_while_another_holder_has_it(repo: Repo) -> None:
    other = acquire(repo, "prod", 60, "first")
    ran = False
    with pytest.raises(LockedError, match="first"), held(repo, "prod", "second", 60):
        ran = True
    assert not ran and lock_body(repo)["lock_id"] == other.lock_id


# --- release -----------------------------------------------------------------------


def test_release_with_the_wrong_lock_id_removes_nothing(repo: Repo) -> None:
    mine = acquire(repo, "prod", 60, "deploy")
    for force in (False, True):
        with pytest.raises(LockedError) as err:
            release(repo, "prod", "0" * 32, force=force)
        assert err.value.exit_code == 5 and user_at_host() in str(err.value)
        assert mine.lock_id in str(err.value)
    assert lock_body(repo)["lock_id"] == mine.lock_id


def test_another_holders_lock_needs_force_and_the_right_id(
    repo: Repo, monkeypatch: pytest.MonkeyPatch
) -> None:
    theirs = as_someone_else(monkeypatch, lambda: acquire(repo, "prod", 60, "their job"))
    with pytest.raises(LockedError, match="--force") as err:
        release(repo, "prod", theirs.lock_id)
    assert "alice@elsewhere" in str(err.value)
    assert lock_exists(repo)
    removed = release(repo, "prod", theirs.lock_id, force=True)
    assert removed.holder == "alice@elsewhere" and not lock_exists(repo)


def test_releasing_an_unlocked_environment_is_an_error(repo: Repo) -> None:
    with pytest.raises(StatesyncError, match="not locked") as err:
        release(repo, "prod", "0" * 32)
    assert err.value.exit_code == 1


def test_release_never_deletes_a_lock_taken_over_after_it_was_read(
    store: Store, request: pytest.FixtureRequest
) -> None:
    if store.url.startswith("gs://") and on_emulator("gcs"):
        request.applymarker(
            pytest.mark.xfail(
                strict=True,
                reason="fake-gcs-server ignores ifGenerationMatch on DELETE; "
                "tests/backends/test_gcs_faults.py shows the driver sends it",
            )
        )
    backend = HookedBackend(store.repo.backend)
    repo = Repo(backend, store.repo.descriptor)
    stale = acquire(repo, "prod", 60, "old")
    key = layout.lock_key("prod")
    new_body = json.dumps(
        {"lock_id": "f" * 32, "holder": "bob@other", "purpose": "new", "ttl_seconds": 60}
    ).encode()

    def take_over() -> None:
        _, version = repo.backend.get(key)
        repo.backend.put(key, new_body, Update(version))

    backend.before_delete = take_over  # between release's read and its delete
    with pytest.raises(LockedError, match="bob@other"):
        release(repo, "prod", stale.lock_id, force=True)
    assert repo.backend.get(key)[0] == new_body
