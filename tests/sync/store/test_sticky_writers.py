"""No encryption downgrade through promote, rollback or import (not only push).

This machine remembers that it stored an environment encrypted
(:mod:`statesync.sync.store.sticky`); a store writer who deletes the ref, or an
older plaintext snapshot, must not turn that off through another command.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from statesync.api import Store
from statesync.errors import IntegrityError
from statesync.sync.store import layout
from tests.helpers import write
from tests.leakscan import planted


@pytest.fixture
def store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Store:
    monkeypatch.setenv("STATESYNC_PASSPHRASE", "correct horse battery staple")
    url = (tmp_path / "store").as_uri()
    Store.init(url).keys().init("vault", ["passphrase"])
    return Store.open(url)


def _objects(store: Store) -> set[str]:
    return {m.key for m in store.repo.backend.list("")}


def _src(tmp_path: Path, name: str, value: int) -> Path:
    root = tmp_path / name
    write(root, "app.json", {"replicas": value, "password": planted(f"{name}-{value}")})
    return root


def test_promote_into_an_env_whose_encrypted_head_was_deleted_is_refused(
    store: Store, tmp_path: Path
) -> None:
    store.push(_src(tmp_path, "dev", 1), "dev")
    store.push(_src(tmp_path, "vault", 1), "vault", encrypt_all=True)
    store.repo.backend.delete(layout.ref_key("vault"))
    before = _objects(store)
    with pytest.raises(IntegrityError, match=r"promote would store it without that.*--allow-"):
        store.promote("dev", "vault")
    assert _objects(store) == before
    done = store.promote("dev", "vault", allow_downgrade=True)
    assert done.changed


def test_rollback_to_a_snapshot_stored_with_less_encryption_is_refused(
    store: Store, tmp_path: Path
) -> None:
    src = _src(tmp_path, "vault", 1)
    plain = store.push(src, "vault").snapshot
    write(src, "app.json", {"replicas": 2})
    store.push(src, "vault", include_secrets=True)
    before = _objects(store)
    with pytest.raises(IntegrityError, match="--include-secrets; this rollback"):
        store.rollback("vault", plain)
    assert _objects(store) == before
    assert store.rollback("vault", plain, allow_downgrade=True).changed


def test_a_rollback_that_keeps_the_encryption_is_allowed(store: Store, tmp_path: Path) -> None:
    src = _src(tmp_path, "vault", 1)
    first = store.push(src, "vault", include_secrets=True).snapshot
    write(src, "app.json", {"replicas": 2})
    store.push(src, "vault")  # sticky: still includes secrets
    assert store.rollback("vault", first).changed


def test_import_into_an_env_whose_encrypted_head_was_deleted_is_refused(
    store: Store, tmp_path: Path
) -> None:
    store.push(_src(tmp_path, "dev", 1), "dev")
    bundle = tmp_path / "dev.json"
    store.export(bundle, env="dev")
    store.push(_src(tmp_path, "vault", 1), "vault", include_secrets=True)
    store.repo.backend.delete(layout.ref_key("vault"))
    before = _objects(store)
    with pytest.raises(IntegrityError, match=r"--include-secrets; this import.*head is gone"):
        store.import_(bundle, "vault")
    assert _objects(store) == before  # refused before any upload
    assert store.import_(bundle, "vault", allow_downgrade=True).changed
