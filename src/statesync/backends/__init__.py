"""Object-store drivers and the one place that turns a store URL into a backend.

Cloud drivers are imported lazily, inside :func:`open_backend`, so that
``statesync --help`` and local pushes never import boto3, azure or google.
"""

from __future__ import annotations

import importlib

from statesync.backends.base import Backend
from statesync.backends.url import StoreUrl, parse_url
from statesync.errors import MissingExtra, install_command

__all__ = ["Backend", "StoreUrl", "open_backend", "parse_url"]

# scheme -> (module, extra that provides its SDK, SDK import name)
_DRIVERS: dict[str, tuple[str, str | None, str | None]] = {
    "memory": ("statesync.backends.memory", None, None),
    "file": ("statesync.backends.local", None, None),
    # The S3 driver needs botocore only (the "s3" extra installs it with boto3);
    # checking for boto3 here would import boto3 and s3transfer, ~30 ms, for nothing.
    "s3": ("statesync.backends.s3", "s3", "botocore"),
    "az": ("statesync.backends.azure", "azure", "azure.storage.blob"),
    "gs": ("statesync.backends.gcs", "gcs", "google.cloud.storage"),
}


def open_backend(url: str) -> Backend:
    """Open the backend for ``url``, importing its driver (and SDK) only now.

    Raises :class:`UsageError` for an unknown scheme and :class:`MissingExtra`
    naming the extra to install when a cloud SDK is absent.
    """
    parsed = parse_url(url)
    module_name, extra, sdk = _DRIVERS[parsed.scheme]
    if sdk is not None and extra is not None:
        try:
            importlib.import_module(sdk)
        except ImportError as exc:
            raise MissingExtra(
                f"{parsed.scheme}:// stores need the {extra!r} extra: {install_command(extra)}"
            ) from exc
    module = importlib.import_module(module_name)
    backend: Backend = module.open_url(parsed)
    backend.url = parsed.raw
    return backend
