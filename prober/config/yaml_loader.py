"""YAML parsing for probes.yaml: PyYAML's safe loader, streaming the `probes` list, bounded.

A config is untrusted input: an alias bomb, a self-referencing alias, 500 levels of
nesting or `/dev/zero` must end in one clear line, not in gigabytes or a traceback.
So the file is read up to MAX_CONFIG_BYTES, nesting stops at MAX_DEPTH, aliases may
add at most MAX_ALIAS_NODES nodes in all, an alias may not refer to a node that
contains it, and a key may not appear twice in one mapping.
"""

from __future__ import annotations

import contextlib
import re
import stat
from pathlib import Path
from typing import Any, ClassVar

import yaml
from yaml.composer import Composer
from yaml.constructor import ConstructorError, SafeConstructor
from yaml.error import Mark, MarkedYAMLError
from yaml.events import AliasEvent, SequenceEndEvent, SequenceStartEvent
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode
from yaml.reader import ReaderError
from yaml.resolver import Resolver

MAX_CONFIG_BYTES = 16 * 1024 * 1024  # ten thousand probes take some 2 MiB
MAX_DEPTH = 64  # levels of nested mappings and lists; a JSON body nests a few
MAX_ALIAS_NODES = 100_000  # nodes that aliases add once expanded, over the whole file
_MERGE = "tag:yaml.org,2002:merge"

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


class LimitError(MarkedYAMLError):
    """A document beyond the loader's bounds; `problem` says which."""


class DuplicateKeyError(MarkedYAMLError):
    """A key written twice in one mapping: YAML would silently keep the last."""


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
        self._nodes = 0  # nodes composed so far, each alias counted as the nodes it stands for
        self._alias_nodes = 0
        self._sizes: dict[str, int] = {}  # anchor -> nodes under it, once it is complete

    yaml_constructors: ClassVar[dict[Any, Any]] = {
        **SafeConstructor.yaml_constructors,
        _CONSTRUCTED: _constructed,
    }
    get_single_node = Composer.get_single_node  # the Python composer: it can be steered
    check_node = Composer.check_node  # and for several documents (OpenSLO files)
    get_node = Composer.get_node

    def compose_node(self, parent: Node | None, index: Any) -> Node | None:
        if self.check_event(AliasEvent):
            return self._compose_alias(parent, index)
        event: Any = self.peek_event()
        if self._depth >= MAX_DEPTH:
            raise LimitError(None, None, f"nested deeper than {MAX_DEPTH} levels", event.start_mark)
        self._depth += 1
        self._nodes += 1
        start = self._nodes
        try:
            if (
                self._depth == 2  # a value of the root mapping
                and isinstance(index, ScalarNode)
                and index.value == "probes"
                and self.check_event(SequenceStartEvent)
                and event.anchor is None
                and event.tag in (None, "!")
            ):
                return self._compose_constructed(parent, index)
            return super().compose_node(parent, index)
        finally:
            self._depth -= 1
            if event.anchor is not None:
                self._sizes[event.anchor] = self._nodes - start + 1

    def _compose_alias(self, parent: Node | None, index: Any) -> Node | None:
        event: Any = self.peek_event()
        if event.anchor in self.anchors and event.anchor not in self._sizes:
            raise LimitError(
                None,
                None,
                f"alias *{event.anchor} refers to a node that contains it",
                event.start_mark,
            )
        size = self._sizes.get(event.anchor, 1)
        self._nodes += size
        self._alias_nodes += size
        if self._alias_nodes > MAX_ALIAS_NODES:
            raise LimitError(
                None,
                None,
                f"aliases expand to more than {MAX_ALIAS_NODES:,} nodes",
                event.start_mark,
            )
        return super().compose_node(parent, index)

    def construct_object(self, node: Node, deep: bool = False) -> Any:
        try:
            return super().construct_object(node, deep=deep)
        except ValueError as exc:  # int('1' * 5000) is over Python's digit limit
            if isinstance(exc, yaml.YAMLError):
                raise
            raise LimitError(None, None, "number too long", node.start_mark) from None

    def construct_mapping(self, node: MappingNode, deep: bool = False) -> dict[Any, Any]:
        if isinstance(node, MappingNode):
            seen: dict[Any, Mark] = {}
            for key_node, _ in node.value:
                if key_node.tag == _MERGE:
                    continue
                key = self.construct_object(key_node, deep=True)
                try:
                    first = seen.setdefault(key, key_node.start_mark)
                except TypeError:  # an unhashable key: construction reports it
                    continue
                if first is not key_node.start_mark:
                    raise DuplicateKeyError(
                        None,
                        None,
                        f"duplicate key {key!r} (first at line {first.line + 1})",
                        key_node.start_mark,
                    )
        return super().construct_mapping(node, deep=deep)

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


def load_yaml(text: str, all_documents: bool = False) -> Any:
    """`yaml.safe_load(text)` at a fraction of the peak memory for a long `probes` list.

    With all_documents, `safe_load_all` as a list (OpenSLO files hold several), within
    the same bounds: aliases are counted over the whole stream, not per document.
    Raises yaml.YAMLError; LimitError and DuplicateKeyError for what safe_load allows.
    """
    loader = _StreamingLoader(text)
    try:
        if not all_documents:
            return loader.get_single_data()
        documents = []
        while loader.check_data():  # type: ignore[no-untyped-call]
            documents.append(loader.get_data())
        return documents
    finally:
        loader.dispose()


class YAMLFileError(Exception):
    """A config file that cannot be read or parsed; `reason` is one line, without the path."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def read_text(path: Path, limit: int = MAX_CONFIG_BYTES) -> str:
    """The UTF-8 text of `path`, reading at most `limit` bytes: /dev/zero is a mistake too."""
    try:
        with path.open("rb") as f:
            data = f.read(limit + 1)
    except FileNotFoundError:
        raise YAMLFileError("file not found") from None
    except OSError as exc:
        raise YAMLFileError(f"cannot read: {exc.strerror or type(exc).__name__}") from None
    if len(data) > limit:
        raise YAMLFileError(f"cannot read: larger than {limit // 1024 // 1024} MiB")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        raise YAMLFileError(f"line {line}: cannot read: not UTF-8 text") from None


def load_yaml_file(path: str | Path, all_documents: bool = False) -> Any:
    """Read and parse a config file within the loader's bounds, with no event loop needed.

    Blocking and CPU-bound: an agent calls it in a worker thread. Raises YAMLFileError
    with one line (line, column and what is wrong) for every kind of bad file.
    """
    path = Path(path)
    with contextlib.suppress(OSError):  # a pipe with no writer would block forever
        if stat.S_ISFIFO(path.stat().st_mode) or stat.S_ISSOCK(path.stat().st_mode):
            raise YAMLFileError("cannot read: not a regular file (a pipe or socket)")
    text = read_text(path)
    try:
        return load_yaml(text, all_documents)
    except ReaderError as exc:  # libyaml counts its position in bytes of UTF-8
        before = text.encode("utf-8")[: exc.position].decode("utf-8", errors="replace")
        line, column = before.count("\n") + 1, len(before) - before.rfind("\n")
        what = f"character #x{exc.character:04x}" if isinstance(exc.character, int) else "input"
        key = _key_on_line(text, line)
        raise YAMLFileError(
            f"line {line} column {column}{key}: invalid YAML: {what}: {exc.reason}"
        ) from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        key = (
            ""
            if isinstance(exc, DuplicateKeyError) or not mark
            else _key_on_line(text, mark.line + 1)
        )
        where = f"line {mark.line + 1} column {mark.column + 1}{key}: " if mark else ""
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        kind = "" if isinstance(exc, LimitError | DuplicateKeyError) else "invalid YAML: "
        raise YAMLFileError(f"{where}{kind}{problem}") from None


_KEY = re.compile(  # `  - name: …`, `"X-Api-Key": …`: the key a line starts with, and where
    r"""^([ \t]*(?:-[ \t]+)*)["']?([A-Za-z0-9_][A-Za-z0-9_.-]*)["']?[ \t]*:(?:[ \t]|$)"""
)
_MAX_KEY_LINES = 10_000  # lines walked back to find the parent keys


def _key_on_line(text: str, line: int) -> str:
    """`, in probes.headers.X-Api-Key` for a broken line: the keys that lead to it.

    Read from the indentation of block mappings, as far as they go; never a value,
    which may be a secret. Empty when the line starts with no key.
    """
    lines = text.split("\n", line)[:line]
    if len(lines) < line:
        return ""
    match = _KEY.match(lines[-1])
    if not match:
        return ""
    keys = [match.group(2)]
    indent = len(match.group(1))
    for above in reversed(lines[max(0, line - 1 - _MAX_KEY_LINES) : -1]):
        stripped = above.lstrip(" ")
        if not stripped or stripped.startswith("#"):
            continue
        if stripped.startswith("- ") and len(above) - len(stripped) < indent:
            indent = len(above) - len(stripped)  # inside this list item
        found = _KEY.match(above)
        if found and len(found.group(1)) < indent and not found.group(1).strip(" \t"):
            keys.append(found.group(2))
            indent = len(found.group(1))
        if indent == 0:
            break
    return ", in " + ".".join(reversed(keys))
