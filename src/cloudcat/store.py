"""The snapshot store: each refresh of the catalog, kept in SQLite.

A snapshot holds the items the drivers read (so offers can be recomposed after a change of
brands or price books without touching the network), the offers composed from them, and the
outcome of each backend. It is written in one transaction: a refresh killed midway leaves the
previous snapshot intact and no half snapshot visible.

Offers are stored as their full JSON plus indexed columns (kind, region, brand, sizes, price,
lifecycle…), so an :class:`~cloudcat.query.OfferQuery` becomes one parameterized SQL query and
pydantic models are built only for the rows returned. Flexible compute offers, whose size and
price depend on the query, are sized in Python (:func:`cloudcat.query.materialize`) and merged
into the sorted result.

::

    with Store(Store.default_path()) as store:
        info = store.write_snapshot(items=items, offers=offers, statuses=statuses, config_hash=None)
        cheapest = list(store.query(OfferQuery(kinds=["compute"], sort="price", limit=10)))
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as dt
import heapq
import itertools
import json
import re
import sqlite3
import threading
from collections.abc import Callable, Iterable, Iterator, Sequence
from decimal import Decimal, InvalidOperation
from pathlib import Path
from types import TracebackType
from typing import Any, TypeVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from .errors import StoreError
from .filters import FILTERS, SEARCH_SEPARATOR, offer_zones
from .models import BackendStatus, Item, LifecycleStatus, Offer, Price, SnapshotInfo
from .query import OfferQuery, select, sort_key

__all__ = [
    "LifecycleChange",
    "PriceChange",
    "SnapshotDiff",
    "Store",
    "StoredItem",
]

_T = TypeVar("_T")

#: Schema version kept in ``PRAGMA user_version``. Version 2 lists an offer's own zone among its
#: zones and adds a column per filter (see :data:`FILTER_COLUMNS`).
SCHEMA_VERSION = 2

_SCHEMA = """
CREATE TABLE IF NOT EXISTS snapshots (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    created_at  TEXT NOT NULL,
    offers      INTEGER NOT NULL,
    config_hash TEXT
);
CREATE TABLE IF NOT EXISTS backend_status (
    snapshot_id INTEGER NOT NULL REFERENCES snapshots(id) ON DELETE CASCADE,
    position    INTEGER NOT NULL,
    data        TEXT NOT NULL,
    PRIMARY KEY (snapshot_id, position)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS items (
    pk          INTEGER PRIMARY KEY,
    snapshot_id INTEGER NOT NULL REFERENCES snapshots(id) ON DELETE CASCADE,
    backend     TEXT NOT NULL,
    driver      TEXT NOT NULL,
    read_at     TEXT NOT NULL,
    data        TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS items_by_backend ON items (snapshot_id, backend);
CREATE TABLE IF NOT EXISTS offers (
    pk                  INTEGER PRIMARY KEY,
    snapshot_id         INTEGER NOT NULL REFERENCES snapshots(id) ON DELETE CASCADE,
    id                  TEXT NOT NULL,
    brand               TEXT NOT NULL,
    kind                TEXT NOT NULL,
    region              TEXT,
    zone                TEXT,
    name                TEXT NOT NULL,
    search              TEXT NOT NULL,
    vcpus               INTEGER,
    memory_mib          INTEGER,
    gpu_count           REAL,
    price_amount        REAL,
    price_exact         TEXT,
    price_currency      TEXT,
    price_unit          TEXT,
    lifecycle_status    TEXT NOT NULL,
    backend             TEXT NOT NULL,
    flexible            INTEGER NOT NULL,
    flex_vcpus_max      INTEGER,
    flex_memory_mib_max INTEGER,
    data                TEXT NOT NULL,
    UNIQUE (snapshot_id, id)
);
-- Cheapest-first listings read these indexes in order and stop at the limit: sizes ride
-- along so that rows too small are skipped without reading the table.
CREATE INDEX IF NOT EXISTS offers_by_region_price ON offers (
    snapshot_id, kind, region, price_amount IS NULL, price_amount, id, vcpus, memory_mib, flexible, brand);
CREATE INDEX IF NOT EXISTS offers_by_kind_price ON offers (
    snapshot_id, kind, price_amount IS NULL, price_amount, id, vcpus, memory_mib, region, flexible, brand);
CREATE INDEX IF NOT EXISTS offers_by_brand ON offers (snapshot_id, brand, kind, region);
CREATE INDEX IF NOT EXISTS offers_flexible ON offers (snapshot_id, kind, region) WHERE flexible = 1;
CREATE TABLE IF NOT EXISTS offer_labels (
    offer_pk INTEGER NOT NULL REFERENCES offers(pk) ON DELETE CASCADE,
    label    TEXT NOT NULL,
    PRIMARY KEY (offer_pk, label)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS offer_zones (
    offer_pk INTEGER NOT NULL REFERENCES offers(pk) ON DELETE CASCADE,
    zone     TEXT NOT NULL,
    PRIMARY KEY (offer_pk, zone)
) WITHOUT ROWID;
"""

_BASE_COLUMNS: tuple[str, ...] = (
    "pk", "snapshot_id", "id", "brand", "kind", "region", "zone", "name", "search", "vcpus",
    "memory_mib", "gpu_count", "price_amount", "price_exact", "price_currency", "price_unit",
    "lifecycle_status", "backend", "flexible", "flex_vcpus_max", "flex_memory_mib_max", "data",
)

#: Columns that hold a declared filter's value as :meth:`cloudcat.filters.Filter.value` gives it;
#: a filter declared with a new column gets it here, and stores opened later gain it (filled
#: from the stored offers).
FILTER_COLUMNS: dict[str, str] = {
    f.column: name for name, f in FILTERS.items()
    if f.column is not None and f.table is None and f.column not in _BASE_COLUMNS
}

#: Columns of ``offers`` in the order :func:`_offer_row` fills them.
OFFER_COLUMNS: tuple[str, ...] = _BASE_COLUMNS + tuple(FILTER_COLUMNS)

_ORDER_BY: dict[str, str] = {
    "id": "o.id",
    "name": "o.name, o.id",
    "price": "o.price_amount IS NULL, o.price_amount, o.id",
    "-price": "o.price_amount IS NULL, o.price_amount DESC, o.id",
    "vcpus": "o.vcpus IS NULL, o.vcpus, o.id",
    "-vcpus": "o.vcpus IS NULL, o.vcpus DESC, o.id",
    "memory_mib": "o.memory_mib IS NULL, o.memory_mib, o.id",
    "-memory_mib": "o.memory_mib IS NULL, o.memory_mib DESC, o.id",
}

_URL_SCHEME = re.compile(r"^([A-Za-z][A-Za-z0-9+.\-]*)://")
_BATCH = 2000


@dataclasses.dataclass(frozen=True, slots=True)
class StoredItem:
    """One item as a driver read it, with where and when: what a snapshot keeps besides offers."""

    backend: str
    driver: str
    read_at: dt.datetime
    item: Item


class PriceChange(BaseModel):
    """An offer whose price (amount, currency or unit) differs between two snapshots."""

    model_config = ConfigDict(extra="forbid")

    id: str
    before: Price | None
    after: Price | None


class LifecycleChange(BaseModel):
    """An offer whose lifecycle status differs between two snapshots."""

    model_config = ConfigDict(extra="forbid")

    id: str
    before: LifecycleStatus
    after: LifecycleStatus


class SnapshotDiff(BaseModel):
    """What changed from snapshot ``a`` to snapshot ``b``; every list is sorted by offer id."""

    model_config = ConfigDict(extra="forbid")

    a: int
    b: int
    added: list[str] = Field(default_factory=list, description="Ids in b, not in a.")
    removed: list[str] = Field(default_factory=list, description="Ids in a, not in b.")
    price_changes: list[PriceChange] = Field(default_factory=list)
    lifecycle_changes: list[LifecycleChange] = Field(default_factory=list)


def _canonical_amount(amount: Decimal) -> str:
    """One spelling per value (``1.50`` and ``1.5`` agree), for exact comparisons in SQL."""
    return format(amount.normalize(), "f")


def _decimal_le(exact: str | None, bound: str) -> bool:
    """SQL function: ``exact <= bound`` as decimals (for amounts equal as floating point)."""
    if exact is None:
        return False
    try:
        return Decimal(exact) <= Decimal(bound)
    except InvalidOperation:
        return False


def _text_in(search: str | None, needle: str) -> bool:
    """SQL function: ``needle`` within one of the fields joined in ``search``."""
    if search is None:
        return False
    return any(needle in part for part in search.split(SEARCH_SEPARATOR))


def _search_text(offer: Offer) -> str:
    return SEARCH_SEPARATOR.join((offer.id.lower(), offer.name.lower(), (offer.display_name or "").lower()))


def _offer_row(pk: int, snapshot_id: int, offer: Offer) -> tuple[Any, ...]:
    price = offer.price
    flexible = offer.flexible
    return (
        pk, snapshot_id, offer.id, offer.brand, offer.kind.value, offer.region, offer.zone, offer.name,
        _search_text(offer), offer.vcpus, offer.memory_mib,
        offer.gpu.count if offer.gpu is not None else None,
        float(price.amount) if price is not None else None,
        _canonical_amount(price.amount) if price is not None else None,
        price.currency if price is not None else None,
        price.unit if price is not None else None,
        offer.lifecycle.status.value, offer.backend,
        1 if flexible is not None else 0,
        flexible.vcpus_max if flexible is not None else None,
        flexible.memory_mib_max if flexible is not None else None,
        offer.model_dump_json(),
        *_filter_values(offer),
    )


def _filter_values(offer: Offer) -> list[Any]:
    return [FILTERS[name].value(offer) for name in FILTER_COLUMNS.values()]


def _batched(values: Iterable[_T], size: int) -> Iterator[list[_T]]:
    iterator = iter(values)
    while batch := list(itertools.islice(iterator, size)):
        yield batch


def _conditions(q: OfferQuery, *, sized: bool, params: list[Any]) -> list[str]:
    """SQL conditions for the filters of ``q``. With ``sized=False`` the filters that depend on
    an offer's size and price (which flexible offers only get once materialized) are left out."""
    return [FILTERS[name].sql(wanted, params) for name, wanted in q.filters.items()
            if sized or not FILTERS[name].sized]


def _missing_filter_columns(conn: sqlite3.Connection) -> list[str]:
    present = {row[1] for row in conn.execute("PRAGMA table_info(offers)")}
    return [c for c in FILTER_COLUMNS if c not in present] if present else list(FILTER_COLUMNS)


def _upgrade(conn: sqlite3.Connection, version: int) -> None:
    """Create the schema, or bring an older store up to date in one transaction: add the columns
    of filters declared since, filled from the stored offers, and (from version 1) list each
    offer's own zone among its zones."""
    conn.execute("BEGIN IMMEDIATE")
    try:
        for statement in _SCHEMA.split(";"):  # IF NOT EXISTS throughout; executescript would commit
            if statement.strip():
                conn.execute(statement)
        missing = _missing_filter_columns(conn)
        for column in missing:
            conn.execute(f"ALTER TABLE offers ADD COLUMN {column}")
        if missing:
            sets = ", ".join(f"{c} = ?" for c in missing)
            rows = conn.execute("SELECT pk, data FROM offers").fetchall()
            for batch in _batched(rows, _BATCH):
                conn.executemany(f"UPDATE offers SET {sets} WHERE pk = ?", [
                    (*(FILTERS[FILTER_COLUMNS[c]].value(o) for c in missing), pk)
                    for pk, o in ((pk, Offer.model_validate_json(data)) for pk, data in batch)])
        if 0 < version < 2:
            conn.execute("INSERT OR IGNORE INTO offer_zones (offer_pk, zone) "
                         "SELECT pk, zone FROM offers WHERE zone IS NOT NULL")
        conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
        conn.execute("COMMIT")
    except BaseException:
        conn.execute("ROLLBACK")
        raise


class _DuplicateOfferError(Exception):
    def __init__(self, offer_id: str) -> None:
        self.offer_id = offer_id
        super().__init__(offer_id)


def _duplicate(db: sqlite3.Connection, snapshot_id: int, first_pk: int,
               ids: list[str]) -> _DuplicateOfferError | None:
    """The offer id that a failed batch insert repeated, if that is why it failed. Rows of the
    batch before the failing one are in the table, so earlier batches start below ``first_pk``."""
    seen: set[str] = set()
    for offer_id in ids:
        if offer_id in seen:
            return _DuplicateOfferError(offer_id)
        seen.add(offer_id)
    for start in range(0, len(ids), 500):
        chunk = ids[start:start + 500]
        row = db.execute(f"SELECT id FROM offers WHERE snapshot_id = ? AND pk < ? "
                         f"AND id IN ({', '.join('?' * len(chunk))}) LIMIT 1",
                         (snapshot_id, first_pk, *chunk)).fetchone()
        if row is not None:
            return _DuplicateOfferError(row[0])
    return None


class Store:
    """Snapshots of the catalog in a SQLite file (WAL mode, one transaction per snapshot).

    ``location`` is a file path or a ``sqlite:///path`` URL (``sqlite:////abs/path`` for an
    absolute path); missing parent directories are created. The store is meant to be used from
    one thread at a time; a lock guards the connection all the same.
    """

    def __init__(self, location: str | Path) -> None:
        self.path = self._resolve(location)
        self._lock = threading.RLock()
        self._conn: sqlite3.Connection | None = None
        try:
            if str(self.path) != ":memory:":
                self.path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise StoreError(f"cannot create the directory of snapshot store {self.path}: "
                             f"{exc.strerror or exc}") from exc
        try:
            conn = sqlite3.connect(str(self.path), isolation_level=None, check_same_thread=False)
        except sqlite3.Error as exc:
            raise StoreError(f"cannot open snapshot store {self.path}: {exc}") from exc
        try:
            conn.execute("PRAGMA busy_timeout = 5000")
            conn.execute("PRAGMA foreign_keys = ON")
            conn.execute("PRAGMA journal_mode = WAL")
            # WAL with synchronous=NORMAL survives any crash of the process; only a power
            # loss may roll back the last committed snapshot.
            conn.execute("PRAGMA synchronous = NORMAL")
            version = conn.execute("PRAGMA user_version").fetchone()[0]
            if version > SCHEMA_VERSION:
                raise StoreError(f"snapshot store {self.path} has schema version {version}; this "
                                 f"cloudcat reads up to version {SCHEMA_VERSION} (upgrade cloudcat)")
            if version < SCHEMA_VERSION or _missing_filter_columns(conn):
                _upgrade(conn, version)
            conn.execute("SELECT count(*) FROM snapshots").fetchone()
        except StoreError:
            conn.close()
            raise
        except sqlite3.Error as exc:
            conn.close()
            raise StoreError(f"snapshot store {self.path} is unreadable or corrupt: {exc}") from exc
        conn.create_function("cc_decimal_le", 2, _decimal_le, deterministic=True)
        conn.create_function("cc_text_in", 2, _text_in, deterministic=True)
        self._conn = conn

    # -- opening and closing ---------------------------------------------------------------------
    @staticmethod
    def _resolve(location: str | Path) -> Path:
        if isinstance(location, Path):
            return location
        match = _URL_SCHEME.match(location)
        if match is None:
            return Path(location)
        scheme = match.group(1).lower()
        if scheme != "sqlite":
            # Name the scheme only: the rest of a URL may carry credentials.
            raise StoreError(f"store URL scheme {scheme!r} is not supported yet "
                             "(use a file path or sqlite:///path)")
        rest = location[len(match.group(0)):]
        if not rest.startswith("/") or rest == "/":
            raise StoreError("a sqlite store URL needs a path: sqlite:///relative.db or "
                             "sqlite:////absolute/path.db")
        return Path(rest[1:])

    @staticmethod
    def default_path() -> Path:
        """Where the catalog keeps its snapshots unless told otherwise (the user cache dir)."""
        import platformdirs

        return Path(platformdirs.user_cache_dir("cloudcat")) / "catalog.db"

    def close(self) -> None:
        """Close the connection; the store cannot be used afterwards."""
        with self._lock:
            if self._conn is not None:
                self._conn.close()
                self._conn = None

    def __enter__(self) -> Store:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"<Store {str(self.path)!r}>"

    @property
    def _db(self) -> sqlite3.Connection:
        if self._conn is None:
            raise StoreError(f"snapshot store {self.path} is closed")
        return self._conn

    def _error(self, action: str, exc: sqlite3.Error) -> StoreError:
        return StoreError(f"snapshot store {self.path}: cannot {action}: {exc}")

    def _fetch(self, action: str, sql: str, params: Sequence[Any] = ()) -> list[Any]:
        with self._lock:
            try:
                return self._db.execute(sql, params).fetchall()
            except sqlite3.Error as exc:
                raise self._error(action, exc) from exc

    def _stream(self, action: str, sql: str, params: Sequence[Any],
                build: Callable[[Any], _T]) -> Iterator[_T]:
        """Rows of ``sql`` built one by one, read in small batches (the lock is held per batch)."""
        with self._lock:
            try:
                cursor = self._db.execute(sql, params)
            except sqlite3.Error as exc:
                raise self._error(action, exc) from exc
        try:
            while True:
                with self._lock:
                    try:
                        rows = cursor.fetchmany(256)
                    except sqlite3.Error as exc:
                        raise self._error(action, exc) from exc
                if not rows:
                    return
                for row in rows:
                    yield build(row)
        finally:
            with self._lock:
                if self._conn is not None:
                    cursor.close()

    # -- writing -----------------------------------------------------------------------------------
    def write_snapshot(self, *, items: Iterable[StoredItem], offers: Iterable[Offer],
                       statuses: Sequence[BackendStatus], config_hash: str | None) -> SnapshotInfo:
        """Store one refresh: items, offers and backend outcomes, in one transaction.

        Either all of it becomes the latest snapshot, or (on any error, or if the process dies)
        none of it is visible. Two offers with one id are an error.
        """
        created_at = dt.datetime.now(dt.UTC)
        with self._lock:
            db = self._db
            try:
                db.execute("BEGIN IMMEDIATE")
            except sqlite3.Error as exc:
                raise self._error("start writing a snapshot", exc) from exc
            try:
                sid = self._write(db, created_at, items, offers, statuses, config_hash)
                db.execute("COMMIT")
            except BaseException as exc:
                with contextlib.suppress(sqlite3.Error):
                    db.execute("ROLLBACK")
                if isinstance(exc, _DuplicateOfferError):
                    raise StoreError(f"snapshot store {self.path}: two offers have the id {exc.offer_id!r} "
                                     "in the snapshot being written") from exc.__cause__
                if isinstance(exc, sqlite3.Error):
                    raise self._error("write a snapshot", exc) from exc
                raise
            try:
                db.execute("PRAGMA analysis_limit = 1000")
                db.execute("PRAGMA optimize")
            except sqlite3.Error:
                pass  # statistics only help the query planner; the snapshot is committed
        return self.snapshot(sid)

    @staticmethod
    def _write(db: sqlite3.Connection, created_at: dt.datetime, items: Iterable[StoredItem],
               offers: Iterable[Offer], statuses: Sequence[BackendStatus], config_hash: str | None) -> int:
        cursor = db.execute("INSERT INTO snapshots (created_at, offers, config_hash) VALUES (?, 0, ?)",
                            (created_at.isoformat(), config_hash))
        sid = cursor.lastrowid
        assert sid is not None
        db.executemany("INSERT INTO backend_status (snapshot_id, position, data) VALUES (?, ?, ?)",
                       [(sid, i, s.model_dump_json()) for i, s in enumerate(statuses)])
        db.executemany(
            "INSERT INTO items (snapshot_id, backend, driver, read_at, data) VALUES (?, ?, ?, ?, ?)",
            ((sid, s.backend, s.driver, s.read_at.isoformat(), s.item.model_dump_json()) for s in items))
        # The write lock is held (BEGIN IMMEDIATE), so primary keys can be handed out here,
        # which lets labels and zones refer to their offer without a round trip per row.
        next_pk = (db.execute("SELECT max(pk) FROM offers").fetchone()[0] or 0) + 1
        count = 0
        insert = (f"INSERT INTO offers ({', '.join(OFFER_COLUMNS)}) "
                  f"VALUES ({', '.join('?' * len(OFFER_COLUMNS))})")
        for batch in _batched(offers, _BATCH):
            rows: list[tuple[Any, ...]] = []
            labels: list[tuple[int, str]] = []
            zones: list[tuple[int, str]] = []
            for offer in batch:
                pk = next_pk + count
                count += 1
                rows.append(_offer_row(pk, sid, offer))
                labels.extend((pk, label) for label in offer.labels)
                zones.extend((pk, zone) for zone in offer_zones(offer))
            try:
                db.executemany(insert, rows)
            except sqlite3.IntegrityError as exc:
                raise _duplicate(db, sid, rows[0][0], [row[2] for row in rows]) or exc from exc
            db.executemany("INSERT INTO offer_labels (offer_pk, label) VALUES (?, ?)", labels)
            db.executemany("INSERT INTO offer_zones (offer_pk, zone) VALUES (?, ?)", zones)
        db.execute("UPDATE snapshots SET offers = ? WHERE id = ?", (count, sid))
        return sid

    # -- snapshots ---------------------------------------------------------------------------------
    def _info(self, row: Any) -> SnapshotInfo:
        sid, created_at, offers, config_hash = row
        statuses = self._fetch("read backend statuses",
                               "SELECT data FROM backend_status WHERE snapshot_id = ? ORDER BY position",
                               (sid,))
        return SnapshotInfo(id=sid, created_at=dt.datetime.fromisoformat(created_at), offers=offers,
                            config_hash=config_hash,
                            backends=[BackendStatus.model_validate_json(r[0]) for r in statuses])

    def latest(self) -> SnapshotInfo | None:
        """The most recent snapshot, or ``None`` when the store is empty."""
        rows = self._fetch("read snapshots", "SELECT id, created_at, offers, config_hash FROM snapshots "
                           "ORDER BY id DESC LIMIT 1")
        return self._info(rows[0]) if rows else None

    def snapshot(self, snapshot_id: int) -> SnapshotInfo:
        """One snapshot; :class:`StoreError` when there is none with that id."""
        rows = self._fetch("read snapshots", "SELECT id, created_at, offers, config_hash FROM snapshots "
                           "WHERE id = ?", (snapshot_id,))
        if not rows:
            raise StoreError(f"snapshot store {self.path} has no snapshot {snapshot_id}")
        return self._info(rows[0])

    def snapshots(self) -> list[SnapshotInfo]:
        """Every snapshot, oldest first."""
        rows = self._fetch("read snapshots", "SELECT id, created_at, offers, config_hash FROM snapshots "
                           "ORDER BY id")
        return [self._info(r) for r in rows]

    def _snapshot_id(self, snapshot: int | None) -> int | None:
        """``snapshot`` checked to exist, or the latest id (``None`` when the store is empty)."""
        if snapshot is None:
            rows = self._fetch("read snapshots", "SELECT max(id) FROM snapshots")
            latest: int | None = rows[0][0]
            return latest
        if not self._fetch("read snapshots", "SELECT 1 FROM snapshots WHERE id = ?", (snapshot,)):
            raise StoreError(f"snapshot store {self.path} has no snapshot {snapshot}")
        return snapshot

    # -- reading -----------------------------------------------------------------------------------
    def _offer(self, row: Any) -> Offer:
        try:
            return Offer.model_validate_json(row[0])
        except ValidationError as exc:
            raise StoreError(f"snapshot store {self.path}: stored offer cannot be read: {exc}") from exc

    def get(self, offer_id: str, snapshot: int | None = None) -> Offer | None:
        """The offer with that exact id in a snapshot (the latest by default), or ``None``."""
        sid = self._snapshot_id(snapshot)
        if sid is None:
            return None
        rows = self._fetch("read an offer", "SELECT data FROM offers WHERE snapshot_id = ? AND id = ?",
                           (sid, offer_id))
        return self._offer(rows[0]) if rows else None

    def query(self, q: OfferQuery, snapshot: int | None = None) -> Iterator[Offer]:
        """Offers of a snapshot (the latest by default) matching ``q``, sorted, offset and limited.

        Results stream: models are built as the caller iterates. Flexible offers are sized to
        the query (see :func:`cloudcat.query.materialize`) and merged into the order.
        """
        sid = self._snapshot_id(snapshot)
        if sid is None or any(FILTERS[name].admits_nothing(v) for name, v in q.filters.items()):
            return iter(())
        order = _ORDER_BY[q.sort]
        if not q.sizes_flexible:
            return self._select(q, sid, sized=True, flexible=None, order=order, limit=q.limit,
                                offset=q.offset)
        flexible = self._flexible(q, sid)
        if not flexible:
            return self._select(q, sid, sized=True, flexible=False, order=order, limit=q.limit,
                                offset=q.offset)
        fixed = self._select(q, sid, sized=True, flexible=False, order=order,
                             limit=None if q.limit is None else q.offset + q.limit, offset=0)
        merged = heapq.merge(fixed, flexible, key=lambda o: sort_key(o, q.sort))
        stop = None if q.limit is None else q.offset + q.limit
        return itertools.islice(merged, q.offset, stop)

    def _select(self, q: OfferQuery, sid: int, *, sized: bool, flexible: bool | None, order: str | None,
                limit: int | None, offset: int) -> Iterator[Offer]:
        params: list[Any] = [sid]
        where = ["o.snapshot_id = ?"]
        if flexible is not None:
            where.append("o.flexible = 1" if flexible else "o.flexible = 0")
        where += _conditions(q, sized=sized, params=params)
        # Flexible offers are few: their partial index beats any other the planner might prefer.
        hint = " INDEXED BY offers_flexible" if flexible else ""
        sql = f"SELECT o.data FROM offers o{hint} WHERE {' AND '.join(where)}"
        if order:
            sql += f" ORDER BY {order}"
        if limit is not None or offset:
            sql += " LIMIT ? OFFSET ?"
            params += [-1 if limit is None else limit, offset]
        return self._stream("query offers", sql, params, self._offer)

    def _flexible(self, q: OfferQuery, sid: int) -> list[Offer]:
        """Flexible offers able to fit ``q``, materialized, filtered and sorted in Python."""
        candidates = self._select(q, sid, sized=False, flexible=True, order=None, limit=None, offset=0)
        sized = [s for s in (select(o, q) for o in candidates) if s is not None]
        sized.sort(key=lambda o: sort_key(o, q.sort))
        return sized

    def items(self, snapshot: int, backend: str | None = None) -> Iterator[StoredItem]:
        """The items stored with a snapshot (optionally one backend's), in the order written."""
        sid = self._snapshot_id(snapshot)
        sql = "SELECT backend, driver, read_at, data FROM items WHERE snapshot_id = ?"
        params: list[Any] = [sid]
        if backend is not None:
            sql += " AND backend = ?"
            params.append(backend)
        sql += " ORDER BY pk"

        def build(row: Any) -> StoredItem:
            try:
                item = Item.model_validate_json(row[3])
            except ValidationError as exc:
                raise StoreError(f"snapshot store {self.path}: stored item cannot be read: {exc}") from exc
            return StoredItem(backend=row[0], driver=row[1], read_at=dt.datetime.fromisoformat(row[2]),
                              item=item)

        return self._stream("read items", sql, params, build)

    # -- history -----------------------------------------------------------------------------------
    def diff(self, a: int, b: int) -> SnapshotDiff:
        """What changed from snapshot ``a`` to snapshot ``b``: offers added and removed, prices
        (amount, currency or unit) and lifecycle statuses changed."""
        self.snapshot(a)
        self.snapshot(b)
        added = self._fetch(
            "compare snapshots",
            "SELECT nb.id FROM offers nb WHERE nb.snapshot_id = ? AND NOT EXISTS "
            "(SELECT 1 FROM offers na WHERE na.snapshot_id = ? AND na.id = nb.id) ORDER BY nb.id", (b, a))
        removed = self._fetch(
            "compare snapshots",
            "SELECT na.id FROM offers na WHERE na.snapshot_id = ? AND NOT EXISTS "
            "(SELECT 1 FROM offers nb WHERE nb.snapshot_id = ? AND nb.id = na.id) ORDER BY na.id", (a, b))
        prices = self._fetch(
            "compare snapshots",
            "SELECT na.id, json_extract(na.data, '$.price'), json_extract(nb.data, '$.price') "
            "FROM offers na JOIN offers nb ON nb.snapshot_id = ? AND nb.id = na.id "
            "WHERE na.snapshot_id = ? AND (na.price_exact IS NOT nb.price_exact "
            "OR na.price_currency IS NOT nb.price_currency OR na.price_unit IS NOT nb.price_unit) "
            "ORDER BY na.id", (b, a))
        lifecycles = self._fetch(
            "compare snapshots",
            "SELECT na.id, na.lifecycle_status, nb.lifecycle_status "
            "FROM offers na JOIN offers nb ON nb.snapshot_id = ? AND nb.id = na.id "
            "WHERE na.snapshot_id = ? AND na.lifecycle_status IS NOT nb.lifecycle_status "
            "ORDER BY na.id", (b, a))

        def price(text: str | None) -> Price | None:
            return None if text is None else Price.model_validate(json.loads(text))

        return SnapshotDiff(
            a=a, b=b,
            added=[r[0] for r in added],
            removed=[r[0] for r in removed],
            price_changes=[PriceChange(id=r[0], before=price(r[1]), after=price(r[2])) for r in prices],
            lifecycle_changes=[LifecycleChange(id=r[0], before=LifecycleStatus(r[1]),
                                               after=LifecycleStatus(r[2])) for r in lifecycles],
        )
