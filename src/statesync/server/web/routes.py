"""The route table of the web view, and the wrapper that turns errors into pages."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from statesync.server.web import views
from statesync.server.web.deps import WebContext, viewer_role
from statesync.server.web.history import LineCache
from statesync.server.web.render import error_page

if TYPE_CHECKING:
    from starlette.requests import Request
    from starlette.responses import Response
    from starlette.routing import BaseRoute

    from statesync.api import Store

#: Where the stylesheet is served (apart from every other route of the server).
STATIC = "/_web/static"
_STATIC_DIR = Path(__file__).with_name("static")

#: A page: ``(store, history cache, request, header values) -> response``.
View = Callable[["Store", LineCache, "Request", dict[str, Any]], "Response"]


def _base(ctx: WebContext, request: Request) -> dict[str, Any]:
    """What every page's header shows."""
    return {
        "store_url": ctx.store_url,
        "role": viewer_role(ctx, request),
        "static": STATIC,
        "rendered_at": views.now_text(),
    }


def _endpoint(ctx: WebContext, cache: LineCache, view: View) -> Callable[[Request], Response]:
    """A sync endpoint (Starlette runs it in a thread) that renders any error as a page."""

    def endpoint(request: Request) -> Response:
        base = _base(ctx, request)
        try:
            return view(ctx.store(), cache, request, base)
        except Exception as exc:  # every failure becomes a page, never a traceback
            return error_page(exc, crumbs=[], **base)

    return endpoint


def web_routes(ctx: WebContext) -> list[BaseRoute]:
    """The web view's routes over ``ctx``'s store, to mount at the server's root."""
    from starlette.routing import Mount, Route
    from starlette.staticfiles import StaticFiles

    cache = LineCache()
    pages: list[tuple[str, View]] = [
        ("/", views.environments),
        ("/env/{env}", views.env_history),
        ("/snap/{snap}", views.snapshot),
        ("/snap/{snap}/file/{path:path}", views.file),
        ("/diff", views.diff),
    ]
    routes: list[BaseRoute] = [
        Route(path, _endpoint(ctx, cache, view), methods=["GET"], name=f"web-{view.__name__}")
        for path, view in pages
    ]
    routes.append(Mount(STATIC, StaticFiles(directory=_STATIC_DIR), name="web-static"))
    return routes
