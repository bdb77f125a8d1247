"""State and rules of the mocked Azure Resource Manager: fixture, tokens, read budget, retail prices.

The fixture (``fixtures/bleu.yaml``) names a tenant, a subscription and its service principals,
the locations, the VM sizes each location offers, the marketplace images (publisher → offer →
SKU → versions) and the USD list price of each size; the retail price items are built from
those prices the way Azure's price sheet is laid out: per size and region, one Linux and one
Windows pay-as-you-go meter, a Spot meter and a one-year reservation, each converted into every
currency the fixture knows.
"""

from __future__ import annotations

import datetime as dt
import re
import secrets
import threading
import time
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

__all__ = ["ArmState", "FilterError", "Location", "Size", "matches_filter", "parse_filter"]

_NAMESPACE = uuid.UUID("8d3c0d6e-6d2e-4c3f-9b1e-b1e0b1e0b1e0")
#: Retail price meters built for each priced size and region: (type, sku suffix, product suffix, factor).
_METERS: tuple[tuple[str, str, str, Decimal], ...] = (
    ("Consumption", "", "", Decimal(1)),
    ("Consumption", "", " Windows", Decimal("1.84")),
    ("Consumption", " Spot", "", Decimal("0.2")),
    ("Reservation", "", "", Decimal("0.62") * 8760),
)
#: Fields a retail price ``$filter`` may name (as Azure's documentation lists them).
FILTER_FIELDS = frozenset({
    "armRegionName", "location", "meterId", "meterName", "productId", "skuId", "productName", "skuName",
    "serviceName", "serviceId", "serviceFamily", "priceType", "armSkuName", "type", "currencyCode",
})
_CLAUSE = re.compile(r"^\s*(\w+)\s+eq\s+'((?:[^']|'')*)'\s*$", re.IGNORECASE)
_AND = re.compile(r"\s+and\s+", re.IGNORECASE)


class FilterError(ValueError):
    """A ``$filter`` the mock (like the real API) does not understand."""


@dataclass(frozen=True)
class Location:
    """An Azure location: its name (``francecentral``), display name and price factor."""

    name: str
    display_name: str
    price_factor: Decimal = Decimal(1)


@dataclass(frozen=True)
class Size:
    """A VM size as ``vmSizes`` reports it, with its list price and where it is offered."""

    name: str
    cores: int
    memory_mb: int
    resource_disk_mb: int
    max_data_disks: int
    locations: tuple[str, ...]
    usd: Decimal | None = None
    effective: dt.date | None = None

    def as_vm_size(self) -> dict[str, Any]:
        """The ``vmSizes`` entry."""
        return {"name": self.name, "numberOfCores": self.cores, "osDiskSizeInMB": 1047552,
                "resourceDiskSizeInMB": self.resource_disk_mb, "memoryInMB": self.memory_mb,
                "maxDataDiskCount": self.max_data_disks}


@dataclass
class ArmState:
    """Everything the mocked tenant, subscription and price sheet hold; rebuilt on reset."""

    fixture: Mapping[str, Any]
    regions: int | None = None
    tokens: dict[str, float] = field(default_factory=dict)
    tokens_issued: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)

    def __post_init__(self) -> None:
        fx = self.fixture
        self.tenant = str(fx["tenant"])
        self.subscription = str(fx["subscription"])
        self.clients = {str(c["id"]): str(c["secret"]) for c in fx.get("clients", [])}
        self.read_limit = int(fx.get("read_limit", 12000))
        self.reads_remaining = self.read_limit
        self.throttle_retry_after = int(fx.get("throttle_retry_after", 5))
        locations = [Location(str(loc["name"]), str(loc.get("display_name", loc["name"])),
                              Decimal(str(loc.get("price_factor", 1)))) for loc in fx.get("locations", [])]
        if self.regions is not None:
            locations = _more_locations(locations, self.regions)
        self.locations = {loc.name: loc for loc in locations}
        self.sizes = _sizes(fx, tuple(self.locations), spread=self.regions is not None)
        self.images: dict[str, dict[str, dict[str, list[str]]]] = {
            str(pub): {str(offer): {str(sku): [str(v) for v in versions] for sku, versions in skus.items()}
                       for offer, skus in offers.items()}
            for pub, offers in (fx.get("images") or {}).items()}
        self.currencies = {str(k).upper(): Decimal(str(v)) for k, v in (fx.get("currencies") or {"USD": 1}).items()}

    # -- identity ---------------------------------------------------------------------------------
    def issue_token(self, ttl: float) -> tuple[str, float]:
        """A new bearer token and the epoch second it expires at."""
        token = "eyJ0eXAiOiJKV1Qi." + secrets.token_urlsafe(32)
        expires = time.time() + ttl
        with self.lock:
            self.tokens[token] = expires
            self.tokens_issued += 1
        return token, expires

    def token_state(self, token: str) -> str:
        """``valid``, ``expired`` or ``unknown``."""
        with self.lock:
            expires = self.tokens.get(token)
        if expires is None:
            return "unknown"
        return "valid" if time.time() < expires else "expired"

    def spend_read(self) -> int | None:
        """Count one ARM read; the reads left, or ``None`` once the budget is spent (throttled)."""
        with self.lock:
            if self.reads_remaining <= 0:
                return None
            self.reads_remaining -= 1
            return self.reads_remaining

    # -- catalog ----------------------------------------------------------------------------------
    def location(self, name: str) -> Location | None:
        """A location by name, ignoring case (ARM paths are case-insensitive)."""
        return self.locations.get(name.lower())

    def sizes_in(self, location: str) -> list[Size]:
        """Sizes offered in ``location``."""
        return [s for s in self.sizes if location in s.locations]

    def publisher(self, name: str) -> tuple[str, dict[str, dict[str, list[str]]]] | None:
        """A publisher and its offers, by name ignoring case."""
        return _find(self.images, name)

    # -- retail prices ----------------------------------------------------------------------------
    def price_items(self, currency: str) -> list[dict[str, Any]]:
        """Every retail price item, in ``currency`` (an unknown currency gives USD, as Azure does)."""
        code = currency.upper() if currency.upper() in self.currencies else "USD"
        rate = self.currencies.get(code, Decimal(1))
        items = []
        for size in self.sizes:
            if size.usd is None:
                continue
            for loc_name in size.locations:
                loc = self.locations[loc_name]
                for kind, sku_suffix, product_suffix, factor in _METERS:
                    items.append(_price_item(size, loc, kind, sku_suffix, product_suffix,
                                             size.usd * loc.price_factor * factor * rate, code))
        return items

    def state(self) -> dict[str, Any]:
        """Counters for ``GET /_cloudcat/state``."""
        with self.lock:
            return {"tenant": self.tenant, "subscription": self.subscription, "locations": list(self.locations),
                    "tokens_issued": self.tokens_issued, "reads_remaining": self.reads_remaining}


def _sizes(fx: Mapping[str, Any], locations: tuple[str, ...], *, spread: bool) -> list[Size]:
    """The fixture's sizes; with ``spread``, each offered in every location (load tests)."""
    default_effective = _date(fx.get("prices_effective")) or dt.date(2024, 1, 1)
    return [Size(name=str(s["name"]), cores=int(s["cores"]), memory_mb=int(s["memory_mb"]),
                 resource_disk_mb=int(s.get("resource_disk_mb", 0)), max_data_disks=int(s.get("max_data_disks", 4)),
                 locations=locations if spread else tuple(s.get("locations", locations)),
                 usd=Decimal(str(s["usd"])) if s.get("usd") is not None else None,
                 effective=_date(s.get("effective")) or default_effective)
            for s in fx.get("sizes", [])]


def _price_item(size: Size, loc: Location, kind: str, sku_suffix: str, product_suffix: str, amount: Decimal,
                currency: str) -> dict[str, Any]:
    series, short = _series(size.name)
    meter = f"{short}{sku_suffix}"
    key = f"{size.name}/{loc.name}/{kind}/{sku_suffix}/{product_suffix}"
    item: dict[str, Any] = {
        "currencyCode": currency, "tierMinimumUnits": 0.0,
        "retailPrice": float(amount.quantize(Decimal("0.000001"))),
        "unitPrice": float(amount.quantize(Decimal("0.000001"))),
        "armRegionName": loc.name, "location": loc.display_name,
        "effectiveStartDate": f"{(size.effective or dt.date(2024, 1, 1)).isoformat()}T00:00:00Z",
        "meterId": str(uuid.uuid5(_NAMESPACE, key)), "meterName": meter,
        "productId": str(uuid.uuid5(_NAMESPACE, series + product_suffix)).upper()[:12],
        "skuId": str(uuid.uuid5(_NAMESPACE, key)).upper()[:17],
        "productName": f"Virtual Machines {series} Series{product_suffix}", "skuName": meter,
        "serviceName": "Virtual Machines", "serviceId": "DZH313Z7MMC8", "serviceFamily": "Compute",
        "unitOfMeasure": "1 Hour", "type": kind, "isPrimaryMeterRegion": True, "armSkuName": size.name,
    }
    if kind == "Reservation":
        item["reservationTerm"] = "1 Year"
    return item


def _series(size_name: str) -> tuple[str, str]:
    """Azure's price-sheet names: (``Dsv5``, ``D2s v5``) for ``Standard_D2s_v5``."""
    short = size_name.removeprefix("Standard_").replace("_", " ")
    found = re.match(r"^([A-Z]+)\d+(?:-\d+)?([a-z]*)(?: (v\d+))?", short)
    if found is None:
        return short, short
    return f"{found[1]}{found[2]}{found[3] or ''}", short


def parse_filter(text: str) -> dict[str, str]:
    """``field eq 'value' and …`` as ``{field: value}``; anything else is a :class:`FilterError`."""
    wanted: dict[str, str] = {}
    if not text.strip():
        return wanted
    for clause in _AND.split(text.strip()):
        found = _CLAUSE.match(clause)
        if found is None:
            raise FilterError(f"Invalid filter clause: {clause.strip()!r}")
        name = next((f for f in FILTER_FIELDS if f.lower() == found[1].lower()), None)
        if name is None:
            raise FilterError(f"Could not find a property named '{found[1]}' on type 'PriceSheetItem'")
        wanted[name] = found[2].replace("''", "'")
    return wanted


def matches_filter(item: Mapping[str, Any], wanted: Mapping[str, str]) -> bool:
    """Whether a price item has every ``field eq value`` of the filter (values compare case-sensitively,
    as on the real API)."""
    return all(str(item.get("type" if name == "priceType" else name, "")) == value for name, value in wanted.items())


def _find(table: Mapping[str, Any], name: str) -> tuple[str, Any] | None:
    for key, value in table.items():
        if key.lower() == name.lower():
            return key, value
    return None


def _date(value: Any) -> dt.date | None:
    if value is None:
        return None
    if isinstance(value, dt.date):
        return value
    return dt.date.fromisoformat(str(value))


def _more_locations(locations: Iterable[Location], count: int) -> list[Location]:
    """``count`` locations: the fixture's, then numbered copies of the first (load tests)."""
    found = list(locations)[:count]
    base = found[0] if found else Location("francecentral", "France Central")
    while len(found) < count:
        n = len(found) + 1
        found.append(Location(f"{base.name}{n}", f"{base.display_name} {n}", base.price_factor))
    return found
