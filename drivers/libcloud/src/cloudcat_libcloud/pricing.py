"""libcloud's bundled pricing data, as a labelled and dated price source.

libcloud ships ``libcloud/data/pricing.json`` (or reads ``~/.libcloud/pricing.json`` when present): a
bare float per size, US dollars per hour by its own documentation, captured when libcloud was
released, with ``0.0`` where the scrapers found nothing. cloudcat uses it only this way:

* the price is in USD per hour, its source is ``libcloud-pricing`` and its effective date is the
  file's ``updated`` stamp (the day the data was captured), so it can be told from a live price;
* ``0.0`` and missing entries are *unknown* (``None``), never a price;
* price books and live sources (the Azure retail price API) override it.

The file is parsed once per process (it is a few megabytes).
"""

from __future__ import annotations

import datetime as dt
import functools
import json
import math
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

from cloudcat.models import Price

__all__ = ["SOURCE", "LibcloudPrices", "bundled_pricing_file"]

#: The ``source`` of every price read from libcloud's data.
SOURCE = "libcloud-pricing"


def bundled_pricing_file() -> Path:
    """The pricing file libcloud itself would read (its user override, else the bundled one)."""
    from libcloud.pricing import get_pricing_file_path

    return Path(get_pricing_file_path())


@functools.cache
def _load(path: str) -> dict[str, Any]:
    with open(path, encoding="utf-8") as fh:
        data = json.load(fh)
    if not isinstance(data, dict):
        raise ValueError(f"{path}: not a libcloud pricing file")
    return data


class LibcloudPrices:
    """Prices of one libcloud pricing table (``ec2_linux``, ``azure_linux``…), dated by the file."""

    def __init__(self, path: str | Path | None = None) -> None:
        self.path = Path(path) if path is not None else bundled_pricing_file()
        data = _load(str(self.path))
        self._compute: dict[str, Any] = data.get("compute") or {}
        updated = data.get("updated")
        #: The day the data was captured (the file's ``updated`` stamp), when it has one.
        self.effective: dt.date | None = (dt.datetime.fromtimestamp(float(updated), dt.UTC).date()
                                          if isinstance(updated, int | float) else None)

    def has_table(self, table: str) -> bool:
        """Whether the data has a table of that name."""
        return table in self._compute

    def price(self, table: str, size: str, region: str | None = None) -> Price | None:
        """The price of ``size`` (in ``region`` when the table prices per region), or ``None`` when the
        data has none, or only ``0.0`` (libcloud's mark for "unknown")."""
        entry = (self._compute.get(table) or {}).get(size)
        if isinstance(entry, dict):
            entry = entry.get(region) if region is not None else None
        if isinstance(entry, str):
            try:
                entry = float(entry)
            except ValueError:
                return None
        if not isinstance(entry, int | float) or isinstance(entry, bool):
            return None
        if not math.isfinite(entry) or entry <= 0:
            return None
        try:
            amount = Decimal(str(entry))
        except InvalidOperation:
            return None
        return Price(amount=amount, currency="USD", unit="hour", effective_from=self.effective, source=SOURCE)
