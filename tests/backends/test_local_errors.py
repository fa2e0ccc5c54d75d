"""The local backend translates every OS error it meets; none escapes raw.

Each case is provoked for real: a folder where an object should be, a file
above a key, a NUL in a name, a folder the process may not write or read, a
write past what the OS allows.
"""

from __future__ import annotations

import contextlib
import os
import pickle
import resource
import shutil
import signal
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from statesync.backends.base import CREATE, OVERWRITE, Update
from statesync.backends.local import LocalBackend
from statesync.errors import (
    AccessDenied,
    AlreadyExists,
    BackendError,
    BackendUnavailable,
    NotFound,
    UsageError,
)


@pytest.fixture
def backend(tmp_path: Path) -> LocalBackend:
    store = LocalBackend(tmp_path / "store")
    store.put("objects/ab/one", b"one")
    return store


def _reads(backend: LocalBackend, key: str) -> list[Callable[[], object]]:
    return [
        lambda: backend.get(key),
        lambda: backend.head(key),
        lambda: backend.get_range(key, 0, 2),
        lambda: backend.open_read(key).close(),
    ]


def test_a_key_that_names_a_folder_is_not_found(backend: LocalBackend) -> None:
    for read in _reads(backend, "objects/ab"):
        with pytest.raises(NotFound, match="no such object"):
            read()
    backend.delete("objects/ab")  # no object of that name: nothing to delete
    assert backend.get("objects/ab/one")[0] == b"one"


def test_a_key_below_a_file_is_not_found(backend: LocalBackend) -> None:
    for read in _reads(backend, "objects/ab/one/two"):
        with pytest.raises(NotFound, match="no such object"):
            read()


def test_a_put_blocked_by_a_folder_or_a_file_is_a_backend_error(backend: LocalBackend) -> None:
    for key, mode in (
        ("objects/ab", OVERWRITE),
        ("objects/ab/one/two", OVERWRITE),
        ("objects/ab/one/two", CREATE),
    ):
        with pytest.raises(BackendError, match="in the way") as err:
            backend.put(key, b"x", mode)
        assert type(err.value) is BackendError
    version = backend.head("objects/ab/one").version
    with pytest.raises(AlreadyExists):  # a folder of that name exists: create-only refuses
        backend.put("objects/ab", b"x", CREATE)
    assert backend.head("objects/ab/one").version == version
    assert os.listdir(backend.root / ".tmp") == []


def test_a_name_with_a_nul_is_a_usage_error(backend: LocalBackend) -> None:
    key = "objects/ab/o\0ne"
    for call in [
        *_reads(backend, key),
        lambda: backend.put(key, b"x"),
        lambda: backend.delete(key),
    ]:
        with pytest.raises(UsageError, match="invalid object key"):
            call()  # type: ignore[no-untyped-call]


@contextlib.contextmanager
def _unwritable(folder: Path) -> Iterator[None]:
    """``folder`` refuses new files, for root too (the immutable flag), then is restored."""
    if os.geteuid() != 0:
        folder.chmod(0o500)
        try:
            yield
        finally:
            folder.chmod(0o700)
        return
    if shutil.which("chattr") is None:
        pytest.skip("running as root without chattr: cannot make a folder unwritable")
    if subprocess.run(["chattr", "+i", str(folder)], capture_output=True).returncode:
        pytest.skip("this filesystem does not support the immutable flag")
    try:
        yield
    finally:
        subprocess.run(["chattr", "-i", str(folder)], check=True)


def test_a_store_folder_that_refuses_writes_is_access_denied(backend: LocalBackend) -> None:
    with _unwritable(backend.root / ".tmp"):
        with pytest.raises(AccessDenied, match="access denied") as err:
            backend.put("objects/ab/two", b"two")
        assert isinstance(err.value, BackendUnavailable)
    with _unwritable(backend.root / "objects" / "ab"):
        with pytest.raises(AccessDenied):
            backend.put("objects/ab/two", b"two", CREATE)
        with pytest.raises(AccessDenied):
            backend.delete("objects/ab/one", backend.head("objects/ab/one").version)
    assert backend.get("objects/ab/one")[0] == b"one"


def _as_nobody(fn: Callable[[], object]) -> str:
    """Run ``fn`` in a forked child without root's privileges; the name of what it raised."""
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: drop to nobody, report, and leave without cleanup
        outcome = "nothing"
        try:
            os.setgroups([])
            os.setgid(65534)
            os.setuid(65534)
            fn()
        except BaseException as exc:
            outcome = type(exc).__name__
        os.write(write, pickle.dumps(outcome))
        os._exit(0)
    os.close(write)
    with os.fdopen(read, "rb") as fh:
        outcome = pickle.loads(fh.read())
    os.waitpid(pid, 0)
    return str(outcome)


def test_an_object_or_folder_that_cannot_be_read_is_access_denied(
    backend: LocalBackend,
) -> None:
    obj = backend.root / "objects" / "ab" / "one"
    obj.chmod(0o600)
    (backend.root / "objects").chmod(0o711)  # nobody may pass, not list
    for fn in (lambda: backend.get("objects/ab/one"), lambda: list(backend.list("objects/"))):
        if os.geteuid() == 0:
            assert _as_nobody(fn) == "AccessDenied"
        else:
            obj.chmod(0)
            (backend.root / "objects").chmod(0o100)
            try:
                with pytest.raises(AccessDenied):
                    fn()
            finally:
                obj.chmod(0o600)
                (backend.root / "objects").chmod(0o711)


def test_a_write_the_os_refuses_is_backend_unavailable_and_leaves_no_temp_file(
    backend: LocalBackend,
) -> None:
    # RLIMIT_FSIZE makes the kernel refuse the write (EFBIG), as a full disk (ENOSPC) does.
    old_limit = resource.getrlimit(resource.RLIMIT_FSIZE)
    old_handler = signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
    resource.setrlimit(resource.RLIMIT_FSIZE, (64 * 1024, old_limit[1]))
    try:
        with pytest.raises(BackendUnavailable, match="cannot write objects/ab/big") as err:
            backend.put("objects/ab/big", os.urandom(256 * 1024))
    finally:
        resource.setrlimit(resource.RLIMIT_FSIZE, old_limit)
        signal.signal(signal.SIGXFSZ, old_handler)
    assert type(err.value) is BackendUnavailable
    assert os.listdir(backend.root / ".tmp") == []
    with pytest.raises(NotFound):
        backend.head("objects/ab/big")


def test_an_update_of_a_key_a_folder_stands_on_is_refused(backend: LocalBackend) -> None:
    version = backend.head("objects/ab/one").version
    with pytest.raises(BackendError):
        backend.put("objects/ab", b"x", Update(version))
