"""State and rules of the mocked Azure Resource Manager: fixture, tokens, read budget, api-versions,
retail prices.

The fixture (``fixtures/bleu.yaml``) names a tenant, a subscription (and its display name) and its
service principals, the locations (with the metadata ARM lists them with: geography, paired region,
zones), the resource groups, the VM sizes each location offers, the marketplace images (publisher →
offer → SKU → versions) and the USD list price of each size; the resource SKUs
(``Microsoft.Compute/skus``) are built from the sizes, one per size and location as ARM lists them;
the retail price items are built from
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
from dataclasses import dataclass, field, replace
from decimal import Decimal
from typing import Any

__all__ = ["ARM_API_VERSIONS", "COMPUTE_API_VERSIONS", "ArmState", "FilterError", "Location", "Size",
           "matches_filter", "parse_filter"]

#: api-versions ARM itself (``Microsoft.Resources``: subscriptions, their locations, resource groups,
#: resource providers) accepts, newest first, as its ``InvalidApiVersionParameter`` error lists them
#: ("The api-version '2025-07-01' is invalid. The supported versions are '2026-06-01,2025-04-01,…'").
ARM_API_VERSIONS: tuple[str, ...] = (
    "2026-06-01", "2025-04-01", "2025-03-01", "2024-10-01-preview", "2024-11-01", "2024-08-01", "2024-07-01",
    "2024-06-01-preview", "2024-03-01", "2023-07-01", "2023-07-01-preview", "2023-03-01-preview", "2022-12-01",
    "2022-11-01-preview", "2022-09-01", "2022-06-01", "2022-05-01", "2022-03-01-preview", "2022-01-01",
    "2021-04-01", "2021-01-01", "2020-10-01", "2020-09-01", "2020-08-01", "2020-07-01", "2020-06-01",
    "2020-05-01", "2020-01-01", "2019-11-01", "2019-10-01", "2019-09-01", "2019-08-01", "2019-07-01",
    "2019-06-01", "2019-05-10", "2019-05-01", "2019-03-01", "2018-11-01", "2018-09-01", "2018-08-01",
    "2018-07-01", "2018-06-01", "2018-05-01", "2018-02-01", "2018-01-01", "2017-12-01", "2017-08-01",
    "2017-06-01", "2017-05-10", "2017-05-01", "2017-03-01", "2016-09-01", "2016-07-01", "2016-06-01",
    "2016-02-01", "2015-11-01", "2015-01-01", "2014-04-01-preview", "2014-04-01", "2014-01-01", "2013-03-01",
    "2014-02-26", "2014-04",
)
_LOCATION_TYPE_VERSIONS: tuple[str, ...] = (
    "2015-05-01-preview", "2015-06-15", "2016-03-30", "2016-04-30-preview", "2016-08-30", "2017-03-30",
    "2017-12-01", "2018-04-01", "2018-06-01", "2018-10-01", "2019-03-01", "2019-07-01", "2019-12-01",
    "2020-06-01", "2020-12-01", "2021-03-01", "2021-04-01", "2021-07-01", "2021-11-01", "2022-03-01",
    "2022-08-01", "2022-11-01", "2023-03-01", "2023-07-01", "2023-09-01", "2024-03-01", "2024-07-01",
)
#: api-versions of the ``Microsoft.Compute`` resource types the mock serves, oldest first, as ARM's
#: ``NoRegisteredProviderFound`` error lists them (``locations/vmSizes``: the list Azure answered in 2025).
COMPUTE_API_VERSIONS: dict[str, tuple[str, ...]] = {
    "locations/vmSizes": _LOCATION_TYPE_VERSIONS,
    "locations/publishers": _LOCATION_TYPE_VERSIONS,
    "skus": ("2017-03-30", "2017-09-01", "2019-04-01", "2021-07-01"),
}

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
_SKU_NAME = re.compile(r"^(?:Standard|Basic)_(?P<letters>[A-Z]+)\d+(?:-\d+)?(?P<features>[a-z]*)"
                       r"(?:_[A-Za-z0-9]+?)*?(?:_(?P<gen>v\d+))?$")
_CLAUSE = re.compile(r"^\s*(\w+)\s+eq\s+'((?:[^']|'')*)'\s*$", re.IGNORECASE)
_AND = re.compile(r"\s+and\s+", re.IGNORECASE)


class FilterError(ValueError):
    """A ``$filter`` the mock (like the real API) does not understand."""


@dataclass(frozen=True)
class Location:
    """An Azure location: its name (``francecentral``), display name, price factor, and what ARM's
    location list says of it (geography, coordinates, paired regions, availability zones)."""

    name: str
    display_name: str
    price_factor: Decimal = Decimal(1)
    geography: str = ""
    geography_group: str = ""
    physical_location: str = ""
    latitude: str = ""
    longitude: str = ""
    category: str = "Recommended"
    paired: tuple[str, ...] = ()
    zones: tuple[str, ...] = ()

    def as_arm_location(self, subscription: str) -> dict[str, Any]:
        """The entry of ``GET /subscriptions/{id}/locations`` (Subscriptions - List Locations)."""
        prefix = f"/subscriptions/{subscription}/locations/"
        region = f"({self.geography_group}) {self.display_name}" if self.geography_group else self.display_name
        return {"id": prefix + self.name, "name": self.name, "type": "Region", "displayName": self.display_name,
                "regionalDisplayName": region,
                "metadata": {"regionType": "Physical", "regionCategory": self.category,
                             "geography": self.geography, "geographyGroup": self.geography_group,
                             "longitude": self.longitude, "latitude": self.latitude,
                             "physicalLocation": self.physical_location,
                             "pairedRegion": [{"name": p, "id": prefix + p} for p in self.paired]},
                "availabilityZoneMappings": [{"logicalZone": z, "physicalZone": f"{self.name}-az{z}"}
                                             for z in self.zones]}


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
    family: str | None = None

    def as_vm_size(self) -> dict[str, Any]:
        """The ``vmSizes`` entry."""
        return {"name": self.name, "numberOfCores": self.cores, "osDiskSizeInMB": 1047552,
                "resourceDiskSizeInMB": self.resource_disk_mb, "memoryInMB": self.memory_mb,
                "maxDataDiskCount": self.max_data_disks}

    def as_resource_sku(self, location: Location) -> dict[str, Any]:
        """The ``Microsoft.Compute/skus`` entry of this size in ``location`` (Resource Skus - List: one
        entry per size and location; capability values are strings)."""
        arm = _SKU_NAME.match(self.name)
        arm64 = bool(arm and "p" in arm["features"])
        memory_gb = (Decimal(self.memory_mb) / 1024).normalize()
        capabilities = {
            "MaxResourceVolumeMB": self.resource_disk_mb, "OSVhdSizeMB": 1047552, "vCPUs": self.cores,
            "HyperVGenerations": "V2" if arm64 else "V1,V2", "MemoryGB": f"{memory_gb:f}",
            "MaxDataDiskCount": self.max_data_disks, "CpuArchitectureType": "Arm64" if arm64 else "x64",
            "LowPriorityCapable": "True", "PremiumIO": str(bool(arm and "s" in arm["features"])),
            "VMDeploymentTypes": "IaaS", "vCPUsAvailable": self.cores,
        }
        return {"resourceType": "virtualMachines", "name": self.name, "tier": self.name.partition("_")[0],
                "size": self.name.partition("_")[2], "family": self.family or _sku_family(self.name),
                "locations": [location.name],
                "locationInfo": [{"location": location.name, "zones": list(location.zones), "zoneDetails": []}],
                "capabilities": [{"name": k, "value": str(v)} for k, v in capabilities.items()],
                "restrictions": []}


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
        self.subscription_name = str(fx.get("subscription_name", "Azure subscription 1"))
        self.clients = {str(c["id"]): str(c["secret"]) for c in fx.get("clients", [])}
        self.read_limit = int(fx.get("read_limit", 12000))
        self.reads_remaining = self.read_limit
        self.throttle_retry_after = int(fx.get("throttle_retry_after", 5))
        locations = [_location(loc) for loc in fx.get("locations", [])]
        if self.regions is not None:
            locations = _more_locations(locations, self.regions)
        self.locations = {loc.name: loc for loc in locations}
        self.sizes = _sizes(fx, tuple(self.locations), spread=self.regions is not None)
        self.images: dict[str, dict[str, dict[str, list[str]]]] = {
            str(pub): {str(offer): {str(sku): [str(v) for v in versions] for sku, versions in skus.items()}
                       for offer, skus in offers.items()}
            for pub, offers in (fx.get("images") or {}).items()}
        self.resource_groups: list[dict[str, Any]] = [dict(g) for g in fx.get("resource_groups") or []]
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

    def resource_skus(self) -> list[dict[str, Any]]:
        """Every ``Microsoft.Compute/skus`` entry: each size in each location that offers it."""
        return [size.as_resource_sku(loc) for loc in self.locations.values() for size in self.sizes_in(loc.name)]

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
                 effective=_date(s.get("effective")) or default_effective,
                 family=str(s["family"]) if s.get("family") else None)
            for s in fx.get("sizes", [])]


def _location(spec: Mapping[str, Any]) -> Location:
    return Location(str(spec["name"]), str(spec.get("display_name", spec["name"])),
                    Decimal(str(spec.get("price_factor", 1))), geography=str(spec.get("geography", "")),
                    geography_group=str(spec.get("geography_group", "")),
                    physical_location=str(spec.get("physical_location", "")),
                    latitude=str(spec.get("latitude", "")), longitude=str(spec.get("longitude", "")),
                    category=str(spec.get("category", "Recommended")),
                    paired=tuple(str(p) for p in spec.get("paired", [])),
                    zones=tuple(str(z) for z in spec.get("zones", [])))


def _sku_family(size_name: str) -> str:
    """ARM's family of a size: ``standardDSv5Family`` for ``Standard_D2s_v5``, ``standardDv2Family`` for
    ``Standard_D11_v2``."""
    found = _SKU_NAME.match(size_name)
    if found is None:
        return "standardFamily"
    return f"standard{found['letters']}{found['features'].upper()}{found['gen'] or ''}Family"


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
        found.append(replace(base, name=f"{base.name}{n}", display_name=f"{base.display_name} {n}", paired=()))
    return found
