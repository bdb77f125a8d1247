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

import datetime as dt
import logging
import threading
import time
import warnings
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any, Unpack

from .brands import BrandIndex
from .compose import compose_offers
from .config import Config, load_config, secret_values
from .driver import Driver
from .errors import CloudcatError, ConfigError, DriverError, OfferNotFoundError, redact
from .filters import OfferFilters
from .models import BackendStatus, Brand, Item, Kind, LifecycleStatus, Offer, Region, SnapshotInfo
from .prices import PriceBook
from .query import OfferQuery, SortOrder
from .redaction import register_secrets
from .registry import load_driver
from .store import SnapshotDiff, Store, StoredItem

if TYPE_CHECKING:
    from .planner import InventoryLine, Plan

__all__ = ["Catalog", "OfferLifecycleWarning", "RefreshResult", "open_catalog"]

log = logging.getLogger("cloudcat.catalog")


class OfferLifecycleWarning(UserWarning):
    """An offer that was asked for by id is end-of-sale or end-of-life."""


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

    def __repr__(self) -> str:
        return (f"<Catalog config={self.config.source!r} backends={sorted(self.config.backends)} "
                f"brands={self._brands.names()}>")

    # -- plumbing ------------------------------------------------------------------------------
    @property
    def store(self) -> Store:
        """The snapshot store (opened on first use)."""
        if self._store is None:
            arg = self._store_arg
            self._store = Store(arg if arg is not None and not isinstance(arg, Store) else Store.default_path())
        return self._store

    @property
    def price_book(self) -> PriceBook:
        """The configured price books (read on first use)."""
        if self._prices is None:
            book = PriceBook.load(self.config.price_books)
            for rule in book.rules:
                if rule.backend is not None and rule.backend not in self.config.backends:
                    file, _, line = (rule.source or "").rpartition(":")
                    raise ConfigError(f"price book rule names backend {rule.backend!r}, which is not configured "
                                      f"(configured: {', '.join(self.config.backends)})", source=file or rule.source,
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
                progress: Callable[[BackendStatus], None] | None = None) -> RefreshResult:
        """Read backends (all enabled ones by default) concurrently and store a snapshot.

        Backends not read this time, and backends that fail, keep their items from the previous
        snapshot; a failed backend is reported with its error. Nothing is stored when every
        backend read failed (the previous snapshot then stays the latest).
        """
        enabled = [n for n, b in self.config.backends.items() if b.enabled]
        selected = list(backends) if backends is not None else enabled
        for name in selected:
            if name not in self.config.backends:
                raise ConfigError(f"no backend named {name!r}", source=self.config.source, field="backends")
        previous = self.store.latest()  # the store is opened (and checked) before any backend is read
        for name in selected:
            self.driver(name)  # configuration errors (driver, options) stop the refresh before it starts
        read, statuses = self._read_selected(selected, previous, progress)
        if previous is not None:  # backends not selected this time keep what the last snapshot had
            self._carry_unselected([n for n in enabled if n not in selected], previous, read, statuses)
        if selected and not any(s.status == "ok" and s.backend in selected for s in statuses):
            # every backend read this time failed: keep the previous snapshot as the latest
            return RefreshResult(snapshot=None, statuses=statuses)
        snapshot = self._write(read, statuses)
        return RefreshResult(snapshot=snapshot, statuses=statuses)

    def _read_selected(self, selected: Sequence[str], previous: SnapshotInfo | None,
                       progress: Callable[[BackendStatus], None] | None
                       ) -> tuple[list[StoredItem], list[BackendStatus]]:
        """Read the selected backends side by side; a failed one keeps the previous snapshot's items."""
        statuses: list[BackendStatus] = []
        read: list[StoredItem] = []
        workers = max(1, self.config.concurrency)
        with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="cloudcat-task") as tasks, \
                ThreadPoolExecutor(max_workers=max(1, len(selected)),
                                   thread_name_prefix="cloudcat-backend") as per_backend:
            futures = {name: per_backend.submit(self._read_backend, name, tasks) for name in selected}
            for name, fut in futures.items():
                items, status = fut.result()
                if status.status == "ok":
                    read += items
                elif previous is not None:
                    carried = list(self.store.items(previous.id, name))
                    read += carried
                    status = status.model_copy(update={"items": len(carried)})
                statuses.append(status)
                if progress:
                    progress(status)
        return read, statuses

    def _carry_unselected(self, names: Sequence[str], previous: SnapshotInfo, read: list[StoredItem],
                          statuses: list[BackendStatus]) -> None:
        prev_status = {s.backend: s for s in previous.backends}
        for name in names:
            read += self.store.items(previous.id, name)
            if name in prev_status:
                statuses.append(prev_status[name])

    def _write(self, read: Sequence[StoredItem], statuses: Sequence[BackendStatus]) -> SnapshotInfo:
        offers = compose_offers(read, self._brands, self.price_book)
        return self.store.write_snapshot(items=read, offers=offers, statuses=statuses,
                                         config_hash=self.config.fingerprint())

    def _read_backend(self, name: str, tasks: ThreadPoolExecutor) -> tuple[list[StoredItem], BackendStatus]:
        cfg = self.config.backends[name]
        start = time.monotonic()
        driver: Driver | None = None
        try:
            driver = self.driver(name)
            regions = list(driver.regions())
            kinds = sorted(type(driver).capabilities.kinds)
            futures: list[Future[tuple[list[Item], dt.datetime]]] = [
                tasks.submit(_read_items, driver, kind, region) for region in regions for kind in kinds]
            out: list[StoredItem] = []
            try:
                for fut in futures:
                    items, read_at = fut.result()
                    out += (StoredItem(backend=name, driver=cfg.driver, read_at=read_at, item=item) for item in items)
            finally:
                for fut in futures:
                    fut.cancel()
            status = BackendStatus(backend=name, driver=cfg.driver, status="ok", items=len(out),
                                   seconds=round(time.monotonic() - start, 3), read_at=_now())
            log.info("backend %s: %d items in %.2fs", name, len(out), status.seconds)
            return out, status
        except Exception as exc:  # one failing backend never takes down the others
            message = str(exc) if isinstance(exc, CloudcatError) else f"{type(exc).__name__}: {exc}"
            secrets = driver.secrets() if driver is not None else []
            message = redact(message, secrets)
            while message.startswith(f"{name}: "):  # the status already names the backend
                message = message[len(name) + 2:]
            log.warning("backend %s failed: %s", name, message)
            log.debug("backend %s failure", name, exc_info=log.isEnabledFor(logging.DEBUG))
            return [], BackendStatus(backend=name, driver=cfg.driver, status="failed", error=message,
                                     seconds=round(time.monotonic() - start, 3), read_at=None)

    # -- reading -------------------------------------------------------------------------------
    def ensure_fresh(self, *, refresh: bool = False, offline: bool = False) -> SnapshotInfo:
        """The snapshot queries read, refreshing or recomposing it first when needed."""
        latest = self.store.latest()
        if refresh and not offline:
            return self._refreshed()
        if latest is None:
            if offline:
                raise CloudcatError("no snapshot stored yet and --offline forbids reading the backends; "
                                    "run `cloudcat refresh` first")
            return self._refreshed()
        if not offline:
            known = {s.backend for s in latest.backends}
            never_read = [n for n, b in self.config.backends.items() if b.enabled and n not in known]
            if (_now() - latest.created_at).total_seconds() > self.config.max_age:
                return self.refresh().snapshot or latest
            if never_read:
                return self.refresh(never_read).snapshot or latest
        if latest.config_hash != self.config.fingerprint():
            return self.recompose(latest)
        return latest

    def _refreshed(self) -> SnapshotInfo:
        result = self.refresh()
        if result.snapshot is None:
            raise _nothing_stored(result)
        return result.snapshot

    def recompose(self, snapshot: SnapshotInfo | None = None) -> SnapshotInfo:
        """Store a new snapshot from the stored items under the current brands and price books,
        without reading any backend (a relabel, a new price book)."""
        base = snapshot or self.store.latest()
        if base is None:
            raise CloudcatError("no snapshot to recompose; run `cloudcat refresh` first")
        configured = set(self.config.backends)
        read = [s for s in self.store.items(base.id) if s.backend in configured]
        statuses = [s for s in base.backends if s.backend in configured]
        return self._write(read, statuses)

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
        snap = snapshot if snapshot is not None else self.ensure_fresh(refresh=refresh, offline=offline).id
        yield from self.store.query(q, snapshot=snap)

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
        snap = snapshot if snapshot is not None else self.ensure_fresh(refresh=refresh, offline=offline).id
        offer = self.store.get(resolved, snapshot=snap) or self.resolve_logical(resolved, snapshot=snap)
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
        logical = next((lo for lo in self._brands.config(brand).offers if lo.id == rest), None)
        if logical is None:
            return None
        snap = snapshot if snapshot is not None else self.ensure_fresh().id
        # A logical offer is a stored query: one store query, cheapest first.
        q = OfferQuery(sort="price", **{**logical.filters, "brand": [brand], "lifecycle": ["available"]})
        candidates = list(self.store.query(q, snapshot=snap))
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

        snap = self.ensure_fresh(refresh=refresh, offline=offline).id
        if isinstance(inventory, (str, Path)):
            inventory = read_inventory(inventory)
        return plan_migration(self._side(source, snap), self._side(target, snap), inventory,
                              require_labels=require_labels, source=source, target=target)

    def _side(self, name: str, snapshot: int) -> list[Offer]:
        if name in self.config.backends and self._brands.resolve(name, warn=False) is None:
            seen: set[tuple[str, str | None, str]] = set()
            out = []
            for o in self.store.query(OfferQuery(backend=name), snapshot=snapshot):
                key = (o.kind.value, o.region, o.name)
                if key not in seen:
                    seen.add(key)
                    out.append(o)
            return out
        return list(self.store.query(self.query(brand=self.resolve_brand(name)), snapshot=snapshot))

    # -- history -------------------------------------------------------------------------------
    def snapshots(self) -> list[SnapshotInfo]:
        """Stored snapshots, oldest first."""
        return self.store.snapshots()

    def diff(self, a: int, b: int) -> SnapshotDiff:
        """What changed between snapshots ``a`` and ``b``: offers added, removed, repriced, and
        lifecycle changes."""
        return self.store.diff(a, b)


def _read_items(driver: Driver, kind: Kind, region: Region) -> tuple[list[Item], dt.datetime]:
    items = list(driver.read(kind, region))
    return items, _now()


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
