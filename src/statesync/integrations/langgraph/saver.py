"""``StatesyncSaver``: a LangGraph ``BaseCheckpointSaver`` over any statesync store.

Where things live (names from :mod:`statesync.sync.store.layout`): a key space of
its own, ``langgraph/threads/<thread>/``, holding the thread's head, one
content-addressed object per checkpoint (``<ns>/c/<checkpoint>.<sha256>``) and
one object of pending writes per checkpoint (``<ns>/w/<checkpoint>``). Threads
are not environments: environment names are short, restricted words shown by
``log`` and ``promote``, while thread ids are free text, numerous and written
many times a second; a snapshot (and a manifest rewrite) per checkpoint would
cost more than the checkpoint. The environment named by ``env`` supplies the
data key of encrypted threads and the local trust policy applied to every
object read (signatures: :mod:`statesync.integrations.langgraph.frame`).

A put costs two durable writes made at once (the checkpoint, created only if
absent, and the head's conditional write); a get of a thread's latest
checkpoint reads the head and the write set, and the checkpoint itself only
if this process has not written or verified those exact bytes before.

On a local (``file://``) store each thread is instead one append-only log
file, ``langgraph/threads/<thread>/log``
(:mod:`statesync.integrations.langgraph.threadlog`): a put is one append and
one ``fdatasync``, a get of the latest reads only bytes appended since.
"""

from __future__ import annotations

import asyncio
import builtins
from collections.abc import AsyncIterator, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from types import TracebackType
from typing import Any
from urllib.parse import urlsplit

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
from statesync.integrations.langgraph import maintenance
from statesync.integrations.langgraph.frame import Sealer
from statesync.integrations.langgraph.threadlog import Found, ThreadLogs, local_root
from statesync.integrations.langgraph.threads import Listed, ThreadStore
from statesync.integrations.langgraph.writesets import Row, WriteSets
from statesync.sync.store import layout

DEFAULT_ENV = "langgraph"
#: How many checkpoints ``list`` reads at once (one batch may be read past ``limit``).
_READ_AHEAD = 8
#: Stores in this process or on this machine: a GET costs less than a hand-off to a worker.
_NEAR = ("", "file", "memory")


class StatesyncSaver(BaseCheckpointSaver[int]):
    """Checkpoints, pending writes and thread heads in a statesync store.

    ``encrypt`` seals every object written (AES-256-GCM with ``env``'s data
    key, as ``--encrypt all`` does; thread, namespace and checkpoint ids are
    then only hashes in the store). Every object is signed with the user's
    signing key when one is configured, and every read is verified (content
    address, digest, signature, ``env``'s trust policy): damage or tampering
    raises :class:`IntegrityError`, a missing key :class:`KeyFailure`. Safe to
    share between threads; several processes may write one thread. ``log``
    (constructor and :meth:`open`): threads as append-only log files
    (:mod:`statesync.integrations.langgraph.threadlog`); None, the default, uses
    them on a local store and objects elsewhere, False objects everywhere, True
    requires a local store (:class:`UsageError` otherwise).
    """

    def __init__(
        self,
        store: Store,
        *,
        env: str = DEFAULT_ENV,
        encrypt: bool = False,
        serde: SerializerProtocol | None = None,
        owns_store: bool = False,
        log: bool | None = None,
    ) -> None:
        """``log``: threads as log files (None: on a local store; True: required)."""
        super().__init__(serde=serde)
        self.store = store
        self.env = layout.validate_env(env)
        repo = store.repo
        sealer = Sealer(store.store_id, self.env, repo.keys, signer=repo.signer, trust=repo.trust)
        self.threads = ThreadStore(repo.backend, sealer, encrypt=encrypt)
        self.writes = WriteSets(repo.backend, sealer)
        root = local_root(repo.backend) if log is not False else None
        if log and root is None:
            raise UsageError("thread logs need a local (file://) store")
        self.logs = ThreadLogs(root, sealer, encrypt=encrypt) if root is not None else None
        #: Threads whose log this process has checked for an object-layout past.
        self._adopted: set[str] = set()
        self._owns_store = owns_store
        self._near = urlsplit(store.url).scheme in _NEAR
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
        log: bool | None = None,
    ) -> StatesyncSaver:
        """Open the store at ``url`` (``create``: make it first if there is none)."""
        from statesync.errors import StoreNotInitialised

        try:
            store = Store.open(url)
        except StoreNotInitialised:
            if not create:
                raise
            store = Store.init(url)
        return cls(store, env=env, encrypt=encrypt, serde=serde, owns_store=True, log=log)

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
        if self.logs is not None:
            layout.langgraph_checkpoint_name(where.checkpoint_id)  # 1 to 200 bytes, as objects
            self._adopt(where.thread)
            self.logs.put_checkpoint(where.thread, record)
            return where.config()
        sealed = self.threads.sealed(where.thread)
        prepared = self.threads.prepare_checkpoint(where.key(), record, sealed=sealed)
        stored = self._pool.submit(self.threads.store_checkpoint, prepared)
        try:
            self.threads.advance_head(
                where.thread, where.thread_id, where.ns, (where.checkpoint_id, prepared.digest)
            )
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
        """Store a task's writes against a checkpoint, idempotent per (task, index).

        Writes of one checkpoint go into one object; concurrent callers in this
        process share one conditional write.
        """
        where = _Where.of(config, config["configurable"]["checkpoint_id"])
        rows: list[Row] = [
            [task_id, task_path, WRITES_IDX_MAP.get(ch, idx), ch, *self.serde.dumps_typed(value)]
            for idx, (ch, value) in enumerate(writes)
        ]
        base = {"thread": where.thread_id, "ns": where.ns, "cp": where.checkpoint_id}
        if self.logs is not None:
            self._adopt(where.thread)
            self.logs.put_writes(where.thread, base, rows)
            return
        self.writes.add(where.writes_key, base, rows, sealed=self.threads.sealed(where.thread))

    # --- reading -------------------------------------------------------------

    def get_tuple(self, config: RunnableConfig) -> CheckpointTuple | None:
        """The checkpoint named by ``config``, or its namespace's newest; None if absent."""
        conf = config["configurable"]
        thread_id, ns = str(conf["thread_id"]), str(conf.get("checkpoint_ns", ""))
        checkpoint_id = get_checkpoint_id(config)
        if self.logs is not None:
            thread = layout.langgraph_name(thread_id)
            self._adopt(thread)
            got = (
                self.logs.get(thread, ns, checkpoint_id)
                if checkpoint_id
                else self.logs.latest(thread, ns)
            )
            return self._found_tuple(got)
        if checkpoint_id:
            where = _Where(thread_id, ns, checkpoint_id)
            found = self.threads.listing(where.checkpoint_prefix).unique()
            return self._load(found[0], where) if found else None
        where = _Where(thread_id, ns, "")
        head = self.threads.read_head(where.thread)
        entry = head.latest.get(ns) if head else None
        if entry is None:
            return self._newest_listed(thread_id, ns)
        where = _Where(thread_id, ns, entry[0])
        tup = self._load(Listed(where.key(entry[1]), "", None), where)
        return tup if tup is not None else self._newest_listed(thread_id, ns)

    def _adopt(self, thread: str) -> None:
        """Move a thread the object layout holds (written before thread logs, or with
        ``log=False``) into its log, once per process (see :func:`maintenance.migrate_to_log`)."""
        if self.logs is None or thread in self._adopted:
            return
        if not self.logs.exists(thread) and self.threads.read_head(thread) is not None:
            maintenance.migrate_to_log(self.threads, self.writes, self.logs, thread)
        self._adopted.add(thread)

    def _adopt_all(self) -> None:
        """:meth:`_adopt` every thread the object layout holds."""
        for key in self.threads.listing(layout.LANGGRAPH).heads:
            k = layout.parse_langgraph_key(key)
            if k is not None:
                self._adopt(k.thread)

    def _found_tuple(self, found: Found | None) -> CheckpointTuple | None:
        return None if found is None else self._tuple(found.record, found.rows)

    def _load(self, item: Listed, where: _Where) -> CheckpointTuple | None:
        """The tuple of one checkpoint object with its pending writes (None: object gone)."""
        owner = (where.thread_id, where.ns, where.checkpoint_id)
        if self._near:
            got = self.threads.checkpoint(item.k, owner[:2])
            rows = self.writes.read(where.writes_key, owner) if got is not None else []
        else:  # two requests at once
            pending = self._pool.submit(self.writes.read, where.writes_key, owner)
            got = self.threads.checkpoint(item.k, owner[:2])
            rows = pending.result()
        return None if got is None else self._tuple(got[0], rows)

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
        if self.logs is not None:
            yield from self._list_logs(self.logs, config, filter, before, limit)
            return
        prefix = (
            layout.langgraph_thread_prefix(layout.langgraph_name(str(conf["thread_id"])))
            if config
            else layout.LANGGRAPH
        )
        found = self.threads.listing(prefix)
        only = get_checkpoint_id(config) if config else None
        until = get_checkpoint_id(before) if before else None
        wanted = sorted(
            (item for item in found.unique() if _selected(item.k, ns, only, until)),
            key=lambda item: item.k.checkpoint_id,
            reverse=True,
        )
        left = limit
        for item, got in self._read_ahead(wanted):
            if left is not None and left <= 0:
                return
            if got is None:
                continue
            record = got[0]
            wkey = found.writes_of(item.k)
            owner = (str(record["thread"]), str(record["ns"]), item.k.checkpoint_id)
            tup = self._tuple(record, self.writes.read(wkey, owner) if wkey else [])
            if filter and not all(tup.metadata.get(f) == v for f, v in filter.items()):
                continue
            left = None if left is None else left - 1
            yield tup

    def _list_logs(
        self,
        logs: ThreadLogs,
        config: RunnableConfig | None,
        filter: dict[str, Any] | None,
        before: RunnableConfig | None,
        limit: int | None,
    ) -> Iterator[CheckpointTuple]:
        """:meth:`list` over thread logs."""
        conf = config["configurable"] if config else {}
        ns = conf.get("checkpoint_ns")
        ns = None if ns is None else str(ns)
        only = get_checkpoint_id(config) if config else None
        until = get_checkpoint_id(before) if before else None
        if config:
            threads = [layout.langgraph_name(str(conf["thread_id"]))]
            self._adopt(threads[0])
        else:
            self._adopt_all()
            threads = logs.threads()
        wanted = [
            (cp, thread, cns)
            for thread in threads
            for cns, cp, _ in logs.entries(thread)
            if (ns is None or cns == ns)
            and (not only or cp == only)
            and not (until and cp >= until)
        ]
        wanted.sort(reverse=True)
        left = limit
        for cp, thread, cns in wanted:
            if left is not None and left <= 0:
                return
            found = logs.found(thread, cns, cp)
            if found is None:
                continue
            tup = self._tuple(found.record, found.rows)
            if filter and not all(tup.metadata.get(f) == v for f, v in filter.items()):
                continue
            left = None if left is None else left - 1
            yield tup

    def _read_ahead(self, wanted: Sequence[Listed]) -> Iterator[tuple[Listed, Any]]:
        """``(item, checkpoint(item))`` in order, reading a few objects ahead at once."""
        for start in range(0, len(wanted), _READ_AHEAD):
            batch = wanted[start : start + _READ_AHEAD]
            records = self._pool.map(lambda item: self.threads.checkpoint(item.k), batch)
            yield from zip(batch, records, strict=True)

    def _tuple(self, record: dict[str, Any], rows: Sequence[Row]) -> CheckpointTuple:
        thread_id, ns, parent = record["thread"], record["ns"], record["parent"]
        checkpoint: Checkpoint = self.serde.loads_typed(tuple(record["cp"]))
        if checkpoint["id"] != record["id"]:
            raise IntegrityError(f"checkpoint {record['id']!r}: holds another checkpoint")
        versions = checkpoint.get("channel_versions", {})
        checkpoint["channel_values"] = {
            k: v for k, v in checkpoint["channel_values"].items() if k in versions
        }
        return CheckpointTuple(
            config=_config(thread_id, ns, checkpoint["id"]),
            checkpoint=checkpoint,
            metadata=self.serde.loads_typed(tuple(record["meta"])),
            parent_config=_config(thread_id, ns, parent) if parent else None,
            pending_writes=self._pending(rows),
        )

    def _pending(self, rows: Sequence[Row]) -> builtins.list[tuple[str, str, Any]]:
        ordered = sorted(rows, key=lambda r: writes_sort_key(str(r[1]), str(r[0]), int(r[2])))
        return [
            (task, ch, self.serde.loads_typed((kind, raw))) for task, _, _, ch, kind, raw in ordered
        ]

    # --- maintenance (statesync.integrations.langgraph.maintenance) -----------

    def delete_thread(self, thread_id: str) -> None:
        """Delete every checkpoint and write of ``thread_id`` (absent: no-op)."""
        if self.logs is not None:
            thread = layout.langgraph_name(str(thread_id))
            self._adopt(thread)
            self.logs.rewrite(thread, _keep_none)
            return
        maintenance.delete_thread(self.threads, self.writes, str(thread_id))

    def delete_for_runs(self, run_ids: Sequence[str]) -> None:
        """Delete the checkpoints (and their writes) of the given runs, in every thread.

        Reads every checkpoint record of the store once (no index by run).
        """
        if self.logs is not None:
            self._adopt_all()
            maintenance.delete_runs_in_logs(self.logs, {str(r) for r in run_ids})
            return
        maintenance.delete_for_runs(self.threads, self.writes, {str(r) for r in run_ids})

    def copy_thread(self, source_thread_id: str, target_thread_id: str) -> None:
        """Copy every checkpoint and write of one thread into another (source unchanged)."""
        if self.logs is not None:
            for tid in (source_thread_id, target_thread_id):
                self._adopt(layout.langgraph_name(str(tid)))
            maintenance.copy_log(self.logs, str(source_thread_id), str(target_thread_id))
            return
        maintenance.copy_thread(
            self.threads, self.writes, str(source_thread_id), str(target_thread_id)
        )

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
            elif self.logs is not None:
                self._adopt(layout.langgraph_name(str(thread_id)))
                self.logs.rewrite(layout.langgraph_name(str(thread_id)), _keep_newest)
            else:
                maintenance.keep_latest(self.threads, self.writes, str(thread_id))

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

    @classmethod
    def of(cls, config: RunnableConfig, checkpoint_id: str) -> _Where:
        conf = config["configurable"]
        return cls(str(conf["thread_id"]), str(conf.get("checkpoint_ns", "")), checkpoint_id)

    @property
    def cp_name(self) -> str:
        return layout.langgraph_checkpoint_name(self.checkpoint_id)

    @property
    def checkpoint_prefix(self) -> str:
        """What lists every object of this checkpoint (one, unless it was put twice)."""
        return layout.langgraph_checkpoint_slot(self.thread, self.ns_name, self.cp_name) + "."

    @property
    def writes_key(self) -> str:
        return layout.langgraph_writes_key(self.thread, self.ns_name, self.cp_name)

    def key(self, digest: str = "") -> layout.LangGraphKey:
        return layout.LangGraphKey(
            "checkpoint", self.thread, self.ns_name, self.checkpoint_id, digest
        )

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


def _keep_none(ns: str, cp: str, record: dict[str, Any], newest: str) -> bool:
    return False


def _keep_newest(ns: str, cp: str, record: dict[str, Any], newest: str) -> bool:
    return cp == newest


def _text_or_none(value: Any) -> str | None:
    return None if value is None else str(value)
