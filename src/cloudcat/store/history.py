"""History kept as changes: JSON merge patches, the models a diff returns, and retention.

A snapshot does not copy the offers and items that did not change since the previous one: each
stored row is a *version* holding from the snapshot it first appeared in (``since``) until the
first snapshot it no longer holds in (``until``, :data:`OPEN` while it still holds). A changed
version stores only an RFC 7396 merge patch against its offer's first full version (its *base*),
so a price change costs a few dozen bytes of JSON, not the whole offer.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable, Sequence
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError

from ..models import LifecycleStatus, Offer, Price
from .schema import exact_normal

__all__ = [
    "OPEN",
    "FieldChange",
    "LifecycleChange",
    "PriceChange",
    "SnapshotDiff",
    "apply_patch",
    "merge_patch",
    "retained",
]

#: ``until`` of a version that still holds in the latest snapshot (the largest 64-bit integer,
#: so that one ``until = OPEN`` equality reads the current view through the indexes).
OPEN = 2**63 - 1

#: Offer fields a diff reports (besides additions and removals), in report order.
DIFF_FIELDS: tuple[str, ...] = (
    "name", "display_name", "operator", "brand", "kind", "region", "zone", "zones", "labels", "price",
    "lifecycle", "vcpus", "memory_mib", "disk_gib", "gpu", "architecture", "flexible", "family",
    "generation", "sale_status", "zone_status", "country", "os_family", "os_version", "storage_class",
    "iops", "throughput_mbps", "min_size_gib", "max_size_gib", "bandwidth_mbps", "min_disk_gib",
    "min_memory_mib", "backend", "driver", "extras",
)


def merge_patch(base: dict[str, Any], new: dict[str, Any]) -> dict[str, Any]:
    """The RFC 7396 merge patch that turns ``base`` into ``new`` (``None`` values mean "remove";
    callers check :func:`apply_patch` gives ``new`` back before relying on it)."""
    patch: dict[str, Any] = {key: None for key in base if key not in new}
    for key, value in new.items():
        old = base.get(key, _MISSING)
        if same_json(old, value):
            continue
        if isinstance(value, dict) and isinstance(old, dict):
            patch[key] = merge_patch(old, value)
        else:
            patch[key] = value
    return patch


def same_json(a: Any, b: Any) -> bool:
    """Whether two JSON values are the same value: Python's ``==`` holds ``1 == 1.0 == True``,
    JSON does not (``1``, ``1.0`` and ``true`` are three values a snapshot must tell apart)."""
    if type(a) is not type(b):
        return False
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(same_json(v, b[k]) for k, v in a.items())
    if isinstance(a, list):
        return len(a) == len(b) and all(same_json(x, y) for x, y in zip(a, b, strict=True))
    return bool(a == b)


def apply_patch(base: Any, patch: Any) -> Any:
    """RFC 7396: ``patch`` applied to ``base`` (what SQLite's ``json_patch`` computes)."""
    if not isinstance(patch, dict):
        return patch
    out = dict(base) if isinstance(base, dict) else {}
    for key, value in patch.items():
        if value is None:
            out.pop(key, None)
        else:
            out[key] = apply_patch(out.get(key), value)
    return out


_MISSING = object()


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


class FieldChange(BaseModel):
    """One field of one offer that differs between two snapshots, as its JSON values."""

    model_config = ConfigDict(extra="forbid")

    id: str
    field: str = Field(description="Offer field (labels, name, operator, price, lifecycle, zones, vcpus…).")
    before: Any = None
    after: Any = None


class SnapshotDiff(BaseModel):
    """What changed from snapshot ``a`` to snapshot ``b``; every list is sorted by offer id.

    ``changed`` lists every field that differs (see :data:`DIFF_FIELDS`), prices and lifecycles
    included; ``price_changes`` and ``lifecycle_changes`` repeat those two in typed form.
    """

    model_config = ConfigDict(extra="forbid")

    a: int
    b: int
    added: list[str] = Field(default_factory=list, description="Ids in b, not in a.")
    removed: list[str] = Field(default_factory=list, description="Ids in a, not in b.")
    price_changes: list[PriceChange] = Field(default_factory=list)
    lifecycle_changes: list[LifecycleChange] = Field(default_factory=list)
    changed: list[FieldChange] = Field(default_factory=list,
                                       description="Every changed field of offers in both, by id then field.")

    @property
    def empty(self) -> bool:
        """Nothing was added, removed or changed."""
        return not (self.added or self.removed or self.changed)


def compare_offers(offer_id: str, before: dict[str, Any], after: dict[str, Any]) -> list[FieldChange]:
    """The reported fields that differ between two JSON forms of one offer, each value in the
    offer's full JSON form (offers are stored without their null fields, and were stored with
    them before: a member null in one and left out in the other is no change)."""
    changes = []
    for name in DIFF_FIELDS:
        x, y = before.get(name), after.get(name)
        if not same_json(x, y):
            x, y = _full(name, x), _full(name, y)
            if not same_json(x, y):
                changes.append(FieldChange(id=offer_id, field=name, before=x, after=y))
    return changes


def _full(name: str, value: Any) -> Any:
    """A field's JSON value as the offer model writes it (nested null members included)."""
    if value is None:
        return None
    adapter = _ADAPTERS.get(name)
    if adapter is None:
        annotation: Any = Offer.model_fields[name].annotation
        adapter = _ADAPTERS[name] = TypeAdapter(annotation)
    try:
        return adapter.dump_python(adapter.validate_python(value), mode="json")
    except ValidationError:  # stored before a model changed: shown as stored
        return value


_ADAPTERS: dict[str, TypeAdapter[Any]] = {}


def build_diff(a: int, b: int, pairs: Iterable[tuple[str, dict[str, Any] | None, dict[str, Any] | None]]
               ) -> SnapshotDiff:
    """A :class:`SnapshotDiff` from ``(id, JSON in a or None, JSON in b or None)`` triples."""
    diff = SnapshotDiff(a=a, b=b)
    for offer_id, before, after in sorted(pairs, key=lambda p: p[0]):
        if before is None and after is not None:
            diff.added.append(offer_id)
        elif after is None and before is not None:
            diff.removed.append(offer_id)
        elif before is not None and after is not None:
            changes = compare_offers(offer_id, before, after)
            diff.changed += changes
            _typed(diff, offer_id, before, after, {c.field for c in changes})
    return diff


def _typed(diff: SnapshotDiff, offer_id: str, before: dict[str, Any], after: dict[str, Any],
           fields: set[str]) -> None:
    def price(value: Any) -> Price | None:
        return None if value is None else Price.model_validate(value)

    if "price" in fields and _price_key(before.get("price")) != _price_key(after.get("price")):
        diff.price_changes.append(PriceChange(id=offer_id, before=price(before.get("price")),
                                              after=price(after.get("price"))))
    status_a = (before.get("lifecycle") or {}).get("status", LifecycleStatus.AVAILABLE.value)
    status_b = (after.get("lifecycle") or {}).get("status", LifecycleStatus.AVAILABLE.value)
    if status_a != status_b:
        diff.lifecycle_changes.append(LifecycleChange(id=offer_id, before=LifecycleStatus(status_a),
                                                      after=LifecycleStatus(status_b)))


def _price_key(value: Any) -> tuple[Any, ...] | None:
    """What a price change is about: the amount as a number, the currency, the unit."""
    if value is None:
        return None
    p = Price.model_validate(value)
    return (exact_normal(p.amount), p.currency, p.unit)


def retained(snapshots: Sequence[tuple[int, dt.datetime]], *, keep_last: int = 0, keep_daily: int = 0,
             keep_monthly: int = 0) -> set[int]:
    """Ids of the snapshots a retention policy keeps: the ``keep_last`` newest, the newest of
    each of the ``keep_daily`` most recent days and ``keep_monthly`` most recent months that have
    snapshots, and always the latest one."""
    newest_first = sorted(snapshots, key=lambda s: s[0], reverse=True)
    keep = {sid for sid, _ in newest_first[:max(1, keep_last)]}
    keep |= _newest_per(newest_first, keep_daily, lambda t: t.date().isoformat())
    keep |= _newest_per(newest_first, keep_monthly, lambda t: t.strftime("%Y-%m"))
    return keep


def _newest_per(newest_first: Sequence[tuple[int, dt.datetime]], count: int,
                period: Callable[[dt.datetime], str]) -> set[int]:
    chosen: dict[str, int] = {}
    for sid, created in newest_first:
        key = period(created.astimezone(dt.UTC))
        if key not in chosen:
            if len(chosen) >= count:
                break
            chosen[key] = sid
    return set(chosen.values())
