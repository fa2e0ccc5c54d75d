#!/usr/bin/env python3
"""LangGraph checkpoint throughput: StatesyncSaver against its peers, side by side in one run.

    .venv/bin/python bench/bench_langgraph.py [--rounds 5] [--checkpoints 300]
        [--remote-checkpoints 60] [--graph-runs 2] [--steps 20] [--workdir DIR] [--json]

Savers (each round on a fresh store / database / bucket):
  * ``sqlite``: langgraph-checkpoint-sqlite's ``SqliteSaver`` on a database file
    (WAL, one fsync per commit);
  * ``statesync-local``: ``StatesyncSaver`` on a local store (``file://``); with
    ``--signed`` also ``statesync-local-signed`` (a fresh Ed25519 signing key,
    every object signed and every read verified);
  * on the S3 emulator, when ``AWS_ENDPOINT_URL`` names a loopback endpoint (as
    ``source /tmp/emu/env`` sets it): ``statesync-s3``, and the S3 peers that
    import here: ``tigris-peer`` (langgraph-checkpoint-tigris's ``TigrisSaver``,
    plain S3 calls, given a client on the emulator: it never sees its default
    endpoint) and ``s3-peer`` (langgraph-checkpoint-s3). Neither is a
    dependency of statesync; install one with ``pip install --no-deps ...`` to
    measure it (their declared dependencies pin an older botocore).

Workloads, timed with ``time.perf_counter`` in this process (imports and store
creation excluded):
  (a) ``put+get``: N checkpoints of one thread, each ``put`` on its parent
      followed by ``get_tuple`` of the thread's latest: a state of a 20-message
      chat (about 6 KiB of channel values) that grows by one message per step;
  (b) ``graph``: a real LangGraph graph of ``--steps`` deterministic nodes,
      ``invoke``d on ``--graph-runs`` fresh threads (every put, put_writes and
      get_tuple the runtime makes).
Rounds alternate the order of the savers (a loaded machine drifts); each
figure is the median over the rounds, and the local target is judged on the
median of the per-round ratios sqlite/statesync (each round's pair measured
back to back). Targets of issue 15: local put+get within 2x of SqliteSaver
(aim 1.5x); on S3 at least as fast as the peer. Exit 0 if the targets that
could be measured pass, 1 otherwise.
"""

from __future__ import annotations

import argparse
import json
import operator
import os
import sqlite3
import statistics
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


def signed_saver(workdir: Path) -> Iterator[BaseCheckpointSaver[Any]]:
    """A local store opened with a fresh signing key (as ``statesync keys generate``)."""
    from statesync.crypto import signing

    key = workdir / f"signing-{uuid.uuid4().hex}.key"
    signing.generate(key)
    old = os.environ.get("STATESYNC_SIGNING_KEY")
    os.environ["STATESYNC_SIGNING_KEY"] = str(key)
    try:
        with StatesyncSaver.open((workdir / uuid.uuid4().hex).as_uri(), create=True) as saver:
            assert saver.store.repo.signer is not None
            yield saver
    finally:
        if old is None:
            os.environ.pop("STATESYNC_SIGNING_KEY", None)
        else:
            os.environ["STATESYNC_SIGNING_KEY"] = old


@contextmanager
def tigris_peer() -> Iterator[BaseCheckpointSaver[Any]]:
    import boto3
    from langgraph.checkpoint.tigris import TigrisSaver

    saver = TigrisSaver(fresh_bucket(), client=boto3.client("s3"), prefix="peer/")
    saver.setup()
    yield saver


def savers(workdir: Path, signed: bool) -> dict[str, Callable[[], Any]]:
    found: dict[str, Callable[[], Any]] = {
        "sqlite": lambda: sqlite_saver(workdir),
        "statesync-local": lambda: statesync_saver((workdir / uuid.uuid4().hex).as_uri()),
    }
    if signed:
        found["statesync-local-signed"] = lambda: contextmanager(signed_saver)(workdir)
    endpoint = os.environ.get("AWS_ENDPOINT_URL", "")
    if endpoint.startswith(("http://127.0.0.1", "http://localhost")):
        found["statesync-s3"] = lambda: statesync_saver(f"s3://{fresh_bucket()}/lg")
        for name, module, factory in (
            ("tigris-peer", "langgraph.checkpoint.tigris", tigris_peer),
            ("s3-peer", "langgraph_checkpoint_s3", s3_peer),
        ):
            try:
                __import__(module)
            except Exception as exc:  # any import failure means: not measurable here
                print(f"{name} not measured: {type(exc).__name__}: {exc}", file=sys.stderr)
                continue
            found[name] = factory
    return found


LOCAL = ("sqlite", "statesync-local", "statesync-local-signed")


def one_round(
    name: str, factory: Callable[[], Any], args: argparse.Namespace
) -> dict[str, float] | None:
    n = args.checkpoints if name in LOCAL else args.remote_checkpoints
    with factory() as saver:
        try:
            put_get(saver, 5)  # warm: first connection, first thread
        except Exception as exc:  # a peer that does not work with this LangGraph
            print(f"{name} not measured: {type(exc).__name__}: {exc}", file=sys.stderr)
            return None
        pairs, cpu = put_get(saver, n)
        graph = graph_steps(saver, args.graph_runs, args.steps)
    return {
        "pairs_per_s": n / pairs,
        "cpu_ms_per_pair": 1000 * cpu / n,
        "graph_steps_per_s": args.graph_runs * args.steps / graph,
    }


def measure(args: argparse.Namespace, workdir: Path) -> dict[str, list[dict[str, float]]]:
    """Every saver's figures per round, the order of the savers alternating by round."""
    found = savers(workdir, args.signed)
    rounds: dict[str, list[dict[str, float]]] = {name: [] for name in found}
    broken: set[str] = set()
    for r in range(args.rounds):
        order = list(found) if r % 2 == 0 else list(reversed(found))
        for name in order:
            if name in broken:
                continue
            row = one_round(name, found[name], args)
            if row is None:
                broken.add(name)
            else:
                rounds[name].append(row)
    return {name: rows for name, rows in rounds.items() if rows}


def medians(rounds: dict[str, list[dict[str, float]]]) -> dict[str, dict[str, float]]:
    return {
        name: {f: statistics.median(row[f] for row in rows) for f in rows[0]}
        for name, rows in rounds.items()
    }


def ratios(rounds: dict[str, list[dict[str, float]]], base: str, of: str) -> list[float]:
    """Per round: how many times faster ``base`` was than ``of`` (put+get pairs/s)."""
    pairs = zip(rounds.get(base, []), rounds.get(of, []), strict=False)
    return [a["pairs_per_s"] / b["pairs_per_s"] for a, b in pairs]


def targets(rounds: dict[str, list[dict[str, float]]]) -> list[tuple[str, bool]]:
    out = []
    for name in ("statesync-local", "statesync-local-signed"):
        found = ratios(rounds, "sqlite", name)
        if found:
            med = statistics.median(found)
            out.append(
                (
                    f"{name} put+get within 2x of SqliteSaver (median ratio {med:.2f}x, "
                    f"rounds {', '.join(f'{x:.2f}' for x in found)}; aim 1.5x)",
                    med <= 2.0,
                )
            )
    for peer in ("tigris-peer", "s3-peer"):
        found = ratios(rounds, peer, "statesync-s3")
        if found:
            med = statistics.median(found)
            out.append(
                (
                    f"statesync-s3 put+get at least as fast as {peer} "
                    f"(peer/statesync median {med:.2f}x)",
                    med <= 1.0,
                )
            )
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[1])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--checkpoints", type=int, default=300)
    parser.add_argument("--remote-checkpoints", type=int, default=60)
    parser.add_argument("--graph-runs", type=int, default=2)
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--signed", action="store_true", help="also a local store with signing")
    parser.add_argument("--workdir", type=Path)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(dir=args.workdir) as tmp:
        rounds = measure(args, Path(tmp))
    results, verdicts = medians(rounds), targets(rounds)
    if args.json:
        print(json.dumps({"rounds": rounds, "medians": results, "targets": dict(verdicts)}))
    else:
        print(f"medians of {args.rounds} rounds (savers alternated)")
        print(f"{'saver':24} {'put+get pairs/s':>16} {'CPU ms/pair':>12} {'graph steps/s':>14}")
        for name, row in results.items():
            print(
                f"{name:24} {row['pairs_per_s']:16.0f} {row['cpu_ms_per_pair']:12.2f} "
                f"{row['graph_steps_per_s']:14.0f}"
            )
        for text, ok in verdicts:
            print(f"{'PASS' if ok else 'FAIL'}  {text}")
    return 0 if all(ok for _, ok in verdicts) else 1


if __name__ == "__main__":
    sys.exit(main())
