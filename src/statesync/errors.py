"""The one error tree of statesync.

Every error the library raises on purpose is a :class:`StatesyncError`. Each
class carries the CLI exit code of DESIGN.md §7, so the CLI maps an error to
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


class UsageError(StatesyncError):
    """The request itself is wrong: bad flag, bad URL, bad argument (exit 2)."""

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


class LockedError(StatesyncError):
    """Another holder has the lease (exit 5)."""

    exit_code = 5


class KeyFailure(StatesyncError):
    """A key is missing or a decryption failed (exit 6)."""

    exit_code = 6


# --- store-level errors (exit 1 unless stated) ---------------------------------


class StoreNotInitialised(StatesyncError):
    """No ``statesync.json`` descriptor at the store URL."""


class StoreExists(StatesyncError):
    """``init`` found a descriptor already in place."""


class EnvNotFound(StatesyncError):
    """The environment has no ref in this store."""


class SnapshotNotFound(StatesyncError):
    """No snapshot with that id (or unique prefix) exists."""


class BundleError(StatesyncError):
    """An export bundle is truncated, malformed, unsafe or of an unknown version."""

    exit_code = 4


class MissingExtra(UsageError):
    """A cloud store was asked for but its SDK extra is not installed."""


# --- backend errors: translated by the mode of the call -----------------------


class BackendError(StatesyncError):
    """A store backend failed; subclasses say how."""


class NotFound(BackendError):
    """The object does not exist."""


class AlreadyExists(BackendError):
    """A create-only put found the key already present."""


class PreconditionFailed(BackendError):
    """An update or conditional delete found a different version (or none)."""


class NotSupported(BackendError):
    """The backend cannot do this operation."""


class TransientError(BackendError):
    """A fault worth retrying: timeout, throttling, 5xx, connection reset.

    ``retry_after``: seconds the service asked us to wait (throttling), if it said.
    """

    def __init__(self, message: str, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class BackendUnavailable(BackendError):
    """The backend stayed unreachable after bounded retries, or refused credentials."""


class PolicyViolation(StatesyncError):
    """A local policy forbids the operation, e.g. a promotion path not allowed (exit 1)."""


class DocumentLimit(StatesyncError):
    """A document exceeds the limits on size, nesting or alias expansion (exit 1)."""


class TornFile(StatesyncError):
    """A working-folder file kept changing while push read it (exit 1)."""


class GcRaced(ConflictError):
    """A concurrent gc removed data this write reused; nothing was changed (exit 3).

    Push retries by itself; other writers report it so the command is run again.
    """
