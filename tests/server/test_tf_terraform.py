"""The real ``terraform`` (1.0.3) against ``statesync serve``: the http backend end to end.

Every state Terraform writes becomes a snapshot of ``terraform.tfstate``;
``statesync log``/``pull`` show and restore each one byte for byte; locks
behave as Terraform expects (its own "Error acquiring the state lock", a
killed apply's lock cleared by ``force-unlock`` with an admin token only);
the sensitive output is sealed in the store.
"""

from __future__ import annotations

import json
import signal
import urllib.request
from pathlib import Path

import pytest

from statesync.api import Store
from statesync.backends import open_backend
from statesync.server import tokens as tokens_mod
from tests import leakrecord
from tests.helpers import store_bytes
from tests.leakscan import MARKER, planted
from tests.rigs import RIGS
from tests.server.serving import (
    PASSPHRASE,
    Server,
    Workdir,
    add_token,
    cli,
    make_store,
    ok,
    serving,
    wait_for,
    workdir,
)


def get_state(server: Server, env: str, token: str) -> bytes:
    req = urllib.request.Request(server.tf(env), headers={"Authorization": f"Bearer {token}"})
    leakrecord.plant(token)
    with urllib.request.urlopen(req, timeout=30) as resp:
        body: bytes = resp.read()
        path = f"/tf/{env}"
        leakrecord.record_http("GET", path, resp.status, dict(resp.headers), body, payload=True)
        return body


def history(store: str, env: str) -> list[dict[str, object]]:
    doc = json.loads(ok(cli("--store", store, "--json", "log", "--env", env, "--limit", "100")))
    entries: list[dict[str, object]] = doc["snapshots"]
    return entries


def assert_pulls_reproduce(
    store: str,
    env: str,
    states: dict[int, bytes],
    tmp: Path,
    monkeypatch: pytest.MonkeyPatch,
    *,
    with_cli: bool = True,
) -> None:
    """One snapshot per state written, newest first; each pulls back byte for byte.

    ``statesync log`` and ``statesync pull`` of the head through the CLI
    (``with_cli``), every snapshot through the API's pull (one process: the
    passphrase is stretched once).
    """
    monkeypatch.setenv("STATESYNC_PASSPHRASE", PASSPHRASE)
    if with_cli:
        ids = [str(e["snapshot"]) for e in history(store, env)]
        head = tmp / "pull-head"
        ok(cli("--store", store, "pull", str(head), "--env", env))
        assert (head / "terraform.tfstate").read_bytes() == states[max(states)]
    with Store.open(store) as opened:
        if not with_cli:
            ids = [e.snapshot for e in opened.log(env, limit=100)]
        pulled = []
        for snap in ids:
            out = tmp / f"pull-{snap}"
            opened.pull(out, snapshot=snap)
            pulled.append((out / "terraform.tfstate").read_bytes())
    assert [int(json.loads(p)["serial"]) for p in pulled] == sorted(states, reverse=True)
    assert pulled == [states[n] for n in sorted(states, reverse=True)]


def assert_no_clear_secret(store: str) -> None:
    backend = open_backend(store)
    try:
        assert MARKER.encode() not in store_bytes(backend)
    finally:
        backend.close()


def test_terraform_full_cycle_on_the_local_store(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = (tmp_path / "store").as_uri()
    make_store(store, "prod")
    tokens = tmp_path / "tokens.json"
    admin = add_token(tokens, "ops", "prod=admin")
    writer = add_token(tokens, "ci", "prod=write")
    secret = planted("tf-db-password")
    with serving(store, tokens) as server:
        ci = workdir(tmp_path / "ci", server.tf("prod"), "ci", writer, secret)
        ops = workdir(tmp_path / "ops", server.tf("prod"), "ops", admin, secret)
        states: dict[int, bytes] = {}

        def record() -> bytes:
            body = get_state(server, "prod", admin)
            states[int(json.loads(body)["serial"])] = body
            return body

        for n in (1, 2, 3):
            proc = ci.apply(n)
            assert proc.returncode == 0, proc.stdout + proc.stderr
            last = record()
        plan = ci.run("plan", "-input=false", "-no-color", "-var=n=3", "-detailed-exitcode")
        assert plan.returncode == 0, plan.stdout + plan.stderr  # no changes
        pulled = ci.run("state", "pull")
        assert pulled.returncode == 0
        assert pulled.stdout.encode().rstrip(b"\n") == last.rstrip(b"\n")
        assert json.loads(pulled.stdout)["outputs"]["db_password"]["value"] == secret

        # state push: a state with the same lineage and the next serial
        doc = json.loads(pulled.stdout)
        doc["serial"] += 1
        doc["outputs"]["n"]["value"] = 40
        (tmp_path / "pushed.tfstate").write_text(json.dumps(doc, indent=2) + "\n")
        proc = ci.run("state", "push", str(tmp_path / "pushed.tfstate"))
        assert proc.returncode == 0, proc.stdout + proc.stderr
        assert json.loads(record())["outputs"]["n"]["value"] == 40

        # two applies at once: the first holds the lock (waiting for "yes"),
        # the second fails with Terraform's own message; the first then succeeds.
        first = ci.popen("apply", "-no-color", "-var=n=5", "-lock-timeout=0s")
        wait_for(first, "Enter a value:")
        second = ops.apply(6)
        assert second.returncode == 1
        assert "Error acquiring the state lock" in second.stdout + second.stderr
        out, _ = first.communicate("yes\n", timeout=120)
        assert first.returncode == 0, out
        assert json.loads(record())["outputs"]["n"]["value"] == 5

        # an apply killed while it holds the lock leaves it behind
        killed = ci.popen("apply", "-no-color", "-var=n=7", "-lock-timeout=0s")
        wait_for(killed, "Enter a value:")
        killed.send_signal(signal.SIGKILL)
        killed.wait(timeout=30)
        blocked = ci.apply(8)
        assert "Error acquiring the state lock" in blocked.stdout + blocked.stderr
        lock_id = json.loads(ok(cli("--store", store, "--json", "locks")))["locks"][0]
        tf_lock = json.loads(lock_id["purpose"].removeprefix("terraform-lock "))
        refused = ci.run("force-unlock", "-force", "-no-color", tf_lock["ID"])
        assert refused.returncode != 0 and "403" in refused.stdout + refused.stderr
        cleared = ops.run("force-unlock", "-force", "-no-color", tf_lock["ID"])
        assert cleared.returncode == 0, cleared.stdout + cleared.stderr
        proc = ci.apply(9)
        assert proc.returncode == 0, proc.stdout + proc.stderr
        record()

        # a wrong password: Terraform reports the 401
        intruder = Workdir(ci.path, ci.binary, ci.env)
        bad = intruder.run(
            "init",
            "-input=false",
            "-no-color",
            "-reconfigure",
            f"-backend-config=address={server.tf('prod')}",
            "-backend-config=username=ci",
            "-backend-config=password=wrong",
        )
        assert bad.returncode != 0 and "requires auth" in bad.stdout + bad.stderr
    assert_pulls_reproduce(store, "prod", states, tmp_path, monkeypatch)
    assert_no_clear_secret(store)
    assert all(writer not in line and admin not in line for line in server.log)


@pytest.mark.cloud
@pytest.mark.parametrize("rig", ["s3", "azure", "gcs"])
def test_terraform_applies_on_each_cloud_store(
    rig: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = RIGS[rig](tmp_path)
    if store is None:
        pytest.skip(f"{rig} emulator not started (run scripts/test.sh)")
    make_store(store, "prod")
    tokens = tmp_path / "tokens.json"
    token = tokens_mod.add(tokens, "ci", [tokens_mod.Grant.parse("prod=write")])
    secret = planted(f"tf-{rig}")
    with serving(store, tokens) as server:
        ci = workdir(tmp_path / "ci", server.tf("prod"), "ci", token, secret)
        states: dict[int, bytes] = {}
        for n in (1, 2):
            proc = ci.apply(n)
            assert proc.returncode == 0, proc.stdout + proc.stderr
            body = get_state(server, "prod", token)
            states[int(json.loads(body)["serial"])] = body
        pulled = ci.run("state", "pull")
        assert json.loads(pulled.stdout)["outputs"]["db_password"]["value"] == secret
    assert_pulls_reproduce(store, "prod", states, tmp_path, monkeypatch, with_cli=False)
    assert_no_clear_secret(store)
