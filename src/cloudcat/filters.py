"""The offer filters, each declared once.

:class:`OfferFilters` is the one declaration of every filter an offer query accepts. Each key is
annotated with a :class:`Filter` that says which offer field it tests and how (one of several
values, at least, at most, a flag, a substring, all or any of a set). Everything else is derived
from it:

* the typed keyword filters of :meth:`cloudcat.Catalog.offers` (``Unpack[OfferFilters]``: a
  misspelt filter is a type error, and a :class:`~cloudcat.errors.ConfigError` with "did you
  mean" at run time);
* validation and normalisation (:func:`validate_filters`);
* the in-memory matcher (:meth:`Filter.matches`) and the SQL conditions of the store
  (:meth:`Filter.sql`), which a property-based test keeps in agreement;
* the CLI options of ``cloudcat offers``, the reference table in the docs
  (:func:`reference_table`) and the JSON Schema (:func:`filters_schema`);
* logical offers, which are stored queries over the same vocabulary.

Adding a filter is one line in :class:`OfferFilters`, plus its test.
"""

from __future__ import annotations

import abc
import difflib
import functools
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from enum import StrEnum
from typing import Annotated, Any, ClassVar, TypedDict, get_args, get_type_hints

from .errors import ConfigError
from .iso import check_country, check_currency
from .models import Kind, LifecycleStatus, Offer

__all__ = [
    "FILTERS",
    "AllOf",
    "AnyOf",
    "AtLeast",
    "AtMost",
    "Filter",
    "Flag",
    "OfferFilters",
    "OneOf",
    "Text",
    "filters_schema",
    "list_needle",
    "list_text",
    "reference_table",
    "search_fields",
    "search_join",
    "validate_filters",
]

#: Separates the lower-cased id, name and display name in the store's ``search`` column
#: (:func:`search_join`).
SEARCH_SEPARATOR = "\x1f"
#: Starts what the store's list and search columns write for U+001E and U+001F within a value:
#: U+001E 0 and U+001E 1.
_ESCAPE = "\x1e"
_ESCAPED = {_ESCAPE: _ESCAPE + "0", "\x1f": _ESCAPE + "1"}
#: Separates the values of a list field in its store column (:func:`list_text`).
LIST_SEPARATOR = "\x1f"

Accessor = Callable[[Offer], Any]

#: Bounds above this are refused: they mean nothing for a size or a price, and would not survive
#: the conversions to SQL numbers.
_LARGEST = Decimal(10) ** 15


def _attr(path: str) -> Accessor:
    """Read a dotted attribute path of an offer (``price.currency``); ``None`` when a step is."""
    steps = path.split(".")

    def read(offer: Offer) -> Any:
        value: Any = offer
        for step in steps:
            value = getattr(value, step, None)
            if value is None:
                return None
        return value.value if isinstance(value, StrEnum) else value

    return read


def list_text(values: Sequence[str] | None) -> str | None:
    """A list as one text column: each value between two ``\\x1f`` (``\\x1f`` and ``\\x1e`` within
    a value written ``\\x1e1`` and ``\\x1e0``), so that :func:`list_needle` of a value is found in
    it exactly when the value is in the list; ``None`` for an empty list."""
    if not values:
        return None
    return LIST_SEPARATOR + LIST_SEPARATOR.join(map(_escaped, values)) + LIST_SEPARATOR


def list_needle(value: str) -> str:
    """What :func:`list_text` of a list holding ``value`` contains, and of no other list."""
    return LIST_SEPARATOR + _escaped(value) + LIST_SEPARATOR


def _escaped(value: str) -> str:
    if _ESCAPE in value or LIST_SEPARATOR in value:
        return value.replace(_ESCAPE, _ESCAPED[_ESCAPE]).replace(LIST_SEPARATOR, _ESCAPED[LIST_SEPARATOR])
    return value


def search_join(fields: Iterable[str]) -> str:
    """Fields as the store's ``search`` column holds them: joined by :data:`SEARCH_SEPARATOR`,
    each written as a list value is (U+001E and U+001F within it as ``\\x1e0`` and ``\\x1e1``),
    so that a field holding the separator is not read as two (:func:`search_fields`)."""
    return SEARCH_SEPARATOR.join(map(_escaped, fields))


def search_fields(text: str) -> list[str]:
    """The fields of a ``search`` column's text, as they were given to :func:`search_join`."""
    # the separator's first: an escape decoded first, then a 1 after it, would read as one
    return [part.replace(_ESCAPED[SEARCH_SEPARATOR], SEARCH_SEPARATOR).replace(_ESCAPED[_ESCAPE], _ESCAPE)
            if _ESCAPE in part else part for part in text.split(SEARCH_SEPARATOR)]


def _listed(column: str, values: Sequence[str], params: list[Any], joined: str) -> str:
    params.extend(list_needle(v) for v in values)
    return "(" + joined.join([f"instr({column}, ?) > 0"] * len(values)) + ")"


def _in_clause(column: str, values: Sequence[Any], params: list[Any]) -> str:
    if not values:
        return "0"
    params.extend(values)
    return f"{column} IN ({', '.join('?' * len(values))})"


@dataclass(frozen=True, kw_only=True)
class Filter(abc.ABC):
    """How one filter tests an offer. Subclasses are the kinds of test.

    ``field`` names the offer field tested (dotted for nested fields), ``help`` is the text shown
    in the CLI and the docs, ``cli`` the option's name when it differs from the filter's (without
    dashes) and ``short`` its one-letter form. ``column`` is the store column holding the field;
    ``listed`` marks a list field, which the column holds as :func:`list_text`. ``sized`` marks
    filters on size or price, which a flexible offer only has once sized to the query.
    """

    test: ClassVar[str] = ""
    field: str
    help: str
    cli: str | None = None
    short: str | None = None
    column: str | None = None
    listed: bool = False
    sized: bool = False
    read: Accessor | None = None

    name: str = ""  # set by the registry

    def __post_init__(self) -> None:
        if self.read is None:
            object.__setattr__(self, "read", _attr(self.field))

    def value(self, offer: Offer) -> Any:
        """The offer's value for this filter, normalised (a list for a list field)."""
        assert self.read is not None
        return self.read(offer)

    def stored(self, offer: Offer) -> Any:
        """The value as the store's column holds it (:func:`list_text` of a list field)."""
        assert self.read is not None
        value = self.read(offer)
        return list_text(value) if self.listed else value

    @abc.abstractmethod
    def validate(self, raw: object) -> Any:
        """The value asked for, checked and normalised; :class:`ConfigError` when it is bad."""

    @abc.abstractmethod
    def matches(self, offer: Offer, wanted: Any) -> bool:
        """Whether the offer passes the filter (the in-memory meaning)."""

    @abc.abstractmethod
    def sql(self, wanted: Any, params: list[Any]) -> str:
        """The same test as an SQL condition on the store's ``offers o`` row; appends its params."""

    def admits_nothing(self, wanted: Any) -> bool:
        """Whether no offer can pass (an empty "one of" list), so a query need not run."""
        return False

    @abc.abstractmethod
    def json_schema(self) -> dict[str, Any]:
        """JSON Schema of the value the filter accepts."""

    @property
    def option(self) -> str:
        """The CLI option's long name, without dashes."""
        return self.cli or self.name.replace("_", "-")

    def error(self, message: str) -> ConfigError:
        return ConfigError(f"filter {self.name}: {message}", field=self.name)


def _strings(raw: object) -> list[str]:
    if isinstance(raw, str):
        return [raw]
    if isinstance(raw, Iterable) and not isinstance(raw, (bytes, Mapping)):
        return [v.value if isinstance(v, StrEnum) else v for v in raw]
    raise TypeError


@dataclass(frozen=True, kw_only=True)
class OneOf(Filter):
    """The offer's value is one of the values asked for (a single value or a list)."""

    test: ClassVar[str] = "one of"
    choices: type[StrEnum] | tuple[str, ...] | None = None
    normalize: Callable[[str], str] | None = None

    @property
    def allowed(self) -> tuple[str, ...] | None:
        if self.choices is None:
            return None
        if isinstance(self.choices, tuple):
            return self.choices
        return tuple(c.value for c in self.choices)

    def validate(self, raw: object) -> list[str]:
        try:
            values = _strings(raw)
        except TypeError:
            raise self.error(f"expected a string or a list of strings, not {raw!r}") from None
        out: list[str] = []
        for value in values:
            if not isinstance(value, str):
                raise self.error(f"expected strings, not {value!r}")
            value = value.strip()
            if not value:
                raise self.error("an empty value matches nothing")
            if self.normalize:
                try:
                    value = self.normalize(value)
                except ValueError as exc:  # not a value the field can hold (an unknown currency code)
                    raise self.error(str(exc)) from None
            allowed = self.allowed
            if allowed is not None and value not in allowed:
                close = difflib.get_close_matches(value, allowed, n=1)
                hint = f" (did you mean {close[0]!r}?)" if close else ""
                raise self.error(f"{value!r} is not one of {', '.join(allowed)}{hint}")
            if value not in out:
                out.append(value)
        return out

    def admits_nothing(self, wanted: list[str]) -> bool:
        return not wanted

    def matches(self, offer: Offer, wanted: list[str]) -> bool:
        value = self.value(offer)
        if isinstance(value, list):
            return any(v in wanted for v in value)
        return value in wanted

    def sql(self, wanted: list[str], params: list[Any]) -> str:
        if self.listed:
            return _listed(f"o.{self.column}", wanted, params, " OR ") if wanted else "0"
        return _in_clause(f"o.{self.column}", wanted, params)

    def json_schema(self) -> dict[str, Any]:
        one: dict[str, Any] = {"type": "string"}
        if self.allowed is not None:
            one["enum"] = list(self.allowed)
        return {"anyOf": [one, {"type": "array", "items": one}]}


@dataclass(frozen=True, kw_only=True)
class AllOf(OneOf):
    """The offer carries every value asked for (labels)."""

    test: ClassVar[str] = "all of"

    def admits_nothing(self, wanted: list[str]) -> bool:
        return False

    def matches(self, offer: Offer, wanted: list[str]) -> bool:
        return set(wanted).issubset(self.value(offer) or ())

    def sql(self, wanted: list[str], params: list[Any]) -> str:
        return _listed(f"o.{self.column}", wanted, params, " AND ") if wanted else "1"


@dataclass(frozen=True, kw_only=True)
class AnyOf(OneOf):
    """The offer carries at least one of the values asked for."""

    test: ClassVar[str] = "any of"


@dataclass(frozen=True, kw_only=True)
class AtLeast(Filter):
    """The offer's number is known and at least the bound."""

    test: ClassVar[str] = "at least"
    integer: bool = True
    bound: str = ">="

    def validate(self, raw: object) -> int | Decimal:
        if isinstance(raw, bool):
            raise self.error(f"expected a number, not {raw!r}")
        try:
            number = Decimal(str(raw).strip())
        except InvalidOperation:
            raise self.error(f"expected a number, not {raw!r}") from None
        if not number.is_finite() or number < 0 or number > _LARGEST:
            raise self.error(f"expected a finite number from 0 to 10^15, not {raw!r}")
        if self.integer:
            if number != number.to_integral_value():
                raise self.error(f"expected a whole number, not {raw!r}")
            return int(number)
        return number

    def matches(self, offer: Offer, wanted: int | Decimal) -> bool:
        value = self.value(offer)
        if value is None:
            return False
        return bool(value >= wanted) if self.bound == ">=" else bool(value <= wanted)

    def sql(self, wanted: int | Decimal, params: list[Any]) -> str:
        params.append(wanted)
        return f"o.{self.column} {self.bound} ?"

    def json_schema(self) -> dict[str, Any]:
        if self.integer:
            return {"type": "integer", "minimum": 0}
        return {"anyOf": [{"type": "number", "minimum": 0}, {"type": "string", "pattern": r"^\s*\d+(\.\d+)?\s*$"}]}


@dataclass(frozen=True, kw_only=True)
class AtMost(AtLeast):
    """The offer's amount is known and at most the bound. Decimal amounts compare exactly."""

    test: ClassVar[str] = "at most"
    integer: bool = False
    bound: str = "<="

    def sql(self, wanted: int | Decimal, params: list[Any]) -> str:
        # Floating point keeps the order of decimals (never inverts it), so only amounts equal to
        # the bound as floats need the exact decimal comparison (columns ``<column>`` + ``_exact``).
        bound = float(wanted)
        assert self.column is not None
        params.extend((bound, bound, str(wanted)))
        return (f"(o.{self.column} < ? OR (o.{self.column} = ? "
                f"AND cc_decimal_le(o.{self.column.removesuffix('_amount')}_exact, ?)))")


@dataclass(frozen=True, kw_only=True)
class Flag(Filter):
    """True: only offers that have the field; False: only offers without it."""

    test: ClassVar[str] = "flag"

    def validate(self, raw: object) -> bool:
        if not isinstance(raw, bool):
            raise self.error(f"expected true or false, not {raw!r}")
        return raw

    def matches(self, offer: Offer, wanted: bool) -> bool:
        return (self.value(offer) is not None) == wanted

    def sql(self, wanted: bool, params: list[Any]) -> str:
        return f"o.{self.column} IS {'NOT ' if wanted else ''}NULL"

    def json_schema(self) -> dict[str, Any]:
        return {"type": "boolean"}


@dataclass(frozen=True, kw_only=True)
class Text(Filter):
    """Case-insensitive substring of the offer's id, name or display name."""

    test: ClassVar[str] = "text"

    def validate(self, raw: object) -> str:
        if not isinstance(raw, str) or not raw.strip():
            raise self.error(f"expected a non-empty text, not {raw!r}")
        return raw.lower()

    def matches(self, offer: Offer, wanted: str) -> bool:
        return any(wanted in f.lower() for f in (offer.name, offer.display_name or "", offer.id))

    def sql(self, wanted: str, params: list[Any]) -> str:
        column = f"o.{self.column}"
        # A needle holding the separator or the escape could straddle two fields or an escape:
        # it goes through the field-by-field function (cc_text_in), which reads the fields back.
        if SEARCH_SEPARATOR in wanted or _ESCAPE in wanted:
            params.append(wanted)
            return f"cc_text_in({column}, ?)"
        # Any other needle found in the lower-cased text is found in one field, as given, unless
        # a field held an escaped character: the needle may then have met the digit after the
        # escape, and only those few rows are read field by field.
        params += [wanted, _ESCAPE, wanted]
        return f"(instr({column}, ?) > 0 AND (instr({column}, ?) = 0 OR cc_text_in({column}, ?)))"

    def json_schema(self) -> dict[str, Any]:
        return {"type": "string", "minLength": 1}


def offer_zones(offer: Offer) -> list[str]:
    """Every zone an offer is in or can be ordered in."""
    return sorted({*offer.zones, *([offer.zone] if offer.zone else [])})


def _architecture(offer: Offer) -> str | None:
    # x86_64 is the default of every platform cloudcat knows: compute that says nothing is x86_64.
    return offer.architecture or ("x86_64" if offer.kind == Kind.COMPUTE else None)


def _lower(offer_value: str | None) -> str | None:
    return offer_value.lower() if offer_value else None


def _upper(offer_value: str | None) -> str | None:
    return offer_value.upper() if offer_value else None


def _labels(offer: Offer) -> list[str]:
    return list(offer.labels)


def _label(text: str) -> str:
    return text.lower()


class OfferFilters(TypedDict, total=False):
    """Every offer filter, declared once. All filters given must hold; a filter left out is not
    applied. A "one of" filter takes one value or a list of values."""

    brand: Annotated[str | Sequence[str], OneOf(
        field="brand", column="brand", short="b",
        help="Brand name, alias or former name (resolved to the brand).")]
    kind: Annotated[str | Kind | Sequence[str | Kind], OneOf(
        field="kind", column="kind", short="k", choices=Kind, help="What the offer is.")]
    region: Annotated[str | Sequence[str], OneOf(field="region", column="region", short="r", help="Region.")]
    zone: Annotated[str | Sequence[str], OneOf(
        field="zones", column="zone_list", listed=True, read=offer_zones,
        help="Availability zone the offer is in or can be ordered in.")]
    country: Annotated[str | Sequence[str], OneOf(
        field="country", column="country", normalize=check_country, read=lambda o: _upper(o.country),
        help="ISO 3166-1 alpha-2 country of the region (FR, DE…; UK is GB); another code is an error.")]
    labels: Annotated[str | Sequence[str], AllOf(
        field="labels", column="label_list", listed=True, cli="label", short="l", normalize=_label,
        read=_labels,
        help="Label the offer must carry (every one given).")]
    any_label: Annotated[str | Sequence[str], AnyOf(
        field="labels", column="label_list", listed=True, normalize=_label, read=_labels,
        help="Labels of which the offer must carry at least one.")]
    family: Annotated[str | Sequence[str], OneOf(
        field="family", column="family", help="Family or series (a flavor family, a VM series, a service class).")]
    architecture: Annotated[str | Sequence[str], OneOf(
        field="architecture", column="architecture", read=_architecture,
        choices=("x86_64", "aarch64", "ppc64le", "s390x"), help="CPU architecture (compute: x86_64 unless stated).")]
    os_family: Annotated[str | Sequence[str], OneOf(
        field="os_family", column="os_family", normalize=str.lower, read=lambda o: _lower(o.os_family),
        help="Operating system family of an image (ubuntu, windows…), any case.")]
    storage_class: Annotated[str | Sequence[str], OneOf(
        field="storage_class", column="storage_class", help="Storage class of a storage offer.")]
    min_vcpus: Annotated[int, AtLeast(
        field="vcpus", column="vcpus", sized=True, help="At least this many vCPUs (flexible offers are sized).")]
    min_memory_mib: Annotated[int, AtLeast(
        field="memory_mib", column="memory_mib", sized=True,
        help="At least this much memory, MiB (flexible offers are sized).")]
    min_iops: Annotated[int, AtLeast(field="iops", column="iops", help="At least this many IOPS (storage).")]
    gpu: Annotated[bool, Flag(
        field="gpu", column="gpu_count", help="Only offers with (true) or without (false) a GPU.")]
    flexible: Annotated[bool, Flag(
        field="flexible", column="flex_vcpus_max",
        help="Only flexible (pool-sized) compute (true) or only fixed sizes.")]
    max_price: Annotated[Decimal | float | int | str, AtMost(
        field="price.amount", column="price_amount", sized=True,
        help="Highest price amount; offers with an unknown price are left out.")]
    currency: Annotated[str | Sequence[str], OneOf(
        field="price.currency", column="price_currency", normalize=check_currency, sized=True,
        help="ISO 4217 currency of the price (another code is an error); offers with an unknown price are left "
             "out.")]
    lifecycle: Annotated[str | LifecycleStatus | Sequence[str | LifecycleStatus], OneOf(
        field="lifecycle.status", column="lifecycle_status", choices=LifecycleStatus, help="Lifecycle status.")]
    text: Annotated[str, Text(field="id", column="search", short="q",
                              help="Case-insensitive substring of the id, name or display name.")]
    backend: Annotated[str | Sequence[str], OneOf(
        field="backend", column="backend", help="Configured backend the offer was read from.")]


def _declarations() -> dict[str, Filter]:
    found: dict[str, Filter] = {}
    for name, hint in get_type_hints(OfferFilters, include_extras=True).items():
        declared = next(m for m in get_args(hint)[1:] if isinstance(m, Filter))
        object.__setattr__(declared, "name", name)
        found[name] = declared
    return found


#: Every filter by name, in declaration order.
FILTERS: dict[str, Filter] = _declarations()


def _unknown(name: str) -> ConfigError:
    close = difflib.get_close_matches(name, list(FILTERS), n=1)
    hint = f" (did you mean {close[0]!r}?)" if close else ""
    return ConfigError(f"unknown filter {name!r}{hint}; filters: {', '.join(FILTERS)}", field=name)


def validate_filters(filters: Mapping[str, object]) -> dict[str, Any]:
    """Filters checked and normalised: lists for "one of" filters, numbers as ``int`` or
    ``Decimal``; ``None`` values are dropped. :class:`ConfigError` names an unknown filter (with
    "did you mean") or a bad value."""
    out: dict[str, Any] = {}
    for name, raw in filters.items():
        declared = FILTERS.get(name)
        if declared is None:
            raise _unknown(name)
        if raw is None:
            continue
        out[name] = declared.validate(raw)
    return out


def reference_table() -> str:
    """The filters as a Markdown table (the docs' reference, checked by a test)."""
    rows = ["| filter | CLI option | test | offer field | what it keeps |", "|---|---|---|---|---|"]
    for name, f in FILTERS.items():
        option = f"--{f.option}" + (f" / -{f.short}" if f.short else "")
        if isinstance(f, Flag):
            option = f"--{f.option} / --no-{f.option}"
        rows.append(f"| `{name}` | `{option}` | {f.test} | `{f.field}` | {f.help} |")
    return "\n".join(rows) + "\n"


@functools.cache
def filters_schema() -> dict[str, Any]:
    """JSON Schema of :class:`OfferFilters` (an object whose properties are the filters)."""
    props = {name: {**f.json_schema(), "description": f.help} for name, f in FILTERS.items()}
    return {"title": "OfferFilters", "type": "object", "properties": props, "additionalProperties": False}
