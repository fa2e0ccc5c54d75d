"""Export side of bundles: which entries go in, and the document that describes them."""

from __future__ import annotations

import base64
import socket
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from typing import Any

from statesync.errors import UsageError
from statesync.sync.bundle.schema import BASE64, FILES_PREFIX, FORMAT, UTF8, VERSION
from statesync.sync.bundle.tar import Member
from statesync.sync.secrets.policy import glob_matcher
from statesync.sync.store.chunkindex import ChunkIndex
from statesync.sync.store.content import iter_entry, read_entry
from statesync.sync.store.manifest import Entry, Manifest
from statesync.sync.store.repo import Repo
from statesync.version import __version__


def is_policy(entry: Entry) -> bool:
    """A document whose file name mentions 'policy' is listed under ``policies``."""
    return entry.kind == "document" and "policy" in entry.path.rsplit("/", 1)[-1].lower()


def has_content(entry: Entry, include_binaries: bool) -> bool:
    """True if an export carries this entry's bytes."""
    return entry.kind != "symlink" and (entry.kind != "binary" or include_binaries)


def build_header(
    manifest: Manifest,
    snapshot: str,
    entries: list[Entry],
    secret_files: list[str],
    *,
    description: str,
    tags: dict[str, str],
    paths: list[str],
    include_binaries: bool,
) -> dict[str, Any]:
    """The bundle document without its ``components`` (the writer appends them last)."""
    return {
        "format": FORMAT,
        "version": VERSION,
        "created_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "component_count": len(entries),
        "metadata": {
            "description": description,
            "tags": dict(tags),
            "source": socket.gethostname(),
            "statesync_version": __version__,
            "store_id": manifest.store_id,
            "env": manifest.env,
            "snapshot": snapshot,
            "parents": list(manifest.parents),
            "message": manifest.message,
            "author": manifest.author,
            "snapshot_created_at": manifest.created_at,
            "snapshot_tags": dict(manifest.tags),
            "paths": list(paths),
            "include_binaries": include_binaries,
            "encryption": manifest.encryption.to_json(),  # how its secrets are sealed
        },
        "policies": [e.path for e in entries if is_policy(e)],
        "secrets": {
            "files": list(secret_files),
            "values": {e.path: list(e.secret_pointers) for e in entries if e.secret_pointers},
        },
    }


def component_header(entry: Entry, include_binaries: bool) -> dict[str, Any]:
    """A component's fields other than its content."""
    out: dict[str, Any] = {
        "path": entry.path,
        "kind": entry.kind,
        "mode": entry.mode,
        "size": entry.size,
        "sha256": entry.digest,
    }
    if entry.kind == "symlink":
        out["target"] = entry.target
    elif not has_content(entry, include_binaries):
        out["include_binary"] = False
    return out


def inline_content(entry: Entry, data: bytes) -> dict[str, str]:
    """``encoding`` and ``content`` for bytes: UTF-8 text for documents, else base64."""
    if entry.kind == "document":
        try:
            return {"encoding": UTF8, "content": data.decode("utf-8")}
        except UnicodeDecodeError:
            pass
    return base64_content(data)


def base64_content(data: bytes) -> dict[str, str]:
    """``encoding`` and ``content`` for bytes as base64."""
    return {"encoding": BASE64, "content": base64.b64encode(data).decode("ascii")}


def _selector(paths: list[str]) -> Callable[[str], bool]:
    """A predicate: the path, or one of its folders, matches one of the globs."""
    matcher = glob_matcher(paths)

    def selected(path: str) -> bool:
        parts = path.split("/")
        return any(matcher.match("/".join(parts[:i])) for i in range(len(parts), 0, -1))

    return selected


def select(manifest: Manifest, paths: list[str]) -> tuple[list[Entry], list[str]]:
    """Entries and secret-file names matching ``paths`` (a glob naming a folder selects
    what it holds); all when ``paths`` is empty. :class:`UsageError` if none match."""
    entries = sorted(manifest.entries, key=lambda e: e.path)
    names = sorted(manifest.secret_files)
    if not paths:
        return entries, names
    selected = _selector(paths)
    entries = [e for e in entries if selected(e.path)]
    names = [n for n in names if selected(n)]
    if not entries and not names:
        raise UsageError(f"no file of the snapshot matches --path {' '.join(paths)}")
    return entries, names


def inline(repo: Repo, index: ChunkIndex, entry: Entry, include_binaries: bool) -> dict[str, Any]:
    """One JSON/YAML component with its verified content inline (if it is carried)."""
    comp = component_header(entry, include_binaries)
    if has_content(entry, include_binaries):
        comp.update(inline_content(entry, read_entry(repo, index, entry)))
    return comp


def members(
    repo: Repo, index: ChunkIndex, entries: list[Entry], include_binaries: bool
) -> Iterator[Member]:
    """``.tar.zst`` members (name, size, verified chunks) for the carried entries."""
    for e in entries:
        if has_content(e, include_binaries):
            yield FILES_PREFIX + e.path, e.size, iter_entry(repo, index, e)
