"""The service inside an application: start, on_event, save_now, stop (API, no CLI)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from statesync import api
from statesync.cli import main
from statesync.service import Event, Service, WatchOptions, watch
from tests.helpers import child_output, write
from tests.service.watchproc import wait_until


def test_embedded_service_saves_now_and_reports_every_event(
    any_store_url: str, tmp_path: Path
) -> None:
    api.Store.init(any_store_url).close()
    folder = tmp_path / "agent"
    write(folder, "task.json", {"step": 0})
    events: list[Event] = []
    svc = watch(
        folder,
        "agents",
        store=any_store_url,
        settle=30,
        interval=120,
        poll=any_store_url.startswith("memory://"),
    )
    svc.on_event = events.append
    try:
        svc.start()
        wait_until(lambda: any(e.kind == "push" for e in events), 30, "the first push")
        write(folder, "task.json", {"step": 1, "done": True})
        saved = svc.save_now(timeout=60)  # "persist on task completion": no 30 s settle
        assert saved is not None and saved.kind == "push" and saved.serial == 2
    finally:
        assert svc.stop(timeout=60)
    kinds = [e.kind for e in events]
    assert kinds[0] == "start" and kinds[-1] == "stop" and kinds.count("push") == 2
    with api.Store.open(any_store_url) as store:
        store.pull(tmp_path / "check", "agents")
    assert json.loads((tmp_path / "check" / "task.json").read_text()) == {"step": 1, "done": True}


def test_hooks_get_the_event_as_json_on_stdin(tmp_path: Path) -> None:
    url = (tmp_path / "store").as_uri()
    api.Store.init(url).close()
    folder = tmp_path / "app"
    write(folder, "state.json", {"n": 0})
    out = tmp_path / "hook.json"
    script = "import sys; open(sys.argv[1], 'w').write(sys.stdin.read())"
    hook = f'{sys.executable} -c "{script}" {out}'
    opts = WatchOptions(env="dev", store=url, settle=0.1, interval=10, hooks=(("push", hook),))
    with Service(folder, opts):
        wait_until(out.exists, 30, "the push hook")
    event = json.loads(out.read_text())
    assert event["kind"] == "push" and event["env"] == "dev" and event["serial"] == 1


def test_bad_options_are_usage_errors(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    for args in (
        ["--on-conflict", "merge"],
        ["--metrics", "0.0.0.0:9464"],
        ["--settle", "40s", "--interval", "30s"],
        ["--exec-on", "boot", "true"],
        ["--interval", "soon"],
    ):
        code = main(["--store", str(tmp_path / "s"), "watch", str(tmp_path), *args])
        err = capsys.readouterr().err
        assert code == 2, (args, err)
        assert err.startswith("statesync: error: ") and "Traceback" not in err
        assert len(err.strip().splitlines()) == 1
    code = main(["--store", "bogus://x", "-q", "watch", str(tmp_path)])  # no retry helps
    assert code == 2 and "unknown store URL scheme" in capsys.readouterr().err


def test_api_and_help_import_no_service_dependencies() -> None:
    code = (
        "import sys, statesync.api, statesync.cli, statesync.service;"
        "import contextlib, io\n"
        "with contextlib.redirect_stdout(io.StringIO()), contextlib.suppress(SystemExit):\n"
        "    statesync.cli.main(['--help'])\n"
        "bad = [m for m in ('watchdog', 'prometheus_client') if m in sys.modules]\n"
        "print(bad)"
    )
    assert child_output(code) == "[]"
