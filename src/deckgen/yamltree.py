"""YAML text to PyYAML's node tree, in bounded time and memory on any input.

PyYAML's own composer follows aliases without limit, recurses once per level of nesting
and builds every node of a file before anyone can look: a few hundred bytes of aliases
expand to billions of nodes, a deep flow list ends in a RecursionError, a 50 MB flow
list takes gigabytes. This composer reads libyaml's event stream instead and stops at
the first limit passed, with the line where it happened. An alias still shares its
node, as PyYAML's does; its size counts each time it is used, so whatever later walks
the tree walks at most MAX_NODES nodes.
"""

from __future__ import annotations

from typing import NamedTuple

import yaml

Parser = getattr(yaml, "CSafeLoader", yaml.SafeLoader)  # libyaml's parser where installed
MAX_DEPTH = 50  # a topic needs 4 levels (topic, cards, card, tags)
MAX_NODES = 500_000  # some 40,000 cards: more than any one topic file should hold


class TooLarge(ValueError):
    def __init__(self, line: int, message: str):
        super().__init__(message)
        self.line = line


def compose(text: str) -> yaml.Node | None:
    """The document's root node, or None for an empty document.

    Raises yaml.YAMLError for invalid YAML and TooLarge past a limit."""
    return compose_counted(text).root


class Composed(NamedTuple):
    root: yaml.Node | None
    values: int  # aliases counted each time they are used
    anchored: bool  # whether it defines an anchor


def compose_counted(text: str) -> Composed:
    """compose(), with what parts of a file composed apart need: their values may not add
    up to more than the whole may hold, and an anchor defined in one may be used after."""
    loader = Parser(text)
    try:
        composer = _Composer(loader)
        root = composer.document()
        return Composed(root, composer.nodes, bool(composer.anchors))  # all closed now
    finally:
        loader.dispose()


class _Composer:
    def __init__(self, loader):
        self.loader = loader
        self.anchors: dict[str, tuple[yaml.Node, int]] = {}  # node and its expanded size
        self.open_anchors: set[str] = set()
        self.nodes = 0

    def document(self) -> yaml.Node | None:
        events = self.loader
        events.get_event()  # StreamStart
        if events.check_event(yaml.StreamEndEvent):
            return None
        events.get_event()  # DocumentStart
        root = self._node()
        events.get_event()  # DocumentEnd
        if not events.check_event(yaml.StreamEndEvent):
            event = events.get_event()
            raise yaml.composer.ComposerError(
                "expected a single document in the stream", None,
                "but found another document", event.start_mark)
        return root

    def _node(self) -> yaml.Node:
        """One node, without recursion: a stack of the collections still open."""
        stack: list[tuple[yaml.Node, str | None, int]] = []  # (node, anchor, nodes before)
        while True:
            event = self.loader.get_event()
            if isinstance(event, (yaml.SequenceEndEvent, yaml.MappingEndEvent)):
                node, anchor, before = stack.pop()
                node.end_mark = event.end_mark
                if isinstance(node, yaml.MappingNode):
                    items = node.value
                    node.value = list(zip(items[::2], items[1::2]))
                if anchor is not None:
                    self.open_anchors.discard(anchor)
                    self.anchors[anchor] = (node, self.nodes - before)
                done = node
            elif isinstance(event, yaml.AliasEvent):
                done = self._alias(event)
            else:
                done = self._start(event, stack)
                if done is None:
                    continue
            if not stack:
                return done
            stack[-1][0].value.append(done)

    def _start(self, event, stack: list) -> yaml.Node | None:
        """A scalar node, or None after opening a collection."""
        self._count(1, event)
        anchor = getattr(event, "anchor", None)
        if isinstance(event, yaml.ScalarEvent):
            tag = event.tag if event.tag not in (None, "!") else self._scalar_tag(event)
            node = yaml.ScalarNode(tag, event.value, event.start_mark, event.end_mark,
                                   style=event.style)
            if anchor is not None:
                self.anchors[anchor] = (node, 1)
            return node
        if len(stack) >= MAX_DEPTH:
            raise TooLarge(event.start_mark.line + 1, f"nested more than {MAX_DEPTH} levels"
                                                      " deep; a topic needs four")
        kind = yaml.SequenceNode if isinstance(event, yaml.SequenceStartEvent) else yaml.MappingNode
        default = "tag:yaml.org,2002:seq" if kind is yaml.SequenceNode else "tag:yaml.org,2002:map"
        tag = event.tag if event.tag not in (None, "!") else default
        node = kind(tag, [], event.start_mark, None, flow_style=event.flow_style)
        if anchor is not None:
            self.open_anchors.add(anchor)
        stack.append((node, anchor, self.nodes - 1))
        return None

    def _alias(self, event) -> yaml.Node:
        if event.anchor in self.open_anchors:
            raise TooLarge(event.start_mark.line + 1,
                           f"alias '*{event.anchor}' refers to a node that contains it")
        if event.anchor not in self.anchors:
            raise yaml.composer.ComposerError(None, None, f"found undefined alias"
                                              f" '{event.anchor}'", event.start_mark)
        node, size = self.anchors[event.anchor]
        self._count(size, event)
        return node

    def _count(self, size: int, event) -> None:
        self.nodes += size
        if self.nodes > MAX_NODES:
            raise TooLarge(event.start_mark.line + 1,
                           f"more than {MAX_NODES:,} values (aliases counted each time they"
                           " are used); split the file")

    def _scalar_tag(self, event) -> str:
        implicit = event.implicit
        return self.loader.resolve(yaml.ScalarNode, event.value, implicit)
