"""The bytes of a key-level merge: our document, with only the other side's changes spliced in.

:func:`merge_bytes` never re-serialises. Given the base, our and their
bytes and the merged value (from :func:`statesync.sync.merge.merge_values`),
it tries, in order:

1. *value splice*: when every change of theirs is a new value for a key that
   our document also has, each such value's source text from theirs replaces
   ours at the same pointer; every other byte is ours;
2. *line splice*: their changed lines (against the base) applied to our
   bytes, when our side left those lines and their neighbours untouched
   (keys added or removed on their side);
3. otherwise no result: the caller reports a conflict.

A candidate is only taken when it parses to exactly the merged value, so a
splice can never change what the document means.
"""

from __future__ import annotations

import difflib
from typing import Any

from statesync import jsonpointer
from statesync.sync.secrets import policy as secrets
from statesync.sync.secrets import redaction
from statesync.sync.secrets.spans import Span

_MISSING = object()


def merge_bytes(
    path: str, base: bytes, ours: bytes, theirs: bytes, docs: list[Any], merged: Any
) -> bytes | None:
    """Our bytes with their changes spliced in, or None when that cannot be done in place."""
    changes: list[tuple[str, bool]] = []
    their_changes(docs[0], docs[1], docs[2], "", changes)
    if not changes:
        return ours
    if any(pointer == "" for pointer, _ in changes):
        return theirs
    if not any(structural for _, structural in changes):
        data = _value_splice(path, ours, theirs, [p for p, _ in changes])
        if data is not None and _means(path, data, merged):
            return data
    data = line_splice(base, ours, theirs)
    return data if data is not None and _means(path, data, merged) else None


def their_changes(b: Any, o: Any, t: Any, at: str, out: list[tuple[str, bool]]) -> None:
    """Pointers where the merge takes their value, and whether a key appears or goes there.

    Mirrors :func:`statesync.sync.merge.merge_values` (same order of tests).
    """
    if o == t or b == t:
        return
    if b == o:
        out.append((at, o is _MISSING or t is _MISSING))
        return
    if isinstance(o, dict) and isinstance(t, dict):
        base = b if isinstance(b, dict) else {}
        for key in dict.fromkeys([*o, *t, *base]):
            their_changes(
                base.get(key, _MISSING),
                o.get(key, _MISSING),
                t.get(key, _MISSING),
                jsonpointer.join(at, key),
                out,
            )


def _value_splice(path: str, ours: bytes, theirs: bytes, pointers: list[str]) -> bytes | None:
    mine = redaction.values_at(path, ours, pointers, secrets.SecretPolicy())
    other = redaction.values_at(path, theirs, pointers, secrets.SecretPolicy())
    if any(p not in mine or p not in other for p in pointers):
        return None
    changes: list[tuple[Span, bytes]] = []
    for pointer in pointers:
        new = theirs[other[pointer][-1].start : other[pointer][-1].end]
        changes.extend((span, new) for span in mine[pointer])
    return redaction.splice(ours, changes)


def line_splice(base: bytes, ours: bytes, theirs: bytes) -> bytes | None:
    """Their line changes (against ``base``) applied to ``ours``; None if ours touched them.

    Each of their hunks needs the base lines it replaces, and the lines on
    either side of it, unchanged and adjacent in ours.
    """
    b, o, t = (x.splitlines(keepends=True) for x in (base, ours, theirs))
    kept: dict[int, int] = {}
    for block in difflib.SequenceMatcher(None, b, o, autojunk=False).get_matching_blocks():
        kept.update((block.a + k, block.b + k) for k in range(block.size))
    edits: list[tuple[int, int, list[bytes]]] = []
    for tag, i1, i2, j1, j2 in difflib.SequenceMatcher(None, b, t, autojunk=False).get_opcodes():
        if tag == "equal":
            continue
        where = _place(kept, i1, i2, len(b), len(o))
        if where is None:
            return None
        edits.append((*where, t[j1:j2]))
    for lo, hi, lines in sorted(edits, reverse=True):
        o[lo:hi] = lines
    return b"".join(o)


def _place(kept: dict[int, int], i1: int, i2: int, nb: int, no: int) -> tuple[int, int] | None:
    """Where base lines ``[i1, i2)`` sit in ours, if ours kept them and their neighbours."""
    span = range(max(i1 - 1, 0), min(i2 + 1, nb))
    if any(i not in kept for i in span):
        return None
    if any(kept[i + 1] != kept[i] + 1 for i in span if i + 1 in span):
        return None
    # Appended at the end: after the last base line (or anywhere in an empty base).
    lo = kept[i1] if i1 < nb else kept[i1 - 1] + 1 if i1 > 0 else no
    return lo, lo + (i2 - i1)


def _means(path: str, data: bytes, merged: Any) -> bool:
    try:
        return bool(secrets.parse_document(path, data) == merged)
    except (ValueError, UnicodeDecodeError):
        return False
