"""Secret values in TOML: :mod:`tomllib` decides what is secret, a scanner finds where.

The document is parsed with :mod:`tomllib` (so only valid TOML is scanned) and
walked like JSON: a value under a secret key is secret whole, a string with a
credential format is secret whatever its key. A small scanner then finds each
value's bytes (tables, arrays of tables, dotted and quoted keys, the four
string kinds including multi-line ones, arrays and inline tables). A secret
it cannot place raises ``ValueError``, so redaction refuses the file rather
than leave a secret in it.
"""

from __future__ import annotations

import json
import re
import tomllib
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from statesync import jsonpointer
from statesync.errors import DocumentLimit
from statesync.sync.secrets.rules import is_stored_secret
from statesync.sync.secrets.spans import Span

if TYPE_CHECKING:
    from statesync.sync.secrets.spans import KeyPolicy

MAX_DEPTH = 200
_BARE_KEY = re.compile(r"[A-Za-z0-9_-]+")
_ATOM = re.compile(r"[^,\]}#\r\n]+")


def decode(data: bytes) -> tuple[str, int]:
    """UTF-8 text without a byte-order mark, and the mark's length in bytes."""
    if data.startswith(b"\xef\xbb\xbf"):
        return data[3:].decode("utf-8"), 3
    return data.decode("utf-8"), 0


def secret_pointers(doc: Any, policy: KeyPolicy, pointer: str = "") -> list[str]:
    """Pointers of the secret values of a parsed document, in no particular order."""
    if isinstance(doc, dict):
        out = []
        for key, value in doc.items():
            child = jsonpointer.join(pointer, key)
            if policy.is_secret_key(key):
                out.append(child)
            else:
                out.extend(secret_pointers(value, policy, child))
        return out
    if isinstance(doc, list):
        return [p for i, v in enumerate(doc) for p in secret_pointers(v, policy, f"{pointer}/{i}")]
    stored = isinstance(doc, str) and (policy.is_secret_value(doc) or is_stored_secret(doc))
    return [pointer] if stored else []


@dataclass(frozen=True)
class TomlLocator:
    """TOML documents (``*.toml``); pointers are those of the parsed document."""

    def locate(self, data: bytes, policy: KeyPolicy) -> list[Span]:
        text, shift = decode(data)
        try:
            wanted = secret_pointers(tomllib.loads(text), policy)
        except RecursionError:
            raise DocumentLimit("TOML nested too deeply") from None
        if not wanted:
            return []
        found = _Scanner(text).run()
        missing = [p for p in wanted if p not in found]
        if missing:
            raise ValueError(f"cannot place the secret value at {missing[0]}")
        spans = sorted(found[p] for p in wanted)
        encode = not text.isascii()
        return [
            Span(p, _bytes(text, s, encode) + shift, _bytes(text, e, encode) + shift)
            for s, e, p in spans
        ]

    def scalar(self, text: str) -> bytes:
        return json.dumps(text, ensure_ascii=False).encode()  # JSON escapes are TOML's too


def _bytes(text: str, offset: int, encode: bool) -> int:
    return len(text[:offset].encode()) if encode else offset


@dataclass
class _Scanner:
    """Character spans of every value of a valid TOML text, by pointer."""

    text: str
    pos: int = 0
    found: dict[str, tuple[int, int, str]] = field(default_factory=dict)
    arrays: dict[tuple[str, ...], int] = field(default_factory=dict)  # [[table]] counts

    def run(self) -> dict[str, tuple[int, int, str]]:
        table: list[str] = []
        while self._skip(newlines=True) < len(self.text):
            if self.text.startswith("[[", self.pos):
                self.pos += 2
                table = self._array_table(self._keys())
                self._expect("]]")
            elif self.text[self.pos] == "[":
                self.pos += 1
                table = self._resolve(self._keys())
                self._expect("]")
            else:
                keys = self._keys()
                self._expect("=")
                self._value(table + keys, 0)
        return self.found

    def _resolve(self, keys: list[str]) -> list[str]:
        """Header keys with the current index of every array of tables on the way."""
        out: list[str] = []
        for key in keys:
            out.append(key)
            if tuple(out) in self.arrays:
                out.append(str(self.arrays[tuple(out)]))
        return out

    def _array_table(self, keys: list[str]) -> list[str]:
        path = [*self._resolve(keys[:-1]), keys[-1]]
        index = self.arrays[tuple(path)] = self.arrays.get(tuple(path), -1) + 1
        return [*path, str(index)]

    def _keys(self) -> list[str]:
        self._skip()
        keys = [self._key()]
        while self._skip() < len(self.text) and self.text[self.pos] == ".":
            self.pos += 1
            self._skip()
            keys.append(self._key())
        self._skip()
        return keys

    def _key(self) -> str:
        ch = self.text[self.pos]
        if ch in "\"'":
            start = self.pos
            self.pos = self._string_end(self.pos)
            return str(tomllib.loads(f"k = {self.text[start : self.pos]}")["k"])
        m = _BARE_KEY.match(self.text, self.pos)
        if m is None:
            raise ValueError(f"unexpected {ch!r} in a TOML key")
        self.pos = m.end()
        return m.group()

    def _value(self, path: list[str], depth: int) -> None:
        if depth > MAX_DEPTH:
            raise DocumentLimit(f"TOML nested deeper than {MAX_DEPTH}")
        self._skip()
        start, ch = self.pos, self.text[self.pos]
        if ch in "\"'":
            self.pos = self._string_end(self.pos)
        elif ch == "[":
            self._array(path, depth)
        elif ch == "{":
            self._inline_table(path, depth)
        else:
            m = _ATOM.match(self.text, self.pos)
            if m is None:
                raise ValueError("a TOML value is missing")
            self.pos = start + len(m.group().rstrip())
        pointer = "".join(f"/{jsonpointer.escape(k)}" for k in path)
        self.found[pointer] = (start, self.pos, pointer)

    def _array(self, path: list[str], depth: int) -> None:
        self.pos += 1
        index = 0
        while self._skip(newlines=True) < len(self.text) and self.text[self.pos] != "]":
            self._value([*path, str(index)], depth + 1)
            index += 1
            if self._skip(newlines=True) < len(self.text) and self.text[self.pos] == ",":
                self.pos += 1
        self._expect("]")

    def _inline_table(self, path: list[str], depth: int) -> None:
        self.pos += 1
        while self._skip(newlines=True) < len(self.text) and self.text[self.pos] != "}":
            keys = self._keys()
            self._expect("=")
            self._value(path + keys, depth + 1)
            if self._skip(newlines=True) < len(self.text) and self.text[self.pos] == ",":
                self.pos += 1
        self._expect("}")

    def _string_end(self, pos: int) -> int:
        quote = self.text[pos]
        if self.text.startswith(quote * 3, pos):
            end = self._find(quote * 3, pos + 3, escapes=quote == '"')
            run = 3  # up to two quotes before the closing three belong to the string
            while run < 5 and self.text.startswith(quote, end + run):
                run += 1
            return end + run
        return self._find(quote, pos + 1, escapes=quote == '"') + 1

    def _find(self, needle: str, pos: int, escapes: bool) -> int:
        while pos < len(self.text):
            if escapes and self.text[pos] == "\\":
                pos += 2
            elif self.text.startswith(needle, pos):
                return pos
            else:
                pos += 1
        raise ValueError("a TOML string never closes")

    def _skip(self, newlines: bool = False) -> int:
        """Skip blanks and comments (and line ends when ``newlines``); the new position."""
        blanks = " \t\r\n" if newlines else " \t"
        while self.pos < len(self.text):
            ch = self.text[self.pos]
            if ch in blanks:
                self.pos += 1
            elif ch == "#" and newlines:
                eol = self.text.find("\n", self.pos)
                self.pos = len(self.text) if eol == -1 else eol
            else:
                break
        return self.pos

    def _expect(self, token: str) -> None:
        self._skip()
        if not self.text.startswith(token, self.pos):
            raise ValueError(f"expected {token!r} in TOML")
        self.pos += len(token)


def value_offsets(text: str) -> dict[str, int]:
    """Character offset of every value of a valid TOML text, by JSON pointer (for messages)."""
    return {pointer: start for pointer, (start, _, _) in _Scanner(text).run().items()}
