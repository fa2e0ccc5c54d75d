"""Object-store drivers and the one place that turns a store URL into a backend.

Cloud drivers are imported lazily, inside :func:`open_backend`, so that
``statesync --help`` and local pushes never import boto3, azure or google.
"""

from __future__ import annotations

import importlib
import os
import re
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import unquote, urlsplit

from statesync.backends.base import Backend
from statesync.errors import MissingExtra, UsageError

# scheme -> (module, extra that provides its SDK, SDK import name)
_DRIVERS: dict[str, tuple[str, str | None, str | None]] = {
    "memory": ("statesync.backends.memory", None, None),
    "file": ("statesync.backends.local", None, None),
    "s3": ("statesync.backends.s3", "s3", "boto3"),
    "az": ("statesync.backends.azure", "azure", "azure.storage.blob"),
    "gs": ("statesync.backends.gcs", "gcs", "google.cloud.storage"),
}


@dataclass(frozen=True)
class StoreUrl:
    """A parsed store URL: ``scheme://bucket/prefix`` or ``file:///abs/path``.

    For ``file`` the ``bucket`` is empty and ``prefix`` is the absolute path.
    ``prefix`` never starts or ends with ``/`` for cloud schemes.
    """

    raw: str
    scheme: str
    bucket: str
    prefix: str


def parse_url(url: str) -> StoreUrl:
    """Parse a store URL; a plain path means a local store. Raises :class:`UsageError`."""
    if "://" not in url:
        if not url:
            raise UsageError("empty store URL")
        if re.match(r"^[A-Za-z][A-Za-z0-9+.-]*:", url):
            raise UsageError(f"store URL {url!r} is malformed (expected scheme://...)")
        path = str(Path(url).expanduser().resolve())
        return StoreUrl(raw="file://" + path, scheme="file", bucket="", prefix=path)
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    if scheme not in _DRIVERS:
        known = ", ".join(f"{s}://" for s in _DRIVERS)
        raise UsageError(f"unknown store URL scheme {scheme + '://'!r} (known: {known})")
    if scheme == "file":
        path = unquote(parts.path)
        if parts.netloc not in ("", "localhost") or not path.startswith("/"):
            raise UsageError(f"file store URL must be file:///absolute/path, got {url!r}")
        return StoreUrl(raw=url, scheme=scheme, bucket="", prefix=os.path.normpath(path))
    if not parts.netloc:
        raise UsageError(f"store URL {url!r} names no bucket, container or name")
    return StoreUrl(raw=url, scheme=scheme, bucket=parts.netloc, prefix=parts.path.strip("/"))


def open_backend(url: str) -> Backend:
    """Open the backend for ``url``, importing its driver (and SDK) only now.

    Raises :class:`UsageError` for an unknown scheme and :class:`MissingExtra`
    naming the extra to install when a cloud SDK is absent.
    """
    parsed = parse_url(url)
    module_name, extra, sdk = _DRIVERS[parsed.scheme]
    if sdk is not None:
        try:
            importlib.import_module(sdk)
        except ImportError as exc:
            raise MissingExtra(
                f"{parsed.scheme}:// stores need the {extra!r} extra: "
                f"pip install 'statesync[{extra}]'"
            ) from exc
    module = importlib.import_module(module_name)
    backend: Backend = module.open_url(parsed)
    backend.url = parsed.raw
    return backend
