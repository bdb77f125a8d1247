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

import bisect
import datetime as dt
import fnmatch
import functools
import gc
import re
import types
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Annotated, Any, NamedTuple, cast

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError, model_validator, with_config
from typing_extensions import TypedDict

from .config import PriceBookRef
from .errors import ConfigError
from .models import (
    MAX_NUMBER,
    MIN_NONZERO,
    FlexibleSizing,
    Item,
    Kind,
    Lifecycle,
    Price,
    bounds_violation,
    plain_amount,
)
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
        self._rules: list[PriceRule] | None = list(rules)
        #: a loaded book's rules as checked data (each a mapping of the fields it gives), made
        #: into :class:`PriceRule` models only when :attr:`rules` is asked for
        self._rows: Sequence[Mapping[str, Any]] = ()
        #: where each row was read (file, line): its rule's ``source`` unless the row gives one
        self._places: Sequence[tuple[str, int | None]] = ()
        self._indexed: _RuleIndex | None = None

    @property
    def rules(self) -> list[PriceRule]:
        """The rules, in the order they were read (a list that can be changed in place)."""
        if self._rules is None:
            self._rules = [PriceRule.model_validate(row if row.get("source") is not None else
                                                    {**row, "source": _where(*self._places[pos])})
                           for pos, row in enumerate(self._rows)]
        return self._rules

    @rules.setter
    def rules(self, rules: Sequence[PriceRule]) -> None:
        self._rules = list(rules)

    @classmethod
    def load(cls, refs: Iterable[PriceBookRef | str | Path]) -> PriceBook:
        """Read price book files; errors name the file, line and field."""
        rows: list[Mapping[str, Any]] = []
        places: list[tuple[str, int | None]] = []
        # tens of thousands of small objects and no cycles: the cyclic collector's passes over
        # them would cost more than it frees (reference counting frees the rest)
        collecting = gc.isenabled()
        gc.disable()
        try:
            for ref in refs:
                read, where = _read_book(ref)
                rows += read
                places += where
        finally:
            if collecting:
                _age_new_objects()
                gc.enable()
        book = cls()
        book._rules, book._rows, book._places = None, rows, places
        return book

    def backends(self) -> dict[str, str | None]:
        """The backends rules name, each with where the first rule naming it comes from."""
        named: dict[str, str | None] = {}
        for pos, row in enumerate(self._given()):
            backend = row.get("backend")
            if backend is not None and backend not in named:
                source = row.get("source")
                named[backend] = source if source is not None or self._rules is not None else \
                    _where(*self._places[pos])
        return named

    def _given(self) -> Sequence[Mapping[str, Any]]:
        """Each rule's fields (read from a model's ``__dict__``: its attributes go through its
        ``__getattr__`` hook)."""
        return self._rows if self._rules is None else [rule.__dict__ for rule in self._rules]

    def _index(self) -> _RuleIndex:
        """The index of the rules, made again when rules were added to or taken from :attr:`rules`."""
        index = self._indexed
        if index is None or index.size != (len(self._rows) if self._rules is None else len(self._rules)):
            index = self._indexed = _RuleIndex(self._given())
        return index

    def may_apply(self, backend: str, name: str) -> bool:
        """Whether any rule could apply to an item named ``name`` from ``backend`` (when not, the
        item is left as it is, and need not even be built)."""
        index = self._index()
        return bool(index.size) and bool(index.candidates(backend, name))

    def matching(self, backend: str, item: Item | ItemKey, *, brand: str | None = None,
                 today: dt.date | None = None) -> list[PriceRule]:
        """The rules that apply to ``item`` read from ``backend`` (for ``brand``) by ``today``, in
        the order they apply: patterns before exact names, then by effective date, then file order.

        Rules are found through indexes (exact names by hash, patterns by their literal prefix),
        so the cost grows with the rules that could match, not with the size of the book.
        """
        entries = self._applying(backend, item.name, lambda: item, brand, today)
        rules = self.rules
        return [rules[entry.pos] for entry in entries]

    def apply_data(self, backend: str, data: dict[str, Any], *, brand: str | None = None,
                   today: dt.date | None = None) -> dict[str, Any]:
        """:meth:`apply` on an item's JSON data (as ``Item.model_dump(mode="json")``), updated in
        place and returned: the same rules with the same effect, without building the item."""
        index = self._index()
        entries = index.candidates(backend, data["name"])
        if not entries:
            return data
        entry = entries[0]
        if len(entries) == 1 and entry.decided:  # most items: one rule, found by name (as _applying)
            since = entry.since
            return _apply_entry(data, entry) if since is None or since <= (today or dt.date.today()) else data
        entries = _select(entries, backend, lambda: _item_key(data), brand, today or dt.date.today())
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
            update.update(entry.fields)
            labels.update(entry.add)
            labels.difference_update(entry.remove)
            flexible = _flexible_priced(flexible, entry.pools)
        update["labels"] = sorted(labels)
        if flexible is not item.flexible:
            update["flexible"] = flexible
        return item.model_copy(update=update)

    def _applying(self, backend: str, name: str, key: Callable[[], Item | ItemKey], brand: str | None,
                  today: dt.date | None) -> list[_Entry]:
        """The index entries of the rules that apply, in the order they apply. ``key`` gives what
        rules match on besides the name; it is asked only when a rule found by name needs it."""
        index = self._index()
        candidates = index.candidates(backend, name)
        if not candidates:
            return candidates
        today = today or dt.date.today()
        if len(candidates) == 1 and candidates[0].decided:  # most items: one rule, found by name
            since = candidates[0].since
            return candidates if since is None or since <= today else []
        return _select(candidates, backend, key, brand, today)


def _select(candidates: list[_Entry], backend: str, key: Callable[[], Item | ItemKey], brand: str | None,
            today: dt.date) -> list[_Entry]:
    """Of the rules found by an item's name, those that apply, in the order they apply."""
    item: Item | ItemKey | None = None
    found: list[_Entry] = []
    for entry in candidates:
        if entry.since is not None and entry.since > today:
            continue
        if not entry.decided:
            item = item or key()
            if not _matches(entry.given, backend, item, brand, entry.name_checked):
                continue
        found.append(entry)
    if len(found) > 1:
        found.sort(key=_Entry.order)
    return found


def _age_new_objects() -> None:
    """Move the objects made while the collector was paused to its oldest generation.

    Otherwise they all wait in the youngest one, and the first collections after it resumes
    walk every one of them (for a book of 10,000 rules, longer than applying the rules takes);
    long-lived objects belong in the oldest generation, which is walked rarely. Freezing and
    unfreezing moves them there without walking them; it is not done when something else keeps
    objects frozen (a server that forks), as unfreezing would release those too.
    """
    if gc.get_freeze_count() == 0:
        gc.freeze()
        gc.unfreeze()


class _Entry:
    """A rule as the index holds it: when it applies, its place in the order rules apply,
    whether being found by backend and name is matching it, what it does (the item fields it
    replaces, the labels it adds and removes, lowercased, and the flexible pool prices it sets),
    and the next rule found by the same name or prefix (a chain rather than a list each: the
    index makes few objects)."""

    __slots__ = ("add", "decided", "exact", "fields", "given", "name_checked", "next", "pools", "pos", "remove",
                 "since")

    fields: Mapping[str, Any]
    add: tuple[str, ...]
    remove: tuple[str, ...]

    def __init__(self, pos: int, given: Mapping[str, Any], exact: bool, name_checked: bool,
                 after: _Entry | None) -> None:
        get = given.get
        self.given = given
        self.pos = pos
        self.exact = exact
        self.name_checked = name_checked
        self.next = after
        price, labels = get("price"), get("labels")
        self.add = tuple(map(str.lower, labels)) if labels else ()
        #: the item fields the rule replaces outright
        self.fields = _NO_FIELDS if price is None else {"price": price}
        self.since = None if price is None else price.effective_from
        if given.keys() <= _PLAIN_ROW:  # most rows of a book read (keys of the fields given): a price, labels
            self.decided, self.remove, self.pools = name_checked, (), _NO_POOLS
            return
        # the index is keyed by the rule's backend: only brand, kind and region are left to check
        self.decided = name_checked and get("brand") is None and get("kind") is None and get("region") is None
        remove = get("remove_labels")
        self.remove = tuple(map(str.lower, remove)) if remove else ()
        display_name, lifecycle = get("display_name"), get("lifecycle")
        if display_name is not None or lifecycle is not None:
            self.fields = _fields(price, display_name, lifecycle)
        per_vcpu, per_gib = get("price_per_vcpu"), get("price_per_gib_memory")
        if per_vcpu is None and per_gib is None:
            self.pools = _NO_POOLS
        else:
            self.since, self.pools = _pools(price, per_vcpu, per_gib)

    def order(self) -> tuple[bool, dt.date, int]:
        """Where the rule comes among those that apply: patterns first, then exact names; then by
        effective date; then in file order."""
        return self.exact, self.since or dt.date.min, self.pos


def _fields(price: Price | None, display_name: str | None, lifecycle: Lifecycle | None) -> dict[str, Any]:
    """The item fields a rule giving these replaces outright."""
    return {key: value for key, value in (("price", price), ("display_name", display_name),
                                          ("lifecycle", lifecycle)) if value is not None}


def _pools(price: Price | None, per_vcpu: Price | None, per_gib: Price | None) -> tuple[dt.date | None,
                                                                                         dict[str, Price]]:
    """When a rule giving these prices applies (the latest of their dates) and the flexible pool
    prices it sets."""
    dates = [p.effective_from for p in (price, per_vcpu, per_gib) if p is not None and p.effective_from]
    return max(dates) if dates else None, {part: price for part, price in (("price_per_vcpu", per_vcpu),
                                                                           ("price_per_gib_memory", per_gib))
                                           if price is not None}


_NO_POOLS: dict[str, Price] = {}
#: the fields of a rule that only finds items by backend and name or pattern, and prices or labels them
_PLAIN_ROW = frozenset({"backend", "name", "pattern", "price", "labels", "source"})
_NO_FIELDS: Mapping[str, Any] = {}
_GLOB = re.compile(r"[*?\[]")
_KINDS = {kind.value: kind for kind in Kind}


def _item_key(data: Mapping[str, Any]) -> ItemKey:
    kind = data["kind"]
    return ItemKey(_KINDS.get(kind) or Kind(kind), data["name"], data.get("region"))


class _Tables:
    """One backend's rules (or those for any backend): exact names hashed, patterns by the
    literal prefix before their first wildcard, and the lengths those prefixes have. Each holds
    the first rule found so; the others follow it in file order (:attr:`_Entry.next`)."""

    __slots__ = ("exact", "lengths", "prefix")

    def __init__(self) -> None:
        self.exact: dict[str, _Entry] = {}
        self.prefix: dict[str, _Entry] = {}
        self.lengths: list[int] = []


class _RuleIndex:
    """Rules by backend, then exact name (hashed) or the literal prefix of their pattern."""

    def __init__(self, rules: Sequence[Mapping[str, Any]]) -> None:
        self.size = len(rules)
        self._tables: dict[str | None, _Tables] = {}
        # made last to first, each put before those found by the same name or prefix: chains in file order
        for pos in range(len(rules) - 1, -1, -1):
            given = rules[pos]
            get = given.get
            backend, name, pattern = get("backend"), get("name"), get("pattern")
            tables = self._tables.get(backend) or self._tables.setdefault(backend, _Tables())
            if name is not None:
                exact = tables.exact
                exact[name] = _Entry(pos, given, True, True, exact.get(name))
            elif pattern is not None:
                glob = _GLOB.search(pattern)
                key = pattern[:glob.start()] if glob else pattern
                prefix = tables.prefix
                # `prefix*` matches whatever begins with the prefix: finding it by prefix is matching it
                prefix[key] = _Entry(pos, given, False, pattern == key + "*", prefix.get(key))
        for tables in self._tables.values():
            tables.lengths = sorted({len(prefix) for prefix in tables.prefix})
        #: per backend: the exact names, prefixes and prefix lengths of its own rules, then of
        #: those for any backend
        self._searched: dict[str, tuple[tuple[dict[str, _Entry], dict[str, _Entry], list[int]], ...]] = {}

    def candidates(self, backend: str, name: str) -> list[_Entry]:
        """Rules that may match an item named ``name`` from ``backend`` (to be checked in full)."""
        out: list[_Entry] = []
        searched = self._searched.get(backend)
        if searched is None:  # the backend's own rules, then those for any backend
            searched = self._searched[backend] = tuple(
                (t.exact, t.prefix, t.lengths) for t in (self._tables.get(backend), self._tables.get(None))
                if t is not None)
        for exact, prefix, lengths in searched:
            entry = exact.get(name)
            while entry is not None:
                out.append(entry)
                entry = entry.next
            if not lengths:
                continue
            size = len(name)
            for length in lengths:
                if length > size:
                    break
                entry = prefix.get(name[:length])
                while entry is not None:
                    out.append(entry)
                    entry = entry.next
        return out


def _matches(given: Mapping[str, Any], backend: str, item: Item | ItemKey, brand: str | None,
             name_checked: bool) -> bool:
    """:meth:`PriceRule.matches` of the rule whose fields are ``given``, without matching the name
    again when the index did."""
    get = given.get
    rule_backend, rule_brand, kind, region = get("backend"), get("brand"), get("kind"), get("region")
    if rule_backend is not None and rule_backend != backend:
        return False
    if rule_brand is not None and brand is not None and rule_brand != brand:
        return False
    if kind is not None and kind != item.kind:
        return False
    if region is not None and not fnmatch.fnmatchcase(item.region or "", region):
        return False
    if name_checked:
        return True
    name, pattern = get("name"), get("pattern")
    if name is not None:
        return bool(name == item.name)
    return pattern is not None and fnmatch.fnmatchcase(item.name, pattern)


def _where(source: str, line: int | None) -> str:
    """A rule's ``source``: the file and line it was read at."""
    return f"{source}:{line}" if line else source


def _read_book(ref: PriceBookRef | str | Path) -> tuple[Sequence[Mapping[str, Any]], list[tuple[str, int | None]]]:
    """The rules of one price book file, in file order, as checked data (see :func:`_rules`),
    and where each was read."""
    if not isinstance(ref, PriceBookRef):
        ref = PriceBookRef(path=Path(ref))
    file_name, backend = Path(ref.path).name, ref.backend
    rows: list[dict[str, Any]] = []
    places: list[tuple[str, int | None]] = []
    try:
        for source, line, row in read_records(ref.path, refuse_nul=True, known_keys=("items",)):
            rows.append(_rule_data(row, backend, file_name))
            places.append((source, line))
    except ConfigError:
        _rules_one_by_one(rows, places)  # a bad rule before the unreadable row is the error, as it is read first
        raise
    return _rules(rows, places), places


def _rule_data(row: dict[str, Any], backend: str | None, file_name: str) -> dict[str, Any]:
    """A price book row (read for this, and so changed in place) as a rule's fields: the book's
    ``backend``, prices' source filled in."""
    data = row
    if "id" in data and "driver" in data:
        # a row of an `offers --format csv` export: the rule's columns, not the offer's own
        data = {k: v for k, v in data.items() if k in PriceRule.model_fields}
    if backend and not data.get("backend"):
        data["backend"] = backend
    price = data.get("price")
    if price and isinstance(price, dict):
        price.setdefault("source", file_name)
    if "price_per_vcpu" in data or "price_per_gib_memory" in data:  # flexible pools' prices (fewer rows)
        for part in _PRICE_PARTS[1:]:
            price = data.get(part)
            if price and isinstance(price, dict):
                price.setdefault("source", file_name)
    return data


def _row_type() -> Any:
    """The fields of a :class:`PriceRule` as a TypedDict: what a book's row is checked against.

    Validated so, a row is a dict of the fields it gives, which costs less to make than a model
    with every field (most rows give four or five of fourteen), and the index reads it as it is.
    Made from the model's own fields (their types and constraints), so both check alike; the
    model's own check (a name or a pattern) is :func:`_rules`'s.
    """
    fields = {name: Annotated[(info.annotation, *info.metadata)] if info.metadata else info.annotation
              for name, info in PriceRule.model_fields.items()}
    make: Any = TypedDict  # a TypedDict made at run time, which type checkers do not follow
    return with_config(ConfigDict(extra="forbid"))(make("_RuleRow", fields, total=False))


@functools.cache
def _rule_list() -> TypeAdapter[list[dict[str, Any]]]:
    """Validates a whole book's rows in one call (built on first use: it takes a moment)."""
    adapter: TypeAdapter[list[dict[str, Any]]] = TypeAdapter(cast(Any, types.GenericAlias(list, (_row_type(),))))
    return adapter


def _rules(rows: list[dict[str, Any]], places: list[tuple[str, int | None]]) -> Sequence[Mapping[str, Any]]:
    """The rules of a book's ``rows`` (read at ``places``: file and line) as checked data (each
    row's fields, validated as :class:`PriceRule` validates them), checked as :func:`_rule`
    checks each, with the same errors.

    The rows are validated in one call (pydantic's own loop, much faster than a call a row);
    when that fails, or a row names no item, they are read again one by one, which finds and
    reports the first bad row as reading them one by one always did.
    """
    try:
        checked: list[dict[str, Any]] = _rule_list().validate_python(rows)
    except ValidationError:
        return _rows_of(_rules_one_by_one(rows, places))
    for pos, row in enumerate(checked):
        get = row.get
        if get("name") is None and get("pattern") is None:
            return _rows_of(_rules_one_by_one(rows, places))
        price = get("price")
        # flexible pools' prices (fewer rows) are checked in full; one plain price, at a glance
        if "price_per_vcpu" in row or "price_per_gib_memory" in row or (
                price is not None and not plain_amount(price.amount)):
            _check_bounds(row, *places[pos])
    return checked


def _rows_of(rules: list[PriceRule]) -> list[Mapping[str, Any]]:
    return [rule.__dict__ for rule in rules]


def _rules_one_by_one(rows: list[dict[str, Any]], places: list[tuple[str, int | None]]) -> list[PriceRule]:
    return [_rule(data, source, line) for data, (source, line) in zip(rows, places, strict=True)]


def _rule(data: dict[str, Any], source: str, line: int | None) -> PriceRule:
    """One rule read from a book; errors (bad fields, numbers beyond bounds) name the file and line."""
    try:
        rule = PriceRule.model_validate(data)
    except ValidationError as exc:
        err = exc.errors()[0]
        field = ".".join(str(p) for p in err["loc"]) or None
        msg = err["msg"].removeprefix("Value error, ")
        raise ConfigError(msg, source=source, line=line, field=field) from None
    _check_bounds(rule.__dict__, source, line)
    return rule


def _check_bounds(given: Mapping[str, Any], source: str, line: int | None) -> None:
    """An error naming the file, line and field when a price of the rule whose fields are
    ``given`` (a rule's only numbers) is beyond bounds."""
    for part in _PRICE_PARTS:
        price = given.get(part)
        if price is None or plain_amount(price.amount):
            continue
        found = bounds_violation(price)
        if found is not None:
            raise ConfigError(f"value out of range (numbers must be finite, at most {MAX_NUMBER:.0e}, and zero "
                              f"or at least {MIN_NONZERO:.0e})", source=source, line=line, field=f"{part}.{found}")


_PRICE_PARTS = ("price", "price_per_vcpu", "price_per_gib_memory")


def _apply_entry(data: dict[str, Any], entry: _Entry) -> dict[str, Any]:
    """:func:`_apply_to_data` of one rule."""
    data.update(entry.fields)
    add, remove = entry.add, entry.remove
    if add or remove:
        labels = data.get("labels") or ()  # sorted and unique already
        if len(add) == 1 and not remove:
            if add[0] not in labels:
                labels = list(labels)
                bisect.insort(labels, add[0])
                data["labels"] = labels
        else:
            data["labels"] = sorted({*labels, *add}.difference(remove))
    if entry.pools:
        flexible = data.get("flexible")
        if flexible is not None:
            data["flexible"] = {**flexible, **entry.pools}
    return data


def _apply_to_data(data: dict[str, Any], matching: Sequence[_Entry]) -> dict[str, Any]:
    labels: set[str] | None = None  # the item's own (sorted and unique already) unless a rule changes them
    flexible = data.get("flexible")
    for entry in matching:
        data.update(entry.fields)
        if entry.add or entry.remove:
            if labels is None:
                labels = set(data.get("labels") or ())
            labels.update(entry.add)
            labels.difference_update(entry.remove)
        if flexible is not None and entry.pools:
            flexible = {**flexible, **entry.pools}
    if labels is not None:
        data["labels"] = sorted(labels)
    if flexible is not None:
        data["flexible"] = flexible
    return data


def _flexible_priced(flexible: FlexibleSizing | None, prices: Mapping[str, Price]) -> FlexibleSizing | None:
    """``flexible`` with the per-vCPU and per-GiB ``prices`` a rule gives (itself when it gives none)."""
    if flexible is None or not prices:
        return flexible
    return flexible.model_copy(update=dict(prices))
