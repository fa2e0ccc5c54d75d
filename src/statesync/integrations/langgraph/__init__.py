"""LangGraph checkpoints in a statesync store: ``StatesyncSaver`` (``statesync[langgraph]``).

from statesync.integrations.langgraph import StatesyncSaver
with StatesyncSaver.open("s3://bucket/agents") as saver:
    graph = builder.compile(checkpointer=saver)
"""

from statesync.integrations.langgraph.saver import StatesyncSaver

__all__ = ["StatesyncSaver"]
