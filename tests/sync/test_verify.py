"""verify names every damaged object; --read-data reads every chunk."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from statesync.api import Store
from statesync.backends.base import OVERWRITE
from statesync.errors import EnvNotFound
from statesync.sync.store import layout
from tests.helpers import write


@pytest.fixture
def store(any_store_url: str, tmp_path: Path) -> Store:
    store = Store.init(any_store_url)
    src = tmp_path / "src"
    write(src, "a.json", {"a": 1})
    write(src, "b.bin", os.urandom(500_000))
    store.push(src, "dev")
    write(src, "a.json", {"a": 2})
    store.push(src, "dev")
    store.push(src, "prod", force=True)
    return store


def _damage(store: Store, key: str) -> None:
    body = bytearray(store.repo.backend.get(key)[0])
    body[len(body) // 2] ^= 0x55
    store.repo.backend.put(key, bytes(body), OVERWRITE)


def test_clean_store_verifies(store: Store) -> None:
    report = store.verify(read_data=True)
    assert report.ok and report.refs == 2 and report.snapshots == 3 and report.packs_read >= 1


def test_damaged_pack_is_found_only_by_reading_data(store: Store) -> None:
    [pack, *_] = [m.key for m in store.repo.backend.list(layout.OBJECTS)]
    _damage(store, pack)
    assert store.verify().ok
    report = store.verify(read_data=True)
    assert not report.ok and all(pack in p for p in report.problems)


def test_damaged_manifest_and_missing_pack_are_named(store: Store) -> None:
    snaps = [m.key for m in store.repo.backend.list(layout.SNAPSHOTS)]
    _damage(store, snaps[0])
    [pack, *_] = [m.key for m in store.repo.backend.list(layout.OBJECTS)]
    store.repo.backend.delete(pack)
    report = store.verify(read_data=True)
    text = "\n".join(report.problems)
    assert snaps[0] in text and f"{pack}: missing" in text


def test_cli_verify_exit_codes(tmp_path: Path) -> None:
    url = (tmp_path / "s").as_uri()
    store = Store.init(url)
    write(tmp_path / "src", "x.txt", "x")
    store.push(tmp_path / "src", "dev")

    def run() -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "statesync.cli", "--store", url, "verify", "--read-data"],
            capture_output=True,
            text=True,
            timeout=60,
        )

    assert run().returncode == 0
    [pack] = [p for p in (tmp_path / "s" / "objects").rglob("*") if p.is_file()]
    pack.write_bytes(pack.read_bytes()[:-3] + b"xyz")
    proc = run()
    assert proc.returncode == 4 and "Traceback" not in proc.stderr
    assert pack.name in proc.stderr


def test_verify_of_a_missing_environment_is_env_not_found(store: Store) -> None:
    with pytest.raises(EnvNotFound, match="nope"):
        store.verify("nope")


def test_verify_checks_what_it_can_without_a_key_and_says_what_it_skipped(
    any_store_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("STATESYNC_PASSPHRASE", "correct horse battery staple")
    Store.init(any_store_url).keys().init("vault", ["passphrase"])
    keyed = Store.open(any_store_url)
    write(tmp_path / "src", "a.json", {"a": 1})
    keyed.push(tmp_path / "src", "vault", encrypt_all=True)
    keyed.push(tmp_path / "src", "plain", force=True)
    monkeypatch.delenv("STATESYNC_PASSPHRASE")
    report = Store.open(any_store_url).verify(read_data=True)
    assert report.ok and report.refs == 2 and report.snapshots == 1
    assert len(report.skipped) == 1 and "vault" in report.skipped[0]
