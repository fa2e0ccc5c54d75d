"""A malformed lease is store damage (exit 4 naming it), and its owner can get past it."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from statesync.api import LockPolicy, Store
from statesync.backends.base import OVERWRITE
from statesync.errors import IntegrityError
from statesync.sync.store import layout
from tests.helpers import write

_BODIES = {
    "not-json": b"{not json",
    "no-holder": json.dumps({"lock_id": "ab", "ttl_seconds": 60}).encode(),
    "huge-ttl": json.dumps({"lock_id": "ab", "holder": "x@y", "ttl_seconds": 1e20}).encode(),
    "pid-text": json.dumps(
        {"lock_id": "ab", "holder": "x@y", "ttl_seconds": 60, "pid": "x"}
    ).encode(),
}


@pytest.fixture
def store(any_store_url: str, tmp_path: Path) -> Store:
    store = Store.init(any_store_url)
    write(tmp_path / "src", "app.json", {"v": 1})
    store.push(tmp_path / "src", "dev")
    return store


def _damage(store: Store, body: bytes) -> None:
    store.repo.backend.put(layout.lock_key("dev"), body, OVERWRITE)


def test_a_malformed_lease_stops_writes_with_exit_4_naming_it(store: Store, tmp_path: Path) -> None:
    _damage(store, _BODIES["not-json"])
    write(tmp_path / "src", "app.json", {"v": 2})
    for attempt in (
        lambda: store.lock("dev"),
        lambda: store.push(tmp_path / "src", "dev"),
        lambda: store.rollback("dev", store.log("dev")[0].snapshot),
    ):
        with pytest.raises(IntegrityError, match="locks/dev: malformed") as caught:
            attempt()
        assert caught.value.exit_code == 4 and "\n" not in str(caught.value)
    assert len(store.log("dev")) == 1


@pytest.mark.parametrize("body", list(_BODIES), ids=list(_BODIES))
def test_each_malformed_field_is_named(tmp_path: Path, body: str) -> None:
    store = Store.init((tmp_path / "store").as_uri())
    _damage(store, _BODIES[body])
    with pytest.raises(IntegrityError, match=r"locks/dev: malformed.*lock ENV --force"):
        store.lock("dev")


def test_ignore_lock_writes_past_a_malformed_lease(store: Store, tmp_path: Path) -> None:
    _damage(store, _BODIES["not-json"])
    write(tmp_path / "src", "app.json", {"v": 2})
    assert store.push(tmp_path / "src", "dev", lock=LockPolicy(ignore=True)).serial == 2


def test_lock_force_replaces_a_malformed_lease_and_locks_lists_it(
    store: Store, tmp_path: Path
) -> None:
    _damage(store, _BODIES["no-holder"])
    [listed] = store.locks()
    assert listed.env == "dev" and "malformed field 'holder'" in listed.problem
    assert "malformed" in listed.to_json()
    lease = store.lock("dev", 60, "recover", force=True)
    [mine] = store.locks()
    assert mine.info.lock_id == lease.lock_id and not mine.problem
    store.unlock("dev", lease.lock_id)
    write(tmp_path / "src", "app.json", {"v": 2})
    assert store.push(tmp_path / "src", "dev").serial == 2
