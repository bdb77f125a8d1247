"""Compose offers: items read from backends, seen through brands and price books.

For each brand, for each backend it sells from, each item becomes an offer with a stable id
``<brand>/<kind>/<region>/<name>`` (a location is ``<brand>/location/<name>``), the brand's
operator, the brand's labels plus the item's and the price books', and a lifecycle that is the
most advanced of the item's, the price book's and the brand's, as of today.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable, Iterator
from typing import Any, Protocol, runtime_checkable

from .brands import BrandIndex
from .config import BrandConfig
from .models import Item, Kind, Lifecycle, LifecycleStatus, Offer
from .prices import PriceBook

__all__ = ["ItemRecords", "ReadItem", "compose_offers", "compose_streamed", "offer_id"]

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
    brand) or ``~N`` (one backend listing two items under one name) appended.

    ``read`` is held in memory, grouped by backend; :func:`compose_streamed` reads each backend's
    items from a source instead, so memory does not grow with the catalog."""
    by_backend: dict[str, list[ReadItem]] = {}
    for r in read:
        by_backend.setdefault(r.backend, []).append(r)
    return compose_streamed(lambda backend: by_backend.get(backend, ()), brands, prices, today=today)


@runtime_checkable
class ItemRecords(Protocol):
    """One backend's items kept as JSON data (a refresh's spool), which composing reads without
    building an :class:`Item` for each (price books apply to the data: :meth:`PriceBook.apply_data`)."""

    @property
    def driver(self) -> str: ...

    def records(self) -> Iterator[tuple[dt.datetime, dict[str, Any]]]:
        """Each item as when it was read and its JSON data (as ``Item.model_dump(mode="json")``)."""
        ...


def compose_streamed(items_of: Callable[[str], Iterable[ReadItem] | ItemRecords], brands: BrandIndex,
                     prices: PriceBook, *, today: dt.date | None = None) -> Iterator[Offer]:
    """Every offer of every brand, brand by brand, reading each of a brand's backends through
    ``items_of(backend)`` (called once per brand and backend, so it should stream from a file or
    a store rather than hold the items). Offers are built as the caller iterates; only the ids
    of the brand being composed are kept, to keep them unique."""
    today = today or dt.date.today()
    for brand_name in brands.names():
        brand = _Brand(brand_name, brands.config(brand_name), today)
        for backend in brand.cfg.backend_names:
            source = items_of(backend)
            if isinstance(source, ItemRecords):
                yield from _from_records(source, backend, brand, prices)
                continue
            for r in source:
                yield _from_item(r.item, backend, r.driver, r.read_at, brand, prices)


class _Brand:
    """What composing needs of one brand, and the ids it gave so far."""

    def __init__(self, name: str, cfg: BrandConfig, today: dt.date) -> None:
        self.name = name
        self.cfg = cfg
        self.today = today
        self.labels = {x.lower() for x in cfg.labels}
        self.seen: set[str] = set()
        #: the lifecycle of an offer whose item says nothing of its own (most of them)
        self.plain_lifecycle = _lifecycle(_AVAILABLE, cfg.lifecycle, today).model_dump()


def _from_item(item: Item, backend: str, driver: str, read_at: dt.datetime | str, brand: _Brand,
               prices: PriceBook) -> Offer:
    item = prices.apply(backend, item, brand=brand.name, today=brand.today)
    oid = _unique(offer_id(brand.name, item), backend, brand.seen)
    fields = item.model_dump()
    fields.update(id=oid, brand=brand.name, operator=brand.cfg.operator, backend=backend, driver=driver,
                  read_at=read_at, labels=_labels(item.labels, brand.labels),
                  lifecycle=_lifecycle(item.lifecycle, brand.cfg.lifecycle, brand.today).model_dump(),
                  display_name=item.display_name or item.name)
    # validating plain data is pydantic's fast path (faster than model_construct, or than
    # validating nested model instances): see bench/bench_compose.py
    return Offer.model_validate(fields)


def _from_records(source: ItemRecords, backend: str, brand: _Brand, prices: PriceBook) -> Iterator[Offer]:
    for read_at, data in source.records():
        name = data["name"]
        data = prices.apply_data(backend, data, brand=brand.name, today=brand.today)
        kind = data["kind"]
        oid = f"{brand.name}/location/{name}" if kind == Kind.LOCATION.value else \
            f"{brand.name}/{kind}/{data.get('region') or '-'}/{name}"
        own = data.get("lifecycle")
        if not own or own == _AVAILABLE_DATA:
            lifecycle = brand.plain_lifecycle
        else:
            lifecycle = _lifecycle(Lifecycle.model_validate(own), brand.cfg.lifecycle, brand.today).model_dump()
        data.update(id=_unique(oid, backend, brand.seen), brand=brand.name, operator=brand.cfg.operator,
                    backend=backend, driver=source.driver, read_at=read_at,
                    labels=_labels(data.get("labels") or [], brand.labels), lifecycle=lifecycle,
                    display_name=data.get("display_name") or name)
        yield Offer.model_validate(data)


_AVAILABLE = Lifecycle()
#: What an item that says nothing of its lifecycle stores (null fields left out)
_AVAILABLE_DATA = {"status": LifecycleStatus.AVAILABLE.value}


def _unique(oid: str, backend: str, seen: set[str]) -> str:
    if oid in seen:
        oid = f"{oid}@{backend}"
    n = 2
    base = oid
    while oid in seen:
        oid = f"{base}~{n}"
        n += 1
    seen.add(oid)
    return oid


def _labels(own: Iterable[str], brand: set[str]) -> list[str]:
    if not brand:
        return list(own)  # already normalised by the item model and the price book
    return sorted({label.strip().lower() for label in (*own, *brand) if label.strip()})
