"""Snapshot ids typed by the user, resolved only within trusted history.

Anyone who can write the store can plant a manifest whose id starts with a
prefix the user is likely to type (a 4-5 hex digit collision takes seconds to
find). So a prefix is looked up only among the snapshots reachable from the
trusted heads (:func:`read_trusted_head`, following every parent; each
manifest's id is the hash of its body, so the chain below a trusted head is
as trusted as the head), and must have at least :data:`MIN_PREFIX` hex digits.
A full 64-hex id names exact bytes; outside the trusted history it is
accepted only for an environment the local trust policy says nothing about.
"""

from __future__ import annotations

from collections.abc import Iterator

from statesync.errors import IntegrityError, SnapshotNotFound, UsageError
from statesync.sync.store import layout
from statesync.sync.store.gc_marker import read_marker
from statesync.sync.store.manifest import load_manifest
from statesync.sync.store.refs import list_envs, read_trusted_head
from statesync.sync.store.repo import Repo

MIN_PREFIX = 8


def check_id_or_prefix(name: str) -> str:
    """``name`` lowered if it is a full id or a hex prefix of at least MIN_PREFIX digits."""
    text = name.lower()
    if layout.is_object_id(text):
        return text
    if len(text) < MIN_PREFIX or len(text) > 64 or any(c not in "0123456789abcdef" for c in text):
        raise UsageError(
            f"{name!r} is not a snapshot id (give at least {MIN_PREFIX} hex digits, or the full id)"
        )
    return text


def history_of(repo: Repo, head: str) -> Iterator[str]:
    """Every snapshot reachable from ``head`` through parents (each once).

    A parent gc removed on purpose (a history cut, in the gc marker) ends
    that line of history; it is not damage, so it does not stop the walk.
    """
    todo, seen, cuts = [head], set(), read_marker(repo).cuts
    while todo:
        snap = todo.pop()
        if snap in seen:
            continue
        seen.add(snap)
        yield snap
        parents = load_manifest(repo, snap).parents
        todo.extend(p for p in parents if layout.is_object_id(p) and p not in cuts)


def _reachable(repo: Repo, heads: list[str], candidates: set[str]) -> set[str]:
    """Those of ``candidates`` that trusted ``heads`` reach (stops once all are found)."""
    found: set[str] = set()
    for head in heads:
        for snap in history_of(repo, head):
            if snap in candidates:
                found.add(snap)
                if found == candidates:
                    return found
    return found


def _trusted_heads(repo: Repo, env: str | None) -> list[str]:
    """Trusted heads of ``env`` (refusals raise) or of every env (refused ones skipped)."""
    if env is not None:
        state = read_trusted_head(repo, env)
        return [state.ref.snapshot] if state else []
    heads = []
    for name in list_envs(repo):
        try:
            state = read_trusted_head(repo, name)
        except IntegrityError:
            continue  # an environment we cannot trust contributes no history
        if state is not None:
            heads.append(state.ref.snapshot)
    return heads


def resolve_trusted(repo: Repo, name: str, env: str | None = None) -> str:
    """Expand a snapshot id or prefix within ``env``'s trusted history (None: every env's).

    Raises :class:`UsageError` (too short, not hex, ambiguous),
    :class:`SnapshotNotFound`, or :class:`IntegrityError` for a full id outside
    the trusted history of an environment the trust policy covers.
    """
    text = check_id_or_prefix(name)
    candidates = {
        layout.snapshot_id_from_key(m.key) for m in repo.backend.list(layout.snapshot_key(text))
    }
    found = _reachable(repo, _trusted_heads(repo, env), candidates) if candidates else set()
    if len(found) > 1:
        raise UsageError(f"snapshot prefix {text} is ambiguous ({len(found)} matches)")
    if found:
        return found.pop()
    where = f"{env}'s trusted history" if env else "the trusted history of any environment"
    if layout.is_object_id(text) and text in candidates:
        return _outside_history(repo, text, env)
    if candidates:  # in the store, but no trusted head reaches it: planted, or refused
        raise IntegrityError(
            f"snapshot {text} is not in {where} (the store holds it, but no "
            "trusted head reaches it)"
        )
    raise SnapshotNotFound(f"no snapshot in {where} starts with {text}")


def _outside_history(repo: Repo, snap: str, env: str | None) -> str:
    """A full id no trusted head reaches: only for an env without a local trust entry.

    Within one environment (``env``: rollback) it is never accepted.
    """
    manifest = load_manifest(repo, snap)
    if env is not None and manifest.env != env:
        raise UsageError(
            f"snapshot {snap[:12]} belongs to {manifest.env!r}, not {env!r} "
            "(rollback stays within one environment; use promote)"
        )
    if env is not None:
        raise IntegrityError(f"snapshot {snap[:12]} is not in {env}'s trusted history")
    if repo.trust is not None and repo.trust.entry(repo.store_id, manifest.env) is not None:
        raise IntegrityError(
            f"snapshot {snap[:12]} is not in the trusted history of "
            f"{manifest.env} (the local trust policy covers it)"
        )
    return snap
