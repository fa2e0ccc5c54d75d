"""The JSON scanner as it was before its fast paths (2026-12-04): the oracle of its tests.

:func:`old_json_scan` is :func:`statesync.sync.secrets.jsonspans.json_scan` of
commit dd2804f, unchanged but for its name: the tests check that the scanner
gives the same values, positions and pointers, and refuses the same texts.
"""

from __future__ import annotations

import json
import json.decoder
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from statesync import jsonpointer
from statesync.sync.secrets.docnodes import MAX_DEPTH, too_deep

#: json's own string scanner (C-accelerated): exactly the strings json.loads accepts.
_scanstring: Callable[[str, int, bool], tuple[str, int]] = json.decoder.scanstring  # type: ignore[attr-defined]
_WS = re.compile(r"[ \t\n\r]*")
# json's C scanner accepts ASCII digits only (its pure-Python twin's \d is wider).
_NUMBER = re.compile(r"-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?(?:[eE][-+]?[0-9]+)?")
_LITERALS = (
    ("null", "null"),
    ("true", "other"),
    ("false", "other"),
    ("NaN", "other"),
    ("Infinity", "other"),
    ("-Infinity", "other"),
)


@dataclass
class _Open:
    """A JSON container being scanned."""

    kind: str
    pointer: str
    key: Any
    start: int
    count: int = 0


#: A scanned value: pointer, key, start, end, string value (or None), is-null.
Scanned = tuple[str, Any, int, int, "str | None", bool]


def old_json_scan(text: str) -> Iterator[Scanned]:
    """Every value of a JSON text (as plain tuples: this loop is the hot path).

    Raises ``ValueError`` (``json.JSONDecodeError``) where ``json.loads``
    would, and :class:`DocumentLimit` past :data:`MAX_DEPTH`.
    """
    if text.startswith("\ufeff"):
        raise json.JSONDecodeError("Unexpected UTF-8 BOM", text, 0)
    stack: list[_Open] = []
    pos = _WS.match(text, 0).end()  # type: ignore[union-attr]
    pointer, key = "", None
    while True:
        c = text[pos : pos + 1]
        if c in ("{", "["):
            if len(stack) >= MAX_DEPTH:
                raise too_deep()
            stack.append(_Open(c, pointer, key, pos))
            pos = _WS.match(text, pos + 1).end()  # type: ignore[union-attr]
            if text.startswith("}" if c == "{" else "]", pos):
                top = stack.pop()
                pos += 1
                yield top.pointer, top.key, top.start, pos, None, False
            elif c == "{":
                pointer, key, pos = _json_key(text, pos, stack[-1])
                continue
            else:
                pointer, key = f"{pointer}/0", None
                continue
        else:
            string, null, start, pos = _json_scalar(text, pos)
            yield pointer, key, start, pos, string, null
        while True:  # after a value: a comma, a closing bracket, or the end
            pos = _WS.match(text, pos).end()  # type: ignore[union-attr]
            if not stack:
                if pos != len(text):
                    raise json.JSONDecodeError("Extra data", text, pos)
                return
            top = stack[-1]
            c = text[pos : pos + 1]
            if c == ",":
                top.count += 1
                pos = _WS.match(text, pos + 1).end()  # type: ignore[union-attr]
                if top.kind == "{":
                    pointer, key, pos = _json_key(text, pos, top)
                else:
                    pointer, key = f"{top.pointer}/{top.count}", None
                break
            if c != ("}" if top.kind == "{" else "]"):
                raise json.JSONDecodeError("Expecting ',' delimiter", text, pos)
            stack.pop()
            pos += 1
            yield top.pointer, top.key, top.start, pos, None, False


def _json_key(text: str, pos: int, obj: _Open) -> tuple[str, str, int]:
    """Scan ``"key" :`` at ``pos``; return the value's pointer, the key, the value's position."""
    if not text.startswith('"', pos):
        raise json.JSONDecodeError("Expecting property name enclosed in double quotes", text, pos)
    key, pos = _scanstring(text, pos + 1, True)
    pos = _WS.match(text, pos).end()  # type: ignore[union-attr]
    if not text.startswith(":", pos):
        raise json.JSONDecodeError("Expecting ':' delimiter", text, pos)
    pos = _WS.match(text, pos + 1).end()  # type: ignore[union-attr]
    return jsonpointer.join(obj.pointer, key), key, pos


def _json_scalar(text: str, pos: int) -> tuple[str | None, bool, int, int]:
    """A scalar at ``pos``: its string value (or None), whether null, its start and end."""
    if text.startswith('"', pos):
        value, end = _scanstring(text, pos + 1, True)
        return value, False, pos, end
    for literal, kind in _LITERALS[:3]:
        if text.startswith(literal, pos):
            return None, kind == "null", pos, pos + len(literal)
    m = _NUMBER.match(text, pos)
    if m:
        return None, False, pos, m.end()
    for literal, _ in _LITERALS[3:]:
        if text.startswith(literal, pos):
            return None, False, pos, pos + len(literal)
    raise json.JSONDecodeError("Expecting value", text, pos)
