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
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import yaml

from .errors import ConfigError

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


def unflatten(row: dict[str, Any]) -> dict[str, Any]:
    """Turn a flat CSV row into the nested shape the models take. Empty cells are dropped."""
    out: dict[str, Any] = {}
    for key, value in row.items():
        if key is None:
            continue
        key = key.strip()
        if value is None or (isinstance(value, str) and value.strip() == ""):
            continue
        if isinstance(value, str):
            value = value.strip()
        if key.startswith(("extras.", "extra.")):
            out.setdefault("extras", {})[key.split(".", 1)[1]] = value
            continue
        if key in _LIST_COLUMNS and isinstance(value, str):
            out[key] = _split(value)
            continue
        for prefix in _NESTED_PREFIXES:
            if key.startswith(prefix + "_") and key != prefix:
                sub = key[len(prefix) + 1:]
                if prefix == "flexible" and sub.startswith("price_per_"):
                    # flexible_price_per_vcpu_amount → flexible.price_per_vcpu.amount
                    for part in ("price_per_vcpu", "price_per_gib_memory"):
                        if sub.startswith(part + "_"):
                            inner = out.setdefault("flexible", {}).setdefault(part, {})
                            inner[sub[len(part) + 1:]] = value
                            break
                    break
                out.setdefault(prefix, {})[sub] = value
                break
        else:
            out[key] = value
    return out


def _yaml_records(path: Path, text: str, list_key: str, keyed_only: bool) -> Iterator[Record]:
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        raise ConfigError(f"invalid YAML: {getattr(exc, 'problem', exc)}", source=str(path),
                          line=mark.line + 1 if mark else None) from None
    items_node: Any = node
    items: Any = data
    if keyed_only and not isinstance(data, dict):
        return
    if isinstance(data, dict):
        items = data.get(list_key, [])
        items_node = None
        if isinstance(node, yaml.MappingNode):
            for k, v in node.value:
                if k.value == list_key:
                    items_node = v
    if not isinstance(items, list):
        raise ConfigError(f"expected a list (or a mapping with {list_key!r})", source=str(path))
    nodes = items_node.value if isinstance(items_node, yaml.SequenceNode) else [None] * len(items)
    for item, item_node in zip(items, nodes, strict=False):
        line = item_node.start_mark.line + 1 if item_node is not None else None
        if not isinstance(item, dict):
            raise ConfigError("each entry must be a mapping", source=str(path), line=line)
        yield str(path), line, item


def read_records(path: str | Path, *, list_key: str = "items", keyed_only: bool = False) -> Iterator[Record]:
    """Rows of a ``.csv``, ``.jsonl``, ``.json`` or ``.yaml``/``.yml`` file.

    YAML and JSON files hold a list, or a mapping whose ``list_key`` is the list. CSV rows are
    :func:`unflatten`-ed. Errors name the file and the line. With ``keyed_only``, only a
    mapping's ``list_key`` is read (CSV, JSON Lines and bare lists give nothing).
    """
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8-sig")  # a BOM (spreadsheet "CSV UTF-8") is not data
    except UnicodeDecodeError as exc:
        raise ConfigError(f"not UTF-8 text (byte {exc.start}); save the file as UTF-8", source=str(p)) from None
    except OSError as exc:
        raise ConfigError(f"cannot read: {exc.strerror or exc}", source=str(p)) from None
    suffix = p.suffix.lower()
    if keyed_only and suffix not in (".json", ".yaml", ".yml"):
        return
    if suffix == ".csv":
        reader = csv.DictReader(text.splitlines())
        if not reader.fieldnames:
            return
        for row in reader:
            yield str(p), reader.line_num, unflatten(row)
    elif suffix in (".jsonl", ".ndjson"):
        for number, line in enumerate(text.splitlines(), start=1):
            if not line.strip():
                continue
            try:
                obj = json.loads(line)
            except json.JSONDecodeError as exc:
                raise ConfigError(f"invalid JSON: {exc.msg}", source=str(p), line=number) from None
            if not isinstance(obj, dict):
                raise ConfigError("each line must be a JSON object", source=str(p), line=number)
            yield str(p), number, obj
    elif suffix == ".json":
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise ConfigError(f"invalid JSON: {exc.msg}", source=str(p), line=exc.lineno) from None
        if keyed_only and not isinstance(data, dict):
            return
        items = data.get(list_key, []) if isinstance(data, dict) else data
        if not isinstance(items, list):
            raise ConfigError(f"expected a list (or an object with {list_key!r})", source=str(p))
        for item in items:
            if not isinstance(item, dict):
                raise ConfigError("each entry must be an object", source=str(p))
            yield str(p), None, item
    elif suffix in (".yaml", ".yml"):
        yield from _yaml_records(p, text, list_key, keyed_only)
    else:
        raise ConfigError(f"unsupported file type {suffix!r} (use .csv, .jsonl, .json or .yaml)",
                          source=str(p))
