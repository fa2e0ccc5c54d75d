"""Local folder store: ``file:///abs/path`` or a plain path.

Writes are atomic: a temporary file in ``.tmp/`` is fsynced, then renamed
(overwrite) or hard-linked (create-only: ``os.link`` fails if the name
exists). Updates and conditional deletes hold an ``flock`` on a per-key lock
file in ``.locks/`` while they compare and replace, so processes on one
machine (and on NFS with working locks) never lose an update. The version
token is the file's inode, mtime (ns) and size: every write makes a new inode.

No OS error leaves this module raw (:meth:`LocalBackend._os_faults`): a key
that names a folder, or lies under a file, is :class:`NotFound` when read;
a name the OS cannot hold (a NUL) is :class:`UsageError`; EACCES/EPERM are
:class:`AccessDenied`; anything else (ENOSPC, EIO, EROFS...) is
:class:`BackendUnavailable` naming the store and the OS's reason.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import hashlib
import os
import shutil
import stat
import tempfile
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO, TypeVar

from statesync.backends.base import (
    CREATE,
    OVERWRITE,
    Backend,
    Digested,
    Meta,
    PutData,
    PutMode,
    Update,
    Version,
)
from statesync.errors import (
    AccessDenied,
    AlreadyExists,
    BackendError,
    BackendUnavailable,
    NotFound,
    PreconditionFailed,
    UsageError,
)
from statesync.fsutil import fsync_dir

if TYPE_CHECKING:
    from statesync.backends import StoreUrl

_COPY_BUFFER = 1 << 20
T = TypeVar("T")
_READ_MORE = 1 << 16  # what a read asks for past the size seen at open (a growing file)


def open_url(parsed: StoreUrl) -> LocalBackend:
    """Open the folder named by the URL (created on first write)."""
    return LocalBackend(Path(parsed.prefix))


def _version(st: os.stat_result) -> Version:
    return Version(f"{st.st_ino:x}-{st.st_mtime_ns:x}-{st.st_size:x}")


class LocalBackend(Backend):
    """Objects are files under ``root``; dot-folders hold temp and lock files."""

    def __init__(self, root: Path) -> None:
        self.root = root
        #: Folders this object made or saw (``.tmp``, ``.locks``, key parents): a write
        #: skips their ``mkdir``. Only a hint: a write that finds one gone makes it again.
        self._dirs: set[str] = set()

    def _ensure_dir(self, path: Path) -> None:
        """Make ``path`` (and its parents) unless this object knows it exists."""
        name = str(path)
        if name not in self._dirs:
            path.mkdir(parents=True, exist_ok=True)
            self._dirs.add(name)

    def _in_dir(self, folder: Path, action: Callable[[], T]) -> T:
        """``action()``, which needs ``folder``; once more after remaking it when it
        raised FileNotFoundError (a folder known to exist was removed since)."""
        self._ensure_dir(folder)
        try:
            return action()
        except FileNotFoundError:
            self._dirs.clear()
            self._ensure_dir(folder)
            return action()

    def _path(self, key: str) -> Path:
        parts = key.split("/")
        if not key or "\0" in key or any(p in ("", ".", "..") or p.startswith(".") for p in parts):
            raise UsageError(f"invalid object key {key!r}")
        return self.root.joinpath(*parts)

    @contextlib.contextmanager
    def _os_faults(self, key: str, writing: bool = False) -> Iterator[None]:
        """Translate what the OS says about ``key`` into the error tree (module docstring)."""
        try:
            yield
        except (FileNotFoundError, IsADirectoryError, NotADirectoryError, FileExistsError) as exc:
            if not writing:  # absent, or a folder (or a file above it) stands in its place
                raise NotFound(f"{key}: no such object") from None
            if isinstance(exc, FileNotFoundError):  # the store's folder went away under us
                raise BackendUnavailable(f"store {self.root}: {key}: {exc.strerror}") from None
            raise BackendError(
                f"cannot store {key} in {self.root}: {exc.strerror} "
                "(a file or folder of the store is in the way)"
            ) from None
        except PermissionError as exc:
            raise AccessDenied(
                f"access denied to {key} in store {self.root}: {exc.strerror}"
            ) from None
        except OSError as exc:  # ENOSPC, EDQUOT, EROFS, EIO...
            raise BackendUnavailable(
                f"cannot {'write' if writing else 'read'} {key} in store "
                f"{self.root}: {exc.strerror or exc}"
            ) from None

    def _stat(self, key: str) -> os.stat_result:
        path = self._path(key)
        with self._os_faults(key):
            st = path.stat()
        if not stat.S_ISREG(st.st_mode):
            raise NotFound(f"{key}: no such object")
        return st

    def get(self, key: str) -> tuple[bytes, Version]:
        path = self._path(key)
        with self._os_faults(key):
            fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
            try:
                st = os.fstat(fd)
                if stat.S_ISDIR(st.st_mode):
                    raise IsADirectoryError(errno.EISDIR, "is a folder")
                return _read_all(fd, st.st_size), _version(st)
            finally:
                os.close(fd)

    def get_range(self, key: str, start: int, length: int) -> bytes:
        with self.open_read(key) as fh, self._os_faults(key):
            fh.seek(start)
            return fh.read(length)

    def open_read(self, key: str) -> BinaryIO:
        path = self._path(key)
        with self._os_faults(key):
            return open(path, "rb")

    def head(self, key: str) -> Meta:
        st = self._stat(key)
        return Meta(key, st.st_size, _version(st), datetime.fromtimestamp(st.st_mtime, UTC))

    def put(self, key: str, data: PutData, mode: PutMode = OVERWRITE) -> Version:
        target = self._path(key)
        with self._os_faults(key, writing=True):
            return self._put(key, target, data, mode)

    def _put(self, key: str, target: Path, data: PutData, mode: PutMode) -> Version:
        tmp = self._write_temp(data)
        # Renames and links keep inode and mtime: the version is known before publishing.
        version = _version(os.stat(tmp))
        published = False
        try:
            published = self._in_dir(target.parent, lambda: self._publish(key, tmp, target, mode))
            fsync_dir(target.parent, strict=True)
            return version
        finally:
            if not published or mode is CREATE:  # a rename leaves no temporary file
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(tmp)

    def _publish(self, key: str, tmp: str, target: Path, mode: PutMode) -> bool:
        """Move the fsynced ``tmp`` to ``target`` as ``mode`` says; True once done."""
        if mode is CREATE:
            try:
                os.link(tmp, target)
            except FileExistsError:
                raise AlreadyExists(f"{key}: already exists") from None
        elif isinstance(mode, Update):
            with self._key_lock(key):
                self._check(key, mode.expected)
                os.replace(tmp, target)
        else:
            with self._key_lock(key):
                os.replace(tmp, target)
        return True

    def delete(self, key: str, expected: Version | None = None) -> None:
        path = self._path(key)
        with self._os_faults(key, writing=True), self._key_lock(key):
            if expected is not None:
                self._check(key, expected)
            # A folder of that name is no object: nothing to delete, as for an absent key.
            with contextlib.suppress(FileNotFoundError, IsADirectoryError, NotADirectoryError):
                path.unlink()

    def list(self, prefix: str) -> Iterator[Meta]:
        with self._os_faults(prefix):
            keys = sorted(self._keys(prefix))
        for key in keys:
            with contextlib.suppress(NotFound):
                yield self.head(key)

    def _keys(self, prefix: str) -> Iterator[str]:
        if not self.root.is_dir():
            return
        for dirpath, dirnames, filenames in os.walk(self.root, onerror=_raise):
            dirnames[:] = [d for d in dirnames if not d.startswith(".")]
            rel = os.path.relpath(dirpath, self.root)
            base = "" if rel == "." else rel.replace(os.sep, "/") + "/"
            if not (base.startswith(prefix) or prefix.startswith(base)):
                dirnames[:] = []
                continue
            yield from (
                base + n for n in filenames if (base + n).startswith(prefix) and n[0] != "."
            )

    def _check(self, key: str, expected: Version) -> None:
        try:
            current = _version(self._path(key).stat())
        except (FileNotFoundError, NotADirectoryError):
            raise PreconditionFailed(f"{key}: gone since it was read") from None
        if current != expected:
            raise PreconditionFailed(f"{key}: changed since it was read")

    def _write_temp(self, data: PutData) -> str:
        tmpdir = self.root / ".tmp"
        fd, tmp = self._in_dir(tmpdir, lambda: tempfile.mkstemp(dir=tmpdir))
        try:
            with os.fdopen(fd, "wb") as fh:
                if isinstance(data, Digested):
                    fh.writelines(data.parts)
                elif isinstance(data, bytes | bytearray | memoryview):
                    fh.write(data)
                else:
                    shutil.copyfileobj(data, fh, _COPY_BUFFER)
                fh.flush()
                os.fsync(fh.fileno())
        except BaseException:
            os.unlink(tmp)  # a full disk must not also leave the partial copy behind
            raise
        return tmp

    @contextlib.contextmanager
    def _key_lock(self, key: str) -> Iterator[None]:
        lockdir = self.root / ".locks"
        name = hashlib.sha256(key.encode()).hexdigest()[:32]
        fd = self._in_dir(lockdir, lambda: os.open(lockdir / name, os.O_CREAT | os.O_RDWR, 0o600))
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            yield
        finally:
            os.close(fd)


def _read_all(fd: int, size: int) -> bytes:
    """Every byte of the open file ``fd``, to its end (``size``: its length when opened)."""
    parts: list[bytes] = []
    while chunk := os.read(fd, size + 1 if not parts else _READ_MORE):
        parts.append(chunk)
    return b"".join(parts)


def _raise(exc: OSError) -> None:
    """``os.walk``'s error hook: an unreadable folder fails the listing, never shortens it."""
    raise exc
