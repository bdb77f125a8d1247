"""Read rows of catalog data from CSV, JSON Lines, JSON and YAML files, with line numbers.

Static catalogs and price books share this. Flat (CSV) columns map onto nested fields with
underscored prefixes — ``price_amount`` → ``price.amount``, ``gpu_model`` → ``gpu.model``,
``lifecycle_status`` → ``lifecycle.status``, ``flexible_vcpus_max`` → ``flexible.vcpus_max``,
``extras.key`` → ``extras["key"]`` — and list columns (``labels``, ``zones``, ``regions``) are
split on ``;`` or ``|``. Empty cells are absent, never zero.

Every error is a :class:`~cloudcat.errors.ConfigError` naming the file and, where it has one, the
line: a CSV row with more cells than the header, a column named twice, invalid JSON, nesting deeper
than :data:`~cloudcat.yamlfile.MAX_DEPTH` levels. Entries of JSON files carry their line as YAML
and CSV ones do.
"""

from __future__ import annotations

import csv
import functools
import io
import json
from collections.abc import Callable, Collection, Iterator
from pathlib import Path
from typing import Any

from .errors import ConfigError
from .yamlfile import MAX_DEPTH, YamlPath, dotted, parse_yaml, read_text

__all__ = ["Record", "read_records", "unflatten"]

#: A row of data with where it came from: (file, 1-based line, mapping).
Record = tuple[str, int | None, dict[str, Any]]

_NESTED_PREFIXES = ("price_per_vcpu", "price_per_gib_memory", "price", "gpu", "lifecycle", "flexible")
_LIST_COLUMNS = {"labels", "zones", "regions", "add_labels", "remove_labels"}


def _split(value: str) -> list[str]:
    for sep in (";", "|"):
        if sep in value:
            return [v.strip() for v in value.split(sep) if v.strip()]
    return [value.strip()] if value.strip() else []


def _slot(out: dict[str, Any], *names: str) -> dict[str, Any]:
    """The nested mapping at ``names`` in ``out``, made if missing; an error when a plain column
    already holds that place (``price`` and ``price_amount`` in one header)."""
    for i, name in enumerate(names):
        sub = out.setdefault(name, {})
        if not isinstance(sub, dict):
            raise ConfigError(f"column {'_'.join(names[:i + 1])!r} is given both whole and by its parts")
        out = sub
    return out


@functools.lru_cache(maxsize=1024)
def _column(key: str) -> tuple[str, str, tuple[str, ...]]:
    """How a column is read, worked out once per column name rather than once per cell: its
    name stripped, what it is (``extras``, ``list``, ``nested``, ``plain``) and, for extras and
    prefixed columns, its place (``price_amount`` → ``("price", "amount")``; an unknown
    ``flexible_price_per_…`` has none and is dropped)."""
    name = key.strip()
    if name.startswith(("extras.", "extra.")):
        return name, "extras", ("extras", name.split(".", 1)[1])
    if name in _LIST_COLUMNS:
        return name, "list", ()
    for prefix in _NESTED_PREFIXES:
        if not name.startswith(prefix + "_"):
            continue
        sub = name[len(prefix) + 1:]
        if prefix == "flexible" and sub.startswith("price_per_"):
            # flexible_price_per_vcpu_amount → flexible.price_per_vcpu.amount
            part = next((part for part in ("price_per_vcpu", "price_per_gib_memory") if sub.startswith(part + "_")),
                        None)
            return name, "nested", ("flexible", part, sub[len(part) + 1:]) if part else ()
        return name, "nested", (prefix, sub)
    return name, "plain", ()


def unflatten(row: dict[str, Any]) -> dict[str, Any]:
    """Turn a flat CSV row into the nested shape the models take. Empty cells are dropped; a
    column given both whole and by its parts (``price`` and ``price_amount``) is a ConfigError."""
    out: dict[str, Any] = {}
    for key, value in row.items():
        if key is None or value is None:
            continue
        if isinstance(value, str):
            value = value.strip()
            if not value:
                continue
        _put(out, _column(key), value)
    return out


def _put(out: dict[str, Any], column: tuple[str, str, tuple[str, ...]], value: Any) -> None:
    """Put one non-empty cell of a flat row where its ``column`` (see :func:`_column`) says."""
    name, how, place = column
    if how == "skipped":
        return
    if how == "extras":
        _slot(out, "extras")[place[1]] = value
    elif how == "list" and isinstance(value, str):
        out[name] = _split(value)
    elif name in out and isinstance(out[name], dict):
        raise ConfigError(f"column {name!r} is given both whole and by its parts")
    elif how == "nested":
        if place:
            _slot(out, *place[:-1])[place[-1]] = value
    else:
        out[name] = value


_SKIPPED = ("", "skipped", ())


def _unflatten_cells(columns: list[tuple[str, str, tuple[str, ...]]], cells: list[str]) -> dict[str, Any]:
    """:func:`unflatten` of a CSV row given as its cells, in the order of the header's ``columns``
    (each worked out once per file): plain columns and ``prefix_part`` ones, most of any book,
    are put in place here rather than through :func:`_put`."""
    out: dict[str, Any] = {}
    for column, value in zip(columns, cells, strict=False):  # a short row lacks its last cells
        value = value.strip()
        if not value:
            continue
        name, how, place = column
        if how == "plain" and name not in out:
            out[name] = value
        elif how == "nested" and len(place) == 2 and name not in out:
            sub = out.get(place[0])
            if sub is None:
                out[place[0]] = {place[1]: value}
            elif isinstance(sub, dict):
                sub[place[1]] = value
            else:
                raise ConfigError(f"column {place[0]!r} is given both whole and by its parts")
        else:
            _put(out, column, value)
    return out


def _row_maker(columns: list[tuple[str, str, tuple[str, ...]]]) -> Callable[[list[str]], dict[str, Any]]:
    """What :func:`_unflatten_cells` makes of a full row of a header's ``columns``, as one
    function written for that header: a cell after the other with no loop, no test of what each
    column is, no lookup of its place (a book's rows are read about twice as fast).

    Made for headers of plain, list and ``prefix_part`` columns where no column is a whole
    group too (``price`` next to ``price_amount``); others are read by :func:`_unflatten_cells`.
    The code made holds no text of the file: names are taken from tuples by position.
    """
    general = functools.partial(_unflatten_cells, columns)
    groups = sorted({place[0] for _, how, place in columns if how == "nested" and place})
    if not _written_alike(columns, groups):
        return general
    names = tuple(place[1] if how == "nested" and place else name for name, how, place in columns)
    scope: dict[str, Any] = {"names": names, "groups": tuple(groups), "split": _split, "width": len(columns),
                             "general": general}
    exec(compile("\n".join(_row_code(columns, groups)), "<csv row>", "exec"), scope)  # (see above)
    make: Callable[[list[str]], dict[str, Any]] = scope["make"]
    return make


def _written_alike(columns: list[tuple[str, str, tuple[str, ...]]], groups: list[str]) -> bool:
    """Whether :func:`_row_code` reads rows of ``columns`` as :func:`_unflatten_cells` does."""
    plain = [name for name, how, _ in columns if how in ("plain", "list")]
    return len(set(plain)) == len(plain) and not set(plain) & set(groups) and all(
        how in ("plain", "list", "skipped") or (how == "nested" and len(place) in (0, 2))
        for _, how, place in columns)


def _row_code(columns: list[tuple[str, str, tuple[str, ...]]], groups: list[str]) -> list[str]:
    """The lines of a function ``make(cells)`` that reads a row of ``columns`` (see :func:`_row_maker`)."""
    lines = ["def make(cells):",
             " if len(cells) != width:",  # a short row: its last cells absent
             "  return general(cells)",
             " out = {}"]
    lines += [f" g{k} = None" for k in range(len(groups))]
    for i, (_, how, place) in enumerate(columns):
        if how == "skipped" or (how == "nested" and not place):
            continue
        lines.append(f" v = cells[{i}].strip()")
        if how == "plain":
            lines.append(f" if v: out[names[{i}]] = v")
        elif how == "list":
            lines.append(f" if v: out[names[{i}]] = split(v)")
        else:
            k = groups.index(place[0])
            lines += [" if v:", f"  if g{k} is None: g{k} = out[groups[{k}]] = {{}}", f"  g{k}[names[{i}]] = v"]
    lines.append(" return out")
    return lines


def _header_columns(header: list[str], source: str) -> list[tuple[str, str, tuple[str, ...]]]:
    """How each column of a CSV header is read (:func:`_column`); a name given twice is an error."""
    named = [h.strip() for h in header]
    twice = sorted({h for h in named if h and named.count(h) > 1})
    if twice:
        raise ConfigError(f"column(s) {', '.join(map(repr, twice))} named twice in the header", source=source, line=1)
    # a name the header gives twice as is (only blank ones pass the check above) is, as a
    # csv.DictReader key, the last cell of that name: the others are skipped
    last = {h: i for i, h in enumerate(header)}
    return [_column(h) if last[h] == i else _SKIPPED for i, h in enumerate(header)]


def _csv_records(path: Path, text: str, list_key: str, keyed_only: bool,
                 known: Collection[str] | None = None) -> Iterator[Record]:
    # the cells of each row against the header's columns, worked out once (as csv.DictReader
    # reads it: blank lines skipped, missing cells absent, extra cells an error)
    reader = csv.reader(io.StringIO(text, newline=""))
    source = str(path)
    try:
        header = next(reader, None)
        if not header:
            return
        columns = _header_columns(header, source)
        width = len(header)
        make = _row_maker(columns)
        for cells in reader:
            if len(cells) > width:
                raise ConfigError(f"{len(cells)} cells, the header names {width} columns", source=source,
                                  line=reader.line_num)
            if not cells:
                continue
            try:
                record = make(cells)
            except ConfigError as exc:
                raise ConfigError(exc.detail, source=source, line=reader.line_num) from None
            yield source, reader.line_num, record
    except csv.Error as exc:
        raise ConfigError(f"invalid CSV: {exc}", source=source, line=reader.line_num or None) from None


def _json_value(text: str, path: Path, line: int | None = None) -> Any:
    """``text`` as JSON; errors (syntax, nesting past :data:`MAX_DEPTH`) name ``path`` and the line."""
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ConfigError(f"invalid JSON: {exc.msg}", source=str(path),
                          line=exc.lineno if line is None else line) from None
    except RecursionError:
        raise ConfigError(f"nested deeper than {MAX_DEPTH} levels", source=str(path), line=line) from None
    except ValueError as exc:  # an integer of thousands of digits
        raise ConfigError(f"invalid JSON: {exc}", source=str(path), line=line) from None
    if _depth(data) > MAX_DEPTH:
        raise ConfigError(f"nested deeper than {MAX_DEPTH} levels", source=str(path), line=line)
    return data


def _depth(value: Any) -> int:
    """How deeply lists and objects nest in ``value`` (walked without recursion)."""
    deepest, stack = 0, [(value, 1)]
    while stack:
        node, level = stack.pop()
        if isinstance(node, (dict, list)):
            deepest = max(deepest, level)
            stack.extend((child, level + 1) for child in (node.values() if isinstance(node, dict) else node))
    return deepest


def _jsonl_records(path: Path, text: str, list_key: str, keyed_only: bool,
                   known: Collection[str] | None = None) -> Iterator[Record]:
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        obj = _json_value(line, path, number)
        if not isinstance(obj, dict):
            raise ConfigError("each line must be a JSON object", source=str(path), line=number)
        yield str(path), number, obj


_DECODER = json.JSONDecoder()
_WS = " \t\n\r"


def _entry_lines(text: str, list_key: str | None) -> list[int]:
    """The 1-based line where each entry of a valid JSON document's list begins.

    The list is the document itself (``list_key`` ``None``) or the last ``list_key`` of its top
    object; the document is read again entry by entry with the C decoder, skipping what is not
    the list, so this costs one more parse, not a slow one.
    """
    pos = len(text) - len(text.lstrip(_WS))
    if list_key is not None:
        start, pos = None, pos + 1  # past '{'
        while True:
            pos = _skip(text, pos, ",")
            if text[pos] == "}":
                break
            key, pos = _DECODER.raw_decode(text, pos)
            pos = _skip(text, pos, ":")
            if key == list_key:
                start = pos
            pos = _DECODER.raw_decode(text, pos)[1]
        if start is None:
            return []
        pos = start
    if text[pos] != "[":
        return []
    lines: list[int] = []
    line, counted, pos = 1, 0, pos + 1
    while True:
        pos = _skip(text, pos, ",")
        if text[pos] == "]":
            return lines
        line += text.count("\n", counted, pos)
        counted = pos
        lines.append(line)
        pos = _DECODER.raw_decode(text, pos)[1]


def _skip(text: str, pos: int, sep: str) -> int:
    """Past whitespace, one ``sep`` and whitespace again, from ``pos``."""
    while text[pos] in _WS:
        pos += 1
    if text[pos] == sep:
        pos += 1
        while text[pos] in _WS:
            pos += 1
    return pos


def _unknown_key(data: dict[Any, Any], list_key: str, known: Collection[str] | None) -> str | None:
    """The first top-level key of a document that is none of ``known``, when the document has
    no ``list_key`` (a misspelt ``items``): beside it, other keys are the file's own notes (JSON
    has no comments) and are let be. ``None`` when all is well."""
    if known is None or list_key in data:
        return None
    return next((str(k) for k in data if k not in known), None)


def _unknown_key_error(path: Path, key: str, known: Collection[str], line: int | None) -> ConfigError:
    return ConfigError(f"unknown top-level key {key!r} (this file holds {', '.join(repr(k) for k in sorted(known))}"
                       " or a list)", source=str(path), line=line, field=key)


def _json_records(path: Path, text: str, list_key: str, keyed_only: bool,
                  known: Collection[str] | None) -> Iterator[Record]:
    data = _json_value(text, path)
    if keyed_only and not isinstance(data, dict):
        return
    if isinstance(data, dict) and (key := _unknown_key(data, list_key, known)) is not None and known is not None:
        found = text.find(json.dumps(key))
        raise _unknown_key_error(path, key, known, text.count("\n", 0, found) + 1 if found >= 0 else None)
    items = data.get(list_key, []) if isinstance(data, dict) else data
    if not isinstance(items, list):
        raise ConfigError(f"expected a list (or an object with {list_key!r})", source=str(path))
    lines = _entry_lines(text, list_key if isinstance(data, dict) else None) if items else []
    for i, item in enumerate(items):
        line = lines[i] if i < len(lines) else None
        if not isinstance(item, dict):
            raise ConfigError("each entry must be an object", source=str(path), line=line)
        yield str(path), line, item


def _yaml_records(path: Path, text: str, list_key: str, keyed_only: bool,
                  known: Collection[str] | None) -> Iterator[Record]:
    doc = parse_yaml(text, source=str(path))
    if keyed_only and not isinstance(doc.data, dict):
        return
    data = doc.data
    if isinstance(data, dict) and (key := _unknown_key(data, list_key, known)) is not None and known is not None:
        raise _unknown_key_error(path, key, known, doc.lines.get((key,)))
    where: YamlPath
    items, where = doc.data, ()  # where: the path of the list in the document
    if isinstance(doc.data, dict):
        items, where = doc.data.get(list_key, []), (list_key,)
    if not isinstance(items, list):
        raise ConfigError(f"expected a list (or a mapping with {list_key!r})", source=str(path))
    for i, item in enumerate(items):
        line = doc.lines.get((*where, i))
        if not isinstance(item, dict):
            raise ConfigError("each entry must be a mapping", source=str(path), line=line)
        yield str(path), line, item


_READERS: dict[str, Callable[[Path, str, str, bool, Collection[str] | None], Iterator[Record]]] = {
    ".csv": _csv_records, ".jsonl": _jsonl_records, ".ndjson": _jsonl_records,
    ".json": _json_records, ".yaml": _yaml_records, ".yml": _yaml_records,
}


def read_records(path: str | Path, *, list_key: str = "items", keyed_only: bool = False,
                 refuse_nul: bool = False, known_keys: Collection[str] | None = None) -> Iterator[Record]:
    """Rows of a ``.csv``, ``.jsonl``, ``.json`` or ``.yaml``/``.yml`` file.

    YAML and JSON files hold a list, or a mapping whose ``list_key`` is the list. CSV rows are
    :func:`unflatten`-ed. Errors name the file and the line. With ``keyed_only``, only a
    mapping's ``list_key`` is read (CSV, JSON Lines and bare lists give nothing). With
    ``refuse_nul``, a row holding a NUL character in a text (which no store keeps) is an error
    naming its line and field. With ``known_keys``, a JSON or YAML mapping without ``list_key``
    but with a top-level key none of them is an error naming it (a misspelt ``items`` would
    otherwise read as no rows).
    """
    p = Path(path)
    text = read_text(p)
    suffix = p.suffix.lower()
    if keyed_only and suffix not in (".json", ".yaml", ".yml"):
        return
    reader = _READERS.get(suffix)
    if reader is None:
        raise ConfigError(f"unsupported file type {suffix!r} (use .csv, .jsonl, .json or .yaml)",
                          source=str(p))
    rows = reader(p, text, list_key, keyed_only, known_keys)
    if refuse_nul and _may_hold_nul(text):
        rows = _without_nul(rows)
    yield from rows


def _may_hold_nul(text: str) -> bool:
    """Whether a file's text may give a NUL character: as itself, or written as JSON or YAML
    escape it (a glance at the text, so that files without one are not searched row by row)."""
    return "\x00" in text or "\\u0000" in text or "\\x00" in text or "\\0" in text or "\\U00000000" in text


def _without_nul(rows: Iterator[Record]) -> Iterator[Record]:
    from .models import NUL_MESSAGE, nul_path

    for source, line, row in rows:
        where = nul_path(row)
        if where is not None:
            raise ConfigError(NUL_MESSAGE, source=source, line=line, field=dotted(where))
        yield source, line, row
