"""Behaviour every cloud driver shares beyond the conformance suite.

Streams that cannot seek, empty objects, a stream handed over mid-way,
store timestamps, one backend used from many threads, and the rule that
nothing outside the drivers imports a cloud SDK.
"""

from __future__ import annotations

import hashlib
import io
import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from statesync.backends import open_backend
from statesync.backends._cloud import SINGLE_PUT_LIMIT, BucketProbe, PartsReader, prepare
from statesync.backends.base import CREATE, Backend, Digested, Update
from statesync.errors import BackendUnavailable, IntegrityError, NotFound, PreconditionFailed
from tests.cloud_rigs import RIGS


@pytest.fixture(params=sorted(RIGS))
def backend(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Backend]:
    url = RIGS[request.param](tmp_path)
    if url is None:
        pytest.skip(f"{request.param} emulator not started")
    b = open_backend(url)
    yield b
    b.close()


class OneWay(io.RawIOBase):
    """A stream that can only be read forward, like a pipe."""

    def __init__(self, data: bytes) -> None:
        self._data = io.BytesIO(data)

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: bytearray | memoryview) -> int:  # type: ignore[override]
        chunk = self._data.read(min(len(buffer), 300_000))
        buffer[: len(chunk)] = chunk
        return len(chunk)


def test_a_large_stream_that_cannot_seek_round_trips(backend: Backend) -> None:
    body = os.urandom(SINGLE_PUT_LIMIT + 3 * 1024 * 1024 + 1)
    v = backend.put("pipe", OneWay(body), CREATE)  # type: ignore[arg-type]
    assert backend.head("pipe").version == v
    with backend.open_read("pipe") as fh:
        assert fh.read(10) == body[:10]
        assert fh.read() == body[10:]
    assert backend.get("pipe")[0] == body


def test_a_stream_is_read_from_where_it_stands(backend: Backend) -> None:
    stream = io.BytesIO(b"skip me|keep me")
    stream.seek(8)
    backend.put("k", stream)
    assert backend.get("k")[0] == b"keep me"


def test_empty_objects_round_trip(backend: Backend) -> None:
    v = backend.put("empty", b"", CREATE)
    assert backend.get("empty") == (b"", v)
    assert backend.head("empty").size == 0
    assert backend.get_range("empty", 0, 10) == b""
    with backend.open_read("empty") as fh:
        assert fh.read() == b""


def test_missing_keys_are_not_found_for_ranges_of_any_length(backend: Backend) -> None:
    for length in (0, 1, 100):
        with pytest.raises(NotFound):
            backend.get_range("nope", 0, length)


def test_head_and_list_give_the_stores_own_utc_timestamps(backend: Backend) -> None:
    backend.put("t/k", b"x")
    now = datetime.now(UTC)
    for meta in (backend.head("t/k"), *backend.list("t/")):
        assert meta.modified is not None
        assert meta.modified.tzinfo is not None
        assert abs(meta.modified - now) < timedelta(minutes=5)


def test_a_bare_version_from_another_store_is_refused_not_crashing(backend: Backend) -> None:
    v = backend.put("k", b"one")
    other = type(v)("not-a-version")
    with pytest.raises(PreconditionFailed):
        backend.put("k", b"two", Update(other))
    with pytest.raises(PreconditionFailed):
        backend.delete("k", expected=other)


def test_a_missing_bucket_is_backend_unavailable_for_every_verb(backend: Backend) -> None:
    version = backend.put("k", b"x")  # a version of this service's form
    name = f"statesync-no-such-{uuid.uuid4().hex[:12]}"
    missing = open_backend(f"{backend.url.split(':', 1)[0]}://{name}/store")
    for verb in (
        lambda: missing.head("k"),
        lambda: missing.get("k"),
        lambda: missing.put("k", b"x"),
        lambda: missing.put("k", b"x", CREATE),
        lambda: list(missing.list("")),
        lambda: missing.delete("k"),
        lambda: missing.delete("k", version),
    ):
        with pytest.raises(BackendUnavailable, match=name):
            verb()


def test_one_backend_serves_many_threads(backend: Backend) -> None:
    def work(n: int) -> bool:
        body = hashlib.sha256(str(n).encode()).digest() * 100
        v = backend.put(f"par/{n:03d}", body, CREATE)
        got, version = backend.get(f"par/{n:03d}")
        return got == body and version == v

    with ThreadPoolExecutor(max_workers=16) as pool:
        assert all(pool.map(work, range(64)))
    assert len(list(backend.list("par/"))) == 64


def test_a_large_digested_body_goes_up_in_parts_and_round_trips(backend: Backend) -> None:
    parts = [os.urandom(SINGLE_PUT_LIMIT // 3) for _ in range(3)] + [os.urandom(1024 * 1024)]
    body = b"".join(parts)
    v = backend.put("big", Digested(parts, hashlib.sha256(body).hexdigest()), CREATE)
    assert backend.get("big") == (body, v)


def test_a_wrong_stated_digest_is_caught_on_read_never_served(backend: Backend) -> None:
    # A driver trusts a Digested payload's hash (it skips hashing the body);
    # a caller's mistake must still never be served as good data.
    backend.put("lie", Digested([b"the real ", b"bytes"], hashlib.sha256(b"other").hexdigest()))
    with pytest.raises(IntegrityError, match="'lie'"):
        backend.get("lie")


def test_prepare_takes_a_digested_payload_as_is() -> None:
    with prepare(Digested([b"a", b"", b"bc"], "f" * 64)) as prepared:
        assert (prepared.size, prepared.sha256, prepared.small) == (3, "f" * 64, True)
        assert prepared.rewind().read() == b"abc"
        assert prepared.read_all() == b"abc"


def test_prepare_hashes_in_memory_bytes_and_hands_them_back_uncopied() -> None:
    raw = b"in memory"
    with prepare(raw) as prepared:
        assert prepared.sha256 == hashlib.sha256(raw).hexdigest()
        assert prepared.read_all() is raw
        assert prepared.rewind().read() == raw


def test_a_parts_reader_reads_seeks_and_rereads_without_joining() -> None:
    reader = PartsReader([b"abc", b"", b"defgh", b"i"])
    assert reader.read() == b"abcdefghi"
    reader.seek(2)
    assert reader.read(4) == b"cdef"
    assert reader.tell() == 6
    reader.seek(-2, io.SEEK_END)
    assert reader.read() == b"hi"
    assert reader.read() == b""


def test_a_digested_body_is_joined_once_and_lets_its_parts_go() -> None:
    parts = [b"ab", b"cd"]
    body = Digested(parts, "0" * 64)
    first = body.joined()
    assert first == b"abcd" and body.joined() is first  # a retry reuses the piece
    assert list(body.parts) == [b"abcd"] and parts == [b"ab", b"cd"]  # caller's list untouched


def test_prepare_spools_a_one_way_stream_and_hashes_it() -> None:
    body = os.urandom(SINGLE_PUT_LIMIT + 5)
    with prepare(OneWay(body)) as prepared:  # type: ignore[arg-type]
        assert prepared.size == len(body)
        assert prepared.sha256 == hashlib.sha256(body).hexdigest()
        assert not prepared.small
        assert b"".join(prepared.parts(1024 * 1024)) == body
        assert b"".join(prepared.parts()) == body  # readable again


def test_parts_grow_so_huge_bodies_fit_in_ten_thousand() -> None:
    with prepare(b"x") as prepared:
        prepared.size = 200 * 1024**3
        assert prepared.size / prepared.part_size() <= 10_000
        assert prepared.part_size() % (256 * 1024) == 0


def test_the_bucket_probe_asks_once_and_names_the_bucket() -> None:
    answers = iter([True])
    probe = BucketProbe(lambda: next(answers), "S3 bucket 'b'")
    probe.check()
    probe.check()  # cached: a second call would exhaust the iterator
    with pytest.raises(BackendUnavailable, match="S3 bucket 'b' does not exist"):
        BucketProbe(lambda: False, "S3 bucket 'b'").check()


def test_nothing_outside_the_drivers_imports_a_cloud_sdk() -> None:
    code = (
        "import sys, statesync.backends, statesync.backends.retry, statesync.backends._cloud\n"
        "import importlib.util\n"
        "for m in ('statesync.api', 'statesync.cli'):\n"
        "    if importlib.util.find_spec(m): __import__(m)\n"
        "bad = sorted(m for m in sys.modules if m.split('.')[0] in ('boto3', 'botocore')"
        " or m.startswith(('azure', 'google.cloud')))\n"
        "print(bad); sys.exit(1 if bad else 0)\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr
