"""``STATESYNC_PASSPHRASE_COMMAND``: run a command, read the passphrase from its stdout.

Like restic's ``RESTIC_PASSWORD_COMMAND``: the value is split like a shell
line (``pass show statesync``, ``op read op://vault/statesync/password``) and
run without a shell; its stdin and stderr stay the terminal's (so a pinentry
or a prompt works), its stdout is the passphrase (one trailing newline
stripped). It runs at most once per process and command. A failure is a
:class:`KeyFailure` (exit 6) that names only the program, never its output
or its arguments (either may hold the secret).
"""

from __future__ import annotations

import os
import shlex
import subprocess
from functools import cache

from statesync.errors import KeyFailure

VAR = "STATESYNC_PASSPHRASE_COMMAND"


def _program(argv: list[str]) -> str:
    return os.path.basename(argv[0]) if argv else "(empty)"


@cache
def run_passphrase_command(command: str) -> str:
    """The passphrase ``command`` prints; :class:`KeyFailure` if it cannot give one."""
    try:
        argv = shlex.split(command)
    except ValueError as exc:
        raise KeyFailure(f"{VAR}: cannot split the command line ({exc})") from None
    if not argv:
        raise KeyFailure(f"{VAR} is set but names no command")
    try:
        done = subprocess.run(argv, stdout=subprocess.PIPE, check=False)
    except OSError as exc:
        raise KeyFailure(
            f"{VAR}: cannot run {_program(argv)!r}: {exc.strerror or type(exc).__name__}"
        ) from None
    if done.returncode != 0:
        raise KeyFailure(f"{VAR}: {_program(argv)!r} exited with status {done.returncode}")
    try:
        text = done.stdout.decode()
    except UnicodeDecodeError:
        raise KeyFailure(f"{VAR}: {_program(argv)!r} printed bytes that are not UTF-8") from None
    text = text[:-2] if text.endswith("\r\n") else text.removesuffix("\n")
    if not text:
        raise KeyFailure(f"{VAR}: {_program(argv)!r} printed no passphrase")
    return text
