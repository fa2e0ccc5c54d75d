"""Passphrase and key-file providers, and recipient specs."""

from __future__ import annotations

import base64
import os
import stat
from pathlib import Path

import pytest

from statesync.config import load_config
from statesync.crypto.providers import default_identities, resolve
from statesync.crypto.providers.base import Stanza, WrapContext
from statesync.crypto.providers.keyfile import KeyfileProvider, load_keyfile, new_keyfile
from statesync.crypto.providers.passphrase import (
    PassphraseProvider,
    env_name,
    read_passphrase,
)
from statesync.errors import KeyFailure, UsageError
from tests.crypto.conftest import passphrase

CTX = WrapContext("store", "dev", 1, "passphrase:team")


# --- passphrase -------------------------------------------------------------------


def test_default_kdf_is_argon2id_64mib_3_passes() -> None:
    provider = PassphraseProvider("team", source=lambda _l, _c: "a long passphrase")
    key = os.urandom(32)
    stanza = provider.wrap(key, CTX)
    p = stanza.params
    assert p["kdf"] == "argon2id" and p["memory_kib"] >= 64 * 1024 and p["iterations"] >= 3
    assert p["lanes"] == 4 and len(base64.b64decode(p["salt"])) == 16
    other = PassphraseProvider("x", source=lambda _l, _c: "a long passphrase")
    assert other.unwrap(stanza, CTX) == key
    assert provider.wrap(key, CTX).params["salt"] != p["salt"]  # a new salt per stanza


def test_stanza_kdf_parameters_are_bounded() -> None:
    stanza = passphrase("team", "pw").wrap(os.urandom(32), CTX)
    for change in (
        {"memory_kib": 2**40},
        {"iterations": 10_000},
        {"lanes": 0},
        {"kdf": "pbkdf2"},
        {"memory_kib": "lots"},
    ):
        bad = Stanza(stanza.id, stanza.type, stanza.wrapped, {**stanza.params, **change})
        with pytest.raises(KeyFailure, match="KDF parameters"):
            passphrase("team", "pw").unwrap(bad, CTX)


def test_a_short_or_empty_salt_is_a_malformed_stanza_not_an_internal_error() -> None:
    stanza = passphrase("team", "pw").wrap(os.urandom(32), CTX)
    for salt in (b"", b"1234567"):  # the KDFs refuse salts under 8 bytes (ValueError)
        params = {**stanza.params, "salt": base64.b64encode(salt).decode()}
        bad = Stanza(stanza.id, stanza.type, stanza.wrapped, params)
        with pytest.raises(KeyFailure, match="'salt' is missing or malformed"):
            passphrase("team", "pw").unwrap(bad, CTX)


def test_passphrase_sources_in_order(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    for var in (
        "STATESYNC_PASSPHRASE",
        "STATESYNC_PASSPHRASE_FILE",
        env_name("ops-1"),
        env_name("ops-1") + "_FILE",
    ):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setattr("sys.stdin.isatty", lambda: False)
    assert env_name("ops-1") == "STATESYNC_PASSPHRASE_OPS_1"
    assert read_passphrase("ops-1") is None  # no terminal: never prompts
    secret = tmp_path / "pass.txt"
    secret.write_text("from a file\n")
    monkeypatch.setenv("STATESYNC_PASSPHRASE_FILE", str(secret))
    assert read_passphrase("ops-1") == "from a file"
    monkeypatch.setenv("STATESYNC_PASSPHRASE", "generic")
    assert read_passphrase("ops-1") == "generic"
    monkeypatch.setenv("STATESYNC_PASSPHRASE_OPS_1", "labelled")
    assert read_passphrase("ops-1") == "labelled"
    monkeypatch.setenv("STATESYNC_PASSPHRASE_FILE", str(tmp_path / "missing"))
    monkeypatch.delenv("STATESYNC_PASSPHRASE")
    monkeypatch.delenv("STATESYNC_PASSPHRASE_OPS_1")
    with pytest.raises(KeyFailure, match="cannot read passphrase file"):
        read_passphrase("ops-1")


def test_prompt_only_at_a_terminal(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("STATESYNC_PASSPHRASE", raising=False)
    monkeypatch.delenv("STATESYNC_PASSPHRASE_FILE", raising=False)
    monkeypatch.setattr("sys.stdin.isatty", lambda: True)
    answers = iter(["typed", "typed", "typed", "mistyped"])
    monkeypatch.setattr("getpass.getpass", lambda prompt: next(answers))
    assert read_passphrase("team", confirm=True) == "typed"
    with pytest.raises(KeyFailure, match="did not match"):
        read_passphrase("team", confirm=True)


def test_passphrase_labels_are_checked() -> None:
    with pytest.raises(UsageError):
        resolve("passphrase:bad label")
    assert resolve("passphrase").stanza_id() == "passphrase:default"


# --- key files --------------------------------------------------------------------


def test_new_keyfile_is_0600_and_never_overwritten(tmp_path: Path) -> None:
    path = tmp_path / "k"
    stanza_id = new_keyfile(path)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stanza_id == KeyfileProvider(path).stanza_id() and stanza_id.startswith("keyfile:")
    before = path.read_bytes()
    with pytest.raises(UsageError, match="already exists"):
        new_keyfile(path)
    assert path.read_bytes() == before


def test_new_keyfile_ignores_a_loose_umask(tmp_path: Path) -> None:
    old = os.umask(0)
    try:
        new_keyfile(tmp_path / "k")
    finally:
        os.umask(old)
    assert stat.S_IMODE((tmp_path / "k").stat().st_mode) == 0o600


@pytest.mark.parametrize("mode", [0o644, 0o640, 0o604, 0o660, 0o700])
def test_keyfile_with_wider_permissions_is_refused(tmp_path: Path, mode: int) -> None:
    path = tmp_path / "k"
    new_keyfile(path)
    os.chmod(path, mode)
    if mode & 0o077:
        with pytest.raises(KeyFailure, match="too open") as err:
            KeyfileProvider(path).wrap(os.urandom(32), CTX)
        assert err.value.exit_code == 6
    else:  # owner-only modes are fine
        assert len(load_keyfile(path)) == 32


def test_keyfile_formats(tmp_path: Path) -> None:
    raw = tmp_path / "raw"
    raw.write_bytes(os.urandom(32))
    os.chmod(raw, 0o600)
    assert load_keyfile(raw) == raw.read_bytes()
    bad = tmp_path / "bad"
    bad.write_text("not a key\n")
    os.chmod(bad, 0o400)
    with pytest.raises(KeyFailure, match="not a statesync key file"):
        load_keyfile(bad)
    with pytest.raises(KeyFailure, match="No such file"):
        load_keyfile(tmp_path / "missing")


def test_keyfile_only_unwraps_its_own_stanzas(tmp_path: Path) -> None:
    new_keyfile(tmp_path / "a")
    new_keyfile(tmp_path / "b")
    a, b = KeyfileProvider(tmp_path / "a"), KeyfileProvider(tmp_path / "b")
    ctx = WrapContext("store", "dev", 1, a.stanza_id())
    stanza = a.wrap(os.urandom(32), ctx)
    assert b.unwrap(stanza, ctx) is None
    assert passphrase("team", "pw").unwrap(stanza, ctx) is None  # other kinds pass too


# --- specs and configuration ---------------------------------------------------------


def test_specs_resolve_to_providers(tmp_path: Path) -> None:
    kinds = {
        "passphrase:team": "passphrase",
        f"keyfile:{tmp_path}/k": "keyfile",
        "aws-kms:alias/statesync": "aws-kms",
        "azure-kv:https://v.vault.azure.net/keys/k": "azure-kv",
        "gcp-kms:projects/p/locations/l/keyRings/r/cryptoKeys/k": "gcp-kms",
    }
    for spec, kind in kinds.items():
        assert resolve(spec).type == kind
    for bad in ("pgp:abc", "keyfile", "keyfile:", "aws-kms:", ""):
        with pytest.raises(UsageError):
            resolve(bad)


def test_config_recipients(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "statesync.toml").write_text(
        '[keys]\nrecipients = ["passphrase:team", "keyfile:keys/team.key", "aws-kms:alias/x"]\n'
    )
    cfg = load_config(cwd=tmp_path)
    assert cfg.recipients == [
        "passphrase:team",
        f"keyfile:{tmp_path}/keys/team.key",
        "aws-kms:alias/x",
    ]
    (tmp_path / "statesync.toml").write_text('[keys]\nrecipients = "passphrase"\n')
    with pytest.raises(UsageError, match="recipients"):
        load_config(cwd=tmp_path)
    monkeypatch.setenv("STATESYNC_PASSPHRASE", "pw")
    assert [p.type for p in default_identities(["keyfile:/k"])] == ["keyfile", "passphrase"]
    assert [p.type for p in default_identities(["passphrase:x"])] == ["passphrase"]
