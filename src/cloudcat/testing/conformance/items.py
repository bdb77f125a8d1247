"""Checks of the items a driver lists: valid, uniquely named, stable, sensibly priced and sized."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from decimal import Decimal

from pydantic import ValidationError

from ...driver import BaseDriver
from ...models import Item, Kind, Price
from ..mockserver import MockHandle
from .calls import fail, run_bounded
from .currencies import ISO_4217
from .fixtures import KitFixtures
from .listing import Listing, item_id, read_listing
from .requirements import requires

__all__ = ["ItemChecks"]


def _prices_of(item: Item) -> list[tuple[str, Price]]:
    """Every price an item carries, with where it sits (``price``, ``flexible.price_per_vcpu``…)."""
    prices: list[tuple[str, Price]] = []
    if item.price is not None:
        prices.append(("price", item.price))
    if item.flexible is not None:
        for part in ("price_per_vcpu", "price_per_gib_memory"):
            p = getattr(item.flexible, part)
            if p is not None:
                prices.append((f"flexible.{part}", p))
    return prices


def _check_compute_size(item: Item) -> None:
    """Fail on a compute item without a size, or with one in the wrong unit."""
    where = f"compute item {item_id(item)}"
    if item.flexible is None and (item.vcpus is None or item.memory_mib is None):
        fail(f"{where} has no vcpus/memory_mib and no flexible sizing")
    if item.vcpus is not None and item.vcpus < 1:
        fail(f"{where}: vcpus {item.vcpus} < 1")
    if item.memory_mib is not None and item.memory_mib < 64:
        fail(f"{where}: memory_mib {item.memory_mib} is below 64: memory must be in MiB "
             "(was GiB given?)")
    if item.flexible is not None and item.flexible.memory_mib_max < 64:
        fail(f"{where}: flexible.memory_mib_max {item.flexible.memory_mib_max} is below 64: "
             "memory must be in MiB")


class ItemChecks(KitFixtures):
    """``test_items_validate``, ``test_item_ids_unique``, ``test_listing_stable``, ``test_prices``,
    ``test_compute_sizes``."""

    def test_items_validate(self, listing: Listing, mock_handle: MockHandle | None) -> None:
        """Every item is a cloudcat.models.Item that validates and serialises to JSON."""
        if not listing.all_items() and mock_handle is not None:
            fail("the driver listed no item at all from its mock")
        for item in listing.all_items():
            if not isinstance(item, Item):
                fail(f"items() yielded {type(item).__name__}, not cloudcat.models.Item")
            try:
                Item.model_validate_json(item.model_dump_json())
            except (ValidationError, ValueError, TypeError) as exc:
                fail(f"item {item_id(item)} does not validate against cloudcat.models.Item: {exc}")

    def test_item_ids_unique(self, listing: Listing) -> None:
        """No two items share kind, region and name (they would get the same offer id)."""
        counts = Counter(item_id(i) for i in listing.all_items())
        dups = sorted(f"{i} (x{n})" for i, n in counts.items() if n > 1)
        if dups:
            fail(f"duplicate ids: {len(dups)} item id(s) listed more than once: {', '.join(dups[:5])}")

    def test_listing_stable(self, listing: Listing, make_driver: Callable[..., BaseDriver]) -> None:
        """Two reads by two driver instances give the same items."""
        again = run_bounded(lambda: read_listing(make_driver()), self.fault_deadline * 4,
                            "reading the backend again")
        first, second = listing.by_id(), again.by_id()
        if first.keys() != second.keys():
            gone = sorted(first.keys() - second.keys())[:5]
            new = sorted(second.keys() - first.keys())[:5]
            fail(f"ids not stable: a second read lost {gone} and gained {new}")
        changed = [k for k in first if first[k] != second[k]]
        if changed:
            fail(f"items changed between two reads of an unchanged backend: {changed[:5]}")
        if [r.name for r in listing.regions] != [r.name for r in again.regions]:
            fail("regions changed between two reads of an unchanged backend")

    def test_prices(self, listing: Listing) -> None:
        """Unknown prices are null (never 0); currencies are ISO 4217; prices only when declared."""
        for item in listing.all_items():
            for where, price in _prices_of(item):
                if price.amount == Decimal(0) and not price.source:
                    fail(f"unknown price reported as 0: item {item_id(item)} has {where}.amount 0 "
                         "with no source; an unknown price must be null (None), never 0")
                if price.currency not in ISO_4217:
                    fail(f"item {item_id(item)}: {where}.currency {price.currency!r} is not an "
                         "ISO 4217 code")

    @requires("kind:compute")
    def test_compute_sizes(self, listing: Listing) -> None:
        """Compute items carry vCPU >= 1 and memory in MiB (>= 64), or a flexible sizing."""
        for item in listing.all_items():
            if item.kind == Kind.COMPUTE:
                _check_compute_size(item)
