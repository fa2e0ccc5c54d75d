"""Shared pieces of the property-based fuzz tests (issue 18).

``fuzz_settings`` keeps the default run to a handful of examples and runs
many with ``STATESYNC_LONG=1``; ``cli`` runs the command line in-process and
``assert_clean`` states the contract every fuzz test checks: a documented
exit code and, on failure, one ``statesync: error:`` line, never a traceback
or "internal error".
"""

from __future__ import annotations

import contextlib
import io
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

from hypothesis import HealthCheck, settings

from tests import leakrecord

F = TypeVar("F", bound=Callable[..., Any])

LONG = os.environ.get("STATESYNC_LONG") == "1"
EXIT_CODES = (0, 1, 2, 3, 4, 5, 6)

#: Values a hostile writer could put anywhere: wrong types, huge, negative, non-finite.
HOSTILE: list[Any] = [
    float("inf"),
    1e400,
    2**70,
    -1,
    1.5,
    True,
    None,
    "",
    "x" * 100_000,
    "\ud800",
    [],
    {},
    [1, 2],
    {"a": 1},
    0,
]


def fuzz_settings(default: int, long: int) -> Callable[[F], F]:
    """Hypothesis settings: ``default`` examples normally, ``long`` under STATESYNC_LONG=1.

    The default run is derandomized (the same examples every run), so that a CI
    result can be reproduced; the long run explores new examples each time.
    """
    return settings(
        max_examples=long if LONG else default,
        derandomize=not LONG,
        deadline=None,
        suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    )


def hostile_names(outside: Path) -> list[str]:
    """Path names that try to leave a target folder; ``outside`` is an absolute escape."""
    return [
        "../escape",
        "../../../../escape",
        "a/../../escape",
        "files/../../escape",
        str(outside / "abs-escape"),
        "/etc/statesync-escape",
        "a\\..\\..\\escape",
        "",
        ".",
        "..",
        "a//b",
        "./a",
        "a\x00b",
        "a\udcffb",
        "é" * 300,
        "/".join(["d"] * 400),
        ".statesync/x",
        "link/escape",
        "l.json/inner",
        "CON",
        "a\nb",
    ]


def cli(*args: str) -> tuple[int, str]:
    """Run ``statesync ARGS`` in-process; its exit code and stderr."""
    from statesync.cli import main

    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(list(args))
    leakrecord.record_cli(list(args), code, out.getvalue(), err.getvalue())
    return code, err.getvalue()


def assert_clean(code: int, err: str, context: object = None) -> None:
    """A documented exit code; on failure one ``statesync: error:`` line and no traceback."""
    assert "internal error" not in err, (context, err)
    assert "Traceback" not in err, (context, err)
    assert code in EXIT_CODES, (context, code, err)
    if code != 0:
        assert err.strip().splitlines()[-1].startswith("statesync: error: "), (context, err)


def snapshot_tree(root: Path, skip: tuple[Path, ...] = ()) -> dict[str, bytes | str]:
    """Every path under ``root`` (links not followed), with file bytes or link targets."""
    found: dict[str, bytes | str] = {}
    for path in sorted(root.rglob("*")):
        if any(path == s or s in path.parents for s in skip):
            continue
        rel = str(path.relative_to(root))
        if path.is_symlink():
            found[rel] = "-> " + os.readlink(path)
        elif path.is_file():
            found[rel] = path.read_bytes()
        else:
            found[rel] = "dir"
    return found


def value_paths(doc: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Every path to a value inside a JSON document (the root excluded)."""
    out = []
    items = (
        doc.items() if isinstance(doc, dict) else enumerate(doc) if isinstance(doc, list) else []
    )
    for key, value in items:
        out.append((*prefix, key))
        out.extend(value_paths(value, (*prefix, key)))
    return out


def set_at(doc: Any, path: tuple[Any, ...], value: Any) -> None:
    """Put ``value`` at ``path`` (from :func:`value_paths`) inside ``doc``."""
    for key in path[:-1]:
        doc = doc[key]
    doc[path[-1]] = value
