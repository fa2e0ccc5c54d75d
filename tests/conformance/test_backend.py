"""One behaviour per test; every backend in tests/rigs.py runs all of them."""

from __future__ import annotations

import hashlib
import io
import os
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor

import pytest

from statesync.backends import open_backend
from statesync.backends.base import CREATE, OVERWRITE, Backend, Digested, Update
from statesync.errors import AlreadyExists, NotFound, PreconditionFailed, TransientError
from tests.cloud_rigs import on_emulator


def test_put_then_get_returns_body_and_the_same_version(backend: Backend) -> None:
    v = backend.put("a/b/obj", b"hello")
    body, got = backend.get("a/b/obj")
    assert body == b"hello"
    assert got == v
    assert backend.head("a/b/obj").version == v
    assert backend.head("a/b/obj").size == 5


def test_a_digested_body_is_stored_as_its_parts_joined(backend: Backend) -> None:
    parts = [b"pack ", b"", b"bytes"]
    digest = hashlib.sha256(b"pack bytes").hexdigest()
    v = backend.put("objects/p", Digested(parts, digest), CREATE)
    assert backend.get("objects/p") == (b"pack bytes", v)
    assert backend.head("objects/p").size == len(b"pack bytes")
    with pytest.raises(AlreadyExists):
        backend.put("objects/p", Digested(parts, digest), CREATE)


def test_missing_key_is_not_found_for_every_read(backend: Backend) -> None:
    with pytest.raises(NotFound):
        backend.get("nope")
    with pytest.raises(NotFound):
        backend.head("nope")
    with pytest.raises(NotFound):
        backend.open_read("nope").read()
    with pytest.raises(NotFound):
        backend.get_range("nope", 0, 1)


def test_overwrite_replaces_and_changes_version(backend: Backend) -> None:
    v1 = backend.put("k", b"one", OVERWRITE)
    v2 = backend.put("k", b"two", OVERWRITE)
    assert v1 != v2
    assert backend.get("k") == (b"two", v2)


def test_create_only_when_absent(backend: Backend) -> None:
    v = backend.put("k", b"first", CREATE)
    with pytest.raises(AlreadyExists):
        backend.put("k", b"second", CREATE)
    assert backend.get("k") == (b"first", v)


def test_update_succeeds_only_at_the_expected_version(backend: Backend) -> None:
    v1 = backend.put("k", b"one")
    v2 = backend.put("k", b"two", Update(v1))
    assert v2 != v1
    with pytest.raises(PreconditionFailed):
        backend.put("k", b"three", Update(v1))
    assert backend.get("k") == (b"two", v2)


def test_update_of_a_missing_key_is_a_precondition_failure(backend: Backend) -> None:
    v = backend.put("k", b"one")
    backend.delete("k")
    with pytest.raises(PreconditionFailed):
        backend.put("k", b"two", Update(v))
    with pytest.raises(NotFound):
        backend.get("k")


def test_delete_is_idempotent_without_expected(backend: Backend) -> None:
    backend.put("k", b"x")
    backend.delete("k")
    backend.delete("k")
    with pytest.raises(NotFound):
        backend.head("k")


def test_conditional_delete_checks_the_version(
    backend: Backend, store_url: str, request: pytest.FixtureRequest
) -> None:
    if store_url.startswith("gs://") and on_emulator("gcs"):
        request.applymarker(
            pytest.mark.xfail(
                strict=True,
                reason="fake-gcs-server ignores ifGenerationMatch on DELETE; "
                "tests/backends/test_gcs_faults.py shows the driver sends it",
            )
        )
    v1 = backend.put("k", b"one")
    v2 = backend.put("k", b"two")
    with pytest.raises(PreconditionFailed):
        backend.delete("k", expected=v1)
    assert backend.get("k")[0] == b"two"
    backend.delete("k", expected=v2)
    with pytest.raises(NotFound):
        backend.get("k")


def test_list_yields_prefix_matches_in_key_order_with_versions(backend: Backend) -> None:
    versions = {k: backend.put(k, k.encode()) for k in ["refs/b", "refs/a", "refs/sub/c", "snap/x"]}
    metas = list(backend.list("refs/"))
    assert [m.key for m in metas] == ["refs/a", "refs/b", "refs/sub/c"]
    for m in metas:
        assert m.version == versions[m.key]
        assert m.size == len(m.key)
    assert [m.key for m in backend.list("refs/s")] == ["refs/sub/c"]
    assert list(backend.list("none/")) == []


def test_get_range_returns_the_slice(backend: Backend) -> None:
    backend.put("r", bytes(range(256)) * 4)
    assert backend.get_range("r", 10, 5) == bytes(range(10, 15))
    assert backend.get_range("r", 1020, 100) == bytes(range(252, 256))


def test_large_stream_round_trips(backend: Backend) -> None:
    body = os.urandom(34 * 1024 * 1024 + 17)  # above the clouds' single-request limit
    v = backend.put("big", io.BytesIO(body), CREATE)
    assert backend.head("big").size == len(body)
    assert backend.head("big").version == v
    with backend.open_read("big") as fh:
        assert fh.read() == body
    with pytest.raises(AlreadyExists):
        backend.put("big", io.BytesIO(b"other"), CREATE)


def _increment(url: str, key: str, times: int) -> int:
    """Read-then-conditional-put ``times`` increments; return the retries needed."""
    backend = open_backend(url)
    retries = 0
    for _ in range(times):
        while True:
            try:
                body, version = backend.get(key)
                backend.put(key, str(int(body) + 1).encode(), Update(version))
                break
            except (PreconditionFailed, NotFound, TransientError):
                # TransientError: S3's 409 ConditionalRequestConflict under contention.
                retries += 1
    backend.close()
    return retries


def test_concurrent_increments_never_lose_an_update(backend: Backend, store_url: str) -> None:
    workers, times = 4, 10
    backend.put("counter", b"0", CREATE)
    # memory:// lives in one process, so its writers are threads; every other
    # backend is shared between real processes.
    pool_cls = ThreadPoolExecutor if store_url.startswith("memory://") else ProcessPoolExecutor
    with pool_cls(max_workers=workers) as pool:
        futures = [pool.submit(_increment, store_url, "counter", times) for _ in range(workers)]
        sum(f.result() for f in futures)
    assert backend.get("counter")[0] == str(workers * times).encode()
