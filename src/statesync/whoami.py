"""Who is acting: the user and host names written into snapshots, refs and leases."""

from __future__ import annotations

import getpass
import socket


def user() -> str:
    """This process's user name, or ``unknown`` when the system has none for it."""
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "unknown"


def user_at_host() -> str:
    """``user@host``: the holder of a lease, the writer of a ref."""
    return f"{user()}@{socket.gethostname()}"
