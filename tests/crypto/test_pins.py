"""Local pins of store ids: trust on first use, changed only by ``keys pin --reset``."""

from __future__ import annotations

import json
import os
import stat
import uuid
from pathlib import Path

import pytest

from statesync.api import Store
from statesync.backends import open_backend, parse_url
from statesync.backends.base import OVERWRITE
from statesync.crypto import pins
from statesync.errors import IntegrityError
from tests.e2e.test_cli import assert_one_line_error, run
from tests.helpers import write


def pins_file() -> Path:
    return Path(os.environ["XDG_CONFIG_HOME"]) / "statesync" / "pins.json"


def rewrite_id(url: str) -> str:
    backend = open_backend(url)
    try:
        desc = json.loads(backend.get("statesync.json")[0])
        desc["store_id"] = uuid.uuid4().hex
        backend.put("statesync.json", json.dumps(desc).encode(), OVERWRITE)
    finally:
        backend.close()
    return str(desc["store_id"])


def test_init_pins_the_id_it_created_in_a_private_file(tmp_path: Path) -> None:
    url = (tmp_path / "store").as_uri()
    out = json.loads(run("--store", url, "--json", "init").stdout)
    doc = json.loads(pins_file().read_text())
    assert doc == {"version": 1, "pins": {"file://" + str(tmp_path / "store"): out["store_id"]}}
    assert stat.S_IMODE(pins_file().stat().st_mode) == 0o600


def test_first_open_pins_and_a_changed_id_is_exit_4_everywhere(
    any_store_url: str, tmp_path: Path
) -> None:
    Store.init(any_store_url).close()
    pins_file().unlink(missing_ok=True)  # a machine that did not create the store
    first = Store.open(any_store_url)
    if any_store_url.startswith("memory://"):
        assert not pins_file().exists()  # lives in this process only: nothing to pin
        return
    assert pins.pinned(parse_url(any_store_url).canonical) == first.store_id
    first.close()
    rewrite_id(any_store_url)
    with pytest.raises(IntegrityError, match="pinned"):
        Store.open(any_store_url)
    with pytest.raises(IntegrityError, match="pinned"):
        Store.pin(any_store_url)
    out = Store.pin(any_store_url, reset=True)
    assert out["previous"] == first.store_id and out["pinned"] != first.store_id
    assert Store.open(any_store_url).store_id == out["pinned"]


def test_one_pin_per_store_whatever_the_spelling(tmp_path: Path) -> None:
    url = (tmp_path / "store").as_uri()
    run("--store", url, "init")
    rewrite_id(url)
    for spelling in (url + "/", str(tmp_path / "store"), str(tmp_path / "x" / ".." / "store")):
        assert_one_line_error(run("--store", spelling, "log"), 4, "pinned")
    assert parse_url("s3://b/p/").canonical == parse_url("s3://b/p").canonical == "s3://b/p"


def test_the_cli_shows_and_resets_the_pin(tmp_path: Path) -> None:
    url = (tmp_path / "store").as_uri()
    created = json.loads(run("--store", url, "--json", "init").stdout)["store_id"]
    shown = json.loads(run("--store", url, "--json", "keys", "pin").stdout)
    assert shown["pinned"] == created and shown["first_use"] is False
    new = rewrite_id(url)
    work = tmp_path / "work"
    write(work, "a.json", {"a": 1})
    for args in (["push", str(work)], ["pull", str(tmp_path / "out")], ["verify"], ["envs"]):
        assert_one_line_error(run("--store", url, *args), 4, "keys pin --reset")
    reset = json.loads(run("--store", url, "--json", "keys", "pin", "--reset").stdout)
    assert (reset["previous"], reset["pinned"]) == (created, new)
    assert run("--store", url, "push", str(work)).returncode == 0


def test_a_pins_file_others_may_write_is_refused(tmp_path: Path) -> None:
    url = (tmp_path / "store").as_uri()
    run("--store", url, "init")
    os.chmod(pins_file(), 0o666)
    assert_one_line_error(run("--store", url, "log"), 4, "writable by others")
    os.chmod(pins_file(), 0o600)
    pins_file().write_text("{not json")
    assert_one_line_error(run("--store", url, "log"), 4, "malformed")
