"""CLI hooks for the seeds' formats: ``import`` detects them, ``export --format`` writes them."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from statesync.api import Store

FORMATS = ("wassette", "wassette-yaml", "persist")


def add_export_flags(sp: argparse.ArgumentParser) -> None:
    """``--format`` and ``--component`` on ``statesync export``."""
    sp.add_argument("--format", choices=FORMATS, default=None,
                    help="write a Wassette state (JSON snapshot or YAML export) or a Persist "
                         ".json.gz instead of a statesync bundle")
    sp.add_argument("--component", action="append", metavar="ID",
                    help="only this Wassette component (repeatable; with --format wassette*)")


def export(store: Store, args: argparse.Namespace) -> Any:
    """``export --format F``: the formats' own writer; ``--path`` globs select components."""
    return store.export_format(args.output, args.format, env=args.env, snapshot=args.snapshot,
                               include_binaries=args.include_binaries,
                               components=args.component, paths=args.path)
