"""Deleting, copying and pruning threads (``StatesyncSaver``'s maintenance methods).

Every checkpoint these read is verified as any read is; a thread's head is
never deleted, only replaced (empty when nothing is left), so its serial keeps
growing (:mod:`statesync.integrations.langgraph.threads`).
"""

from __future__ import annotations

from typing import Any

from statesync.integrations.langgraph.threadlog import ThreadLogs
from statesync.integrations.langgraph.threads import Listed, Listing, ThreadStore
from statesync.integrations.langgraph.writesets import WriteSets
from statesync.sync.store import layout


def _drop(threads: ThreadStore, writes: WriteSets, found: Listing, items: list[Listed]) -> None:
    """Delete checkpoint objects and their write sets."""
    keys = []
    for item in items:
        keys.append(item.key)
        wkey = found.writes_of(item.k)
        if wkey:
            writes.forget(wkey)
            keys.append(wkey)
    threads.delete(keys)


def _same(a: Listed, b: Listed) -> bool:
    """Objects of one checkpoint (there are two if it was put twice)."""
    return (a.k.thread, a.k.ns, a.k.checkpoint_id) == (b.k.thread, b.k.ns, b.k.checkpoint_id)


def delete_thread(threads: ThreadStore, writes: WriteSets, thread_id: str) -> None:
    """Delete every checkpoint and write of ``thread_id``; its head becomes empty."""
    thread = layout.langgraph_name(thread_id)
    found = threads.listing(layout.langgraph_thread_prefix(thread))
    for wkey in found.writes.values():
        writes.forget(wkey)
    threads.delete([item.key for item in found.checkpoints] + list(found.writes.values()))
    if found.heads:
        threads.replace_head(thread, thread_id, {})


def delete_for_runs(threads: ThreadStore, writes: WriteSets, runs: set[str]) -> None:
    """Delete the checkpoints of ``runs`` in every thread, then re-point their heads."""
    if not runs:
        return
    found = threads.listing(layout.LANGGRAPH)
    touched: dict[str, str] = {}
    for item in found.unique():
        got = threads.checkpoint(item.k)
        if got is not None and got[0].get("run") in runs:
            _drop(threads, writes, found, [i for i in found.checkpoints if _same(i, item)])
            touched[item.k.thread] = str(got[0]["thread"])
    for thread, thread_id in touched.items():
        rehead(threads, thread, thread_id)


def copy_thread(threads: ThreadStore, writes: WriteSets, source: str, target: str) -> None:
    """Copy every checkpoint and write of ``source`` into ``target`` (re-signed, re-sealed)."""
    src, dst = layout.langgraph_name(source), layout.langgraph_name(target)
    found = threads.listing(layout.langgraph_thread_prefix(src))
    sealed = threads.sealed(src) or threads.sealed(dst)
    latest: dict[str, tuple[str, str]] = {}
    for item in found.unique():
        got = threads.checkpoint(item.k, None)
        if got is None:
            continue
        record = {**got[0], "thread": target}
        ns = str(record["ns"])
        k = layout.LangGraphKey("checkpoint", dst, item.k.ns, item.k.checkpoint_id)
        digest = threads.put_checkpoint(k, record, sealed=sealed)
        if latest.get(ns, ("", ""))[0] < item.k.checkpoint_id:
            latest[ns] = (item.k.checkpoint_id, digest)
        wkey = found.writes_of(item.k)
        if wkey:
            rows = writes.read(wkey, (source, ns, item.k.checkpoint_id))
            name = layout.langgraph_checkpoint_name(item.k.checkpoint_id)
            base = {"thread": target, "ns": ns, "cp": item.k.checkpoint_id}
            writes.add(layout.langgraph_writes_key(dst, item.k.ns, name), base, rows, sealed=sealed)
    for ns, newest in latest.items():
        threads.advance_head(dst, target, ns, newest)


def keep_latest(threads: ThreadStore, writes: WriteSets, thread_id: str) -> None:
    """Keep each namespace's newest checkpoint (and its writes); delete the others."""
    found = threads.listing(layout.langgraph_thread_prefix(layout.langgraph_name(thread_id)))
    newest: dict[str, str] = {}
    for item in found.checkpoints:
        newest[item.k.ns] = max(newest.get(item.k.ns, ""), item.k.checkpoint_id)
    kept = {i.key for i in found.unique() if i.k.checkpoint_id == newest[i.k.ns]}
    _drop(
        threads,
        writes,
        found,
        [i for i in found.checkpoints if i.k.checkpoint_id != newest[i.k.ns]],
    )
    # A newest checkpoint put twice: only the object not chosen goes (its writes stay).
    threads.delete(
        [
            i.key
            for i in found.checkpoints
            if i.k.checkpoint_id == newest[i.k.ns] and i.key not in kept
        ]
    )


def rehead(threads: ThreadStore, thread: str, thread_id: str) -> None:
    """Point the head at the newest checkpoint left in each namespace."""
    found = threads.listing(layout.langgraph_thread_prefix(thread))
    newest: dict[str, Listed] = {}
    for item in found.unique():
        best = newest.get(item.k.ns)
        if best is None or item.k.checkpoint_id > best.k.checkpoint_id:
            newest[item.k.ns] = item
    latest: dict[str, tuple[str, str]] = {}
    for item in newest.values():
        got = threads.checkpoint(item.k)
        if got is not None:
            latest[str(got[0]["ns"])] = (item.k.checkpoint_id, item.k.digest)
    threads.replace_head(thread, thread_id, latest)


# --- thread logs (local stores: statesync.integrations.langgraph.threadlog) ------


def delete_runs_in_logs(logs: ThreadLogs, runs: set[str]) -> None:
    """Rewrite every thread log holding a checkpoint of ``runs`` without them."""
    if not runs:
        return
    for thread in logs.threads():
        if any(entry.run in runs for _, _, entry in logs.entries(thread)):
            logs.rewrite(thread, lambda ns, cp, rec, newest: rec.get("run") not in runs)


def copy_log(logs: ThreadLogs, source: str, target: str) -> None:
    """Append every checkpoint and write of ``source`` to ``target``'s log (one write)."""
    src, dst = layout.langgraph_name(source), layout.langgraph_name(target)
    entries = sorted(logs.entries(src), key=lambda e: e[2].serial)
    records: list[dict[str, Any]] = []
    for ns, cp, _ in entries:
        found = logs.found(src, ns, cp)
        if found is None:
            continue
        records.append({**found.record, "thread": target})
        if found.rows:
            records.append({"t": "w", "thread": target, "ns": ns, "cp": cp, "writes": found.rows})
    if records:
        logs.append_records(dst, records, seal=logs.sealed(src))


def migrate_to_log(threads: ThreadStore, writes: WriteSets, logs: ThreadLogs, thread: str) -> None:
    """Copy a thread the object layout holds into its (absent or empty) log, once.

    Every object is verified as any read is; the objects are left in place (they
    are no longer read while thread logs are in use).
    """
    found = threads.listing(layout.langgraph_thread_prefix(thread))
    records: list[dict[str, Any]] = []
    for item in sorted(found.unique(), key=lambda i: i.k.checkpoint_id):
        got = threads.checkpoint(item.k)
        if got is None:
            continue
        rec = {**got[0], "t": "c"}
        records.append(rec)
        wkey = found.writes_of(item.k)
        if wkey:
            owner = (str(rec["thread"]), str(rec["ns"]), item.k.checkpoint_id)
            rows = writes.read(wkey, owner)
            if rows:
                w = {"t": "w", "thread": owner[0], "ns": owner[1], "cp": owner[2], "writes": rows}
                records.append(w)
    if records:
        logs.adopt(thread, records, seal=threads.sealed(thread))
