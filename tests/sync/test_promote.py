"""Promotion, rollback and the all-environments log, on every backend."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from statesync.api import Store
from statesync.config import load_config
from statesync.errors import (
    EnvNotFound,
    LockedError,
    PolicyViolation,
    SnapshotNotFound,
    UsageError,
)
from statesync.sync.secrets.policy import MARKER
from statesync.sync.store import layout
from statesync.sync.store.manifest import Manifest, load_manifest
from statesync.sync.store.refs import require_ref
from tests.helpers import store_bytes, tree, write

RULE = '[promotion]\nallowed = ["dev->staging", "staging -> prod"]\n'


@pytest.fixture
def store(any_store_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Store:
    monkeypatch.chdir(tmp_path)  # statesync.toml, if any, is the test's own
    Store.init(any_store_url).close()
    return Store.configured(any_store_url)  # as the CLI opens it: statesync.toml applies


@pytest.fixture
def dev(tmp_path: Path) -> Path:
    root = tmp_path / "dev"
    write(root, "state.json", {"replicas": 1, "features": ["a"]})
    write(root, "tasks/t1.json", {"id": 1})
    return root


def objects(store: Store) -> dict[str, str]:
    """Every key in the store with its version: to prove nothing was written."""
    return {m.key: m.version.token for m in store.repo.backend.list("")}


def head(store: Store, env: str) -> Manifest:
    return load_manifest(store.repo, require_ref(store.repo, env).ref.snapshot)


def entry_keys(m: Manifest) -> list[tuple[object, ...]]:
    return sorted(
        (e.path, e.kind, e.mode, e.digest, tuple(map(tuple, e.chunks)), tuple(e.secret_pointers))
        for e in m.entries
    )


# --- promote -------------------------------------------------------------------------


def test_promote_dev_to_staging_to_prod_shares_entries_with_new_serials(
    store: Store, dev: Path
) -> None:
    pushed = store.push(dev, "dev")
    data_before = [k for k in objects(store) if k.startswith((layout.OBJECTS, layout.INDEX))]
    to_staging = store.promote("dev", "staging")
    to_prod = store.promote("staging", "prod", message="release 1")
    assert (to_staging.serial, to_prod.serial) == (1, 1)
    assert to_staging.parent is None and to_staging.changed and to_staging.files == 2
    assert to_staging.source_snapshot == pushed.snapshot
    assert len({pushed.snapshot, to_staging.snapshot, to_prod.snapshot}) == 3
    dev_m, staging_m, prod_m = head(store, "dev"), head(store, "staging"), head(store, "prod")
    assert entry_keys(dev_m) == entry_keys(staging_m) == entry_keys(prod_m)
    assert staging_m.env == "staging" and prod_m.env == "prod"
    assert staging_m.tags == {"promoted_from": "dev", "source_snapshot": pushed.snapshot}
    assert prod_m.tags == {"promoted_from": "staging", "source_snapshot": to_staging.snapshot}
    assert prod_m.message == "release 1"
    # No re-upload: the data objects are exactly those the dev push wrote.
    assert [
        k for k in objects(store) if k.startswith((layout.OBJECTS, layout.INDEX))
    ] == data_before
    assert not any(k.startswith(layout.LOCKS) for k in objects(store))

    write(dev, "state.json", {"replicas": 3, "features": ["a"]})
    second = store.push(dev, "dev")
    again = store.promote("dev", "staging")
    assert again.serial == 2 and again.parent == to_staging.snapshot
    assert head(store, "staging").parents == [to_staging.snapshot]
    assert again.source_snapshot == second.snapshot


def test_promoting_the_same_files_again_changes_nothing(store: Store, dev: Path) -> None:
    store.push(dev, "dev")
    first = store.promote("dev", "staging")
    before = objects(store)
    again = store.promote("dev", "staging")
    assert not again.changed and again.snapshot == first.snapshot and again.serial == 1
    assert objects(store) == before


def test_promotion_keeps_secret_names_and_each_machine_keeps_its_own_values(
    store: Store, dev: Path, tmp_path: Path
) -> None:
    prod = tmp_path / "prod-machine"
    write(prod, "config.json", {"db_password": "prod-pass-4242", "replicas": 1})
    write(prod, "secrets/api.key", "prod-api-key-4242")
    store.push(prod, "prod")
    write(dev, "config.json", {"db_password": "dev-pass-1717", "replicas": 5})
    write(dev, "secrets/api.key", "dev-api-key-1717")
    store.push(dev, "dev")
    store.promote("dev", "staging")
    store.promote("staging", "prod")

    promoted = head(store, "prod").by_path()["config.json"]
    assert promoted.secret_pointers == ["/db_password"]
    assert head(store, "prod").secret_files == ["secrets/api.key"]
    pulled = store.pull(prod, "prod")
    assert pulled.serial == 2
    config = json.loads((prod / "config.json").read_text())
    assert config == {"db_password": "prod-pass-4242", "replicas": 5}
    assert (prod / "secrets/api.key").read_text() == "prod-api-key-4242"
    assert (prod / "state.json").exists()

    fresh = tmp_path / "new-prod-machine"  # no local values: the marker arrives, not a secret
    store.pull(fresh, "prod")
    assert json.loads((fresh / "config.json").read_text())["db_password"] == MARKER
    assert not (fresh / "secrets").exists()
    everything = store_bytes(store.repo.backend)
    for secret in (b"prod-pass-4242", b"dev-pass-1717", b"prod-api-key", b"dev-api-key"):
        assert secret not in everything


def test_a_forbidden_promotion_path_is_refused_with_nothing_written(
    store: Store, dev: Path, tmp_path: Path
) -> None:
    (tmp_path / "statesync.toml").write_text(RULE)
    store.push(dev, "dev")
    before = objects(store)
    with pytest.raises(PolicyViolation) as err:
        store.promote("dev", "prod")
    assert err.value.exit_code == 1 and "dev -> prod" in str(err.value)
    assert "dev->staging, staging->prod" in str(err.value)
    assert objects(store) == before
    assert store.promote("dev", "staging").serial == 1
    assert store.promote("staging", "prod").serial == 1


def test_promoting_from_a_missing_environment_writes_nothing(store: Store, dev: Path) -> None:
    store.push(dev, "prod")
    before = objects(store)
    with pytest.raises(EnvNotFound) as err:
        store.promote("nope", "prod")
    assert err.value.exit_code == 1 and "nope" in str(err.value)
    assert objects(store) == before


def test_promoting_to_itself_or_while_the_target_is_locked_is_refused(
    store: Store, dev: Path
) -> None:
    store.push(dev, "dev")
    with pytest.raises(UsageError):
        store.promote("dev", "dev")
    lease = store.lock("prod", 60, "maintenance")
    before = objects(store)
    with pytest.raises(LockedError, match="maintenance"):
        store.promote("dev", "prod")
    assert objects(store) == before
    store.unlock("prod", lease.lock_id)
    assert store.promote("dev", "prod").changed


@pytest.mark.parametrize("allowed", ['"dev-staging"', '["->prod"]', "[3]", '["dev->"]'])
def test_a_malformed_promotion_rule_is_a_usage_error(tmp_path: Path, allowed: str) -> None:
    (tmp_path / "statesync.toml").write_text(f"[promotion]\nallowed = {allowed}\n")
    with pytest.raises(UsageError, match=r"\[promotion\]"):
        load_config("memory://x", cwd=tmp_path)


def test_the_promotion_rule_is_read_and_normalised(tmp_path: Path) -> None:
    assert load_config("memory://x", cwd=tmp_path).promotion_allowed is None
    (tmp_path / "statesync.toml").write_text(RULE)
    cfg = load_config("memory://x", cwd=tmp_path)
    assert cfg.promotion_allowed == ["dev->staging", "staging->prod"]


# --- rollback -------------------------------------------------------------------------


def test_rollback_is_a_new_serial_with_old_files_and_pull_accepts_it(
    store: Store, dev: Path, tmp_path: Path
) -> None:
    first = store.push(dev, "dev")
    out = tmp_path / "out"
    want = tree(dev)
    for n in (2, 3):
        write(dev, "state.json", {"replicas": n, "features": ["a"]})
        store.push(dev, "dev")
    store.pull(out, "dev")
    assert json.loads((out / "state.json").read_text())["replicas"] == 3

    back = store.rollback("dev", first.snapshot[:10], message="bad release")
    assert back.changed and back.serial == 4 and back.rollback_to == first.snapshot
    assert back.snapshot != first.snapshot
    m = head(store, "dev")
    assert m.tags == {"rollback_to": first.snapshot} and m.message == "bad release"
    assert entry_keys(m) == entry_keys(load_manifest(store.repo, first.snapshot))
    pulled = store.pull(out, "dev")  # rollback protection is on: a higher serial passes
    assert pulled.serial == 4 and tree(out) == want
    assert [e.snapshot for e in store.log("dev", 2)][1] == back.parent


def test_rollback_refuses_what_it_cannot_do(store: Store, dev: Path) -> None:
    other = store.push(dev, "staging")
    write(dev, "state.json", {"replicas": 9})
    store.push(dev, "dev")
    before = objects(store)
    with pytest.raises(EnvNotFound):
        store.rollback("prod", other.snapshot)
    with pytest.raises(UsageError, match="use promote"):  # no bypassing the promotion rule
        store.rollback("dev", other.snapshot)
    with pytest.raises(SnapshotNotFound):
        store.rollback("dev", "abcdef12")
    assert objects(store) == before


# --- log across environments -------------------------------------------------------------


def test_log_all_lists_every_environment(store: Store, dev: Path) -> None:
    assert store.log_all().envs == {}
    store.push(dev, "dev")
    write(dev, "state.json", {"replicas": 2})
    store.push(dev, "dev")
    store.promote("dev", "prod")
    logs = store.log_all(limit=1).envs
    assert sorted(logs) == ["dev", "prod"]
    assert len(logs["dev"]) == 1 and logs["prod"][0].tags["promoted_from"] == "dev"
    assert len(store.log_all().envs["dev"]) == 2
