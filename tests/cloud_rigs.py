"""Cloud rigs: a fresh store URL per call, on the emulators or on a live cloud.

Each rig returns ``None`` unless ``STATESYNC_TEST_<CLOUD>`` is set (as
``scripts/emulators.py start`` writes into its env file), so a plain
``pytest`` without emulators skips the cloud backends. The SDKs are imported
only inside the rigs.

* On an emulator (its endpoint variable names a loopback address) every call
  creates a fresh bucket (container) and the URL points at a prefix in it.
* On a live cloud (credentials from the SDK's default chain, no emulator
  endpoint) the tests never create buckets: ``STATESYNC_TEST_<CLOUD>_BUCKET``
  names one you own, each call gets a fresh prefix in it, and
  :func:`cleanup` (run at the end of the session) deletes what was written
  there. Fault-injection tests and emulator-gap pins run on emulators only.
  CI never sets these variables.
"""

from __future__ import annotations

import functools
import os
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

# The same shape as tests.rigs.Rig (not imported: tests.rigs imports this module).
Rig = Callable[[Path], "str | None"]

# The variable that points each SDK at its endpoint: a client is reused only
# while it still names the same one.
_ENDPOINT = {
    "s3": "AWS_ENDPOINT_URL",
    "azure": "AZURE_STORAGE_CONNECTION_STRING",
    "gcs": "STORAGE_EMULATOR_HOST",
}


#: The variable naming the bucket (container) live-cloud tests write under.
LIVE_BUCKET = {
    "s3": "STATESYNC_TEST_S3_BUCKET",
    "azure": "STATESYNC_TEST_AZURE_CONTAINER",
    "gcs": "STATESYNC_TEST_GCS_BUCKET",
}
#: The URL of every test folder made in a live bucket, for cleanup().
_LIVE_PREFIXES: list[str] = []


def on_emulator(cloud: str) -> bool:
    """True if the SDK of ``cloud`` is pointed at a loopback emulator."""
    value = os.environ.get(_ENDPOINT[cloud], "")
    if cloud == "azure":
        value = next(
            (p.split("=", 1)[1] for p in value.split(";") if p.startswith("BlobEndpoint=")), ""
        )
    if cloud == "gcs" and value and "://" not in value:
        value = "http://" + value
    host = urlsplit(value).hostname or ""
    return host == "localhost" or host.startswith("127.") or host == "::1"


def _fresh_name() -> str:
    """A bucket/container name every cloud accepts: 3-63 lowercase letters, digits, hyphens."""
    return f"statesync-{uuid.uuid4().hex[:24]}"


def _admin(cloud: str) -> Any:
    """An SDK client for creating buckets, built once per endpoint (clients are slow to build)."""
    return _admin_for(cloud, os.environ.get(_ENDPOINT[cloud]))


@functools.cache
def _admin_for(cloud: str, endpoint: str | None) -> Any:
    if cloud == "s3":
        from statesync.backends import s3

        return s3.make_client()
    if cloud == "azure":
        from statesync.backends import azure

        return azure.make_service()
    from statesync.backends import gcs

    return gcs.make_client()


def _store(cloud: str, scheme: str, create: Callable[[str], object]) -> str | None:
    """A fresh store URL on ``cloud``: a new bucket on an emulator, a new prefix live."""
    if not os.environ.get(f"STATESYNC_TEST_{cloud.upper()}"):
        return None
    if on_emulator(cloud):
        from tests.leakscan import record_bucket

        name = _fresh_name()
        create(name)
        record_bucket(scheme, name)
        return f"{scheme}://{name}/store"
    bucket = os.environ.get(LIVE_BUCKET[cloud])
    if not bucket:
        raise RuntimeError(
            f"STATESYNC_TEST_{cloud.upper()} is set without an emulator endpoint: "
            f"set {LIVE_BUCKET[cloud]} to a bucket the tests may write under"
        )
    folder = f"{scheme}://{bucket}/statesync-test-{uuid.uuid4().hex[:16]}"
    _LIVE_PREFIXES.append(folder)
    return f"{folder}/store"


def _create_s3_bucket(name: str) -> None:
    client = _admin("s3")
    region = client.meta.region_name
    if region in (None, "us-east-1", "aws-global"):
        client.create_bucket(Bucket=name)
    else:
        client.create_bucket(Bucket=name, CreateBucketConfiguration={"LocationConstraint": region})


def s3_rig(tmp: Path) -> str | None:
    return _store("s3", "s3", _create_s3_bucket)


def azure_rig(tmp: Path) -> str | None:
    return _store("azure", "az", lambda name: _admin("azure").create_container(name))


def gcs_rig(tmp: Path) -> str | None:
    return _store("gcs", "gs", lambda name: _admin("gcs").create_bucket(name))


def cleanup() -> None:
    """Delete every object the tests wrote under their prefixes in live buckets."""
    from statesync.backends import open_backend

    while _LIVE_PREFIXES:
        backend = open_backend(_LIVE_PREFIXES.pop())
        try:
            for meta in backend.list(""):
                backend.delete(meta.key)
        finally:
            backend.close()


RIGS: dict[str, Rig] = {"s3": s3_rig, "azure": azure_rig, "gcs": gcs_rig}
