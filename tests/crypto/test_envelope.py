"""Keyrings on every backend: create, unwrap, recipients, rotation, tampering."""

from __future__ import annotations

import base64
import json
import shutil
from pathlib import Path

import pytest

from statesync.backends.base import OVERWRITE
from statesync.crypto.providers.keyfile import KeyfileProvider, new_keyfile
from statesync.errors import (
    IntegrityError,
    KeyFailure,
    StatesyncError,
    UsageError,
)
from statesync.sync.store import layout
from statesync.sync.store.keyring import KeyService
from statesync.sync.store.repo import Repo
from tests.crypto.conftest import passphrase
from tests.helpers import store_bytes


def test_create_then_each_recipient_unwraps_alone(repo: Repo, keyfile: KeyfileProvider) -> None:
    team = passphrase("team", "correct horse")
    writer = KeyService(repo, [team])
    assert writer.current_generation("dev") is None
    assert writer.create("dev", [team, keyfile]) == 1
    gen, key = writer.data_key("dev")
    assert (gen, len(key)) == (1, 32)
    # Fresh services, as on other machines, each holding one identity only.
    assert KeyService(repo, [passphrase("team", "correct horse")]).data_key("dev") == (1, key)
    assert KeyService(repo, [KeyfileProvider(keyfile.path)]).data_key("dev", 1) == (1, key)
    assert KeyService(repo, []).current_generation("dev") == 1


def test_wrong_passphrase_is_a_key_failure_without_secrets(repo: Repo) -> None:
    KeyService(repo, []).create("dev", [passphrase("team", "right one")])
    with pytest.raises(KeyFailure) as err:
        KeyService(repo, [passphrase("team", "wrong one")]).data_key("dev")
    msg = str(err.value)
    assert err.value.exit_code == 6 and "\n" not in msg
    assert "no key available to unwrap keys/dev/gen-1.json (recipients: passphrase:team)" in msg
    assert "wrong passphrase" in msg
    assert "right one" not in msg and "wrong one" not in msg


def test_missing_keys_are_key_failures(repo: Repo, keyfile: KeyfileProvider) -> None:
    service = KeyService(repo, [keyfile])
    with pytest.raises(KeyFailure, match="environment dev has no keys") as err:
        service.data_key("dev")
    assert err.value.exit_code == 6
    service.create("dev", [keyfile])
    with pytest.raises(KeyFailure, match=r"gen-7\.json does not exist"):
        service.data_key("dev", 7)
    with pytest.raises(KeyFailure, match="none configured"):
        KeyService(repo, []).data_key("dev")
    with pytest.raises(KeyFailure, match="no passphrase given"):
        KeyService(repo, [passphrase("team", None)]).create("prod", [passphrase("team", None)])


def test_keyring_holds_no_key_material(repo: Repo, keyfile: KeyfileProvider) -> None:
    service = KeyService(repo, [keyfile])
    service.create("dev", [passphrase("team", "pw-in-test"), keyfile])
    service.rotate("dev", [keyfile, passphrase("ops", "pw-in-test")])
    raw = store_bytes(repo.backend)
    file_key = base64.b64decode(keyfile.path.read_text())
    for gen in (1, 2):
        key = service.data_key("dev", gen)[1]
        for secret in (key, file_key):
            for form in (
                secret,
                secret.hex().encode(),
                base64.b64encode(secret),
                base64.urlsafe_b64encode(secret),
            ):
                assert form not in raw
    assert b"pw-in-test" not in raw
    doc = json.loads(repo.backend.get(layout.keyring_key("dev", 1))[0])
    assert {s["id"] for s in doc["stanzas"]} == {"passphrase:team", keyfile.stanza_id()}
    assert doc["env"] == "dev" and doc["generation"] == 1 and doc["store_id"] == repo.store_id


def test_rotate_keeps_old_generations_readable(repo: Repo, keyfile: KeyfileProvider) -> None:
    service = KeyService(repo, [keyfile])
    service.create("dev", [keyfile])
    old = service.data_key("dev")[1]
    assert service.rotate("dev") == 2 and service.rotate("dev") == 3
    reader = KeyService(repo, [KeyfileProvider(keyfile.path)])
    assert reader.current_generation("dev") == 3
    keys = [reader.data_key("dev", g)[1] for g in (1, 2, 3)]
    assert keys[0] == old and len(set(keys)) == 3
    assert reader.data_key("dev") == (3, keys[2])
    assert service.generations("dev") == [1, 2, 3] and service.generations("prod") == []


def test_rotate_carries_recipients_only_with_their_secret(
    repo: Repo, tmp_path: Path, keyfile: KeyfileProvider
) -> None:
    other = tmp_path / "other.key"
    new_keyfile(other)
    KeyService(repo, [keyfile]).create(
        "dev", [keyfile, passphrase("team", "pw"), KeyfileProvider(other)]
    )
    # Holding the passphrase (under any label) and our key file, not "other".
    service = KeyService(repo, [keyfile, passphrase("renamed", "pw")])
    with pytest.raises(KeyFailure, match="cannot carry recipient keyfile:"):
        service.rotate("dev")
    service = KeyService(repo, [keyfile, passphrase("renamed", "pw"), KeyfileProvider(other)])
    assert service.rotate("dev") == 2
    ids = [r["id"] for r in service.describe("dev")[1]["recipients"]]
    assert ids == [keyfile.stanza_id(), "passphrase:team", KeyfileProvider(other).stanza_id()]
    assert KeyService(repo, [passphrase("x", "pw")]).data_key("dev")[0] == 2


def test_add_recipient_rewraps_every_generation(repo: Repo, keyfile: KeyfileProvider) -> None:
    service = KeyService(repo, [keyfile])
    service.create("dev", [keyfile])
    service.rotate("dev")
    newcomer = passphrase("newcomer", "welcome")
    assert service.add_recipient("dev", newcomer) == [1, 2]
    reader = KeyService(repo, [passphrase("newcomer", "welcome")])
    for gen in (1, 2):
        assert reader.data_key("dev", gen) == service.data_key("dev", gen)
    with pytest.raises(UsageError, match="already a recipient"):
        service.add_recipient("dev", newcomer)
    # Only a member can add someone.
    with pytest.raises(KeyFailure):
        KeyService(repo, [passphrase("outsider", "nope")]).add_recipient(
            "dev", passphrase("outsider", "nope")
        )


def test_remove_recipient_and_what_it_guarantees(repo: Repo, keyfile: KeyfileProvider) -> None:
    """Removal deletes the stanza from every generation, so the removed recipient
    can no longer unwrap anything *through the store*. It cannot make the
    recipient forget a data key it already unwrapped: what was encrypted under
    those generations stays readable to it. Only a rotation after the removal
    gives new writes a key the removed recipient never had.
    """
    service = KeyService(repo, [keyfile])
    service.create("dev", [keyfile, passphrase("leaver", "bye")])
    leaver = KeyService(repo, [passphrase("leaver", "bye")])
    remembered = leaver.data_key("dev")[1]  # what the leaver may have kept
    assert service.remove_recipient("dev", "passphrase:leaver") == [1]
    with pytest.raises(KeyFailure):
        KeyService(repo, [passphrase("leaver", "bye")]).data_key("dev", 1)
    service.rotate("dev")
    new_key = service.data_key("dev")[1]
    assert new_key != remembered
    with pytest.raises(KeyFailure):
        KeyService(repo, [passphrase("leaver", "bye")]).data_key("dev")
    assert [r["id"] for r in service.describe("dev")[1]["recipients"]] == [keyfile.stanza_id()]


def test_remove_refuses_the_last_recipient_and_strangers(
    repo: Repo, keyfile: KeyfileProvider
) -> None:
    service = KeyService(repo, [keyfile])
    service.create("dev", [keyfile])
    with pytest.raises(StatesyncError, match="refusing to remove the last recipient") as err:
        service.remove_recipient("dev", keyfile.stanza_id())
    assert err.value.exit_code == 1
    with pytest.raises(UsageError, match="not a recipient"):
        service.remove_recipient("dev", "passphrase:nobody")
    service.add_recipient("dev", passphrase("team", "pw"))
    with pytest.raises(KeyFailure):  # only a member may remove members
        KeyService(repo, [passphrase("team", "guess")]).remove_recipient("dev", "passphrase:team")
    assert len(service.describe("dev")[0]["recipients"]) == 2


def test_create_twice_is_refused(repo: Repo, keyfile: KeyfileProvider) -> None:
    service = KeyService(repo, [keyfile])
    service.create("dev", [keyfile])
    with pytest.raises(StatesyncError, match="already has keys"):
        service.create("dev", [keyfile])
    with pytest.raises(UsageError, match="at least one recipient"):
        service.create("prod", [])
    with pytest.raises(UsageError, match="given twice"):
        service.create("prod", [keyfile, KeyfileProvider(keyfile.path)])


def test_stanza_ids_survive_renames(repo: Repo, tmp_path: Path, keyfile: KeyfileProvider) -> None:
    KeyService(repo, []).create("dev", [passphrase("team", "pw"), keyfile])
    moved = tmp_path / "elsewhere" / "renamed.key"
    moved.parent.mkdir()
    shutil.move(keyfile.path, moved)
    key = KeyService(repo, [KeyfileProvider(moved)]).data_key("dev")[1]
    # The config now calls the passphrase "ops": the stored stanza is still "team".
    assert KeyService(repo, [passphrase("ops", "pw")]).data_key("dev")[1] == key


def _edit_ring(repo: Repo, env: str, gen: int, edit: object) -> None:
    key = layout.keyring_key(env, gen)
    doc = json.loads(repo.backend.get(key)[0])
    edit(doc)  # type: ignore[operator]
    repo.backend.put(key, json.dumps(doc).encode(), OVERWRITE)


def test_a_stanza_moved_to_another_keyring_is_an_integrity_error(
    repo: Repo, keyfile: KeyfileProvider
) -> None:
    service = KeyService(repo, [keyfile])
    service.create("dev", [keyfile])
    service.create("prod", [keyfile])
    dev_doc = json.loads(repo.backend.get(layout.keyring_key("dev", 1))[0])
    _edit_ring(
        repo,
        "prod",
        1,
        lambda d: d.update(stanzas=dev_doc["stanzas"], key_check=dev_doc["key_check"]),
    )
    with pytest.raises(IntegrityError, match="failed authentication") as err:
        KeyService(repo, [keyfile]).data_key("prod")
    assert err.value.exit_code == 4


def test_a_replayed_or_altered_keyring_is_an_integrity_error(
    repo: Repo, keyfile: KeyfileProvider
) -> None:
    service = KeyService(repo, [keyfile])
    service.create("dev", [keyfile])
    service.rotate("dev")
    gen1 = repo.backend.get(layout.keyring_key("dev", 1))[0]
    repo.backend.put(layout.keyring_key("dev", 2), gen1, OVERWRITE)  # old keyring as new
    with pytest.raises(IntegrityError, match="another store, environment or generation"):
        KeyService(repo, [keyfile]).data_key("dev")
    _edit_ring(repo, "dev", 1, lambda d: d.update(key_check="00" * 16))
    with pytest.raises(IntegrityError, match="does not commit to"):
        KeyService(repo, [keyfile]).data_key("dev", 1)
    repo.backend.put(layout.keyring_key("dev", 1), b"{not json", OVERWRITE)
    with pytest.raises(IntegrityError, match="malformed keyring"):
        KeyService(repo, [keyfile]).data_key("dev", 1)


def test_signed_keyrings_and_the_trust_policy(
    repo: Repo, tmp_path: Path, keyfile: KeyfileProvider
) -> None:
    """A store writer who can wrap for a recipient (e.g. with KMS Encrypt rights)
    could add a generation whose data key it chose; where the local policy asks
    for trusted signers, such a keyring is refused before anyone writes with it.
    """
    from statesync.crypto import signing
    from statesync.crypto.trust import TrustPolicy

    signing.generate(tmp_path / "alice.key")
    signing.generate(tmp_path / "mallory.key")
    alice = signing.load_signer(tmp_path / "alice.key")
    mallory = signing.load_signer(tmp_path / "mallory.key")
    policy = TrustPolicy(tmp_path / "trust.json")
    policy.trust(repo.store_id, "dev", alice.public, require_signed=True)

    def service(signer: signing.Signer | None, trust: TrustPolicy | None) -> KeyService:
        repo.signer, repo.trust = signer, trust
        return KeyService(repo, [keyfile])

    service(alice, None).create("dev", [keyfile])
    assert service(None, policy).describe("dev")[0]["signed_by"] == alice.public
    assert service(None, policy).data_key("dev")[0] == 1
    service(None, None).rotate("dev", [keyfile])  # generation 2: unsigned
    with pytest.raises(IntegrityError, match="not signed") as err:
        service(None, policy).data_key("dev")
    assert err.value.exit_code == 4
    service(mallory, None).rotate("dev", [keyfile])  # generation 3: untrusted signer
    with pytest.raises(IntegrityError, match="does not trust") as err:
        service(None, policy).data_key("dev", 3)
    assert mallory.public in str(err.value)
    # A signed keyring altered afterwards no longer verifies, trusted or not.
    _edit_ring(repo, "dev", 1, lambda d: d.update(created_at="2000-01-01T00:00:00+00:00"))
    with pytest.raises(IntegrityError, match="signature does not match"):
        service(None, None).data_key("dev", 1)
