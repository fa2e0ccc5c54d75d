"""GCS driver against fake-gcs-server, with faults injected under the SDK's requests session.

fake-gcs-server ignores ifGenerationMatch on resumable uploads, deletes and
downloads, and never checks the CRC32C/MD5 a client sends. These tests prove
what our client sends on those requests, how it reads the answers real GCS
gives (injected here), and that the stored SHA-256 still catches what the
emulator let through.
"""

from __future__ import annotations

import base64
import hashlib
import io
import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
import requests

from statesync.backends import parse_url
from statesync.backends._cloud import SINGLE_PUT_LIMIT
from statesync.backends.base import CREATE, OVERWRITE, Update, Version
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
    FaultAdapter,
    Handler,
    Reply,
    body_bytes,
    closed_port,
    flip_one_byte,
    gcs_error,
    needs_emulator,
    no_sleep,
)

pytestmark = needs_emulator("gcs")

gcs = pytest.importorskip("statesync.backends.gcs")
google_crc32c = pytest.importorskip("google_crc32c")

Faulty = Callable[..., tuple[Any, FaultAdapter]]
LARGE = SINGLE_PUT_LIMIT + 1024 * 1024  # above the single-request limit: resumable


@pytest.fixture
def bucket(tmp_path: Path) -> str:
    from tests.cloud_rigs import gcs_rig

    return parse_url(gcs_rig(tmp_path) or "").bucket


@pytest.fixture
def faulty(bucket: str) -> Faulty:
    """Build a backend on ``bucket`` whose requests pass through a FaultAdapter."""

    def build(handler: Handler | None = None) -> tuple[Any, FaultAdapter]:
        client = gcs.make_client()
        adapter = FaultAdapter(handler)
        client._http.mount("http://", adapter)
        return gcs.GCSBackend(client, bucket, "store"), adapter

    return build


def query(request: requests.PreparedRequest) -> dict[str, list[str]]:
    return parse_qs(urlsplit(request.url or "").query)


def crc32c_b64(data: bytes) -> str:
    return base64.b64encode(google_crc32c.value(data).to_bytes(4, "big")).decode()


def resource_of(initiation: requests.PreparedRequest) -> dict[str, Any]:
    """The object resource (JSON) a resumable upload starts with."""
    return dict(json.loads(body_bytes(initiation)))


def test_small_uploads_send_crc32c_and_the_precondition_in_one_request(faulty: Faulty) -> None:
    backend, adapter = faulty()
    body = b"checked on the way in"
    v = backend.put("k", body, CREATE)
    (upload,) = adapter.requests_to("POST", "uploadType=multipart")
    assert query(upload)["ifGenerationMatch"] == ["0"]
    sent = body_bytes(upload)
    assert f'"crc32c": "{crc32c_b64(body)}"'.encode() in sent
    assert b'"statesync-sha256"' in sent
    backend.put("k", b"next", Update(v))
    assert query(adapter.requests_to("POST", "uploadType=multipart")[1])["ifGenerationMatch"] == [
        v.token
    ]


def test_resumable_uploads_send_the_precondition_and_the_whole_crc32c(faulty: Faulty) -> None:
    backend, adapter = faulty()
    body = os.urandom(LARGE)
    v = backend.put("big", io.BytesIO(body), CREATE)
    (start,) = adapter.requests_to("POST", "uploadType=resumable")
    assert query(start)["ifGenerationMatch"] == ["0"]
    assert resource_of(start)["crc32c"] == crc32c_b64(body)
    assert resource_of(start)["metadata"]["statesync-sha256"] == hashlib.sha256(body).hexdigest()
    backend.put("big", io.BytesIO(body), Update(v))
    assert query(adapter.requests_to("POST", "uploadType=resumable")[1])["ifGenerationMatch"] == [
        v.token
    ]
    assert backend.get("big")[0] == body


def test_emulator_gap_resumable_uploads_ignore_the_precondition(faulty: Faulty) -> None:
    """The gap the tests above stand in for: if this fails, fake-gcs-server fixed it."""
    backend, _ = faulty()
    backend.put("big", b"present")
    blob = backend.bucket.blob("store/big", chunk_size=8 * 1024 * 1024)
    blob.upload_from_file(io.BytesIO(os.urandom(LARGE)), size=LARGE, if_generation_match=0)
    assert backend.head("big").size == LARGE  # landed despite ifGenerationMatch=0


def test_gcs_refusing_a_resumable_upload_at_the_end_is_translated_by_mode(
    faulty: Faulty,
) -> None:
    def refuse_last_chunk(request: requests.PreparedRequest) -> Reply | None:
        last = request.method == "PUT" and f"/{LARGE}" in request.headers.get("Content-Range", "")
        return gcs_error(412, "Precondition Failed") if last else None

    backend, _ = faulty(refuse_last_chunk)
    with pytest.raises(AlreadyExists):
        backend.put("big", io.BytesIO(os.urandom(LARGE)), CREATE)
    v = backend.put("big", b"small")
    with pytest.raises(PreconditionFailed):
        backend.put("big", io.BytesIO(os.urandom(LARGE)), Update(v))


def test_conditional_delete_sends_the_generation_and_its_refusals_are_precondition_failed(
    faulty: Faulty,
) -> None:
    backend, adapter = faulty()
    v = backend.put("k", b"one")
    backend.delete("k", expected=v)
    (delete,) = adapter.requests_to("DELETE")
    assert query(delete)["ifGenerationMatch"] == [v.token]
    for status in (412, 404):  # changed; gone
        refusing, _ = faulty(lambda r, s=status: gcs_error(s) if r.method == "DELETE" else None)
        refusing.put("k", b"again")
        with pytest.raises(PreconditionFailed):
            refusing.delete("k", expected=Version("1"))


def test_emulator_gap_deletes_ignore_the_precondition(faulty: Faulty) -> None:
    """The gap itself, pinned: if fake-gcs-server ever enforces it, this fails."""
    plain, adapter = faulty()
    plain.put("k", b"one")
    plain.delete("k", expected=Version("1"))  # fake-gcs-server deletes anyway
    with pytest.raises(NotFound):
        plain.head("k")
    [delete] = adapter.requests_to("DELETE")
    assert "ifGenerationMatch=1" in (delete.url or "")


def test_a_body_damaged_in_transit_is_caught_by_the_stored_hash(
    faulty: Faulty, monkeypatch: pytest.MonkeyPatch
) -> None:
    def damage(request: requests.PreparedRequest) -> None:
        if request.method == "POST" and "uploadType=multipart" in (request.url or ""):
            request.body = flip_one_byte(body_bytes(request), b"payload")

    backend, _ = faulty(damage)
    backend.put("k", b"the payload", OVERWRITE)  # fake-gcs-server does not check the CRC32C
    with pytest.raises(IntegrityError, match="'k'"):
        backend.get("k")
    # The same when the answer lacks the metadata header and get asks for it.
    monkeypatch.setattr(gcs, "_META_HEADER", "x-goog-meta-absent")
    with pytest.raises(IntegrityError, match="'k'"):
        backend.get("k")


def test_gcs_refusing_a_checksum_mismatch_is_transient_and_the_retry_lands(
    faulty: Faulty,
) -> None:
    refused: list[bool] = []

    def refuse_once(request: requests.PreparedRequest) -> Reply | None:
        if request.method != "POST" or refused:
            return None
        refused.append(True)
        return gcs_error(400, 'Provided CRC32C "AAAAAA==" doesn\'t match calculated CRC32C "x".')

    backend, _ = faulty(refuse_once)
    with pytest.raises(TransientError, match="damaged in transit"):
        backend.put("k", b"body")
    refused.clear()
    RetryingBackend(backend, sleep=no_sleep).put("k", b"body")
    assert backend.get("k")[0] == b"body"


def test_a_503_storm_ends_in_backend_unavailable_after_bounded_attempts(faulty: Faulty) -> None:
    backend, adapter = faulty(lambda r: gcs_error(503, "Service Unavailable"))
    retrying = RetryingBackend(backend, attempts=3, sleep=no_sleep)
    with pytest.raises(BackendUnavailable, match="after 3 attempts"):
        retrying.get("k")
    assert len(adapter.seen) == 3, [r.url for r in adapter.seen]  # no google retries, no extras


def test_a_refused_connection_ends_in_backend_unavailable_naming_the_endpoint(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    endpoint = f"http://127.0.0.1:{closed_port()}"
    monkeypatch.setenv("STORAGE_EMULATOR_HOST", endpoint)
    backend = RetryingBackend(gcs.open_url(parse_url("gs://b/p")), attempts=2, sleep=no_sleep)
    with pytest.raises(BackendUnavailable, match=f"after 2 attempts.*{endpoint}"):
        backend.head("k")


def test_reads_past_the_end_are_empty_and_leave_the_client_usable(bucket: str) -> None:
    backend = gcs.open_url(parse_url(f"gs://{bucket}/store"))
    backend.put("k", b"0123456789")
    for _ in range(5):
        assert backend.get_range("k", 10, 5) == b""
        assert backend.get_range("k", 50, 5) == b""
        assert backend.get_range("k", 8, 5) == b"89"
    assert backend.head("k").size == 10


@pytest.mark.parametrize(
    ("status", "reason", "message"),
    [  # A 401 makes google-auth refresh the token; the emulator's anonymous one cannot be.
        (401, "Invalid Credentials", "no usable Google credentials for GCS bucket"),
        (403, "does not have storage.objects.get", "access denied to GCS bucket .*403"),
    ],
)
def test_refused_credentials_are_backend_unavailable_at_once(
    faulty: Faulty, status: int, reason: str, message: str
) -> None:
    # fake-gcs-server accepts any token; these are the answers GCS gives.
    backend, adapter = faulty(lambda r: gcs_error(status, reason))
    retrying = RetryingBackend(backend, attempts=3, sleep=no_sleep)
    with pytest.raises(BackendUnavailable, match=message):
        retrying.get("k")
    assert len(adapter.seen) == 1  # not retried: waiting will not fix credentials
    with pytest.raises(BackendUnavailable, match=message):
        retrying.put("k", b"x", CREATE)


def test_a_throttling_answer_carries_its_retry_after(faulty: Faulty) -> None:
    def throttled(request: requests.PreparedRequest) -> Reply:
        status, headers, body = gcs_error(429, "rateLimitExceeded")
        return status, {**headers, "Retry-After": "4"}, body

    backend, _ = faulty(throttled)
    with pytest.raises(TransientError) as err:
        backend.get("k")
    assert err.value.retry_after == 4


def test_a_read_racing_a_writer_is_retried_by_the_one_wrapper_only(
    faulty: Faulty, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Real GCS sends no metadata with a download, so get() asks for that
    # generation's metadata in a second request; answer it 412 every time, as
    # GCS does when a writer replaced the object in between.
    monkeypatch.setattr(gcs, "_META_HEADER", "x-goog-meta-not-sent")

    def replaced(request: requests.PreparedRequest) -> Reply | None:
        url = request.url or ""
        if request.method == "GET" and "alt=media" not in url and "ifGenerationMatch" in url:
            return gcs_error(412, "conditionNotMet")
        return None

    backend, adapter = faulty()
    backend.put("k", b"body")
    adapter.handler = replaced
    adapter.seen.clear()
    with pytest.raises(TransientError, match="changed while being read"):
        backend.get("k")  # the driver alone does not retry
    assert len(adapter.requests_to("GET", "alt=media")) == 1
    adapter.seen.clear()
    retrying = RetryingBackend(backend, attempts=3, sleep=no_sleep)
    with pytest.raises(BackendUnavailable, match="after 3 attempts"):
        retrying.get("k")
    downloads = adapter.requests_to("GET", "alt=media")
    assert len(downloads) == 3, [r.url for r in adapter.seen]  # 3, not 3 x 5
    adapter.handler = None
    assert retrying.get("k")[0] == b"body"
