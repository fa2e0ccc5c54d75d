"""A pushed ``terraform.tfstate`` is a JSON document: its secret values never reach the store."""

from __future__ import annotations

import json
from pathlib import Path

from statesync.api import Store
from statesync.sync.secrets.policy import MARKER
from tests.helpers import store_bytes, write
from tests.leakscan import planted


def test_secret_values_of_a_tfstate_are_redacted_like_json(tmp_path: Path) -> None:
    secret = planted("tfstate-push")
    state = {
        "version": 4,
        "serial": 1,
        "lineage": "l",
        "outputs": {},
        "resources": [{"instances": [{"attributes": {"id": "x", "password": secret}}]}],
    }
    src = tmp_path / "src"
    write(src, "terraform.tfstate", state)
    with Store.init((tmp_path / "store").as_uri()) as store:
        store.push(src, "dev")
        assert secret.encode() not in store_bytes(store.repo.backend)
        store.pull(tmp_path / "copy", "dev")
    pulled = json.loads((tmp_path / "copy" / "terraform.tfstate").read_bytes())
    assert pulled["resources"][0]["instances"][0]["attributes"]["password"] == MARKER
