"""S3 driver against moto, with faults injected through botocore's event hooks.

moto does not check client checksums, never answers 409, and ignores
If-Match on CompleteMultipartUpload; these tests prove what our client sends
and how it reads the answers real S3 gives.
"""

from __future__ import annotations

import base64
import hashlib
import io
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import botocore.auth
import pytest

from statesync.backends import parse_url
from statesync.backends._cloud import PART_SIZE, SINGLE_PUT_LIMIT
from statesync.backends.base import CREATE, Digested, Update, Version
from statesync.backends.retry import RetryingBackend
from statesync.errors import (
    AlreadyExists,
    BackendUnavailable,
    IntegrityError,
    NotFound,
    PreconditionFailed,
    TransientError,
)
from tests.backends.faults import (
    aws_response,
    body_bytes,
    closed_port,
    flip_one_byte,
    header,
    needs_emulator,
    no_sleep,
)

pytestmark = needs_emulator("s3")

s3 = pytest.importorskip("statesync.backends.s3")


@pytest.fixture
def backend(tmp_path: Path) -> Iterator[Any]:
    from tests.cloud_rigs import s3_rig

    url = parse_url(s3_rig(tmp_path) or "")
    b = s3.S3Backend(s3.make_client(), url.bucket, url.prefix)
    yield b
    b.close()


def hook(backend: Any, event: str, handler: Any) -> None:
    backend.client.meta.events.register(f"before-send.s3.{event}", handler)


def test_every_put_sends_the_sha256_checksum_and_stores_the_hash(backend: Any) -> None:
    sent: list[Any] = []
    hook(backend, "PutObject", lambda request, **_: sent.append(request))
    body = b"checked on the way in"
    backend.put("k", body)
    digest = hashlib.sha256(body)
    assert header(sent[0], "x-amz-checksum-sha256") == base64.b64encode(digest.digest()).decode()
    assert header(sent[0], "x-amz-meta-statesync-sha256") == digest.hexdigest()


def test_a_digested_body_sends_its_stated_hash_and_is_not_hashed_again(
    backend: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    sent: list[Any] = []
    hook(backend, "PutObject", lambda request, **_: sent.append(request))
    body = b"a pack whose id is its hash"
    digest = hashlib.sha256(body)
    real = hashlib.sha256

    def guarded(data: bytes = b"", **kw: Any) -> Any:
        assert body not in bytes(data), "hashed a body whose SHA-256 was given"
        hasher = real(**kw)
        hasher.update(data)
        return _Guarded(hasher, body)

    # Neither the driver nor botocore's signer may hash the body again.
    monkeypatch.setattr(hashlib, "sha256", guarded)
    monkeypatch.setattr(botocore.auth, "sha256", guarded)
    backend.put("p", Digested([body[:7], body[7:]], digest.hexdigest()), CREATE)
    monkeypatch.undo()
    assert header(sent[0], "x-amz-checksum-sha256") == base64.b64encode(digest.digest()).decode()
    assert header(sent[0], "x-amz-meta-statesync-sha256") == digest.hexdigest()
    # The body is covered by the signed checksum header, not by a second payload hash.
    assert header(sent[0], "X-Amz-Content-SHA256") == "UNSIGNED-PAYLOAD"
    assert "x-amz-checksum-sha256" in header(sent[0], "Authorization")
    assert backend.get("p")[0] == body


class _Guarded:
    """A hasher that fails if fed ``body``; anything else goes to the real one."""

    def __init__(self, inner: Any, body: bytes) -> None:
        self._inner = inner
        self._body = body

    def update(self, data: bytes) -> None:
        assert self._body not in bytes(data), "hashed a body whose SHA-256 was given"
        self._inner.update(data)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)


def test_multipart_parts_carry_checksums_and_the_completion_carries_the_condition(
    backend: Any,
) -> None:
    seen: dict[str, list[Any]] = {"UploadPart": [], "CompleteMultipartUpload": []}
    for event, requests in seen.items():
        hook(backend, event, lambda request, _r=requests, **_: _r.append(request))
    body = os.urandom(SINGLE_PUT_LIMIT + 1024 * 1024)
    v1 = backend.put("big", io.BytesIO(body), CREATE)
    parts = seen["UploadPart"]
    assert len(parts) == -(-len(body) // PART_SIZE)
    for part in parts:
        piece = body_bytes(part)
        expected = base64.b64encode(hashlib.sha256(piece).digest()).decode()
        assert header(part, "x-amz-checksum-sha256") == expected
    assert header(seen["CompleteMultipartUpload"][0], "If-None-Match") == "*"
    backend.put("big", io.BytesIO(body), Update(v1))
    assert header(seen["CompleteMultipartUpload"][1], "If-Match") == v1.token


def test_a_body_damaged_in_transit_is_caught_by_the_stored_hash(backend: Any) -> None:
    # moto stores whatever arrives, checksum or not; real S3 would answer BadDigest.
    def damage(request: Any, **_: Any) -> None:
        request.body = flip_one_byte(body_bytes(request), b"payload")

    hook(backend, "PutObject", damage)
    backend.put("k", b"the payload")
    with pytest.raises(IntegrityError, match="'k'"):
        backend.get("k")


def test_s3_refusing_a_damaged_body_is_transient_and_the_retry_lands(backend: Any) -> None:
    answers = iter([aws_response, None])

    def bad_digest_once(request: Any, **_: Any) -> Any:
        make = next(answers, None)
        return make(request, 400, "BadDigest") if make else None

    hook(backend, "PutObject", bad_digest_once)
    with pytest.raises(TransientError):
        backend.put("k", b"x")
    retrying = RetryingBackend(backend, sleep=no_sleep)
    retrying.put("k", b"body")
    assert backend.get("k")[0] == b"body"


def test_update_of_a_deleted_key_answers_404_and_is_a_precondition_failure(backend: Any) -> None:
    statuses: list[int] = []
    backend.client.meta.events.register(
        "after-call.s3.PutObject",
        lambda http_response, **_: statuses.append(http_response.status_code),
    )
    v = backend.put("k", b"one")
    backend.delete("k")
    with pytest.raises(PreconditionFailed):
        backend.put("k", b"two", Update(v))
    assert statuses[-1] == 404  # the S3 quirk this mapping exists for


def test_conditional_request_conflict_is_transient_and_retried(backend: Any) -> None:
    injected: list[int] = []

    def conflict_once(request: Any, **_: Any) -> Any:
        if injected:
            return None
        injected.append(409)
        return aws_response(request, 409, "ConditionalRequestConflict")

    hook(backend, "PutObject", conflict_once)
    with pytest.raises(TransientError):
        backend.put("k", b"x", CREATE)
    injected.clear()
    v = RetryingBackend(backend, sleep=no_sleep).put("k", b"x", CREATE)
    assert injected == [409]
    assert backend.head("k").version == v


def test_a_503_storm_ends_in_backend_unavailable_after_bounded_attempts(backend: Any) -> None:
    calls: list[Any] = []

    def storm(request: Any, **_: Any) -> Any:
        calls.append(request)
        return aws_response(request, 503, "SlowDown")

    hook(backend, "GetObject", storm)
    retrying = RetryingBackend(backend, attempts=3, sleep=no_sleep)
    with pytest.raises(BackendUnavailable, match="after 3 attempts"):
        retrying.get("k")
    assert len(calls) == 3 * s3.SDK_ATTEMPTS


def test_a_refused_connection_ends_in_backend_unavailable_naming_the_endpoint(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    endpoint = f"http://127.0.0.1:{closed_port()}"
    monkeypatch.setenv("AWS_ENDPOINT_URL", endpoint)
    backend = RetryingBackend(s3.S3Backend(s3.make_client(), "bucket"), attempts=2, sleep=no_sleep)
    with pytest.raises(BackendUnavailable, match=f"after 2 attempts.*{endpoint}"):
        backend.head("k")


def test_a_missing_key_in_an_existing_bucket_stays_not_found(backend: Any) -> None:
    with pytest.raises(NotFound):
        backend.head("nope")  # HEAD's bare 404 probes the bucket once
    with pytest.raises(NotFound):
        backend.head("nope")


def test_large_create_on_an_existing_key_fails_before_uploading_parts(backend: Any) -> None:
    backend.put("big", b"small")
    parts: list[Any] = []
    hook(backend, "UploadPart", lambda request, **_: parts.append(request))
    with pytest.raises(AlreadyExists):
        backend.put("big", io.BytesIO(os.urandom(SINGLE_PUT_LIMIT + 1024 * 1024)), CREATE)
    assert parts == []


def test_a_stale_etag_on_a_large_update_is_refused(backend: Any) -> None:
    backend.put("big", b"one")
    with pytest.raises(PreconditionFailed):
        large = io.BytesIO(os.urandom(SINGLE_PUT_LIMIT + 1024 * 1024))
        backend.put("big", large, Update(Version('"stale"')))


def test_a_throttling_answer_carries_its_retry_after(backend: Any) -> None:
    hook(
        backend,
        "GetObject",
        lambda request, **_: aws_response(request, 503, "SlowDown", headers={"Retry-After": "3"}),
    )
    with pytest.raises(TransientError) as err:
        backend.get("k")
    assert err.value.retry_after == 3
