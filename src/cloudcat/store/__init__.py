"""The snapshot store: each refresh of the catalog, kept as history.

A snapshot holds the items the drivers read (so offers can be recomposed after a change of
brands or price books without touching the network), the offers composed from them, and the
outcome of each backend. It is written in one transaction: a refresh killed midway leaves the
previous snapshot intact and no half snapshot visible. Unchanged offers and items are not copied
from one snapshot to the next (:mod:`cloudcat.store.history`), and old snapshots can be pruned
(:meth:`Store.prune`).

Offers are stored as JSON plus indexed columns (kind, region, brand, sizes, price, lifecycle,
one column per declared filter…), so an :class:`~cloudcat.query.OfferQuery` becomes one
parameterized SQL query and pydantic models are built only for the rows returned. Flexible
compute offers, whose size and price depend on the query, are sized in Python
(:func:`cloudcat.query.materialize`) and merged into the sorted result.

Modules: :mod:`~cloudcat.store.schema` (tables and rows), :mod:`~cloudcat.store.history`
(versions, diff, retention), :mod:`~cloudcat.store.lock` (the refresh lock),
:mod:`~cloudcat.store.sqlite` (the embedded store).

::

    with Store(Store.default_path()) as store:
        info = store.write_snapshot(items=items, offers=offers, statuses=statuses, config_hash=None)
        cheapest = list(store.query(OfferQuery(kinds=["compute"], sort="price", limit=10)))
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .history import FieldChange, LifecycleChange, PriceChange, SnapshotDiff
    from .lock import RefreshLockedError
    from .schema import FILTER_COLUMNS, OFFER_COLUMNS, SEARCH_SEPARATOR
    from .sqlite import SCHEMA_VERSION, Store, StoredItem

#: Where each public name lives: modules are imported on first use, so that importing the
#: package costs nothing until a store is opened (and psycopg only for a PostgreSQL one).
_EXPORTS: dict[str, str] = {
    "FILTER_COLUMNS": "schema",
    "OFFER_COLUMNS": "schema",
    "SCHEMA_VERSION": "sqlite",
    "SEARCH_SEPARATOR": "schema",
    "FieldChange": "history",
    "LifecycleChange": "history",
    "PriceChange": "history",
    "RefreshLockedError": "lock",
    "SnapshotDiff": "history",
    "Store": "sqlite",
    "StoredItem": "sqlite",
}

__all__ = [
    "FILTER_COLUMNS",
    "OFFER_COLUMNS",
    "SCHEMA_VERSION",
    "SEARCH_SEPARATOR",
    "FieldChange",
    "LifecycleChange",
    "PriceChange",
    "RefreshLockedError",
    "SnapshotDiff",
    "Store",
    "StoredItem",
]


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{module}"), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_EXPORTS))
