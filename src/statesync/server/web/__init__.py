"""The web view of ``statesync serve``: server-rendered pages of a store.

Environments, their paged history, a snapshot's files, a file's content and
the diff between two snapshots or environments. Every secret value is shown
only as the marker, whatever the viewer's role: pages are rendered from the
store's redacted form and no sealed value is ever opened. Mount the routes of
:func:`web_routes` in a Starlette application.
"""

from statesync.server.web.routes import web_routes

__all__ = ["web_routes"]
