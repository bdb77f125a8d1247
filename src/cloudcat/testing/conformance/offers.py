"""Checks of the offers a catalog composes from the driver's items, through :func:`cloudcat.open_catalog`."""

from __future__ import annotations

import contextlib
import datetime as dt
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from pydantic import ValidationError

from ...driver import BaseDriver
from ...models import Offer
from .calls import fail, run_bounded
from .fixtures import KitFixtures
from .requirements import requires

__all__ = ["OfferChecks"]


class OfferChecks(KitFixtures):
    """``test_offers_validate``, ``test_offer_ids``, ``test_offer_ids_stable``: they open the driver
    by its registered name, as a user's configuration does."""

    @pytest.fixture
    def catalog_config(self, driver_class: type[BaseDriver], driver_options: dict[str, Any],
                       tmp_path: Path) -> dict[str, Any]:
        """The catalog configuration the offer checks open: one backend, one brand."""
        return {"backends": {"b": {"driver": self._driver_name(), "options": driver_options}},
                "brands": {self.brand: {"backend": "b", "operator": "Kit Operator"}},
                "store": str(tmp_path / "c.db")}

    @contextlib.contextmanager
    def _catalog(self, config: dict[str, Any]) -> Iterator[Any]:
        from ... import open_catalog

        catalog = open_catalog(config)
        try:
            yield catalog
        finally:
            catalog.close()

    def _refresh(self, catalog: Any) -> list[Offer]:
        result = run_bounded(catalog.refresh, self.fault_deadline * 4, "catalog.refresh()")
        failed = [s for s in result.statuses if s.status != "ok"]
        if failed:
            fail(f"catalog refresh failed for backend {failed[0].backend}: {failed[0].error}")
        return list(catalog.offers(snapshot=result.snapshot.id))

    @requires("registered_name")
    def test_offers_validate(self, catalog_config: dict[str, Any]) -> None:
        """Offers composed from the items validate against cloudcat.models.Offer."""
        with self._catalog(catalog_config) as catalog:
            offers = self._refresh(catalog)
        if not offers:
            fail("the catalog composed no offer from the driver's items")
        for offer in offers:
            try:
                Offer.model_validate_json(offer.model_dump_json())
            except ValidationError as exc:
                fail(f"offer {offer.id} does not validate against cloudcat.models.Offer: {exc}")
            if offer.read_at.tzinfo is None or offer.read_at.utcoffset() != dt.timedelta(0):
                fail(f"offer {offer.id}: read_at {offer.read_at} is not UTC")

    @requires("registered_name")
    def test_offer_ids(self, catalog_config: dict[str, Any]) -> None:
        """Offer ids are unique and begin with the brand."""
        with self._catalog(catalog_config) as catalog:
            offers = self._refresh(catalog)
        dups = sorted(i for i, n in Counter(o.id for o in offers).items() if n > 1)
        if dups:
            fail(f"duplicate ids: offer id(s) {dups[:5]} appear more than once")
        bad = [o.id for o in offers if not o.id.startswith(self.brand + "/")]
        if bad:
            fail(f"offer id(s) {bad[:5]} do not begin with the brand {self.brand!r}")

    @requires("registered_name")
    def test_offer_ids_stable(self, catalog_config: dict[str, Any]) -> None:
        """Two refreshes of an unchanged backend give the same offer ids."""
        with self._catalog(catalog_config) as catalog:
            first = {o.id: o.model_dump(exclude={"read_at"}) for o in self._refresh(catalog)}
            second = {o.id: o.model_dump(exclude={"read_at"}) for o in self._refresh(catalog)}
        if first.keys() != second.keys():
            fail(f"ids not stable across two refreshes: lost {sorted(first.keys() - second.keys())[:5]}, "
                 f"gained {sorted(second.keys() - first.keys())[:5]}")
        changed = sorted(i for i in first if first[i] != second[i])
        if changed:
            fail(f"offers changed between two refreshes of an unchanged backend: {changed[:5]}")
