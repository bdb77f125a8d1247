"""Compose offers: items read from backends, seen through brands and price books.

For each brand, for each backend it sells from, each item becomes an offer with a stable id
``<brand>/<kind>/<region>/<name>`` (a location is ``<brand>/location/<name>``), the brand's
operator, the brand's labels plus the item's and the price books', and a lifecycle that is the
most advanced of the item's, the price book's and the brand's, as of today.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Iterator
from typing import Protocol

from .brands import BrandIndex
from .models import Item, Kind, Lifecycle, LifecycleStatus, Offer
from .prices import PriceBook

__all__ = ["ReadItem", "compose_offers", "offer_id"]

_SEVERITY = {LifecycleStatus.AVAILABLE: 0, LifecycleStatus.END_OF_SALE: 1, LifecycleStatus.END_OF_LIFE: 2}


class ReadItem(Protocol):
    """An item with where and when it was read."""

    @property
    def backend(self) -> str: ...
    @property
    def driver(self) -> str: ...
    @property
    def read_at(self) -> dt.datetime: ...
    @property
    def item(self) -> Item: ...


def offer_id(brand: str, item: Item) -> str:
    """The stable id of ``item`` sold under ``brand``."""
    if item.kind == Kind.LOCATION:
        return f"{brand}/location/{item.name}"
    return f"{brand}/{item.kind.value}/{item.region or '-'}/{item.name}"


def _lifecycle(item: Lifecycle, brand: Lifecycle, today: dt.date) -> Lifecycle:
    own = item.at(today)
    theirs = brand.at(today)
    if _SEVERITY[theirs.status] > _SEVERITY[own.status]:
        return theirs
    return own


def compose_offers(read: Iterable[ReadItem], brands: BrandIndex, prices: PriceBook, *,
                   today: dt.date | None = None) -> Iterator[Offer]:
    """Every offer of every brand. Ids are unique: a clash gets ``@<backend>`` (two backends of one
    brand) or ``~N`` (one backend listing two items under one name) appended."""
    today = today or dt.date.today()
    by_backend: dict[str, list[ReadItem]] = {}
    for r in read:
        by_backend.setdefault(r.backend, []).append(r)
    for brand_name in brands.names():
        cfg = brands.config(brand_name)
        seen: set[str] = set()
        for backend in cfg.backend_names:
            for r in by_backend.get(backend, []):
                item = prices.apply(backend, r.item, brand=brand_name, today=today)
                oid = offer_id(brand_name, item)
                if oid in seen:
                    oid = f"{oid}@{backend}"
                n = 2
                base = oid
                while oid in seen:
                    oid = f"{base}~{n}"
                    n += 1
                seen.add(oid)
                data = item.model_dump()
                data.update(
                    id=oid, brand=brand_name, operator=cfg.operator, backend=backend, driver=r.driver,
                    read_at=r.read_at, labels=sorted(set(item.labels) | {x.lower() for x in cfg.labels}),
                    lifecycle=_lifecycle(item.lifecycle, cfg.lifecycle, today),
                    display_name=item.display_name or item.name,
                )
                yield Offer.model_validate(data)
