"""The promotion rule lives in the store: every caller, from any folder, sees the same rule."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from statesync.api import Store
from statesync.backends.base import OVERWRITE
from statesync.crypto import signing
from statesync.errors import IntegrityError, PolicyViolation, UsageError
from statesync.sync.store import layout
from tests.helpers import write


@pytest.fixture
def store(any_store_url: str, tmp_path: Path) -> Store:
    s = Store.init(any_store_url)
    write(tmp_path / "src", "state.json", {"v": 1})
    s.push(tmp_path / "src", "dev")
    return s


def test_without_a_rule_every_promotion_is_allowed(store: Store) -> None:
    assert store.promotion_rule() is None
    assert store.promote("dev", "prod").serial == 1


def test_the_rule_in_the_store_decides_for_every_caller(store: Store, any_store_url: str) -> None:
    store.change_promotion_rule(allow=["dev->staging", "staging->prod"])
    other = Store.open(any_store_url)  # another caller, another folder, no statesync.toml
    with pytest.raises(PolicyViolation, match="store's promotion rule"):
        other.promote("dev", "prod")
    assert other.promote("dev", "staging").serial == 1
    rule = other.change_promotion_rule(deny=["dev->staging"])
    assert rule.allowed == ("staging->prod",) and "@" in rule.updated_by
    with pytest.raises(PolicyViolation):
        store.promote("dev", "staging")
    assert store.envs() == ["dev", "staging"]


def test_bad_paths_are_usage_errors(store: Store) -> None:
    for bad in ("dev", "dev->dev", "dev->../x"):
        with pytest.raises(UsageError):
            store.change_promotion_rule(allow=[bad])
    assert store.promotion_rule() is None


def test_a_signed_rule_that_was_tampered_with_is_refused(store: Store, tmp_path: Path) -> None:
    key = tmp_path / "signing.key"
    public = signing.generate(key)
    store.repo.signer = signing.load_signer(key)
    rule = store.change_promotion_rule(allow=["dev->staging"])
    assert rule.signer == public
    body = json.loads(store.repo.backend.get(layout.promotion_rule_key())[0])
    body["allowed"].append("dev->prod")
    store.repo.backend.put(layout.promotion_rule_key(), json.dumps(body).encode(), OVERWRITE)
    with pytest.raises(IntegrityError, match="signature does not match"):
        store.promote("dev", "prod")
