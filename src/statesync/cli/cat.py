"""``statesync cat REF PATH``: one file of a snapshot on stdout, streamed and verified.

Registered by :func:`add_cat_command` with the CLI's ``add`` helper. The
handler writes the bytes itself and returns None, so nothing else is printed.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from typing import Any

AddCommand = Callable[[str, Callable[[argparse.Namespace], Any], str], argparse.ArgumentParser]


def add_cat_command(add: AddCommand) -> None:
    sp = add(
        "cat",
        cmd_cat,
        "print one file of a snapshot to stdout, verified (secrets as pull would write them)",
    )
    sp.add_argument(
        "ref",
        metavar="REF",
        help="an environment (its head) or a snapshot id or unique id prefix, as for show",
    )
    sp.add_argument("path", metavar="PATH", help="the file's path inside the snapshot")
    sp.add_argument(
        "--skip-secrets",
        action="store_true",
        help="show sealed secret values as the marker instead of opening them "
        "(default: open them; exit 6 without the key)",
    )
    sp.epilog = "example: statesync cat prod config/app.json | jq ."


def cmd_cat(args: argparse.Namespace) -> None:
    """Write the file to stdout; an error mid-stream (damage: exit 4) ends the output."""
    from statesync.api import Store

    out = sys.stdout.buffer
    with Store.configured(args.store) as store:
        for chunk in store.cat(args.ref, args.path, skip_secrets=args.skip_secrets):
            out.write(chunk)
    out.flush()
