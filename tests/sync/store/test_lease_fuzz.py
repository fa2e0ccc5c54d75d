"""Lock records (``locks/<env>``) as properties: round-trip, and any body is a clean outcome.

Issue 18's fuzz bullet, lock records. A lease body is read from the store,
where any writer may have put anything. Properties:

* a :class:`LockInfo` written by :meth:`LockInfo.to_bytes` reads back equal;
* any bytes, and any valid body with one field made hostile, read as a
  :class:`LockInfo` or fail with a one-line :class:`IntegrityError`;
* judged on a store without timestamps (the holder's ``renewed_at`` decides),
  any ``renewed_at`` gives an expiry (found: year 9999, or year 1 with a +14:00
  offset, was an ``OverflowError``);
* through the CLI (push, lock, locks, unlock) a hostile lease ends with a
  documented exit code and one error line, and nothing it holds can forge a
  line of its own (found: a holder or lock id with a newline printed a second
  ``statesync: error:`` line, or a ``Traceback`` line, of the lease's choosing).
"""

from __future__ import annotations

import contextlib
import io
import json
import uuid
from collections.abc import Iterator
from dataclasses import asdict, replace
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from statesync.api import Store
from statesync.backends.base import OVERWRITE, Meta
from statesync.backends.memory import MemoryBackend
from statesync.cli import main
from statesync.errors import IntegrityError, NotFound
from statesync.sync.store import layout
from statesync.sync.store import leases as lease
from statesync.sync.store.leases import LockInfo
from statesync.sync.store.repo import init_repo
from tests.delegating import Delegating
from tests.fuzzing import EXIT_CODES, HOSTILE, fuzz_settings, set_at, value_paths
from tests.helpers import write

KEY = "locks/dev"
TEXT = st.text(max_size=30)
INFOS = st.builds(
    LockInfo,
    lock_id=st.text(min_size=1, max_size=40),
    holder=st.text(min_size=1, max_size=40),
    host=TEXT,
    pid=st.integers(0, 1 << 31),
    purpose=TEXT,
    created_at=TEXT,
    ttl_seconds=st.integers(1, 366 * 86400),
    renewed_at=st.text(min_size=1, max_size=30),
    holder_id=TEXT,
)
VALID = LockInfo("ab12", "alice@laptop", "laptop", 42, "apply", "2026-01-01T00:00:00Z", 600)
#: Text that would break a line or fake one of ours if printed as is.
FORGERIES = [
    "x\nstatesync: error: forged",
    "x\nTraceback (most recent call last):",
    "x\r\x1b[2Kstatesync: error: forged",
    "x\u2028statesync: error: forged",
    "x\x85Traceback",
]
DATES = [
    "9999-12-31T23:59:59Z",
    "9999-12-31T23:59:59-14:00",
    "0001-01-01T00:00:00+14:00",
    "0001-01-01T00:00:00Z",
    "2026-01-01T00:00:00",
    "2026-13-01",
    "",
    "now",
]


@fuzz_settings(default=30, long=5000)
@given(info=INFOS)
def test_a_written_lock_reads_back_equal(info: LockInfo) -> None:
    assert lease._parse(info.to_bytes(), KEY) == info


def _one_line_integrity(exc: IntegrityError) -> None:
    assert str(exc).startswith(KEY) and "\n" not in str(exc), str(exc)


@fuzz_settings(default=60, long=10000)
@given(body=st.binary(max_size=300) | st.text(max_size=300).map(lambda t: t.encode()))
def test_any_bytes_are_a_lock_or_a_one_line_integrity_error(body: bytes) -> None:
    try:
        lease._parse(body, KEY)
    except IntegrityError as exc:
        _one_line_integrity(exc)


@fuzz_settings(default=40, long=5000)
@given(pick=st.data())
def test_a_lock_with_a_hostile_field_is_a_lock_or_a_one_line_integrity_error(
    pick: st.DataObject,
) -> None:
    doc = asdict(VALID)
    doc["extra"] = {"nested": [1]}
    path = pick.draw(st.sampled_from(value_paths(doc)))
    set_at(doc, path, pick.draw(st.sampled_from([*HOSTILE, *FORGERIES])))
    body = json.dumps(doc).encode("utf-8", "surrogatepass")
    try:
        info = lease._parse(body, KEY)
    except IntegrityError as exc:
        _one_line_integrity(exc)
    else:
        assert isinstance(info.pid, int) and 1 <= info.ttl_seconds <= 366 * 86400


class NoTimestamps(Delegating):
    """A store that reports no timestamps: leases are judged by their ``renewed_at``."""

    def head(self, key: str) -> Meta:
        return replace(self.inner.head(key), modified=None)

    def list(self, prefix: str) -> Iterator[Meta]:
        return (replace(m, modified=None) for m in self.inner.list(prefix))


@fuzz_settings(default=20, long=3000)
@given(renewed=st.sampled_from(DATES) | st.datetimes().map(lambda d: d.isoformat()) | TEXT)
def test_any_renewed_at_gives_an_expiry_on_a_store_without_timestamps(renewed: str) -> None:
    repo = init_repo(NoTimestamps(MemoryBackend(uuid.uuid4().hex)))
    body = replace(VALID, renewed_at=renewed or "x").to_bytes()
    repo.backend.put(layout.lock_key("dev"), body, OVERWRITE)
    status = lease.lock_status(repo, "dev")
    assert status is not None and status.expires_at.tzinfo is not None
    assert status.to_json()["expires_at"]


@pytest.mark.parametrize("renewed", DATES[:3])
def test_a_far_renewed_at_is_an_expiry_not_an_overflow(renewed: str) -> None:
    """These three were an ``OverflowError`` (an internal error) before the fix."""
    repo = init_repo(NoTimestamps(MemoryBackend(uuid.uuid4().hex)))
    repo.backend.put(
        layout.lock_key("dev"), replace(VALID, renewed_at=renewed).to_bytes(), OVERWRITE
    )
    status = lease.lock_status(repo, "dev")
    assert status is not None and status.live


# --- through the command line ------------------------------------------------------


def _cli(*args: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(list(args))
    return code, out.getvalue(), err.getvalue()


@pytest.fixture(scope="module")
def pushed(tmp_path_factory: pytest.TempPathFactory) -> tuple[Store, Path]:
    tmp = tmp_path_factory.mktemp("leasefuzz")
    store = Store.init((tmp / "store").as_uri())
    write(tmp / "src", "app.json", {"v": 1})
    store.push(tmp / "src", "dev")
    return store, tmp / "src"


def _assert_no_forged_line(code: int, out: str, err: str, context: object) -> None:
    # assert_clean, but a forged word on our one line is only text ("lock id x\\x0aTraceback")
    assert "internal error" not in err and code in EXIT_CODES, (context, code, err)
    assert len(err.splitlines()) == (code != 0), (context, err)
    assert code == 0 or err.startswith("statesync: error: "), (context, err)
    lines = [*err.splitlines(), *out.splitlines()]
    assert not any(line.startswith(("Traceback", "statesync: error: forged")) for line in lines)
    assert not any(c in out + err for c in "\r\x1b\u2028\x85"), (context, out, err)


@pytest.mark.parametrize("forged", FORGERIES)
@pytest.mark.parametrize("field", ["holder", "lock_id"])
def test_a_lease_cannot_forge_an_error_line(
    pushed: tuple[Store, Path], forged: str, field: str
) -> None:
    """A holder or lock id holding a newline printed a line of its own choosing (fixed:
    the push's error and ``locks``; later ``unlock --force``'s report)."""
    store, src = pushed
    doc = {**asdict(VALID), field: forged}
    body = json.dumps(doc).encode()
    store.repo.backend.put(layout.lock_key("dev"), body, OVERWRITE)
    code, out, err = _cli("push", str(src), "--env", "dev", "--store", store.url)
    assert code == 5, err
    _assert_no_forged_line(code, out, err, (field, forged))
    code, out, err = _cli("locks", "--store", store.url)
    assert code == 0, err
    _assert_no_forged_line(code, out, err, (field, forged))
    # unlock --force names what it removed (found by the long run: it printed the holder raw)
    code, out, err = _cli("unlock", "dev", doc["lock_id"], "--force", "--store", store.url)
    assert code == 0 and out.startswith("unlocked dev"), (out, err)
    _assert_no_forged_line(code, out, err, (field, forged))


@fuzz_settings(default=6, long=300)
@given(pick=st.data())
def test_a_hostile_lease_through_the_cli_is_a_clean_outcome(
    pushed: tuple[Store, Path], pick: st.DataObject
) -> None:
    store, src = pushed
    doc = asdict(VALID)
    path = pick.draw(st.sampled_from(value_paths(doc)))
    set_at(doc, path, pick.draw(st.sampled_from([*HOSTILE, *FORGERIES, *DATES])))
    raw = pick.draw(st.sampled_from(["doc", "bytes"]))
    body = (
        json.dumps(doc).encode("utf-8", "surrogatepass")
        if raw == "doc"
        else pick.draw(st.binary(max_size=100))
    )
    store.repo.backend.put(layout.lock_key("dev"), body, OVERWRITE)
    command = pick.draw(
        st.sampled_from(
            [
                ("push", str(src), "--env", "dev"),
                ("locks",),
                ("lock", "dev"),
                ("unlock", "dev", "ab12"),
                ("unlock", "dev", "ab12", "--force"),
                ("lock", "dev", "--force"),
            ]
        )
    )
    code, out, err = _cli(*command, "--store", store.url)
    _assert_no_forged_line(code, out, err, (command, body[:120]))
    assert code in (0, 1, 4, 5), (command, code, err)
    with contextlib.suppress(NotFound):  # the next example starts unlocked
        store.repo.backend.delete(layout.lock_key("dev"))
