"""``statesync gc`` and ``gc policy`` as a user runs them: real processes, a real store."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from statesync.api import Store
from statesync.sync.store import layout
from statesync.sync.store import leases as lease_mod
from tests.e2e.test_cli import assert_one_line_error, run
from tests.helpers import write


@pytest.fixture
def store(tmp_path: Path) -> str:
    url = (tmp_path / "store").as_uri()
    folder = tmp_path / "src"
    with Store.init(url) as s:  # the history is set up in-process; gc runs as the CLI
        for i in range(3):
            write(folder, "state.json", {"rev": i, "pad": "x" * 5000 + str(i)})
            s.push(folder, "dev", message=f"rev {i}")
    return url


def _listing(tmp_path: Path) -> list[tuple[str, int]]:
    root = tmp_path / "store"
    return sorted(
        (str(p.relative_to(root)), p.stat().st_mtime_ns) for p in root.rglob("*") if p.is_file()
    )


def test_dry_run_then_gc_then_log_shows_the_cut(store: str, tmp_path: Path) -> None:
    before = _listing(tmp_path)
    plan = run("--store", store, "--json", "gc", "--keep-last", "1", "--dry-run")
    assert plan.returncode == 0, plan.stderr
    doc = json.loads(plan.stdout)
    assert doc["dry_run"] and len(doc["snapshots_removed"]) == 2 and doc["freed_bytes"] > 0
    assert _listing(tmp_path) == before
    done = run("--store", store, "gc", "--keep-last", "1", "--grace", "0")
    assert done.returncode == 0, done.stderr
    assert "dev: keep 1, removed 2 snapshot(s)" in done.stdout and "freed" in done.stdout
    log = run("--store", store, "log", "--env", "dev")
    assert log.returncode == 0 and "(history before this was removed by gc)" in log.stdout
    assert "rev 2" in log.stdout and "rev 1" not in log.stdout
    assert run("--store", store, "verify", "--read-data").returncode == 0


def test_policy_set_show_and_gc_applies_it(store: str) -> None:
    assert (
        run(
            "--store",
            store,
            "gc",
            "policy",
            "set",
            "--env",
            "dev",
            "--keep-last",
            "2",
            "--keep-within",
            "1d12h",
        ).returncode
        == 0
    )
    shown = json.loads(
        run("--store", store, "--json", "gc", "policy", "show", "--env", "dev").stdout
    )
    assert shown["policy"] == {"keep_last": 2, "keep_within": 36 * 3600}
    doc = json.loads(run("--store", store, "--json", "gc", "--grace", "0").stdout)
    assert doc["envs"][0]["policy"] == shown["policy"]
    assert run("--store", store, "gc", "policy", "clear", "--env", "dev").returncode == 0
    cleared = json.loads(
        run("--store", store, "--json", "gc", "policy", "show", "--env", "dev").stdout
    )
    assert cleared["policy"] is None


def test_another_gc_holding_the_lease_is_exit_5(store: str) -> None:
    with Store.open(store) as s:
        held = lease_mod.acquire(s.repo, layout.GC_LEASE, 60, "gc")
        try:
            proc = run("--store", store, "gc", "--grace", "0")
            assert_one_line_error(proc, 5, "locked")
        finally:
            held.release()


@pytest.mark.parametrize(
    "args", [["--keep-within", "3x"], ["--keep-last", "-1"], ["policy", "set", "--env", "dev"]]
)
def test_bad_flags_are_usage_errors(store: str, args: list[str]) -> None:
    assert_one_line_error(run("--store", store, "gc", *args), 2, "")
