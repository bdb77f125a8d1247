"""YAML files read with line numbers, and ``${VAR}`` taken from the environment.

Every YAML file cloudcat reads (the configuration, price books, static catalogs, inventories, mock
fixtures) goes through :func:`load_yaml` or :func:`parse_yaml`, so that

* errors are :class:`~cloudcat.errors.ConfigError` naming the file and the line: ``invalid YAML:
  …``, ``duplicate key 'b' (first at line 2)`` (plain YAML would silently keep the last one);
* the result carries the line of every key and list entry (:attr:`YamlDocument.lines`, by path such
  as ``("backends", "fe", "options")`` or ``("items", 3)``), for errors found later by validation;
* hostile input is refused with a clear error instead of eating memory or the stack: nesting deeper
  than :data:`MAX_DEPTH` levels, aliases that would expand the document by more than
  :data:`MAX_ALIAS_NODES` values (a "billion laughs" file), recursive aliases, and values YAML
  reads but Python cannot hold (``2024-02-30``, an integer of thousands of digits).

:func:`expand_env` replaces ``${VAR}`` in every string by the environment variable (an unset one is
an error naming the variable, the file, the line and the field); ``$${VAR}`` is a literal ``${VAR}``.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from .errors import ConfigError

__all__ = [
    "ENV_SYNTAX",
    "MAX_ALIAS_NODES",
    "MAX_DEPTH",
    "MAX_FILE_BYTES",
    "Lines",
    "YamlDocument",
    "YamlPath",
    "dotted",
    "expand_env",
    "line_of",
    "load_yaml",
    "parse_yaml",
    "read_text",
]

#: Where a value sits in a document: keys (as strings) and list indexes.
YamlPath = tuple[str | int, ...]
#: The 1-based line of each key and list entry, by path.
Lines = dict[YamlPath, int]

#: How ``${VAR}`` works, in one sentence for the reference pages.
ENV_SYNTAX = "`${VAR}` is replaced by the environment variable (an unset one is an error)."

_ENV = re.compile(r"\$(\$?)\{([A-Za-z_][A-Za-z0-9_]*)\}")  # $${X} is a literal ${X}

#: Deepest nesting of mappings and lists accepted (aliases included); real files stay under 10.
MAX_DEPTH = 100
#: Largest file read (a catalog of 100,000 items is a few tens of MiB).
MAX_FILE_BYTES = 256 * 2**20
#: Values that aliases may add to a document beyond its own size (plus as many as it has):
#: sharing a block of options is fine, a file that expands a thousandfold is refused.
MAX_ALIAS_NODES = 100_000


class _StrictLoader(yaml.SafeLoader):
    """SafeLoader that refuses duplicate keys, deep nesting, and values Python cannot hold."""

    def __init__(self, stream: str) -> None:
        super().__init__(stream)
        self._depth = 0

    def fetch_flow_collection_start(self, TokenClass: Any) -> None:
        # the scanner keeps every open bracket as a possible key: refuse before that turns quadratic
        if self.flow_level >= MAX_DEPTH:
            raise yaml.scanner.ScannerError(None, None, f"nested deeper than {MAX_DEPTH} levels",
                                            self.get_mark())
        super().fetch_flow_collection_start(TokenClass)

    def compose_node(self, parent: yaml.Node | None, index: int) -> yaml.Node | None:
        # PyYAML composes recursively: bound the depth before the stack overflows
        self._depth += 1
        try:
            if self._depth > MAX_DEPTH:
                raise yaml.composer.ComposerError(
                    None, None, f"nested deeper than {MAX_DEPTH} levels",
                    self.peek_event().start_mark)  # type: ignore[no-untyped-call]
            return super().compose_node(parent, index)
        finally:
            self._depth -= 1

    def construct_object(self, node: yaml.Node, deep: bool = False) -> Any:
        try:
            return super().construct_object(node, deep=deep)
        except (ValueError, OverflowError) as exc:  # 2024-02-30, an int of 5,000 digits
            raise yaml.constructor.ConstructorError(
                None, None, f"invalid value {_short(node)}: {exc}", node.start_mark) from None

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen: dict[Any, int] = {}
        for key_node, _ in node.value:
            if key_node.tag == "tag:yaml.org,2002:merge":  # "<<: *defaults": merged entries may be overridden
                continue
            key = self.construct_object(key_node, deep=deep)
            if not isinstance(key, (str, int, float, bool)):
                continue
            if key in seen:
                raise yaml.constructor.ConstructorError(
                    None, None, f"duplicate key {key!r} (first at line {seen[key]})", key_node.start_mark)
            seen[key] = key_node.start_mark.line + 1
        return super().construct_mapping(node, deep=deep)


@dataclass(frozen=True)
class YamlDocument:
    """A parsed YAML file: its data, where it came from and the line of every key and entry."""

    data: Any
    source: str
    lines: Lines = field(default_factory=dict)

    def line(self, *path: str | int) -> int | None:
        """The line of ``path`` (or of its nearest enclosing key or entry)."""
        return line_of(self.lines, path)


def line_of(lines: Mapping[YamlPath, int], path: YamlPath) -> int | None:
    """The line of ``path``, or of its nearest ancestor that has one (``None`` if none has)."""
    for n in range(len(path), -1, -1):
        if path[:n] in lines:
            return lines[path[:n]]
    return None


def dotted(path: YamlPath) -> str:
    """``path`` as users write it: ``backends.fe.options``, ``price_books[1].backend``."""
    out = ""
    for p in path:
        out += f"[{p}]" if isinstance(p, int) else (f".{p}" if out else str(p))
    return out


def _short(node: yaml.Node) -> str:
    value = node.value if isinstance(node, yaml.ScalarNode) else node.tag
    text = str(value)
    return repr(text if len(text) <= 40 else text[:37] + "...")


def _check_size(root: yaml.Node) -> None:
    """Refuse recursive aliases, and aliases that expand the document past the limits."""
    own: set[int] = set()
    sizes: dict[int, tuple[int, int]] = {}  # node id -> (values once expanded, depth once expanded)
    open_: set[int] = set()

    def measure(node: yaml.Node) -> tuple[int, int]:
        key = id(node)
        if key in sizes:
            return sizes[key]
        if key in open_:
            raise yaml.composer.ComposerError(None, None, "recursive alias (a value that contains itself)",
                                              node.start_mark)
        open_.add(key)
        own.add(key)
        children: list[yaml.Node] = []
        if isinstance(node, yaml.MappingNode):
            children = [n for pair in node.value for n in pair]
        elif isinstance(node, yaml.SequenceNode):
            children = list(node.value)
        count, depth = 1, 0
        for child in children:
            c, d = measure(child)
            count, depth = count + c, max(depth, d)
            if count > 2 * len(own) + MAX_ALIAS_NODES:  # own nodes counted so far bound an alias-free tree
                _too_big(node)
        open_.discard(key)
        if depth + 1 > MAX_DEPTH:
            raise yaml.composer.ComposerError(None, None, f"nested deeper than {MAX_DEPTH} levels "
                                              "once aliases are expanded", node.start_mark)
        sizes[key] = (count, depth + 1)
        return sizes[key]

    measure(root)


def _too_big(node: yaml.Node) -> None:
    raise yaml.composer.ComposerError(
        None, None, f"aliases expand this document past {MAX_ALIAS_NODES:,} extra values "
        "(write the values out, or share fewer)", node.start_mark)


def _mark_lines(node: yaml.Node, path: YamlPath, lines: Lines) -> None:
    lines[path] = node.start_mark.line + 1
    if isinstance(node, yaml.MappingNode):
        for key, value in node.value:
            sub = (*path, str(key.value))
            _mark_lines(value, sub, lines)
            lines[sub] = key.start_mark.line + 1  # a key's line, not its value's (which may be the next)
    elif isinstance(node, yaml.SequenceNode):
        for i, value in enumerate(node.value):
            _mark_lines(value, (*path, i), lines)


def parse_yaml(text: str, *, source: str) -> YamlDocument:
    """Parse YAML ``text`` (an empty document is ``None``); errors name ``source``, the line and,
    for a value YAML reads but Python cannot hold (``2024-02-30``), the field."""
    loader = _StrictLoader(text)
    node: yaml.Node | None = None
    checked = False
    try:
        node = loader.get_single_node()
        if node is not None:
            _check_size(node)
            checked = True
        data = loader.construct_document(node) if node is not None else None
    except yaml.YAMLError as exc:
        raise _yaml_error(exc, source, node if checked else None) from None
    finally:
        loader.dispose()
    lines: Lines = {}
    if node is not None:
        _mark_lines(node, (), lines)
    return YamlDocument(data=data, source=source, lines=lines)


def _yaml_error(exc: yaml.YAMLError, source: str, node: yaml.Node | None) -> ConfigError:
    mark = getattr(exc, "problem_mark", None)
    line = mark.line + 1 if mark else None
    field = None
    if node is not None and mark is not None:  # composed and measured: safe to walk for the field
        found = _path_to(node, mark.index)
        field = dotted(found) if found else None
    return ConfigError(f"invalid YAML: {getattr(exc, 'problem', None) or exc}", source=source,
                       line=line, field=field)


def _path_to(root: yaml.Node, index: int) -> YamlPath | None:
    """The path of the value that starts at ``index`` in the text (the deepest one)."""
    best: YamlPath | None = None
    stack: list[tuple[yaml.Node, YamlPath]] = [(root, ())]
    seen: set[int] = set()
    while stack:
        node, path = stack.pop()
        if id(node) in seen:
            continue
        seen.add(id(node))
        if node.start_mark.index == index and (best is None or len(path) > len(best)):
            best = path
        if isinstance(node, yaml.MappingNode):
            stack.extend((value, (*path, str(key.value))) for key, value in node.value)
        elif isinstance(node, yaml.SequenceNode):
            stack.extend((value, (*path, i)) for i, value in enumerate(node.value))
    return best


def read_text(path: str | Path, *, what: str | None = None, missing: str | None = None) -> str:
    """The text of a UTF-8 file (a byte order mark is dropped).

    Errors name the file: ``cannot read <what>: <reason>``, or ``missing`` when the file does not
    exist and that message is given; a file over :data:`MAX_FILE_BYTES` is refused unread.
    """
    p = Path(path)
    try:
        with p.open("rb") as f:  # bounded, also for a pipe or a device (--config <(...), /dev/zero)
            data = f.read(MAX_FILE_BYTES + 1)
        if len(data) > MAX_FILE_BYTES:
            raise ConfigError(f"larger than {MAX_FILE_BYTES // 2**20} MiB; split it", source=str(p))
        text = data.decode("utf-8-sig")  # a BOM (spreadsheet "CSV UTF-8", Notepad) is not data
        return text.replace("\r\n", "\n").replace("\r", "\n")  # universal newlines, as text mode reads
    except UnicodeDecodeError as exc:
        raise ConfigError(f"not UTF-8 text (byte {exc.start}); save the file as UTF-8", source=str(p)) from None
    except FileNotFoundError as exc:
        if missing:
            raise ConfigError(missing, source=str(p)) from None
        raise ConfigError(_cannot_read(what, exc), source=str(p)) from None
    except OSError as exc:
        raise ConfigError(_cannot_read(what, exc), source=str(p)) from None


def _cannot_read(what: str | None, exc: OSError) -> str:
    return f"cannot read{' ' + what if what else ''}: {exc.strerror or exc}"


def load_yaml(path: str | Path, *, what: str | None = None, missing: str | None = None) -> YamlDocument:
    """Read and parse a YAML (or JSON) file; see :func:`read_text` and :func:`parse_yaml`."""
    return parse_yaml(read_text(path, what=what, missing=missing), source=str(path))


def expand_env(value: Any, *, source: str | None = None, lines: Mapping[YamlPath, int] | None = None,
               path: YamlPath = ()) -> Any:
    """``value`` with ``${VAR}`` in every string (at any depth of dicts and lists) replaced by the
    environment variable; ``$${VAR}`` gives a literal ``${VAR}``.

    An unset variable is a :class:`ConfigError` naming it, ``source``, the line (from ``lines``)
    and the field (the dotted path below ``path``).
    """
    if isinstance(value, str):
        def repl(m: re.Match[str]) -> str:
            escaped, var = m.group(1), m.group(2)
            if escaped:
                return "${" + var + "}"
            if var not in os.environ:
                raise ConfigError(f"environment variable {var} is not set", source=source,
                                  line=line_of(lines or {}, path), field=dotted(path))
            return os.environ[var]
        return _ENV.sub(repl, value)
    if isinstance(value, dict):
        return {k: expand_env(v, source=source, lines=lines, path=(*path, str(k))) for k, v in value.items()}
    if isinstance(value, list):
        return [expand_env(v, source=source, lines=lines, path=(*path, i)) for i, v in enumerate(value)]
    return value
