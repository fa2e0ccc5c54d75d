"""A counting HTTP/1.1 forwarder on 127.0.0.1, put between a client and an S3 emulator.

Both tools of bench_restic.py (statesync's boto3 and restic's minio-go) talk to
the same emulator through it, so requests and uploaded bytes are counted the
same way for both, whatever language the client is written in. The request
side is parsed (request line, headers, a body framed by ``Content-Length`` or
``Transfer-Encoding: chunked``); the response side is copied as it comes.

Counts are per-process totals; a caller takes a snapshot before and after a
command and subtracts. Standard library only; runs its own event loop in a
daemon thread of the caller.
"""

from __future__ import annotations

import asyncio
import collections
import threading
from typing import Any


class Counts:
    """Requests by method, and bytes of request bodies sent (what was uploaded)."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.methods: collections.Counter[str] = collections.Counter()
        self.body_bytes = 0

    def snapshot(self) -> dict[str, Any]:
        with self.lock:
            return {"methods": dict(self.methods), "body_bytes": self.body_bytes}

    @staticmethod
    def delta(before: dict[str, Any], after: dict[str, Any]) -> dict[str, Any]:
        methods = {
            m: n - before["methods"].get(m, 0)
            for m, n in after["methods"].items()
            if n - before["methods"].get(m, 0)
        }
        return {
            "requests": sum(methods.values()),
            "requests_by_method": methods,
            "uploaded_bytes": after["body_bytes"] - before["body_bytes"],
        }


async def _copy(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while block := await reader.read(1 << 16):
            writer.write(block)
            await writer.drain()
    except (ConnectionError, asyncio.IncompleteReadError):
        pass
    finally:
        writer.close()


async def _forward_body(
    headers: dict[str, str], reader: asyncio.StreamReader, writer: asyncio.StreamWriter
) -> int:
    """Forward one request body; return its size on the wire."""
    if "chunked" in headers.get("transfer-encoding", "").lower():
        total = 0
        while True:
            size_line = await reader.readuntil(b"\r\n")
            writer.write(size_line)
            size = int(size_line.split(b";")[0].strip(), 16)
            data = await reader.readexactly(size + 2)
            writer.write(data)
            total += size
            if size == 0:
                # trailers end with an empty line (the CRLF just read is that line
                # when there are none)
                if data != b"\r\n":
                    while (line := await reader.readuntil(b"\r\n")) != b"\r\n":
                        writer.write(line)
                    writer.write(b"\r\n")
                return total
            await writer.drain()
    left = int(headers.get("content-length", "0"))
    total = left
    while left:
        block = await reader.read(min(left, 1 << 16))
        if not block:
            raise ConnectionError("client closed mid-body")
        writer.write(block)
        await writer.drain()
        left -= len(block)
    return total


class Forwarder:
    """Listens on 127.0.0.1:0 and forwards every connection to ``upstream`` (host, port)."""

    def __init__(self, upstream: tuple[str, int]) -> None:
        if upstream[0] not in ("127.0.0.1", "localhost", "::1"):
            raise ValueError(f"upstream must be loopback, got {upstream[0]}")
        self.upstream = upstream
        self.counts = Counts()
        self.port = 0
        self._loop = asyncio.new_event_loop()
        self._ready = threading.Event()
        threading.Thread(target=self._run, daemon=True, name="s3count").start()
        self._ready.wait(10)

    def _run(self) -> None:
        asyncio.set_event_loop(self._loop)
        server = self._loop.run_until_complete(asyncio.start_server(self._handle, "127.0.0.1", 0))
        self.port = server.sockets[0].getsockname()[1]
        self._ready.set()
        self._loop.run_forever()

    async def _handle(self, creader: asyncio.StreamReader, cwriter: asyncio.StreamWriter) -> None:
        ureader, uwriter = await asyncio.open_connection(*self.upstream)
        back = asyncio.ensure_future(_copy(ureader, cwriter))
        try:
            while True:
                head = await creader.readuntil(b"\r\n\r\n")
                lines = head.decode("latin-1").split("\r\n")
                method = lines[0].split(" ", 1)[0]
                headers = {}
                for line in lines[1:]:
                    if ":" in line:
                        k, v = line.split(":", 1)
                        headers[k.strip().lower()] = v.strip()
                uwriter.write(head)
                await uwriter.drain()
                n = await _forward_body(headers, creader, uwriter)
                await uwriter.drain()
                with self.counts.lock:
                    self.counts.methods[method] += 1
                    self.counts.body_bytes += n
        except (asyncio.IncompleteReadError, ConnectionError, asyncio.LimitOverrunError):
            pass
        finally:
            uwriter.close()
            await back
