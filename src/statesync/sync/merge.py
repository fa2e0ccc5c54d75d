"""Three-way merge of snapshots, down to the keys of JSON/YAML documents.

``merge(base, ours, theirs)`` combines changes to different paths, and to
different keys of the same document; a value changed both ways, or a file
modified on one side and deleted on the other, is a conflict, reported path
by path (``path`` or ``path#/json/pointer``). Documents that do not parse
are merged as whole files and never rewritten.

A merged document is never re-serialised: it is our bytes with the other
side's changed values (or, for keys they added or removed, their changed
lines) spliced in, and only when the result means exactly the key-level
merge; otherwise the document is a conflict (see
:mod:`statesync.sync.secrets.docmerge`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any

from statesync import jsonpointer
from statesync.sync.secrets import policy as secrets
from statesync.sync.secrets.docmerge import merge_bytes
from statesync.sync.store.manifest import Entry, is_document
from statesync.sync.store.tree_rules import under_any

#: Documents up to this size are merged key by key; larger ones as whole files.
MAX_DOC_MERGE = 8 * 1024 * 1024

_MISSING = object()

Reader = Callable[[Entry], bytes]


@dataclass
class MergeResult:
    """Merged entries (documents to re-encode are in ``documents``) or conflicts."""

    entries: dict[str, Entry] = field(default_factory=dict)
    documents: dict[str, tuple[bytes, Entry]] = field(default_factory=dict)  # path -> bytes, like
    conflicts: list[str] = field(default_factory=list)


def _same(a: Entry | None, b: Entry | None) -> bool:
    if a is None or b is None:
        return a is b
    return (a.kind, a.mode, a.digest, a.target) == (b.kind, b.mode, b.digest, b.target)


def merge(
    base: dict[str, Entry], ours: dict[str, Entry], theirs: dict[str, Entry], read: Reader
) -> MergeResult:
    """Merge per path; ``read`` returns an entry's (redacted) content for documents."""
    out = MergeResult()
    for path in sorted(set(base) | set(ours) | set(theirs)):
        b, o, t = base.get(path), ours.get(path), theirs.get(path)
        if _same(o, t) or _same(b, o):
            chosen = t
        elif _same(b, t):
            chosen = o
        elif o is not None and t is not None and _mergeable(path, b, o, t):
            _merge_document(path, b, o, t, read, out)
            continue
        else:
            out.conflicts.append(f"{path} ({_why(b, o, t)})")
            continue
        if chosen is not None:
            out.entries[path] = chosen
    _tree_conflicts(out)
    return out


def _tree_conflicts(out: MergeResult) -> None:
    """A path one side added under a link or file the other side added is a conflict."""
    paths = set(out.entries) | set(out.documents)
    for path in sorted(paths):
        parent = under_any(path, paths)
        if parent is not None:
            out.conflicts.append(f"{path} (lies under {parent}, a file or link on the other side)")


def _why(b: Entry | None, o: Entry | None, t: Entry | None) -> str:
    if o is None:
        return "deleted here, modified there"
    if t is None:
        return "modified here, deleted there"
    return "added both ways" if b is None else "modified both ways"


def _mergeable(path: str, b: Entry | None, o: Entry, t: Entry) -> bool:
    sides = [e for e in (b, o, t) if e is not None]
    return (
        is_document(path)
        and all(e.kind == "document" for e in sides)
        and all(e.size <= MAX_DOC_MERGE for e in sides)
    )


def _merge_document(
    path: str, b: Entry | None, o: Entry, t: Entry, read: Reader, out: MergeResult
) -> None:
    try:
        datas = [read(e) if e else b"" for e in (b, o, t)]
        docs = [
            secrets.parse_document(path, d) if e else {}
            for d, e in zip(datas, (b, o, t), strict=True)
        ]
    except (ValueError, UnicodeDecodeError):
        out.conflicts.append(f"{path} (modified both ways; not valid JSON/YAML, merged as a file)")
        return
    conflicts: list[str] = []
    merged = merge_values(docs[0], docs[1], docs[2], "", conflicts)
    if conflicts:
        out.conflicts.extend(f"{path}#{p or '/'} (changed both ways)" for p in conflicts)
        return
    data = merge_bytes(path, datas[0], datas[1], datas[2], docs, merged)
    if data is None:
        out.conflicts.append(
            f"{path} (keys added or removed next to changes on the other side; "
            "cannot merge them without rewriting the document)"
        )
        return
    mode = t.mode if b is not None and o.mode == b.mode else o.mode
    out.documents[path] = (data, replace(o, mode=mode))


def merge_values(b: Any, o: Any, t: Any, at: str, conflicts: list[str]) -> Any:
    """Three-way merge of JSON values; dicts key by key, everything else whole."""
    if o == t or b == o:
        return t
    if b == t:
        return o
    if isinstance(o, dict) and isinstance(t, dict):
        base = b if isinstance(b, dict) else {}
        merged: dict[Any, Any] = {}
        for key in _ordered_keys(base, o, t):
            value = merge_values(
                base.get(key, _MISSING),
                o.get(key, _MISSING),
                t.get(key, _MISSING),
                jsonpointer.join(at, key),
                conflicts,
            )
            if value is not _MISSING:
                merged[key] = value
        return merged
    conflicts.append(at)
    return o


def _ordered_keys(*dicts: dict[Any, Any]) -> list[Any]:
    seen: dict[Any, None] = {}
    for d in dicts[1:] + dicts[:1]:
        for k in d:
            seen.setdefault(k, None)
    return list(seen)
