"""A position-tracking JSON scanner: every value of a JSON text as a node.

Iterative (nesting costs no Python stack) and built on :mod:`json`'s own
string scanner, so it accepts exactly what ``json.loads`` accepts (duplicate
keys, ``NaN``, ``1e400``...); nesting past :data:`MAX_DEPTH` raises
:class:`DocumentLimit`.
"""

from __future__ import annotations

import json
import json.decoder
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from statesync.sync.docnodes import MAX_DEPTH, Node, token, too_deep

if TYPE_CHECKING:
    from statesync.sync.secrets import SecretPolicy

#: json's own string scanner (C-accelerated): exactly the strings json.loads accepts.
_scanstring: Callable[[str, int, bool], tuple[str, int]] = (
    json.decoder.scanstring)  # type: ignore[attr-defined]
_WS = re.compile(r"[ \t\n\r]*")
# json's C scanner accepts ASCII digits only (its pure-Python twin's \d is wider).
_NUMBER = re.compile(r"-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?(?:[eE][-+]?[0-9]+)?")
_LITERALS = (("null", "null"), ("true", "other"), ("false", "other"), ("NaN", "other"),
             ("Infinity", "other"), ("-Infinity", "other"))





@dataclass
class _Open:
    """A JSON container being scanned."""

    kind: str
    pointer: str
    key: Any
    start: int
    count: int = 0


def json_nodes(text: str) -> Iterator[Node]:
    """Every value of a JSON text, children before their container.

    Raises ``ValueError`` (``json.JSONDecodeError``) where ``json.loads``
    would, and :class:`DocumentLimit` past :data:`MAX_DEPTH`.
    """
    if text.startswith("\ufeff"):
        raise json.JSONDecodeError("Unexpected UTF-8 BOM", text, 0)
    stack: list[_Open] = []
    pos = _WS.match(text, 0).end()  # type: ignore[union-attr]
    pointer, key = "", None
    while True:
        c = text[pos:pos + 1]
        if c in ("{", "["):
            if len(stack) >= MAX_DEPTH:
                raise too_deep()
            stack.append(_Open(c, pointer, key, pos))
            pos = _WS.match(text, pos + 1).end()  # type: ignore[union-attr]
            if text.startswith("}" if c == "{" else "]", pos):
                top = stack.pop()
                pos += 1
                yield Node(top.pointer, top.key, top.start, pos)
            elif c == "{":
                pointer, key, pos = _json_key(text, pos, stack[-1])
                continue
            else:
                pointer, key = f"{pointer}/0", None
                continue
        else:
            node, pos = _json_scalar(text, pos, pointer, key)
            yield node
        while True:  # after a value: a comma, a closing bracket, or the end
            pos = _WS.match(text, pos).end()  # type: ignore[union-attr]
            if not stack:
                if pos != len(text):
                    raise json.JSONDecodeError("Extra data", text, pos)
                return
            top = stack[-1]
            c = text[pos:pos + 1]
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
            yield Node(top.pointer, top.key, top.start, pos)


def _json_key(text: str, pos: int, obj: _Open) -> tuple[str, str, int]:
    """Scan ``"key" :`` at ``pos``; return the value's pointer, the key, the value's position."""
    if not text.startswith('"', pos):
        raise json.JSONDecodeError("Expecting property name enclosed in double quotes", text, pos)
    key, pos = _scanstring(text, pos + 1, True)
    pos = _WS.match(text, pos).end()  # type: ignore[union-attr]
    if not text.startswith(":", pos):
        raise json.JSONDecodeError("Expecting ':' delimiter", text, pos)
    pos = _WS.match(text, pos + 1).end()  # type: ignore[union-attr]
    return f"{obj.pointer}/{token(key)}", key, pos


def _json_scalar(text: str, pos: int, pointer: str, key: Any) -> tuple[Node, int]:
    if text.startswith('"', pos):
        value, end = _scanstring(text, pos + 1, True)
        return Node(pointer, key, pos, end, string=value), end
    for literal, kind in _LITERALS[:3]:
        if text.startswith(literal, pos):
            end = pos + len(literal)
            return Node(pointer, key, pos, end, null=kind == "null"), end
    m = _NUMBER.match(text, pos)
    if m:
        return Node(pointer, key, pos, m.end()), m.end()
    for literal, _ in _LITERALS[3:]:
        if text.startswith(literal, pos):
            return Node(pointer, key, pos, pos + len(literal)), pos + len(literal)
    raise json.JSONDecodeError("Expecting value", text, pos)


def json_secret_nodes(text: str, policy: SecretPolicy) -> list[Node]:
    """The secret value nodes of a JSON text."""
    out = []
    for node in json_nodes(text):
        if node.null:
            continue
        by_key = isinstance(node.key, str) and policy.is_secret_key(node.key)
        if by_key or (node.string is not None and policy.is_secret_value(node.string)):
            out.append(node)
    return out
