"""Where the store is and how secrets are named, resolved in a fixed order.

Every knob resolves the same way: flag, then environment variable, then
``statesync.toml``, then the default.

Config file: ``--config FILE``, then ``STATESYNC_CONFIG``, then the nearest
``statesync.toml`` (working folder or a parent), then none. A file named by
the flag or the variable must exist (:class:`UsageError`).
Store: ``--store``, then ``STATESYNC_STORE``, then ``store`` in the config
file, then the default local store under ``$XDG_DATA_HOME/statesync/store``.
A relative path in ``statesync.toml`` is relative to that file.
Environment: ``--env``, then ``STATESYNC_ENV``, then ``env`` in the config
file, then ``default``.

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
CONFIG_VAR = "STATESYNC_CONFIG"
STORE_VAR = "STATESYNC_STORE"
ENV_VAR = "STATESYNC_ENV"
DEFAULT_ENV = "default"


@dataclass(frozen=True)
class ConfigFile:
    """The configuration file in use and why: ``reason`` is ``--config``,
    ``STATESYNC_CONFIG``, ``found in folder`` or ``none`` (then ``path`` is None)."""

    path: Path | None
    reason: str


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
    file: ConfigFile = ConfigFile(None, "none")
    env: str = DEFAULT_ENV  # the environment a command uses when --env is not given
    env_source: str = "default"  # --env, STATESYNC_ENV, the config file, or default
    identities: list[str] = field(default_factory=list)  # --identity specs (unwrap only)


def _find_config(start: Path) -> Path | None:
    for folder in [start, *start.parents]:
        candidate = folder / CONFIG_NAME
        if candidate.is_file():
            return candidate
    return None


def find_config_file(flag: str | Path | None = None, cwd: Path | None = None) -> ConfigFile:
    """The config file: ``flag``, then ``$STATESYNC_CONFIG``, then the nearest
    ``statesync.toml`` from ``cwd`` up. A named file that is not a file is a
    :class:`UsageError`."""
    named, reason = (flag, "--config") if flag else (os.environ.get(CONFIG_VAR), CONFIG_VAR)
    if named:
        path = Path(named).expanduser()
        if not path.is_file():
            raise UsageError(f"{reason} names {path}, which is not a file")
        return ConfigFile(path.resolve(), reason)
    found = _find_config(cwd or Path.cwd())
    return ConfigFile(found, "found in folder") if found else ConfigFile(None, "none")


def _env(flag: str | None, doc: dict[str, Any], path: Path | None) -> tuple[str, str]:
    """(environment, where it came from): flag, ``STATESYNC_ENV``, the file, default."""
    if flag:
        return flag, "--env"
    if os.environ.get(ENV_VAR):
        return os.environ[ENV_VAR], ENV_VAR
    if "env" in doc:
        return str(doc["env"]), str(path)
    return DEFAULT_ENV, "default"


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


def load_config(
    store: str | None = None,
    cwd: Path | None = None,
    *,
    config_file: str | Path | None = None,
    env: str | None = None,
    identities: list[str] | None = None,
) -> Config:
    """Resolve the configuration (flags given as arguments win over the
    environment, which wins over the file); :class:`UsageError` for a broken
    or missing named file."""
    found = find_config_file(config_file, cwd)
    path = found.path
    doc = _read(path) if path else {}
    sec = doc.get("secrets", {})
    try:
        policy = SecretPolicy(
            tuple(sec.get("globs", DEFAULT_GLOBS)), str(sec.get("key_pattern", DEFAULT_KEY_PATTERN))
        )
    except UsageError as exc:  # a glob that does not compile ("[z-a]"): name the file
        raise UsageError(f"{path}: {exc}; nothing was done") from None
    url, source = _store(store, doc, path)
    env_name, env_source = _env(env, doc, path)
    return Config(
        url,
        policy,
        source,
        promotion_allowed=_promotion(doc, path),
        recipients=_recipients(doc, path),
        file=found,
        env=env_name,
        env_source=env_source,
        identities=list(identities or []),
    )


def _store(flag: str | None, doc: dict[str, Any], path: Path | None) -> tuple[str, str]:
    """(store URL, where it came from): flag, ``STATESYNC_STORE``, the file, default."""
    if flag:
        return flag, "--store"
    if os.environ.get(STORE_VAR):
        return os.environ[STORE_VAR], STORE_VAR
    if path and "store" in doc:
        value = str(doc["store"])
        if "://" not in value:
            value = str((path.parent / value).resolve())
        return value, str(path)
    return str(default_store_path()), "default"
