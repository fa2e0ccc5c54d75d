"""``statesync gc`` and ``statesync gc policy set|show``: thin, parse and print.

Registered by :func:`add_gc_command` with the CLI's ``add`` helper.
"""

from __future__ import annotations

import argparse
import re
from collections.abc import Callable
from typing import Any

from statesync.errors import UsageError

AddCommand = Callable[[str, Callable[[argparse.Namespace], Any], str], argparse.ArgumentParser]

_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400, "y": 365 * 86400}
_PART = re.compile(r"([0-9]+)([smhdwy])")


def parse_span(text: str) -> int:
    """``30d``, ``2w``, ``1y``, ``1d12h`` (m: minutes, y: 365 days) -> seconds.

    Raises :class:`UsageError` for anything else.
    """
    parts = _PART.findall(text)
    if not text.isascii() or not parts or "".join(n + u for n, u in parts) != text:
        raise UsageError(f"invalid duration {text!r}: use e.g. 30d, 2w, 12h, 1y or 1d12h")
    return sum(int(n) * _UNITS[u] for n, u in parts)


def _keep_flags(sp: argparse.ArgumentParser) -> None:
    for name, what in (
        ("last", "the N newest snapshots"),
        ("hourly", "the newest snapshot of each of the last N hours"),
        ("daily", "the newest snapshot of each of the last N days"),
        ("weekly", "the newest snapshot of each of the last N ISO weeks"),
        ("monthly", "the newest snapshot of each of the last N months"),
        ("yearly", "the newest snapshot of each of the last N years"),
    ):
        sp.add_argument(
            f"--keep-{name}", type=int, default=0, metavar="N", help=f"keep {what} (that have one)"
        )
    sp.add_argument(
        "--keep-within",
        metavar="DURATION",
        help="keep snapshots this much older than the newest (30d, 2w, 1y)",
    )
    sp.add_argument(
        "--keep-tag",
        action="append",
        metavar="K=V",
        help="keep every snapshot with this tag; repeatable",
    )


def policy_of(args: argparse.Namespace) -> Any:
    """The retention policy the flags describe; None when no ``--keep-*`` was given."""
    from statesync.sync.store.retention import Policy, parse_tag

    counts = {
        f"keep_{n}": getattr(args, f"keep_{n}")
        for n in ("last", "hourly", "daily", "weekly", "monthly", "yearly")
    }
    if any(v < 0 for v in counts.values()):
        raise UsageError("--keep-* counts must be >= 0")
    within = parse_span(args.keep_within) if args.keep_within else 0
    tags = tuple(parse_tag(t) for t in args.keep_tag or [])
    policy = Policy(**counts, keep_within=within, keep_tags=tags)
    return None if policy.empty else policy


def cmd_gc(args: argparse.Namespace) -> Any:
    from statesync import api

    grace = None if args.grace is None else 0 if args.grace == "0" else parse_span(args.grace)
    with api.Store.configured(args.store) as store:
        report = api.gc(
            store,
            env=args.env,
            policy=policy_of(args),
            dry_run=args.dry_run,
            grace=grace,
            repack_below=args.repack_below,
        )
    return {**_plain(report), "freed_bytes": report.freed_bytes}


def cmd_policy(args: argparse.Namespace) -> Any:
    from statesync import api

    if not args.env:
        raise UsageError(f"gc policy {args.action} needs --env")
    with api.Store.configured(args.store) as store:
        if args.action == "show":
            stored = api.gc_policy(store, args.env)
            if stored is None:
                return {
                    "env": args.env,
                    "policy": None,
                    "note": "no stored policy: gc keeps every snapshot of this environment",
                }
            return stored.to_json()
        policy = policy_of(args)
        if args.action == "set" and policy is None:
            raise UsageError("gc policy set needs at least one --keep-* flag (clear removes it)")
        from statesync.sync.store.retention import Policy

        return api.set_gc_policy(store, args.env, policy or Policy()).to_json()


def _plain(value: Any) -> Any:
    import dataclasses

    return dataclasses.asdict(value)


def add_gc_command(add: AddCommand) -> None:
    """Register ``gc`` (with its ``policy`` subcommand) with the CLI's ``add`` helper."""
    sp = add("gc", cmd_gc, "forget snapshots by retention policy, remove unreferenced data")
    sp.add_argument("--env", help="apply retention to this environment only (default: all)")
    _keep_flags(sp)
    sp.add_argument("--dry-run", action="store_true", help="say what would go; write nothing")
    sp.add_argument(
        "--grace",
        metavar="DURATION",
        help="never remove packs younger than this by the store's clock (default 1h; 0: none)",
    )
    sp.add_argument(
        "--repack-below",
        type=float,
        metavar="SHARE",
        help="rewrite packs whose live share is under this (default 0.5)",
    )
    sub = sp.add_subparsers(dest="gc_command", metavar="policy")
    pol = sub.add_parser(
        "policy",
        help="show or store an environment's retention policy",
        description="show or store an environment's retention policy, "
        "applied by every machine's gc",
    )
    pol.set_defaults(fn=cmd_policy)
    pol.add_argument("action", choices=["set", "show", "clear"])
    pol.add_argument("--env", dest="env", required=True)
    _keep_flags(pol)


def render_gc(r: dict[str, Any], size: Callable[[int], str]) -> None:
    """Print a gc report for a person."""
    if "policy" in r and "packs_removed" not in r:  # gc policy
        print(f"{r['env']}: {r.get('policy') or 'no stored policy (keep everything)'}")
        return
    verb = "would remove" if r["dry_run"] else "removed"
    for env in r["envs"]:
        print(
            f"{env['env']}: keep {len(env['kept'])}, {verb} {len(env['removed'])} "
            f"snapshot(s)  policy {env['policy'] or 'keep all'}"
        )
        for snap in env["removed"]:
            print(f"  - {snap[:12]}")
        if env["note"]:
            print(f"  note: {env['note']}")
    print(
        f"{verb} {len(r['snapshots_removed'])} manifest(s), {r['packs_removed']} pack(s) "
        f"({r['packs_repacked']} rewritten), {r['indexes_removed']} index(es): "
        f"{size(r['removed_bytes'])}; wrote {size(r['written_bytes'])}; "
        f"freed {size(r['freed_bytes'])}"
    )
    for note in r["notes"]:
        print(f"note: {note}")
