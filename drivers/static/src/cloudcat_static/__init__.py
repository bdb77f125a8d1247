"""cloudcat's ``static`` driver: a catalog read from files.

How private clouds, price lists and demo data come in. Options::

    backends:
      private:
        driver: static
        options:
          paths: [catalog/private.yaml, catalog/extra.csv]

A YAML or JSON file holds ``regions`` (name, country, zones) and ``items`` (fields of
:class:`cloudcat.models.Item`; ``regions: [a, b]`` on an item repeats it in each region).
A JSON Lines file holds one item per line; a CSV file one item per row with flat columns
(``price_amount``, ``gpu_model``, ``labels`` split on ``;``…). Regions not declared are taken
from the items.

The files are read once, when the regions are first asked for: every item is checked then (an
error names its file and line), and kept as JSON in a temporary file rather than in memory, so
that a catalog of a million items costs a few megabytes of sizes; each listing reads its
region's items back from there, a chunk at a time. JSON Lines files are read line by line.
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
import threading
from array import array
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import IO, Any

from pydantic import Field, ValidationError
from pydantic_core import PydanticSerializationError

from cloudcat.driver import BaseDriver, Capabilities, DriverOptions
from cloudcat.errors import ConfigError
from cloudcat.models import Item, Kind, Region, bounds_violation
from cloudcat.records import read_records

__all__ = ["StaticDriver", "StaticOptions"]
__version__ = "0.1.0"

_SUFFIXES = (".csv", ".jsonl", ".ndjson", ".json", ".yaml", ".yml")
_LINES = (".jsonl", ".ndjson")
#: What a YAML or JSON catalog file holds at its top level.
_KEYS = ("items", "regions")


class StaticOptions(DriverOptions):
    """Options of the ``static`` driver."""

    paths: list[Path] = Field(min_length=1, description="Files or folders of catalog data.")


class _Group:
    """The items of one region and kind in a :class:`_Spill`, in the order they were read."""

    __slots__ = ("buffer", "buffered", "lengths", "parts")

    def __init__(self) -> None:
        #: three numbers a part: a chunk's offset in the file, its size and how many items it
        #: holds; or an item JSON cannot carry: ``-1 - n`` (the n-th of ``_Spill.odd``), 0, 1
        self.parts = array("q")
        #: the size of each item of the chunks, one after the other
        self.lengths = array("q")
        self.buffer = bytearray()  # items not written yet
        self.buffered = 0  # how many


class _Spill:
    """Checked items kept as JSON in an anonymous temporary file, found by region and kind.

    A region and kind's items are gathered and written a chunk at a time, so that a listing
    reads them with a read per chunk: a read per item would release the interpreter's lock and
    wait to take it back for every item, and listings running side by side then spend more
    time handing the lock over than reading (twice the CPU time with two listings at once).
    """

    #: bytes of one region and kind written at once
    CHUNK = 256 * 1024
    #: bytes kept for every region and kind together before all of them are written
    PENDING = 16 * 1024 * 1024

    def __init__(self) -> None:
        # open for the driver's life (listings read it): closed by close()
        self.file: IO[bytes] = tempfile.TemporaryFile()  # noqa: SIM115
        self.size = 0
        self.groups: dict[tuple[str, Kind], _Group] = {}
        self.pending = 0
        #: items JSON cannot carry
        self.odd: list[Item] = []

    def add(self, region: str, item: Item) -> None:
        group = self.groups.get((region, item.kind))
        if group is None:
            group = self.groups[(region, item.kind)] = _Group()
        data = None
        if bounds_violation(item) is None:
            with contextlib.suppress(PydanticSerializationError):  # a lone surrogate ("\ud800")
                data = item.__pydantic_serializer__.to_json(item, exclude_none=True)
        if data is None:
            # JSON cannot carry it (inf, a huge number, a lone surrogate): kept as it is, for
            # the refresh to drop with a warning naming the field
            self._write(group)
            group.parts.extend((-1 - len(self.odd), 0, 1))
            self.odd.append(item)
            return
        group.buffer += data
        group.buffered += 1
        group.lengths.append(len(data))
        self.pending += len(data)
        if len(group.buffer) >= self.CHUNK:
            self._write(group)
        elif self.pending >= self.PENDING:
            self.done()

    def _write(self, group: _Group) -> None:
        if not group.buffered:
            return
        self.file.write(group.buffer)
        group.parts.extend((self.size, len(group.buffer), group.buffered))
        self.size += len(group.buffer)
        self.pending -= len(group.buffer)
        group.buffer = bytearray()
        group.buffered = 0

    def done(self) -> None:
        """Write what is still gathered."""
        for group in self.groups.values():
            self._write(group)
        self.file.flush()

    def items(self, region: str, kind: Kind) -> Iterator[Item]:
        group = self.groups.get((region, kind))
        if group is None:
            return
        fd = self.file.fileno()
        parts, lengths = group.parts, group.lengths
        first = 0  # in lengths: the first item of the part
        for n in range(0, len(parts), 3):
            offset, size, count = parts[n], parts[n + 1], parts[n + 2]
            if offset < 0:
                yield self.odd[-1 - offset]
                continue
            chunk = os.pread(fd, size, offset)  # pread: listings of several threads read side by side
            start = 0
            for length in lengths[first:first + count]:
                yield Item.model_validate_json(chunk[start:start + length])
                start += length
            first += count

    def close(self) -> None:
        self.file.close()


class StaticDriver(BaseDriver):
    """Offers read from CSV, JSON Lines, JSON and YAML files."""

    name = "static"
    capabilities = Capabilities(kinds=frozenset(Kind), zones=True, prices=True, lifecycle=True,
                                flexible_compute=True)
    Options = StaticOptions
    options: StaticOptions

    def __init__(self, options: Any = None, *, backend: str | None = None) -> None:
        super().__init__(options, backend=backend)
        self._lock = threading.Lock()
        self._loaded: tuple[list[Region], _Spill] | None = None
        self._read_from: list[tuple[str, int, int]] = []  # the files read: path, mtime, size

    def _files(self) -> list[Path]:
        files: list[Path] = []
        for path in self.options.paths:
            if path.is_dir():
                files += sorted(p for p in path.rglob("*") if p.suffix.lower() in _SUFFIXES)
            elif path.exists():
                files.append(path)
            else:
                raise ConfigError("no such file or folder", source=str(path),
                                  field=f"backends.{self.backend}.options.paths")
        return files

    def _load(self, *, again_if_changed: bool = False) -> tuple[list[Region], _Spill]:
        with self._lock:
            if self._loaded is not None and again_if_changed and self._signature() != self._read_from:
                self._loaded[1].close()
                self._loaded = None
            if self._loaded is None:
                self._read_from = self._signature()
                self._loaded = self._read()
            return self._loaded

    def _signature(self) -> list[tuple[str, int, int]]:
        """What tells that the files changed: each one's path, modification time and size."""
        signature = []
        for path in self._files():
            stat = path.stat()
            signature.append((str(path), stat.st_mtime_ns, stat.st_size))
        return signature

    def _read(self) -> tuple[list[Region], _Spill]:
        regions: dict[str, Region] = {}
        zones: dict[str, set[str]] = {}
        spill = _Spill()
        try:
            for path in self._files():
                for source, line, row in read_records(path, list_key="regions", keyed_only=True):
                    region = _validate(Region, row, source, line)
                    regions[region.name] = region
                for source, line, record in _records(path):
                    row = dict(record)
                    names = row.pop("regions", None) or [row.get("region")]
                    for name in names:
                        item = _validate(Item, {**row, "region": name}, source, line)
                        if item.region is None and item.kind != Kind.LOCATION:
                            raise ConfigError("item has no region", source=source, line=line, field="region")
                        region_name = item.region or item.name
                        spill.add(region_name, item)
                        seen = zones.setdefault(region_name, set())
                        seen.update(item.zones)
                        if item.zone:
                            seen.add(item.zone)
                        if region_name not in regions:
                            regions[region_name] = Region(name=region_name, country=item.country)
            spill.done()
        except BaseException:
            spill.close()
            raise
        for name, region in regions.items():
            regions[name] = region.model_copy(update={"zones": sorted(set(region.zones) | zones.get(name, set()))})
        return list(regions.values()), spill

    def list_regions(self) -> Sequence[Region]:
        """Regions declared in the files, or named by their items (the files are read again
        when they changed since: a refresh begins here)."""
        return self._load(again_if_changed=True)[0]

    def list_items(self, kind: Kind, region: str) -> Iterable[Item]:
        """Items of ``kind`` in ``region`` from the files (read back one at a time)."""
        return self._load()[1].items(region, kind)

    def list_locations(self, region: str) -> list[Item]:
        """Location items written in the files, else the region and its zones."""
        written = list(self._load()[1].items(region, Kind.LOCATION))
        return written or super().list_locations(region)

    def close(self) -> None:
        """Drop the items read (the files are read again when next asked)."""
        with self._lock:
            loaded, self._loaded = self._loaded, None
        if loaded is not None:
            loaded[1].close()
        super().close()


def _records(path: Path) -> Iterator[tuple[str, int | None, dict[str, Any]]]:
    """The item rows of a file: a JSON Lines file line by line, others as
    :func:`cloudcat.records.read_records` reads them."""
    if path.suffix.lower() not in _LINES:
        yield from read_records(path, known_keys=_KEYS)
        return
    source = str(path)
    try:
        with path.open(encoding="utf-8-sig") as lines:  # a byte order mark is not data
            for number, line in enumerate(lines, start=1):
                if not line.strip():
                    continue
                yield source, number, _line_object(line, source, number)
    except UnicodeDecodeError as exc:
        raise ConfigError(f"not UTF-8 text (byte {exc.start}); save the file as UTF-8", source=source) from None
    except OSError as exc:
        raise ConfigError(f"cannot read the file: {exc.strerror or exc}", source=source) from None


def _line_object(line: str, source: str, number: int) -> dict[str, Any]:
    try:
        obj = json.loads(line)
    except json.JSONDecodeError as exc:
        raise ConfigError(f"invalid JSON: {exc.msg}", source=source, line=number) from None
    except RecursionError:
        raise ConfigError("nested too deeply", source=source, line=number) from None
    except ValueError as exc:  # an integer of thousands of digits
        raise ConfigError(f"invalid JSON: {exc}", source=source, line=number) from None
    if not isinstance(obj, dict):
        raise ConfigError("each line must be a JSON object", source=source, line=number)
    return obj


def _validate(model: type[Any], row: dict[str, Any], source: str, line: int | None) -> Any:
    try:
        return model.model_validate(row)
    except ValidationError as exc:
        err = exc.errors()[0]
        field = ".".join(str(p) for p in err["loc"])
        raise ConfigError(err["msg"], source=source, line=line, field=field) from None
