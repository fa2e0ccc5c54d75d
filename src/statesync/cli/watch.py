"""``statesync watch``: run the sync service in the foreground until a signal.

SIGTERM/SIGINT: one final save, then exit 0 (within ``--stop-timeout``);
SIGHUP: reload the configuration. ``--json``: events as JSON lines on
stderr, and the one summary object on stdout at exit.
"""

from __future__ import annotations

import argparse
import json
import signal
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from statesync.errors import UsageError

HOOK_USAGE = "run CMD (through the shell) with the event as JSON on stdin; repeatable"


def add_watch(add: Callable[..., argparse.ArgumentParser]) -> None:
    """Register ``watch`` with the CLI's ``add(name, handler, help)``."""
    sp = add("watch", cmd_watch, "keep a folder synced with an environment until stopped")
    sp.add_argument("dir", metavar="DIR", help="the folder to keep synced")
    sp.add_argument("--env", default="default", metavar="ENV", help="the environment to sync")
    sp.add_argument(
        "--interval",
        default="30s",
        help="push at least this often under churn; poll this often (--follow)",
    )
    sp.add_argument("--settle", default="1s", help="quiet time before a push (0.5s, 1s, 2s)")
    sp.add_argument(
        "--follow",
        action="store_true",
        help="also pull what others push, when nothing local is unpushed",
    )
    sp.add_argument(
        "--on-conflict",
        default="keep-local",
        choices=["keep-local", "take-remote", "stop"],
        help="when a change cannot be merged: keep ours, take theirs, or stop (exit 3)",
    )
    sp.add_argument(
        "--metrics",
        metavar="HOST:PORT",
        help="serve /healthz, /readyz and /metrics on this loopback address",
    )
    sp.add_argument(
        "--exec-on",
        nargs=2,
        action="append",
        metavar=("EVENT", "CMD"),
        default=[],
        help=f"EVENT is push, pull, conflict or error: {HOOK_USAGE}",
    )
    sp.add_argument(
        "--include-secrets",
        action="store_true",
        help="store secret values and files, sealed (as push --include-secrets)",
    )
    sp.add_argument(
        "--poll", action="store_true", help="poll the folder instead of using file-system events"
    )
    sp.add_argument(
        "--gc-every",
        metavar="DURATION",
        help="run this environment's stored retention policy (statesync gc) this "
        "often, e.g. 24h; skipped while another machine's gc runs",
    )
    sp.add_argument(
        "--stop-timeout", default="10s", help="longest the final save may take at SIGTERM/SIGINT"
    )


def seconds(text: str, what: str) -> float:
    """``500ms``, ``1.5s``, ``2m``, ``1h`` or plain seconds -> seconds; :class:`UsageError`."""
    units = (("ms", 0.001), ("s", 1.0), ("m", 60.0), ("h", 3600.0))
    for suffix, scale in units:
        if text.endswith(suffix):
            number, factor = text[: -len(suffix)], scale
            break
    else:
        number, factor = text, 1.0
    try:
        value = float(number) * factor
    except ValueError:
        value = -1.0
    if not 0 <= value < 366 * 86400:
        raise UsageError(f"{what} {text!r}: use e.g. 500ms, 1s, 30s or 10m")
    return value


def options_from(args: argparse.Namespace) -> Any:
    from statesync.cli.context import config
    from statesync.service import WatchOptions

    cfg = config(args, fresh=True)  # SIGHUP reloads statesync.toml too
    return WatchOptions(
        env=args.env,
        store=cfg.store,
        config=cfg,
        interval=seconds(args.interval, "--interval"),
        settle=seconds(args.settle, "--settle"),
        follow=args.follow,
        on_conflict=args.on_conflict,
        metrics=args.metrics,
        hooks=tuple((k, c) for k, c in args.exec_on),
        include_secrets=args.include_secrets,
        poll=args.poll,
        stop_timeout=seconds(args.stop_timeout, "--stop-timeout"),
        gc_every=(seconds(args.gc_every, "--gc-every") if args.gc_every else None),
    )


def cmd_watch(args: argparse.Namespace) -> Any:
    """Run until SIGTERM/SIGINT; raises :class:`ConflictError` under ``--on-conflict stop``.

    A store URL or configuration that no retry can fix raises its
    :class:`UsageError`; an unreachable store is retried, never fatal.
    """
    from statesync.service import Service

    _logging(args)
    service = Service(Path(args.dir), options_from(args), json_logs=args.json)
    counts: dict[str, int] = {}
    service.on_event = lambda e: counts.__setitem__(e.kind, counts.get(e.kind, 0) + 1)
    _signals(service, args)
    service.start()
    if service.metrics_url:
        print(f"statesync: metrics on {service.metrics_url}/metrics", file=sys.stderr, flush=True)
    while not service.wait(0.5):
        pass
    service.stop()
    if service.fatal is not None:
        raise service.fatal.with_details(events=counts)
    return {"env": args.env, "folder": str(Path(args.dir).absolute()), "events": counts}


def _logging(args: argparse.Namespace) -> None:
    """Service records at INFO (WARNING with -q); one JSON object per line with --json."""
    import logging  # here, not at module level: statesync --help never loads logging

    class _JsonLines(logging.Formatter):
        """Events are JSON already; any other record becomes ``{"kind": "log", ...}``."""

        def format(self, record: logging.LogRecord) -> str:
            text = record.getMessage()
            if text.startswith("{"):
                return text
            return json.dumps({"kind": "log", "level": record.levelname.lower(), "message": text})

    logger = logging.getLogger("statesync.service")
    logger.setLevel(logging.WARNING if args.quiet else logging.INFO)
    if args.json:
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(_JsonLines())
        logger.addHandler(handler)
        logger.propagate = False


def _signals(service: Any, args: argparse.Namespace) -> None:
    """SIGTERM/SIGINT end the loop (after its final save); SIGHUP reloads."""

    def stop(signum: int, frame: Any) -> None:
        service.request_stop()

    def reload(signum: int, frame: Any) -> None:
        import logging

        try:
            service.reload(options_from(args))
        except UsageError as exc:
            logging.getLogger("statesync.service").warning("reload refused: %s", exc)

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    signal.signal(signal.SIGHUP, reload)
