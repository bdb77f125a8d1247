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
import re
from collections.abc import Iterable, Mapping, Sequence
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
        for ref in refs:
            if not isinstance(ref, PriceBookRef):
                ref = PriceBookRef(path=Path(ref))
            names: dict[str, str] = {}
            for source, line, row in read_records(ref.path):
                file_name = names.get(source) or names.setdefault(source, Path(source).name)
                data = _rule_data(row, ref, file_name)
                data.setdefault("source", f"{source}:{line}" if line else source)
                rules.append(_rule(data, source, line))
        return cls(rules)

    def _index(self) -> _RuleIndex:
        if self._indexed is None or self._indexed.size != len(self.rules):
            self._indexed = _RuleIndex(self.rules)
        return self._indexed

    def may_apply(self, backend: str, name: str) -> bool:
        """Whether any rule could apply to an item named ``name`` from ``backend`` (when not, the
        item is left as it is, and need not even be built)."""
        return bool(self._index().candidates(backend, name))

    def matching(self, backend: str, item: Item | ItemKey, *, brand: str | None = None,
                 today: dt.date | None = None) -> list[PriceRule]:
        """The rules that apply to ``item`` read from ``backend`` (for ``brand``) by ``today``, in
        the order they apply: patterns before exact names, then by effective date, then file order.

        Rules are found through indexes (exact names by hash, patterns by their literal prefix),
        so the cost grows with the rules that could match, not with the size of the book.
        """
        today = today or dt.date.today()
        found = [(r.exact, since or dt.date.min, pos, r)
                 for pos, r, since, name_checked in self._index().candidates(backend, item.name)
                 if (since is None or since <= today) and _matches(r, backend, item, brand, name_checked)]
        found.sort(key=lambda t: t[:3])
        return [t[3] for t in found]

    def apply_data(self, backend: str, data: dict[str, Any], *, brand: str | None = None,
                   today: dt.date | None = None) -> dict[str, Any]:
        """:meth:`apply` on an item's JSON data (as ``Item.model_dump(mode="json")``), updated in
        place and returned: the same rules with the same effect, without building the item."""
        key = ItemKey(Kind(data["kind"]), data["name"], data.get("region"))
        matching = self.matching(backend, key, brand=brand, today=today)
        return _apply_to_data(data, matching) if matching else data

    def apply(self, backend: str, item: Item, *, brand: str | None = None,
              today: dt.date | None = None) -> Item:
        """``item`` with every matching rule applied (patterns first, then exact names; file order)."""
        matching = self.matching(backend, item, brand=brand, today=today)
        if not matching:
            return item
        update: dict[str, Any] = {}
        labels = set(item.labels)
        flexible = item.flexible
        for rule in matching:
            update.update(_fields_set(rule))
            labels |= {label.lower() for label in rule.labels}
            labels -= {label.lower() for label in rule.remove_labels}
            flexible = _flexible_priced(flexible, rule)
        update["labels"] = sorted(labels)
        if flexible is not item.flexible:
            update["flexible"] = flexible
        return item.model_copy(update=update)


#: position in the book, rule, effective date, whether finding it by name already matched the name
_Entry = tuple[int, PriceRule, dt.date | None, bool]
_GLOB = re.compile(r"[*?\[]")


class _RuleIndex:
    """Rules by backend, then exact name (hashed) or the literal prefix of their pattern."""

    def __init__(self, rules: Sequence[PriceRule]) -> None:
        self.size = len(rules)
        self._exact: dict[tuple[str | None, str], list[_Entry]] = {}
        self._prefix: dict[tuple[str | None, str], list[_Entry]] = {}
        lengths: dict[str | None, set[int]] = {}
        for pos, rule in enumerate(rules):
            since = rule.effective_from()
            if rule.name is not None:
                self._exact.setdefault((rule.backend, rule.name), []).append((pos, rule, since, True))
            elif rule.pattern is not None:
                glob = _GLOB.search(rule.pattern)
                prefix = rule.pattern[:glob.start()] if glob else rule.pattern
                # `prefix*` matches whatever begins with the prefix: finding it by prefix is matching it
                whole = rule.pattern == prefix + "*"
                lengths.setdefault(rule.backend, set()).add(len(prefix))
                self._prefix.setdefault((rule.backend, prefix), []).append((pos, rule, since, whole))
        #: per backend (None: rules for any backend), the prefix lengths its patterns have
        self._lengths = {key: sorted(found) for key, found in lengths.items()}

    def candidates(self, backend: str, name: str) -> list[_Entry]:
        """Rules that may match an item named ``name`` from ``backend`` (to be checked in full)."""
        out: list[_Entry] = []
        for key in (backend, None):
            exact = self._exact.get((key, name))
            if exact:
                out += exact
            for length in self._lengths.get(key, ()):
                if length > len(name):
                    break
                found = self._prefix.get((key, name[:length]))
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
    bad = next((f"{part}.{found}" for part in ("price", "price_per_vcpu", "price_per_gib_memory")
                if (price := getattr(rule, part)) is not None and (found := bounds_violation(price)) is not None),
               None)
    if bad is not None:
        raise ConfigError(f"value out of range (numbers must be finite and at most {MAX_NUMBER:.0e})",
                          source=source, line=line, field=bad)
    return rule


def _apply_to_data(data: dict[str, Any], matching: Sequence[PriceRule]) -> dict[str, Any]:
    labels = set(data.get("labels") or ())
    flexible = data.get("flexible")
    for rule in matching:
        data.update(_fields_set(rule))
        labels |= {label.lower() for label in rule.labels}
        labels -= {label.lower() for label in rule.remove_labels}
        if flexible is not None:
            flexible = {**flexible, **{k: v for k, v in (("price_per_vcpu", rule.price_per_vcpu),
                                                         ("price_per_gib_memory", rule.price_per_gib_memory))
                                       if v is not None}}
    data["labels"] = sorted(labels)
    data["flexible"] = flexible
    return data


def _fields_set(rule: PriceRule) -> dict[str, Any]:
    """The item fields a rule replaces outright (those it gives)."""
    return {name: value for name, value in (("price", rule.price), ("display_name", rule.display_name),
                                            ("lifecycle", rule.lifecycle)) if value is not None}


def _flexible_priced(flexible: FlexibleSizing | None, rule: PriceRule) -> FlexibleSizing | None:
    """``flexible`` with the per-vCPU and per-GiB prices the rule gives (itself when it gives none)."""
    if flexible is None or not (rule.price_per_vcpu or rule.price_per_gib_memory):
        return flexible
    return flexible.model_copy(update={
        k: v for k, v in (("price_per_vcpu", rule.price_per_vcpu),
                          ("price_per_gib_memory", rule.price_per_gib_memory)) if v is not None})
