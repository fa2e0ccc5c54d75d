"""What the corruption matrix (tests/reliability/test_corruption_matrix.py) found, pinned small.

Each test failed before its fix: verify missed a manifest below a damaged one,
a deleted or damaged keyring; pull of a head whose manifest is gone, or of a
ref this user has seen and that vanished, was exit 1 "not found" instead of
integrity damage (exit 4).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from statesync.api import Store, gc
from statesync.errors import EnvNotFound, IntegrityError
from statesync.sync.store import layout
from statesync.sync.store.retention import Policy
from tests.helpers import write


def _history(tmp_path: Path) -> tuple[Store, list[str]]:
    """A local store, env dev at v1 -> v2 -> v3; the snapshot ids oldest first."""
    store = Store.init((tmp_path / "store").as_uri())
    ids = []
    for v in (1, 2, 3):
        write(tmp_path / "src", "a.json", {"v": v})
        ids.append(store.push(tmp_path / "src", "dev").snapshot)
    return store, ids


def test_verify_names_both_manifests_of_a_swap_in_one_history(tmp_path: Path) -> None:
    store, (v1, v2, _) = _history(tmp_path)
    b = store.repo.backend
    one, two = b.get(layout.snapshot_key(v1))[0], b.get(layout.snapshot_key(v2))[0]
    b.put(layout.snapshot_key(v1), two)
    b.put(layout.snapshot_key(v2), one)
    named = {d.object for d in store.verify(None, read_data=True).damaged}
    assert named == {layout.snapshot_key(v1), layout.snapshot_key(v2)}


def test_pull_of_a_head_whose_manifest_is_gone_is_integrity_damage(tmp_path: Path) -> None:
    store, (*_, head) = _history(tmp_path)
    store.repo.backend.delete(layout.snapshot_key(head))
    with pytest.raises(IntegrityError, match=rf"snapshots/{head}.*missing"):
        store.pull(tmp_path / "out", "dev")
    assert not (tmp_path / "out").exists()


def test_pull_of_a_vanished_ref_this_user_has_seen_is_integrity_damage(tmp_path: Path) -> None:
    store, _ = _history(tmp_path)
    store.repo.backend.delete(layout.ref_key("dev"))
    with pytest.raises(IntegrityError, match=r"refs/dev is missing.*serial 3"):
        store.pull(tmp_path / "out", "dev")
    with pytest.raises(EnvNotFound, match="does not exist"):
        store.pull(tmp_path / "out", "dev", allow_rollback=True)


def _keyed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Store:
    """Env vault sealed (--encrypt all) with key generations 1 and 2, one snapshot each."""
    monkeypatch.setenv("STATESYNC_PASSPHRASE", "matrix passphrase 18")
    url = (tmp_path / "store").as_uri()
    Store.init(url).keys().init("vault", ["passphrase"])
    store = Store.open(url)
    write(tmp_path / "src", "a.json", {"v": 1})
    store.push(tmp_path / "src", "vault", encrypt_all=True)
    store.keys().rotate("vault")
    store = Store.open(url)
    write(tmp_path / "src", "a.json", {"v": 2})
    store.push(tmp_path / "src", "vault", encrypt_all=True)
    return Store.open(url)


def test_verify_names_a_deleted_keyring_generation(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = _keyed(tmp_path, monkeypatch)
    gone = layout.keyring_key("vault", 1)
    store.repo.backend.delete(gone)
    report = Store.open((tmp_path / "store").as_uri()).verify(None, read_data=True)
    damage = {d.object: d for d in report.damaged}
    assert set(damage) == {gone} and damage[gone].envs == ("vault",), report.problems


def test_verify_names_a_damaged_keyring(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    store = _keyed(tmp_path, monkeypatch)
    key = layout.keyring_key("vault", 2)
    body = store.repo.backend.get(key)[0]
    store.repo.backend.put(key, body[: len(body) // 2])
    report = Store.open((tmp_path / "store").as_uri()).verify(None, read_data=True)
    damage = {d.object: d for d in report.damaged}
    assert set(damage) == {key} and damage[key].envs == ("vault",), report.problems


def test_verify_names_a_damaged_lease_gc_marker_and_promotion_rule(tmp_path: Path) -> None:
    store, _ = _history(tmp_path)
    store.lock("dev", ttl=600)
    gc(store, policy=Policy(keep_last=10))
    store.change_promotion_rule(allow=["dev->prod"])
    b = store.repo.backend
    damaged = [layout.lock_key("dev"), layout.gc_marker_key(), layout.promotion_rule_key()]
    for key in damaged:
        body = b.get(key)[0]
        b.put(key, body[: len(body) // 2])
    report = store.verify(None, read_data=True)
    assert {d.object: d.envs for d in report.damaged} == {
        layout.lock_key("dev"): ("dev",),
        layout.gc_marker_key(): (),
        layout.promotion_rule_key(): (),
    }


def test_pull_rebuilds_the_index_of_a_plain_pack_whose_index_was_deleted(tmp_path: Path) -> None:
    store, _ = _history(tmp_path)
    [first, *_] = list(store.repo.backend.list(layout.INDEX))
    store.repo.backend.delete(first.key)
    Store.open((tmp_path / "store").as_uri()).pull(tmp_path / "out", "dev")
    assert (tmp_path / "out" / "a.json").exists()


def test_repair_keeps_a_sealed_index_it_cannot_open_for_a_damaged_keyring(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = _keyed(tmp_path, monkeypatch)
    b = store.repo.backend
    indexes = {m.key for m in b.list(layout.INDEX)}
    key = layout.keyring_key("vault", 1)
    body = b.get(key)[0]
    b.put(key, body[: len(body) // 2])
    result = Store.open((tmp_path / "store").as_uri()).repair(read_data=True)
    assert [d.object for d in result.lost] == [key]
    assert {m.key for m in b.list(layout.INDEX)} == indexes, result.removed_indexes
