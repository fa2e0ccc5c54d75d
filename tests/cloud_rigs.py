"""Cloud rigs: a fresh bucket (or container) per call, on the emulators or a live cloud.

Each rig returns ``None`` unless ``STATESYNC_TEST_<CLOUD>`` is set (as
``scripts/emulators.py start`` writes into its env file), so a plain
``pytest`` without emulators skips the cloud backends. The bucket is created
through the SDK under a unique name and the URL points at a prefix inside it,
so the drivers' prefix handling is exercised too. The SDKs are imported only
inside the rigs.
"""

from __future__ import annotations

import functools
import os
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

# The same shape as tests.rigs.Rig (not imported: tests.rigs imports this module).
Rig = Callable[[Path], "str | None"]

# The variable that points each SDK at its endpoint: a client is reused only
# while it still names the same one.
_ENDPOINT = {
    "s3": "AWS_ENDPOINT_URL",
    "azure": "AZURE_STORAGE_CONNECTION_STRING",
    "gcs": "STORAGE_EMULATOR_HOST",
}


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


def s3_rig(tmp: Path) -> str | None:
    if not os.environ.get("STATESYNC_TEST_S3"):
        return None
    name = _fresh_name()
    client = _admin("s3")
    region = client.meta.region_name
    if region in (None, "us-east-1", "aws-global"):
        client.create_bucket(Bucket=name)
    else:
        client.create_bucket(Bucket=name, CreateBucketConfiguration={"LocationConstraint": region})
    return f"s3://{name}/store"


def azure_rig(tmp: Path) -> str | None:
    if not os.environ.get("STATESYNC_TEST_AZURE"):
        return None
    name = _fresh_name()
    _admin("azure").create_container(name)
    return f"az://{name}/store"


def gcs_rig(tmp: Path) -> str | None:
    if not os.environ.get("STATESYNC_TEST_GCS"):
        return None
    name = _fresh_name()
    _admin("gcs").create_bucket(name)
    return f"gs://{name}/store"


RIGS: dict[str, Rig] = {"s3": s3_rig, "azure": azure_rig, "gcs": gcs_rig}
