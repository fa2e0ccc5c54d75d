"""A real LangGraph graph on the store: interrupted on one machine, resumed on another."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from langgraph.types import Command

from statesync.api import Store
from statesync.integrations.langgraph import StatesyncSaver
from tests.integrations import lg_agent

AGENT = Path(lg_agent.__file__)
THREAD = "order #1 / ünïcode ../../etc"


def run_agent(home: Path, *args: str) -> dict[str, Any]:
    """Run the agent in its own process, as another user on another machine (own HOME)."""
    env = {**os.environ, "HOME": str(home)}
    for var in ("XDG_CACHE_HOME", "XDG_DATA_HOME", "XDG_CONFIG_HOME", "XDG_STATE_HOME"):
        env[var] = str(home / var.lower())
    proc = subprocess.run(
        [sys.executable, str(AGENT), *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    return dict(json.loads(proc.stdout))


def test_interrupted_on_one_machine_resumes_on_another(
    process_store_url: str, tmp_path: Path
) -> None:
    any_store_url = process_store_url
    Store.init(any_store_url).close()
    first = run_agent(tmp_path / "alice", any_store_url, THREAD, "start")
    assert first["interrupts"] == [
        {"question": "approve?", "log": ["planned 3 items", "priced at 30"]}
    ]
    done = run_agent(tmp_path / "bob", any_store_url, THREAD, "resume", "yes")
    assert done == {
        "approved": "yes",
        "log": ["planned 3 items", "priced at 30", "review: yes", "shipped"],
    }


def test_time_travel_forks_from_an_earlier_checkpoint(tmp_path: Path) -> None:
    url = (tmp_path / "store").as_uri()
    with StatesyncSaver.open(url, create=True) as saver:
        app = lg_agent.build(saver)
        conf = lg_agent.config("travel")
        app.invoke({"items": ["x"], "log": [], "approved": ""}, conf)
        app.invoke(Command(resume="yes"), conf)
        assert app.get_state(conf).values["log"][-1] == "shipped"
        history = list(app.get_state_history(conf))
        before_review = next(s for s in history if s.next == ("review",))
        app.invoke(None, before_review.config)  # replays up to the interrupt again
        forked = app.invoke(Command(resume="no"), conf)
        assert forked["log"] == ["planned 1 items", "priced at 10", "review: no", "cancelled"]
        # The original ending is still in the thread's history, beside the fork.
        ends = [s.values["log"][-1] for s in app.get_state_history(conf) if not s.next]
        assert sorted(ends) == ["cancelled", "shipped"]
