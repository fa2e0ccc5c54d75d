"""A deadline for a request's head: uvicorn has none, so a client could hold a connection forever.

uvicorn's h11 protocol times out only an idle kept-alive connection, and only
after a first response: a client that connects and sends nothing, or drips
its request line and headers a byte at a time, keeps its connection (and a
slot of ``limit_concurrency``) for as long as it likes. :class:`HeadDeadline`
is uvicorn's own :class:`~uvicorn.protocols.http.h11_impl.H11Protocol` with
one timer more: from the moment the server waits for a request head (the
connection opened, or a kept-alive connection's next request began) the
whole head must arrive within ``head_timeout`` seconds, else the client gets
``408 Request Timeout`` and the connection is closed. The application never
sees such a request, so nothing is written. Bodies have their own deadline
(``--body-timeout``, :func:`statesync.server.tf.read_body`).
"""

from __future__ import annotations

import asyncio
from typing import Any

import h11
from uvicorn.protocols.http.h11_impl import H11Protocol

#: Seconds a client may take to send a request line and its headers.
HEAD_TIMEOUT = 10.0

_MESSAGE = b"request headers not received in time\n"
_ANSWER = (
    b"HTTP/1.1 408 Request Timeout\r\n"
    b"content-type: text/plain; charset=utf-8\r\n"
    b"connection: close\r\n"
    b"content-length: " + str(len(_MESSAGE)).encode() + b"\r\n\r\n" + _MESSAGE
)


def with_head_timeout(seconds: float) -> type[HeadDeadline]:
    """A :class:`HeadDeadline` class with ``seconds`` as its limit (uvicorn's ``http=``)."""
    if not seconds > 0:
        raise ValueError("the head timeout must be positive")
    return type("HeadDeadline", (HeadDeadline,), {"head_timeout": float(seconds)})


class HeadDeadline(H11Protocol):
    """uvicorn's h11 protocol, closing with 408 a connection whose request head is late."""

    head_timeout: float = HEAD_TIMEOUT

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._head_timer: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        super().connection_made(transport)  # type: ignore[arg-type]
        self._arm()

    def data_received(self, data: bytes) -> None:
        if self._head_timer is None and self._awaiting_head():
            self._arm()  # the next request of a kept-alive connection has begun
        super().data_received(data)
        if not self._awaiting_head():
            self._disarm()

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        super().connection_lost(exc)

    def _awaiting_head(self) -> bool:
        return self.conn.their_state is h11.IDLE

    def _arm(self) -> None:
        self._disarm()
        self._head_timer = self.loop.call_later(self.head_timeout, self._late)

    def _disarm(self) -> None:
        if self._head_timer is not None:
            self._head_timer.cancel()
            self._head_timer = None

    def _late(self) -> None:
        self._head_timer = None
        if self.transport.is_closing() or not self._awaiting_head():
            return
        if self.conn.our_state is h11.IDLE:  # not inside a response: a 408 cuts into nothing
            self.transport.write(_ANSWER)
        self.transport.close()
