"""How each cloud driver finds its account and configures its SDK (no emulator needed)."""

from __future__ import annotations

from pathlib import Path

import pytest

from statesync.backends import parse_url
from statesync.errors import BackendUnavailable


def test_s3_clients_keep_sdk_retries_low_and_pool_32_connections() -> None:
    s3 = pytest.importorskip("statesync.backends.s3")
    config = s3.make_client().meta.config
    assert config.max_pool_connections == 32
    assert config.retries["total_max_attempts"] == s3.SDK_ATTEMPTS == 2


def test_s3_model_loader_finds_the_services_botocore_finds_without_listing_them() -> None:
    s3 = pytest.importorskip("statesync.backends.s3")
    from botocore.loaders import create_loader

    ours, theirs = s3._data_loader(None), create_loader(None)
    for type_name in ("service-2", "endpoint-rule-set-1"):
        listed = theirs.list_available_services(type_name)
        known = ours.list_available_services(type_name)
        assert "s3" in listed and "s3" in known and "sts" in known
        assert list(known) == listed
        for name in ("no-such-service", "", "../s3", "s3/2006-03-01", ".", 3):
            assert name not in known


def test_s3_model_loader_keeps_aws_data_path_and_botocores_unknown_service_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    s3 = pytest.importorskip("statesync.backends.s3")
    from botocore.exceptions import UnknownServiceError

    extra = tmp_path / "models" / "statesync-test" / "2020-01-01"
    extra.mkdir(parents=True)
    (extra / "service-2.json").write_text('{"version": "2.0", "metadata": {}}')
    loader = s3._data_loader(str(tmp_path / "models"))
    assert "statesync-test" in loader.list_available_services("service-2")
    assert "statesync-test" not in loader.list_available_services("waiters-2")
    with pytest.raises(UnknownServiceError, match="s3"):
        loader.load_service_model("no-such-service", "service-2")


def test_azure_uses_default_credential_for_an_account_url(monkeypatch: pytest.MonkeyPatch) -> None:
    azure = pytest.importorskip("statesync.backends.azure")
    identity = pytest.importorskip("azure.identity")
    monkeypatch.delenv("AZURE_STORAGE_CONNECTION_STRING", raising=False)
    monkeypatch.delenv("AZURE_STORAGE_ACCOUNT_URL", raising=False)
    monkeypatch.setenv("AZURE_STORAGE_ACCOUNT", "someaccount")
    service = azure.make_service()
    assert service.url.startswith("https://someaccount.blob.core.windows.net")
    assert isinstance(service.credential, identity.DefaultAzureCredential)


def test_azure_without_any_account_names_the_variables(monkeypatch: pytest.MonkeyPatch) -> None:
    azure = pytest.importorskip("statesync.backends.azure")
    for name in (
        "AZURE_STORAGE_CONNECTION_STRING",
        "AZURE_STORAGE_ACCOUNT_URL",
        "AZURE_STORAGE_ACCOUNT",
    ):
        monkeypatch.delenv(name, raising=False)
    with pytest.raises(BackendUnavailable, match="AZURE_STORAGE_CONNECTION_STRING"):
        azure.open_url(parse_url("az://container/prefix"))


def test_gcs_without_credentials_is_backend_unavailable(monkeypatch: pytest.MonkeyPatch) -> None:
    gcs = pytest.importorskip("statesync.backends.gcs")
    monkeypatch.delenv("STORAGE_EMULATOR_HOST", raising=False)
    # A key file that does not exist: ADC fails at once, without probing any metadata server.
    monkeypatch.setenv("GOOGLE_APPLICATION_CREDENTIALS", "/nonexistent/statesync-key.json")
    with pytest.raises(BackendUnavailable, match="no Google credentials"):
        gcs.open_url(parse_url("gs://bucket/prefix"))


def test_gcs_emulator_clients_are_anonymous(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    gcs = pytest.importorskip("statesync.backends.gcs")
    monkeypatch.setenv("STORAGE_EMULATOR_HOST", "http://127.0.0.1:1")
    monkeypatch.setenv("GOOGLE_CLOUD_PROJECT", "test")
    backend = gcs.open_url(parse_url("gs://bucket/prefix"))
    assert backend.client.project == "test"
