"""systemd ``Type=notify``: READY, STATUS, WATCHDOG and STOPPING over a real datagram socket."""

from __future__ import annotations

import contextlib
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.helpers import write
from tests.service.watchproc import WatchProc, wait_until


@pytest.fixture
def notify_socket(tmp_path: Path) -> Iterator[tuple[socket.socket, str]]:
    path = str(tmp_path / "notify.sock")
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    try:
        sock.bind(path)
        sock.settimeout(0.2)
        yield sock, path
    finally:
        sock.close()


def test_ready_status_watchdog_and_stopping(
    local_store: str, tmp_path: Path, notify_socket: tuple[socket.socket, str]
) -> None:
    sock, path = notify_socket
    got: list[str] = []

    def saw(word: str) -> bool:
        with contextlib.suppress(TimeoutError):
            got.extend(sock.recv(4096).decode().splitlines())
        return any(line.startswith(word) for line in got)

    folder = tmp_path / "app"
    write(folder, "state.json", {"n": 0})
    with WatchProc(
        local_store,
        folder,
        "--settle",
        "0.2s",
        "--interval",
        "5s",
        extra_env={"NOTIFY_SOCKET": path, "WATCHDOG_USEC": "1000000"},
    ) as w:
        wait_until(lambda: saw("READY=1"), 20, lambda: f"READY=1 in {got}")
        wait_until(lambda: saw("STATUS=synced dev"), 20, lambda: f"a STATUS in {got}")
        got.clear()
        wait_until(lambda: saw("WATCHDOG=1"), 20, lambda: f"a WATCHDOG ping in {got}")
        w.signal(15)
        wait_until(lambda: saw("STOPPING=1"), 20, lambda: f"STOPPING=1 in {got}")
        assert w.proc.wait(30) == 0
