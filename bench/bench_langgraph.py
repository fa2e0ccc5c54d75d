#!/usr/bin/env python3
"""LangGraph checkpoint throughput: StatesyncSaver against its peers, side by side in one run.

    .venv/bin/python bench/bench_langgraph.py [--checkpoints 300] [--graph-runs 5]
        [--steps 20] [--workdir DIR] [--json]

Savers (each on a fresh store / database / bucket):
  * ``sqlite``: langgraph-checkpoint-sqlite's ``SqliteSaver`` on a database file;
  * ``statesync-local``: ``StatesyncSaver`` on a local store (``file://``);
  * ``statesync-s3`` and ``s3-peer`` (langgraph-checkpoint-s3's ``S3CheckpointSaver``,
    when it imports) on the S3 emulator, when ``AWS_ENDPOINT_URL`` names a loopback
    endpoint (as ``source .emulators/env`` sets it).

Workloads, timed with ``time.perf_counter`` in this process (imports and store
creation excluded):
  (a) ``put+get``: N checkpoints of one thread, each ``put`` on its parent
      followed by ``get_tuple`` of the thread's latest: a state of a 20-message
      chat (about 6 KiB of channel values) that grows by one message per step;
  (b) ``graph``: a real LangGraph graph of ``--steps`` deterministic nodes,
      ``invoke``d on ``--graph-runs`` fresh threads (every put, put_writes and
      get_tuple the runtime makes).
Prints pairs/s (and this process's CPU ms per pair) and steps/s per saver,
and the targets of issue 15 (local put+get within 2x of SqliteSaver; on S3 at
least as fast as the peer) as PASS/FAIL. Exit 0 if the targets that could
be measured pass, 1 otherwise.
"""

from __future__ import annotations

import argparse
import json
import operator
import os
import sqlite3
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any, TypedDict

from langgraph.checkpoint.base import BaseCheckpointSaver, empty_checkpoint
from langgraph.checkpoint.base.id import uuid6
from langgraph.graph import START, StateGraph

from statesync.integrations.langgraph import StatesyncSaver

SaverFactory = Callable[[], "contextmanager[BaseCheckpointSaver[Any]]"]


def message(i: int) -> dict[str, Any]:
    return {
        "role": "user" if i % 2 else "assistant",
        "id": f"msg-{i}",
        "content": f"step {i}: " + "lorem ipsum dolor sit amet " * 10,
    }


def put_get(saver: BaseCheckpointSaver[Any], n: int) -> tuple[float, float]:
    """Wall and CPU seconds (this process, all threads) for ``n`` put + get_tuple pairs."""
    conf: Any = {"configurable": {"thread_id": f"bench-{uuid.uuid4().hex}", "checkpoint_ns": ""}}
    messages = [message(i) for i in range(20)]
    started, cpu = time.perf_counter(), time.process_time()
    for step in range(n):
        messages.append(message(20 + step))
        cp = empty_checkpoint()
        cp["id"] = str(uuid6(clock_seq=step))
        cp["channel_values"] = {"messages": messages[-20:], "step": step}
        cp["channel_versions"] = {"messages": step + 1, "step": step + 1}
        conf = saver.put(
            conf,
            cp,
            {"source": "loop", "step": step, "parents": {}},
            {"messages": step + 1, "step": step + 1},
        )
        got = saver.get_tuple(
            {"configurable": {"thread_id": conf["configurable"]["thread_id"], "checkpoint_ns": ""}}
        )
        assert got is not None and got.checkpoint["id"] == cp["id"]
    return time.perf_counter() - started, time.process_time() - cpu


class Chat(TypedDict):
    messages: Annotated[list[dict[str, Any]], operator.add]


def graph_steps(saver: BaseCheckpointSaver[Any], runs: int, steps: int) -> float:
    """Seconds for ``runs`` invocations of a ``steps``-node chain graph, fresh threads."""
    builder = StateGraph(Chat)
    previous = START
    for i in range(steps):
        name = f"node{i}"
        builder.add_node(name, lambda state, i=i: {"messages": [message(i)]})
        builder.add_edge(previous, name)
        previous = name
    app = builder.compile(checkpointer=saver)
    started = time.perf_counter()
    for _ in range(runs):
        conf: Any = {"configurable": {"thread_id": f"graph-{uuid.uuid4().hex}"}}
        out = app.invoke({"messages": []}, conf)
        assert len(out["messages"]) == steps
    return time.perf_counter() - started


@contextmanager
def sqlite_saver(workdir: Path) -> Iterator[BaseCheckpointSaver[Any]]:
    from langgraph.checkpoint.sqlite import SqliteSaver

    conn = sqlite3.connect(workdir / f"{uuid.uuid4().hex}.db", check_same_thread=False)
    saver = SqliteSaver(conn)
    saver.setup()
    try:
        yield saver
    finally:
        conn.close()


@contextmanager
def statesync_saver(url: str) -> Iterator[BaseCheckpointSaver[Any]]:
    with StatesyncSaver.open(url, create=True) as saver:
        yield saver


def fresh_bucket() -> str:
    import boto3

    name = f"lgbench-{uuid.uuid4().hex[:12]}"
    boto3.client("s3").create_bucket(Bucket=name)
    return name


@contextmanager
def s3_peer() -> Iterator[BaseCheckpointSaver[Any]]:
    import boto3
    from langgraph_checkpoint_s3 import S3CheckpointSaver

    yield S3CheckpointSaver(fresh_bucket(), prefix="peer/", s3_client=boto3.client("s3"))


def savers(workdir: Path) -> dict[str, Callable[[], Any]]:
    found: dict[str, Callable[[], Any]] = {
        "sqlite": lambda: sqlite_saver(workdir),
        "statesync-local": lambda: statesync_saver((workdir / uuid.uuid4().hex).as_uri()),
    }
    endpoint = os.environ.get("AWS_ENDPOINT_URL", "")
    if endpoint.startswith(("http://127.0.0.1", "http://localhost")):
        found["statesync-s3"] = lambda: statesync_saver(f"s3://{fresh_bucket()}/lg")
        try:
            import langgraph_checkpoint_s3  # noqa: F401

            found["s3-peer"] = s3_peer
        except Exception as exc:  # any import failure means: not measurable here
            print(f"langgraph-checkpoint-s3 not measured: {exc}", file=sys.stderr)
    return found


def measure(args: argparse.Namespace, workdir: Path) -> dict[str, dict[str, float]]:
    results: dict[str, dict[str, float]] = {}
    for name, factory in savers(workdir).items():
        n = args.checkpoints if name in ("sqlite", "statesync-local") else args.remote_checkpoints
        with factory() as saver:
            try:
                put_get(saver, 5)  # warm: first connection, first thread
            except Exception as exc:  # a peer that does not work with this LangGraph
                print(f"{name} not measured: {type(exc).__name__}: {exc}", file=sys.stderr)
                continue
            pairs, cpu = put_get(saver, n)
            graph = graph_steps(saver, args.graph_runs, args.steps)
        results[name] = {
            "pairs_per_s": n / pairs,
            "cpu_ms_per_pair": 1000 * cpu / n,
            "graph_steps_per_s": args.graph_runs * args.steps / graph,
        }
    return results


def targets(results: dict[str, dict[str, float]]) -> list[tuple[str, bool]]:
    out = []
    local, sqlite = results.get("statesync-local"), results.get("sqlite")
    if local and sqlite:
        out.append(
            (
                "local put+get within 2x of SqliteSaver",
                local["pairs_per_s"] * 2 >= sqlite["pairs_per_s"],
            )
        )
    s3, peer = results.get("statesync-s3"), results.get("s3-peer")
    if s3 and peer:
        out.append(
            (
                "S3 put+get at least as fast as langgraph-checkpoint-s3",
                s3["pairs_per_s"] >= peer["pairs_per_s"],
            )
        )
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--checkpoints", type=int, default=300)
    parser.add_argument("--remote-checkpoints", type=int, default=60)
    parser.add_argument("--graph-runs", type=int, default=5)
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--workdir", type=Path)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(dir=args.workdir) as tmp:
        results = measure(args, Path(tmp))
    verdicts = targets(results)
    if args.json:
        print(json.dumps({"results": results, "targets": dict(verdicts)}))
    else:
        print(f"{'saver':18} {'put+get pairs/s':>16} {'CPU ms/pair':>12} {'graph steps/s':>14}")
        for name, row in results.items():
            print(
                f"{name:18} {row['pairs_per_s']:16.0f} {row['cpu_ms_per_pair']:12.2f} "
                f"{row['graph_steps_per_s']:14.0f}"
            )
        for text, ok in verdicts:
            print(f"{'PASS' if ok else 'FAIL'}  {text}")
    return 0 if all(ok for _, ok in verdicts) else 1


if __name__ == "__main__":
    sys.exit(main())
