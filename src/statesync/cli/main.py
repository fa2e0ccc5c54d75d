"""The command line: parse, call :mod:`statesync.api`, print. Nothing else.

Exit codes (ARCHITECTURE.md §5): 0 ok, 1 error, 2 usage, 3 conflict, 4 integrity,
5 locked, 6 key or decryption failure. Errors are one line on stderr; under
``--json`` also one object on stdout: ``{"error", "exit_code", "error_type", ...}``.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
from collections.abc import Sequence
from typing import Any

from statesync import logsetup
from statesync.cli.commands import jsonable
from statesync.cli.parser import build
from statesync.errors import StatesyncError, UsageError

__all__ = ["main"]


def _fail(
    args: argparse.Namespace, message: str, code: int, details: dict[str, Any] | None = None
) -> int:
    """Report an error: one line on stderr, and under ``--json`` one object on stdout."""
    print(f"statesync: {message}", file=sys.stderr)
    if getattr(args, "json", False):
        doc = {**(details or {}), "error": message.removeprefix("error: "), "exit_code": code}
        print(json.dumps(jsonable(doc), indent=2, sort_keys=True))
    return code


def _run(args: argparse.Namespace) -> int:
    try:
        result = jsonable(args.fn(args))
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

    if result is None:  # the command wrote its own output (cat)
        pass
    elif args.json:
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
        args = build().parse_args(argv)
    except UsageError as exc:  # a bad flag: one line, and one JSON object under --json
        words = sys.argv[1:] if argv is None else list(argv)
        return _fail(
            argparse.Namespace(json="--json" in words),
            f"error: {exc}",
            exc.exit_code,
            {"error_type": "UsageError"},
        )
    logsetup.configure(args.verbose)  # SDK debug output (KMS answers...) never shown
    try:
        return _run(args)
    except BrokenPipeError:
        # Point stdout at /dev/null so the interpreter's final flush cannot fail again.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0


if __name__ == "__main__":
    sys.exit(main())
