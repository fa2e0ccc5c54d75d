"""Each emulator as a fault test needs it: a fresh store, its address, an env aimed at a proxy.

``STATESYNC_TEST_<CLOUD>`` and the emulator endpoints come from
``scripts/emulators.py`` (``source /tmp/emu/env``); a cloud whose emulator is
not running yields ``None`` and its tests skip. Only loopback endpoints count.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from tests import cloud_rigs


@dataclass(frozen=True)
class Emulator:
    """One running emulator: how to make a store on it and how to reach it through a proxy."""

    cloud: str
    make_store: Callable[[Path], str | None]
    address: tuple[str, int]
    #: the endpoint variables, rewritten to send the SDK to 127.0.0.1:port instead
    through: Callable[[int], dict[str, str]]


def _split(url: str) -> tuple[str, int]:
    parts = urlsplit(url if "://" in url else "http://" + url)
    return parts.hostname or "", parts.port or 80


def _azure_endpoint() -> str:
    conn = os.environ.get("AZURE_STORAGE_CONNECTION_STRING", "")
    fields = dict(p.split("=", 1) for p in conn.split(";") if "=" in p)
    return fields.get("BlobEndpoint", "")


def _azure_through(port: int) -> dict[str, str]:
    conn = os.environ["AZURE_STORAGE_CONNECTION_STRING"]
    old = _azure_endpoint()
    parts = urlsplit(old)
    new = f"{parts.scheme}://127.0.0.1:{port}{parts.path}"
    return {"AZURE_STORAGE_CONNECTION_STRING": conn.replace(old, new)}


def emulator(cloud: str) -> Emulator | None:
    """The running emulator of ``cloud`` (s3, azure, gcs), or None."""
    if not os.environ.get(f"STATESYNC_TEST_{cloud.upper()}") or not cloud_rigs.on_emulator(cloud):
        return None
    if cloud == "s3":
        address = _split(os.environ["AWS_ENDPOINT_URL"])
        return Emulator(
            "s3",
            cloud_rigs.s3_rig,
            address,
            lambda port: {"AWS_ENDPOINT_URL": f"http://127.0.0.1:{port}"},
        )
    if cloud == "azure":
        return Emulator("azure", cloud_rigs.azure_rig, _split(_azure_endpoint()), _azure_through)
    address = _split(os.environ["STORAGE_EMULATOR_HOST"])
    return Emulator(
        "gcs",
        cloud_rigs.gcs_rig,
        address,
        lambda port: {"STORAGE_EMULATOR_HOST": f"http://127.0.0.1:{port}"},
    )
