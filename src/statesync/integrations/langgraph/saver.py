"""``StatesyncSaver``: a LangGraph ``BaseCheckpointSaver`` over any statesync store.

Where things live (names from :mod:`statesync.sync.store.layout`): a key space of
its own, ``langgraph/threads/<thread>/``, holding the thread's head, one object
per checkpoint (``<ns>/c/<checkpoint>``) and one per task's write batch
(``<ns>/w/<checkpoint>/<task>``). Threads are not environments: environment
names are short, restricted words shown by ``log`` and ``promote``, while
thread ids are free text, numerous and written many times a second; a snapshot
(and a manifest rewrite) per checkpoint would cost more than the checkpoint.
The environment named by ``env`` supplies only the data key of encrypted
threads.
"""

from __future__ import annotations

import asyncio
import builtins
from collections.abc import AsyncIterator, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from types import TracebackType
from typing import Any

from langchain_core.runnables import RunnableConfig
from langgraph.checkpoint.base import (
    WRITES_IDX_MAP,
    BaseCheckpointSaver,
    ChannelVersions,
    Checkpoint,
    CheckpointMetadata,
    CheckpointTuple,
    get_checkpoint_id,
    get_checkpoint_metadata,
    writes_sort_key,
)
from langgraph.checkpoint.serde.base import SerializerProtocol

from statesync.api import Store
from statesync.errors import IntegrityError, UsageError
from statesync.integrations.langgraph.frame import Sealer
from statesync.integrations.langgraph.threads import Listing, ThreadStore
from statesync.sync.store import layout

DEFAULT_ENV = "langgraph"
#: How many checkpoints ``list`` reads at once (one batch may be read past ``limit``).
_READ_AHEAD = 8


class StatesyncSaver(BaseCheckpointSaver[int]):
    """Checkpoints, pending writes and thread heads in a statesync store.

    ``encrypt`` seals every object written (AES-256-GCM with ``env``'s data
    key, as ``--encrypt all`` does; thread, namespace and checkpoint ids are
    then only hashes in the store). Every read is verified: damage raises
    :class:`IntegrityError`, a missing key :class:`KeyFailure`. Safe to share
    between threads; several processes may write one thread.
    """

    def __init__(
        self,
        store: Store,
        *,
        env: str = DEFAULT_ENV,
        encrypt: bool = False,
        serde: SerializerProtocol | None = None,
        owns_store: bool = False,
    ) -> None:
        super().__init__(serde=serde)
        self.store = store
        self.env = layout.validate_env(env)
        sealer = Sealer(store.store_id, self.env, store.repo.keys)
        self.threads = ThreadStore(store.repo.backend, sealer, encrypt=encrypt)
        self._owns_store = owns_store
        # A put writes its checkpoint and moves the head at the same time: two
        # durable writes cost about one (each waits on its own fsync or request).
        self._pool = ThreadPoolExecutor(max_workers=4, thread_name_prefix="statesync-lg")

    @classmethod
    def open(
        cls,
        url: str | None = None,
        *,
        env: str = DEFAULT_ENV,
        encrypt: bool = False,
        serde: SerializerProtocol | None = None,
        create: bool = False,
    ) -> StatesyncSaver:
        """Open the store at ``url`` (``create``: make it first if there is none)."""
        from statesync.errors import StoreNotInitialised

        try:
            store = Store.open(url)
        except StoreNotInitialised:
            if not create:
                raise
            store = Store.init(url)
        return cls(store, env=env, encrypt=encrypt, serde=serde, owns_store=True)

    def close(self) -> None:
        self._pool.shutdown(wait=True)
        if self._owns_store:
            self.store.close()

    def __enter__(self) -> StatesyncSaver:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    # --- writing -------------------------------------------------------------

    def put(
        self,
        config: RunnableConfig,
        checkpoint: Checkpoint,
        metadata: CheckpointMetadata,
        new_versions: ChannelVersions,
    ) -> RunnableConfig:
        """Store ``checkpoint`` (one object) and move the thread's head to it if newest.

        Both writes run at once and both have finished when this returns; if
        the checkpoint's fails after the head moved, readers of the head fall
        back to the newest checkpoint that is there (see :meth:`get_tuple`).
        """
        where = _Where.of(config, checkpoint["id"])
        meta = get_checkpoint_metadata(config, metadata)
        record = {
            "thread": where.thread_id,
            "ns": where.ns,
            "id": where.checkpoint_id,
            "parent": config["configurable"].get("checkpoint_id"),
            "run": _text_or_none(meta.get("run_id")),
            "cp": list(self.serde.dumps_typed(checkpoint)),
            "meta": list(self.serde.dumps_typed(meta)),
        }
        sealed = self.threads.sealed(where.thread)
        stored = self._pool.submit(self.threads.write, where.checkpoint_key, record, sealed=sealed)
        try:
            self.threads.advance_head(where.thread, where.thread_id, where.ns, where.checkpoint_id)
        finally:
            stored.result()
        return where.config()

    def put_writes(
        self,
        config: RunnableConfig,
        writes: Sequence[tuple[str, Any]],
        task_id: str,
        task_path: str = "",
    ) -> None:
        """Store a task's writes against a checkpoint: one object per task, idempotent."""
        where = _Where.of(config, config["configurable"]["checkpoint_id"])
        entries = [
            [WRITES_IDX_MAP.get(ch, idx), ch, *self.serde.dumps_typed(value)]
            for idx, (ch, value) in enumerate(writes)
        ]
        base = {
            "thread": where.thread_id,
            "ns": where.ns,
            "cp": where.checkpoint_id,
            "task": task_id,
            "path": task_path,
        }
        key = layout.langgraph_writes_key(
            where.thread, where.ns_name, where.cp_name, layout.langgraph_name(task_id)
        )
        self.threads.add_writes(key, base, entries, sealed=self.threads.sealed(where.thread))

    # --- reading -------------------------------------------------------------

    def get_tuple(self, config: RunnableConfig) -> CheckpointTuple | None:
        """The checkpoint named by ``config``, or its namespace's newest; None if absent."""
        conf = config["configurable"]
        thread_id, ns = str(conf["thread_id"]), str(conf.get("checkpoint_ns", ""))
        checkpoint_id = get_checkpoint_id(config)
        latest = not checkpoint_id
        if not checkpoint_id:
            head = self.threads.read_head(layout.langgraph_name(thread_id))
            checkpoint_id = head.latest.get(ns) if head else None
            if checkpoint_id is None:
                return self._newest_listed(thread_id, ns)
        where = _Where(thread_id, ns, checkpoint_id)
        listed = self._pool.submit(self.threads.listing, where.writes_prefix)  # meanwhile
        got = self.threads.read(where.checkpoint_key)
        writes = listed.result().writes_of(where.key())
        if got is None:
            return self._newest_listed(thread_id, ns) if latest else None
        return self._tuple(where.checkpoint_key, got[0], writes)

    def _newest_listed(self, thread_id: str, ns: str) -> CheckpointTuple | None:
        """The newest checkpoint present when the head names none (or one that is gone)."""
        return next(self.list(_config(thread_id, ns, ""), limit=1), None)

    def list(
        self,
        config: RunnableConfig | None,
        *,
        filter: dict[str, Any] | None = None,
        before: RunnableConfig | None = None,
        limit: int | None = None,
    ) -> Iterator[CheckpointTuple]:
        """Checkpoints newest first (by id), by thread, namespace, metadata and ``before``."""
        conf = config["configurable"] if config else {}
        ns = conf.get("checkpoint_ns")
        prefix = (
            layout.langgraph_thread_prefix(layout.langgraph_name(str(conf["thread_id"])))
            if config
            else layout.LANGGRAPH
        )
        found = self.threads.listing(prefix)
        wanted = sorted(
            (
                pair
                for pair in found.checkpoints
                if _selected(
                    pair[0],
                    ns,
                    get_checkpoint_id(config) if config else None,
                    get_checkpoint_id(before) if before else None,
                )
            ),
            key=lambda pair: pair[0].checkpoint_id,
            reverse=True,
        )
        left = limit
        for k, key, got in self._read_ahead(wanted):
            if left is not None and left <= 0:
                return
            if got is None or (ns is not None and got[0]["ns"] != ns):
                continue
            tup = self._tuple(key, got[0], found.writes_of(k))
            if filter and not all(tup.metadata.get(f) == v for f, v in filter.items()):
                continue
            left = None if left is None else left - 1
            yield tup

    def _read_ahead(
        self, wanted: Sequence[tuple[layout.LangGraphKey, str]]
    ) -> Iterator[tuple[layout.LangGraphKey, str, Any]]:
        """``(k, key, read(key))`` in order, reading a few objects ahead at once."""
        for start in range(0, len(wanted), _READ_AHEAD):
            batch = wanted[start : start + _READ_AHEAD]
            records = self._pool.map(self.threads.read, [key for _, key in batch])
            for (k, key), got in zip(batch, records, strict=True):
                yield k, key, got

    def _tuple(
        self, key: str, record: dict[str, Any], write_keys: Sequence[str]
    ) -> CheckpointTuple:
        thread_id, ns, parent = record["thread"], record["ns"], record["parent"]
        checkpoint: Checkpoint = self.serde.loads_typed(tuple(record["cp"]))
        if layout.langgraph_checkpoint_name(checkpoint["id"]) != key.rsplit("/", 1)[-1]:
            raise IntegrityError(f"{key}: holds another checkpoint (moved or tampered)")
        versions = checkpoint.get("channel_versions", {})
        checkpoint["channel_values"] = {
            k: v for k, v in checkpoint["channel_values"].items() if k in versions
        }
        return CheckpointTuple(
            config=_config(thread_id, ns, checkpoint["id"]),
            checkpoint=checkpoint,
            metadata=self.serde.loads_typed(tuple(record["meta"])),
            parent_config=_config(thread_id, ns, parent) if parent else None,
            pending_writes=self._pending(write_keys),
        )

    def _pending(self, keys: Sequence[str]) -> builtins.list[tuple[str, str, Any]]:
        rows = [
            (batch["path"], batch["task"], int(e[0]), e[1], e[2], e[3])
            for batch in self.threads.read_all(keys)
            for e in batch["writes"]
        ]
        rows.sort(key=lambda r: writes_sort_key(r[0], r[1], r[2]))
        return [
            (task, ch, self.serde.loads_typed((kind, raw))) for _, task, _, ch, kind, raw in rows
        ]

    # --- maintenance ---------------------------------------------------------

    def delete_thread(self, thread_id: str) -> None:
        """Delete every checkpoint, write and the head of ``thread_id`` (absent: no-op)."""
        thread = layout.langgraph_name(str(thread_id))
        found = self.threads.listing(layout.langgraph_thread_prefix(thread))
        self.threads.delete(_keys(found))
        self.threads.delete(found.heads)
        self.threads.forget(thread)

    def delete_for_runs(self, run_ids: Sequence[str]) -> None:
        """Delete the checkpoints (and their writes) of the given runs, in every thread.

        Reads every checkpoint record of the store once (no index by run).
        """
        runs = {str(r) for r in run_ids}
        if not runs:
            return
        found = self.threads.listing(layout.LANGGRAPH)
        touched: dict[str, str] = {}
        for k, key, got in self._read_ahead(found.checkpoints):
            if got is not None and got[0].get("run") in runs:
                self.threads.delete([*found.writes_of(k), key])
                touched[k.thread] = got[0]["thread"]
        for thread, thread_id in touched.items():
            self._rehead(thread, thread_id)

    def copy_thread(self, source_thread_id: str, target_thread_id: str) -> None:
        """Copy every checkpoint and write of one thread into another (source unchanged)."""
        src = layout.langgraph_name(str(source_thread_id))
        dst = layout.langgraph_name(str(target_thread_id))
        found = self.threads.listing(layout.langgraph_thread_prefix(src))
        sealed = self.threads.sealed(src) or self.threads.sealed(dst)
        latest: dict[str, str] = {}
        for k, key in found.checkpoints:
            got = self.threads.read(key)
            if got is None:
                continue
            record = {**got[0], "thread": str(target_thread_id)}
            self.threads.write(key.replace(src, dst, 1), record, sealed=sealed)
            latest[record["ns"]] = max(latest.get(record["ns"], ""), record["id"])
            for wkey in found.writes_of(k):
                self._copy_writes(wkey, wkey.replace(src, dst, 1), target_thread_id, sealed)
        for ns, checkpoint_id in latest.items():
            self.threads.advance_head(dst, str(target_thread_id), ns, checkpoint_id)

    def _copy_writes(self, key: str, to: str, thread_id: str, sealed: bool) -> None:
        got = self.threads.read(key)
        if got is not None:
            self.threads.write(to, {**got[0], "thread": str(thread_id)}, sealed=sealed)

    def prune(self, thread_ids: Sequence[str], *, strategy: str = "keep_latest") -> None:
        """``keep_latest``: keep each namespace's newest checkpoint (and its writes);
        ``delete``: delete the threads. Other strategies raise :class:`UsageError`.

        Not ``DeltaChannel``-aware: a graph using delta channels must not be pruned.
        """
        if strategy not in ("keep_latest", "delete"):
            raise UsageError(f"unknown prune strategy {strategy!r} (keep_latest or delete)")
        for thread_id in thread_ids:
            if strategy == "delete":
                self.delete_thread(thread_id)
            else:
                self._keep_latest(layout.langgraph_name(str(thread_id)))

    def _keep_latest(self, thread: str) -> None:
        found = self.threads.listing(layout.langgraph_thread_prefix(thread))
        newest: dict[str, str] = {}
        for k, _ in found.checkpoints:
            newest[k.ns] = max(newest.get(k.ns, ""), k.checkpoint_id)
        for k, key in found.checkpoints:
            if k.checkpoint_id != newest[k.ns]:
                self.threads.delete([*found.writes_of(k), key])

    def _rehead(self, thread: str, thread_id: str) -> None:
        """Point the head at the newest checkpoint left in each namespace."""
        latest: dict[str, str] = {}
        for k, key in self.threads.listing(layout.langgraph_thread_prefix(thread)).checkpoints:
            got = self.threads.read(key)
            if got is not None:
                ns = got[0]["ns"]
                latest[ns] = max(latest.get(ns, ""), k.checkpoint_id)
        self.threads.replace_head(thread, thread_id, latest)

    # --- async: the same work on a worker thread (store calls block) ----------

    async def aget_tuple(self, config: RunnableConfig) -> CheckpointTuple | None:
        return await asyncio.to_thread(self.get_tuple, config)

    async def alist(
        self,
        config: RunnableConfig | None,
        *,
        filter: dict[str, Any] | None = None,
        before: RunnableConfig | None = None,
        limit: int | None = None,
    ) -> AsyncIterator[CheckpointTuple]:
        def collect() -> builtins.list[CheckpointTuple]:
            return list(self.list(config, filter=filter, before=before, limit=limit))

        for tup in await asyncio.to_thread(collect):
            yield tup

    async def aput(
        self,
        config: RunnableConfig,
        checkpoint: Checkpoint,
        metadata: CheckpointMetadata,
        new_versions: ChannelVersions,
    ) -> RunnableConfig:
        return await asyncio.to_thread(self.put, config, checkpoint, metadata, new_versions)

    async def aput_writes(
        self,
        config: RunnableConfig,
        writes: Sequence[tuple[str, Any]],
        task_id: str,
        task_path: str = "",
    ) -> None:
        await asyncio.to_thread(self.put_writes, config, writes, task_id, task_path)

    async def adelete_thread(self, thread_id: str) -> None:
        await asyncio.to_thread(self.delete_thread, thread_id)

    async def adelete_for_runs(self, run_ids: Sequence[str]) -> None:
        await asyncio.to_thread(self.delete_for_runs, run_ids)

    async def acopy_thread(self, source_thread_id: str, target_thread_id: str) -> None:
        await asyncio.to_thread(self.copy_thread, source_thread_id, target_thread_id)

    async def aprune(self, thread_ids: Sequence[str], *, strategy: str = "keep_latest") -> None:
        await asyncio.to_thread(self.prune, thread_ids, strategy=strategy)


class _Where:
    """One checkpoint's place: its ids as given and as stored names."""

    def __init__(self, thread_id: str, ns: str, checkpoint_id: str) -> None:
        self.thread_id, self.ns, self.checkpoint_id = thread_id, ns, checkpoint_id
        self.thread = layout.langgraph_name(thread_id)
        self.ns_name = layout.langgraph_name(ns)
        self.cp_name = layout.langgraph_checkpoint_name(checkpoint_id)

    @classmethod
    def of(cls, config: RunnableConfig, checkpoint_id: str) -> _Where:
        conf = config["configurable"]
        return cls(str(conf["thread_id"]), str(conf.get("checkpoint_ns", "")), checkpoint_id)

    @property
    def checkpoint_key(self) -> str:
        return layout.langgraph_checkpoint_key(self.thread, self.ns_name, self.cp_name)

    @property
    def writes_prefix(self) -> str:
        return layout.langgraph_writes_prefix(self.thread, self.ns_name, self.cp_name)

    def key(self) -> layout.LangGraphKey:
        return layout.LangGraphKey("checkpoint", self.thread, self.ns_name, self.checkpoint_id)

    def config(self) -> RunnableConfig:
        return _config(self.thread_id, self.ns, self.checkpoint_id)


def _config(thread_id: str, ns: str, checkpoint_id: str) -> RunnableConfig:
    return {
        "configurable": {
            "thread_id": thread_id,
            "checkpoint_ns": ns,
            "checkpoint_id": checkpoint_id,
        }
    }


def _selected(k: layout.LangGraphKey, ns: str | None, only: str | None, before: str | None) -> bool:
    if ns is not None and k.ns != layout.langgraph_name(ns):
        return False
    if only and k.checkpoint_id != only:
        return False
    return not (before and k.checkpoint_id >= before)


def _keys(found: Listing) -> list[str]:
    return [key for _, key in found.checkpoints] + [
        key for keys in found.writes.values() for key in keys
    ]


def _text_or_none(value: Any) -> str | None:
    return None if value is None else str(value)
