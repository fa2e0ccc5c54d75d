"""What the web view needs from the server around it.

The server's own context (``statesync.server.context.ServerContext``) fits
this protocol; tests use a small one of their own.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol

if TYPE_CHECKING:
    from starlette.requests import Request

    from statesync.api import Store


class WebContext(Protocol):
    """The store the pages show.

    ``store()`` returns a :class:`~statesync.api.Store` the context owns (the
    web view never closes it); it may be called from several threads at once.
    """

    store_url: str

    def store(self) -> Store: ...


def viewer_role(ctx: WebContext, request: Request) -> str | None:
    """The role the context grants this request (``read``, ``write``, ``admin``), if it says.

    Only shown in the header: what a page shows never depends on it.
    """
    role = getattr(ctx, "viewer_role", None)
    return role(request) if callable(role) else None
