"""What the CLI prints on stdout for a program: JSON with a ``format_version``, times in UTC.

Every JSON object the CLI prints carries :data:`FORMAT_VERSION` (raised when a
field changes meaning or goes away; new fields do not raise it). ``push`` and
``pull`` print JSON lines, as restic does: ``{"message_type": "status"}`` lines
while they run (see :mod:`statesync.cli.progress`) and one
``{"message_type": "summary"}`` at the end, or ``{"message_type": "error"}``.
Other commands print one indented object.

Every timestamp the CLI prints, in JSON and in text, is RFC 3339 in UTC to the
second (``2026-12-02T05:12:00Z``): :func:`rfc3339` for one value,
:func:`normalize` for a result (by the ``*_at`` naming rule), :func:`stamp_text`
for a message that quotes one.
"""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from typing import Any, TextIO

__all__ = [
    "FORMAT_VERSION",
    "JSON_LINES_COMMANDS",
    "emit",
    "jsonable",
    "normalize",
    "rfc3339",
    "stamp_text",
]

#: The version of the JSON the CLI prints (every object carries it).
FORMAT_VERSION = 1

#: Commands whose ``--json`` output is JSON lines (status..., then a summary or an error).
JSON_LINES_COMMANDS = frozenset({"push", "pull"})

#: Keys that hold a timestamp besides the ``*_at`` ones.
_TIME_KEYS = frozenset({"timestamp", "time"})

# An ISO 8601 time with a date, as Python and the store write them (offset optional).
_ISO = re.compile(
    r"\b\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}:\d{2}(?:\.\d+)?(?:Z|[+-]\d{2}:\d{2})?(?![\d:.])"
)


def rfc3339(value: datetime | str) -> str:
    """``value`` as RFC 3339 UTC to the second (``2026-12-02T05:12:00Z``).

    A naive time is taken as UTC (the store writes UTC). A string that is
    not an ISO 8601 time, or whose UTC is outside years 1-9999
    (``9999-12-31T23:59:59-14:00``), is returned unchanged: a store writer's
    odd value is shown as it is, never guessed at; such a datetime is shown
    in its own offset.
    """
    if isinstance(value, datetime):
        moment = value
    else:
        try:
            moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            return value
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    try:
        return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    except OverflowError:
        return value if isinstance(value, str) else moment.isoformat()


#: Characters that would end or rewrite a line on a terminal: C0 and C1 controls, DEL,
#: and Unicode's line and paragraph separators. Tab stays (it does not break a line).
_LINE_BREAKERS = {
    c: f"\\x{c:02x}" if c < 0x100 else f"\\u{c:04x}"
    for c in [*range(0x20), 0x7F, *range(0x80, 0xA0), 0x2028, 0x2029]
    if c != 0x09
}


def one_line(message: str) -> str:
    """``message`` on one line: every character that breaks or rewrites a line escaped.

    An error can quote text read from the store or a file (a lease's holder, a
    document's name); whatever it holds, the error stays one line, and no
    ``statesync: error:`` or ``Traceback`` line can be forged below it.
    """
    return message.translate(_LINE_BREAKERS)


def stamp_text(text: str) -> str:
    """``text`` with every ISO 8601 time in it written as :func:`rfc3339` does."""
    return _ISO.sub(lambda m: rfc3339(m.group(0)), text)


def _is_time_key(key: object) -> bool:
    return isinstance(key, str) and (key.endswith("_at") or key in _TIME_KEYS)


def jsonable(value: Any) -> Any:
    """``value`` with dataclasses turned into dicts and datetimes into RFC 3339 text."""
    import dataclasses  # here, not at the top: ``--help`` never needs it (16 ms)

    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: jsonable(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, datetime):
        return rfc3339(value)
    if isinstance(value, dict):
        return {k: jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [jsonable(v) for v in value]
    return value


def normalize(value: Any) -> Any:
    """:func:`jsonable`, with every ``*_at`` (and ``time``) string as RFC 3339 UTC."""
    value = jsonable(value)
    if isinstance(value, dict):
        return {
            k: rfc3339(v) if _is_time_key(k) and isinstance(v, str) else normalize(v)
            for k, v in value.items()
        }
    if isinstance(value, list):
        return [normalize(v) for v in value]
    return value


def emit(doc: Any, out: TextIO, *, line: bool, message_type: str | None = None) -> None:
    """Print ``doc`` (a normalized result) as JSON: one line when ``line``, else indented.

    A dict gets ``format_version`` (and ``message_type`` when given); a list
    is printed as it is.
    """
    if isinstance(doc, dict):
        head: dict[str, Any] = {"format_version": FORMAT_VERSION}
        if message_type is not None:
            head["message_type"] = message_type
        doc = {**doc, **head}
    text = json.dumps(doc, sort_keys=True) if line else json.dumps(doc, indent=2, sort_keys=True)
    out.write(text + "\n")
