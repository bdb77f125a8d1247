"""The embedded snapshot store: SQLite (WAL, one transaction per snapshot).

Each refresh becomes a snapshot. Offers and items are kept as versions (see
:mod:`cloudcat.store.history`): a snapshot adds rows only for what changed, closes the versions
that no longer hold, and a changed version stores a merge patch against its first full version.
Reading a snapshot selects the versions holding in it (``since <= id < until``); the latest
snapshot is the versions still open (``until = OPEN``), read through the same indexes as before.

Readers never wait for a writer (WAL); a writer holds the write lock for the time of one
snapshot's transaction, and refreshes serialize on the refresh lock (:meth:`Store.lock_refresh`).

::

    with Store(Store.default_path()) as store:
        info = store.write_snapshot(items=items, offers=offers, statuses=statuses, config_hash=None)
        cheapest = list(store.query(OfferQuery(kinds=["compute"], sort="price", limit=10)))
"""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import heapq
import itertools
import json
import os
import re
import sqlite3
import threading
from collections.abc import Callable, Iterable, Iterator, Sequence
from pathlib import Path
from types import TracebackType
from typing import Any, TypeVar

from pydantic import ValidationError

from ..errors import StoreError
from ..filters import FILTERS
from ..models import BackendStatus, Item, Offer, SnapshotInfo
from ..query import OfferQuery, select, sort_key
from . import lock as _lock
from .dialect import SQLITE, Dialect, int_array
from .history import OPEN, SnapshotDiff, apply_patch, build_diff, merge_patch, retained, same_json
from .schema import (
    FILTER_COLUMNS,
    OFFER_COLUMNS,
    batched,
    decimal_le,
    offer_values,
    price_key,
    search_text,
    split_read_at,
    text_in,
)

__all__ = ["Store", "StoredItem"]

_T = TypeVar("_T")

#: Schema version kept in ``PRAGMA user_version``. Version 3 keeps offers and items as versions
#: (history as changes); older stores are rewritten into it when opened. Version 5 keeps only
#: open versions in the current view's indexes (:data:`_PARTIAL_SINCE_5`, made again on upgrade).
#: Version 6 keeps an offer's labels and zones in columns of its row (:func:`~cloudcat.filters.list_text`)
#: rather than in side tables of a row per value, which every changed version copied. Version 7
#: writes U+001E and U+001F within a field of the ``search`` column as escapes
#: (:func:`~cloudcat.filters.search_join`), where a U+001F read as two fields.
SCHEMA_VERSION = 7

#: Side tables of a row per label and per zone, before schema 6.
_SIDE_TABLES_BEFORE_6 = ("offer_labels", "offer_zones")

#: Indexes that hold every version before schema 5 and only the open ones since.
_PARTIAL_SINCE_5 = ("items_by_backend", "offers_by_region_price", "offers_by_kind_price", "offers_by_brand",
                    "offers_by_id", "offers_flexible")

_SCHEMA = f"""
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
-- When each backend was read, per snapshot: versions that were merely read again do not change.
CREATE TABLE IF NOT EXISTS reads (
    snapshot_id INTEGER NOT NULL REFERENCES snapshots(id) ON DELETE CASCADE,
    what        TEXT NOT NULL,
    backend     TEXT NOT NULL,
    read_at     TEXT NOT NULL,
    PRIMARY KEY (snapshot_id, what, backend)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS items (
    pk          INTEGER PRIMARY KEY,
    since       INTEGER NOT NULL,
    until       INTEGER NOT NULL,
    key         TEXT NOT NULL,
    digest      BLOB NOT NULL,
    base_pk     INTEGER,
    data        TEXT NOT NULL,
    read_at     TEXT,
    backend     TEXT NOT NULL,
    driver      TEXT NOT NULL,
    UNIQUE (key, until)
);
CREATE INDEX IF NOT EXISTS items_by_backend ON items (until, backend) WHERE until = {OPEN};
CREATE INDEX IF NOT EXISTS items_by_since ON items (since);
CREATE TABLE IF NOT EXISTS offers (
    pk                  INTEGER PRIMARY KEY,
    since               INTEGER NOT NULL,
    until               INTEGER NOT NULL,
    id                  TEXT NOT NULL,
    digest              BLOB NOT NULL,
    base_pk             INTEGER,
    data                TEXT NOT NULL,
    read_at             TEXT,
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
    {", ".join(f"{c} " for c in FILTER_COLUMNS)}{"," if FILTER_COLUMNS else ""}
    UNIQUE (id, until)
);
-- The current view (until = OPEN): cheapest-first listings read these indexes in order and stop
-- at the limit: sizes ride along so that rows too small are skipped without reading the table.
-- They hold the open versions only (a closed one leaves them), so history does not grow them.
CREATE INDEX IF NOT EXISTS offers_by_region_price ON offers (
    until, kind, region, price_amount IS NULL, price_amount, id, vcpus, memory_mib, flexible, brand)
    WHERE until = {OPEN};
CREATE INDEX IF NOT EXISTS offers_by_kind_price ON offers (
    until, kind, price_amount IS NULL, price_amount, id, vcpus, memory_mib, region, flexible, brand)
    WHERE until = {OPEN};
CREATE INDEX IF NOT EXISTS offers_by_brand ON offers (until, brand, kind, region) WHERE until = {OPEN};
-- Whole listings in id order (the default) stream from this index: no sort before the first row.
CREATE INDEX IF NOT EXISTS offers_by_id ON offers (until, id) WHERE until = {OPEN};
CREATE INDEX IF NOT EXISTS offers_flexible ON offers (until, kind, region) WHERE flexible = 1 AND until = {OPEN};
-- Versions closed, by the snapshot that closed them (what a diff reads).
CREATE INDEX IF NOT EXISTS offers_closed ON offers (until, since) WHERE until < {OPEN};
-- Reads "as of" an older snapshot: the same order, with the version's range to check.
CREATE INDEX IF NOT EXISTS offers_history ON offers (
    kind, region, price_amount IS NULL, price_amount, id, vcpus, memory_mib, flexible, brand, since, until);
CREATE INDEX IF NOT EXISTS offers_flexible_history ON offers (kind, region, since, until) WHERE flexible = 1;
CREATE INDEX IF NOT EXISTS offers_by_since ON offers (since);
"""

_ORDER_BY: dict[str, str] = {
    "id": "o.id",
    "name": "o.name, o.id",
    # amounts equal as floating point are ordered by their exact value (the index gives the
    # order of the first terms; only runs of equal ones are sorted)
    "price": "o.price_amount IS NULL, o.price_amount, cc_price_key(o.price_exact), o.id",
    "-price": "o.price_amount IS NULL, o.price_amount DESC, cc_price_key(o.price_exact) DESC, o.id",
    "vcpus": "o.vcpus IS NULL, o.vcpus, o.id",
    "-vcpus": "o.vcpus IS NULL, o.vcpus DESC, o.id",
    "memory_mib": "o.memory_mib IS NULL, o.memory_mib, o.id",
    "-memory_mib": "o.memory_mib IS NULL, o.memory_mib DESC, o.id",
}

_URL_SCHEME = re.compile(r"^([A-Za-z][A-Za-z0-9+.\-]*)://")
#: Open versions of these tables closed by a snapshot (the rows it did not see again).
_SEEN_TABLES = ("offers", "items")


class StoredItem:
    """One item as a driver read it, with where and when: what a snapshot keeps besides offers.

    Made from a model (``StoredItem(backend=…, driver=…, read_at=…, item=…)``) or from the
    item's JSON as :meth:`Item.model_dump_json` wrote it (:meth:`from_json`, for items read back
    from a file or a store): then the model is built only if asked for, and the store writes that
    JSON as it is. The JSON a model gives leaves out fields that are null (``exclude_none``),
    as every stored item and offer does.
    """

    __slots__ = ("_item", "_json", "backend", "driver", "read_at")

    backend: str
    driver: str
    read_at: dt.datetime

    def __init__(self, backend: str, driver: str, read_at: dt.datetime, item: Item) -> None:
        self.backend = backend
        self.driver = driver
        self.read_at = read_at
        self._item: Item | None = item
        self._json: str | None = None

    @classmethod
    def from_json(cls, backend: str, driver: str, read_at: dt.datetime, data: str) -> StoredItem:
        """An item kept as the JSON :meth:`Item.model_dump_json` gave (not checked again here)."""
        stored = cls.__new__(cls)
        stored.backend, stored.driver, stored.read_at = backend, driver, read_at
        stored._item, stored._json = None, data
        return stored

    @property
    def item(self) -> Item:
        """The item (built from its JSON on first use)."""
        if self._item is None:
            assert self._json is not None
            self._item = Item.model_validate_json(self._json)
        return self._item

    def json(self) -> str:
        """The item's JSON, as :meth:`Item.model_dump_json` gives it without null fields."""
        if self._json is None:
            assert self._item is not None
            self._json = self._item.model_dump_json(exclude_none=True)
        return self._json

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, StoredItem):
            return NotImplemented
        return (self.backend, self.driver, self.read_at, self.item) == (
            other.backend, other.driver, other.read_at, other.item)

    __hash__ = None  # type: ignore[assignment]  # equal items may be built differently

    def __repr__(self) -> str:
        return (f"StoredItem(backend={self.backend!r}, driver={self.driver!r}, read_at={self.read_at!r}, "
                f"item={self.item!r})")


class _DuplicateOfferError(Exception):
    def __init__(self, offer_id: str) -> None:
        self.offer_id = offer_id
        super().__init__(offer_id)


def _conditions(q: OfferQuery, *, sized: bool, params: list[Any]) -> list[str]:
    """SQL conditions for the filters of ``q``. With ``sized=False`` the filters that depend on
    an offer's size and price (which flexible offers only get once materialized) are left out."""
    conditions = [FILTERS[name].sql(wanted, params) for name, wanted in q.filters.items()
                  if sized or not FILTERS[name].sized]
    # a filter that admits every offer (or none) says so as SQLite's 1 (or 0): spelled here so
    # that every backend reads it as a truth value
    return [_TRUTH.get(c, c) for c in conditions]


_TRUTH = {"1": "(1 = 1)", "0": "(1 = 0)"}


def _holds(d: Dialect, alias: str, sid: int, latest: bool) -> str:
    """SQL: the versions of ``alias`` holding in snapshot ``sid``. The latest snapshot is the
    open versions (one equality, read through the current-view indexes); an older one is a range
    checked on the history index (``+`` keeps the planner off the current-view indexes)."""
    if latest:
        return f"{alias}.until = {OPEN}"
    return f"{alias}.since <= {int(sid)} AND {d.no_index}{alias}.until > {int(sid)}"


def _json(d: Dialect, table: str, alias: str) -> str:
    """SQL: the full JSON of a version of ``table`` (a patched one merged onto its base)."""
    base = f"(SELECT b.data FROM {table} b WHERE b.pk = {alias}.base_pk)"
    return f"CASE WHEN {alias}.base_pk IS NULL THEN {alias}.data ELSE {d.patch(base, alias + '.data')} END"


def _read_at(what: str, alias: str, sid: int) -> str:
    return (f"coalesce({alias}.read_at, (SELECT r.read_at FROM reads r WHERE r.snapshot_id = {int(sid)} "
            f"AND r.what = '{what}' AND r.backend = {alias}.backend))")


def _offer_json(d: Dialect, alias: str, sid: int) -> str:
    """SQL: an offer's JSON as it was in snapshot ``sid`` (its ``read_at`` put back); where the
    backend merges patches slower than Python, its parts: the version's data, its base's data
    and the ``read_at`` (see :func:`_document`)."""
    if not d.patch_in_sql:
        return f"{_parts('offers', alias)}, {_read_at('offer', alias, sid)}"
    return d.with_read_at(_json(d, "offers", alias), _read_at("offer", alias, sid))


def _parts(table: str, alias: str) -> str:
    """SQL: a version's data and its base's (NULL when it is whole)."""
    return f"{alias}.data, (SELECT b.data FROM {table} b WHERE b.pk = {alias}.base_pk)"


def _document(data: str, base: str | None) -> dict[str, Any]:
    """A version's JSON document from its data and its base's."""
    value: dict[str, Any] = json.loads(data) if base is None else apply_patch(json.loads(base), json.loads(data))
    return value


class Store:
    """Snapshots of the catalog in a SQLite file (WAL mode, one transaction per snapshot).

    ``location`` is a file path, ``:memory:``, or a ``sqlite:///path`` URL (``sqlite:////abs/path``
    for an absolute path); missing parent directories are created. The store is meant to be used
    from one thread at a time; a lock guards the connection all the same.
    """

    def __new__(cls, location: str | Path) -> Store:
        # a server URL opens the server store (imported, with its client library, only then)
        match = _URL_SCHEME.match(location) if isinstance(location, str) else None
        if cls is Store and match is not None and match.group(1).lower() in ("postgresql", "postgres"):
            from .postgres import PostgresStore

            return super().__new__(PostgresStore)
        return super().__new__(cls)

    def __init__(self, location: str | Path) -> None:
        self.path = self._resolve(location)
        #: The store as named in messages (a server URL without its password).
        self.location = str(self.path)
        self._d = SQLITE
        self._db_errors: tuple[type[Exception], ...] = (sqlite3.Error,)
        self._lock = threading.RLock()
        self._refresh_lock = threading.Lock()
        self._refresh_holder: list[str] = []
        self._conn: Any = None
        # a file not there yet is made by the first write only: until then the store reads as
        # empty (from memory) and a read leaves no file or folder behind
        self._absent = not self._in_memory and _no_store_yet(self.path)
        if self._absent:
            self._check_creatable()
        self._conn = self._open(":memory:" if self._absent else str(self.path))

    def _check_creatable(self) -> None:
        """Refuse at once a path whose nearest existing parent is not a folder (a file)."""
        parent = self.path.parent
        while not parent.exists() and parent != parent.parent:
            parent = parent.parent
        if not parent.is_dir():
            raise StoreError(f"cannot create the directory of snapshot store {self.location}: "
                             f"{parent} is not a directory")

    def _open(self, target: str) -> sqlite3.Connection:
        try:
            conn = sqlite3.connect(target, isolation_level=None, check_same_thread=False)
        except sqlite3.Error as exc:
            raise StoreError(f"cannot open snapshot store {self.location}: {exc}") from exc
        try:
            self._prepare(conn)
        except StoreError:
            conn.close()
            raise
        except sqlite3.Error as exc:
            conn.close()
            if target != ":memory:" and (_read_only_error(exc) or _cannot_open(exc)):
                return self._open_read_only()
            raise StoreError(f"snapshot store {self.location} is unreadable or corrupt: {exc}") from exc
        # a file this process may not write, in a folder it may (SQLite then reads it read-only)
        self._read_only = target != ":memory:" and not os.access(target, os.W_OK)
        return conn

    def _open_read_only(self) -> sqlite3.Connection:
        """Open a store this process may not write (a read-only file system or folder). While a
        writer has it open, SQLite reads it read-only as usual; otherwise it cannot make the
        files a WAL reader needs there, and the store is read as a file that does not change,
        when its write-ahead log holds nothing more (else that would not be read)."""
        base = self.path.resolve().as_uri()
        try:
            return self._read_only_connection(f"{base}?mode=ro")
        except sqlite3.Error as exc:  # (a log and no index of it: cannot open)
            if not _read_only_error(exc) and not _cannot_open(exc):
                raise StoreError(f"snapshot store {self.location} is unreadable or corrupt: {exc}") from exc
        wal = Path(f"{self.path}-wal")
        if wal.exists() and wal.stat().st_size > 0:
            raise StoreError(f"snapshot store {self.location} is read-only here and its write-ahead log "
                             f"({wal.name}) holds changes not yet in the file: open it once where it can be "
                             "written, or copy the store with its log")
        try:
            return self._read_only_connection(f"{base}?mode=ro&immutable=1")
        except sqlite3.Error as exc:
            raise StoreError(f"snapshot store {self.location} is unreadable or corrupt: {exc}") from exc

    def _read_only_connection(self, uri: str) -> sqlite3.Connection:
        conn = sqlite3.connect(uri, uri=True, isolation_level=None, check_same_thread=False)
        try:
            self._prepare(conn, writable=False)
        except BaseException:
            conn.close()
            raise
        self._read_only = True
        return conn

    @property
    def read_only(self) -> bool:
        """Whether this process may only read the store: a SQLite file in a folder or file
        system it may not write (read as it is; every write raises :class:`StoreError`)."""
        return self._read_only

    def _check_writable(self, action: str) -> None:
        if self._read_only:
            raise StoreError(f"snapshot store {self.location} is read-only here: cannot {action}")

    def _for_writing(self) -> None:
        """Make the store's file (and its folder) when it is not there yet: a write begins."""
        self._check_writable("write")
        with self._lock:
            if not self._absent or self._conn is None:
                return
            try:
                self.path.parent.mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                raise StoreError(f"cannot create the directory of snapshot store {self.location}: "
                                 f"{exc.strerror or exc}") from exc
            self._swap()

    def _swap(self) -> None:
        conn = self._open(str(self.path))
        self._conn.close()
        self._conn, self._absent = conn, False

    @property
    def _in_memory(self) -> bool:
        return str(self.path) == ":memory:"

    def _prepare(self, conn: sqlite3.Connection, *, writable: bool = True) -> None:
        conn.execute("PRAGMA busy_timeout = 30000")
        conn.execute("PRAGMA foreign_keys = ON")
        self._refuse_foreign(conn)  # before anything is written to it
        if writable:
            conn.execute("PRAGMA journal_mode = WAL")
            # WAL with synchronous=NORMAL survives any crash of the process; only a power
            # loss may roll back the last committed snapshot.
            conn.execute("PRAGMA synchronous = NORMAL")
        # the temporary tables of a write are small and stay in memory
        conn.execute("PRAGMA temp_store = MEMORY")
        conn.create_function("cc_decimal_le", 2, decimal_le, deterministic=True)
        conn.create_function("cc_text_in", 2, text_in, deterministic=True)
        conn.create_function("cc_price_key", 1, price_key, deterministic=True)
        version = conn.execute("PRAGMA user_version").fetchone()[0]
        if version > SCHEMA_VERSION:
            raise StoreError(f"snapshot store {self.location} has schema version {version}; this "
                             f"cloudcat reads up to version {SCHEMA_VERSION} (upgrade cloudcat)")
        if version < SCHEMA_VERSION or _missing_filter_columns(conn):
            if not writable:
                raise StoreError(f"snapshot store {self.location} is read-only here and has schema version "
                                 f"{version}; this cloudcat reads version {SCHEMA_VERSION} (open it once where it "
                                 "can be written, which brings it up to date)")
            _upgrade(conn, version)
        conn.execute("SELECT count(*) FROM snapshots").fetchone()

    def _refuse_foreign(self, conn: sqlite3.Connection) -> None:
        """A SQLite database of something else (an application's) is no snapshot store: reading
        it must not make cloudcat's tables in it, nor turn on its write-ahead log."""
        if conn.execute("PRAGMA user_version").fetchone()[0] != 0:
            return
        tables = [r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table' "
                                             "AND name NOT LIKE 'sqlite_%' ORDER BY name")]
        if tables and not {"snapshots", "offers"} <= set(tables):
            shown = ", ".join(tables[:5]) + (", …" if len(tables) > 5 else "")
            raise StoreError(f"snapshot store {self.location} is not a cloudcat store: it is a SQLite "
                             f"database holding other tables ({shown}); give another file")

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
            raise StoreError(f"store URL scheme {scheme!r} is not supported "
                             "(use a file path, sqlite:///path or postgresql://…)")
        rest = location[len(match.group(0)):]
        if not rest.startswith("/") or rest == "/":
            raise StoreError("a sqlite store URL needs a path: sqlite:///relative.db or "
                             "sqlite:////absolute/path.db")
        return Path(rest[1:])

    @staticmethod
    def default_path(config: str | Path | None = None) -> Path:
        """Where snapshots are kept unless told otherwise: in the user data folder, one store
        per configuration file (so that two projects never read each other's snapshots), or
        ``catalog.db`` there when there is no configuration file."""
        import platformdirs

        base = Path(platformdirs.user_data_dir("cloudcat"))
        if config is None:
            return base / "catalog.db"
        resolved = Path(config).expanduser().resolve()
        key = hashlib.sha256(str(resolved).encode()).hexdigest()[:12]
        stem = re.sub(r"[^A-Za-z0-9_.-]+", "-", resolved.parent.name or "root")
        return base / "stores" / f"{stem}-{key}.db"

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
        return f"<{type(self).__name__} {self.location!r}>"

    #: the file (or a server's tables) is not there yet (see :meth:`_for_writing`)
    _absent = False
    #: the file may only be read here (see :meth:`_open_read_only`)
    _read_only = False

    @property
    def _db(self) -> Any:
        if self._conn is None:
            raise StoreError(f"snapshot store {self.location} is closed")
        if self._absent and not _no_store_yet(self.path):  # another process made it meanwhile: read that
            with self._lock:
                if self._absent:
                    self._swap()
        return self._conn

    def _error(self, action: str, exc: Exception) -> StoreError:
        return StoreError(f"snapshot store {self.location}: cannot {action}: {exc}")

    def _fetch(self, action: str, sql: str, params: Sequence[Any] = ()) -> list[Any]:
        with self._lock:
            try:
                rows: list[Any] = self._db.execute(sql, params).fetchall()
                return rows
            except self._db_errors as exc:
                raise self._error(action, exc) from exc

    def _stream(self, action: str, sql: str, params: Sequence[Any], build: Callable[[Any], _T],
                as_history: _Statement | None = None, sid: int | None = None) -> Iterator[_T]:
        """Rows of ``sql`` built one by one, read in small batches (the lock is held per batch).

        ``sql`` reading snapshot ``sid`` as the latest (its open versions), ``as_history`` is the
        statement reading it as an older one: run instead when a snapshot was stored meanwhile."""
        with self._lock:
            try:
                cursor = self._db.execute(sql, params)
                if as_history is not None and sid is not None and not self._still_latest(sid):
                    cursor.close()
                    cursor = self._db.execute(*as_history())
            except self._db_errors as exc:
                raise self._error(action, exc) from exc
        try:
            while True:
                with self._lock:
                    try:
                        rows = cursor.fetchmany(256)
                    except self._db_errors as exc:
                        raise self._error(action, exc) from exc
                if not rows:
                    return
                for row in rows:
                    yield build(row)
        finally:
            with self._lock:
                if self._conn is not None:
                    cursor.close()

    def size_bytes(self) -> int:
        """Bytes the store's database takes (pages in use, the WAL excluded)."""
        rows = self._fetch("measure the store", "SELECT (SELECT page_count FROM pragma_page_count) - "
                           "(SELECT freelist_count FROM pragma_freelist_count)")
        page = self._fetch("measure the store", "PRAGMA page_size")
        return int(rows[0][0]) * int(page[0][0])

    # -- the refresh lock --------------------------------------------------------------------------
    def lock_refresh(self, *, wait: bool = True, timeout: float | None = None
                     ) -> contextlib.AbstractContextManager[None]:
        """Hold the store's refresh lock for the block: one refresh at a time, on every process
        and machine sharing the store. A second caller waits (up to ``timeout`` seconds, forever
        by default) or, with ``wait=False``, fails at once with
        :class:`~cloudcat.store.RefreshLockedError`: "another refresh is running since …".
        Readers never wait for it."""
        self._for_writing()
        if self._in_memory:
            return _lock.thread_lock(self._refresh_lock, self._refresh_holder, wait=wait, timeout=timeout,
                                     store=str(self.path))
        return _lock.file_lock(Path(f"{self.path}.refresh-lock"), wait=wait, timeout=timeout,
                               store=str(self.path))

    # -- writing -----------------------------------------------------------------------------------
    def write_snapshot(self, *, items: Iterable[StoredItem], offers: Iterable[Offer],
                       statuses: Sequence[BackendStatus], config_hash: str | None) -> SnapshotInfo:
        """Store one refresh: items, offers and backend outcomes, in one transaction.

        Either all of it becomes the latest snapshot, or (on any error, or if the process dies)
        none of it is visible. Two offers with one id are an error. Offers and items equal to
        the previous snapshot's are not copied: the snapshot stores what changed.
        """
        created_at = dt.datetime.now(dt.UTC)
        self._for_writing()
        with self._lock, self._write_cache():
            sid = self._transaction("write a snapshot", lambda db: _Writer(db, self._d).write(
                created_at, items, offers, statuses, config_hash))
            self._after_write()
        return self.snapshot(sid)

    #: KiB of page cache while a snapshot is written.
    _write_cache_kib = 262144

    @contextlib.contextmanager
    def _write_cache(self) -> Iterator[None]:
        """A snapshot's write touches every index of a large table: while it runs, a page cache
        that holds them (up to 256 MB, taken only as pages are read) keeps it from reading them
        again. Readers keep SQLite's default (2 MB), so a whole listing stays small in memory."""
        self._db.execute(f"PRAGMA cache_size = -{int(self._write_cache_kib)}")
        try:
            yield
        finally:
            with contextlib.suppress(sqlite3.Error):
                self._db.execute("PRAGMA cache_size = -2000")

    def _after_write(self) -> None:
        db = self._db
        try:
            db.execute("PRAGMA analysis_limit = 1000")
            db.execute("PRAGMA optimize")
            # Copy the snapshot into the database file and start the WAL over once the readers
            # of older pages are done (a second at most): a WAL that only grows while readers
            # come and go makes every page read search more of it.
            db.execute("PRAGMA busy_timeout = 1000")
            db.execute("PRAGMA wal_checkpoint(RESTART)").fetchall()
        except sqlite3.Error:
            pass  # statistics and checkpoints only help readers; the snapshot is committed
        finally:
            with contextlib.suppress(sqlite3.Error):
                db.execute("PRAGMA busy_timeout = 30000")

    def _transaction(self, action: str, work: Callable[[Any], _T]) -> _T:
        self._check_writable(action)
        db = self._db
        try:
            for statement in self._d.begin_write:
                db.execute(statement)
        except self._db_errors as exc:
            with contextlib.suppress(*self._db_errors):
                db.execute("ROLLBACK")
            raise self._error(f"start to {action}", exc) from exc
        try:
            result = work(db)
            db.execute("COMMIT")
        except BaseException as exc:
            with contextlib.suppress(*self._db_errors):
                db.execute("ROLLBACK")
            if isinstance(exc, _DuplicateOfferError):
                raise StoreError(f"snapshot store {self.location}: two offers have the id {exc.offer_id!r} "
                                 "in the snapshot being written") from None
            if isinstance(exc, self._db_errors):
                raise self._error(action, exc) from exc
            raise
        return result

    # -- retention ---------------------------------------------------------------------------------
    def prune(self, *, keep_last: int = 0, keep_daily: int = 0, keep_monthly: int = 0) -> list[int]:
        """Remove the snapshots a retention policy does not keep (see
        :func:`cloudcat.store.history.retained`; the latest is always kept) and the versions
        only they held. Returns the ids removed, oldest first."""
        rows = self._fetch("read snapshots", "SELECT id, created_at FROM snapshots ORDER BY id")
        keep = retained([(r[0], dt.datetime.fromisoformat(r[1])) for r in rows], keep_last=keep_last,
                        keep_daily=keep_daily, keep_monthly=keep_monthly)
        doomed = [r[0] for r in rows if r[0] not in keep]
        if not doomed:
            return []
        with self._lock:
            self._transaction("prune snapshots", lambda db: _prune(db, self._d, doomed))
        return doomed

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
            raise StoreError(f"snapshot store {self.location} has no snapshot {snapshot_id}")
        return self._info(rows[0])

    def snapshots(self) -> list[SnapshotInfo]:
        """Every snapshot, oldest first."""
        rows = self._fetch("read snapshots", "SELECT id, created_at, offers, config_hash FROM snapshots "
                           "ORDER BY id")
        return [self._info(r) for r in rows]

    def snapshot_at(self, when: dt.datetime | dt.date) -> SnapshotInfo | None:
        """The snapshot that was the latest at ``when`` (a date means the end of that day, UTC),
        or ``None`` when none was stored by then."""
        if not isinstance(when, dt.datetime):
            when = dt.datetime.combine(when, dt.time.max, tzinfo=dt.UTC)
        elif when.tzinfo is None:
            when = when.replace(tzinfo=dt.UTC)
        rows = self._fetch("read snapshots", "SELECT id, created_at FROM snapshots ORDER BY id DESC")
        for sid, created_at in rows:  # few rows; created_at spellings may vary, so compare as times
            if dt.datetime.fromisoformat(created_at) <= when:
                return self.snapshot(sid)
        return None

    def _still_latest(self, sid: int) -> bool:
        """Whether snapshot ``sid`` is still the latest, asked just after a statement that read
        it as the latest (its open versions) began. Snapshots are stored one after another, so
        if ``sid`` is the latest now it was when that statement took its view: what it read is
        ``sid`` whole. Otherwise a refresh stored another one in between, and the statement may
        have read that one's versions with ``sid``'s read times: it is run again, reading ``sid``
        as history (versions whose range holds it), which no later write changes."""
        rows = self._fetch("read snapshots", "SELECT max(id) FROM snapshots")
        return bool(rows[0][0] == sid)

    def _snapshot_id(self, snapshot: int | None) -> tuple[int | None, bool]:
        """``snapshot`` checked to exist (or the latest id, ``None`` when the store is empty), and
        whether it is the latest."""
        rows = self._fetch("read snapshots", "SELECT max(id) FROM snapshots")
        latest: int | None = rows[0][0]
        if snapshot is None or snapshot == latest:
            return latest, True
        if not self._fetch("read snapshots", "SELECT 1 FROM snapshots WHERE id = ?", (snapshot,)):
            raise StoreError(f"snapshot store {self.location} has no snapshot {snapshot}")
        return snapshot, False

    # -- reading -----------------------------------------------------------------------------------
    def _offer(self, row: Any) -> Offer:
        try:
            if len(row) == 1:
                return Offer.model_validate_json(row[0])
            return Offer.model_validate({**_document(row[0], row[1]), "read_at": row[2]})
        except (ValidationError, ValueError) as exc:
            raise StoreError(f"snapshot store {self.location}: stored offer cannot be read: {exc}") from exc

    def get(self, offer_id: str, snapshot: int | None = None) -> Offer | None:
        """The offer with that exact id in a snapshot (the latest by default), or ``None``."""
        sid, latest = self._snapshot_id(snapshot)
        if sid is None:
            return None
        def read(latest: bool) -> list[Any]:
            return self._fetch("read an offer", f"SELECT {_offer_json(self._d, 'o', sid)} FROM offers o "
                               f"WHERE o.id = ? AND {_holds(self._d, 'o', sid, latest)}", (offer_id,))

        rows = read(latest)
        if latest and not self._still_latest(sid):  # a snapshot was stored meanwhile (see there)
            rows = read(False)
        return self._offer(rows[0]) if rows else None

    def query(self, q: OfferQuery, snapshot: int | None = None) -> Iterator[Offer]:
        """Offers of a snapshot (the latest by default) matching ``q``, sorted, offset and limited.

        Results stream: models are built as the caller iterates. Flexible offers are sized to
        the query (see :func:`cloudcat.query.materialize`) and merged into the order.
        """
        sid, latest = self._snapshot_id(snapshot)
        if sid is None or any(FILTERS[name].admits_nothing(v) for name, v in q.filters.items()):
            return iter(())
        at = (sid, latest)
        order = _ORDER_BY[q.sort]
        if not q.sizes_flexible:
            return self._select(q, at, sized=True, flexible=None, order=order, limit=q.limit, offset=q.offset)
        flexible = self._flexible(q, at)
        if not flexible:
            return self._select(q, at, sized=True, flexible=False, order=order, limit=q.limit, offset=q.offset)
        fixed = self._select(q, at, sized=True, flexible=False, order=order,
                             limit=None if q.limit is None else q.offset + q.limit, offset=0)
        merged = heapq.merge(fixed, flexible, key=lambda o: sort_key(o, q.sort))
        stop = None if q.limit is None else q.offset + q.limit
        return itertools.islice(merged, q.offset, stop)

    def _select(self, q: OfferQuery, at: tuple[int, bool], *, sized: bool, flexible: bool | None,
                order: str | None, limit: int | None, offset: int) -> Iterator[Offer]:
        sid, latest = at

        def as_history() -> tuple[str, list[Any]]:
            return self._select_sql(q, (sid, False), sized=sized, flexible=flexible, order=order, limit=limit,
                                    offset=offset)

        sql, params = self._select_sql(q, at, sized=sized, flexible=flexible, order=order, limit=limit,
                                       offset=offset)
        return self._stream("query offers", sql, params, self._offer, as_history if latest else None, sid)

    def _select_sql(self, q: OfferQuery, at: tuple[int, bool], *, sized: bool, flexible: bool | None,
                    order: str | None, limit: int | None, offset: int) -> tuple[str, list[Any]]:
        sid, latest = at
        params: list[Any] = []
        where = [_holds(self._d, "o", sid, latest)]
        if flexible is not None:
            where.append("o.flexible = 1" if flexible else "o.flexible = 0")
        where += _conditions(q, sized=sized, params=params)
        # Flexible offers are few: their partial index beats any other the planner might prefer
        # (the current view's, or the history's, which has no snapshot to skip through).
        index = "offers_flexible" if latest else "offers_flexible_history"
        hint = f" INDEXED BY {index}" if flexible and self._d.index_hints else ""
        sql = f"SELECT {_offer_json(self._d, 'o', sid)} FROM offers o{hint} WHERE {' AND '.join(where)}"
        if order:
            sql += f" ORDER BY {order}"
        if limit is not None or offset:
            sql += " LIMIT ? OFFSET ?"
            params += [self._d.no_limit if limit is None else limit, offset]
        return sql, params

    def _flexible(self, q: OfferQuery, at: tuple[int, bool]) -> list[Offer]:
        """Flexible offers able to fit ``q``, materialized, filtered and sorted in Python."""
        candidates = self._select(q, at, sized=False, flexible=True, order=None, limit=None, offset=0)
        sized = [s for s in (select(o, q) for o in candidates) if s is not None]
        sized.sort(key=lambda o: sort_key(o, q.sort))
        return sized

    def items(self, snapshot: int, backend: str | None = None) -> Iterator[StoredItem]:
        """The items stored with a snapshot (optionally one backend's), in the order first stored."""
        sid, latest = self._snapshot_id(snapshot)
        if sid is None:
            raise StoreError(f"snapshot store {self.location} has no snapshot {snapshot}")

        def statement(latest: bool) -> tuple[str, list[Any]]:
            sql = (f"SELECT i.backend, i.driver, {_read_at('item', 'i', sid)}, {_json(self._d, 'items', 'i')} "
                   f"FROM items i WHERE {_holds(self._d, 'i', sid, latest)}")
            params: list[Any] = []
            if backend is not None:
                sql += " AND i.backend = ?"
                params.append(backend)
            return sql + " ORDER BY i.pk", params

        def build(row: Any) -> StoredItem:
            try:
                item = Item.model_validate_json(row[3])
            except ValidationError as exc:
                raise StoreError(f"snapshot store {self.location}: stored item cannot be read: {exc}") from exc
            return StoredItem(backend=row[0], driver=row[1], read_at=dt.datetime.fromisoformat(row[2]),
                              item=item)

        sql, params = statement(latest)
        return self._stream("read items", sql, params, build, (lambda: statement(False)) if latest else None, sid)

    # -- history -----------------------------------------------------------------------------------
    def diff(self, a: int, b: int) -> SnapshotDiff:
        """What changed from snapshot ``a`` to snapshot ``b``: offers added and removed, and every
        changed field of the others (prices and lifecycle statuses also in typed lists). Reads
        only the versions that differ between the two, however large the snapshots."""
        self.snapshot(a)
        self.snapshot(b)
        lo, hi = min(a, b), max(a, b)
        data = _parts("offers", "o")
        # versions holding in lo but not hi, and in hi but not lo
        only_lo = self._fetch("compare snapshots",
                              f"SELECT o.id, o.digest, {data} FROM offers o WHERE o.until > ? AND o.until <= ? "
                              f"AND o.until < {OPEN} AND o.since <= ?", (lo, hi, lo))
        only_hi = self._fetch("compare snapshots",
                              f"SELECT o.id, o.digest, {data} FROM offers o WHERE o.since > ? AND o.since <= ? "
                              f"AND o.until > ?", (lo, hi, hi))
        at_lo = {r[0]: r for r in only_lo}
        at_hi = {r[0]: r for r in only_hi}
        pairs = []
        for offer_id in at_lo.keys() | at_hi.keys():
            x, y = at_lo.get(offer_id), at_hi.get(offer_id)
            if x is not None and y is not None and x[1] == y[1]:
                continue  # changed and changed back
            before, after = (x, y) if a <= b else (y, x)
            pairs.append((offer_id, None if before is None else _document(before[2], before[3]),
                          None if after is None else _document(after[2], after[3])))
        return build_diff(a, b, pairs)


def _missing_filter_columns(conn: sqlite3.Connection) -> list[str]:
    present = {row[1] for row in conn.execute("PRAGMA table_info(offers)")}
    return [c for c in FILTER_COLUMNS if c not in present] if present else list(FILTER_COLUMNS)


def _create(conn: sqlite3.Connection) -> None:
    for statement in _SCHEMA.split(";"):  # IF NOT EXISTS throughout; executescript would commit
        if statement.strip():
            conn.execute(statement)


def _upgrade(conn: sqlite3.Connection, version: int) -> None:
    """Create the schema, or bring an older store up to date in one transaction: a store of
    version 1 or 2 (a full copy per snapshot) is rewritten as versions, snapshot by snapshot;
    columns of filters declared since are added, filled from the stored offers."""
    conn.execute("BEGIN IMMEDIATE")
    try:
        if 0 < version < 3:
            _rewrite_copies(conn)
        else:
            if 0 < version < 5:
                for index in _PARTIAL_SINCE_5:
                    conn.execute(f"DROP INDEX IF EXISTS {index}")
            _create(conn)
        missing = _missing_filter_columns(conn)
        for column in missing:
            conn.execute(f"ALTER TABLE offers ADD COLUMN {column}")
        if missing:
            _fill_filter_columns(conn, SQLITE, missing)
        if 3 <= version < 7:
            _refill_search(conn, SQLITE)
        for table in _SIDE_TABLES_BEFORE_6:  # (their values are in the columns, from the offers)
            conn.execute(f"DROP TABLE IF EXISTS {table}")
        conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
        conn.execute("COMMIT")
    except BaseException:
        conn.execute("ROLLBACK")
        raise


#: Versions read at a time to fill new filter columns.
_FILL_BATCH = 5000


def _fill_filter_columns(conn: Any, d: Dialect, missing: list[str]) -> None:
    """Fill new filter columns from every version's offer."""
    _fill_columns(conn, d, {c: FILTERS[FILTER_COLUMNS[c]].stored for c in missing})


def _refill_search(conn: Any, d: Dialect) -> None:
    """Write the ``search`` column again for the versions whose offer holds U+001E or U+001F
    (stores before schema 7 kept them as they were, where a U+001F read as two fields): those
    characters are in its JSON as escapes; other versions' columns are the same either way."""
    full = _json(d, "offers", "o")
    _fill_columns(conn, d, {"search": search_text}, f"instr({full}, ?) > 0 OR instr({full}, ?) > 0",
                  ("\\u001e", "\\u001f"))


def _fill_columns(conn: Any, d: Dialect, values: dict[str, Callable[[Offer], Any]], where: str = "TRUE",
                  params: tuple[Any, ...] = ()) -> None:
    """Write ``values`` (column: how it is read from an offer) for every version whose row meets
    ``where`` (an SQL condition on ``offers o``, with its ``params``), read from its offer a batch
    of versions at a time (so that a large store is upgraded in bounded memory)."""
    sets = ", ".join(f"{c} = ?" for c in values)
    reads = list(values.values())
    after = 0
    while True:
        batch = conn.execute(f"SELECT o.pk, {_json(d, 'offers', 'o')} FROM offers o WHERE o.pk > ? AND ({where}) "
                             "ORDER BY o.pk LIMIT ?", (after, *params, _FILL_BATCH)).fetchall()
        if not batch:
            return
        after = batch[-1][0]
        conn.executemany(f"UPDATE offers SET {sets} WHERE pk = ?", [
            (*(read(o) for read in reads), pk)
            for pk, o in ((pk, Offer.model_validate(_with_read_at(data))) for pk, data in batch)])


def _with_read_at(data: str) -> dict[str, Any]:
    value: dict[str, Any] = json.loads(data)
    value.setdefault("read_at", "1970-01-01T00:00:00Z")  # filter values never depend on it
    return value


def _rewrite_copies(conn: sqlite3.Connection) -> None:
    """Rewrite a store holding a full copy per snapshot (schema 1 and 2) as versions."""
    for table in ("offers", "items", "offer_labels", "offer_zones"):
        conn.execute(f"ALTER TABLE {table} RENAME TO old_{table}")
    for index in ("items_by_backend", "offers_by_region_price", "offers_by_kind_price", "offers_by_brand",
                  "offers_flexible"):
        conn.execute(f"DROP INDEX IF EXISTS {index}")
    _create(conn)
    writer = _Writer(conn, SQLITE)
    for (sid,) in conn.execute("SELECT id FROM snapshots ORDER BY id").fetchall():
        items = [StoredItem(backend=r[0], driver=r[1], read_at=dt.datetime.fromisoformat(r[2]),
                            item=Item.model_validate_json(r[3]))
                 for r in conn.execute("SELECT backend, driver, read_at, data FROM old_items "
                                       "WHERE snapshot_id = ? ORDER BY pk", (sid,))]
        offers = (Offer.model_validate_json(r[0]) for r in
                  conn.execute("SELECT data FROM old_offers WHERE snapshot_id = ? ORDER BY pk", (sid,)))
        writer.versions(sid, items, offers)
    for table in ("offer_labels", "offer_zones", "offers", "items"):
        conn.execute(f"DROP TABLE old_{table}")


def _prune(db: Any, d: Dialect, doomed: list[int]) -> None:
    """Remove snapshots and the versions no remaining snapshot holds; versions patched against
    a removed base get their full JSON first."""
    db.executemany("DELETE FROM snapshots WHERE id = ?", [(sid,) for sid in doomed])
    for table in ("offers", "items"):
        db.execute(f"CREATE TEMP TABLE IF NOT EXISTS doomed (pk {d.pk_type} PRIMARY KEY)")
        db.execute(f"DELETE FROM {d.temp}doomed")
        db.execute(f"INSERT INTO {d.temp}doomed SELECT t.pk FROM {table} t WHERE NOT EXISTS "
                   "(SELECT 1 FROM snapshots s WHERE s.id >= t.since AND s.id < t.until)")
        base = f"(SELECT b.data FROM {table} b WHERE b.pk = {table}.base_pk)"
        db.execute(f"UPDATE {table} SET data = {d.patch(base, 'data')}, base_pk = NULL "
                   f"WHERE base_pk IN (SELECT pk FROM {d.temp}doomed)")
        db.execute(f"DELETE FROM {table} WHERE pk IN (SELECT pk FROM {d.temp}doomed)")
    db.execute(f"DELETE FROM {d.temp}doomed")


#: Secondary indexes of each versioned table, as the schema creates them: a snapshot written
#: into an empty table builds them once its rows are in (see :meth:`_Writer.defer_indexes`).
_INDEXES: dict[str, list[tuple[str, str]]] = {
    table: [(m.group(1), m.group(0)) for m in re.finditer(
        rf"CREATE INDEX IF NOT EXISTS (\w+) ON {table} [^;]*", _SCHEMA)]
    for table in _SEEN_TABLES
}

#: An offer or item about to be stored: key, JSON, ``read_at`` kept on the row, digest, and what
#: the rest of its row is made from (the offer; the item's backend and driver).
_Row = tuple[str, str, str | None, bytes, Any]
#: a statement and its parameters, made when it is needed
_Statement = Callable[[], tuple[str, Sequence[Any]]]


class _Writer:
    """Stores one snapshot's offers and items as versions, within the caller's transaction.

    For each offer and item only what tells whether it changed is computed (its JSON and
    digest); the indexed columns, labels and zones are computed for the rows stored. The open
    versions are looked up a batch at a time, and rows go in with one ``executemany`` per batch.
    """

    def __init__(self, db: Any, dialect: Dialect) -> None:
        self.db = db
        self.d = dialect
        #: tables that held no version when the snapshot began: nothing to compare with
        self.empty: set[str] = set()

    def write(self, created_at: dt.datetime, items: Iterable[StoredItem], offers: Iterable[Offer],
              statuses: Sequence[BackendStatus], config_hash: str | None) -> int:
        sid: int = self.db.execute("INSERT INTO snapshots (created_at, offers, config_hash) VALUES (?, 0, ?) "
                                   "RETURNING id", (created_at.isoformat(), config_hash)).fetchone()[0]
        self.db.executemany("INSERT INTO backend_status (snapshot_id, position, data) VALUES (?, ?, ?)",
                            [(sid, i, s.model_dump_json()) for i, s in enumerate(statuses)])
        self.versions(sid, items, offers)
        return sid

    def versions(self, sid: int, items: Iterable[StoredItem], offers: Iterable[Offer]) -> None:
        db = self.db
        # emptied with TRUNCATE on a server: nothing vacuums temporary tables, and rows deleted
        # snapshot after snapshot on one connection would make every later write scan them
        clear = "DELETE FROM" if self.d.name == SQLITE.name else "TRUNCATE"
        for table in _SEEN_TABLES:
            db.execute(f"CREATE TEMP TABLE IF NOT EXISTS seen_{table} (pk {self.d.pk_type} PRIMARY KEY)")
            db.execute(f"{clear} {self.d.temp}seen_{table}")
        deferred = self.defer_indexes()
        for batch in batched(self._item_versions(sid, items), _WRITE_BATCH):
            self._store("items", "key", sid, batch)
        seen: set[str] = set()
        count = 0
        for batch in batched(self._offer_versions(sid, offers, seen), _WRITE_BATCH):
            self._store("offers", "id", sid, batch)
            count += len(batch)
        for table in _SEEN_TABLES:  # what this snapshot did not see again no longer holds
            if table not in self.empty:
                db.execute(f"UPDATE {table} SET until = ? WHERE until = {OPEN} AND since < ? AND NOT EXISTS "
                           f"(SELECT 1 FROM {self.d.temp}seen_{table} s WHERE s.pk = {table}.pk)", (sid, sid))
            db.execute(f"{clear} {self.d.temp}seen_{table}")
        for statement in deferred:
            db.execute(statement)
        db.execute("UPDATE snapshots SET offers = ? WHERE id = ?", (count, sid))

    def defer_indexes(self) -> list[str]:
        """Drop the secondary indexes of the tables that hold no version yet (a first snapshot)
        and return the statements that make them again: an index built from the rows in one go
        is several times faster than one grown row by row. SQLite only, where this is part of
        the transaction (a crash leaves the indexes as they were) and readers do not wait for it."""
        statements: list[str] = []
        self.empty = set()
        for table in _SEEN_TABLES:
            if self.db.execute(f"SELECT 1 FROM {table} LIMIT 1").fetchone() is not None:
                continue
            self.empty.add(table)
            if self.d.name != SQLITE.name:
                continue
            for name, create in _INDEXES[table]:
                try:
                    self.db.execute(f"DROP INDEX IF EXISTS {name}")
                except sqlite3.OperationalError:  # a statement of this connection reads the table
                    return statements
                statements.append(create)
        return statements

    def _backend_read(self, sid: int, what: str, reads: dict[str, str], backend: str, read_at: str) -> str | None:
        """``read_at`` to keep on the row: ``None`` when it is the backend's for this snapshot
        (the first one seen for it)."""
        first = reads.get(backend)
        if first is None:
            reads[backend] = read_at
            self.db.execute("INSERT INTO reads (snapshot_id, what, backend, read_at) VALUES (?, ?, ?, ?)",
                            (sid, what, backend, read_at))
            return None
        return None if read_at == first else read_at

    def _item_versions(self, sid: int, items: Iterable[StoredItem]) -> Iterator[_Row]:
        reads: dict[str, str] = {}
        stamps: dict[dt.datetime, str] = {}
        occurrences: dict[str, int] = {}
        for s in items:
            stamp = stamps.get(s.read_at)
            if stamp is None:
                stamp = stamps[s.read_at] = s.read_at.isoformat()
            kept = self._backend_read(sid, "item", reads, s.backend, stamp)
            item = s._item  # None when kept as JSON: then the key is read from that
            data = s.json()
            key = _item_key(s, item, data)
            n = occurrences.get(key, 0) + 1
            occurrences[key] = n
            yield f"{key}\x1f{n}", data, kept, _digest(data, kept, s.driver), (s.backend, s.driver)

    def _offer_versions(self, sid: int, offers: Iterable[Offer], seen: set[str]) -> Iterator[_Row]:
        reads: dict[str, str] = {}
        for offer in offers:
            oid = offer.id
            if oid in seen:
                raise _DuplicateOfferError(oid)
            seen.add(oid)
            data, read_at = split_read_at(offer)
            kept = self._backend_read(sid, "offer", reads, offer.backend, read_at)
            yield oid, data, kept, _digest(data, kept), offer

    def _store(self, table: str, key_column: str, sid: int, batch: list[_Row]) -> None:
        """Keep what did not change, close what changed and add its new version (a patch
        against the first full version when that is small), add what is new."""
        if table in self.empty:
            self._insert(table, sid, [(row, None, row[1]) for row in batch])
            return
        db = self.db
        current: dict[str, tuple[int, bytes, int | None]] = {}
        for part in batched((row[0] for row in batch), _LOOKUP_BATCH):
            among, params = self.d.in_list(key_column, part)
            current.update((r[0], r[1:]) for r in db.execute(
                f"SELECT {key_column}, pk, digest, base_pk FROM {table} WHERE until = {OPEN} AND {among}", params))
        unchanged: list[int] = []
        changed: list[tuple[_Row, int, int]] = []  # row, old pk, base pk
        rows: list[tuple[_Row, int | None, str]] = []
        for row in batch:
            old = current.get(row[0])
            if old is None:
                rows.append((row, None, row[1]))
            elif old[1] == row[3]:
                unchanged.append(old[0])
            else:
                changed.append((row, old[0], old[2] or old[0]))
        self._seen(table, unchanged)
        if changed:
            db.executemany(f"UPDATE {table} SET until = ? WHERE pk = ?", [(sid, old) for _, old, _ in changed])
            among, params = self.d.in_list("pk", [base for _, _, base in changed])
            bases = {r[0]: r[1] for r in db.execute(f"SELECT pk, data FROM {table} WHERE {among}", params)}
            rows += [(row, *_patched(row[1], base, bases[base])) for row, _, base in changed]
        self._insert(table, sid, rows)

    def _seen(self, table: str, pks: list[int]) -> None:
        """Note versions this snapshot saw again unchanged (one statement on a server)."""
        if not pks:
            return
        if self.d.array_params:
            self.db.execute(f"INSERT INTO {self.d.temp}seen_{table} (pk) SELECT unnest(CAST(? AS BIGINT[]))",
                            [int_array(pks)])
        else:
            self.db.executemany(f"INSERT INTO {self.d.temp}seen_{table} (pk) VALUES (?)", [(pk,) for pk in pks])

    def _insert(self, table: str, sid: int, rows: list[tuple[_Row, int | None, str]]) -> None:
        db = self.db
        if not rows:
            return
        # The write lock is held (BEGIN IMMEDIATE), so primary keys can be handed out here,
        # which lets labels and zones refer to their offer without a round trip per row.
        first = (db.execute(f"SELECT max(pk) FROM {table}").fetchone()[0] or 0) + 1
        if table == "items":
            self._rows("items", _ITEM_COLUMNS, [(first + n, sid, OPEN, row[0], row[3], base, data, row[2], *row[4])
                                                 for n, (row, base, data) in enumerate(rows)])
            return
        offers: list[Offer] = [row[4] for row, _, _ in rows]
        self._rows("offers", OFFER_COLUMNS, [(first + n, sid, OPEN, row[0], row[3], base, data, row[2],
                                              *offer_values(offers[n])) for n, (row, base, data) in enumerate(rows)])

    def _rows(self, table: str, columns: Sequence[str], rows: list[tuple[Any, ...]]) -> None:
        """Insert ``rows``: one statement a row on SQLite, a COPY on a server (several times faster
        than a statement a row, even pipelined)."""
        if not rows:
            return
        if self.d.bulk_copy:
            self.db.copy_rows(table, columns, rows)
        else:
            self.db.executemany(f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({', '.join('?' * len(columns))})",
                                rows)


_ITEM_COLUMNS = ("pk", "since", "until", "key", "digest", "base_pk", "data", "read_at", "backend", "driver")
#: Rows compared and written at a time, and keys looked up in one query (SQLite takes up to
#: 32,766 parameters, PostgreSQL 65,535).
_WRITE_BATCH = 10_000
_LOOKUP_BATCH = 5_000


def _no_store_yet(path: Path) -> bool:
    """Whether ``path`` holds no store yet: no file, or an empty one (``touch``, a placeholder)
    with no write-ahead log holding one either. Reading it must not write a schema into it."""
    try:
        if path.stat().st_size > 0 or not path.is_file():
            return False
    except FileNotFoundError:
        return True
    except OSError:
        return False  # opening it tells what is wrong
    wal = Path(f"{path}-wal")
    try:
        return wal.stat().st_size == 0
    except OSError:
        return True


def _read_only_error(exc: sqlite3.Error) -> bool:
    """Whether SQLite refused to open a file because it may not write there."""
    return exc.sqlite_errorname.startswith("SQLITE_READONLY")


def _cannot_open(exc: sqlite3.Error) -> bool:
    """Whether SQLite could not open a file (or a file beside it: a WAL reader's index)."""
    return exc.sqlite_errorname == "SQLITE_CANTOPEN"


def _item_key(stored: StoredItem, item: Item | None, data: str) -> str:
    """What identifies an item within a snapshot (a count of earlier equal keys is appended)."""
    if item is None:  # kept as JSON: its fields come from there
        fields = _key_fields(data)
        return "\x1f".join((stored.backend, stored.driver, *fields))
    return "\x1f".join((stored.backend, stored.driver, item.kind, item.region or "", item.zone or "", item.name))


_STRING = r'"(?:[^"\\]|\\.)*"'
#: The first fields of an item's JSON as pydantic writes them (in the model's order), null
#: fields left out or not; what follows is none of them, so a field out of order is not missed.
_KEY_FIELDS = re.compile(rf'\{{"kind":({_STRING}),"name":({_STRING}),(?:"display_name":(?:null|{_STRING}),)?'
                         rf'(?:"region":(null|{_STRING}),)?(?:"zone":(null|{_STRING}),)?'
                         r'(?!"(?:kind|name|display_name|region|zone)":)"')


def _key_fields(data: str) -> tuple[str, str, str, str]:
    """kind, region, zone and name of an item's JSON, read from its start without parsing the
    rest (all of it is parsed when it is not in the expected order)."""
    match = _KEY_FIELDS.match(data)
    if match is None:
        doc = json.loads(data)
        return doc["kind"], doc.get("region") or "", doc.get("zone") or "", doc["name"]
    kind, name, region, zone = (_string(g) for g in match.groups(""))
    return kind, region, zone, name


def _string(text: str) -> str:
    if text in ("null", ""):
        return ""
    if "\\" in text:
        value: str = json.loads(text)
        return value
    return text[1:-1]


def _digest(data: str, read_at: str | None, driver: str | None = None) -> bytes:
    """:func:`~cloudcat.store.schema.digest` of ``(data, read_at)`` (offers) or ``(data, read_at,
    driver)`` (items), hashed in one call."""
    text = data + ("\x01\x00" if read_at is None else "\x01" + read_at + "\x01")
    if driver is not None:
        text += driver + "\x01"
    return hashlib.blake2b(text.encode(), digest_size=16).digest()


def _patched(data: str, base_pk: int, base_data: str) -> tuple[int | None, str]:
    """``(base_pk, patch)`` when a merge patch against the base is small and gives the version
    back exactly, else ``(None, full JSON)``."""
    base = json.loads(base_data)
    new = json.loads(data)
    patch = merge_patch(base, new)
    text = json.dumps(patch, separators=(",", ":"), ensure_ascii=False)
    # a patch cannot set a member to null (null removes it): then the full JSON is kept
    if len(text) * 2 < len(data) and same_json(apply_patch(base, patch), new):
        return base_pk, text
    return None, data
