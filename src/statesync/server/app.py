"""The ASGI application of ``statesync serve``: routes, request log, metrics."""

from __future__ import annotations

import importlib
import logging
import time
from typing import TYPE_CHECKING

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.routing import BaseRoute
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from statesync.server import auth
from statesync.server import metrics as metrics_mod
from statesync.server.context import ServerContext
from statesync.server.tf import tf_routes

if TYPE_CHECKING:
    from statesync.api import Store

log = logging.getLogger("statesync.serve")


class _WebContext:
    """The server's context as the web view sees it (:class:`statesync.server.web.deps.WebContext`).

    Every page needs a valid token (any role, on any environment) unless the
    server runs without auth; what a page shows never depends on the role:
    every secret value is redacted for everyone.
    """

    def __init__(self, ctx: ServerContext) -> None:
        self._ctx = ctx
        self.store_url = ctx.store_url

    def store(self) -> Store:
        return self._ctx.store

    def viewer_role(self, request: Request) -> str:
        """The caller's name; :class:`HTTPException` 401 without valid credentials."""
        return auth.authenticate(request, self._ctx).name


def _web_routes(ctx: ServerContext) -> list[BaseRoute]:
    """The web view's routes when :mod:`statesync.server.web` is installed, else none."""
    try:
        web = importlib.import_module("statesync.server.web")
    except ModuleNotFoundError as exc:
        if exc.name != "statesync.server.web":
            raise  # the web view is there but something it needs is not: say so
        return []
    routes: list[BaseRoute] = web.web_routes(_WebContext(ctx))
    return routes


def _route_label(path: str) -> str:
    """A coarse label for metrics: never an environment name or anything a caller chose."""
    first = path.strip("/").split("/", 1)[0]
    return f"/{first}" if first in ("tf", "healthz", "metrics") else "/web"


class RequestLog:
    """Logs one line per request (method, path, status, token name, time) and counts it.

    Never the query string, headers or body: no credential or lock ID is logged.
    """

    def __init__(self, app: ASGIApp, ctx: ServerContext) -> None:
        self.app = app
        self.ctx = ctx

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = [500]

        async def sending(message: Message) -> None:
            if message["type"] == "http.response.start":
                status[0] = int(message["status"])
            await send(message)

        try:
            await self.app(scope, receive, sending)
        finally:
            self._record(scope, status[0], time.perf_counter() - started)

    def _record(self, scope: Scope, status: int, seconds: float) -> None:
        caller = scope.get("state", {}).get("caller", "-")
        log.info(
            "%s %s %d %s %.1fms", scope["method"], scope["path"], status, caller, seconds * 1000
        )
        if self.ctx.metrics is not None:
            self.ctx.metrics.observe(_route_label(scope["path"]), scope["method"], status, seconds)


def create_app(ctx: ServerContext) -> Starlette:
    """The application over ``ctx``: ``/tf/<env>``, ``/healthz``, ``/metrics``, the web view."""
    routes = [*tf_routes(ctx), *metrics_mod.routes(ctx.metrics), *_web_routes(ctx)]
    app = Starlette(routes=routes)
    app.router.redirect_slashes = False  # "/tf/x/" is not an environment: 404, not a redirect
    app.add_middleware(RequestLog, ctx=ctx)
    app.state.ctx = ctx
    return app
