"""Damage stays local: a corrupt index, a deleted pack or a torn ref affects only what uses it."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from statesync.api import Store
from statesync.backends.base import OVERWRITE
from statesync.errors import IntegrityError, UsageError
from statesync.sync.store import layout
from tests.helpers import tree, write


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


def keys(store: Store, prefix: str) -> list[str]:
    return sorted(m.key for m in store.repo.backend.list(prefix))


def flip_byte(store: Store, key: str) -> None:
    body = bytearray(store.repo.backend.get(key)[0])
    body[len(body) // 2] ^= 0x55
    store.repo.backend.put(key, bytes(body), OVERWRITE)


def new_machine(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, name: str) -> Path:
    """Another machine: an empty cache (no index bodies, no seen serials)."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / f"{name}-cache"))
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path / f"{name}-state"))
    (tmp_path / name).mkdir()
    return tmp_path / name


def copy_folder(src: Path, dest: Path) -> Path:
    shutil.copytree(src, dest, ignore=shutil.ignore_patterns(".statesync"))
    return dest


# --- a corrupt index ------------------------------------------------------------


def test_corrupt_index_does_not_stop_a_pull_on_a_new_machine(
    store: Store, src: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    [index] = keys(store, layout.INDEX)
    flip_byte(store, index)
    out = new_machine(tmp_path, monkeypatch, "m2") / "out"
    store.pull(out, "dev")  # the chunks' locations are read back from the packs themselves
    assert tree(out) == tree(src)


def test_corrupt_index_does_not_stop_a_push_on_a_new_machine(
    store: Store, src: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    [index] = keys(store, layout.INDEX)
    flip_byte(store, index)
    folder = copy_folder(src, new_machine(tmp_path, monkeypatch, "m2") / "work")
    write(folder, "a.json", {"a": 2})
    result = store.push(folder, "dev", force=True)
    assert result.uploaded_bytes > 0  # the unknown chunks are uploaded again
    out = new_machine(tmp_path, monkeypatch, "m3") / "out"
    store.pull(out, "dev")
    assert tree(out) == tree(folder)


def test_verify_reads_the_index_from_the_store_not_the_cache(store: Store) -> None:
    [index] = keys(store, layout.INDEX)
    flip_byte(store, index)  # this machine still holds the good body in its cache
    report = store.verify(read_data=True)
    assert not report.ok
    assert index in {d.object for d in report.damaged}


# --- a deleted pack -------------------------------------------------------------


def test_plain_verify_names_a_deleted_pack_and_what_depends_on_it(store: Store) -> None:
    [pack] = keys(store, layout.OBJECTS)
    store.repo.backend.delete(pack)
    report = store.verify()
    assert not report.ok
    [damage] = [d for d in report.damaged if d.object == pack]
    assert damage.envs == ("dev",) and set(damage.files) == {"a.json", "big.bin"}
    assert damage.snapshots == (store.log("dev")[0].snapshot,)


def test_push_after_a_deleted_pack_uploads_again_and_heals_older_snapshots(
    store: Store, src: Path, tmp_path: Path
) -> None:
    first = store.log("dev")[0].snapshot
    [pack] = keys(store, layout.OBJECTS)
    store.repo.backend.delete(pack)
    write(src, "a.json", {"a": 2})
    result = store.push(src, "dev")  # same folder: its record says big.bin is unchanged
    assert result.uploaded_bytes > 300_000  # big.bin's chunks were confirmed absent
    store.pull(tmp_path / "head", "dev")
    assert tree(tmp_path / "head") == tree(src)
    write(src, "a.json", {"a": 1})  # the first snapshot's a.json, pushed again
    store.push(src, "dev")
    store.pull(tmp_path / "old", snapshot=first)
    assert (tmp_path / "old" / "big.bin").read_bytes() == (src / "big.bin").read_bytes()
    assert store.verify(read_data=True).ok


def test_push_from_a_new_machine_heals_a_deleted_pack(
    store: Store, src: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    first = store.log("dev")[0].snapshot
    [pack] = keys(store, layout.OBJECTS)
    store.repo.backend.delete(pack)
    folder = copy_folder(src, new_machine(tmp_path, monkeypatch, "m2") / "work")
    store.push(folder, "dev", force=True)
    store.pull(tmp_path / "old", snapshot=first)
    assert tree(tmp_path / "old") == tree(src)


# --- a torn ref -----------------------------------------------------------------


def truncate_ref(store: Store, env: str) -> None:
    body = store.repo.backend.get(layout.ref_key(env))[0]
    store.repo.backend.put(layout.ref_key(env), body[: len(body) // 2], OVERWRITE)


def test_push_force_replaces_a_malformed_ref(store: Store, src: Path, tmp_path: Path) -> None:
    synced = store.log("dev")[0].snapshot  # what the folder last pushed
    truncate_ref(store, "dev")
    with pytest.raises(IntegrityError, match="malformed ref"):
        store.push(src, "dev")
    result = store.push(src, "dev", force=True)
    # Nothing of the broken ref is used: the parent is the folder's own last snapshot.
    assert result.serial >= 2 and result.parent == synced
    store.pull(tmp_path / "out", "dev")
    assert tree(tmp_path / "out") == tree(src)


def test_rollback_replaces_a_malformed_ref(store: Store, src: Path, tmp_path: Path) -> None:
    first = store.log("dev")[0].snapshot
    write(src, "a.json", {"a": 2})
    store.push(src, "dev")
    truncate_ref(store, "dev")
    result = store.rollback("dev", first)
    assert result.rollback_to == first and result.serial >= 3
    assert store.log("dev")[0].snapshot == result.snapshot


def test_log_all_and_envs_report_a_malformed_ref_and_show_the_others(
    store: Store, src: Path
) -> None:
    store.push(src, "prod", force=True)
    truncate_ref(store, "dev")
    logs = store.log_all()
    assert list(logs.envs) == ["prod"] and len(logs.envs["prod"]) == 1
    assert "malformed ref" in logs.errors["dev"]
    assert store.envs() == ["dev", "prod"]
    assert "malformed ref" in store.broken_envs()["dev"]


def test_push_force_over_a_malformed_ref_keeps_an_encrypted_env_encrypted(
    any_store_url: str, src: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("STATESYNC_PASSPHRASE", "correct horse battery staple")
    Store.init(any_store_url).keys().init("vault", ["passphrase"])
    store = Store.open(any_store_url)
    store.push(src, "vault", encrypt_all=True)
    truncate_ref(store, "vault")
    with pytest.raises(UsageError, match="has keys"):
        store.push(src, "vault", force=True)
    result = store.push(src, "vault", force=True, encrypt_all=True)
    assert store.show("vault")["id"] == result.snapshot


def test_push_force_from_an_unchanged_folder_heals_a_deleted_pack(
    store: Store, src: Path, tmp_path: Path
) -> None:
    first = store.log("dev")[0].snapshot
    rec = src / ".statesync"
    os.utime(src / "a.json", (1, 1))  # old files: the folder's record trusts them unread
    os.utime(src / "big.bin", (1, 1))
    shutil.rmtree(rec)
    store.push(src, "dev", force=True)  # records the files as unchanged
    [pack] = keys(store, layout.OBJECTS)
    store.repo.backend.delete(pack)
    assert not store.push(src, "dev").changed  # a plain push stops at "no changes"
    store.push(src, "dev", force=True)
    store.pull(tmp_path / "old", snapshot=first)
    assert tree(tmp_path / "old") == tree(src)
