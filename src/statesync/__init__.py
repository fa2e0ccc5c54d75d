"""statesync: versioned, verified, conflict-safe snapshots of application state."""

from __future__ import annotations

__version__ = "0.1.0"
