"""What you restore is what you saved: documents with secrets come back byte for byte.

Round trips through the public API on every backend: push on one machine,
pull on another (a fresh folder, or one with its own value), with and
without ``--include-secrets``; rebases and promotions keep every byte that
was not changed. Hostile documents end in a one-line error naming the file.
"""

from __future__ import annotations

import os
import resource
import subprocess
import sys
from pathlib import Path

import pytest

from statesync.api import Store
from statesync.errors import DocumentLimit
from tests.helpers import store_bytes, write

M = b'"<statesync:secret>"'

YAML = b"""# deploy settings (kept as written)
on: [push]        # the trigger, not a boolean
enabled: NO
version: 1.10
mode: 0755
db:
  host: db1.internal
  password: "hunter2-yaml"   # rotate monthly
  port: 5432
"""

JSON = b"""{"big": 1e400, "price" :10.50,
   "db": {"password" :  "hunter2-json", "host":"db1"},
   "list":[1,2,  3], "u": "\\u00e9t\xc3\xa9"}
"""

PASSPHRASE = "correct horse battery staple"


@pytest.fixture
def store(any_store_url: str) -> Store:
    return Store.init(any_store_url)


def _with(data: bytes, old: bytes, new: bytes) -> bytes:
    assert data.count(old) == 1
    return data.replace(old, new)


@pytest.mark.parametrize(
    ("name", "data", "value"),
    [("deploy.yaml", YAML, b'"hunter2-yaml"'), ("config.json", JSON, b'"hunter2-json"')],
)
def test_another_machine_gets_every_byte_but_the_secret_and_keeps_its_own_value(
    store: Store, tmp_path: Path, name: str, data: bytes, value: bytes
) -> None:
    a, b = tmp_path / "a", tmp_path / "b"
    write(a, name, data)
    store.push(a, "dev")
    assert value[1:-1] not in store_bytes(store.repo.backend)
    store.pull(b, "dev")
    assert (b / name).read_bytes() == _with(data, value, M)
    # b puts its own value in; a changes another key; b's pull keeps b's value and a's bytes
    write(b, name, _with(data, value, b'"b-own-value"'))
    edited = _with(data, b"db1", b"db2")
    write(a, name, edited)
    store.push(a, "dev")
    store.pull(b, "dev")
    assert (b / name).read_bytes() == _with(edited, value, b'"b-own-value"')
    store.pull(a, "dev")
    assert (a / name).read_bytes() == edited


@pytest.mark.parametrize(("name", "data"), [("deploy.yaml", YAML), ("config.json", JSON)])
def test_with_included_secrets_a_machine_with_the_key_gets_the_exact_bytes(
    store: Store, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, name: str, data: bytes
) -> None:
    monkeypatch.setenv("STATESYNC_PASSPHRASE", PASSPHRASE)
    store.keys().init("dev", ["passphrase"])
    keyed = Store.open(store.url)
    a, b = tmp_path / "a", tmp_path / "b"
    write(a, name, data)
    keyed.push(a, "dev", include_secrets=True)
    assert b"hunter2" not in store_bytes(keyed.repo.backend)
    keyed.pull(b, "dev")
    assert (b / name).read_bytes() == data
    assert keyed.status(b, "dev").clean


def test_document_without_secrets_comes_back_byte_for_byte(store: Store, tmp_path: Path) -> None:
    data = YAML.replace(b"password", b"user") + b"---\nsecond: doc\n"
    write(tmp_path / "a", "d.yaml", data)
    store.push(tmp_path / "a", "dev")
    store.pull(tmp_path / "b", "dev")
    assert (tmp_path / "b" / "d.yaml").read_bytes() == data


def test_yaml_aliases_of_secrets_never_reach_the_store(store: Store, tmp_path: Path) -> None:
    data = (
        b"password: &pw hunter2-alias\nother: *pw\nplain: &pp hunter3-anchored\n"
        b"my_token: *pp\nbase: &b\n  api_key: hunter4-merged\nprod:\n  <<: *b\n"
    )
    write(tmp_path / "a", "c.yaml", data)
    store.push(tmp_path / "a", "dev")
    raw = store_bytes(store.repo.backend)
    assert b"other: *pw" in raw  # the search sees the document
    for secret in (b"hunter2-alias", b"hunter3-anchored", b"hunter4-merged"):
        assert secret not in raw
    store.pull(tmp_path / "b", "dev")
    assert (tmp_path / "b" / "c.yaml").read_bytes() == (
        b'password: &pw "<statesync:secret>"\nother: *pw\nplain: &pp "<statesync:secret>"\n'
        b'my_token: *pp\nbase: &b\n  api_key: "<statesync:secret>"\nprod:\n  <<: *b\n'
    )
    store.pull(tmp_path / "a", "dev")
    assert (tmp_path / "a" / "c.yaml").read_bytes() == data


@pytest.mark.parametrize(
    ("name", "data", "theirs", "ours"),
    [
        ("deploy.yaml", YAML, (b"version: 1.10", b"version: 1.12"), (b"port: 5432", b"port: 6543")),
        ("config.json", JSON, (b'"host":"db1"', b'"host":"db9"'), (b"10.50", b"11.50")),
        # a key added there: their lines are spliced in
        (
            "deploy.yaml",
            YAML,
            (b"mode: 0755\n", b"mode: 0755\nreplicas: 3\n"),
            (b"port: 5432", b"port: 6543"),
        ),
    ],
)
def test_a_teammates_rebase_on_another_key_keeps_our_bytes(
    store: Store,
    tmp_path: Path,
    name: str,
    data: bytes,
    theirs: tuple[bytes, bytes],
    ours: tuple[bytes, bytes],
) -> None:
    a, b = tmp_path / "a", tmp_path / "b"
    write(a, name, data)
    store.push(a, "dev")
    store.pull(b, "dev")
    write(b, name, _with((b / name).read_bytes(), *theirs))
    store.push(b, "dev")
    write(a, name, _with(data, *ours))
    store.push(a, "dev", rebase=True)
    assert (a / name).read_bytes() == _with(_with(data, *ours), *theirs)
    store.pull(b, "dev")
    assert M in (b / name).read_bytes()
    assert (b / name).read_bytes() == _with(
        _with(_with(data, *ours), *theirs), b'"hunter2-' + name.split(".")[1][:4].encode() + b'"', M
    )


def test_keys_added_next_to_each_other_on_both_sides_are_a_conflict_not_a_rewrite(
    store: Store, tmp_path: Path
) -> None:
    a, b = tmp_path / "a", tmp_path / "b"
    write(a, "d.yaml", YAML)
    store.push(a, "dev")
    store.pull(b, "dev")
    write(b, "d.yaml", _with((b / "d.yaml").read_bytes(), b"mode: 0755\n", b"mode: 0755\nx: 1\n"))
    store.push(b, "dev")
    write(a, "d.yaml", _with(YAML, b"mode: 0755\n", b"mode: 0755\ny: 2\n"))
    from statesync.errors import RefConflict

    with pytest.raises(RefConflict, match=r"d\.yaml"):
        store.push(a, "dev", rebase=True)
    assert (a / "d.yaml").read_bytes() == _with(YAML, b"mode: 0755\n", b"mode: 0755\ny: 2\n")


def test_promotion_keeps_the_documents_bytes(
    store: Store, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("STATESYNC_PASSPHRASE", PASSPHRASE)
    store.keys().init("dev", ["passphrase"])
    store.keys().init("prod", ["passphrase"])
    keyed = Store.open(store.url)
    write(tmp_path / "a", "deploy.yaml", YAML)
    keyed.push(tmp_path / "a", "dev", include_secrets=True)
    keyed.promote("dev", "prod")
    keyed.pull(tmp_path / "p", "prod")
    assert (tmp_path / "p" / "deploy.yaml").read_bytes() == YAML


LAUGHS = b"".join(
    [b'a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]\n']
    + [b"%c: &%c [%s]\n" % (c, c, b",".join([b"*%c" % (c - 1)] * 9)) for c in b"bcdefghi"]
)


def _cli(tmp_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """The CLI in a child limited to 1 GiB of memory and 60 s (a runaway must not hurt)."""

    def limit() -> None:
        resource.setrlimit(resource.RLIMIT_AS, (1 << 30, 1 << 30))

    env = {
        **os.environ,
        "XDG_CACHE_HOME": str(tmp_path / "cache"),
        "XDG_DATA_HOME": str(tmp_path / "data"),
        "XDG_STATE_HOME": str(tmp_path / "state"),
    }
    return subprocess.run(
        [sys.executable, "-m", "statesync.cli", *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
        preexec_fn=limit,
        check=False,
    )


def _one_line(proc: subprocess.CompletedProcess[str], text: str) -> None:
    assert proc.returncode == 1, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("statesync: error: "), proc.stderr
    assert text in lines[0] and "internal error" not in lines[0]


def test_billion_laughs_push_status_and_diff_end_in_a_clear_error(tmp_path: Path) -> None:
    url = (tmp_path / "store").as_uri()
    assert _cli(tmp_path, "--store", url, "init").returncode == 0
    folder = tmp_path / "f"
    write(folder, "lol.yaml", b"password: x\n")
    assert _cli(tmp_path, "--store", url, "push", str(folder)).returncode == 0
    write(folder, "lol.yaml", LAUGHS + b"password: x\n")
    _one_line(_cli(tmp_path, "--store", url, "push", str(folder)), "lol.yaml: YAML aliases")
    _one_line(_cli(tmp_path, "--store", url, "status", str(folder)), "lol.yaml: YAML aliases")
    # without a secret key it is stored as it is; diffs of it stop at the limit
    write(folder, "lol.yaml", LAUGHS)
    assert _cli(tmp_path, "--store", url, "push", str(folder), "--env", "one").returncode == 0
    write(folder, "lol.yaml", LAUGHS + b"j: 1\n")
    assert _cli(tmp_path, "--store", url, "push", str(folder), "--env", "two").returncode == 0
    _one_line(_cli(tmp_path, "--store", url, "diff", "one", "two"), "lol.yaml: YAML aliases")


def test_deeply_nested_json_with_a_secret_key_is_a_clear_error(
    store: Store, tmp_path: Path
) -> None:
    folder = tmp_path / "f"
    write(folder, "deep.json", b'{"password": ' + b"[" * 100_000 + b"]" * 100_000 + b"}")
    with pytest.raises(DocumentLimit, match=r"^deep\.json: nested deeper than 256 levels$"):
        store.push(folder, "dev")
    assert store.envs() == []


def _bundle(tmp_path: Path, name: str, data: bytes) -> Path:
    from tests.sync.bundle.test_bundle import comp, doc, write_json

    return write_json(tmp_path / "in.json", doc([comp(name, data)]))


def test_import_redacts_only_the_secret_values_bytes(store: Store, tmp_path: Path) -> None:
    store.import_(_bundle(tmp_path, "deploy.yaml", YAML), "dev")
    assert b"hunter2-yaml" not in store_bytes(store.repo.backend)
    store.pull(tmp_path / "b", "dev")
    assert (tmp_path / "b" / "deploy.yaml").read_bytes() == _with(YAML, b'"hunter2-yaml"', M)


def test_import_of_a_billion_laughs_is_a_clear_error_and_stores_nothing(
    store: Store, tmp_path: Path
) -> None:
    with pytest.raises(DocumentLimit, match=r"^lol\.yaml: YAML aliases"):
        store.import_(_bundle(tmp_path, "lol.yaml", LAUGHS + b"password: x\n"), "dev")
    assert store.envs() == []


def test_a_document_too_large_to_parse_that_may_hold_secrets_is_refused(tmp_path: Path) -> None:
    store = Store.init((tmp_path / "store").as_uri())
    folder = tmp_path / "f"
    filler = b'{"rows": [' + b'"abcdefgh",' * (65 * 1024 * 1024 // 11) + b"0],\n"
    write(folder, "big.json", filler + b' "password": "hunter2-big"}\n')
    with pytest.raises(DocumentLimit, match=r"^big\.json: larger than 64 MiB"):
        store.push(folder, "dev")
    assert store.envs() == []


def test_sealed_values_carry_exact_bytes_and_older_v1_values_still_open() -> None:
    from statesync.errors import IntegrityError
    from statesync.sync.store.sealing import EnvKeys, value_generation

    keys = EnvKeys("store-id", "dev", 3, b"k" * 32)
    v2 = keys.seal_bytes("a.yaml", "/password", b"|\n  10.50 # not a comment\n  x")
    assert v2.startswith("statesync:enc:v2:3:") and value_generation(v2) == 3
    assert keys.open_bytes("a.yaml", "/password", v2) == b"|\n  10.50 # not a comment\n  x"
    with pytest.raises(IntegrityError):
        keys.open_bytes("a.yaml", "/token", v2)
    v1 = keys.seal_value("a.json", "/password", {"pin": 1234})  # as older versions wrote them
    assert keys.open_bytes("a.json", "/password", v1) == b'{"pin": 1234}'


def test_rebase_of_a_billion_laughs_stops_at_the_limit(tmp_path: Path) -> None:
    store = Store.init((tmp_path / "store").as_uri())
    a, b = tmp_path / "a", tmp_path / "b"
    write(a, "lol.yaml", LAUGHS)  # no secret key: stored as it is
    store.push(a, "dev")
    store.pull(b, "dev")
    write(b, "lol.yaml", b"x: 1\n" + LAUGHS)
    store.push(b, "dev")
    write(a, "lol.yaml", LAUGHS + b"y: 2\n")
    with pytest.raises(DocumentLimit, match=r"^lol\.yaml: YAML aliases"):
        store.push(a, "dev", rebase=True)
    assert (a / "lol.yaml").read_bytes() == LAUGHS + b"y: 2\n"
