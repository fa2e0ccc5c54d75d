"""Push and pull end to end through the API, on every backend."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import cast

import pytest

from statesync.api import Store
from statesync.errors import (
    BackendUnavailable,
    EnvNotFound,
    IntegrityError,
    LocalChangesConflict,
    RefConflict,
    SecretRefused,
    SnapshotNotFound,
)
from statesync.sync.store import layout
from statesync.sync.store.refs import read_ref
from tests.helpers import store_bytes, tree, write


@pytest.fixture
def store(any_store_url: str) -> Store:
    return Store.init(any_store_url)


@pytest.fixture
def src(tmp_path: Path) -> Path:
    root = tmp_path / "src"
    write(root, "state.json", {"tasks": [{"id": 1, "status": "done"}], "version": 3})
    write(root, "tasks/task_1.json", {"id": 1, "log": ["started", "finished"]})
    write(root, "notes.txt", "hello\n", mode=0o640)
    write(root, "blob.bin", os.urandom(3 * 1024 * 1024 + 5))
    os.symlink("tasks/task_1.json", root / "latest")
    return root


def test_push_then_pull_restores_the_exact_tree(store: Store, src: Path, tmp_path: Path) -> None:
    result = store.push(src, "dev", message="first", tags={"k": "v"})
    assert result.changed and result.serial == 1 and result.files == 5
    assert result.uploaded_bytes > 0 and result.reused_bytes == 0
    out = tmp_path / "out"
    pulled = store.pull(out, "dev")
    assert pulled.snapshot == result.snapshot and pulled.serial == 1
    assert tree(out) == tree(src)
    [entry] = store.log("dev")
    assert entry.message == "first" and entry.tags == {"k": "v"}


def test_push_of_an_unchanged_folder_uploads_nothing(store: Store, src: Path) -> None:
    first = store.push(src, "dev")
    again = store.push(src, "dev")
    assert not again.changed
    assert again.uploaded_bytes == 0
    assert again.snapshot == first.snapshot and again.serial == first.serial


def test_small_change_uploads_about_one_chunk(store: Store, src: Path) -> None:
    big = bytearray(os.urandom(20 * 1024 * 1024))
    write(src, "big.bin", bytes(big))
    first = store.push(src, "dev")
    big[10_000_000] ^= 0xFF
    write(src, "big.bin", bytes(big))
    second = store.push(src, "dev")
    assert second.changed and second.serial == 2
    assert second.uploaded_bytes < 0.25 * first.uploaded_bytes
    assert second.reused_bytes > 15 * 1024 * 1024


def test_pull_into_an_existing_copy_downloads_only_what_changed(
    store: Store, src: Path, tmp_path: Path
) -> None:
    store.push(src, "dev")
    out = tmp_path / "out"
    store.pull(out, "dev")
    write(src, "notes.txt", "changed\n")
    store.push(src, "dev")
    pulled = store.pull(out, "dev")
    assert pulled.reused_files == 4
    assert pulled.downloaded_bytes < 1024 * 1024
    assert tree(out) == tree(src)


def test_push_from_a_stale_folder_is_a_conflict_naming_the_writer(
    store: Store, src: Path, tmp_path: Path
) -> None:
    store.push(src, "dev")
    other = tmp_path / "other"
    store.pull(other, "dev")
    write(other, "notes.txt", "theirs\n")
    theirs = store.push(other, "dev", message="theirs")
    write(src, "notes.txt", "mine\n")
    with pytest.raises(RefConflict) as err:
        store.push(src, "dev")
    assert err.value.exit_code == 3
    assert theirs.snapshot[:12] in str(err.value) and "serial 2" in str(err.value)
    assert store.log("dev")[0].snapshot == theirs.snapshot


def test_first_push_into_an_existing_env_needs_force(
    store: Store, src: Path, tmp_path: Path
) -> None:
    first = store.push(src, "dev")
    stranger = tmp_path / "stranger"
    write(stranger, "a.txt", "a")
    with pytest.raises(RefConflict, match="never pulled"):
        store.push(stranger, "dev")
    forced = store.push(stranger, "dev", force=True)
    assert forced.parent == first.snapshot and forced.serial == 2


def test_losing_the_race_on_the_ref_write_is_a_conflict(
    store: Store, src: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store.push(src, "dev")
    other = tmp_path / "other"
    store.pull(other, "dev")
    write(other, "x.txt", "racer")
    backend = store.repo.backend
    real = backend.put

    def racing_put(key: str, *args: object, **kwargs: object) -> object:
        if key == layout.ref_key("dev"):  # our ref write: the racer lands just before it
            monkeypatch.setattr(backend, "put", real)
            store.push(other, "dev", message="racer")
        return real(key, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(backend, "put", racing_put)
    write(src, "notes.txt", "mine\n")
    with pytest.raises(RefConflict, match="lost the race"):
        store.push(src, "dev")
    [head, _] = store.log("dev")
    assert head.message == "racer"


def test_secrets_never_reach_the_store_and_pull_keeps_local_ones(
    store: Store, src: Path, tmp_path: Path
) -> None:
    config = {"db": {"host": "h", "password": "hunter2-pw"}, "api_token": "tok-42"}
    write(src, "config.json", config)
    write(src, "secrets/key.pem", "PRIVATE-KEY-MATERIAL")
    write(src, ".env", "AWS_SECRET=env-secret-value\n")
    result = store.push(src, "dev")
    assert sorted(result.secret_files) == [".env", "secrets/key.pem"]
    raw = store_bytes(store.repo.backend)
    for secret in (b"hunter2-pw", b"tok-42", b"PRIVATE-KEY-MATERIAL", b"env-secret-value"):
        assert secret not in raw
    assert store.show("dev")["secret_files"] == [".env", "secrets/key.pem"]
    # Another machine gets markers and no secret files.
    fresh = tmp_path / "fresh"
    store.pull(fresh, "dev")
    assert b"hunter2-pw" not in (fresh / "config.json").read_bytes()
    assert not (fresh / ".env").exists()
    # The original machine pulls a newer snapshot and keeps its own values and files.
    assert (fresh / "config.json").stat().st_mode & 0o777 == 0o600
    write(fresh, "notes.txt", "from fresh\n")
    doc = json.loads((fresh / "config.json").read_text())
    doc["db"]["host"] = "new-host"
    write(fresh, "config.json", doc)
    store.push(fresh, "dev")
    store.pull(src, "dev")
    mine = json.loads((src / "config.json").read_text())
    assert mine == {"db": {"host": "new-host", "password": "hunter2-pw"}, "api_token": "tok-42"}
    assert (src / ".env").read_text() == "AWS_SECRET=env-secret-value\n"
    assert (src / "config.json").stat().st_mode & 0o777 == 0o600
    assert (src / "notes.txt").read_text() == "from fresh\n"


def test_pull_keeps_unmanaged_files_and_force_removes_them(
    store: Store, src: Path, tmp_path: Path
) -> None:
    store.push(src, "dev")
    out = tmp_path / "out"
    write(out, "mine.txt", "local only")
    store.pull(out, "dev")
    assert (out / "mine.txt").read_text() == "local only"
    store.pull(out, "dev", force=True)
    assert not (out / "mine.txt").exists()


def test_pull_refuses_to_overwrite_local_changes(store: Store, src: Path, tmp_path: Path) -> None:
    store.push(src, "dev")
    out = tmp_path / "out"
    store.pull(out, "dev")
    write(src, "notes.txt", "remote change\n")
    store.push(src, "dev")
    write(out, "notes.txt", "local edit\n")
    before = tree(out)
    with pytest.raises(LocalChangesConflict, match=r"notes\.txt"):
        store.pull(out, "dev")
    assert tree(out) == before
    store.pull(out, "dev", force=True)
    assert (out / "notes.txt").read_text() == "remote change\n"


def test_pull_of_a_deleted_managed_file_removes_it(store: Store, src: Path, tmp_path: Path) -> None:
    store.push(src, "dev")
    out = tmp_path / "out"
    store.pull(out, "dev")
    (src / "notes.txt").unlink()
    store.push(src, "dev")
    store.pull(out, "dev")
    assert not (out / "notes.txt").exists()
    assert tree(out) == tree(src)


def test_missing_env_and_snapshot(store: Store, tmp_path: Path) -> None:
    with pytest.raises(EnvNotFound):
        store.pull(tmp_path / "out", "nope")
    with pytest.raises(SnapshotNotFound):
        store.pull(tmp_path / "out", snapshot="abcdef12")
    assert not (tmp_path / "out").exists()


def test_pull_by_snapshot_id_restores_an_old_state(store: Store, src: Path, tmp_path: Path) -> None:
    first = store.push(src, "dev")
    old = tree(src)
    write(src, "notes.txt", "v2\n")
    store.push(src, "dev")
    out = tmp_path / "out"
    store.pull(out, snapshot=first.snapshot[:10])
    assert tree(out) == old


def test_replayed_old_ref_is_refused_unless_allowed(
    store: Store, src: Path, tmp_path: Path
) -> None:
    store.push(src, "dev")
    old_ref, _ = store.repo.backend.get("refs/dev")
    write(src, "notes.txt", "v2\n")
    store.push(src, "dev")
    out = tmp_path / "out"
    store.pull(out, "dev")
    store.repo.backend.put("refs/dev", old_ref)  # an attacker (or a restore) replays serial 1
    with pytest.raises(IntegrityError, match="went backwards"):
        store.pull(out, "dev")
    assert (out / "notes.txt").read_text() == "v2\n"
    with pytest.raises(IntegrityError, match="went backwards"):  # this user saw serial 2
        store.pull(tmp_path / "fresh-folder", "dev")
    assert not (tmp_path / "fresh-folder").exists()
    store.pull(out, "dev", allow_rollback=True, force=True)
    assert (out / "notes.txt").read_text() == "hello\n"


@pytest.mark.parametrize("body", [b"{not json", b"[1, 2]", b'{"x/dev": "two"}', b"\xff\xfe"])
def test_a_corrupt_serials_file_is_an_error_not_a_silent_reset(
    store: Store, src: Path, tmp_path: Path, body: bytes
) -> None:
    from statesync.paths import state_dir

    store.push(src, "dev")
    old_ref, _ = store.repo.backend.get("refs/dev")
    write(src, "notes.txt", "v2\n")
    store.push(src, "dev")
    store.repo.backend.put("refs/dev", old_ref)  # a replay of serial 1 ...
    serials = state_dir() / "serials.json"
    serials.write_bytes(body)  # ... while the user's memory of serial 2 is damaged
    with pytest.raises(IntegrityError, match=r"serials\.json") as err:
        store.pull(tmp_path / "fresh-folder", "dev")
    assert "delete it" in str(err.value) and "\n" not in str(err.value)
    assert not (tmp_path / "fresh-folder").exists()
    assert serials.read_bytes() == body  # never rewritten behind the user's back
    serials.unlink()  # deliberately: the guard starts afresh
    store.pull(tmp_path / "fresh-folder", "dev")


def test_save_and_load_object(store: Store) -> None:
    state = {"agent": "a1", "memory": [1, 2, 3], "openai_api_key": "sk-not-for-the-store"}
    with pytest.raises(SecretRefused, match="/openai_api_key"):  # no key: never a marker
        store.save_object(state, "agents")
    assert b"sk-not-for-the-store" not in store_bytes(store.repo.backend)
    del state["openai_api_key"]
    first = store.save_object(state, "agents", agent_id="a1", session_id="s9", description="turn 1")
    assert first.changed and first.serial == 1
    loaded = store.load_object("agents")
    assert loaded == state
    cast("list[int]", state["memory"]).append(4)
    second = store.save_object(state, "agents", agent_id="a1", session_id="s9")
    assert second.serial == 2 and store.load_object("agents")["memory"] == [1, 2, 3, 4]
    [_, oldest] = store.log("agents")
    assert oldest.tags == {"agent_id": "a1", "session_id": "s9"} and oldest.message == "turn 1"
    assert store.load_object("agents", snapshot=first.snapshot)["memory"] == [1, 2, 3]


def test_status_and_diff_report_changes(store: Store, src: Path) -> None:
    first = store.push(src, "dev")
    write(src, "state.json", {"tasks": [{"id": 1, "status": "failed"}], "version": 3})
    write(src, "new.txt", "n")
    (src / "notes.txt").unlink()
    st = store.status(src, "dev")
    assert (st.added, st.modified, st.deleted) == (["new.txt"], ["state.json"], ["notes.txt"])
    assert not st.env_moved
    second = store.push(src, "dev")
    d = store.diff(first.snapshot, "dev")
    assert d.b == second.snapshot
    assert d.added == ["new.txt"] and d.removed == ["notes.txt"]
    assert d.modified == {"state.json": ["/tasks/0/status"]}
    assert store.status(src, "dev").clean


@pytest.mark.parametrize("dies_at", ["objects/", "index/", "snapshots/", "refs/"])
def test_a_store_failing_mid_push_leaves_the_env_and_the_folder_as_they_were(
    store: Store, src: Path, monkeypatch: pytest.MonkeyPatch, dies_at: str
) -> None:
    first = store.push(src, "dev")
    record = {p.name: p.read_bytes() for p in (src / ".statesync").iterdir() if p.is_file()}
    write(src, "notes.txt", "changed\n")
    write(src, "more.bin", os.urandom(2 * 1024 * 1024))
    backend = store.repo.backend
    real_put = backend.put

    def failing_put(key: str, *args: object, **kwargs: object) -> object:
        if key.startswith(dies_at):
            raise BackendUnavailable(f"injected: the store went away writing {key}")
        return real_put(key, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(backend, "put", failing_put)
    with pytest.raises(BackendUnavailable, match="injected"):
        store.push(src, "dev")
    monkeypatch.undo()

    [head] = store.log("dev")
    state = read_ref(store.repo, "dev")
    assert state is not None
    assert head.snapshot == state.ref.snapshot == first.snapshot and state.ref.serial == 1
    after = {p.name: p.read_bytes() for p in (src / ".statesync").iterdir() if p.is_file()}
    assert after.keys() == record.keys()
    for name, body in after.items():  # the folder still records the first snapshot as its base
        now, then = json.loads(body), json.loads(record[name])
        # (a ref write that failed may have landed: its snapshot is noted as pending)
        now.pop("pending", None)
        then.pop("pending", None)
        assert now == then
    retried = store.push(src, "dev")  # no conflict: nothing moved
    assert retried.serial == 2 and retried.changed
