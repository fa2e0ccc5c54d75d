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
