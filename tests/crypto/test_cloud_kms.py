"""Cloud key services as recipients.

AWS KMS runs against moto server (the real boto3 client over HTTP on
127.0.0.1, started by scripts/test.sh). Azure Key Vault and Google Cloud KMS
have no emulator: their real SDK clients run over in-process fake transports
(tests/crypto/fakes.py).
"""

from __future__ import annotations

import os
import uuid
from typing import Any

import pytest

from statesync.crypto.providers import from_stanza, resolve
from statesync.crypto.providers.aws_kms import AwsKmsProvider
from statesync.crypto.providers.azure_kv import AzureKeyVaultProvider
from statesync.crypto.providers.base import Stanza, WrapContext
from statesync.crypto.providers.gcp_kms import GcpKmsProvider
from statesync.errors import IntegrityError, KeyFailure, UsageError
from statesync.sync.store.keyring import KeyService
from statesync.sync.store.repo import Repo
from tests.crypto.conftest import passphrase
from tests.crypto.fakes import FakeCloudKms, FakeCredential, FakeKeyVault, cloud_kms_client

# --- AWS KMS on moto server ---------------------------------------------------------

needs_moto = pytest.mark.skipif(
    not os.environ.get("STATESYNC_TEST_S3"), reason="moto server not started (run scripts/test.sh)"
)


@pytest.fixture
def kms_key() -> tuple[str, str]:
    """A fresh KMS key on moto: (key ARN, alias name)."""
    import boto3

    client = boto3.client("kms")
    arn = client.create_key(Description="statesync test")["KeyMetadata"]["Arn"]
    alias = f"alias/statesync-{uuid.uuid4().hex[:12]}"
    client.create_alias(AliasName=alias, TargetKeyId=arn)
    return arn, alias


@needs_moto
def test_aws_kms_wraps_with_encryption_context(memory_repo: Repo, kms_key: tuple[str, str]) -> None:
    arn, alias = kms_key
    recipient = resolve(f"aws-kms:{alias}")
    assert recipient.stanza_id() == f"aws-kms:{arn}"  # the alias is resolved to the key ARN
    KeyService(memory_repo, []).create("dev", [recipient, passphrase("team", "pw")])
    key = KeyService(memory_repo, [passphrase("team", "pw")]).data_key("dev")[1]
    # Another machine whose config names the same key by ARN, or by a new alias.
    import boto3

    boto3.client("kms").create_alias(AliasName=alias + "-renamed", TargetKeyId=arn)
    for spec in (f"aws-kms:{arn}", f"aws-kms:{alias}-renamed"):
        assert KeyService(memory_repo, [resolve(spec)]).data_key("dev")[1] == key


@needs_moto
def test_aws_kms_refuses_a_moved_stanza_and_a_wrong_key(kms_key: tuple[str, str]) -> None:
    arn, _ = kms_key
    kms = AwsKmsProvider(arn)
    ctx = WrapContext("store", "dev", 1, kms.stanza_id())
    stanza = kms.wrap(os.urandom(32), ctx)
    assert stanza.params == {"key_arn": arn}
    moved = WrapContext("store", "prod", 1, kms.stanza_id())
    with pytest.raises(KeyFailure, match="InvalidCiphertextException") as err:
        kms.unwrap(stanza, moved)
    assert err.value.exit_code == 6
    # The stanza altered to name another key (or a key that is gone) is not for
    # this identity: it never calls Decrypt with a key it was not configured with.
    import boto3

    other = boto3.client("kms").create_key()["KeyMetadata"]["Arn"]
    for wrong in (other, arn.rsplit("/", 1)[0] + "/" + str(uuid.UUID(int=0))):
        stanza.params["key_arn"] = wrong
        assert AwsKmsProvider(arn).unwrap(stanza, ctx) is None
    stanza.params["key_arn"] = arn
    with pytest.raises(KeyFailure, match="Decrypt: AccessDeniedException"):
        AwsKmsProvider(other).unwrap(
            Stanza(f"aws-kms:{other}", "aws-kms", stanza.wrapped, {"key_arn": other}), ctx
        )
    with pytest.raises(KeyFailure, match="NotFoundException"):
        AwsKmsProvider("alias/does-not-exist").stanza_id()


@needs_moto
def test_aws_kms_recipient_is_carried_by_rotate(
    memory_repo: Repo, kms_key: tuple[str, str]
) -> None:
    arn, alias = kms_key
    service = KeyService(memory_repo, [passphrase("team", "pw"), resolve(f"aws-kms:{alias}")])
    service.create("dev", [passphrase("team", "pw"), resolve(f"aws-kms:{alias}")])
    assert service.rotate("dev") == 2  # the KMS stanza is proven by our alias identity
    assert KeyService(memory_repo, [AwsKmsProvider(arn)]).data_key("dev") == service.data_key("dev")


# --- Azure Key Vault through a fake transport ---------------------------------------


def azure(fake: FakeKeyVault, suffix: str = "") -> AzureKeyVaultProvider:
    return AzureKeyVaultProvider(
        f"{fake.vault}/keys/{fake.name}{suffix}", FakeCredential(), transport=fake
    )


def test_azure_kv_rsa_wrap_survives_key_rotation(memory_repo: Repo) -> None:
    fake = FakeKeyVault()
    KeyService(memory_repo, []).create("dev", [azure(fake)])
    assert f"GET /keys/{fake.name}/" in fake.log  # the challenge, then the public key
    assert not any("wrapkey" in line.split()[-1] for line in fake.log)  # wrapped locally
    ring = KeyService(memory_repo, []).keyring("dev", 1)[0]
    stanza = ring.stanzas[0]
    assert stanza.id == f"azure-kv:{fake.vault}/keys/{fake.name}"  # no version in the id
    assert stanza.params["key_id"].endswith(fake.current)  # the version that wrapped
    first = fake.current
    fake.rotate()  # Key Vault makes a new current version
    key = KeyService(memory_repo, [azure(fake)]).data_key("dev")[1]
    assert f"POST /keys/{fake.name}/{first}/unwrapkey" in fake.log
    assert len(key) == 32


def test_azure_kv_a256kw_and_refusals(memory_repo: Repo) -> None:
    fake = FakeKeyVault(kind="oct")
    KeyService(memory_repo, []).create("dev", [azure(fake, "#A256KW")])
    assert any(line.endswith("/wrapkey") for line in fake.log)  # no key material: remote
    assert KeyService(memory_repo, [azure(fake)]).data_key("dev")[0] == 1
    fake.denied.add("unwrapkey")
    with pytest.raises(KeyFailure, match="unwrapKey: 403") as err:
        KeyService(memory_repo, [azure(fake)]).data_key("dev")
    assert err.value.exit_code == 6


def test_azure_kv_stanza_moved_is_an_integrity_error() -> None:
    fake = FakeKeyVault()
    provider = azure(fake)
    ctx = WrapContext("store", "dev", 1, provider.stanza_id())
    stanza = provider.wrap(os.urandom(32), ctx)
    with pytest.raises(IntegrityError):
        provider.unwrap(stanza, WrapContext("store", "dev", 2, provider.stanza_id()))
    carried = from_stanza(stanza)
    assert carried is not None and carried.stanza_id() == provider.stanza_id()


def test_azure_kv_spec_is_checked() -> None:
    for bad in (
        "http://v.vault.azure.net/keys/k",
        "https://v.vault.azure.net/secrets/k",
        "https://v.vault.azure.net/keys/k#RSA1_5",
    ):
        with pytest.raises(UsageError):
            resolve(f"azure-kv:{bad}")
    p = resolve("azure-kv:https://V.vault.azure.net/keys/k/0123abcd")
    assert p.stanza_id() == "azure-kv:https://v.vault.azure.net/keys/k"


# --- Google Cloud KMS through a fake transport --------------------------------------

KEY_NAME = "projects/p/locations/global/keyRings/statesync/cryptoKeys/dev"


def gcp(fake: FakeCloudKms, name: str = KEY_NAME) -> GcpKmsProvider:
    return GcpKmsProvider(name, cloud_kms_client(fake))


def test_gcp_kms_wraps_with_aad(memory_repo: Repo) -> None:
    fake = FakeCloudKms()
    KeyService(memory_repo, []).create("dev", [gcp(fake), passphrase("team", "pw")])
    key = KeyService(memory_repo, [gcp(fake)]).data_key("dev")[1]
    assert key == KeyService(memory_repo, [passphrase("team", "pw")]).data_key("dev")[1]
    assert fake.log == [f"encrypt {KEY_NAME}", f"decrypt {KEY_NAME}"]
    stanza = KeyService(memory_repo, []).keyring("dev", 1)[0].stanzas[0]
    assert stanza.id == f"gcp-kms:{KEY_NAME}"
    assert stanza.params["key_version"] == f"{KEY_NAME}/cryptoKeyVersions/1"


def test_gcp_kms_refusals() -> None:
    fake = FakeCloudKms()
    provider = gcp(fake)
    ctx = WrapContext("store", "dev", 1, provider.stanza_id())
    stanza = provider.wrap(os.urandom(32), ctx)
    with pytest.raises(KeyFailure, match="decrypt"):  # AAD of another environment
        provider.unwrap(stanza, WrapContext("store", "prod", 1, provider.stanza_id()))
    fake.corrupt_answers = True
    with pytest.raises(IntegrityError, match="corrupted in transit"):
        provider.unwrap(stanza, ctx)
    fake.corrupt_answers = False
    fake.denied.add(KEY_NAME)
    with pytest.raises(KeyFailure, match="decrypt") as err:
        provider.unwrap(stanza, ctx)
    assert err.value.exit_code == 6
    with pytest.raises(UsageError):
        resolve("gcp-kms:projects/p/keyRings/r")


def test_gcp_kms_recipient_carried_by_rotate(memory_repo: Repo) -> None:
    fake = FakeCloudKms()
    service = KeyService(memory_repo, [gcp(fake)])
    service.create("dev", [gcp(fake)])
    assert service.rotate("dev") == 2  # carried through the configured (fake) client
    assert KeyService(memory_repo, [gcp(fake)]).data_key("dev", 2) == service.data_key("dev")


def test_cloud_sdks_are_not_imported_by_resolving(tmp_path: Any) -> None:
    import subprocess
    import sys

    code = (
        "import sys; from statesync.crypto.providers import resolve;"
        "import statesync.sync.store.keyring, statesync.keys;"
        "[resolve(s) for s in ('aws-kms:alias/x', 'azure-kv:https://v.vault.azure.net/keys/k',"
        "'gcp-kms:projects/p/locations/l/keyRings/r/cryptoKeys/k', 'passphrase:t')];"
        "bad = [m for m in sys.modules if m.split('.')[0] in ('boto3', 'botocore', 'azure')"
        " or m.startswith('google.cloud')]; print(bad); sys.exit(1 if bad else 0)"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr
