"""Corrupt or hostile stores: pull fails with exit 4 and leaves the folder as it was."""

from __future__ import annotations

import logging
import os
from pathlib import Path

import pytest

from statesync.api import Store
from statesync.backends.base import OVERWRITE
from statesync.errors import IntegrityError, StatesyncError
from statesync.sync.store import codec, layout
from statesync.sync.store.manifest import Entry, Manifest
from statesync.sync.store.refs import read_ref, write_ref
from tests.helpers import tree, write


@pytest.fixture
def pushed(any_store_url: str, tmp_path: Path) -> tuple[Store, Path]:
    store = Store.init(any_store_url)
    src = tmp_path / "src"
    write(src, "a.json", {"x": 1})
    write(src, "big.bin", os.urandom(2 * 1024 * 1024))
    store.push(src, "dev")
    return store, src


def _keys(store: Store, prefix: str) -> list[str]:
    return [m.key for m in store.repo.backend.list(prefix)]


def _flip(store: Store, key: str, at: int | None = None) -> None:
    body = bytearray(store.repo.backend.get(key)[0])
    i = len(body) // 2 if at is None else at
    body[i] ^= 0x01
    store.repo.backend.put(key, bytes(body), OVERWRITE)


def _assert_untouched(parent: Path, target: Path, before: dict[str, tuple[str, int]]) -> None:
    assert tree(target) == before
    leftovers = [p.name for p in parent.iterdir() if ".statesync-" in p.name]
    assert leftovers == []


def test_corrupt_pack_fails_pull_and_leaves_the_folder_untouched(
    pushed: tuple[Store, Path], tmp_path: Path
) -> None:
    store, _ = pushed
    out = tmp_path / "out"
    write(out, "keep.txt", "mine")
    before = tree(out)
    [pack] = _keys(store, layout.OBJECTS)
    _flip(store, pack)
    with pytest.raises(IntegrityError) as err:
        store.pull(out, "dev")
    assert err.value.exit_code == 4 and pack in str(err.value)
    _assert_untouched(tmp_path, out, before)


def test_truncated_pack_fails_pull_and_creates_nothing(
    pushed: tuple[Store, Path], tmp_path: Path
) -> None:
    store, _ = pushed
    [pack] = _keys(store, layout.OBJECTS)
    body = store.repo.backend.get(pack)[0]
    store.repo.backend.put(pack, body[: len(body) // 3], OVERWRITE)
    with pytest.raises(IntegrityError):
        store.pull(tmp_path / "new", "dev")
    assert not (tmp_path / "new").exists()


def test_corrupt_manifest_is_detected_by_its_id(pushed: tuple[Store, Path], tmp_path: Path) -> None:
    store, _ = pushed
    [snap] = _keys(store, layout.SNAPSHOTS)
    _flip(store, snap, at=5)
    with pytest.raises(IntegrityError, match="does not match its id"):
        store.pull(tmp_path / "out", "dev")
    with pytest.raises(IntegrityError):
        store.log("dev")
    assert not (tmp_path / "out").exists()


def test_corrupt_index_is_detected_and_only_skipped(
    pushed: tuple[Store, Path], tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    store, src = pushed
    [index] = _keys(store, layout.INDEX)
    _flip(store, index, at=3)
    for cached in (tmp_path / "xdg-cache").rglob("*"):
        if cached.is_file():
            cached.unlink()
    with caplog.at_level(logging.WARNING):
        store.pull(tmp_path / "out", "dev")  # damage stays local (issue 11): read from the pack
    assert index in caplog.text and "repair" in caplog.text
    assert tree(tmp_path / "out") == tree(src)
    assert index in {d.object for d in store.verify().damaged}


def _hostile(store: Store, entry: Entry) -> None:
    manifest = Manifest(store_id=store.store_id, env="dev", parents=[], entries=[entry])
    snap_id, body = codec.seal_document(manifest.to_json())
    store.repo.backend.put(layout.snapshot_key(snap_id), body)
    write_ref(store.repo, "dev", snap_id, read_ref(store.repo, "dev"))


@pytest.mark.parametrize("path", ["../evil", "/etc/evil", "a/../../evil", ".statesync/state.json"])
def test_manifest_with_an_escaping_path_is_refused(
    pushed: tuple[Store, Path], tmp_path: Path, path: str
) -> None:
    store, _ = pushed
    _hostile(
        store, Entry(path=path, kind="document", mode=0o644, size=0, digest=codec.sha256_hex(b""))
    )
    out = tmp_path / "deep" / "out"
    with pytest.raises(IntegrityError, match="unsafe path"):
        store.pull(out, "dev")
    assert not (tmp_path / "deep").exists() or not any((tmp_path / "deep").iterdir())
    assert not (tmp_path / "evil").exists()


def test_symlink_pointing_out_of_the_tree_is_restored_as_a_link_only(
    pushed: tuple[Store, Path], tmp_path: Path
) -> None:
    # Links are kept verbatim (tests/sync/folder/test_links.py); what lies under one is refused.
    store, _ = pushed
    _hostile(
        store,
        Entry(
            path="sub/link",
            kind="symlink",
            mode=0o777,
            size=0,
            digest=codec.sha256_hex(b"../../etc"),
            target="../../etc",
        ),
    )
    store.pull(tmp_path / "out", "dev")
    assert os.readlink(tmp_path / "out" / "sub" / "link") == "../../etc"


def test_ref_pointing_into_another_store_is_refused(pushed: tuple[Store, Path]) -> None:
    store, _ = pushed
    body = store.repo.backend.get("refs/dev")[0].replace(store.store_id.encode(), b"0" * 32)
    store.repo.backend.put("refs/dev", body)
    with pytest.raises(IntegrityError, match="refs/dev"):
        store.log("dev")


def test_unreadable_source_file_fails_before_anything_is_written(
    any_store_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = Store.init(any_store_url)
    src = tmp_path / "src"
    write(src, "ok.txt", "fine")
    bad = write(src, "locked.txt", "secret-ish")
    if os.geteuid() != 0:
        os.chmod(bad, 0)
    else:  # root reads anything: make this one file fail to open, as a permission error would
        real_open = open

        def failing_open(path: object, *args: object, **kwargs: object) -> object:
            if str(path) == str(bad):
                raise PermissionError(13, "Permission denied", str(path))
            return real_open(path, *args, **kwargs)  # type: ignore[call-overload]

        monkeypatch.setattr("builtins.open", failing_open)
    with pytest.raises(StatesyncError, match=r"cannot read .*locked\.txt: Permission denied"):
        store.push(src, "dev")
    monkeypatch.undo()
    assert store.envs() == []
    assert list(store.repo.backend.list(layout.OBJECTS)) == []
