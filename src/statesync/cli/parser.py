"""The argument parser: every command, its flags and its help.

``build()`` is the whole parser; each ``_add_*`` function adds one group of
commands. Handlers live in :mod:`statesync.cli.commands`.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from typing import Any, NoReturn

from statesync.cli import commands as c
from statesync.errors import UsageError
from statesync.version import __version__

Handler = Callable[[argparse.Namespace], Any]
Add = Callable[[str, Handler, str], argparse.ArgumentParser]


def _lock_flags(sp: argparse.ArgumentParser) -> None:
    """How a write treats the environment's lease (held by someone else: exit 5)."""
    sp.add_argument(
        "--lock-timeout",
        metavar="DURATION",
        help="wait up to this long (30s, 10m) for another holder's lease",
    )
    g = sp.add_mutually_exclusive_group()
    g.add_argument("--lock-id", metavar="ID", help="write under the lease you hold")
    g.add_argument(
        "--ignore-lock", action="store_true", help="write even though someone else holds the lease"
    )


def _exclude_flag(sp: argparse.ArgumentParser, effect: str) -> None:
    sp.add_argument(
        "--exclude",
        action="append",
        metavar="GLOB",
        help=f"paths matching GLOB are {effect} (.gitignore syntax, repeatable; added after "
        "DIR/.statesyncignore; default: none)",
    )


def _downgrade_flag(sp: argparse.ArgumentParser) -> None:
    sp.add_argument(
        "--allow-downgrade",
        action="store_true",
        help="store the environment with less encryption than this machine used",
    )


def _globals(p: argparse.ArgumentParser, default: Any) -> None:
    def d(value: Any) -> Any:
        return value if default is None else default

    p.add_argument(
        "--store",
        default=d(None),
        help="store URL or path (default: "
        "$STATESYNC_STORE, statesync.toml, then the local data folder)",
    )
    p.add_argument(
        "--json", action="store_true", default=d(False), help="print one JSON object on stdout"
    )
    p.add_argument(
        "-q", "--quiet", action="store_true", default=d(False), help="no progress or chatter"
    )
    p.add_argument(
        "-v", "--verbose", action="count", default=d(0), help="more logging (-vv: debug)"
    )


class _Parser(argparse.ArgumentParser):
    """argparse whose usage errors are :class:`UsageError` (so ``--json`` gets its object)."""

    def error(self, message: str) -> NoReturn:
        raise UsageError(f"{self.prog}: {message} (see '{self.prog} --help')")


def _add_folder_commands(add: Add) -> None:
    """Init, push, pull, status: a folder and an environment."""
    add("init", c.cmd_init, "create the store (fails if one exists)")
    sp = add("push", c.cmd_push, "snapshot a folder into an environment")
    sp.add_argument("dir")
    sp.add_argument("--env", default="default")
    sp.add_argument("-m", "--message", default="")
    sp.add_argument("--tag", action="append", metavar="K=V")
    g = sp.add_mutually_exclusive_group()
    g.add_argument(
        "--rebase",
        action="store_true",
        help="if the environment moved, merge with it (files and document keys)",
    )
    g.add_argument(
        "--force",
        action="store_true",
        help="replace the environment's contents even if this folder is behind",
    )
    sp.add_argument(
        "--include-secrets",
        action="store_true",
        help="store secret values and files, sealed with the environment's key",
    )
    sp.add_argument(
        "--encrypt", choices=["all"], help="'all': seal every chunk and the manifest too"
    )
    sp.add_argument(
        "--dry-run",
        action="store_true",
        help="list what would be excluded, redacted and uploaded; write nothing",
    )
    _exclude_flag(sp, "not pushed")
    _lock_flags(sp)
    sp.add_argument(
        "--allow-downgrade",
        action="store_true",
        help="push with less encryption than this machine used for ENV before",
    )
    sp = add("pull", c.cmd_pull, "restore an environment (or a snapshot) into a folder")
    sp.add_argument("dir")
    g = sp.add_mutually_exclusive_group()
    g.add_argument("--env", default="default")
    g.add_argument("--snapshot", metavar="ID")
    sp.add_argument(
        "--force",
        action="store_true",
        help="overwrite local changes and remove files the snapshot lacks",
    )
    sp.add_argument("--allow-rollback", action="store_true")
    sp.add_argument(
        "--skip-secrets", action="store_true", help="pull everything else when no key is available"
    )
    sp.add_argument(
        "--path",
        action="append",
        metavar="GLOB",
        help="only files matching GLOB (.gitignore syntax, repeatable); the rest of DIR and "
        "its sync record stay as they are (default: the whole snapshot)",
    )
    _exclude_flag(sp, "never written or removed")
    sp = add("status", c.cmd_status, "local changes against the environment")
    sp.add_argument("dir")
    sp.add_argument("--env", default="default")


def _add_history_commands(add: Add) -> None:
    """Log, show, diff: reading history."""
    sp = add("log", c.cmd_log, "an environment's history, newest first")
    sp.add_argument("--env", default="default")
    sp.add_argument("--limit", type=int, default=20)
    sp.add_argument("--all-envs", action="store_true", help="every environment's history")
    sp = add("show", c.cmd_show, "describe a snapshot (id prefix or environment)")
    sp.add_argument("id")
    sp = add("diff", c.cmd_diff, "what changed between two snapshots or environments")
    sp.add_argument("a")
    sp.add_argument("b")


def _add_bundle_commands(add: Add) -> None:
    """Export, import: one self-contained file."""
    sp = add("export", c.cmd_export, "write one self-contained bundle (.json .yaml .tar.zst)")
    g = sp.add_mutually_exclusive_group(required=True)
    g.add_argument("--env")
    g.add_argument("--snapshot", metavar="ID")
    sp.add_argument("-o", "--output", required=True, metavar="FILE")
    sp.add_argument("--include-binaries", action="store_true")
    sp.add_argument("--path", action="append", metavar="GLOB")
    sp.add_argument("--description", default="")
    sp.add_argument("--tag", action="append", metavar="K=V")
    from statesync.cli.formats import add_export_flags

    add_export_flags(sp)
    sp = add(
        "import",
        c.cmd_import,
        "validate a bundle, Wassette state or Persist snapshot, then commit it to an environment",
    )
    sp.add_argument("file")
    sp.add_argument("--env", default="default")
    sp.add_argument("--skip-existing", action="store_true")
    sp.add_argument("-m", "--message", default="")
    sp.add_argument(
        "--component",
        action="append",
        metavar="ID",
        help="only this Wassette component (repeatable)",
    )
    _lock_flags(sp)
    _downgrade_flag(sp)


def _add_store_commands(add: Add) -> None:
    """Verify, repair, envs: the store itself."""
    sp = add("verify", c.cmd_verify, "check refs, manifests and indexes (and all chunks)")
    sp.add_argument("--env", help="only this environment (default: all)")
    sp.add_argument("--read-data", action="store_true", help="also read and check every chunk")
    sp = add(
        "repair",
        c.cmd_repair,
        "rebuild damaged or stale indexes from the packs; say what is lost for good",
    )
    sp.add_argument(
        "--read-data",
        action="store_true",
        help="also read every needed pack: keep a damaged one's intact chunks, "
        "move it aside (a push re-uploads the rest)",
    )
    add("envs", c.cmd_envs, "list the store's environments")


def _add_lease_commands(add: Add) -> None:
    """Lock, locks, unlock: leases."""
    sp = add("lock", c.cmd_lock, "take an environment's lease (exit 5 if another holder has it)")
    sp.add_argument("env")
    sp.add_argument("--ttl", default=c.DEFAULT_TTL, help="lease duration: 30s, 10m, 2h, 1d")
    sp.add_argument("--purpose", default="")
    sp.add_argument(
        "--renew",
        metavar="LOCK_ID",
        help="renew the lease LOCK_ID (restarts its TTL; --ttl sets a new one)",
    )
    sp.add_argument(
        "--force",
        action="store_true",
        help="replace whatever lease is there (a malformed one, or another holder's)",
    )
    add("locks", c.cmd_locks, "list the store's leases (live and stale)")
    sp = add("unlock", c.cmd_unlock, "remove an environment's lease if it is still LOCK_ID")
    sp.add_argument("env")
    sp.add_argument("lock_id")
    sp.add_argument("--force", action="store_true", help="remove another holder's lease")


def _add_env_commands(add: Add) -> None:
    """Promote, promotion, rollback: moving environments."""
    sp = add("promote", c.cmd_promote, "give environment TO the files of FROM's head")
    sp.add_argument("src", metavar="FROM")
    sp.add_argument("dst", metavar="TO")
    sp.add_argument("-m", "--message", default="")
    _lock_flags(sp)
    _downgrade_flag(sp)
    sp = add(
        "promotion",
        c.cmd_promotion,
        "show or change the store's promotion rule "
        "(which FROM->TO promotions are allowed, for every caller)",
    )
    sp.add_argument("action", choices=["show", "allow", "deny"])
    sp.add_argument("paths", nargs="*", metavar="FROM->TO")
    sp = add(
        "rollback",
        c.cmd_rollback,
        "give an environment an older snapshot's files, as a new snapshot",
    )
    sp.add_argument("env")
    sp.add_argument("id", metavar="ID")
    sp.add_argument("-m", "--message", default="")
    _lock_flags(sp)
    _downgrade_flag(sp)


def build() -> argparse.ArgumentParser:
    """The whole parser of ``statesync``."""
    p = _Parser(
        prog="statesync",
        description=(
            "Versioned, verified snapshots of application and agent state, shared safely."
        ),
    )
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

    _add_folder_commands(add)
    _add_history_commands(add)
    _add_bundle_commands(add)
    _add_store_commands(add)
    _add_lease_commands(add)
    _add_env_commands(add)
    from statesync.cli.keys import add_keys_commands

    add_keys_commands(add, common)
    from statesync.cli.serve import add_serve_command

    add_serve_command(add, common)
    from statesync.cli.watch import add_watch

    add_watch(add)
    from statesync.cli.gc import add_gc_command

    add_gc_command(add)
    from statesync.cli.cat import add_cat_command

    add_cat_command(add)
    return p
