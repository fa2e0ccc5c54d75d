"""Local pins: the store id this machine first saw at each store URL (trust on first use).

A store says who it is in ``statesync.json``, which anyone who can write the
bucket can rewrite. The trust policy, the rollback serials and the sticky
encryption choices are all keyed by a store id, so that id must come from
this machine, not from the store: ``$XDG_CONFIG_HOME/statesync/pins.json``,
mode 0600::

    {"version": 1, "pins": {"s3://bucket/prefix": "<store id>"}}

The first open of a URL records its id; ``init`` records the id it created;
afterwards a different id is refused (:class:`IntegrityError`, exit 4) until
the user runs ``statesync keys pin --reset``. ``memory://`` stores live in one
process only and are never pinned.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from statesync.crypto.userfiles import mode_of
from statesync.errors import IntegrityError
from statesync.fsutil import write_atomic
from statesync.paths import config_dir

VERSION = 1


def default_path() -> Path:
    """``$XDG_CONFIG_HOME/statesync/pins.json``."""
    return config_dir() / "pins.json"


@dataclass(frozen=True)
class PinCheck:
    """The outcome of :func:`check`: the pinned id and whether this open recorded it."""

    url: str
    store_id: str
    first_use: bool


def _load(path: Path) -> dict[str, str]:
    """The pins by canonical URL; :class:`IntegrityError` if the file is unusable."""
    try:
        mode, text = mode_of(path), path.read_text()
    except FileNotFoundError:
        return {}
    except OSError as exc:
        raise IntegrityError(f"store pins {path}: {exc.strerror or exc}") from None
    if mode & 0o022:
        raise IntegrityError(
            f"store pins {path}: writable by others ({mode:04o}); "
            f"refusing to use them (run: chmod 600 {path})"
        )
    try:
        doc = json.loads(text)
        if doc["version"] != VERSION or not isinstance(doc["pins"], dict):
            raise ValueError
        return {str(url): str(sid) for url, sid in doc["pins"].items()}
    except (KeyError, TypeError, ValueError):
        raise IntegrityError(f"store pins {path}: malformed") from None


def _save(path: Path, pins: dict[str, str]) -> None:
    doc = {"version": VERSION, "pins": dict(sorted(pins.items()))}
    write_atomic(path, json.dumps(doc, indent=2).encode() + b"\n", make_parents=True)


def pinned(url: str, path: Path | None = None) -> str | None:
    """The store id pinned for canonical ``url``, or ``None``."""
    return _load(path or default_path()).get(url)


def check(url: str, store_id: str, path: Path | None = None) -> PinCheck:
    """Accept ``store_id`` for canonical ``url`` if it is the pinned one (pin it if none).

    Raises :class:`IntegrityError` when the store now claims another id: its
    descriptor was rewritten (or the store was replaced) since this machine
    first used it.
    """
    path = path or default_path()
    pins = _load(path)
    known = pins.get(url)
    if known is None:
        pins[url] = store_id
        _save(path, pins)
        return PinCheck(url, store_id, first_use=True)
    if known != store_id:
        raise IntegrityError(
            f"{url}: the store says its id is {store_id}, but this machine pinned {known} "
            "when it first used it (statesync.json was rewritten or the store replaced); "
            "if you replaced it yourself, run: statesync --store URL keys pin --reset"
        )
    return PinCheck(url, store_id, first_use=False)


def reset(url: str, store_id: str, path: Path | None = None) -> str | None:
    """Pin ``url`` to ``store_id`` whatever was pinned; return the previous pin."""
    path = path or default_path()
    pins = _load(path)
    previous = pins.get(url)
    pins[url] = store_id
    _save(path, pins)
    return previous
