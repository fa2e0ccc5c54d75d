"""JSON and YAML bundles: one document with inline contents.

Writing streams one component at a time (memory: one file and its encoding);
``components`` is the document's last key so it can be appended. Reading
decodes the whole document, then :func:`bundle_schema.parse_bundle` checks it.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path
from typing import Any, BinaryIO

import yaml

from statesync.errors import BundleError, UsageError
from statesync.sync.bundle import schema
from statesync.sync.bundle.exporting import base64_content
from statesync.sync.bundle.io import JSON

_Loader: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
_Dumper: Any = getattr(yaml, "CSafeDumper", yaml.SafeDumper)
_WIDTH = 1 << 30
_YAML_BREAKS = frozenset("\x85\u2028\u2029")


def write_document(
    fh: BinaryIO, fmt: str, header: dict[str, Any], components: Iterable[dict[str, Any]]
) -> None:
    """Write ``header`` plus ``components`` (consumed lazily) as one JSON or YAML document."""
    if fmt == JSON:
        _write_json(fh, header, components)
    else:
        _write_yaml(fh, header, components)


def _write_json(fh: BinaryIO, header: dict[str, Any], components: Iterable[dict[str, Any]]) -> None:
    head = json.dumps(header, indent=2, ensure_ascii=False)
    fh.write(head[: head.rindex("}")].rstrip().encode() + b',\n  "components": [')
    sep = "\n"
    for comp in components:
        # json never writes a raw "\n" inside a string, so this is safe (unlike
        # str.splitlines, which also breaks at U+2028 and friends).
        body = "\n".join(
            "    " + line for line in json.dumps(comp, indent=2, ensure_ascii=False).split("\n")
        )
        fh.write((sep + body).encode())
        sep = ",\n"
    fh.write(b"\n  ]\n}\n" if sep != "\n" else b"]\n}\n")


def _yaml(doc: Any) -> str:
    return str(yaml.dump(doc, Dumper=_Dumper, sort_keys=False, allow_unicode=True, width=_WIDTH))


def yaml_component(comp: dict[str, Any]) -> str:
    """One component as a YAML list item.

    Text that YAML loaders would not all give back exactly is written as
    base64 instead: text with the line breaks U+0085, U+2028 or U+2029 (the
    pure-Python and libyaml loaders disagree on them), or text that does not
    survive a dump-and-load round trip here.
    """
    if comp.get("encoding") != schema.UTF8:
        return _yaml([comp])
    content = str(comp["content"])
    if not _YAML_BREAKS.intersection(content):
        text = _yaml([comp])
        if yaml.load(text, Loader=_Loader) == [comp]:
            return text
    return _yaml([{**comp, **base64_content(content.encode())}])


def _write_yaml(fh: BinaryIO, header: dict[str, Any], components: Iterable[dict[str, Any]]) -> None:
    fh.write(_yaml(header).encode())
    fh.write(b"components:")
    empty = True
    for comp in components:
        fh.write(b"\n" if empty else b"")
        fh.write(yaml_component(comp).encode())
        empty = False
    fh.write(b" []\n" if empty else b"")


def read_document(path: Path, fmt: str) -> schema.Bundle:
    """Read and fully validate a JSON/YAML bundle; :class:`BundleError` on any defect."""
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise UsageError(f"{path}: no such bundle file") from None
    except OSError as exc:
        raise BundleError(f"{path.name}: cannot read: {exc.strerror}") from None
    doc = _decode_json(raw, path.name) if fmt == JSON else _decode_yaml(raw, path.name)
    return schema.parse_bundle(doc, path.name, inline=True)


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out = dict(pairs)
    if len(out) != len(pairs):
        raise ValueError("duplicate key in an object")
    return out


def _decode_json(raw: bytes, where: str) -> Any:
    try:
        return json.loads(raw, object_pairs_hook=_no_duplicates)
    except json.JSONDecodeError as exc:
        raise BundleError(
            f"{where}: not valid JSON (truncated or malformed: {exc.msg}; "
            f"line {exc.lineno}, column {exc.colno})"
        ) from None
    except (ValueError, RecursionError) as exc:
        reason = (
            "too deeply nested"
            if isinstance(exc, RecursionError)
            else ("not UTF-8" if isinstance(exc, UnicodeDecodeError) else str(exc))
        )
        raise BundleError(f"{where}: not valid JSON ({reason})") from None


def _decode_yaml(raw: bytes, where: str) -> Any:
    try:
        return yaml.load(raw, Loader=_Loader)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark
        at = f"; line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        raise BundleError(
            f"{where}: not valid YAML (truncated or malformed: {exc.problem or exc.context}{at})"
        ) from None
    except (yaml.YAMLError, ValueError, RecursionError):
        raise BundleError(f"{where}: not valid YAML (truncated or malformed)") from None
