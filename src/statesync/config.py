"""Where the store is and how secrets are named, resolved in a fixed order.

Store: ``--store``, then ``STATESYNC_STORE``, then ``store`` in the nearest
``statesync.toml`` (working folder or a parent), then the default local
store under ``$XDG_DATA_HOME/statesync/store``. A relative path in
``statesync.toml`` is relative to that file.

``statesync.toml`` may also hold ``[secrets] globs = [...]`` and
``key_pattern = "..."``, and ``[promotion] allowed = ["dev->staging", ...]``:
the only promotion paths ``promote`` accepts (absent: any path), and
``[keys] recipients = ["passphrase:team", "aws-kms:alias/x"]``: who new key
generations are wrapped for, and what unwraps them here.
"""

from __future__ import annotations

import os
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from statesync import config_check
from statesync.errors import UsageError
from statesync.paths import default_store_path
from statesync.sync.secrets.policy import DEFAULT_GLOBS, DEFAULT_KEY_PATTERN, SecretPolicy

CONFIG_NAME = "statesync.toml"


@dataclass(frozen=True)
class Config:
    """What a :class:`statesync.api.Store` is opened with; build it by keyword for a program.

    ``Config(store="s3://b/p", policy=SecretPolicy(...), recipients=[...])``
    reads no file and no variable: the library then does what it is told.
    """

    store: str
    policy: SecretPolicy = field(default_factory=SecretPolicy)
    source: str = "given"  # where the store URL came from, for messages
    promotion_allowed: list[str] | None = None  # "FROM->TO" paths; None: any
    recipients: list[str] = field(default_factory=list)  # [keys] recipients specs
    file: Path | None = None  # the statesync.toml read, if any (re-read for promotion rules)


def _find_config(start: Path) -> Path | None:
    for folder in [start, *start.parents]:
        candidate = folder / CONFIG_NAME
        if candidate.is_file():
            return candidate
    return None


def _read(path: Path) -> dict[str, Any]:
    """The parsed file, checked strictly (:mod:`statesync.config_check`); UsageError."""
    try:
        text = path.read_text()
        doc = tomllib.loads(text)
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise UsageError(f"{path}: cannot read configuration: {exc}") from None
    config_check.check(path, text, doc)
    return doc


def _promotion(doc: dict[str, Any], path: Path | None) -> list[str] | None:
    """``[promotion] allowed`` as normalised ``FROM->TO`` strings; UsageError if malformed."""
    section = doc.get("promotion", {})
    allowed = section.get("allowed") if isinstance(section, dict) else section
    if allowed is None:
        return None
    out = []
    for item in allowed if isinstance(allowed, list) else [allowed]:
        src, sep, dst = str(item).partition("->")
        if not isinstance(item, str) or not sep or not src.strip() or not dst.strip():
            raise UsageError(f'{path}: [promotion] allowed wants "FROM->TO" strings, got {item!r}')
        out.append(f"{src.strip()}->{dst.strip()}")
    return out


def _recipients(doc: dict[str, Any], path: Path | None) -> list[str]:
    """``[keys] recipients`` (e.g. ``["passphrase:team", "aws-kms:alias/x"]``); UsageError."""
    value = doc.get("keys", {}).get("recipients", []) if isinstance(doc.get("keys"), dict) else []
    if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
        raise UsageError(f"{path}: [keys] recipients wants a list of recipient strings")
    # A relative key file is relative to statesync.toml, like a relative store path.
    return [
        f"keyfile:{(path.parent / v[8:]).resolve()}"
        if path and v.startswith("keyfile:") and not v[8:].startswith(("/", "~"))
        else v
        for v in value
    ]


def load_config(store: str | None = None, cwd: Path | None = None) -> Config:
    """Resolve the configuration as the CLI does; raises :class:`UsageError` for a broken file.

    Reads the nearest ``statesync.toml`` from ``cwd`` (default: the working
    folder) up. Programs that name their store use :class:`Config` instead.
    """
    path = _find_config(cwd or Path.cwd())
    doc = _read(path) if path else {}
    sec = doc.get("secrets", {})
    policy = SecretPolicy(
        tuple(sec.get("globs", DEFAULT_GLOBS)), str(sec.get("key_pattern", DEFAULT_KEY_PATTERN))
    )
    allowed = _promotion(doc, path)
    recipients = _recipients(doc, path)
    if store:
        return Config(store, policy, "--store", allowed, recipients, path)
    if os.environ.get("STATESYNC_STORE"):
        env_store = os.environ["STATESYNC_STORE"]
        return Config(env_store, policy, "STATESYNC_STORE", allowed, recipients, path)
    if path and "store" in doc:
        value = str(doc["store"])
        if "://" not in value:
            value = str((path.parent / value).resolve())
        return Config(value, policy, str(path), allowed, recipients, path)
    return Config(str(default_store_path()), policy, "default", allowed, recipients, path)
