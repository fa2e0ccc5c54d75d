"""Azure driver against Azurite, with faults injected under the SDK's requests session.

Azurite differs from Azure where it matters here: it answers 409 (not 412)
to a create-only write of an existing blob, and InvalidOperation (not
Md5Mismatch) to a body whose Content-MD5 does not match. It does check the
shared key and the MD5, so those are tested end to end.
"""

from __future__ import annotations

import base64
import hashlib
import io
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import requests

from statesync.backends import parse_url
from statesync.backends._cloud import PART_SIZE, SINGLE_PUT_LIMIT
from statesync.backends.base import CREATE, Update
from statesync.backends.retry import RetryingBackend
from statesync.errors import (
    AlreadyExists,
    BackendUnavailable,
    NotFound,
    PreconditionFailed,
    TransientError,
)
from tests.backends.faults import (
    FaultAdapter,
    Handler,
    Reply,
    azure_error,
    body_bytes,
    closed_port,
    flip_one_byte,
    needs_emulator,
    no_sleep,
)

pytestmark = needs_emulator("azure")

azure = pytest.importorskip("statesync.backends.azure")

Faulty = Callable[..., tuple[Any, FaultAdapter]]


@pytest.fixture
def container(tmp_path: Path) -> str:
    from tests.cloud_rigs import azure_rig

    return parse_url(azure_rig(tmp_path) or "").bucket


@pytest.fixture
def faulty(container: str) -> Faulty:
    """Build a backend on ``container`` whose requests pass through a FaultAdapter."""

    def build(handler: Handler | None = None) -> tuple[Any, FaultAdapter]:
        from azure.core.pipeline.transport import RequestsTransport

        adapter = FaultAdapter(handler)
        session = requests.Session()
        session.mount("http://", adapter)
        service = azure.make_service(transport=RequestsTransport(session=session))
        return azure.AzureBackend(service.get_container_client(container), "store"), adapter

    return build


def test_every_upload_sends_content_md5_and_stores_the_hash(faulty: Faulty) -> None:
    backend, adapter = faulty()
    body = b"checked on the way in"
    backend.put("k", body)
    (put,) = adapter.requests_to("PUT")
    assert put.headers["Content-MD5"] == base64.b64encode(hashlib.md5(body).digest()).decode()
    assert put.headers["x-ms-meta-statesync_sha256"] == hashlib.sha256(body).hexdigest()


def test_blocks_carry_md5_and_the_commit_carries_the_condition(faulty: Faulty) -> None:
    backend, adapter = faulty()
    body = os.urandom(SINGLE_PUT_LIMIT + 1024 * 1024)
    v1 = backend.put("big", io.BytesIO(body), CREATE)
    blocks = adapter.requests_to("PUT", "comp=block&")
    assert len(blocks) == -(-len(body) // PART_SIZE)
    for block in blocks:
        md5 = base64.b64encode(hashlib.md5(body_bytes(block)).digest()).decode()
        assert block.headers["Content-MD5"] == md5
    (commit,) = adapter.requests_to("PUT", "comp=blocklist")
    assert commit.headers["If-None-Match"] == "*"
    backend.put("big", io.BytesIO(body), Update(v1))
    assert adapter.requests_to("PUT", "comp=blocklist")[1].headers["If-Match"] == v1.token
    assert backend.get("big")[0] == body


def test_a_body_damaged_in_transit_is_refused_and_the_retry_lands(faulty: Faulty) -> None:
    damaged: list[bool] = []

    def damage_once(request: requests.PreparedRequest) -> None:
        if request.method == "PUT" and not damaged:
            damaged.append(True)
            request.body = flip_one_byte(body_bytes(request), b"payload")

    backend, adapter = faulty(damage_once)
    with pytest.raises(TransientError, match="damaged in transit"):
        backend.put("k", b"the payload")
    assert adapter.statuses[-1] == 400  # Azurite checked the MD5 and refused
    with pytest.raises(NotFound):
        backend.head("k")
    damaged.clear()
    RetryingBackend(backend, sleep=no_sleep).put("k", b"the payload")
    assert backend.get("k")[0] == b"the payload"


def test_azurite_answers_409_to_a_repeated_create_and_that_is_already_exists(
    faulty: Faulty,
) -> None:
    backend, adapter = faulty()
    backend.put("k", b"one", CREATE)
    with pytest.raises(AlreadyExists):
        backend.put("k", b"two", CREATE)
    assert adapter.statuses[-1] == 409


def test_azure_answers_412_to_a_repeated_create_and_that_is_already_exists(
    faulty: Faulty,
) -> None:
    def refuse_writes(request: requests.PreparedRequest) -> Reply | None:
        # Put Blob and Put Block List answer 412; staging blocks goes through.
        staging = "comp=block&" in (request.url or "")
        return (
            azure_error(412, "ConditionNotMet") if request.method == "PUT" and not staging else None
        )

    backend, adapter = faulty(refuse_writes)
    with pytest.raises(AlreadyExists):
        backend.put("k", b"two", CREATE)
    size = SINGLE_PUT_LIMIT + 1024 * 1024
    with pytest.raises(AlreadyExists):
        backend.put("big", io.BytesIO(os.urandom(size)), CREATE)
    staged = adapter.requests_to("PUT", "comp=block&")
    assert len(staged) == -(-size // PART_SIZE)  # staged, then refused at commit


def test_update_of_a_gone_blob_is_a_precondition_failure_whatever_the_status(
    faulty: Faulty,
) -> None:
    backend, _ = faulty()
    v = backend.put("k", b"one")
    backend.delete("k")
    with pytest.raises(PreconditionFailed):
        backend.put("k", b"two", Update(v))  # Azurite: 412
    gone, _ = faulty(lambda r: azure_error(404, "BlobNotFound") if r.method == "PUT" else None)
    with pytest.raises(PreconditionFailed):
        gone.put("k", b"two", Update(v))
    with pytest.raises(PreconditionFailed):
        backend.delete("k", expected=v)


def test_a_503_storm_ends_in_backend_unavailable_after_bounded_attempts(faulty: Faulty) -> None:
    backend, adapter = faulty(lambda r: azure_error(503, "ServerBusy"))
    retrying = RetryingBackend(backend, attempts=3, sleep=no_sleep)
    with pytest.raises(BackendUnavailable, match="after 3 attempts"):
        retrying.get("k")
    assert len(adapter.seen) == 3 * (1 + azure.SDK_RETRIES)


def test_a_refused_connection_ends_in_backend_unavailable_naming_the_endpoint(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    endpoint = f"http://127.0.0.1:{closed_port()}/devstoreaccount1"
    good = os.environ["AZURE_STORAGE_CONNECTION_STRING"]
    monkeypatch.setenv("AZURE_STORAGE_CONNECTION_STRING", _with(good, "BlobEndpoint", endpoint))
    backend = RetryingBackend(azure.open_url(parse_url("az://c/p")), attempts=2, sleep=no_sleep)
    with pytest.raises(BackendUnavailable, match=f"after 2 attempts.*{endpoint}"):
        backend.head("k")


def test_a_wrong_shared_key_is_backend_unavailable(
    container: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    wrong = base64.b64encode(b"not the account key" * 3).decode()
    good = os.environ["AZURE_STORAGE_CONNECTION_STRING"]
    monkeypatch.setenv("AZURE_STORAGE_CONNECTION_STRING", _with(good, "AccountKey", wrong))
    backend = azure.open_url(parse_url(f"az://{container}/store"))
    with pytest.raises(BackendUnavailable, match="access denied"):
        backend.head("k")
    with pytest.raises(BackendUnavailable, match="access denied"):
        backend.put("k", b"x")


def _with(connection_string: str, field: str, value: str) -> str:
    parts = [p for p in connection_string.split(";") if p and not p.startswith(f"{field}=")]
    return ";".join([*parts, f"{field}={value}"]) + ";"


def test_a_throttling_answer_carries_its_retry_after(faulty: Faulty) -> None:
    def busy(request: requests.PreparedRequest) -> Reply:
        status, headers, body = azure_error(503, "ServerBusy")
        return status, {**headers, "x-ms-retry-after-ms": "2500"}, body

    backend, _ = faulty(busy)
    with pytest.raises(TransientError) as err:
        backend.get("k")
    assert err.value.retry_after == 2.5
