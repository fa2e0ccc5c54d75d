"""This machine's memory of environments it stored encrypted, so the store cannot downgrade them.

The sticky encryption modes used to be read from the environment's head
only: whoever deleted the ref (or replaced it with a plaintext head) turned
``--encrypt all`` off for the next routine push. This file remembers, per
pinned store id and environment, that this machine pushed or pulled the
environment with sealed secrets or full encryption
(``$XDG_STATE_HOME/statesync/encryption.json``, mode 0600). A push that would
store less stops with :class:`IntegrityError` unless the user asks for the
encryption again or allows the downgrade locally (``--allow-downgrade``).
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from statesync.errors import IntegrityError
from statesync.fsutil import write_atomic
from statesync.paths import state_dir
from statesync.sync.store.encryption import Encryption

_FILE = "encryption.json"


@dataclass(frozen=True)
class Remembered:
    """What this machine has stored an environment with."""

    secrets: bool = False
    everything: bool = False


def _load() -> dict[str, dict[str, bool]]:
    try:
        doc = json.loads((state_dir() / _FILE).read_text())
        return {
            str(k): {"secrets": bool(v["secrets"]), "all": bool(v["all"])} for k, v in doc.items()
        }
    except FileNotFoundError:
        return {}
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        # Forgetting would be the downgrade this file exists to prevent.
        raise IntegrityError(
            f"{state_dir() / _FILE}: unreadable or malformed "
            "(remove it only if you know no environment must stay encrypted)"
        ) from None


def _save(doc: dict[str, dict[str, bool]]) -> None:
    write_atomic(state_dir() / _FILE, json.dumps(doc, indent=2).encode() + b"\n", make_parents=True)


def remembered(store_id: str, env: str) -> Remembered:
    row = _load().get(f"{store_id}/{env}")
    return Remembered(row["secrets"], row["all"]) if row else Remembered()


def remember(store_id: str, env: str, encryption: Encryption) -> None:
    """Raise the memory to what ``encryption`` (a manifest's field) says; never lowers it."""
    doc = _load()
    key = f"{store_id}/{env}"
    old = doc.get(key, {"secrets": False, "all": False})
    new = {
        "secrets": old["secrets"] or encryption.secrets,
        "all": old["all"] or encryption.everything,
    }
    if new != old:
        doc[key] = new
        _save(doc)


def forget(store_id: str, env: str) -> None:
    """Drop the memory of (store, env): the user allowed a downgrade."""
    doc = _load()
    if doc.pop(f"{store_id}/{env}", None) is not None:
        _save(doc)


def check(
    store_id: str, env: str, include_secrets: bool, everything: bool, head_present: bool
) -> None:
    """Refuse to store ``env`` with less encryption than this machine used before.

    Raises :class:`IntegrityError` naming the flag that would keep the
    environment encrypted.
    """
    mem = remembered(store_id, env)
    if mem.everything and not everything:
        flag = "--encrypt all"
    elif mem.secrets and not include_secrets:
        flag = "--include-secrets"
    else:
        return
    what = "is gone or not trusted" if not head_present else "is no longer encrypted that way"
    raise IntegrityError(
        f"refs/{env}: this machine stored {env} with {flag}, but its head {what} (deleted or "
        f"replaced by someone who can write the store); refusing to push it with less "
        f"encryption: push with {flag} to keep it, or --allow-downgrade if you mean it"
    )


def guard(
    store_id: str,
    env: str,
    encryption: Encryption,
    *,
    head_present: bool,
    allow_downgrade: bool,
    what: str,
) -> None:
    """Refuse a promote, rollback or import that would store ``env`` with less encryption.

    ``encryption`` is the manifest field the write would store; ``what``
    names the command in the message. ``allow_downgrade`` drops this
    machine's memory instead, as ``push --allow-downgrade`` does. Raises
    :class:`IntegrityError` naming the flag, before anything is written.
    """
    if allow_downgrade:
        forget(store_id, env)
        return
    mem = remembered(store_id, env)
    if mem.everything and not encryption.everything:
        flag = "--encrypt all"
    elif mem.secrets and not encryption.secrets:
        flag = "--include-secrets"
    else:
        return
    gone = (
        ""
        if head_present
        else " (its head is gone or not trusted: deleted or replaced "
        "by someone who can write the store)"
    )
    raise IntegrityError(
        f"refs/{env}: this machine stored {env} with {flag}; this {what} would store it "
        f"without that{gone}; refusing: pass --allow-downgrade if you mean it"
    )
