"""Bundles of environments that include secrets: sealed values stay sealed, or are left out."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from statesync.api import Store
from statesync.sync.secrets.policy import MARKER
from statesync.sync.store.manifest import load_manifest
from tests.e2e.test_cli import run
from tests.helpers import store_bytes, write

PASSWORD = "bundle-db-password-0042"
FILE_SECRET = "bundle-secret-file-value-77"
FORMATS = [".json", ".yaml", ".tar.zst"]


@pytest.fixture
def store(any_store_url: str, monkeypatch: pytest.MonkeyPatch) -> Store:
    monkeypatch.setenv("STATESYNC_PASSPHRASE", "bundle passphrase")
    Store.init(any_store_url)
    s = Store.open(any_store_url)
    s.keys().init("dev", ["passphrase"])
    s.keys().init("prod", ["passphrase"])
    return s


@pytest.fixture
def src(tmp_path: Path) -> Path:
    root = tmp_path / "src"
    write(root, "app.json", {"db": {"host": "db1", "password": PASSWORD}, "n": 1})
    write(root, "secrets/api.secret", FILE_SECRET + "\n")
    write(root, "notes.txt", "visible notes\n")
    return root


def _bundle(store: Store, src: Path, tmp_path: Path, suffix: str) -> Path:
    store.push(src, "dev", include_secrets=True)
    out = tmp_path / f"dev{suffix}"
    store.export(out, env="dev")
    assert PASSWORD.encode() not in out.read_bytes()
    assert FILE_SECRET.encode() not in out.read_bytes()
    return out


def _no_plaintext(store: Store) -> None:
    raw = store_bytes(store.repo.backend)
    assert b"visible notes" in raw or b"gen-1" in raw
    assert PASSWORD.encode() not in raw and FILE_SECRET.encode() not in raw


@pytest.mark.parametrize("suffix", FORMATS)
def test_a_sealed_bundle_imports_into_another_env_resealed_for_it(
    store: Store, src: Path, tmp_path: Path, suffix: str
) -> None:
    bundle = _bundle(store, src, tmp_path, suffix)
    result = store.import_(bundle, "prod")
    assert result.changed and result.secret_files == [] and result.left_out == []
    head = load_manifest(store.repo, result.snapshot)
    assert head.encryption.secrets is True
    out = tmp_path / "prod-machine"
    Store.open(store.url).pull(out, "prod")
    assert json.loads((out / "app.json").read_text())["db"]["password"] == PASSWORD
    assert (out / "secrets/api.secret").read_text() == FILE_SECRET + "\n"
    _no_plaintext(store)
    again = store.import_(bundle, "prod")  # sealing is deterministic: nothing changed
    assert not again.changed


def test_a_sealed_bundle_imported_into_the_env_it_came_from_changes_nothing(
    store: Store, src: Path, tmp_path: Path
) -> None:
    bundle = _bundle(store, src, tmp_path, ".json")
    before = store.log("dev")[0].snapshot
    result = store.import_(bundle, "dev")
    assert not result.changed and result.snapshot == before


def test_a_sealed_bundle_in_another_store_imports_with_secrets_left_out(
    store: Store, src: Path, tmp_path: Path
) -> None:
    bundle = _bundle(store, src, tmp_path, ".tar.zst")
    other = Store.init((tmp_path / "other-store").as_uri())
    result = other.import_(bundle, "dev")
    assert result.changed and result.left_out == ["app.json#/db/password", "secrets/api.secret"]
    assert "left out" in result.note
    out = tmp_path / "other-machine"
    other.pull(out, "dev")
    assert json.loads((out / "app.json").read_text())["db"]["password"] == MARKER
    assert not (out / "secrets").exists()
    assert (out / "notes.txt").read_text() == "visible notes\n"
    assert load_manifest(other.repo, result.snapshot).secret_files == ["secrets/api.secret"]


def test_cli_imports_a_sealed_bundle(
    src: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("STATESYNC_PASSPHRASE", "bundle passphrase")
    store = Store.init((tmp_path / "cli-store").as_uri())  # a store the child process can open
    store.keys().init("dev", ["passphrase"])
    store.keys().init("prod", ["passphrase"])
    bundle = _bundle(store, src, tmp_path, ".yaml")
    proc = run("--store", store.url, "--json", "import", str(bundle), "--env", "prod")
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout)
    assert out["changed"] is True and out["left_out"] == []
    assert PASSWORD not in proc.stdout + proc.stderr
