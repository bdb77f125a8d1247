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
  plan, a region-wide ``sale_status`` that is not ``sold-out`` or ``withdrawn``, and, for offers
  sold per zone, at least one zone whose ``zone_status`` is not ``sold-out`` or ``withdrawn``
  (a zone without a status is orderable). These are the typed platform facts drivers fill
  (:class:`~cloudcat.models.SaleStatus`); the planner reads no backend-specific ``extras`` key.

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

The parts: :mod:`~cloudcat.planner.model` (plans, lines, totals, inventory lines),
:mod:`~cloudcat.planner.inventory` (reading inventories, finding their source offers),
:mod:`~cloudcat.planner.pricing` (price periods and rates), :mod:`~cloudcat.planner.search`
(the target index, the checks and the candidate search), :mod:`~cloudcat.planner.reasons`
(gap reasons and why a target was chosen), :mod:`~cloudcat.planner.families` (offer families).
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from ..models import Kind, Offer
from .families import offer_family
from .inventory import SourceIndex, read_inventory
from .model import HOURS_PER_MONTH, InventoryLine, Plan, PlanLine, Totals
from .pricing import UnitRate, monthly_price, per_gib, source_price
from .reasons import gap_reason, why
from .search import Choice, Index, Ranked, Requirement, requirement

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

_PLANNED_KINDS = (Kind.COMPUTE, Kind.STORAGE, Kind.IMAGE)


@dataclass(slots=True)
class _Replacement:
    """The target side of a group, for one ranking of the target pool, and what every plan line
    of the group at that ranking shares."""

    target_id: str | None = None
    target_name: str | None = None
    target_vcpus: int | None = None
    target_memory_mib: int | None = None
    alternatives: tuple[str, ...] = ()
    #: The chosen target's price (``None`` when unpriced).
    rate: UnitRate | None = None
    gap_reason: str | None = None
    reasons: tuple[str, ...] = ()
    # shared by the lines (set by _Planner._replace): currencies, and whether a difference is computed
    currency: str | None = None
    currency_after: str | None = None
    same_currency: bool = False


@dataclass(slots=True)
class _Group:
    """What the inventory lines naming one source offer (and size) share, per unit."""

    source_id: str
    source_name: str
    kind: Kind
    #: ``kind.value``, read once (an enum's ``value`` is a Python-level property).
    kind_name: str
    family: str
    #: Whether the hours a month change the ranking of the targets (see :meth:`Index.ranking_hours`).
    hours_matter: bool = True
    req: Requirement | None = None
    rate: UnitRate | None = None
    reasons: list[str] = field(default_factory=list)
    gap_reason: str | None = None
    # ranking hours -> replacement
    replacements: dict[Decimal, _Replacement] = field(default_factory=dict)


def _rate_of(chosen: Ranked) -> UnitRate | None:
    """The rate a chosen target is priced at, ``None`` when it has no price."""
    t, amount, every, currency, _size = chosen
    if amount is None or every is None or currency is None:
        return None
    return UnitRate(amount, every == "hour", currency, per_gib=t.offer.flexible is None and per_gib(t.offer.price))


def _group(inv: InventoryLine, sources: SourceIndex, index: Index) -> _Group | None:
    """The group of the source offer ``inv`` names, ``None`` when no source offer has it."""
    offer, note = sources.resolve(inv.offer, inv.region)
    if offer is None:
        return None
    group = _Group(source_id=offer.id, source_name=offer.name, kind=offer.kind, kind_name=offer.kind.value,
                   family=offer_family(offer),
                   hours_matter=index.hours_matter(offer.kind), reasons=[note] if note else [])
    if offer.kind == Kind.LOCATION:
        group.gap_reason = "location offers are not planned"
        return group
    group.req, flex_size = requirement(offer, inv)
    if offer.flexible is not None and flex_size is None and (inv.vcpus or inv.memory_mib):
        group.reasons.append("size in use does not fit the source's flexible pool")
    group.rate = UnitRate.of(source_price(offer, flex_size))
    if group.rate is None:
        group.reasons.append("source price unknown")
    return group


class _Planner:
    """Plans inventory lines one by one, sharing searches between lines and adding up totals."""

    def __init__(self, index: Index, sources: SourceIndex) -> None:
        self.index = index
        self.sources = sources
        self.groups: dict[tuple[Any, ...], _Group | None] = {}
        self.choices: dict[tuple[Any, ...], Choice] = {}
        # currency -> [before, after, difference]; plain decimals, models built at the end
        self.sums: dict[str, list[Decimal]] = defaultdict(lambda: [Decimal(0), Decimal(0), Decimal(0)])
        self.units: dict[int, Decimal] = {}

    def line(self, inv: InventoryLine) -> PlanLine:
        """The plan line of one inventory line; its amounts count in the totals."""
        key = (inv.offer, inv.region, inv.vcpus, inv.memory_mib)
        if key in self.groups:
            group = self.groups[key]
        else:
            group = self.groups[key] = _group(inv, self.sources, self.index)
        hours = inv.hours_per_month
        if group is None:
            return PlanLine(item=inv.item or inv.offer, source=inv.offer, family="unknown", quantity=inv.quantity,
                            hours_per_month=hours, gap_reason=f"offer {inv.offer!r} not found at source")
        # ranking hours: the line's own only where they change the ranking (a zero-hour line ranks alone)
        rank_hours = hours if group.hours_matter or not hours else HOURS_PER_MONTH
        found = group.replacements.get(rank_hours) or self._replace(group, rank_hours)
        units = self.units.get(inv.quantity) or self.units.setdefault(inv.quantity, Decimal(inv.quantity))
        before = after = difference = None
        if group.rate is not None:
            before = group.rate.monthly(hours, units, inv.size_gib)
            self.sums[group.rate.currency][0] += before
        if found.rate is not None:
            after = found.rate.monthly(hours, units, inv.size_gib)
            sums = self.sums[found.rate.currency]
            sums[1] += after
            if before is not None and found.same_currency:
                difference = after - before
                sums[2] += difference
        return PlanLine(
            item=inv.item or group.source_name, source=group.source_id, source_name=group.source_name,
            kind=group.kind_name, family=group.family, quantity=inv.quantity, hours_per_month=hours,
            target=found.target_id, target_name=found.target_name, target_vcpus=found.target_vcpus,
            target_memory_mib=found.target_memory_mib, alternatives=list(found.alternatives),
            monthly_before=before, monthly_after=after, difference=difference,
            currency=found.currency, currency_after=found.currency_after, gap_reason=found.gap_reason,
            reasons=list(found.reasons))

    def _replace(self, group: _Group, hours: Decimal) -> _Replacement:
        """The replacement of ``group`` ranked at ``hours``, with what its lines share (kept in the group)."""
        found = group.replacements[hours] = self._target_side(group, hours)
        found.currency_after = found.rate.currency if found.rate is not None else None
        found.currency = group.rate.currency if group.rate is not None else found.currency_after
        found.same_currency = group.rate is not None and found.currency == found.currency_after
        found.gap_reason = group.gap_reason or found.gap_reason
        found.reasons = (*group.reasons, *found.reasons)
        return found

    def _target_side(self, group: _Group, hours: Decimal) -> _Replacement:
        req = group.req
        if req is None:
            return _Replacement()
        source_currency = group.rate.currency if group.rate is not None else None
        key = (*req.key(), hours, source_currency)
        choice = self.choices.get(key)
        if choice is None:
            choice = self.choices[key] = self.index.choose(req, hours, source_currency)
        if not choice.ranked:
            assert choice.gap is not None
            return _Replacement(gap_reason=gap_reason(req, choice.gap, self.index.labels))
        t, amount, _every, _currency, size = choice.ranked[0]
        rate = _rate_of(choice.ranked[0])
        reasons = why(req, t, size, amount, self.index.labels)
        if source_currency and rate is not None and rate.currency != source_currency:
            reasons.append(f"priced in {rate.currency}, source in {source_currency}: no difference computed")
        return _Replacement(
            target_id=t.offer.id, target_name=t.offer.name,
            target_vcpus=size[0] if size else None, target_memory_mib=size[1] if size else None,
            alternatives=tuple(entry[0].offer.id for entry in choice.ranked[1:]),
            rate=rate, reasons=tuple(reasons))

    def totals(self) -> dict[str, Totals]:
        """Totals per currency of the lines planned so far."""
        return {currency: Totals(before=b, after=a, difference=d) for currency, (b, a, d) in self.sums.items()}


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
    labels = frozenset(label.strip().lower() for label in require_labels if label.strip())
    planner = _Planner(Index(target_offers, labels, day or dt.date.today()), SourceIndex(source_offers))
    if inventory is None:
        inventory = [InventoryLine(item=o.name, offer=o.id) for o in source_offers if o.kind in _PLANNED_KINDS]
    lines = [planner.line(inv) for inv in inventory]
    return Plan.model_construct(source=source, target=target, generated_at=dt.datetime.now(dt.UTC),
                                lines=lines, totals=planner.totals())
