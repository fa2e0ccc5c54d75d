"""StatesyncSaver beyond the conformance suite: concurrent writers, encryption, damage."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from statesync.api import Store
from statesync.crypto import signing
from statesync.errors import IntegrityError, KeyFailure
from statesync.integrations.langgraph import StatesyncSaver, frame
from statesync.sync.store import layout
from tests.helpers import store_bytes
from tests.integrations import lg_agent
from tests.integrations.lgtools import checkpoint, conf
from tests.leakscan import planted

PASSPHRASE = "correct horse battery staple"


@pytest.fixture
def store_url(any_store_url: str) -> str:
    Store.init(any_store_url).close()
    return any_store_url


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
    saver = StatesyncSaver.open((tmp_path / "s").as_uri(), log=False, create=True)
    cfg = saver.put(conf("w"), checkpoint({}), {}, {})
    saver.put_writes(cfg, [("a", 1), ("b", 2)], task_id="t1")
    saver.put_writes(cfg, [("a", 10), ("b", 20)], task_id="t1")  # a retried task: kept first
    saver.put_writes(cfg, [("__error__", "boom")], task_id="t1")
    saver.put_writes(cfg, [("__error__", "again")], task_id="t1")  # special writes replace
    saver.put_writes(cfg, [("a", 3)], task_id="t2")
    tup = saver.get_tuple(cfg)
    assert tup is not None
    assert sorted(tup.pending_writes or []) == [
        ("t1", "__error__", "again"),
        ("t1", "a", 1),
        ("t1", "b", 2),
        ("t2", "a", 3),
    ]
    prefix = "langgraph/threads/"
    assert sum(1 for m in saver.threads.backend.list(prefix) if "/w/" in m.key) == 1
    saver.close()


def test_concurrent_put_writes_of_one_checkpoint_all_land(tmp_path: Path) -> None:
    with StatesyncSaver.open((tmp_path / "s").as_uri(), create=True) as saver:
        cfg = saver.put(conf("fan"), checkpoint({}), {}, {})
        with ThreadPoolExecutor(8) as pool:
            list(pool.map(lambda i: saver.put_writes(cfg, [("n", i)], f"task-{i}"), range(40)))
        with StatesyncSaver.open((tmp_path / "s").as_uri()) as other:  # nothing cached
            tup = other.get_tuple(cfg)
        assert tup is not None
        assert sorted(tup.pending_writes or []) == sorted((f"task-{i}", "n", i) for i in range(40))


def test_checkpoint_objects_are_named_by_the_hash_of_their_bytes(tmp_path: Path) -> None:
    with StatesyncSaver.open((tmp_path / "s").as_uri(), log=False, create=True) as saver:
        saver.put(conf("h"), checkpoint({"v": 1}), {}, {})
        saver.put(conf("h", "child"), checkpoint({"v": 2}), {}, {})
        keys = [m.key for m in saver.threads.backend.list("langgraph/") if "/c/" in m.key]
        assert len(keys) == 2
        for key in keys:
            data, _ = saver.threads.backend.get(key)
            assert key.rsplit(".", 1)[1] == hashlib.sha256(data).hexdigest()


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


def _objects(saver: StatesyncSaver, part: str) -> list[str]:
    return sorted(m.key for m in saver.threads.backend.list("langgraph/") if part in m.key)


def _flip(path: Path, at: int = -5) -> None:
    data = bytearray(path.read_bytes())
    data[at] ^= 1
    path.write_bytes(bytes(data))


@pytest.mark.parametrize("at", [-5, 40])  # in the payload; in the header's digest
def test_a_flipped_byte_in_a_checkpoint_is_refused_on_read(tmp_path: Path, at: int) -> None:
    url = (tmp_path / "store").as_uri()
    with StatesyncSaver.open(url, log=False, create=True) as saver:
        cfg = saver.put(conf("d"), checkpoint({"v": "x" * 100}), {}, {})
    _flip(tmp_path / "store" / _objects(saver, "/c/")[0], at)
    with StatesyncSaver.open(url, log=False) as fresh:  # a reader that has not cached it
        with pytest.raises(IntegrityError, match="does not match its name"):
            fresh.get_tuple(cfg)
        with pytest.raises(IntegrityError):
            list(fresh.list(conf("d")))


def test_a_flipped_byte_in_the_head_or_the_writes_is_refused(tmp_path: Path) -> None:
    url = (tmp_path / "store").as_uri()
    with StatesyncSaver.open(url, log=False, create=True) as saver:
        cfg = saver.put(conf("d"), checkpoint({"v": 1}), {}, {})
        saver.put_writes(cfg, [("ch", "value")], "task")
    for part in ("/w/", "/head"):
        path = tmp_path / "store" / _objects(saver, part)[0]
        good = path.read_bytes()
        _flip(path)
        with (
            StatesyncSaver.open(url, log=False) as fresh,
            pytest.raises(IntegrityError, match="damaged"),
        ):
            fresh.get_tuple(conf("d"))
        path.write_bytes(good)


def test_two_checkpoints_swapped_in_the_store_are_refused(tmp_path: Path) -> None:
    url = (tmp_path / "store").as_uri()
    with StatesyncSaver.open(url, log=False, create=True) as saver:
        first = saver.put(conf("m"), checkpoint({"v": 1}), {}, {})
        second = saver.put(first, checkpoint({"v": 2}), {}, {})
    a, b = (tmp_path / "store" / key for key in _objects(saver, "/c/"))
    a_bytes, b_bytes = a.read_bytes(), b.read_bytes()
    a.write_bytes(b_bytes)  # bytes swapped under their names
    b.write_bytes(a_bytes)
    with StatesyncSaver.open(url, log=False) as fresh:
        for cfg in (first, second):
            with pytest.raises(IntegrityError, match="does not match its name"):
                fresh.get_tuple(cfg)
    # Renamed to match their new contents, each now sits in the other's slot.
    a.unlink()
    b.unlink()
    a_key, b_key = (str(p.relative_to(tmp_path / "store")) for p in (a, b))
    swap = {a_key: b_bytes, b_key: a_bytes}
    for key, data in swap.items():
        slot = key.rsplit(".", 1)[0]
        (tmp_path / "store" / f"{slot}.{hashlib.sha256(data).hexdigest()}").write_bytes(data)
    with (
        StatesyncSaver.open(url, log=False) as fresh,
        pytest.raises(IntegrityError, match="another"),
    ):
        list(fresh.list(conf("m")))


def test_a_head_from_another_thread_is_refused(tmp_path: Path) -> None:
    url = (tmp_path / "store").as_uri()
    with StatesyncSaver.open(url, log=False, create=True) as saver:
        saver.put(conf("mine"), checkpoint({"v": 1}), {}, {})
        saver.put(conf("theirs"), checkpoint({"v": 2}), {}, {})
    mine, theirs = (
        tmp_path / "store" / f"langgraph/threads/{layout.langgraph_name(t)}/head"
        for t in ("mine", "theirs")
    )
    mine.write_bytes(theirs.read_bytes())
    with (
        StatesyncSaver.open(url, log=False) as fresh,
        pytest.raises(IntegrityError, match="another"),
    ):
        fresh.get_tuple(conf("mine"))


def test_a_replayed_older_head_is_refused_by_a_reader_that_saw_a_newer_one(
    tmp_path: Path,
) -> None:
    url = (tmp_path / "store").as_uri()
    head = tmp_path / "store" / f"langgraph/threads/{layout.langgraph_name('r')}/head"
    with StatesyncSaver.open(url, log=False, create=True) as saver:
        first = saver.put(conf("r"), checkpoint({"v": 1}), {}, {})
        old = head.read_bytes()
        saver.put(first, checkpoint({"v": 2}), {}, {})
        assert saver.get_tuple(conf("r")) is not None
        head.write_bytes(old)  # the store hands back the head of one put earlier
        with pytest.raises(IntegrityError, match="replayed"):
            saver.get_tuple(conf("r"))


def _signed_store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, name: str) -> str:
    """Use a fresh signing key called ``name``; returns its public key."""
    key = tmp_path / f"{name}.key"
    public = signing.generate(key)
    monkeypatch.setenv("STATESYNC_SIGNING_KEY", str(key))
    return public


def test_signed_checkpoints_verify_and_trust_refuses_unsigned_or_foreign_ones(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    url = (tmp_path / "store").as_uri()
    with StatesyncSaver.open(url, log=False, create=True) as plain:  # written before any key
        plain.put(conf("old"), checkpoint({"v": 0}), {}, {})
    public = _signed_store(tmp_path, monkeypatch, "alice")
    with Store.open(url) as store:
        store.keys().trust("langgraph", public, require_signed=True)
    with StatesyncSaver.open(url, log=False) as alice:
        cfg = alice.put(conf("t"), checkpoint({"v": 1}), {}, {})
        alice.put_writes(cfg, [("ch", 1)], "task")
    with StatesyncSaver.open(url, log=False) as reader:
        tup = reader.get_tuple(conf("t"))
        assert tup is not None and tup.pending_writes == [("task", "ch", 1)]
        with pytest.raises(IntegrityError, match="not signed"):
            reader.get_tuple(conf("old"))
    _signed_store(tmp_path, monkeypatch, "mallory")  # a key the policy does not trust
    with (
        StatesyncSaver.open(url, log=False) as mallory,
        pytest.raises(IntegrityError, match=r"refusing to write.*does not trust"),
    ):
        mallory.put(conf("t2"), checkpoint({"v": 2}), {}, {})
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "mallory"))  # another machine
    with StatesyncSaver.open(url, log=False) as mallory:
        mallory.put(conf("t2"), checkpoint({"v": 2}), {}, {})
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    with (
        StatesyncSaver.open(url, log=False) as reader,
        pytest.raises(IntegrityError, match="does not trust"),
    ):
        reader.get_tuple(conf("t2"))
    # One byte of a signed head changed (and its digest made to match): the signature fails.
    head = tmp_path / "store" / f"langgraph/threads/{layout.langgraph_name('t')}/head"
    data = bytearray(head.read_bytes())
    at = len(frame.MAGIC) + 4 + 32
    siglen = int.from_bytes(data[at : at + 2], "big")
    body = bytearray(data[at + 2 + siglen :])
    body[-1] ^= 1
    digest = hashlib.sha256(bytes(body)).digest()
    head.write_bytes(
        bytes(data[: len(frame.MAGIC) + 4]) + digest + bytes(data[at : at + 2 + siglen]) + body
    )
    with (
        StatesyncSaver.open(url, log=False) as reader,
        pytest.raises(IntegrityError, match="signature"),
    ):
        reader.get_tuple(conf("t"))


def test_a_head_naming_a_lost_checkpoint_falls_back_to_the_newest_present(tmp_path: Path) -> None:
    url = (tmp_path / "store").as_uri()
    with StatesyncSaver.open(url, log=False, create=True) as saver:
        first = saver.put(conf("crash"), checkpoint({"v": 1}), {}, {})
        second = saver.put(first, checkpoint({"v": 2}), {}, {})
        lost = second["configurable"]["checkpoint_id"]
        key = next(
            m.key
            for m in saver.threads.backend.list("langgraph/")
            if "/c/" + lost.encode().hex() + "." in m.key
        )
        saver.threads.backend.delete(key)  # as if the put died after moving the head
    with StatesyncSaver.open(url, log=False) as reader:  # another process: nothing cached
        latest = reader.get_tuple(conf("crash"))
        assert latest is not None and latest.config == first
        assert reader.get_tuple(second) is None
