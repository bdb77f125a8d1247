"""YAML files read with line numbers, and ``${VAR}`` taken from the environment.

Every YAML file cloudcat reads (the configuration, price books, static catalogs, inventories, mock
fixtures) goes through :func:`load_yaml` or :func:`parse_yaml`, so that

* errors are :class:`~cloudcat.errors.ConfigError` naming the file and the line: ``invalid YAML:
  …``, ``duplicate key 'b' (first at line 2)`` (plain YAML would silently keep the last one);
* the result carries the line of every key and list entry (:attr:`YamlDocument.lines`, by path such
  as ``("backends", "fe", "options")`` or ``("items", 3)``), for errors found later by validation.

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


class _StrictLoader(yaml.SafeLoader):
    """SafeLoader that refuses duplicate keys."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen: dict[Any, int] = {}
        for key_node, _ in node.value:
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
    """Parse YAML ``text`` (an empty document is ``None``); errors name ``source`` and the line."""
    loader = _StrictLoader(text)
    try:
        node = loader.get_single_node()
        data = loader.construct_document(node) if node is not None else None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        raise ConfigError(f"invalid YAML: {getattr(exc, 'problem', None) or exc}", source=source,
                          line=mark.line + 1 if mark else None) from None
    finally:
        loader.dispose()
    lines: Lines = {}
    if node is not None:
        _mark_lines(node, (), lines)
    return YamlDocument(data=data, source=source, lines=lines)


def read_text(path: str | Path, *, what: str | None = None, missing: str | None = None) -> str:
    """The text of a UTF-8 file (a byte order mark is dropped).

    Errors name the file: ``cannot read <what>: <reason>``, or ``missing`` when the file does not
    exist and that message is given.
    """
    p = Path(path)
    try:
        return p.read_text(encoding="utf-8-sig")  # a BOM (spreadsheet "CSV UTF-8", Notepad) is not data
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
