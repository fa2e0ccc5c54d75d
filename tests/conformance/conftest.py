"""Parametrise the conformance suite over every backend rig."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from statesync.backends import open_backend
from statesync.backends.base import Backend


@pytest.fixture
def store_url(any_store_url: str) -> str:
    """A fresh store URL on each backend (tests/conftest.py)."""
    return any_store_url


@pytest.fixture
def backend(store_url: str) -> Iterator[Backend]:
    b = open_backend(store_url)
    yield b
    b.close()
