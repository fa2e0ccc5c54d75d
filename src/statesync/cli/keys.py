"""The ``statesync keys ...`` commands: argument parsing only (work: :mod:`.admin`).

Registered by :mod:`statesync.cli`; imports nothing heavy until a command runs.
Key failures exit 6, integrity faults 4, usage errors 2, as everywhere.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from typing import Any

Handler = Callable[[argparse.Namespace], Any]
AddCommand = Callable[[str, Handler, str], argparse.ArgumentParser]


def _admin(args: argparse.Namespace) -> Any:
    from statesync.api import Store

    return Store.configured(args.store).keys(identities=args.identity or [])


def _init(args: argparse.Namespace) -> Any:
    return _admin(args).init(args.env, args.recipient)


def _add(args: argparse.Namespace) -> Any:
    return _admin(args).add_recipient(args.env, args.spec)


def _remove(args: argparse.Namespace) -> Any:
    return _admin(args).remove_recipient(args.env, args.stanza_id)


def _list(args: argparse.Namespace) -> Any:
    return _admin(args).list_keys(args.env)


def _rotate(args: argparse.Namespace) -> Any:
    return _admin(args).rotate(args.env, args.recipient)


def _keyfile_new(args: argparse.Namespace) -> Any:
    from statesync.keys import keyfile_new

    return keyfile_new(args.path)


def _signing_new(args: argparse.Namespace) -> Any:
    from statesync.keys import signing_new

    return signing_new(args.path)


def _trust(args: argparse.Namespace) -> Any:
    return _admin(args).trust(args.env, args.pubkey, True if args.require_signed else None)


def _untrust(args: argparse.Namespace) -> Any:
    return _admin(args).untrust(args.env, args.pubkey, args.require_signed)


def _pin(args: argparse.Namespace) -> Any:
    from statesync.api import Store

    return Store.pin(args.store, reset=args.reset)


def add_keys_commands(add: AddCommand, common: argparse.ArgumentParser) -> None:
    """Register ``keys`` and its subcommands with the CLI's ``add`` helper."""
    keys = add("keys", _list, "recipients, key generations, signing keys and trust")
    sub = keys.add_subparsers(dest="keys_command", required=True, metavar="KEYS_COMMAND")
    identity = argparse.ArgumentParser(add_help=False)
    identity.add_argument(
        "--identity",
        action="append",
        metavar="SPEC",
        help="also unwrap with SPEC (e.g. keyfile:/path); repeatable",
    )

    def cmd(name: str, fn: Handler, help: str, store: bool = True) -> argparse.ArgumentParser:
        parents = [common, identity] if store else [common]
        sp = sub.add_parser(name, help=help, description=help, parents=parents)
        sp.set_defaults(fn=fn)
        return sp

    sp = cmd("init", _init, "create key generation 1 of an environment")
    sp.add_argument("env", metavar="ENV")
    sp.add_argument(
        "--recipient",
        action="append",
        metavar="SPEC",
        help="passphrase[:label], keyfile:PATH, aws-kms:KEY, azure-kv:URL, "
        "gcp-kms:NAME (default: [keys] recipients); repeatable",
    )
    sp = cmd("add-recipient", _add, "wrap every key generation for one more recipient")
    sp.add_argument("env", metavar="ENV")
    sp.add_argument("spec", metavar="SPEC")
    sp = cmd("remove-recipient", _remove, "delete a recipient's stanza from every generation")
    sp.add_argument("env", metavar="ENV")
    sp.add_argument("stanza_id", metavar="STANZA_ID", help="as shown by 'keys list'")
    sp = cmd("list", _list, "key generations and their recipients (no secrets)")
    sp.add_argument("env", metavar="ENV")
    sp = cmd("rotate", _rotate, "new data key for new writes; old generations still read")
    sp.add_argument("env", metavar="ENV")
    sp.add_argument(
        "--recipient",
        action="append",
        metavar="SPEC",
        help="recipients of the new generation (default: the current ones)",
    )
    sp = cmd("keyfile", _keyfile_new, "key files", store=False)
    kf = sp.add_subparsers(dest="keyfile_command", required=True, metavar="new")
    p = kf.add_parser("new", help="create a key file (0600)", parents=[common])
    p.set_defaults(fn=_keyfile_new)
    p.add_argument("path", metavar="PATH")
    sp = cmd("signing", _signing_new, "Ed25519 signing keys", store=False)
    sg = sp.add_subparsers(dest="signing_command", required=True, metavar="new")
    p = sg.add_parser(
        "new", help="create a signing key (0600) and print its public key", parents=[common]
    )
    p.set_defaults(fn=_signing_new)
    p.add_argument(
        "path",
        metavar="PATH",
        nargs="?",
        help="default: $STATESYNC_SIGNING_KEY or $XDG_CONFIG_HOME/statesync/signing.key",
    )
    sp = cmd("trust", _trust, "trust a public key to write an environment (local policy)")
    sp.add_argument("env", metavar="ENV")
    sp.add_argument("pubkey", metavar="PUBKEY", help="ed25519:<base64>")
    sp.add_argument(
        "--require-signed",
        action="store_true",
        help="also refuse unsigned refs and key generations of ENV written "
        "from now on (what exists now stays readable)",
    )
    sp = cmd("pin", _pin, "show this machine's pin of the store id (trust on first use)")
    sp.add_argument(
        "--reset",
        action="store_true",
        help="pin the id the store has now (after replacing the store yourself)",
    )
    sp = cmd(
        "untrust",
        _untrust,
        "stop trusting a public key (or requiring signatures) for an environment",
    )
    sp.add_argument("env", metavar="ENV")
    sp.add_argument(
        "pubkey",
        metavar="PUBKEY",
        nargs="?",
        help="the writer to drop (the last one takes --require-signed with it)",
    )
    sp.add_argument(
        "--require-signed", action="store_true", help="stop refusing unsigned snapshots of ENV"
    )
