"""systemd's notify protocol (``Type=notify``): a datagram on ``$NOTIFY_SOCKET``.

A few lines instead of a dependency: READY=1 once the loop runs, STATUS=
lines as it works, WATCHDOG=1 pings (at half ``$WATCHDOG_USEC``) while the
loop is alive, STOPPING=1 at shutdown. Without ``NOTIFY_SOCKET`` it does nothing.
"""

from __future__ import annotations

import contextlib
import os
import socket


class Notifier:
    """Sends sd_notify messages; silently idle outside systemd."""

    def __init__(self) -> None:
        self.address = _address(os.environ.get("NOTIFY_SOCKET", ""))
        usec = os.environ.get("WATCHDOG_USEC", "")
        self.watchdog_every = (
            int(usec) / 2e6 if usec.isascii() and usec.isdigit() and int(usec) > 0 else None
        )

    @property
    def enabled(self) -> bool:
        return self.address is not None

    def send(self, *lines: str) -> None:
        """Send ``KEY=VALUE`` lines as one datagram; a dead socket is ignored."""
        if self.address is None:
            return
        with contextlib.suppress(OSError), socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
            sock.sendto("\n".join(lines).encode(), self.address)

    def ready(self, status: str) -> None:
        self.send("READY=1", f"STATUS={status}")

    def status(self, status: str) -> None:
        self.send(f"STATUS={status}")

    def watchdog(self) -> None:
        self.send("WATCHDOG=1")

    def stopping(self) -> None:
        self.send("STOPPING=1", "STATUS=stopping: final save")


def _address(text: str) -> str | None:
    """The socket path; ``@name`` is Linux's abstract namespace (a leading NUL)."""
    if not text:
        return None
    return "\0" + text[1:] if text.startswith("@") else text
