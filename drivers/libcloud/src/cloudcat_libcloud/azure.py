"""What cloudcat knows of Azure: size names, locations, marketplace images and the retail price API.

* :func:`size_facts`: family, generation and architecture from a size name (``Standard_D4s_v5``
  is family ``Dsv5``, generation ``v5``, x86_64; a ``p`` in the features is Arm);
* :data:`LOCATION_COUNTRIES`: the country of an Azure location (ARM does not say);
* :class:`ImageSet`: the bounded set of marketplace images to list (publishers, offers, SKUs);
* :class:`RetailPrices`: the public Azure Retail Prices API (``/api/retail/prices``, ``$filter`` on
  ``serviceName``/``armRegionName``/``priceType``, ``NextPageLink`` paging), read as prices with
  their currency, unit and effective date; an item without a usable price (no finite amount up to
  10**15, an unknown unit or currency) prices nothing, a page of another shape is an error naming
  the API and the field.
"""

from __future__ import annotations

import datetime as dt
import functools
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from cloudcat.errors import BackendTimeoutError, UnavailableError
from cloudcat.http import RetryPolicy, error_for_status, parse_retry_after
from cloudcat.models import MAX_NUMBER, Architecture, Price, PriceUnit

from .errors import shown

__all__ = [
    "DEFAULT_IMAGES",
    "LOCATION_COUNTRIES",
    "PRICES_SOURCE",
    "ImageSet",
    "RetailPrices",
    "SizeFacts",
    "SizePrices",
    "country_of",
    "os_of",
    "size_facts",
]

#: The ``source`` of prices read from the Azure Retail Prices API.
PRICES_SOURCE = "azure-retail-prices"
#: Pages followed at most in one price listing (a broken ``NextPageLink`` loop ends here).
MAX_PAGES = 1000

_SIZE = re.compile(r"^(?:Standard|Basic)_(?P<letters>[A-Z]+)(?P<cores>\d+)(?:-\d+)?(?P<features>[a-z]*)"
                   r"(?:_(?P<extra>(?!v\d+$)[A-Za-z0-9]+))*(?:_(?P<gen>v\d+))?$")

#: Country (ISO 3166-1 alpha-2) of Azure locations, by name prefix (longest first wins).
LOCATION_COUNTRIES: dict[str, str] = {
    "france": "FR", "germany": "DE", "switzerland": "CH", "norway": "NO", "sweden": "SE", "poland": "PL",
    "italy": "IT", "spain": "ES", "uk": "GB", "northeurope": "IE", "westeurope": "NL", "belgium": "BE",
    "austria": "AT", "denmark": "DK", "finland": "FI", "greece": "GR", "israel": "IL", "qatar": "QA",
    "uae": "AE", "southafrica": "ZA", "japan": "JP", "korea": "KR", "australia": "AU", "newzealand": "NZ",
    "india": "IN", "centralindia": "IN", "southindia": "IN", "westindia": "IN", "jioindia": "IN",
    "canada": "CA", "brazil": "BR", "mexico": "MX", "chile": "CL", "eastasia": "HK", "southeastasia": "SG",
    "indonesia": "ID", "malaysia": "MY", "taiwan": "TW", "china": "CN", "usgov": "US", "eastus": "US",
    "westus": "US", "centralus": "US", "northcentralus": "US", "southcentralus": "US", "westcentralus": "US",
}

_OS_OF_PUBLISHER: dict[str, str] = {
    "canonical": "ubuntu", "redhat": "rhel", "microsoftwindowsserver": "windows", "debian": "debian",
    "suse": "sles", "almalinux": "almalinux", "resf": "rocky", "oracle": "oracle-linux",
}


@dataclass(frozen=True)
class SizeFacts:
    """What an Azure size name says: its series (family), version (generation) and architecture."""

    family: str | None
    generation: str | None
    architecture: Architecture | None


def size_facts(name: str) -> SizeFacts:
    """Family, generation and architecture of an Azure VM size name.

    ``Standard_D4s_v5`` → ``Dsv5``, ``v5``, x86_64; ``Standard_E8d_v5`` → ``Edv5``;
    ``Standard_D64ps_v5`` → ``Dpsv5``, aarch64; ``Standard_D2_v2`` → ``Dv2``; ``Standard_B2s`` → ``Bs``,
    no generation. A name Azure's convention does not describe gives no facts.
    """
    found = _SIZE.match(name)
    if found is None:
        return SizeFacts(None, None, None)
    gen = found["gen"]
    family = f"{found['letters']}{found['features']}{gen or ''}"
    arch: Architecture = "aarch64" if "p" in found["features"] else "x86_64"
    return SizeFacts(family, gen, arch)


def country_of(location: str) -> str | None:
    """ISO country of an Azure location name (``francecentral`` → ``FR``), when known."""
    key = location.lower().replace(" ", "")
    for prefix in sorted(LOCATION_COUNTRIES, key=len, reverse=True):
        if key.startswith(prefix):
            return LOCATION_COUNTRIES[prefix]
    return None


def os_of(publisher: str, sku: str) -> tuple[str | None, str | None]:
    """OS family and version of a marketplace image (``Canonical``, ``22_04-lts-gen2`` → ubuntu 22.04)."""
    family = _OS_OF_PUBLISHER.get(publisher.lower())
    found = re.match(r"^(\d+)(?:[._](\d+))?", sku)
    if found is None:
        return family, None
    return family, f"{found[1]}.{found[2]}" if found[2] else found[1]


class ImageSet(BaseModel):
    """Marketplace images to list: a publisher, optionally one offer, optionally one SKU of it."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    publisher: str = Field(min_length=1, description="Image publisher, e.g. `Canonical`.")
    offer: str | None = Field(default=None, description="One offer of the publisher; default: every offer.")
    sku: str | None = Field(default=None, description="One SKU of the offer; default: every SKU.")


#: The images listed when the ``images`` option is not given: common Linux and Windows server images.
DEFAULT_IMAGES: tuple[ImageSet, ...] = (
    ImageSet(publisher="Canonical", offer="0001-com-ubuntu-server-jammy", sku="22_04-lts-gen2"),
    ImageSet(publisher="RedHat", offer="RHEL", sku="9-lvm-gen2"),
    ImageSet(publisher="MicrosoftWindowsServer", offer="WindowsServer", sku="2022-datacenter-azure-edition"),
)

_UNITS: dict[str, PriceUnit] = {"1 hour": "hour", "1/hour": "hour", "1 month": "month", "1/month": "month"}


@dataclass
class SizePrices:
    """The prices of one size in one region that the retail API lists."""

    linux: Price | None = None
    others: dict[str, str] = field(default_factory=dict)
    meter: dict[str, str] = field(default_factory=dict)


class RetailPrices:
    """Reads the Azure Retail Prices API (public, no token) over ``requests``.

    ``url`` is the API (``https://prices.azure.com/api/retail/prices``, or a sovereign cloud's or a
    mock's); ``currency`` is asked for with ``currencyCode`` and kept as the API gives it.
    """

    def __init__(self, url: str, currency: str, *, verify: bool | str, timeout: float, retry: RetryPolicy,
                 backend: str) -> None:
        self.url = url
        self.currency = currency.upper()
        self.verify = verify
        self.timeout = timeout
        self.retry = retry
        self.backend = backend

    def vm_prices(self, region: str) -> dict[str, SizePrices]:
        """Prices of virtual machines in ``region``, by ARM size name: pay-as-you-go (``Consumption``) as the
        price, reservations (``Reservation``, per term) and Windows / Spot meters as extras."""
        flt = f"serviceName eq 'Virtual Machines' and armRegionName eq '{region}'"
        found: dict[str, SizePrices] = {}
        today = dt.datetime.now(dt.UTC).date()
        for item in self._items({"$filter": flt, "currencyCode": f"'{self.currency}'"}):
            _add(found, item, today)
        return found

    def _items(self, params: Mapping[str, str]) -> Iterator[Mapping[str, Any]]:
        url: str | None = self.url
        query: Mapping[str, str] | None = params
        for _ in range(MAX_PAGES):
            if url is None:
                return
            page = self.retry.run(functools.partial(self._get, url, query))
            items = page.get("Items")
            if not isinstance(items, list):
                raise UnavailableError(f"retail prices {self.url}: Items: {shown(items)} is not a list",
                                       backend=self.backend)
            yield from (i for i in items if isinstance(i, Mapping))  # an item of another shape has no price
            nxt = page.get("NextPageLink")
            if nxt and not (isinstance(nxt, str) and nxt.startswith(("http://", "https://"))):
                raise UnavailableError(f"retail prices {self.url}: NextPageLink: {shown(nxt)} is not a URL",
                                       backend=self.backend)
            url, query = (nxt, None) if nxt else (None, None)
        raise UnavailableError(f"retail prices {self.url}: more than {MAX_PAGES} pages", backend=self.backend)

    def _get(self, url: str, params: Mapping[str, str] | None) -> dict[str, Any]:
        import requests

        from .errors import backend_error

        where = f"retail prices {self.url}"
        try:
            response = requests.get(url, params=params, timeout=self.timeout, verify=self.verify)
        except requests.exceptions.Timeout as exc:
            raise BackendTimeoutError(f"{where}: no answer within {self.timeout:g} s", backend=self.backend) from exc
        except requests.exceptions.RequestException as exc:
            raise backend_error(exc, where, self.backend) from exc
        if response.status_code >= 400:
            retry_after = parse_retry_after(response.headers.get("Retry-After"))
            raise error_for_status(response.status_code, f"{where}: HTTP {response.status_code}",
                                   backend=self.backend, retry_after=retry_after)
        try:
            data = response.json()
        except ValueError as exc:
            raise UnavailableError(f"{where}: malformed answer", backend=self.backend) from exc
        if not isinstance(data, dict):
            raise UnavailableError(f"{where}: malformed answer", backend=self.backend)
        return data


def _add(found: dict[str, SizePrices], item: Mapping[str, Any], today: dt.date) -> None:
    """Keep a retail item's price: the Linux pay-as-you-go one as the price (the latest in effect),
    Windows, Spot and Low Priority ones and reservations (the price of the whole term) as extras."""
    sku = item.get("armSkuName")
    price = _price(item)
    if not sku or price is None or (price.effective_from is not None and price.effective_from > today):
        return
    entry = found.setdefault(str(sku), SizePrices())
    if item.get("type") == "Reservation":
        term = str(item.get("reservationTerm") or "term").lower().replace(" ", "_")
        entry.others[f"reservation_{term}"] = f"{price.amount} {price.currency}"
        return
    if item.get("type") != "Consumption":  # DevTestConsumption and the like
        return
    sku_name = str(item.get("skuName", ""))
    product = str(item.get("productName", ""))
    variant = _variant(sku_name, product)
    if variant != "linux":
        entry.others[f"{variant}_{price.unit}"] = f"{price.amount} {price.currency}"
        return
    current = entry.linux
    if current is None or (price.effective_from or dt.date.min) >= (current.effective_from or dt.date.min):
        entry.linux = price
        entry.meter = {"meter_id": str(item.get("meterId", "")), "product": product, "sku": sku_name}


def _variant(sku_name: str, product: str) -> str:
    """Which pay-as-you-go meter of a size a retail item is: ``linux``, ``windows``, ``spot``, ``low_priority``."""
    if "Spot" in sku_name:
        return "spot"
    if "Low Priority" in sku_name:
        return "low_priority"
    return "windows" if product.endswith("Windows") else "linux"


def _price(item: Mapping[str, Any]) -> Price | None:
    unit = _UNITS.get(str(item.get("unitOfMeasure", "")).strip().lower())
    currency = item.get("currencyCode")
    if unit is None or not isinstance(currency, str):
        return None
    retail = item.get("retailPrice")
    if isinstance(retail, bool) or not isinstance(retail, int | float | str):
        return None
    try:
        amount = Decimal(str(retail))
    except InvalidOperation:
        return None
    if not amount.is_finite() or not 0 < amount <= MAX_NUMBER:
        return None
    start = str(item.get("effectiveStartDate") or "")[:10]
    try:
        effective = dt.date.fromisoformat(start) if start else None
    except ValueError:
        effective = None
    try:
        return Price(amount=amount, currency=currency, unit=unit, effective_from=effective, source=PRICES_SOURCE)
    except ValidationError:  # not an ISO 4217 currency, say: no price from this item
        return None
