"""Google Cloud Storage driver (google-cloud-storage): ``gs://bucket/prefix``.

Credentials come from Google ADC. With ``STORAGE_EMULATOR_HOST`` set (the
fake-gcs-server emulator) the client is anonymous and its project comes
from ``GOOGLE_CLOUD_PROJECT``. One client per backend, shared by threads (the
client is thread-safe; every call builds its own ``Blob``).

Put modes map to generation preconditions: ``CREATE`` is
``ifGenerationMatch=0``, ``Update`` is ``ifGenerationMatch=<generation>``; the
version token is the generation as a decimal string. Bodies up to 8 MiB go
up in one multipart request, larger ones as a resumable upload whose
precondition and CRC32C travel in the initiating request, so GCS checks both
when the upload completes. Every upload carries a CRC32C the service checks,
and the body's hex SHA-256 in the ``statesync-sha256`` metadata entry, which
:meth:`GCSBackend.get` verifies.
"""

from __future__ import annotations

import base64
import contextlib
import os
from collections.abc import Iterator, Mapping
from typing import TYPE_CHECKING, Any, BinaryIO

import google_crc32c
import requests
from google.api_core import exceptions as gapi
from google.auth import exceptions as gauth
from google.auth.credentials import AnonymousCredentials
from google.cloud import storage
from google.cloud.storage.exceptions import DataCorruption, InvalidResponse
from urllib3.util.retry import Retry

from statesync.backends import _cloud
from statesync.backends._cloud import Body, BucketProbe, ChunkReader
from statesync.backends._driver import (
    CloudBackend,
    access_denied,
    already_exists,
    first_line,
    missing_bucket,
    not_found,
    unreachable,
)
from statesync.backends.base import (
    CREATE,
    Meta,
    PutMode,
    Update,
    Version,
)
from statesync.errors import (
    BackendError,
    NotFound,
    ObjectChanged,
    PreconditionFailed,
    RangeNotSatisfiable,
    TransientError,
)

if TYPE_CHECKING:
    from statesync.backends import StoreUrl

META_SHA256 = "statesync-sha256"
_META_HEADER = f"x-goog-meta-{META_SHA256}"
_TIMEOUT = (_cloud.CONNECT_TIMEOUT, _cloud.READ_TIMEOUT)
_READ_CHUNK = 4 * 1024 * 1024
_TRANSPORT_ERRORS = (
    requests.ConnectionError,
    requests.Timeout,
    requests.exceptions.ChunkedEncodingError,
    gauth.TransportError,
)


def make_client(*, project: str | None = None, endpoint: str | None = None) -> storage.Client:
    """A client from ADC, or an anonymous one for the emulator, with a 32-connection pool.

    ``project`` and ``endpoint`` (the store URL's options) win over
    ``GOOGLE_CLOUD_PROJECT`` and ``STORAGE_EMULATOR_HOST``. With an
    ``endpoint`` and no Google credentials the client is anonymous (an
    emulator, a public bucket); the service then decides what it may read.

    google's own retries are off on every call (``retry=None``): its policy is
    deadline-based (up to two minutes) and would hide faults from the one
    retry wrapper. The transport alone re-sends a GET or HEAD once when a
    pooled keep-alive connection turns out dead (what botocore's and Azure's
    single SDK retry cover for the other drivers); it never retries a refused
    connection or an answered request.
    """
    project = project or os.environ.get("GOOGLE_CLOUD_PROJECT")
    try:
        client = _client(project, endpoint)
    except gauth.DefaultCredentialsError as exc:
        raise _cloud.unavailable("no Google credentials for gs:// stores", exc) from exc
    stale_connection = Retry(
        total=1,
        connect=0,
        read=1,
        status=0,
        other=0,
        redirect=0,
        allowed_methods=frozenset({"GET", "HEAD"}),
        raise_on_status=False,
    )
    adapter = requests.adapters.HTTPAdapter(
        pool_maxsize=_cloud.POOL_SIZE, max_retries=stale_connection
    )
    client._http.mount("http://", adapter)
    client._http.mount("https://", adapter)
    # google-cloud-storage 3.x fetches bucket metadata in a background thread
    # on first use of each bucket, only to label tracing spans. We trace
    # nothing, and a stray request per bucket muddles fault handling.
    if getattr(client, "_bucket_metadata_cache", None) is not None:
        client._bucket_metadata_cache = None
    return client


def _client(project: str | None, endpoint: str | None) -> storage.Client:
    anonymous = AnonymousCredentials()  # type: ignore[no-untyped-call]
    if endpoint:
        options = {"api_endpoint": endpoint.rstrip("/")}
        try:
            return storage.Client(project=project, client_options=options)
        except gauth.DefaultCredentialsError:
            return storage.Client(
                project=project or "anonymous", credentials=anonymous, client_options=options
            )
    if os.environ.get("STORAGE_EMULATOR_HOST"):
        return storage.Client(project=project or "test", credentials=anonymous)
    return storage.Client(project=project)


def open_url(parsed: StoreUrl) -> GCSBackend:
    """Open ``gs://bucket/prefix[?project=..&endpoint=..]`` (lazily, by open_backend)."""
    # No emulator-only code paths: fake-gcs-server's ignored delete precondition
    # is an expected failure of the conformance suite, and transport tests show
    # the driver sends ifGenerationMatch (tests/backends/test_gcs_faults.py).
    client = make_client(project=parsed.option("project"), endpoint=parsed.option("endpoint"))
    return GCSBackend(client, parsed.bucket, parsed.prefix)


def _generation(version: Version) -> int:
    try:
        return int(version.token)
    except ValueError:
        raise PreconditionFailed(f"{version.token!r} is not a GCS generation") from None


def _crc32c(body: Body) -> str:
    """The base64 CRC32C of the whole body, which a resumable upload declares up front."""
    crc: Any = google_crc32c.Checksum()  # type: ignore[no-untyped-call]
    for piece in body.parts():
        crc.update(piece)
    return base64.b64encode(crc.digest()).decode()


class GCSBackend(CloudBackend):
    """A store in one GCS bucket under ``prefix``."""

    def __init__(self, client: storage.Client, bucket: str, prefix: str = "") -> None:
        self.client = client
        self.bucket = client.bucket(bucket)
        self.prefix = prefix.strip("/")
        self.where = f"GCS bucket {bucket!r} at {client.api_endpoint}"
        self._probe = BucketProbe(self._bucket_exists, self.where)

    # --- reads -----------------------------------------------------------------

    def get(self, key: str) -> tuple[bytes, Version]:
        """The object and its generation, verified against the SHA-256 stored with it.

        One request when the answer carries the metadata (fake-gcs-server
        does); otherwise a second asks for exactly that generation's metadata.
        A writer replacing the object in between raises :class:`ObjectChanged`,
        a transient fault: the retry wrapper reads again, the only retry layer.
        """
        blob = _HeadersBlob(self._name(key), self.bucket)
        with self._faults(key):
            data = blob.download_as_bytes(retry=None, timeout=_TIMEOUT)  # checks x-goog-hash
        generation = int(blob.generation)
        stored = blob.headers.get(_META_HEADER)
        if stored is None:
            stored = self._stored_hash(key, generation)
        return _cloud.verify(key, bytes(data), stored), Version(str(generation))

    def _read_range(self, key: str, start: int, length: int) -> bytes:
        return bytes(
            self._blob(key).download_as_bytes(
                start=start,
                end=start + length - 1,
                checksum=None,
                retry=None,
                timeout=_TIMEOUT,
            )
        )

    def open_read(self, key: str) -> BinaryIO:
        blob = self._reload(key)
        size, generation = int(blob.size or 0), blob.generation
        chunks = (
            self._download_pinned(key, generation, start, min(size, start + _READ_CHUNK) - 1)
            for start in range(0, size, _READ_CHUNK)
        )
        return _cloud.reader(ChunkReader(chunks, contextlib.nullcontext))

    def head(self, key: str) -> Meta:
        blob = self._reload(key)
        return self._meta(key, blob)

    def list(self, prefix: str) -> Iterator[Meta]:
        blobs = self.client.list_blobs(
            self.bucket, prefix=_cloud.full_key(self.prefix, prefix), retry=None, timeout=_TIMEOUT
        )
        with self._faults(prefix, listing=True):
            for blob in blobs:
                yield self._meta(_cloud.relative_key(self.prefix, blob.name), blob)

    # --- writes ----------------------------------------------------------------

    def _conditions(self, mode: PutMode) -> dict[str, Any]:
        if mode is CREATE:
            return {"if_generation_match": 0}
        if isinstance(mode, Update):
            return {"if_generation_match": _generation(mode.expected)}
        return {}

    def _upload(self, key: str, body: Body, mode: PutMode, conditions: dict[str, Any]) -> Version:
        blob = self._blob(key, chunk_size=None if body.small else body.part_size())
        blob.metadata = {META_SHA256: body.sha256}
        self._send(blob, body, conditions)
        return Version(str(blob.generation))

    def delete(self, key: str, expected: Version | None = None) -> None:
        if expected is None:
            with contextlib.suppress(NotFound), self._faults(key):
                self._blob(key).delete(retry=None, timeout=_TIMEOUT)
            return
        generation = _generation(expected)
        with self._faults(key, Update(expected)):
            self._blob(key).delete(if_generation_match=generation, retry=None, timeout=_TIMEOUT)

    def close(self) -> None:
        self.client.close()

    def _send(self, blob: storage.Blob, body: Body, conditions: dict[str, Any]) -> None:
        if body.small:
            # One multipart request: the SDK computes the CRC32C, puts it in the
            # object resource and GCS checks it; the precondition is in the query.
            blob.upload_from_string(
                body.read_all(),
                content_type="application/octet-stream",
                checksum="crc32c",
                retry=None,
                timeout=_TIMEOUT,
                **conditions,
            )
            return
        # Resumable: precondition and the whole body's CRC32C go in the
        # initiating request; GCS applies both when the last chunk lands.
        # fake-gcs-server ignores both there (see tests/backends), hence
        # _cloud.fail_fast and small-body multipart uploads for the common cases.
        whole_crc = _crc32c(body)  # reads the body: before rewind() hands its stream over
        blob.upload_from_file(
            body.rewind(),
            size=body.size,
            content_type="application/octet-stream",
            checksum="crc32c",
            crc32c_checksum_value=whole_crc,
            retry=None,
            timeout=_TIMEOUT,
            **conditions,
        )

    # --- names and faults ----------------------------------------------------------

    def _blob(self, key: str, chunk_size: int | None = None) -> storage.Blob:
        return self.bucket.blob(self._name(key), chunk_size=chunk_size)

    def _reload(self, key: str) -> storage.Blob:
        blob = self._blob(key)
        with self._faults(key):
            blob.reload(retry=None, timeout=_TIMEOUT)
        return blob

    def _stored_hash(self, key: str, generation: int) -> str | None:
        """The SHA-256 stored with exactly ``generation`` of ``key``."""
        blob = self._blob(key)
        try:
            with self._faults(key, Update(Version(str(generation)))):
                blob.reload(if_generation_match=generation, retry=None, timeout=_TIMEOUT)
        except PreconditionFailed as exc:
            raise ObjectChanged(f"{key!r} changed while being read from {self.where}") from exc
        if blob.generation != generation:  # in case a server ignores the precondition
            raise ObjectChanged(f"{key!r} changed while being read from {self.where}")
        return (blob.metadata or {}).get(META_SHA256)

    def _download_pinned(
        self, key: str, generation: int, start: int | None = None, end: int | None = None
    ) -> bytes:
        """Bytes of exactly ``generation``; a replaced or deleted object is a transient fault.

        The request carries ifGenerationMatch (the guard on GCS); the answer's
        x-goog-generation is compared too, because fake-gcs-server ignores
        that precondition on downloads.
        """
        blob = self._blob(key)
        try:
            with self._faults(key, Update(Version(str(generation)))):
                data = blob.download_as_bytes(
                    start=start,
                    end=end,
                    if_generation_match=generation,
                    checksum=None if start is not None else "auto",
                    retry=None,
                    timeout=_TIMEOUT,
                )
        except PreconditionFailed as exc:
            raise ObjectChanged(f"{key!r} changed while being read from {self.where}") from exc
        if blob.generation is not None and blob.generation != generation:
            raise ObjectChanged(f"{key!r} changed while being read from {self.where}")
        return bytes(data)

    def _meta(self, key: str, blob: storage.Blob) -> Meta:
        return Meta(
            key, int(blob.size or 0), Version(str(blob.generation)), _cloud.utc(blob.updated)
        )

    def _bucket_exists(self) -> bool:
        try:
            return bool(self.bucket.exists(retry=None, timeout=_TIMEOUT))
        except gapi.GoogleAPICallError:
            return True  # cannot tell (e.g. no bucket-level permission): assume it exists

    @contextlib.contextmanager
    def _faults(
        self, key: str, mode: PutMode | None = None, listing: bool = False
    ) -> Iterator[None]:
        """Translate google-cloud-storage faults by the mode of the call (ARCHITECTURE.md §6)."""
        try:
            yield
        except gapi.GoogleAPICallError as exc:
            raise self._translate(int(exc.code or 0), exc, key, mode, listing) from exc
        except InvalidResponse as exc:  # resumable-upload answers the SDK did not convert
            status = int(getattr(exc.response, "status_code", 0) or 0)
            raise self._translate(status, exc, key, mode, listing) from exc
        except DataCorruption as exc:
            # The CRC32C of what arrived differs from what we sent; the SDK has
            # already deleted a corrupt upload. Sending again is the fix.
            raise TransientError(f"{key!r} damaged in transit to {self.where}") from exc
        except (gauth.DefaultCredentialsError, gauth.RefreshError) as exc:
            raise _cloud.unavailable(f"no usable Google credentials for {self.where}", exc) from exc
        except _TRANSPORT_ERRORS as exc:
            raise unreachable(self.where, exc) from exc

    def _translate(
        self, status: int, exc: Exception, key: str, mode: PutMode | None, listing: bool
    ) -> BackendError:
        message = f"{key!r} in {self.where}: {status}"
        if status == 404 and listing:
            return missing_bucket(self.where)
        if status == 404:
            # GCS answers a bare 404 for a missing bucket as for a missing object.
            self._probe.check()
        if status == 412 and mode is CREATE:
            return already_exists(key, self.where)
        if status in (404, 412) and isinstance(mode, Update):
            # A gone object fails ifGenerationMatch with 412 on uploads and
            # 404 on deletes: either way, not the expected generation.
            return PreconditionFailed(f"{key!r} changed or is gone in {self.where}")
        if status == 404:
            return not_found(key, self.where)
        if status == 416:
            return RangeNotSatisfiable(message)
        if status in (401, 403):
            return access_denied(self.where, status)
        if status in (408, 429) or status >= 500:
            headers = getattr(getattr(exc, "response", None), "headers", None)
            return TransientError(message, _cloud.retry_after(headers))
        if status == 400 and "doesn't match calculated" in str(exc):
            # GCS refused an upload whose CRC32C/MD5 differs from the bytes that
            # arrived ("Provided CRC32C ... doesn't match calculated CRC32C"):
            # damaged in transit, nothing stored, so sending it again is the fix.
            return TransientError(f"{message}: body damaged in transit")
        return BackendError(f"{message}: {first_line(exc)}")


class _HeadersBlob(storage.Blob):  # type: ignore[misc]
    """A Blob that keeps the headers of its last download (the SDK keeps only some).

    Should a future SDK stop calling this hook, ``headers`` stays empty and
    :meth:`GCSBackend.get` falls back to asking for the metadata.
    """

    headers: Mapping[str, str] = {}

    def _extract_headers_from_download(self, response: Any) -> None:
        super()._extract_headers_from_download(response)
        self.headers = response.headers
