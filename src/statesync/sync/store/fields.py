"""Strict checks for fields read from the store.

Anything a store writer can change is validated where it is parsed, by type
and range, so a malformed object is an :class:`IntegrityError` naming the
object and the field (exit 4), never a crash deeper down. JSON numbers are
taken only as real integers: ``true``, ``1.0``, ``1e400`` and ``"1"`` are
refused, and so are values beyond what any real store holds.
"""

from __future__ import annotations

import re
from typing import Any

from statesync.errors import IntegrityError

#: Largest count or size accepted from the store (2**53: exact in every JSON reader).
MAX_INT = 1 << 53
_HEX64 = re.compile(r"[0-9a-f]{64}\Z")


def bad(where: str, name: str, want: str) -> IntegrityError:
    """The one error for a malformed field."""
    return IntegrityError(f"{where}: malformed field {name!r} (expected {want})")


def integer(value: Any, where: str, name: str, lo: int = 0, hi: int = MAX_INT) -> int:
    """``value`` if it is an integer in ``[lo, hi]``; else :class:`IntegrityError`."""
    if type(value) is not int or not lo <= value <= hi:
        raise bad(where, name, f"an integer from {lo} to {hi}")
    return value


def text(value: Any, where: str, name: str, *, empty: bool = True) -> str:
    """``value`` if it is a string (non-empty unless ``empty``); else :class:`IntegrityError`."""
    if not isinstance(value, str) or (not empty and not value):
        raise bad(where, name, "a string" if empty else "a non-empty string")
    return value


def optional_text(value: Any, where: str, name: str) -> str | None:
    return None if value is None else text(value, where, name)


def texts(value: Any, where: str, name: str) -> list[str]:
    """A list of strings; else :class:`IntegrityError`."""
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise bad(where, name, "a list of strings")
    return list(value)


def text_map(value: Any, where: str, name: str) -> dict[str, str]:
    """A JSON object of strings to strings; else :class:`IntegrityError`."""
    if not isinstance(value, dict) or not all(isinstance(v, str) for v in value.values()):
        raise bad(where, name, "an object of strings")
    return dict(value)


def mapping(value: Any, where: str, name: str) -> dict[str, Any]:
    """A JSON object; else :class:`IntegrityError`."""
    if not isinstance(value, dict):
        raise bad(where, name, "an object")
    return value


def hex_id(value: Any, where: str, name: str) -> str:
    """A 64-hex-digit object id; else :class:`IntegrityError`."""
    if not isinstance(value, str) or not _HEX64.match(value):
        raise bad(where, name, "a 64-hex-digit id")
    return value
