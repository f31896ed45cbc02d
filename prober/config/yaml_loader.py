"""YAML parsing for probes.yaml: PyYAML's safe loader, streaming the `probes` list."""

from __future__ import annotations

from typing import Any, ClassVar

from yaml.composer import Composer
from yaml.constructor import ConstructorError, SafeConstructor
from yaml.events import SequenceEndEvent, SequenceStartEvent
from yaml.nodes import Node, ScalarNode, SequenceNode
from yaml.resolver import Resolver

try:  # libyaml's parser when PyYAML was built with it: ten times faster on large configs
    from yaml._yaml import CParser as _Events
except ImportError:  # pragma: no cover - the pure-Python parser, as yaml.SafeLoader has
    from yaml.parser import Parser
    from yaml.reader import Reader
    from yaml.scanner import Scanner

    class _Events(Reader, Scanner, Parser):  # type: ignore[no-redef]
        def __init__(self, stream: str) -> None:
            Reader.__init__(self, stream)
            Scanner.__init__(self)
            Parser.__init__(self)


_CONSTRUCTED = "tag:prober,2024:constructed"  # private: a sequence already turned into data


class _ConstructedNode(SequenceNode):
    """The top-level `probes` list, built item by item while it was parsed."""


def _constructed(loader: SafeConstructor, node: Node) -> Any:
    if not isinstance(node, _ConstructedNode):  # someone wrote the private tag
        raise ConstructorError(None, None, f"unknown tag {node.tag!r}", node.start_mark)
    return node.value


class _StreamingLoader(_Events, Composer, SafeConstructor, Resolver):
    """PyYAML's safe loader on libyaml's parser, building `probes` one item at a time.

    The stock loader composes the whole document into nodes (with two marks each)
    before it constructs any data: for 10,000 probes that is some 45 MB of nodes,
    freed right after but leaving the heap fragmented for the life of the process.
    Here each item of the top-level `probes` list is composed and constructed on its
    own, so only one probe's nodes exist at a time; the result is the same data.
    """

    def __init__(self, stream: str) -> None:
        _Events.__init__(self, stream)
        Composer.__init__(self)
        SafeConstructor.__init__(self)
        Resolver.__init__(self)
        self._depth = 0

    yaml_constructors: ClassVar[dict[Any, Any]] = {
        **SafeConstructor.yaml_constructors,
        _CONSTRUCTED: _constructed,
    }
    get_single_node = Composer.get_single_node  # the Python composer: it can be steered

    def compose_node(self, parent: Node | None, index: Any) -> Node | None:
        self._depth += 1
        try:
            if (
                self._depth == 2  # a value of the root mapping
                and isinstance(index, ScalarNode)
                and index.value == "probes"
                and self.check_event(SequenceStartEvent)
            ):
                event: Any = self.peek_event()
                if event.anchor is None and event.tag in (None, "!"):
                    return self._compose_constructed(parent, index)
            return super().compose_node(parent, index)
        finally:
            self._depth -= 1

    def _compose_constructed(self, parent: Node | None, index: Node) -> Node:
        self.descend_resolver(parent, index)
        start: Any = self.get_event()
        node = _ConstructedNode(_CONSTRUCTED, [], start.start_mark, start.end_mark)
        while not self.check_event(SequenceEndEvent):
            item = self.compose_node(node, len(node.value))
            node.value.append(self.construct_document(item))
        end: Any = self.get_event()
        node.end_mark = end.end_mark
        self.ascend_resolver()
        return node


def load_yaml(text: str) -> Any:
    """`yaml.safe_load(text)` at a fraction of the peak memory for a long `probes` list."""
    loader = _StreamingLoader(text)
    try:
        return loader.get_single_data()
    finally:
        loader.dispose()
