"""gc through the API: exact kept sets, honest byte counts, dry runs, keys, the lease."""

from __future__ import annotations

import base64
import json
import random
from collections.abc import Iterator
from pathlib import Path

import pytest

from statesync import api
from statesync.api import Store
from statesync.errors import IntegrityError, LockedError
from statesync.sync.store import layout
from statesync.sync.store import leases as lease_mod
from statesync.sync.store.retention import Policy
from tests.helpers import tree, write

DATA_PREFIXES = (layout.SNAPSHOTS, layout.OBJECTS, layout.INDEX)


def _blob(seed: object, size: int = 6000) -> str:
    return base64.b64encode(random.Random(str(seed)).randbytes(size)).decode()


def _pushes(store: Store, folder: Path, env: str, n: int, **tags: str) -> list[str]:
    out = []
    for i in range(n):
        write(folder, "state.json", {"i": i, "env": env, "blob": _blob((env, i))})
        out.append(
            store.push(folder, env, message=f"{env} {i}", tags=tags if i == 0 else None).snapshot
        )
    return out


def _data_objects(store: Store) -> dict[str, tuple[int, str]]:
    return {
        m.key: (m.size, m.version.token) for p in DATA_PREFIXES for m in store.repo.backend.list(p)
    }


def _everything(store: Store) -> dict[str, tuple[int, str]]:
    return {m.key: (m.size, m.version.token) for m in store.repo.backend.list("")}


@pytest.fixture
def store(any_store_url: str) -> Iterator[Store]:
    with Store.init(any_store_url) as s:
        yield s


@pytest.fixture
def local(tmp_path: Path) -> Iterator[Store]:
    with Store.init((tmp_path / "store").as_uri()) as s:
        yield s


def test_keep_last_keeps_exactly_the_newest_and_the_bytes_add_up(
    store: Store, tmp_path: Path
) -> None:
    snaps = _pushes(store, tmp_path / "f", "dev", 5)
    before = _data_objects(store)
    report = api.gc(store, policy=Policy(keep_last=2), grace=0)
    after = _data_objects(store)
    [dev] = report.envs
    assert set(dev.kept) == set(snaps[-2:]) and set(dev.removed) == set(snaps[:3])
    assert set(report.snapshots_removed) == set(snaps[:3])
    assert {layout.snapshot_key(s) for s in snaps[:3]}.isdisjoint(after)
    gone = sum(size for k, (size, _) in before.items() if k not in after)
    new = sum(size for k, (size, _) in after.items() if k not in before)
    assert report.removed_bytes == gone and report.written_bytes == new
    assert report.freed_bytes == gone - new > 0
    assert store.verify(read_data=True).ok
    log = store.log("dev")
    assert [e.snapshot for e in log] == snaps[:2:-1] and log[-1].history_cut


def test_dry_run_writes_nothing_and_names_what_a_run_removes(local: Store, tmp_path: Path) -> None:
    _pushes(local, tmp_path / "f", "dev", 4)
    before = _everything(local)
    plan = api.gc(local, policy=Policy(keep_last=1), dry_run=True, grace=0)
    assert _everything(local) == before
    assert plan.dry_run and len(plan.snapshots_removed) == 3
    done = api.gc(local, policy=Policy(keep_last=1), grace=0)
    assert done.snapshots_removed == plan.snapshots_removed
    assert (done.removed_bytes, done.packs_removed) == (plan.removed_bytes, plan.packs_removed)


def test_tags_and_heads_are_kept_and_other_envs_are_untouched(local: Store, tmp_path: Path) -> None:
    dev = _pushes(local, tmp_path / "d", "dev", 4, release="1")
    prod = _pushes(local, tmp_path / "p", "prod", 3)
    report = api.gc(local, env="dev", policy=Policy(keep_tags=(("release", "1"),)), grace=0)
    assert set(report.envs[0].kept) == {dev[0], dev[-1]}  # the tagged one and the head
    assert {e.snapshot for e in local.log("prod")} == set(prod)
    assert local.verify(read_data=True).ok


def test_an_environment_keeps_what_another_shares_with_it(local: Store, tmp_path: Path) -> None:
    _pushes(local, tmp_path / "d", "dev", 3)
    local.promote("dev", "prod")
    write(tmp_path / "d", "state.json", {"new": _blob("x")})
    local.push(tmp_path / "d", "dev")
    api.gc(local, policy=Policy(keep_last=1), grace=0)
    out = tmp_path / "out"
    local.pull(out, "prod")
    assert json.loads((out / "state.json").read_text())["i"] == 2
    assert local.verify(read_data=True).ok


def test_stored_policies_apply_on_every_machine(local: Store, tmp_path: Path) -> None:
    snaps = _pushes(local, tmp_path / "f", "dev", 3)
    api.set_gc_policy(local, "dev", Policy(keep_last=1))
    with Store.open(local.url) as elsewhere:
        stored = api.gc_policy(elsewhere, "dev")
        assert stored is not None and stored.policy == Policy(keep_last=1)
        report = api.gc(elsewhere, grace=0)
    assert report.envs[0].kept == [snaps[-1]]
    api.set_gc_policy(local, "dev", Policy())
    assert api.gc_policy(local, "dev") is None


def test_a_tampered_stored_policy_stops_gc(local: Store, tmp_path: Path) -> None:
    _pushes(local, tmp_path / "f", "dev", 2)
    local.repo.backend.put(layout.retention_policy_key("dev"), b"{not json")
    with pytest.raises(IntegrityError):
        api.gc(local, grace=0)


def test_mostly_garbage_packs_are_rewritten(store: Store, tmp_path: Path) -> None:
    folder = tmp_path / "f"
    write(folder, "keep.txt", "small and forever\n")
    write(folder, "big.json", {"blob": _blob("big", 60000)})
    store.push(folder, "dev")
    write(folder, "big.json", {"blob": _blob("big2", 60000)})
    store.push(folder, "dev")
    before = _data_objects(store)
    report = api.gc(store, policy=Policy(keep_last=1), grace=0)
    after = _data_objects(store)
    assert report.packs_repacked == 1 and report.packs_written == 1
    gone = sum(size for k, (size, _) in before.items() if k not in after)
    new = sum(size for k, (size, _) in after.items() if k not in before)
    assert (report.removed_bytes, report.written_bytes) == (gone, new)
    assert store.verify(read_data=True).ok
    out = tmp_path / "out"
    store.pull(out, "dev")
    assert tree(out) == tree(folder)


def test_young_packs_stay_within_the_grace_period(local: Store, tmp_path: Path) -> None:
    _pushes(local, tmp_path / "f", "dev", 3)
    report = api.gc(local, policy=Policy(keep_last=1))  # default grace: an hour
    assert len(report.snapshots_removed) == 2 and report.packs_removed == 0


def test_two_gcs_never_run_at_once(local: Store, tmp_path: Path) -> None:
    _pushes(local, tmp_path / "f", "dev", 2)
    held = lease_mod.acquire(local.repo, layout.GC_LEASE, 60, "gc")
    try:
        with pytest.raises(LockedError):
            api.gc(local, grace=0)
        assert api.gc(local, dry_run=True).dry_run  # a dry run takes no lease
    finally:
        held.release()
    api.gc(local, grace=0)


@pytest.fixture
def keyed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Store]:
    monkeypatch.setenv("STATESYNC_PASSPHRASE", "correct horse battery staple")
    url = (tmp_path / "store").as_uri()
    Store.init(url).keys().init("dev", ["passphrase"])
    with Store.open(url) as s:
        yield s


def _sealed_pushes(store: Store, folder: Path, n: int) -> list[str]:
    out = []
    for i in range(n):
        write(folder, "config.json", {"i": i, "password": f"hunter-{i}", "blob": _blob(i)})
        out.append(store.push(folder, "dev", include_secrets=True, encrypt_all=True).snapshot)
    return out


def test_gc_on_a_fully_encrypted_store_with_its_key(keyed: Store, tmp_path: Path) -> None:
    snaps = _sealed_pushes(keyed, tmp_path / "f", 4)
    report = api.gc(keyed, policy=Policy(keep_last=1), grace=0, repack_below=0.9)
    assert set(report.snapshots_removed) == set(snaps[:3]) and report.packs_removed >= 3
    assert keyed.verify(read_data=True).ok
    out = tmp_path / "out"
    keyed.pull(out, "dev")
    assert json.loads((out / "config.json").read_text())["password"] == "hunter-3"


def test_gc_without_the_key_keeps_sealed_history_and_collects_the_rest(
    keyed: Store, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _sealed_pushes(keyed, tmp_path / "f", 3)
    plain = _pushes(keyed, tmp_path / "p", "plain", 3)
    monkeypatch.setenv("STATESYNC_PASSPHRASE", "not the passphrase")  # no key on this machine
    with Store.open(keyed.url) as nokey:
        report = api.gc(nokey, policy=Policy(keep_last=1), grace=0)
    dev = next(e for e in report.envs if e.env == "dev")
    assert dev.removed == [] and "no key" in dev.note
    assert set(report.snapshots_removed) == set(plain[:2])
    assert keyed.verify(read_data=True).ok  # the key holder (its data key already unwrapped)
    assert len(keyed.log("dev")) == 3
