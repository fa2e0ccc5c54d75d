"""The argument parser: every command, its flags and its help.

``build()`` is the whole parser; each ``_add_*`` function adds one group of
commands. Handlers live in :mod:`statesync.cli.commands`. Every argument has
a help string; :func:`statesync.cli.helptext.decorate` then adds defaults,
examples, environment variables and the exit codes to the whole tree.
"""

from __future__ import annotations

import argparse
import functools
from collections.abc import Callable
from typing import Any, NoReturn

from statesync.cli import commands as c
from statesync.cli import helptext
from statesync.errors import UsageError

# argparse asks gettext for each of its messages, about 140 per start, and gettext
# searches the locale folders again on every call: 13 of the 29 ms that building
# this parser took. The answers cannot change within one run, so they are kept.
setattr(argparse, "_", functools.lru_cache(maxsize=None)(argparse._))  # type: ignore[attr-defined]  # noqa: B010

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


def _env_flag(sp: argparse._ActionsContainer, what: str) -> None:
    """``--env``; its default ('default') is resolved from STATESYNC_ENV / the config file."""
    sp.add_argument("--env", default=helptext.DEFAULT_ENV, metavar="ENV", help=what)


def _message_flag(sp: argparse.ArgumentParser) -> None:
    sp.add_argument("-m", "--message", default="", help="a message recorded with the snapshot")


def _tag_flag(sp: argparse.ArgumentParser, what: str) -> None:
    sp.add_argument("--tag", action="append", metavar="K=V", help=what)


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


def _exit_code_flag(sp: argparse.ArgumentParser, when: str) -> None:
    """``--exit-code``: a drift check for CI, like ``git diff --exit-code``."""
    sp.add_argument(
        "--exit-code",
        action="store_true",
        help=f"exit {c.DIFFERENCES} when {when}, 0 when not; errors keep their codes "
        "(1 is an error) (default: exit 0 either way)",
    )


def _globals(p: argparse.ArgumentParser, default: Any) -> None:
    def d(value: Any) -> Any:
        return value if default is None else default

    p.add_argument(
        "--store",
        metavar="URL",
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
    p.add_argument(
        "--config",
        dest="config_file",
        metavar="FILE",
        default=d(None),
        help="the statesync.toml to use (default: $STATESYNC_CONFIG, "
        "else statesync.toml in the working folder or a parent)",
    )
    p.add_argument(
        "--identity",
        action="append",
        metavar="SPEC",
        default=d(None),
        help="also unwrap keys with SPEC (keyfile:PATH, passphrase:LABEL, aws-kms:KEY, ...); "
        "repeatable",
    )


class _Parser(argparse.ArgumentParser):
    """argparse whose usage errors are :class:`UsageError` (so ``--json`` gets its object)."""

    def error(self, message: str) -> NoReturn:
        raise UsageError(f"{self.prog}: {message} (see '{self.prog} --help')")


def _add_folder_commands(add: Add) -> None:
    """Init, push, pull, status: a folder and an environment."""
    add("init", c.cmd_init, "create the store (fails if one exists)")
    sp = add("push", c.cmd_push, "snapshot a folder into an environment")
    sp.add_argument("dir", metavar="DIR", help="the folder to snapshot")
    _env_flag(sp, "the environment to push to")
    _message_flag(sp)
    _tag_flag(sp, "label the snapshot with KEY=VALUE; repeatable")
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
    sp.add_argument("dir", metavar="DIR", help="the folder to write (created if missing)")
    g = sp.add_mutually_exclusive_group()
    _env_flag(g, "the environment whose head to pull")
    g.add_argument(
        "--snapshot", metavar="ID", help="pull this snapshot (id or unique prefix) instead"
    )
    sp.add_argument(
        "--force",
        action="store_true",
        help="overwrite local changes and remove files the snapshot lacks",
    )
    sp.add_argument(
        "--allow-rollback",
        action="store_true",
        help="accept an environment whose serial is below the highest this machine has seen",
    )
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
    sp = add(
        "status",
        c.cmd_status,
        "local changes since the folder last synced, and whether the environment moved since",
    )
    sp.add_argument("dir", metavar="DIR", help="the working folder")
    _env_flag(sp, "the environment to compare with")
    _exit_code_flag(sp, "the folder has local changes or the environment moved since it synced")


def _add_history_commands(add: Add) -> None:
    """Log, show, diff: reading history."""
    sp = add("log", c.cmd_log, "an environment's history, newest first")
    _env_flag(sp, "the environment whose history to show")
    sp.add_argument("--limit", type=int, default=20, metavar="N", help="show at most N snapshots")
    sp.add_argument("--all-envs", action="store_true", help="every environment's history")
    sp = add("show", c.cmd_show, "describe a snapshot (id prefix or environment)")
    sp.add_argument("id", metavar="ID", help="a snapshot id (or unique prefix) or an environment")
    sp = add("diff", c.cmd_diff, "what changed between two snapshots or environments")
    sp.add_argument("a", metavar="A", help="the older side: snapshot id, prefix or environment")
    sp.add_argument("b", metavar="B", help="the newer side: snapshot id, prefix or environment")
    _exit_code_flag(sp, "the two snapshots differ")


def _add_bundle_commands(add: Add) -> None:
    """Export, import: one self-contained file."""
    sp = add("export", c.cmd_export, "write one self-contained bundle (.json .yaml .tar.zst)")
    g = sp.add_mutually_exclusive_group(required=True)
    g.add_argument("--env", metavar="ENV", help="export this environment's head")
    g.add_argument("--snapshot", metavar="ID", help="export this snapshot (id or unique prefix)")
    sp.add_argument(
        "-o",
        "--output",
        required=True,
        metavar="FILE",
        help="the file to write; its suffix picks the format (.json, .yaml, .tar.zst)",
    )
    sp.add_argument(
        "--include-binaries",
        action="store_true",
        help="also carry binary files (base64 in .json/.yaml)",
    )
    sp.add_argument(
        "--path",
        action="append",
        metavar="GLOB",
        help="only files matching GLOB (default: all); repeatable",
    )
    sp.add_argument("--description", default="", help="a description stored in the bundle")
    _tag_flag(sp, "store KEY=VALUE in the bundle's metadata; repeatable")
    from statesync.cli.formats import add_export_flags

    add_export_flags(sp)
    sp = add(
        "import",
        c.cmd_import,
        "validate a bundle, Wassette state or Persist snapshot, then commit it to an environment",
    )
    sp.add_argument("file", metavar="FILE", help="the bundle, Wassette state or Persist file")
    _env_flag(sp, "the environment to commit to")
    sp.add_argument(
        "--skip-existing",
        action="store_true",
        help="keep files the environment already has; add only new ones",
    )
    _message_flag(sp)
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
    sp.add_argument("env", metavar="ENV", help="the environment to lock")
    sp.add_argument("--ttl", default=c.DEFAULT_TTL, help="lease duration: 30s, 10m, 2h, 1d")
    sp.add_argument("--purpose", default="", help="why you hold it (shown to other holders)")
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
    sp.add_argument("env", metavar="ENV", help="the locked environment")
    sp.add_argument("lock_id", metavar="LOCK_ID", help="the lease's id, as lock printed it")
    sp.add_argument("--force", action="store_true", help="remove another holder's lease")


def _add_env_commands(add: Add) -> None:
    """Promote, promotion, rollback: moving environments."""
    sp = add("promote", c.cmd_promote, "give environment TO the files of FROM's head")
    sp.add_argument("src", metavar="FROM", help="the environment whose head to promote")
    sp.add_argument("dst", metavar="TO", help="the environment that receives its files")
    _message_flag(sp)
    _lock_flags(sp)
    _downgrade_flag(sp)
    sp = add(
        "promotion",
        c.cmd_promotion,
        "show or change the store's promotion rule "
        "(which FROM->TO promotions are allowed, for every caller)",
    )
    sp.add_argument(
        "action", choices=["show", "allow", "deny"], help="show the rule, or allow or deny paths"
    )
    sp.add_argument(
        "paths", nargs="*", metavar="FROM->TO", help="promotion paths (allow and deny need one)"
    )
    sp = add(
        "rollback",
        c.cmd_rollback,
        "give an environment an older snapshot's files, as a new snapshot",
    )
    sp.add_argument("env", metavar="ENV", help="the environment to roll back")
    sp.add_argument("id", metavar="ID", help="the older snapshot (id or unique prefix)")
    _message_flag(sp)
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
    p.add_argument(
        "--version", action=helptext.VersionAction, help="print statesync, Python and OS versions"
    )
    _globals(p, None)
    # The same options are accepted after the command too (statesync push -q DIR).
    common = _Parser(add_help=False)
    _globals(common, argparse.SUPPRESS)
    sub = p.add_subparsers(title="commands", dest="command", required=True, metavar="COMMAND")

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
    from statesync.cli.docs import add_doc_commands
    from statesync.cli.info import add_info_command

    add_info_command(add)
    add_doc_commands(add)
    helptext.decorate(p)
    p.set_defaults(root_parser=p)  # for completion and man, which describe the parser
    return p
