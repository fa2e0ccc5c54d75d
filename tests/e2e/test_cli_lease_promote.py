"""The CLI of leases and environments: lock, unlock, promote, rollback, log --all-envs.

Exit codes (ARCHITECTURE.md §5): 0 ok, 1 error, 2 usage, 5 locked; errors are one
line on stderr, never a traceback.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from statesync.api import Store
from statesync.cli.commands import parse_duration
from statesync.errors import UsageError
from statesync.sync.store import layout
from statesync.sync.store import leases as lease
from statesync.whoami import user_at_host
from tests.e2e.test_cli import assert_one_line_error, run
from tests.helpers import write


@pytest.fixture
def store(tmp_path: Path) -> str:
    url = (tmp_path / "store").as_uri()
    assert run("--store", url, "init").returncode == 0
    return url


@pytest.fixture
def pushed(store: str, tmp_path: Path) -> str:
    src = tmp_path / "src"
    write(src, "state.json", {"replicas": 1})
    assert run("--store", store, "push", str(src), "--env", "dev").returncode == 0
    write(src, "state.json", {"replicas": 2})
    assert run("--store", store, "push", str(src), "--env", "dev").returncode == 0
    return store


def jrun(store: str, *args: str, cwd: Path | None = None) -> dict[str, object]:
    proc = run("--store", store, "--json", *args, cwd=cwd)
    assert proc.returncode == 0, proc.stderr
    out: dict[str, object] = json.loads(proc.stdout)
    return out


def lock_on_disk(store: str, env: str = "prod") -> dict[str, object] | None:
    path = Path(store.removeprefix("file://")) / layout.lock_key(env)
    doc: dict[str, object] | None = json.loads(path.read_text()) if path.exists() else None
    return doc


@pytest.mark.parametrize(
    ("text", "seconds"), [("30s", 30), ("10m", 600), ("2h", 7200), ("1d", 86400), ("45", 45)]
)
def test_durations(text: str, seconds: int) -> None:
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("text", ["", "m", "10x", "-5m", "1.5h", "0s", "ten", "5 m", "٣m"])
def test_garbage_durations_are_usage_errors(text: str) -> None:
    with pytest.raises(UsageError):
        parse_duration(text)


# --- lock / unlock ---------------------------------------------------------------------


def test_lock_prints_id_holder_and_expiry_and_a_second_lock_exits_5(store: str) -> None:
    human = run("--store", store, "lock", "prod", "--ttl", "10m", "--purpose", "db migration")
    assert human.returncode == 0, human.stderr
    assert "locked prod by" in human.stdout and "expires" in human.stdout
    assert "lock id " in human.stdout and "'db migration'" in human.stdout
    on_disk = lock_on_disk(store)
    assert on_disk is not None and str(on_disk["lock_id"]) in human.stdout
    again = run("--store", store, "lock", "prod")
    assert_one_line_error(again, 5, "locked by")
    assert "'db migration'" in again.stderr and "expires" in again.stderr
    assert lock_on_disk(store) == on_disk


def test_lock_json_fields(store: str) -> None:
    out = jrun(store, "lock", "prod", "--ttl", "30s")
    for field in ("lock_id", "holder", "expires_at", "ttl_seconds", "purpose", "env"):
        assert field in out
    assert out["ttl_seconds"] == 30 and out["holder"] == user_at_host()


def test_unlock_with_the_wrong_id_exits_5_and_keeps_the_lock(store: str) -> None:
    lock_id = str(jrun(store, "lock", "prod")["lock_id"])
    wrong = run("--store", store, "unlock", "prod", "0" * 32)
    assert_one_line_error(wrong, 5, f"lock id {lock_id}")
    assert lock_on_disk(store) is not None
    done = run("--store", store, "--json", "unlock", "prod", lock_id)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["released"] is True
    assert lock_on_disk(store) is None
    assert_one_line_error(run("--store", store, "unlock", "prod", lock_id), 1, "not locked")


def test_unlock_of_someone_elses_lock_needs_force_and_the_right_id(
    store: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    with monkeypatch.context() as m:
        m.setattr(lease, "user_at_host", lambda: "alice@elsewhere")
        theirs = Store.open(store).lock("prod", 600, "alice's job")
    assert_one_line_error(run("--store", store, "unlock", "prod", theirs.lock_id), 5, "--force")
    assert_one_line_error(
        run("--store", store, "unlock", "prod", "1" * 32, "--force"), 5, "alice@elsewhere"
    )
    assert lock_on_disk(store) is not None
    forced = run("--store", store, "unlock", "prod", theirs.lock_id, "--force")
    assert forced.returncode == 0, forced.stderr
    assert "alice@elsewhere" in forced.stdout and lock_on_disk(store) is None


@pytest.mark.parametrize("ttl", ["10x", "0s", "-1m", "400d"])
def test_lock_with_a_bad_ttl_exits_2(store: str, ttl: str) -> None:
    assert_one_line_error(run("--store", store, "lock", "prod", f"--ttl={ttl}"), 2, "")
    assert lock_on_disk(store) is None


def test_lock_with_a_bad_environment_name_exits_2(store: str) -> None:
    assert_one_line_error(run("--store", store, "lock", "../etc"), 2, "invalid environment")


# --- promote / rollback / log --all-envs ---------------------------------------------------


def test_promote_rollback_and_log_all_envs(pushed: str, tmp_path: Path) -> None:
    human = run("--store", pushed, "promote", "dev", "prod", "-m", "ship it")
    assert human.returncode == 0, human.stderr
    assert human.stdout.startswith("promoted dev (") and "serial 1" in human.stdout
    log = jrun(pushed, "log", "--all-envs")["envs"]
    assert isinstance(log, dict) and sorted(log) == ["dev", "prod"]
    dev_first = log["dev"][1]["snapshot"]
    assert log["prod"][0]["tags"]["promoted_from"] == "dev"
    assert log["prod"][0]["message"] == "ship it"
    text = run("--store", pushed, "log", "--all-envs").stdout
    assert "== dev" in text and "== prod" in text and "promoted_from=dev" in text

    back = jrun(pushed, "rollback", "dev", dev_first[:8], "-m", "undo")
    assert back["serial"] == 3 and back["rollback_to"] == dev_first and back["changed"]
    again = run("--store", pushed, "rollback", "dev", dev_first[:8])
    assert again.returncode == 0 and "nothing to do" in again.stdout
    out = tmp_path / "out"
    assert run("--store", pushed, "pull", str(out), "--env", "dev").returncode == 0
    assert json.loads((out / "state.json").read_text()) == {"replicas": 1}


def test_promote_refusals_exit_1_with_one_line(pushed: str, tmp_path: Path) -> None:
    (tmp_path / "statesync.toml").write_text('[promotion]\nallowed = ["dev->staging"]\n')
    before = sorted(p.name for p in (Path(pushed.removeprefix("file://")) / "refs").iterdir())
    forbidden = run("--store", pushed, "promote", "dev", "prod", cwd=tmp_path)
    assert_one_line_error(forbidden, 1, "not allowed")
    missing = run("--store", pushed, "promote", "nope", "staging")  # no rule here
    assert_one_line_error(missing, 1, "'nope' does not exist")
    after = sorted(p.name for p in (Path(pushed.removeprefix("file://")) / "refs").iterdir())
    assert before == after == ["dev"]
    assert run("--store", pushed, "promote", "dev", "staging", cwd=tmp_path).returncode == 0


def test_promote_into_a_locked_environment_exits_5(pushed: str) -> None:
    jrun(pushed, "lock", "prod", "--purpose", "freeze")
    assert_one_line_error(run("--store", pushed, "promote", "dev", "prod"), 5, "freeze")


def test_rollback_errors(pushed: str) -> None:
    assert_one_line_error(run("--store", pushed, "rollback", "prod", "abcd"), 1, "does not exist")
    assert_one_line_error(run("--store", pushed, "rollback", "dev", "zz"), 2, "not a snapshot id")
    assert_one_line_error(
        run("--store", pushed, "rollback", "dev", "abcdef"), 2, "at least 8 hex digits"
    )  # short prefixes collide (issue 19)
    assert_one_line_error(run("--store", pushed, "rollback", "dev", "abcdef12"), 1, "no snapshot")
