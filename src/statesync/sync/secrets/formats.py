"""Secret values in line-oriented formats: ``KEY=value``, INI, TOML and JSON lines.

Each locator returns the byte spans of the secret values of one document
(:mod:`statesync.sync.secrets.spans`): values whose key the policy names, and string
values with a credential format whatever their key. Pointers:
``KEY=value`` files ``/KEY``; INI ``/section/key`` (``/key`` before the first
section); TOML the JSON pointer of the parsed document (``/table/0/key`` for
arrays of tables); JSON lines ``/<record>/...`` where ``<record>`` counts the
non-blank lines from 0. A document that is not valid in its format raises
``ValueError``; redaction then refuses it if it looks as if it holds secrets.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING

from statesync import jsonpointer
from statesync.errors import DocumentLimit
from statesync.sync.secrets.rules import is_stored_secret
from statesync.sync.secrets.spans import Locator, Span
from statesync.sync.secrets.tomlspans import TomlLocator, decode

if TYPE_CHECKING:
    from statesync.sync.secrets.spans import KeyPolicy

#: Nesting deeper than this in a JSON line is refused (no RecursionError).
MAX_DEPTH = 200


def _secret(policy: KeyPolicy, key: str, value: str) -> bool:
    # A value already redacted or sealed is a secret's place whatever its key.
    return policy.is_secret_key(key) or policy.is_secret_value(value) or is_stored_secret(value)


_ENV_LINE = re.compile(r"[ \t]*(?:export[ \t]+)?(?P<key>[A-Za-z_][A-Za-z0-9_.-]*)[ \t]*=[ \t]*")
_SAFE_BARE = re.compile(r"[A-Za-z0-9_./:+=@%,-]*\Z")


@dataclass(frozen=True)
class EnvLocator:
    """``KEY=value`` files (``.env``, ``.env.*``, ``*.env``): ``export``, quotes, comments.

    Quoted values may span lines (as python-dotenv reads them); an unquoted
    value ends at the line's end or at `` #``. The span covers the quotes.
    """

    def locate(self, data: bytes, policy: KeyPolicy) -> list[Span]:
        text, shift = decode(data)
        spans: list[Span] = []
        pos = 0
        while pos < len(text):
            eol = _eol(text, pos)
            line = text[pos:eol].strip()
            if not line or line.startswith("#"):
                pos = eol + 1
                continue
            m = _ENV_LINE.match(text, pos)
            if m is None or m.end() > eol:
                raise ValueError(f"line {text.count(chr(10), 0, pos) + 1}: not KEY=value")
            start, end, value = _env_value(text, m.end(), eol)
            if value and _secret(policy, m["key"], value):
                spans.append(_span(text, jsonpointer.join("", m["key"]), start, end, shift))
            pos = _eol(text, end) + 1
        return spans

    def scalar(self, text: str) -> bytes:
        if _SAFE_BARE.match(text) and not text.startswith("#"):
            return text.encode()
        if "'" not in text and "\n" not in text:
            return f"'{text}'".encode()
        return json.dumps(text, ensure_ascii=False).encode()


def _env_value(text: str, start: int, eol: int) -> tuple[int, int, str]:
    """``(start, end, value)`` of the value at ``start``; ValueError if a quote never closes."""
    quote = text[start] if start < len(text) else ""
    if quote in ("'", '"'):
        end = _closing(text, start + 1, quote, escapes=quote == '"')
        rest = text[end : _eol(text, end)].strip()
        if rest and not rest.startswith("#"):
            raise ValueError(f"text after the closing quote of {text[start : start + 1]}...")
        return start, end, text[start + 1 : end - 1]
    value = text[start:eol]
    comment = re.search(r"[ \t]#", value)
    value = (value[: comment.start()] if comment else value).rstrip()
    return start, start + len(value), value


def _closing(text: str, pos: int, quote: str, escapes: bool) -> int:
    """Offset just past the quote that closes a string opened before ``pos``."""
    while pos < len(text):
        ch = text[pos]
        if escapes and ch == "\\":
            pos += 2
            continue
        if ch == quote:
            return pos + 1
        pos += 1
    raise ValueError("a quoted value never closes")


def _eol(text: str, pos: int) -> int:
    end = text.find("\n", pos)
    return len(text) if end == -1 else end


def _span(text: str, pointer: str, start: int, end: int, shift: int = 0) -> Span:
    """A span in character offsets, turned into byte offsets of the UTF-8 text.

    ``shift`` is the length of a byte-order mark the text was decoded without.
    """
    if text.isascii():
        return Span(pointer, start + shift, end + shift)
    head = len(text[:start].encode()) + shift
    return Span(pointer, head, head + len(text[start:end].encode()))


_INI_SECTION = re.compile(r"\[(?P<name>[^\]]+)\][ \t]*(?:[#;].*)?\Z")
_INI_OPTION = re.compile(r"(?P<key>[^=:\s][^=:]*?)[ \t]*[=:][ \t]*(?P<value>.*)\Z")


@dataclass(frozen=True)
class IniLocator:
    """INI files as :mod:`configparser` reads them: sections, ``key = value`` or
    ``key: value``, ``#``/``;`` comment lines, indented continuation lines.

    The span runs from the value's first character to the end of its last
    continuation line (no inline comments, as configparser's default).
    """

    def locate(self, data: bytes, policy: KeyPolicy) -> list[Span]:
        text, shift = decode(data)
        section: str | None = None
        spans: list[Span] = []
        current: tuple[str, int, int] | None = None  # pointer, value start, end
        pos = 0
        while pos <= len(text):
            eol = _eol(text, pos)
            raw = text[pos:eol]
            line = raw.strip()
            if current and line and raw[:1] in (" ", "\t"):
                current = (current[0], current[1], pos + len(raw.rstrip()))
            else:
                if current is not None:
                    spans.extend(self._finish(text, current, policy, shift))
                    current = None
                if line and not line.startswith(("#", ";")):
                    section, current = self._line(line, raw, pos, section)
            pos = eol + 1
        if current is not None:
            spans.extend(self._finish(text, current, policy, shift))
        return spans

    @staticmethod
    def _line(
        line: str, raw: str, pos: int, section: str | None
    ) -> tuple[str | None, tuple[str, int, int] | None]:
        head = _INI_SECTION.match(line)
        if head:
            return head["name"], None
        m = _INI_OPTION.match(line)
        if m is None:
            raise ValueError(f"not an INI line: {line[:20]!r}...")
        key = m["key"].strip()
        pointer = jsonpointer.join(
            jsonpointer.join("", section) if section is not None else "", key
        )
        start = pos + (len(raw) - len(raw.lstrip())) + m.start("value")
        return section, (pointer, start, start + len(m["value"]))

    @staticmethod
    def _finish(
        text: str, current: tuple[str, int, int], policy: KeyPolicy, shift: int
    ) -> list[Span]:
        pointer, start, end = current
        value = text[start:end]
        key = jsonpointer.unescape(pointer.rsplit("/", 1)[1])
        if not value or not _secret(policy, key, value):
            return []
        return [_span(text, pointer, start, end, shift)]

    def scalar(self, text: str) -> bytes:
        return text.replace("\n", "\n\t").encode()


@dataclass(frozen=True)
class JsonLinesLocator:
    """JSON lines (``.jsonl``, ``.ndjson``): one JSON value per non-blank line."""

    def locate(self, data: bytes, policy: KeyPolicy) -> list[Span]:
        spans: list[Span] = []
        record = 0
        offset = 0
        for line in data.split(b"\n"):
            if line.strip():
                text = line.decode("utf-8")
                json.loads(text)  # ValueError for a line that is not JSON
                scan = _JsonScan(text, policy, spans, offset)
                scan.value(_skip_ws(text, 0), f"/{record}", 0)
                record += 1
            offset += len(line) + 1
        return spans

    def scalar(self, text: str) -> bytes:
        return json.dumps(text).encode()


def _skip_ws(text: str, pos: int) -> int:
    while pos < len(text) and text[pos] in " \t\r\n":
        pos += 1
    return pos


_JSON_ATOM = re.compile(r"[-+0-9.eEa-z]+")


@dataclass
class _JsonScan:
    """Positions of secret values in one valid JSON text (checked by ``json`` first)."""

    text: str
    policy: KeyPolicy
    spans: list[Span]
    offset: int
    recording: bool = True

    def value(self, pos: int, pointer: str, depth: int) -> int:
        """Scan the value at ``pos`` (recording credential strings); return its end."""
        if depth > MAX_DEPTH:
            raise DocumentLimit(f"nesting deeper than {MAX_DEPTH}")
        ch = self.text[pos]
        if ch == "{":
            return self._members(pos + 1, pointer, depth)
        if ch == "[":
            return self._items(pos + 1, pointer, depth)
        if ch == '"':
            end = _closing(self.text, pos + 1, '"', escapes=True)
            value = json.loads(self.text[pos:end]) if self.recording else ""
            if self.policy.is_secret_value(value) or (value and is_stored_secret(value)):
                self._record(pointer, pos, end)
            return end
        m = _JSON_ATOM.match(self.text, pos)
        assert m is not None, "json.loads accepted the line"
        return m.end()

    def _members(self, pos: int, pointer: str, depth: int) -> int:
        pos = _skip_ws(self.text, pos)
        while self.text[pos] != "}":
            key_end = _closing(self.text, pos + 1, '"', escapes=True)
            key = json.loads(self.text[pos:key_end])
            start = _skip_ws(self.text, self.text.index(":", key_end) + 1)
            child = jsonpointer.join(pointer, key)
            if (
                self.recording
                and self.policy.is_secret_key(key)
                and not self.text.startswith("null", start)
            ):
                end = self._skip(start, depth)
                self._record(child, start, end)
            else:
                end = self.value(start, child, depth + 1)
            pos = _skip_ws(self.text, end)
            if self.text[pos] == ",":
                pos = _skip_ws(self.text, pos + 1)
        return pos + 1

    def _items(self, pos: int, pointer: str, depth: int) -> int:
        pos = _skip_ws(self.text, pos)
        index = 0
        while self.text[pos] != "]":
            pos = _skip_ws(self.text, self.value(pos, f"{pointer}/{index}", depth + 1))
            index += 1
            if self.text[pos] == ",":
                pos = _skip_ws(self.text, pos + 1)
        return pos + 1

    def _skip(self, pos: int, depth: int) -> int:
        """End of the value at ``pos``, recording nothing inside it."""
        return _JsonScan(self.text, self.policy, [], 0, recording=False).value(pos, "", depth)

    def _record(self, pointer: str, start: int, end: int) -> None:
        span = _span(self.text, pointer, start, end)
        self.spans.append(Span(pointer, span.start + self.offset, span.end + self.offset))


def _is_env(name: str) -> bool:
    return name == ".env" or name.startswith(".env.") or name.endswith(".env")


def locator_for(path: str) -> Locator | None:
    """The locator for ``path``'s format when it is one of this module's, else None."""
    name = path.rsplit("/", 1)[-1].lower()
    if _is_env(name):
        return EnvLocator()
    if name.endswith((".ini", ".cfg")):
        return IniLocator()
    if name.endswith(".toml"):
        return TomlLocator()
    if name.endswith((".jsonl", ".ndjson")):
        return JsonLinesLocator()
    return None
