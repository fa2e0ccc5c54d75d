"""Wassette state files, both ways, through the public API on every backend.

An imported file becomes one folder per component; an export is what Wassette
itself would write (checked against the schema written from its structs) and
gives back the imported document exactly. Secret values never reach an export.
"""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any, cast

import pytest
import yaml

from statesync.api import Store
from statesync.errors import BundleError, FormatError, SecretRefused
from tests.formats.conftest import FIXTURES, assert_valid
from tests.helpers import store_bytes
from tests.leakscan import planted


@pytest.fixture
def store(any_store_url: str) -> Store:
    """On every backend: for the round trips."""
    return Store.init(any_store_url)


@pytest.fixture
def local(tmp_path: Path) -> Store:
    """On the local store only: for behaviour that does not depend on the backend."""
    return Store.init((tmp_path / "store").as_uri())


def _by_id(doc: dict[str, Any]) -> dict[str, Any]:
    return {c["component_id"]: c for c in doc["components"]}


def test_a_snapshot_round_trips_with_binaries(
    store: Store, tmp_path: Path, snapshot_doc: dict[str, Any]
) -> None:
    result = store.import_file(FIXTURES / "wassette-snapshot.json", "dev")
    assert sorted(cast("list[str]", result.imported)) == ["fetch-rs", "time-server-js"]
    files = {e["path"] for e in store.show("dev")["entries"]}
    assert {
        "components/fetch-rs/metadata.json",
        "components/fetch-rs/policy.yaml",
        "components/fetch-rs/component.wasm",
    } <= files
    out = tmp_path / "state.json"
    store.export_format(out, "wassette", env="dev", include_binaries=True)
    got = json.loads(out.read_text())
    assert_valid("wassette-snapshot", got)
    assert {k: v for k, v in got.items() if k != "components"} == {
        k: v for k, v in snapshot_doc.items() if k != "components"
    }
    assert _by_id(got) == _by_id(snapshot_doc)
    assert out.stat().st_mode & 0o777 == 0o600


def test_the_snapshot_metadata_becomes_tags_and_message(local: Store) -> None:
    local.import_file(FIXTURES / "wassette-snapshot.json", "dev")
    shown = local.show("dev")
    assert shown["tags"] == {
        "environment": "dev",
        "owner": "zoë",
        "wassette_version": "0.3.4",
        "source": "developer-laptop",
    }
    assert shown["message"] == "Développement — snapshot ☃"


def test_without_include_binaries_the_export_carries_none(local: Store, tmp_path: Path) -> None:
    local.import_file(FIXTURES / "wassette-snapshot.json", "dev")
    out = tmp_path / "small.json"
    result = local.export_format(out, "wassette", env="dev")
    got = json.loads(out.read_text())
    assert_valid("wassette-snapshot", got)
    assert all(c["include_binary"] is False and "binary_data" not in c for c in got["components"])
    assert result.omitted_binaries == ["fetch-rs"]


def test_component_filters_select_as_wassette_does(local: Store, tmp_path: Path) -> None:
    local.import_file(FIXTURES / "wassette-snapshot.json", "dev")
    out = tmp_path / "one.json"
    local.export_format(out, "wassette", env="dev", components=["fetch-rs"])
    assert list(_by_id(json.loads(out.read_text()))) == ["fetch-rs"]
    local.export_format(out, "wassette", env="dev", paths=["components/time-*"])
    assert list(_by_id(json.loads(out.read_text()))) == ["time-server-js"]
    local.export_format(out, "wassette", env="dev", components=["not-there"])
    assert json.loads(out.read_text())["components"] == []  # a filter only narrows


def test_the_yaml_state_export_round_trips(
    store: Store, tmp_path: Path, state_doc: dict[str, Any]
) -> None:
    store.import_file(FIXTURES / "wassette-state.yaml", "dev")
    out = tmp_path / "state.yaml"
    store.export_format(out, "wassette-yaml", env="dev")
    got = yaml.safe_load(out.read_text())
    assert_valid("wassette-state", got)
    assert {k: v for k, v in got.items() if k != "components"} == {
        k: v for k, v in state_doc.items() if k != "components"
    }
    assert _by_id(got) == _by_id(state_doc)
    assert _by_id(got)["weather-js"]["secrets"] == {
        "env_keys": ["OPENWEATHER_API_KEY", "SECRET_TOKEN"]
    }


def test_a_snapshot_exports_as_a_state_and_back(local: Store, tmp_path: Path) -> None:
    local.import_file(FIXTURES / "wassette-snapshot.json", "dev")
    out = tmp_path / "state.yaml"
    local.export_format(out, "wassette-yaml", env="dev")
    got = yaml.safe_load(out.read_text())
    assert_valid("wassette-state", got)
    assert got["version"] == "0.3.4" and got["exported_at"] == 1731444000
    assert _by_id(got)["fetch-rs"]["policy"]["attached_at"] == 1731443000


def test_skip_existing_keeps_what_the_environment_has(
    local: Store, tmp_path: Path, snapshot_doc: dict[str, Any]
) -> None:
    local.import_file(FIXTURES / "wassette-snapshot.json", "dev")
    changed = json.loads(json.dumps(snapshot_doc))
    changed["components"][0]["source_uri"] = "oci://ghcr.io/microsoft/fetch-rs:v2"
    changed["components"].append({**changed["components"][1], "component_id": "new-one"})
    path = tmp_path / "changed.json"
    path.write_text(json.dumps(changed))
    result = local.import_file(path, "dev", skip_existing=True)
    assert result.imported == ["new-one"] and sorted(result.skipped) == [
        "fetch-rs",
        "time-server-js",
    ]
    out = tmp_path / "out.json"
    local.export_format(out, "wassette", env="dev")
    comps = _by_id(json.loads(out.read_text()))
    assert comps["fetch-rs"]["source_uri"].endswith(":latest") and "new-one" in comps
    local.import_file(path, "dev")  # without it, the file's components replace the env's
    local.export_format(out, "wassette", env="dev")
    assert _by_id(json.loads(out.read_text()))["fetch-rs"]["source_uri"].endswith(":v2")


def test_a_secret_in_the_environment_is_sealed_and_never_exported(
    any_store_url: str, tmp_path: Path, state_doc: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("STATESYNC_PASSPHRASE", "correct horse battery staple")
    Store.init(any_store_url).keys().init("dev", ["passphrase"])
    store = Store.open(any_store_url)
    secret = planted("wassette-env")
    state_doc["environment"]["OPENAI_API_KEY"] = secret
    path = tmp_path / "with-secret.yaml"
    path.write_text(yaml.safe_dump(state_doc, allow_unicode=True))
    store.import_file(path, "dev")
    assert secret.encode() not in store_bytes(store.repo.backend)
    out = tmp_path / "out.yaml"
    result = store.export_format(out, "wassette-yaml", env="dev")
    assert secret not in out.read_text() and result.left_out == ["OPENAI_API_KEY"]
    assert yaml.safe_load(out.read_text())["environment"] == {
        "RUST_LOG": "info",
        "LANG": "fr_FR.UTF-8",
    }


def test_a_secret_without_a_key_is_refused_and_nothing_written(
    local: Store, tmp_path: Path, state_doc: dict[str, Any]
) -> None:
    secret = planted("wassette-nokey")
    state_doc["environment"]["GITHUB_TOKEN"] = secret
    path = tmp_path / "with-secret.yaml"
    path.write_text(yaml.safe_dump(state_doc))
    with pytest.raises(SecretRefused, match="/environment/GITHUB_TOKEN") as err:
        local.import_file(path, "dev")
    assert secret not in str(err.value)
    assert local.envs() == []


@pytest.mark.parametrize(
    "change,message",
    [
        (lambda d: d["components"].append(dict(d["components"][0])), "duplicate component ID"),
        (lambda d: d["components"][0].update(binary_data="***"), "not valid base64"),
        (lambda d: d["components"][0].update(component_id="../escape"), "one path segment"),
        (lambda d: d.update(version=2), "unsupported snapshot version"),
        (lambda d: d["components"][0]["metadata"].pop("tool_names"), "tool_names"),
        (lambda d: d["components"][0]["policy"].update(created_at=-5), "unsigned 64-bit"),
    ],
)
def test_a_bad_wassette_file_is_refused_before_anything_is_written(
    local: Store, tmp_path: Path, snapshot_doc: dict[str, Any], change: Any, message: str
) -> None:
    change(snapshot_doc)
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(snapshot_doc))
    with pytest.raises(BundleError, match=message):
        local.import_file(path, "dev")
    assert local.envs() == []


def test_an_unknown_file_is_a_clear_error(local: Store, tmp_path: Path) -> None:
    for name, data in [
        ("x.json", b'{"hello": 1}'),
        ("x.bin", bytes(range(256))),
        ("x.yaml", b"- just\n- a list\n"),
    ]:
        (tmp_path / name).write_bytes(data)
        with pytest.raises(FormatError, match=r"not a statesync bundle .*, a Wassette state file"):
            local.import_file(tmp_path / name, "dev")


def test_the_binary_is_stored_byte_for_byte(local: Store, snapshot_doc: dict[str, Any]) -> None:
    local.import_file(FIXTURES / "wassette-snapshot.json", "dev")
    wasm = base64.b64decode(snapshot_doc["components"][0]["binary_data"])
    entry = next(
        e for e in local.show("dev")["entries"] if e["path"] == "components/fetch-rs/component.wasm"
    )
    assert entry["size"] == len(wasm) and entry["kind"] == "binary"


def test_a_secret_in_the_snapshot_metadata_is_refused(
    local: Store, tmp_path: Path, snapshot_doc: dict[str, Any]
) -> None:
    secret = planted("wassette-tag")
    snapshot_doc["metadata"]["tags"]["registry_password"] = secret
    path = tmp_path / "tagged.json"
    path.write_text(json.dumps(snapshot_doc))
    with pytest.raises(SecretRefused, match="tag registry_password") as err:
        local.import_file(path, "dev")
    assert secret not in str(err.value) and local.envs() == []
    assert secret.encode() not in store_bytes(local.repo.backend)


def test_a_state_edited_into_something_wassette_refuses_is_not_exported(
    local: Store, tmp_path: Path
) -> None:
    folder = tmp_path / "edited"
    local.import_file(FIXTURES / "wassette-snapshot.json", "dev")
    local.pull(folder, "dev")
    meta = json.loads((folder / "components/fetch-rs/metadata.json").read_text())
    del meta["tool_names"]
    (folder / "components/fetch-rs/metadata.json").write_text(json.dumps(meta))
    local.push(folder, "dev")
    out = tmp_path / "out.json"
    with pytest.raises(BundleError, match="tool_names"):
        local.export_format(out, "wassette", env="dev")
    (folder / "components/fetch-rs/component.json").write_text("[1, 2]")
    local.push(folder, "dev")
    with pytest.raises(BundleError, match=r"component\.json: not a JSON object"):
        local.export_format(out, "wassette", env="dev")
    assert not out.exists()


def test_import_can_take_only_some_components(local: Store) -> None:
    result = local.import_file(
        FIXTURES / "wassette-snapshot.json", "dev", components=["time-server-js"]
    )
    assert result.imported == ["time-server-js"]
    paths = {e["path"] for e in local.show("dev")["entries"]}
    assert not any(p.startswith("components/fetch-rs/") for p in paths)
