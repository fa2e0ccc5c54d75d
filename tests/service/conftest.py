"""Stores for the watch tests: a real process needs a store other processes can open."""

from __future__ import annotations

from pathlib import Path

import pytest

from statesync.api import Store
from tests.rigs import RIGS

#: memory:// lives inside one process: a watch subprocess cannot share it.
PROCESS_RIGS = sorted(name for name in RIGS if name != "memory")


@pytest.fixture(params=PROCESS_RIGS)
def shared_store(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A fresh, initialised store URL on local and each emulator."""
    url = RIGS[request.param](tmp_path)
    if url is None:
        pytest.skip(f"{request.param} emulator not started (run scripts/test.sh)")
    Store.init(url).close()
    return url


@pytest.fixture
def local_store(tmp_path: Path) -> str:
    url = (tmp_path / "store").as_uri()
    Store.init(url).close()
    return url
