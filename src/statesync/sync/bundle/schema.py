"""The bundle format, version 1: what a bundle says and how it is checked.

A bundle is one document (JSON or YAML) or one ``.tar.zst`` whose first member
is the same document without file contents::

    {"format": "statesync-bundle", "version": 1, "created_at": "...",
     "component_count": 3,
     "metadata": {"description", "tags", "source", "statesync_version", "store_id",
                  "env", "snapshot", "parents", "message", ...},
     "policies": ["policy.yaml"],
     "secrets": {"files": ["secrets/db.env"], "values": {"app.json": ["/db/password"]}},
     "components": [{"path", "kind", "mode", "size", "sha256",
                     "encoding": "utf-8" | "base64", "content": "..."}
                    | {..., "include_binary": false}
                    | {..., "kind": "symlink", "target": "..."}]}

``components`` comes last so writers can stream it; ``component_count`` lets a
reader tell a bundle cut between two components from a complete one.

Everything read from a bundle is untrusted: :func:`parse_bundle` checks the
whole structure, every path and every inline content before anything uses it,
and raises :class:`BundleError` (one line, never quoting file contents).
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from statesync.errors import BundleError, IntegrityError
from statesync.sync.store import tree_rules
from statesync.sync.store.manifest import check_symlink

FORMAT = "statesync-bundle"
VERSION = 1
HEADER_MEMBER = "statesync-bundle.json"
FILES_PREFIX = "files/"
KINDS = ("document", "binary", "symlink", "secret-file")  # secret-file: sealed bytes
UTF8 = "utf-8"
BASE64 = "base64"
_SHA_RE = re.compile(r"^[0-9a-f]{64}$")
_MAX_SIZE = 1 << 62


@dataclass
class Component:
    """One validated file of a bundle.

    A file with content has exactly one source: ``data`` (inline, from a
    JSON/YAML bundle) or ``file`` (a member extracted from a ``.tar.zst``).
    A symlink has ``target``; a binary exported without content has
    ``included`` False and no source.
    """

    path: str
    kind: str
    mode: int
    size: int
    sha256: str
    target: str | None = None
    included: bool = True
    data: bytes | None = None
    file: Path | None = None

    @property
    def has_content(self) -> bool:
        """True if the bundle carries this file's bytes (inline or as a member)."""
        return self.kind != "symlink" and self.included


@dataclass
class Bundle:
    """A validated bundle: its metadata, its files and the names of its secrets."""

    metadata: dict[str, Any]
    components: list[Component]
    secret_files: list[str] = field(default_factory=list)
    secret_values: dict[str, list[str]] = field(default_factory=dict)
    policies: list[str] = field(default_factory=list)

    @property
    def description(self) -> str:
        return str(self.metadata.get("description") or "")

    @property
    def tags(self) -> dict[str, str]:
        return dict(self.metadata.get("tags") or {})


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def _fail(where: str, what: str) -> BundleError:
    return BundleError(f"{where}: {what}")


def _get(raw: dict[str, Any], key: str, kind: type, where: str) -> Any:
    value = raw.get(key)
    if not isinstance(value, kind):
        raise _fail(where, f"field {key!r} is missing or has the wrong type")
    return value


def _int(raw: dict[str, Any], key: str, top: int, where: str) -> int:
    value = raw.get(key)
    if type(value) is not int or not 0 <= value <= top:
        raise _fail(where, f"field {key!r} is missing or not an integer in range")
    return value


def safe_path(path: Any, where: str) -> str:
    """Return ``path`` if it is a safe relative path string; else :class:`BundleError`."""
    if not isinstance(path, str):
        raise _fail(where, "a path is not a string")
    try:
        return tree_rules.check_path(path, where)
    except IntegrityError as exc:
        raise BundleError(str(exc)) from None


def check_version(doc: Any, where: str) -> dict[str, Any]:
    """Check the format name and version; return the document as a dict."""
    if not isinstance(doc, dict):
        raise _fail(where, "not a statesync bundle (the document is not a mapping)")
    if doc.get("format") != FORMAT:
        raise _fail(where, f"not a statesync bundle (format {_short(doc.get('format'))})")
    version = doc.get("version")
    if type(version) is not int or version != VERSION:
        raise _fail(
            where,
            f"bundle format version {_short(version)} is not supported "
            f"(this statesync reads version {VERSION})",
        )
    return doc


def parse_bundle(doc: Any, where: str, *, inline: bool) -> Bundle:
    """Validate a decoded bundle document completely; :class:`BundleError` if anything is off.

    ``inline`` is True for JSON/YAML bundles (contents must be inline and are
    decoded and checked against ``size`` and ``sha256`` here) and False for a
    ``.tar.zst`` header (contents must not be inline; members are checked later).
    """
    doc = check_version(doc, where)
    _get(doc, "created_at", str, where)
    metadata = _metadata(_get(doc, "metadata", dict, where), where)
    raw_components = _get(doc, "components", list, where)
    if len(raw_components) != _int(doc, "component_count", _MAX_SIZE, where):
        raise _fail(
            where, f"truncated: holds {len(raw_components)} of {doc['component_count']} components"
        )
    components = [_component(raw, i, where, inline) for i, raw in enumerate(raw_components)]
    check_tree(
        [c.path for c in components], where, [c.path for c in components if c.kind == "symlink"]
    )
    secret_files, secret_values = _secrets(doc.get("secrets", {}), where)
    policies = doc.get("policies", [])
    if not isinstance(policies, list) or not all(isinstance(p, str) for p in policies):
        raise _fail(where, "field 'policies' must be a list of paths")
    return Bundle(metadata, components, secret_files, secret_values, policies)


def _metadata(meta: dict[str, Any], where: str) -> dict[str, Any]:
    if not isinstance(meta.get("description", ""), str):
        raise _fail(where, "metadata 'description' must be a string")
    tags = meta.get("tags", {})
    if not isinstance(tags, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in tags.items()
    ):
        raise _fail(where, "metadata 'tags' must map strings to strings")
    return meta


def _secrets(raw: Any, where: str) -> tuple[list[str], dict[str, list[str]]]:
    if not isinstance(raw, dict):
        raise _fail(where, "field 'secrets' must be a mapping")
    files = raw.get("files", [])
    values = raw.get("values", {})
    if not isinstance(files, list) or not isinstance(values, dict):
        raise _fail(where, "field 'secrets' must hold a 'files' list and a 'values' mapping")
    names = [safe_path(f, where) for f in files]
    pointers: dict[str, list[str]] = {}
    for path, ptrs in values.items():
        if not isinstance(ptrs, list) or not all(
            isinstance(p, str) and p.startswith("/") for p in ptrs
        ):
            raise _fail(where, "secret values must be lists of JSON pointers")
        pointers[safe_path(path, where)] = list(ptrs)
    return names, pointers


def check_tree(paths: list[str], where: str, links: list[str] | None = None) -> None:
    """The snapshot tree rules (:func:`tree_rules.check_tree`) as a BundleError."""
    try:
        tree_rules.check_tree(paths, where, links or ())
    except IntegrityError as exc:
        raise BundleError(str(exc)) from None


def _component(raw: Any, index: int, where: str, inline: bool) -> Component:
    at = f"{where}: component {index}"
    if not isinstance(raw, dict):
        raise BundleError(f"{at}: not a mapping")
    path = safe_path(raw.get("path"), at)
    at = f"{where}: {path!r}"
    kind = raw.get("kind")
    if kind not in KINDS:
        raise _fail(at, f"unknown kind {_short(kind)}")
    comp = Component(
        path,
        kind,
        _int(raw, "mode", 0o7777, at),
        _int(raw, "size", _MAX_SIZE, at),
        _get(raw, "sha256", str, at),
    )
    if not _SHA_RE.match(comp.sha256):
        raise _fail(at, "sha256 is not 64 lowercase hex digits")
    if kind == "symlink":
        _symlink(comp, raw, at)
    else:
        _file(comp, raw, at, inline)
    return comp


def _symlink(comp: Component, raw: dict[str, Any], at: str) -> None:
    comp.target = _get(raw, "target", str, at)
    try:
        check_symlink(comp.path, comp.target, at)
    except IntegrityError as exc:
        raise BundleError(str(exc)) from None
    if "content" in raw or comp.size != 0:
        raise _fail(at, "a symlink has no content")
    if hashlib.sha256(comp.target.encode("utf-8", "surrogatepass")).hexdigest() != comp.sha256:
        raise _fail(at, "link target does not match its sha256")


def _file(comp: Component, raw: dict[str, Any], at: str, inline: bool) -> None:
    included = raw.get("include_binary", True)
    if not isinstance(included, bool):
        raise _fail(at, "'include_binary' must be true or false")
    comp.included = included
    if not included:
        if comp.kind != "binary":
            raise _fail(at, "only a binary may be listed without its content")
        if "content" in raw:
            raise _fail(at, "has content but says include_binary false")
        return
    if not inline:
        if "content" in raw or "encoding" in raw:
            raise _fail(at, "inline content is not allowed in a .tar.zst header")
        return
    comp.data = decode_content(raw, at)
    verify_bytes(comp, len(comp.data), hashlib.sha256(comp.data).hexdigest(), at)


def decode_content(raw: dict[str, Any], at: str) -> bytes:
    """The bytes of an inline ``content`` in its ``encoding``; :class:`BundleError` if invalid."""
    encoding = raw.get("encoding")
    content = raw.get("content")
    if not isinstance(content, str):
        raise _fail(at, "content is missing (or set include_binary: false for a binary)")
    if encoding == UTF8:
        try:
            return content.encode("utf-8")
        except UnicodeEncodeError:
            raise _fail(at, "content is not valid UTF-8 text") from None
    if encoding == BASE64:
        try:
            return base64.b64decode(content.encode("ascii"), validate=True)
        except (binascii.Error, UnicodeEncodeError, ValueError):
            raise _fail(at, "content is not valid base64") from None
    raise _fail(at, f"unknown encoding {_short(encoding)}")


def verify_bytes(comp: Component, size: int, digest: str, at: str) -> None:
    """Check content read for ``comp`` against its declared size and sha256."""
    if size != comp.size:
        raise _fail(at, f"content is {size} bytes but the bundle says {comp.size}")
    if digest != comp.sha256:
        raise _fail(at, "content does not match its sha256")
