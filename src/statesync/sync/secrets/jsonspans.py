"""A position-tracking JSON scanner: every value of a JSON text as a node.

Iterative (nesting costs no Python stack) and built on :mod:`json`'s own
string scanner, so it accepts exactly what ``json.loads`` accepts (duplicate
keys, ``NaN``, ``1e400``...); nesting past :data:`MAX_DEPTH` raises
:class:`DocumentLimit`.
"""

from __future__ import annotations

import bisect
import itertools
import json
import json.decoder
import json.scanner
import re
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from statesync import jsonpointer
from statesync.sync.secrets.docnodes import MAX_DEPTH, Node, too_deep

if TYPE_CHECKING:
    from statesync.sync.secrets.spans import KeyPolicy

#: json's own string scanner (C-accelerated): exactly the strings json.loads accepts.
_scanstring: Callable[[str, int, bool], tuple[str, int]] = json.decoder.scanstring  # type: ignore[attr-defined]
_WS = re.compile(r"[ \t\n\r]*")
#: An object key with no escape and no control character (what json's scanner would
#: return as it is), its colon and the blanks around it, in one match; any other
#: key goes through json's scanner.
_PLAIN_KEY = re.compile(r'"([^"\\\x00-\x1f]*)"[ \t\n\r]*:[ \t\n\r]*')
#: After a value inside a container: blanks, then a comma and the blanks after it,
#: or a closing bracket.
_AFTER = re.compile(r"[ \t\n\r]*(?:(,)[ \t\n\r]*|([\]}]))")
# json's C scanner accepts ASCII digits only (its pure-Python twin's \d is wider).
_NUMBER = re.compile(r"-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?(?:[eE][-+]?[0-9]+)?")
_STRINGS = re.compile(r'"(?:[^"\\]|\\.)*"', re.DOTALL)
_BRACKETS = re.compile(r"[\[\]{}]")
_DEPTH = {"[": 1, "{": 1, "]": -1, "}": -1}
_LITERALS = (
    ("null", "null"),
    ("true", "other"),
    ("false", "other"),
    ("NaN", "other"),
    ("Infinity", "other"),
    ("-Infinity", "other"),
)


@dataclass(slots=True)
class _Open:
    """A JSON container being scanned."""

    kind: str
    pointer: str
    key: Any
    start: int
    count: int = 0


#: A scanned value: pointer, key, start, end, string value (or None), is-null.
Scanned = tuple[str, Any, int, int, "str | None", bool]


def json_nodes(text: str) -> Iterator[Node]:
    """Every value of a JSON text as a :class:`Node`, children before their container."""
    for scanned in json_scan(text):
        yield Node(*scanned)


def json_scan(text: str) -> Iterator[Scanned]:
    """Every value of a JSON text (as plain tuples: this loop is the hot path).

    Raises ``ValueError`` (``json.JSONDecodeError``) where ``json.loads``
    would, and :class:`DocumentLimit` past :data:`MAX_DEPTH`.
    """
    if text.startswith("\ufeff"):
        raise json.JSONDecodeError("Unexpected UTF-8 BOM", text, 0)
    stack: list[_Open] = []
    pos = _WS.match(text, 0).end()  # type: ignore[union-attr]
    pointer, key = "", None
    while True:
        c = text[pos : pos + 1]
        if c in ("{", "["):
            if len(stack) >= MAX_DEPTH:
                raise too_deep()
            stack.append(_Open(c, pointer, key, pos))
            pos = _WS.match(text, pos + 1).end()  # type: ignore[union-attr]
            if text.startswith("}" if c == "{" else "]", pos):
                top = stack.pop()
                pos += 1
                yield top.pointer, top.key, top.start, pos, None, False
            elif c == "{":
                key, pos = _json_key(text, pos)
                pointer = jsonpointer.join(stack[-1].pointer, key)
                continue
            else:
                pointer, key = f"{pointer}/0", None
                continue
        else:
            string, null, start, pos = _json_scalar(text, pos)
            yield pointer, key, start, pos, string, null
        while True:  # after a value: a comma, a closing bracket, or the end
            if not stack:
                pos = _WS.match(text, pos).end()  # type: ignore[union-attr]
                if pos != len(text):
                    raise json.JSONDecodeError("Extra data", text, pos)
                return
            top = stack[-1]
            after = _AFTER.match(text, pos)
            if after is None:
                pos = _WS.match(text, pos).end()  # type: ignore[union-attr]
                raise json.JSONDecodeError("Expecting ',' delimiter", text, pos)
            if after.group(1):
                top.count += 1
                pos = after.end()
                if top.kind == "{":
                    key, pos = _json_key(text, pos)
                    pointer = jsonpointer.join(top.pointer, key)
                else:
                    pointer, key = f"{top.pointer}/{top.count}", None
                break
            if after.group(2) != ("}" if top.kind == "{" else "]"):
                raise json.JSONDecodeError("Expecting ',' delimiter", text, after.start(2))
            stack.pop()
            pos = after.end()
            yield top.pointer, top.key, top.start, pos, None, False


def _json_key(text: str, pos: int) -> tuple[str, int]:
    """Scan ``"key" :`` at ``pos``; return the key and the position of its value."""
    plain = _PLAIN_KEY.match(text, pos)
    if plain is not None:
        return plain.group(1), plain.end()
    if not text.startswith('"', pos):
        raise json.JSONDecodeError("Expecting property name enclosed in double quotes", text, pos)
    key, pos = _scanstring(text, pos + 1, True)
    pos = _WS.match(text, pos).end()  # type: ignore[union-attr]
    if not text.startswith(":", pos):
        raise json.JSONDecodeError("Expecting ':' delimiter", text, pos)
    return key, _WS.match(text, pos + 1).end()  # type: ignore[union-attr]


def _json_scalar(text: str, pos: int) -> tuple[str | None, bool, int, int]:
    """A scalar at ``pos``: its string value (or None), whether null, its start and end."""
    if text.startswith('"', pos):
        value, end = _scanstring(text, pos + 1, True)
        return value, False, pos, end
    for literal, kind in _LITERALS[:3]:
        if text.startswith(literal, pos):
            return None, kind == "null", pos, pos + len(literal)
    m = _NUMBER.match(text, pos)
    if m:
        return None, False, pos, m.end()
    for literal, _ in _LITERALS[3:]:
        if text.startswith(literal, pos):
            return None, False, pos, pos + len(literal)
    raise json.JSONDecodeError("Expecting value", text, pos)


#: The longest text parsed whole to find its secrets. json's objects take about six
#: times the text (44 MB for a 7.4 MB document), so a longer text is scanned, which
#: holds only the nodes it keeps: a push's memory stays bounded.
PARSE_WHOLE = 8 * 1024 * 1024


def json_secret_nodes(text: str, policy: KeyPolicy, data: bytes | None = None) -> list[Node]:
    """The secret value nodes of a JSON text (outermost first wins: see ``docnodes.outermost``).

    ``data``: the text's UTF-8 bytes, if the caller has them. Three ways, each
    giving the same nodes after ``outermost`` (tests/sync/secrets/test_jsonscan.py):

    - a text of at most :data:`PARSE_WHOLE` characters whose secret members
      the policy can point at (``secret_hits``) is walked into the
      containers that hold such an offset only (:class:`_HitWalk`);
    - another valid text that long is parsed by json's C parser, which tells
      which values are secret (:class:`_Finder`); the text is then walked
      only down to those values (:class:`_Reach`);
    - a longer text, one json refuses, one with a repeated key in an object
      (in the second way only) or one that nests past :data:`MAX_DEPTH` is
      scanned value by value (:func:`_scanned_secret_nodes`), which refuses
      or limits it as it always did.

    In the first two ways every value not walked is skipped by json's C scanner.
    """
    if len(text) > PARSE_WHOLE:
        return _scanned_secret_nodes(text, policy)
    raw = text.encode("utf-8", "surrogatepass") if data is None else data
    hits = policy.secret_hits(raw)
    if hits is not None:
        if len(raw) != len(text):
            hits = _char_offsets(raw, hits)
        nodes = _HitWalk(text, hits, policy).nodes(raw)
        return _scanned_secret_nodes(text, policy) if nodes is None else nodes
    try:
        doc = json.loads(text, object_pairs_hook=_unique_members)
        wanted = _Finder(policy).paths(doc)
    except (ValueError, RecursionError):  # refused, a repeated key, too deep: scan the text
        return _scanned_secret_nodes(text, policy)
    if not wanted:
        return []
    through = {path[:i] for path in wanted for i in range(len(path))}
    out: list[Node] = []
    start = _WS.match(text, 0).end()  # type: ignore[union-attr]
    _Reach(text, wanted, through, out).value(start, (), "", None)
    return out


def _scanned_secret_nodes(text: str, policy: KeyPolicy) -> list[Node]:
    """:func:`json_secret_nodes` by scanning every value (raises where ``json.loads`` would)."""
    out = []
    for scanned in json_scan(text):
        _, key, _, _, string, null = scanned
        if _is_secret(key, string, null, policy):
            out.append(Node(*scanned))
    return out


def _is_secret(key: Any, string: str | None, null: bool, policy: KeyPolicy) -> bool:
    """A value is secret if it is not null and its key is, or it is a credential string."""
    if null:
        return False
    return (key is not None and policy.is_secret_key(key)) or (
        string is not None and policy.is_secret_value(string)
    )


def _unique_members(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    """An object as a dict; ``ValueError`` if a key repeats (a dict would keep one only)."""
    members = dict(pairs)
    if len(members) != len(pairs):
        raise ValueError("a repeated key: the text is scanned instead")
    return members


_Path = tuple[str | int, ...]


class _Finder:
    """The paths (keys and indexes) of every secret value of a parsed document."""

    def __init__(self, policy: KeyPolicy) -> None:
        self.policy = policy
        self.keys: dict[str, bool] = {}
        self.found: set[_Path] = set()
        self.path: list[str | int] = []

    def paths(self, doc: Any) -> set[_Path]:
        """The secret paths; ``ValueError`` past :data:`MAX_DEPTH` (the scan refuses that)."""
        if isinstance(doc, str) and self.policy.is_secret_value(doc):
            self.found.add(())
        self._inside(doc)
        return self.found

    def _inside(self, value: Any) -> None:
        if type(value) is dict:
            members: Iterable[tuple[Any, Any]] = value.items()
        elif type(value) is list:
            members = enumerate(value)
        else:
            return
        if len(self.path) >= MAX_DEPTH:
            raise ValueError("nested too deep: the text is scanned instead")
        keys, policy, path = self.keys, self.policy, self.path
        is_dict = type(value) is dict
        for key, item in members:
            if item is None:
                continue
            secret = False
            if is_dict:
                secret = keys.get(key)  # type: ignore[assignment]
                if secret is None:
                    secret = keys[key] = policy.is_secret_key(key)
            if not secret and type(item) is str:
                secret = policy.is_secret_value(item)
            path.append(key)
            if secret:
                self.found.add(tuple(path))
            if type(item) is dict or type(item) is list:
                self._inside(item)
            path.pop()


#: json's own scanner of one value from a position (C-accelerated): skips what holds no secret.
_scan_value: Callable[[str, int], tuple[Any, int]] = json.scanner.make_scanner(
    json.JSONDecoder()  # type: ignore[arg-type]
)


class _Reach:
    """Walks a valid JSON text down to the wanted paths, skipping every other value whole."""

    def __init__(self, text: str, wanted: set[_Path], through: set[_Path], out: list[Node]) -> None:
        self.text = text
        self.wanted = wanted  # the paths of the secret values
        self.through = through  # the paths of the containers that hold them
        self.out = out

    def value(self, pos: int, path: _Path, pointer: str, key: Any) -> int:
        """Record the value at ``pos`` if it is secret, else go into it if it leads to one."""
        text = self.text
        if path in self.wanted:  # a secret value, as the finder decided (keys are unique)
            value, end = _scan_value(text, pos)
            self.out.append(Node(pointer, key, pos, end, value if isinstance(value, str) else None))
            return end
        if path not in self.through or text[pos] not in "{[":
            return int(_scan_value(text, pos)[1])
        return (
            self._members(pos, path, pointer)
            if text[pos] == "{"
            else self._items(pos, path, pointer)
        )

    def _members(self, pos: int, path: _Path, pointer: str) -> int:
        text = self.text
        pos = _WS.match(text, pos + 1).end()  # type: ignore[union-attr]
        if text.startswith("}", pos):
            return pos + 1
        while True:
            key, pos = _json_key(text, pos)
            pos = self.value(pos, (*path, key), jsonpointer.join(pointer, key), key)
            after = _AFTER.match(text, pos)
            assert after is not None  # the text is valid JSON
            if not after.group(1):
                return after.end()
            pos = after.end()

    def _items(self, pos: int, path: _Path, pointer: str) -> int:
        text = self.text
        pos = _WS.match(text, pos + 1).end()  # type: ignore[union-attr]
        if text.startswith("]", pos):
            return pos + 1
        index = 0
        while True:
            pos = self.value(pos, (*path, index), f"{pointer}/{index}", None)
            after = _AFTER.match(text, pos)
            assert after is not None  # the text is valid JSON
            if not after.group(1):
                return after.end()
            pos = after.end()
            index += 1


class _HitWalk:
    """Walks a JSON text into the containers that hold a hit (``KeyPolicy.secret_hits``).

    In a container walked, every member is judged as the full scan judges it
    (:func:`_is_secret`); a container member under a secret key is one node,
    and one that holds no hit is skipped whole by json's C scanner, as the
    hits promise it holds nothing secret. Only the root is walked without
    being scanned first (one which holds a hit is scanned, then walked).
    """

    def __init__(self, text: str, hits: list[int], policy: KeyPolicy) -> None:
        self.text = text
        self.hits = hits
        self.policy = policy
        self.out: list[Node] = []

    def nodes(self, data: bytes) -> list[Node] | None:
        """The secret nodes; None if the text is not valid JSON, nests too deep or is a scalar.

        ``data`` is the text as bytes. None leaves the answer to the full scan
        (:func:`_scanned_secret_nodes`), which refuses or limits the text.
        """
        text = self.text
        openers = text.count("{") + text.count("[")
        if openers > MAX_DEPTH and _nesting(data) > MAX_DEPTH:
            return None
        pos = _WS.match(text, 0).end()  # type: ignore[union-attr]
        try:
            if not text.startswith(("{", "["), pos):
                return None
            end = self._walk(pos, "") if self.hits else int(_scan_value(text, pos)[1])
        except (ValueError, StopIteration, RecursionError):
            return None
        if _WS.match(text, end).end() != len(text):  # type: ignore[union-attr]
            return None
        return self.out

    def _value(self, pos: int, pointer: str, key: Any) -> int:
        """Judge the value at ``pos`` (``key`` holds it), go into it if it holds a hit; its end."""
        text = self.text
        if not text.startswith(("{", "["), pos):
            string, null, start, end = _json_scalar(text, pos)
            if _is_secret(key, string, null, self.policy):
                self.out.append(Node(pointer, key, start, end, string))
            return end
        end = int(_scan_value(text, pos)[1])
        if key is not None and self.policy.is_secret_key(key):
            self.out.append(Node(pointer, key, pos, end))
        elif self._holds_hit(pos, end):
            self._walk(pos, pointer)
        return end

    def _holds_hit(self, start: int, end: int) -> bool:
        hits = self.hits
        i = bisect.bisect_left(hits, start)
        return i < len(hits) and hits[i] < end

    def _walk(self, pos: int, pointer: str) -> int:
        """Judge every member (or item) of the container at ``pos``; its end."""
        text = self.text
        closing = "}" if text[pos] == "{" else "]"
        pos = _WS.match(text, pos + 1).end()  # type: ignore[union-attr]
        if text.startswith(closing, pos):
            return pos + 1
        index = 0
        while True:
            if closing == "}":
                key, pos = _json_key(text, pos)
                pos = self._value(pos, jsonpointer.join(pointer, key), key)
            else:
                pos = self._value(pos, f"{pointer}/{index}", None)
                index += 1
            after = _AFTER.match(text, pos)
            if after is None or after.group(2) not in (None, closing):
                raise ValueError("not valid JSON: the full scan says why")
            if not after.group(1):
                return after.end()
            pos = after.end()


def _char_offsets(data: bytes, offsets: list[int]) -> list[int]:
    """Sorted byte offsets of UTF-8 ``data``, each at a character's start, as characters."""
    out = []
    at = chars = 0
    for offset in offsets:
        chars += len(data[at:offset].decode("utf-8", "surrogatepass"))
        at = offset
        out.append(chars)
    return out


#: Every byte but quotes and brackets: what :func:`_nesting` deletes.
_NOT_STRUCTURE = bytes(sorted(set(range(256)) - set(b'"[]{}')))
_NEST = {ord("["): 1, ord("{"): 1, ord("]"): -1, ord("}"): -1}


def _nesting(data: bytes) -> int:
    """How deep the brackets of *valid* JSON ``data`` nest, its strings taken out (in C).

    In valid JSON a backslash starts an escape inside a string: the escaped
    backslashes, then the escaped quotes, are removed; every quote left opens
    or closes a string.
    """
    marks = data.replace(b"\\\\", b"").replace(b'\\"', b"").translate(None, _NOT_STRUCTURE)
    outside = b"".join(marks.split(b'"')[::2])
    return max(itertools.accumulate(map(_NEST.__getitem__, outside)), default=0)


def json_depth_check(text: str) -> None:
    """Raise :class:`DocumentLimit` if brackets nest past :data:`MAX_DEPTH` (a fast pre-check).

    Strings are taken out first (a bracket in a string does not nest); the
    running depth is summed in C. The text need not be valid JSON.
    """
    brackets = _BRACKETS.findall(_STRINGS.sub("", text))
    if brackets and max(itertools.accumulate(map(_DEPTH.__getitem__, brackets))) > MAX_DEPTH:
        raise too_deep()
