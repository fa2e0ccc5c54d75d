"""An HTTP-aware TCP fault proxy on 127.0.0.1, between a real SDK and an emulator.

The proxy reads each HTTP/1.1 request whole (Content-Length or chunked
bodies; it answers ``Expect: 100-continue`` itself), forwards it on a fresh
upstream connection (``Connection: close``, so the answer ends at EOF) and
relays the answer on the client's kept-alive connection. A seeded
:class:`Plan` picks the requests it damages, and how:

* ``reset``: the connection is reset (RST) before the request is forwarded;
* ``reset-after``: the request reached the emulator (a write landed), then
  the connection is reset before the client hears the answer;
* ``stall``: the request reached the emulator, then nothing comes back for
  ``stall`` seconds (longer than the client's read timeout), then a reset;
* ``cut``: the answer is cut short (half of its body, then EOF);
* ``flip``: one byte of the answer's body is inverted in flight;
* ``flip-request``: one byte of the request's body (an upload) is inverted on
  its way to the emulator, which then stores what it got unless a checksum
  sent with the request lets it (or the SDK, from the answer) see the damage;
* ``status``: the proxy answers ``status`` (500, 503 or 429, with
  ``Retry-After``) itself, in the error format of ``flavour``'s service.

:attr:`FaultProxy.injected` counts what was done, so a test can prove a
fault actually happened. The proxy talks only to loopback addresses.
"""

from __future__ import annotations

import contextlib
import json
import random
import socket
import struct
import threading
import time
from collections import Counter
from dataclasses import dataclass

KINDS = ("reset", "reset-after", "stall", "cut", "flip", "flip-request", "status")
_MAX_HEAD = 256 * 1024
_NO_BODY = {100, 101, 204, 304}


@dataclass(frozen=True)
class Plan:
    """Which requests to damage and how; ``rate`` 1.0 damages every matching request."""

    kind: str
    rate: float = 0.2
    seed: int = 0
    status: int = 503
    stall: float = 4.0
    #: Only requests with these methods (None: any).
    methods: frozenset[str] | None = None
    #: The service whose error body an injected status carries: s3, azure or gcs.
    flavour: str = "s3"
    #: Damage at most this many requests (None: no limit).
    limit: int | None = None

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"unknown fault kind {self.kind!r}")


@dataclass(frozen=True)
class Request:
    method: str
    head: bytes
    body: bytes


class FaultProxy:
    """Forwards 127.0.0.1:``port`` to ``target``, damaging what :attr:`plan` picks."""

    def __init__(self, target: tuple[str, int], plan: Plan | None = None) -> None:
        if not (target[0] == "localhost" or target[0].startswith("127.")):
            raise ValueError(f"the fault proxy forwards to loopback only, not {target[0]}")
        self.target = target
        self.plan = plan
        self.requests = 0
        self.injected: Counter[str] = Counter()
        self._rng = random.Random(plan.seed if plan else 0)
        self._lock = threading.Lock()
        self._conns: set[socket.socket] = set()
        self._server = socket.create_server(("127.0.0.1", 0))
        self.port = int(self._server.getsockname()[1])
        self._closed = threading.Event()

    def __enter__(self) -> FaultProxy:
        threading.Thread(target=self._accept, daemon=True).start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def set_plan(self, plan: Plan | None) -> None:
        with self._lock:
            self.plan = plan
            self._rng = random.Random(plan.seed if plan else 0)

    def close(self) -> None:
        self._closed.set()
        with contextlib.suppress(OSError):
            self._server.shutdown(socket.SHUT_RDWR)
        self._server.close()
        with self._lock:
            conns, self._conns = set(self._conns), set()
        for conn in conns:
            with contextlib.suppress(OSError):
                conn.close()

    # --- per connection ------------------------------------------------------------

    def _accept(self) -> None:
        while not self._closed.is_set():
            try:
                client, _ = self._server.accept()
            except OSError:
                return
            with self._lock:
                self._conns.add(client)
            threading.Thread(target=self._serve, args=(client,), daemon=True).start()

    def _serve(self, client: socket.socket) -> None:
        reader = _Reader(client)
        try:
            while not self._closed.is_set():
                request = read_request(reader, client)
                if request is None:
                    return
                if not self._handle(client, request):
                    return
        except (OSError, ValueError):
            return
        finally:
            with self._lock:
                self._conns.discard(client)
            with contextlib.suppress(OSError):
                client.close()

    def _pick(self, method: str) -> Plan | None:
        with self._lock:
            self.requests += 1
            plan = self.plan
            if plan is None or (plan.methods is not None and method not in plan.methods):
                return None
            if self._rng.random() >= plan.rate:
                return None
            if plan.limit is not None and sum(self.injected.values()) >= plan.limit:
                return None
            self.injected[plan.kind] += 1
            return plan

    def _handle(self, client: socket.socket, request: Request) -> bool:
        """Serve one request; False when the client connection is finished."""
        plan = self._pick(request.method)
        kind = plan.kind if plan else None
        if kind == "status" and plan is not None:
            client.sendall(status_reply(plan.status, plan.flavour))
            return False
        if kind == "reset":
            reset(client)
            return False
        if kind == "flip-request":
            request = flip_body(request)
        answer = self._forward(request)
        if kind == "reset-after":
            reset(client)
            return False
        if kind == "stall" and plan is not None:
            self._closed.wait(plan.stall)
            reset(client)
            return False
        head, _, body = answer.partition(b"\r\n\r\n")
        if kind == "cut":
            client.sendall(head + b"\r\n\r\n" + body[: len(body) // 2])
            return False
        if kind == "flip" and body:
            at = len(body) // 2
            body = body[:at] + bytes([body[at] ^ 0xFF]) + body[at + 1 :]
        head, keep = relay_head(head, request.method)
        client.sendall(head + b"\r\n\r\n" + body)
        return keep

    def _forward(self, request: Request) -> bytes:
        with socket.create_connection(self.target, timeout=60) as upstream:
            upstream.sendall(request.head + request.body)
            chunks = []
            while data := upstream.recv(65536):
                chunks.append(data)
        return b"".join(chunks)


def flip_body(request: Request) -> Request:
    """``request`` with the middle byte of its body inverted (a bodiless one unchanged)."""
    body = request.body
    if not body:
        return request
    at = len(body) // 2
    return Request(
        request.method, request.head, body[:at] + bytes([body[at] ^ 0xFF]) + body[at + 1 :]
    )


# --- HTTP framing ------------------------------------------------------------------


class _Reader:
    """Buffered reads from a socket: lines, exact counts."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.buf = b""

    def _fill(self) -> bool:
        data = self.sock.recv(65536)
        self.buf += data
        return bool(data)

    def until(self, mark: bytes, limit: int = _MAX_HEAD) -> bytes | None:
        while mark not in self.buf:
            if len(self.buf) > limit:
                raise ValueError("header too large")
            if not self._fill():
                return None
        out, _, self.buf = self.buf.partition(mark)
        return out + mark

    def exactly(self, n: int) -> bytes:
        while len(self.buf) < n:
            if not self._fill():
                raise ValueError("body cut short by the client")
        out, self.buf = self.buf[:n], self.buf[n:]
        return out


def _headers(head: bytes) -> list[tuple[str, str]]:
    lines = head.decode("latin-1").split("\r\n")[1:]
    return [(k.strip(), v.strip()) for k, _, v in (line.partition(":") for line in lines if line)]


def read_request(reader: _Reader, client: socket.socket) -> Request | None:
    """The next request, its head rewritten for a one-shot upstream connection."""
    raw = reader.until(b"\r\n\r\n")
    if raw is None:
        return None
    first = raw.split(b"\r\n", 1)[0].decode("latin-1")
    method = first.split(" ", 1)[0]
    headers = _headers(raw[:-4])
    names = {k.lower(): v for k, v in headers}
    if names.get("expect", "").lower() == "100-continue":
        client.sendall(b"HTTP/1.1 100 Continue\r\n\r\n")
    if "chunked" in names.get("transfer-encoding", "").lower():
        body = _read_chunked(reader)
    else:
        body = reader.exactly(int(names.get("content-length", "0")))
    kept = [(k, v) for k, v in headers if k.lower() not in ("connection", "expect")]
    lines = [first, *(f"{k}: {v}" for k, v in kept), "Connection: close"]
    return Request(method, ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1"), body)


def _read_chunked(reader: _Reader) -> bytes:
    out = b""
    while True:
        line = reader.until(b"\r\n")
        if line is None:
            raise ValueError("chunked body cut short by the client")
        out += line
        size = int(line.split(b";", 1)[0].strip() or b"0", 16)
        if size == 0:
            while (trailer := reader.until(b"\r\n")) not in (None, b"\r\n"):
                out += trailer
            return out + b"\r\n"
        out += reader.exactly(size + 2)


def relay_head(head: bytes, method: str) -> tuple[bytes, bool]:
    """The answer's head for the client, and whether its connection may stay open.

    The upstream answer ends at EOF (we asked for ``Connection: close``); the
    client connection is kept only if the answer is framed on its own.
    """
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split(" ")[1])
    headers = [(k, v) for k, v in _headers(head) if k.lower() != "connection"]
    names = {k.lower(): v for k, v in headers}
    framed = (
        method == "HEAD"
        or status in _NO_BODY
        or "content-length" in names
        or "chunked" in names.get("transfer-encoding", "").lower()
    )
    kept = [lines[0], *(f"{k}: {v}" for k, v in headers)]
    kept.append("Connection: keep-alive" if framed else "Connection: close")
    return "\r\n".join(kept).encode("latin-1"), framed


_REASONS = {429: "Too Many Requests", 500: "Internal Server Error", 503: "Service Unavailable"}


def status_reply(status: int, flavour: str) -> bytes:
    """A whole error answer in the service's own format, with Retry-After: 1."""
    headers = {"Retry-After": "1", "Connection": "close"}
    if flavour == "s3":
        code = {429: "SlowDown", 500: "InternalError", 503: "SlowDown"}.get(status, "InternalError")
        body = f"<?xml version='1.0' encoding='UTF-8'?><Error><Code>{code}</Code></Error>".encode()
        headers["Content-Type"] = "application/xml"
    elif flavour == "azure":
        code = {500: "InternalError", 503: "ServerBusy", 429: "ServerBusy"}.get(status, "")
        body = (
            '<?xml version="1.0" encoding="utf-8"?>'
            f"<Error><Code>{code}</Code><Message>injected</Message></Error>"
        ).encode()
        headers |= {"x-ms-error-code": code, "Content-Type": "application/xml"}
    else:
        body = json.dumps({"error": {"code": status, "message": "injected", "errors": []}}).encode()
        headers["Content-Type"] = "application/json"
    headers["Content-Length"] = str(len(body))
    head = f"HTTP/1.1 {status} {_REASONS.get(status, 'Injected')}\r\n"
    head += "".join(f"{k}: {v}\r\n" for k, v in headers.items())
    return head.encode() + b"\r\n" + body


def reset(sock: socket.socket) -> None:
    """Close ``sock`` with a TCP reset (SO_LINGER 0), as a dropped connection looks."""
    with contextlib.suppress(OSError):
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    with contextlib.suppress(OSError):
        sock.close()


def wait_port(port: int, seconds: float = 5.0) -> None:
    """Block until something accepts on 127.0.0.1:``port``."""
    deadline = time.monotonic() + seconds
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.05)
