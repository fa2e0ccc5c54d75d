"""A small deterministic LangGraph agent (no LLM) run by the tests in their own processes.

    python lg_agent.py STORE_URL THREAD start        -> runs until the approval interrupt
    python lg_agent.py STORE_URL THREAD resume ANSWER -> resumes it, prints the final state
    python lg_agent.py STORE_URL THREAD churn NS N   -> puts N checkpoints into namespace NS
    python lg_agent.py STORE_URL THREAD stream       -> puts checkpoints until killed
Prints one JSON object on stdout (``stream``: one checkpoint id a line, once its put returned).
"""

from __future__ import annotations

import json
import operator
import sys
from typing import Annotated, Any, TypedDict

from langgraph.graph import END, START, StateGraph
from langgraph.types import Command, interrupt

from statesync.integrations.langgraph import StatesyncSaver


class Order(TypedDict):
    items: list[str]
    log: Annotated[list[str], operator.add]
    approved: str


def plan(state: Order) -> dict[str, Any]:
    return {"log": [f"planned {len(state['items'])} items"]}


def price(state: Order) -> dict[str, Any]:
    return {"log": [f"priced at {10 * len(state['items'])}"]}


def review(state: Order) -> dict[str, Any]:
    answer = interrupt({"question": "approve?", "log": state["log"]})
    return {"approved": str(answer), "log": [f"review: {answer}"]}


def ship(state: Order) -> dict[str, Any]:
    return {"log": ["shipped" if state["approved"] == "yes" else "cancelled"]}


def build(saver: StatesyncSaver) -> Any:
    graph = StateGraph(Order)
    for name, node in (("plan", plan), ("price", price), ("review", review), ("ship", ship)):
        graph.add_node(name, node)
    graph.add_edge(START, "plan")
    graph.add_edge("plan", "price")
    graph.add_edge("price", "review")
    graph.add_edge("review", "ship")
    graph.add_edge("ship", END)
    return graph.compile(checkpointer=saver)


def config(thread: str) -> dict[str, Any]:
    return {"configurable": {"thread_id": thread}}


def churn(saver: StatesyncSaver, thread: str, ns: str, n: int) -> dict[str, Any]:
    """Put ``n`` chained checkpoints (and a write batch on each) into ``ns``."""
    from langgraph.checkpoint.base import empty_checkpoint
    from langgraph.checkpoint.base.id import uuid6

    conf: dict[str, Any] = {"configurable": {"thread_id": thread, "checkpoint_ns": ns}}
    ids = []
    for step in range(n):
        cp = empty_checkpoint()
        cp["id"] = str(uuid6(clock_seq=step))
        cp["channel_values"] = {"n": step}
        cp["channel_versions"] = {"n": step + 1}
        conf = saver.put(conf, cp, {"source": "loop", "step": step}, {"n": step + 1})
        saver.put_writes(conf, [("n", step)], task_id=f"{ns}-task")
        ids.append(cp["id"])
    return {"ids": ids}


def stream(saver: StatesyncSaver, thread: str) -> None:
    """Put checkpoints (a few KiB each) until killed, printing each id once stored."""
    from langgraph.checkpoint.base import empty_checkpoint
    from langgraph.checkpoint.base.id import uuid6

    conf: dict[str, Any] = {"configurable": {"thread_id": thread, "checkpoint_ns": ""}}
    step = 0
    while True:
        cp = empty_checkpoint()
        cp["id"] = str(uuid6(clock_seq=step))
        cp["channel_values"] = {"n": step, "pad": "x" * (4096 + step % 997)}
        cp["channel_versions"] = {"n": step + 1, "pad": 1}
        conf = saver.put(conf, cp, {"step": step}, {"n": step + 1})
        print(cp["id"], flush=True)
        step += 1


def main(argv: list[str]) -> None:
    url, thread, command = argv[:3]
    with StatesyncSaver.open(url) as saver:
        if command == "stream":
            stream(saver, thread)
            return
        if command == "churn":
            print(json.dumps(churn(saver, thread, argv[3], int(argv[4]))))
            return
        app = build(saver)
        if command == "start":
            out = app.invoke({"items": ["a", "b", "c"], "log": [], "approved": ""}, config(thread))
            print(json.dumps({"interrupts": [i.value for i in out.get("__interrupt__", [])]}))
        else:
            out = app.invoke(Command(resume=argv[3]), config(thread))
            print(json.dumps({"log": out["log"], "approved": out["approved"]}))


if __name__ == "__main__":
    main(sys.argv[1:])
