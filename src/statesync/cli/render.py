"""Human-readable output of CLI results (``--json`` prints the raw result instead)."""

from __future__ import annotations

from typing import Any


def _size(n: int) -> str:
    for unit in ("B", "KiB", "MiB", "GiB"):
        if abs(n) < 1024 or unit == "GiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024  # type: ignore[assignment]
    return str(n)


def _push_plan(r: dict[str, Any]) -> None:
    kept = "sealed with the environment's key" if r["secrets_sealed"] else "left out"
    print(f"dry run: nothing was written; a push to {r['env']} would:")
    for p in r["excluded"]:
        print(f"  exclude   {p}  (secret file, {kept})")
    for doc in r["redacted"]:
        print(f"  redact    {doc['path']}  {', '.join(doc['pointers'])}")
    for p in r["upload"]:
        print(f"  upload    {p}")
    for p in r["deleted"]:
        print(f"  delete    {p}")
    for problem in r["refused"]:
        print(f"  refuse    {problem}")
    print(f"  at most {_size(r['upload_bytes'])} to upload")


def _push(r: dict[str, Any]) -> None:
    if r.get("dry_run"):
        _push_plan(r)
        return
    if not r["changed"]:
        print(f"{r['env']}: no changes (snapshot {r['snapshot'][:12]}, serial {r['serial']})")
        if r["uploaded_bytes"]:  # the head's lost chunks, healed (see README, Damage and repair)
            print(f"re-uploaded {_size(r['uploaded_bytes'])} the store had lost")
        return
    print(
        f"pushed {r['files']} files to {r['env']} as {r['snapshot'][:12]} "
        f"(serial {r['serial']}): uploaded {_size(r['uploaded_bytes'])}, "
        f"reused {_size(r['reused_bytes'])}"
    )
    if r["secret_files"]:
        print(f"kept on this machine (secret): {', '.join(r['secret_files'])}")


def _pull(r: dict[str, Any]) -> None:
    print(
        f"pulled {r['snapshot'][:12]} ({r['env']}, serial {r['serial']}): {r['files']} files, "
        f"downloaded {_size(r['downloaded_bytes'])}, {r['reused_files']} already present"
    )
    for p in r["kept_unmanaged"]:
        print(f"kept unmanaged: {p}")


def _status(r: dict[str, Any]) -> None:
    env = r["env"]
    if r["synced"]:
        print(f"{env}: this folder last synced {r['synced'][:12]} (serial {r['synced_serial']})")
    elif r["head"]:
        print(f"{env}: this folder never synced it; compared with its head {r['head'][:12]}")
    else:
        print(f"{env}: no snapshot yet")
    if r["synced"] and r["base"] != r["synced"]:
        base = (r["base"] or "none")[:12]
        print(f"  that snapshot is gone from the store; compared with the head ({base})")
    if r["env_moved"]:
        print(
            f"the environment has moved since (serial {r['synced_serial']} → {r['head_serial']}, "
            f"head {r['head'][:12]}): pull to get it"
        )
    for label in ("added", "modified", "deleted"):
        for p in r[label]:
            print(f"  {label:9} {p}")
    if r["clean"]:
        print("  no local changes")


#: The widest a ``log`` column gets before its value is elided with "…".
_LOG_WIDTHS = {"author": 24, "message": 40}
_LOG_HEADER = ("SERIAL", "ID", "M", "AUTHOR", "TIME", "MESSAGE", "TAGS")


def elide(text: str, width: int) -> str:
    """``text`` cut to ``width`` characters, the last one "…" when something was cut."""
    return text if len(text) <= width else text[: width - 1] + "…"


def _log_row(s: dict[str, Any]) -> list[str]:
    tags = " ".join(f"{k}={v}" for k, v in sorted(s["tags"].items()))
    author = f"{s['author']}@{s['host']}" if s["host"] else s["author"]
    message = " ".join(s["message"].split())  # one line: a message's newlines would split the row
    return [
        str(s["serial"]) if s.get("serial") is not None else "?",
        s["snapshot"][:12],
        "M" if s.get("merge") else "",
        elide(author, _LOG_WIDTHS["author"]),
        s["created_at"],
        elide(message, _LOG_WIDTHS["message"]),
        elide(tags, _LOG_WIDTHS["message"]),
    ]


def _log_table(snaps: list[dict[str, Any]]) -> None:
    rows = [list(_LOG_HEADER), *map(_log_row, snaps)]
    widths = [max(len(row[i]) for row in rows) for i in range(len(_LOG_HEADER))]
    for row, s in zip(rows, [None, *snaps], strict=True):
        cells = [
            c.rjust(w) if i == 0 else c.ljust(w)
            for i, (c, w) in enumerate(zip(row, widths, strict=True))
        ]
        print("  ".join(cells).rstrip())
        if s is not None and s.get("history_cut"):
            print("  (history before this was removed by gc)")


def _log(r: dict[str, Any]) -> None:
    if "envs" in r:  # log --all-envs
        for env, snaps in r["envs"].items():
            print(f"== {env}")
            _log({"snapshots": snaps})
        for env, error in r.get("errors", {}).items():
            print(f"== {env}\n  error: {error}")
        return
    if not r["snapshots"]:
        print("no snapshots")
        return
    _log_table(r["snapshots"])


def _diff(r: dict[str, Any]) -> None:
    for p in r["added"]:
        print(f"+ {p}")
    for p in r["removed"]:
        print(f"- {p}")
    for p, keys in r["modified"].items():
        print(f"~ {p}" + (f"  ({', '.join(keys)})" if keys else ""))


def _show(r: dict[str, Any]) -> None:
    print(
        f"snapshot {r['id']}\nenv {r['env']}  created {r['created_at']}  "
        f"by {r['author']}@{r['host']}"
    )
    if r["message"]:
        print(f"message {r['message']}")
    for k, v in r["tags"].items():
        print(f"tag {k}={v}")
    for e in r["entries"]:
        link = f" -> {e['target']}" if e.get("target") is not None else ""
        print(f"  {e['mode']:o} {e['kind']:8} {e['size']:>10} {e['path']}{link}")
    for p in r["secret_files"]:
        print(f"  (secret, not stored) {p}")


def _lock(r: dict[str, Any]) -> None:
    purpose = f" for {r['purpose']!r}" if r["purpose"] else ""
    print(
        f"locked {r['env']} by {r['holder']}{purpose}; expires {r['expires_at']} "
        f"unless renewed\nlock id {r['lock_id']}"
    )


def _locks(r: dict[str, Any]) -> None:
    for lk in r["locks"]:
        from statesync.cli.output import one_line  # a lease's fields are anyone's text

        if lk.get("malformed"):
            print(one_line(f"{lk['env']}  malformed: {lk['malformed']}"))
            continue
        state = "stale since" if lk["stale"] else "expires"
        purpose = f" for {lk['purpose']!r}" if lk["purpose"] else ""
        print(
            one_line(
                f"{lk['env']}  {lk['holder']}{purpose}  {state} {lk['expires_at']}  "
                f"lock id {lk['lock_id']}"
            )
        )
    if not r["locks"]:
        print("no locks")


def _unlock(r: dict[str, Any]) -> None:
    from statesync.cli.output import one_line  # the removed lease's fields are anyone's text

    print(one_line(f"unlocked {r['env']} (lock {r['lock_id']} of {r['holder']})"))


def _promote(r: dict[str, Any]) -> None:
    src = f"{r['source_env']} ({r['source_snapshot'][:12]})"
    if not r["changed"]:
        print(f"{r['env']} already holds the files of {src}: nothing to promote")
        return
    print(
        f"promoted {src} to {r['env']} as {r['snapshot'][:12]} "
        f"(serial {r['serial']}, {r['files']} files)"
    )


def _rollback(r: dict[str, Any]) -> None:
    if not r["changed"]:
        print(f"{r['env']} already holds the files of {r['rollback_to'][:12]}: nothing to do")
        return
    print(
        f"rolled {r['env']} back to the files of {r['rollback_to'][:12]} as "
        f"{r['snapshot'][:12]} (serial {r['serial']}, {r['files']} files)"
    )


def _export(r: dict[str, Any]) -> None:
    print(
        f"exported {r['files']} files of {r['snapshot'][:12]} to {r['path']} "
        f"({r['format']}, {_size(r['bytes'])})"
    )
    if r.get("omitted_binaries"):
        print(
            f"binaries listed without content: {len(r['omitted_binaries'])} "
            "(use --include-binaries)"
        )


def _import(r: dict[str, Any]) -> None:
    if not r["changed"]:
        print(f"{r['env']}: nothing to import (snapshot {r['snapshot'][:12]})")
    else:
        print(
            f"imported into {r['env']} as {r['snapshot'][:12]} (serial {r['serial']}): "
            f"{r['files']} files"
        )
    for label in ("skipped", "missing", "left_out"):
        if r.get(label):
            print(f"{label}: {', '.join(r[label])}")
    if r.get("note"):
        print(r["note"])


def _verify(r: dict[str, Any]) -> None:
    print(
        f"ok: {r['refs']} refs, {r['snapshots']} snapshots, {r['chunks']} chunks checked"
        + (f", {r['packs_read']} packs read" if r["packs_read"] else "")
    )


def _repair(r: dict[str, Any]) -> None:
    for key in r["removed_indexes"]:
        print(f"removed damaged or stale index {key}")
    if r["rebuilt_index"]:
        print(f"wrote {r['rebuilt_index']} ({len(r['scanned_packs'])} packs read back)")
    if r["dropped_chunks"]:
        print(
            f"forgot {r['dropped_chunks']} corrupt chunk(s): a push holding them uploads them again"
        )
    for key in r["unreadable_packs"]:
        print(f"cannot read back (sealed or corrupt): {key}")
    for q in r.get("quarantined", []):
        print(
            f"moved damaged {q['pack']} aside to {q['moved_to']}: {q['kept']} chunk(s) "
            f"kept in a new pack, {q['lost']} lost"
        )
    for note in r.get("skipped", []):
        print(f"skipped: {note}")
    if not (
        r["removed_indexes"] or r["rebuilt_index"] or r["dropped_chunks"] or r.get("quarantined")
    ):
        print("indexes: nothing to repair")
    if not r["lost"]:
        print("nothing is lost")
    for d in r["lost"]:
        print(f"lost: {d['object']}: {d['problem']}")
        for label in ("envs", "snapshots", "files"):
            if d[label]:
                print(f"  {label}: {', '.join(d[label])}")


def _envs(r: dict[str, Any]) -> None:
    for env in r["envs"]:
        error = r["errors"].get(env)
        print(env + (f"  (broken: {error})" if error else ""))


def _keys(r: dict[str, Any]) -> None:
    if "key_generations" in r:  # keys init / list / rotate
        for g in r["key_generations"]:
            mark = " (current)" if g["current"] else ""
            signed = f", signed by {g['signed_by']}" if g.get("signed_by") else ""
            print(
                f"{r['env']} generation {g['generation']}{mark}, created {g['created_at']}" + signed
            )
            for rec in g["recipients"]:
                print(f"  {rec['type']:10} {rec['id']}")
        if not r["key_generations"]:
            print(f"{r['env']}: no keys")
        return
    for k, v in r.items():
        print(f"{k}: {', '.join(map(str, v)) if isinstance(v, list) else v}")


_RENDERERS = {
    "push": _push,
    "pull": _pull,
    "status": _status,
    "log": _log,
    "diff": _diff,
    "show": _show,
    "lock": _lock,
    "unlock": _unlock,
    "promote": _promote,
    "rollback": _rollback,
    "export": _export,
    "import": _import,
}
_RENDERERS["keys"] = _keys
_RENDERERS.update({"verify": _verify, "repair": _repair, "envs": _envs})
_RENDERERS["locks"] = _locks


def _gc(r: dict[str, Any]) -> None:
    from statesync.cli.gc import render_gc

    render_gc(r, _size)


_RENDERERS["gc"] = _gc


def render(command: str, result: Any) -> None:
    """Print ``result`` of ``command`` for a person."""
    fn = _RENDERERS.get(command)
    if fn is not None:
        fn(result)
    elif isinstance(result, dict):
        for k, v in result.items():
            print(f"{k}: {', '.join(map(str, v)) if isinstance(v, list) else v}")
    else:
        print(result)
