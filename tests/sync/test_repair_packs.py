"""repair --read-data and a damaged pack: salvage what verifies, move it aside, a push heals.

Each kind of damage is made in the stored object itself on every backend
(a byte flipped, the pack cut short, another pack's bytes over it), and each
test ends with ``verify --read-data`` clean for the new head and for the old
snapshot whose chunks came back.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from statesync.api import Store
from statesync.backends.base import OVERWRITE
from statesync.sync.store import layout
from tests.helpers import tree, write
from tests.sync.test_damage import flip_byte, keys


def _small_files(root: Path) -> Path:
    """Several documents small enough to share one pack, c.yaml among them."""
    write(root, "c.yaml", "".join(f"key{i}: value {i * 7}\n" for i in range(300)))
    for name in "abd":
        write(root, f"{name}.json", {name: list(range(200))})
    return root


@pytest.fixture
def src(tmp_path: Path) -> Path:
    root = _small_files(tmp_path / "src")
    past = time.time() - 60  # older than the push's record: its stat cache trusts them
    for path in root.iterdir():
        os.utime(path, (past, past))
    return root


@pytest.fixture
def store(any_store_url: str, src: Path) -> Store:
    store = Store.init(any_store_url)
    store.push(src, "dev")
    return store


@pytest.fixture
def local(tmp_path: Path, src: Path) -> Store:
    """For damage whose handling does not depend on the backend (manifests): local only."""
    store = Store.init((tmp_path / "store").as_uri())
    store.push(src, "dev")
    return store


def _truncate(store: Store, key: str) -> None:
    body = store.repo.backend.get(key)[0]
    store.repo.backend.put(key, body[: len(body) // 2], OVERWRITE)


def _heal_and_check(store: Store, src: Path, tmp_path: Path, first: str) -> None:
    """A plain push of the unchanged folder re-uploads what was lost; everything reads."""
    pushed = store.push(src, "dev")
    assert not pushed.changed and pushed.snapshot == first and pushed.uploaded_bytes > 0
    report = store.verify(read_data=True)
    assert report.ok, report.problems
    store.pull(tmp_path / "old", snapshot=first)
    assert tree(tmp_path / "old") == tree(src)
    assert store.repair(read_data=True).ok


@pytest.mark.parametrize("damage", [flip_byte, _truncate], ids=["flipped", "truncated"])
def test_a_damaged_pack_is_moved_aside_and_a_plain_push_heals_it(
    store: Store, src: Path, tmp_path: Path, damage: Callable[[Store, str], None]
) -> None:
    first = store.log("dev")[0].snapshot
    [pack] = keys(store, layout.OBJECTS)
    damage(store, pack)
    before = store.verify(read_data=True)
    [bad] = before.damaged
    assert bad.object == pack and bad.snapshots == (first,) and bad.files
    result = store.repair(read_data=True)
    [moved] = result.quarantined
    assert moved.pack == pack and moved.lost >= 1 and moved.kept + moved.lost == 4
    [lost] = result.lost
    assert lost.object == pack and lost.files == bad.files and "push" in lost.problem
    assert pack not in keys(store, layout.OBJECTS)  # forgotten: no index names it either
    assert keys(store, layout.DAMAGED) == [layout.damaged_key(pack)]
    assert not store.verify().ok  # what was lost is missing until a push brings it back
    _heal_and_check(store, src, tmp_path, first)


def test_a_pack_holding_another_packs_bytes_loses_its_chunks_until_a_push(
    store: Store, src: Path, tmp_path: Path
) -> None:
    first = store.log("dev")[0].snapshot
    [pack] = keys(store, layout.OBJECTS)
    write(src, "extra.json", {"more": list(range(500))})
    store.push(src, "dev")
    [other] = [k for k in keys(store, layout.OBJECTS) if k != pack]
    store.repo.backend.put(pack, store.repo.backend.get(other)[0], OVERWRITE)
    result = store.repair(read_data=True)
    [moved] = result.quarantined
    assert moved.kept == 0 and moved.lost == 4
    assert {d.object for d in result.lost} == {pack}
    assert set(result.lost[0].files) == {"a.json", "b.json", "c.yaml", "d.json"}
    assert set(result.lost[0].snapshots) == {first, store.log("dev")[0].snapshot}
    pushed = store.push(src, "dev")  # unchanged since its last push: heals the head
    assert not pushed.changed and pushed.uploaded_bytes > 0
    assert store.verify(read_data=True).ok
    store.pull(tmp_path / "old", snapshot=first)
    assert tree(tmp_path / "old") == {k: v for k, v in tree(src).items() if k != "extra.json"}


def test_damage_outside_every_chunk_keeps_every_chunk(local: Store) -> None:
    store = local
    [pack] = keys(store, layout.OBJECTS)
    body = store.repo.backend.get(pack)[0]
    store.repo.backend.put(pack, body + b"garbage", OVERWRITE)  # bytes no index row uses
    result = store.repair(read_data=True)
    [moved] = result.quarantined
    assert result.ok and moved.kept == 4 and moved.lost == 0 and moved.rewritten
    assert store.repo.backend.get(pack)[0] == body  # the id pins these bytes: put back
    assert store.verify(read_data=True).ok


def test_a_flipped_index_and_a_flipped_pack_together(
    store: Store, src: Path, tmp_path: Path
) -> None:
    first = store.log("dev")[0].snapshot
    [index] = keys(store, layout.INDEX)
    [pack] = keys(store, layout.OBJECTS)
    flip_byte(store, index)
    flip_byte(store, pack)
    result = store.repair()  # cheap: the pack is read only because no index covers it
    assert [q.pack for q in result.quarantined] == [pack] and result.quarantined[0].kept >= 3
    [lost] = result.lost  # which pack held it went with the index: named by chunk
    assert lost.object.startswith("chunk ") and len(lost.files) == 1
    assert lost.snapshots == (first,)
    _heal_and_check(store, src, tmp_path, first)


def test_a_flipped_old_manifest_is_named_and_the_rest_reads(
    local: Store, src: Path, tmp_path: Path
) -> None:
    store = local
    first = store.log("dev")[0].snapshot
    write(src, "a.json", {"a": 2})
    second = store.push(src, "dev").snapshot
    flip_byte(store, layout.snapshot_key(first))
    result = store.repair(read_data=True)
    [lost] = result.lost
    assert lost.object == layout.snapshot_key(first) and lost.snapshots == (first,)
    assert lost.envs == ("dev",)
    store.pull(tmp_path / "head", "dev")  # the head does not depend on its parent's manifest
    assert tree(tmp_path / "head") == tree(src)
    write(src, "a.json", {"a": 3})
    assert store.push(src, "dev").changed
    assert store.log("dev", limit=2)[1].snapshot == second


def test_a_flipped_head_manifest_is_replaced_by_push_force(
    local: Store, src: Path, tmp_path: Path
) -> None:
    store = local
    head = store.log("dev")[0].snapshot
    flip_byte(store, layout.snapshot_key(head))
    [lost] = store.repair(read_data=True).lost
    assert lost.object == layout.snapshot_key(head)
    pushed = store.push(src, "dev", force=True)
    assert pushed.changed and pushed.serial == 2
    assert store.verify(read_data=True).ok  # the damaged head is no parent: out of history
    assert [e.snapshot for e in store.log("dev")] == [pushed.snapshot]
    store.pull(tmp_path / "out", "dev")
    assert tree(tmp_path / "out") == tree(src)
    assert json.loads((tmp_path / "out" / "a.json").read_text()) == {"a": list(range(200))}


# --- packs sealed with --encrypt all ----------------------------------------------


@pytest.fixture
def sealed(any_store_url: str, src: Path, monkeypatch: pytest.MonkeyPatch) -> Store:
    monkeypatch.setenv("STATESYNC_PASSPHRASE", "correct horse battery staple")
    store = Store.init(any_store_url)
    store.keys().init("vault", ["passphrase"])
    store = Store.open(any_store_url)
    store.push(src, "vault", encrypt_all=True)
    return store


def test_repair_keeps_sealed_indexes_with_or_without_their_key(
    sealed: Store, src: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    before = {k: sealed.repo.backend.get(k)[0] for k in keys(sealed, layout.INDEX)}
    assert sealed.repair(read_data=True).ok
    monkeypatch.delenv("STATESYNC_PASSPHRASE")
    without = Store.open(sealed.url).repair(read_data=True)
    assert without.ok and without.unreadable_packs == []
    assert [s.split(":")[0] for s in without.skipped] == sorted(before)
    assert {k: sealed.repo.backend.get(k)[0] for k in keys(sealed, layout.INDEX)} == before
    # no key here: an unchanged push cannot judge the sealed chunks, and needs no key
    assert not Store.open(sealed.url).push(src, "vault").changed


def test_a_flipped_sealed_pack_is_salvaged_where_its_key_is(
    sealed: Store, src: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    first = sealed.log("vault")[0].snapshot
    [pack] = keys(sealed, layout.OBJECTS)
    flip_byte(sealed, pack)
    monkeypatch.delenv("STATESYNC_PASSPHRASE")
    no_key = Store.open(sealed.url)
    seen = no_key.verify(read_data=True)  # sealed manifest and index: nothing to judge by
    assert seen.ok and seen.skipped and seen.packs_read == 0
    blind = no_key.repair(read_data=True)
    assert blind.ok and blind.quarantined == [] and blind.unreadable_packs == []
    assert [note.split(":")[0] for note in blind.skipped] == keys(sealed, layout.INDEX)
    assert pack in keys(sealed, layout.OBJECTS)  # nothing is moved that was not checked
    monkeypatch.setenv("STATESYNC_PASSPHRASE", "correct horse battery staple")
    keyed = Store.open(sealed.url)
    result = keyed.repair(read_data=True)
    [moved] = result.quarantined
    assert moved.pack == pack and moved.lost == 1 and moved.kept == 3
    pushed = keyed.push(src, "vault")  # sticky --encrypt all: the chunk comes back sealed
    assert not pushed.changed and pushed.uploaded_bytes > 0
    assert keyed.verify(read_data=True).ok
    keyed.pull(tmp_path / "old", "vault", snapshot=first)
    assert tree(tmp_path / "old") == tree(src)
    for key in keys(keyed, layout.INDEX):
        assert keyed.repo.backend.get(key)[0].startswith(b"statesync-sealed-index")


def test_a_truncated_pack_is_seen_and_repaired_without_reading_data(
    store: Store, src: Path, tmp_path: Path
) -> None:
    first = store.log("dev")[0].snapshot
    [pack] = keys(store, layout.OBJECTS)
    _truncate(store, pack)
    [seen] = store.verify().damaged  # the listing's size is shorter than the index needs
    assert seen.object == pack and seen.problem.startswith("truncated") and seen.files
    result = store.repair()
    [moved] = result.quarantined
    assert moved.pack == pack and moved.lost >= 1
    assert [d.object for d in result.lost] == [pack]
    _heal_and_check(store, src, tmp_path, first)
