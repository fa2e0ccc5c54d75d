"""Thread logs of a local store: torn tails, damage, rollback, signatures, crashes, two writers."""

from __future__ import annotations

import os
import signal
import struct
import subprocess
import sys
import zlib
from pathlib import Path

import pytest

from statesync.api import Store
from statesync.crypto import signing
from statesync.errors import IntegrityError
from statesync.integrations.langgraph import StatesyncSaver, frame
from statesync.integrations.langgraph.threadlog import log_key
from statesync.sync.store import layout
from tests.integrations import lg_agent
from tests.integrations.lgtools import checkpoint, conf

HEADER = struct.Struct(">IQII")  # length, serial, header CRC, frame CRC


def log_path(root: Path, thread: str) -> Path:
    return root / log_key(layout.langgraph_name(thread))


def records(path: Path) -> list[tuple[int, int]]:
    """``(offset, frame length)`` of each record of a log."""
    data, at, out = path.read_bytes(), 0, []
    while at + HEADER.size <= len(data):
        length = HEADER.unpack_from(data, at)[0]
        out.append((at, length))
        at += HEADER.size + length
    return out


def fill(tmp_path: Path, n: int, thread: str = "t") -> tuple[str, Path, list[str]]:
    url = (tmp_path / "store").as_uri()
    ids = []
    with StatesyncSaver.open(url, create=True) as saver:
        assert saver.logs is not None  # a local store uses thread logs
        cfg = conf(thread)
        for i in range(n):
            cfg = saver.put(cfg, checkpoint({"v": i}), {"step": i}, {})
            ids.append(cfg["configurable"]["checkpoint_id"])
        saver.put_writes(cfg, [("ch", "w")], "task")
    return url, log_path(tmp_path / "store", thread), ids


def test_a_put_is_one_record_appended_to_one_file(tmp_path: Path) -> None:
    _, path, _ = fill(tmp_path, 3)
    assert len(records(path)) == 4  # three checkpoints, one write set
    files = [p for p in (tmp_path / "store" / "langgraph").rglob("*") if p.is_file()]
    assert files == [path]


def test_a_torn_tail_is_ignored_then_cut_by_the_next_writer(tmp_path: Path) -> None:
    url, path, ids = fill(tmp_path, 3)
    whole = path.read_bytes()
    last_at, _ = records(path)[-1]
    torn_tails = (
        whole[: last_at + 5],  # a header cut short
        whole[:-3],  # a frame cut short
        whole[:-1] + bytes([whole[-1] ^ 1]),  # the last frame failing its checksum
        whole[:last_at] + bytes(len(whole) - last_at + 7),  # zeros (size before data)
    )
    for torn in torn_tails:
        path.write_bytes(torn)
        with StatesyncSaver.open(url) as reader:
            tup = reader.get_tuple(conf("t"))
            assert tup is not None and tup.checkpoint["id"] == ids[-1]
            assert tup.pending_writes == []  # the torn record (the writes) is not there
            new = reader.put(tup.config, checkpoint({"v": 9}), {}, {})
        assert path.stat().st_size == last_at + HEADER.size + records(path)[-1][1]
        with StatesyncSaver.open(url) as again:
            got = again.get_tuple(conf("t"))
            assert got is not None and got.config == new
            assert [t.checkpoint["id"] for t in again.list(conf("t"))][1:] == ids[::-1]
        path.write_bytes(whole)


@pytest.mark.parametrize(("which", "where"), [(1, 9), (1, "frame"), (1, 2), (-1, 2), (-1, 0)])
def test_a_flipped_byte_before_the_tail_is_refused(
    tmp_path: Path, which: int, where: int | str
) -> None:
    """A flipped serial or frame byte in a middle record, a flipped length bit in any
    header (it could make the records after it look like a torn tail)."""
    url, path, _ = fill(tmp_path, 3)
    at, length = records(path)[which]
    data = bytearray(path.read_bytes())
    data[at + (HEADER.size + length // 2 if where == "frame" else int(where))] ^= 0x10
    path.write_bytes(bytes(data))
    with StatesyncSaver.open(url) as reader, pytest.raises(IntegrityError):
        reader.get_tuple(conf("t"))
    with StatesyncSaver.open(url) as writer, pytest.raises(IntegrityError):
        writer.put(conf("t"), checkpoint({"v": 1}), {}, {})  # nor cut off as if torn
    assert path.read_bytes() == bytes(data)


def _reframe(data: bytearray, at: int, frame_bytes: bytes) -> bytes:
    """Record at ``at`` replaced by ``frame_bytes`` with a valid length and checksum."""
    length, serial, _, _ = HEADER.unpack_from(data, at)
    ls = struct.pack(">IQ", len(frame_bytes), serial)
    head = ls + struct.pack(">II", zlib.crc32(ls), zlib.crc32(frame_bytes))
    return bytes(data[:at]) + head + frame_bytes + bytes(data[at + HEADER.size + length :])


def test_a_changed_frame_with_a_valid_checksum_is_refused_even_last(tmp_path: Path) -> None:
    url, path, _ = fill(tmp_path, 2)
    data = bytearray(path.read_bytes())
    at, length = records(path)[-1]
    body = bytearray(data[at + HEADER.size : at + HEADER.size + length])
    body[-1] ^= 1
    path.write_bytes(_reframe(data, at, bytes(body)))
    with StatesyncSaver.open(url) as reader, pytest.raises(IntegrityError, match="digest"):
        reader.get_tuple(conf("t"))


def test_a_rolled_back_log_is_refused_by_a_reader_that_saw_more(tmp_path: Path) -> None:
    url, path, _ = fill(tmp_path, 1)
    old = path.read_bytes()
    with StatesyncSaver.open(url) as saver:
        saver.put(conf("t"), checkpoint({"v": 2}), {}, {})
        assert saver.get_tuple(conf("t")) is not None
        os.unlink(path)
        path.write_bytes(old)  # the log of one put earlier (a new file, shorter)
        with pytest.raises(IntegrityError, match="rolled-back"):
            saver.get_tuple(conf("t"))


@pytest.mark.parametrize("which", [0, 1])
def test_a_record_removed_is_refused(tmp_path: Path, which: int) -> None:
    url, path, _ = fill(tmp_path, 3)
    data = path.read_bytes()
    (a, _), (b, _) = records(path)[which : which + 2]
    path.write_bytes(data[:a] + data[b:])
    with StatesyncSaver.open(url) as reader, pytest.raises(IntegrityError, match="serial"):
        reader.get_tuple(conf("t"))


def test_another_threads_log_is_refused(tmp_path: Path) -> None:
    url, path, _ = fill(tmp_path, 1, "a")
    fill(tmp_path, 1, "b")
    log_path(tmp_path / "store", "b").write_bytes(path.read_bytes())
    with StatesyncSaver.open(url) as reader, pytest.raises(IntegrityError):
        reader.get_tuple(conf("b"))


def test_signed_records_verify_and_a_forged_one_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    key = tmp_path / "alice.key"
    public = signing.generate(key)
    url = (tmp_path / "store").as_uri()
    with StatesyncSaver.open(url, create=True) as plain:
        plain.put(conf("old"), checkpoint({"v": 0}), {}, {})
    monkeypatch.setenv("STATESYNC_SIGNING_KEY", str(key))
    with Store.open(url) as store:
        store.keys().trust("langgraph", public, require_signed=True)
    with StatesyncSaver.open(url) as alice:
        alice.put(conf("t"), checkpoint({"v": 1}), {}, {})
    with StatesyncSaver.open(url) as reader:
        assert reader.get_tuple(conf("t")) is not None
        with pytest.raises(IntegrityError, match="not signed"):
            reader.get_tuple(conf("old"))
    path = log_path(tmp_path / "store", "t")
    data = bytearray(path.read_bytes())
    at, length = records(path)[0]
    obj = bytearray(data[at + HEADER.size : at + HEADER.size + length])
    fixed = len(frame.MAGIC) + 4 + 32 + 2  # magic, generation, digest, signature length
    siglen = int.from_bytes(obj[fixed - 2 : fixed], "big")
    body = bytearray(obj[fixed + siglen :])
    body[-1] ^= 1  # one byte changed, its digest and checksum made to match
    digest = __import__("hashlib").sha256(bytes(body)).digest()
    forged = bytes(obj[: len(frame.MAGIC) + 4]) + digest + bytes(obj[fixed - 2 : fixed + siglen])
    path.write_bytes(_reframe(data, at, forged + bytes(body)))
    with StatesyncSaver.open(url) as reader, pytest.raises(IntegrityError, match="signature"):
        reader.get_tuple(conf("t"))


def test_maintenance_rewrites_the_log_and_readers_follow(tmp_path: Path) -> None:
    url, _, ids = fill(tmp_path, 4)
    with StatesyncSaver.open(url) as reader, StatesyncSaver.open(url) as writer:
        assert len(list(reader.list(conf("t")))) == 4
        writer.prune(["t"])
        assert [t.checkpoint["id"] for t in reader.list(conf("t"))] == ids[-1:]
        writer.copy_thread("t", "u")
        assert [t.checkpoint["id"] for t in reader.list(conf("u"))] == ids[-1:]
        writer.delete_thread("t")
        assert reader.get_tuple(conf("t")) is None and list(reader.list(conf("t"))) == []
        again = writer.put(conf("t"), checkpoint({"v": 5}), {}, {})
        assert reader.get_tuple(conf("t")) is not None
        assert reader.get_tuple(conf("t")).config == again  # type: ignore[union-attr]


@pytest.mark.parametrize("kills", [1, pytest.param(6, marks=pytest.mark.long)])
def test_a_writer_killed_mid_put_loses_no_acknowledged_checkpoint(
    tmp_path: Path, kills: int
) -> None:
    """SIGKILL a process putting checkpoints as fast as it can (so, most likely inside a
    put), ``kills`` times; every checkpoint whose put returned is there, and a new
    writer appends after whatever tail the kill left."""
    url = (tmp_path / "store").as_uri()
    Store.init(url).close()
    acked: list[str] = []
    for _ in range(kills):
        proc = subprocess.Popen(
            [sys.executable, str(Path(lg_agent.__file__)), url, "crash", "stream"],
            stdout=subprocess.PIPE,
            text=True,
        )
        assert proc.stdout is not None
        for _ in range(15):
            acked.append(proc.stdout.readline().strip())
        os.kill(proc.pid, signal.SIGKILL)  # most likely inside a put
        acked += [line.strip() for line in proc.stdout if line.strip()]
        proc.wait()
        with StatesyncSaver.open(url) as reader:
            for cp_id in acked:
                got = reader.get_tuple(
                    {"configurable": {**conf("crash")["configurable"], "checkpoint_id": cp_id}}
                )
                assert got is not None, cp_id
    with StatesyncSaver.open(url) as saver:
        assert len(list(saver.list(conf("crash")))) >= len(acked)
    print(f"thread log crash: {kills} kills, {len(acked)} acknowledged puts, all read back")


def _bodies(path: Path) -> list[tuple[int, bytes]]:
    """``(generation, body)`` of each record's frame."""
    data, out = path.read_bytes(), []
    fixed = len(frame.MAGIC) + 4 + 32 + 2
    for at, length in records(path):
        obj = data[at + HEADER.size : at + HEADER.size + length]
        gen = int.from_bytes(obj[len(frame.MAGIC) : len(frame.MAGIC) + 4], "big")
        siglen = int.from_bytes(obj[fixed - 2 : fixed], "big")
        out.append((gen, obj[fixed + siglen :]))
    return out


def test_an_encrypted_thread_log_holds_only_sealed_records(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import zstandard

    from tests.leakscan import planted

    monkeypatch.setenv("STATESYNC_PASSPHRASE", "correct horse battery staple")
    secret, thread = planted("langgraph-log"), "customer-" + planted("log-thread")
    url = (tmp_path / "store").as_uri()
    with Store.init(url) as store:
        store.keys().init("langgraph", ["passphrase"])
    with StatesyncSaver.open(url, encrypt=True) as saver:
        cfg = saver.put(conf(thread), checkpoint({"token": secret}), {"note": secret}, {})
        saver.put_writes(cfg, [("token", secret)], task_id="t")
    with StatesyncSaver.open(url) as plain:  # sealing is sticky for the thread
        plain.put(cfg, checkpoint({"token": secret}), {}, {})
    path = log_path(tmp_path / "store", thread)
    bodies = _bodies(path)
    assert len(bodies) == 3 and all(gen > 0 for gen, _ in bodies)
    for _, body in bodies:  # a body that inflated would be plaintext
        with pytest.raises(zstandard.ZstdError):
            zstandard.ZstdDecompressor().decompressobj().decompress(body)
    raw = path.read_bytes()
    assert secret.encode() not in raw and planted("log-thread").encode() not in raw


def test_a_thread_in_the_object_layout_moves_into_its_log_on_first_use(tmp_path: Path) -> None:
    url = (tmp_path / "store").as_uri()
    with StatesyncSaver.open(url, create=True, log=False) as old:  # as before thread logs
        first = old.put(conf("t"), checkpoint({"v": 1}), {"step": 1}, {})
        second = old.put(first, checkpoint({"v": 2}), {"step": 2}, {})
        old.put_writes(second, [("ch", "w")], "task")
        old.put(conf("t", "child"), checkpoint({"v": 3}), {}, {})
        old.put(conf("u"), checkpoint({"v": 4}), {}, {})
    with StatesyncSaver.open(url) as saver:
        tup = saver.get_tuple(conf("t"))
        assert tup is not None and tup.config == second
        assert tup.pending_writes == [("task", "ch", "w")]
        third = saver.put(second, checkpoint({"v": 5}), {}, {})
        assert [t.config for t in saver.list(conf("t", ""))] == [third, second, first]
        assert len(list(saver.list(None))) == 5  # thread u found by a listing of all threads
    counts = [len(records(log_path(tmp_path / "store", name))) for name in ("t", "u")]
    assert counts == [5, 1]  # t: 4 checkpoints (one put since) and the writes; u: 1
    with StatesyncSaver.open(url) as again:  # adopted once: nothing appended twice
        assert len(list(again.list(None))) == 5
        again.delete_thread("u")
    assert [len(records(log_path(tmp_path / "store", name))) for name in ("t", "u")] == [5, 1]
    with StatesyncSaver.open(url) as later:  # u's objects are not adopted again
        assert later.get_tuple(conf("u")) is None
