"""Checks that the capabilities a driver declares are the ones its items show, paging included."""

from __future__ import annotations

from collections.abc import Callable
from typing import ClassVar

import pytest

from ...driver import BaseDriver
from ...models import Item, Kind
from ..mockserver import MockHandle
from .calls import fail, run_bounded
from .fixtures import KitFixtures
from .listing import Listing, item_id, read_listing
from .requirements import requires

__all__ = ["CARRIES", "CapabilityChecks"]

#: How an item shows each capability that items carry.
CARRIES: dict[str, Callable[[Item], bool]] = {
    "zones": lambda i: bool(i.zone or (i.zones and i.kind != Kind.LOCATION)),
    "prices": lambda i: i.price is not None or (
        i.flexible is not None and (i.flexible.price_per_vcpu is not None
                                    or i.flexible.price_per_gib_memory is not None)),
    "lifecycle": lambda i: i.lifecycle.status.value != "available" or bool(
        i.lifecycle.end_of_sale or i.lifecycle.end_of_life or i.lifecycle.successor),
    "flexible_compute": lambda i: i.flexible is not None,
}


class CapabilityChecks(KitFixtures):
    """``test_capability_declared[capability]``, ``test_capabilities_not_claimed``, ``test_paging``."""

    _CARRIES: ClassVar[dict[str, Callable[[Item], bool]]] = CARRIES

    @requires("{capability}")
    @pytest.mark.parametrize("capability", list(CARRIES))
    def test_capability_declared(self, capability: str, listing: Listing,
                                 mock_handle: MockHandle | None) -> None:
        """A declared capability shows in the items read (from the mock)."""
        carries = self._CARRIES[capability]
        if any(carries(i) for i in listing.all_items()):
            return
        if mock_handle is None:
            # what a real endpoint sells is not the kit's to choose: it cannot confirm, nor fail
            pytest.skip(f"no item read from this endpoint carries {capability}; cannot confirm "
                        f"capabilities.{capability} without a mock fixture that has some")
        fail(f"driver declares capabilities.{capability} but no item read from its mock carries "
             f"{capability}")

    def test_capabilities_not_claimed(self, listing: Listing) -> None:
        """Items carry no zones, prices, lifecycle or flexible sizing the driver does not declare."""
        caps = self._capabilities()
        for capability, carries in self._CARRIES.items():
            if getattr(caps, capability):
                continue
            found = [i for i in listing.all_items() if carries(i)]
            if found:
                fail(f"item {item_id(found[0])} carries {capability} but the driver does not declare "
                     f"capabilities.{capability}")

    @requires("paging", "mock")
    def test_paging(self, listing: Listing, fault_mock: MockHandle,
                    make_driver: Callable[..., BaseDriver]) -> None:
        """With a page size of 1, the listing is complete and identical."""
        handle = fault_mock
        before = len(handle.server.requests())
        run_bounded(lambda: read_listing(make_driver()), self.fault_deadline * 4, "an unpaged read")
        unpaged_requests = len(handle.server.requests()) - before
        handle.server.set_faults(page_limit=1)
        before = len(handle.server.requests())
        paged = run_bounded(lambda: read_listing(make_driver()), self.fault_deadline * 4,
                            "a read with page size 1")
        paged_requests = len(handle.server.requests()) - before
        full, one = listing.by_id(), paged.by_id()
        if full.keys() != one.keys():
            missing = sorted(full.keys() - one.keys())
            fail(f"incomplete listing under page size 1: {len(missing)} item(s) missing, e.g. "
                 f"{missing[:5]}; the driver must follow every page")
        changed = [k for k in full if full[k] != one[k]]
        if changed:
            fail(f"items differ under page size 1: {changed[:5]}")
        if len(one) != len(paged.all_items()):
            fail("items repeated under page size 1 (a page read twice?)")
        multi = any(len(items) > 1 for items in listing.items.values())
        if multi and paged_requests <= unpaged_requests:
            fail(f"the mock ignored page_limit=1 ({paged_requests} requests paged vs "
                 f"{unpaged_requests} unpaged): make the mock honour Faults.page_limit")
