"""A walk over a YAML stream's events: value nodes, secret selections and the limits.

Works on PyYAML's events (``start_mark``/``end_mark`` are character indexes),
never on constructed values, so aliases are counted, not expanded: a stream
whose aliases stand for more than :data:`MAX_NODES` nodes, or nested deeper
than :data:`MAX_DEPTH`, raises :class:`DocumentLimit`. See
:mod:`statesync.sync.secrets.docspans` for which nodes are secret.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import yaml

from statesync import jsonpointer
from statesync.errors import DocumentLimit
from statesync.sync.secrets.docnodes import MAX_DEPTH, MAX_NODES, Node, too_deep

if TYPE_CHECKING:
    from statesync.sync.secrets.spans import KeyPolicy

#: The fast safe loader when libyaml is there; locating and parsing use the same one.
YAML_LOADER: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


@dataclass
class _Anchor:
    """An anchored node: how many nodes it stands for, and its spans were it secret."""

    weight: int = 1
    leaves: list[Any] = field(default_factory=list)  # Node | _Anchor
    done: bool = False


@dataclass
class _Frame:
    """A YAML collection being walked."""

    node: Node
    mapping: bool
    flow: bool
    secret: bool
    collect: bool
    in_key: bool
    anchor: _Anchor | None
    count: int = 0
    key: Any = None
    key_secret: bool = False
    weight: int = 1
    leaves: list[Any] = field(default_factory=list)
    aliases: list[Any] = field(default_factory=list)
    defines_anchor: bool = False
    last_end: int = 0


_RESOLVER = yaml.resolver.Resolver()
_STR = "tag:yaml.org,2002:str"
_NULL = "tag:yaml.org,2002:null"


def _scalar_tag(event: Any) -> str:
    if event.tag and event.tag != "!":
        return str(event.tag)
    if event.style:  # quoted or block: a string
        return _STR
    return str(
        _RESOLVER.resolve(
            yaml.ScalarNode,
            event.value,  # type: ignore[no-untyped-call]
            (True, False),
        )
    )


def _key_value(event: Any, tag: str) -> Any:
    """A scalar key as ``safe_load`` would build it (its pointer token is ``str`` of it)."""
    if tag == _STR:
        return event.value
    try:
        node = yaml.ScalarNode(tag, event.value)
        return yaml.constructor.SafeConstructor().construct_object(node)
    except (yaml.YAMLError, ValueError, TypeError):
        return event.value


def _content_start(text: str, pos: int, event: Any) -> int:
    """Where a node's replaceable text begins: after its ``&anchor`` (which must stay).

    A ``!tag`` after the anchor (or alone) is part of the value's text, so a
    replacement does not carry a tag that no longer fits (``!!binary``).
    """
    if event.anchor is None:
        return pos
    start = pos
    while pos < len(text) and text[pos] in "&!":
        anchor = text[pos] == "&"
        while pos < len(text) and text[pos] not in " \t\r\n,[]{}":
            pos += 1
        pos = _skip_blank(text, pos)
        if anchor:
            start = pos
    return start


def _bom_counted() -> bool:
    """Whether this loader's marks count a leading byte-order mark (libyaml's do not)."""
    event: Any = next(
        e for e in yaml.parse("\ufeffa", Loader=YAML_LOADER) if isinstance(e, yaml.ScalarEvent)
    )
    return bool(event.start_mark.index == 1)


_BOM_SHIFT: dict[bool, int] = {}


def _skip_blank(text: str, pos: int) -> int:
    while pos < len(text):
        if text[pos] in " \t\r\n":
            pos += 1
        elif text[pos] == "#":
            while pos < len(text) and text[pos] not in "\r\n":
                pos += 1
        else:
            break
    return pos


def _trim(text: str, start: int, end: int) -> int:
    """A block scalar's or collection's end without the blank lines and comments after it."""
    while end > start and text[end - 1] in " \t\r\n":
        end -= 1
    return end


class _YamlWalk:
    """One pass over a YAML stream's events: nodes, secret spans and the limits."""

    def __init__(self, text: str, policy: KeyPolicy | None) -> None:
        self.text, self.policy = text, policy
        self.stack: list[_Frame] = []
        self.anchors: dict[str, _Anchor] = {}
        self.docs = 0
        self.weight = 0
        self.selected: list[Any] = []  # (doc, Node | _Anchor)
        self.shift = 0  # added to marks when the loader does not count a leading BOM

    def _at(self, mark: Any) -> int:
        return int(mark.index) + self.shift

    def run(self) -> Iterator[tuple[int, Node]]:
        """Yield ``(document index, node)`` for every value node, children first."""
        try:
            if self.text.startswith("\ufeff"):
                if not _BOM_SHIFT:
                    _BOM_SHIFT[True] = 0 if _bom_counted() else 1
                self.shift = _BOM_SHIFT[True]
            for event in yaml.parse(self.text, Loader=YAML_LOADER):
                yield from self._event(event)
        except yaml.YAMLError as exc:
            raise ValueError(str(exc).splitlines()[0] if str(exc) else "invalid YAML") from None

    def _place(self) -> tuple[str, Any, bool, bool, bool]:
        """Pointer, key, secret, collect and in-key flags of the next node."""
        if not self.stack:
            return "", None, False, False, False
        top = self.stack[-1]
        in_key = top.in_key or (top.mapping and top.count % 2 == 0)
        if top.mapping:
            pointer = jsonpointer.join(top.node.pointer, top.key)
            secret = top.secret or (top.count % 2 == 1 and top.key_secret)
            key = top.key
        else:
            pointer, secret, key = f"{top.node.pointer}/{top.count}", top.secret, None
        return pointer, key, secret and not in_key, top.collect, in_key

    def _event(self, event: Any) -> Iterator[tuple[int, Node]]:
        if isinstance(event, yaml.DocumentStartEvent):
            self.docs += 1
            self.anchors = {}  # as PyYAML's composer: anchors do not cross documents
        elif isinstance(event, yaml.ScalarEvent):
            yield from self._scalar(event)
        elif isinstance(event, yaml.AliasEvent):
            self._alias(event)
        elif isinstance(event, (yaml.SequenceStartEvent, yaml.MappingStartEvent)):
            self._open(event)
        elif isinstance(event, (yaml.SequenceEndEvent, yaml.MappingEndEvent)):
            yield from self._close(event)

    @staticmethod
    def _budget(weight: int) -> None:
        if weight > MAX_NODES:
            raise DocumentLimit(f"YAML aliases expand to more than {MAX_NODES} nodes")

    def _scalar(self, event: Any) -> Iterator[tuple[int, Node]]:
        pointer, key, secret, _, in_key = self._place()
        tag = _scalar_tag(event)
        start = _content_start(self.text, self._at(event.start_mark), event)
        end = max(start, self._at(event.end_mark))
        if event.style in ("|", ">"):
            end = _trim(self.text, start, end)
        null = tag == _NULL
        node = Node(pointer, key, start, end, event.value if tag == _STR else None, null)
        leaf = [] if null or in_key else [node]
        if (
            not in_key
            and node.string is not None
            and self.policy is not None
            and self.policy.is_secret_value(node.string)
        ):
            secret = True
        anchor = self._define(event, leaf)
        self._child(node, weight=1, leaves=leaf, aliases=[], anchor=anchor)
        if secret and not null:
            self.selected.append((self.docs, node))
        if self.stack and self.stack[-1].mapping and self.stack[-1].count % 2 == 1:
            top = self.stack[-1]
            top.key = _key_value(event, tag)
            top.key_secret = (
                tag == _STR and self.policy is not None and self.policy.is_secret_key(event.value)
            )
        if not in_key:
            yield self.docs, node

    def _define(self, event: Any, leaves: list[Any]) -> _Anchor | None:
        if event.anchor is None:
            return None
        anchor = _Anchor(leaves=list(leaves), done=True)
        self.anchors[event.anchor] = anchor
        for frame in self.stack:
            frame.defines_anchor = True
        return anchor

    def _child(
        self, node: Node, weight: int, leaves: list[Any], aliases: list[Any], anchor: _Anchor | None
    ) -> None:
        """Account a finished child (or alias) to its parent collection.

        ``weight`` is how many nodes it stands for (an alias: its anchor's);
        a stream's total is counted against :data:`MAX_NODES`.
        """
        if not self.stack:
            self.weight += weight
            self._budget(self.weight)
            return
        top = self.stack[-1]
        top.count += 1
        top.weight += weight
        top.last_end = node.end
        self._budget(top.weight)
        if top.collect:
            top.leaves.extend(leaves)
            top.aliases.extend(aliases)

    def _alias(self, event: Any) -> None:
        pointer, key, secret, _, in_key = self._place()
        anchor = self.anchors.get(event.anchor)
        if anchor is None:
            raise ValueError(f"found undefined alias {event.anchor!r}")
        if not anchor.done:
            raise DocumentLimit(f"recursive YAML alias *{event.anchor}")
        node = Node(pointer, key, self._at(event.start_mark), self._at(event.end_mark))
        if secret:
            self.selected.append((self.docs, anchor))
        if self.stack and self.stack[-1].mapping and self.stack[-1].count % 2 == 0:
            self.stack[-1].key, self.stack[-1].key_secret = f"*{event.anchor}", False
        refs = [] if in_key else [anchor]
        self._child(node, anchor.weight, refs, refs, None)

    def _open(self, event: Any) -> None:
        if len(self.stack) >= MAX_DEPTH:
            raise too_deep()
        pointer, key, secret, collect, in_key = self._place()
        start = _content_start(self.text, self._at(event.start_mark), event)
        anchor = None
        if event.anchor is not None:
            anchor = _Anchor()
            self.anchors[event.anchor] = anchor
            for frame in self.stack:
                frame.defines_anchor = True
        flow = bool(event.flow_style)
        self.stack.append(
            _Frame(
                Node(pointer, key, start, start),
                isinstance(event, yaml.MappingStartEvent),
                flow,
                secret,
                collect or secret or anchor is not None,
                in_key,
                anchor,
            )
        )

    def _close(self, event: Any) -> Iterator[tuple[int, Node]]:
        frame = self.stack.pop()
        end = self._at(event.end_mark) if frame.flow else frame.last_end
        whole = frame.flow and not frame.defines_anchor
        start = frame.node.start
        node = Node(frame.node.pointer, frame.node.key, start, max(end, start), whole=whole)
        leaves = [] if frame.in_key else [node, *frame.aliases] if whole else frame.leaves
        if frame.anchor is not None:
            frame.anchor.weight, frame.anchor.leaves, frame.anchor.done = frame.weight, leaves, True
        if frame.secret and not (self.stack and self.stack[-1].secret):
            self.selected.extend((self.docs, leaf) for leaf in leaves)
        self._child(node, frame.weight, leaves, frame.aliases, None)
        if self.stack and self.stack[-1].mapping and self.stack[-1].count % 2 == 1:
            self.stack[-1].key = self.text[node.start : node.end]
            self.stack[-1].key_secret = False
        if not frame.in_key:
            yield self.docs, node


def _multi(doc: int, pointer: str, docs: int) -> str:
    return f"/{doc - 1}{pointer}" if docs > 1 else pointer


def _resolve(selected: Iterable[Any]) -> Iterator[Any]:
    """Nodes of a selection, with each anchor replaced by its leaves (each anchor once)."""
    seen: set[int] = set()
    todo = list(selected)
    while todo:
        doc, item = todo.pop()
        if isinstance(item, _Anchor):
            if id(item) not in seen:
                seen.add(id(item))
                todo.extend((doc, leaf) for leaf in item.leaves)
        else:
            yield doc, item


def yaml_secret_nodes(text: str, policy: KeyPolicy) -> list[Node]:
    """The secret value nodes of a YAML stream (pointers already prefixed for streams)."""
    walk = _YamlWalk(text, policy)
    for _ in walk.run():
        pass
    return [
        _renamed(node, _multi(doc, node.pointer, walk.docs))
        for doc, node in _resolve(walk.selected)
    ]


def yaml_nodes_at(text: str, pointers: set[str]) -> list[Node]:
    """The nodes of a YAML stream at ``pointers`` (all of them, for duplicate keys)."""
    walk = _YamlWalk(text, None)
    found = [
        (doc, node)
        for doc, node in walk.run()
        if node.pointer in pointers or f"/{doc - 1}{node.pointer}" in pointers
    ]
    return [
        _renamed(n, p) for doc, n in found if (p := _multi(doc, n.pointer, walk.docs)) in pointers
    ]


def _renamed(node: Node, pointer: str) -> Node:
    if pointer == node.pointer:
        return node
    return Node(pointer, node.key, node.start, node.end, node.string, node.null, node.whole)


def yaml_check(text: str) -> int:
    """Walk a YAML stream for its limits only; return its number of documents."""
    walk = _YamlWalk(text, None)
    for _ in walk.run():
        pass
    return walk.docs
