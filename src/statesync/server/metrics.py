"""``/healthz`` and ``/metrics`` (Prometheus text format, via prometheus_client).

Each application has its own registry, so two servers in one process (tests)
never share counters. Labels are route templates and status codes, never an
environment name or anything a caller sent.
"""

from __future__ import annotations

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
)
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route


class Metrics:
    """The server's counters."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "statesync_http_requests",
            "HTTP requests answered",
            ["route", "method", "status"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "statesync_http_request_seconds",
            "Time to answer a request",
            ["route"],
            registry=self.registry,
        )
        self.state_writes = Counter(
            "statesync_tf_state_writes", "Terraform states committed", registry=self.registry
        )
        self.lock_conflicts = Counter(
            "statesync_tf_lock_conflicts",
            "LOCK requests refused because another lock holds",
            registry=self.registry,
        )

    def observe(self, route: str, method: str, status: int, seconds: float) -> None:
        self.requests.labels(route, method, str(status)).inc()
        self.latency.labels(route).observe(seconds)


def routes(metrics: Metrics | None) -> list[BaseRoute]:
    """``GET /healthz`` (no auth: says only that the server answers) and ``GET /metrics``."""

    async def healthz(request: Request) -> Response:
        return JSONResponse({"status": "ok"})

    async def prometheus(request: Request) -> Response:
        body = generate_latest(metrics.registry) if metrics is not None else b""
        return Response(body, media_type=CONTENT_TYPE_LATEST)

    return [
        Route("/healthz", healthz, methods=["GET"]),
        Route("/metrics", prometheus, methods=["GET"]),
    ]
