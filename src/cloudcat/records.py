"""Read rows of catalog data from CSV, JSON Lines, JSON and YAML files, with line numbers.

Static catalogs and price books share this. Flat (CSV) columns map onto nested fields with
underscored prefixes — ``price_amount`` → ``price.amount``, ``gpu_model`` → ``gpu.model``,
``lifecycle_status`` → ``lifecycle.status``, ``flexible_vcpus_max`` → ``flexible.vcpus_max``,
``extras.key`` → ``extras["key"]`` — and list columns (``labels``, ``zones``, ``regions``) are
split on ``;`` or ``|``. Empty cells are absent, never zero.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from .errors import ConfigError
from .yamlfile import YamlPath, parse_yaml, read_text

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


def _nest(out: dict[str, Any], key: str, value: Any) -> bool:
    """Put ``value`` at the nested place a prefixed column names; ``False`` when it names none."""
    for prefix in _NESTED_PREFIXES:
        if not key.startswith(prefix + "_") or key == prefix:
            continue
        sub = key[len(prefix) + 1:]
        if prefix == "flexible" and sub.startswith("price_per_"):
            # flexible_price_per_vcpu_amount → flexible.price_per_vcpu.amount
            for part in ("price_per_vcpu", "price_per_gib_memory"):
                if sub.startswith(part + "_"):
                    out.setdefault("flexible", {}).setdefault(part, {})[sub[len(part) + 1:]] = value
                    break
            return True
        out.setdefault(prefix, {})[sub] = value
        return True
    return False


def unflatten(row: dict[str, Any]) -> dict[str, Any]:
    """Turn a flat CSV row into the nested shape the models take. Empty cells are dropped."""
    out: dict[str, Any] = {}
    for key, value in row.items():
        if key is None or value is None or (isinstance(value, str) and value.strip() == ""):
            continue
        key = key.strip()
        if isinstance(value, str):
            value = value.strip()
        if key.startswith(("extras.", "extra.")):
            out.setdefault("extras", {})[key.split(".", 1)[1]] = value
        elif key in _LIST_COLUMNS and isinstance(value, str):
            out[key] = _split(value)
        elif not _nest(out, key, value):
            out[key] = value
    return out


def _csv_records(path: Path, text: str, list_key: str, keyed_only: bool) -> Iterator[Record]:
    reader = csv.DictReader(text.splitlines())
    if not reader.fieldnames:
        return
    for row in reader:
        yield str(path), reader.line_num, unflatten(row)


def _jsonl_records(path: Path, text: str, list_key: str, keyed_only: bool) -> Iterator[Record]:
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            obj = json.loads(line)
        except json.JSONDecodeError as exc:
            raise ConfigError(f"invalid JSON: {exc.msg}", source=str(path), line=number) from None
        if not isinstance(obj, dict):
            raise ConfigError("each line must be a JSON object", source=str(path), line=number)
        yield str(path), number, obj


def _json_records(path: Path, text: str, list_key: str, keyed_only: bool) -> Iterator[Record]:
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ConfigError(f"invalid JSON: {exc.msg}", source=str(path), line=exc.lineno) from None
    if keyed_only and not isinstance(data, dict):
        return
    items = data.get(list_key, []) if isinstance(data, dict) else data
    if not isinstance(items, list):
        raise ConfigError(f"expected a list (or an object with {list_key!r})", source=str(path))
    for item in items:
        if not isinstance(item, dict):
            raise ConfigError("each entry must be an object", source=str(path))
        yield str(path), None, item


def _yaml_records(path: Path, text: str, list_key: str, keyed_only: bool) -> Iterator[Record]:
    doc = parse_yaml(text, source=str(path))
    if keyed_only and not isinstance(doc.data, dict):
        return
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


_READERS: dict[str, Callable[[Path, str, str, bool], Iterator[Record]]] = {
    ".csv": _csv_records, ".jsonl": _jsonl_records, ".ndjson": _jsonl_records,
    ".json": _json_records, ".yaml": _yaml_records, ".yml": _yaml_records,
}


def read_records(path: str | Path, *, list_key: str = "items", keyed_only: bool = False) -> Iterator[Record]:
    """Rows of a ``.csv``, ``.jsonl``, ``.json`` or ``.yaml``/``.yml`` file.

    YAML and JSON files hold a list, or a mapping whose ``list_key`` is the list. CSV rows are
    :func:`unflatten`-ed. Errors name the file and the line. With ``keyed_only``, only a
    mapping's ``list_key`` is read (CSV, JSON Lines and bare lists give nothing).
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
    yield from reader(p, text, list_key, keyed_only)
