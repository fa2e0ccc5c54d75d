"""The sync service: ``statesync watch`` and the :class:`Service` apps embed.

    from statesync.service import Service, WatchOptions
    with Service(Path("./state"), WatchOptions(env="dev", settle=0.5)) as svc:
        ...                      # the app writes its files
        svc.save_now()           # e.g. on task completion

Heavy imports (watchdog, prometheus_client) happen only when a service starts.
"""

from pathlib import Path
from typing import Any

from statesync.service.events import Event
from statesync.service.loop import Service
from statesync.service.options import WatchOptions

__all__ = ["Event", "Service", "WatchOptions", "watch"]


def watch(
    folder: str | Path, env: str = "default", *, store: str | None = None, **options: Any
) -> Service:
    """A :class:`Service` keeping ``folder`` synced with ``env`` of ``store``.

    ``options`` are those of :class:`WatchOptions` (``interval``, ``settle``,
    ``follow``, ``on_conflict``, ``metrics``...); call ``start()`` then
    ``stop()``, or use it as a context manager. Raises :class:`UsageError`
    for bad options.
    """
    return Service(Path(folder), WatchOptions(env=env, store=store, **options))
