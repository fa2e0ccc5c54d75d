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
from statesync.errors import MissingExtra, UsageError, install_command

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

    @property
    def canonical(self) -> str:
        """One spelling per store (no trailing or doubled ``/``): the key of local pins."""
        if self.scheme == "file":
            return "file://" + self.prefix
        return f"{self.scheme}://{self.bucket}/{self.prefix}".rstrip("/")


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
    prefix = parts.path.strip("/")
    if scheme != "memory":
        _check_cloud_url(url, parts.netloc, prefix, parts.query or parts.fragment)
    return StoreUrl(raw=url, scheme=scheme, bucket=parts.netloc, prefix=prefix)


# Bucket and container names of S3, Azure and GCS (the union, lower case only).
_BUCKET_RE = re.compile(r"[a-z0-9](?:[a-z0-9._-]{0,220}[a-z0-9])?\Z")


def _check_cloud_url(url: str, bucket: str, prefix: str, extra: str) -> None:
    """Refuse what a service or an HTTP layer could resolve elsewhere (``..``, ``%2e``, ``\\``).

    ``az://c/../other/x`` would otherwise write into container ``other``.
    """
    if not _BUCKET_RE.match(bucket) or ".." in bucket:
        raise UsageError(f"store URL {url!r}: {bucket!r} is not a bucket or container name")
    segments = prefix.split("/") if prefix else []
    bad = [
        s
        for s in segments
        if s in ("", ".", "..")
        or any(c in s for c in "%\\?#")
        or any(ord(c) < 0x20 or ord(c) == 0x7F for c in s)
    ]
    if bad or extra:
        raise UsageError(
            f"store URL {url!r}: the prefix must be plain '/'-separated names "
            "(no '..', '.', empty segments, '%', '\\', query or fragment)"
        )


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
