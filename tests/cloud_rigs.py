"""Cloud rigs: a fresh bucket (or container) per call, on the emulators or a live cloud.

Each rig returns ``None`` unless ``STATESYNC_TEST_<CLOUD>`` is set (as
``scripts/emulators.py start`` writes into its env file), so a plain
``pytest`` without emulators skips the cloud backends. The bucket is created
through the SDK under a unique name and the URL points at a prefix inside it,
so the drivers' prefix handling is exercised too. The SDKs are imported only
inside the rigs.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable
from pathlib import Path

# The same shape as tests.rigs.Rig (not imported: tests.rigs imports this module).
Rig = Callable[[Path], "str | None"]


def _fresh_name() -> str:
    """A bucket/container name every cloud accepts: 3-63 lowercase letters, digits, hyphens."""
    return f"statesync-{uuid.uuid4().hex[:24]}"


def s3_rig(tmp: Path) -> str | None:
    if not os.environ.get("STATESYNC_TEST_S3"):
        return None
    from statesync.backends.s3 import make_client

    name = _fresh_name()
    client = make_client()
    region = client.meta.region_name
    if region in (None, "us-east-1", "aws-global"):
        client.create_bucket(Bucket=name)
    else:
        client.create_bucket(Bucket=name, CreateBucketConfiguration={"LocationConstraint": region})
    client.close()
    return f"s3://{name}/store"


def azure_rig(tmp: Path) -> str | None:
    if not os.environ.get("STATESYNC_TEST_AZURE"):
        return None
    from statesync.backends.azure import make_service

    name = _fresh_name()
    with make_service() as service:
        service.create_container(name)
    return f"az://{name}/store"


def gcs_rig(tmp: Path) -> str | None:
    if not os.environ.get("STATESYNC_TEST_GCS"):
        return None
    from statesync.backends.gcs import make_client

    name = _fresh_name()
    client = make_client()
    client.create_bucket(name)
    client.close()
    return f"gs://{name}/store"


RIGS: dict[str, Rig] = {"s3": s3_rig, "azure": azure_rig, "gcs": gcs_rig}
