"""What every store backend keeps: the tables, the indexed columns of an offer version, and how
an offer or an item becomes a row.

Offers are versions (see :mod:`cloudcat.store.history`): ``since``/``until`` bound the snapshots
a version holds in, ``digest`` tells whether a new read changed it, ``base_pk``/``data`` hold its
JSON (full, or a merge patch against ``base_pk``). Every declared filter reads its own column
(:data:`FILTER_COLUMNS`); a list field (labels, zones) is one column too
(:func:`cloudcat.filters.list_text`), so a changed version is one row, not one per value.
"""

from __future__ import annotations

import datetime as dt
import functools
import hashlib
import itertools
import json
from collections.abc import Iterable, Iterator
from decimal import Context, Decimal, InvalidOperation
from typing import Any, TypeVar

from pydantic import TypeAdapter

from ..filters import FILTERS, SEARCH_SEPARATOR, search_fields, search_join
from ..models import Offer

__all__ = [
    "FILTER_COLUMNS",
    "OFFER_COLUMNS",
    "SEARCH_SEPARATOR",
    "batched",
    "digest",
    "offer_values",
]

_T = TypeVar("_T")

#: Columns of an offer version before the filter columns; ``pk`` … ``read_at`` are the version's
#: own, the rest index what the offer is.
VERSION_COLUMNS: tuple[str, ...] = ("pk", "since", "until", "id", "digest", "base_pk", "data", "read_at")
_INDEXED_COLUMNS: tuple[str, ...] = (
    "brand", "kind", "region", "zone", "name", "search", "vcpus", "memory_mib", "gpu_count", "price_amount",
    "price_exact", "price_currency", "price_unit", "lifecycle_status", "backend", "flexible", "flex_vcpus_max",
    "flex_memory_mib_max",
)

#: Columns that hold a declared filter's value as :meth:`cloudcat.filters.Filter.stored` gives it;
#: a filter declared with a new column gets it here, and stores opened later gain it (filled
#: from the stored offers).
FILTER_COLUMNS: dict[str, str] = {
    f.column: name for name, f in FILTERS.items()
    if f.column is not None and f.column not in VERSION_COLUMNS + _INDEXED_COLUMNS
}

#: Columns of ``offers`` in the order a row is written: the version's own, then
#: :func:`offer_values`.
OFFER_COLUMNS: tuple[str, ...] = VERSION_COLUMNS + _INDEXED_COLUMNS + tuple(FILTER_COLUMNS)

BATCH = 2000


def batched(values: Iterable[_T], size: int = BATCH) -> Iterator[list[_T]]:
    """``values`` in lists of ``size``."""
    iterator = iter(values)
    while batch := list(itertools.islice(iterator, size)):
        yield batch


def digest(*parts: str | None) -> bytes:
    """A short fingerprint of a version's stored content (16 bytes)."""
    h = hashlib.blake2b(digest_size=16)
    for part in parts:
        h.update(b"\x00" if part is None else part.encode() + b"\x01")
    return h.digest()


def canonical_amount(amount: Decimal) -> str:
    """One spelling per value (``1.50`` and ``1.5`` agree), for exact comparisons in SQL."""
    return format(exact_normal(amount), "f")


def exact_normal(amount: Decimal) -> Decimal:
    """``amount`` without trailing zeros, every digit kept (``Decimal.normalize`` rounds to the
    context's 28 digits: ``0.100000000000000000000000000001`` would become ``0.1``)."""
    return amount.normalize(Context(prec=max(28, len(amount.as_tuple().digits))))


def decimal_le(exact: str | None, bound: str) -> bool:
    """SQL function ``cc_decimal_le``: ``exact <= bound`` as decimals (for amounts equal as
    floating point)."""
    if exact is None:
        return False
    try:
        return Decimal(exact) <= Decimal(bound)
    except InvalidOperation:
        return False


def price_key(exact: str | None) -> str | None:
    """SQL function ``cc_price_key``: text whose order is the decimal order of a canonical amount
    (:func:`canonical_amount`, never negative): its whole part's length, then the amount. It
    orders amounts equal as floating point (``0.1`` and ``0.10000000000000000001``) exactly,
    as :func:`cloudcat.query.sort_key` does in memory."""
    if exact is None:
        return None
    whole, _, fraction = exact.removeprefix("-").partition(".")  # "-0" is the only negative spelling
    return f"{len(whole):05d}{whole}.{fraction}"


def text_in(search: str | None, needle: str) -> bool:
    """SQL function ``cc_text_in``: ``needle`` within one of the fields joined in ``search``."""
    if search is None:
        return False
    return any(needle in field for field in search_fields(search))


def search_text(offer: Offer) -> str:
    """The lowercased fields the ``text`` filter searches, joined by :data:`SEARCH_SEPARATOR`:
    the id, then the name and the display name unless the id holds them already (as it holds
    the name it is made of), since a text found in those is found in the id."""
    ident = offer.id.lower()
    name = offer.name.lower()
    display = (offer.display_name or "").lower()
    if name in ident and display in ident:
        return search_join((ident,))
    parts = [ident]
    for field in (name, display):
        if field not in ident and field not in parts:
            parts.append(field)
    return search_join(parts)


def offer_values(offer: Offer) -> tuple[Any, ...]:
    """The indexed and filter columns of an offer (``OFFER_COLUMNS`` after the version's own)."""
    price = offer.price
    flexible = offer.flexible
    return (
        offer.brand, offer.kind.value, offer.region, offer.zone, offer.name,
        search_text(offer), offer.vcpus, offer.memory_mib,
        offer.gpu.count if offer.gpu is not None else None,
        float(price.amount) if price is not None else None,
        canonical_amount(price.amount) if price is not None else None,
        price.currency if price is not None else None,
        price.unit if price is not None else None,
        offer.lifecycle.status.value, offer.backend,
        1 if flexible is not None else 0,
        flexible.vcpus_max if flexible is not None else None,
        flexible.memory_mib_max if flexible is not None else None,
        *[read(offer) for read in _FILTER_READS],
    )


#: How each filter column is read from an offer (:meth:`cloudcat.filters.Filter.stored`).
_FILTER_READS = tuple(FILTERS[name].stored for name in FILTER_COLUMNS.values())


def split_read_at(offer: Offer) -> tuple[str, str]:
    """An offer's JSON without ``read_at`` (kept per backend and snapshot, so that re-reading an
    unchanged offer stores nothing), and that ``read_at`` as its JSON string."""
    # what model_dump_json gives, without its wrapper's cost
    data = offer.__pydantic_serializer__.to_json(offer, exclude=_READ_AT, exclude_none=True).decode()
    return data, _read_at_json(offer.read_at)


_READ_AT = {"read_at"}


@functools.lru_cache(maxsize=64)
def _read_at_json(value: dt.datetime) -> str:
    text: str = json.loads(_DATETIME.dump_json(value))
    return text


_DATETIME: TypeAdapter[dt.datetime] = TypeAdapter(dt.datetime)
