"""The pages: environments, history, snapshot, file, diff (sync endpoints, run in a thread)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from statesync import api
from statesync.api import LogEntry, Store
from statesync.errors import StatesyncError, UsageError, ViewNotFound
from statesync.server.web import content
from statesync.server.web.history import LineCache, history_page
from statesync.server.web.render import page
from statesync.sync.store import layout

if TYPE_CHECKING:
    from starlette.requests import Request
    from starlette.responses import HTMLResponse

    from statesync.sync.store.leases import LockStatus
    from statesync.sync.store.refs import Ref


@dataclass(frozen=True)
class EnvRow:
    """One line of the environments page; ``damage`` when its head cannot be read."""

    name: str
    ref: Ref | None = None
    head: LogEntry | None = None
    lock: LockStatus | None = None
    damage: str | None = None


def _env_row(store: Store, cache: LineCache, name: str, lock: LockStatus | None) -> EnvRow:
    ref = None
    try:  # one damaged environment must not hide the others, nor its ref its head
        ref = api.head_ref(store, name)
        return EnvRow(name, ref, cache.line(store, ref.snapshot), lock)
    except StatesyncError as exc:
        return EnvRow(name, ref, lock=lock, damage=f"{type(exc).__name__}: {exc}")


def environments(
    store: Store, cache: LineCache, request: Request, base: dict[str, Any]
) -> HTMLResponse:
    try:  # a page writes nothing: leases are judged by this server's clock, not a probe
        locks, lease_problem = {st.env: st for st in store.locks(probe_clock=False)}, None
    except StatesyncError as exc:
        locks, lease_problem = {}, f"{type(exc).__name__}: {exc}"
    rows = [_env_row(store, cache, name, locks.get(name)) for name in store.envs()]
    return page("environments.html", rows=rows, lease_problem=lease_problem, crumbs=[], **base)


def _page_number(request: Request) -> int:
    raw = request.query_params.get("page", "1")
    # ASCII digits only: "²" and U+0661 pass str.isdigit, and int() refuses the first
    if not (raw.isascii() and raw.isdigit() and len(raw) <= 7) or not 1 <= int(raw) <= 1_000_000:
        raise UsageError(f"page must be a number from 1, not {raw[:20]!r}")
    return int(raw)


def env_history(
    store: Store, cache: LineCache, request: Request, base: dict[str, Any]
) -> HTMLResponse:
    env = request.path_params["env"]
    hist = history_page(
        store,
        cache,
        layout.validate_env(env),
        _page_number(request),
        request.query_params.get("at") or None,
    )
    return page("history.html", hist=hist, env=env, crumbs=[(env, None)], **base)


def snapshot(
    store: Store, cache: LineCache, request: Request, base: dict[str, Any]
) -> HTMLResponse:
    snap = api.resolve_snapshot(store, request.path_params["snap"])
    manifest = api.snapshot_manifest(store, snap)
    crumbs = [(manifest.env, f"/env/{manifest.env}"), (snap[:12], None)]
    return page("snapshot.html", snap=snap, m=manifest, crumbs=crumbs, **base)


def file(store: Store, cache: LineCache, request: Request, base: dict[str, Any]) -> HTMLResponse:
    snap = api.resolve_snapshot(store, request.path_params["snap"])
    path = request.path_params["path"]
    manifest = api.snapshot_manifest(store, snap)
    entry = manifest.by_path().get(path)
    if entry is None:
        raise ViewNotFound(f"snapshot {snap[:12]} has no file {path!r}")
    shown = (
        content.Shown(None, "a sealed secret file: its content is never shown")
        if entry.kind == "secret-file"
        else content.show_file(store, snap, path, entry.size)
    )
    crumbs = [(manifest.env, f"/env/{manifest.env}"), (snap[:12], f"/snap/{snap}"), (path, None)]
    text = content.highlight(shown.text) if shown.text is not None else None
    return page("file.html", snap=snap, entry=entry, shown=shown, text=text, crumbs=crumbs, **base)


def diff(store: Store, cache: LineCache, request: Request, base: dict[str, Any]) -> HTMLResponse:
    a, b = request.query_params.get("a", ""), request.query_params.get("b", "")
    if not (a and b):
        return page("diff.html", d=None, a=a, b=b, changes=[], crumbs=[("diff", None)], **base)
    d = api.diff_snapshots(store, a, b)
    ma, mb = (api.snapshot_manifest(store, s).by_path() for s in (d.a, d.b))
    index = api.chunk_index(store)  # one listing of the store for every file shown
    changes = [
        content.file_change(store, d.a, d.b, path, pointers, (ma[path].size, mb[path].size), index)
        for path, pointers in d.modified.items()
    ]
    return page(
        "diff.html", d=d, a=a, b=b, changes=changes, ma=ma, mb=mb, crumbs=[("diff", None)], **base
    )


def now_text() -> str:
    return datetime.now().astimezone().strftime("%Y-%m-%d %H:%M:%S %Z")
