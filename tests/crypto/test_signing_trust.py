"""Ed25519 signing keys and the local trust policy's decisions."""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path

import pytest

from statesync.crypto import signing
from statesync.crypto.trust import TrustPolicy, default_path
from statesync.errors import IntegrityError, KeyFailure, UsageError

STORE = "0123456789abcdef0123456789abcdef"


def test_generate_sign_verify(tmp_path: Path) -> None:
    path = tmp_path / "signing.key"
    public = signing.generate(path)
    assert public.startswith("ed25519:") and stat.S_IMODE(path.stat().st_mode) == 0o600
    assert b"PRIVATE KEY" in path.read_bytes()
    signer = signing.load_signer(path)
    assert signer.public == public
    sig = signer.sign(b"manifest id")
    assert signing.sign(b"manifest id", path) == sig  # Ed25519 is deterministic
    assert signing.verify(public, b"manifest id", sig)
    assert not signing.verify(public, b"manifest id!", sig)
    other = signing.generate(tmp_path / "other.key")
    assert not signing.verify(other, b"manifest id", sig)
    for junk in ("", "!!", sig[:-4]):
        assert not signing.verify(public, b"manifest id", junk)
    assert not signing.verify("ed25519:short", b"manifest id", sig)
    assert not signing.verify("rsa:" + public[8:], b"manifest id", sig)


def test_generate_never_replaces_and_defaults_to_config_dir(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("STATESYNC_SIGNING_KEY", raising=False)
    assert signing.default_signer() is None
    public = signing.generate()
    path = Path(os.environ["XDG_CONFIG_HOME"]) / "statesync" / "signing.key"
    assert signing.default_key_path() == path and path.exists()
    default = signing.default_signer()
    assert default is not None and default.public == public
    with pytest.raises(UsageError, match="refusing to replace"):
        signing.generate()
    monkeypatch.setenv("STATESYNC_SIGNING_KEY", str(tmp_path / "missing.key"))
    with pytest.raises(KeyFailure):
        signing.default_signer()


def test_signing_key_with_wide_permissions_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "k"
    signing.generate(path)
    os.chmod(path, 0o644)
    with pytest.raises(KeyFailure, match="too open") as err:
        signing.load_signer(path)
    assert err.value.exit_code == 6
    (tmp_path / "notakey").write_text("hello")
    os.chmod(tmp_path / "notakey", 0o600)
    with pytest.raises(KeyFailure, match="not an unencrypted PEM"):
        signing.load_signer(tmp_path / "notakey")


@pytest.fixture
def keys(tmp_path: Path) -> tuple[str, str]:
    return signing.generate(tmp_path / "a.key"), signing.generate(tmp_path / "b.key")


def test_no_policy_accepts_anything(keys: tuple[str, str]) -> None:
    policy = TrustPolicy.load()
    policy.check(STORE, "prod", None, "refs/prod")
    policy.check(STORE, "prod", keys[0], "refs/prod")


def test_trusted_writers_and_required_signatures(keys: tuple[str, str]) -> None:
    alice, bob = keys
    policy = TrustPolicy.load()
    policy.trust(STORE, "prod", alice)
    policy.check(STORE, "prod", alice, "w")
    policy.check(STORE, "prod", None, "w")  # unsigned still allowed: not required
    with pytest.raises(IntegrityError, match="does not trust") as err:
        policy.check(STORE, "prod", bob, "snapshots/abc")
    assert err.value.exit_code == 4 and str(err.value).startswith("snapshots/abc: ")
    policy.trust(STORE, "prod", alice, require_signed=True)
    with pytest.raises(IntegrityError, match="not signed"):
        policy.check(STORE, "prod", None, "w")
    policy.check(STORE, "dev", None, "w")  # other environments have their own policy
    policy.check("another-store", "prod", bob, "w")
    policy.trust(STORE, "prod", bob)
    policy.untrust(STORE, "prod", alice)  # bob still writes, and signatures are still required
    with pytest.raises(IntegrityError, match="not signed"):
        policy.check(STORE, "prod", None, "w")
    policy.untrust(STORE, "prod", bob)  # the last writer: untrust undoes what trust set
    assert policy.entry(STORE, "prod") is None
    policy.check(STORE, "prod", None, "w")
    policy.trust(STORE, "prod", alice, require_signed=True)
    policy.untrust(STORE, "prod", None, require_signed=True)
    policy.check(STORE, "prod", None, "w")
    with pytest.raises(UsageError, match="not a trusted writer"):
        policy.untrust(STORE, "prod", bob)


def test_policy_file_round_trip_is_private(keys: tuple[str, str]) -> None:
    alice, _ = keys
    policy = TrustPolicy.load()
    policy.trust(STORE, "prod", alice, require_signed=True)
    policy.save()
    path = default_path()
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    doc = json.loads(path.read_text())
    assert doc["stores"][STORE]["prod"] == {"writers": [alice], "require_signed": True}
    again = TrustPolicy.load()
    with pytest.raises(IntegrityError):
        again.check(STORE, "prod", None, "w")
    os.chmod(path, 0o666)
    with pytest.raises(IntegrityError, match="writable by others"):
        TrustPolicy.load()
    os.chmod(path, 0o600)
    path.write_text("{broken")
    with pytest.raises(IntegrityError, match="malformed"):
        TrustPolicy.load()


def test_public_keys_compare_canonically(keys: tuple[str, str]) -> None:
    alice, _ = keys
    policy = TrustPolicy.load()
    policy.trust(STORE, "prod", " " + alice + "\n")
    policy.check(STORE, "prod", alice, "w")
    with pytest.raises(UsageError):
        policy.trust(STORE, "prod", "ed25519:not-base64!")
    with pytest.raises(IntegrityError, match="malformed signer"):
        policy.check(STORE, "prod", "garbage", "w")
