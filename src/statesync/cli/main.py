"""The command line: parse, call :mod:`statesync.api`, print. Nothing else.

Exit codes (ARCHITECTURE.md §5): 0 ok, 1 error, 2 usage, 3 conflict, 4 integrity,
5 locked, 6 key or decryption failure; 7 differences, only for ``status`` and
``diff`` with ``--exit-code``. Errors are one line on stderr; under ``--json``
also one object on stdout: ``{"error", "exit_code", "error_type", ...}`` (see
:mod:`statesync.cli.output` for the JSON and timestamp rules).
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from typing import Any

from statesync.cli.commands import exit_code
from statesync.cli.context import resolve_env
from statesync.cli.parser import build
from statesync.errors import StatesyncError, UsageError

__all__ = ["main"]


def _fail(
    args: argparse.Namespace, message: str, code: int, details: dict[str, Any] | None = None
) -> int:
    """Report an error: one line on stderr, and under ``--json`` one object on stdout.

    For a JSON-lines command (push, pull) the object is one line with
    ``message_type: "error"``, after whatever status lines came before it.
    """
    from statesync.cli.output import JSON_LINES_COMMANDS, emit, normalize, one_line, stamp_text

    message = one_line(stamp_text(message))
    print(f"statesync: {message}", file=sys.stderr)
    if getattr(args, "json", False):
        doc = {**(details or {}), "error": message.removeprefix("error: "), "exit_code": code}
        lines = getattr(args, "command", None) in JSON_LINES_COMMANDS
        emit(normalize(doc), sys.stdout, line=lines, message_type="error" if lines else None)
    return code


def _run(args: argparse.Namespace) -> int:
    from statesync.cli.output import JSON_LINES_COMMANDS, emit, normalize

    try:
        resolve_env(args)
        result = normalize(args.fn(args))
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
        import logging

        logging.getLogger("statesync").debug("internal error", exc_info=True)
        return _fail(args, f"internal error: {type(exc).__name__}: {exc}", 1)
    from statesync.cli.render import render

    if result is None:  # the command printed its own output (completion, man, info text)
        pass
    elif args.json:
        lines = args.command in JSON_LINES_COMMANDS
        emit(result, sys.stdout, line=lines, message_type="summary" if lines else None)
    elif not args.quiet:
        render(args.command, result)
    sys.stdout.flush()  # a closed pipe shows here, inside the BrokenPipeError guard
    return exit_code(args, result)


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
    from statesync import logsetup  # after parsing: --help never loads logging

    logsetup.configure(args.verbose)  # SDK debug output (KMS answers...) never shown
    try:
        return _run(args)
    except BrokenPipeError:
        # Point stdout at /dev/null so the interpreter's final flush cannot fail again.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0


if __name__ == "__main__":
    sys.exit(main())
