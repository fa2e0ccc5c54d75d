"""Re-read once before reporting damage: a read that fails verification may be transit.

Bytes flipped between the store and us fail the same checks as bytes damaged
in the store. :func:`reread_once` reads again when checking the first read
raises :class:`IntegrityError`: if the second read verifies, the first was
damaged in transit and the caller goes on; if it fails too, the object is
damaged in the store and that error surfaces (exit 4) exactly as before.

Whole-object reads of the cloud drivers are re-read by the retry wrapper
(:class:`statesync.backends.retry.RetryingBackend`); this is for range reads,
which carry no stored hash and are verified chunk by chunk by their callers.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import TypeVar

from statesync.errors import IntegrityError

log = logging.getLogger(__name__)
R = TypeVar("R")
T = TypeVar("T")


def reread_once(where: str, read: Callable[[], R], check: Callable[[R], T]) -> T:
    """``check(read())``; on :class:`IntegrityError`, once more with a fresh ``read()``.

    ``check`` must be safe to run twice (it may have done part of its work, e.g.
    written some chunks, before failing). The second failure propagates.
    """
    try:
        return check(read())
    except IntegrityError as exc:
        log.info("%s: re-read after checksum mismatch: %s", where, exc)
    return check(read())
