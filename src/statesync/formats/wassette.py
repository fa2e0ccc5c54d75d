"""Wassette's two state shapes as records, parsed strictly and rendered exactly.

* the snapshot (``StateSnapshot``): ``version`` 1, integer ``created_at``,
  ``metadata{description, wassette_version, source, tags}``, components with
  ``source_uri``, ``policy{content, source_uri, created_at}``, optional base64
  ``binary_data`` and ``include_binary``;
* the state export (``WassetteState``): ``version`` string, ``exported_at``,
  components with ``policy{source_uri, policy_content, attached_at}`` and
  ``secrets{env_keys}``, ``environment``, ``paths``.

Field rules follow the Rust structs' serde defaults (schemas/ has them as
JSON Schema). Everything read is untrusted: a bad file raises
:class:`BundleError` naming the field, never quoting its content.
"""

from __future__ import annotations

import base64
import binascii
import re
from dataclasses import dataclass, field
from typing import Any

from statesync.errors import BundleError

SNAPSHOT = "wassette"
STATE = "wassette-state"
_U64 = (1 << 64) - 1
_ID_RE = re.compile(r"[^/\\\x00-\x1f]{1,200}\Z")
_METADATA_LISTS = ("tool_schemas", "function_identifiers", "tool_names")


@dataclass(frozen=True)
class Policy:
    """A component's policy: the YAML ``content`` exactly, where it came from and when."""

    content: str
    source_uri: str
    created_at: int


@dataclass(frozen=True)
class Component:
    """One component; ``metadata`` is Wassette's ComponentMetadata as JSON values."""

    component_id: str
    metadata: dict[str, Any]
    source_uri: str | None = None
    policy: Policy | None = None
    binary: bytes | None = None
    include_binary: bool | None = None
    env_keys: tuple[str, ...] | None = None


@dataclass(frozen=True)
class WassetteDoc:
    """Either shape; ``shape`` is :data:`SNAPSHOT` or :data:`STATE`."""

    shape: str
    version: int | str
    created_at: int
    components: tuple[Component, ...]
    description: str | None = None
    wassette_version: str | None = None
    source: str | None = None
    tags: dict[str, str] = field(default_factory=dict)
    environment: dict[str, str] = field(default_factory=dict)
    paths: dict[str, str] = field(default_factory=dict)


def _fail(where: str, what: str) -> BundleError:
    return BundleError(f"{where}: {what}")


def _field(
    raw: Any, key: str, kinds: tuple[type, ...], where: str, *, optional: bool = False
) -> Any:
    if not isinstance(raw, dict):
        raise _fail(where, "must be an object")
    value = raw.get(key)
    if value is None and optional:
        return None
    if (isinstance(value, bool) and bool not in kinds) or not isinstance(value, kinds):
        names = "/".join(k.__name__ for k in kinds)
        raise _fail(where, f"{key} must be {'' if not optional else 'null or '}{names}")
    return value


def _u64(raw: Any, key: str, where: str) -> int:
    value = _field(raw, key, (int,), where)
    if not 0 <= value <= _U64:
        raise _fail(where, f"{key} must be an unsigned 64-bit integer")
    return int(value)


def _strings(value: Any, what: str, where: str) -> None:
    if not isinstance(value, (list, dict)) or not all(
        isinstance(v, str) for v in (value.values() if isinstance(value, dict) else value)
    ):
        raise _fail(where, f"{what} must hold strings only")


def check_id(component_id: str, where: str) -> str:
    """``component_id`` if it is usable as one folder name (it becomes ``components/<id>/``)."""
    if not _ID_RE.match(component_id) or component_id in (".", ".."):
        raise _fail(where, "component_id must be one path segment (no '/', '\\', '.', '..')")
    return component_id


def _metadata(raw: Any, where: str) -> dict[str, Any]:
    meta: dict[str, Any] = _field({"m": raw}, "m", (dict,), where)
    for key in _METADATA_LISTS:
        _field(meta, key, (list,), f"{where}.metadata")
    _strings(meta["tool_names"], "tool_names", f"{where}.metadata")
    _field(meta, "component_id", (str,), f"{where}.metadata")
    stamp = _field(meta, "validation_stamp", (dict,), f"{where}.metadata")
    for key in ("file_size", "mtime"):
        _u64(stamp, key, f"{where}.metadata.validation_stamp")
    _field(stamp, "content_hash", (str,), f"{where}.metadata.validation_stamp", optional=True)
    _u64(meta, "created_at", f"{where}.metadata")
    return meta


def _unique(components: list[Component], where: str) -> tuple[Component, ...]:
    seen: set[str] = set()
    for comp in components:
        if comp.component_id in seen:
            raise _fail(where, "duplicate component ID in snapshot")
        seen.add(comp.component_id)
    return tuple(components)


# --- the snapshot (version 1) --------------------------------------------------------


def parse_snapshot(doc: Any, where: str) -> WassetteDoc:
    """A Wassette ``StateSnapshot`` validated as Wassette's own ``validate()`` and serde do."""
    if _field(doc, "version", (int,), where) != 1:
        raise _fail(where, "unsupported snapshot version (this statesync reads version 1)")
    meta = _field(doc, "metadata", (dict,), where, optional=True) or {}
    text = {
        k: _field(meta, k, (str,), f"{where}.metadata", optional=True)
        for k in ("description", "wassette_version", "source")
    }
    tags = _field(meta, "tags", (dict,), f"{where}.metadata", optional=True) or {}
    _strings(tags, "tags", f"{where}.metadata")
    raw = _field(doc, "components", (list,), where)
    comps = [_snapshot_component(c, f"{where}.components[{i}]") for i, c in enumerate(raw)]
    return WassetteDoc(
        SNAPSHOT, 1, _u64(doc, "created_at", where), _unique(comps, where), tags=dict(tags), **text
    )


def _snapshot_component(raw: Any, at: str) -> Component:
    cid = check_id(_field(raw, "component_id", (str,), at), at)
    pol = _field(raw, "policy", (dict,), at, optional=True)
    policy = (
        None
        if pol is None
        else Policy(
            _field(pol, "content", (str,), f"{at}.policy"),
            _field(pol, "source_uri", (str,), f"{at}.policy"),
            _u64(pol, "created_at", f"{at}.policy"),
        )
    )
    data = _field(raw, "binary_data", (str,), at, optional=True)
    return Component(
        cid,
        _metadata(raw.get("metadata"), at),
        _field(raw, "source_uri", (str,), at),
        policy,
        None if data is None else _base64(data, at),
        _field(raw, "include_binary", (bool,), at, optional=True),
    )


def _base64(text: str, at: str) -> bytes:
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        raise _fail(at, "binary_data is not valid base64") from None


def render_snapshot(doc: WassetteDoc, *, include_binaries: bool) -> dict[str, Any]:
    """The snapshot as Wassette writes it (``skip_serializing_if`` fields left out when None)."""
    meta: dict[str, Any] = {
        "description": doc.description,
        "wassette_version": doc.wassette_version,
        "source": doc.source,
    }
    if doc.tags:
        meta["tags"] = dict(doc.tags)
    return {
        "version": 1,
        "created_at": doc.created_at,
        "components": [_render_component(c, include_binaries) for c in doc.components],
        "metadata": meta,
    }


def _render_component(comp: Component, include_binaries: bool) -> dict[str, Any]:
    out: dict[str, Any] = {
        "component_id": comp.component_id,
        "source_uri": comp.source_uri or "",
        "metadata": comp.metadata,
    }
    if comp.policy is not None:
        out["policy"] = {
            "content": comp.policy.content,
            "source_uri": comp.policy.source_uri,
            "created_at": comp.policy.created_at,
        }
    with_binary = include_binaries and comp.binary is not None
    if with_binary:
        out["binary_data"] = base64.b64encode(comp.binary or b"").decode()
    out["include_binary"] = with_binary
    return out


# --- the state export (WassetteState) --------------------------------------------------


def parse_state(doc: Any, where: str) -> WassetteDoc:
    """A Wassette ``WassetteState`` (as ``wassette state export`` writes, JSON or YAML)."""
    version = _field(doc, "version", (str,), where)
    if not version:
        raise _fail(where, "state version is empty")
    env = _field(doc, "environment", (dict,), where)
    _strings(env, "environment", where)
    paths = _field(doc, "paths", (dict,), where)
    for key in ("component_dir", "secrets_dir"):
        _field(paths, key, (str,), f"{where}.paths")
    raw = _field(doc, "components", (list,), where)
    comps = [_state_component(c, f"{where}.components[{i}]") for i, c in enumerate(raw)]
    return WassetteDoc(
        STATE,
        version,
        _u64(doc, "exported_at", where),
        _unique(comps, where),
        environment=dict(env),
        paths={k: paths[k] for k in ("component_dir", "secrets_dir")},
    )


def _state_component(raw: Any, at: str) -> Component:
    cid = check_id(_field(raw, "component_id", (str,), at), at)
    pol = _field(raw, "policy", (dict,), at, optional=True)
    policy = (
        None
        if pol is None
        else Policy(
            _field(pol, "policy_content", (str,), f"{at}.policy"),
            _field(pol, "source_uri", (str,), f"{at}.policy"),
            _u64(pol, "attached_at", f"{at}.policy"),
        )
    )
    sec = _field(raw, "secrets", (dict,), at, optional=True)
    keys = None
    if sec is not None:
        keys = _field(sec, "env_keys", (list,), f"{at}.secrets")
        _strings(keys, "env_keys", f"{at}.secrets")
    return Component(
        cid,
        _metadata(raw.get("metadata"), at),
        policy=policy,
        env_keys=None if keys is None else tuple(keys),
    )


def render_state(doc: WassetteDoc) -> dict[str, Any]:
    """The state export as Wassette writes it (Option fields as null, field order kept)."""
    return {
        "version": str(doc.version) if doc.shape == STATE else doc.wassette_version or "0.3.4",
        "exported_at": doc.created_at,
        "components": [_render_state_component(c) for c in doc.components],
        "environment": dict(doc.environment),
        "paths": {
            "component_dir": doc.paths.get("component_dir", ""),
            "secrets_dir": doc.paths.get("secrets_dir", ""),
        },
    }


def _render_state_component(comp: Component) -> dict[str, Any]:
    policy = (
        None
        if comp.policy is None
        else {
            "source_uri": comp.policy.source_uri,
            "policy_content": comp.policy.content,
            "attached_at": comp.policy.created_at,
        }
    )
    secrets = None if comp.env_keys is None else {"env_keys": list(comp.env_keys)}
    return {
        "component_id": comp.component_id,
        "metadata": comp.metadata,
        "policy": policy,
        "secrets": secrets,
    }
