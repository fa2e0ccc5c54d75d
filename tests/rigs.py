"""Test rigs: one function per backend that yields a fresh, empty store URL.

Every suite that must run on every backend is parametrised over ``RIGS``.
A rig returns ``None`` when its backend is not available in this run (its
emulator was not started); the test is then skipped with that reason. The
README's test command starts every emulator, so in CI no rig is missing; a
scenario's cloud variants but one are left to the long run (tests/conftest.py).
Cloud rigs live in ``tests/cloud_rigs.py`` (owned by the cloud-backend work).
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from pathlib import Path

Rig = Callable[[Path], "str | None"]


def memory_rig(tmp: Path) -> str | None:
    return f"memory://{uuid.uuid4().hex}"


def local_rig(tmp: Path) -> str | None:
    return (tmp / "store").as_uri()


RIGS: dict[str, Rig] = {"memory": memory_rig, "local": local_rig}

try:  # the cloud rigs register themselves into RIGS
    from tests import cloud_rigs

    RIGS.update(cloud_rigs.RIGS)
except ImportError:  # pragma: no cover - before the cloud work lands
    pass
