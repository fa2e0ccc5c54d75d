"""The command handlers: each turns parsed arguments into one call of :mod:`statesync.api`.

A handler returns what the command prints (rendered by :mod:`statesync.cli.render`,
or as JSON under ``--json``); errors are raised from the error tree.
"""

from __future__ import annotations

import argparse
import sys
from typing import TYPE_CHECKING, Any

from statesync.cli.output import jsonable
from statesync.cli.progress import bar, json_status
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
    from statesync.cli.context import open_store

    return open_store(args)


def _progress(args: argparse.Namespace) -> MeterFactory | None:
    """A bar for a person at a terminal, status lines under ``--json``; nothing under ``-q``."""
    if args.quiet:
        return None
    return json_status() if args.json else bar


def cmd_init(args: argparse.Namespace) -> Any:
    from statesync.cli.context import init_store

    store = init_store(args)
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
    result = _store(args).pull(
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
    note = secrets_notice(result, args.skip_secrets)
    if note and not args.quiet:
        print(f"statesync: note: {note}", file=sys.stderr)
    return result


def secrets_notice(result: Any, skipped: bool) -> str | None:
    """One line saying which secrets a pull left out and how to get them; None if none."""
    parts = []
    if result.placeholders:
        shown = ", ".join(result.placeholders[:3]) + (
            " ..." if len(result.placeholders) > 3 else ""
        )
        parts.append(f"secret values in {shown} are placeholders (<statesync:secret>)")
    if result.secrets_left_out:
        shown = ", ".join(result.secrets_left_out[:3])
        more = " ..." if len(result.secrets_left_out) > 3 else ""
        parts.append(f"secret files left out: {shown}{more}")
    if not parts:
        return None
    if result.secrets_sealed and skipped:
        how = (
            "they are in the snapshot, sealed: pull again without --skip-secrets, with a key "
            f"for {result.env} (STATESYNC_PASSPHRASE, or [keys] recipients in statesync.toml)"
        )
    elif result.secrets_sealed:
        how = "the machine that has them can add them with 'statesync push --include-secrets'"
    else:
        how = (
            "secrets never leave the machine that pushed them: there, run "
            f"'statesync push DIR --env {result.env} --include-secrets', then pull again "
            "with a key for the environment"
        )
    return "; ".join(parts) + f": {how}"


def cmd_status(args: argparse.Namespace) -> Any:
    st = _store(args).status(args.dir, args.env)
    return {
        **jsonable(st),
        "clean": st.clean,
        "differences": not st.clean or st.env_moved,
    }


def cmd_log(args: argparse.Namespace) -> Any:
    if args.all_envs:
        every = _store(args).log_all(args.limit)
        return {
            "envs": {env: _log_rows(snaps) for env, snaps in every.envs.items()},
            "errors": every.errors,
        }
    return {"env": args.env, "snapshots": _log_rows(_store(args).log(args.env, args.limit))}


def _log_rows(entries: list[Any]) -> list[dict[str, Any]]:
    return [{**jsonable(e), "merge": len(e.parents) > 1} for e in entries]


def cmd_show(args: argparse.Namespace) -> Any:
    return _store(args).show(args.id).to_json()


def cmd_diff(args: argparse.Namespace) -> Any:
    d = _store(args).diff(args.a, args.b)
    return {**jsonable(d), "differences": bool(d.added or d.removed or d.modified)}


#: ``status --exit-code`` / ``diff --exit-code`` found differences. Not 1: 1 is an
#: error (ARCHITECTURE.md §5, a fixed contract), and a drift check must tell the two apart.
DIFFERENCES = 7


def exit_code(args: argparse.Namespace, result: Any) -> int:
    """The exit code of a command that succeeded: :data:`DIFFERENCES` under ``--exit-code``."""
    if getattr(args, "exit_code", False) and isinstance(result, dict):
        return DIFFERENCES if result.get("differences") else 0
    return 0


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
