"""What statesync will use, before it does anything: ``statesync info``.

:func:`describe` reads only the resolved configuration and this machine's
files; it contacts no store and reads no secret. Values that could hold a
secret (a passphrase, a passphrase command, a connection string, a password
or token inside a URL) are shown only as ``(set)`` or ``***``.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from statesync import paths
from statesync.config import Config

FORMAT_VERSION = 1
HIDDEN = "***"
SET = "(set)"
#: Variables whose value is never a secret: shown as they are (store URLs redacted).
PLAIN_VARS = (
    "STATESYNC_STORE",
    "STATESYNC_CONFIG",
    "STATESYNC_ENV",
    "STATESYNC_PASSPHRASE_FILE",
    "STATESYNC_SIGNING_KEY",
    "STATESYNC_RETRY_BUDGET",
    "AWS_PROFILE",
    "AWS_REGION",
    "AWS_DEFAULT_REGION",
    "AWS_ENDPOINT_URL",
    "AZURE_STORAGE_ACCOUNT",
    "AZURE_STORAGE_ACCOUNT_URL",
    "GOOGLE_APPLICATION_CREDENTIALS",
    "GOOGLE_CLOUD_PROJECT",
    "STORAGE_EMULATOR_HOST",
    "XDG_CONFIG_HOME",
    "XDG_DATA_HOME",
    "XDG_STATE_HOME",
    "XDG_CACHE_HOME",
)
#: Variables that are reported only as set (their value may be a secret).
SECRET_VARS = (
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
    "AWS_SESSION_TOKEN",
    "AZURE_STORAGE_CONNECTION_STRING",
    "AZURE_STORAGE_KEY",
    "AZURE_CLIENT_SECRET",
)
_SECRET_WORD = re.compile(r"(?i)(key|secret|token|sig|pass|credential|auth)")


@dataclass(frozen=True)
class Resolved:
    """A value and where it came from (``--store``, ``STATESYNC_ENV``, a file, ``default``)."""

    value: str | None
    source: str


@dataclass(frozen=True)
class LocalFile:
    """A file on this machine statesync reads or writes, and whether it exists yet."""

    path: str
    exists: bool


@dataclass(frozen=True)
class Info:
    """Everything ``statesync info`` reports (no secret material)."""

    format_version: int
    version: str
    store: Resolved
    config_file: Resolved
    env: Resolved
    recipients: list[str]
    identities: list[str]
    passphrase: Resolved
    signing_key: LocalFile
    trust_policy: LocalFile
    store_pins: LocalFile
    folders: dict[str, str]
    environment: dict[str, str]


def redact_url(url: str) -> str:
    """``url`` with any password in it and any secret-looking query value replaced by ***."""
    if "@" not in url and "?" not in url:
        return url
    try:
        parts = urlsplit(url)
    except ValueError:
        return HIDDEN
    netloc = parts.netloc
    if "@" in netloc:
        user, _, host = netloc.rpartition("@")
        if ":" in user:
            netloc = f"{user.partition(':')[0]}:{HIDDEN}@{host}"
    query = [
        (k, HIDDEN if _SECRET_WORD.search(k) else redact_url(v) if "://" in v else v)
        for k, v in parse_qsl(parts.query, keep_blank_values=True)
    ]
    return urlunsplit(parts._replace(netloc=netloc, query=urlencode(query, safe="/:@*")))


def _passphrase_source() -> Resolved:
    """Which passphrase source is set (names only), in the order they are read."""
    for var in (
        "STATESYNC_PASSPHRASE",
        "STATESYNC_PASSPHRASE_FILE",
        "STATESYNC_PASSPHRASE_COMMAND",
    ):
        if os.environ.get(var):
            return Resolved(SET if var != "STATESYNC_PASSPHRASE_FILE" else os.environ[var], var)
    return Resolved(None, "prompt at a terminal" if os.isatty(0) else "none")


def _environment() -> dict[str, str]:
    """statesync's and the SDKs' variables that are set; secret ones only as ``(set)``."""
    out = {}
    for name in sorted(
        {*PLAIN_VARS, *SECRET_VARS, *(k for k in os.environ if k.startswith("STATESYNC_"))}
    ):
        value = os.environ.get(name)
        if not value:
            continue
        if name == "STATESYNC_STORE":
            out[name] = redact_url(value)
        else:
            out[name] = value if name in PLAIN_VARS else SET
    return out


def _local(path: Path) -> LocalFile:
    return LocalFile(str(path), path.exists())


def describe(config: Config) -> Info:
    """What a command run with ``config`` would use; reads no store and no secret."""
    from statesync.crypto import pins, signing, trust
    from statesync.version import __version__

    return Info(
        format_version=FORMAT_VERSION,
        version=__version__,
        store=Resolved(redact_url(config.store), config.source),
        config_file=Resolved(
            str(config.file.path) if config.file.path else None, config.file.reason
        ),
        env=Resolved(config.env, config.env_source),
        recipients=list(config.recipients),
        identities=list(config.identities),
        passphrase=_passphrase_source(),
        signing_key=_local(signing.default_key_path()),
        trust_policy=_local(trust.default_path()),
        store_pins=_local(pins.default_path()),
        folders={
            "config": str(paths.config_dir()),
            "data": str(paths.data_dir()),
            "state": str(paths.state_dir()),
            "cache": str(paths.cache_dir()),
        },
        environment=_environment(),
    )
