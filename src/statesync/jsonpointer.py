"""JSON pointers (RFC 6901): the one place that escapes ``~`` and ``/`` in a token.

A pointer is ``""`` (the whole document) or ``/`` followed by tokens joined
by ``/``; inside a token ``~`` is written ``~0`` and ``/`` is written ``~1``.
"""

from __future__ import annotations

from typing import Any


def escape(key: Any) -> str:
    """A mapping key (or list index) as one pointer token."""
    return str(key).replace("~", "~0").replace("/", "~1")


def unescape(token: str) -> str:
    """The key a pointer token names (``~1`` before ``~0``, as RFC 6901 says)."""
    return token.replace("~1", "/").replace("~0", "~")


def join(pointer: str, key: Any) -> str:
    """The pointer to ``key`` inside the value at ``pointer``."""
    return f"{pointer}/{escape(key)}"


def split(pointer: str) -> list[str]:
    """The unescaped tokens of ``pointer`` (``""`` gives none).

    Raises :class:`ValueError` unless ``pointer`` is ``""`` or starts with ``/``.
    """
    if not pointer:
        return []
    if not pointer.startswith("/"):
        raise ValueError(f"not a JSON pointer: {pointer!r}")
    return [unescape(t) for t in pointer[1:].split("/")]
