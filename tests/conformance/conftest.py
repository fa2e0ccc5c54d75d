"""Parametrise the conformance suite over every backend rig."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from statesync.backends import open_backend
from statesync.backends.base import Backend
from tests.rigs import RIGS


@pytest.fixture(params=sorted(RIGS))
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    url = RIGS[request.param](tmp_path)
    if url is None:
        pytest.skip(f"{request.param} emulator not started (run scripts/test.sh)")
    return url


@pytest.fixture
def backend(store_url: str) -> Iterator[Backend]:
    b = open_backend(store_url)
    yield b
    b.close()
