"""Where the store is and how secrets are named, resolved in a fixed order.

Store: ``--store``, then ``STATESYNC_STORE``, then ``store`` in the nearest
``statesync.toml`` (working folder or a parent), then the default local
store under ``$XDG_DATA_HOME/statesync/store``. A relative path in
``statesync.toml`` is relative to that file.

``statesync.toml`` may also hold ``[secrets] globs = [...]`` and
``key_pattern = "..."``.
"""

from __future__ import annotations

import os
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from statesync.errors import UsageError
from statesync.paths import default_store_path
from statesync.sync.secrets import DEFAULT_GLOBS, DEFAULT_KEY_PATTERN, SecretPolicy

CONFIG_NAME = "statesync.toml"


@dataclass(frozen=True)
class Config:
    store: str
    policy: SecretPolicy
    source: str  # where the store URL came from, for messages


def _find_config(start: Path) -> Path | None:
    for folder in [start, *start.parents]:
        candidate = folder / CONFIG_NAME
        if candidate.is_file():
            return candidate
    return None


def _read(path: Path) -> dict[str, Any]:
    try:
        return tomllib.loads(path.read_text())
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise UsageError(f"{path}: cannot read configuration: {exc}") from None


def load_config(store: str | None = None, cwd: Path | None = None) -> Config:
    """Resolve the configuration; raises :class:`UsageError` for a broken file."""
    path = _find_config(cwd or Path.cwd())
    doc = _read(path) if path else {}
    sec = doc.get("secrets", {})
    policy = SecretPolicy(tuple(sec.get("globs", DEFAULT_GLOBS)),
                          str(sec.get("key_pattern", DEFAULT_KEY_PATTERN)))
    if store:
        return Config(store, policy, "--store")
    if os.environ.get("STATESYNC_STORE"):
        return Config(os.environ["STATESYNC_STORE"], policy, "STATESYNC_STORE")
    if path and "store" in doc:
        value = str(doc["store"])
        if "://" not in value:
            value = str((path.parent / value).resolve())
        return Config(value, policy, str(path))
    return Config(str(default_store_path()), policy, "default")
