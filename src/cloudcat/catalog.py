"""The catalog: the one object application code talks to.

::

    import cloudcat

    catalog = cloudcat.open_catalog("cloudcat.yaml")
    for offer in catalog.offers(brand="cloudwatt", kind="compute", min_vcpus=4, sort="price"):
        print(offer.id, offer.price)

It reads backends through their drivers (concurrently: one task per backend, region and kind),
composes offers through brands and price books, stores each refresh as a snapshot, and answers
queries from the latest snapshot — refreshing first when there is none, when it is older than
``max_age``, or when a backend named by the configuration was never read.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import gc
import itertools
import logging
import tempfile
import threading
import time
import warnings
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any, Unpack

from .brands import BrandIndex
from .compose import compose_streamed
from .config import Config, load_config, secret_values
from .driver import Driver
from .errors import CloudcatError, ConfigError, DriverError, OfferNotFoundError
from .filters import OfferFilters
from .http import Deadline, within
from .models import BackendStatus, Brand, LifecycleStatus, Offer, SnapshotInfo, bounds_violation
from .prices import PriceBook
from .query import OfferQuery, SortOrder
from .redaction import register_secrets
from .refresh import BackendReader, Spool
from .registry import load_driver
from .store import SnapshotDiff, Store, StoredItem

if TYPE_CHECKING:
    from .planner import InventoryLine, Plan

__all__ = ["Catalog", "OfferLifecycleWarning", "RefreshResult", "SnapshotCoverageWarning", "open_catalog"]

log = logging.getLogger("cloudcat.catalog")


class OfferLifecycleWarning(UserWarning):
    """An offer that was asked for by id is end-of-sale or end-of-life."""


class SnapshotCoverageWarning(UserWarning):
    """The snapshot a query reads has no items from some configured backends."""


@dataclass
class RefreshResult:
    """What a refresh did: the snapshot it stored (if any) and each backend's outcome."""

    snapshot: SnapshotInfo | None
    statuses: list[BackendStatus] = field(default_factory=list)

    @property
    def failed(self) -> list[BackendStatus]:
        """Backends that failed in this refresh."""
        return [s for s in self.statuses if s.status == "failed"]

    @property
    def exit_code(self) -> int:
        """0 when every backend succeeded, 3 when some failed but others were stored, 1 when
        nothing could be stored."""
        if self.snapshot is None:
            return 1
        return 3 if self.failed else 0


class Catalog:
    """The offer catalog over the configured backends, brands and price books."""

    def __init__(self, config: Config, *, store: str | Path | Store | None = None) -> None:
        self.config = config
        register_secrets(s for b in config.backends.values() for s in secret_values(b.options))
        self._brands = BrandIndex(config.brands)
        self._prices: PriceBook | None = None
        location = store if store is not None else config.store
        self._store_arg: str | Path | Store | None = location
        self._store: Store | None = store if isinstance(store, Store) else None
        self._drivers: dict[str, Driver] = {}
        self._lock = threading.Lock()
        # the latest snapshot composed under the current brands and price books, when they differ
        # from those it was stored with: ((snapshot id, fingerprint), throwaway store, its snapshot id)
        self._composed: tuple[tuple[int, str], _View, int] | None = None
        #: Progress of the refreshes the catalog starts by itself (no snapshot yet, a stale one),
        #: called like the ``progress`` of :meth:`refresh`.
        self.refresh_progress: Callable[[BackendStatus], None] | None = None

    def __repr__(self) -> str:
        return (f"<Catalog config={self.config.source!r} backends={sorted(self.config.backends)} "
                f"brands={self._brands.names()}>")

    # -- plumbing ------------------------------------------------------------------------------
    @property
    def store(self) -> Store:
        """The snapshot store (opened on first use)."""
        if self._store is None:
            arg = self._store_arg
            self._store = Store(arg if arg is not None and not isinstance(arg, Store)
                                else Store.default_path(self.config.source))
        return self._store

    @property
    def price_book(self) -> PriceBook:
        """The configured price books (read on first use)."""
        if self._prices is None:
            book = PriceBook.load(self.config.price_books)
            for backend, source in book.backends().items():
                if backend not in self.config.backends:
                    file, _, line = (source or "").rpartition(":")
                    raise ConfigError(f"price book rule names backend {backend!r}, which is not configured "
                                      f"(configured: {', '.join(self.config.backends)})", source=file or source,
                                      line=int(line) if line.isdigit() else None, field="backend")
            self._prices = book
        return self._prices

    def driver(self, backend: str) -> Driver:
        """The driver instance of a configured backend (created once, reused: connections and
        tokens survive across refreshes)."""
        with self._lock:
            found = self._drivers.get(backend)
        if found is not None:
            return found
        cfg = self.config.backends.get(backend)
        if cfg is None:
            raise ConfigError(f"no backend named {backend!r}", source=self.config.source, field="backends")
        # built outside the lock: importing one driver's SDK must not hold up the other backends
        try:
            cls = load_driver(cfg.driver)
        except DriverError as exc:
            raise self.config.error(str(exc), "backends", backend, "driver") from None
        try:
            created: Driver = cls(cfg.options, backend=backend)
        except ConfigError as exc:
            parts = [p for p in (exc.field or "").split(".") if p]
            raise self.config.error(exc.detail, "backends", backend, "options", *parts) from None
        with self._lock:
            kept = self._drivers.setdefault(backend, created)
        if kept is not created:
            created.close()
        return kept

    def close(self) -> None:
        """Close drivers and the store."""
        with self._lock:
            for d in self._drivers.values():
                try:
                    d.close()
                except Exception:  # closing is best effort
                    log.debug("closing driver of %s failed", d.backend, exc_info=True)
            self._drivers.clear()
        if self._store is not None:
            self._store.close()
            self._store = None
        if self._composed is not None:
            self._composed[1].close()
            self._composed = None

    def __enter__(self) -> Catalog:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()

    # -- brands --------------------------------------------------------------------------------
    def brands(self) -> list[Brand]:
        """Every configured brand."""
        return self._brands.brands()

    def resolve_brand(self, name: str) -> str:
        """Canonical brand name for a name, alias or former name (deprecation warning for the
        latter two); :class:`ConfigError` when unknown."""
        canonical = self._brands.resolve(name)
        if canonical is None:
            import difflib

            close = difflib.get_close_matches(name, self._brands.names(), n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            raise ConfigError(f"no brand named {name!r}{hint}; known: {', '.join(self._brands.names())}",
                              field="brand")
        return canonical

    # -- refresh -------------------------------------------------------------------------------
    def refresh(self, backends: Sequence[str] | None = None, *,
                progress: Callable[[BackendStatus], None] | None = None, wait: bool | float = True
                ) -> RefreshResult:
        """Read backends (all enabled ones by default) concurrently and store a snapshot.

        ``progress`` is called with each backend's status as it finishes; when it also has a
        ``step(backend, kind, region, items)`` method, that is called as each region and kind is read.

        Backends not read this time, and backends that fail or pass their deadline, keep their
        items from the previous snapshot; a failed backend is reported with its error. Nothing is
        stored when every backend read failed (the previous snapshot then stays the latest).
        Items flow from the drivers to the store through temporary files, so memory does not
        grow with the catalog; an item with a number out of range is dropped with a warning.

        One refresh runs at a time on a store: another one waits for it (``wait=True``), for at
        most ``wait`` seconds (a number), or fails at once (``wait=False``) with
        :class:`~cloudcat.store.RefreshLockedError` ("another refresh is running since …").
        After the snapshot is stored, the configuration's ``retention`` prunes older ones.
        """
        enabled = [n for n, b in self.config.backends.items() if b.enabled]
        selected = list(backends) if backends is not None else enabled
        for name in selected:
            if name not in self.config.backends:
                raise ConfigError(f"no backend named {name!r}", source=self.config.source, field="backends")
        previous = self.store.latest()  # the store is opened (and checked) before any backend is read
        for name in selected:
            self.driver(name)  # configuration errors (driver, options) stop the refresh before it starts
        book = self.price_book  # and so do price book errors
        timeout = None if isinstance(wait, bool) else float(wait)
        with self.store.lock_refresh(wait=wait is not False, timeout=timeout), _collector_paused(), \
                tempfile.TemporaryDirectory(prefix="cloudcat-refresh-") as tmp:
            previous = self.store.latest()  # what a refresh that held the lock before this one stored
            reader = BackendReader(self.driver, directory=Path(tmp), concurrency=self.config.concurrency,
                                   deadline_of=self.config.deadline_of,
                                   refresh_deadline=self.config.refresh_deadline,
                                   driver_names=lambda n: self.config.backends[n].driver, abandon=self._abandon,
                                   on_step=getattr(progress, "step", None))
            outcomes = reader.run(selected, progress)
            spools, statuses = self._gather(selected, outcomes, previous, Path(tmp))
            if selected and not any(s.status == "ok" and s.backend in selected for s in statuses):
                # every backend read this time failed: keep the previous snapshot as the latest
                return RefreshResult(snapshot=None, statuses=statuses)
            snapshot = self._write(spools, statuses, book, today=dt.date.today())
            self._retain()
        return RefreshResult(snapshot=snapshot, statuses=statuses)

    def _retain(self) -> None:
        """Prune what the configuration's ``retention`` does not keep (after a snapshot is stored)."""
        retention = self.config.retention
        if retention is not None:
            pruned = self.store.prune(keep_last=retention.keep_last, keep_daily=retention.keep_daily,
                                      keep_monthly=retention.keep_monthly)
            if pruned:
                log.info("retention: removed snapshot(s) %s", ", ".join(map(str, pruned)))

    def _gather(self, selected: Sequence[str], outcomes: Mapping[str, tuple[Spool, BackendStatus]],
                previous: SnapshotInfo | None, tmp: Path) -> tuple[list[Spool], list[BackendStatus]]:
        """The spools and statuses of a refresh: what was read, what failed backends keep from the
        previous snapshot, and what every configured backend not read this time keeps."""
        spools: list[Spool] = []
        statuses: list[BackendStatus] = []
        for name in selected:
            spool, status = outcomes[name]
            if status.status != "ok" and previous is not None:
                spool = self._carried(previous, name, tmp)
                status = status.model_copy(update={"items": spool.count})
            if status.status == "ok" or previous is not None:
                spools.append(spool)
            statuses.append(status)
        if previous is not None:  # a refresh never drops a backend the configuration still has
            prev_status = {s.backend: s for s in previous.backends}
            for name in self.config.backends:
                if name not in selected and name in prev_status:
                    spools.append(self._carried(previous, name, tmp))
                    statuses.append(prev_status[name])
        return spools, statuses

    def _carried(self, previous: SnapshotInfo, name: str, tmp: Path) -> Spool:
        spool = Spool(tmp, name, self.config.backends[name].driver)
        for stored in self.store.items(previous.id, name):
            spool.add(stored)
        spool.close()
        return spool

    def _abandon(self, backend: str) -> None:
        """Forget the driver of a backend that passed its deadline, and close it on the side (a
        driver stuck in a call may never let go; closing its connections cuts what it waits on).
        Closing gets :data:`ABANDONED_CLOSE_S` seconds: what it asks the backend (a logout) runs
        under that deadline, as the backend's own calls did."""
        with self._lock:
            stuck = self._drivers.pop(backend, None)
        if stuck is not None:
            threading.Thread(target=_close_within, args=(stuck, time.monotonic() + ABANDONED_CLOSE_S),
                             name=f"cloudcat-close-{backend}", daemon=True).start()

    def _write(self, spools: Sequence[Spool], statuses: Sequence[BackendStatus], book: PriceBook, *,
               today: dt.date, store: Store | None = None) -> SnapshotInfo:
        by_backend = {s.backend: s for s in spools}
        offers = compose_streamed(lambda b: by_backend.get(b, ()), self._brands, book, today=today)
        return (store or self.store).write_snapshot(items=itertools.chain.from_iterable(spools), offers=offers,
                                                    statuses=statuses, config_hash=self.config.fingerprint())

    # -- reading -------------------------------------------------------------------------------
    def ensure_fresh(self, *, refresh: bool = False, offline: bool = False) -> SnapshotInfo:
        """The stored snapshot queries read, refreshing first when asked (``refresh``), when there
        is none, when it is older than ``max_age`` or when a configured backend was never read
        (never with ``offline``).

        A store this process may only read (:attr:`Store.read_only`) is read as it is, with a
        warning where it would have been refreshed. Reading never writes otherwise: when the
        brands or price books changed since the snapshot was composed, queries see its items
        composed under the current ones without storing them (see :meth:`recompose` to store
        that)."""
        latest = self.store.latest()
        if refresh and not offline:
            return self._refreshed()
        if latest is None:
            if offline:
                raise CloudcatError("no snapshot stored yet and --offline forbids reading the backends; "
                                    "run `cloudcat refresh` first")
            return self._refreshed()
        return latest if offline else self._kept_fresh(latest)

    def _kept_fresh(self, latest: SnapshotInfo) -> SnapshotInfo:
        """``latest``, or a refresh of it when it is older than ``max_age`` or a configured
        backend was never read (not on a store this process may only read)."""
        known = {s.backend for s in latest.backends}
        never_read = [n for n, b in self.config.backends.items() if b.enabled and n not in known]
        stale = (_now() - latest.created_at).total_seconds() > self.config.max_age
        if (stale or never_read) and self.store.read_only:
            log.warning("snapshot store %s is read-only here: reading snapshot %d of %s without "
                        "refreshing it", self.store.location, latest.id, latest.created_at.isoformat())
            return latest
        if stale:
            return self.refresh(progress=self.refresh_progress).snapshot or latest
        if never_read:
            return self.refresh(never_read, progress=self.refresh_progress).snapshot or latest
        return latest

    def _reading(self, snapshot: int | None, *, refresh: bool = False,
                 offline: bool = False) -> tuple[Store, int]:
        """The store and snapshot id a query reads: an explicit snapshot as stored; otherwise the
        fresh latest one, composed under the current brands and price books."""
        if snapshot is not None:
            return self.store, snapshot
        return self._view(self.ensure_fresh(refresh=refresh, offline=offline))

    def _view(self, snap: SnapshotInfo) -> tuple[Store, int]:
        known = {s.backend for s in snap.backends}
        missing = [n for n, b in self.config.backends.items() if b.enabled and n not in known]
        if missing:
            message = (f"snapshot {snap.id} has no items from configured backend(s) {', '.join(missing)}; "
                       "their offers are missing (run `cloudcat refresh`)")
            log.warning(message)
            warnings.warn(message, SnapshotCoverageWarning, stacklevel=4)
        fingerprint = self.config.fingerprint()
        if snap.config_hash == fingerprint:
            return self.store, snap.id
        key = (snap.id, fingerprint)
        if self._composed is None or self._composed[0] != key:
            if self._composed is not None:
                self._composed[1].close()
                self._composed = None
            log.info("brands or price books changed since snapshot %d: its items are composed for this read "
                     "(nothing is stored; `cloudcat recompose` stores that composition)", snap.id)
            view = _View()
            try:
                info = self._compose_into(view.store, snap)
            except BaseException:
                view.close()
                raise
            self._composed = (key, view, info.id)
        return self._composed[1].store, self._composed[2]

    def _compose_into(self, target: Store, snap: SnapshotInfo) -> SnapshotInfo:
        """``snap``'s items composed under the current brands and price books, as of the day they
        were read, written to ``target`` (a throwaway store for reads: :class:`_View`) as offers
        only."""
        configured = set(self.config.backends)
        statuses = [s for s in snap.backends if s.backend in configured]

        def items_of(backend: str) -> Iterator[StoredItem]:
            if backend in configured:
                yield from _sane(self.store.items(snap.id, backend))

        offers = compose_streamed(items_of, self._brands, self.price_book, today=snap.created_at.date())
        with _collector_paused():
            # queries read offers only: the items stay where they are (``snap`` in this store)
            return target.write_snapshot(items=(), offers=offers, statuses=statuses,
                                         config_hash=self.config.fingerprint())

    def _refreshed(self) -> SnapshotInfo:
        result = self.refresh(progress=self.refresh_progress)
        if result.snapshot is None:
            raise _nothing_stored(result)
        return result.snapshot

    def recompose(self, snapshot: SnapshotInfo | None = None, *, wait: bool | float = True) -> SnapshotInfo:
        """Store a new snapshot from the stored items under the current brands and price books,
        without reading any backend (a relabel, a new price book): ``snapshot``'s items, or the
        latest snapshot's as it stands once the refresh lock is held. Only this explicit command
        (``cloudcat recompose``) stores a recomposed snapshot; reads compose on the fly without
        storing. It holds the refresh lock as a refresh does (``wait`` as for :meth:`refresh`),
        and the configuration's ``retention`` prunes after it."""
        book = self.price_book  # price book errors stop it before the lock is taken
        if snapshot is None and self.store.latest() is None:  # (nor is a store made for nothing)
            raise CloudcatError("no snapshot to recompose; run `cloudcat refresh` first")
        timeout = None if isinstance(wait, bool) else float(wait)
        with self.store.lock_refresh(wait=wait is not False, timeout=timeout), _collector_paused(), \
                tempfile.TemporaryDirectory(prefix="cloudcat-recompose-") as tmp:
            base = snapshot or self.store.latest()
            if base is None:
                raise CloudcatError("no snapshot to recompose; run `cloudcat refresh` first")
            configured = set(self.config.backends)
            statuses = [s for s in base.backends if s.backend in configured]
            spools = [self._carried(base, s.backend, Path(tmp)) for s in statuses]
            stored = self._write(spools, statuses, book, today=dt.date.today())
            self._retain()
        return stored

    def query(self, *, sort: SortOrder = "id", limit: int | None = None, offset: int = 0,
              **filters: Unpack[OfferFilters]) -> OfferQuery:
        """The :class:`OfferQuery` for keyword filters, with brand names, aliases and former names
        resolved and backend names checked. Unknown filters and bad values are a
        :class:`ConfigError` naming the filter."""
        query = OfferQuery(sort=sort, limit=limit, offset=offset, **filters)
        return self._checked(query)

    def _checked(self, query: OfferQuery) -> OfferQuery:
        brands = query.get("brand")
        for name in query.get("backend") or []:
            if name not in self.config.backends:
                raise ConfigError(f"no backend named {name!r}; configured: {', '.join(self.config.backends)}",
                                  field="backend")
        if not brands:
            return query
        return query.model_copy(update={"filters": {**query.filters,
                                                     "brand": [self.resolve_brand(b) for b in brands]}})

    def iter_offers(self, query: OfferQuery | None = None, /, *, refresh: bool = False, offline: bool = False,
                    snapshot: int | None = None, sort: SortOrder = "id", limit: int | None = None,
                    offset: int = 0, **filters: Unpack[OfferFilters]) -> Iterator[Offer]:
        """Stream offers matching the filters (see :meth:`offers`): models are built as the caller
        iterates, so memory does not grow with the catalog."""
        if query is not None and filters:
            raise ConfigError("give either a query or keyword filters, not both", field="filters")
        q = self._checked(query) if query is not None else self.query(sort=sort, limit=limit, offset=offset,
                                                                      **filters)
        store, snap = self._reading(snapshot, refresh=refresh, offline=offline)
        yield from store.query(q, snapshot=snap)

    def offers(self, query: OfferQuery | None = None, /, *, refresh: bool = False, offline: bool = False,
               snapshot: int | None = None, sort: SortOrder = "id", limit: int | None = None, offset: int = 0,
               **filters: Unpack[OfferFilters]) -> list[Offer]:
        """Offers matching an :class:`OfferQuery` or keyword filters (the names of
        :class:`~cloudcat.filters.OfferFilters`, the same as the CLI flags: ``brand``, ``kind``,
        ``region``, ``zone``, ``country``, ``labels``, ``any_label``, ``family``, ``architecture``,
        ``os_family``, ``storage_class``, ``min_vcpus``, ``min_memory_mib``, ``min_iops``, ``gpu``,
        ``flexible``, ``max_price``, ``currency``, ``lifecycle``, ``text``, ``backend``), sorted by
        ``sort`` (``id``, ``name``, ``price``, ``-price``, ``vcpus``, ``memory_mib``…), then
        ``offset`` and ``limit``::

            catalog.offers(brand="orange-iaas", kind="compute", country="FR", labels="secnumcloud",
                           min_vcpus=4, sort="price")

        A flexible compute offer asked for with ``min_vcpus``/``min_memory_mib`` comes back sized
        to the smallest fitting VM, with the price computed for that size. A misspelt filter is a
        type error and a :class:`ConfigError` with "did you mean".
        """
        return list(self.iter_offers(query, refresh=refresh, offline=offline, snapshot=snapshot, sort=sort,
                                     limit=limit, offset=offset, **filters))

    def get(self, offer_id: str, *, refresh: bool = False, offline: bool = False,
            snapshot: int | None = None) -> Offer:
        """The offer with this id. Ids written with a brand alias or former name resolve to the
        current brand. Reading an end-of-sale or end-of-life offer warns and names its successor."""
        resolved = self._brands.resolve_id(offer_id)
        view = self._reading(snapshot, refresh=refresh, offline=offline)
        offer = view[0].get(resolved, snapshot=view[1]) or self._resolve_logical(resolved, view)
        if offer is None:
            raise OfferNotFoundError(f"no offer with id {offer_id!r}")
        if offer.lifecycle.status != LifecycleStatus.AVAILABLE:
            succ = f"; successor: {offer.lifecycle.successor}" if offer.lifecycle.successor else ""
            warnings.warn(f"offer {offer.id} is {offer.lifecycle.status.value}{succ}", OfferLifecycleWarning,
                          stacklevel=2)
        return offer

    def resolve_logical(self, offer_id: str, *, snapshot: int | None = None) -> Offer | None:
        """Resolve ``<brand>/<logical id>`` to the best concrete offer on the brand's current
        backends: the cheapest available offer meeting the requirements (priced offers first).

        The result keeps the logical id; ``extras["resolved"]`` says which offer it resolved to,
        on which backend, and why. ``None`` when the id names no logical offer.
        """
        brand, sep, rest = self._brands.resolve_id(offer_id, warn=False).partition("/")
        if not sep or brand not in self._brands:
            return None
        if not any(lo.id == rest for lo in self._brands.config(brand).offers):
            return None
        return self._resolve_logical(offer_id, self._reading(snapshot))

    def _resolve_logical(self, offer_id: str, view: tuple[Store, int]) -> Offer | None:
        brand, sep, rest = self._brands.resolve_id(offer_id, warn=False).partition("/")
        if not sep or brand not in self._brands:
            return None
        logical = next((lo for lo in self._brands.config(brand).offers if lo.id == rest), None)
        if logical is None:
            return None
        # A logical offer is a stored query: one store query, cheapest first.
        q = OfferQuery(sort="price", **{**logical.filters, "brand": [brand], "lifecycle": ["available"]})
        candidates = list(view[0].query(q, snapshot=view[1]))
        if not candidates:
            raise OfferNotFoundError(
                f"logical offer {offer_id!r} has no matching offer on {brand!r}'s backends "
                f"({', '.join(self._brands.config(brand).backend_names)})")
        # cheapest priced offer first; unpriced ones by size, the closest fit first
        best = min(candidates, key=lambda o: (o.price is None, o.price.amount if o.price else Decimal(0),
                                              o.vcpus or 0, o.memory_mib or 0, o.id))
        how = "cheapest" if best.price is not None else "smallest (no price known)"
        reason = (f"{how} available of {len(candidates)} offer(s) with {logical.describe()}"
                  + (" (flexible pool sized to the requirement)" if best.flexible is not None else ""))
        extras = {**best.extras, "resolved": {"offer": best.id, "backend": best.backend, "reason": reason,
                                              "candidates": [c.id for c in candidates[:5]]}}
        return best.model_copy(update={"id": f"{brand}/{logical.id}",
                                       "display_name": logical.name or best.display_name, "extras": extras})

    def plan_migration(self, source: str, target: str,
                       inventory: Sequence[InventoryLine] | str | Path | None = None, *,
                       require_labels: Sequence[str] = (), refresh: bool = False,
                       offline: bool = False) -> Plan:
        """Plan the move from ``source`` to ``target`` (each a brand, alias, former name or backend).

        ``inventory`` is a list of :class:`cloudcat.planner.InventoryLine`, a path to a CSV/JSON
        inventory, or ``None`` (every offer of the source). Returns a :class:`cloudcat.planner.Plan`.
        """
        from .planner import plan_migration, read_inventory  # the planner loads on first use

        view = self._reading(None, refresh=refresh, offline=offline)
        if isinstance(inventory, (str, Path)):
            inventory = read_inventory(inventory)
        return plan_migration(self._side(source, view), self._side(target, view), inventory,
                              require_labels=require_labels, source=source, target=target)

    def _side(self, name: str, view: tuple[Store, int]) -> list[Offer]:
        store, snapshot = view
        if name in self.config.backends and self._brands.resolve(name, warn=False) is None:
            seen: set[tuple[str, str | None, str]] = set()
            out = []
            for o in store.query(OfferQuery(backend=name), snapshot=snapshot):
                key = (o.kind.value, o.region, o.name)
                if key not in seen:
                    seen.add(key)
                    out.append(o)
            return out
        return list(store.query(self.query(brand=self.resolve_brand(name)), snapshot=snapshot))

    # -- history -------------------------------------------------------------------------------
    def snapshots(self) -> list[SnapshotInfo]:
        """Stored snapshots, oldest first."""
        return self.store.snapshots()

    def diff(self, a: int, b: int) -> SnapshotDiff:
        """What changed between snapshots ``a`` and ``b``: offers added, removed, repriced, and
        lifecycle changes."""
        return self.store.diff(a, b)


@contextlib.contextmanager
def _collector_paused() -> Iterator[None]:
    """Pause Python's cyclic garbage collector: a refresh makes millions of short-lived objects
    and no cycles worth collecting, and the collector's passes over them cost more than the
    refresh itself (reference counting still frees everything)."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


#: Seconds the driver of a backend that passed its deadline gets to close (log out).
ABANDONED_CLOSE_S = 2.0


def _close_within(driver: Driver, at: float) -> None:
    with within(Deadline(at)):
        _close_quietly(driver)


def _close_quietly(driver: Driver) -> None:
    try:
        driver.close()
    except Exception:  # closing is best effort
        log.debug("closing driver of %s failed", driver.backend, exc_info=True)


def _sane(stored: Iterable[StoredItem]) -> Iterator[StoredItem]:
    """Stored items whose numbers are within bounds (snapshots written before they were checked
    may hold others); the rest are left out with a warning."""
    for s in stored:
        bad = bounds_violation(s.item)
        if bad is None:
            yield s
        else:
            log.warning("backend %s: stored %s item %r left out: field %s is out of range", s.backend,
                        s.item.kind.value, s.item.name, bad)


class _View:
    """A throwaway store, in a temporary folder, that reads compose a snapshot into when the
    brands or price books changed since it was stored: on disk rather than in memory, so a large
    catalog read that way does not hold itself in memory; removed when closed."""

    #: KiB of page cache while the view is written (a refresh takes up to 256 MB)
    _CACHE_KIB = 65536

    def __init__(self) -> None:
        self._folder = tempfile.TemporaryDirectory(prefix="cloudcat-view-")
        try:
            self.store = Store(Path(self._folder.name) / "view.db")
            self.store._write_cache_kib = self._CACHE_KIB
        except BaseException:
            self._folder.cleanup()
            raise

    def close(self) -> None:
        try:
            self.store.close()
        finally:
            self._folder.cleanup()


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def _nothing_stored(result: RefreshResult) -> CloudcatError:
    errors = "; ".join(f"{s.backend}: {s.error}" for s in result.failed) or "no backend configured"
    return CloudcatError(f"no snapshot could be stored: {errors}")


def open_catalog(source: str | Path | Mapping[str, Any] | Config | None = None, *,
                 store: str | Path | Store | None = None) -> Catalog:
    """Open the catalog described by a configuration file, mapping or :class:`Config`.

    ``source`` defaults to ``$CLOUDCAT_CONFIG`` or ``./cloudcat.yaml``; ``store`` overrides the
    configuration's ``store``.
    """
    return Catalog(load_config(source), store=store)
