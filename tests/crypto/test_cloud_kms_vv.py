"""``-vv`` with Azure Key Vault and Cloud KMS recipients: it names them, and no key material.

The CLI-level scan (tests/e2e/test_cli_no_key_in_logs.py) covers passphrase,
key-file and AWS KMS recipients on moto; Key Vault and Cloud KMS have no
emulator, so here their real SDK clients run over the in-process fake
transports, with the Azure SDK's own request/response body logging switched
on, under the logging the CLI sets up for ``-vv`` (:func:`logsetup.configure`).
Every data key and key-encryption key that went over the wire must be absent
from what is logged, in every encoding, while the recipients are named.
"""

from __future__ import annotations

import base64
import io
import logging
from collections.abc import Iterator
from typing import Any

import pytest

from statesync import logsetup
from statesync.crypto.providers.azure_kv import AzureKeyVaultProvider
from statesync.crypto.providers.gcp_kms import GcpKmsProvider
from statesync.sync.store.keyring import KeyService
from statesync.sync.store.repo import Repo
from tests.crypto.fakes import FakeCloudKms, FakeCredential, FakeKeyVault, cloud_kms_client
from tests.e2e.test_cli_no_key_in_logs import encodings

KEY_NAME = "projects/p/locations/global/keyRings/statesync/cryptoKeys/vv"


class RecordingVault(FakeKeyVault):
    """A fake vault that remembers every key-encryption key it wrapped or unwrapped."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.keks: list[bytes] = []

    def _crypt(self, op: str, key: Any, alg: str, value: bytes) -> bytes:
        out = super()._crypt(op, key, alg, value)
        self.keks.append(value if op == "wrapkey" else out)
        return out


@pytest.fixture
def vv_log() -> Iterator[io.StringIO]:
    """What ``statesync -vv`` would print to stderr, for the duration of the test."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    root = logging.getLogger()
    saved = root.level, {n: logging.getLogger(n).level for n in logsetup.SDK_LOGGERS}
    root.addHandler(handler)
    try:
        logsetup.configure(2)  # filters every root handler, ours too; DEBUG for statesync
        root.setLevel(logging.DEBUG)  # pytest may have set the root level already
        yield stream
    finally:
        root.removeHandler(handler)
        root.setLevel(saved[0])
        for name, level in saved[1].items():
            logging.getLogger(name).setLevel(level)


def test_vv_names_key_vault_and_cloud_kms_recipients_and_logs_no_key(
    memory_repo: Repo, vv_log: io.StringIO
) -> None:
    rsa_vault, hsm = RecordingVault(), RecordingVault(kind="oct", name="hsm-key")
    kms = FakeCloudKms()

    def providers() -> list[Any]:
        return [
            AzureKeyVaultProvider(
                f"{rsa_vault.vault}/keys/{rsa_vault.name}",
                FakeCredential(),
                transport=rsa_vault,
                logging_enable=True,
            ),
            AzureKeyVaultProvider(
                f"{hsm.vault}/keys/{hsm.name}#A256KW",
                FakeCredential(),
                transport=hsm,
                logging_enable=True,
            ),
            GcpKmsProvider(KEY_NAME, cloud_kms_client(kms)),
        ]

    KeyService(memory_repo, []).create("dev", providers())
    data_keys = {KeyService(memory_repo, [p]).data_key("dev")[1] for p in providers()}
    # RSA keys wrap locally in the SDK: the vault sees only the unwrap; A256KW both.
    assert len(data_keys) == 1 and len(rsa_vault.keks) == 1 and len(hsm.keks) == 2
    text = vv_log.getvalue()
    for p in providers():
        assert f"data key wrapped for recipient {p.describe()}" in text
        assert f"data key opened with recipient {p.describe()}" in text
    secrets = [*data_keys, *rsa_vault.keks, *hsm.keks, *kms.keys.values()]
    for secret in secrets:
        for form in [*encodings(secret), base64.urlsafe_b64encode(secret).decode()]:
            assert form not in text, f"key material in -vv output ({form[:6]}...)"


def test_the_azure_sdk_would_log_the_unwrapped_key_without_our_logging_setup(
    memory_repo: Repo,
) -> None:
    """The danger the scan guards against is real: the SDK logs the unwrapKey answer."""
    vault = RecordingVault()
    stream = io.StringIO()
    sdk = logging.getLogger("azure")
    handler = logging.StreamHandler(stream)
    sdk.addHandler(handler)
    saved = sdk.level
    sdk.setLevel(logging.DEBUG)
    try:
        provider = AzureKeyVaultProvider(
            f"{vault.vault}/keys/{vault.name}",
            FakeCredential(),
            transport=vault,
            logging_enable=True,
        )
        KeyService(memory_repo, []).create("dev", [provider])
        KeyService(memory_repo, [provider]).data_key("dev")
    finally:
        sdk.removeHandler(handler)
        sdk.setLevel(saved)
    unwrapped = base64.urlsafe_b64encode(vault.keks[-1]).decode().rstrip("=")
    assert unwrapped in stream.getvalue()
