"""What a page shows of file contents: redacted text, and diffs down to document keys.

Everything here starts from :func:`statesync.api.redacted_file`, so no value
shown can be a secret: the store's redacted form has the marker (or a sealed
string, masked as the marker) wherever a secret was.
"""

from __future__ import annotations

import difflib
import itertools
import json
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import yaml
from markupsafe import Markup, escape

from statesync import api
from statesync.api import Store
from statesync.errors import UsageError
from statesync.sync.secrets import redaction

if TYPE_CHECKING:
    from statesync.sync.store.chunkindex import ChunkIndex

#: Files larger than this are not shown (a page stays quick to load and read).
MAX_SHOWN = 2 * 1024 * 1024
#: Diff lines shown per file before the rest is summarised.
MAX_DIFF_LINES = 2000
#: A changed value is cut to this many characters in a key table.
MAX_VALUE = 300

_MARKER = str(escape(redaction.MARKER))


@dataclass(frozen=True)
class Shown:
    """A file as a page shows it: ``text`` or else a ``notice`` saying why not."""

    text: str | None
    notice: str | None = None


def show_file(
    store: Store, snapshot: str, path: str, size: int, index: ChunkIndex | None = None
) -> Shown:
    """``path``'s redacted content as text, or a notice (too large, not UTF-8, not shown)."""
    if size > MAX_SHOWN:
        return Shown(None, f"{size} bytes: too large to show here (statesync cat shows it)")
    try:
        data = api.redacted_file(store, snapshot, path, index=index)
    except UsageError as exc:
        return Shown(None, str(exc))
    try:
        return Shown(data.decode("utf-8"))
    except UnicodeDecodeError:
        return Shown(None, f"not UTF-8 text ({len(data)} bytes of binary content)")


def highlight(text: str) -> Markup:
    """``text`` escaped, with each secret marker set apart so readers see it was redacted."""
    return Markup(
        str(escape(text)).replace(
            _MARKER, f'<span class="redacted" title="secret value, not shown">{_MARKER}</span>'
        )
    )


@dataclass(frozen=True)
class KeyChange:
    """One changed key of a document: its JSON pointer and the values either side."""

    pointer: str
    before: str | None
    after: str | None


@dataclass(frozen=True)
class DiffLine:
    kind: str  # "add", "del", "hunk", "same", "meta" (a note of ours)
    text: str


@dataclass(frozen=True)
class FileChange:
    """A modified file: its key changes (documents) and its line diff (text)."""

    path: str
    keys: tuple[KeyChange, ...]
    lines: tuple[DiffLine, ...]
    notice: str | None


def _parse(path: str, text: str) -> Any:
    if path.lower().endswith(".json"):
        return json.loads(text)
    return yaml.safe_load(text)


def _at(doc: Any, pointer: str) -> str | None:
    """The value at a JSON pointer, compact JSON, cut short; None where there is none."""
    node = doc
    for raw in pointer.split("/")[1:] if pointer not in ("", "/") else []:
        part = raw.replace("~1", "/").replace("~0", "~")
        if isinstance(node, dict) and part in node:
            node = node[part]
        elif isinstance(node, list) and part.isascii() and part.isdigit() and int(part) < len(node):
            node = node[int(part)]
        else:
            return None
    text = json.dumps(node, ensure_ascii=False, default=str)
    return text if len(text) <= MAX_VALUE else text[:MAX_VALUE] + "…"


def _key_changes(path: str, pointers: list[str], a: str, b: str) -> tuple[KeyChange, ...]:
    try:
        da, db = _parse(path, a), _parse(path, b)
    except (ValueError, yaml.YAMLError):  # an unparseable side has no key table
        return ()
    return tuple(KeyChange(p, _at(da, p), _at(db, p)) for p in pointers)


def _line_diff(a: str, b: str) -> tuple[DiffLine, ...]:
    out: list[DiffLine] = []
    lines = difflib.unified_diff(a.splitlines(), b.splitlines(), lineterm="", n=3)
    for line in itertools.islice(lines, 2, None):  # the page names both sides already
        kind = (
            "hunk"
            if line.startswith("@@")
            else "add"
            if line.startswith("+")
            else "del"
            if line.startswith("-")
            else "same"
        )
        out.append(DiffLine(kind, line))
        if len(out) >= MAX_DIFF_LINES:
            out.append(DiffLine("meta", "… the rest of the diff is not shown"))
            break
    return tuple(out)


def file_change(
    store: Store,
    a: str,
    b: str,
    path: str,
    pointers: list[str],
    sizes: tuple[int, int],
    index: ChunkIndex,
) -> FileChange:
    """How ``path`` changed from snapshot ``a`` to ``b``, from both redacted forms."""
    before = show_file(store, a, path, sizes[0], index)
    after = show_file(store, b, path, sizes[1], index)
    if before.text is None or after.text is None:
        return FileChange(path, (), (), before.notice or after.notice)
    keys = _key_changes(path, pointers, before.text, after.text) if pointers else ()
    return FileChange(path, keys, _line_diff(before.text, after.text), None)
