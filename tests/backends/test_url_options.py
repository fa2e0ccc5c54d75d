"""Self-contained store URLs: the account, region, endpoint, profile and project in the URL.

Parsing needs no emulator; each cloud's part opens a store through the URL
alone, with the SDK variables that would otherwise point at the emulator
removed, and pushes and pulls through it.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from statesync.api import Store
from statesync.backends import parse_url
from statesync.cli.main import main
from statesync.errors import UsageError
from tests.cloud_rigs import azure_rig, gcs_rig, s3_rig
from tests.helpers import write


def test_an_azure_url_names_its_account() -> None:
    parsed = parse_url("az://state@devstoreaccount1/team/prod")
    assert (parsed.bucket, parsed.account, parsed.prefix) == (
        "state",
        "devstoreaccount1",
        "team/prod",
    )
    assert parsed.canonical == "az://state@devstoreaccount1/team/prod"
    assert parse_url("az://state/p").account == ""


def test_query_options_are_parsed_sorted_and_the_endpoint_is_part_of_the_store() -> None:
    url = "s3://bkt/p?region=eu-west-1&profile=team&endpoint=http://127.0.0.1:9000/"
    parsed = parse_url(url)
    assert parsed.options == (
        ("endpoint", "http://127.0.0.1:9000/"),
        ("profile", "team"),
        ("region", "eu-west-1"),
    )
    assert parsed.option("region") == "eu-west-1" and parsed.option("nope") is None
    assert parsed.canonical == "s3://bkt/p?endpoint=http://127.0.0.1:9000"
    assert parse_url("s3://bkt/p?region=x").canonical == "s3://bkt/p"  # region: how, not where
    assert parse_url("gs://b/p?project=x&endpoint=https://gcs.example").option("project") == "x"


@pytest.mark.parametrize(
    ("url", "text"),
    [
        ("s3://b/p?colour=red", "unknown option 'colour' for s3:// (known: region, endpoint"),
        ("gs://b/p?region=x", "unknown option 'region' for gs://"),
        ("az://c/p?profile=x", "unknown option 'profile' for az://"),
        ("s3://b/p?region=a&region=b", "given once"),
        ("s3://b/p?region=", "given once, with a value"),
        ("s3://b/p?region", "malformed query"),
        ("s3://b/p?endpoint=ftp://x", "endpoint must be http(s)"),
        ("s3://b/p?endpoint=127.0.0.1:9000", "endpoint must be http(s)"),
        ("s3://user@b/p", "only az:// URLs name an account"),
        ("az://c@Not_An_Account/p", "is not an Azure storage account name"),
        ("az://c@ab/p", "is not an Azure storage account name"),
        ("file:///tmp/x?region=y", "file:///absolute/path"),
        ("s3://b/p#frag", "fragment"),
    ],
)
def test_bad_url_options_are_usage_errors(url: str, text: str) -> None:
    with pytest.raises(UsageError, match=r"store URL") as raised:
        parse_url(url)
    assert text in str(raised.value)
    assert isinstance(raised.value, ValueError)  # usage errors are ValueErrors for programs


def test_the_cli_reports_an_unknown_option_as_exit_2(capfd: pytest.CaptureFixture[str]) -> None:
    assert main(["--store", "s3://bkt/p?colour=red", "envs"]) == 2
    err = capfd.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "unknown option 'colour'" in err[0]


def _push_and_pull(url: str, tmp_path: Path) -> None:
    write(tmp_path / "src", "state.json", '{"n": 1}\n')
    with Store.init(url) as store:
        store.push(tmp_path / "src", "dev")
    with Store.open(url) as store:
        store.pull(tmp_path / "dst", "dev")
    assert (tmp_path / "dst" / "state.json").read_text() == '{"n": 1}\n'


# --- S3 (moto) ---------------------------------------------------------------


@pytest.fixture
def s3_bucket(tmp_path: Path) -> str:
    url = s3_rig(tmp_path)
    if url is None or "127.0.0.1" not in os.environ.get("AWS_ENDPOINT_URL", ""):
        pytest.skip("moto not started (run scripts/test.sh)")
    return parse_url(url).bucket


def test_s3_region_and_endpoint_come_from_the_url(
    s3_bucket: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    endpoint = os.environ["AWS_ENDPOINT_URL"]
    monkeypatch.delenv("AWS_ENDPOINT_URL")
    monkeypatch.delenv("AWS_DEFAULT_REGION", raising=False)
    monkeypatch.delenv("AWS_REGION", raising=False)
    _push_and_pull(f"s3://{s3_bucket}/store?region=us-east-1&endpoint={endpoint}", tmp_path)


def test_s3_profile_comes_from_the_url(
    s3_bucket: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    endpoint = os.environ["AWS_ENDPOINT_URL"]
    key, secret = os.environ["AWS_ACCESS_KEY_ID"], os.environ["AWS_SECRET_ACCESS_KEY"]
    write(tmp_path, "aws/config", "[profile team]\nregion = us-east-1\n")
    creds = write(
        tmp_path,
        "aws/credentials",
        f"[team]\naws_access_key_id = {key}\naws_secret_access_key = {secret}\n",
    )
    os.chmod(creds, 0o600)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "aws/config"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(creds))
    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_DEFAULT_REGION", "AWS_REGION"):
        monkeypatch.delenv(name, raising=False)
    _push_and_pull(f"s3://{s3_bucket}/store?profile=team&endpoint={endpoint}", tmp_path)
    with pytest.raises(UsageError, match="nosuch"):
        Store.open(f"s3://{s3_bucket}/store?profile=nosuch")


# --- Azure (Azurite: account devstoreaccount1) ----------------------------------


def _connection(name: str) -> str:
    parts = dict(
        p.split("=", 1) for p in os.environ["AZURE_STORAGE_CONNECTION_STRING"].split(";") if p
    )
    return parts[name]


@pytest.fixture
def container(tmp_path: Path) -> str:
    url = azure_rig(tmp_path)
    if url is None or "AccountName=devstoreaccount1" not in os.environ.get(
        "AZURE_STORAGE_CONNECTION_STRING", ""
    ):
        pytest.skip("Azurite not started (run scripts/test.sh)")
    return parse_url(url).bucket


def test_azure_account_in_the_url_uses_its_connection_string(
    container: str, tmp_path: Path
) -> None:
    _push_and_pull(f"az://{container}@devstoreaccount1/store", tmp_path)


def test_azure_account_and_endpoint_in_the_url_with_a_shared_key(
    container: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    endpoint, key = _connection("BlobEndpoint"), _connection("AccountKey")
    monkeypatch.delenv("AZURE_STORAGE_CONNECTION_STRING")
    monkeypatch.setenv("AZURE_STORAGE_KEY", key)
    _push_and_pull(f"az://{container}@devstoreaccount1/store?endpoint={endpoint}", tmp_path)


def test_azure_connection_string_of_another_account_is_not_used(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    azure = pytest.importorskip("statesync.backends.azure")
    monkeypatch.setenv(
        "AZURE_STORAGE_CONNECTION_STRING",
        "DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;AccountKey=a2V5;"
        "BlobEndpoint=http://127.0.0.1:1/devstoreaccount1;",
    )
    monkeypatch.delenv("AZURE_STORAGE_KEY", raising=False)
    service = azure.make_service(account="otheraccount")
    assert service.url.startswith("https://otheraccount.blob.core.windows.net")


# --- GCS (fake-gcs-server) ----------------------------------------------------


@pytest.fixture
def gcs_bucket(tmp_path: Path) -> str:
    url = gcs_rig(tmp_path)
    if url is None or not os.environ.get("STORAGE_EMULATOR_HOST"):
        pytest.skip("fake-gcs-server not started (run scripts/test.sh)")
    return parse_url(url).bucket


def test_gcs_endpoint_and_project_come_from_the_url(
    gcs_bucket: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    endpoint = os.environ["STORAGE_EMULATOR_HOST"]
    endpoint = endpoint if "://" in endpoint else "http://" + endpoint
    monkeypatch.delenv("STORAGE_EMULATOR_HOST")
    monkeypatch.delenv("GOOGLE_CLOUD_PROJECT", raising=False)
    # No Google credentials here: with an endpoint the client is anonymous.
    monkeypatch.setenv("GOOGLE_APPLICATION_CREDENTIALS", str(tmp_path / "no-such-key.json"))
    _push_and_pull(f"gs://{gcs_bucket}/store?project=p1&endpoint={endpoint}", tmp_path)
