"""Checks of the regions a driver lists, and of its ``regions`` option."""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable

import pytest
from pydantic import ValidationError

from ...driver import BaseDriver
from ...errors import ConfigError
from ...models import Region
from .calls import fail
from .fixtures import KitFixtures
from .listing import Listing

__all__ = ["RegionChecks"]

_COUNTRY = re.compile(r"[A-Z]{2}")


def _check_region(region: Region) -> None:
    """Fail on a region that is not a valid :class:`~cloudcat.models.Region` with unique zones."""
    if not isinstance(region, Region):
        fail(f"regions() returned {type(region).__name__}, not cloudcat.models.Region")
    try:
        Region.model_validate(region.model_dump())
    except ValidationError as exc:
        fail(f"region {region.name!r} does not validate: {exc}")
    if region.country is not None and not _COUNTRY.fullmatch(region.country):
        fail(f"region {region.name!r}: country {region.country!r} is not ISO 3166-1 alpha-2")
    dup_zones = [z for z, n in Counter(region.zones).items() if n > 1]
    if dup_zones:
        fail(f"region {region.name!r} lists zone(s) {dup_zones} more than once")


class RegionChecks(KitFixtures):
    """``test_regions``, ``test_regions_option``."""

    def test_regions(self, listing: Listing) -> None:
        """Regions are listed, valid, uniquely named, with unique zones."""
        if not listing.regions:
            fail("the driver listed no region")
        for region in listing.regions:
            _check_region(region)
        dups = [n for n, c in Counter(r.name for r in listing.regions).items() if c > 1]
        if dups:
            fail(f"regions listed more than once: {dups}")

    def test_regions_option(self, listing: Listing, make_driver: Callable[..., BaseDriver]) -> None:
        """The ``regions`` option restricts the regions; an unknown one is a ConfigError naming it."""
        first = listing.regions[0].name if listing.regions else None
        if first is None:
            fail("the driver listed no region")
        got = [r.name for r in make_driver(regions=[first]).regions()]
        if got != [first]:
            fail(f"with options regions=[{first!r}] the driver listed {got}")
        with pytest.raises(ConfigError, match="no-such-region-kit"):
            make_driver(regions=["no-such-region-kit"]).regions()
