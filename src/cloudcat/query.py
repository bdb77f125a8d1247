"""Offer queries: which offers a caller wants and in which order.

An :class:`OfferQuery` holds filters from the one vocabulary of :mod:`cloudcat.filters` plus a
sort order, a limit and an offset. Three pure functions give it its meaning, and the store (which
compiles the same filters to SQL) must agree with them:

* :func:`materialize` sizes a *flexible* compute offer (a pool sized freely within ranges) to
  the smallest size meeting ``min_vcpus`` / ``min_memory_mib``, and prices that size;
* :func:`matches` says whether an offer, once materialized, passes every filter;
* :func:`sort_key` orders offers; unknown values (an unknown price, no vCPU count) sort last
  in both directions, and ties are broken by id so results are deterministic.

:func:`select` and :func:`run` apply a query to offers held in memory.

Prices are compared by amount only: ``max_price`` and the ``price`` sorts do not convert
currencies or units, so a caller mixing them should also set ``currency``.
"""

from __future__ import annotations

from collections.abc import Iterable
from decimal import Decimal
from typing import Any, Literal, Unpack

from pydantic import BaseModel, ConfigDict, Field, field_validator

from .errors import ConfigError
from .filters import FILTERS, OfferFilters, validate_filters
from .models import Offer

__all__ = [
    "SORTS",
    "OfferQuery",
    "SortOrder",
    "matches",
    "materialize",
    "run",
    "select",
    "sort_key",
]

#: The orders a query can ask for; a leading ``-`` means descending.
SortOrder = Literal["id", "name", "price", "-price", "vcpus", "-vcpus", "memory_mib", "-memory_mib"]
SORTS: tuple[str, ...] = ("id", "name", "price", "-price", "vcpus", "-vcpus", "memory_mib", "-memory_mib")


class OfferQuery(BaseModel):
    """Which offers to return, and in which order: ``OfferQuery(kind="compute", min_vcpus=4,
    sort="price", limit=5)``. Filters take the names of :class:`~cloudcat.filters.OfferFilters`
    (a misspelt one is a type error and a :class:`~cloudcat.errors.ConfigError`); every filter
    given must hold. ``brand`` names are taken as given here (the catalog resolves aliases first).
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    filters: dict[str, Any] = Field(default_factory=dict, description="Validated filters (see OfferFilters).")
    sort: SortOrder = "id"
    limit: int | None = Field(default=None, ge=0)
    offset: int = Field(default=0, ge=0)

    def __init__(self, *, sort: SortOrder = "id", limit: int | None = None, offset: int = 0,
                 **filters: Unpack[OfferFilters]) -> None:
        super().__init__(filters=validate_filters(filters), sort=sort, limit=limit, offset=offset)

    @field_validator("sort", mode="before")
    @classmethod
    def _known_sort(cls, value: object) -> object:
        if isinstance(value, str) and value not in SORTS:
            import difflib

            close = difflib.get_close_matches(value, SORTS, n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            raise ConfigError(f"unknown sort {value!r}{hint}; sorts: {', '.join(SORTS)}", field="sort")
        return value

    def get(self, name: str) -> Any:
        """The validated value of one filter, or ``None`` when it is not set."""
        if name not in FILTERS:
            raise KeyError(name)
        return self.filters.get(name)

    def replace(self, **changes: Any) -> OfferQuery:
        """A copy with some filters (or ``sort``/``limit``/``offset``) changed; ``None`` removes a filter."""
        merged: dict[str, Any] = {**self.filters, "sort": self.sort, "limit": self.limit, "offset": self.offset}
        merged.update(changes)
        return OfferQuery(**{k: v for k, v in merged.items() if v is not None or k == "limit"})

    @property
    def sizes_flexible(self) -> bool:
        """Whether flexible offers are sized (and priced) by this query."""
        return "min_vcpus" in self.filters or "min_memory_mib" in self.filters


def materialize(offer: Offer, q: OfferQuery) -> Offer | None:
    """The offer as this query sees it.

    A fixed offer is returned unchanged. A flexible compute offer, when the query sets
    ``min_vcpus`` or ``min_memory_mib``, becomes a copy sized to the smallest size the pool
    allows that meets both (``vcpus``/``memory_mib`` set to it, ``price`` the price of that size,
    ``extras["sized_for"]`` recording it), or ``None`` when the pool cannot fit it. Without those
    filters a flexible offer keeps its maximum size and its own price.
    """
    flexible = offer.flexible
    if flexible is None or not q.sizes_flexible:
        return offer
    size = flexible.size_for(q.filters.get("min_vcpus"), q.filters.get("min_memory_mib"))
    if size is None:
        return None
    vcpus, memory_mib = size
    extras = dict(offer.extras)
    extras["sized_for"] = {"vcpus": vcpus, "memory_mib": memory_mib}
    return offer.model_copy(update={
        "vcpus": vcpus,
        "memory_mib": memory_mib,
        "price": flexible.price_for(vcpus, memory_mib),
        "extras": extras,
    })


def _matches_sized(offer: Offer, q: OfferQuery) -> bool:
    """The filters, on an offer that is already materialized."""
    return all(FILTERS[name].matches(offer, wanted) for name, wanted in q.filters.items())


def select(offer: Offer, q: OfferQuery) -> Offer | None:
    """The materialized offer when it passes every filter of ``q``, else ``None``."""
    sized = materialize(offer, q)
    if sized is None or not _matches_sized(sized, q):
        return None
    return sized


def matches(offer: Offer, q: OfferQuery) -> bool:
    """Whether ``offer`` passes every filter of ``q`` (flexible offers are materialized first)."""
    return select(offer, q) is not None


def sort_key(offer: Offer, sort: str) -> tuple[Any, ...]:
    """Key ordering offers by ``sort`` (one of :data:`SORTS`); unknown values last, then by id."""
    if sort == "id":
        return (offer.id,)
    if sort == "name":
        return (offer.name, offer.id)
    descending = sort.startswith("-")
    field = sort.removeprefix("-")
    value: Decimal | int | None
    if field == "price":
        value = offer.price.amount if offer.price is not None else None
    elif field == "vcpus":
        value = offer.vcpus
    elif field == "memory_mib":
        value = offer.memory_mib
    else:
        raise ValueError(f"unknown sort {sort!r}; expected one of {', '.join(SORTS)}")
    if value is None:
        return (1, 0, offer.id)
    return (0, -value if descending else value, offer.id)


def run(offers: Iterable[Offer], q: OfferQuery) -> list[Offer]:
    """Apply ``q`` to offers held in memory: materialize, filter, sort, then offset and limit."""
    selected = [s for s in (select(o, q) for o in offers) if s is not None]
    selected.sort(key=lambda o: sort_key(o, q.sort))
    end = None if q.limit is None else q.offset + q.limit
    return selected[q.offset:end]
