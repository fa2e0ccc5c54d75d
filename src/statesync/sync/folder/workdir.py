"""A working folder: its files, and its record of what it last synced.

The record (``.statesync/state.json`` inside the folder, never part of a
snapshot) remembers, per store and environment, the snapshot the folder was
last pulled from or pushed as, its serial, and a stat cache (size, mtime,
inode -> entry) so unchanged files are not read again.
"""

from __future__ import annotations

import contextlib
import json
import os
import stat
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NamedTuple

from statesync.errors import (
    FolderRecordError,
    InvalidFileName,
    LocalFileError,
    NotAFolder,
)
from statesync.fsutil import write_atomic
from statesync.sync.secrets.pathmatch import PathMatcher
from statesync.sync.secrets.policy import SecretPolicy
from statesync.sync.store.encryption import PLAINTEXT, Encryption
from statesync.sync.store.manifest import ChunkRef, Entry

RECORD_DIR = ".statesync"
RECORD_FILE = "state.json"
#: Patterns of paths a folder keeps out of its snapshots (``.gitignore`` semantics).
IGNORE_FILE = ".statesyncignore"
#: Files modified this close to the record's writing are re-read (racy-clean guard).
_RACY_NS = 2_000_000_000


@dataclass
class LocalFile:
    """A file (or symlink) found in the working folder.

    ``fspath`` is its absolute path as a string: the scan of a folder of
    thousands of small files makes one of these per file, and a
    :class:`~pathlib.Path` costs more to build than the ``lstat`` it is for.
    """

    path: str
    fspath: str
    st: os.stat_result
    is_link: bool

    @property
    def abspath(self) -> Path:
        """``fspath`` as a :class:`~pathlib.Path` (made on each call: off the hot path)."""
        return Path(self.fspath)

    def stat_key(self) -> list[int]:
        return [self.st.st_size, self.st.st_mtime_ns, self.st.st_ino]


@dataclass
class Scan:
    """What a folder holds: files to snapshot and the names of secret files."""

    files: dict[str, LocalFile]
    secret_files: list[str]
    skipped: list[str] = field(default_factory=list)
    secrets: dict[str, LocalFile] = field(default_factory=dict)  # regular secret files
    excluded: list[str] = field(default_factory=list)  # ignored paths: never pushed nor touched


def _walk_error(exc: OSError) -> None:
    raise LocalFileError(f"cannot read {exc.filename}: {exc.strerror}")


def ignore_matcher(root: Path, exclude: tuple[str, ...] = ()) -> PathMatcher:
    """The folder's ``.statesyncignore`` patterns, then ``exclude`` (``--exclude``; they win ties).

    A missing ignore file means no patterns; an unreadable one (or a link: it
    is never followed) is :class:`LocalFileError`, a bad pattern :class:`UsageError`.
    """
    path = root / IGNORE_FILE
    lines: list[str] = []
    if path.is_symlink():
        raise LocalFileError(f"{path}: is a link; statesync reads only a regular ignore file")
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except FileNotFoundError:
        pass
    except (OSError, UnicodeDecodeError) as exc:
        raise LocalFileError(f"cannot read {path}: {exc}") from None
    PathMatcher(lines, str(path))  # report a bad line as the file's, not as --exclude's
    return PathMatcher([*lines, *exclude], "--exclude")


def scan_folder(
    root: Path,
    policy: SecretPolicy,
    exclude: tuple[str, ...] = (),
    unchanged: Callable[[LocalFile], bool] | None = None,
) -> Scan:
    """List the folder; every regular file is checked readable before anything is sent.

    Paths matched by :func:`ignore_matcher` are listed in ``excluded`` only:
    never read, pushed, or (on pull) replaced or removed. A file ``unchanged``
    says is as recorded is not opened (a push reuses its entry, never reads it;
    on the rare push that must read it after all, because the store lost its
    chunks, an unreadable one stops that push then: :func:`statesync.sync.push.build_entries`).
    """
    if not root.is_dir():
        raise NotAFolder(f"{root}: no such folder")
    ignored = ignore_matcher(root, exclude)
    scan = Scan({}, [])
    top = os.fspath(root)
    for dirpath, dirnames, filenames in os.walk(root, onerror=_walk_error):
        rel = os.path.relpath(dirpath, root)
        base = "" if rel == "." else rel.replace(os.sep, "/") + "/"
        if not base:
            dirnames[:] = [d for d in dirnames if d != RECORD_DIR]
        links = [d for d in dirnames if os.path.islink(os.path.join(dirpath, d))]
        dirnames[:] = sorted(d for d in dirnames if d not in links)
        for name in sorted(filenames + links):
            if ignored.matches(base + name):
                scan.excluded.append(base + name)
            else:
                _add(scan, top, base + name, policy, unchanged)
    return scan


def shown_name(path: str) -> str:
    """``path`` safe to print: bytes that are not UTF-8 as backslash escapes (``caf\\xe9``)."""
    return os.fsencode(path).decode("utf-8", "backslashreplace")


def _check_name(path: str) -> None:
    """Refuse a name that is not UTF-8, before anything is read or uploaded.

    Snapshots, bundles and every other tool keep names as UTF-8 text; a name
    that is not would be stored as something pull cannot give back byte for byte.
    """
    try:
        path.encode("utf-8")
    except UnicodeEncodeError:
        raise InvalidFileName(
            f"{shown_name(path)}: file name is not valid UTF-8; rename it "
            "(statesync keeps names as UTF-8)"
        ) from None


def _add(
    scan: Scan,
    top: str,
    path: str,
    policy: SecretPolicy,
    unchanged: Callable[[LocalFile], bool] | None,
) -> None:
    _check_name(path)
    abspath = os.path.join(top, path)
    if policy.is_secret_file(path):
        scan.secret_files.append(path)
        with contextlib.suppress(OSError):
            st = os.lstat(abspath)
            if stat.S_ISREG(st.st_mode):
                scan.secrets[path] = LocalFile(path, abspath, st, False)
        return
    try:
        st = os.lstat(abspath)
        found = LocalFile(path, abspath, st, stat.S_ISLNK(st.st_mode))
        if stat.S_ISREG(st.st_mode) and not (unchanged and unchanged(found)):
            # readable now, or the push stops before it writes; no file object: cheaper
            os.close(os.open(abspath, os.O_RDONLY | os.O_CLOEXEC))
    except FileNotFoundError:  # removed since listed (an app's temp file): not in the folder
        return
    except OSError as exc:
        raise LocalFileError(f"cannot read {abspath}: {exc.strerror}") from None
    if found.is_link and not _utf8(os.readlink(abspath)):
        scan.skipped.append(path)  # no manifest can name its target; left alone locally
    elif found.is_link or stat.S_ISREG(st.st_mode):
        scan.files[path] = found
    else:
        scan.skipped.append(path)


def _utf8(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:  # os.readlink escapes bytes that are not UTF-8
        return False
    return True


class FileRow(NamedTuple):
    """One file of the record's stat cache: how it stood when recorded, and its entry.

    In ``state.json`` a row is the list ``[size, mtime_ns, inode, entry]``.
    The entry stays in that JSON form until :meth:`entry` is asked for: a
    record of 20,000 files is loaded on every push, and only the rows whose
    stat still matches are ever turned into entries. A tuple, for the same
    reason: it costs no more to make than the list it replaces.
    """

    size: int
    mtime_ns: int
    ino: int
    entry_json: dict[str, Any]

    def stat_key(self) -> list[int]:
        return [self.size, self.mtime_ns, self.ino]

    @property
    def digest(self) -> str:
        """The recorded entry's digest (without building the entry)."""
        return str(self.entry_json["digest"])

    @property
    def mode(self) -> int:
        """The recorded entry's mode (without building the entry)."""
        return int(self.entry_json["mode"])

    def entry(self) -> Entry:
        """The recorded entry (a new object on each call: callers may change it)."""
        entry = Entry(**self.entry_json)
        entry.chunks = [ChunkRef(*c) for c in entry.chunks]
        return entry

    def to_json(self) -> list[Any]:
        return [self.size, self.mtime_ns, self.ino, self.entry_json]

    @classmethod
    def from_json(cls, row: list[Any]) -> FileRow:
        size, mtime_ns, ino, entry = row
        return cls(size, mtime_ns, ino, entry)  # exactly four items, or ValueError


@dataclass
class EnvRecord:
    """What this folder knows about one environment of one store."""

    snapshot: str
    serial: int
    files: dict[str, FileRow] = field(default_factory=dict)
    written_at_ns: int = 0
    secrets_included: bool = False
    #: the head's ``encryption`` field when this record was written (see sync/folder/reuse.py)
    sealing: Encryption = PLAINTEXT

    def cached_entry(self, f: LocalFile) -> Entry | None:
        """The entry recorded for ``f`` (a copy) if the file is certainly unchanged since."""
        return self.files[f.path].entry() if self.is_unchanged(f) else None

    def is_unchanged(self, f: LocalFile) -> bool:
        """True if ``f`` is certainly unchanged since recorded (no entry is built: cheap)."""
        row = self.files.get(f.path)
        if row is None or row.stat_key() != f.stat_key():
            return False
        return f.st.st_mtime_ns < self.written_at_ns - _RACY_NS

    def to_json(self) -> dict[str, Any]:
        return {
            "snapshot": self.snapshot,
            "serial": self.serial,
            "files": {p: row.to_json() for p, row in self.files.items()},
            "written_at_ns": self.written_at_ns,
            "secrets_included": self.secrets_included,
            "sealing": self.sealing.to_json(),
        }

    @classmethod
    def from_json(cls, raw: dict[str, Any]) -> EnvRecord:
        """Read a record's entry (older records lack the later fields: their defaults)."""
        doc = dict(raw)
        doc["files"] = {p: FileRow.from_json(row) for p, row in doc.get("files", {}).items()}
        doc["sealing"] = Encryption.from_json(doc.get("sealing", {}))
        return cls(**doc)


class Pending(NamedTuple):
    """A push this folder was landing when it stopped (see :meth:`WorkRecord.pending`)."""

    snapshot: str  # what the ref was being moved to
    holds: str  # the snapshot of what the folder holds: ``snapshot``, or a merge's own side


class WorkRecord:
    """The folder's record file; written atomically, mode 0600."""

    def __init__(self, root: Path, doc: dict[str, Any]) -> None:
        self.root = root
        self.doc = doc

    @classmethod
    def load(cls, root: Path) -> WorkRecord:
        """Read the record; :class:`StatesyncError` if unreadable or ``.statesync`` is a link."""
        check_record_dir(root)
        path = root / RECORD_DIR / RECORD_FILE
        try:
            doc = json.loads(path.read_text())
            if not isinstance(doc.get("envs"), dict):
                raise ValueError
        except FileNotFoundError:
            doc = {"version": 1, "envs": {}}
        except (OSError, ValueError):
            msg = f"{path}: unreadable folder record; remove it and pull again"
            raise FolderRecordError(msg) from None
        return cls(root, doc)

    def get(self, store_id: str, env: str) -> EnvRecord | None:
        raw = self.doc["envs"].get(f"{store_id}/{env}")
        return EnvRecord.from_json(raw) if raw else None

    def highest_serial(self, store_id: str, env: str) -> int:
        return int(self.doc.get("serials", {}).get(f"{store_id}/{env}", 0))

    def pending(self, store_id: str, env: str) -> Pending | None:
        """The snapshot a push from this folder was moving ``env`` to when it stopped.

        Set just before the ref is written, cleared when the push records its
        result: a push killed in between finds its own snapshot as the head.
        For a merge, ``holds`` is the folder's own snapshot (what the folder
        holds until the merge's tree is written into it); otherwise it is
        ``snapshot`` itself.
        """
        pending = self.doc.get("pending")
        value = pending.get(f"{store_id}/{env}") if isinstance(pending, dict) else None
        if isinstance(value, str) and value:
            return Pending(value, value)
        if isinstance(value, dict):
            snap, holds = value.get("snapshot"), value.get("holds")
            if isinstance(snap, str) and snap and isinstance(holds, str) and holds:
                return Pending(snap, holds)
        return None

    def set_pending(self, store_id: str, env: str, snapshot: str, holds: str | None = None) -> None:
        """Note ``snapshot`` as pending; ``holds``: the folder's own snapshot, for a merge."""
        if not isinstance(self.doc.get("pending"), dict):
            self.doc["pending"] = {}
        value: str | dict[str, str] = snapshot
        if holds is not None and holds != snapshot:
            value = {"snapshot": snapshot, "holds": holds}
        self.doc["pending"][f"{store_id}/{env}"] = value

    def set(self, store_id: str, env: str, rec: EnvRecord) -> None:
        key = f"{store_id}/{env}"
        self.doc["envs"][key] = rec.to_json()
        if isinstance(self.doc.get("pending"), dict):
            self.doc["pending"].pop(key, None)
        serials = self.doc.setdefault("serials", {})
        serials[key] = max(int(serials.get(key, 0)), rec.serial)

    def save(self) -> None:
        check_record_dir(self.root)
        folder = self.root / RECORD_DIR
        folder.mkdir(mode=0o700, exist_ok=True)
        write_atomic(folder / RECORD_FILE, json.dumps(self.doc, separators=(",", ":")).encode())


def check_record_dir(root: Path) -> None:
    """Refuse a ``.statesync`` that is a link: the record is never written through one."""
    if (root / RECORD_DIR).is_symlink():
        raise FolderRecordError(
            f"{root / RECORD_DIR} is a link; statesync keeps its record only "
            "in a real folder (remove the link)"
        )


def file_row(f: LocalFile, entry: Entry) -> FileRow:
    """A stat-cache row for ``f`` (re-stated after writing)."""
    return FileRow(f.st.st_size, f.st.st_mtime_ns, f.st.st_ino, entry.__dict__)


def now_ns() -> int:
    return time.time_ns()
