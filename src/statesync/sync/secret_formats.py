"""Secret values in line-oriented formats: ``KEY=value``, INI, TOML and JSON lines.

Placeholder of the interface (see :mod:`statesync.sync.spans`); the
locators for these formats are being written (issue 10).
"""

from __future__ import annotations

from statesync.sync.spans import Locator


def locator_for(path: str) -> Locator | None:
    """The locator for ``path``'s format when it is one of this module's, else None."""
    return None
