"""history.resolve: only "not found" means "neither an environment nor a snapshot id".

A tampered ref, an unreachable store or an ambiguous prefix comes through as
itself, with its own exit code.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from statesync.api import Store
from statesync.backends.base import OVERWRITE
from statesync.errors import (
    BackendUnavailable,
    EnvNotFound,
    IntegrityError,
    UsageError,
)
from statesync.sync import history
from statesync.sync.store import layout
from tests.helpers import write


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Store]:
    url = f"memory://{uuid.uuid4().hex}"
    Store.init(url).close()
    opened = Store.open(url)
    work = tmp_path / "work"
    write(work, "state.json", {"replicas": 2})
    opened.push(work, "prod")
    yield opened
    opened.close()


def test_an_unknown_name_is_neither_an_environment_nor_a_snapshot_id(store: Store) -> None:
    for name in ("staging", "0123abcd", "zz"):
        with pytest.raises(EnvNotFound, match="neither an environment nor a snapshot id"):
            history.resolve(store.repo, name)


def test_a_tampered_ref_comes_through_as_an_integrity_error(store: Store) -> None:
    store.repo.backend.put(layout.ref_key("prod"), b"{not a ref", OVERWRITE)
    with pytest.raises(IntegrityError) as err:
        history.resolve(store.repo, "prod")
    assert err.value.exit_code == 4
    assert "neither an environment" not in str(err.value)


def test_an_unreachable_store_comes_through_as_itself(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    def down(*_: object, **__: object) -> None:
        raise BackendUnavailable("cannot reach the store: Connection refused")

    monkeypatch.setattr(store.repo.backend, "get", down)
    monkeypatch.setattr(store.repo.backend, "list", down)
    for name in ("prod", "0123abcd"):
        with pytest.raises(BackendUnavailable, match="Connection refused"):
            history.resolve(store.repo, name)


def test_an_ambiguous_prefix_is_reported_as_ambiguous(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    def ambiguous(*_: object, **__: object) -> str:
        raise UsageError("snapshot prefix 0123abcd is ambiguous (2 matches)")

    monkeypatch.setattr(history, "resolve_trusted", ambiguous)
    with pytest.raises(UsageError, match="ambiguous"):
        history.resolve(store.repo, "0123abcd")


# --- the reporters (verify, log --all, repair) name damage, never an outage ---------


class _Outage:
    """Makes every read of keys under ``prefix`` fail as an unreachable store does."""

    def __init__(self, store: Store, monkeypatch: pytest.MonkeyPatch, prefix: str) -> None:
        backend = store.repo.backend
        real_get = backend.get

        def get(key: str) -> tuple[bytes, object]:
            if key.startswith(prefix):
                raise BackendUnavailable("cannot reach the store: Connection refused")
            return real_get(key)

        monkeypatch.setattr(backend, "get", get)


def test_verify_lets_an_outage_through_instead_of_reporting_damage(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    _Outage(store, monkeypatch, "refs/")
    with pytest.raises(BackendUnavailable, match="Connection refused"):
        store.verify()


def test_log_all_lets_an_outage_through_instead_of_naming_a_damaged_env(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    _Outage(store, monkeypatch, "refs/")
    with pytest.raises(BackendUnavailable, match="Connection refused"):
        store.log_all()


def test_repair_lets_an_outage_through_instead_of_calling_a_pack_unreadable(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    _Outage(store, monkeypatch, "objects/")
    with pytest.raises(BackendUnavailable, match="Connection refused"):
        store.repair(read_data=True)
