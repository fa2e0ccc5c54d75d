"""The live-cloud mode of tests/cloud_rigs.py, exercised on moto.

On a live cloud the rigs must not create a bucket per test (accounts have
bucket limits and costs): they hand out fresh prefixes in the one bucket the
user names, and the session's cleanup deletes what was written there. Here
moto stands in for the live service; only the emulator test is patched.
"""

from __future__ import annotations

import pytest

from statesync.backends import open_backend, parse_url
from tests import cloud_rigs
from tests.backends.faults import needs_emulator

pytestmark = needs_emulator("s3")


@pytest.fixture
def live_s3(monkeypatch: pytest.MonkeyPatch) -> str:
    """A bucket of ours, with the rigs believing they talk to a live S3."""
    bucket = cloud_rigs._fresh_name()
    cloud_rigs._create_s3_bucket(bucket)
    monkeypatch.setattr(cloud_rigs, "on_emulator", lambda cloud: False)
    monkeypatch.setenv("STATESYNC_TEST_S3_BUCKET", bucket)
    monkeypatch.setattr(cloud_rigs, "_LIVE_PREFIXES", [])
    return bucket


def test_live_rigs_share_the_named_bucket_and_clean_their_prefixes(
    live_s3: str, tmp_path: object, monkeypatch: pytest.MonkeyPatch
) -> None:
    made: list[str] = []
    monkeypatch.setattr(cloud_rigs, "_create_s3_bucket", made.append)
    urls = [cloud_rigs.s3_rig(tmp_path) or "" for _ in range(2)]  # type: ignore[arg-type]
    # no bucket created (a listing before and after would race with other xdist workers)
    assert made == []
    parsed = [parse_url(u) for u in urls]
    assert {p.bucket for p in parsed} == {live_s3}
    assert parsed[0].prefix != parsed[1].prefix
    for url in urls:
        backend = open_backend(url)
        backend.put("refs/default", b"x")
        backend.put("objects/ab/cd", b"y")
        backend.close()
    outside = open_backend(f"s3://{live_s3}/not-ours")
    outside.put("keep", b"z")

    cloud_rigs.cleanup()

    whole = open_backend(f"s3://{live_s3}")
    assert [m.key for m in whole.list("")] == ["not-ours/keep"]  # only what the tests wrote went


def test_live_mode_without_a_named_bucket_refuses_to_guess(
    live_s3: str, monkeypatch: pytest.MonkeyPatch, tmp_path: object
) -> None:
    monkeypatch.delenv("STATESYNC_TEST_S3_BUCKET")
    with pytest.raises(RuntimeError, match="STATESYNC_TEST_S3_BUCKET"):
        cloud_rigs.s3_rig(tmp_path)  # type: ignore[arg-type]


def test_the_emulators_are_recognised_by_their_loopback_endpoints(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:4566")
    monkeypatch.setenv("STORAGE_EMULATOR_HOST", "127.0.0.1:4443")
    monkeypatch.setenv(
        "AZURE_STORAGE_CONNECTION_STRING",
        "DefaultEndpointsProtocol=http;BlobEndpoint=http://127.0.0.1:10000/dev;",
    )
    assert all(cloud_rigs.on_emulator(c) for c in ("s3", "gcs", "azure"))
    monkeypatch.delenv("AWS_ENDPOINT_URL")
    monkeypatch.setenv("STORAGE_EMULATOR_HOST", "https://storage.googleapis.com")
    monkeypatch.setenv(
        "AZURE_STORAGE_CONNECTION_STRING",
        "BlobEndpoint=https://acme.blob.core.windows.net/;SharedAccessSignature=x",
    )
    assert not any(cloud_rigs.on_emulator(c) for c in ("s3", "gcs", "azure"))
