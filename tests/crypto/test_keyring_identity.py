"""A store writer without keys cannot join the key ring.

The attacker can write any object of the store and owns a key service of its
own (a KMS key the victim's credentials may use, as moto allows within one
account). It plants stanzas and whole generations; the victim's identities
must unwrap only with the keys the victim configured, and rotation must
re-wrap only for recipients proven by unwrapping.
"""

from __future__ import annotations

import os
from datetime import UTC, datetime
from typing import Any

import pytest

from statesync.backends.base import CREATE, OVERWRITE
from statesync.crypto.providers.aws_kms import AwsKmsProvider
from statesync.crypto.providers.azure_kv import AzureKeyVaultProvider
from statesync.crypto.providers.base import Provider, Stanza
from statesync.crypto.providers.gcp_kms import GcpKmsProvider
from statesync.errors import KeyFailure
from statesync.sync.store.keyring import Keyring, KeyService, key_check
from statesync.sync.store.repo import Repo
from tests.crypto.conftest import passphrase
from tests.crypto.fakes import FakeCloudKms, FakeCredential, FakeKeyVault, cloud_kms_client
from tests.crypto.test_cloud_kms import KEY_NAME, needs_moto

ATTACKER_GCP = "projects/evil/locations/global/keyRings/r/cryptoKeys/k"


def plant_generation(
    repo: Repo, env: str, gen: int, key: bytes, stanza_id: str, attacker: Provider
) -> None:
    """Write generation ``gen`` with the attacker's data key under ``stanza_id`` (bytes only)."""
    ring = Keyring(repo.store_id, env, gen, datetime.now(UTC).isoformat(), key_check(key), [])
    stanza = attacker.wrap(key, ring.context(stanza_id))
    ring.stanzas.append(Stanza(stanza_id, stanza.type, stanza.wrapped, stanza.params))
    repo.backend.put(ring.key, ring.to_bytes(), CREATE)


def plant_stanza(repo: Repo, env: str, gen: int, attacker: Provider) -> None:
    """Append a stanza for the attacker's own key to an existing keyring (bytes only)."""
    ring = Keyring.parse(repo.backend.get(f"keys/{env}/gen-{gen}.json")[0], repo.store_id, env, gen)
    ring.stanzas.append(attacker.wrap(os.urandom(32), ring.context(attacker.stanza_id())))
    repo.backend.put(ring.key, ring.to_bytes(), OVERWRITE)


@pytest.fixture
def two_kms_keys() -> tuple[str, str]:
    """(victim key ARN, attacker key ARN) on moto."""
    import boto3

    client = boto3.client("kms")
    return (client.create_key()["KeyMetadata"]["Arn"], client.create_key()["KeyMetadata"]["Arn"])


@needs_moto
def test_aws_kms_identity_opens_only_its_configured_key(
    memory_repo: Repo, two_kms_keys: tuple[str, str]
) -> None:
    victim, attacker = two_kms_keys
    KeyService(memory_repo, []).create("dev", [AwsKmsProvider(victim)])
    evil_key = os.urandom(32)
    # A planted generation under the victim's stanza id, wrapped with the attacker's key.
    plant_generation(memory_repo, "dev", 2, evil_key, f"aws-kms:{victim}", AwsKmsProvider(attacker))
    with pytest.raises(KeyFailure) as err:
        KeyService(memory_repo, [AwsKmsProvider(victim)]).data_key("dev")
    assert err.value.exit_code == 6
    assert KeyService(memory_repo, [AwsKmsProvider(victim)]).data_key("dev", 1)[0] == 1


@needs_moto
def test_aws_kms_identity_configured_by_alias_compares_the_resolved_key(
    memory_repo: Repo, two_kms_keys: tuple[str, str]
) -> None:
    import boto3

    victim, attacker = two_kms_keys
    alias = f"alias/victim-{os.urandom(4).hex()}"
    boto3.client("kms").create_alias(AliasName=alias, TargetKeyId=victim)
    KeyService(memory_repo, []).create("dev", [AwsKmsProvider(victim)])
    plant_generation(
        memory_repo, "dev", 2, os.urandom(32), f"aws-kms:{victim}", AwsKmsProvider(attacker)
    )
    with pytest.raises(KeyFailure):
        KeyService(memory_repo, [AwsKmsProvider(alias)]).data_key("dev")
    assert KeyService(memory_repo, [AwsKmsProvider(alias)]).data_key("dev", 1)[0] == 1


@needs_moto
def test_rotate_refuses_a_planted_kms_stanza(
    memory_repo: Repo, two_kms_keys: tuple[str, str]
) -> None:
    victim, attacker = two_kms_keys
    team = passphrase("team", "pw")
    KeyService(memory_repo, [team]).create("dev", [team, AwsKmsProvider(victim)])
    plant_stanza(memory_repo, "dev", 1, AwsKmsProvider(attacker))
    service = KeyService(memory_repo, [passphrase("team", "pw"), AwsKmsProvider(victim)])
    with pytest.raises(KeyFailure, match=f"cannot carry recipient aws-kms:{attacker}") as err:
        service.rotate("dev")
    assert err.value.exit_code == 6
    assert service.generations("dev") == [1]  # nothing was written for the attacker


@needs_moto
def test_rotate_carries_only_recipients_proven_here(
    memory_repo: Repo, two_kms_keys: tuple[str, str]
) -> None:
    victim, _ = two_kms_keys
    team = passphrase("team", "pw")
    KeyService(memory_repo, [team]).create("dev", [team, AwsKmsProvider(victim)])
    # The passphrase alone cannot prove the KMS stanza: refused, not rebuilt from its params.
    with pytest.raises(KeyFailure, match=f"cannot carry recipient aws-kms:{victim}"):
        KeyService(memory_repo, [passphrase("team", "pw")]).rotate("dev")
    service = KeyService(memory_repo, [passphrase("team", "pw"), AwsKmsProvider(victim)])
    assert service.rotate("dev") == 2
    ring = service.keyring("dev", 2)[0]
    assert [s.id for s in ring.stanzas] == ["passphrase:team", f"aws-kms:{victim}"]
    assert KeyService(memory_repo, [AwsKmsProvider(victim)]).data_key("dev") == service.data_key(
        "dev"
    )


@needs_moto
def test_planted_generation_copying_the_stanza_id_does_not_reach_the_next_one(
    memory_repo: Repo, two_kms_keys: tuple[str, str]
) -> None:
    victim, attacker = two_kms_keys
    KeyService(memory_repo, []).create("dev", [AwsKmsProvider(victim)])
    plant_generation(
        memory_repo, "dev", 2, os.urandom(32), f"aws-kms:{victim}", AwsKmsProvider(attacker)
    )
    service = KeyService(memory_repo, [AwsKmsProvider(victim)])
    with pytest.raises(KeyFailure):
        service.rotate("dev")
    assert service.generations("dev") == [1, 2]


def test_gcp_kms_identity_opens_only_its_configured_key(memory_repo: Repo) -> None:
    fake = FakeCloudKms()
    victim = GcpKmsProvider(KEY_NAME, cloud_kms_client(fake))
    KeyService(memory_repo, []).create("dev", [victim])
    plant_generation(
        memory_repo,
        "dev",
        2,
        os.urandom(32),
        f"gcp-kms:{KEY_NAME}",
        GcpKmsProvider(ATTACKER_GCP, cloud_kms_client(fake)),
    )
    with pytest.raises(KeyFailure):
        KeyService(memory_repo, [victim]).data_key("dev")
    assert f"decrypt {ATTACKER_GCP}" not in fake.log  # never asked to use the attacker's key
    plant_stanza(memory_repo, "dev", 1, GcpKmsProvider(ATTACKER_GCP, cloud_kms_client(fake)))
    memory_repo.backend.delete("keys/dev/gen-2.json")
    with pytest.raises(KeyFailure, match=f"cannot carry recipient gcp-kms:{ATTACKER_GCP}"):
        KeyService(memory_repo, [victim]).rotate("dev")


class _TwoVaults(FakeKeyVault):
    """One transport answering for the victim's vault and the attacker's (by URL)."""

    def __init__(self, *vaults: FakeKeyVault) -> None:
        self.vaults = vaults

    def send(self, request: Any, **kwargs: Any) -> Any:
        for vault in self.vaults:
            if request.url.startswith(f"{vault.vault}/keys/{vault.name}"):
                return vault.send(request, **kwargs)
        return self.vaults[0].send(request, **kwargs)


def test_azure_kv_identity_opens_only_its_configured_key(memory_repo: Repo) -> None:
    victim_vault = FakeKeyVault()
    evil_vault = FakeKeyVault(vault="https://evil.vault.azure.net", name="evil")
    transport = _TwoVaults(victim_vault, evil_vault)
    victim = AzureKeyVaultProvider(
        f"{victim_vault.vault}/keys/{victim_vault.name}", FakeCredential(), transport=transport
    )
    KeyService(memory_repo, []).create("dev", [victim])
    attacker = AzureKeyVaultProvider(
        f"{evil_vault.vault}/keys/evil", FakeCredential(), transport=transport
    )
    plant_generation(memory_repo, "dev", 2, os.urandom(32), victim.stanza_id(), attacker)
    with pytest.raises(KeyFailure):
        KeyService(memory_repo, [victim]).data_key("dev")
    assert not any("unwrapkey" in line for line in evil_vault.log)
    assert KeyService(memory_repo, [victim]).data_key("dev", 1)[0] == 1
