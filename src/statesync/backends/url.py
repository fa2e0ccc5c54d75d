"""Store URLs: ``file:///abs/path`` (or a plain path), ``s3://``, ``az://``, ``gs://``, ``memory://``.

A cloud URL can carry what its SDK needs, so one string names a store
completely (as Terraform's outputs hand it over):

    s3://bucket/prefix?region=eu-west-1&endpoint=https://minio:9000&profile=team
    az://container@account/prefix[?endpoint=http://127.0.0.1:10000/devstoreaccount1]
    gs://bucket/prefix?project=my-project&endpoint=http://127.0.0.1:4443

Credentials never appear in a URL: they come from each SDK's own chain.
Unknown query keys, repeated or empty ones are a :class:`UsageError`.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import SplitResult, parse_qsl, unquote, urlsplit

from statesync.errors import UsageError

SCHEMES = ("memory", "file", "s3", "az", "gs")

#: The query keys each scheme understands (and nothing else).
OPTIONS: dict[str, tuple[str, ...]] = {
    "s3": ("region", "endpoint", "profile"),
    "az": ("endpoint",),
    "gs": ("project", "endpoint"),
}


@dataclass(frozen=True)
class StoreUrl:
    """A parsed store URL: ``scheme://bucket[@account]/prefix[?options]`` or ``file:///abs/path``.

    For ``file`` the ``bucket`` is empty and ``prefix`` is the absolute path.
    ``prefix`` never starts or ends with ``/`` for cloud schemes. ``account``
    is the Azure storage account named in the URL (empty: from the
    environment). ``options`` are the query's ``(key, value)`` pairs, sorted.
    """

    raw: str
    scheme: str
    bucket: str
    prefix: str
    account: str = ""
    options: tuple[tuple[str, str], ...] = ()

    def option(self, key: str) -> str | None:
        """The query value of ``key`` (None: not given)."""
        return dict(self.options).get(key)

    @property
    def canonical(self) -> str:
        """One spelling per store (no trailing or doubled ``/``): the key of local pins.

        The account and an ``endpoint`` name the service, so they are part
        of it; region, profile and project only say how to reach it.
        """
        if self.scheme == "file":
            return "file://" + self.prefix
        where = f"{self.bucket}@{self.account}" if self.account else self.bucket
        text = f"{self.scheme}://{where}/{self.prefix}".rstrip("/")
        endpoint = self.option("endpoint")
        return f"{text}?endpoint={endpoint.rstrip('/')}" if endpoint else text


def parse_url(url: str) -> StoreUrl:
    """Parse a store URL; a plain path means a local store. Raises :class:`UsageError`."""
    if "://" not in url:
        if not url:
            raise UsageError("empty store URL")
        if re.match(r"^[A-Za-z][A-Za-z0-9+.-]*:", url):
            raise UsageError(f"store URL {url!r} is malformed (expected scheme://...)")
        path = str(Path(url).expanduser().resolve())
        return StoreUrl(raw="file://" + path, scheme="file", bucket="", prefix=path)
    parts = _split(url, url)
    scheme = parts.scheme.lower()
    if scheme not in SCHEMES:
        known = ", ".join(f"{s}://" for s in SCHEMES)
        raise UsageError(f"unknown store URL scheme {scheme + '://'!r} (known: {known})")
    if scheme == "file":
        path = unquote(parts.path)
        if parts.netloc not in ("", "localhost") or not path.startswith("/") or parts.query:
            raise UsageError(f"file store URL must be file:///absolute/path, got {url!r}")
        return StoreUrl(raw=url, scheme=scheme, bucket="", prefix=os.path.normpath(path))
    if not parts.netloc:
        raise UsageError(f"store URL {url!r} names no bucket, container or name")
    prefix = parts.path.strip("/")
    if scheme == "memory":
        return StoreUrl(raw=url, scheme=scheme, bucket=parts.netloc, prefix=prefix)
    bucket, account = _bucket_and_account(url, scheme, parts.netloc)
    _check_cloud_url(url, bucket, prefix, parts.fragment or ("#" if url.endswith("#") else ""))
    options = _options(url, scheme, parts.query)
    return StoreUrl(url, scheme, bucket, prefix, account, options)


# Bucket and container names of S3, Azure and GCS (the union, lower case only).
_BUCKET_RE = re.compile(r"[a-z0-9](?:[a-z0-9._-]{0,220}[a-z0-9])?\Z")
# Azure storage account names: 3 to 24 lower-case letters and digits.
_ACCOUNT_RE = re.compile(r"[a-z0-9]{3,24}\Z")


def _bucket_and_account(url: str, scheme: str, netloc: str) -> tuple[str, str]:
    """``container@account`` for ``az://``; any other ``@`` is refused."""
    bucket, at, account = netloc.partition("@")
    if not at:
        return bucket, ""
    if scheme != "az":
        raise UsageError(f"store URL {url!r}: only az:// URLs name an account (container@account)")
    if not _ACCOUNT_RE.match(account):
        raise UsageError(
            f"store URL {url!r}: {account!r} is not an Azure storage account name "
            "(3-24 lower-case letters and digits)"
        )
    return bucket, account


def _options(url: str, scheme: str, query: str) -> tuple[tuple[str, str], ...]:
    """The query as sorted pairs, each key known to ``scheme``, given once, not empty."""
    if not query:
        return ()
    known = OPTIONS.get(scheme, ())
    try:
        pairs = parse_qsl(query, keep_blank_values=True, strict_parsing=True)
    except ValueError:
        raise UsageError(f"store URL {url!r}: malformed query (want key=value&...)") from None
    seen: dict[str, str] = {}
    for key, value in pairs:
        if key not in known:
            allowed = ", ".join(known) or "none"
            raise UsageError(
                f"store URL {url!r}: unknown option {key!r} for {scheme}:// (known: {allowed})"
            )
        if key in seen or not value:
            raise UsageError(f"store URL {url!r}: option {key!r} must be given once, with a value")
        if key == "endpoint":
            _check_endpoint(url, value)
        seen[key] = value
    return tuple(sorted(seen.items()))


def _split(url: str, value: str) -> SplitResult:
    """``urlsplit(value)``; :class:`UsageError` naming ``url`` where it cannot split it.

    ``urlsplit`` raises ``ValueError`` for an unclosed ``[`` (an IPv6 host) and a
    port out of range: a typing slip in a URL, not an internal error.
    """
    try:
        return urlsplit(value)
    except ValueError as exc:
        raise UsageError(f"store URL {url!r} is malformed: {exc}") from None


def _check_endpoint(url: str, value: str) -> None:
    parts = _split(url, value)
    if parts.scheme not in ("http", "https") or not parts.netloc or parts.query or parts.fragment:
        raise UsageError(f"store URL {url!r}: endpoint must be http(s)://host[:port][/path]")


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
            "(no '..', '.', empty segments, '%', '\\' or fragment)"
        )
