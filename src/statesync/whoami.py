"""Who is acting: the user and host names written into snapshots, refs and leases.

The user name comes from the process's uid (the password database), never
from ``LOGNAME``/``USER``, which anyone can set. A lease holder is also
identified by :func:`holder_id`: a hash of a random per-machine secret kept
in the user's state folder (created 0600 on first use), so neither a changed
environment variable nor a store reader who sees the lock can pass for the
holder.
"""

from __future__ import annotations

import contextlib
import getpass
import hashlib
import os
import re
import socket

from statesync.errors import MachineIdError
from statesync.fsutil import write_atomic
from statesync.paths import state_dir

MACHINE_ID = "machine-id"
_SECRET_RE = re.compile(r"[0-9a-f]{64}\Z")


def user() -> str:
    """This process's user name from its uid, or ``uid-N`` when the system has none for it."""
    try:
        import pwd
    except ImportError:  # not POSIX: the OS account name is what there is
        try:
            return getpass.getuser()
        except (KeyError, OSError):
            return "unknown"
    try:
        return pwd.getpwuid(os.getuid()).pw_name
    except KeyError:  # a uid without a passwd entry (containers)
        return f"uid-{os.getuid()}"


def user_at_host() -> str:
    """``user@host``: the holder of a lease, the writer of a ref."""
    return f"{user()}@{socket.gethostname()}"


def _machine_secret() -> bytes:
    """This user's per-machine secret (32 random bytes, hex, 0600), created on first use.

    Raises :class:`MachineIdError` if the file exists but is not one we wrote,
    or is readable by others (it would no longer identify only us).
    """
    path = state_dir() / MACHINE_ID
    for _ in range(2):
        try:
            if os.stat(path).st_mode & 0o077:
                raise MachineIdError(f"{path}: permissions are too open (run: chmod 600 {path})")
            text = path.read_text().strip()
        except FileNotFoundError:
            # FileExistsError: another process created it first; read theirs.
            with contextlib.suppress(FileExistsError):
                write_atomic(
                    path, os.urandom(32).hex().encode() + b"\n", exclusive=True, make_parents=True
                )
            continue
        if not _SECRET_RE.match(text):
            raise MachineIdError(
                f"{path}: not a statesync machine id (delete it to make a new one)"
            )
        return bytes.fromhex(text)
    raise MachineIdError(f"{path}: cannot be created")


def holder_id() -> str:
    """The public id of this user on this machine: a hash of the secret, safe to store."""
    return hashlib.sha256(b"statesync holder-id\n" + _machine_secret()).hexdigest()[:32]
