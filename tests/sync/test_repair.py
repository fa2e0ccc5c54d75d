"""repair rebuilds indexes from packs and names what is lost for good."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from statesync.api import Store
from statesync.sync.store import layout
from tests.helpers import tree, write
from tests.sync.test_damage import flip_byte, keys, new_machine, truncate_ref


@pytest.fixture
def src(tmp_path: Path) -> Path:
    root = tmp_path / "src"
    write(root, "a.json", {"a": 1})
    write(root, "big.bin", os.urandom(300_000))
    return root


@pytest.fixture
def store(any_store_url: str, src: Path) -> Store:
    store = Store.init(any_store_url)
    store.push(src, "dev")
    return store


def test_repair_of_a_clean_store_changes_nothing(store: Store) -> None:
    before = keys(store, "")
    result = store.repair()
    assert result.ok and result.removed_indexes == [] and result.rebuilt_index is None
    assert keys(store, "") == before


def test_repair_rebuilds_a_corrupt_index_from_its_packs(
    store: Store, src: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    [index] = keys(store, layout.INDEX)
    flip_byte(store, index)
    result = store.repair()
    # the same packs give a byte-identical index: its key is rewritten with the right bytes
    assert result.ok and result.rebuilt_index == index and result.removed_indexes == []
    assert keys(store, layout.INDEX) == [index]
    assert result.scanned_packs == keys(store, layout.OBJECTS)
    report = store.verify(read_data=True)
    assert report.ok and report.packs_read == 1
    out = new_machine(tmp_path, monkeypatch, "m2") / "out"
    store.pull(out, "dev")
    assert tree(out) == tree(src)


def test_repair_rebuilds_one_of_several_indexes(store: Store, src: Path) -> None:
    write(src, "c.json", {"c": 3})
    store.push(src, "dev")
    indexes = keys(store, layout.INDEX)
    assert len(indexes) == 2
    flip_byte(store, indexes[0])
    assert not store.verify().ok
    result = store.repair()
    assert result.ok and len(result.scanned_packs) == 1 and keys(store, layout.INDEX) == indexes
    assert store.verify(read_data=True).ok


def test_repair_names_what_a_deleted_pack_took_and_a_push_heals_it(
    store: Store, src: Path, tmp_path: Path
) -> None:
    first = store.log("dev")[0].snapshot
    [index] = keys(store, layout.INDEX)
    [pack] = keys(store, layout.OBJECTS)
    store.repo.backend.delete(pack)
    result = store.repair()
    assert result.removed_indexes == [index] and result.rebuilt_index is None
    [lost] = result.lost
    assert lost.object == pack and lost.snapshots == (first,)
    assert set(lost.files) == {"a.json", "big.bin"}
    store.push(src, "dev", force=True)  # the folder still holds the lost files
    assert store.repair().ok
    store.pull(tmp_path / "old", snapshot=first)
    assert tree(tmp_path / "old") == tree(src)


def test_repair_reports_a_malformed_ref_and_how_to_replace_it(store: Store) -> None:
    truncate_ref(store, "dev")
    [lost] = store.repair().lost
    assert lost.object == layout.ref_key("dev") and "push --force or rollback" in lost.problem


def test_repair_read_data_forgets_a_corrupt_chunk_and_a_push_heals_it(
    store: Store, src: Path, tmp_path: Path
) -> None:
    first = store.log("dev")[0].snapshot
    [pack] = keys(store, layout.OBJECTS)
    flip_byte(store, pack)
    assert store.repair().ok  # existence alone cannot see it
    result = store.repair(read_data=True)
    assert result.dropped_chunks == 1 and [d.object for d in result.lost] == [pack]
    assert result.lost[0].snapshots == (first,) and len(result.lost[0].files) == 1
    pushed = store.push(src, "dev", force=True)
    assert pushed.uploaded_bytes > 0
    store.pull(tmp_path / "old", snapshot=first)
    assert tree(tmp_path / "old") == tree(src)
    report = store.verify(read_data=True)
    assert report.ok, report.problems  # the corrupt bytes were moved aside, not left in objects/
    assert keys(store, layout.DAMAGED) == [layout.damaged_key(pack)]
