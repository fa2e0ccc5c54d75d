"""Fixtures for the crypto tests: a fresh store on every backend, cheap passphrase providers."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from statesync.backends import open_backend
from statesync.crypto.providers.keyfile import KeyfileProvider, new_keyfile
from statesync.crypto.providers.passphrase import KdfParams, PassphraseProvider
from statesync.sync.store.repo import Repo, init_repo

#: Argon2id at its cheapest, so tests over five backends stay fast. The
#: defaults (64 MiB, 3 passes) are checked separately in test_passphrase.py.
FAST = KdfParams(memory_kib=64, iterations=1, lanes=1)


def passphrase(label: str, secret: str | None) -> PassphraseProvider:
    """A passphrase provider whose passphrase is ``secret`` (None: none available)."""
    return PassphraseProvider(label, FAST, lambda _label, _confirm: secret)


@pytest.fixture
def repo(any_store_url: str) -> Iterator[Repo]:
    """A freshly initialised store on each backend."""
    backend = open_backend(any_store_url)
    try:
        yield init_repo(backend)
    finally:
        backend.close()


@pytest.fixture
def memory_repo() -> Iterator[Repo]:
    import uuid

    backend = open_backend(f"memory://{uuid.uuid4().hex}")
    yield init_repo(backend)
    backend.close()


@pytest.fixture
def keyfile(tmp_path: Path) -> KeyfileProvider:
    path = tmp_path / "team.key"
    new_keyfile(path)
    return KeyfileProvider(path)
