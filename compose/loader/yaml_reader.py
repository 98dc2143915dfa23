"""Reading compose YAML the way compose-go (go-yaml, YAML 1.2) reads it, keeping line numbers.

PyYAML implements YAML 1.1, which turns `22:22` into 1342 (base 60) and `no`/`on` into booleans.
We therefore only let PyYAML *compose* the node graph (C parser when available) and build the
Python values ourselves with go-yaml's resolution rules:

* null: empty, `~`, `null`/`Null`/`NULL`; booleans: only `true`/`True`/`TRUE`/`false`/...
* ints as Go's `strconv.ParseInt(s, 0, 64)` after dropping `_`: `0x1F`, `0o17`, `0b101`, and
  the legacy `0440` (octal, as compose file modes rely on); floats per YAML 1.2 (`1e3`, `.5`).
* everything else (`22:22`, `yes`, `off`, `2024-01-01`) stays a string.

Anchors/aliases and `<<` merge keys work; duplicate keys, non-string keys and alias cycles are
errors that name the file and line. `!reset` / `!override` become `Reset` / `Override` markers
that the merge stage acts on.
"""
from __future__ import annotations

import json
import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import yaml
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from compose.errors import KeyPath, YamlError, format_path, nearest_line

__all__ = ["Reset", "Override", "YamlDocument", "read_yaml", "read_yaml_all", "resolve_scalar",
           "MAX_NODES"]

# A billion-laughs document expands exponentially through aliases; refuse past this many values.
MAX_NODES = 250_000

_PLAIN = "!plain"  # the tag our resolver gives every plain (unquoted, untagged) scalar
_TAG_STR = "tag:yaml.org,2002:str"
_TAG_INT = "tag:yaml.org,2002:int"
_TAG_FLOAT = "tag:yaml.org,2002:float"
_TAG_BOOL = "tag:yaml.org,2002:bool"
_TAG_NULL = "tag:yaml.org,2002:null"
_TAG_MERGE = "tag:yaml.org,2002:merge"
_TAG_SEQ = "tag:yaml.org,2002:seq"
_TAG_MAP = "tag:yaml.org,2002:map"


class Reset:
    """`!reset` in a file: the attribute is removed (or emptied) by the merge."""

    tag = "!reset"

    def __init__(self, value: Any = None) -> None:
        self.value = value

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Reset)

    def __hash__(self) -> int:
        return hash(Reset)

    def __repr__(self) -> str:
        return "Reset()" if self.value is None else f"Reset({self.value!r})"


class Override:
    """`!override value`: the value replaces what is merged under it instead of merging."""

    tag = "!override"

    def __init__(self, value: Any) -> None:
        self.value = value

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Override) and other.value == self.value

    def __hash__(self) -> int:
        return hash(("Override", repr(self.value)))

    def __repr__(self) -> str:
        return f"Override({self.value!r})"


@dataclass(frozen=True)
class YamlDocument:
    """One YAML document: plain data (dict/list/str/int/float/bool/None + markers) and the
    1-based line of every mapping key and sequence item, by key path."""

    data: Any
    filename: str
    lines: Mapping[KeyPath, int] = field(default_factory=dict, repr=False)
    start_line: int = 1  # where the document begins in its file

    def line_of(self, path: Sequence[str | int]) -> int | None:
        """Line of the key (or list item) at `path`, e.g. `("services", "web", "ports", 0)`."""
        return self.lines.get(tuple(path))

    def nearest_line(self, path: Sequence[str | int]) -> int | None:
        """Line of `path` or of its closest ancestor that has one (for error messages)."""
        return nearest_line(self.lines.get, path)


# --- scalar resolution (go-yaml v3/v4 rules) ----------------------------------------------------

_NULLS = frozenset(("", "~", "null", "Null", "NULL"))
_BOOLS = {"true": True, "True": True, "TRUE": True, "false": False, "False": False, "FALSE": False}
_SPECIAL_FLOATS = {
    ".nan": float("nan"), ".NaN": float("nan"), ".NAN": float("nan"),
    ".inf": float("inf"), ".Inf": float("inf"), ".INF": float("inf"),
    "+.inf": float("inf"), "+.Inf": float("inf"), "+.INF": float("inf"),
    "-.inf": float("-inf"), "-.Inf": float("-inf"), "-.INF": float("-inf"),
    "-0": -0.0, "-0.0": -0.0,  # go-yaml keeps the sign of zero, so these are floats
}
# Go's ParseInt with base 0: 0x / 0o / 0b prefixes, a leading 0 means octal.
_GO_INT = re.compile(r"([-+]?)(0[xX][0-9a-fA-F]+|0[oO][0-7]+|0[bB][01]+|0[0-7]*|[1-9][0-9]*)\Z")
_YAML_FLOAT = re.compile(r"[-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?\Z")
_INT64_MAX = 2**63 - 1
_UINT64_MAX = 2**64 - 1


def _go_int(text: str) -> int | None:
    m = _GO_INT.match(text)
    if not m:
        return None
    sign, body = m.groups()
    lowered = body.lower()
    if lowered.startswith(("0x", "0o", "0b")):
        value = int(body[2:], {"x": 16, "o": 8, "b": 2}[lowered[1]])
    elif len(body) > 1 and body[0] == "0":
        value = int(body, 8)
    else:
        value = int(body)
    if sign == "-":
        return -value if value <= _INT64_MAX + 1 else None
    if value <= _INT64_MAX or (not sign and value <= _UINT64_MAX):
        return value
    return None


# first characters of plain scalars that may resolve to something other than a string
_NON_STRING_STARTS = frozenset("~nNtTfF+-.0123456789") | {""}


def resolve_scalar(text: str) -> Any:
    """The value of a plain (unquoted, untagged) scalar under compose-go's YAML rules."""
    if text in _NULLS:
        return None
    first = text[0]
    if first in "tTfF":
        return _BOOLS.get(text, text)
    if first in "+-.0123456789":
        special = _SPECIAL_FLOATS.get(text)
        if special is not None:  # (-0.0 is falsy but not None)
            return special
        if first == ".":
            if "_" in text:  # Python's float() accepts "_" between digits, Go's does not
                return text
            try:
                return float(text)
            except ValueError:
                return text
        plain = text.replace("_", "")
        number = _go_int(plain)
        if number is not None:
            return number
        if _YAML_FLOAT.match(plain):
            return float(plain)
    return text


# --- composing with PyYAML ---------------------------------------------------------------------

def _resolve(self: Any, kind: type, value: str, implicit: tuple[bool, bool]) -> str:
    if kind is ScalarNode:
        return _PLAIN if implicit[0] else _TAG_STR
    return _TAG_SEQ if kind is SequenceNode else _TAG_MAP


def composer_class(base: type) -> type:
    """A PyYAML loader class (on `base`: CSafeLoader or SafeLoader) that only composes nodes;
    every plain scalar gets the `!plain` tag so that we resolve it ourselves (and can still
    tell `"123"` and `!!str 123` from `123`)."""
    return type("_Composer", (base,), {"resolve": _resolve})


# libyaml's parser when PyYAML was built with it (several times faster); same results.
_Composer = composer_class(getattr(yaml, "CSafeLoader", yaml.SafeLoader))


def _compose(text: str, filename: str) -> Iterator[Node]:
    loader = _Composer(text)
    try:
        while loader.check_node():
            yield loader.get_node()
    except yaml.MarkedYAMLError as err:
        raise _syntax_error(err, filename, text) from None
    except yaml.YAMLError as err:
        raise YamlError(f"invalid YAML: {err}", filename=filename) from None
    finally:
        loader.dispose()


def _syntax_error(err: yaml.MarkedYAMLError, filename: str, text: str) -> YamlError:
    mark = err.problem_mark or err.context_mark
    problem = err.problem or err.context or "invalid YAML"
    if mark is not None and _char_at(text, mark.line, mark.column) == "\t":
        problem = "found a tab character where YAML allows only spaces (indent with spaces)"
    elif err.context and err.problem and err.context not in problem:
        problem = f"{err.problem} ({err.context})"
    line = mark.line + 1 if mark is not None else None
    return YamlError(problem, filename=filename, line=line)


def _char_at(text: str, line: int, column: int) -> str:
    lines = text.split("\n", line + 1)
    if line < len(lines) and column < len(lines[line]):
        return lines[line][column]
    return ""


# --- building values ---------------------------------------------------------------------------

class _Builder:
    def __init__(self, filename: str, max_nodes: int) -> None:
        self.filename = filename
        self.max_nodes = max_nodes
        self.lines: dict[KeyPath, int] = {}
        self.count = 0
        self.active: set[int] = set()  # containers being built: an alias to one is a cycle

    def error(self, node: Node, message: str, path: KeyPath) -> YamlError:
        return YamlError(message, filename=self.filename, line=node.start_mark.line + 1,
                         path=path or None)

    def build(self, node: Node, path: KeyPath) -> Any:
        self.count += 1
        if self.count > self.max_nodes:
            raise self.error(node, "document contains excessive aliasing (more than "
                             f"{self.max_nodes} values once aliases are expanded)", path)
        tag = node.tag
        if tag == "!reset":
            return Reset(self._untagged(node, path, tagged=True))
        if tag == "!override":
            return Override(self._untagged(node, path, tagged=True))
        return self._untagged(node, path, tagged=False)

    def _untagged(self, node: Node, path: KeyPath, tagged: bool) -> Any:
        if isinstance(node, ScalarNode):
            return self._scalar(node, path, tagged)
        ident = id(node)
        if ident in self.active:
            # the node is the anchor itself: point at where it is used instead
            raise YamlError("cycle detected: an alias refers to a node that contains it",
                            filename=self.filename, path=path or None,
                            line=self.lines.get(path, node.start_mark.line + 1))
        self.active.add(ident)
        try:
            if isinstance(node, SequenceNode):
                return self._sequence(node, path)
            return self._mapping(node, path)
        finally:
            self.active.discard(ident)

    def _scalar(self, node: ScalarNode, path: KeyPath, tagged: bool) -> Any:
        tag, text = node.tag, node.value
        if tag == _PLAIN or (tagged and not node.style):  # plain style is None or ''
            return resolve_scalar(text)
        if tag in _CORE_TAGS:
            value = resolve_scalar(text)
            if tag == _TAG_FLOAT and _is_number(value):
                return float(value)
            if isinstance(value, _CORE_TAGS[tag]) and (tag != _TAG_INT or _is_number(value)):
                return value
            raise self.error(node, f"cannot decode {json.dumps(text)} as "
                             f"!!{tag.rsplit(':', 1)[1]}", path)
        # quoted, !!str, block scalars and unknown tags: the text as is (as go-yaml does)
        return text

    def _sequence(self, node: SequenceNode, path: KeyPath) -> list[Any]:
        out = []
        lines = self.lines
        for index, item in enumerate(node.value):
            item_path = path + (index,)
            lines[item_path] = item.start_mark.line + 1
            out.append(self.build(item, item_path))
        return out

    def _key(self, node: Node, path: KeyPath) -> str:
        """A mapping key; compose-go refuses keys that are not strings (`80:`, `true:`)."""
        if isinstance(node, ScalarNode) and node.tag == _PLAIN:  # the common case, made fast
            value = resolve_scalar(node.value) if node.value[:1] in _NON_STRING_STARTS \
                else node.value
            if isinstance(value, str):
                return value
        where = "in " + format_path(path) if path else "at top level"
        if not isinstance(node, ScalarNode):
            raise self.error(node, f"non-string key {where}: a mapping or sequence cannot be a "
                             "key", ())
        value = self._scalar(node, path, tagged=False)
        if isinstance(value, str):
            return value
        shown = "<nil>" if value is None else str(value).lower() if isinstance(value, bool) \
            else str(value)
        raise self.error(node, f"non-string key {where}: {shown}", ())

    def _mapping(self, node: MappingNode, path: KeyPath) -> dict[str, Any]:
        explicit: list[tuple[Node, Node]] = []
        merges: list[Node] = []
        seen: dict[str, int] = {}
        for key_node, value_node in node.value:
            raw = key_node.value if isinstance(key_node, ScalarNode) else None
            line = key_node.start_mark.line + 1
            if raw is not None:
                if raw in seen:
                    raise YamlError(
                        f"mapping key {json.dumps(raw, ensure_ascii=False)} already defined at "
                        f"line {seen[raw]}", filename=self.filename, line=line, path=path or None)
                seen[raw] = line
            if _is_merge_key(key_node):
                merges.append(value_node)
            else:
                explicit.append((key_node, value_node))

        out: dict[str, Any] = {}
        for source in merges:
            for merged in self._merge_sources(source, path):
                for key, value in merged.items():
                    out.setdefault(key, value)
        lines = self.lines
        for key_node, value_node in explicit:
            key = self._key(key_node, path)
            key_path = path + (key,)
            lines[key_path] = key_node.start_mark.line + 1
            out[key] = self.build(value_node, key_path)
        return out

    def _merge_sources(self, node: Node, path: KeyPath) -> list[dict[str, Any]]:
        """The mappings a `<<` value names; earlier ones win, as YAML's merge spec says."""
        if isinstance(node, MappingNode):
            return [self.build(node, path)]
        if isinstance(node, SequenceNode) and all(isinstance(n, MappingNode) for n in node.value):
            return [self.build(n, path) for n in node.value]
        raise self.error(node, "map merge requires map or sequence of maps as the value", path)


_CORE_TAGS: dict[str, type | tuple[type, ...]] = {
    _TAG_INT: int, _TAG_FLOAT: float, _TAG_BOOL: bool, _TAG_NULL: type(None)}


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _is_merge_key(node: Node) -> bool:
    return isinstance(node, ScalarNode) and (
        (node.tag == _PLAIN and node.value == "<<") or node.tag == _TAG_MERGE)


# --- entry points ------------------------------------------------------------------------------

def read_yaml_all(text: str, filename: str = "compose.yaml", *,
                  max_nodes: int = MAX_NODES) -> list[YamlDocument]:
    """Every document of a YAML stream (compose-go loads them one after the other). A stream
    with no document (empty, only comments) gives an empty list. A document whose aliases
    expand to more than `max_nodes` values is refused."""
    if text.startswith("\ufeff"):
        text = text[1:]
    documents = []
    for node in _compose(text, filename):
        if isinstance(node, ScalarNode) and node.tag == _PLAIN and node.value == "":
            continue  # an empty document, e.g. after a trailing "---"
        builder = _Builder(filename, max_nodes)
        data = builder.build(node, ())
        if not isinstance(data, dict):
            raise YamlError("top-level object must be a mapping", filename=filename,
                            line=node.start_mark.line + 1)
        documents.append(YamlDocument(data=data, filename=filename, lines=builder.lines,
                                      start_line=node.start_mark.line + 1))
    return documents


def read_yaml(text: str, filename: str = "compose.yaml", *,
              max_nodes: int = MAX_NODES) -> YamlDocument:
    """The single document of a compose file (`{}` when the file holds none). Several documents
    in one file are refused here; use `read_yaml_all` to process them one by one."""
    documents = read_yaml_all(text, filename, max_nodes=max_nodes)
    if not documents:
        return YamlDocument(data={}, filename=filename, lines={})
    if len(documents) > 1:
        raise YamlError("a second YAML document starts here; a compose file holds one mapping",
                        filename=filename, line=documents[1].start_line)
    return documents[0]
