"""Stores for the API tests: one on every backend, a keyed one (passphrase recipient)."""

from __future__ import annotations

import pytest

from statesync.api import Store


@pytest.fixture
def store(any_store_url: str) -> Store:
    return Store.init(any_store_url)


@pytest.fixture
def keyed(any_store_url: str, monkeypatch: pytest.MonkeyPatch) -> Store:
    monkeypatch.setenv("STATESYNC_PASSPHRASE", "correct horse battery staple")
    Store.init(any_store_url).keys().init("agents", ["passphrase"])
    return Store.open(any_store_url)


@pytest.fixture
def local(tmp_path: object) -> Store:
    """On the local store only: for behaviour that does not depend on the backend."""
    from pathlib import Path

    return Store.init((Path(str(tmp_path)) / "store").as_uri())
