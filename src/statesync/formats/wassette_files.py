"""How a Wassette state lives in an environment: one folder per component.

    wassette.json                          the state's own fields (shape, version,
                                           created_at, description, source, environment, paths)
    components/<component_id>/component.json   {component_id, source_uri, include_binary}
    components/<component_id>/metadata.json    Wassette's ComponentMetadata
    components/<component_id>/policy.yaml      the policy, byte for byte
    components/<component_id>/policy.json      {source_uri, created_at}
    components/<component_id>/secrets.json     {env_keys}: names only
    components/<component_id>/component.wasm   the binary, when the file carried it

The snapshot's tags are the state's ``metadata.tags`` plus ``wassette_version``
and ``source``; its message is the description.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from statesync.errors import BundleError
from statesync.formats.wassette import Component, Policy, WassetteDoc, check_id
from statesync.sync.objects import FileSpec
from statesync.sync.secrets import rules as secret_rules
from statesync.sync.store import sealing

STATE_FILE = "wassette.json"
PREFIX = "components/"


def _json(value: Any) -> bytes:
    return (json.dumps(value, indent=2, ensure_ascii=False) + "\n").encode()


def folder(component_id: str) -> str:
    return f"{PREFIX}{component_id}/"


def tags_of(doc: WassetteDoc) -> dict[str, str]:
    extra = {"wassette_version": doc.wassette_version, "source": doc.source}
    return {**doc.tags, **{k: v for k, v in extra.items() if v}}


def to_files(doc: WassetteDoc) -> list[FileSpec]:
    """The files that hold ``doc`` (see the module docstring)."""
    head = {
        "shape": doc.shape,
        "version": doc.version,
        "created_at": doc.created_at,
        "description": doc.description,
        "wassette_version": doc.wassette_version,
        "source": doc.source,
        "tags": doc.tags,
        "environment": doc.environment,
        "paths": doc.paths,
    }
    files = [FileSpec(STATE_FILE, _json(head))]
    for comp in doc.components:
        files += component_files(comp)
    return files


def component_files(comp: Component) -> list[FileSpec]:
    base = folder(comp.component_id)
    # Tool schemas name parameters ("api_key": {"type": "string"}): no values, so they
    # are stored as they are rather than taken for secrets.
    files = [
        FileSpec(
            base + "component.json",
            _json(
                {
                    "component_id": comp.component_id,
                    "source_uri": comp.source_uri,
                    "include_binary": comp.include_binary,
                }
            ),
        ),
        FileSpec(base + "metadata.json", _json(comp.metadata), document=False),
    ]
    if comp.policy is not None:
        files.append(FileSpec(base + "policy.yaml", comp.policy.content.encode()))
        files.append(
            FileSpec(
                base + "policy.json",
                _json({"source_uri": comp.policy.source_uri, "created_at": comp.policy.created_at}),
            )
        )
    if comp.env_keys is not None:
        files.append(
            FileSpec(
                base + "secrets.json", _json({"env_keys": list(comp.env_keys)}), document=False
            )
        )
    if comp.binary is not None:
        files.append(FileSpec(base + "component.wasm", comp.binary, document=False))
    return files


Reader = Callable[[str], bytes | None]


def _load(read: Reader, path: str) -> Any:
    """The JSON object stored at ``path`` (None if absent); :class:`BundleError` otherwise."""
    raw = read(path)
    if raw is None:
        return None
    try:
        doc = json.loads(raw)
    except ValueError:
        raise BundleError(f"{path}: not valid JSON") from None
    if not isinstance(doc, dict):
        raise BundleError(f"{path}: not a JSON object")
    return doc


def from_files(
    paths: list[str], read: Reader, *, components: list[str] | None = None, binaries: bool = True
) -> WassetteDoc:
    """The state held by a snapshot's files (``read(path)``: bytes or None if absent).

    ``components`` keeps only those ids (Wassette's component filter);
    ``binaries`` False reads no ``component.wasm``. Raises :class:`UsageError`
    when the snapshot holds no Wassette state, :class:`BundleError` if damaged.
    """
    ids = sorted(
        {
            p[len(PREFIX) :].split("/", 1)[0]
            for p in paths
            if p.startswith(PREFIX) and p.count("/") == 2
        }
    )
    head: dict[str, Any] = _load(read, STATE_FILE) or {}
    if not ids and not head:
        from statesync.errors import UsageError

        raise UsageError(
            "the snapshot holds no Wassette state (no components/ and no "
            "wassette.json): import a Wassette file first"
        )
    wanted = ids if components is None else [i for i in ids if i in set(components)]
    comps = tuple(_component(read, check_id(i, PREFIX + i), binaries) for i in wanted)
    return WassetteDoc(
        str(head.get("shape") or "wassette"),
        head.get("version", 1),
        int(head.get("created_at") or 0),
        comps,
        description=head.get("description"),
        wassette_version=head.get("wassette_version"),
        source=head.get("source"),
        tags=dict(head.get("tags") or {}),
        environment=_public(head.get("environment") or {}),
        paths=dict(head.get("paths") or {}),
    )


def _public(env: dict[str, str]) -> dict[str, str]:
    """Environment variables without the secret ones (their values never leave the store)."""
    return {k: v for k, v in env.items() if isinstance(v, str) and not _secret_like(v)}


def _secret_like(value: str) -> bool:
    sealed = (secret_rules.SEALED_PREFIX, sealing.BYTES_PREFIX)
    return value == secret_rules.MARKER or value.startswith(sealed)


def _component(read: Reader, cid: str, binaries: bool) -> Component:
    base = folder(cid)
    info = _load(read, base + "component.json") or {}
    meta = _load(read, base + "metadata.json")
    if not isinstance(meta, dict):
        raise BundleError(f"{base}metadata.json: missing or not an object")
    content, pmeta = read(base + "policy.yaml"), _load(read, base + "policy.json")
    policy = None
    if content is not None:
        pmeta = pmeta or {}
        stamp = pmeta.get("created_at")
        policy = Policy(
            content.decode("utf-8", "replace"),
            str(pmeta.get("source_uri", "")),
            stamp if isinstance(stamp, int) else 0,
        )
    secrets = _load(read, base + "secrets.json")
    binary = read(base + "component.wasm") if binaries else None
    return Component(
        cid,
        meta,
        info.get("source_uri"),
        policy,
        binary,
        info.get("include_binary"),
        None if secrets is None else tuple(secrets.get("env_keys") or ()),
    )
