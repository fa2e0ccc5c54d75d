"""What every route of the server shares: the store, the tokens, the settings."""

from __future__ import annotations

import threading
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from statesync.server.tokens import TokenFile
from statesync.sync.store.indexcache import IndexCache

if TYPE_CHECKING:
    from statesync.api import Store
    from statesync.server.metrics import Metrics

#: Largest request body accepted (a Terraform state of tens of MiB is already rare).
MAX_BODY = 64 * 1024 * 1024
#: Terraform locks are never renewed by the client: the lease lives until UNLOCK.
TF_LOCK_TTL = 366 * 86400


@dataclass(frozen=True)
class ServerSettings:
    """Options of ``statesync serve`` that routes need."""

    update_method: str = "POST"
    max_body: int = MAX_BODY
    #: Seconds a client may take to send its whole body (slow clients get 408).
    body_timeout: float = 30.0
    #: Seal the whole state, chunks and manifest (``--encrypt all``).
    encrypt_all: bool = False
    #: No token file: every caller is admin (loopback only, ``--no-auth``).
    no_auth: bool = False
    tf_lock_ttl: int = TF_LOCK_TTL


class StateCache(OrderedDict[str, "bytes | None"]):
    """The last states read, by snapshot id (snapshots never change): GETs read only the ref.

    Holds opened secrets, in this process's memory only.
    """

    def __init__(self, size: int = 64) -> None:
        super().__init__()
        self.size = size
        self._mutex = threading.Lock()

    def __setitem__(self, key: str, value: bytes | None) -> None:
        with self._mutex:  # written from the server's worker threads
            super().__setitem__(key, value)
            while len(self) > self.size:
                self.popitem(last=False)


@dataclass(frozen=True)
class ServerContext:
    """The opened store, the token table and the settings, for every route."""

    store: Store
    tokens: TokenFile
    settings: ServerSettings = field(default_factory=ServerSettings)
    metrics: Metrics | None = None
    cache: StateCache = field(default_factory=StateCache)
    #: the store's chunks, kept across writes (a write lists nothing while no gc runs)
    index_cache: IndexCache = field(default_factory=IndexCache)

    @property
    def store_url(self) -> str:
        return self.store.url
