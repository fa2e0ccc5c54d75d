"""The command line: parse, call :mod:`statesync.api`, print. Nothing else.

Exit codes (DESIGN.md §7): 0 ok, 1 error, 2 usage, 3 conflict, 4 integrity,
5 locked, 6 key or decryption failure. Errors are one line on stderr; under
``--json`` also one object on stdout: ``{"error", "exit_code", "error_type", ...}``.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import logging
import os
import sys
from collections.abc import Callable, Sequence
from typing import Any, NoReturn

from statesync import __version__, logsetup
from statesync.errors import IntegrityError, StatesyncError, UsageError

Handler = Callable[[argparse.Namespace], Any]


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

    return Store.open(args.store)


def _progress(args: argparse.Namespace) -> bool:
    return not (args.quiet or args.json)


def cmd_init(args: argparse.Namespace) -> Any:
    from statesync.api import Store

    store = Store.init(args.store)
    return {"store": store.url, "store_id": store.store_id}


def _lock_policy(args: argparse.Namespace) -> Any:
    from statesync.api import LockPolicy

    timeout = parse_duration(args.lock_timeout) if args.lock_timeout else 0
    return LockPolicy(lock_id=args.lock_id, ignore=args.ignore_lock, timeout=timeout)


def cmd_push(args: argparse.Namespace) -> Any:
    if args.dry_run:
        return _store(args).plan_push(args.dir, args.env, include_secrets=args.include_secrets)
    return _store(args).push(args.dir, args.env, message=args.message, tags=_tags(args.tag),
                             force=args.force, rebase=args.rebase,
                             include_secrets=args.include_secrets,
                             encrypt_all=args.encrypt == "all", progress=_progress(args),
                             lock=_lock_policy(args), allow_downgrade=args.allow_downgrade)


def cmd_pull(args: argparse.Namespace) -> Any:
    return _store(args).pull(args.dir, args.env, snapshot=args.snapshot, force=args.force,
                             allow_rollback=args.allow_rollback, skip_secrets=args.skip_secrets,
                             progress=_progress(args))


def cmd_status(args: argparse.Namespace) -> Any:
    st = _store(args).status(args.dir, args.env)
    return {**dataclasses.asdict(st), "clean": st.clean}


def cmd_log(args: argparse.Namespace) -> Any:
    if args.all_envs:
        return _store(args).log_all(args.limit)
    return {"env": args.env, "snapshots": _store(args).log(args.env, args.limit)}


def cmd_show(args: argparse.Namespace) -> Any:
    return _store(args).show(args.id)


def cmd_diff(args: argparse.Namespace) -> Any:
    return _store(args).diff(args.a, args.b)


def cmd_export(args: argparse.Namespace) -> Any:
    return _store(args).export(args.output, env=args.env, snapshot=args.snapshot,
                               include_binaries=args.include_binaries, paths=args.path,
                               description=args.description, tags=_tags(args.tag))


def cmd_import(args: argparse.Namespace) -> Any:
    return _store(args).import_(args.file, args.env, skip_existing=args.skip_existing,
                                message=args.message, lock=_lock_policy(args))


def _report_damage(result: Any, lines: list[str], what: str) -> None:
    """Damage is exit 4; under ``--json`` the error object carries the whole report."""
    for line in lines:
        print(f"statesync: integrity: {line}", file=sys.stderr)
    raise IntegrityError(what).with_details(**_jsonable(result))


def cmd_verify(args: argparse.Namespace) -> Any:
    report = _store(args).verify(args.env, read_data=args.read_data)
    if not args.json:
        for note in report.skipped:
            print(f"statesync: skipped: {note}", file=sys.stderr)
    if not report.ok:
        _report_damage(report, report.problems,
                       f"verify found {len(report.damaged)} damaged object(s)")
    return report


def cmd_repair(args: argparse.Namespace) -> Any:
    result = _store(args).repair(read_data=args.read_data)
    if not result.ok:
        from statesync.cli.render import render

        if not (args.json or args.quiet):
            render("repair", _jsonable(result))
        _report_damage(result, [d.describe() for d in result.lost],
                       f"{len(result.lost)} damaged object(s) could not be repaired")
    return result


def cmd_envs(args: argparse.Namespace) -> Any:
    store = _store(args)
    return {"envs": store.envs(), "errors": store.broken_envs()}


_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}
_DEFAULT_TTL = "10m"


def parse_duration(text: str) -> int:
    """``30s``, ``10m``, ``2h``, ``1d`` (or plain seconds) -> seconds; :class:`UsageError`."""
    num, unit = (text[:-1], text[-1]) if text[-1:] in _UNITS else (text, "s")
    if not (num.isascii() and num.isdigit()) or int(num) == 0:
        raise UsageError(f"invalid duration {text!r}: use e.g. 30s, 10m, 2h or 1d")
    return int(num) * _UNITS[unit]


def cmd_lock(args: argparse.Namespace) -> Any:
    ttl = parse_duration(args.ttl)
    if args.renew:
        ttl_given = args.ttl != _DEFAULT_TTL
        return _store(args).renew_lock(args.env, args.renew, ttl if ttl_given else None).to_json()
    return _store(args).lock(args.env, ttl, args.purpose).to_json()


def cmd_locks(args: argparse.Namespace) -> Any:
    return {"locks": [st.to_json() for st in _store(args).locks()]}


def cmd_unlock(args: argparse.Namespace) -> Any:
    info = _store(args).unlock(args.env, args.lock_id, args.force)
    return {"env": args.env, "lock_id": info.lock_id, "holder": info.holder, "released": True}


def cmd_promote(args: argparse.Namespace) -> Any:
    return _store(args).promote(args.src, args.dst, args.message, lock=_lock_policy(args))


def cmd_rollback(args: argparse.Namespace) -> Any:
    return _store(args).rollback(args.env, args.id, args.message, lock=_lock_policy(args))


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


def _lock_flags(sp: argparse.ArgumentParser) -> None:
    """How a write treats the environment's lease (held by someone else: exit 5)."""
    sp.add_argument("--lock-timeout", metavar="DURATION",
                    help="wait up to this long (30s, 10m) for another holder's lease")
    g = sp.add_mutually_exclusive_group()
    g.add_argument("--lock-id", metavar="ID", help="write under the lease you hold")
    g.add_argument("--ignore-lock", action="store_true",
                   help="write even though someone else holds the lease")


def _globals(p: argparse.ArgumentParser, default: Any) -> None:
    def d(value: Any) -> Any:
        return value if default is None else default

    p.add_argument("--store", default=d(None), help="store URL or path (default: "
                   "$STATESYNC_STORE, statesync.toml, then the local data folder)")
    p.add_argument("--json", action="store_true", default=d(False),
                   help="print one JSON object on stdout")
    p.add_argument("-q", "--quiet", action="store_true", default=d(False),
                   help="no progress or chatter")
    p.add_argument("-v", "--verbose", action="count", default=d(0),
                   help="more logging (-vv: debug)")


class _Parser(argparse.ArgumentParser):
    """argparse whose usage errors are :class:`UsageError` (so ``--json`` gets its object)."""

    def error(self, message: str) -> NoReturn:
        raise UsageError(f"{self.prog}: {message} (see '{self.prog} --help')")


def _parser() -> argparse.ArgumentParser:
    p = _Parser(prog="statesync", description=(
        "Versioned, verified snapshots of application and agent state, shared safely."))
    p.add_argument("--version", action="version", version=f"statesync {__version__}")
    _globals(p, None)
    # The same options are accepted after the command too (statesync push -q DIR).
    common = _Parser(add_help=False)
    _globals(common, argparse.SUPPRESS)
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def add(name: str, fn: Handler, help: str) -> argparse.ArgumentParser:
        sp = sub.add_parser(name, help=help, description=help, parents=[common])
        sp.set_defaults(fn=fn)
        return sp

    add("init", cmd_init, "create the store (fails if one exists)")
    sp = add("push", cmd_push, "snapshot a folder into an environment")
    sp.add_argument("dir")
    sp.add_argument("--env", default="default")
    sp.add_argument("-m", "--message", default="")
    sp.add_argument("--tag", action="append", metavar="K=V")
    g = sp.add_mutually_exclusive_group()
    g.add_argument("--rebase", action="store_true",
                   help="if the environment moved, merge with it (files and document keys)")
    g.add_argument("--force", action="store_true",
                   help="replace the environment's contents even if this folder is behind")
    sp.add_argument("--include-secrets", action="store_true",
                    help="store secret values and files, sealed with the environment's key")
    sp.add_argument("--encrypt", choices=["all"],
                    help="'all': seal every chunk and the manifest too")
    sp.add_argument("--dry-run", action="store_true",
                    help="list what would be excluded, redacted and uploaded; write nothing")
    _lock_flags(sp)
    sp.add_argument("--allow-downgrade", action="store_true",
                    help="push with less encryption than this machine used for ENV before")
    sp = add("pull", cmd_pull, "restore an environment (or a snapshot) into a folder")
    sp.add_argument("dir")
    g = sp.add_mutually_exclusive_group()
    g.add_argument("--env", default="default")
    g.add_argument("--snapshot", metavar="ID")
    sp.add_argument("--force", action="store_true",
                    help="overwrite local changes and remove files the snapshot lacks")
    sp.add_argument("--allow-rollback", action="store_true")
    sp.add_argument("--skip-secrets", action="store_true",
                    help="pull everything else when no key is available")
    sp = add("status", cmd_status, "local changes against the environment")
    sp.add_argument("dir")
    sp.add_argument("--env", default="default")
    sp = add("log", cmd_log, "an environment's history, newest first")
    sp.add_argument("--env", default="default")
    sp.add_argument("--limit", type=int, default=20)
    sp.add_argument("--all-envs", action="store_true", help="every environment's history")
    sp = add("show", cmd_show, "describe a snapshot (id prefix or environment)")
    sp.add_argument("id")
    sp = add("diff", cmd_diff, "what changed between two snapshots or environments")
    sp.add_argument("a")
    sp.add_argument("b")
    sp = add("export", cmd_export, "write one self-contained bundle (.json .yaml .tar.zst)")
    g = sp.add_mutually_exclusive_group(required=True)
    g.add_argument("--env")
    g.add_argument("--snapshot", metavar="ID")
    sp.add_argument("-o", "--output", required=True, metavar="FILE")
    sp.add_argument("--include-binaries", action="store_true")
    sp.add_argument("--path", action="append", metavar="GLOB")
    sp.add_argument("--description", default="")
    sp.add_argument("--tag", action="append", metavar="K=V")
    sp = add("import", cmd_import, "validate a bundle, then commit it to an environment")
    sp.add_argument("file")
    sp.add_argument("--env", default="default")
    sp.add_argument("--skip-existing", action="store_true")
    sp.add_argument("-m", "--message", default="")
    _lock_flags(sp)
    sp = add("verify", cmd_verify, "check refs, manifests and indexes (and all chunks)")
    sp.add_argument("--env", help="only this environment (default: all)")
    sp.add_argument("--read-data", action="store_true", help="also read and check every chunk")
    sp = add("repair", cmd_repair, "rebuild damaged or stale indexes from the packs; "
             "say what is lost for good")
    sp.add_argument("--read-data", action="store_true",
                    help="also read every chunk and forget corrupt ones (a push re-uploads them)")
    add("envs", cmd_envs, "list the store's environments")
    sp = add("lock", cmd_lock, "take an environment's lease (exit 5 if another holder has it)")
    sp.add_argument("env")
    sp.add_argument("--ttl", default=_DEFAULT_TTL, help="lease duration: 30s, 10m, 2h, 1d")
    sp.add_argument("--purpose", default="")
    sp.add_argument("--renew", metavar="LOCK_ID",
                    help="renew the lease LOCK_ID (restarts its TTL; --ttl sets a new one)")
    add("locks", cmd_locks, "list the store's leases (live and stale)")
    sp = add("unlock", cmd_unlock, "remove an environment's lease if it is still LOCK_ID")
    sp.add_argument("env")
    sp.add_argument("lock_id")
    sp.add_argument("--force", action="store_true", help="remove another holder's lease")
    sp = add("promote", cmd_promote, "give environment TO the files of FROM's head")
    sp.add_argument("src", metavar="FROM")
    sp.add_argument("dst", metavar="TO")
    sp.add_argument("-m", "--message", default="")
    _lock_flags(sp)
    sp = add("promotion", cmd_promotion, "show or change the store's promotion rule "
             "(which FROM->TO promotions are allowed, for every caller)")
    sp.add_argument("action", choices=["show", "allow", "deny"])
    sp.add_argument("paths", nargs="*", metavar="FROM->TO")
    sp = add("rollback", cmd_rollback, "give an environment an older snapshot's files, "
             "as a new snapshot")
    sp.add_argument("env")
    sp.add_argument("id", metavar="ID")
    sp.add_argument("-m", "--message", default="")
    _lock_flags(sp)
    from statesync.cli.keys import add_keys_commands

    add_keys_commands(add, common)
    from statesync.cli_gc import add_gc_command

    add_gc_command(add)
    return p


def _jsonable(value: Any) -> Any:
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {k: _jsonable(v) for k, v in dataclasses.asdict(value).items()}
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    return value


def _fail(args: argparse.Namespace, message: str, code: int,
          details: dict[str, Any] | None = None) -> int:
    """Report an error: one line on stderr, and under ``--json`` one object on stdout."""
    print(f"statesync: {message}", file=sys.stderr)
    if getattr(args, "json", False):
        doc = {**(details or {}), "error": message.removeprefix("error: "), "exit_code": code}
        print(json.dumps(_jsonable(doc), indent=2, sort_keys=True))
    return code


def _run(args: argparse.Namespace) -> int:
    try:
        result = _jsonable(args.fn(args))
    except StatesyncError as exc:
        details = {"error_type": type(exc).__name__, **exc.details}
        return _fail(args, f"error: {exc}", exc.exit_code, details)
    except KeyboardInterrupt:
        return _fail(args, "interrupted", 130)
    except BrokenPipeError:
        raise
    except OSError as exc:
        return _fail(args, f"error: {exc.filename or ''}: {exc.strerror or exc}", 1)
    except Exception as exc:  # a bug: one line, the traceback only when asked for
        logging.getLogger("statesync").debug("internal error", exc_info=True)
        return _fail(args, f"internal error: {type(exc).__name__}: {exc}", 1)
    from statesync.cli.render import render

    if args.json:
        print(json.dumps(result, indent=2, sort_keys=True))
    elif not args.quiet:
        render(args.command, result)
    sys.stdout.flush()  # a closed pipe shows here, inside the BrokenPipeError guard
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Run the CLI; return the exit code.

    A reader that closes our stdout early (``statesync log | head -1``) ends
    the command quietly with exit 0: it got what it asked for.
    """
    try:
        args = _parser().parse_args(argv)
    except UsageError as exc:  # a bad flag: one line, and one JSON object under --json
        words = sys.argv[1:] if argv is None else list(argv)
        return _fail(argparse.Namespace(json="--json" in words), f"error: {exc}", exc.exit_code,
                     {"error_type": "UsageError"})
    logsetup.configure(args.verbose)  # SDK debug output (KMS answers...) never shown
    try:
        return _run(args)
    except BrokenPipeError:
        # Point stdout at /dev/null so the interpreter's final flush cannot fail again.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0


if __name__ == "__main__":
    sys.exit(main())
