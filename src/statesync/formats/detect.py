"""Which format a file given to ``statesync import`` is in, from its bytes.

Checked in this order: a zstd frame or ``.tar.zst`` (statesync bundle), a
gzip member (Persist snapshot), then a JSON or YAML document told apart by
its shape: ``format: statesync-bundle``; integer ``version`` with
``created_at`` (Wassette snapshot); string ``version`` with ``exported_at``
(Wassette state export). Anything else is a one-line :class:`FormatError`.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from statesync.errors import BundleError, DocumentLimit, FormatError, UsageError
from statesync.formats import persist

BUNDLE = "statesync-bundle"
WASSETTE = "wassette"
WASSETTE_STATE = "wassette-state"
PERSIST = "persist"
_ZSTD_MAGIC = b"\x28\xb5\x2f\xfd"
_MAX_NODES = 1_000_000
_Loader: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


@dataclass(frozen=True)
class Detected:
    """The format, and what was read to tell (the document, or the raw bytes)."""

    format: str
    doc: Any = None
    raw: bytes = b""


def read_file(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except FileNotFoundError:
        raise UsageError(f"{path}: no such file") from None
    except IsADirectoryError:
        raise UsageError(f"{path}: is a folder, not a file to import") from None
    except OSError as exc:
        raise BundleError(f"{path.name}: cannot read: {exc.strerror}") from None


def detect(path: Path) -> Detected:
    """The format of the file at ``path``; raises :class:`FormatError` if it is none we read.

    A missing file, and a ``.json``/``.yaml`` file that does not parse, are
    left to the bundle importer, whose errors say what is wrong with a bundle.
    """
    name = path.name.lower()
    if name.endswith(".tar.zst") or not path.exists():
        return Detected(BUNDLE)
    raw = read_file(path)
    if raw.startswith(_ZSTD_MAGIC):
        return Detected(BUNDLE)
    if persist.is_gzip(raw):
        return Detected(PERSIST, raw=raw)
    if not name.endswith((".json", ".yaml", ".yml", ".json.gz")):
        raise _unknown(path)
    doc = _document(raw, path, json_only=name.endswith((".json", ".json.gz")))
    if doc is _UNPARSED:
        return Detected(BUNDLE)
    kind = _shape(doc)
    if kind is None:
        raise _unknown(path)
    return Detected(kind, doc=doc, raw=raw)


def _unknown(path: Path) -> FormatError:
    return FormatError(
        f"{path.name}: unknown bundle type: not a statesync bundle (.json .yaml "
        ".yml .tar.zst), a Wassette state file (JSON or YAML) or a Persist "
        "snapshot (.json.gz)"
    )


def _shape(doc: Any) -> str | None:
    if not isinstance(doc, dict):
        return None
    version = doc.get("version")
    if doc.get("format") == BUNDLE:
        return BUNDLE
    if isinstance(version, int) and not isinstance(version, bool) and "created_at" in doc:
        return WASSETTE
    if isinstance(version, str) and "exported_at" in doc:
        return WASSETTE_STATE
    if isinstance(doc.get("metadata"), dict) and "agent_state" in doc:
        return PERSIST  # written by persist-core's NoCompression adapter
    return None


_UNPARSED = object()


def _document(raw: bytes, path: Path, *, json_only: bool) -> Any:
    """The parsed document, or ``_UNPARSED`` if it does not parse (truncated, malformed)."""
    try:
        if json_only:
            doc = json.loads(raw, object_pairs_hook=_no_duplicates)
        else:
            doc = yaml.load(raw, Loader=_Loader)
    except (ValueError, RecursionError, yaml.YAMLError):
        return _UNPARSED
    _bounded(doc, path.name)
    return doc


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out = dict(pairs)
    if len(out) != len(pairs):
        raise BundleError("duplicate key in an object")
    return out


def _utf8(text: str, where: str) -> None:
    """Refuse a string that cannot be written as UTF-8 (a lone surrogate such as ``"\\ud800"``)."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        raise BundleError(f"{where}: a string is not valid Unicode (a lone surrogate)") from None


def _bounded(doc: Any, where: str) -> None:
    """Refuse YAML whose aliases would expand past a sane size (billion laughs), and text
    that is not valid Unicode (a lone surrogate, which JSON's ``\\u`` escapes allow)."""
    stack, seen = [doc], 0
    while stack:
        node = stack.pop()
        seen += 1
        if seen > _MAX_NODES:
            raise DocumentLimit(f"{where}: document expands to more than {_MAX_NODES} values")
        if isinstance(node, dict):
            stack.extend(node.values())
            stack.extend(node.keys())
        elif isinstance(node, str):
            _utf8(node, where)
        elif isinstance(node, list):
            stack.extend(node)
