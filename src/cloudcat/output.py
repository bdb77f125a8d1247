"""Writers for command output: table (rich), JSON, CSV, YAML and bare values.

Everything a backend names (offer names, image names chosen by other tenants, labels…) is data,
never markup or terminal control:

- **Tables** print every cell as plain text (:class:`rich.text.Text`), so ``[/x]`` or
  ``[deprecated]`` show as written; control characters show escaped (``\\x1b``, ``\\u202e``).
- **JSON** escapes control characters, C1 controls and bidirectional formatting characters as
  ``\\uXXXX`` (the data reads back unchanged); **YAML** writes such strings double-quoted with
  the same escapes; **CSV** and ``value`` escape them as ``\\xNN`` / ``\\uXXXX`` text.
- **CSV** cells that begin with ``=``, ``+``, ``-``, ``@``, a tab or a carriage return would be
  formulas in a spreadsheet: they are written with a leading ``'`` (plain numbers such as
  ``-240.59`` are left as they are). ``raw_csv=True`` (``--csv-raw``) keeps them as read.

JSON, CSV, YAML and ``value`` are written row by row (:func:`write_rows`), so the first offer
is out before the last is read and memory does not grow with the catalog; a JSON array is
written one element per line and stays a valid array. The offers CSV has a fixed, versioned
column set (:data:`OFFER_CSV_COLUMNS`) whose price columns are named as price books read them,
and a FinOps FOCUS-aligned variant (:data:`FOCUS_CSV_COLUMNS`); see ``docs/exports.md``.
"""

from __future__ import annotations

import csv
import io
import json
import re
import sys
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from typing import Any, Literal, TextIO

import yaml

__all__ = ["FOCUS_CSV_COLUMNS", "OFFER_CSV_COLUMNS", "OFFER_CSV_VERSION", "Format", "default_format",
           "escape_controls", "flatten", "focus_csv_row", "neutralise_cell", "offer_csv_row", "render",
           "select_columns", "write_rows"]

Format = Literal["table", "json", "csv", "yaml", "value"]

#: Version of :data:`OFFER_CSV_COLUMNS`; a change of columns is a new version (``docs/exports.md``).
OFFER_CSV_VERSION = 1

#: The columns of ``offers --format csv``, always these, in this order. The first ones are the
#: columns a price book reads (``price_amount``…), so an export reads back as a price book.
OFFER_CSV_COLUMNS: tuple[str, ...] = (
    "backend", "brand", "kind", "name", "region", "display_name",
    "price_amount", "price_currency", "price_unit", "price_effective_from", "price_source",
    "price_per_vcpu_amount", "price_per_vcpu_currency", "price_per_vcpu_unit", "price_per_vcpu_source",
    "price_per_gib_memory_amount", "price_per_gib_memory_currency", "price_per_gib_memory_unit",
    "price_per_gib_memory_source",
    "labels", "lifecycle_status", "lifecycle_end_of_sale", "lifecycle_end_of_life", "lifecycle_successor",
    "lifecycle_reason",
    "id", "operator", "driver", "read_at", "zone", "zones", "country", "family", "generation", "sale_status",
    "vcpus", "memory_mib", "disk_gib", "gpu_model", "gpu_count", "gpu_memory_mib", "architecture",
    "flexible_vcpus_min", "flexible_vcpus_max", "flexible_memory_mib_min", "flexible_memory_mib_max",
    "flexible_memory_step_mib", "sizing", "os_family", "os_version", "min_disk_gib", "min_memory_mib",
    "storage_class", "iops", "throughput_mbps", "min_size_gib", "max_size_gib", "bandwidth_mbps",
    "zone_status", "extras",
)

#: The FinOps variant (``--csv-columns focus``): FOCUS column names where one applies, ``x_``
#: columns (FOCUS's prefix for custom columns) for the rest.
FOCUS_CSV_COLUMNS: tuple[str, ...] = (
    "ProviderName", "PublisherName", "ServiceCategory", "ServiceName", "ResourceType", "SkuId", "SkuPriceId",
    "RegionId", "RegionName", "AvailabilityZone", "ListUnitPrice", "PricingUnit", "PricingCurrency",
    "PricingCategory", "ChargeDescription", "Tags",
    "x_Brand", "x_Backend", "x_Kind", "x_Name", "x_Vcpus", "x_MemoryMib", "x_Labels", "x_LifecycleStatus",
    "x_PriceEffectiveFrom", "x_PriceSource", "x_ReadAt",
)

_SERVICE_CATEGORY = {"compute": "Compute", "storage": "Storage", "network": "Networking", "image": "Compute",
                     "location": "Other"}

# C0 and C1 controls, DEL, and the Unicode formatting characters that reorder or hide text
# (bidi embeddings, overrides and isolates, marks, zero-width characters, line/paragraph separators).
_CONTROLS = re.compile("[\x00-\x1f\x7f-\x9f\u061c\u200b-\u200f\u2028-\u202e\u2060-\u2069\ufeff]")
# The same, less what JSON itself escapes and what a JSON string may hold raw.
_JSON_UNSAFE = re.compile("[\x7f-\x9f\u061c\u200b-\u200f\u2028-\u202e\u2060-\u2069\ufeff]")
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
_PLAIN_NUMBER = re.compile(r"[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?")


def default_format() -> Format:
    """``table`` on a terminal, ``json`` when piped."""
    return "table" if sys.stdout.isatty() else "json"


def _escape_one(match: re.Match[str]) -> str:
    code = ord(match.group())
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"


def escape_controls(text: str) -> str:
    """``text`` with control and bidi formatting characters written as ``\\xNN`` / ``\\uXXXX``."""
    return _CONTROLS.sub(_escape_one, text) if _CONTROLS.search(text) else text


def neutralise_cell(text: str) -> str:
    """A CSV cell a spreadsheet would read as a formula, prefixed with ``'``; numbers unchanged."""
    if text.startswith(_FORMULA_START) and not _PLAIN_NUMBER.fullmatch(text):
        return "'" + text
    return text


def flatten(row: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """Nested mappings as dotted keys, lists joined with ``;`` (for CSV of rows without a fixed column set)."""
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


def _text(value: Any) -> str:
    """A CSV/value cell: lists ``;``-joined, mappings as compact JSON, nothing as empty."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, list):
        return ";".join(v if isinstance(v, str) else _json_text(v) for v in value)
    if isinstance(value, dict):
        return _json_text(value) if value else ""
    return str(value)


def _json_text(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False, sort_keys=True)


def _dig(row: Mapping[str, Any], key: str) -> Any:
    if key in row:
        return row[key]
    value: Any = row
    for part in key.split("."):
        if not isinstance(value, Mapping):
            return None
        value = value.get(part)
    return value


def offer_csv_row(offer: Mapping[str, Any]) -> dict[str, str]:
    """One offer (its ``to_json`` form) as a row of :data:`OFFER_CSV_COLUMNS`."""
    row: dict[str, str] = {}
    for column in OFFER_CSV_COLUMNS:
        if column == "extras" or column == "zone_status":
            value: Any = offer.get(column) or None
            row[column] = _json_text(value) if value else ""
            continue
        if column.startswith("price_per_"):
            part, _, field = column.rpartition("_")
            value = _dig(offer, f"flexible.{part}.{field}")
        elif column in offer:
            value = offer[column]
        else:
            value = _nested(offer, column)
        row[column] = _text(value)
    return row


def _nested(offer: Mapping[str, Any], column: str) -> Any:
    for prefix in ("price", "lifecycle", "gpu", "flexible"):
        if column.startswith(prefix + "_"):
            return _dig(offer, f"{prefix}.{column[len(prefix) + 1:]}")
    return None


def focus_csv_row(offer: Mapping[str, Any]) -> dict[str, str]:
    """One offer (its ``to_json`` form) as a row of :data:`FOCUS_CSV_COLUMNS`."""
    price = offer.get("price") or {}
    kind = str(offer.get("kind") or "")
    values: dict[str, Any] = {
        "ProviderName": offer.get("operator") or offer.get("brand"), "PublisherName": offer.get("operator"),
        "ServiceCategory": _SERVICE_CATEGORY.get(kind, "Other"), "ServiceName": offer.get("brand"),
        "ResourceType": offer.get("kind"), "SkuId": offer.get("id"),
        "SkuPriceId": f"{offer.get('id')}@{price.get('effective_from') or ''}" if price else None,
        "RegionId": offer.get("region"), "RegionName": offer.get("region"),
        "AvailabilityZone": offer.get("zone") or offer.get("zones"), "ListUnitPrice": price.get("amount"),
        "PricingUnit": price.get("unit"), "PricingCurrency": price.get("currency"),
        "PricingCategory": "Standard" if price else None, "ChargeDescription": offer.get("display_name"),
        "Tags": {label: "" for label in offer.get("labels") or []} or None,
        "x_Brand": offer.get("brand"), "x_Backend": offer.get("backend"), "x_Kind": offer.get("kind"),
        "x_Name": offer.get("name"), "x_Vcpus": offer.get("vcpus"), "x_MemoryMib": offer.get("memory_mib"),
        "x_Labels": offer.get("labels"), "x_LifecycleStatus": _dig(offer, "lifecycle.status"),
        "x_PriceEffectiveFrom": price.get("effective_from"), "x_PriceSource": price.get("source"),
        "x_ReadAt": offer.get("read_at"),
    }
    return {column: _text(values[column]) for column in FOCUS_CSV_COLUMNS}


def select_columns(row: Mapping[str, Any], keys: Sequence[str]) -> dict[str, Any]:
    """Only the (possibly dotted) ``keys`` of ``row``, in that order (``-c/--column``)."""
    return {key: _dig(row, key) for key in keys}


# -- writers -------------------------------------------------------------------------------------------

def _json_dump(value: Any, *, indent: int | None = None) -> str:
    text = json.dumps(value, ensure_ascii=False, indent=indent)
    return _JSON_UNSAFE.sub(lambda m: f"\\u{ord(m.group()):04x}", text) if _JSON_UNSAFE.search(text) else text


class _QuotedDumper(yaml.SafeDumper):
    """Strings holding control or bidi characters are written double-quoted (then escaped)."""


def _represent_str(dumper: yaml.SafeDumper, value: str) -> yaml.ScalarNode:
    style = '"' if _CONTROLS.search(value) else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


_QuotedDumper.add_representer(str, _represent_str)


def _yaml_dump(value: Any) -> str:
    text = yaml.dump(value, Dumper=_QuotedDumper, sort_keys=False, allow_unicode=True)
    # what PyYAML leaves raw in a double-quoted scalar (bidi and zero-width characters) as \u escapes
    return _JSON_UNSAFE.sub(lambda m: f"\\u{ord(m.group()):04x}", text) if _JSON_UNSAFE.search(text) else text


def _write_json(rows: Iterable[Any], out: TextIO) -> None:
    first = True
    for row in rows:
        out.write(("[\n" if first else ",\n") + _json_dump(row))
        first = False
    out.write("[]\n" if first else "\n]\n")


def _write_yaml(rows: Iterable[Any], out: TextIO) -> None:
    empty = True
    for row in rows:
        out.write(_yaml_dump([row]))
        empty = False
    if empty:
        out.write("[]\n")


def _csv_cells(row: Mapping[str, Any], raw: bool) -> list[str]:
    cells = [escape_controls(_text(v)) for v in row.values()]
    return cells if raw else [neutralise_cell(c) for c in cells]


def _write_csv(rows: Iterable[Mapping[str, Any]], out: TextIO, header: Sequence[str] | None, raw: bool) -> None:
    writer = csv.writer(out, lineterminator="\n")
    if header is not None:
        writer.writerow(header)
        for row in rows:
            writer.writerow(_csv_cells({k: row.get(k) for k in header}, raw))
        return
    flat = [flatten(r) for r in rows]  # no fixed column set: the union of the rows' keys
    keys: list[str] = []
    for r in flat:
        keys += [k for k in r if k not in keys]
    writer.writerow(keys)
    for r in flat:
        writer.writerow(_csv_cells({k: r.get(k, "") for k in keys}, raw))


def _write_values(rows: Iterable[Mapping[str, Any]], out: TextIO, keys: Sequence[str]) -> None:
    for row in rows:
        cells = [escape_controls(_text(_dig(row, k))) for k in keys] if keys else \
            [escape_controls(_text(v)) for v in row.values()]
        out.write(" ".join(cells) + "\n")


def write_rows(rows: Iterable[Mapping[str, Any]], fmt: Format, out: TextIO, *,
               columns: Sequence[tuple[str, str]] = (), title: str | None = None,
               csv_header: Sequence[str] | None = None,
               csv_row: Callable[[Mapping[str, Any]], Mapping[str, Any]] | None = None,
               raw_csv: bool = False, width: int | None = None) -> None:
    """Write rows (JSON-ready mappings) to ``out`` as they come (tables are laid out at the end).

    ``columns`` are (header, key) pairs for tables and ``value``, where a key may be dotted
    (``price.amount``). ``csv_header`` fixes the CSV columns (``csv_row`` maps a row onto them);
    without it, the CSV columns are the union of the flattened rows' keys.
    """
    if fmt == "json":
        _write_json(rows, out)
    elif fmt == "yaml":
        _write_yaml(rows, out)
    elif fmt == "csv":
        mapped: Iterable[Mapping[str, Any]] = map(csv_row, rows) if csv_row is not None else rows
        _write_csv(mapped, out, csv_header, raw_csv)
    elif fmt == "value":
        _write_values(rows, out, [key for _, key in columns])
    else:
        out.write(render_table(list(rows), columns=columns, title=title, width=width))


def render(rows: Sequence[Mapping[str, Any]] | Mapping[str, Any], fmt: Format, *,
           columns: Sequence[tuple[str, str]] = (), title: str | None = None, raw_csv: bool = False,
           width: int | None = None) -> str:
    """Render rows (JSON-ready mappings), or one mapping, as text. See :func:`write_rows`."""
    if isinstance(rows, Mapping):
        if fmt == "json":
            return _json_dump(rows, indent=2) + "\n"
        if fmt == "yaml":
            return _yaml_dump(dict(rows))
        rows = [rows]
    buf = io.StringIO()
    write_rows(rows, fmt, buf, columns=columns, title=title, raw_csv=raw_csv, width=width)
    return buf.getvalue()


# -- tables --------------------------------------------------------------------------------------------

def terminal_width() -> int:
    """The terminal's width; when piped, ``$COLUMNS`` or wide enough for any row."""
    import os
    import shutil

    if sys.stdout.isatty():
        return shutil.get_terminal_size((80, 24)).columns
    columns = os.environ.get("COLUMNS", "")
    return int(columns) if columns.isdigit() and int(columns) > 0 else 400


def render_table(rows: Sequence[Mapping[str, Any]], *, columns: Sequence[tuple[str, str]] = (),
                 title: str | None = None, width: int | None = None, wrap: bool = False,
                 keep_first: bool = True) -> str:
    """Rows as a table that fits ``width`` (the terminal's by default): no row wraps.

    Every cell is plain text. The first column (ids, names) is never folded nor cut; the other
    columns are cut with an ellipsis when the row would not fit otherwise (folded onto more
    lines with ``wrap``, for a field/value table). With ``keep_first=False`` the first column may be
    cut too (names chosen by users rather than ids).
    """
    from rich.cells import cell_len
    from rich.console import Console

    width = width or terminal_width()
    cols = list(columns) or [(k, k) for k in (rows[0].keys() if rows else [])]
    cells = [[escape_controls(_cell(_dig(row, key))) for _, key in cols] for row in rows]
    natural = [max([cell_len(header), *(cell_len(r[i]) for r in cells)]) for i, (header, _) in enumerate(cols)]
    widths = natural if wrap else _fit_widths(natural, width, keep_first)
    table = _table([header for header, _ in cols[:len(widths)]], [r[:len(widths)] for r in cells], widths,
                   title=title, wrap=wrap)
    buf = io.StringIO()
    Console(file=buf, width=width, force_terminal=False, no_color=True, highlight=False, markup=False, emoji=False,
            legacy_windows=False).print(table, crop=True)
    return _strip_trailing(buf.getvalue())


def _table(headers: Sequence[str], cells: Sequence[Sequence[str]], widths: Sequence[int], *, title: str | None,
           wrap: bool) -> Any:
    """A rich table of plain-text cells (never markup), columns cut with an ellipsis at their width
    (folded instead, after the first, with ``wrap``)."""
    from rich import box
    from rich.table import Table
    from rich.text import Text

    table = Table(title=escape_controls(title) if title else None, box=box.SIMPLE_HEAD, pad_edge=False,
                  show_edge=False, padding=(0, 1, 0, 0))
    for index, header in enumerate(headers):
        if wrap and index > 0:
            table.add_column(Text(header), overflow="fold")
        else:
            table.add_column(Text(header), no_wrap=True, overflow="ellipsis", width=widths[index])
    for row_cells in cells:
        table.add_row(*[Text(c) for c in row_cells])
    return table


def _fit_widths(natural: list[int], width: int, keep_first: bool) -> list[int]:
    """Widths of the columns shown in ``width`` cells (two between columns): the first column whole
    (with ``keep_first``), the others shared out, a narrow column keeping its width and leaving the
    rest to wider ones; columns on the right left out when fewer than 3 cells are left for each."""
    natural = list(natural)
    while len(natural) > 1 and (natural[0] if keep_first else 0) + 5 * (len(natural) - 1) > width:
        natural.pop()
    room = width - 2 * (len(natural) - 1)
    if sum(natural) <= room or not natural:
        return natural
    fixed = min(natural[0], room) if keep_first else 0
    rest = list(range(1 if keep_first else 0, len(natural)))
    left = max(room - fixed, 0)
    widths = list(natural)
    if keep_first:
        widths[0] = fixed
    for count, index in enumerate(sorted(rest, key=lambda i: natural[i])):
        share = max(left // (len(rest) - count), 1)
        widths[index] = min(natural[index], share)
        left -= widths[index]
    return widths


def _strip_trailing(text: str) -> str:
    return "".join(line.rstrip() + "\n" for line in text.splitlines())


def _cell(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, list):
        return ", ".join(_cell(v) if isinstance(v, (dict, list)) else str(v) for v in value)
    if isinstance(value, dict):
        return ", ".join(f"{k}={_cell(v) if isinstance(v, (dict, list)) else v}" for k, v in value.items())
    return str(value)


def iter_rows(rows: Iterable[Any], to_row: Callable[[Any], Mapping[str, Any]]) -> Iterator[Mapping[str, Any]]:
    """``to_row`` applied to each row as it comes (keeps streams lazy)."""
    for row in rows:
        yield to_row(row)


# -- refresh progress --------------------------------------------------------------------------------------

class RefreshDisplay:
    """Progress of a refresh on stderr: a live line per backend on a terminal (the region and kind
    being read, then its outcome), plain lines when piped (one per backend as it finishes).

    Call it with each :class:`~cloudcat.models.BackendStatus`; :meth:`step` reports a region and
    kind read. Used as a context manager; nothing shows until the first event, so a command
    whose snapshot is fresh prints nothing.
    """

    def __init__(self, stream: TextIO | None = None, *, live: bool | None = None, verbose: bool = False) -> None:
        self._stream = stream or sys.stderr
        self._live = self._stream.isatty() if live is None else live
        self._verbose = verbose
        self._progress: Any = None
        self._tasks: dict[str, Any] = {}

    def __enter__(self) -> RefreshDisplay:
        return self

    def __exit__(self, *exc: object) -> None:
        if self._progress is not None:
            self._progress.stop()
            self._progress = None

    def _task(self, backend: str) -> Any:
        if self._progress is None:
            from rich.console import Console
            from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

            console = Console(file=self._stream, markup=False, highlight=False, emoji=False)
            self._progress = Progress(SpinnerColumn(), TextColumn("{task.description}", markup=False),
                                      TimeElapsedColumn(), console=console, transient=False)
            self._progress.start()
        if backend not in self._tasks:
            self._tasks[backend] = self._progress.add_task(escape_controls(f"{backend:<20} reading"), total=None)
        return self._tasks[backend]

    def step(self, backend: str, kind: str, region: str, items: int) -> None:
        """One region and kind of ``backend`` read (``items`` items)."""
        text = f"{backend:<20} {kind} in {region}: {items} items"
        if self._live:
            self._progress_update(backend, text)
        elif self._verbose:
            self._stream.write(escape_controls(f"  {text}") + "\n")
            self._stream.flush()

    def _progress_update(self, backend: str, text: str, done: bool = False) -> None:
        task = self._task(backend)
        self._progress.update(task, description=escape_controls(text), **({"total": 1, "completed": 1}
                                                                          if done else {}))

    def __call__(self, status: Any) -> None:
        if status.status == "ok":
            text = f"{status.backend:<20} ok      {status.items:>7} items  {status.seconds:6.2f}s"
        else:
            text = f"{status.backend:<20} FAILED  {status.error}"
        if self._live:
            self._progress_update(status.backend, text, done=True)
        else:
            self._stream.write(escape_controls(f"  {text}") + "\n")
            self._stream.flush()
