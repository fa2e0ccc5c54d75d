"""Under ``--encrypt all`` a store reader learns neither file counts nor sizes (issue 19).

Pack indexes of encrypted pushes are sealed with the environment's key, and
sealed chunks (and manifests) are padded to size buckets, so equal or
different file sizes cannot be read off the store or used to link two
environments. Stores written before stay readable.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import zstandard

from statesync.api import Store
from statesync.sync.store import codec, layout
from statesync.sync.store.sealing import INDEX_MAGIC
from tests.helpers import tree, write


@pytest.fixture
def keyed(any_store_url: str, monkeypatch: pytest.MonkeyPatch) -> Store:
    monkeypatch.setenv("STATESYNC_PASSPHRASE", "correct horse battery staple")
    store = Store.init(any_store_url)
    for env in ("dev", "prod"):
        store.keys().init(env, ["passphrase"])
    return Store.open(any_store_url)


def _objects(store: Store, prefix: str) -> dict[str, bytes]:
    backend = store.repo.backend
    return {m.key: backend.get(m.key)[0] for m in backend.list(prefix)}


def test_indexes_of_encrypted_pushes_are_sealed(keyed: Store, tmp_path: Path) -> None:
    src = tmp_path / "src"
    for n, size in enumerate((100, 1234, 5000, 7777)):
        write(src, f"f{n}.bin", os.urandom(size))
    keyed.push(src, "dev", encrypt_all=True)
    indexes = _objects(keyed, layout.INDEX)
    assert indexes
    for key, body in indexes.items():
        assert body.startswith(INDEX_MAGIC), key
        with pytest.raises(zstandard.ZstdError):  # no plaintext zstd JSON to read rows from
            zstandard.ZstdDecompressor().stream_reader(body).read()
    out = tmp_path / "out"
    keyed.pull(out, "dev")
    assert tree(out) == tree(src)
    assert keyed.verify(read_data=True).ok


def test_sizes_are_padded_so_two_environments_do_not_link(keyed: Store, tmp_path: Path) -> None:
    lengths = {}
    for env, size in (("dev", 1000), ("prod", 1700)):
        src = tmp_path / env
        write(src, "payload.bin", os.urandom(size))
        before = set(_objects(keyed, layout.OBJECTS))
        keyed.push(src, env, encrypt_all=True)
        new = {k: v for k, v in _objects(keyed, layout.OBJECTS).items() if k not in before}
        assert len(new) == 1
        lengths[env] = len(next(iter(new.values())))
    assert lengths["dev"] == lengths["prod"] >= 4096  # one bucket: the size is not there


def test_a_plaintext_push_without_the_key_skips_sealed_indexes(
    keyed: Store, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    src = tmp_path / "src"
    write(src, "a.json", {"a": 1})
    keyed.push(src, "dev", encrypt_all=True)
    monkeypatch.delenv("STATESYNC_PASSPHRASE")
    other = Store.open(keyed.url)
    write(tmp_path / "plain", "b.json", {"b": 2})
    other.push(tmp_path / "plain", "public")
    other.pull(tmp_path / "out", "public")
    assert (tmp_path / "out" / "b.json").exists()


def test_an_old_plaintext_index_of_sealed_packs_stays_readable(
    keyed: Store, tmp_path: Path
) -> None:
    src = tmp_path / "src"
    write(src, "a.bin", os.urandom(3000))
    keyed.push(src, "dev", encrypt_all=True)
    backend = keyed.repo.backend
    [(key, body)] = _objects(keyed, layout.INDEX).items()
    doc = codec.open_document(keyed.repo.keys("dev", 1).open_index(body, key), None, key)
    old_id, old_body = codec.seal_document(doc)  # the format stores had before
    backend.delete(key)
    from statesync.backends.base import CREATE

    backend.put(layout.index_key(old_id), old_body, CREATE)
    fresh = Store.open(keyed.url)
    fresh.pull(tmp_path / "out", "dev")
    assert tree(tmp_path / "out") == tree(src)
