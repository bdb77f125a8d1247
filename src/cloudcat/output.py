"""Writers for command output: table (rich), JSON, CSV and YAML."""

from __future__ import annotations

import csv
import io
import json
import sys
from collections.abc import Mapping, Sequence
from typing import Any, Literal

import yaml

__all__ = ["Format", "default_format", "flatten", "render"]

Format = Literal["table", "json", "csv", "yaml"]


def default_format() -> Format:
    """``table`` on a terminal, ``json`` when piped."""
    return "table" if sys.stdout.isatty() else "json"


def flatten(row: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """Nested mappings as dotted keys, lists joined with ``;`` (for CSV)."""
    out: dict[str, Any] = {}
    for key, value in row.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping):
            if not value:
                out[name] = ""
            out.update(flatten(dict(value), name + "."))
        elif isinstance(value, list):
            out[name] = ";".join(json.dumps(v) if isinstance(v, (dict, list)) else str(v) for v in value)
        else:
            out[name] = "" if value is None else value
    return out


def render(rows: Sequence[Mapping[str, Any]] | Mapping[str, Any], fmt: Format, *,
           columns: Sequence[tuple[str, str]] = (), title: str | None = None) -> str:
    """Render rows (JSON-ready mappings). ``columns`` are (header, key) pairs for tables, where
    a key may be dotted (``price.amount``)."""
    if fmt == "json":
        return json.dumps(rows, indent=2, ensure_ascii=False)
    if fmt == "yaml":
        return yaml.safe_dump(rows, sort_keys=False, allow_unicode=True)
    if isinstance(rows, Mapping):
        rows = [rows]
    if fmt == "csv":
        flat = [flatten(r) for r in rows]
        keys: list[str] = []
        for r in flat:
            keys += [k for k in r if k not in keys]
        buf = io.StringIO()
        writer = csv.DictWriter(buf, fieldnames=keys, lineterminator="\n")
        writer.writeheader()
        writer.writerows(flat)
        return buf.getvalue()
    from rich.console import Console
    from rich.table import Table

    table = Table(title=title, show_lines=False)
    cols = list(columns) or [(k, k) for k in (rows[0].keys() if rows else [])]
    for header, _ in cols:
        table.add_column(header, overflow="fold")
    for row in rows:
        table.add_row(*[_cell(_dig(row, key)) for _, key in cols])
    buf = io.StringIO()
    Console(file=buf, width=max(100, _width()), force_terminal=False).print(table, crop=False)
    return buf.getvalue()


def _width() -> int:
    """The terminal's width; wide when piped, so that ids are not folded."""
    if not sys.stdout.isatty():
        return 400
    import shutil

    return shutil.get_terminal_size((160, 40)).columns


def _dig(row: Mapping[str, Any], key: str) -> Any:
    value: Any = row
    for part in key.split("."):
        if not isinstance(value, Mapping):
            return None
        value = value.get(part)
    return value


def _cell(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, list):
        return ", ".join(str(v) for v in value)
    if isinstance(value, dict):
        return ", ".join(f"{k}={v}" for k, v in value.items())
    return str(value)
