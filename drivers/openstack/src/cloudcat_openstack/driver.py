"""cloudcat's ``openstack`` driver, on keystoneauth (openstacksdk loads clouds.yaml entries).

Options, in the keys OpenStack users already keep in ``clouds.yaml``::

    backends:
      fe:
        driver: openstack
        options:
          cloud: flexible-engine          # a clouds.yaml entry (vendor profiles apply), or:
          auth:
            auth_url: https://iam.eu-west-0.prod-cloud-ocb.orange-business.com/v3
            username: me
            password: ${FE_PASSWORD}
            project_name: eu-west-0
            user_domain_name: OCB0001234
            project_domain_name: OCB0001234
          regions: [eu-west-0]           # default: every region in Keystone
          cloudkitty: false              # read prices from CloudKitty's hashmap rating

What it reads, per region: flavors (microversion 2.61, extra specs inline; GPUs from
``pci_passthrough:alias`` / ``resources:VGPU``; Huawei ``cond:operation:status`` and
``cond:operation:az`` as sale status per zone, from ECS v1 ``os_extra_specs`` where the catalog
has ECS, else from Nova extra specs), public and shared images, volume types with the extra specs
and QoS specs the user may read (a project user sees neither QoS specs nor admin-only extra
specs: zones then come from ``RESKEY:availability_zones`` and IOPS stay unset), external
networks, and the availability zones of each region. Every listing follows every page (Cinder's
``volume_type_links`` included), asking for the largest page the services serve (1000; Glance
pages by 25 unless asked). Nova is asked for microversion 2.61 and, when it refuses it (406),
without one: extra specs are then read per flavor.

Round trips are what a slow cloud costs, so none is spent on version discovery: a v3
``auth_url`` logs in directly, and each service's endpoint is the token's catalog URL with the
version cloudcat speaks appended where it names none. The zones of the catalog's regions are read
while Keystone lists its regions; a read's independent requests run side by side
(:func:`cloudcat.driver.concurrently`), the longest chain first. openstacksdk,
slow to import, is loaded only for a clouds.yaml entry or the OS_* variables; inline ``auth``
needs keystoneauth alone. Every answer is parsed in one place (:func:`parse_answer`): one of the
wrong shape is an :class:`~cloudcat.errors.UnavailableError` naming the request and the field
(``GET …/flavors/detail: flavors[3].vcpus: expected an integer, got 'x'``).

One keystoneauth session (one token, one connection pool) serves every region and thread;
adapters per region and service are created once. The HTTP options (``timeout``,
``connect_timeout``, ``retries``, ``max_retry_after``, ``verify``) are :class:`cloudcat.http.HttpOptions`.
Each request answered 429 or 5xx is retried by keystoneauth with bounded exponential backoff,
honouring ``Retry-After`` (delay-seconds or an HTTP date); a 429 whose Retry-After is longer than
``max_retry_after`` is not waited for. A whole read that still fails on a transient error
(a failed discovery) is retried by :class:`cloudcat.http.RetryPolicy`; a cut-short JSON answer
is sent again on its own. A token is reused until it nearly expires (a tenth of its life, at most
120 s) and renewed once per 401, one login at a time.
"""

from __future__ import annotations

import contextlib
import json
import logging
import math
import os
import re
import threading
import time
import urllib.parse
import warnings
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Annotated, Any, ClassVar, Literal, TypeVar

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, SecretStr, ValidationError, model_validator

from cloudcat.driver import (
    BaseDriver,
    Capabilities,
    DriverOptions,
    OptionNameDeprecation,
    concurrently,
    import_sdk,
)
from cloudcat.errors import (
    AuthenticationError,
    BackendError,
    BackendNotFoundError,
    BackendTimeoutError,
    CloudcatError,
    ConfigError,
    UnavailableError,
)
from cloudcat.http import HttpOptions, error_for_status, parse_retry_after
from cloudcat.models import Gpu, Item, Kind, Lifecycle, LifecycleStatus, Price, Region, SaleStatus

__all__ = ["MalformedAnswer", "OpenStackAuth", "OpenStackDriver", "OpenStackOptions", "parse_answer",
           "zone_sale_status"]

log = logging.getLogger("cloudcat.drivers.openstack")

T = TypeVar("T")

#: Huawei sale states in which a flavor can be ordered.
ORDERABLE = frozenset({"normal", "obt", "promotion"})
RETRIABLE_STATUS_CODES = [429, 500, 502, 503, 504]
#: Largest pages the services serve by default (Nova and Cinder ``osapi_max_limit``, Glance
#: ``api_limit_max``); Glance pages by 25 unless asked.
NOVA_MAX_LIMIT = GLANCE_MAX_LIMIT = CINDER_MAX_LIMIT = 1000
#: Service (as the driver names it): its catalog type, and the version path cloudcat speaks where
#: the catalog URL carries none (the catalog has it for Nova and Cinder, rarely for Glance or Neutron).
_SERVICES: dict[str, tuple[str, str]] = {
    "identity": ("identity", "v3"), "compute": ("compute", "v2.1"), "image": ("image", "v2"),
    "volume": ("block-storage", "v3/{project_id}"), "network": ("network", "v2.0"),
    "ecs": ("ecs", ""), "rating": ("rating", ""),
}
_ARCH = {"x86_64": "x86_64", "amd64": "x86_64", "x86": "x86_64", "i686": "x86_64",
         "aarch64": "aarch64", "arm64": "aarch64", "arm": "aarch64",
         "ppc64le": "ppc64le", "s390x": "s390x"}


class OpenStackAuth(BaseModel):
    """Inline credentials, in clouds.yaml's ``auth`` keys (password or application credential)."""

    model_config = ConfigDict(extra="forbid")

    auth_url: str = Field(description="Keystone URL, e.g. https://keystone.example.com/v3.")
    username: str | None = None
    user_id: str | None = None
    password: SecretStr | None = None
    project_name: str | None = None
    project_id: str | None = None
    user_domain_name: str | None = None
    user_domain_id: str | None = None
    project_domain_name: str | None = None
    project_domain_id: str | None = None
    application_credential_id: str | None = None
    application_credential_name: str | None = None
    application_credential_secret: SecretStr | None = None

    @model_validator(mode="after")
    def _one_method(self) -> OpenStackAuth:
        app = self.application_credential_id or self.application_credential_name
        if app and self.application_credential_secret is None:
            raise ValueError("application_credential_secret is required with an application credential")
        if not app and self.password is None:
            raise ValueError("give password (with username) or an application credential")
        return self

    def uses_application_credential(self) -> bool:
        """Whether these are application-credential credentials."""
        return bool(self.application_credential_id or self.application_credential_name)

    def as_sdk(self) -> dict[str, str]:
        """The ``auth`` mapping openstacksdk expects, secrets revealed (never logged)."""
        out: dict[str, str] = {}
        for name in type(self).model_fields:
            value = getattr(self, name)
            if isinstance(value, SecretStr):
                value = value.get_secret_value()
            if value is not None:
                out[name] = value
        if self.uses_application_credential():
            for key in ("password", "project_name", "project_id", "project_domain_name",
                        "project_domain_id"):
                out.pop(key, None)
        return out


class OpenStackOptions(HttpOptions):
    """Options of the ``openstack`` driver."""

    renamed = {"retry_after_max": "max_retry_after"}

    cloud: str | None = Field(default=None, description="Name of a clouds.yaml entry; default: $OS_CLOUD.")
    clouds_file: str | None = Field(default=None,
                                    description="clouds.yaml to read; default: openstacksdk's search path.")
    auth: OpenStackAuth | None = Field(
        default=None, description="Inline credentials (clouds.yaml keys). Without `cloud`, `auth` and $OS_CLOUD, "
                                  "the OS_* variables of an openrc file are read.")
    region_name: str | None = Field(
        default=None, description="Read this one region only. A clouds.yaml `region_name` or $OS_REGION_NAME does "
                                  "not narrow a refresh: every region is read unless this (or `regions`) says so.")
    interface: Literal["public", "internal", "admin"] = "public"
    cloudkitty: bool = Field(default=False, description="Read prices from CloudKitty's hashmap rating.")
    cloudkitty_currency: str = Field(default="EUR", pattern=r"^[A-Z]{3}$",
                                     description="Currency of CloudKitty costs (the API carries none).")
    cloudkitty_period: Literal["hour", "month"] = Field(
        default="hour", description="CloudKitty's collect period: what one flat cost buys.")
    countries: dict[str, str] = Field(default_factory=dict,
                                      description="ISO country code per region name.")

    @model_validator(mode="before")
    @classmethod
    def _cacert_is_verify(cls, data: Any) -> Any:
        """``cacert`` (clouds.yaml's name) is now given as ``verify``; still accepted, with a warning."""
        if not isinstance(data, Mapping) or "cacert" not in data:
            return data
        warnings.warn("driver option 'cacert' is deprecated: give the CA bundle as 'verify'",
                      OptionNameDeprecation, stacklevel=2)
        out = dict(data)
        cacert = out.pop("cacert")
        if cacert is not None and out.get("verify", True) is True:
            out["verify"] = cacert
        return out

    @model_validator(mode="after")
    def _credentials(self) -> OpenStackOptions:
        if self.cloud is None and self.auth is None:
            # the conventions of the OpenStack clients: a clouds.yaml entry named by $OS_CLOUD, or the
            # OS_* variables an openrc file exports
            if os.environ.get("OS_CLOUD"):
                self.cloud = os.environ["OS_CLOUD"]
            elif not os.environ.get("OS_AUTH_URL"):
                raise ValueError("give cloud (a clouds.yaml entry) or auth, or set OS_CLOUD or the OS_* variables "
                                 "of an openrc file")
        return self

    @property
    def from_environment(self) -> bool:
        """Whether the credentials come from the OS_* variables of an openrc file."""
        return self.cloud is None and self.auth is None


#: openrc variables holding a secret (redacted wherever the driver speaks).
_SECRET_VARIABLES = ("OS_PASSWORD", "OS_APPLICATION_CREDENTIAL_SECRET", "OS_TOKEN")


def _check_cloud_entry(options: OpenStackOptions) -> None:
    """A configuration error, before anything is read, when the clouds.yaml entry does not exist."""
    from cloudcat.init import find_clouds_yaml, read_cloud_names

    path = Path(options.clouds_file) if options.clouds_file else find_clouds_yaml()
    if not path.is_file():
        raise ConfigError(f"clouds.yaml {path} does not exist", field="clouds_file")
    names = read_cloud_names(path)
    if options.cloud not in names:
        import difflib

        close = difflib.get_close_matches(options.cloud or "", names, n=1)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        raise ConfigError(f"no cloud {options.cloud!r} in {path}{hint}; its clouds: {', '.join(names)}",
                          field="cloud")


class OpenStackDriver(BaseDriver):
    """Reads flavors, images, volume types, external networks and zones from OpenStack clouds."""

    name: ClassVar[str] = "openstack"
    capabilities: ClassVar[Capabilities] = Capabilities(
        kinds=frozenset(Kind), zones=True, paging=True, lifecycle=True, prices=True)
    Options: ClassVar[type[DriverOptions]] = OpenStackOptions
    # what the SDKs and urllib3 warn of (a header urllib3 could not parse, a retried call) the
    # driver reports as the backend's error when it matters, with the backend named
    quiet_loggers: ClassVar[Mapping[str, int]] = {
        "keystoneauth": logging.WARNING, "openstack": logging.WARNING, "urllib3": logging.ERROR}

    options: OpenStackOptions

    def __init__(self, options: Mapping[str, Any] | DriverOptions | None = None, *,
                 backend: str | None = None) -> None:
        super().__init__(options, backend=backend)
        if not self.options.cloudkitty:
            # the class declares what the driver can read (CloudKitty prices included); an
            # instance that does not read CloudKitty supplies no price
            self.__dict__["capabilities"] = self.capabilities.model_copy(update={"prices": False})
        if self.options.cloud:
            _check_cloud_entry(self.options)
        self._lock = threading.Lock()
        self._keyed_locks: dict[tuple[str, ...], threading.Lock] = {}
        self._base: Any = None
        self._regions_cache: list[Region] | None = None
        self._interface: str = self.options.interface
        self._overrides: dict[str, str] = {}  # endpoint overrides of a clouds.yaml entry, per service type
        self._adapters: dict[tuple[str, str], Any] = {}
        self._endpoints: dict[tuple[str, str], str] = {}
        self._prices: dict[str, dict[str, dict[str, Price]]] = {}
        self._tokens: set[str] = set()
        self._retry = self.options.retry_policy()

    # -- connections -----------------------------------------------------------------------------
    def _key_lock(self, *key: str) -> threading.Lock:
        with self._lock:
            return self._keyed_locks.setdefault(key, threading.Lock())

    def _session(self) -> Any:
        """The driver's one keystoneauth session (created once, under the lock)."""
        with self._lock:
            if self._base is None:
                self._base = self._guard("connect", self._connect)
            return self._base

    def _connect(self) -> Any:
        """A keystoneauth session: built from the inline ``auth`` with keystoneauth alone, or by
        openstacksdk's configuration loader from a clouds.yaml entry or the OS_* variables (vendor
        profiles apply). openstacksdk is imported only for the latter: loading it takes longer than
        a whole refresh of a small cloud."""
        session = self._inline_session() if self.options.auth is not None else self._configured_session()
        if self.options.connect_timeout is not None:
            # keystoneauth hands its timeout to requests as is, and requests reads a pair as
            # (connect, read)
            session.timeout = (self.options.connect_timeout, self.options.timeout)
        requests_session = self.http_session(session.session)  # calls end at the refresh's deadline
        requests_session.hooks.setdefault("response", []).extend([self._resend_malformed, self._check_retry_after])
        _bound_token_renewal(session.auth, requests_session)
        return session

    def _resend_malformed(self, response: Any, *args: Any, **kwargs: Any) -> Any:
        """Send a request again when its 2xx JSON answer does not parse (a body cut short), up to
        ``retries`` times with the retry policy's backoff: one broken page costs one request,
        not the whole listing (the Cloud Director driver retries the same way)."""
        for attempt in range(1, self.options.retries + 1):
            if not _malformed_json(response):
                return response
            wait = self._retry.delay(UnavailableError("malformed answer", backend=self.backend), attempt)
            log.info("%s: malformed answer from %s; sending it again (%d of %d)", self.backend,
                     _without_userinfo(str(response.url)), attempt, self.options.retries)
            _ = response.content  # read, so the connection goes back to the pool
            time.sleep(wait or 0)
            response = response.connection.send(response.request, **kwargs)
        return response

    def _check_retry_after(self, response: Any, *args: Any, **kwargs: Any) -> Any:
        """Put a retried answer's Retry-After in the whole seconds keystoneauth reads (it sleeps
        them), at most ``max_retry_after``; a 429 asking for longer is not waited for."""
        if response.status_code not in RETRIABLE_STATUS_CODES:
            return response
        seconds = parse_retry_after(response.headers.get("Retry-After"))
        if seconds is None:
            return response  # none, or not understood: keystoneauth's backoff decides
        bound = self.options.max_retry_after
        if response.status_code == 429 and seconds > bound:
            _ = response.content  # read, so the connection goes back to the pool
            raise _RetryAfterTooLong(response, seconds)
        response.headers["Retry-After"] = str(min(math.ceil(seconds), math.floor(bound)))
        return response

    def _inline_session(self) -> Any:
        from keystoneauth1 import session as ks_session
        from keystoneauth1.identity import generic, v3

        opts = self.options
        assert opts.auth is not None
        auth: dict[str, Any] = dict(opts.auth.as_sdk())
        url = auth.pop("auth_url")
        plugin: Any
        if opts.auth.uses_application_credential():
            plugin = v3.ApplicationCredential(auth_url=url, **auth)
        elif re.search(r"/v3/?$", url):
            plugin = v3.Password(auth_url=url, **auth)  # a v3 URL: no version discovery before the login
        else:
            plugin = generic.Password(auth_url=url, **auth)  # Keystone's versions decide (v2.0 or v3)
        return ks_session.Session(auth=plugin, verify=opts.verify, timeout=opts.timeout, app_name="cloudcat")

    def _configured_session(self) -> Any:
        sdk = import_sdk("openstack", "openstacksdk")
        import_sdk("openstack.config.loader", "openstacksdk")
        opts = self.options
        kwargs: dict[str, Any] = {"verify": opts.verify is not False, "interface": opts.interface,
                                  "api_timeout": opts.timeout}
        if isinstance(opts.verify, str):
            kwargs["cacert"] = opts.verify
        if opts.cloud:
            kwargs["cloud"] = opts.cloud
        # region_name narrows what is read (see _load_regions), not the configuration: given to
        # openstacksdk it would be checked against the one region a clouds.yaml entry may name
        try:
            loader = sdk.config.loader.OpenStackConfig(
                config_files=[opts.clouds_file] if opts.clouds_file else None,
                load_yaml_config=opts.cloud is not None, load_envvars=opts.from_environment, app_name="cloudcat")
            config = loader.get_one(**kwargs)
        except sdk.exceptions.ConfigException as exc:
            raise ConfigError(self.redact(str(exc)), source=f"backend {self.backend!r} options",
                              field="cloud") from exc
        self._interface = config.get_interface() or opts.interface
        for service_type, _ in _SERVICES.values():
            override = config.get_endpoint(service_type)
            if override:
                self._overrides[service_type] = str(override)
        return config.get_session()

    def _adapter(self, region: str | None, service: str) -> Any:
        """The keystoneauth adapter of a service in a region (retries as the options say)."""
        key = (region or "", service)
        with self._lock:
            found = self._adapters.get(key)
        if found is not None:
            return found
        from keystoneauth1 import adapter

        service_type = _SERVICES[service][0]
        made = adapter.Adapter(self._session(), service_type=service_type, region_name=region,
                               interface=self._interface, endpoint_override=self._overrides.get(service_type),
                               connect_retries=self.options.retries, status_code_retries=self.options.retries,
                               retriable_status_codes=RETRIABLE_STATUS_CODES)
        with self._lock:
            return self._adapters.setdefault(key, made)

    def _endpoint(self, region: str | None, service: str) -> str:
        """A service's versioned root URL in a region, from the token's catalog: no version
        discovery, the version cloudcat speaks is appended where the catalog names none."""
        from keystoneauth1 import exceptions as ksa

        key = (region or "", service)
        with self._lock:
            found = self._endpoints.get(key)
        if found is not None:
            return found
        url = self._adapter(region, service).get_endpoint()
        if not url:
            raise ksa.EndpointNotFound(f"no {service} endpoint in region {region}")
        url = str(url).rstrip("/")
        version = _SERVICES[service][1]
        if version and not re.search(r"/v\d+(\.\d+)?(/|$)", urllib.parse.urlsplit(url).path):
            url += "/" + version.format(project_id=self._project_id() or "")
        with self._lock:
            self._endpoints[key] = url
        return url

    def _get(self, region: str | None, service: str, path: str, model: type[AnswerT],
             params: Mapping[str, str] | None = None, microversion: str | None = None) -> AnswerT:
        """One answer, parsed (:func:`parse_answer`): HTTP errors are keystoneauth's, raised."""
        url = self._endpoint(region, service) + path
        response = self._adapter(region, service).get(url, params=dict(params or {}), microversion=microversion)
        return parse_answer(model, response)

    def _listing(self, region: str, service: str, path: str, model: type[_Page],
                 params: Mapping[str, str] | None = None, microversion: str | None = None) -> list[Any]:
        """Every row of a marker-paged listing: each next page is asked with the query of the
        answer's next link, on the same path (a link's host may be one the client cannot reach)."""
        rows: list[Any] = []
        query = dict(params or {})
        asked: set[tuple[tuple[str, str], ...]] = set()
        while True:
            asked.add(tuple(sorted(query.items())))
            answer = self._get(region, service, path, model, query, microversion)
            rows.extend(answer.rows())
            href = answer.next_href()
            if not href or not answer.rows():
                return rows
            query = dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(href).query, keep_blank_values=True))
            if tuple(sorted(query.items())) in asked:
                return rows  # a next link pointing back: the listing is done

    def close(self) -> None:
        """Drop the session (the next call logs in again)."""
        with self._lock:
            base, self._base = self._base, None
            self._adapters.clear()
            self._endpoints.clear()
        if base is not None:
            with contextlib.suppress(Exception):
                base.session.close()

    def secrets(self) -> list[str]:
        """Option secrets (or the openrc variables' secrets) plus every token this driver has held."""
        found = super().secrets()
        if self.options.from_environment:
            found += [os.environ[name] for name in _SECRET_VARIABLES if os.environ.get(name)]
        base = self._base
        if base is not None:
            ref = getattr(getattr(base, "auth", None), "auth_ref", None)
            token = getattr(ref, "auth_token", None) if ref is not None else None
            if token:
                self._tokens.add(token)
        return found + sorted(self._tokens)

    # -- errors ----------------------------------------------------------------------------------
    def _guard(self, what: str, call: Callable[[], T]) -> T:
        """Run ``call``; turn keystoneauth/openstacksdk failures into cloudcat errors."""
        # every backend call passes here: a missing SDK is reported before any of it is used
        import_sdk("keystoneauth1", "openstacksdk")
        try:
            return call()
        except CloudcatError:  # already one of ours (backend, configuration, missing SDK)
            raise
        except Exception as exc:
            raise self._translate(what, exc) from exc

    def _translate(self, what: str, exc: BaseException) -> BackendError:
        from keystoneauth1 import exceptions as ksa

        outer = exc
        exc, status, response = _http_answer(outer)
        url = getattr(response, "url", None) or getattr(exc, "url", None)
        where = f" ({_without_userinfo(str(url))})" if url else ""
        detail = _without_userinfo(self.redact(_first_line(outer)))
        message = f"{what}{where}: {detail}"
        backend = self.backend
        if status == 401 or isinstance(outer, ksa.Unauthorized | ksa.MissingAuthPlugin | ksa.AuthorizationFailure):
            return AuthenticationError(f"{what}: credentials refused{where}", backend=backend)
        if status is not None and status >= 400:
            retry_after = parse_retry_after(getattr(response, "headers", {}).get("Retry-After"))
            return error_for_status(status, f"{message} (throttled)" if status == 429 else message,
                                    backend=backend, retry_after=retry_after)
        if isinstance(exc, ksa.EndpointNotFound):
            return BackendNotFoundError(message, backend=backend)
        if isinstance(exc, ksa.ConnectTimeout | TimeoutError):
            return BackendTimeoutError(f"{what}{where}: no answer within {self.options.timeout:g}s",
                                       backend=backend)
        if isinstance(outer, ValueError | KeyError | TypeError | AttributeError | ksa.InvalidResponse):
            return UnavailableError(f"{what}{where}: malformed answer: {detail}", backend=backend)
        return UnavailableError(message, backend=backend)

    def _read(self, what: str, call: Callable[[], T]) -> T:
        """``_guard`` with bounded retries of the whole read (the options' retry policy) for
        transient failures that keystoneauth does not retry itself (malformed bodies, 5xx on
        discovery or login)."""
        return self._retry.run(lambda: self._guard(what, call))

    # -- regions ---------------------------------------------------------------------------------
    def list_regions(self) -> Sequence[Region]:
        """Regions from Keystone (those with endpoints), each with its compute zones."""
        with self._key_lock("regions"):
            if self._regions_cache is None:
                self._regions_cache = self._read("list regions", self._load_regions)
            return list(self._regions_cache)

    def _load_regions(self) -> list[Region]:
        session = self._session()
        # a clouds.yaml region_name (or $OS_REGION_NAME) picks where the clients connect first; the
        # catalog still reads every region unless the backend's own options narrow it
        configured = self.options.region_name
        if configured:
            names = [configured]
            zones = {configured: self._compute_zones(configured)}
        else:
            access = session.auth.get_access(session)
            in_catalog = list(dict.fromkeys(
                name for service in access.service_catalog.catalog or [] for endpoint in service.get("endpoints", [])
                if (name := endpoint.get("region_id") or endpoint.get("region"))))
            # the zones of the catalog's regions are read while Keystone lists its regions (for their order)
            first = self._narrowed(in_catalog)
            keystone, *found = concurrently(self._keystone_regions,
                                             *(lambda n=n: self._compute_zones(n) for n in first))
            early = dict(zip(first, found, strict=True))
            names = self._narrowed([r for r in keystone if not in_catalog or r in in_catalog] or in_catalog)
            zones = {n: early[n] if n in early else self._compute_zones(n) for n in names}
        return [Region(name=n, display_name=n, country=self.options.countries.get(n), zones=zones[n])
                for n in names]

    def _narrowed(self, names: list[str]) -> list[str]:
        """``names`` narrowed to the ``regions`` option (all of them when it names none of them:
        the catalog then reports the unknown ones)."""
        if self.options.regions:
            return [r for r in names if r in self.options.regions] or names
        return names

    def _keystone_regions(self) -> list[str]:
        """Keystone's region ids; none where listing them is an admin call (some clouds) or the
        catalog has no identity endpoint."""
        from keystoneauth1 import exceptions as ksa

        try:
            return [r.id for r in self._get(None, "identity", "/regions", _RegionList).regions]
        except (ksa.Forbidden, ksa.NotFound, ksa.EndpointNotFound):
            return []

    def _compute_zones(self, region: str) -> list[str]:
        answer = self._get(region, "compute", "/os-availability-zone", _ZoneList)
        return [z.zoneName for z in answer.availabilityZoneInfo
                if (z.zoneState or _ZoneState()).available and z.zoneName != "internal"]

    # -- items -----------------------------------------------------------------------------------
    def list_items(self, kind: Kind, region: str) -> Iterable[Item]:
        """Every item of ``kind`` in ``region`` (all pages), as a list."""
        readers: dict[Kind, Callable[[str], list[Item]]] = {
            Kind.COMPUTE: self._flavors, Kind.IMAGE: self._images,
            Kind.STORAGE: self._volume_types, Kind.NETWORK: self._networks,
        }
        reader = readers[kind]
        return self._read(f"list {kind.value} items in region {region}", lambda: reader(region))

    def _region(self, region: str) -> Region:
        for r in self.list_regions():
            if r.name == region:
                return r
        raise BackendNotFoundError(f"region {region!r} is not served", backend=self.backend)

    # compute
    def _flavors(self, region: str) -> list[Item]:
        zones = self._region(region).zones
        # the longest chain first: this thread walks the flavor pages; ECS and the prices need one
        # side thread beside it, or come after it when none is free (the region's storage task
        # reads the prices first, so they are then usually there)
        flavors, (ecs_specs, all_prices) = concurrently(
            lambda: self._flavor_listing(region),
            lambda: (self._ecs_extra_specs(region), self._region_prices(region)))
        prices = all_prices.get("flavor", {})
        return [self._flavor_item(flavor, specs, ecs_specs.get(flavor.id), region, zones,
                                  prices.get(flavor.id) or prices.get(flavor.name))
                for flavor, specs in flavors]

    def _flavor_listing(self, region: str) -> list[tuple[_Flavor, dict[str, str]]]:
        """Flavors with their Nova extra specs: inline at microversion 2.61; a Nova refusing it
        (406) is asked without, and the extra specs of a flavor listed without them are read apart."""
        from keystoneauth1 import exceptions as ksa

        # Nova reads is_public for administrators only (all flavors); a project user gets the public
        # ones and those its project has access to, whatever it asks (compute/flavors.py _get_flavors)
        params = {"is_public": "None", "limit": str(NOVA_MAX_LIMIT)}
        try:
            flavors: list[_Flavor] = self._listing(region, "compute", "/flavors/detail", _FlavorPage, params,
                                                   microversion="2.61")
        except ksa.NotAcceptable:
            flavors = self._listing(region, "compute", "/flavors/detail", _FlavorPage, params)
        out = []
        for flavor in flavors:
            specs = flavor.extra_specs
            if specs is None:
                log.debug("%s: flavor %s in %s listed without extra specs; fetching them", self.backend,
                          flavor.name, region)
                specs = self._get(region, "compute", f"/flavors/{urllib.parse.quote(flavor.id, safe='')}"
                                  "/os-extra_specs", _ExtraSpecs).extra_specs or {}
            out.append((flavor, {str(k): str(v) for k, v in specs.items()}))
        return out

    def _ecs_extra_specs(self, region: str) -> dict[str, dict[str, str]]:
        """Huawei's ``os_extra_specs`` per flavor id, from ECS v1 ``/cloudservers/flavors``, where
        Huawei documents the sale status (``cond:operation:*``) and ``ecs:generation``; empty for a
        cloud whose catalog has no ``ecs`` service (plain OpenStack)."""
        from keystoneauth1 import exceptions as ksa

        try:
            answer = self._get(region, "ecs", "/cloudservers/flavors", _EcsFlavorList)
        except ksa.EndpointNotFound:
            return {}
        return {str(f.id): {str(k): str(v) for k, v in (f.os_extra_specs or {}).items()} for f in answer.flavors}

    def _flavor_item(self, flavor: _Flavor, nova_specs: dict[str, str], ecs_specs: dict[str, str] | None,
                     region: str, zones: list[str], price: Price | None) -> Item:
        # the sale status is read where Huawei documents it (ECS v1 os_extra_specs); Nova extra
        # specs that carry it (other Huawei-based clouds) still count
        specs = {**nova_specs, **(ecs_specs or {})}
        per_zone = zone_sale_status(specs, zones)
        orderable = [z for z, s in per_zone.items() if s in ORDERABLE] if per_zone else list(zones)
        lifecycle = Lifecycle()
        if flavor.disabled:
            lifecycle = Lifecycle(status=LifecycleStatus.END_OF_SALE, reason="flavor disabled")
            orderable = []
        elif per_zone and not orderable:
            states = sorted(set(per_zone.values()))
            lifecycle = Lifecycle(status=LifecycleStatus.END_OF_SALE,
                                  reason=f"not orderable in any zone ({', '.join(states)})")
        arch = _ARCH.get(str(specs.get("capabilities:cpu_arch") or specs.get("hw:cpu_arch") or "").lower())
        sale_status, zone_status = flavor_sale_status(specs, per_zone)
        return Item(kind=Kind.COMPUTE, name=flavor.name, region=region, zones=orderable,
                    family=flavor_family(flavor.name), generation=specs.get("ecs:generation") or None,
                    sale_status=sale_status, zone_status=zone_status,
                    vcpus=flavor.vcpus or None, memory_mib=flavor.ram or None,
                    disk_gib=float(flavor.disk) if flavor.disk else None, gpu=flavor_gpu(specs), architecture=arch,
                    price=price, lifecycle=lifecycle,
                    extras=_flavor_extras(flavor, nova_specs, ecs_specs, per_zone))

    # images
    def _images(self, region: str) -> list[Item]:
        """Public and shared images, active ones, in pages of Glance's largest (its default is 25)."""
        seen: set[str] = set()
        items = []
        listings = concurrently(*(
            lambda v=v: self._listing(region, "image", "/images", _ImagePage,
                                      {"visibility": v, "limit": str(GLANCE_MAX_LIMIT)})
            for v in ("public", "shared")))
        for listing in listings:
            for img in listing:
                if img.id in seen or (img.status and img.status != "active"):
                    continue
                seen.add(img.id)
                items.append(_image_item(img, region))
        return items

    # storage
    def _volume_types(self, region: str) -> list[Item]:
        """Volume types as the configured user reads them: a project user sees only Cinder's
        user-visible extra specs (``RESKEY:availability_zones``…) and no QoS specs, so zones come
        from ``RESKEY:availability_zones`` and IOPS only when QoS specs can be read."""
        from keystoneauth1 import exceptions as ksa

        def zone_names() -> list[str]:
            answer = self._get(region, "volume", "/os-availability-zone", _ZoneList)
            return [z.zoneName for z in answer.availabilityZoneInfo if (z.zoneState or _ZoneState()).available]

        def qos_of(qos: _QosSpecs) -> dict[str, dict[str, str]]:
            answer = self._get(region, "volume", f"/qos-specs/{urllib.parse.quote(qos.id, safe='')}/associations",
                               _QosAssociations)
            specs = {str(k): str(v) for k, v in (qos.specs or {}).items()}
            return {a.id: specs for a in answer.qos_associations if a.association_type == "volume_type"}

        def qos_by_type() -> dict[str, dict[str, str]] | None:
            try:
                specs: list[_QosSpecs] = self._listing(region, "volume", "/qos-specs", _QosPage)
            except (ksa.Forbidden, ksa.NotFound):
                return None  # Cinder's default policy: QoS specs are for administrators
            found: dict[str, dict[str, str]] = {}
            for part in concurrently(*(lambda q=q: qos_of(q) for q in specs)):
                found.update(part)
            return found

        def all_types() -> list[_VolumeType]:
            return self._listing(region, "volume", "/types", _VolumeTypePage, {"limit": str(CINDER_MAX_LIMIT)})

        # the prices first: the compute task of the region, walking its flavor pages meanwhile,
        # then finds them read; the rest (a few requests) on one side thread, or after them
        all_prices, (types, zones, qos_map) = concurrently(
            lambda: self._region_prices(region), lambda: (all_types(), zone_names(), qos_by_type()))
        if qos_map is None:
            log.info("%s: QoS specs in %s are not readable with this user's role (Cinder keeps them for "
                     "administrators): storage IOPS and throughput are left unset", self.backend, region)
        prices = all_prices.get("volume", {})
        return [_volume_type_item(vt, region, zones, qos_map, prices.get(vt.id) or prices.get(vt.name))
                for vt in types]

    # networks
    def _networks(self, region: str) -> list[Item]:
        networks: list[_Network] = self._listing(region, "network", "/networks", _NetworkPage,
                                                 {"router:external": "True"})
        items = []
        for net in networks:
            extras = {k: v for k, v in {"id": net.id, "shared": net.shared, "mtu": net.mtu,
                                        "status": net.status, "is_default": net.is_default}.items()
                      if v is not None}
            items.append(Item(kind=Kind.NETWORK, name=net.name or net.id, region=region,
                              zones=list(net.availability_zones or []), extras=extras))
        return items

    # prices
    def _region_prices(self, region: str) -> dict[str, dict[str, Price]]:
        """CloudKitty flat mappings of a region: ``{"flavor": {id: Price}, "volume": {id: Price}}``."""
        if not self.options.cloudkitty:
            return {}
        with self._key_lock("prices", region):
            if region not in self._prices:
                self._prices[region] = self._load_prices(region)
            return self._prices[region]

    def _load_prices(self, region: str) -> dict[str, dict[str, Price]]:
        """Hashmap services, then the fields of those cloudcat prices, then their mappings: three
        requests one after the other, the fields (and the mappings) of several asked at once."""
        root = "/v1/rating/module_config/hashmap"
        wanted = {"instance": ("flavor", "flavor_id", self.options.cloudkitty_period),
                  "volume.size": ("volume", "volume_type", f"GiB-{self.options.cloudkitty_period}")}
        services = [s for s in self._get(region, "rating", root + "/services", _HashmapServices).services
                    if s.name in wanted]

        def fields_of(svc: _HashmapService) -> list[tuple[str, _HashmapField]]:
            _, field_name, _ = wanted[str(svc.name)]
            answer = self._get(region, "rating", root + "/fields", _HashmapFields, {"service_id": svc.service_id})
            return [(str(svc.name), f) for f in answer.fields if f.name == field_name]

        def mappings_of(service: str, fld: _HashmapField) -> tuple[str, list[_HashmapMapping]]:
            answer = self._get(region, "rating", root + "/mappings", _HashmapMappings, {"field_id": fld.field_id})
            return service, answer.mappings

        fields = [pair for part in concurrently(*(lambda s=s: fields_of(s) for s in services)) for pair in part]
        out: dict[str, dict[str, Price]] = {"flavor": {}, "volume": {}}
        source = f"cloudkitty hashmap ({self.backend}, {region})"
        for service, mappings in concurrently(*(lambda s=s, f=f: mappings_of(s, f) for s, f in fields)):
            kind, _, unit = wanted[service]
            for m in mappings:
                if m.type != "flat" or m.tenant_id not in (None, "", self._project_id()):
                    continue
                try:
                    amount = Decimal(str(m.cost)).quantize(Decimal("1e-8")).normalize()
                except InvalidOperation:
                    continue
                key = str(m.value)
                old = out[kind].get(key)
                # CloudKitty applies the most expensive of several matching flat mappings
                if old is None or amount > old.amount:
                    out[kind][key] = Price(amount=amount, currency=self.options.cloudkitty_currency,
                                           unit=unit, source=source)
        return out

    def _project_id(self) -> str | None:
        session = self._session()
        ref = getattr(session.auth, "auth_ref", None)
        if ref is None:
            ref = session.auth.get_access(session)
        return getattr(ref, "project_id", None)

    def check(self) -> None:
        """Log in and list the regions."""
        self._regions_cache = None
        self.list_regions()


# -- answers ---------------------------------------------------------------------------------------
# What the driver reads of each OpenStack answer, and nothing more: every answer is checked here,
# by parse_answer, so that one of a wrong shape is reported with its request and the field at fault.


class MalformedAnswer(ValueError):
    """An answer that is not JSON, or not of the shape the driver reads; the message names the
    request and the field (``GET …/flavors/detail: flavors[3].vcpus: expected an integer, got 'x'``)."""


def _text_from_number(value: Any) -> Any:
    return str(value) if isinstance(value, int | float) and not isinstance(value, bool) else value


#: Text, also when the API sends the id as a number (ECS flavor ids, some clouds).
_Text = Annotated[str, BeforeValidator(_text_from_number)]
#: A count or a size: never below zero.
_Count = Annotated[int, Field(ge=0)]


class _Answer(BaseModel):
    model_config = ConfigDict(extra="ignore", populate_by_name=True, frozen=True)


AnswerT = TypeVar("AnswerT", bound=_Answer)


class _Link(_Answer):
    href: str
    rel: str | None = None


def _next_link(links: list[_Link] | None) -> str | None:
    return next((link.href for link in links or [] if link.rel == "next"), None)


class _Page(_Answer):
    """One page of a marker-paged listing."""

    def rows(self) -> Sequence[Any]:
        """The page's rows."""
        raise NotImplementedError

    def next_href(self) -> str | None:
        """The next page's link, if the service gave one."""
        return None


class _Region(_Answer):
    id: _Text


class _RegionList(_Answer):
    regions: list[_Region]


class _ZoneState(_Answer):
    available: bool = True


class _Zone(_Answer):
    zoneName: str  # Nova's and Cinder's name
    zoneState: _ZoneState | None = None


class _ZoneList(_Answer):
    availabilityZoneInfo: list[_Zone]


class _Flavor(_Answer):
    id: _Text
    name: str
    vcpus: _Count | None = None
    ram: _Count | None = None
    disk: _Count | None = None
    ephemeral: _Count | None = Field(default=None, alias="OS-FLV-EXT-DATA:ephemeral")
    swap: _Count | None = None
    is_public: bool | None = Field(default=None, alias="os-flavor-access:is_public")
    disabled: bool | None = Field(default=None, alias="OS-FLV-DISABLED:disabled")
    description: str | None = None
    extra_specs: dict[str, Any] | None = None  # from microversion 2.61

    @model_validator(mode="before")
    @classmethod
    def _no_swap_is_empty_text(cls, data: Any) -> Any:
        # below microversion 2.75 Nova says "no swap" with ""
        if isinstance(data, dict) and data.get("swap") == "":
            return {**data, "swap": 0}
        return data


class _FlavorPage(_Page):
    flavors: list[_Flavor]
    flavors_links: list[_Link] | None = None

    def rows(self) -> Sequence[_Flavor]:
        return self.flavors

    def next_href(self) -> str | None:
        return _next_link(self.flavors_links)


class _ExtraSpecs(_Answer):
    extra_specs: dict[str, Any] | None = None


class _EcsFlavor(_Answer):
    id: _Text
    os_extra_specs: dict[str, Any] | None = None


class _EcsFlavorList(_Answer):
    flavors: list[_EcsFlavor]


class _Image(_Answer):
    id: _Text
    name: str | None = None
    status: str | None = None
    visibility: str | None = None
    disk_format: str | None = None
    size: _Count | None = None
    tags: list[str] | None = None
    min_disk: _Count | None = None
    min_ram: _Count | None = None
    # image properties: any JSON value Glance stored
    os_distro: Any = None
    os_version: Any = None
    architecture: Any = None
    hw_architecture: Any = None


class _ImagePage(_Page):
    images: list[_Image]
    next: str | None = None

    def rows(self) -> Sequence[_Image]:
        return self.images

    def next_href(self) -> str | None:
        return self.next


class _VolumeType(_Answer):
    id: _Text
    name: str
    description: str | None = None
    extra_specs: dict[str, Any] | None = None


class _VolumeTypePage(_Page):
    volume_types: list[_VolumeType]
    # Cinder names the next page "volume_type_links" (cinder/api/v2/views/types.py), openstacksdk
    # looks for "volume_types_links": both are read
    volume_type_links: list[_Link] | None = None
    volume_types_links: list[_Link] | None = None

    def rows(self) -> Sequence[_VolumeType]:
        return self.volume_types

    def next_href(self) -> str | None:
        return _next_link(self.volume_type_links or self.volume_types_links)


class _QosSpecs(_Answer):
    id: _Text
    specs: dict[str, Any] | None = None


class _QosPage(_Page):
    qos_specs: list[_QosSpecs]
    qos_specs_links: list[_Link] | None = None

    def rows(self) -> Sequence[_QosSpecs]:
        return self.qos_specs

    def next_href(self) -> str | None:
        return _next_link(self.qos_specs_links)


class _QosAssociation(_Answer):
    id: _Text
    association_type: str | None = None


class _QosAssociations(_Answer):
    qos_associations: list[_QosAssociation]


class _Network(_Answer):
    id: _Text
    name: str | None = None
    shared: bool | None = None
    mtu: _Count | None = None
    status: str | None = None
    is_default: bool | None = None
    availability_zones: list[str] | None = None


class _NetworkPage(_Page):
    networks: list[_Network]
    networks_links: list[_Link] | None = None

    def rows(self) -> Sequence[_Network]:
        return self.networks

    def next_href(self) -> str | None:
        return _next_link(self.networks_links)


class _HashmapService(_Answer):
    service_id: _Text
    name: str | None = None


class _HashmapServices(_Answer):
    services: list[_HashmapService]


class _HashmapField(_Answer):
    field_id: _Text
    name: str | None = None


class _HashmapFields(_Answer):
    fields: list[_HashmapField]


class _HashmapMapping(_Answer):
    type: str | None = None
    tenant_id: str | None = None
    cost: Any = None  # a decimal as text; one that is not is skipped, as CloudKitty would not rate with it
    value: Any = None


class _HashmapMappings(_Answer):
    mappings: list[_HashmapMapping]


#: What a pydantic error type says was expected, by its first word.
_EXPECTED = {"int": "an integer", "float": "a number", "decimal": "a number", "string": "text",
             "bool": "true or false", "dict": "an object", "model": "an object", "list": "a list"}


_UNREAD = object()


def parse_answer(model: type[AnswerT], response: Any) -> AnswerT:
    """The JSON body of ``response`` as ``model``; :class:`MalformedAnswer` naming the request
    and the first field at fault when it is not JSON or not of that shape."""
    url = urllib.parse.urlsplit(str(response.url))
    where = f"{response.request.method} {_without_userinfo(url._replace(query='', fragment='').geturl())}"
    data = getattr(response, "cloudcat_body", _UNREAD)  # parsed once, by the resend hook
    if data is _UNREAD:
        try:
            data = json.loads(response.content)
        except ValueError as exc:
            raise MalformedAnswer(f"{where}: not JSON ({exc})") from exc
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise MalformedAnswer(f"{where}: {_problem(exc)}") from exc


def _problem(exc: ValidationError) -> str:
    """The first error of ``exc`` as ``flavors[3].vcpus: expected an integer, got 'x'``."""
    error = exc.errors(include_url=False)[0]
    path = ""
    for part in error["loc"]:
        path += f"[{part}]" if isinstance(part, int) else f"{'.' if path else ''}{part}"
    got = repr(error.get("input"))
    got = got if len(got) <= 60 else got[:57] + "..."
    kind = error["type"]
    if kind == "missing":
        said = "missing"
    elif kind.split("_")[0] in _EXPECTED:
        said = f"expected {_EXPECTED[kind.split('_')[0]]}, got {got}"
    else:
        said = f"{error['msg'][:1].lower()}{error['msg'][1:]}, got {got}"
    return f"{path or 'the answer'}: {said}"


def _image_item(img: _Image, region: str) -> Item:
    arch = _ARCH.get(str(img.architecture or img.hw_architecture or "").lower())
    extras = {k: v for k, v in {"id": img.id, "visibility": img.visibility, "disk_format": img.disk_format,
                                "size": img.size, "tags": list(img.tags or [])}.items() if v not in (None, [])}
    return Item(kind=Kind.IMAGE, name=img.name or img.id, region=region,
                os_family=(img.os_distro or None) and str(img.os_distro).lower(),
                os_version=str(img.os_version) if img.os_version else None,
                min_disk_gib=float(img.min_disk) if img.min_disk is not None else None,
                min_memory_mib=int(img.min_ram) if img.min_ram is not None else None,
                architecture=arch, extras=extras)


class _RetryAfterTooLong(Exception):
    """A 429 whose Retry-After is longer than ``max_retry_after``: raised from the response hook,
    so that keystoneauth does not sleep it."""

    def __init__(self, response: Any, seconds: float) -> None:
        super().__init__(f"HTTP 429, Retry-After {seconds:g} s is longer than max_retry_after")
        self.response = response


def _malformed_json(response: Any) -> bool:
    """Whether a 2xx answer announced as JSON has a body that does not parse."""
    if not 200 <= response.status_code < 300 or "json" not in response.headers.get("Content-Type", ""):
        return False
    if not response.content:
        return False
    try:
        response.cloudcat_body = json.loads(response.content)  # parse_answer reads it from here
    except ValueError:
        return True
    return False


_USERINFO = re.compile(r"(?<=://)[^/@\s]+@")


def _without_userinfo(text: str) -> str:
    """``text`` with the user and password of any URL in it (``https://user:pw@host``) masked."""
    return _USERINFO.sub("***@", text)


def _bound_token_renewal(auth: Any, requests_session: Any) -> None:
    """Make keystoneauth reuse a token until it (nearly) expires and renew it once per 401.

    keystoneauth renews a token that has less than ``MIN_TOKEN_LIFE_SECONDS`` (120 s) to live
    before every request, so a cloud issuing short-lived tokens (minutes, or a second in a test)
    got a login per request; the margin here is a tenth of the token's life, at most 120 s. And
    of several requests answered 401 at once, only the first renewed the token (``invalidate``
    is false once the token is gone) and the others failed: here each one is sent again, and the
    token is dropped only when it is the one the server refused, not one already renewed (logins
    stay one at a time, under keystoneauth's lock).
    """
    if not hasattr(auth, "get_auth_ref") or not hasattr(auth, "invalidate"):
        return  # a plugin without a token life (admin token, no auth)
    get_auth_ref, invalidate = auth.get_auth_ref, auth.invalidate
    refused = threading.local()  # the token of this thread's last 401 (keystoneauth invalidates in the same thread)

    def note_refusal(response: Any, *args: Any, **kwargs: Any) -> Any:
        if response.status_code == 401:
            refused.token = response.request.headers.get("X-Auth-Token")
        return response

    def renewed(session: Any, **kwargs: Any) -> Any:
        ref = get_auth_ref(session, **kwargs)
        expires, issued = getattr(ref, "expires", None), getattr(ref, "issued", None)
        if expires is not None and issued is not None:
            life = (expires - issued).total_seconds()
            auth.MIN_TOKEN_LIFE_SECONDS = max(0, min(120, int(life / 10)))
        return ref

    def invalidated() -> bool:
        ref = getattr(auth, "auth_ref", None)
        token = getattr(refused, "token", None)
        if ref is None or token is None or token == ref.auth_token:
            invalidate()  # else: the 401 was for a token this one already replaced
        return True

    requests_session.hooks.setdefault("response", []).append(note_refusal)
    auth.get_auth_ref = renewed
    auth.invalidate = invalidated


def zone_sale_status(specs: Mapping[str, str], zones: Sequence[str]) -> dict[str, str]:
    """Huawei sale status of a flavor per zone, from ``cond:operation:status`` / ``cond:operation:az``.

    ``cond:operation:az`` lists ``zone(status)`` pairs; a zone it does not name takes the
    flavor-level ``cond:operation:status``. Empty when the flavor carries neither spec.
    """
    overall = specs.get("cond:operation:status")
    az_spec = specs.get("cond:operation:az")
    if overall is None and az_spec is None:
        return {}
    listed: dict[str, str] = {}
    for part in (az_spec or "").split(","):
        m = re.fullmatch(r"\s*([^()\s]+)\s*\(\s*([^()]*)\s*\)\s*", part)
        if m:
            listed[m.group(1)] = m.group(2).strip().lower()
    default = (overall or "normal").strip().lower()
    out = {z: listed.get(z, default) for z in zones}
    return out


def sale_status_of(state: str | None) -> SaleStatus | None:
    """cloudcat's sale status for a Huawei sale state: ``normal``/``obt``/``promotion`` are
    orderable, ``sellout`` (also ``obt_sellout``) sold out, ``abandon`` withdrawn; ``None`` for
    no state or one it does not know."""
    state = (state or "").strip().lower()
    if state in ORDERABLE:
        return SaleStatus.ORDERABLE
    if state == "abandon":
        return SaleStatus.WITHDRAWN
    if "sellout" in state:
        return SaleStatus.SOLD_OUT
    return None


def flavor_sale_status(specs: Mapping[str, str], per_zone: Mapping[str, str]
                       ) -> tuple[SaleStatus | None, dict[str, SaleStatus]]:
    """(region-wide, per-zone) sale status of a flavor, from ``cond:operation:status`` and its
    per-zone states (:func:`zone_sale_status`). A zone ``cond:operation:az`` lists as orderable
    overrides a flavor-level ``sellout``/``abandon``; zones in an unknown state are left out."""
    zones = {zone: status for zone, state in per_zone.items() if (status := sale_status_of(state)) is not None}
    overall = sale_status_of(specs.get("cond:operation:status"))
    if overall is not None and SaleStatus.ORDERABLE in zones.values():
        overall = SaleStatus.ORDERABLE
    return overall, zones


def flavor_family(name: str) -> str | None:
    """The family of a flavor: its name before the first ``.`` (``s3`` for ``s3.large.2``,
    ``n1`` for ``n1.cw.standard-1``); ``None`` for a name without one."""
    head, dot, _ = name.partition(".")
    return head if dot and head else None


def _flavor_extras(flavor: _Flavor, nova_specs: dict[str, str], ecs_specs: dict[str, str] | None,
                   per_zone: dict[str, str]) -> dict[str, Any]:
    """The ``extras`` of a flavor item: ids, extra specs, Huawei keys under plain names."""
    extras: dict[str, Any] = {
        "id": flavor.id, "is_public": flavor.is_public, "ephemeral_gib": flavor.ephemeral or 0,
        "swap_mib": int(flavor.swap or 0), "extra_specs": nova_specs,
    }
    if ecs_specs is not None:
        extras["os_extra_specs"] = ecs_specs
    specs = {**nova_specs, **(ecs_specs or {})}
    if flavor.description:
        extras["description"] = flavor.description
    if per_zone:
        extras["zone_status"] = per_zone
    for key, name in (("ecs:performancetype", "performance_type"), ("ecs:generation", "generation"),
                      ("cond:operation:status", "sale_status")):
        if key in specs:
            extras[name] = specs[key]
    if not flavor.disk:
        # Nova's disk 0 is not "no disk": the root disk is sized from the image (or a volume)
        extras["root_disk"] = "sized from the image or a boot volume"
    return extras


def flavor_gpu(specs: Mapping[str, str]) -> Gpu | None:
    """GPUs of a flavor from ``pci_passthrough:alias`` (``model:count[,model:count]``) or
    ``resources:VGPU`` (a count of virtual GPUs)."""
    alias = specs.get("pci_passthrough:alias")
    if alias:
        models: list[str] = []
        count = 0.0
        for part in alias.split(","):
            name, _, n = part.strip().partition(":")
            try:
                count += float(n or 1)
            except ValueError:
                continue
            models.append(name)
        if count > 0:
            return Gpu(model="+".join(dict.fromkeys(models)) or None, count=count)
    vgpu = specs.get("resources:VGPU")
    if vgpu:
        try:
            vgpus = float(vgpu)
        except ValueError:
            return None
        if vgpus > 0:
            return Gpu(model=specs.get("trait:CUSTOM_VGPU_MODEL"), count=vgpus)
    return None


def _volume_type_item(vt: _VolumeType, region: str, zones: list[str],
                      qos_map: Mapping[str, dict[str, str]] | None, price: Price | None) -> Item:
    """A storage item from a volume type, its QoS specs (``None``: not readable) and the zones of
    the region. Zones: ``RESKEY:availability_zones`` (the extra spec Cinder shows every user),
    else Huawei's admin-only ``availability-zone`` when the user sees it, else every zone."""
    specs = {str(k): str(v) for k, v in (vt.extra_specs or {}).items()}
    qos = (qos_map or {}).get(vt.id, {})
    merged = {**specs, **qos}
    iops = _number(merged, "total_iops_sec", "qos:total_iops_sec", "iops", "read_iops_sec")
    bytes_sec = _number(merged, "total_bytes_sec", "qos:total_bytes_sec", "read_bytes_sec")
    extras: dict[str, Any] = {"id": vt.id, "extra_specs": specs}
    if qos:
        extras["qos"] = qos
    if qos_map is None:
        extras["unreadable"] = ["qos_specs"]
    if vt.description:
        extras["description"] = vt.description
    type_zones = specs.get("RESKEY:availability_zones") or specs.get("availability-zone")
    item_zones = [z.strip() for z in type_zones.split(",")] if type_zones else zones
    return Item(kind=Kind.STORAGE, name=vt.name, region=region, storage_class=vt.name,
                zones=[z for z in item_zones if z], iops=int(iops) if iops else None,
                throughput_mbps=round(bytes_sec * 8 / 1_000_000, 3) if bytes_sec else None,
                price=price, extras=extras)


def _number(specs: Mapping[str, str], *keys: str) -> float | None:
    for key in keys:
        if key in specs:
            try:
                return float(specs[key])
            except ValueError:
                continue
    return None


def _http_answer(outer: BaseException) -> tuple[BaseException, int | None, Any]:
    """The failure to classify ``outer`` by, its HTTP status and its response (when there was one).

    keystoneauth wraps what went wrong during version discovery (a 429, a timeout) in a
    DiscoveryFailure raised while handling it: the first HTTP answer or timeout found along the
    chain is what counts; the caller keeps the outer message.
    """
    from keystoneauth1 import exceptions as ksa
    from openstack import exceptions as sdk_exc

    answered = (sdk_exc.HttpException, ksa.HttpError)
    exc = next((e for e in _chain(outer)
                if isinstance(e, (*answered, ksa.ConnectTimeout, TimeoutError, _RetryAfterTooLong))), outer)
    response = getattr(exc, "response", None)
    status = None
    if isinstance(exc, answered):
        status = getattr(exc, "status_code", None) or getattr(exc, "http_status", None)
    if status is None and response is not None:
        status = getattr(response, "status_code", None)
    return exc, status if isinstance(status, int) else None, response


def _chain(exc: BaseException) -> Iterator[BaseException]:
    """``exc``, then what caused it or was being handled when it was raised, outward in."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        yield current
        current = current.__cause__ or current.__context__


def _first_line(exc: BaseException, limit: int = 300) -> str:
    text = (str(exc).strip() or type(exc).__name__).splitlines()[0]
    return text if len(text) <= limit else text[:limit].rsplit(" ", 1)[0] + " …"

