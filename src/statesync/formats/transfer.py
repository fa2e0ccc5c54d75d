"""Import the seeds' formats into an environment, and export them from a snapshot.

Import validates the whole file first, then commits one snapshot on top of the
environment's head (its other files kept) with the ref's conditional write;
nothing is written when anything is wrong. Export reads the stored form only:
a secret value is never unsealed into an export file.
"""

from __future__ import annotations

import fnmatch
import json
import uuid
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import yaml

from statesync.errors import UsageError
from statesync.formats import detect, persist, wassette
from statesync.formats import wassette_files as wfiles
from statesync.sync.bundle import io as bundle_io
from statesync.sync.objects import CommitOptions, FileSpec, commit_layer
from statesync.sync.secrets import rules as secret_rules
from statesync.sync.store import chunkindex
from statesync.sync.store import content as download
from statesync.sync.store.manifest import Entry, Manifest, load_manifest
from statesync.sync.store.repo import Repo

EXPORT_FORMATS = ("wassette", "wassette-yaml", "persist")
AGENT_STATE = "agent_state.json"
PERSIST_META = "persist.json"
OBJECT = "object.json"
_Dumper: Any = getattr(yaml, "CSafeDumper", yaml.SafeDumper)


@dataclass(frozen=True)
class FormatImportResult:
    """What an import of a Wassette or Persist file did (``imported``: component ids or paths)."""

    format: str
    snapshot: str
    env: str
    serial: int
    files: int
    changed: bool
    parent: str | None
    imported: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)


@dataclass(frozen=True)
class FormatExportResult:
    """What an export wrote; ``left_out``: secret values not exported (names only)."""

    path: str
    format: str
    snapshot: str
    files: int
    bytes: int
    omitted_binaries: list[str] = field(default_factory=list)
    left_out: list[str] = field(default_factory=list)


# --- import ---------------------------------------------------------------------------


def import_detected(
    repo: Repo,
    found: detect.Detected,
    where: str,
    env: str,
    *,
    skip_existing: bool,
    message: str,
    opts: CommitOptions,
    components: list[str] | None = None,
) -> FormatImportResult:
    """Import a Wassette or Persist file already detected (bundles go to the bundle importer).

    ``components``: only these Wassette components (Wassette's restore filter);
    :class:`UsageError` for a Persist file.
    """
    if found.format == detect.PERSIST:
        if components is not None:
            raise UsageError("--component selects Wassette components: a Persist file has none")
        return _import_persist(
            repo, persist.read(found.raw, where), env, skip_existing, message, opts
        )
    parse = wassette.parse_snapshot if found.format == detect.WASSETTE else wassette.parse_state
    doc = parse(found.doc, where)  # the whole file is validated, also what the filter drops
    if components is not None:
        doc = replace(
            doc, components=tuple(c for c in doc.components if c.component_id in set(components))
        )
    return _import_wassette(repo, doc, env, skip_existing, message, opts)


def _import_wassette(
    repo: Repo, doc: wassette.WassetteDoc, env: str, skip: bool, message: str, opts: CommitOptions
) -> FormatImportResult:
    taken: list[str] = []
    skipped: list[str] = []

    def layer(head: Manifest | None) -> tuple[list[FileSpec], list[Entry]]:
        entries = head.entries if head else []
        have = {
            e.path.split("/")[1]
            for e in entries
            if e.path.startswith(wfiles.PREFIX) and e.path.count("/") == 2
        }
        comps = [c for c in doc.components if not (skip and c.component_id in have)]
        skipped.extend(c.component_id for c in doc.components if c not in comps)
        taken.extend(c.component_id for c in comps)
        files = wfiles.to_files(replace(doc, components=()))
        for comp in comps:
            files += wfiles.component_files(comp)
        return files, [e for e in entries if _kept(e.path, comps)]

    tags = wfiles.tags_of(doc)
    text = message or doc.description or f"import Wassette state ({len(doc.components)} components)"
    result = commit_layer(repo, env, layer, replace(opts, message=text, tags=tags))
    return FormatImportResult(
        doc.shape,
        result.snapshot,
        env,
        result.serial,
        result.files,
        result.changed,
        result.parent,
        taken,
        skipped,
    )


def _kept(path: str, replaced: list[wassette.Component]) -> bool:
    """Head files the import keeps: all but the replaced components' (their binary stays
    when the file carries none, as Wassette expects it already in place)."""
    for comp in replaced:
        base = wfiles.folder(comp.component_id)
        if path.startswith(base):
            return path == base + "component.wasm" and comp.binary is None
    return path != wfiles.STATE_FILE


def _import_persist(
    repo: Repo,
    snap: persist.PersistSnapshot,
    env: str,
    skip: bool,
    message: str,
    opts: CommitOptions,
) -> FormatImportResult:
    meta = snap.metadata
    skipped: list[str] = []

    def layer(head: Manifest | None) -> tuple[list[FileSpec], list[Entry]]:
        entries = head.entries if head else []
        if skip and any(e.path == AGENT_STATE for e in entries):
            skipped.append(AGENT_STATE)
            return [], entries
        state = (json.dumps(snap.agent_state, indent=2, ensure_ascii=False) + "\n").encode()
        info = (json.dumps(meta.__dict__, indent=2, ensure_ascii=False) + "\n").encode()
        return [FileSpec(AGENT_STATE, state), FileSpec(PERSIST_META, info, document=False)], [
            e for e in entries if e.path not in (AGENT_STATE, PERSIST_META)
        ]

    tags = {
        "agent_id": meta.agent_id,
        "session_id": meta.session_id,
        "snapshot_index": str(meta.snapshot_index),
        "snapshot_id": meta.snapshot_id,
    }
    text = message or meta.description or f"import Persist snapshot {meta.snapshot_id}"
    result = commit_layer(repo, env, layer, replace(opts, message=text, tags=tags))
    return FormatImportResult(
        detect.PERSIST,
        result.snapshot,
        env,
        result.serial,
        result.files,
        result.changed,
        result.parent,
        [] if skipped else [AGENT_STATE],
        skipped,
    )


# --- export ---------------------------------------------------------------------------


class _Files:
    """A snapshot's files in their stored form (sealed values stay sealed)."""

    def __init__(self, repo: Repo, snapshot: str) -> None:
        self.repo = repo
        self.manifest = load_manifest(repo, snapshot)
        self.entries = self.manifest.by_path()
        self._index: chunkindex.ChunkIndex | None = None

    def read(self, path: str) -> bytes | None:
        entry = self.entries.get(path)
        if entry is None or entry.kind not in ("document", "binary"):
            return None
        if self._index is None:
            self._index = chunkindex.load_index(self.repo)
        return download.read_entry(self.repo, self._index, entry)


@dataclass(frozen=True)
class Overrides:
    """The export's own metadata, over what the snapshot holds ("": keep)."""

    description: str = ""
    tags: dict[str, str] = field(default_factory=dict)


def export_format(
    repo: Repo,
    snapshot: str,
    out: Path,
    fmt: str,
    *,
    include_binaries: bool,
    components: list[str] | None,
    paths: list[str] | None,
    description: str = "",
    tags: dict[str, str] | None = None,
) -> FormatExportResult:
    """Write ``snapshot`` as a ``fmt`` file (see :data:`EXPORT_FORMATS`) at ``out``, atomically.

    ``components``/``paths``: Wassette's component filter (ids; globs over ids or
    ``components/<id>``). Raises :class:`UsageError` (unknown format, no such
    state in the snapshot), :class:`IntegrityError` if stored content is damaged.
    """
    if fmt not in EXPORT_FORMATS:
        raise UsageError(f"unknown export format {fmt!r} (choose from {', '.join(EXPORT_FORMATS)})")
    files = _Files(repo, snapshot)
    over = Overrides(description, dict(tags or {}))
    if fmt == "persist":
        return _export_persist(files, snapshot, out, over)
    return _export_wassette(
        files, snapshot, out, fmt, include_binaries, _wanted(files, components, paths), over
    )


def _wanted(
    files: _Files, components: list[str] | None, globs: list[str] | None
) -> list[str] | None:
    if components is None and not globs:
        return None
    ids = {p.split("/")[1] for p in files.entries if p.startswith(wfiles.PREFIX)}
    chosen = set(components or [])
    chosen |= {
        i
        for i in ids
        for g in globs or []
        if fnmatch.fnmatchcase(i, g) or fnmatch.fnmatchcase(wfiles.PREFIX + i, g)
    }
    return sorted(chosen)


def _export_wassette(
    files: _Files,
    snapshot: str,
    out: Path,
    fmt: str,
    binaries: bool,
    wanted: list[str] | None,
    over: Overrides,
) -> FormatExportResult:
    doc = wfiles.from_files(list(files.entries), files.read, components=wanted, binaries=binaries)
    doc = replace(
        doc, description=over.description or doc.description, tags={**doc.tags, **over.tags}
    )
    stored = json.loads(files.read(wfiles.STATE_FILE) or b"{}").get("environment") or {}
    left_out = sorted(set(stored) - set(doc.environment))
    where = f"snapshot {snapshot[:12]}"
    if fmt == "wassette":
        out_doc = wassette.render_snapshot(doc, include_binaries=binaries)
        wassette.parse_snapshot(out_doc, where)  # what Wassette would refuse is never written
        text = json.dumps(out_doc, indent=2, ensure_ascii=False)
    else:
        out_doc = wassette.render_state(doc)
        wassette.parse_state(out_doc, where)
        text = yaml.dump(
            out_doc, Dumper=_Dumper, sort_keys=False, allow_unicode=True, width=1 << 30
        )
    size = _write(out, text.encode())
    omitted = [c.component_id for c in doc.components if c.binary is None or not binaries]
    has_wasm = {p.split("/")[1] for p in files.entries if p.endswith("/component.wasm")}
    return FormatExportResult(
        str(out),
        fmt,
        snapshot,
        len(doc.components),
        size,
        [i for i in omitted if i in has_wasm],
        left_out,
    )


def _write(out: Path, data: bytes) -> int:
    with bundle_io.atomic_output(out) as fh:
        fh.write(data)
    return len(data)


def _export_persist(files: _Files, snapshot: str, out: Path, over: Overrides) -> FormatExportResult:
    path = AGENT_STATE if AGENT_STATE in files.entries else OBJECT
    raw = files.read(path)
    if raw is None:
        raise UsageError(
            f"snapshot {snapshot[:12]} holds no agent state ({AGENT_STATE} or "
            f"{OBJECT}) to export as a Persist snapshot"
        )
    state = json.loads(raw)
    left_out = [f"{path}#{p}" for p in files.entries[path].secret_pointers]
    for pointer in files.entries[path].secret_pointers:
        state = _set(state, pointer, secret_rules.MARKER)
    meta = _persist_meta(files, snapshot, state)
    meta["description"] = over.description or meta["description"]
    size = _write(out, persist.build(state, **meta))
    return FormatExportResult(str(out), "persist", snapshot, 1, size, [], left_out)


def _persist_meta(files: _Files, snapshot: str, state: Any) -> dict[str, Any]:
    """The imported file's own metadata when the state is unchanged, else one from the tags."""
    man = files.manifest
    old = json.loads(files.read(PERSIST_META) or b"{}")
    if old.get("content_hash") == persist.content_hash(state)[0]:
        return {
            k: old.get(k)
            for k in (
                "agent_id",
                "session_id",
                "snapshot_index",
                "timestamp",
                "description",
                "snapshot_id",
            )
        }
    stamp = datetime.fromisoformat(man.created_at).astimezone(UTC)
    index = man.tags.get("snapshot_index", "0")
    return {
        "agent_id": man.tags.get("agent_id") or "statesync",
        "session_id": man.tags.get("session_id") or "default",
        "snapshot_index": int(index) if index.isascii() and index.isdigit() else 0,
        "timestamp": stamp.strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
        "description": man.message or None,
        "snapshot_id": str(uuid.uuid5(uuid.NAMESPACE_URL, f"statesync:{snapshot}")),
    }


def _set(doc: Any, pointer: str, value: Any) -> Any:
    """``doc`` with the value at JSON ``pointer`` replaced (RFC 6901 escapes)."""
    if pointer == "":
        return value
    parts = [p.replace("~1", "/").replace("~0", "~") for p in pointer.lstrip("/").split("/")]
    node = doc
    for part in parts[:-1]:
        node = node[int(part)] if isinstance(node, list) else node[part]
    last = parts[-1]
    node[int(last) if isinstance(node, list) else last] = value
    return doc
