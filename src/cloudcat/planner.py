"""Migration plans: which offer of a target replaces each offer in use at a source, at what price.

For each inventory line (an offer in use, how many, how many hours a month) the planner picks
the **cheapest acceptable** target offer of the same kind, up to three alternatives (the next
cheapest), the monthly price before and after, and the reasons. A line with no acceptable
target is a **gap**, with the reason.

What "acceptable" means, per kind of the source offer:

* compute: at least the source's vCPUs and memory; when the source has a GPU, at least its GPU
  count and (when known) GPU memory; the same architecture (an unknown architecture is taken as
  ``x86_64``, the default of every platform cloudcat knows). A flexible target
  (:class:`~cloudcat.models.FlexibleSizing`) is sized to the source with ``size_for`` and priced
  with ``price_for``; the size is on the line (``target_vcpus``, ``target_memory_mib``).
* image: the same ``os_family`` and, when the source names one, the same ``os_version``
  (compared without case).
* storage: at least the source's IOPS, when the source states them.
* network: at least the source's bandwidth, when the source states it.
* every kind: all the ``require_labels``; orderable: lifecycle ``available`` on the day of the
  plan, and, for offers sold per zone, at least one zone not sold out. Zone sale status is read
  from ``extras["zone_status"]`` (``{zone: status}``) or from a Huawei-style
  ``cond:operation:az`` string (``"eu-west-0a(normal),eu-west-0b(sellout)"``, also under
  ``extras["os_extra_specs"]``); ``sellout`` and ``abandon`` are not orderable. A region-wide
  ``cond:operation:status`` of ``sellout``/``abandon`` makes the offer sold out everywhere.

Ranking: the monthly price of one unit at the line's hours a month (hourly prices times hours,
monthly prices as they are, yearly prices / 12). Prices in the source's currency come first, then
the other currencies (alphabetically), then unpriced offers (by id). So "cheapest" holds within a
currency; amounts in different currencies are never compared nor added.

A target that is acceptable but has **no price** is kept as the target, with ``monthly_after``
null and the reason ``price unknown``; it is not a gap (``gap_reason`` is null). A gap has
``target`` null and a ``gap_reason`` that names what the nearest candidates lacked: ``no GPU
offer``, ``no image for OS ubuntu 22.04``, ``label secnumcloud missing``, ``sold out in every
zone``, ``no offer with ≥ 8 vCPU / 32768 MiB``…

Storage priced per GiB: an inventory line's ``size_gib`` gives the size; without it, the plan
compares the price of one GiB.

Totals are per currency: ``before`` adds the known monthly prices before, ``after`` the known
monthly prices after, ``difference`` adds the differences of the lines priced on both sides in
that same currency (so it may differ from ``after - before`` when some lines are gaps or
unpriced). A line whose two prices are in different currencies has no difference; each price
counts in the total of its own currency.

Speed: lines are grouped by source offer (and size), and each requirement is solved once per
ranking: the hours a month matter to the ranking only where a pool mixes hourly and monthly
prices. Targets are indexed by kind, currency, price period and vCPU count (or OS family, or
IOPS), each list sorted by price, and merged lazily so a search stops at the fourth acceptable
offer (``bench/bench_plan.py``: 100,000 lines against 10,000 offers).
"""

from __future__ import annotations

import datetime as dt
import functools
import heapq
import re
from collections import Counter, defaultdict
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from .errors import ConfigError
from .models import Kind, LifecycleStatus, Offer, Price
from .records import read_records

__all__ = [
    "InventoryLine",
    "Plan",
    "PlanLine",
    "Totals",
    "monthly_price",
    "offer_family",
    "plan_migration",
    "read_inventory",
]

_HOURS_PER_MONTH = Decimal(730)
_NOT_ORDERABLE = frozenset({"sellout", "abandon", "sold-out", "sold_out", "soldout"})
_PLANNED_KINDS = (Kind.COMPUTE, Kind.STORAGE, Kind.IMAGE)
_MAX_ALTERNATIVES = 3


# --------------------------------------------------------------------------- models


class InventoryLine(BaseModel):
    """One line of what is in use at the source."""

    model_config = ConfigDict(extra="forbid")

    item: str = Field(default="", description="Your name for it (server group, application…).")
    offer: str = Field(min_length=1, description="An offer id, or the backend's offer name (flavor name…).")
    quantity: int = Field(default=1, ge=0)
    hours_per_month: Decimal = Field(default=_HOURS_PER_MONTH, ge=0, le=744)
    region: str | None = Field(default=None, description="Region, to pick among offers sharing a name.")
    vcpus: int | None = Field(default=None, ge=1, description="Size in use, for a flexible source offer.")
    memory_mib: int | None = Field(default=None, ge=1, description="Memory in use, for a flexible source.")
    size_gib: Decimal | None = Field(default=None, ge=0, description="Size, for storage priced per GiB.")


class Totals(BaseModel):
    """Monthly totals in one currency."""

    before: Decimal = Decimal(0)
    after: Decimal = Decimal(0)
    difference: Decimal = Decimal(0)


@dataclass(slots=True)
class PlanLine:
    """The plan for one inventory line.

    A slotted dataclass rather than a pydantic model: a plan holds one per inventory line
    (100,000 and more), and building them is the largest cost of planning. :class:`Plan`
    (a pydantic model) validates and serialises them like any model field.
    """

    item: str
    #: Source offer id (or the reference given, when no source offer has it).
    source: str
    source_name: str | None = None
    kind: str | None = None
    #: Family of the source offer (flavor prefix, service class…), see :func:`offer_family`.
    family: str = "other"
    quantity: int = 1
    hours_per_month: Decimal = _HOURS_PER_MONTH
    #: Chosen target offer id; ``None`` for a gap.
    target: str | None = None
    target_name: str | None = None
    #: Size carved from a flexible target.
    target_vcpus: int | None = None
    target_memory_mib: int | None = None
    #: Up to three next-cheapest acceptable target ids.
    alternatives: list[str] = field(default_factory=list)
    monthly_before: Decimal | None = None
    monthly_after: Decimal | None = None
    #: ``monthly_after - monthly_before`` when both are known in the same currency.
    difference: Decimal | None = None
    #: Currency of the line: of ``monthly_before``, else of ``monthly_after``.
    currency: str | None = None
    #: Currency of ``monthly_after``.
    currency_after: str | None = None
    gap_reason: str | None = None
    reasons: list[str] = field(default_factory=list)

    @property
    def is_gap(self) -> bool:
        """Whether no acceptable target exists."""
        return self.target is None

    def to_json(self) -> dict[str, Any]:
        """The line's part of the ``plan --format json`` contract."""
        return {
            "item": self.item,
            "source": self.source,
            "source_name": self.source_name,
            "kind": self.kind,
            "family": self.family,
            "quantity": self.quantity,
            "hours_per_month": _fmt(self.hours_per_month),
            "target": self.target,
            "target_name": self.target_name,
            "target_vcpus": self.target_vcpus,
            "target_memory_mib": self.target_memory_mib,
            "alternatives": list(self.alternatives),
            "monthly_before": _fmt(self.monthly_before),
            "monthly_after": _fmt(self.monthly_after),
            "difference": _fmt(self.difference),
            "currency": self.currency,
            "currency_after": self.currency_after,
            "gap_reason": self.gap_reason,
            "reasons": list(self.reasons),
        }


class Plan(BaseModel):
    """A migration plan: one line per inventory line, and totals per currency."""

    source: str = ""
    target: str = ""
    generated_at: dt.datetime = Field(default_factory=lambda: dt.datetime.now(dt.UTC))
    lines: list[PlanLine] = Field(default_factory=list)
    totals: dict[str, Totals] = Field(default_factory=dict)

    @property
    def gaps(self) -> list[PlanLine]:
        """Lines with no acceptable target."""
        return [line for line in self.lines if line.target is None]

    def to_json(self) -> dict[str, Any]:
        """The stable JSON form (the ``plan --format json`` contract).

        Amounts are decimal strings (``"146.00"``), never floats; unknown amounts are null.
        """
        return {
            "source": self.source,
            "target": self.target,
            "generated_at": self.generated_at.isoformat(),
            "summary": {"lines": len(self.lines), "gaps": sum(1 for x in self.lines if x.target is None)},
            "totals": {
                currency: {"before": _fmt(t.before), "after": _fmt(t.after), "difference": _fmt(t.difference)}
                for currency, t in sorted(self.totals.items())
            },
            "lines": [line.to_json() for line in self.lines],
        }

    def rows(self) -> list[dict[str, str]]:
        """Flat rows (strings, empty for unknown) for CSV and table output."""
        out: list[dict[str, str]] = []
        for line in self.lines:
            data = line.to_json()
            out.append({
                key: ("; ".join(value) if isinstance(value, list) else "" if value is None else str(value))
                for key, value in data.items()
            })
        return out


def _fmt(value: Decimal | None) -> str | None:
    """A decimal as plain text: at most 6 decimals, at least 2, never an exponent."""
    if value is None:
        return None
    return _fmt_decimal(value)


@functools.lru_cache(maxsize=65536)
def _fmt_decimal(value: Decimal) -> str:
    # amounts repeat (one per source offer and quantity), so a 100,000-line plan formats few
    text = format(value.quantize(Decimal("0.000001")), "f")
    whole, _, frac = text.partition(".")
    frac = frac.rstrip("0").ljust(2, "0")
    return f"{whole}.{frac}"


# --------------------------------------------------------------------------- inventory


def read_inventory(path: str | Path) -> list[InventoryLine]:
    """Read an inventory from a CSV, JSON, JSON Lines or YAML file.

    Columns / keys: ``item``, ``offer`` (id or backend name), ``quantity`` (default 1),
    ``hours_per_month`` (default 730), and optionally ``region``, ``vcpus``, ``memory_mib``
    (size of a flexible source), ``size_gib`` (storage). A JSON or YAML file holds a list, or an
    object whose ``items`` is the list. Errors are :class:`~cloudcat.errors.ConfigError` naming
    the file, the line (or entry) and the field.
    """
    lines: list[InventoryLine] = []
    for index, (source, line, row) in enumerate(read_records(path)):
        try:
            lines.append(InventoryLine.model_validate(row))
        except ValidationError as exc:
            error = exc.errors()[0]
            loc = ".".join(str(part) for part in error["loc"])
            where = loc if line is not None else f"items[{index}]" + (f".{loc}" if loc else "")
            raise ConfigError(error["msg"], source=source, line=line, field=where or None) from exc
    return lines


# --------------------------------------------------------------------------- prices


def _period(unit: str) -> str | None:
    """``hour``/``month``/``year`` for a price unit of one thing (or of one GiB), else ``None``."""
    if unit in ("hour", "GiB-hour"):
        return "hour"
    if unit in ("month", "GiB-month"):
        return "month"
    if unit == "year":
        return "year"
    return None


def _monthly(price: Price | None, hours_per_month: Decimal) -> Decimal | None:
    if price is None:
        return None
    period = _period(price.unit)
    if period == "hour":
        return price.amount * hours_per_month
    if period == "month":
        return price.amount
    if period == "year":
        return price.amount / 12
    return None


def monthly_price(offer: Offer, hours_per_month: Decimal | int = _HOURS_PER_MONTH) -> Decimal | None:
    """Monthly price of one unit of ``offer``, or ``None`` when unknown.

    An hourly price is multiplied by ``hours_per_month``; a monthly price is taken as it is; a
    yearly price is divided by 12. Storage priced per GiB gives the price of one GiB. A flexible
    offer without a fixed price, a one-time price or a per-vCPU price alone are unknown here
    (size a flexible offer first, see :meth:`cloudcat.models.FlexibleSizing.price_for`).
    """
    return _monthly(offer.price, Decimal(hours_per_month))


_AZURE = re.compile(r"^Standard_([A-Z]+)\d+([a-z]*)(?:_(v\d+))?$")
_FAMILY_EXTRAS = ("family", "service_class", "serviceClass", "vdcServiceClass", "ecs:generation")


def offer_family(offer: Offer) -> str:
    """The family an offer belongs to, for grouping (charts, summaries).

    ``extras["family"]`` (or a service class, or Huawei's ``ecs:generation``) when set; else, for
    compute, the flavor prefix (``s3`` for ``s3.large.2``, ``n1`` for ``n1.cw.standard-1``,
    ``Dsv5`` for ``Standard_D4s_v5``); for storage, the storage class; for images, the OS family.
    """
    for key in _FAMILY_EXTRAS:
        value = offer.extras.get(key)
        if isinstance(value, str) and value:
            return value
    if offer.kind == Kind.STORAGE:
        return offer.storage_class or offer.name
    if offer.kind == Kind.IMAGE:
        return offer.os_family or "image"
    if offer.kind == Kind.COMPUTE:
        name = offer.name
        match = _AZURE.match(name)
        if match:
            return f"{match.group(1)}{match.group(2)}{match.group(3) or ''}"
        if "." in name:
            return name.split(".", 1)[0]
        if offer.flexible is not None:
            return "flexible"
        head = re.match(r"[A-Za-z]+\d*", name)
        return head.group(0) if head else name
    return str(offer.kind)


# --------------------------------------------------------------------------- target index

# Checks, in the order they are applied; a gap reports the stage its nearest candidates failed.
_SIZE, _GPU, _ARCH, _OS, _IOPS, _BANDWIDTH, _LABELS, _LIFECYCLE, _ZONES, _OK = range(10)
_AVAILABLE, _NOT_ON_SALE, _SOLD_OUT = range(3)


def _zone_status(extras: dict[str, Any]) -> tuple[dict[str, str], str | None]:
    """Per-zone sale status and region-wide status from a driver's extras."""
    statuses: dict[str, str] = {}
    raw = extras.get("zone_status")
    if isinstance(raw, dict):
        statuses.update({str(k): str(v).lower() for k, v in raw.items()})
    specs: list[dict[str, Any]] = [extras]
    for key in ("os_extra_specs", "extra_specs"):
        nested = extras.get(key)
        if isinstance(nested, dict):
            specs.append(nested)
    region_status: str | None = None
    for spec in specs:
        azs = spec.get("cond:operation:az")
        if isinstance(azs, str):
            for part in azs.split(","):
                match = re.match(r"\s*([^()\s]+)\s*\(([^)]*)\)\s*$", part)
                if match:
                    statuses[match.group(1)] = match.group(2).strip().lower()
        status = spec.get("cond:operation:status")
        if isinstance(status, str) and status.strip():
            region_status = status.strip().lower()
    return statuses, region_status


def _sale_state(offer: Offer, day: dt.date) -> tuple[int, list[str]]:
    """(state, orderable zones) of an offer on ``day``."""
    if offer.lifecycle.at(day).status != LifecycleStatus.AVAILABLE:
        return _NOT_ON_SALE, []
    statuses, region_status = _zone_status(offer.extras)
    if region_status is not None and (region_status in _NOT_ORDERABLE or "sellout" in region_status):
        return _SOLD_OUT, []
    zones = list(offer.zones) or ([offer.zone] if offer.zone else []) or list(statuses)
    if not zones:
        return _AVAILABLE, []
    open_zones = [z for z in zones if statuses.get(z, "normal") not in _NOT_ORDERABLE]
    return (_AVAILABLE if open_zones else _SOLD_OUT), open_zones


def _norm(text: str | None) -> str | None:
    return text.strip().lower() if text and text.strip() else None


@dataclass(slots=True, eq=False)
class _Target:
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
    state: int
    open_zones: list[str]
    rate: Decimal | None = None   # price per period, fixed offers only
    period: str | None = None     # "hour" or "month" (a yearly rate is stored per month)
    currency: str | None = None


@dataclass(slots=True)
class _Requirement:
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
        return (self.kind, self.vcpus, self.memory, self.gpu_count, self.gpu_memory, self.arch,
                self.os_family, self.os_version, self.iops, self.bandwidth)


_Ranked = tuple["_Target", Decimal | None, str | None, str | None, tuple[int, int] | None]
# a candidate in a price-ordered stream: (monthly amount, id, target, size, rate, period)
_Entry = tuple[Decimal, str, "_Target", tuple[int, int] | None, Decimal, str]


@dataclass(slots=True)
class _Choice:
    # (target, rate per period or None, period "hour"/"month" or None, currency, flexible size)
    ranked: list[_Ranked]
    gap_reason: str | None


@dataclass
class _Pool:
    """Targets of one kind, indexed for cheapest-first search."""

    # (currency, period) -> bucket -> [(rate, id, target)] sorted
    priced: dict[tuple[str, str], dict[Any, list[tuple[Decimal, str, _Target]]]] = field(
        default_factory=lambda: defaultdict(lambda: defaultdict(list)))
    unpriced: dict[Any, list[_Target]] = field(default_factory=lambda: defaultdict(list))
    flexible: list[_Target] = field(default_factory=list)
    currencies: Counter[str] = field(default_factory=Counter)
    periods: set[str] = field(default_factory=set)
    size: int = 0
    any_gpu: bool = False


def _bucket(kind: Kind, target: _Target) -> Any:
    if kind == Kind.COMPUTE:
        return target.vcpus
    if kind == Kind.IMAGE:
        return target.os_family
    if kind == Kind.STORAGE:
        return target.iops
    return 0


def _bucket_ok(kind: Kind, bucket: Any, req: _Requirement) -> bool:
    if kind == Kind.COMPUTE:
        return req.vcpus is None or bool(bucket >= req.vcpus)
    if kind == Kind.IMAGE:
        return bool(bucket == req.os_family)
    if kind == Kind.STORAGE:
        return req.iops is None or bool(bucket >= req.iops)
    return True


def _first_stage(kind: Kind) -> int:
    return {Kind.COMPUTE: _SIZE, Kind.IMAGE: _OS, Kind.STORAGE: _IOPS}.get(kind, _BANDWIDTH)


class _Index:
    def __init__(self, targets: Sequence[Offer], labels: frozenset[str], day: dt.date) -> None:
        self.labels = labels
        self.pools: dict[Kind, _Pool] = defaultdict(_Pool)
        for offer in targets:
            self._add(offer, day)
        for pool in self.pools.values():
            for buckets in pool.priced.values():
                for entries in buckets.values():
                    entries.sort(key=lambda e: (e[0], e[1]))
            for unpriced in pool.unpriced.values():
                unpriced.sort(key=lambda t: t.offer.id)
            pool.flexible.sort(key=lambda t: t.offer.id)

    def _add(self, offer: Offer, day: dt.date) -> None:
        state, zones = _sale_state(offer, day)
        gpu = offer.gpu
        target = _Target(
            offer=offer, vcpus=offer.vcpus or 0, memory=offer.memory_mib or 0,
            gpu_count=gpu.count if gpu else 0.0,
            gpu_memory=(gpu.memory_mib or -1) if gpu else -1,
            arch=offer.architecture or "x86_64",
            os_family=_norm(offer.os_family), os_version=_norm(offer.os_version),
            iops=offer.iops if offer.iops is not None else -1,
            bandwidth=offer.bandwidth_mbps if offer.bandwidth_mbps is not None else -1.0,
            labels=frozenset(offer.labels), state=state, open_zones=zones)
        pool = self.pools[offer.kind]
        pool.size += 1
        pool.any_gpu = pool.any_gpu or gpu is not None
        if offer.kind == Kind.COMPUTE and offer.flexible is not None:
            pool.flexible.append(target)
            for part in (offer.flexible.price_per_vcpu, offer.flexible.price_per_gib_memory):
                if part is not None:
                    pool.currencies[part.currency] += 1
                    pool.periods.add(part.unit.rsplit("-", 1)[-1])
            return
        price = offer.price
        period = _period(price.unit) if price is not None else None
        if price is None or period is None:
            pool.unpriced[_bucket(offer.kind, target)].append(target)
            return
        rate = price.amount / 12 if period == "year" else price.amount
        target.rate, target.period, target.currency = rate, "hour" if period == "hour" else "month", \
            price.currency
        pool.currencies[price.currency] += 1
        pool.periods.add(target.period)
        pool.priced[(price.currency, target.period)][_bucket(offer.kind, target)].append(
            (rate, offer.id, target))

    # -- checks

    def check(self, t: _Target, req: _Requirement, sized: tuple[int, int] | None) -> int:
        """The first failed stage of ``t`` for ``req``, or ``_OK``."""
        kind = req.kind
        if kind == Kind.COMPUTE:
            if t.offer.flexible is not None:
                if sized is None:
                    return _SIZE
            elif (req.vcpus is not None and t.vcpus < req.vcpus) or \
                    (req.memory is not None and t.memory < req.memory):
                return _SIZE
            if req.gpu_count > 0 and (t.gpu_count < req.gpu_count or
                                      (req.gpu_memory is not None and t.gpu_memory < req.gpu_memory)):
                return _GPU
            if t.arch != req.arch:
                return _ARCH
        elif kind == Kind.IMAGE:
            if t.os_family != req.os_family or (req.os_version is not None and
                                                t.os_version != req.os_version):
                return _OS
        elif kind == Kind.STORAGE:
            if req.iops is not None and t.iops < req.iops:
                return _IOPS
        elif kind == Kind.NETWORK and req.bandwidth is not None and t.bandwidth < req.bandwidth:
            return _BANDWIDTH
        if not self.labels <= t.labels:
            return _LABELS
        if t.state == _NOT_ON_SALE:
            return _LIFECYCLE
        if t.state == _SOLD_OUT:
            return _ZONES
        return _OK

    # -- search

    def ranking_hours(self, kind: Kind, hours: Decimal) -> Decimal:
        """Hours a month to rank ``kind``'s targets at, for lines of ``hours``.

        Ranking depends on the hours only where hourly and monthly prices meet in one pool;
        elsewhere every positive number of hours ranks alike, so lines share one search.
        """
        pool = self.pools.get(kind)
        if pool is None or len(pool.periods) > 1 or hours == 0:
            return hours
        return _HOURS_PER_MONTH

    def _streams(self, pool: _Pool, req: _Requirement, hours: Decimal, currency: str,
                 flex: list[tuple[_Entry, str]]) -> Iterator[_Entry]:
        """Acceptable-or-not candidates priced in ``currency``, cheapest first."""
        streams: list[Iterable[_Entry]] = []
        for period in ("hour", "month"):
            buckets = pool.priced.get((currency, period))
            if not buckets:
                continue
            for bucket, entries in buckets.items():
                if not _bucket_ok(req.kind, bucket, req):
                    continue
                if period == "hour":
                    streams.append((rate * hours, oid, t, None, rate, "hour") for rate, oid, t in entries)
                else:
                    streams.append((rate, oid, t, None, rate, "month") for rate, oid, t in entries)
        flex_here = sorted((entry for entry, cur in flex if cur == currency), key=lambda e: (e[0], e[1]))
        if flex_here:
            streams.append(flex_here)
        return heapq.merge(*streams, key=lambda e: (e[0], e[1]))

    def choose(self, req: _Requirement, hours: Decimal, preferred: str | None) -> _Choice:
        pool = self.pools.get(req.kind)
        if pool is None or pool.size == 0:
            return _Choice([], f"no {req.kind} offer at target")
        furthest = _first_stage(req.kind) - 1
        ranked: list[_Ranked] = []
        near: list[_Target] = []  # candidates that reached the labels stage (for the gap message)
        want = 1 + _MAX_ALTERNATIVES

        # flexible targets: size and price them for this requirement
        flex_priced: list[tuple[_Entry, str]] = []
        flex_unpriced: list[tuple[_Target, tuple[int, int] | None]] = []
        for t in pool.flexible:
            sizing = t.offer.flexible
            assert sizing is not None
            size = sizing.size_for(req.vcpus, req.memory)
            price = sizing.price_for(*size) if size is not None else None
            monthly = _monthly(price, hours)
            if price is not None and monthly is not None and size is not None:
                period = "hour" if price.unit == "hour" else "month"
                flex_priced.append(((monthly, t.offer.id, t, size, price.amount, period), price.currency))
            else:
                flex_unpriced.append((t, size))

        def consider(t: _Target, rate: Decimal | None, period: str | None, currency: str | None,
                     size: tuple[int, int] | None) -> bool:
            nonlocal furthest
            stage = self.check(t, req, size)
            if stage == _OK:
                ranked.append((t, rate, period, currency, size))
                return len(ranked) >= want
            if stage >= _LABELS:
                near.append(t)
            furthest = max(furthest, stage)
            return False

        currencies = sorted(set(pool.currencies) | {currency for _, currency in flex_priced})
        if preferred is None and pool.currencies:
            preferred = max(sorted(pool.currencies), key=lambda c: pool.currencies[c])
        if preferred in currencies:
            currencies.remove(preferred)
            currencies.insert(0, preferred)
        done = False
        for currency in currencies:
            for _amount, _oid, t, size, rate, period in self._streams(pool, req, hours, currency, flex_priced):
                if consider(t, rate, period, currency, size):
                    done = True
                    break
            if done:
                break
        if not done:
            unpriced: list[tuple[_Target, tuple[int, int] | None]] = [
                (t, None) for bucket, targets in pool.unpriced.items()
                if _bucket_ok(req.kind, bucket, req) for t in targets]
            unpriced += flex_unpriced
            unpriced.sort(key=lambda e: e[0].offer.id)
            for t, size in unpriced:
                if consider(t, None, None, None, size):
                    break
        if ranked:
            return _Choice(ranked, None)
        return _Choice([], self._gap_reason(req, pool, furthest, near))

    def _gap_reason(self, req: _Requirement, pool: _Pool, stage: int, near: list[_Target]) -> str:
        size = _size_text(req)
        if stage < _first_stage(req.kind) or stage == _SIZE:
            if req.kind == Kind.IMAGE:
                return f"no image for OS {_os_text(req)}"
            if req.kind == Kind.STORAGE:
                return f"no storage class with ≥ {req.iops} IOPS"
            if req.kind == Kind.NETWORK:
                return f"no network offer with ≥ {req.bandwidth:g} Mbit/s"
            return f"no offer with ≥ {size}"
        if stage == _GPU:
            if not pool.any_gpu:
                return "no GPU offer"
            memory = f" / {req.gpu_memory} MiB GPU memory" if req.gpu_memory else ""
            return f"no GPU offer with ≥ {req.gpu_count:g} GPU{memory} and ≥ {size}"
        if stage == _ARCH:
            return f"no {req.arch} offer with ≥ {size}"
        if stage == _OS:
            return f"no image for OS {_os_text(req)}"
        if stage == _IOPS:
            return f"no storage class with ≥ {req.iops} IOPS"
        if stage == _BANDWIDTH:
            return f"no network offer with ≥ {req.bandwidth:g} Mbit/s"
        if stage == _LABELS:
            missing = sorted(label for label in self.labels if not any(label in t.labels for t in near))
            if missing:
                return f"label {', '.join(missing)} missing" if len(missing) == 1 else \
                    f"labels {', '.join(missing)} missing"
            return f"no offer has all labels {', '.join(sorted(self.labels))}"
        if stage == _LIFECYCLE:
            return "no matching offer on sale (end of sale or end of life)"
        return "sold out in every zone"


def _size_text(req: _Requirement) -> str:
    parts = []
    if req.vcpus is not None:
        parts.append(f"{req.vcpus} vCPU")
    if req.memory is not None:
        parts.append(f"{req.memory} MiB")
    return " / ".join(parts) or "any size"


def _os_text(req: _Requirement) -> str:
    return " ".join(part for part in (req.os_family, req.os_version) if part) or "unknown"


# --------------------------------------------------------------------------- planning


def _requirement(offer: Offer, line: InventoryLine | None) -> tuple[_Requirement, tuple[int, int] | None]:
    """What a target must meet to replace ``offer``, and the source's size when flexible."""
    vcpus, memory = offer.vcpus, offer.memory_mib
    flex_size: tuple[int, int] | None = None
    if offer.flexible is not None:
        want_v = line.vcpus if line and line.vcpus else None
        want_m = line.memory_mib if line and line.memory_mib else None
        flex_size = offer.flexible.size_for(want_v, want_m)
        vcpus, memory = flex_size if flex_size else (want_v, want_m)
    gpu = offer.gpu
    return _Requirement(
        kind=offer.kind, vcpus=vcpus, memory=memory,
        gpu_count=gpu.count if gpu else 0.0, gpu_memory=gpu.memory_mib if gpu else None,
        arch=offer.architecture or "x86_64",
        os_family=_norm(offer.os_family) if offer.kind == Kind.IMAGE else None,
        os_version=_norm(offer.os_version) if offer.kind == Kind.IMAGE else None,
        iops=offer.iops if offer.kind == Kind.STORAGE else None,
        bandwidth=offer.bandwidth_mbps if offer.kind == Kind.NETWORK else None,
    ), flex_size


def _source_price(offer: Offer, flex_size: tuple[int, int] | None) -> Price | None:
    if offer.flexible is not None and flex_size is not None:
        return offer.flexible.price_for(*flex_size) or offer.price
    return offer.price


def _per_gib(price: Price | None) -> bool:
    return price is not None and price.unit.startswith("GiB-")


class _SourceIndex:
    def __init__(self, offers: Sequence[Offer]) -> None:
        self.by_id = {offer.id: offer for offer in offers}
        self.by_name: dict[str, list[Offer]] = defaultdict(list)
        for offer in offers:
            self.by_name[offer.name].append(offer)
        for same in self.by_name.values():
            same.sort(key=lambda o: o.id)

    def resolve(self, ref: str, region: str | None) -> tuple[Offer | None, str | None]:
        offer = self.by_id.get(ref)
        if offer is not None:
            return offer, None
        same = self.by_name.get(ref, [])
        if region is not None:
            same = [o for o in same if o.region == region]
        if not same:
            return None, None
        if len(same) > 1:
            return same[0], f"name {ref!r} matches {len(same)} source offers; planned as {same[0].id}"
        return same[0], None


def _rate(price: Price | None) -> tuple[Decimal | None, str | None]:
    """(amount per period, ``hour``/``month``) of a price; a yearly price becomes monthly."""
    period = _period(price.unit) if price is not None else None
    if price is None or period is None:
        return None, None
    if period == "year":
        return price.amount / 12, "month"
    return price.amount, period


@dataclass(slots=True)
class _Replacement:
    """The target side of a group, for one ranking of the target pool."""

    target_id: str | None = None
    target_name: str | None = None
    target_vcpus: int | None = None
    target_memory_mib: int | None = None
    alternatives: tuple[str, ...] = ()
    rate: Decimal | None = None
    hourly: bool = False
    currency: str | None = None
    per_gib: bool = False
    same_currency: bool = False
    gap_reason: str | None = None
    reasons: tuple[str, ...] = ()


@dataclass(slots=True)
class _Group:
    """What the inventory lines naming one source offer (and size) share, per unit."""

    source_id: str
    source_name: str
    kind: Kind
    family: str
    req: _Requirement | None = None
    rate: Decimal | None = None
    hourly: bool = False
    currency: str | None = None
    per_gib: bool = False
    reasons: list[str] = field(default_factory=list)
    gap_reason: str | None = None
    # ranking hours -> replacement
    replacements: dict[Decimal, _Replacement] = field(default_factory=dict)


def plan_migration(
    source_offers: Sequence[Offer],
    target_offers: Sequence[Offer],
    inventory: Sequence[InventoryLine] | None = None,
    *,
    require_labels: Sequence[str] = (),
    source: str = "",
    target: str = "",
    day: dt.date | None = None,
) -> Plan:
    """Plan the move of ``inventory`` from ``source_offers`` to ``target_offers``.

    Inventory lines name source offers by id or by backend name (``offer.name``; ``region``
    picks among several). Without an inventory, every compute, storage and image offer of the
    source is planned once. ``require_labels`` must all be on a target (``secnumcloud``…).
    ``day`` is the day lifecycle dates are judged on (today by default). ``source`` and
    ``target`` are labels for the plan (brand or backend names). See the module documentation
    for the rules.
    """
    day = day or dt.date.today()
    labels = frozenset(label.strip().lower() for label in require_labels if label.strip())
    index = _Index(target_offers, labels, day)
    sources = _SourceIndex(source_offers)
    if inventory is None:
        inventory = [InventoryLine(item=o.name, offer=o.id)
                     for o in source_offers if o.kind in _PLANNED_KINDS]

    choices: dict[tuple[Any, ...], _Choice] = {}
    groups: dict[tuple[Any, ...], _Group | None] = {}
    lines: list[PlanLine] = []
    # currency -> [before, after, difference]; plain decimals, models built at the end
    sums: dict[str, list[Decimal]] = defaultdict(lambda: [Decimal(0), Decimal(0), Decimal(0)])
    decimals: dict[int, Decimal] = {}

    for inv in inventory:
        hours = inv.hours_per_month
        group_key = (inv.offer, inv.region, inv.vcpus, inv.memory_mib)
        if group_key in groups:
            group = groups[group_key]
        else:
            group = groups[group_key] = _group(inv, sources)
        if group is None:
            lines.append(PlanLine(
                item=inv.item or inv.offer, source=inv.offer, family="unknown", quantity=inv.quantity,
                hours_per_month=hours, gap_reason=f"offer {inv.offer!r} not found at source"))
            continue
        rank_hours = index.ranking_hours(group.kind, hours)
        found = group.replacements.get(rank_hours)
        if found is None:
            found = group.replacements[rank_hours] = _replace(group, rank_hours, index, choices)
        units = decimals.get(inv.quantity)
        if units is None:
            units = decimals[inv.quantity] = Decimal(inv.quantity)
        before = after = difference = None
        if group.rate is not None:
            before = (group.rate * hours if group.hourly else group.rate) * units
            if inv.size_gib is not None and group.per_gib:
                before *= inv.size_gib
            sums[group.currency][0] += before  # type: ignore[index]
        if found.rate is not None:
            after = (found.rate * hours if found.hourly else found.rate) * units
            if inv.size_gib is not None and found.per_gib:
                after *= inv.size_gib
            sums[found.currency][1] += after  # type: ignore[index]
            if before is not None and found.same_currency:
                difference = after - before
                sums[found.currency][2] += difference  # type: ignore[index]
        lines.append(PlanLine(
            inv.item or group.source_name, group.source_id, group.source_name, group.kind.value, group.family,
            inv.quantity, hours, found.target_id, found.target_name, found.target_vcpus,
            found.target_memory_mib, list(found.alternatives), before, after, difference,
            group.currency if before is not None else found.currency if after is not None else None,
            found.currency if after is not None else None, group.gap_reason or found.gap_reason,
            [*group.reasons, *found.reasons]))
    totals = {currency: Totals(before=b, after=a, difference=d) for currency, (b, a, d) in sums.items()}
    return Plan.model_construct(source=source, target=target, generated_at=dt.datetime.now(dt.UTC),
                                lines=lines, totals=totals)


def _group(inv: InventoryLine, sources: _SourceIndex) -> _Group | None:
    offer, note = sources.resolve(inv.offer, inv.region)
    if offer is None:
        return None
    group = _Group(source_id=offer.id, source_name=offer.name, kind=offer.kind,
                   family=offer_family(offer), reasons=[note] if note else [])
    if offer.kind == Kind.LOCATION:
        group.gap_reason = "location offers are not planned"
        return group
    group.req, flex_size = _requirement(offer, inv)
    if offer.flexible is not None and flex_size is None and (inv.vcpus or inv.memory_mib):
        group.reasons.append("size in use does not fit the source's flexible pool")
    price = _source_price(offer, flex_size)
    rate, period = _rate(price)
    if price is not None and rate is not None:
        group.rate, group.hourly, group.currency = rate, period == "hour", price.currency
        group.per_gib = _per_gib(price)
    else:
        group.reasons.append("source price unknown")
    return group


def _replace(group: _Group, hours: Decimal, index: _Index,
             choices: dict[tuple[Any, ...], _Choice]) -> _Replacement:
    req = group.req
    if req is None:
        return _Replacement()
    key = (*req.key(), hours, group.currency)
    choice = choices.get(key)
    if choice is None:
        choice = choices[key] = index.choose(req, hours, group.currency)
    if not choice.ranked:
        return _Replacement(gap_reason=choice.gap_reason)
    t, rate, period, currency, size = choice.ranked[0]
    reasons = _why(req, t, size, rate, index.labels)
    if group.currency and currency and group.currency != currency:
        reasons.append(f"priced in {currency}, source in {group.currency}: no difference computed")
    return _Replacement(
        target_id=t.offer.id, target_name=t.offer.name,
        target_vcpus=size[0] if size else None, target_memory_mib=size[1] if size else None,
        alternatives=tuple(entry[0].offer.id for entry in choice.ranked[1:]),
        rate=rate, hourly=period == "hour", currency=currency,
        per_gib=t.offer.flexible is None and _per_gib(t.offer.price),
        same_currency=currency is not None and currency == group.currency, reasons=tuple(reasons))


def _why(req: _Requirement, t: _Target, size: tuple[int, int] | None, amount: Decimal | None,
         labels: frozenset[str]) -> list[str]:
    out = ["cheapest acceptable offer" if amount is not None else "price unknown"]
    if req.kind == Kind.COMPUTE:
        if size is not None:
            out.append(f"flexible offer sized to {size[0]} vCPU / {size[1]} MiB")
        else:
            out.append(f"{t.vcpus} vCPU / {t.memory} MiB meets {_size_text(req)}")
        if req.gpu_count > 0:
            out.append(f"{t.gpu_count:g} GPU meets {req.gpu_count:g}")
        if req.arch != "x86_64":
            out.append(f"architecture {req.arch}")
    elif req.kind == Kind.IMAGE:
        out.append(f"same OS {_os_text(req)}")
    elif req.kind == Kind.STORAGE and req.iops is not None:
        out.append(f"{t.iops} IOPS meets {req.iops}")
    if labels:
        out.append(f"labels {', '.join(sorted(labels))}")
    if t.open_zones:
        out.append(f"orderable in {', '.join(t.open_zones)}")
    return out
