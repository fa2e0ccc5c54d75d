"""CLI hooks for the seeds' formats: ``import`` detects them, ``export --format`` writes them."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING, Any

from statesync.errors import UsageError

if TYPE_CHECKING:
    from statesync.api import Store

FORMATS = ("wassette", "wassette-yaml", "persist")


def add_export_flags(sp: argparse.ArgumentParser) -> None:
    """``--format`` and ``--component`` on ``statesync export``."""
    sp.add_argument(
        "--format",
        choices=FORMATS,
        default=None,
        help="write a Wassette state (JSON snapshot or YAML export) or a Persist "
        ".json.gz instead of a statesync bundle",
    )
    sp.add_argument(
        "--component",
        action="append",
        metavar="ID",
        help="only this Wassette component (repeatable; with --format wassette*)",
    )


def export(store: Store, args: argparse.Namespace) -> Any:
    """``export --format F``: the formats' own writer; ``--path`` globs select components.

    ``--description`` and ``--tag`` become the file's own metadata (Wassette's
    snapshot metadata, Persist's description). Raises :class:`UsageError` for
    ``--component`` without a Wassette format.
    """
    if args.component and args.format not in ("wassette", "wassette-yaml"):
        raise UsageError(
            "--component selects Wassette components: it needs --format wassette "
            "or --format wassette-yaml"
        )
    tags = dict(t.split("=", 1) for t in args.tag or [] if "=" in t)
    if len(tags) != len(args.tag or []):
        raise UsageError("--tag takes KEY=VALUE")
    return store.export_format(
        args.output,
        args.format,
        env=args.env,
        snapshot=args.snapshot,
        include_binaries=args.include_binaries,
        components=args.component,
        paths=args.path,
        description=args.description,
        tags=tags,
    )
