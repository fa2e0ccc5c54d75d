"""--include-secrets, --encrypt all, signatures and trust: secrets stay sealed."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from statesync.api import Store
from statesync.backends.base import OVERWRITE
from statesync.crypto import signing
from statesync.crypto.trust import TrustPolicy
from statesync.errors import IntegrityError, KeyFailure
from statesync.sync.store import layout
from statesync.sync.store.sealing import EnvKeys
from tests.helpers import store_bytes, tree, write

SECRETS = [
    b"hunter2-db-password",
    b"tok-4242-api",
    b"-----PRIVATE KEY MATERIAL-----",
    b"AWS_SECRET=envfile-value",
]


@pytest.fixture
def keyed(any_store_url: str, monkeypatch: pytest.MonkeyPatch) -> Store:
    monkeypatch.setenv("STATESYNC_PASSPHRASE", "correct horse battery staple")
    store = Store.init(any_store_url)
    store.keys().init("dev", ["passphrase"])
    return Store.open(any_store_url)


@pytest.fixture
def src(tmp_path: Path) -> Path:
    root = tmp_path / "src"
    db = {"host": "db1.internal.example", "password": "hunter2-db-password"}
    write(root, "config.json", {"db": db, "api_token": "tok-4242-api", "replicas": 2})
    write(root, "secrets/key.pem", "-----PRIVATE KEY MATERIAL-----\n")
    write(root, ".env", "AWS_SECRET=envfile-value\n")
    write(root, "notes.txt", "plain notes that anyone may read\n")
    return root


def _no_secrets_in(store: Store) -> None:
    raw = store_bytes(store.repo.backend)
    # the search can see things, so the absences below mean something
    assert b"db1.internal.example" in raw or b"plain notes" in raw or b"gen-1" in raw
    for secret in SECRETS:
        assert secret not in raw


def test_include_secrets_seals_values_and_files_and_pull_restores_them(
    keyed: Store, src: Path, tmp_path: Path
) -> None:
    result = keyed.push(src, "dev", include_secrets=True)
    assert result.secret_files == []
    _no_secrets_in(keyed)
    shown = keyed.show("dev")
    assert {e["path"]: e["kind"] for e in shown["entries"]}[".env"] == "secret-file"
    out = tmp_path / "other-machine"
    keyed.pull(out, "dev")
    assert tree(out) == tree(src) | {
        p: (tree(src)[p][0], 0o600) for p in (".env", "secrets/key.pem", "config.json")
    }
    for p in (".env", "secrets/key.pem", "config.json"):
        assert (out / p).stat().st_mode & 0o777 == 0o600


def test_sealed_documents_still_diff_and_merge_by_key(
    keyed: Store, src: Path, tmp_path: Path
) -> None:
    keyed.push(src, "dev", include_secrets=True)
    other = tmp_path / "other"
    keyed.pull(other, "dev")
    doc = json.loads((other / "config.json").read_text())
    doc["replicas"] = 5
    write(other, "config.json", doc)
    keyed.push(other, "dev")  # sticky: still includes secrets without the flag
    doc = json.loads((src / "config.json").read_text())
    doc["db"]["host"] = "db2"
    write(src, "config.json", doc)
    keyed.push(src, "dev", rebase=True)
    merged = json.loads((src / "config.json").read_text())
    assert merged["replicas"] == 5 and merged["db"] == {
        "host": "db2",
        "password": "hunter2-db-password",
    }
    assert keyed.diff("dev", keyed.log("dev")[1].snapshot).modified == {"config.json": ["/db/host"]}
    _no_secrets_in(keyed)


def test_wrong_passphrase_is_exit_6_and_nothing_is_written(
    keyed: Store, src: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    keyed.push(src, "dev", include_secrets=True)
    monkeypatch.setenv("STATESYNC_PASSPHRASE", "zebra-quux-9")
    store = Store.open(keyed.url)
    out = tmp_path / "out"
    with pytest.raises(KeyFailure) as err:
        store.pull(out, "dev")
    assert err.value.exit_code == 6 and "zebra-quux-9" not in str(err.value)
    assert not out.exists()
    monkeypatch.delenv("STATESYNC_PASSPHRASE")
    store = Store.open(keyed.url)
    with pytest.raises(KeyFailure):
        store.pull(out, "dev")
    assert not out.exists()


def test_skip_secrets_pulls_everything_else_and_keeps_local_secrets(
    keyed: Store, src: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    keyed.push(src, "dev", include_secrets=True)
    monkeypatch.delenv("STATESYNC_PASSPHRASE")
    out = tmp_path / "out"
    write(out, ".env", "MINE=local\n")
    store = Store.open(keyed.url)
    store.pull(out, "dev", skip_secrets=True)
    assert (out / ".env").read_text() == "MINE=local\n"
    assert not (out / "secrets").exists()
    doc = json.loads((out / "config.json").read_text())
    assert doc["db"]["password"] == "<statesync:secret>" and doc["replicas"] == 2
    assert (out / "notes.txt").read_text() == "plain notes that anyone may read\n"


def test_encrypt_all_hides_everything_and_keys_chunk_names(
    keyed: Store, src: Path, tmp_path: Path
) -> None:
    keyed.keys().init("prod", ["passphrase"])
    keyed.push(src, "dev", encrypt_all=True)
    keyed.push(src, "prod", encrypt_all=True)
    raw = store_bytes(keyed.repo.backend)
    for plain in (b"plain notes", b"db1.internal.example", b"config.json"):
        assert plain not in raw
    dev_ids = {e for m in keyed.repo.backend.list(layout.INDEX) for e in [m.key]}
    assert len(dev_ids) == 2  # each env sealed its own packs: names reveal no equality
    out = tmp_path / "out"
    keyed.pull(out, "dev")
    assert (out / "notes.txt").read_text() == "plain notes that anyone may read\n"
    assert keyed.verify(read_data=True).ok


def test_encrypt_all_without_a_key_is_exit_6(
    keyed: Store, src: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    keyed.push(src, "dev", encrypt_all=True)
    monkeypatch.delenv("STATESYNC_PASSPHRASE")
    with pytest.raises(KeyFailure):
        Store.open(keyed.url).pull(tmp_path / "out", "dev")
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("prefix", [layout.OBJECTS, layout.SNAPSHOTS])
def test_flipped_byte_in_encrypted_objects_is_exit_4(
    keyed: Store, src: Path, tmp_path: Path, prefix: str
) -> None:
    keyed.push(src, "dev", encrypt_all=True, include_secrets=True)
    [key, *_] = [m.key for m in keyed.repo.backend.list(prefix)]
    body = bytearray(keyed.repo.backend.get(key)[0])
    body[-20] ^= 0x01
    keyed.repo.backend.put(key, bytes(body), OVERWRITE)
    with pytest.raises(IntegrityError) as err:
        keyed.pull(tmp_path / "out", "dev")
    assert key in str(err.value)
    assert not (tmp_path / "out").exists()


def test_ciphertexts_moved_to_another_path_env_or_pointer_fail() -> None:
    keys = EnvKeys("store", "dev", 1, os.urandom(32))
    sealed = keys.seal_value("a.json", "/password", "s3cret")
    assert keys.open_value("a.json", "/password", sealed) == "s3cret"
    assert keys.seal_value("a.json", "/password", "s3cret") == sealed  # deterministic
    for path, pointer, k in [
        ("b.json", "/password", keys),
        ("a.json", "/token", keys),
        ("a.json", "/password", EnvKeys("store", "prod", 1, keys.data_key)),
        ("a.json", "/password", EnvKeys("other", "dev", 1, keys.data_key)),
    ]:
        with pytest.raises(IntegrityError):
            k.open_value(path, pointer, sealed)
    blob = keys.seal_file("secrets/a", b"data")
    with pytest.raises(IntegrityError):
        keys.open_file("secrets/b", blob)


def test_sealed_value_copied_into_another_document_is_detected(
    keyed: Store, src: Path, tmp_path: Path
) -> None:
    write(src, "other.json", {"service_token": "placeholder"})
    keyed.push(src, "dev", include_secrets=True)
    pulled = tmp_path / "pulled"
    keyed.pull(pulled, "dev")
    # An attacker with store access splices config.json's sealed password into other.json.
    from statesync.sync.store.chunkindex import load_index
    from statesync.sync.store.content import read_entry
    from statesync.sync.store.manifest import load_manifest

    manifest = load_manifest(keyed.repo, keyed.log("dev")[0].snapshot)
    entries = manifest.by_path()
    config = json.loads(read_entry(keyed.repo, load_index(keyed.repo), entries["config.json"]))
    write(pulled, "other.json", {"service_token": config["db"]["password"]})
    keyed.push(pulled, "dev")
    with pytest.raises(IntegrityError, match=r"other\.json#/service_token"):
        keyed.pull(tmp_path / "victim", "dev")


def _trust(store: Store, env: str, public: str | None, require: bool) -> None:
    policy = TrustPolicy.load()
    if public:
        policy.trust(store.store_id, env, public, require)
    else:
        policy.trust(
            store.store_id,
            env,
            signing.generate(Path(os.environ["XDG_CONFIG_HOME"]) / "unused.key"),
            require,
        )
    policy.save()


def test_signed_pushes_are_checked_against_the_local_trust_policy(
    any_store_url: str, src: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = Store.init(any_store_url)
    alice = signing.generate(tmp_path / "alice.key")
    mallory_key = tmp_path / "mallory.key"
    signing.generate(mallory_key)
    monkeypatch.setenv("STATESYNC_SIGNING_KEY", str(tmp_path / "alice.key"))
    Store.open(any_store_url).push(src, "dev")
    _trust(store, "dev", alice, require=True)
    Store.open(any_store_url).pull(tmp_path / "ok", "dev")  # alice is trusted
    # mallory re-signs a push with her own key
    monkeypatch.setenv("STATESYNC_SIGNING_KEY", str(mallory_key))
    other = tmp_path / "m"
    TrustPolicy.load()  # mallory's machine has the same policy file here; pushing is allowed
    Store.open(any_store_url).pull(other, "dev")
    write(other, "notes.txt", "mallory was here\n")
    Store.open(any_store_url).push(other, "dev")
    monkeypatch.setenv("STATESYNC_SIGNING_KEY", str(tmp_path / "alice.key"))
    with pytest.raises(IntegrityError, match="does not trust"):
        Store.open(any_store_url).pull(tmp_path / "ok", "dev")
    assert (tmp_path / "ok" / "notes.txt").read_text() == "plain notes that anyone may read\n"
    assert not Store.open(any_store_url).verify().ok


def test_unsigned_push_into_an_env_requiring_signatures(
    any_store_url: str, src: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = Store.init(any_store_url)
    store.push(src, "dev")  # unsigned
    _trust(store, "dev", None, require=True)
    with pytest.raises(IntegrityError, match="not signed"):
        Store.open(any_store_url).pull(tmp_path / "out", "dev")
    write(src, "notes.txt", "more\n")
    with pytest.raises(IntegrityError, match="not signed"):  # refused before the ref moves
        Store.open(any_store_url).push(src, "dev")


def test_tampered_signed_ref_is_detected(
    any_store_url: str, src: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    signing.generate(tmp_path / "k.key")
    monkeypatch.setenv("STATESYNC_SIGNING_KEY", str(tmp_path / "k.key"))
    store = Store.init(any_store_url)
    store.push(src, "dev")
    body = json.loads(store.repo.backend.get("refs/dev")[0])
    body["updated_by"] = "someone-else"
    store.repo.backend.put("refs/dev", json.dumps(body).encode())
    with pytest.raises(IntegrityError, match="signature does not match"):
        store.pull(tmp_path / "out", "dev")


def test_verbose_logs_hold_no_secret(src: Path, tmp_path: Path) -> None:
    url = (tmp_path / "store").as_uri()
    env = {**os.environ, "STATESYNC_PASSPHRASE": "pw-for-logs-test"}

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "statesync.cli", "-vv", "--store", url, *args],
            capture_output=True,
            text=True,
            env=env,
            timeout=120,
        )

    outputs = [
        run("init"),
        run("keys", "init", "dev", "--recipient", "passphrase"),
        run("push", str(src), "--env", "dev", "--include-secrets", "--encrypt", "all"),
        run("pull", str(tmp_path / "out"), "--env", "dev"),
        run("--json", "show", "dev"),
        run("verify", "--read-data"),
    ]
    for proc in outputs:
        assert proc.returncode == 0, proc.stderr
        text = (proc.stdout + proc.stderr).encode()
        for secret in [*SECRETS, b"pw-for-logs-test"]:
            assert secret not in text
    assert (tmp_path / "out" / ".env").read_bytes() == b"AWS_SECRET=envfile-value\n"


def test_promotion_keeps_the_targets_own_secrets_and_reseals_new_ones(
    keyed: Store, tmp_path: Path
) -> None:
    keyed.keys().init("prod", ["passphrase"])
    dev, prod = tmp_path / "dev", tmp_path / "prod"
    write(
        dev,
        "config.json",
        {
            "db": {"host": "dev-db", "password": "dev-pw-1"},
            "feature": "new",
            "api_token": "dev-token-7",
        },
    )
    write(dev, "secrets/cert.secret", "dev-cert\n")
    write(prod, "config.json", {"db": {"host": "prod-db", "password": "prod-pw-9"}})
    write(prod, "secrets/cert.secret", "prod-cert\n")
    keyed.push(dev, "dev", include_secrets=True)
    keyed.push(prod, "prod", include_secrets=True)
    result = keyed.promote("dev", "prod")
    assert result.changed
    out = tmp_path / "prod-machine"
    keyed.pull(out, "prod")
    config = json.loads((out / "config.json").read_text())
    assert config == {
        "db": {"host": "dev-db", "password": "prod-pw-9"},
        "feature": "new",
        "api_token": "dev-token-7",
    }
    assert (out / "secrets/cert.secret").read_text() == "prod-cert\n"
    raw = store_bytes(keyed.repo.backend)
    for secret in (b"dev-pw-1", b"prod-pw-9", b"dev-token-7", b"dev-cert", b"prod-cert"):
        assert secret not in raw


def test_rollback_of_a_fully_encrypted_env_stays_encrypted(
    keyed: Store, src: Path, tmp_path: Path
) -> None:
    first = keyed.push(src, "dev", encrypt_all=True)
    write(src, "notes.txt", "second version\n")
    keyed.push(src, "dev")
    keyed.rollback("dev", first.snapshot)
    assert b"plain notes" not in store_bytes(keyed.repo.backend)
    out = tmp_path / "out"
    keyed.pull(out, "dev")
    assert (out / "notes.txt").read_text() == "plain notes that anyone may read\n"


def test_saved_objects_with_included_secrets_load_back(keyed: Store) -> None:
    keyed.save_object({"step": 3, "openai_api_key": "sk-live-123"}, "dev", include_secrets=True)
    assert b"sk-live-123" not in store_bytes(keyed.repo.backend)
    assert keyed.load_object("dev") == {"step": 3, "openai_api_key": "sk-live-123"}
    assert keyed.load_object("dev", skip_secrets=True)["openai_api_key"] == "<statesync:secret>"
