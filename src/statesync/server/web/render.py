"""Jinja2 rendering: one autoescaping environment, filters, and the error pages."""

from __future__ import annotations

import functools
import logging
from datetime import datetime
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from statesync.errors import (
    EnvNotFound,
    SnapshotNotFound,
    StatesyncError,
    UsageError,
    ViewNotFound,
)

if TYPE_CHECKING:
    import jinja2
    from starlette.responses import HTMLResponse

log = logging.getLogger(__name__)

#: No script may run and nothing may be loaded from elsewhere: the pages need neither.
SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'none'; style-src 'self'; img-src 'self' data:; "
        "form-action 'self'; base-uri 'none'; frame-ancestors 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "Cache-Control": "no-store",
}


def human_size(n: int) -> str:
    """``1536`` -> ``1.5 KiB``."""
    size = float(n)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if size < 1024 or unit == "GiB":
            return f"{int(size)} B" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return f"{n} B"  # pragma: no cover - the loop always returns


def when(stamp: str | datetime | None) -> str:
    """An ISO time as ``2026-12-01 22:56:12 UTC`` (what it was if it does not parse)."""
    if stamp is None or stamp == "":
        return ""
    try:
        moment = (
            stamp
            if isinstance(stamp, datetime)
            else datetime.fromisoformat(stamp.replace("Z", "+00:00"))
        )
    except ValueError:
        return str(stamp)
    suffix = " UTC" if moment.utcoffset() is not None and not moment.utcoffset() else ""
    return moment.strftime("%Y-%m-%d %H:%M:%S") + suffix


def url_path(text: str) -> str:
    """A snapshot path made safe inside a URL path (``/`` kept between segments)."""
    return quote(text, safe="/")


@functools.cache
def environment() -> jinja2.Environment:
    """The template environment (autoescape on for every template)."""
    import jinja2

    from statesync.server.web.content import highlight

    env = jinja2.Environment(
        loader=jinja2.PackageLoader("statesync.server.web", "templates"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
    )
    env.filters.update(
        size=human_size,
        when=when,
        urlpath=url_path,
        short=lambda s: str(s)[:12],
        octal=lambda m: f"{m:04o}",
        redacted=highlight,
    )
    return env


def page(name: str, status: int = 200, **values: Any) -> HTMLResponse:
    """Render template ``name`` as an HTML response with the security headers."""
    from starlette.responses import HTMLResponse

    body = environment().get_template(name).render(**values)
    return HTMLResponse(body, status_code=status, headers=SECURITY_HEADERS)


_KINDS = {
    4: ("Damaged or untrusted data", 500),
    5: ("Locked", 409),
    6: ("Key needed", 500),
    3: ("Conflict", 409),
}


def error_page(exc: BaseException, **values: Any) -> HTMLResponse:
    """The page for an error: 404 for what does not exist, the damage named for exit-4 errors.

    Messages of :class:`StatesyncError` never carry secret material (errors.py);
    anything else is logged here and shown only as an internal error.
    """
    if isinstance(exc, (EnvNotFound, SnapshotNotFound, ViewNotFound)):
        title, status, message = "Not found", 404, str(exc)
    elif isinstance(exc, UsageError):
        title, status, message = "Bad request", 400, str(exc)
    elif isinstance(exc, StatesyncError):
        title, status = _KINDS.get(exc.exit_code, ("Store error", 500))
        message = str(exc)
    else:
        log.error("web view failed: %s", type(exc).__name__, exc_info=exc)
        title, status, message = "Internal error", 500, "the page could not be rendered"
    kind = type(exc).__name__ if isinstance(exc, StatesyncError) else "Error"
    return page(
        "error.html", status, title=title, message=message, kind=kind, code=status, **values
    )
