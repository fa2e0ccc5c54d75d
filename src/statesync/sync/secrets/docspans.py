"""Where values sit in JSON and YAML documents: byte spans, never a re-serialised document.

Two walkers read a document's exact text and yield its value nodes with
their JSON pointers and character positions: a small iterative JSON scanner
(built on :mod:`json`'s own string scanner, so it accepts exactly what
``json.loads`` accepts, duplicate keys included) and a walk over PyYAML's
events (``start_mark``/``end_mark``). Both are iterative and bounded:
documents over :data:`MAX_DOCUMENT` bytes, nesting deeper than
:data:`MAX_DEPTH`, or YAML aliases expanding to more than :data:`MAX_NODES`
nodes raise :class:`DocumentLimit`; nothing is ever expanded in memory.

:class:`JsonLocator` and :class:`YamlLocator` implement
:class:`statesync.sync.secrets.spans.Locator`. A secret key's value is secret as a
whole: a scalar or a flow collection is one span; a YAML *block* collection
under a secret key is redacted leaf by leaf (each scalar its own span), so the
document's indentation stays valid. An anchored secret value keeps its
anchor (the span starts after ``&name``), so its aliases refer to the
redacted text; a secret key whose value is an alias makes the anchored node
secret. In a stream of several YAML documents, pointers start with the
document's index (``/0/...``), as :func:`statesync.sync.secrets.policy.parse_document`
returns such a stream as a list.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

from statesync.errors import DocumentLimit
from statesync.sync.secrets.docnodes import (
    MAX_DEPTH,
    MAX_DOCUMENT,
    MAX_NODES,
    check_size,
    outermost,
    to_spans,
)
from statesync.sync.secrets.jsonspans import json_depth_check, json_nodes, json_secret_nodes
from statesync.sync.secrets.spans import Span

# YAML (PyYAML and the event walk of :mod:`yamlspans`) is imported where a YAML
# document is read: about an eighth of what a command imports, and most pushes
# and every pull of JSON and text never need it.

if TYPE_CHECKING:
    from statesync.sync.secrets.spans import KeyPolicy

__all__ = [
    "MAX_DEPTH",
    "MAX_DOCUMENT",
    "MAX_NODES",
    "JsonLocator",
    "YamlLocator",
    "check_limits",
    "scalar",
]


def scalar(text: str) -> bytes:
    """A string as a double-quoted scalar: the same in JSON and YAML."""
    return json.dumps(text).encode()


class JsonLocator:
    """Secret values of a JSON document (see the module docstring)."""

    def locate(self, data: bytes, policy: KeyPolicy) -> list[Span]:
        check_size(data)
        text = data.decode("utf-8")
        return to_spans(text, outermost(json_secret_nodes(text, policy, data)))

    def at(self, data: bytes, pointers: set[str]) -> list[Span]:
        """Spans of the values at ``pointers`` (every occurrence of a duplicate key)."""
        check_size(data)
        text = data.decode("utf-8")
        return to_spans(text, outermost(n for n in json_nodes(text) if n.pointer in pointers))

    def scalar(self, text: str) -> bytes:
        return scalar(text)


class YamlLocator:
    """Secret values of a YAML stream (see the module docstring)."""

    def locate(self, data: bytes, policy: KeyPolicy) -> list[Span]:
        check_size(data)
        text = data.decode("utf-8")
        from statesync.sync.secrets.yamlspans import yaml_secret_nodes

        return to_spans(text, outermost(yaml_secret_nodes(text, policy)))

    def at(self, data: bytes, pointers: set[str]) -> list[Span]:
        """Spans of the values at ``pointers`` (every occurrence of a duplicate key)."""
        check_size(data)
        text = data.decode("utf-8")
        from statesync.sync.secrets.yamlspans import yaml_nodes_at

        return to_spans(text, outermost(yaml_nodes_at(text, pointers)))

    def scalar(self, text: str) -> bytes:
        return scalar(text)


def check_limits(path: str, data: bytes) -> int:
    """Raise :class:`DocumentLimit` (naming ``path``) if a document is past a limit.

    Returns the number of YAML documents in the stream (1 for JSON). Raises
    ``ValueError``/``UnicodeDecodeError`` when the document is not valid.
    """
    try:
        check_size(data)
        text = data.decode("utf-8")
        if path.lower().endswith((".yaml", ".yml")):
            from statesync.sync.secrets.yamlspans import yaml_check

            return yaml_check(text)
        json_depth_check(text)
        return 1
    except DocumentLimit as exc:
        raise DocumentLimit(f"{path}: {exc}") from None
