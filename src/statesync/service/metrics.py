"""Counters of the watch service and its loopback HTTP endpoint.

``/metrics`` (Prometheus text format, from ``prometheus_client``), ``/healthz``
(200 while the loop is alive) and ``/readyz`` (200 when the last sync with
the store succeeded). Names are ``statesync_``-prefixed, in base units; the
only labels are ``env`` and a small fixed ``result``/``reason`` set, never
paths or ids. Each service has its own registry, so several services in one
process do not collide. prometheus_client is imported only when a service starts.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from statesync.version import __version__


class Metrics:
    """The service's metric families, labelled by environment."""

    def __init__(self, env: str) -> None:
        import prometheus_client as prom

        self.env = env
        self.registry = prom.CollectorRegistry()
        r, e = self.registry, ["env"]
        self.pushes = prom.Counter(
            "statesync_pushes",
            "Pushes by result (snapshot, unchanged, merged, conflict, error)",
            [*e, "result"],
            registry=r,
        )
        self.pulls = prom.Counter(
            "statesync_pulls", "Pulls by result (ok, error)", [*e, "result"], registry=r
        )
        self.conflicts = prom.Counter(
            "statesync_conflicts",
            "Conflicts by resolution (merged, unresolved)",
            [*e, "resolution"],
            registry=r,
        )
        self.failures = prom.Counter(
            "statesync_failures", "Failures by reason (store, folder)", [*e, "reason"], registry=r
        )
        self.retries = prom.Counter(
            "statesync_retries", "Sync attempts retried after a failure", e, registry=r
        )
        self.uploaded = prom.Counter("statesync_uploaded_bytes", "Bytes uploaded", e, registry=r)
        self.reused = prom.Counter(
            "statesync_reused_bytes", "Bytes found already stored", e, registry=r
        )
        self.last_success = prom.Gauge(
            "statesync_last_success_timestamp_seconds",
            "Unix time of the last successful sync",
            e,
            registry=r,
        )
        self.pending = prom.Gauge(
            "statesync_pending_changes", "1 while local changes wait for a push", e, registry=r
        )
        self.up = prom.Gauge(
            "statesync_store_up", "1 if the last store call succeeded", e, registry=r
        )
        info = prom.Info("statesync_build", "statesync build information", registry=r)
        info.info({"version": __version__})

    def text(self) -> bytes:
        import prometheus_client as prom

        return bytes(prom.generate_latest(self.registry))


class HealthServer:
    """``/healthz``, ``/readyz`` and ``/metrics`` on a loopback address, in a thread."""

    def __init__(
        self,
        host: str,
        port: int,
        metrics: Metrics,
        alive: Callable[[], bool],
        ready: Callable[[], bool],
    ) -> None:
        routes: dict[str, Callable[[], tuple[int, bytes, str]]] = {
            "/metrics": lambda: (200, metrics.text(), "text/plain; version=0.0.4"),
            "/healthz": lambda: _probe(alive()),
            "/readyz": lambda: _probe(ready()),
        }
        self.httpd = ThreadingHTTPServer((host, port), _handler(routes))
        self.httpd.daemon_threads = True
        self._thread = threading.Thread(
            target=self.httpd.serve_forever, name="statesync-http", daemon=True
        )

    @property
    def address(self) -> str:
        host, port = self.httpd.server_address[:2]
        return f"{host!s}:{port}"

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


def _probe(ok: bool) -> tuple[int, bytes, str]:
    return (200, b"ok\n", "text/plain") if ok else (503, b"not ready\n", "text/plain")


def _handler(routes: dict[str, Callable[[], tuple[int, bytes, str]]]) -> Any:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            route = routes.get(self.path.split("?", 1)[0])
            status, body, ctype = route() if route else (404, b"not found\n", "text/plain")
            self.send_response(status)
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:
            pass  # scrapes every few seconds would flood the log

    return Handler


def make_metrics(env: str, *, required: bool) -> Any:
    """:class:`Metrics`, or a stand-in counting nothing without prometheus_client.

    Raises :class:`MissingExtra` when the metrics were asked for (``required``)
    and prometheus_client is not installed.
    """
    try:
        return Metrics(env)
    except ImportError:
        if required:
            from statesync.errors import MissingExtra, install_command

            raise MissingExtra(
                f"--metrics needs the 'service' extra: {install_command('service')}"
            ) from None
        return _NullMetrics()


class _NullMetric:
    def labels(self, *values: str) -> _NullMetric:
        return self

    def inc(self, amount: float = 1) -> None:
        pass

    def set(self, value: float) -> None:
        pass


class _NullMetrics:
    def __getattr__(self, name: str) -> _NullMetric:
        return _NullMetric()
