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
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from pydantic import Field, ValidationError

from cloudcat.driver import BaseDriver, Capabilities, DriverOptions
from cloudcat.errors import ConfigError
from cloudcat.models import Item, Kind, Region
from cloudcat.records import read_records

__all__ = ["StaticDriver", "StaticOptions"]
__version__ = "0.1.0"

_SUFFIXES = (".csv", ".jsonl", ".ndjson", ".json", ".yaml", ".yml")


class StaticOptions(DriverOptions):
    """Options of the ``static`` driver."""

    paths: list[Path] = Field(min_length=1, description="Files or folders of catalog data.")


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
        self._loaded: tuple[list[Region], dict[str, list[Item]]] | None = None

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

    def _load(self) -> tuple[list[Region], dict[str, list[Item]]]:
        with self._lock:
            if self._loaded is None:
                self._loaded = self._read()
            return self._loaded

    def _read(self) -> tuple[list[Region], dict[str, list[Item]]]:
        regions: dict[str, Region] = {}
        items: dict[str, list[Item]] = {}
        for path in self._files():
            for source, line, row in read_records(path, list_key="regions", keyed_only=True):
                region = _validate(Region, row, source, line)
                regions[region.name] = region
            for source, line, row in read_records(path):
                row = dict(row)
                names = row.pop("regions", None) or [row.get("region")]
                for name in names:
                    item = _validate(Item, {**row, "region": name}, source, line)
                    if item.region is None and item.kind != Kind.LOCATION:
                        raise ConfigError("item has no region", source=source, line=line, field="region")
                    region_name = item.region or item.name
                    items.setdefault(region_name, []).append(item)
                    if region_name not in regions:
                        regions[region_name] = Region(name=region_name, country=item.country)
        for name, region in regions.items():
            zones = set(region.zones)
            for item in items.get(name, []):
                zones.update(item.zones)
                if item.zone:
                    zones.add(item.zone)
            regions[name] = region.model_copy(update={"zones": sorted(zones)})
        return list(regions.values()), items

    def list_regions(self) -> Sequence[Region]:
        """Regions declared in the files, or named by their items."""
        return self._load()[0]

    def list_items(self, kind: Kind, region: str) -> Iterable[Item]:
        """Items of ``kind`` in ``region`` from the files."""
        return [i for i in self._load()[1].get(region, []) if i.kind == kind]

    def list_locations(self, region: str) -> list[Item]:
        """Location items written in the files, else the region and its zones."""
        written = [i for i in self._load()[1].get(region, []) if i.kind == Kind.LOCATION]
        return written or super().list_locations(region)


def _validate(model: type[Any], row: dict[str, Any], source: str, line: int | None) -> Any:
    try:
        return model.model_validate(row)
    except ValidationError as exc:
        err = exc.errors()[0]
        field = ".".join(str(p) for p in err["loc"])
        raise ConfigError(err["msg"], source=source, line=line, field=field) from None
