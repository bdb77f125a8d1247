"""The catalog's typed vocabulary (pydantic v2).

Two layers:

* :class:`Item` is what a driver reads from one backend: a flavor, a template, a storage class…
  It knows nothing of brands, operators or ids.
* :class:`Offer` is what a customer of a brand can order: an item seen through a brand, with a
  stable id, the brand's operator, price book prices, labels and lifecycle, and provenance.

Both share :class:`OfferSpec`, the typed description of the thing itself. Fields that do not
apply to a kind are ``None`` (an image has no ``vcpus``). Backend-specific data goes in
``extras``, never in new top-level fields.

A price that is not known is ``None``, never ``0``.
"""

from __future__ import annotations

import datetime as dt
import math
import re
from collections.abc import Callable
from decimal import Decimal
from enum import StrEnum
from types import UnionType
from typing import Annotated, Any, Literal, Union, get_args, get_origin

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from .iso import ISO_4217, check_country, check_currency

__all__ = [
    "MAX_INT",
    "MAX_NUMBER",
    "MIN_NONZERO",
    "Architecture",
    "BackendStatus",
    "Brand",
    "BrandData",
    "FlexibleSizing",
    "Gpu",
    "Item",
    "Kind",
    "Lifecycle",
    "LifecycleStatus",
    "Offer",
    "OfferSpec",
    "OperatorPeriod",
    "Price",
    "PriceUnit",
    "Region",
    "SaleStatus",
    "SnapshotInfo",
    "bounds_violation",
    "nul_path",
    "plain_amount",
]

JsonValue = Any


class Kind(StrEnum):
    """What an offer is."""

    COMPUTE = "compute"
    IMAGE = "image"
    STORAGE = "storage"
    NETWORK = "network"
    LOCATION = "location"


class LifecycleStatus(StrEnum):
    """Where an offer is in its life."""

    AVAILABLE = "available"
    END_OF_SALE = "end-of-sale"
    END_OF_LIFE = "end-of-life"


class SaleStatus(StrEnum):
    """Whether an offer can be ordered in a region or zone right now.

    Drivers map their platform's own sale flags to these (Huawei's ``normal`` / ``sellout`` /
    ``abandon``, a disabled flavor…); the core reads only this vocabulary.
    """

    ORDERABLE = "orderable"
    SOLD_OUT = "sold-out"
    WITHDRAWN = "withdrawn"


Architecture = Literal["x86_64", "aarch64", "ppc64le", "s390x"]

#: Units a price can be expressed in. ``GiB-month`` is storage; ``vcpu-hour`` and
#: ``GiB-hour`` (and their ``-month`` forms) price the parts of a flexible offer.
PriceUnit = Literal[
    "hour", "month", "year", "one-time",
    "GiB-month", "GiB-hour",
    "vcpu-hour", "vcpu-month",
]

_CURRENCY_PATTERN = r"^[A-Z]{3}$"


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=False, validate_assignment=False)


class Price(_Model):
    """A price with everything needed to trust it: currency, unit, date and source."""

    amount: Decimal = Field(description="Amount as a decimal, in `currency` per `unit`.", ge=0)
    currency: Annotated[str, Field(pattern=_CURRENCY_PATTERN, description="ISO 4217 code, kept as given.")]
    unit: PriceUnit = Field(description="What the amount buys: an hour, a month, a GiB-month…")
    effective_from: dt.date | None = Field(default=None, description="First day this price applies.")
    source: str | None = Field(default=None, description="Where the price comes from (price book file, API).")

    @field_validator("currency", mode="before")
    @classmethod
    def _upper(cls, value: object) -> object:
        if isinstance(value, str):  # most are written as the code itself, kept as it is
            return value if value in ISO_4217 else check_currency(value)
        return value


class Gpu(_Model):
    """Accelerators attached to a compute size."""

    model: str | None = None
    count: float = Field(default=1, gt=0, description="Number of GPUs; fractions for shared (vGPU) slices.")
    memory_mib: int | None = Field(default=None, ge=0)


class FlexibleSizing(_Model):
    """A pool sized freely within ranges (VMware-style), priced per vCPU and per GiB of memory."""

    vcpus_min: int = Field(default=1, ge=1)
    vcpus_max: int = Field(ge=1)
    memory_mib_min: int = Field(default=1024, ge=1)
    memory_mib_max: int = Field(ge=1)
    memory_step_mib: int = Field(default=4, ge=1, description="Memory must be a multiple of this.")
    price_per_vcpu: Price | None = None
    price_per_gib_memory: Price | None = None

    @model_validator(mode="after")
    def _ranges(self) -> FlexibleSizing:
        if self.vcpus_max < self.vcpus_min:
            raise ValueError("vcpus_max is below vcpus_min")
        if self.memory_mib_max < self.memory_mib_min:
            raise ValueError("memory_mib_max is below memory_mib_min")
        return self

    def fits(self, vcpus: int, memory_mib: int) -> bool:
        """Whether a VM of this size can be carved from the pool."""
        return (self.vcpus_min <= vcpus <= self.vcpus_max
                and self.memory_mib_min <= memory_mib <= self.memory_mib_max)

    def size_for(self, min_vcpus: int | None, min_memory_mib: int | None) -> tuple[int, int] | None:
        """Smallest size satisfying both minimums, or ``None`` when the pool cannot."""
        vcpus = max(self.vcpus_min, min_vcpus or 0)
        memory = max(self.memory_mib_min, min_memory_mib or 0)
        step = self.memory_step_mib
        memory = -(-memory // step) * step
        if not self.fits(vcpus, memory):
            return None
        return vcpus, memory

    def price_for(self, vcpus: int, memory_mib: int) -> Price | None:
        """Price of one VM of this size; ``None`` unless both parts are priced in one currency."""
        cpu, mem = self.price_per_vcpu, self.price_per_gib_memory
        if cpu is None or mem is None or cpu.currency != mem.currency:
            return None
        cpu_period = cpu.unit.removeprefix("vcpu-")
        mem_period = mem.unit.removeprefix("GiB-")
        if cpu_period != mem_period:
            return None
        amount = cpu.amount * vcpus + mem.amount * Decimal(memory_mib) / Decimal(1024)
        unit: PriceUnit = "hour" if cpu_period == "hour" else "month"
        return Price(amount=amount.quantize(Decimal("0.000001")).normalize(), currency=cpu.currency,
                     unit=unit, effective_from=cpu.effective_from, source=cpu.source)


class Lifecycle(_Model):
    """Lifecycle of an offer: status, dates and the offer that replaces it."""

    status: LifecycleStatus = LifecycleStatus.AVAILABLE
    end_of_sale: dt.date | None = None
    end_of_life: dt.date | None = None
    successor: str | None = Field(default=None, description="Id of the offer that replaces this one.")
    reason: str | None = None

    def at(self, day: dt.date) -> Lifecycle:
        """The lifecycle as of ``day``: dates that have passed raise the status."""
        status = self.status
        if self.end_of_life and day >= self.end_of_life:
            status = LifecycleStatus.END_OF_LIFE
        elif self.end_of_sale and day >= self.end_of_sale and status == LifecycleStatus.AVAILABLE:
            status = LifecycleStatus.END_OF_SALE
        return self.model_copy(update={"status": status}) if status != self.status else self


class Region(_Model):
    """A region a backend serves, with its availability zones."""

    name: str
    display_name: str | None = None
    country: str | None = Field(default=None, description="ISO 3166-1 alpha-2 country code.")
    zones: list[str] = Field(default_factory=list)

    @field_validator("country", mode="before")
    @classmethod
    def _iso_country(cls, value: object) -> object:
        return check_country(value) if isinstance(value, str) else value


class OfferSpec(_Model):
    """What is sold: the typed description shared by items and offers."""

    kind: Kind
    name: str = Field(min_length=1, description="The backend's own name (flavor name, template name…).")
    display_name: str | None = None
    region: str | None = None
    zone: str | None = Field(default=None, description="Set when the item exists in one zone only.")
    zones: list[str] = Field(default_factory=list, description="Zones where it can be ordered.")
    country: str | None = None
    # platform facts, mapped by each driver from its platform's own keys
    family: str | None = Field(
        default=None, description="Family or series the offer belongs to (a flavor family, a VM series, "
                                  "a service class, a storage class).")
    generation: str | None = Field(default=None, description="Hardware generation within the family.")
    sale_status: SaleStatus | None = Field(
        default=None, description="Sale status for the whole region; None when the backend says nothing.")
    zone_status: dict[str, SaleStatus] = Field(
        default_factory=dict, description="Sale status per zone, for offers sold zone by zone.")
    # compute
    vcpus: int | None = Field(default=None, ge=1)
    memory_mib: int | None = Field(default=None, ge=1)
    disk_gib: float | None = Field(default=None, ge=0, description="Local (root or ephemeral) disk.")
    gpu: Gpu | None = None
    architecture: Architecture | None = None
    flexible: FlexibleSizing | None = Field(
        default=None, description="Set for flexible compute; `vcpus`/`memory_mib` are then its maximum.")
    # image
    os_family: str | None = None
    os_version: str | None = None
    min_disk_gib: float | None = Field(default=None, ge=0)
    min_memory_mib: int | None = Field(default=None, ge=0)
    # storage
    storage_class: str | None = None
    iops: int | None = Field(default=None, ge=0)
    throughput_mbps: float | None = Field(default=None, ge=0)
    min_size_gib: float | None = Field(default=None, ge=0)
    max_size_gib: float | None = Field(default=None, ge=0)
    # network
    bandwidth_mbps: float | None = Field(default=None, ge=0)
    # commercial
    price: Price | None = Field(default=None, description="Null when unknown, never 0 for unknown.")
    labels: list[str] = Field(default_factory=list, description="Compliance and other labels.")
    lifecycle: Lifecycle = Field(default_factory=Lifecycle)
    extras: dict[str, JsonValue] = Field(default_factory=dict, description="Backend-specific data.")

    @property
    def sizing(self) -> Literal["fixed", "flexible"] | None:
        """``fixed`` or ``flexible`` for compute, ``None`` for other kinds."""
        if self.kind != Kind.COMPUTE:
            return None
        return "flexible" if self.flexible is not None else "fixed"

    @field_validator("labels", mode="after")
    @classmethod
    def _sorted_labels(cls, value: list[str]) -> list[str]:
        if not value:
            return value
        if len(value) == 1:  # most items carry one label: the same result without a set
            label = value[0].strip().lower()
            return [label] if label else []
        return sorted({label.strip().lower() for label in value if label.strip()})


class Item(OfferSpec):
    """One catalog item as a driver reads it from one backend, in one region."""


class Offer(OfferSpec):
    """One thing a customer of a brand can order, named by a stable id."""

    id: str = Field(description="Stable id, `<brand>/<kind>/<region>/<name>`.")
    brand: str
    operator: str | None = None
    display_name: str | None = None
    backend: str = Field(description="Configured backend the offer was read from.")
    driver: str = Field(description="Driver that read it.")
    read_at: dt.datetime = Field(description="When the backend was read (UTC).")

    @model_validator(mode="after")
    def _id_has_brand(self) -> Offer:
        if not self.id.startswith(self.brand + "/"):
            raise ValueError(f"offer id {self.id!r} must begin with '{self.brand}/'")
        return self

    def to_json(self) -> dict[str, JsonValue]:
        """The stable JSON form (the ``offers --format json`` contract)."""
        raw = self.model_dump(mode="json")
        if raw.get("display_name") is None:
            raw["display_name"] = self.name
        raw["sizing"] = self.sizing
        first = ("id", "brand", "operator", "kind", "name", "display_name", "region", "zone", "zones",
                 "vcpus", "memory_mib", "price", "labels", "lifecycle", "backend", "driver", "read_at")
        data = {k: raw[k] for k in first}
        data.update((k, v) for k, v in raw.items() if k not in data)
        return data


class OperatorPeriod(_Model):
    """Who operated a brand, and when."""

    operator: str
    since: dt.date | None = None
    until: dt.date | None = None


class BrandData(_Model):
    """What describes a brand, in the configuration and in the catalog alike."""

    display_name: str | None = Field(default=None, description="Name shown to customers.")
    operator: str | None = Field(default=None, description="Who operates the brand now.")
    operator_history: list[OperatorPeriod] = Field(default_factory=list, description="Earlier operators.")
    aliases: list[str] = Field(default_factory=list, description="Other names that resolve to the brand.")
    former_names: list[str] = Field(default_factory=list, description="Names the brand had before.")
    labels: list[str] = Field(default_factory=list, description="Labels every offer of the brand carries.")
    lifecycle: Lifecycle = Field(default_factory=Lifecycle, description="The brand's own lifecycle.")


class Brand(BrandData):
    """The commercial name a customer sees, with its operator, history and backends."""

    name: str
    backends: list[str] = Field(default_factory=list)


class BackendStatus(_Model):
    """Outcome of reading one backend during a refresh."""

    backend: str
    driver: str
    status: Literal["ok", "failed", "stale"]
    error: str | None = None
    items: int = 0
    seconds: float = 0.0
    read_at: dt.datetime | None = Field(
        default=None, description="When its reading began (the `read_at` of its offers); null when it failed.")


class SnapshotInfo(_Model):
    """One stored refresh."""

    id: int
    created_at: dt.datetime
    offers: int
    config_hash: str | None = None
    backends: list[BackendStatus] = Field(default_factory=list)


#: The largest integer a catalog field may hold: exact in a double and in SQLite's 64-bit
#: integers, and far above any real size (2**53 MiB is 8 EiB).
MAX_INT = 2**53
#: The largest number a float or decimal field (sizes, bandwidth, prices) may hold.
MAX_NUMBER = 10**15
#: Decimal exponents beyond this are refused before any arithmetic (``1e999999999``).
_MAX_EXPONENT = 30
#: The smallest decimal other than zero a field may hold (its exponent within bounds).
MIN_NONZERO = Decimal(10) ** -_MAX_EXPONENT


def bounds_violation(value: BaseModel, path: str = "") -> str | None:
    """The dotted path of the first field of ``value`` (a model, searched through nested models,
    lists and mappings) holding an integer beyond ±:data:`MAX_INT`, or a float or decimal that is
    not finite or beyond ±:data:`MAX_NUMBER`; ``None`` when every field is sane.

    Pydantic accepts such values (Python integers are unbounded, ``inf`` is a float); storage,
    JSON and price arithmetic do not, so the catalog checks this on what drivers read and on
    what it reads back, and drops what fails. Fields whose type cannot hold a number (text,
    enumerations, dates, lists of text) are not looked at.
    """
    fields = value.__dict__
    for name in _number_fields(type(value)):
        field_value = fields.get(name)
        if field_value is None:
            continue
        kind = type(field_value)
        if (kind is int and -MAX_INT <= field_value <= MAX_INT) or (
                kind is float and -MAX_NUMBER <= field_value <= MAX_NUMBER) or (
                not field_value and kind in _EMPTY_OK) or (
                kind is Price and plain_amount(field_value.amount)):
            continue  # the common cases, decided without a call (NaN fails both comparisons)
        found = _violation(field_value, f"{path}{name}")
        if found is not None:
            return found
    return None


_NUMBER_FIELDS: dict[type[BaseModel], tuple[str, ...]] = {}


def _number_fields(model: type[BaseModel]) -> tuple[str, ...]:
    """The fields of ``model``, in order, whose declared type may hold a number somewhere."""
    names = _NUMBER_FIELDS.get(model)
    if names is None:
        _NUMBER_FIELDS[model] = ("",)  # meanwhile: a model that holds itself holds numbers
        names = _NUMBER_FIELDS[model] = tuple(
            name for name, info in model.model_fields.items() if not _numberless(info.annotation))
    return names


def _numberless(annotation: Any) -> bool:
    """Whether no value of this type can be or hold a number (text, flags, enumerations, dates)."""
    if annotation in (str, bool, type(None), dt.date, dt.datetime):
        return True
    if isinstance(annotation, type) and issubclass(annotation, StrEnum):
        return True
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return not _number_fields(annotation)
    args = get_args(annotation)
    origin = get_origin(annotation)
    if origin is Literal:
        return all(isinstance(a, str) for a in args)
    if origin is Annotated:
        return _numberless(args[0])
    if origin in (list, tuple, set, frozenset, dict, Union, UnionType):
        return bool(args) and all(a is Ellipsis or _numberless(a) for a in args)
    return False


_EMPTY_OK = frozenset({list, dict, tuple})


def _violation(value: object, path: str) -> str | None:
    if isinstance(value, (int, float, Decimal)) and not isinstance(value, bool):
        return None if _sane_number(value) else path
    if isinstance(value, BaseModel):
        return bounds_violation(value, f"{path}.")
    if isinstance(value, (list, tuple)):
        return next((f for i, v in enumerate(value) if (f := _violation(v, f"{path}[{i}]")) is not None), None)
    if isinstance(value, dict):
        return next((f for k, v in value.items() if (f := _violation(v, f"{path}.{k}")) is not None), None)
    return None


#: What a configuration or price book giving a NUL character is told (:func:`nul_path` finds where).
NUL_MESSAGE = "a NUL character in a text (no store keeps one)"


def nul_path(value: object, path: tuple[str | int, ...] = ()) -> tuple[str | int, ...] | None:
    """Where the first text in ``value`` (a model, searched through nested models, lists and
    mappings, keys included) holding a NUL character is: its path of keys and list positions
    (:func:`cloudcat.yamlfile.dotted` writes it as users do); ``None`` when no text holds one.

    No text column of PostgreSQL keeps one (nor does its JSON type): the catalog drops an item
    read with one, and refuses a configuration or price book that gives one, rather than fail
    the snapshot that would hold it."""
    return _text_path(value, lambda text: "\x00" in text, path)


def surrogate_path(value: object) -> tuple[str | int, ...] | None:
    """Where the first text in ``value`` holding a lone surrogate (``"\\ud800"`` in JSON: no
    Unicode character, which no UTF-8 file or database can hold) is, as :func:`nul_path` says."""
    return _text_path(value, lambda text: _SURROGATE.search(text) is not None, ())


_SURROGATE = re.compile("[\ud800-\udfff]")


def _text_path(value: object, bad: Callable[[str], bool],
               path: tuple[str | int, ...]) -> tuple[str | int, ...] | None:
    if isinstance(value, str):
        return path if bad(value) else None
    if isinstance(value, BaseModel):
        value = value.__dict__
    if isinstance(value, dict):
        for key, item in value.items():
            if isinstance(key, str) and bad(key):
                return (*path, key)
            found = _text_path(item, bad, (*path, key))
            if found is not None:
                return found
    elif isinstance(value, (list, tuple)):
        for i, item in enumerate(value):
            found = _text_path(item, bad, (*path, i))
            if found is not None:
                return found
    return None


def plain_amount(amount: Decimal) -> bool:
    """Whether a decimal (a price's amount, its only number) is within bounds for a reason seen
    at once, as most are: finite, below :data:`MAX_NUMBER`, its exponent within bounds. When
    not, :func:`bounds_violation` decides (a subset of what it accepts: ``0E-50`` is left to it)."""
    return amount.is_finite() and -_MAX_EXPONENT <= amount.adjusted() < _PLAIN_DIGITS


#: Decimals of fewer digits before the point than this are below :data:`MAX_NUMBER`.
_PLAIN_DIGITS = len(str(MAX_NUMBER)) - 1


def _sane_number(value: int | float | Decimal) -> bool:
    if isinstance(value, int):
        return -MAX_INT <= value <= MAX_INT
    if isinstance(value, float):
        return math.isfinite(value) and abs(value) <= MAX_NUMBER
    if not value.is_finite():
        return False
    # compare exponents first: comparing 1e999999999 itself would overflow the context
    return value.is_zero() or (abs(value.adjusted()) <= _MAX_EXPONENT and abs(value) <= MAX_NUMBER)
