"""cloudcat's ``libcloud`` driver: any Apache Libcloud compute provider as a catalog backend.

Options::

    backends:
      bleu:
        driver: libcloud
        options:
          provider: azure_arm                 # a libcloud provider name: azure_arm, openstack, outscale, ovh…
          key: ${AZURE_CLIENT_ID}             # the provider's own constructor arguments
          secret: ${AZURE_CLIENT_SECRET}
          tenant_id: ${AZURE_TENANT_ID}
          subscription_id: ${AZURE_SUBSCRIPTION_ID}
          cloud_environment: {resourceManagerEndpointUrl: …, activeDirectoryEndpointUrl: …,
                              activeDirectoryResourceId: …, storageEndpointSuffix: …}
          currency: EUR                       # asked of the Azure Retail Prices API
          regions: [francecentral]

**Providers.** ``provider`` names a libcloud provider; ``key``, ``secret`` and ``region`` are its
first constructor arguments, ``args`` its other keywords (``ex_force_auth_url``, ``api_version``…)
and ``secret_args`` those holding secrets (never shown). The driver class depends on the
provider, and each declares what it can honestly list:

* ``azure_arm`` (:class:`AzureArmDriver`): locations, sizes per location (vCPU from
  ``extra["numberOfCores"]``; family, generation and architecture from the size name), marketplace
  images of a bounded set (``images``: publishers, offers, SKUs; default: Ubuntu 22.04, RHEL 9,
  Windows Server 2022), prices from the Azure Retail Prices API (``prices_url``, ``currency``).
  ``cloud_environment`` is libcloud's (a name such as ``AzureChinaCloud``, or the four URLs of a
  sovereign cloud), and the ports written in its URLs are honoured: libcloud's own connection
  logs in on port 443 whatever the URL says, so this driver gives its libcloud instance a
  connection that does not (:mod:`.connection`), without changing libcloud for anyone else;
* ``openstack`` (:class:`OpenStackDriver`): the regions of the Keystone catalog, each read by a
  libcloud instance bound to it; flavors (vCPU from ``vcpus``) and the project's images;
* any other provider (:class:`GenericDriver`): locations (or one region) and sizes, vCPU read from
  wherever the provider puts it (``extra["vcpu"]`` on EC2, ``extra["vcpus"]`` on OVH…).

**Prices.** Live prices where the platform has them (the Azure Retail Prices API, with currency,
unit and effective date); else libcloud's bundled pricing data as a labelled, dated source
(``libcloud-pricing``, effective the day the data was captured; :mod:`.pricing`), whose ``0.0``
means "unknown" and never becomes a price. Price books override both.

Errors from libcloud and ``requests`` become cloudcat's (:mod:`.errors`), naming the call and the
request; 429s and 5xx are retried by the options' :class:`cloudcat.http.RetryPolicy`, and a token the
endpoint refuses is renewed once. TLS is verified as ``verify`` says (a bool or a CA bundle), per
driver instance. A size, image or region whose values cannot be used (a name with control
characters, a memory size past 2**53, an infinite disk) is left out with a warning naming the call,
the object and the field; the rest is read.
"""

from __future__ import annotations

import functools
import inspect
import json
import logging
import math
import threading
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any, ClassVar, TypeVar

from pydantic import BaseModel, ConfigDict, Field, JsonValue, SecretStr, field_validator

from cloudcat.driver import BaseDriver, Capabilities, DriverOptions, import_sdk
from cloudcat.errors import AuthenticationError, BackendNotFoundError, CloudcatError, ConfigError
from cloudcat.http import HttpOptions
from cloudcat.models import Item, Kind, Price, Region

from .azure import DEFAULT_IMAGES, ImageSet, RetailPrices, SizePrices, country_of, os_of, size_facts
from .errors import Reading, amount, name, printable, whole_number

if TYPE_CHECKING:
    from .pricing import LibcloudPrices

__all__ = [
    "AzureArmDriver",
    "CloudEnvironment",
    "GenericDriver",
    "LibcloudDriver",
    "LibcloudOptions",
    "OpenStackDriver",
    "vcpus_of",
]

log = logging.getLogger("cloudcat.drivers.libcloud")
T = TypeVar("T")

#: libcloud's named Azure clouds (``libcloud.common.azure_arm.publicEnvironments``).
AZURE_ENVIRONMENTS = ("default", "AzureChinaCloud", "AzureUSGovernment", "AzureGermanCloud")
#: The public Azure Retail Prices API.
AZURE_RETAIL_PRICES = "https://prices.azure.com/api/retail/prices"
#: Where each provider keeps a size's vCPU count in ``NodeSize.extra`` (OpenStack has an attribute).
VCPU_KEYS = ("numberOfCores", "vcpus", "vcpu", "guestCpus", "cpus", "cpu", "cores")
#: libcloud pricing tables that are not named after the driver's ``api_name``.
PRICING_TABLES = {"azure_arm": "azure_linux", "ec2": "ec2_linux"}


class CloudEnvironment(BaseModel):
    """An Azure cloud as libcloud describes it (``cloud_environment``): its ARM and login endpoints."""

    model_config = ConfigDict(extra="allow", populate_by_name=True, frozen=True)

    name: str | None = Field(default=None, description="A name for the cloud (informative).")
    resource_manager_endpoint_url: str = Field(alias="resourceManagerEndpointUrl",
                                               description="Azure Resource Manager, e.g. https://management.azure.com/")
    active_directory_endpoint_url: str = Field(alias="activeDirectoryEndpointUrl",
                                               description="Login endpoint, e.g. https://login.microsoftonline.com")
    active_directory_resource_id: str = Field(alias="activeDirectoryResourceId",
                                              description="Resource the token is asked for.")
    storage_endpoint_suffix: str = Field(default=".core.windows.net", alias="storageEndpointSuffix")

    def as_libcloud(self) -> dict[str, str]:
        """The dict libcloud takes, with its own key names."""
        return {k: str(v) for k, v in self.model_dump(by_alias=True).items() if v is not None}


Scalar = str | int | float | bool | None


class LibcloudOptions(HttpOptions):
    """Options of the ``libcloud`` driver.

    Timeouts, retries and TLS verification (``verify``: a bool or a CA bundle) come from
    :class:`cloudcat.http.HttpOptions`.
    """

    provider: str = Field(min_length=1, description="libcloud provider name: azure_arm, openstack, outscale, ovh…")
    key: str | None = Field(default=None, description="First constructor argument: API key, user name or client id.")
    secret: SecretStr | None = Field(default=None, description="Second constructor argument: secret or password.")
    region: str | None = Field(default=None, description="libcloud's `region` constructor argument.")
    args: dict[str, JsonValue] = Field(default_factory=dict,
                                       description="Other constructor keywords (ex_force_auth_url, api_version…).")
    secret_args: dict[str, SecretStr] = Field(default_factory=dict,
                                              description="Constructor keywords that hold secrets.")
    countries: dict[str, str] = Field(default_factory=dict, description="ISO country of each region, by region.")
    # azure_arm
    tenant_id: str | None = Field(default=None, description="azure_arm: the directory (tenant) id.")
    subscription_id: str | None = Field(default=None, description="azure_arm: the subscription id.")
    cloud_environment: str | CloudEnvironment | None = Field(
        default=None, description="azure_arm: libcloud's cloud name or the endpoints of a sovereign cloud.")
    images: list[ImageSet] | None = Field(
        default=None, description="azure_arm: marketplace images to list; default: Ubuntu 22.04, RHEL 9, "
                                  "Windows Server 2022.")
    prices_url: str | None = Field(default=None, description="azure_arm: the Azure Retail Prices API; "
                                                             "empty string: no retail prices.")
    currency: str = Field(default="USD", pattern=r"^[A-Za-z]{3}$",
                          description="azure_arm: currency asked of the retail price API.")
    # libcloud's pricing data
    libcloud_prices: bool = Field(default=True, description="Use libcloud's bundled pricing data (dated, USD) "
                                                            "where nothing better prices a size.")
    pricing_file: str | None = Field(default=None, description="A libcloud pricing.json; default: libcloud's own.")
    pricing_table: str | None = Field(default=None,
                                      description="Table of that file; default: the provider's (azure_linux…).")

    @field_validator("cloud_environment")
    @classmethod
    def _known_environment(cls, value: str | CloudEnvironment | None) -> str | CloudEnvironment | None:
        if isinstance(value, str) and value not in AZURE_ENVIRONMENTS:
            raise ValueError(f"unknown cloud {value!r}: give one of {', '.join(AZURE_ENVIRONMENTS)} "
                             "or the endpoints of the cloud")
        return value

    @field_validator("countries")
    @classmethod
    def _iso_countries(cls, value: dict[str, str]) -> dict[str, str]:
        bad = [c for c in value.values() if len(c) != 2 or not c.isalpha()]
        if bad:
            raise ValueError(f"countries are ISO 3166-1 alpha-2 codes, not {bad[0]!r}")
        return {k: c.upper() for k, c in value.items()}


def _provider_of(options: Mapping[str, Any] | DriverOptions | None) -> str:
    if isinstance(options, LibcloudOptions):
        return options.provider
    if isinstance(options, Mapping):
        return str(options.get("provider", ""))
    return ""


class LibcloudDriver(BaseDriver):
    """Catalog items of any libcloud compute provider (registered as ``libcloud``).

    ``LibcloudDriver(options)`` gives the class that fits ``options["provider"]``:
    :class:`AzureArmDriver`, :class:`OpenStackDriver` or :class:`GenericDriver`, each with its own
    honest :attr:`capabilities`. The capabilities declared here are what some provider can show.
    """

    name = "libcloud"
    capabilities = Capabilities(kinds=frozenset({Kind.COMPUTE, Kind.IMAGE, Kind.LOCATION}), prices=True)
    Options = LibcloudOptions
    options: LibcloudOptions
    quiet_loggers: ClassVar[Mapping[str, int]] = {"urllib3": logging.WARNING, "libcloud": logging.WARNING}

    def __new__(cls, options: Mapping[str, Any] | DriverOptions | None = None, *,
                backend: str | None = None) -> LibcloudDriver:
        if cls is LibcloudDriver:
            cls = _PROVIDERS.get(_provider_of(options), GenericDriver)
        return super().__new__(cls)

    def __init__(self, options: Mapping[str, Any] | DriverOptions | None = None, *,
                 backend: str | None = None) -> None:
        super().__init__(options, backend=backend)
        self._lock = threading.RLock()
        self._clients: dict[str | None, Any] = {}
        self._locations: dict[str, Any] | None = None
        self._pricing: LibcloudPrices | None = None

    # -- the libcloud side --------------------------------------------------------------------
    def _sdk(self) -> Any:
        """libcloud's compute providers module, imported on first use."""
        import_sdk("libcloud", "apache-libcloud")
        return import_sdk("libcloud.compute.providers", "apache-libcloud")

    def _driver_class(self) -> Any:
        providers = self._sdk()
        try:
            return providers.get_driver(self.options.provider)
        except AttributeError as exc:  # libcloud's answer for an unknown provider
            raise ConfigError(f"libcloud has no compute provider {self.options.provider!r}",
                              source=f"backend {self.backend!r} options", field="provider") from exc
        except Exception as exc:  # a deprecated provider, or one whose module cannot load
            raise ConfigError(str(exc), source=f"backend {self.backend!r} options", field="provider") from exc

    def _constructor(self, scope: str | None) -> tuple[list[Any], dict[str, Any]]:
        """Positional and keyword arguments of the libcloud driver for ``scope`` (a region, or ``None``)."""
        o = self.options
        args: list[Any] = [o.key] if o.key is not None else []
        if o.secret is not None:
            args.append(o.secret.get_secret_value())
        kwargs: dict[str, Any] = {**o.args, **{k: v.get_secret_value() for k, v in o.secret_args.items()}}
        if o.region is not None:
            kwargs["region"] = o.region
        if _takes_keyword(self._driver_class(), "timeout"):
            kwargs["timeout"] = o.timeout
        return args, kwargs

    def _build(self, scope: str | None) -> Any:
        self._sdk()
        from .connection import quiet_loopback_warnings, use_tls

        args, kwargs = self._constructor(scope)
        if self.options.verify is False:
            quiet_loopback_warnings()
        try:
            client = self._driver_class()(*args, **kwargs)
        except CloudcatError:
            raise
        except TypeError as exc:
            if "argument" not in str(exc):  # not the constructor's signature: an answer of the wrong shape
                raise
            raise ConfigError(f"libcloud's {self.options.provider} driver refused its arguments: {exc}",
                              source=f"backend {self.backend!r} options", field="args") from exc
        use_tls(client, self.options.verify, self.options.timeout)
        # cloudcat reads libcloud's pricing data itself, once (pricing.py); libcloud would parse the whole
        # file again for every size of a provider it has no table for (OpenStack: every flavor)
        client._get_size_price = _no_size_price
        return client

    def client(self, scope: str | None = None) -> Any:
        """The libcloud driver instance for ``scope`` (created on first use)."""
        with self._lock:
            if scope not in self._clients:
                self._clients[scope] = self._build(scope)
            return self._clients[scope]

    def call(self, where: str, fn: Callable[[], T]) -> T:
        """``fn()`` (a libcloud call), one at a time (libcloud connections are not thread-safe), with
        errors mapped to cloudcat's, retries by the options' policy and a refused token renewed once."""
        from .errors import backend_error, forget_request, last_request

        def attempt() -> T:
            try:
                with self._lock:
                    forget_request()
                    return fn()
            except CloudcatError:
                raise
            except Exception as exc:
                raise backend_error(exc, where, self.backend, self.redact, last_request()) from exc

        def with_renewal() -> T:
            try:
                return attempt()
            except AuthenticationError:
                if not self._forget_tokens():
                    raise
                return attempt()

        return self.options.retry_policy().run(with_renewal)

    def _forget_tokens(self) -> bool:
        """Make the libcloud instances log in again; whether any held a token to forget."""
        from .connection import forget_tokens

        with self._lock:
            return any([forget_tokens(client) for client in self._clients.values()])

    def secrets(self) -> list[str]:
        """Option secrets, and the tokens the libcloud instances hold."""
        found = super().secrets()
        with self._lock:
            for client in self._clients.values():
                conn = getattr(client, "connection", None)
                for attr in ("access_token", "auth_token"):
                    token = getattr(conn, attr, None)
                    if isinstance(token, str) and token:
                        found.append(token)
        return found

    def close(self) -> None:
        """Forget the libcloud instances (libcloud keeps no connection open between calls)."""
        with self._lock:
            self._clients.clear()
            self._locations = None

    # -- regions ------------------------------------------------------------------------------
    def locations(self) -> dict[str, Any]:
        """libcloud's locations by id (read once)."""
        with self._lock:
            if self._locations is None:
                found = self.call("list_locations()", lambda: list(self.client().list_locations()))
                self._locations = {str(loc.id): loc for loc in found if str(loc.id or "")}
            return self._locations

    def country(self, region: str, libcloud_country: Any = None) -> str | None:
        """ISO country of ``region``: the ``countries`` option, else a two-letter code libcloud gave."""
        if region in self.options.countries:
            return self.options.countries[region]
        text = str(libcloud_country or "")
        return text.upper() if len(text) == 2 and text.isalpha() else None

    def list_regions(self) -> Sequence[Region]:
        """libcloud's locations as regions, or one region (``region`` option, else the provider) when it has none."""
        regions = self.regions_of(self.locations(), lambda loc_id, loc: Region(
            name=name(loc_id, "id"), display_name=printable(str(loc.name or loc_id)) or None,
            country=self.country(loc_id, getattr(loc, "country", None))))
        if regions or self.locations():
            return regions
        default = self.options.region or self.options.provider
        return [Region(name=default, country=self.country(default))]

    def regions_of(self, found: Mapping[str, Any], region: Callable[[str, Any], Region]) -> list[Region]:
        """``region(id, location)`` of each location found, a location it fails on left out with a warning."""
        regions = []
        for loc_id, loc in found.items():
            with Reading("list_locations()", f"location {printable(loc_id, 80)}", self.backend, drop="region"):
                regions.append(region(loc_id, loc))
        return regions

    # -- items --------------------------------------------------------------------------------
    def list_items(self, kind: Kind, region: str) -> Iterator[Item]:
        """Sizes (``compute``) or images (``image``) of ``region``."""
        if kind == Kind.COMPUTE:
            sizes = self.list_sizes(region)
            prices = self.prices(region)
            yield from self.mapped(f"list_sizes({region})", "size", sizes,
                                   lambda size: self.size_item(size, region, prices))
        elif kind == Kind.IMAGE:
            yield from _unique_names(self.mapped(f"list_images({region})", "image", self.list_images(region),
                                                 lambda image: self.image_item(image, region)))

    def mapped(self, where: str, noun: str, found: Iterable[Any], item: Callable[[Any], Item]) -> list[Item]:
        """``item(x)`` of each libcloud object found by ``where``, one it fails on left out with a warning."""
        items = []
        for x in found:
            with Reading(where, f"{noun} {printable(str(getattr(x, 'id', '?')), 80)}", self.backend, drop=noun):
                items.append(item(x))
        return items

    #: The fields of the answer that libcloud's ``NodeSize`` attributes come from, where they differ.
    size_fields: ClassVar[Mapping[str, str]] = {}

    def list_sizes(self, region: str) -> list[Any]:
        """libcloud's sizes for ``region`` (per location where the provider has locations)."""
        location = self.locations().get(region)
        if location is None:
            return self.call("list_sizes()", lambda: list(self.client().list_sizes()))
        return self.call(f"list_sizes({region})", lambda: list(self.client().list_sizes(location=location)))

    def list_images(self, region: str) -> list[Any]:
        """libcloud's images for ``region`` (only where the listing is bounded)."""
        return []

    def prices(self, region: str) -> Mapping[str, SizePrices]:
        """Live prices of the sizes of ``region`` by size name (none by default)."""
        return {}

    def pricing(self) -> LibcloudPrices | None:
        """libcloud's pricing data (``None`` when the ``libcloud_prices`` option is off)."""
        if not self.options.libcloud_prices:
            return None
        with self._lock:
            if self._pricing is None:
                from .pricing import LibcloudPrices

                try:
                    self._pricing = LibcloudPrices(self.options.pricing_file)
                except (OSError, ValueError) as exc:
                    raise ConfigError(f"cannot read libcloud pricing data: {exc}",
                                      source=f"backend {self.backend!r} options", field="pricing_file") from exc
            return self._pricing

    def pricing_table(self) -> str:
        """The libcloud pricing table of this provider."""
        if self.options.pricing_table:
            return self.options.pricing_table
        provider = self.options.provider
        return PRICING_TABLES.get(provider, str(getattr(self._driver_class(), "api_name", provider)))

    def pricing_key(self, size: Any) -> str:
        """A size's key in the pricing table (its libcloud id)."""
        return str(size.id)

    def libcloud_price(self, size: Any, region: str) -> Price | None:
        """libcloud's dated price of ``size`` in ``region`` (``None`` for unknown, ``0.0`` included)."""
        data = self.pricing()
        if data is None:
            return None
        return data.price(self.pricing_table(), self.pricing_key(size), region)

    def size_item(self, size: Any, region: str, prices: Mapping[str, SizePrices]) -> Item:
        """A libcloud ``NodeSize`` as a compute item."""
        fields = self.size_fields
        size_name = name(size.name or size.id, fields.get("name", "name"))
        live = prices.get(size_name)
        price = live.linux if live is not None and live.linux is not None else self.libcloud_price(size, region)
        extras: dict[str, Any] = {"libcloud_id": str(size.id), "libcloud_extra": _json_safe(size.extra or {})}
        if live is not None and (live.others or live.meter):
            extras["retail"] = {**live.meter, **live.others}
        ram = whole_number(size.ram, fields.get("ram", "ram")) or None
        disk = size.disk if isinstance(size.disk, int | float) else None  # some providers give text
        return Item(kind=Kind.COMPUTE, name=size_name, display_name=str(size.name) if size.name != size_name else None,
                    region=region, vcpus=vcpus_of(size, fields), memory_mib=ram,
                    disk_gib=amount(disk, fields.get("disk", "disk")), price=price, extras=extras,
                    **self.size_facts(size_name))

    def size_facts(self, name: str) -> dict[str, Any]:
        """Typed platform facts (family, generation, architecture) of a size name (none by default)."""
        return {}

    def image_item(self, image: Any, region: str) -> Item:
        """A libcloud ``NodeImage`` as an image item."""
        extra = image.extra if isinstance(image.extra, Mapping) else {}
        return Item(kind=Kind.IMAGE, name=name(image.name or image.id, "name"), region=region,
                    min_disk_gib=amount(extra.get("minDisk"), "min_disk"),
                    min_memory_mib=whole_number(extra.get("minRam"), "min_ram"),
                    extras={"libcloud_id": str(image.id), "libcloud_extra": _json_safe(image.extra or {})})


class GenericDriver(LibcloudDriver):
    """Any libcloud provider without a class of its own: locations (or one region) and sizes, priced from
    libcloud's data where it has any (that data is not the backend's: ``capabilities.prices`` stays off)."""

    capabilities = Capabilities(kinds=frozenset({Kind.COMPUTE, Kind.LOCATION}))


class OpenStackDriver(LibcloudDriver):
    """libcloud's OpenStack driver: the regions of the Keystone catalog, flavors and the project's images.

    libcloud's own ``list_locations`` is a placeholder; regions come from the service catalog, and
    each region is read by a libcloud instance bound to it (``ex_force_service_region``). OpenStack
    has no price API and libcloud's data has no OpenStack table: price books give the prices (a
    ``pricing_file`` with an ``openstack`` table is read, dated, like libcloud's own).
    """

    capabilities = Capabilities(kinds=frozenset({Kind.COMPUTE, Kind.IMAGE, Kind.LOCATION}))

    def _constructor(self, scope: str | None) -> tuple[list[Any], dict[str, Any]]:
        args, kwargs = super()._constructor(scope)
        if scope is not None:
            kwargs["ex_force_service_region"] = scope
        return args, kwargs

    def list_regions(self) -> Sequence[Region]:
        """The regions where the Keystone catalog has a compute endpoint."""
        names = self.call("service catalog", lambda: _catalog_regions(self.client()))
        return self.regions_of({n: n for n in names}, lambda n, _: Region(
            name=name(n, "catalog.endpoints.region_id"), country=self.country(n)))

    def list_sizes(self, region: str) -> list[Any]:
        """Flavors of ``region`` (one ``GET /flavors/detail``)."""
        return self.call(f"list_sizes({region})", lambda: list(self.client(region).list_sizes()))

    def list_images(self, region: str) -> list[Any]:
        """Images the project sees in ``region``."""
        return self.call(f"list_images({region})", lambda: list(self.client(region).list_images()))


class AzureArmDriver(LibcloudDriver):
    """libcloud's ``azure_arm`` driver (Azure, and sovereign Azure clouds such as Bleu): locations, sizes
    per location, a bounded set of marketplace images, prices from the Azure Retail Prices API."""

    capabilities = Capabilities(kinds=frozenset({Kind.COMPUTE, Kind.IMAGE, Kind.LOCATION}), prices=True)

    def _driver_class(self) -> Any:
        self._sdk()
        from .connection import AzureArmNodeDriver

        return AzureArmNodeDriver

    def _constructor(self, scope: str | None) -> tuple[list[Any], dict[str, Any]]:
        o = self.options
        missing = [f for f in ("tenant_id", "subscription_id", "key", "secret") if getattr(o, f) is None]
        if missing:
            raise ConfigError(f"the azure_arm provider needs {', '.join(missing)}",
                              source=f"backend {self.backend!r} options", field=missing[0])
        _, kwargs = super()._constructor(scope)
        env = o.cloud_environment
        kwargs["cloud_environment"] = env.as_libcloud() if isinstance(env, CloudEnvironment) else env
        kwargs["tls_verify"] = o.verify
        assert o.secret is not None
        return [o.tenant_id, o.subscription_id, o.key, o.secret.get_secret_value()], kwargs

    #: libcloud's ``NodeSize`` from an ARM ``vmSizes`` entry.
    size_fields: ClassVar[Mapping[str, str]] = {"ram": "memoryInMB", "disk": "resourceDiskSizeInMB",
                                                "vcpus": "numberOfCores"}

    def list_regions(self) -> Sequence[Region]:
        """The subscription's locations for virtual machines, with their country."""
        return self.regions_of(self.locations(), lambda loc_id, loc: Region(
            name=name(loc_id, "resourceTypes.locations"), display_name=name(str(loc.name or loc_id), "locations"),
            country=self.options.countries.get(loc_id) or country_of(loc_id)))

    def list_images(self, region: str) -> list[Any]:
        """The latest version of each SKU of the configured publishers and offers in ``region`` (the
        version Azure deploys for ``…:latest``), the versions listed kept in ``extra["versions"]``; a set
        the location does not have is skipped."""
        location = self.locations().get(region)
        if location is None:
            return []
        found: list[Any] = []
        for wanted in self.options.images if self.options.images is not None else DEFAULT_IMAGES:
            where = f"list_images({region}, {wanted.publisher}/{wanted.offer or '*'}/{wanted.sku or '*'})"
            try:
                found += self.call(where, functools.partial(_images_of, self, location, wanted))
            except BackendNotFoundError as exc:
                log.info("%s: skipped (%s)", where, exc)
        return _latest_versions(found)

    def image_item(self, image: Any, region: str) -> Item:
        """A marketplace image SKU, named by its URN with ``latest`` as version (the name stays as versions
        come and go); the version that is latest now is in the extras."""
        publisher, offer, sku = (str(getattr(image, a, "")) for a in ("publisher", "offer", "sku"))
        version = name(str(getattr(image, "version", "")), "name")
        os_family, os_version = os_of(publisher, sku)
        versions = (image.extra or {}).get("versions", [version])
        return Item(kind=Kind.IMAGE, name=f"{publisher}:{offer}:{sku}:latest",
                    display_name=f"{publisher} {offer} {sku} (latest: {version})", region=region,
                    os_family=os_family, os_version=os_version,
                    extras={"publisher": publisher, "offer": offer, "sku": sku, "version": version,
                            "urn": str(image.id), "versions": list(versions)})

    def prices(self, region: str) -> Mapping[str, SizePrices]:
        """Pay-as-you-go prices of ``region`` from the Azure Retail Prices API (``prices_url``)."""
        url = AZURE_RETAIL_PRICES if self.options.prices_url is None else self.options.prices_url
        if not url:
            return {}
        o = self.options
        api = RetailPrices(url, o.currency, verify=o.verify, timeout=o.timeout, retry=o.retry_policy(),
                           backend=self.backend)
        return api.vm_prices(region)

    def pricing_key(self, size: Any) -> str:
        """libcloud's Azure tables key sizes as ``standardd2v2`` for ``Standard_D2_v2``."""
        return str(size.id).lower().replace("_", "")

    def size_facts(self, name: str) -> dict[str, Any]:
        """Family (``Dsv5``), generation (``v5``) and architecture from the Azure size name."""
        facts = size_facts(name)
        return {"family": facts.family, "generation": facts.generation, "architecture": facts.architecture}


_PROVIDERS: dict[str, type[LibcloudDriver]] = {"azure_arm": AzureArmDriver, "openstack": OpenStackDriver}


def _takes_keyword(cls: Any, name: str) -> bool:
    """Whether a libcloud driver's constructor takes keyword ``name`` (or any keyword)."""
    try:
        params = inspect.signature(cls).parameters
    except (TypeError, ValueError):
        return True
    return name in params or any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values())


def _no_size_price(*args: Any, **kwargs: Any) -> None:
    """Stands for a libcloud instance's own size price lookup (``NodeSize.price`` is not read)."""
    return None


def _catalog_regions(client: Any) -> list[str]:
    """Regions with a compute endpoint in the Keystone catalog of a libcloud OpenStack driver.

    libcloud reads the catalog as it logs in, then looks for the endpoint of the region it was
    bound to; unbound, on a cloud of several regions, that last step fails with the catalog read.
    """
    from libcloud.common.types import LibcloudError

    conn = client.connection
    try:
        conn.get_service_catalog()
    except LibcloudError:
        if conn.service_catalog is None:
            raise
    return [str(r) for r in conn.service_catalog.get_regions(service_type="compute")]


def _version_key(version: str) -> tuple[tuple[int, str], ...]:
    """Azure image versions (``22.04.202411050``) compare part by part, numerically."""
    return tuple((int(p), "") if p.isdigit() else (-1, p) for p in version.split("."))


def _latest_versions(images: Sequence[Any]) -> list[Any]:
    """The latest version of each (publisher, offer, SKU), with every version listed in ``extra["versions"]``."""
    groups: dict[tuple[str, str, str], list[Any]] = {}
    for image in images:
        groups.setdefault((str(image.publisher), str(image.offer), str(image.sku)), []).append(image)
    latest = []
    for group in groups.values():
        ordered = sorted(group, key=lambda i: _version_key(str(i.version)))
        newest = ordered[-1]
        newest.extra = {**(newest.extra or {}), "versions": [str(i.version) for i in ordered]}
        latest.append(newest)
    return latest


def _images_of(driver: LibcloudDriver, location: Any, wanted: ImageSet) -> list[Any]:
    return list(driver.client().list_images(location=location, ex_publisher=wanted.publisher, ex_offer=wanted.offer,
                                   ex_sku=wanted.sku))


def vcpus_of(size: Any, fields: Mapping[str, str] | None = None) -> int | None:
    """A size's vCPU count, wherever its provider puts it (``vcpus`` attribute, or an ``extra`` key).

    Text that is no number is passed over (a provider may describe its CPUs in words there); a number
    that is no count (negative, not whole, past 2**53) is an :class:`~.errors.AnswerValueError`
    naming the field (``fields`` names the answer's field for ``vcpus`` where it differs)."""
    extra = size.extra if isinstance(size.extra, Mapping) else {}
    candidates: list[tuple[str, Any]] = [((fields or {}).get("vcpus", "vcpus"), getattr(size, "vcpus", None))]
    candidates += [(k, extra.get(k)) for k in VCPU_KEYS]
    for key, value in candidates:
        if isinstance(value, str):
            try:
                value = float(value)
            except ValueError:
                continue
        if isinstance(value, float) and math.isfinite(value) and value.is_integer():
            value = int(value)
        if value is None or isinstance(value, bool):
            continue
        count = whole_number(value, key)
        if count:
            return count
    return None


def _json_safe(value: Any) -> Any:
    """libcloud's ``extra``, as JSON values (objects it holds become strings)."""
    try:
        return json.loads(json.dumps(value, default=str))
    except (TypeError, ValueError):
        return str(value)


def _unique_names(items: Iterable[Item]) -> Iterator[Item]:
    """Items whose names repeat get their libcloud id appended (an item's name is its id in the catalog)."""
    listed = list(items)
    counts: dict[str, int] = {}
    for item in listed:
        counts[item.name] = counts.get(item.name, 0) + 1
    for item in listed:
        if counts[item.name] > 1:
            item = item.model_copy(update={"name": f"{item.name} ({item.extras.get('libcloud_id')})"})
        yield item

