"""Strict reading of ``statesync.toml``: every table, key and type is known.

A typo must not silently change what is secret (``[secret]`` for
``[secrets]``, ``globs = "*.pem"``): anything unknown or of the wrong type
is a :class:`UsageError` (exit 2) naming the file, the line and the key.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NoReturn

from statesync.errors import UsageError
from statesync.sync.secrets.tomlspans import value_offsets


@dataclass(frozen=True)
class Field:
    """One key: a test of its value and the words that name what it wants."""

    check: Callable[[Any], bool]
    wants: str


def _strings(value: Any) -> bool:
    return isinstance(value, list) and all(isinstance(v, str) for v in value)


def _pattern(value: Any) -> bool:
    if not isinstance(value, str):
        return False
    try:
        re.compile(value)
    except re.error:
        return False
    return True


STRING = Field(lambda v: isinstance(v, str), "a string")
STRINGS = Field(_strings, "a list of strings")

#: Every table and key statesync.toml may hold (top-level keys under "").
SCHEMA: dict[str, dict[str, Field]] = {
    "": {"store": STRING, "env": STRING},
    "secrets": {"globs": STRINGS, "key_pattern": Field(_pattern, "a regular expression")},
    "promotion": {"allowed": STRINGS},
    "keys": {"recipients": STRINGS},
}


def check(path: Path, text: str, doc: dict[str, Any]) -> None:
    """Raise :class:`UsageError` for the first unknown table or key or wrong type in ``doc``."""
    where = _Where(path, text)
    for name, value in doc.items():
        if name in SCHEMA[""]:
            _check_value(where, "", name, value, SCHEMA[""][name])
        elif name not in SCHEMA:
            where.fail(
                f"/{name}",
                f"unknown {'table' if isinstance(value, dict) else 'key'} "
                f"{_shown(name, value)}{_guess(name, [*SCHEMA, *SCHEMA['']])}",
            )
        elif not isinstance(value, dict):
            where.fail(f"/{name}", f"{name} must be a table [{name}]")
        else:
            for key, item in value.items():
                fields = SCHEMA[name]
                if key not in fields:
                    where.fail(
                        f"/{name}/{key}",
                        f"unknown key {key!r} in [{name}]"
                        f"{_guess(key, list(fields))} (known: {', '.join(fields)})",
                    )
                _check_value(where, name, key, item, fields[key])


def _check_value(where: _Where, table: str, key: str, value: Any, field: Field) -> None:
    if not field.check(value):
        name = f"[{table}] {key}" if table else key
        where.fail(
            f"{'/' + table if table else ''}/{key}",
            f"{name} must be {field.wants}, not {_kind(value)}",
        )


def _shown(name: str, value: Any) -> str:
    return f"[{name}]" if isinstance(value, dict) else repr(name)


def _guess(name: str, known: list[str]) -> str:
    close = difflib.get_close_matches(name, [k for k in known if k], n=1)
    return f" (did you mean {close[0]!r}?)" if close else ""


def _kind(value: Any) -> str:
    if isinstance(value, list):
        bad = next((v for v in value if not isinstance(v, str)), None)
        return f"a list holding {_kind(bad)}" if value else "an empty list"
    if isinstance(value, str):
        return "a string" if _pattern(value) else "a string that does not compile"
    return {dict: "a table", bool: "a boolean", int: "an integer", float: "a number"}.get(
        type(value), type(value).__name__
    )


@dataclass(frozen=True)
class _Where:
    path: Path
    text: str

    def fail(self, pointer: str, message: str) -> NoReturn:
        raise UsageError(f"{self.path}:{self._line(pointer)}: {message}; nothing was done")

    def _line(self, pointer: str) -> str:
        offsets = value_offsets(self.text)
        starts = [o for p, o in offsets.items() if p == pointer or p.startswith(pointer + "/")]
        table = pointer.split("/")[1]
        header = re.search(rf"(?m)^[ \t]*\[+[ \t]*[\"']?{re.escape(table)}\b", self.text)
        if starts:
            offset = min(starts)
        elif header:
            offset = header.start()
        else:
            return "?"
        return str(self.text.count("\n", 0, offset) + 1)
