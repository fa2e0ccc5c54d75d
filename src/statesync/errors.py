"""The one error tree of statesync.

Every error the library raises on purpose is a :class:`StatesyncError`. Each
class carries the CLI exit code of ARCHITECTURE.md §5, so the CLI maps an error to
its exit code without knowing where it came from:

    0 ok, 1 error, 2 usage, 3 conflict, 4 integrity, 5 locked, 6 key/decryption.

Messages are one line, for a person, and never contain secret material.
"""

from __future__ import annotations

from typing import Any, Self


class StatesyncError(Exception):
    """Base of every deliberate statesync error (exit code 1).

    ``details`` holds structured facts about the error (the conflicting head,
    the lease holder...) for ``--json``; never secret material.
    """

    exit_code = 1
    details: dict[str, Any] = {}  # noqa: RUF012 - replaced, never mutated (with_details)

    def with_details(self, **fields: Any) -> Self:
        """Attach structured facts for ``--json`` output; returns ``self`` to raise."""
        self.details = {**self.details, **fields}
        return self


class UsageError(StatesyncError, ValueError):
    """The request itself is wrong: bad flag, bad URL, bad argument (exit 2).

    Also a :class:`ValueError`, so a program passing a bad argument to the
    library can catch it as Python code usually does.
    """

    exit_code = 2


class ConflictError(StatesyncError):
    """Someone else changed the shared state first (exit 3)."""

    exit_code = 3


class RefConflict(ConflictError):
    """The environment moved past the snapshot this push expected."""


class LocalChangesConflict(ConflictError):
    """Pull would overwrite local changes or unmanaged files without --force."""


class IntegrityError(StatesyncError):
    """A checksum, id, signature or serial does not match (exit 4)."""

    exit_code = 4


class ChecksumMismatch(IntegrityError):
    """An object's bytes, as read, do not match the SHA-256 stored with it (exit 4).

    Raised by the cloud drivers' ``get``. Damaged in transit or in the store:
    :class:`statesync.backends.retry.RetryingBackend` reads the object once more
    and raises this only if the second read does not match either.
    """


class LockedError(StatesyncError):
    """Another holder has the lease (exit 5)."""

    exit_code = 5


class KeyFailure(StatesyncError):
    """A key is missing or a decryption failed (exit 6)."""

    exit_code = 6


class KeyringMissing(KeyFailure):
    """The keyring of a key generation that an object names is not in the store.

    ``key`` is the keyring's store key (``verify`` names it as damage).
    """

    def __init__(self, message: str, key: str) -> None:
        super().__init__(message)
        self.key = key


# --- store-level errors (exit 1 unless stated) ---------------------------------


class StoreNotInitialised(StatesyncError):
    """No ``statesync.json`` descriptor at the store URL."""


class StoreExists(StatesyncError):
    """``init`` found a descriptor already in place."""


class EnvNotFound(StatesyncError):
    """The environment has no ref in this store."""


class SnapshotNotFound(StatesyncError):
    """No snapshot with that id (or unique prefix) exists."""


class ViewNotFound(StatesyncError):
    """A view asked for what is not there: a file a snapshot lacks, a page past the end."""


class CannotSalvage(KeyFailure):
    """A damaged pack's chunks are sealed and their key is not here: repair skips it (exit 6)."""


class BundleError(IntegrityError):
    """An export bundle is truncated, malformed, unsafe or of an unknown version (exit 4)."""


class ImportTreeClash(StatesyncError):
    """An import's paths and the environment's own cannot form one tree (exit 1).

    The bundle itself is sound (else :class:`BundleError`); what clashes is a
    path it brings lying under a file the environment already has, or the reverse.
    """


class NotLocked(StatesyncError):
    """``unlock`` or ``lock --renew`` named an environment that holds no lease (exit 1)."""


class KeysExist(StatesyncError):
    """The environment already has keys; rotate them instead of creating them (exit 1)."""


class LastRecipient(StatesyncError):
    """Removing this recipient would leave a keyring nobody can unwrap (exit 1)."""


class Contention(StatesyncError):
    """A conditional write kept losing to other writers for all its bounded attempts (exit 1)."""


class UnparseableSecretDocument(StatesyncError):
    """A document that may hold secret values cannot be parsed to redact them (exit 1)."""


class MissingExtra(UsageError):
    """A cloud store was asked for but its SDK extra is not installed."""


def install_command(extra: str) -> str:
    """The command that adds ``extra`` to *this* installation of statesync.

    statesync is installed from a clone (``./scripts/quickstart.sh`` or
    ``pip install '.[EXTRA]'``), not from an index, so the command names this
    interpreter and the folder statesync came from:
    ``/home/u/.local/share/statesync/venv/bin/python -m pip install '/src/statesync[s3]'``.
    That folder is the source tree the running code is in (an editable install
    or ``PYTHONPATH=src``), else the folder pip installed it from (its
    ``direct_url.json``); installed any other way (a wheel) the source is
    ``statesync``.
    """
    import shlex
    import sys

    source = _source_tree() or _installed_from() or "statesync"
    return f"{shlex.quote(sys.executable)} -m pip install {shlex.quote(f'{source}[{extra}]')}"


def _source_tree() -> str | None:
    """The checkout (``<root>/src/statesync``) this code runs from, if it runs from one."""
    from pathlib import Path

    root = Path(__file__).resolve().parents[2]
    project = root / "pyproject.toml"
    if Path(__file__).parents[1].name == "src" and project.is_file():
        return str(root)
    return None


def _installed_from() -> str | None:
    """The local folder pip installed this distribution from (PEP 610), if any."""
    import importlib.metadata
    import json
    from urllib.parse import unquote, urlsplit

    try:
        origin = importlib.metadata.distribution("statesync").read_text("direct_url.json")
        url = urlsplit(json.loads(origin or "{}").get("url", ""))
    except (importlib.metadata.PackageNotFoundError, ValueError, AttributeError):
        return None  # not installed as a distribution, or a record we cannot read
    return unquote(url.path) if url.scheme == "file" and url.path else None


# --- backend errors: translated by the mode of the call -----------------------


class BackendError(StatesyncError):
    """A store backend failed; subclasses say how."""


class NotFound(BackendError):
    """The object does not exist."""


class AlreadyExists(BackendError):
    """A create-only put found the key already present."""


class PreconditionFailed(BackendError):
    """An update or conditional delete found a different version (or none)."""


class TransientError(BackendError):
    """A fault worth retrying: timeout, throttling, 5xx, connection reset.

    ``retry_after``: seconds the service asked us to wait (throttling), if it said.
    """

    def __init__(self, message: str, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class BackendUnavailable(BackendError):
    """The backend stayed unreachable after bounded retries, or refused credentials."""


class AccessDenied(BackendUnavailable):
    """The store refused us: bad credentials, or file permissions of a local store.

    A :class:`BackendUnavailable` (exit 1), so code that handles an
    unreachable store handles this too; it is never retried.
    """


class RangeNotSatisfiable(BackendError):
    """A range read started at or past the object's end (HTTP 416).

    Drivers turn it into an empty read (:func:`statesync.backends._cloud.range_guard`);
    it never leaves a driver's ``get_range``.
    """


class ObjectChanged(TransientError):
    """The object was replaced or deleted between two requests of one read.

    Transient: read again (the retry wrapper does), and the new version is
    read consistently.
    """


class PolicyViolation(StatesyncError):
    """A local policy forbids the operation, e.g. a promotion path not allowed (exit 1)."""


class DocumentLimit(StatesyncError):
    """A document exceeds the limits on size, nesting or alias expansion (exit 1)."""


class TornFile(StatesyncError):
    """A working-folder file kept changing while push read it (exit 1)."""


class SecretRefused(StatesyncError):
    """An object holds a secret-looking value and its environment has no key to seal it (exit 1).

    Raised instead of silently replacing the value by a marker; the message
    names the key path (JSON pointer), never the value.
    """


class FormatError(UsageError):
    """A file given to import is in no format statesync reads (exit 2)."""


# --- files and folders on this machine (exit 1) ---------------------------------


class LocalFileError(StatesyncError):
    """A file or folder on this machine cannot be read or written (permissions, disk full...)."""


class NotAFolder(LocalFileError):
    """The folder named for push, pull or status is missing, or is not a folder."""


class InvalidFileName(LocalFileError):
    """A file name in the folder is not valid UTF-8, so no snapshot can keep it as it is."""


class FolderRecordError(LocalFileError):
    """The folder's own record (``.statesync/``) is unreadable, or is a link."""


class MachineIdError(LocalFileError):
    """This user's machine id file is foreign, readable by others, or cannot be created."""


class GcRaced(ConflictError):
    """A concurrent gc removed data this write reused; nothing was changed (exit 3).

    Push retries by itself; other writers report it so the command is run again.
    """
