"""Through the CLI: a malformed lease is exit 4 in one line; its owner recovers with --force."""

from __future__ import annotations

import json
from pathlib import Path

from tests.e2e.test_cli import assert_one_line_error, run
from tests.helpers import write


def test_a_malformed_lease_is_exit_4_and_lock_force_recovers(tmp_path: Path) -> None:
    url = (tmp_path / "store").as_uri()
    src = tmp_path / "src"
    write(src, "app.json", {"v": 1})
    assert run("--store", url, "init").returncode == 0
    assert run("--store", url, "push", str(src), "--env", "dev").returncode == 0
    (tmp_path / "store" / "locks").mkdir(exist_ok=True)
    (tmp_path / "store" / "locks" / "dev").write_bytes(b'{"lock_id": 7}')
    assert_one_line_error(run("--store", url, "lock", "dev"), 4, "locks/dev: malformed field")
    write(src, "app.json", {"v": 2})
    assert_one_line_error(run("--store", url, "push", str(src), "--env", "dev"), 4, "locks/dev")
    listed = json.loads(run("--store", url, "--json", "locks").stdout)["locks"]
    assert [lk["env"] for lk in listed] == ["dev"] and "lock_id" in listed[0]["malformed"]
    ignored = run("--store", url, "push", str(src), "--env", "dev", "--ignore-lock")
    assert ignored.returncode == 0, ignored.stderr
    taken = run("--store", url, "--json", "lock", "dev", "--force")
    assert taken.returncode == 0, taken.stderr
    lock_id = json.loads(taken.stdout)["lock_id"]
    assert run("--store", url, "unlock", "dev", lock_id).returncode == 0
    write(src, "app.json", {"v": 3})
    assert run("--store", url, "push", str(src), "--env", "dev").returncode == 0
