"""Reading a backend the way a catalog refresh does: every region, every declared kind."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from ...driver import Driver
from ...models import Item, Kind, Region

__all__ = ["Listing", "item_id", "read_listing"]


@dataclass
class Listing:
    """Everything a driver listed: its regions and the items of each (kind, region)."""

    regions: list[Region]
    items: dict[tuple[Kind, str], list[Item]] = field(default_factory=dict)

    def all_items(self) -> list[Item]:
        """Every item, in listing order."""
        return [item for items in self.items.values() for item in items]

    def by_id(self) -> dict[str, Item]:
        """Items by their backend-level id (``kind/region/name``); later duplicates win."""
        return {item_id(i): i for i in self.all_items()}


def item_id(item: Item) -> str:
    """An item's backend-level id: ``kind/region/name``."""
    return f"{item.kind.value}/{item.region}/{item.name}"


def read_listing(driver: Driver, kinds: Sequence[Kind] | None = None) -> Listing:
    """Read every region and every declared kind (or ``kinds``) in each region."""
    regions = list(driver.regions())
    listing = Listing(regions=regions)
    wanted = sorted(kinds if kinds is not None else driver.capabilities.kinds)
    for region in regions:
        for kind in wanted:
            listing.items[(kind, region.name)] = list(driver.items(kind, region.name))
    return listing
