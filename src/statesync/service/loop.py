"""The watch loop: notice changes, settle, push with rebase, follow, back off.

One thread runs the state machine; the watcher and the API only set flags
under one condition variable. Contract, per DESIGN.md §8:

- a burst of changes is one push, once the folder has been quiet for
  ``settle`` seconds; under continuous churn a push still happens every
  ``interval`` (push re-reads a file that changes while read, so nothing
  half-written is stored);
- the first push runs at start, so changes left by a killed watcher (the
  folder's record says what was last pushed) go out at once;
- with ``follow``, the ref's version is polled once per ``interval`` and the
  folder pulled when it holds nothing unpushed; our own pull swaps the
  folder, so the watch is re-armed and the swap itself is not a change;
- a real conflict is reported (event, metric, log line naming path#pointer)
  and handled per ``on_conflict``; the losing side stays in history;
- failures (store away, folder gone, unreadable file) are counted and
  retried with exponential backoff and jitter; changes stay in the folder;
- :meth:`Service.stop` makes one final save, bounded by ``stop_timeout``.
"""

from __future__ import annotations

import logging
import random
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from statesync import api
from statesync.errors import (
    ConflictError,
    LocalChangesConflict,
    LockedError,
    StatesyncError,
    TornFile,
    UsageError,
)
from statesync.service import watcher as watcher_mod
from statesync.service.events import Event, EventSink, Hooks, log_event
from statesync.service.metrics import make_metrics
from statesync.service.notify import Notifier
from statesync.service.options import WatchOptions, metrics_address

log = logging.getLogger("statesync.service")


class Service:
    """``statesync watch`` as an object: ``start()``, ``save_now()``, ``stop()``.

    ``on_event`` is called (from the service's thread) with every
    :class:`Event`. :meth:`start` raises :class:`UsageError` for a bad
    metrics address or a missing extra; the store itself may be unreachable
    at start: the loop retries it.
    """

    def __init__(
        self,
        folder: Path,
        options: WatchOptions,
        *,
        on_event: EventSink | None = None,
        json_logs: bool = False,
    ) -> None:
        self.folder = Path(folder).absolute()
        self.options = options
        self.on_event = on_event
        self.json_logs = json_logs
        self.fatal: StatesyncError | None = None  # what ended the loop early, if anything
        self._cond = threading.Condition()
        self._stop = False
        self._changes = 0  # bumped by the watcher for each change it notices
        self._dirty_since: float | None = None
        self._last_change = 0.0
        self._save_asked = 0  # save_now() requests made / served
        self._save_done = 0
        self._last_save: Event | None = None
        self._reload = False
        self._fails = 0
        self._backoff_until = 0.0
        self._next_poll = 0.0
        self._next_gc = 0.0
        self._ref_token: str | None = None
        self._synced: str | None = None  # the snapshot our last push or pull left
        self._store: Any = None
        self._ino: int | None = None
        self._alive_at = 0.0
        self._ready = False
        self._final_done = threading.Event()
        self._thread = threading.Thread(target=self._main, name="statesync-watch", daemon=True)
        self.notifier = Notifier()
        self.metrics: Any = None
        self.http: Any = None
        self.watcher: watcher_mod.Watcher | None = None

    # --- the public surface ------------------------------------------------------

    def start(self) -> None:
        """Open the metrics endpoint (if asked) and start the loop thread."""
        self.metrics = make_metrics(self.options.env, required=self.options.metrics is not None)
        if self.options.metrics is not None:
            from statesync.service.metrics import HealthServer

            host, port = metrics_address(self.options.metrics)
            try:
                self.http = HealthServer(host, port, self.metrics, self.alive, self.ready)
            except OSError as exc:
                raise UsageError(f"--metrics {self.options.metrics}: {exc.strerror}") from None
            self.http.start()
        self._save_asked = 1  # push at once: finds what a killed watcher left unpushed
        self._thread.start()

    @property
    def exit_code(self) -> int:
        """0, or the exit code of :attr:`fatal` (3: stopped on a conflict, 2: bad usage)."""
        return self.fatal.exit_code if self.fatal is not None else 0

    @property
    def metrics_url(self) -> str | None:
        return f"http://{self.http.address}" if self.http else None

    def alive(self) -> bool:
        """The loop thread runs and has ticked recently."""
        limit = max(10.0, 3 * self.options.interval)
        return self._thread.is_alive() and time.monotonic() - self._alive_at < limit

    def ready(self) -> bool:
        """The last call to the store succeeded."""
        return self.alive() and self._ready

    def save_now(self, timeout: float | None = 60.0) -> Event | None:
        """Push now, settle or not; returns the push (or conflict/error) event.

        Returns None if the push did not finish within ``timeout``.
        """
        with self._cond:
            self._save_asked += 1
            ticket = self._save_asked
            self._cond.notify_all()
            self._cond.wait_for(lambda: self._save_done >= ticket or self._stop, timeout)
            return self._last_save if self._save_done >= ticket else None

    def reload(self, options: WatchOptions | None = None) -> None:
        """Re-read the configuration (statesync.toml, environment) before the next sync."""
        with self._cond:
            if options is not None:
                self.options = options
            self._reload = True
            self._cond.notify_all()

    def request_stop(self) -> None:
        """Ask the loop to make its final save and end (safe from a signal handler)."""
        with self._cond:
            self._stop = True
            self._cond.notify_all()

    def stop(self, timeout: float | None = None) -> bool:
        """Stop: one final save, at most ``timeout`` (default ``stop_timeout``) seconds.

        Returns False if the final save did not finish in time (the changes
        stay in the folder; the next start pushes them).
        """
        self.request_stop()
        done = self._final_done.wait(self.options.stop_timeout if timeout is None else timeout)
        if not done:
            log.warning(
                "final save did not finish in time; changes stay in %s "
                "(the next start pushes them)",
                self.folder,
            )
        if self.http is not None:
            self.http.stop()
        return done

    def wait(self, timeout: float | None = None) -> bool:
        """Wait for the loop to end by itself (``on_conflict=stop``); True if it has."""
        self._thread.join(timeout)
        return not self._thread.is_alive()

    def __enter__(self) -> Service:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # --- change notices (from the watcher's thread) -----------------------------

    def _changed(self) -> None:
        with self._cond:
            self._changes += 1
            self._dirty(time.monotonic())
            self._cond.notify_all()

    def _dirty(self, now: float) -> None:
        self._last_change = now
        if self._dirty_since is None:
            self._dirty_since = now
        if self.metrics is not None:
            self.metrics.pending.labels(self.options.env).set(1)

    # --- the loop ------------------------------------------------------------------

    def _main(self) -> None:
        try:
            self._arm()
            if self.options.gc_every is not None:
                self._next_gc = time.monotonic() + self.options.gc_every
            self.notifier.ready(f"watching {self.folder} for {self.options.env}")
            self._emit(
                Event(
                    kind="start",
                    env=self.options.env,
                    message=f"watching {self.folder} ({self._watch_kind()})",
                )
            )
            while self._tick():
                pass
            if self.exit_code == 0:
                self.notifier.stopping()
                self._final_save()
        finally:
            if self.watcher is not None:
                self.watcher.stop()
            if self._store is not None:
                self._store.close()
            self._emit(Event(kind="stop", env=self.options.env, message="stopped"))
            with self._cond:
                self._stop = True
                self._cond.notify_all()
            self._final_done.set()

    def _tick(self) -> bool:
        """One turn: wait for something to do, do it; False once asked to stop."""
        with self._cond:
            self._cond.wait(self._sleep_for(time.monotonic()))
            if self._stop:
                return False
        self._alive_at = time.monotonic()
        if self.notifier.watchdog_every is not None:
            self.notifier.watchdog()
        self._check_folder()
        if self.watcher is not None:
            self.watcher.poll()
        now = time.monotonic()
        if now < self._backoff_until and not self._saving():
            return True
        if self._saving() or self._push_due(now):
            self._push()
        elif self.options.follow and now >= self._next_poll:
            self._follow()
        elif self.options.gc_every is not None and now >= self._next_gc:
            self._gc()
        return self.exit_code == 0

    def _sleep_for(self, now: float) -> float:
        """Seconds until the next thing that may need doing (at most one).

        Syncing waits out a backoff; the watchdog ping and the folder poll do not.
        """
        if self._save_asked > self._save_done:
            return 0.0
        opts, sync = self.options, []
        if self._dirty_since is not None:
            sync += [self._last_change + opts.settle, self._dirty_since + opts.interval]
        if opts.follow:
            sync.append(self._next_poll)
        if opts.gc_every is not None:
            sync.append(self._next_gc)
        times = [now + 1.0, *(max(t, self._backoff_until) for t in sync)]
        if self.watcher is not None and self.watcher.kind == "poll":
            times.append(now + opts.poll_every)
        if self.notifier.watchdog_every is not None:
            times.append(now + self.notifier.watchdog_every)
        return max(0.0, min(times) - now)

    def _saving(self) -> bool:
        return self._save_asked > self._save_done

    def _push_due(self, now: float) -> bool:
        with self._cond:
            since = self._dirty_since
            return since is not None and (
                now - self._last_change >= self.options.settle
                or now - since >= self.options.interval
            )

    # --- the folder and its watch ------------------------------------------------

    def _arm(self) -> None:
        """(Re-)start watching the folder as it is now (a pull swapped it: a new inode)."""
        self._ino = _inode(self.folder)
        if self._ino is None:
            return  # gone: _check_folder re-arms when it is back
        if self.watcher is None:
            self.watcher = watcher_mod.make_watcher(self.folder, self._changed, self.options.poll)
        else:
            self.watcher.rearm()

    def _watch_kind(self) -> str:
        return self.watcher.kind if self.watcher is not None else "waiting for the folder"

    def _check_folder(self) -> None:
        """Notice the folder vanishing, coming back, or being swapped by someone else."""
        ino = _inode(self.folder)
        if ino == self._ino:
            return
        if ino is None:
            self._failed(StatesyncError(f"{self.folder}: no such folder"), "folder")
        else:
            log.info("%s reappeared or was replaced: watching it again", self.folder)
            self._changed()
        self._arm()

    # --- sync steps ------------------------------------------------------------------

    def _open(self) -> Any:
        if self._reload:
            self._drop_store()
            log.info("configuration reloaded")
        self._reload = False
        if self._store is None:
            budget = self.options.call_budget
            self._store = api.Store.configured(self.options.store, retry_budget=budget)
        return self._store

    def _drop_store(self) -> None:
        if self._store is not None:
            store, self._store = self._store, None
            store.close()

    def _push(self) -> None:
        with self._cond:
            seen, serving = self._changes, self._save_asked
        event = self._guard(lambda: self._do_push(seen))
        with self._cond:
            self._last_save = event
            self._save_done = max(self._save_done, serving)
            self._cond.notify_all()

    def _do_push(self, seen: int) -> Event:
        store, opts = self._open(), self.options
        ino = _inode(self.folder)
        try:
            result = store.push(
                self.folder,
                opts.env,
                rebase=True,
                message=opts.message,
                tags={"source": "watch"},
                include_secrets=opts.include_secrets,
            )
        except ConflictError as exc:
            if not exc.details.get("conflicts"):
                raise  # gave up after many merge attempts: retried later
            return self._conflict(store, exc, seen)
        merged = _inode(self.folder) != ino  # a merge landed: the folder was swapped
        if merged:
            self._after_swap(store, seen)
        else:
            self._clean(seen)
        self._synced = result.snapshot
        result_label = "merged" if merged else "snapshot" if result.changed else "unchanged"
        self._count_push(result_label, result)
        if merged:
            self.metrics.conflicts.labels(opts.env, "merged").inc()
        kind = "push" if result.changed else "noop"
        return self._emit(
            Event(
                kind=kind,
                env=opts.env,
                snapshot=result.snapshot,
                serial=result.serial,
                uploaded_bytes=result.uploaded_bytes,
                reused_bytes=result.reused_bytes,
                message=_push_message(result, merged),
            )
        )

    def _count_push(self, label: str, result: Any) -> None:
        env = self.options.env
        self.metrics.pushes.labels(env, label).inc()
        self.metrics.uploaded.labels(env).inc(result.uploaded_bytes)
        self.metrics.reused.labels(env).inc(result.reused_bytes if result.changed else 0)

    def _clean(self, seen: int) -> None:
        """The push stored what was there when it began: clean unless more came since."""
        with self._cond:
            if self._changes == seen:
                self._dirty_since = None
                self.metrics.pending.labels(self.options.env).set(0)

    def _gc(self) -> None:
        """Run the environment's stored retention policy; another machine's gc is skipped."""
        assert self.options.gc_every is not None
        self._next_gc = time.monotonic() + self.options.gc_every
        try:
            report = api.gc(self._open(), env=self.options.env)
        except LockedError as exc:  # another machine's gc is at work: that one will do
            log.info("gc skipped: %s", exc)
            return
        except (StatesyncError, OSError) as exc:  # reported; pushes go on without a backoff
            self._emit(
                Event(
                    kind="error",
                    env=self.options.env,
                    message=f"gc failed: {exc}",
                    error_type=type(exc).__name__,
                )
            )
            return
        self._emit(
            Event(
                kind="gc",
                env=self.options.env,
                message=(
                    f"gc: {len(report.snapshots_removed)} snapshot(s) and {report.packs_removed} "
                    f"pack(s) removed, {report.removed_bytes} bytes freed"
                ),
            )
        )

    def _follow(self) -> None:
        self._next_poll = time.monotonic() + self.options.interval
        self._guard(self._do_follow)

    def _do_follow(self) -> Event | None:
        """One cheap look at the ref; a pull only if it moved past what we synced."""
        store, env = self._open(), self.options.env
        token = api.ref_version(store, env)
        if token is None or token == self._ref_token:
            self._succeeded()
            return None
        logs = store.log(env, 1)
        if logs and logs[0].snapshot == self._synced:  # our own push moved it
            self._ref_token = token
            self._succeeded()
            return None
        if self._dirty_since is not None or api.folder_differs(store, self.folder, env):
            self._changed()  # ours first: the push merges theirs in
            return None
        return self._pull(store, token)

    def _pull(self, store: Any, token: str, force: bool = False) -> Event | None:
        with self._cond:
            seen = self._changes
        try:
            result = store.pull(self.folder, self.options.env, force=force)
        except LocalChangesConflict:
            self._changed()  # a change arrived meanwhile: it is pushed (and merged) first
            return None
        self._after_swap(store, seen)
        self._ref_token, self._synced = token, result.snapshot
        self.metrics.pulls.labels(self.options.env, "ok").inc()
        self._succeeded()
        return self._emit(
            Event(
                kind="pull",
                env=self.options.env,
                snapshot=result.snapshot,
                serial=result.serial,
                message=f"pulled {result.files} files at serial {result.serial}",
            )
        )

    def _after_swap(self, store: Any, seen: int) -> None:
        """Our own pull or merge swapped the folder: watch the new one, ignore the swap.

        The swap's own events are forgotten; a change someone made meanwhile
        still shows as a difference from the record the swap just wrote.
        """
        self._arm()
        with self._cond:
            self._changes = seen
            self._dirty_since = None
            self.metrics.pending.labels(self.options.env).set(0)
        if api.folder_differs(store, self.folder, self.options.env):
            self._changed()

    def _conflict(self, store: Any, exc: ConflictError, seen: int) -> Event:
        """A real conflict: report it, then resolve as ``on_conflict`` says."""
        opts = self.options
        conflicts = tuple(exc.details.get("conflicts", ())) or (str(exc),)
        self.metrics.pushes.labels(opts.env, "conflict").inc()
        self.metrics.conflicts.labels(opts.env, "unresolved").inc()
        how = {
            "keep-local": "keeping the local version (the remote one stays in history)",
            "take-remote": "taking the remote version (the local one stays in history)",
            "stop": "stopping",
        }[opts.on_conflict]
        event = self._emit(
            Event(
                kind="conflict",
                env=opts.env,
                conflicts=conflicts,
                message=f"{'; '.join(conflicts)}: {how}",
                error_type="RefConflict",
            )
        )
        if opts.on_conflict == "stop":
            self.fatal = ConflictError(f"watch stopped on a conflict: {'; '.join(conflicts)}")
            return event
        remote = store.log(opts.env, 1)[0].snapshot
        pushed = store.push(
            self.folder,
            opts.env,
            force=True,
            message=f"{opts.message}: conflict, {opts.on_conflict}",
            tags={"source": "watch"},
            include_secrets=opts.include_secrets,
        )
        self._count_push("snapshot", pushed)
        if opts.on_conflict == "take-remote":
            store.rollback(opts.env, remote, f"{opts.message}: conflict, take-remote")
            self._pull(store, api.ref_version(store, opts.env) or "", force=True)
        self._clean(seen)
        self._succeeded()
        return event

    def _final_save(self) -> None:
        """The last push before exit, if anything may be unpushed."""
        if self._dirty_since is None and not self._differs():
            return
        self._push()

    def _differs(self) -> bool:
        try:
            return api.folder_differs(self._open(), self.folder, self.options.env)
        except (StatesyncError, OSError):
            return True

    # --- outcomes ---------------------------------------------------------------------

    def _guard(self, step: Callable[[], Event | None]) -> Event | None:
        """Run one sync step; a failure is counted, reported, and retried after a backoff."""
        try:
            event = step()
        except (StatesyncError, OSError) as exc:
            if isinstance(exc, UsageError) and self._store is None:
                self.fatal = exc  # a bad store URL or configuration: no retry helps
            return self._failed(exc, _reason(self.folder, exc))
        if event is not None and event.kind in ("push", "noop", "pull"):
            self._succeeded()
        return event

    def _succeeded(self) -> None:
        if self._fails:
            log.info(
                "%s: store reachable again after %d failed attempt(s)",
                self.options.env,
                self._fails,
            )
        self._fails, self._backoff_until, self._ready = 0, 0.0, True
        env = self.options.env
        self.metrics.up.labels(env).set(1)
        self.metrics.last_success.labels(env).set(time.time())
        self.notifier.status(f"synced {env}")

    def _failed(self, exc: BaseException, reason: str) -> Event:
        env = self.options.env
        self._fails += 1
        cap = 5.0 if reason == "folder" else self.options.max_backoff  # a folder comes back
        delay = min(cap, 2.0 ** (self._fails - 1))
        self._backoff_until = time.monotonic() + delay * random.uniform(0.5, 1.0)
        if reason == "store":
            self._ready = False
            self._drop_store()  # re-opened (descriptor and pin checked again) on the retry
            self.metrics.up.labels(env).set(0)
        self.metrics.failures.labels(env, reason).inc()
        if self._fails > 1:
            self.metrics.retries.labels(env).inc()
        self.notifier.status(f"retrying ({reason}): {exc}")
        with self._cond:
            if self._dirty_since is not None:
                self._dirty_since = time.monotonic()  # retried after the backoff, not before
        return self._emit(
            Event(
                kind="error",
                env=env,
                error_type=type(exc).__name__,
                message=f"{reason}: {exc} ({self._next_try(delay)})",
            )
        )

    def _next_try(self, delay: float) -> str:
        if self.fatal is not None:
            return "stopping: no retry can fix this"
        return f"attempt {self._fails}, retrying in {delay:.0f}s at most"

    def _emit(self, event: Event) -> Event:
        log_event(event, self.json_logs)
        Hooks(self.options.hooks).run(event)
        if self.on_event is not None:
            try:
                self.on_event(event)
            except Exception:  # an application's callback must not stop the sync
                log.exception("on_event callback failed")
        return event


def _push_message(result: Any, merged: bool) -> str:
    if not result.changed:
        return f"no changes (serial {result.serial})"
    how = "merged with the remote head, " if merged else ""
    return (
        f"{how}snapshot {result.snapshot[:12]} serial {result.serial}: "
        f"{result.uploaded_bytes} bytes uploaded, {result.reused_bytes} reused"
    )


def _reason(folder: Path, exc: BaseException) -> str:
    """``folder`` for a vanished folder or an unreadable or ever-changing file, else ``store``."""
    if _inode(folder) is None or isinstance(exc, TornFile):
        return "folder"
    where = str(getattr(exc, "filename", None) or "") if isinstance(exc, OSError) else str(exc)
    return "folder" if str(folder) in where else "store"


def _inode(path: Path) -> int | None:
    try:
        st = path.stat()
    except OSError:
        return None
    return st.st_ino if path.is_dir() else None
