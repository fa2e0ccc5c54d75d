"""Locks that lock: push, import, promote and rollback respect another holder's lease."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from statesync.api import LockPolicy, Store
from statesync.errors import LockedError, StatesyncError
from statesync.sync.store.leases import acquire
from statesync.sync.store.refs import read_ref
from tests.helpers import write


@pytest.fixture
def store(any_store_url: str) -> Store:
    return Store.init(any_store_url)


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    root = tmp_path / "app"
    write(root, "state.json", {"v": 1})
    return root


def _serial(store: Store, env: str) -> int:
    state = read_ref(store.repo, env)
    return state.ref.serial if state else 0


def test_push_refuses_while_another_holder_has_the_lease(store: Store, folder: Path) -> None:
    store.push(folder, "prod")
    held = store.lock("prod", 600, "deploy v2")
    write(folder, "state.json", {"v": 2})
    with pytest.raises(LockedError) as err:
        store.push(folder, "prod")
    assert err.value.exit_code == 5
    assert "'deploy v2'" in str(err.value) and held.lock_id in str(err.value)
    assert err.value.details["lock"]["lock_id"] == held.lock_id
    assert err.value.details["lock"]["expires_at"]
    assert _serial(store, "prod") == 1


def test_the_holder_pushes_with_its_lock_id_and_anyone_with_ignore(
    store: Store, folder: Path
) -> None:
    held = store.lock("prod", 600, "deploy")
    assert store.push(folder, "prod", lock=LockPolicy(lock_id=held.lock_id)).serial == 1
    write(folder, "state.json", {"v": 2})
    with pytest.raises(LockedError):
        store.push(folder, "prod", lock=LockPolicy(lock_id="0" * 32))
    assert store.push(folder, "prod", lock=LockPolicy(ignore=True)).serial == 2


def test_push_waits_for_the_lease_up_to_its_timeout(store: Store, folder: Path) -> None:
    held = store.lock("prod", 600, "short job")
    with pytest.raises(LockedError, match="short job"):
        store.push(folder, "prod", lock=LockPolicy(timeout=0.3))
    timer = threading.Timer(0.5, lambda: store.unlock("prod", held.lock_id))
    timer.start()
    try:
        result = store.push(folder, "prod", lock=LockPolicy(timeout=60))
    finally:
        timer.join()
    assert result.serial == 1


def test_import_refuses_while_locked(store: Store, folder: Path, tmp_path: Path) -> None:
    store.push(folder, "dev")
    bundle = tmp_path / "dev.json"
    store.export(bundle, env="dev")
    store.lock("staging", 600, "freeze")
    with pytest.raises(LockedError, match="freeze"):
        store.import_(bundle, "staging")
    assert _serial(store, "staging") == 0


def test_promote_and_rollback_under_the_callers_own_lease(store: Store, folder: Path) -> None:
    first = store.push(folder, "dev")
    write(folder, "state.json", {"v": 2})
    store.push(folder, "dev")
    held = store.lock("dev", 600, "release")
    with pytest.raises(LockedError):
        store.rollback("dev", first.snapshot)
    mine = LockPolicy(lock_id=held.lock_id)
    assert store.rollback("dev", first.snapshot, lock=mine).serial == 3
    assert store.promote("dev", "prod", lock=LockPolicy(ignore=True)).serial == 1
    # Our lease is still in place afterwards (it was not taken or released).
    assert [s.info.lock_id for s in store.locks()] == [held.lock_id]


def test_renew_by_lock_id_and_listing(store: Store) -> None:
    held = acquire(store.repo, "prod", 60, "deploy")
    renewed = store.renew_lock("prod", held.lock_id, ttl=3600)
    assert renewed.lock_id == held.lock_id and renewed.ttl == 3600
    with pytest.raises(LockedError, match="nothing renewed"):
        store.renew_lock("prod", "f" * 32)
    with pytest.raises(StatesyncError, match="not locked"):
        store.renew_lock("dev", held.lock_id)
    (status,) = store.locks()
    assert status.env == "prod" and status.live and status.info.ttl_seconds == 3600
    assert status.to_json()["stale"] is False


def test_a_missing_environment_can_be_locked(store: Store, folder: Path) -> None:
    held = store.lock("new-env", 600, "first deploy")  # leases are for work, not only refs
    assert store.push(folder, "new-env", lock=LockPolicy(lock_id=held.lock_id)).serial == 1


def test_save_object_refuses_while_another_holder_has_the_lease(store: Store) -> None:
    store.save_object({"step": 1}, "agent")
    held = store.lock("agent", 600, "agent run")
    with pytest.raises(LockedError) as err:
        store.save_object({"step": 2}, "agent")
    assert err.value.exit_code == 5 and err.value.details["lock"]["lock_id"] == held.lock_id
    assert _serial(store, "agent") == 1
    mine = store.save_object({"step": 2}, "agent", lock=LockPolicy(lock_id=held.lock_id))
    forced = store.save_object({"step": 3}, "agent", lock=LockPolicy(ignore=True))
    assert (mine.serial, forced.serial) == (2, 3)
    assert store.load_object("agent") == {"step": 3}
