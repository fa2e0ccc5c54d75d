"""StatesyncSaver beyond the conformance suite: concurrent writers, encryption, damage."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from langgraph.checkpoint.base import empty_checkpoint
from langgraph.checkpoint.base.id import uuid6

from statesync.api import Store
from statesync.errors import IntegrityError, KeyFailure
from statesync.integrations.langgraph import StatesyncSaver
from tests.helpers import store_bytes
from tests.integrations import lg_agent
from tests.leakscan import planted

PASSPHRASE = "correct horse battery staple"


@pytest.fixture
def store_url(any_store_url: str) -> str:
    Store.init(any_store_url).close()
    return any_store_url


def checkpoint(values: dict[str, Any]) -> Any:
    cp = empty_checkpoint()
    cp["id"] = str(uuid6(clock_seq=-1))
    cp["channel_values"] = dict(values)
    cp["channel_versions"] = {k: 1 for k in values}
    return cp


def conf(thread: str, ns: str = "") -> dict[str, Any]:
    return {"configurable": {"thread_id": thread, "checkpoint_ns": ns}}


def test_a_writer_with_a_stale_head_loses_no_other_namespace(store_url: str) -> None:
    with StatesyncSaver.open(store_url) as a, StatesyncSaver.open(store_url) as b:
        a.put(conf("t"), checkpoint({"x": 1}), {"step": 0}, {})
        b_cfg = b.put(conf("t", "child"), checkpoint({"y": 2}), {"step": 0}, {})
        a_cfg = a.put(conf("t"), checkpoint({"x": 3}), {"step": 1}, {})  # a's head is stale
        for ns, expected in (("", a_cfg), ("child", b_cfg)):
            tup = a.get_tuple(conf("t", ns))
            assert tup is not None and tup.config == expected


def test_two_processes_writing_one_thread_keep_every_checkpoint(
    process_store_url: str, tmp_path: Path
) -> None:
    store_url = process_store_url
    Store.init(store_url).close()
    n = 10
    procs = [
        subprocess.Popen(
            [
                sys.executable,
                str(Path(lg_agent.__file__)),
                store_url,
                "shared thread",
                "churn",
                ns,
                str(n),
            ],
            env={**os.environ, "HOME": str(tmp_path / ns)},
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for ns in ("alpha", "beta")
    ]
    outs = [p.communicate(timeout=180) for p in procs]
    assert all(p.returncode == 0 for p in procs), [err for _, err in outs]
    ids = {ns: json.loads(out)["ids"] for ns, (out, _) in zip(("alpha", "beta"), outs, strict=True)}
    with StatesyncSaver.open(store_url) as saver:
        listed = list(saver.list({"configurable": {"thread_id": "shared thread"}}))
        assert sorted(t.checkpoint["id"] for t in listed) == sorted(ids["alpha"] + ids["beta"])
        for ns, written in ids.items():
            latest = saver.get_tuple(conf("shared thread", ns))
            assert latest is not None and latest.checkpoint["id"] == written[-1]
            assert latest.pending_writes == [(f"{ns}-task", "n", n - 1)]


def test_put_writes_repeated_by_a_task_is_not_doubled(tmp_path: Path) -> None:
    saver = StatesyncSaver.open((tmp_path / "s").as_uri(), create=True)
    cfg = saver.put(conf("w"), checkpoint({}), {}, {})
    saver.put_writes(cfg, [("a", 1), ("b", 2)], task_id="t1")
    saver.put_writes(cfg, [("a", 10), ("b", 20)], task_id="t1")  # a retried task: kept first
    saver.put_writes(cfg, [("__error__", "boom")], task_id="t1")
    saver.put_writes(cfg, [("__error__", "again")], task_id="t1")  # special writes replace
    tup = saver.get_tuple(cfg)
    assert tup is not None
    assert sorted(tup.pending_writes or []) == [
        ("t1", "__error__", "again"),
        ("t1", "a", 1),
        ("t1", "b", 2),
    ]
    prefix = "langgraph/threads/"
    assert sum(1 for m in saver.threads.backend.list(prefix) if "/w/" in m.key) == 1
    saver.close()


def test_encrypted_checkpoints_leave_no_plaintext_in_the_store(
    store_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("STATESYNC_PASSPHRASE", PASSPHRASE)
    secret, thread = planted("langgraph-state"), "customer-" + planted("thread-name")
    with Store.open(store_url) as store:
        store.keys().init("langgraph", ["passphrase"])  # as `statesync keys init langgraph`
    with StatesyncSaver.open(store_url, encrypt=True) as saver:
        cfg = saver.put(conf(thread), checkpoint({"token": secret}), {"note": secret}, {})
        saver.put_writes(cfg, [("token", secret)], task_id="t")
        raw = store_bytes(saver.threads.backend)
        assert planted("langgraph-state").encode() not in raw
        assert planted("thread-name").encode() not in raw
    with StatesyncSaver.open(store_url) as plain:  # encryption stays on for the thread
        cfg2 = plain.put(cfg, checkpoint({"token": secret + "2"}), {}, {})
        got = plain.get_tuple(cfg2)
        assert got is not None and got.checkpoint["channel_values"] == {"token": secret + "2"}
        assert secret.encode() not in store_bytes(plain.threads.backend)
    monkeypatch.delenv("STATESYNC_PASSPHRASE")
    with StatesyncSaver.open(store_url) as keyless, pytest.raises(KeyFailure):
        keyless.get_tuple(conf(thread))


def test_a_damaged_checkpoint_is_an_integrity_error(tmp_path: Path) -> None:
    url = (tmp_path / "store").as_uri()
    with StatesyncSaver.open(url, create=True) as saver:
        cfg = saver.put(conf("d"), checkpoint({"v": "x" * 100}), {}, {})
        key = next(m.key for m in saver.threads.backend.list("langgraph/") if "/c/" in m.key)
        path = tmp_path / "store" / key
        data = bytearray(path.read_bytes())
        data[-5] ^= 1
        path.write_bytes(bytes(data))
        with pytest.raises(IntegrityError, match="damaged"):
            saver.get_tuple(cfg)


def test_a_checkpoint_moved_to_another_id_is_refused(tmp_path: Path) -> None:
    url = (tmp_path / "store").as_uri()
    with StatesyncSaver.open(url, create=True) as saver:
        first = saver.put(conf("m"), checkpoint({"v": 1}), {}, {})
        second = saver.put(first, checkpoint({"v": 2}), {}, {})
        keys = sorted(m.key for m in saver.threads.backend.list("langgraph/") if "/c/" in m.key)
        older = (tmp_path / "store" / keys[0]).read_bytes()
        (tmp_path / "store" / keys[1]).write_bytes(older)  # the store swaps in another one
        with pytest.raises(IntegrityError, match="another checkpoint"):
            saver.get_tuple(second)


def test_a_head_naming_a_lost_checkpoint_falls_back_to_the_newest_present(tmp_path: Path) -> None:
    url = (tmp_path / "store").as_uri()
    with StatesyncSaver.open(url, create=True) as saver:
        first = saver.put(conf("crash"), checkpoint({"v": 1}), {}, {})
        second = saver.put(first, checkpoint({"v": 2}), {}, {})
        lost = second["configurable"]["checkpoint_id"]
        key = next(
            m.key
            for m in saver.threads.backend.list("langgraph/")
            if m.key.endswith("/c/" + lost.encode().hex())
        )
        saver.threads.backend.delete(key)  # as if the put died after moving the head
        latest = saver.get_tuple(conf("crash"))
        assert latest is not None and latest.config == first
        assert saver.get_tuple(second) is None
