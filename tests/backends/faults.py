"""Fault injection for the cloud drivers' own tests.

* :class:`FaultAdapter` sits under ``requests`` (which the Azure and Google
  SDKs use): it records every outgoing request and lets a test change it,
  or answer it itself, before anything reaches the emulator.
* :func:`aws_response` builds the canned answer a botocore ``before-send``
  hook returns to stand in for S3.
"""

from __future__ import annotations

import io
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import requests
from requests.structures import CaseInsensitiveDict

#: (status, headers, body) of a canned answer.
Reply = tuple[int, dict[str, str], bytes]
Handler = Callable[[requests.PreparedRequest], "Reply | None"]


def no_sleep(seconds: float) -> None:
    """Stand-in for time.sleep so retry tests do not wait."""


def closed_port() -> int:
    """A local port nothing listens on (bound, then released)."""
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def needs_emulator(cloud: str) -> pytest.MarkDecorator:
    """Skip unless ``cloud``'s emulator was started (fault injection and gap pins need one)."""
    import os

    from tests.cloud_rigs import on_emulator

    variable = f"STATESYNC_TEST_{cloud.upper()}"
    return pytest.mark.skipif(
        not (os.environ.get(variable) and on_emulator(cloud)),
        reason=f"{variable} not set or not an emulator (start scripts/emulators.py)",
    )


class FaultAdapter(requests.adapters.HTTPAdapter):
    """Records requests; ``handler`` may alter one in place or answer it (return a Reply)."""

    def __init__(self, handler: Handler | None = None) -> None:
        super().__init__(pool_maxsize=8)
        self.handler = handler
        self.seen: list[requests.PreparedRequest] = []
        self.statuses: list[int] = []

    def send(self, request: requests.PreparedRequest, **kwargs: Any) -> requests.Response:  # type: ignore[override]
        self.seen.append(request)
        reply = self.handler(request) if self.handler else None
        response = super().send(request, **kwargs) if reply is None else canned(request, *reply)
        self.statuses.append(response.status_code)
        return response

    def requests_to(self, method: str, fragment: str = "") -> list[requests.PreparedRequest]:
        return [r for r in self.seen if r.method == method and fragment in (r.url or "")]


def canned(
    request: requests.PreparedRequest, status: int, headers: dict[str, str], body: bytes
) -> requests.Response:
    response = requests.Response()
    response.status_code = status
    response.reason = {404: "Not Found", 409: "Conflict", 412: "Precondition Failed"}.get(
        status, "Injected"
    )
    response.headers = CaseInsensitiveDict({"Content-Length": str(len(body)), **headers})
    response._content = body
    response._content_consumed = True
    response.raw = io.BytesIO(body)
    response.request = request
    response.url = request.url or ""
    response.encoding = "utf-8"
    return response


def azure_error(status: int, code: str) -> Reply:
    """An Azure Storage error answer, as the service spells it."""
    xml = (
        '<?xml version="1.0" encoding="utf-8"?>'
        f"<Error><Code>{code}</Code><Message>injected {code}</Message></Error>"
    ).encode()
    return status, {"x-ms-error-code": code, "Content-Type": "application/xml"}, xml


def gcs_error(status: int, message: str = "injected") -> Reply:
    """A GCS JSON API error answer."""
    import json

    body = json.dumps({"error": {"code": status, "message": message, "errors": []}}).encode()
    return status, {"Content-Type": "application/json"}, body


def body_bytes(request: Any) -> bytes:
    """The body of a prepared request (requests' or botocore's), whatever its type."""
    body = request.body
    if body is None:
        return b""
    if isinstance(body, str):
        return body.encode()
    if isinstance(body, bytes | bytearray):
        return bytes(body)
    position = body.tell()
    body.seek(0)
    data = body.read()
    body.seek(position)
    return bytes(data)


def header(request: Any, name: str) -> str:
    """A request header as text (botocore keeps some as bytes)."""
    value = request.headers[name]
    return value.decode() if isinstance(value, bytes) else str(value)


def flip_one_byte(data: bytes, marker: bytes) -> bytes:
    """``data`` with the first byte of ``marker`` inverted (a transit fault inside the payload)."""
    at = data.index(marker)
    return data[:at] + bytes([data[at] ^ 0xFF]) + data[at + 1 :]


class _Raw:
    def __init__(self, body: bytes) -> None:
        self._body = body

    def stream(self, **_: Any) -> Iterator[bytes]:
        yield self._body

    def read(self, *_: Any) -> bytes:
        return self._body


def aws_response(
    request: Any,
    status: int,
    code: str,
    message: str = "injected",
    headers: dict[str, str] | None = None,
) -> Any:
    """A botocore response carrying an S3 XML error, for ``before-send`` hooks to return."""
    from botocore.awsrequest import AWSResponse

    xml = (
        '<?xml version="1.0" encoding="UTF-8"?>'
        f"<Error><Code>{code}</Code><Message>{message}</Message></Error>"
    ).encode()
    sent = {"Content-Type": "application/xml", "Content-Length": str(len(xml)), **(headers or {})}
    return AWSResponse(request.url, status, sent, _Raw(xml))
