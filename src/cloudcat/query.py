"""Offer filters shared by the Python API, the CLI and the snapshot store.

An :class:`OfferQuery` says which offers a caller wants and in which order. Three pure
functions give it its meaning, and the store (which translates it to SQL) must agree with them:

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
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from .models import Kind, LifecycleStatus, Offer

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
    """Which offers to return, and in which order. Every filter left at ``None`` is not applied;
    the filters that are set must all hold."""

    model_config = ConfigDict(extra="forbid")

    brands: list[str] | None = Field(default=None, description="Canonical brand names (already resolved).")
    kinds: list[Kind] | None = None
    regions: list[str] | None = None
    zones: list[str] | None = Field(
        default=None, description="The offer's zone, or one of the zones it can be ordered in, is listed.")
    labels: list[str] | None = Field(default=None, description="The offer must carry every one of them.")
    min_vcpus: int | None = Field(default=None, ge=0)
    min_memory_mib: int | None = Field(default=None, ge=0)
    gpu: bool | None = Field(default=None, description="True: only offers with a GPU; False: only without.")
    max_price: Decimal | None = Field(
        default=None, ge=0,
        description="Upper bound on price.amount; offers with an unknown price are excluded.")
    currency: str | None = Field(
        default=None, description="ISO 4217 code; offers with an unknown price are excluded.")
    lifecycle: list[LifecycleStatus] | None = None
    text: str | None = Field(
        default=None, description="Case-insensitive substring of name, display name or id.")
    backends: list[str] | None = None
    sort: SortOrder = "id"
    limit: int | None = Field(default=None, ge=0)
    offset: int = Field(default=0, ge=0)

    @field_validator("labels", mode="after")
    @classmethod
    def _normalize_labels(cls, value: list[str] | None) -> list[str] | None:
        # Offers store labels stripped and lower-cased; ask for them the same way.
        if value is None:
            return None
        return sorted({label.strip().lower() for label in value if label.strip()})

    @field_validator("currency", mode="before")
    @classmethod
    def _upper_currency(cls, value: object) -> object:
        return value.upper() if isinstance(value, str) else value

    @property
    def sizes_flexible(self) -> bool:
        """Whether flexible offers are sized (and priced) by this query."""
        return self.min_vcpus is not None or self.min_memory_mib is not None


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
    size = flexible.size_for(q.min_vcpus, q.min_memory_mib)
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
    if q.brands is not None and offer.brand not in q.brands:
        return False
    if q.kinds is not None and offer.kind not in q.kinds:
        return False
    if q.regions is not None and offer.region not in q.regions:
        return False
    if q.zones is not None and offer.zone not in q.zones and not any(z in q.zones for z in offer.zones):
        return False
    if q.labels and not set(q.labels).issubset(offer.labels):
        return False
    if q.min_vcpus is not None and (offer.vcpus is None or offer.vcpus < q.min_vcpus):
        return False
    if q.min_memory_mib is not None and (offer.memory_mib is None or offer.memory_mib < q.min_memory_mib):
        return False
    if q.gpu is not None and (offer.gpu is not None) != q.gpu:
        return False
    if q.max_price is not None and (offer.price is None or offer.price.amount > q.max_price):
        return False
    if q.currency is not None and (offer.price is None or offer.price.currency != q.currency):
        return False
    if q.lifecycle is not None and offer.lifecycle.status not in q.lifecycle:
        return False
    if q.backends is not None and offer.backend not in q.backends:
        return False
    if q.text is not None:
        needle = q.text.lower()
        fields = (offer.name, offer.display_name or "", offer.id)
        if not any(needle in f.lower() for f in fields):
            return False
    return True


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
