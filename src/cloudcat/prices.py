"""Price books: data that adds prices, labels, lifecycle and display names to what drivers read.

OpenStack and VMware APIs carry no prices, no compliance labels and no sale dates; price books
do. A price book is a CSV, JSON, JSON Lines or YAML file of rules. Each rule matches items by
backend and by exact ``name`` or glob ``pattern`` (optionally ``kind``, ``region``, ``brand``)
and sets what it gives::

    # prices/fe.yaml
    items:
      - {backend: fe, name: s3.large.2, price: {amount: "0.0736", currency: EUR, unit: hour}}
      - {backend: fe, pattern: "g1.*", labels: [gpu], lifecycle: {status: end-of-sale}}
      - {backend: cav, kind: compute, pattern: "*",
         price_per_vcpu: {amount: "0.0192", currency: EUR, unit: vcpu-hour},
         price_per_gib_memory: {amount: "0.0064", currency: EUR, unit: GiB-hour}}

CSV has the same fields flattened: ``price_amount``, ``price_currency``, ``price_unit``,
``price_effective_from``, ``labels`` (``;``-separated) … Currencies are kept as given, never
converted. Where several rules match, an exact name beats a pattern, and among equals the later
rule wins; a rule with ``effective_from`` in the future is not applied yet.
"""

from __future__ import annotations

import datetime as dt
import fnmatch
import gc
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from decimal import Decimal
from pathlib import Path
from typing import Any, NamedTuple

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from .config import PriceBookRef
from .errors import ConfigError
from .models import MAX_NUMBER, FlexibleSizing, Item, Kind, Lifecycle, Price, bounds_violation
from .records import read_records

__all__ = ["ItemKey", "PriceBook", "PriceRule"]


class ItemKey(NamedTuple):
    """What rules match an item on: its kind, name and region."""

    kind: Kind
    name: str
    region: str | None


class PriceRule(BaseModel):
    """One rule of a price book."""

    model_config = ConfigDict(extra="forbid")

    backend: str | None = Field(default=None, description="Backend it applies to; any when empty.")
    brand: str | None = Field(default=None, description="Only for offers of this brand.")
    kind: Kind | None = None
    name: str | None = Field(default=None, description="Exact item name.")
    pattern: str | None = Field(default=None, description="Glob on the item name (`s3.*`).")
    region: str | None = Field(default=None, description="Region (glob).")
    price: Price | None = None
    price_per_vcpu: Price | None = Field(default=None, description="Flexible compute: per vCPU.")
    price_per_gib_memory: Price | None = Field(default=None, description="Flexible compute: per GiB.")
    labels: list[str] = Field(default_factory=list, description="Labels to add.")
    remove_labels: list[str] = Field(default_factory=list)
    lifecycle: Lifecycle | None = None
    display_name: str | None = None
    source: str | None = Field(default=None, description="Where the rule comes from (file:line).")

    @model_validator(mode="after")
    def _has_target(self) -> PriceRule:
        if self.name is None and self.pattern is None:
            raise ValueError("a price book rule needs 'name' or 'pattern'")
        return self

    @property
    def exact(self) -> bool:
        """Whether the rule names one item."""
        return self.name is not None

    def effective_from(self) -> dt.date | None:
        """The latest effective date among the rule's prices."""
        dates = [p.effective_from for p in (self.price, self.price_per_vcpu, self.price_per_gib_memory)
                 if p is not None and p.effective_from is not None]
        return max(dates) if dates else None

    def matches(self, backend: str, item: Item | ItemKey, brand: str | None = None) -> bool:
        """Whether the rule applies to ``item`` read from ``backend`` (for ``brand``)."""
        if self.backend is not None and self.backend != backend:
            return False
        if self.brand is not None and brand is not None and self.brand != brand:
            return False
        if self.kind is not None and self.kind != item.kind:
            return False
        if self.region is not None and not fnmatch.fnmatchcase(item.region or "", self.region):
            return False
        if self.name is not None:
            return self.name == item.name
        return self.pattern is not None and fnmatch.fnmatchcase(item.name, self.pattern)


class PriceBook:
    """Rules from one or more price book files, applied in order."""

    def __init__(self, rules: Sequence[PriceRule] = ()) -> None:
        self.rules = list(rules)
        self._indexed: _RuleIndex | None = None

    @classmethod
    def load(cls, refs: Iterable[PriceBookRef | str | Path]) -> PriceBook:
        """Read price book files; errors name the file, line and field."""
        rules: list[PriceRule] = []
        # tens of thousands of small objects and no cycles: the cyclic collector's passes over
        # them would cost more than it frees (reference counting frees the rest)
        collecting = gc.isenabled()
        gc.disable()
        try:
            for ref in refs:
                rules += _read_book(ref)
        finally:
            if collecting:
                gc.enable()
        return cls(rules)

    def _index(self) -> _RuleIndex:
        if self._indexed is None or self._indexed.size != len(self.rules):
            self._indexed = _RuleIndex(self.rules)
        return self._indexed

    def may_apply(self, backend: str, name: str) -> bool:
        """Whether any rule could apply to an item named ``name`` from ``backend`` (when not, the
        item is left as it is, and need not even be built)."""
        return bool(self.rules) and bool(self._index().candidates(backend, name))

    def matching(self, backend: str, item: Item | ItemKey, *, brand: str | None = None,
                 today: dt.date | None = None) -> list[PriceRule]:
        """The rules that apply to ``item`` read from ``backend`` (for ``brand``) by ``today``, in
        the order they apply: patterns before exact names, then by effective date, then file order.

        Rules are found through indexes (exact names by hash, patterns by their literal prefix),
        so the cost grows with the rules that could match, not with the size of the book.
        """
        return [entry.rule for entry in self._applying(backend, item.name, lambda: item, brand, today)]

    def apply_data(self, backend: str, data: dict[str, Any], *, brand: str | None = None,
                   today: dt.date | None = None) -> dict[str, Any]:
        """:meth:`apply` on an item's JSON data (as ``Item.model_dump(mode="json")``), updated in
        place and returned: the same rules with the same effect, without building the item."""
        entries = self._applying(backend, data["name"], lambda: _item_key(data), brand, today)
        return _apply_to_data(data, entries) if entries else data

    def apply(self, backend: str, item: Item, *, brand: str | None = None,
              today: dt.date | None = None) -> Item:
        """``item`` with every matching rule applied (patterns first, then exact names; file order)."""
        entries = self._applying(backend, item.name, lambda: item, brand, today)
        if not entries:
            return item
        update: dict[str, Any] = {}
        labels = set(item.labels)
        flexible = item.flexible
        for entry in entries:
            effect = entry.effect()
            update.update(effect.fields)
            labels |= effect.add
            labels -= effect.remove
            flexible = _flexible_priced(flexible, effect.flexible)
        update["labels"] = sorted(labels)
        if flexible is not item.flexible:
            update["flexible"] = flexible
        return item.model_copy(update=update)

    def _applying(self, backend: str, name: str, key: Callable[[], Item | ItemKey], brand: str | None,
                  today: dt.date | None) -> list[_Entry]:
        """The index entries of the rules that apply, in the order they apply. ``key`` gives what
        rules match on besides the name; it is asked only when a rule found by name needs it."""
        if not self.rules:
            return []
        candidates = self._index().candidates(backend, name)
        if not candidates:
            return []
        today = today or dt.date.today()
        item: Item | ItemKey | None = None
        found: list[_Entry] = []
        for entry in candidates:
            if entry.since is not None and entry.since > today:
                continue
            if not entry.decided:
                item = item or key()
                if not _matches(entry.rule, backend, item, brand, entry.name_checked):
                    continue
            found.append(entry)
        if len(found) > 1:
            found.sort(key=_Entry.order)
        return found


class _Effect(NamedTuple):
    """What a rule does to the items it applies to, worked out once per rule."""

    #: the item fields it replaces outright
    fields: dict[str, Any]
    #: labels it adds and removes, lowercased
    add: frozenset[str]
    remove: frozenset[str]
    #: the flexible pool prices it sets
    flexible: dict[str, Price]


class _Entry:
    """A rule as the index holds it: when it applies, its place in the order rules apply, and
    whether being found by backend and name is matching it."""

    __slots__ = ("_effect", "decided", "name_checked", "pos", "rule", "since")

    def __init__(self, pos: int, rule: PriceRule, name_checked: bool) -> None:
        self.rule = rule
        self.pos = pos
        priced = rule.price is not None or rule.price_per_vcpu is not None or rule.price_per_gib_memory is not None
        self.since = rule.effective_from() if priced else None
        self.name_checked = name_checked
        # the index is keyed by the rule's backend: only brand, kind and region are left to check
        self.decided = name_checked and rule.brand is None and rule.kind is None and rule.region is None
        self._effect: _Effect | None = None

    def order(self) -> tuple[bool, dt.date, int]:
        """Where the rule comes among those that apply: patterns first, then exact names; then by
        effective date; then in file order."""
        return self.rule.name is not None, self.since or dt.date.min, self.pos

    def effect(self) -> _Effect:
        """What the rule does (worked out on first use: most rules of a large book meet few items)."""
        if self._effect is None:
            self._effect = _effect(self.rule)
        return self._effect


def _effect(rule: PriceRule) -> _Effect:
    fields: dict[str, Any] = {}  # the item fields it replaces outright (those it gives)
    if rule.price is not None:
        fields["price"] = rule.price
    if rule.display_name is not None:
        fields["display_name"] = rule.display_name
    if rule.lifecycle is not None:
        fields["lifecycle"] = rule.lifecycle
    flexible: dict[str, Price] = {}
    if rule.price_per_vcpu is not None:
        flexible["price_per_vcpu"] = rule.price_per_vcpu
    if rule.price_per_gib_memory is not None:
        flexible["price_per_gib_memory"] = rule.price_per_gib_memory
    return _Effect(fields, frozenset(map(str.lower, rule.labels)) if rule.labels else _NO_LABELS,
                   frozenset(map(str.lower, rule.remove_labels)) if rule.remove_labels else _NO_LABELS, flexible)


_NO_LABELS: frozenset[str] = frozenset()
_GLOB = re.compile(r"[*?\[]")
_KINDS = {kind.value: kind for kind in Kind}


def _item_key(data: Mapping[str, Any]) -> ItemKey:
    kind = data["kind"]
    return ItemKey(_KINDS.get(kind) or Kind(kind), data["name"], data.get("region"))


class _Tables:
    """One backend's rules (or those for any backend): exact names hashed, patterns by the
    literal prefix before their first wildcard, and the lengths those prefixes have."""

    __slots__ = ("exact", "lengths", "prefix")

    def __init__(self) -> None:
        self.exact: dict[str, list[_Entry]] = {}
        self.prefix: dict[str, list[_Entry]] = {}
        self.lengths: list[int] = []


class _RuleIndex:
    """Rules by backend, then exact name (hashed) or the literal prefix of their pattern."""

    def __init__(self, rules: Sequence[PriceRule]) -> None:
        self.size = len(rules)
        self._tables: dict[str | None, _Tables] = {}
        for pos, rule in enumerate(rules):
            tables = self._tables.get(rule.backend) or self._tables.setdefault(rule.backend, _Tables())
            if rule.name is not None:
                tables.exact.setdefault(rule.name, []).append(_Entry(pos, rule, True))
            elif rule.pattern is not None:
                glob = _GLOB.search(rule.pattern)
                prefix = rule.pattern[:glob.start()] if glob else rule.pattern
                # `prefix*` matches whatever begins with the prefix: finding it by prefix is matching it
                whole = rule.pattern == prefix + "*"
                tables.prefix.setdefault(prefix, []).append(_Entry(pos, rule, whole))
        for tables in self._tables.values():
            tables.lengths = sorted({len(prefix) for prefix in tables.prefix})
        self._searched: dict[str, tuple[_Tables, ...]] = {}

    def candidates(self, backend: str, name: str) -> list[_Entry]:
        """Rules that may match an item named ``name`` from ``backend`` (to be checked in full)."""
        out: list[_Entry] = []
        searched = self._searched.get(backend)
        if searched is None:  # the backend's own rules, then those for any backend
            searched = self._searched[backend] = tuple(
                t for t in (self._tables.get(backend), self._tables.get(None)) if t is not None)
        size = len(name)
        for tables in searched:
            exact = tables.exact.get(name)
            if exact:
                out += exact
            for length in tables.lengths:
                if length > size:
                    break
                found = tables.prefix.get(name[:length])
                if found:
                    out += found
        return out


def _matches(rule: PriceRule, backend: str, item: Item | ItemKey, brand: str | None, name_checked: bool) -> bool:
    """:meth:`PriceRule.matches`, without matching the name again when the index did."""
    if not name_checked:
        return rule.matches(backend, item, brand)
    if rule.backend is not None and rule.backend != backend:
        return False
    if rule.brand is not None and brand is not None and rule.brand != brand:
        return False
    if rule.kind is not None and rule.kind != item.kind:
        return False
    return rule.region is None or fnmatch.fnmatchcase(item.region or "", rule.region)


def _read_book(ref: PriceBookRef | str | Path) -> list[PriceRule]:
    """The rules of one price book file, in file order."""
    if not isinstance(ref, PriceBookRef):
        ref = PriceBookRef(path=Path(ref))
    rules: list[PriceRule] = []
    names: dict[str, str] = {}
    for source, line, row in read_records(ref.path):
        file_name = names.get(source) or names.setdefault(source, Path(source).name)
        data = _rule_data(row, ref, file_name)
        data.setdefault("source", f"{source}:{line}" if line else source)
        rules.append(_rule(data, source, line))
    return rules


def _rule_data(row: Mapping[str, Any], ref: PriceBookRef, file_name: str) -> dict[str, Any]:
    """A price book row as a rule's fields: the book's backend, prices' source filled in."""
    data: dict[str, Any] = dict(row)
    if "id" in data and "driver" in data:
        # a row of an `offers --format csv` export: the rule's columns, not the offer's own
        data = {k: v for k, v in data.items() if k in PriceRule.model_fields}
    if ref.backend and not data.get("backend"):
        data["backend"] = ref.backend
    for part in ("price", "price_per_vcpu", "price_per_gib_memory"):
        if data.get(part) and isinstance(data[part], dict):
            data[part].setdefault("source", file_name)
    return data


def _rule(data: dict[str, Any], source: str, line: int | None) -> PriceRule:
    """One rule read from a book; errors (bad fields, numbers beyond bounds) name the file and line."""
    try:
        rule = PriceRule.model_validate(data)
    except ValidationError as exc:
        err = exc.errors()[0]
        field = ".".join(str(p) for p in err["loc"]) or None
        msg = err["msg"].removeprefix("Value error, ")
        raise ConfigError(msg, source=source, line=line, field=field) from None
    # prices are a rule's only numbers
    for part in _PRICE_PARTS:
        price = getattr(rule, part)
        if price is None or _plainly_sane(price.amount):
            continue
        found = bounds_violation(price)
        if found is not None:
            raise ConfigError(f"value out of range (numbers must be finite and at most {MAX_NUMBER:.0e})",
                              source=source, line=line, field=f"{part}.{found}")
    return rule


_PRICE_PARTS = ("price", "price_per_vcpu", "price_per_gib_memory")
#: amounts below 10**15 (of at most this many digits before the point) are within bounds
_PLAIN_DIGITS = len(str(MAX_NUMBER)) - 1


def _plainly_sane(amount: Decimal) -> bool:
    """Whether a price's amount (its only number) is decided within bounds at a glance: finite,
    below :data:`MAX_NUMBER`. Others are left to :func:`bounds_violation`."""
    return amount.is_finite() and amount.adjusted() < _PLAIN_DIGITS


def _apply_to_data(data: dict[str, Any], matching: Sequence[_Entry]) -> dict[str, Any]:
    labels = set(data.get("labels") or ())
    flexible = data.get("flexible")
    for entry in matching:
        effect = entry.effect()
        data.update(effect.fields)
        labels |= effect.add
        labels -= effect.remove
        if flexible is not None:
            flexible = {**flexible, **effect.flexible}
    data["labels"] = sorted(labels)
    data["flexible"] = flexible
    return data


def _flexible_priced(flexible: FlexibleSizing | None, prices: Mapping[str, Price]) -> FlexibleSizing | None:
    """``flexible`` with the per-vCPU and per-GiB ``prices`` a rule gives (itself when it gives none)."""
    if flexible is None or not prices:
        return flexible
    return flexible.model_copy(update=dict(prices))
