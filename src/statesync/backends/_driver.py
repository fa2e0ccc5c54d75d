"""The skeleton the three cloud drivers (s3, azure, gcs) share; no SDK is imported here.

:class:`CloudBackend` owns what is the same for every cloud: the put template
(conditions, then the driver's upload call, inside the driver's translation
of faults), the range guard (a read that starts at or past the end is empty),
and the service-side object names. A driver keeps only what is its own:
:meth:`~CloudBackend._conditions` (how a put mode is spelled for its SDK),
:meth:`~CloudBackend._faults` (how its faults map to the error tree, by the
mode of the call) and its upload and download calls.

The error helpers below give the messages every driver uses the same words.
"""

from __future__ import annotations

from abc import abstractmethod
from contextlib import AbstractContextManager
from typing import Any

from statesync.backends import _cloud
from statesync.backends._cloud import Body
from statesync.backends.base import OVERWRITE, Backend, PutData, PutMode, Version
from statesync.errors import (
    AccessDenied,
    AlreadyExists,
    BackendUnavailable,
    NotFound,
    RangeNotSatisfiable,
    TransientError,
)


class CloudBackend(Backend):
    """A store in one bucket or container under ``prefix``; ``where`` names it in messages."""

    prefix: str
    where: str

    # --- what each driver provides ----------------------------------------------

    @abstractmethod
    def _conditions(self, mode: PutMode) -> dict[str, Any]:
        """The SDK keyword arguments that make an upload conditional on ``mode``.

        Called before the body is read, so a mode the service cannot express
        fails before any byte is sent.
        """

    @abstractmethod
    def _faults(self, key: str, mode: PutMode | None = None) -> AbstractContextManager[None]:
        """Translate the SDK's faults for ``key`` into the error tree, by the mode of the call."""

    @abstractmethod
    def _upload(self, key: str, body: Body, mode: PutMode, conditions: dict[str, Any]) -> Version:
        """Send ``body`` (one request when :attr:`Body.small`, else in parts); its version."""

    @abstractmethod
    def _read_range(self, key: str, start: int, length: int) -> bytes:
        """``length`` bytes of ``key`` from ``start``; the service answers 416 past the end."""

    # --- the shared template ---------------------------------------------------

    def put(self, key: str, data: PutData, mode: PutMode = OVERWRITE) -> Version:
        conditions = self._conditions(mode)
        with _cloud.prepare(data) as body:
            if not body.small:
                _cloud.fail_fast(self.head, key, mode, self.where)
            with self._faults(key, mode):
                return self._upload(key, body, mode, conditions)

    def get_range(self, key: str, start: int, length: int) -> bytes:
        if length <= 0:
            self.head(key)  # NotFound for a missing key, as for any other length
            return b""
        try:
            with self._faults(key):
                return self._read_range(key, start, length)
        except RangeNotSatisfiable:
            return b""  # the range starts at or past the object's end

    def _name(self, key: str) -> str:
        return _cloud.full_key(self.prefix, key)


# --- error helpers: one wording for every cloud -----------------------------------


def already_exists(key: str, where: str) -> AlreadyExists:
    return AlreadyExists(f"{key!r} already exists in {where}")


def not_found(key: str, where: str) -> NotFound:
    return NotFound(f"{key!r} not found in {where}")


def missing_bucket(where: str) -> BackendUnavailable:
    return BackendUnavailable(f"{where} does not exist")


def access_denied(where: str, detail: object) -> AccessDenied:
    """The service refused our credentials (401/403): not retried, waiting will not fix it."""
    return AccessDenied(f"access denied to {where}: {detail}")


def unreachable(where: str, exc: BaseException) -> TransientError:
    """A transport fault (refused, reset, timed out), named by its root cause."""
    return TransientError(f"cannot reach {where}: {_cloud.transport_reason(exc)}")


def first_line(exc: BaseException) -> str:
    """The first line of an SDK's message (they run to many), else the class name."""
    text = str(exc)
    return text.splitlines()[0] if text else type(exc).__name__
