"""The command line: parse, call :mod:`statesync.api`, print. Nothing else.

Exit codes (DESIGN.md §7): 0 ok, 1 error, 2 usage, 3 conflict, 4 integrity,
5 locked, 6 key or decryption failure. Errors are one line on stderr.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import logging
import sys
from collections.abc import Callable, Sequence
from typing import Any

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


def cmd_push(args: argparse.Namespace) -> Any:
    return _store(args).push(args.dir, args.env, message=args.message, tags=_tags(args.tag),
                             force=args.force, rebase=args.rebase,
                             include_secrets=args.include_secrets,
                             encrypt_all=args.encrypt == "all", progress=_progress(args))


def cmd_pull(args: argparse.Namespace) -> Any:
    return _store(args).pull(args.dir, args.env, snapshot=args.snapshot, force=args.force,
                             allow_rollback=args.allow_rollback, skip_secrets=args.skip_secrets,
                             progress=_progress(args))


def cmd_status(args: argparse.Namespace) -> Any:
    st = _store(args).status(args.dir, args.env)
    return {**dataclasses.asdict(st), "clean": st.clean}


def cmd_log(args: argparse.Namespace) -> Any:
    if args.all_envs:
        return {"envs": _store(args).log_all(args.limit)}
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
                                message=args.message)


def cmd_verify(args: argparse.Namespace) -> Any:
    report = _store(args).verify(args.env, read_data=args.read_data)
    if not report.ok:
        for problem in report.problems:
            print(f"statesync: integrity: {problem}", file=sys.stderr)
        raise IntegrityError(f"verify found {len(report.problems)} problem(s)")
    return report


def cmd_envs(args: argparse.Namespace) -> Any:
    return {"envs": _store(args).envs()}


_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def parse_duration(text: str) -> int:
    """``30s``, ``10m``, ``2h``, ``1d`` (or plain seconds) -> seconds; :class:`UsageError`."""
    num, unit = (text[:-1], text[-1]) if text[-1:] in _UNITS else (text, "s")
    if not (num.isascii() and num.isdigit()) or int(num) == 0:
        raise UsageError(f"invalid duration {text!r}: use e.g. 30s, 10m, 2h or 1d")
    return int(num) * _UNITS[unit]


def cmd_lock(args: argparse.Namespace) -> Any:
    ttl = parse_duration(args.ttl)
    return _store(args).lock(args.env, ttl, args.purpose).to_json()


def cmd_unlock(args: argparse.Namespace) -> Any:
    info = _store(args).unlock(args.env, args.lock_id, args.force)
    return {"env": args.env, "lock_id": info.lock_id, "holder": info.holder, "released": True}


def cmd_promote(args: argparse.Namespace) -> Any:
    return _store(args).promote(args.src, args.dst, args.message)


def cmd_rollback(args: argparse.Namespace) -> Any:
    return _store(args).rollback(args.env, args.id, args.message)


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


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="statesync", description=(
        "Versioned, verified snapshots of application and agent state, shared safely."))
    p.add_argument("--version", action="version", version=f"statesync {__version__}")
    _globals(p, None)
    # The same options are accepted after the command too (statesync push -q DIR).
    common = argparse.ArgumentParser(add_help=False)
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
    sp = add("verify", cmd_verify, "check refs, manifests and indexes (and all chunks)")
    sp.add_argument("--env", help="only this environment (default: all)")
    sp.add_argument("--read-data", action="store_true", help="also read and check every chunk")
    add("envs", cmd_envs, "list the store's environments")
    sp = add("lock", cmd_lock, "take an environment's lease (exit 5 if another holder has it)")
    sp.add_argument("env")
    sp.add_argument("--ttl", default="10m", help="lease duration: 30s, 10m, 2h, 1d")
    sp.add_argument("--purpose", default="")
    sp = add("unlock", cmd_unlock, "remove an environment's lease if it is still LOCK_ID")
    sp.add_argument("env")
    sp.add_argument("lock_id")
    sp.add_argument("--force", action="store_true", help="remove another holder's lease")
    sp = add("promote", cmd_promote, "give environment TO the files of FROM's head")
    sp.add_argument("src", metavar="FROM")
    sp.add_argument("dst", metavar="TO")
    sp.add_argument("-m", "--message", default="")
    sp = add("rollback", cmd_rollback, "give an environment an older snapshot's files, "
             "as a new snapshot")
    sp.add_argument("env")
    sp.add_argument("id", metavar="ID")
    sp.add_argument("-m", "--message", default="")
    from statesync.crypto.commands import add_keys_commands

    add_keys_commands(add, common)
    return p


def _jsonable(value: Any) -> Any:
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {k: _jsonable(v) for k, v in dataclasses.asdict(value).items()}
    if isinstance(value, dict):
        return {k: _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_jsonable(v) for v in value]
    return value


def main(argv: Sequence[str] | None = None) -> int:
    """Run the CLI; return the exit code."""
    args = _parser().parse_args(argv)
    logsetup.configure(args.verbose)  # SDK debug output (KMS answers...) never shown
    try:
        result = _jsonable(args.fn(args))
    except StatesyncError as exc:
        print(f"statesync: error: {exc}", file=sys.stderr)
        return exc.exit_code
    except KeyboardInterrupt:
        print("statesync: interrupted", file=sys.stderr)
        return 130
    except OSError as exc:
        print(f"statesync: error: {exc.filename or ''}: {exc.strerror or exc}", file=sys.stderr)
        return 1
    except Exception as exc:  # a bug: one line, the traceback only when asked for
        logging.getLogger("statesync").debug("internal error", exc_info=True)
        print(f"statesync: internal error: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 1
    from statesync.render import render

    if args.json:
        print(json.dumps(result, indent=2, sort_keys=True))
    elif not args.quiet:
        render(args.command, result)
    return 0


if __name__ == "__main__":
    sys.exit(main())
