"""Encryption turned on for an environment with history: the new head is sealed, all of it.

Files are given an old mtime so the folder's stat cache (``.statesync/``)
would stand in for them: that cache is exactly what must not carry plaintext
or redacted entries into a sealed head.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest

from statesync.api import Store
from statesync.sync.store import layout
from statesync.sync.store.chunkindex import load_index
from statesync.sync.store.manifest import load_manifest
from tests.helpers import store_bytes, write

PASSWORD = "hunter2-db-password"
NOTES = b"plain notes that anyone may read, on every line\n" * 40


def _age(root: Path) -> None:
    """Make every file look a minute old, so the stat cache trusts it."""
    old = os.stat(root).st_mtime - 60
    for dirpath, _, filenames in os.walk(root):
        for name in filenames:
            os.utime(os.path.join(dirpath, name), (old, old))


@pytest.fixture
def store(any_store_url: str, monkeypatch: pytest.MonkeyPatch) -> Store:
    monkeypatch.setenv("STATESYNC_PASSPHRASE", "correct horse battery staple")
    Store.init(any_store_url)
    return Store.open(any_store_url)


@pytest.fixture
def src(tmp_path: Path) -> Path:
    root = tmp_path / "src"
    write(root, "config.json", {"db": {"host": "db1.internal", "password": PASSWORD}})
    write(root, "notes.txt", NOTES)
    write(root, "secrets/api.secret", "sk-secret-file-value\n")
    _age(root)
    return root


def _plain_history(store: Store, src: Path) -> None:
    store.push(src, "dev")
    write(src, "extra.txt", "second push\n")
    _age(src)
    store.push(src, "dev")
    store.keys().init("dev", ["passphrase"])


def test_include_secrets_on_an_env_with_history_seals_unchanged_documents(
    store: Store, src: Path, tmp_path: Path
) -> None:
    _plain_history(store, src)
    result = store.push(src, "dev", include_secrets=True)
    assert result.changed and result.secret_files == []
    out = tmp_path / "machine-with-key"
    Store.open(store.url).pull(out, "dev")
    assert json.loads((out / "config.json").read_text())["db"]["password"] == PASSWORD
    assert (out / "secrets/api.secret").read_text() == "sk-secret-file-value\n"
    head = load_manifest(store.repo, result.snapshot)
    sealed = json.loads(_read(store, head, "config.json"))["db"]["password"]
    assert sealed.startswith("statesync:enc:")


def _read(store: Store, manifest: object, path: str) -> bytes:
    from statesync.sync.store.content import read_entry

    entry = manifest.by_path()[path]  # type: ignore[attr-defined]
    return read_entry(store.repo, load_index(store.repo), entry)


def _head_packs(store: Store, env: str) -> tuple[set[str], list[str]]:
    """The packs the head references, and those of its chunks that are not sealed."""
    head = load_manifest(store.repo, store.log(env)[0].snapshot)
    index = load_index(store.repo)
    packs: set[str] = set()
    plain: list[str] = []
    for entry in head.entries:
        for cid, _ in entry.chunks:
            loc = index.locate(cid)
            packs.add(loc.pack)
            if loc.sealed is None or loc.sealed[0] != env:
                plain.append(f"{entry.path}:{cid[:12]}")
    return packs, plain


def test_encrypt_all_on_an_env_with_history_references_only_sealed_chunks(
    store: Store, src: Path, tmp_path: Path
) -> None:
    _plain_history(store, src)
    old_packs = {m.key for m in store.repo.backend.list(layout.OBJECTS)}
    result = store.push(src, "dev", encrypt_all=True)
    assert result.changed and result.uploaded_bytes > 0
    packs, plain = _head_packs(store, "dev")
    assert plain == []
    assert not {layout.pack_key(p) for p in packs} & old_packs
    for key in old_packs:  # the plaintext history is gone: the head must not need it
        store.repo.backend.delete(key)
    for pack in packs:  # every referenced pack's bytes hold no plaintext
        body = store.repo.backend.get(layout.pack_key(pack))[0]
        assert b"plain notes" not in body and b"db1.internal" not in body
    assert b"plain notes" not in store_bytes(store.repo.backend)
    out = tmp_path / "restored"
    Store.open(store.url).pull(out, "dev")
    assert (out / "notes.txt").read_bytes() == NOTES


def test_a_later_push_of_an_encrypt_all_env_keeps_referencing_sealed_chunks(
    store: Store, src: Path, tmp_path: Path
) -> None:
    _plain_history(store, src)
    store.push(src, "dev", encrypt_all=True)
    write(src, "more.txt", "third\n")
    _age(src)
    store.push(src, "dev")  # sticky, with the folder's cache
    assert _head_packs(store, "dev")[1] == []


def test_pull_then_push_without_edits_is_no_new_serial(
    store: Store, src: Path, tmp_path: Path
) -> None:
    store.keys().init("dev", ["passphrase"])
    first = store.push(src, "dev")
    fresh = tmp_path / "fresh"
    store.pull(fresh, "dev")
    again = store.push(fresh, "dev")
    assert not again.changed and again.snapshot == first.snapshot
    assert again.serial == first.serial


def test_pull_then_push_without_edits_with_sealed_secrets_is_no_new_serial(
    store: Store, src: Path, tmp_path: Path
) -> None:
    store.keys().init("dev", ["passphrase"])
    first = store.push(src, "dev", include_secrets=True)
    fresh = tmp_path / "fresh"
    store.pull(fresh, "dev")
    options: list[dict[str, Any]] = [{}, {"include_secrets": True}]
    for flags in options:
        again = store.push(fresh, "dev", **flags)
        assert not again.changed and again.serial == first.serial


def test_rotation_leaves_pulled_folders_clean(store: Store, src: Path, tmp_path: Path) -> None:
    store.keys().init("dev", ["passphrase"])
    store.push(src, "dev", include_secrets=True)
    store.keys().rotate("dev")
    doc = json.loads((src / "config.json").read_text())
    doc["db"]["host"] = "db2.internal"
    write(src, "config.json", doc)
    pushed = store.push(src, "dev")  # sealed with generation 2 where it changed
    fresh = tmp_path / "fresh"
    store.pull(fresh, "dev")
    status = store.status(fresh, "dev")
    assert (status.added, status.modified, status.deleted) == ([], [], [])
    again = store.pull(fresh, "dev")
    assert again.snapshot == pushed.snapshot
    nothing = store.push(fresh, "dev")
    assert not nothing.changed and nothing.serial == pushed.serial


@pytest.mark.parametrize("aged", [True, False], ids=["cached", "just-pulled"])
def test_push_without_edits_after_rotation_is_no_new_serial(
    store: Store, src: Path, tmp_path: Path, aged: bool
) -> None:
    store.keys().init("dev", ["passphrase"])
    first = store.push(src, "dev", include_secrets=True, encrypt_all=True)
    fresh = tmp_path / "fresh"
    store.pull(fresh, "dev")
    if aged:
        _age(fresh)
    store.keys().rotate("dev")
    for folder in (src, fresh):
        again = store.push(folder, "dev", include_secrets=True)
        assert not again.changed and again.serial == first.serial
        assert store.status(folder, "dev").clean


def test_a_folder_pulled_before_rotation_sees_only_real_changes(
    store: Store, src: Path, tmp_path: Path
) -> None:
    store.keys().init("dev", ["passphrase"])
    store.push(src, "dev", include_secrets=True)
    pulled = tmp_path / "pulled"
    store.pull(pulled, "dev")
    _age(pulled)  # its stat cache now vouches for entries sealed with generation 1
    store.keys().rotate("dev")
    write(src, "notes.txt", "changed after the rotation\n")
    store.push(src, "dev")
    status = store.status(pulled, "dev")
    assert status.env_moved and status.clean  # the other folder's change is not a local one
    write(pulled, "notes.txt", "changed here too\n")
    assert store.status(pulled, "dev").modified == ["notes.txt"]
    (pulled / "notes.txt").write_bytes(NOTES)  # back as synced: the pull may replace it
    store.pull(pulled, "dev")
    assert store.status(pulled, "dev").clean
    assert json.loads((pulled / "config.json").read_text())["db"]["password"] == PASSWORD


def test_a_folder_pulled_before_encryption_was_turned_on_pulls_cleanly(
    store: Store, src: Path, tmp_path: Path
) -> None:
    _plain_history(store, src)
    pulled = tmp_path / "pulled"
    store.pull(pulled, "dev")
    _age(pulled)
    store.push(src, "dev", include_secrets=True)
    store.pull(pulled, "dev")  # its cached entries (redacted) do not stand for sealed ones
    assert json.loads((pulled / "config.json").read_text())["db"]["password"] == PASSWORD
    assert not store.push(pulled, "dev").changed
