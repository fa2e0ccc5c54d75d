"""The lease holder is who the system says, not what the environment claims (issue 19).

``unlock`` without ``--force`` removes only this user's lease taken on this
machine: the user comes from the process's uid (not ``LOGNAME``/``USER``),
and the machine from a random id kept 0600 in the user's state folder, of
which the lock records only a hash.
"""

from __future__ import annotations

import json
import os
import pwd
import stat
from pathlib import Path

import pytest

from tests.e2e.test_cli import assert_one_line_error, run

ME = pwd.getpwuid(os.getuid()).pw_name


@pytest.fixture(params=["local", "s3"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    from tests.rigs import RIGS

    url = RIGS[request.param](tmp_path) if request.param in RIGS else None
    if url is None:
        pytest.skip(f"{request.param} emulator not started")
    assert run("--store", url, "init").returncode == 0
    return url


def lock(store: str, env: dict[str, str]) -> dict[str, object]:
    proc = run("--store", store, "--json", "lock", "dev", env=env)
    assert proc.returncode == 0, proc.stderr
    out: dict[str, object] = json.loads(proc.stdout)
    return out


def test_the_holder_is_the_uids_name_not_logname(store: str, tmp_path: Path) -> None:
    held = lock(
        store, {"LOGNAME": "victim", "USER": "victim", "XDG_STATE_HOME": str(tmp_path / "v")}
    )
    assert held["holder"] == f"{ME}@{os.uname().nodename}"


def test_logname_does_not_make_another_users_lease_ours(store: str, tmp_path: Path) -> None:
    """Another user of this host holds the lease; setting LOGNAME to their name is not them."""
    from statesync.api import Store
    from statesync.sync.store import layout

    held = lock(store, {"XDG_STATE_HOME": str(tmp_path / "victim")})
    with Store.open(store) as opened:  # the victim's lock, as their process would write it
        backend = opened.repo.backend
        doc = json.loads(backend.get(layout.lock_key("dev"))[0])
        doc["holder"] = f"victim@{os.uname().nodename}"
        from statesync.backends.base import OVERWRITE

        backend.put(layout.lock_key("dev"), json.dumps(doc).encode(), OVERWRITE)
    attacker = {"LOGNAME": "victim", "USER": "victim", "XDG_STATE_HOME": str(tmp_path / "a")}
    assert_one_line_error(
        run("--store", store, "unlock", "dev", str(held["lock_id"]), env=attacker),
        5,
        "unlock --force",
    )


def test_another_machine_of_the_same_user_and_host_needs_force(store: str, tmp_path: Path) -> None:
    here = {"XDG_STATE_HOME": str(tmp_path / "here")}
    there = {"XDG_STATE_HOME": str(tmp_path / "there")}
    held = lock(store, here)
    machine_id = tmp_path / "here" / "statesync" / "machine-id"
    assert stat.S_IMODE(machine_id.stat().st_mode) == 0o600
    secret = machine_id.read_text().strip()
    assert secret not in json.dumps(held)  # only a hash of it leaves the machine
    assert_one_line_error(
        run("--store", store, "unlock", "dev", str(held["lock_id"]), env=there), 5, "unlock --force"
    )
    assert run("--store", store, "unlock", "dev", str(held["lock_id"]), env=here).returncode == 0


def test_a_lock_naming_us_by_name_only_is_not_ours(store: str, tmp_path: Path) -> None:
    """A store writer (or an old lock) claiming our user@host without our machine id."""
    held = lock(store, {"XDG_STATE_HOME": str(tmp_path / "a")})
    spoof = {"LOGNAME": ME, "USER": ME, "XDG_STATE_HOME": str(tmp_path / "b")}
    assert_one_line_error(
        run("--store", store, "unlock", "dev", str(held["lock_id"]), env=spoof), 5, "unlock --force"
    )
    assert (
        run(
            "--store", store, "unlock", "dev", str(held["lock_id"]), "--force", env=spoof
        ).returncode
        == 0
    )
