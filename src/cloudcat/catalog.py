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
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from pathlib import Path
from types import TracebackType
from typing import Any

from pydantic import ValidationError

from .brands import BrandIndex
from .compose import compose_offers
from .config import Config, load_config, secret_values
from .driver import Driver
from .errors import CloudcatError, ConfigError, DriverError, OfferNotFoundError, redact
from .models import BackendStatus, Brand, Item, Kind, LifecycleStatus, Offer, Region, SnapshotInfo
from .prices import PriceBook
from .query import OfferQuery
from .redaction import register_secrets
from .registry import load_driver
from .store import SnapshotDiff, Store, StoredItem

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


def _as_list(value: Any) -> list[Any] | None:
    if value is None:
        return None
    if isinstance(value, (str, Kind, LifecycleStatus)):
        return [value]
    return list(value)


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
        prev_status = {s.backend: s for s in previous.backends} if previous else {}
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
        # backends not selected this time keep what the last snapshot had
        for name in enabled:
            if name in selected or previous is None:
                continue
            carried = list(self.store.items(previous.id, name))
            read += carried
            if name in prev_status:
                statuses.append(prev_status[name])
        ok_now = [s for s in statuses if s.status == "ok" and s.backend in selected]
        if selected and not ok_now:
            # every backend read this time failed: keep the previous snapshot as the latest
            return RefreshResult(snapshot=None, statuses=statuses)
        snapshot = self._write(read, statuses)
        return RefreshResult(snapshot=snapshot, statuses=statuses)

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
            result = self.refresh()
            if result.snapshot is None:
                raise _nothing_stored(result)
            return result.snapshot
        enabled = [n for n, b in self.config.backends.items() if b.enabled]
        if latest is None:
            if offline:
                raise CloudcatError("no snapshot stored yet and --offline forbids reading the backends; "
                                    "run `cloudcat refresh` first")
            result = self.refresh()
            if result.snapshot is None:
                raise _nothing_stored(result)
            return result.snapshot
        known = {s.backend for s in latest.backends}
        never_read = [n for n in enabled if n not in known]
        age = (_now() - latest.created_at).total_seconds()
        if not offline and (age > self.config.max_age):
            result = self.refresh()
            return result.snapshot or latest
        if not offline and never_read:
            result = self.refresh(never_read)
            return result.snapshot or latest
        if latest.config_hash != self.config.fingerprint():
            return self.recompose(latest)
        return latest

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

    def query(self, *, brand: str | Iterable[str] | None = None, kind: str | Iterable[str] | None = None,
              region: str | Iterable[str] | None = None, zone: str | Iterable[str] | None = None,
              labels: Iterable[str] | None = None, min_vcpus: int | None = None,
              min_memory_mib: int | None = None, gpu: bool | None = None,
              max_price: Decimal | float | str | None = None, currency: str | None = None,
              lifecycle: str | Iterable[str] | None = None, text: str | None = None,
              backend: str | Iterable[str] | None = None, sort: str = "id",
              limit: int | None = None, offset: int = 0) -> OfferQuery:
        """Build the :class:`OfferQuery` for keyword filters (brands resolved)."""
        brands = _as_list(brand)
        resolved = [self.resolve_brand(b) for b in brands] if brands else None
        for name in _as_list(backend) or []:
            if name not in self.config.backends:
                raise ConfigError(f"no backend named {name!r}; configured: {', '.join(self.config.backends)}",
                                  field="backend")
        try:
            return self._build_query(resolved, kind, region, zone, labels, min_vcpus, min_memory_mib, gpu,
                                     max_price, currency, lifecycle, text, backend, sort, limit, offset)
        except (ValidationError, InvalidOperation, ValueError) as exc:
            if isinstance(exc, ValidationError):
                err = exc.errors()[0]
                raise ConfigError(err["msg"], field=".".join(str(p) for p in err["loc"])) from None
            raise ConfigError(str(exc), field="max_price") from None

    @staticmethod
    def _build_query(resolved: list[str] | None, kind: Any, region: Any, zone: Any, labels: Any, min_vcpus: Any,
                     min_memory_mib: Any, gpu: Any, max_price: Any, currency: Any, lifecycle: Any, text: Any,
                     backend: Any, sort: str, limit: Any, offset: int) -> OfferQuery:
        return OfferQuery(
            brands=resolved, kinds=_as_list(kind), regions=_as_list(region), zones=_as_list(zone),
            labels=[x.lower() for x in labels] if labels else None, min_vcpus=min_vcpus,
            min_memory_mib=min_memory_mib, gpu=gpu,
            max_price=_price_bound(max_price),
            currency=currency.upper() if currency else None, lifecycle=_as_list(lifecycle), text=text,
            backends=_as_list(backend), sort=sort, limit=limit, offset=offset)

    def iter_offers(self, *, refresh: bool = False, offline: bool = False, snapshot: int | None = None,
                    **filters: Any) -> Iterator[Offer]:
        """Stream offers matching the filters (see :meth:`offers`)."""
        q = self.query(**filters)
        snap = snapshot if snapshot is not None else self.ensure_fresh(refresh=refresh, offline=offline).id
        yield from self.store.query(q, snapshot=snap)

    def offers(self, *, refresh: bool = False, offline: bool = False, snapshot: int | None = None,
               **filters: Any) -> list[Offer]:
        """Offers matching keyword filters that mirror the CLI flags: ``brand``, ``kind``, ``region``,
        ``zone``, ``labels``, ``min_vcpus``, ``min_memory_mib``, ``gpu``, ``max_price``, ``currency``,
        ``lifecycle``, ``text``, ``backend``, ``sort`` (``id``, ``name``, ``price``, ``-price``,
        ``vcpus``, ``memory_mib``…), ``limit``, ``offset``.

        A flexible compute offer asked for with ``min_vcpus``/``min_memory_mib`` comes back sized
        to the smallest fitting VM, with the price computed for that size.
        """
        return list(self.iter_offers(refresh=refresh, offline=offline, snapshot=snapshot, **filters))

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
        q = self.query(brand=brand, kind=logical.kind, region=logical.regions, labels=logical.labels or None,
                       min_vcpus=logical.min_vcpus, min_memory_mib=logical.min_memory_mib, gpu=logical.gpu,
                       lifecycle="available", sort="price")
        candidates = [
            o for o in self.store.query(q, snapshot=snap)
            if (logical.country is None or (o.country or "").upper() == logical.country.upper())
            and (logical.architecture is None or (o.architecture or "x86_64") == logical.architecture)
            and (logical.os_family is None or (o.os_family or "").lower() == logical.os_family.lower())
            and (logical.storage_class is None or o.storage_class == logical.storage_class)
            and (logical.min_iops is None or (o.iops or 0) >= logical.min_iops)
        ]
        # cheapest priced offer first; unpriced ones by size, the closest fit first
        candidates.sort(key=lambda o: (o.price is None, o.price.amount if o.price else Decimal(0),
                                       o.vcpus or 0, o.memory_mib or 0, o.id))
        if not candidates:
            raise OfferNotFoundError(
                f"logical offer {offer_id!r} has no matching offer on {brand!r}'s backends "
                f"({', '.join(self._brands.config(brand).backend_names)})")
        best = candidates[0]
        wanted = [f"{logical.min_vcpus} vCPU" if logical.min_vcpus else "",
                  f"{logical.min_memory_mib} MiB" if logical.min_memory_mib else "",
                  f"in {logical.country}" if logical.country else "",
                  f"labels {', '.join(logical.labels)}" if logical.labels else ""]
        how = "cheapest" if best.price is not None else "smallest (no price known)"
        reason = (f"{how} available of {len(candidates)} offer(s) with "
                  f"{' '.join(w for w in wanted if w) or 'no requirement'}"
                  + (" (flexible pool sized to the requirement)" if best.flexible is not None else ""))
        extras = {**best.extras, "resolved": {"offer": best.id, "backend": best.backend, "reason": reason,
                                              "candidates": [c.id for c in candidates[:5]]}}
        return best.model_copy(update={"id": f"{brand}/{logical.id}",
                                       "display_name": logical.name or best.display_name, "extras": extras})

    def plan_migration(self, source: str, target: str, inventory: Any = None, *,
                       require_labels: Sequence[str] = (), refresh: bool = False,
                       offline: bool = False) -> Any:
        """Plan the move from ``source`` to ``target`` (each a brand, alias, former name or backend).

        ``inventory`` is a list of :class:`cloudcat.planner.InventoryLine`, a path to a CSV/JSON
        inventory, or ``None`` (every offer of the source). Returns a :class:`cloudcat.planner.Plan`.
        """
        from .planner import plan_migration, read_inventory

        snap = self.ensure_fresh(refresh=refresh, offline=offline).id
        if isinstance(inventory, (str, Path)):
            inventory = read_inventory(inventory)
        return plan_migration(self._side(source, snap), self._side(target, snap), inventory,
                              require_labels=require_labels, source=source, target=target)

    def _side(self, name: str, snapshot: int) -> list[Offer]:
        if name in self.config.backends and self._brands.resolve(name, warn=False) is None:
            seen: set[tuple[str, str | None, str]] = set()
            out = []
            for o in self.store.query(self.query(backend=name), snapshot=snapshot):
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


def _price_bound(value: Any) -> Decimal | None:
    if value is None:
        return None
    try:
        amount = Decimal(str(value))
    except InvalidOperation:
        raise ValueError(f"max_price must be a number, not {value!r}") from None
    if not amount.is_finite() or amount < 0:
        raise ValueError(f"max_price must be a finite amount >= 0, not {value!r}")
    return amount


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
