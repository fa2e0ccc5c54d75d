"""``Store.show`` returns a typed record; ``show --json`` is its JSON form."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from statesync.api import SnapshotInfo, Store
from statesync.cli.main import main
from statesync.sync.snapshot_info import FileInfo, utc
from tests.helpers import write


def test_show_is_a_typed_record_with_a_utc_datetime(tmp_path: Path) -> None:
    url = (tmp_path / "store").as_uri()
    write(tmp_path / "src", "b.json", '{"password": "x"}\n')
    write(tmp_path / "src", "a.txt", "a\n")
    before = datetime.now(UTC)
    with Store.init(url) as store:
        pushed = store.push(tmp_path / "src", "dev", message="first", tags={"k": "v"})
        info = store.show("dev")
    assert isinstance(info, SnapshotInfo) and info.id == pushed.snapshot
    assert info.created_at.tzinfo is not None and info.created_at.utcoffset() == timedelta(0)
    assert before - timedelta(seconds=5) <= info.created_at <= datetime.now(UTC)
    assert (info.env, info.message, info.tags, info.parents) == ("dev", "first", {"k": "v"}, ())
    assert [e.path for e in info.entries] == ["a.txt", "b.json"]
    assert isinstance(info.entries[1], FileInfo) and info.entries[1].secret_pointers == (
        "/password",
    )
    assert info["entries"][0]["path"] == "a.txt"  # item access: the JSON form


def test_show_json_is_the_records_json_form(
    tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    url = (tmp_path / "store").as_uri()
    write(tmp_path / "src", "a.txt", "a\n")
    with Store.init(url) as store:
        store.push(tmp_path / "src", "dev")
        info = store.show("dev")
    assert main(["--store", url, "--json", "show", "dev"]) == 0
    out = capfd.readouterr().out
    doc = json.loads(out)
    assert doc.pop("format_version") == 1  # every CLI object carries it (cli/output.py)
    # the CLI prints times as RFC 3339 UTC to the second (cli/output.py)
    assert utc(doc.pop("created_at")) == info.created_at.replace(microsecond=0)
    expected = info.to_json()
    del expected["created_at"]
    assert doc == expected
    assert "chunks" not in doc["entries"][0]


def test_a_timestamp_without_a_zone_is_utc() -> None:
    assert utc("2026-01-02T03:04:05") == datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
    assert utc("2026-01-02T05:04:05+02:00") == datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
