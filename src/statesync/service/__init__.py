"""The sync service: ``statesync watch`` and the :class:`Service` apps embed.

    from statesync.service import Service, WatchOptions
    with Service(Path("./state"), WatchOptions(env="dev", settle=0.5)) as svc:
        ...                      # the app writes its files
        svc.save_now()           # e.g. on task completion

Heavy imports (watchdog, prometheus_client) happen only when a service starts.
"""

from statesync.service.events import Event
from statesync.service.loop import Service
from statesync.service.options import WatchOptions

__all__ = ["Event", "Service", "WatchOptions"]
