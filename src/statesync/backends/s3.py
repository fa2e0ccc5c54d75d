"""S3 driver (botocore, the SDK under boto3): ``s3://bucket/prefix``.

Credentials, region and endpoint come from the SDK's own chain (profiles,
``AWS_*`` variables, ``AWS_ENDPOINT_URL`` for moto or any S3-compatible
service). One client per backend; botocore clients are thread-safe.

Put modes map to S3 conditional writes: ``CREATE`` sends ``If-None-Match: *``
and ``Update`` sends ``If-Match: <etag>``, on PutObject for small bodies and
on CompleteMultipartUpload for large ones. The version token is the ETag,
quotes included, exactly as S3 returns it. Every upload carries
``x-amz-checksum-sha256`` (per part for multipart) so S3 rejects bytes damaged
in transit, and the body's hex SHA-256 in ``x-amz-meta-statesync-sha256``,
which :meth:`S3Backend.get` verifies.
"""

from __future__ import annotations

import base64
import contextlib
import functools
import hashlib
import os
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any, BinaryIO

from botocore.config import Config
from botocore.exceptions import (
    BotoCoreError,
    ClientError,
    HTTPClientError,
    IncompleteReadError,
    NoCredentialsError,
    PartialCredentialsError,
    ProfileNotFound,
    ResponseStreamingError,
)
from botocore.exceptions import ConnectionError as BotoConnectionError
from botocore.loaders import Loader, create_loader

from statesync.backends import _cloud
from statesync.backends._cloud import Body, BucketProbe, ChunkReader
from statesync.backends._driver import (
    CloudBackend,
    access_denied,
    already_exists,
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
    PreconditionFailed,
    RangeNotSatisfiable,
    TransientError,
    UsageError,
)

if TYPE_CHECKING:
    from statesync.backends import StoreUrl

META_SHA256 = "statesync-sha256"
# SDK-internal attempts: one quick retry for a stale pooled connection; the
# one retry wrapper (retry.py) decides everything else.
SDK_ATTEMPTS = 2
_AUTH_CODES = {
    "AccessDenied",
    "AllAccessDisabled",
    "ExpiredToken",
    "InvalidAccessKeyId",
    "InvalidToken",
    "SignatureDoesNotMatch",
    "TokenRefreshRequired",
}
_THROTTLE_CODES = {"SlowDown", "Throttling", "ThrottlingException", "RequestLimitExceeded"}
# S3 refused a body that arrived damaged or cut short; nothing was stored, so
# sending it again is the fix.
_TRANSIT_CODES = {"BadDigest", "XAmzContentSHA256Mismatch", "IncompleteBody", "RequestTimeout"}
_TRANSPORT_ERRORS = (
    BotoConnectionError,
    HTTPClientError,
    IncompleteReadError,
    ResponseStreamingError,
)


def make_client(
    *,
    region: str | None = None,
    endpoint: str | None = None,
    profile: str | None = None,
    **config: Any,
) -> Any:
    """An S3 client from a fresh botocore session, tuned for one backend shared by threads.

    Sessions share only the SDK's model loader (:func:`_data_loader`). The
    client is botocore's own (what boto3's ``Session.client`` returns too):
    going to botocore directly skips importing boto3 and s3transfer, about
    30 ms of every S3 command.

    ``region``, ``endpoint`` and ``profile`` (the store URL's options) win
    over the SDK's own chain (``AWS_REGION``, ``AWS_ENDPOINT_URL``,
    ``AWS_PROFILE``, ``~/.aws/config``). An unknown profile is a :class:`UsageError`.
    """
    settings: dict[str, Any] = {
        "max_pool_connections": _cloud.POOL_SIZE,
        "retries": {"mode": "standard", "total_max_attempts": SDK_ATTEMPTS},
        "connect_timeout": _cloud.CONNECT_TIMEOUT,
        "read_timeout": _cloud.READ_TIMEOUT,
        # We send x-amz-checksum-sha256 ourselves on every upload; this stops
        # botocore from adding a second (CRC32, aws-chunked) checksum.
        "request_checksum_calculation": "when_required",
        "response_checksum_validation": "when_required",
        # Every object byte we send (PutObject, UploadPart) is covered by that
        # signed x-amz-checksum-sha256, which S3 checks, and get() checks our
        # own hash: a SigV4 payload hash would hash each body a second time.
        # botocore already skips it over https; this skips it over http too.
        "s3": {"payload_signing_enabled": False},
    }
    settings.update(config)
    try:
        session = _botocore_session()
        if profile is not None:
            session.set_config_variable("profile", profile)
        return session.create_client(
            "s3", region_name=region, endpoint_url=endpoint, config=Config(**settings)
        )
    except ProfileNotFound as exc:  # (read when the client is made)
        raise UsageError(f"S3 store: {exc}") from None


@functools.cache
def _data_loader(data_path: str | None) -> Any:
    """The SDK's reader of its service models, shared by every session of this process.

    Each botocore session reads and parses its JSON models again (endpoints and
    the S3 model): a client took 167 ms, and 24 ms once a shared loader had them.
    The models never change, and the loader caches what it read, so the
    sessions share it; credentials, profile and region stay each session's own.
    ``data_path`` is the session's ``AWS_DATA_PATH`` (extra model folders), as
    botocore's own loader takes it.
    """
    # The search paths exactly as botocore's own factory makes them from AWS_DATA_PATH.
    paths = create_loader(data_path).search_paths
    return _Loader(extra_search_paths=paths, include_default_search_paths=False)


class _Loader(Loader):  # type: ignore[misc]
    """botocore's ``Loader``, told "is there a model of service X?" without a listing.

    botocore answers that with the sorted list of every service whose folder
    holds a model of that type: about 400 folders, each listed and probed,
    twice per client (the service model and its endpoint rules), 40 ms of each
    S3 command. Here the answer is a :class:`_KnownServices`, which looks only
    in the folder of the service asked for; the full list is still made where
    it is iterated (botocore's "unknown service" message).
    """

    def list_available_services(self, type_name: str) -> _KnownServices:
        return _KnownServices(self, type_name)


class _KnownServices:
    """The services that have a ``type_name`` model (as botocore finds them), looked up lazily."""

    def __init__(self, loader: Any, type_name: str) -> None:
        self._loader = loader
        self._type = type_name

    def __contains__(self, service: object) -> bool:
        if not isinstance(service, str) or not service or "/" in service or service[0] == ".":
            return False
        for folder in self._loader._potential_locations(service, must_exist=True, is_dir=True):
            for version in os.listdir(folder):
                if self._loader.file_loader.exists(os.path.join(folder, version, self._type)):
                    return True
        return False

    def __iter__(self) -> Iterator[str]:
        return iter(Loader.list_available_services(self._loader, self._type))


def _botocore_session() -> Any:
    from botocore.session import get_session

    session = get_session()
    session.register_component(
        "data_loader", _data_loader(session.get_config_variable("data_path"))
    )
    return session


def open_url(parsed: StoreUrl) -> S3Backend:
    """Open ``s3://bucket/prefix[?region=..&endpoint=..&profile=..]`` (lazily, by open_backend)."""
    client = make_client(
        region=parsed.option("region"),
        endpoint=parsed.option("endpoint"),
        profile=parsed.option("profile"),
    )
    return S3Backend(client, parsed.bucket, parsed.prefix)


def _b64_sha256(data: bytes) -> str:
    return base64.b64encode(hashlib.sha256(data).digest()).decode()


class S3Backend(CloudBackend):
    """A store in one S3 bucket under ``prefix``."""

    def __init__(self, client: Any, bucket: str, prefix: str = "") -> None:
        self.client = client
        self.bucket = bucket
        self.prefix = prefix.strip("/")
        self.where = f"S3 bucket {bucket!r} at {client.meta.endpoint_url}"
        self._probe = BucketProbe(self._bucket_exists, self.where)

    # --- reads -----------------------------------------------------------------

    def get(self, key: str) -> tuple[bytes, Version]:
        with self._faults(key):
            response = self.client.get_object(Bucket=self.bucket, Key=self._name(key))
            with contextlib.closing(response["Body"]) as stream:
                data = stream.read()
        stored = response.get("Metadata", {}).get(META_SHA256)
        return _cloud.verify(key, data, stored), Version(response["ETag"])

    def _read_range(self, key: str, start: int, length: int) -> bytes:
        span = f"bytes={start}-{start + length - 1}"
        response = self.client.get_object(Bucket=self.bucket, Key=self._name(key), Range=span)
        with contextlib.closing(response["Body"]) as stream:
            return bytes(stream.read())

    def open_read(self, key: str) -> BinaryIO:
        with self._faults(key):
            response = self.client.get_object(Bucket=self.bucket, Key=self._name(key))
        stream = response["Body"]
        chunks = stream.iter_chunks(chunk_size=1024 * 1024)
        return _cloud.reader(ChunkReader(chunks, lambda: self._faults(key), stream.close))

    def head(self, key: str) -> Meta:
        with self._faults(key):
            response = self.client.head_object(Bucket=self.bucket, Key=self._name(key))
        return Meta(
            key=key,
            size=int(response["ContentLength"]),
            version=Version(response["ETag"]),
            modified=_cloud.utc(response.get("LastModified")),
        )

    def list(self, prefix: str) -> Iterator[Meta]:
        pages = self.client.get_paginator("list_objects_v2").paginate(
            Bucket=self.bucket, Prefix=_cloud.full_key(self.prefix, prefix)
        )
        with self._faults(prefix):
            for page in pages:
                for item in page.get("Contents", []):
                    yield Meta(
                        key=_cloud.relative_key(self.prefix, item["Key"]),
                        size=int(item["Size"]),
                        version=Version(item["ETag"]),
                        modified=_cloud.utc(item.get("LastModified")),
                    )

    # --- writes ----------------------------------------------------------------

    def _conditions(self, mode: PutMode) -> dict[str, Any]:
        if mode is CREATE:
            return {"IfNoneMatch": "*"}
        if isinstance(mode, Update):
            return {"IfMatch": mode.expected.token}
        return {}

    def _upload(self, key: str, body: Body, mode: PutMode, conditions: dict[str, Any]) -> Version:
        if body.small:
            return self._put_single(key, body, conditions)
        return self._put_multipart(key, body, conditions)

    def delete(self, key: str, expected: Version | None = None) -> None:
        if expected is None:
            with self._faults(key):
                self.client.delete_object(Bucket=self.bucket, Key=self._name(key))
            return
        # S3 has honoured If-Match on DeleteObject since 2025-09 (moto too).
        with self._faults(key, Update(expected)):
            self.client.delete_object(
                Bucket=self.bucket, Key=self._name(key), **self._conditions(Update(expected))
            )

    def close(self) -> None:
        self.client.close()

    def _put_single(self, key: str, body: Body, conditions: dict[str, Any]) -> Version:
        response = self.client.put_object(
            Bucket=self.bucket,
            Key=self._name(key),
            Body=body.rewind(),  # streamed: a pack's parts are never joined
            ContentLength=body.size,
            ChecksumSHA256=base64.b64encode(bytes.fromhex(body.sha256)).decode(),
            Metadata={META_SHA256: body.sha256},
            **conditions,
        )
        return Version(response["ETag"])

    def _put_multipart(self, key: str, body: Body, conditions: dict[str, Any]) -> Version:
        name = self._name(key)
        upload = self.client.create_multipart_upload(
            Bucket=self.bucket,
            Key=name,
            Metadata={META_SHA256: body.sha256},
            ChecksumAlgorithm="SHA256",
        )
        upload_id = upload["UploadId"]
        try:
            parts = [
                self._upload_part(name, upload_id, number, piece)
                for number, piece in enumerate(body.parts(), start=1)
            ]
            # The condition sits on the completion: nothing is visible before it.
            response = self.client.complete_multipart_upload(
                Bucket=self.bucket,
                Key=name,
                UploadId=upload_id,
                MultipartUpload={"Parts": parts},
                **conditions,
            )
        except BaseException:
            with contextlib.suppress(ClientError, BotoCoreError):  # best effort; ours is raised
                self.client.abort_multipart_upload(Bucket=self.bucket, Key=name, UploadId=upload_id)
            raise
        return Version(response["ETag"])

    def _upload_part(self, name: str, upload_id: str, number: int, piece: bytes) -> dict[str, Any]:
        checksum = _b64_sha256(piece)
        response = self.client.upload_part(
            Bucket=self.bucket,
            Key=name,
            UploadId=upload_id,
            PartNumber=number,
            Body=piece,
            ChecksumSHA256=checksum,
        )
        return {"PartNumber": number, "ETag": response["ETag"], "ChecksumSHA256": checksum}

    # --- names and faults ----------------------------------------------------------

    def _bucket_exists(self) -> bool:
        try:
            self.client.head_bucket(Bucket=self.bucket)
        except ClientError as exc:
            return _status(exc) != 404
        return True

    @contextlib.contextmanager
    def _faults(self, key: str, mode: PutMode | None = None) -> Iterator[None]:
        """Translate boto3 faults by the mode of the call (see ARCHITECTURE.md §6)."""
        try:
            yield
        except ClientError as exc:
            raise self._translate(exc, key, mode) from exc
        except (NoCredentialsError, PartialCredentialsError) as exc:
            raise _cloud.unavailable(f"no usable AWS credentials for {self.where}", exc) from exc
        except _TRANSPORT_ERRORS as exc:
            raise unreachable(self.where, exc) from exc
        except BotoCoreError as exc:
            raise BackendError(f"{self.where}: {exc}") from exc

    def _translate(self, exc: ClientError, key: str, mode: PutMode | None) -> BackendError:
        code = exc.response.get("Error", {}).get("Code", "")
        status = _status(exc)
        message = f"{key!r} in {self.where}: {code or status}"
        if code == "NoSuchBucket":
            return missing_bucket(self.where)
        if code in ("ConditionalRequestConflict", "OperationAborted"):
            # S3 answers 409 while another conditional write to the key is in
            # flight; the outcome is undecided, so the wrapper tries again.
            return TransientError(message)
        if status == 412:
            # S3 and moto both answer 412 PreconditionFailed, for either condition.
            if mode is CREATE:
                return already_exists(key, self.where)
            return PreconditionFailed(f"{key!r} changed in {self.where}")
        if status == 404 and code == "NoSuchUpload":
            return TransientError(message)  # our multipart upload was aborted under us
        if status == 404 and isinstance(mode, Update):
            # S3 answers 404 NoSuchKey (not 412) when If-Match names a key that is gone.
            return PreconditionFailed(f"{key!r} is gone from {self.where}")
        if status == 404:
            if code != "NoSuchKey":
                self._probe.check()  # HEAD answers a bare 404 for a missing bucket too
            return not_found(key, self.where)
        if status == 416:
            return RangeNotSatisfiable(message)
        if status in (401, 403) or code in _AUTH_CODES:
            return access_denied(self.where, code or status)
        if status == 429 or status >= 500 or code in _THROTTLE_CODES | _TRANSIT_CODES:
            headers = exc.response.get("ResponseMetadata", {}).get("HTTPHeaders", {})
            return TransientError(message, _cloud.retry_after(headers))
        return BackendError(f"{message}: {exc}")


def _status(exc: ClientError) -> int:
    return int(exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0))
