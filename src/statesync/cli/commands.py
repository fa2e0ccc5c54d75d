"""The command handlers: each turns parsed arguments into one call of :mod:`statesync.api`.

A handler returns what the command prints (rendered by :mod:`statesync.cli.render`,
or as JSON under ``--json``); errors are raised from the error tree.
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
from typing import TYPE_CHECKING, Any

from statesync.cli.progress import bar
from statesync.errors import IntegrityError, UsageError

if TYPE_CHECKING:
    from statesync.sync.progress import MeterFactory


def _tags(values: list[str] | None) -> dict[str, str]:
    out = {}
    for item in values or []:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise UsageError(f"--tag expects KEY=VALUE, got {item!r}")
        out[key] = value
    return out


def _store(args: argparse.Namespace) -> Any:
    from statesync.api import Store

    return Store.configured(args.store)


def _progress(args: argparse.Namespace) -> MeterFactory | None:
    """A progress bar for a person at a terminal; none under ``-q`` or ``--json``."""
    return None if args.quiet or args.json else bar


def cmd_init(args: argparse.Namespace) -> Any:
    from statesync.api import Store
    from statesync.config import load_config

    store = Store.init(config=load_config(args.store))
    return {"store": store.url, "store_id": store.store_id}


def _lock_policy(args: argparse.Namespace) -> Any:
    from statesync.api import LockPolicy

    timeout = parse_duration(args.lock_timeout) if args.lock_timeout else 0
    return LockPolicy(lock_id=args.lock_id, ignore=args.ignore_lock, timeout=timeout)


def cmd_push(args: argparse.Namespace) -> Any:
    if args.dry_run and args.exclude:
        # The plan would list excluded files as uploads: refuse rather than mislead.
        raise UsageError(
            "push --dry-run does not take --exclude; put the patterns in .statesyncignore"
        )
    if args.dry_run:
        return _store(args).plan_push(args.dir, args.env, include_secrets=args.include_secrets)
    return _store(args).push(
        args.dir,
        args.env,
        message=args.message,
        tags=_tags(args.tag),
        force=args.force,
        rebase=args.rebase,
        include_secrets=args.include_secrets,
        encrypt_all=args.encrypt == "all",
        progress=_progress(args),
        lock=_lock_policy(args),
        allow_downgrade=args.allow_downgrade,
        exclude=args.exclude,
    )


def cmd_pull(args: argparse.Namespace) -> Any:
    return _store(args).pull(
        args.dir,
        args.env,
        snapshot=args.snapshot,
        force=args.force,
        allow_rollback=args.allow_rollback,
        skip_secrets=args.skip_secrets,
        progress=_progress(args),
        paths=args.path,
        exclude=args.exclude,
    )


def cmd_status(args: argparse.Namespace) -> Any:
    st = _store(args).status(args.dir, args.env)
    return {**dataclasses.asdict(st), "clean": st.clean}


def cmd_log(args: argparse.Namespace) -> Any:
    if args.all_envs:
        return _store(args).log_all(args.limit)
    return {"env": args.env, "snapshots": _store(args).log(args.env, args.limit)}


def cmd_show(args: argparse.Namespace) -> Any:
    return _store(args).show(args.id).to_json()


def cmd_diff(args: argparse.Namespace) -> Any:
    return _store(args).diff(args.a, args.b)


def cmd_export(args: argparse.Namespace) -> Any:
    if args.format or args.component:  # the seeds' formats (cli/formats.py)
        from statesync.cli import formats as cli_formats

        return cli_formats.export(_store(args), args)
    return _store(args).export(
        args.output,
        env=args.env,
        snapshot=args.snapshot,
        include_binaries=args.include_binaries,
        paths=args.path,
        description=args.description,
        tags=_tags(args.tag),
    )


def cmd_import(args: argparse.Namespace) -> Any:
    return _store(args).import_file(
        args.file,
        args.env,
        skip_existing=args.skip_existing,
        message=args.message,
        lock=_lock_policy(args),
        components=args.component,
        allow_downgrade=args.allow_downgrade,
    )


def _report_damage(result: Any, lines: list[str], what: str) -> None:
    """Damage is exit 4; under ``--json`` the error object carries the whole report."""
    for line in lines:
        print(f"statesync: integrity: {line}", file=sys.stderr)
    raise IntegrityError(what).with_details(**jsonable(result))


def cmd_verify(args: argparse.Namespace) -> Any:
    report = _store(args).verify(args.env, read_data=args.read_data)
    if not args.json:
        for note in report.skipped:
            print(f"statesync: skipped: {note}", file=sys.stderr)
    if not report.ok:
        _report_damage(
            report, report.problems, f"verify found {len(report.damaged)} damaged object(s)"
        )
    return report


def cmd_repair(args: argparse.Namespace) -> Any:
    result = _store(args).repair(read_data=args.read_data)
    if not result.ok:
        from statesync.cli.render import render

        if not (args.json or args.quiet):
            render("repair", jsonable(result))
        _report_damage(
            result,
            [d.describe() for d in result.lost],
            f"{len(result.lost)} damaged object(s) could not be repaired",
        )
    return result


def cmd_envs(args: argparse.Namespace) -> Any:
    store = _store(args)
    return {"envs": store.envs(), "errors": store.broken_envs()}


_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}
DEFAULT_TTL = "10m"


def parse_duration(text: str) -> int:
    """``30s``, ``10m``, ``2h``, ``1d`` (or plain seconds) -> seconds; :class:`UsageError`."""
    num, unit = (text[:-1], text[-1]) if text[-1:] in _UNITS else (text, "s")
    if not (num.isascii() and num.isdigit()) or int(num) == 0:
        raise UsageError(f"invalid duration {text!r}: use e.g. 30s, 10m, 2h or 1d")
    return int(num) * _UNITS[unit]


def cmd_lock(args: argparse.Namespace) -> Any:
    ttl = parse_duration(args.ttl)
    if args.renew:
        ttl_given = args.ttl != DEFAULT_TTL
        return _store(args).renew_lock(args.env, args.renew, ttl if ttl_given else None).to_json()
    return _store(args).lock(args.env, ttl, args.purpose, force=args.force).to_json()


def cmd_locks(args: argparse.Namespace) -> Any:
    return {"locks": [st.to_json() for st in _store(args).locks()]}


def cmd_unlock(args: argparse.Namespace) -> Any:
    info = _store(args).unlock(args.env, args.lock_id, args.force)
    return {"env": args.env, "lock_id": info.lock_id, "holder": info.holder, "released": True}


def cmd_promote(args: argparse.Namespace) -> Any:
    return _store(args).promote(
        args.src,
        args.dst,
        args.message,
        lock=_lock_policy(args),
        allow_downgrade=args.allow_downgrade,
    )


def cmd_rollback(args: argparse.Namespace) -> Any:
    return _store(args).rollback(
        args.env,
        args.id,
        args.message,
        lock=_lock_policy(args),
        allow_downgrade=args.allow_downgrade,
    )


def cmd_promotion(args: argparse.Namespace) -> Any:
    store = _store(args)
    if args.action == "show":
        rule = store.promotion_rule()
    else:
        if not args.paths:
            raise UsageError(f"promotion {args.action} needs at least one FROM->TO path")
        rule = store.change_promotion_rule(**{args.action: args.paths})
    if rule is None:
        return {"allowed": None, "note": "no promotion rule in the store: every path is allowed"}
    return rule.to_json()


def jsonable(value: Any) -> Any:
    """``value`` with dataclasses turned into dicts, for JSON output."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {k: jsonable(v) for k, v in dataclasses.asdict(value).items()}
    if isinstance(value, dict):
        return {k: jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [jsonable(v) for v in value]
    return value
