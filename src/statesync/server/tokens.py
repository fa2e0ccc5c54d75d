"""The token file of ``statesync serve``: names, hashed tokens, a role per environment glob.

A token is 32 random bytes (``sst_`` + URL-safe base64), shown once when it
is made. The file keeps only its SHA-256: a token carries 256 bits of
entropy, so no dictionary or brute force can find it from the hash, and a
slow password hash (scrypt, Argon2) would only add tens of milliseconds to
every request without making it any safer. The file is written 0600
(atomically) and refused when group or others can read it, like an SSH key.

Each grant maps an environment glob (``prod``, ``dev*``) to ``read``,
``write`` or ``admin``; a caller's role for an environment is the highest of
the grants whose glob matches it.
"""

from __future__ import annotations

import fnmatch
import hashlib
import hmac
import json
import os
import re
import secrets
import stat
import tempfile
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from statesync.errors import UsageError

#: Roles, weakest first: each includes the ones before it.
ROLES = ("read", "write", "admin")
_NAME_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.@-]{0,63}\Z")
_PREFIX = "sst_"
_VERSION = 1


def level(role: str) -> int:
    """The rank of ``role`` (read 1, write 2, admin 3); :class:`UsageError` if unknown."""
    if role not in ROLES:
        raise UsageError(f"unknown role {role!r}: use one of {', '.join(ROLES)}")
    return ROLES.index(role) + 1


def digest(token: str) -> str:
    return "sha256:" + hashlib.sha256(token.encode()).hexdigest()


@dataclass(frozen=True)
class Grant:
    """A role on every environment whose name matches ``pattern`` (fnmatch, case-sensitive)."""

    pattern: str
    role: str

    @classmethod
    def parse(cls, text: str) -> Grant:
        """``ENV_GLOB=ROLE`` (as given to ``--env``); :class:`UsageError` if malformed."""
        pattern, sep, role = text.rpartition("=")
        if not sep or not pattern or not re.fullmatch(r"[A-Za-z0-9_.*?\[\]-]{1,63}", pattern):
            raise UsageError(f"--env expects ENV_GLOB=ROLE (e.g. prod=write), got {text!r}")
        level(role)
        return cls(pattern, role)


@dataclass(frozen=True)
class TokenEntry:
    """One named token: its hash and grants (never the token itself)."""

    name: str
    digest: str
    grants: tuple[Grant, ...]
    created_at: str = ""

    def level_for(self, env: str) -> int:
        """The highest role level granted on ``env`` (0: none)."""
        return max(
            (level(g.role) for g in self.grants if fnmatch.fnmatchcase(env, g.pattern)), default=0
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "digest": self.digest,
            "created_at": self.created_at,
            "grants": {g.pattern: g.role for g in self.grants},
        }


@dataclass(frozen=True)
class TokenTable:
    """Every token of a file."""

    entries: tuple[TokenEntry, ...] = ()

    def by_name(self, name: str) -> TokenEntry | None:
        return next((e for e in self.entries if e.name == name), None)

    def match(self, token: str, name: str | None = None) -> TokenEntry | None:
        """The entry ``token`` belongs to (only the one called ``name`` when given).

        Every candidate is compared in constant time, and a missing name costs
        a comparison too, so timing tells nothing about which names exist.
        """
        want = digest(token).encode()
        found = None
        candidates = [e for e in self.entries if name is None or e.name == name]
        for entry in candidates or [TokenEntry("", digest(""), ())]:
            if hmac.compare_digest(want, entry.digest.encode()) and entry.name:
                found = entry
        return found


def default_path() -> Path:
    """``$XDG_CONFIG_HOME/statesync/serve-tokens.json``."""
    base = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(base) / "statesync" / "serve-tokens.json"


def _entry(doc: dict[str, Any]) -> TokenEntry:
    grants = tuple(Grant(str(p), str(r)) for p, r in dict(doc["grants"]).items())
    for g in grants:
        level(g.role)
    return TokenEntry(str(doc["name"]), str(doc["digest"]), grants, str(doc.get("created_at", "")))


def load(path: Path) -> TokenTable:
    """Read a token file (absent: no tokens); :class:`UsageError` if unsafe or malformed."""
    try:
        st = path.stat()
    except FileNotFoundError:
        return TokenTable()
    if stat.S_IMODE(st.st_mode) & 0o077:
        raise UsageError(
            f"{path}: token file is readable by others "
            f"(mode {stat.S_IMODE(st.st_mode):o}); chmod 600 it"
        )
    try:
        doc = json.loads(path.read_bytes())
        if doc.get("version") != _VERSION:
            raise ValueError("unknown version")
        return TokenTable(tuple(_entry(e) for e in doc["tokens"]))
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        raise UsageError(f"{path}: not a statesync token file ({type(exc).__name__})") from None


def save(path: Path, table: TokenTable) -> None:
    """Write ``table`` to ``path`` atomically, mode 0600."""
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    body = (
        json.dumps(
            {"version": _VERSION, "tokens": [e.to_json() for e in table.entries]},
            indent=2,
            sort_keys=True,
        ).encode()
        + b"\n"
    )
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tokens-")  # mkstemp makes it 0600
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(body)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def add(path: Path, name: str, grants: list[Grant]) -> str:
    """Add token ``name`` with ``grants``; return the new token (the only time it is seen)."""
    if not _NAME_RE.match(name):
        raise UsageError(f"invalid token name {name!r}: letters, digits, '_.@-' (max 64)")
    if not grants:
        raise UsageError("a token needs at least one --env ENV_GLOB=ROLE")
    table = load(path)
    if table.by_name(name) is not None:
        raise UsageError(f"a token named {name!r} exists; remove it first")
    token = _PREFIX + secrets.token_urlsafe(32)
    stamp = datetime.now(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")
    entry = TokenEntry(name, digest(token), tuple(grants), stamp)
    save(path, TokenTable((*table.entries, entry)))
    return token


def remove(path: Path, name: str) -> TokenEntry:
    """Remove token ``name``; :class:`UsageError` if there is none."""
    table = load(path)
    entry = table.by_name(name)
    if entry is None:
        raise UsageError(f"no token named {name!r} in {path}")
    save(path, TokenTable(tuple(e for e in table.entries if e.name != name)))
    return entry


@dataclass
class TokenFile:
    """A token file re-read when it changes, so tokens added or removed apply at once."""

    path: Path
    _seen: tuple[int, int, int] | None = field(default=None, repr=False)
    _table: TokenTable = field(default_factory=TokenTable, repr=False)

    def table(self) -> TokenTable:
        """The current tokens; :class:`UsageError` while the file is unsafe or malformed."""
        try:
            st = self.path.stat()
            # save() replaces the file: a new inode, whatever the clock's resolution
            stamp = (st.st_ino, st.st_mtime_ns, st.st_size)
        except FileNotFoundError:
            stamp = (0, 0, 0)
        if stamp != self._seen:
            self._table = load(self.path)
            self._seen = stamp
        return self._table
