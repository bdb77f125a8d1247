"""The target index and the candidate search: which target offers can replace a source offer.

Targets are indexed by kind, currency, price period and bucket (vCPU count, OS family or IOPS),
each list sorted by price, and merged lazily so a search stops at the fourth acceptable offer.
Each candidate goes through the checks of :class:`Stage` in order; a search that finds nothing
keeps the furthest stage its candidates reached, for :mod:`cloudcat.planner.reasons` to explain.

Sale status comes from the typed platform facts drivers fill (:attr:`~cloudcat.models.OfferSpec.sale_status`,
:attr:`~cloudcat.models.OfferSpec.zone_status`) and the lifecycle; no backend-specific key is read.
"""

from __future__ import annotations

import datetime as dt
import heapq
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from enum import Enum, IntEnum
from typing import Any

from ..models import Kind, LifecycleStatus, Offer, SaleStatus
from .model import HOURS_PER_MONTH, InventoryLine
from .pricing import Period, monthly, rate

__all__ = [
    "MAX_ALTERNATIVES",
    "Choice",
    "Gap",
    "Index",
    "Ranked",
    "Requirement",
    "SaleState",
    "Stage",
    "Target",
    "check",
    "norm",
    "requirement",
    "sale_state",
]

MAX_ALTERNATIVES = 3
_NOT_ORDERABLE = frozenset({SaleStatus.SOLD_OUT, SaleStatus.WITHDRAWN})

Size = tuple[int, int]


class Stage(IntEnum):
    """The checks a candidate goes through, in order; a gap reports the furthest one reached."""

    SIZE = 0
    GPU = 1
    ARCH = 2
    OS = 3
    IOPS = 4
    BANDWIDTH = 5
    LABELS = 6
    LIFECYCLE = 7
    ZONES = 8
    OK = 9


class SaleState(Enum):
    """Whether a target can be ordered on the day of the plan."""

    AVAILABLE = "available"
    NOT_ON_SALE = "not on sale"  # end of sale or end of life
    SOLD_OUT = "sold out"        # everywhere: region-wide, or in every zone it is sold in


_SALE_STAGE = {SaleState.AVAILABLE: Stage.OK, SaleState.NOT_ON_SALE: Stage.LIFECYCLE,
               SaleState.SOLD_OUT: Stage.ZONES}


def sale_state(offer: Offer, day: dt.date) -> tuple[SaleState, list[str]]:
    """(state, orderable zones) of an offer on ``day``, from its lifecycle and sale status.

    Zones are the offer's ``zones`` (or ``zone``), else those its ``zone_status`` names; a zone
    with no status is orderable.
    """
    if offer.lifecycle.at(day).status != LifecycleStatus.AVAILABLE:
        return SaleState.NOT_ON_SALE, []
    if offer.sale_status in _NOT_ORDERABLE:
        return SaleState.SOLD_OUT, []
    statuses = offer.zone_status
    zones = list(offer.zones) or ([offer.zone] if offer.zone else []) or list(statuses)
    if not zones:
        return SaleState.AVAILABLE, []
    open_zones = [z for z in zones if statuses.get(z, SaleStatus.ORDERABLE) not in _NOT_ORDERABLE]
    return (SaleState.AVAILABLE if open_zones else SaleState.SOLD_OUT), open_zones


def norm(text: str | None) -> str | None:
    """Text compared without case or surrounding blanks; ``None`` when empty."""
    return text.strip().lower() if text and text.strip() else None


@dataclass(slots=True, eq=False)
class Target:
    """A target offer with what the checks compare, read once."""

    offer: Offer
    vcpus: int
    memory: int
    gpu_count: float
    gpu_memory: int
    arch: str
    os_family: str | None
    os_version: str | None
    iops: int
    bandwidth: float
    labels: frozenset[str]
    #: The stage the sale state stops a candidate at (``Stage.OK`` when orderable).
    sale_stage: Stage
    open_zones: list[str]
    rate: Decimal | None = None     # price per period, fixed offers only
    period: Period | None = None    # "hour" or "month" (a yearly rate is stored per month)
    currency: str | None = None

    @classmethod
    def of(cls, offer: Offer, day: dt.date) -> Target:
        """The target form of ``offer``, its sale state judged on ``day``."""
        state, zones = sale_state(offer, day)
        gpu = offer.gpu
        return cls(
            offer=offer, vcpus=offer.vcpus or 0, memory=offer.memory_mib or 0,
            gpu_count=gpu.count if gpu else 0.0,
            gpu_memory=(gpu.memory_mib or -1) if gpu else -1,
            arch=offer.architecture or "x86_64",
            os_family=norm(offer.os_family), os_version=norm(offer.os_version),
            iops=offer.iops if offer.iops is not None else -1,
            bandwidth=offer.bandwidth_mbps if offer.bandwidth_mbps is not None else -1.0,
            labels=frozenset(offer.labels), sale_stage=_SALE_STAGE[state], open_zones=zones)


@dataclass(slots=True)
class Requirement:
    """What a target must meet to replace a source offer."""

    kind: Kind
    vcpus: int | None
    memory: int | None
    gpu_count: float
    gpu_memory: int | None
    arch: str
    os_family: str | None
    os_version: str | None
    iops: int | None
    bandwidth: float | None

    def key(self) -> tuple[Any, ...]:
        """The requirement as a hashable key (sources that need the same share one search)."""
        return (self.kind, self.vcpus, self.memory, self.gpu_count, self.gpu_memory, self.arch,
                self.os_family, self.os_version, self.iops, self.bandwidth)


def requirement(offer: Offer, line: InventoryLine | None) -> tuple[Requirement, Size | None]:
    """What a target must meet to replace ``offer``, and the source's size when flexible."""
    vcpus, memory = offer.vcpus, offer.memory_mib
    flex_size: Size | None = None
    if offer.flexible is not None:
        want_v = line.vcpus if line and line.vcpus else None
        want_m = line.memory_mib if line and line.memory_mib else None
        flex_size = offer.flexible.size_for(want_v, want_m)
        vcpus, memory = flex_size if flex_size else (want_v, want_m)
    gpu = offer.gpu
    image = offer.kind == Kind.IMAGE
    return Requirement(
        kind=offer.kind, vcpus=vcpus, memory=memory,
        gpu_count=gpu.count if gpu else 0.0, gpu_memory=gpu.memory_mib if gpu else None,
        arch=offer.architecture or "x86_64",
        os_family=norm(offer.os_family) if image else None,
        os_version=norm(offer.os_version) if image else None,
        iops=offer.iops if offer.kind == Kind.STORAGE else None,
        bandwidth=offer.bandwidth_mbps if offer.kind == Kind.NETWORK else None,
    ), flex_size


# --------------------------------------------------------------------------- checks


def _compute_stage(t: Target, req: Requirement, sized: Size | None) -> Stage | None:
    if t.offer.flexible is not None:
        if sized is None:
            return Stage.SIZE
    elif (req.vcpus is not None and t.vcpus < req.vcpus) or (req.memory is not None and t.memory < req.memory):
        return Stage.SIZE
    if req.gpu_count > 0 and (t.gpu_count < req.gpu_count or
                              (req.gpu_memory is not None and t.gpu_memory < req.gpu_memory)):
        return Stage.GPU
    if t.arch != req.arch:
        return Stage.ARCH
    return None


def _image_stage(t: Target, req: Requirement, sized: Size | None) -> Stage | None:
    if t.os_family != req.os_family or (req.os_version is not None and t.os_version != req.os_version):
        return Stage.OS
    return None


def _storage_stage(t: Target, req: Requirement, sized: Size | None) -> Stage | None:
    return Stage.IOPS if req.iops is not None and t.iops < req.iops else None


def _network_stage(t: Target, req: Requirement, sized: Size | None) -> Stage | None:
    return Stage.BANDWIDTH if req.bandwidth is not None and t.bandwidth < req.bandwidth else None


_KIND_CHECKS: dict[Kind, Callable[[Target, Requirement, Size | None], Stage | None]] = {
    Kind.COMPUTE: _compute_stage, Kind.IMAGE: _image_stage, Kind.STORAGE: _storage_stage,
    Kind.NETWORK: _network_stage,
}


def check(t: Target, req: Requirement, sized: Size | None, labels: frozenset[str]) -> Stage:
    """The first stage ``t`` fails for ``req`` (``sized``: its size when flexible), or ``Stage.OK``."""
    kind_check = _KIND_CHECKS.get(req.kind)
    failed = kind_check(t, req, sized) if kind_check is not None else None
    if failed is not None:
        return failed
    if not labels <= t.labels:
        return Stage.LABELS
    return t.sale_stage


# --------------------------------------------------------------------------- index

#: An acceptable target: (target, rate per period or None, period or None, currency, flexible size).
Ranked = tuple[Target, Decimal | None, Period | None, str | None, Size | None]
# a candidate in a price-ordered stream: (monthly amount, id, target, size, rate, period)
_Entry = tuple[Decimal, str, Target, Size | None, Decimal, Period]


@dataclass(slots=True)
class Gap:
    """Why a search found nothing: the furthest stage reached and the candidates that got near."""

    #: Furthest stage any candidate reached; ``None`` when no candidate was checked.
    stage: Stage | None = None
    #: Candidates that passed every check before the labels.
    near: list[Target] = field(default_factory=list)
    #: Whether the target has any GPU offer of the kind.
    any_gpu: bool = False
    #: Whether the target has no offer of the kind at all.
    no_offer: bool = False


@dataclass(slots=True)
class Choice:
    """The cheapest acceptable targets, best first (at most 1 + ``MAX_ALTERNATIVES``), or the gap."""

    ranked: list[Ranked]
    gap: Gap | None = None


def _bucket(kind: Kind, target: Target) -> Any:
    if kind == Kind.COMPUTE:
        return target.vcpus
    if kind == Kind.IMAGE:
        return target.os_family
    if kind == Kind.STORAGE:
        return target.iops
    return 0


def _bucket_ok(kind: Kind, bucket: Any, req: Requirement) -> bool:
    if kind == Kind.COMPUTE:
        return req.vcpus is None or bool(bucket >= req.vcpus)
    if kind == Kind.IMAGE:
        return bool(bucket == req.os_family)
    if kind == Kind.STORAGE:
        return req.iops is None or bool(bucket >= req.iops)
    return True


@dataclass
class Pool:
    """Targets of one kind, indexed for cheapest-first search."""

    # (currency, period) -> bucket -> [(rate, id, target)] sorted
    priced: dict[tuple[str, Period], dict[Any, list[tuple[Decimal, str, Target]]]] = field(
        default_factory=lambda: defaultdict(lambda: defaultdict(list)))
    unpriced: dict[Any, list[Target]] = field(default_factory=lambda: defaultdict(list))
    flexible: list[Target] = field(default_factory=list)
    currencies: Counter[str] = field(default_factory=Counter)
    periods: set[str] = field(default_factory=set)
    size: int = 0
    any_gpu: bool = False

    def add(self, kind: Kind, target: Target) -> None:
        """Index ``target`` (an offer of ``kind``) by price, or among the flexible or unpriced ones."""
        offer = target.offer
        self.size += 1
        self.any_gpu = self.any_gpu or offer.gpu is not None
        if kind == Kind.COMPUTE and offer.flexible is not None:
            self.flexible.append(target)
            for part in (offer.flexible.price_per_vcpu, offer.flexible.price_per_gib_memory):
                if part is not None:
                    self.currencies[part.currency] += 1
                    self.periods.add(part.unit.rsplit("-", 1)[-1])
            return
        price, found = offer.price, rate(offer.price)
        if price is None or found is None:
            self.unpriced[_bucket(kind, target)].append(target)
            return
        target.rate, target.period = found
        target.currency = price.currency
        self.currencies[price.currency] += 1
        self.periods.add(found[1])
        self.priced[(price.currency, found[1])][_bucket(kind, target)].append((found[0], offer.id, target))

    def sort(self) -> None:
        """Order every list by price (then id), once every target is added."""
        for buckets in self.priced.values():
            for entries in buckets.values():
                entries.sort(key=lambda e: (e[0], e[1]))
        for unpriced in self.unpriced.values():
            unpriced.sort(key=lambda t: t.offer.id)
        self.flexible.sort(key=lambda t: t.offer.id)

    def streams(self, req: Requirement, hours: Decimal, currency: str,
                flex: list[tuple[_Entry, str]]) -> Iterator[_Entry]:
        """Acceptable-or-not candidates priced in ``currency``, cheapest first."""
        streams: list[Iterable[_Entry]] = []
        for every in ("hour", "month"):
            buckets = self.priced.get((currency, every))
            if not buckets:
                continue
            for bucket, entries in buckets.items():
                if not _bucket_ok(req.kind, bucket, req):
                    continue
                if every == "hour":
                    streams.append((r * hours, oid, t, None, r, "hour") for r, oid, t in entries)
                else:
                    streams.append((r, oid, t, None, r, "month") for r, oid, t in entries)
        flex_here = sorted((entry for entry, cur in flex if cur == currency), key=lambda e: (e[0], e[1]))
        if flex_here:
            streams.append(flex_here)
        return heapq.merge(*streams, key=lambda e: (e[0], e[1]))

    def flexible_candidates(self, req: Requirement, hours: Decimal
                            ) -> tuple[list[tuple[_Entry, str]], list[tuple[Target, Size | None]]]:
        """Flexible targets sized and priced for ``req``: (priced entries with currency, unpriced)."""
        priced: list[tuple[_Entry, str]] = []
        unpriced: list[tuple[Target, Size | None]] = []
        for t in self.flexible:
            sizing = t.offer.flexible
            assert sizing is not None
            size = sizing.size_for(req.vcpus, req.memory)
            price = sizing.price_for(*size) if size is not None else None
            amount = monthly(price, hours)
            if price is not None and amount is not None and size is not None:
                every: Period = "hour" if price.unit == "hour" else "month"
                priced.append(((amount, t.offer.id, t, size, price.amount, every), price.currency))
            else:
                unpriced.append((t, size))
        return priced, unpriced

    def unpriced_candidates(self, req: Requirement, flex_unpriced: list[tuple[Target, Size | None]]
                            ) -> list[tuple[Target, Size | None]]:
        """Unpriced candidates (fixed, and flexible ones the pool could not price), by id."""
        out: list[tuple[Target, Size | None]] = [
            (t, None) for bucket, targets in self.unpriced.items() if _bucket_ok(req.kind, bucket, req)
            for t in targets]
        out += flex_unpriced
        out.sort(key=lambda e: e[0].offer.id)
        return out

    def currency_order(self, flex_priced: list[tuple[_Entry, str]], preferred: str | None) -> list[str]:
        """Currencies to search in: ``preferred`` (else the pool's most common) first, then by code."""
        currencies = sorted(set(self.currencies) | {currency for _, currency in flex_priced})
        if preferred is None and self.currencies:
            preferred = max(sorted(self.currencies), key=lambda c: self.currencies[c])
        if preferred in currencies:
            currencies.remove(preferred)
            currencies.insert(0, preferred)
        return currencies


class _Search:
    """Candidates checked in ranking order until enough are acceptable, and what the others lacked."""

    __slots__ = ("furthest", "labels", "near", "ranked", "req")

    def __init__(self, req: Requirement, labels: frozenset[str]) -> None:
        self.req = req
        self.labels = labels
        self.ranked: list[Ranked] = []
        self.near: list[Target] = []  # candidates that reached the labels stage (for the gap message)
        self.furthest: Stage | None = None

    def consider(self, t: Target, amount: Decimal | None, every: Period | None, currency: str | None,
                 size: Size | None) -> bool:
        """Check one candidate; ``True`` once the search has enough acceptable ones."""
        stage = check(t, self.req, size, self.labels)
        if stage == Stage.OK:
            self.ranked.append((t, amount, every, currency, size))
            return len(self.ranked) > MAX_ALTERNATIVES
        if stage >= Stage.LABELS:
            self.near.append(t)
        if self.furthest is None or stage > self.furthest:
            self.furthest = stage
        return False

    def priced(self, entries: Iterable[_Entry], currency: str) -> bool:
        """Consider priced candidates in order; ``True`` once done."""
        return any(self.consider(t, amount, every, currency, size)
                   for _monthly, _oid, t, size, amount, every in entries)

    def unpriced(self, candidates: Iterable[tuple[Target, Size | None]]) -> bool:
        """Consider unpriced candidates in order; ``True`` once done."""
        return any(self.consider(t, None, None, None, size) for t, size in candidates)


class Index:
    """Target offers indexed by kind for cheapest-first search, with the labels a target must carry."""

    def __init__(self, targets: Sequence[Offer], labels: frozenset[str], day: dt.date) -> None:
        self.labels = labels
        self.pools: dict[Kind, Pool] = defaultdict(Pool)
        for offer in targets:
            self.pools[offer.kind].add(offer.kind, Target.of(offer, day))
        for pool in self.pools.values():
            pool.sort()

    def ranking_hours(self, kind: Kind, hours: Decimal) -> Decimal:
        """Hours a month to rank ``kind``'s targets at, for lines of ``hours``.

        Ranking depends on the hours only where hourly and monthly prices meet in one pool;
        elsewhere every positive number of hours ranks alike, so lines share one search.
        """
        return hours if self.hours_matter(kind) or not hours else HOURS_PER_MONTH

    def hours_matter(self, kind: Kind) -> bool:
        """Whether the hours a month change the ranking of ``kind``'s targets (hourly and monthly
        prices in one pool)."""
        pool = self.pools.get(kind)
        return pool is None or len(pool.periods) > 1

    def choose(self, req: Requirement, hours: Decimal, preferred: str | None) -> Choice:
        """The cheapest acceptable targets for ``req`` at ``hours`` a month, ``preferred`` currency
        first, then other currencies, then unpriced targets; or the gap."""
        pool = self.pools.get(req.kind)
        if pool is None or pool.size == 0:
            return Choice([], Gap(no_offer=True))
        flex_priced, flex_unpriced = pool.flexible_candidates(req, hours)
        search = _Search(req, self.labels)
        done = any(search.priced(pool.streams(req, hours, currency, flex_priced), currency)
                   for currency in pool.currency_order(flex_priced, preferred))
        if not done:
            search.unpriced(pool.unpriced_candidates(req, flex_unpriced))
        if search.ranked:
            return Choice(search.ranked)
        return Choice([], Gap(stage=search.furthest, near=search.near, any_gpu=pool.any_gpu))
