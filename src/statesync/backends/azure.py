"""Azure Blob driver (azure-storage-blob): ``az://container/prefix``.

The account comes from ``AZURE_STORAGE_CONNECTION_STRING`` (Azurite, shared
keys, SAS) or else from ``AZURE_STORAGE_ACCOUNT_URL`` / ``AZURE_STORAGE_ACCOUNT``
with azure-identity's ``DefaultAzureCredential`` (imported only then). One
service client per backend; Azure SDK clients are thread-safe.

Put modes: ``CREATE`` sends ``If-None-Match: *`` and ``Update`` sends
``If-Match: <etag>``, on Put Blob for small bodies and on Put Block List
(the commit) for large ones, so nothing partial is ever visible. The version
token is the ETag in its quoted form (listings return it bare; we add the
quotes so every verb reports the same token). Every request that carries
bytes sends ``Content-MD5`` (``validate_content=True``), and the body's hex
SHA-256 rides in the ``statesync_sha256`` metadata entry (Azure metadata
names must be C# identifiers: no hyphen), which :meth:`AzureBackend.get` checks.
"""

from __future__ import annotations

import base64
import contextlib
import os
import uuid
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any, BinaryIO

import requests
from azure.core import MatchConditions
from azure.core.exceptions import (
    AzureError,
    ClientAuthenticationError,
    DecodeError,
    HttpResponseError,
    IncompleteReadError,
    ServiceRequestError,
    ServiceResponseError,
)
from azure.core.pipeline.transport import RequestsTransport
from azure.storage.blob import BlobBlock, BlobServiceClient, ContainerClient, LinearRetry

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
    BackendUnavailable,
    NotFound,
    PreconditionFailed,
    RangeNotSatisfiable,
    TransientError,
    UsageError,
)

if TYPE_CHECKING:
    from statesync.backends import StoreUrl

META_SHA256 = "statesync_sha256"
# SDK-internal retries: one quick retry (stale pooled connection); the one
# retry wrapper (retry.py) decides everything else. Azure's default policy
# would wait 15 s and more between its own attempts.
SDK_RETRIES = 1
_READ_CHUNK = 4 * 1024 * 1024
_TRANSIENT_CODES = {
    "ServerBusy",
    "OperationTimedOut",
    "InternalError",
    # The service refused a body whose Content-MD5 did not match: damaged in
    # transit, nothing stored, so sending it again is the fix.
    "Md5Mismatch",
    "Crc64Mismatch",
    # Put Block List found our staged blocks gone: a concurrent commit to the
    # same blob discards every uncommitted block. Staging again is the fix.
    "InvalidBlockList",
}


def make_service(
    *, account: str = "", endpoint: str | None = None, **options: Any
) -> BlobServiceClient:
    """A service client, with low SDK retries and a 32-connection pool.

    Where the account is: ``endpoint`` (the URL's option), else the URL's
    ``account`` (``https://ACCOUNT.blob.core.windows.net``), else the
    environment (``AZURE_STORAGE_CONNECTION_STRING``, ``AZURE_STORAGE_ACCOUNT_URL``,
    ``AZURE_STORAGE_ACCOUNT``). The connection string is used when it is for
    that account (or none is named); otherwise the credential is
    ``AZURE_STORAGE_KEY`` (a shared key for the named account) or
    azure-identity's ``DefaultAzureCredential``.
    """
    settings = _settings(options)
    connection_string = os.environ.get("AZURE_STORAGE_CONNECTION_STRING", "")
    same = not account or _connection_account(connection_string) == account
    if connection_string and same and not endpoint:
        try:
            return BlobServiceClient.from_connection_string(connection_string, **settings)
        except ValueError as exc:
            raise UsageError(f"AZURE_STORAGE_CONNECTION_STRING is malformed: {exc}") from exc
    name = account or os.environ.get("AZURE_STORAGE_ACCOUNT", "")
    account_url = endpoint or (f"https://{account}.blob.core.windows.net" if account else None)
    account_url = account_url or os.environ.get("AZURE_STORAGE_ACCOUNT_URL")
    if not account_url and name:
        account_url = f"https://{name}.blob.core.windows.net"
    if not account_url:
        raise BackendUnavailable(
            "az:// stores need an account: az://container@account/prefix, or "
            "AZURE_STORAGE_CONNECTION_STRING, AZURE_STORAGE_ACCOUNT_URL or AZURE_STORAGE_ACCOUNT"
        )
    key = os.environ.get("AZURE_STORAGE_KEY")
    if key and name:
        shared = {"account_name": name, "account_key": key}
        return BlobServiceClient(account_url, credential=shared, **settings)
    from azure.identity import DefaultAzureCredential  # only when no key is given

    return BlobServiceClient(account_url, credential=DefaultAzureCredential(), **settings)


def _settings(options: dict[str, Any]) -> dict[str, Any]:
    """The SDK's transport and retry settings, plus ``options``."""
    session = requests.Session()
    adapter = requests.adapters.HTTPAdapter(pool_maxsize=_cloud.POOL_SIZE)
    session.mount("http://", adapter)
    session.mount("https://", adapter)
    settings: dict[str, Any] = {
        "transport": RequestsTransport(
            session=session,
            session_owner=True,
            connection_timeout=_cloud.CONNECT_TIMEOUT,
            read_timeout=_cloud.READ_TIMEOUT,
        ),
        # (The SDK annotates these seconds as int; fractions work.)
        "retry_policy": LinearRetry(
            backoff=0.2,  # type: ignore[arg-type]
            random_jitter_range=0.1,  # type: ignore[arg-type]
            retry_total=SDK_RETRIES,
        ),
        "max_single_put_size": _cloud.SINGLE_PUT_LIMIT,
        "max_block_size": _cloud.PART_SIZE,
        # Bounded memory for open_read: the first GET fetches this much.
        "max_single_get_size": _READ_CHUNK,
        "max_chunk_get_size": _READ_CHUNK,
    }
    settings.update(options)
    return settings


def _connection_account(connection_string: str) -> str:
    """The ``AccountName`` a connection string is for ("" if it names none)."""
    for part in connection_string.split(";"):
        key, _, value = part.partition("=")
        if key.strip().lower() == "accountname":
            return value.strip()
    return ""


def open_url(parsed: StoreUrl) -> AzureBackend:
    """Open ``az://container[@account]/prefix[?endpoint=..]`` (lazily, by open_backend)."""
    service = make_service(account=parsed.account, endpoint=parsed.option("endpoint"))
    return AzureBackend(service.get_container_client(parsed.bucket), parsed.prefix)


def _etag(raw: str) -> Version:
    """The ETag in its quoted form: Azure's listings omit the quotes other answers carry."""
    return Version(raw if raw.startswith('"') else f'"{raw}"')


class AzureBackend(CloudBackend):
    """A store in one Azure Blob container under ``prefix``."""

    def __init__(self, container: ContainerClient, prefix: str = "") -> None:
        self.container = container
        self.prefix = prefix.strip("/")
        self.where = f"Azure container {container.container_name!r} at {container.url}"
        self._probe = BucketProbe(container.exists, self.where)

    # --- reads -----------------------------------------------------------------

    def get(self, key: str) -> tuple[bytes, Version]:
        with self._faults(key):
            download = self.container.download_blob(self._name(key), max_concurrency=1)
            data = download.readall()
        props = download.properties
        stored = (props.metadata or {}).get(META_SHA256)
        return _cloud.verify(key, data, stored), _etag(props.etag)

    def _read_range(self, key: str, start: int, length: int) -> bytes:
        download = self.container.download_blob(
            self._name(key), offset=start, length=length, max_concurrency=1
        )
        return bytes(download.readall())

    def open_read(self, key: str) -> BinaryIO:
        with self._faults(key):
            download = self.container.download_blob(self._name(key), max_concurrency=1)
        # Later chunks are fetched with If-Match on the first answer's ETag,
        # so a blob replaced mid-read fails instead of mixing two versions.
        return _cloud.reader(ChunkReader(download.chunks(), lambda: self._faults(key)))

    def head(self, key: str) -> Meta:
        with self._faults(key):
            props = self.container.get_blob_client(self._name(key)).get_blob_properties()
        return Meta(key, int(props.size), _etag(props.etag), _cloud.utc(props.last_modified))

    def list(self, prefix: str) -> Iterator[Meta]:
        blobs = self.container.list_blobs(name_starts_with=_cloud.full_key(self.prefix, prefix))
        with self._faults(prefix):
            for item in blobs:
                yield Meta(
                    key=_cloud.relative_key(self.prefix, item.name),
                    size=int(item.size),
                    version=_etag(item.etag),
                    modified=_cloud.utc(item.last_modified),
                )

    # --- writes ----------------------------------------------------------------

    def _conditions(self, mode: PutMode) -> dict[str, Any]:
        if mode is CREATE:
            return {"match_condition": MatchConditions.IfMissing}
        if isinstance(mode, Update):
            return {"etag": mode.expected.token, "match_condition": MatchConditions.IfNotModified}
        return {}

    def _upload(self, key: str, body: Body, mode: PutMode, conditions: dict[str, Any]) -> Version:
        if body.small:
            return self._put_single(key, body, mode, conditions)
        return self._put_blocks(key, body, conditions)

    def delete(self, key: str, expected: Version | None = None) -> None:
        if expected is not None:
            with self._faults(key, Update(expected)):
                self.container.delete_blob(self._name(key), **self._conditions(Update(expected)))
            return
        with contextlib.suppress(NotFound), self._faults(key):
            self.container.delete_blob(self._name(key))

    def close(self) -> None:
        self.container.close()

    def _put_single(
        self, key: str, body: Body, mode: PutMode, conditions: dict[str, Any]
    ) -> Version:
        blob = self.container.get_blob_client(self._name(key))
        result = blob.upload_blob(
            body.read_all(),
            # overwrite=False is how this call sends If-None-Match: * (CREATE).
            overwrite=mode is not CREATE,
            metadata={META_SHA256: body.sha256},
            validate_content=True,
            **(conditions if isinstance(mode, Update) else {}),
        )
        return _etag(str(result["etag"]))

    def _put_blocks(self, key: str, body: Body, conditions: dict[str, Any]) -> Version:
        blob = self.container.get_blob_client(self._name(key))
        # Ids unique to this attempt, so a concurrent upload of the same blob
        # can never commit our blocks or we theirs.
        attempt = uuid.uuid4().hex
        blocks = []
        for number, piece in enumerate(body.parts()):
            block_id = base64.b64encode(f"{attempt}-{number:06d}".encode()).decode()
            blob.stage_block(block_id, piece, validate_content=True)
            blocks.append(BlobBlock(block_id=block_id))
        # The condition sits on the commit: nothing is visible before it.
        result = blob.commit_block_list(blocks, metadata={META_SHA256: body.sha256}, **conditions)
        return _etag(str(result["etag"]))

    # --- names and faults ----------------------------------------------------------

    @contextlib.contextmanager
    def _faults(self, key: str, mode: PutMode | None = None) -> Iterator[None]:
        """Translate Azure SDK faults by the mode of the call (see ARCHITECTURE.md §6)."""
        try:
            yield
        except ClientAuthenticationError as exc:
            if exc.status_code in (401, 403):  # e.g. a wrong shared key (Azurite checks it)
                raise access_denied(self.where, _code(exc) or exc.status_code) from exc
            # A credential chain that could not get a token at all.
            raise _cloud.unavailable(f"no usable Azure credential for {self.where}", exc) from exc
        except (DecodeError, UnicodeDecodeError) as exc:
            # An answer the SDK cannot parse (a listing's XML with a byte damaged on the
            # way, not UTF-8): transit, so retry. The service never sends such XML.
            raise TransientError(f"{key!r} in {self.where}: answer damaged in transit") from exc
        except HttpResponseError as exc:
            raise self._translate(exc, key, mode) from exc
        except (ServiceRequestError, ServiceResponseError, IncompleteReadError) as exc:
            raise unreachable(self.where, exc) from exc
        except AzureError as exc:
            raise BackendError(f"{self.where}: {first_line(exc)}") from exc

    def _translate(self, exc: HttpResponseError, key: str, mode: PutMode | None) -> BackendError:
        status = int(exc.status_code or 0)
        code = _code(exc)
        message = f"{key!r} in {self.where}: {code or status}"
        if code == "ContainerNotFound":
            return missing_bucket(self.where)
        if mode is CREATE and status in (409, 412):
            # Azurite answers 409 BlobAlreadyExists where Azure answers
            # 412 ConditionNotMet; either way the blob is already there.
            return already_exists(key, self.where)
        if isinstance(mode, Update) and status in (404, 412):
            # A blob that is gone fails If-Match with 412 on writes but 404
            # BlobNotFound on some verbs: either way, not the expected version.
            return PreconditionFailed(f"{key!r} changed or is gone in {self.where}")
        if status == 404:
            if code != "BlobNotFound":
                self._probe.check()  # a bare 404 (HEAD) may mean the container is gone
            return not_found(key, self.where)
        if status == 416:
            return RangeNotSatisfiable(message)
        if status in (401, 403):
            return access_denied(self.where, code or status)
        # No status at all: the connection broke mid-answer (the SDK gives up on an
        # IncompleteRead with a status-less HttpResponseError): transit, so retry.
        if status == 0 or status in (408, 429) or status >= 500 or code in _TRANSIENT_CODES:
            headers = getattr(exc.response, "headers", None)
            return TransientError(message, _cloud.retry_after(headers))
        if status == 400 and code == "InvalidOperation" and "md5" in str(exc).lower():
            # Azurite's spelling of Md5Mismatch: "Provided contentMD5 doesn't match."
            return TransientError(f"{message}: body damaged in transit")
        return BackendError(f"{message}: {first_line(exc)}")


def _code(exc: HttpResponseError) -> str:
    """The service's error code (``x-ms-error-code``), or "" when it sent none."""
    code = getattr(exc, "error_code", None) or ""
    return str(getattr(code, "value", code))  # sometimes a StorageErrorCode enum member
