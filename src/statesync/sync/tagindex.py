"""Find an environment's snapshots by tag without reading every manifest.

Objects (names from :mod:`statesync.sync.store.layout`), all empty and create-only:

* ``tags/<env>/t/<h>/<snapshot>`` — ``snapshot`` carries the tag whose
  ``key``/``value`` hash is ``h`` (hashed so any text can be a tag);
* ``tags/<env>/s/<snapshot>`` — the done-marker: ``snapshot`` and every
  ancestor of it have their tag entries.

Writers index their snapshot right after its ref write; readers first index
whatever the head's chain lacks (a writer killed before indexing, a push from
the CLI), walking back only to the first marked snapshot. All entries of a
walk are written before any marker, so a crash never leaves a marker that
lies. Entries have unique names, so concurrent writers never race. Every hit
is confirmed against its verified manifest, so a stale, forged or dangling
entry (a snapshot removed by gc, damaged) is never returned.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
from dataclasses import dataclass

from statesync.errors import AlreadyExists, IntegrityError, NotFound, SnapshotNotFound, UsageError
from statesync.sync.store import layout, refs
from statesync.sync.store import manifest as manifest_mod
from statesync.sync.store.repo import Repo


@dataclass(frozen=True)
class SnapshotMatch:
    """A snapshot whose tags include every tag asked for."""

    snapshot: str
    env: str
    created_at: str
    message: str
    tags: dict[str, str]


def tag_hash(key: str, value: str) -> str:
    """The name part of one tag: unambiguous for any key and value text."""
    return hashlib.sha256(json.dumps([key, value]).encode()).hexdigest()[:40]


def _create(repo: Repo, key: str) -> None:
    from statesync.backends.base import CREATE

    # another writer (or our own retried request) made it: same content
    with contextlib.suppress(AlreadyExists):
        repo.backend.put(key, b"", CREATE)


def _marked(repo: Repo, env: str, snapshot: str) -> bool:
    try:
        repo.backend.head(layout.tag_done_key(env, snapshot))
    except NotFound:
        return False
    return True


def _unindexed(
    repo: Repo, env: str, snapshot: str, full: bool = False
) -> dict[str, manifest_mod.Manifest]:
    """Manifests of ``snapshot`` and its ancestors back to the first marked ones (``full``: all).

    A gone (gc) or damaged ancestor ends its branch: its tags cannot be trusted.
    """
    found: dict[str, manifest_mod.Manifest] = {}
    stack = [snapshot]
    while stack:
        snap = stack.pop()
        if snap in found or (not full and _marked(repo, env, snap)):
            continue
        try:
            found[snap] = manifest_mod.load_manifest(repo, snap)
        except (SnapshotNotFound, IntegrityError):
            continue
        stack.extend(found[snap].parents)
    return found


def index_snapshot(repo: Repo, env: str, snapshot: str, *, full: bool = False) -> int:
    """Make ``snapshot`` (and its unindexed ancestors) findable; returns how many were indexed.

    ``full`` re-indexes the whole history whatever the markers say: the repair
    for tag index objects that were deleted or damaged.
    """
    todo = _unindexed(repo, env, snapshot, full)
    for snap, man in todo.items():
        for key, value in man.tags.items():
            _create(repo, layout.tag_entry_key(env, tag_hash(key, value), snap))
    for snap in todo:  # markers last: a marker never promises entries that are missing
        _create(repo, layout.tag_done_key(env, snap))
    return len(todo)


def find(
    repo: Repo, env: str, tags: dict[str, str], limit: int | None = None
) -> list[SnapshotMatch]:
    """``env``'s snapshots carrying every tag of ``tags``, newest first.

    Reads the head, one marker, one listing per tag and the manifests of the
    hits only. Raises :class:`UsageError` for no tags, :class:`IntegrityError`
    for a head the trust policy refuses.
    """
    if not tags:
        raise UsageError("find_snapshots needs at least one tag")
    state = refs.read_trusted_head(repo, env)
    if state is None:
        return []
    index_snapshot(repo, env, state.ref.snapshot)
    hits: set[str] | None = None
    for key, value in tags.items():
        prefix = layout.tag_entry_prefix(env, tag_hash(key, value))
        ids = {m.key[len(prefix) :] for m in repo.backend.list(prefix)}
        hits = ids if hits is None else hits & ids
    matches = [m for m in (_confirm(repo, env, s, tags) for s in hits or ()) if m]
    matches.sort(key=lambda m: m.created_at, reverse=True)
    return matches[:limit] if limit is not None else matches


def _confirm(repo: Repo, env: str, snapshot: str, tags: dict[str, str]) -> SnapshotMatch | None:
    if not layout.is_object_id(snapshot):
        return None
    try:
        man = manifest_mod.load_manifest(repo, snapshot)
    except (SnapshotNotFound, IntegrityError):  # gc'd or damaged: not a trustworthy answer
        return None
    if man.env != env or any(man.tags.get(k) != v for k, v in tags.items()):
        return None
    return SnapshotMatch(snapshot, man.env, man.created_at, man.message, dict(man.tags))


def rebuild(repo: Repo, env: str) -> int:
    """Re-create every missing tag index object of ``env``'s history; returns snapshots read."""
    state = refs.read_trusted_head(repo, env)
    return index_snapshot(repo, env, state.ref.snapshot, full=True) if state else 0
