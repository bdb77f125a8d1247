"""cloudcat's ``vcd`` driver: VMware Cloud Director, and Cloud Avenue on top of it.

Options::

    backends:
      cloud-avenue:
        driver: vcd
        options:
          url: https://console1.cloudavenue.orange-business.com
          org: cav01ev01ocb0001234
          username: ${CLOUDAVENUE_USERNAME}
          password: ${CLOUDAVENUE_PASSWORD}   # or api_token: ${VCD_API_TOKEN}

**Regions.** A region is where an org's VDCs run. A VDC whose ``networkProviderScope`` is set
belongs to the region of that name (providers set one scope per data centre); every other VDC
belongs to the org's *site*: the ``site`` option when given, else the Cloud Avenue location of the
org (``vdr``, ``chr`` or ``vdr-cha``, from the org-name pattern of its console), else the name of
the Cloud Director site the session reports. Each region is a ``location`` item listing its VDCs.

**What each kind reads.**

* ``compute``: the VM sizing policies assigned to the region's VDCs
  (``/cloudapi/2.0.0/vdcs/{urn}/computePolicies``, or the 1.0.0 API on servers without 2.0.0) as
  *fixed* sizes, vGPU policies with their GPU; and, on Cloud Avenue, each VDC's offer (service
  class, billing model, disponibility class and vCPU speed, from the VDC and its metadata) as a
  *flexible* size named ``<serviceClass>-<billing>-<disponibility>`` (``STD-PAYG-ONE-ROOM``), sized
  from 1 vCPU / 1024 MiB up to what the VDC's allocation holds (at most 256 vCPUs; memory in 4 MiB
  steps). Policies without a CPU count or memory (``System Default``, placement policies) are
  not sizes and are left out.
* ``storage``: storage profiles of the region's VDCs (query ``orgVdcStorageProfile``); Cloud
  Avenue classes get their IOPS, disponibility and the 100-81 920 GB class limits.
* ``image``: vApp templates of every catalog the org sees (query ``vAppTemplate``), with OS family
  and version from the template name (else the guest OS) and the template's size.
* ``network``: org VDC networks and edge gateways of the region's VDCs; on Cloud Avenue, the
  tier-0 classes of service (``VRF_STANDARD`` 300 Mbps…) with their bandwidth.

**Round trips.** Reads that do not depend on one another go side by side, at most
``max_parallel_requests`` at a time, on the task's thread and the side threads every task of a
refresh shares (:data:`cloudcat.driver.SIDE_THREADS`: eight requests at once in all, so that many
backends read at once add no threads): each VDC's metadata (then, on Cloud Avenue, its document)
and compute policies, the compute policies alongside the VDC details, template VMs alongside
templates, edge gateways alongside networks, template documents, and a listing's pages after the
first (128 records a page). A compute read thus waits for the version, the login, the VDC query
and about ``(3 * VDCs) / 8`` more (the VDC details and policies, eight at a time, when no
other read holds the side threads).
"""

from __future__ import annotations

import functools
import logging
import re
import threading
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any, ClassVar, Literal, TypeVar
from urllib.parse import urlsplit

from pydantic import Field, SecretStr, model_validator

from cloudcat.driver import BaseDriver, Capabilities, LoadCache, concurrently, import_sdk
from cloudcat.errors import BackendNotFoundError
from cloudcat.http import HttpOptions
from cloudcat.models import FlexibleSizing, Gpu, Item, Kind, Region

from . import cloudavenue as cav
from .answers import Reading, mapping, sequence

if TYPE_CHECKING:
    from .client import VcdClient

__all__ = ["VcdDriver", "VcdOptions"]

T = TypeVar("T")
U = TypeVar("U")


class VcdOptions(HttpOptions):
    """Options of the ``vcd`` driver.

    Timeouts, retries and TLS verification come from :class:`cloudcat.http.HttpOptions`.
    """

    url: str = Field(description="Cloud Director endpoint, e.g. https://console1.cloudavenue.orange-business.com")
    org: str = Field(min_length=1, description="Organisation (tenant) name.")
    username: str | None = Field(default=None, description="User name (without @org).")
    password: SecretStr | None = Field(default=None, description="Password of `username`.")
    api_token: SecretStr | None = Field(default=None, description="API token (refresh token), instead of a password.")
    api_version: str | None = Field(default=None, description="Pin the API version instead of negotiating.")
    site: str | None = Field(default=None, description="Region name of VDCs without a network provider scope.")
    site_country: str = Field(default="FR", pattern=r"^[A-Z]{2}$", description="Country of the regions.")
    page_size: int = Field(default=128, ge=1, le=128, description="Page size asked for on every listing.")
    max_parallel_requests: int = Field(
        default=8, ge=1, le=64,
        description="Requests one read sends side by side: per-VDC details and compute policies, vApp "
                    "template documents, and the pages after the first of a listing (1: one after another). "
                    "The side threads are shared by the whole process, so no read sends more than 8 at once.")
    query_format: Literal["json", "xml"] = Field(default="json", description="Wire format of /api/query.")
    cache_seconds: float = Field(default=60.0, ge=0, description="How long listings are reused across calls.")

    @model_validator(mode="after")
    def _credentials(self) -> VcdOptions:
        if self.api_token is None and (self.username is None or self.password is None):
            raise ValueError("give either username and password, or api_token")
        return self


@dataclass
class _Vdc:
    name: str
    href: str
    uuid: str
    region: str
    record: dict[str, Any]
    metadata: dict[str, str] = field(default_factory=dict)
    document: dict[str, Any] | None = None

    @property
    def urn(self) -> str:
        return f"urn:vcloud:vdc:{self.uuid}"


class VcdDriver(BaseDriver):
    """Catalog items of a VMware Cloud Director org (Cloud Avenue included)."""

    name = "vcd"
    capabilities = Capabilities(kinds=frozenset(Kind), zones=False, prices=False, paging=True,
                                flexible_compute=True, lifecycle=False)
    Options = VcdOptions
    options: VcdOptions
    quiet_loggers: ClassVar[Mapping[str, int]] = {"httpx": logging.WARNING}

    def __init__(self, options: Any = None, *, backend: str | None = None) -> None:
        super().__init__(options, backend=backend)
        self._client_lock = threading.Lock()
        self._client: VcdClient | None = None
        self._memo = LoadCache()
        self._policy_api = "2.0.0"
        self._policy_api_lock = threading.Lock()
        self._policy_api_known = False

    # -- plumbing -----------------------------------------------------------------------------
    @property
    def client(self) -> VcdClient:
        """The REST client (created on first use)."""
        with self._client_lock:
            if self._client is None:
                # the HTTP library is imported on first use, with an install hint when missing
                import_sdk("httpx", "httpx")
                from .client import Credentials, VcdClient

                o = self.options
                creds = Credentials(org=o.org, username=o.username,
                                    password=o.password.get_secret_value() if o.password else None,
                                    api_token=o.api_token.get_secret_value() if o.api_token else None)
                self._client = VcdClient(o.url, creds, backend=self.backend, http=o, api_version=o.api_version,
                                         page_size=o.page_size, max_parallel=o.max_parallel_requests)
            return self._client

    def secrets(self) -> list[str]:
        """Option secrets and the bearer tokens issued during this driver's life."""
        found = super().secrets()
        if self._client is not None:
            found += self._client.secrets()
        return found

    def __enter__(self) -> VcdDriver:
        return self

    def release_connections(self, *, idle: bool = False) -> None:
        """Close the connections of the Cloud Director client (see
        :meth:`~cloudcat.driver.BaseDriver.release_connections`): the session stays, and the
        connections reopen when next used. The refresh calls it once the backend is read, so
        however many backends it reads, the sockets follow its concurrency."""
        super().release_connections(idle=idle)
        client = self._client
        if client is not None:
            client.release_connections(idle=idle)

    def close(self) -> None:
        """Log out and close connections."""
        with self._client_lock:
            client, self._client = self._client, None
        if client is not None:
            client.logout()

    def _cached(self, key: str, load: Callable[[], T]) -> T:
        """``load()``, reused for ``cache_seconds`` (one load at a time per key)."""
        return self._memo.get(key, load, self.options.cache_seconds)

    def _side_by_side(self, call: Callable[[T], U], inputs: Sequence[T]) -> list[U]:
        """``call`` on each input, at most ``max_parallel_requests`` at a time; results in input order.

        The reads of an org's VDCs (or templates) do not depend on one another: run side by side,
        32 VDCs cost a few round trips instead of 32 (the HTTP client is thread-safe). They run on
        this thread and the side threads a whole refresh shares (:func:`cloudcat.driver.concurrently`),
        so however many backends and tasks read at once, the threads stay bounded.
        """
        if self.options.max_parallel_requests <= 1 or len(inputs) <= 1:
            return [call(value) for value in inputs]
        return concurrently(*(functools.partial(call, value) for value in inputs),
                            at_most=self.options.max_parallel_requests)

    def _both(self, first: Callable[[], T], second: Callable[[], U]) -> tuple[T, U]:
        """``first()`` and ``second()``, two reads that do not depend on each other, at once
        (one after the other when ``max_parallel_requests`` is 1)."""
        if self.options.max_parallel_requests <= 1:
            return first(), second()
        one, two = concurrently(first, second)
        return one, two

    # -- inventory ----------------------------------------------------------------------------
    def _site(self) -> tuple[str, str | None]:
        """Region name (and display name) of VDCs without a network provider scope."""
        if self.options.site:
            return self.options.site, None
        console = cav.console_for_org(self.options.org)
        if console is not None:
            return console.location, f"Cloud Avenue {console.site}"
        with Reading("GET /cloudapi/1.0.0/sessions/current", self.backend).at("site"):
            site = mapping(mapping(self.client.session_info(), "session").get("site"), "site")
            name = str(site.get("name") or self.options.org)
        return _slug(name), name

    def _vdcs(self) -> list[_Vdc]:
        """The org's VDCs with their details (metadata; the VDC document of a Cloud Avenue VDC)."""
        return self._cached("vdcs", self._load_vdcs)

    def _listed_vdcs(self) -> list[_Vdc]:
        """The org's VDCs as the ``orgVdc`` query lists them, without details (one request)."""
        return self._cached("vdc-records", self._query_vdcs)

    def _query_vdcs(self) -> list[_Vdc]:
        client = self.client
        site = None
        vdcs = []
        with Reading("GET /api/query?type=orgVdc", self.backend) as reading:
            for i, record in enumerate(client.query("orgVdc", fmt=self.options.query_format)):
                reading.at(f"record[{i}]")
                href = str(record.get("href", ""))
                uuid = href.rstrip("/").rsplit("/", 1)[-1]
                scope = str(record.get("networkProviderScope") or "").strip()
                if not scope and site is None:
                    site = self._site()[0]
                vdcs.append(_Vdc(name=str(record.get("name", uuid)), href=href, uuid=uuid,
                                 region=scope or site or "", record=record))
        return vdcs

    def _load_vdcs(self) -> list[_Vdc]:
        return self._side_by_side(self._with_details, self._listed_vdcs())

    def _with_details(self, listed: _Vdc) -> _Vdc:
        """A copy of ``listed`` with its metadata and, for a Cloud Avenue VDC, its document."""
        vdc = replace(listed, metadata=self._metadata(listed))
        if "vdcServiceClass" in vdc.metadata:
            with Reading(f"GET /api/vdc/{vdc.uuid}", self.backend):
                vdc.document = mapping(self.client.get_json(f"/api/vdc/{vdc.uuid}"), "Vdc")
        return vdc

    def _metadata(self, vdc: _Vdc) -> dict[str, str]:
        path = f"/api/vdc/{vdc.uuid}/metadata"
        body = self.client.get_json(path)
        out: dict[str, str] = {}
        with Reading(f"GET {path}", self.backend) as reading:
            for i, entry in enumerate(sequence(mapping(body, "Metadata").get("metadataEntry"), "metadataEntry")):
                reading.at(f"metadataEntry[{i}]")
                if not isinstance(entry, dict) or "key" not in entry:
                    continue
                typed = entry.get("typedValue")
                value = typed.get("value") if isinstance(typed, dict) else entry.get("value")
                if value is not None:
                    out[str(entry["key"])] = str(value)
        return out

    def _is_cloud_avenue(self) -> bool:
        return cav.console_for_org(self.options.org) is not None or any(
            "vdcServiceClass" in v.metadata for v in self._vdcs())

    def _in_region(self, region: str) -> list[_Vdc]:
        return [v for v in self._vdcs() if v.region == region]

    # -- BaseDriver ---------------------------------------------------------------------------
    def list_regions(self) -> Sequence[Region]:
        """One region per network provider scope, plus the org's site."""
        regions: dict[str, Region] = {}
        site_name, site_display = (None, None)
        for vdc in self._vdcs():
            if vdc.region not in regions:
                display = None
                if not vdc.record.get("networkProviderScope"):
                    if site_name is None:
                        site_name, site_display = self._site()
                    display = site_display
                with Reading("GET /api/query?type=orgVdc", self.backend).at(f"{vdc.name}.networkProviderScope"):
                    regions[vdc.region] = Region(name=vdc.region, display_name=display,
                                                 country=self.options.site_country)
        return list(regions.values())

    def list_locations(self, region: str) -> list[Item]:
        """The region, with its VDCs (and their Cloud Avenue classes) in ``extras``."""
        items = super().list_locations(region)
        vdcs = self._in_region(region)
        for item in items:
            item.extras["org"] = self.options.org
            item.extras["vdcs"] = [{"name": v.name, "id": v.urn, **{k: v.metadata[k] for k in cav.METADATA_KEYS
                                                                   if k in v.metadata}} for v in vdcs]
        return items

    def list_items(self, kind: Kind, region: str) -> Iterable[Item]:
        """Items of ``kind`` in ``region``."""
        if kind == Kind.COMPUTE:
            return self._compute(region)
        vdcs = self._in_region(region)
        if not vdcs:
            raise self._no_region(region)
        if kind == Kind.STORAGE:
            return self._storage(region, vdcs)
        if kind == Kind.IMAGE:
            return self._images(region)
        if kind == Kind.NETWORK:
            return self._networks(region, vdcs)
        return []

    def check(self) -> None:
        """Negotiate the version, log in and read the session."""
        self.client.session_info()

    def _no_region(self, region: str) -> BackendNotFoundError:
        return BackendNotFoundError(f"no region {region!r} in org {self.options.org!r}", backend=self.backend)

    # -- compute ------------------------------------------------------------------------------
    def _compute(self, region: str) -> list[Item]:
        """Sizing policies and flexible offers of ``region``'s VDCs.

        The policies need only the VDC listing, the flexible offers the VDCs' details: both are
        read at once, so the chain is the listing, then the longer of the two fan-outs.
        """
        listed = [v for v in self._listed_vdcs() if v.region == region]
        if not listed:
            raise self._no_region(region)
        vdcs, read = self._both(lambda: self._in_region(region),
                                lambda: self._side_by_side(self._policies_of, listed))
        return [*self._sizing_policies(region, listed, read), *self._flexible(region, vdcs)]

    def _policies_of(self, vdc: _Vdc) -> tuple[str, list[dict[str, Any]]]:
        """The compute policies of ``vdc`` and the API version they were read with."""
        def load() -> tuple[str, list[dict[str, Any]]]:
            if not self._policy_api_known:
                # the first read finds out whether the server has the 2.0.0 API; reads started
                # meanwhile wait for it rather than each meeting the same 404
                with self._policy_api_lock:
                    if not self._policy_api_known:
                        try:
                            return self._read_policies(vdc)
                        finally:
                            self._policy_api_known = True
            return self._read_policies(vdc)

        return self._cached(f"policies:{vdc.uuid}", load)

    def _read_policies(self, vdc: _Vdc) -> tuple[str, list[dict[str, Any]]]:
        client = self.client
        if self._policy_api == "2.0.0":
            try:
                return "2.0.0", list(client.openapi_list(f"/cloudapi/2.0.0/vdcs/{vdc.urn}/computePolicies"))
            except BackendNotFoundError:
                self._policy_api = "1.0.0"  # a server without the 2.0.0 API
        return "1.0.0", list(client.openapi_list(f"/cloudapi/1.0.0/vdcs/{vdc.urn}/computePolicies"))

    def _sizing_policies(self, region: str, vdcs: list[_Vdc],
                         read: list[tuple[str, list[dict[str, Any]]]]) -> list[Item]:
        items: dict[str, Item] = {}
        for vdc, (api, policies) in zip(vdcs, read, strict=True):
            with Reading(f"GET /cloudapi/{api}/vdcs/{vdc.urn}/computePolicies", self.backend) as reading:
                for i, p in enumerate(policies):
                    reading.at(f"values[{i}]")
                    pid = str(p.get("id", p.get("name")))
                    if pid in items:
                        items[pid].extras["vdcs"].append(vdc.name)
                        continue
                    item = _policy_item(p, api, region, self.options.site_country)
                    if item is not None:
                        item.extras["vdcs"] = [vdc.name]
                        items[pid] = item
        return list(items.values())

    def _flexible(self, region: str, vdcs: list[_Vdc]) -> list[Item]:
        groups: dict[str, list[Item]] = {}
        for vdc in vdcs:
            with Reading(f"GET /api/vdc/{vdc.uuid}", self.backend).at("computeCapacity"):
                item = _flexible_item(vdc, region, self.options.site_country)
            if item is not None:
                groups.setdefault(item.name, []).append(item)
        out = []
        for name, same in groups.items():
            by_speed: dict[Any, list[Item]] = {}
            for item in same:
                by_speed.setdefault(item.extras["vcpu_mhz"], []).append(item)
            for speed, group in by_speed.items():
                merged = _merge_flexible(group)
                if len(by_speed) > 1:
                    merged.name = f"{name}-{speed}MHZ"
                out.append(merged)
        return out

    # -- storage ------------------------------------------------------------------------------
    def _storage(self, region: str, vdcs: list[_Vdc]) -> list[Item]:
        records = self._cached("profiles", lambda: list(
            self.client.query("orgVdcStorageProfile", fmt=self.options.query_format)))
        hrefs = {v.href for v in vdcs}
        names = {v.name for v in vdcs}
        cloud_avenue = self._is_cloud_avenue()
        items: dict[str, Item] = {}
        with Reading("GET /api/query?type=orgVdcStorageProfile", self.backend) as reading:
            for i, r in enumerate(records):
                reading.at(f"record[{i}]")
                if (r.get("vdc") not in hrefs and r.get("vdcName") not in names) or r.get("isEnabled") is False:
                    continue
                name = str(r.get("name") or "")
                if name in items:
                    _add_profile(items[name].extras, r)
                elif name:
                    items[name] = _storage_item(r, region, self.options.site_country, cloud_avenue)
        return list(items.values())

    # -- images -------------------------------------------------------------------------------
    def _images(self, region: str) -> list[Item]:
        records, vms = self._both(lambda: self._cached("templates", lambda: list(
            self.client.query("vAppTemplate", fmt=self.options.query_format))), self._template_vms)
        usable = [r for r in records if r.get("isExpired") is not True and r.get("isEnabled") is not False
                  and r.get("name")]
        disks = self._template_disks([str(r.get("href") or "") for r in usable])
        counts: dict[str, int] = {}
        for r in usable:
            counts[str(r["name"])] = counts.get(str(r["name"]), 0) + 1
        items = []
        seen: set[str] = set()
        with Reading("GET /api/query?type=vAppTemplate", self.backend) as reading:
            for i, r in enumerate(usable):
                reading.at(f"record[{i}]")
                name = str(r["name"])
                if counts[name] > 1:
                    name = f"{r.get('catalogName', '')}/{name}"
                if name in seen:
                    continue
                seen.add(name)
                href = str(r.get("href") or "")
                items.append(_image_item(r, vms.get(href, []), disks.get(href), name, region,
                                         self.options.site_country))
        return items

    def _template_vms(self) -> dict[str, list[dict[str, Any]]]:
        """The VMs of every vApp template (query ``vm``, ``isVAppTemplate==true``) by template href:
        their CPUs, memory and guest OS (the ``vAppTemplate`` record has none of them)."""
        records = self._cached("template-vms", lambda: list(
            self.client.query("vm", filter="isVAppTemplate==true", fmt=self.options.query_format)))
        by_template: dict[str, list[dict[str, Any]]] = {}
        with Reading("GET /api/query?type=vm", self.backend) as reading:
            for i, r in enumerate(records):
                reading.at(f"record[{i}].container")
                by_template.setdefault(str(r.get("container") or ""), []).append(r)
        return by_template

    def _template_disks(self, hrefs: list[str]) -> dict[str, _Hardware]:
        """Each template's VM hardware from its document (``GET /api/vAppTemplate/{id}``), read side
        by side: the disk sizes are in no query record."""
        wanted = [h for h in hrefs if h]
        return dict(zip(wanted, self._side_by_side(self._template_hardware, wanted), strict=True))

    def _template_hardware(self, href: str) -> _Hardware:
        path = urlsplit(href).path

        def load() -> _Hardware:
            doc = self.client.get_json(path)
            with Reading(f"GET {path}", self.backend) as reading:
                return _hardware(doc, reading)

        return self._cached(f"template:{path}", load)

    # -- networks -----------------------------------------------------------------------------
    def _networks(self, region: str, vdcs: list[_Vdc]) -> list[Item]:
        client = self.client
        urns = {v.urn for v in vdcs}
        country = self.options.site_country
        networks, edges = self._both(
            lambda: self._cached("networks", lambda: list(client.openapi_list("/cloudapi/1.0.0/orgVdcNetworks"))),
            lambda: self._cached("edges", lambda: list(client.openapi_list("/cloudapi/1.0.0/edgeGateways"))))
        items: list[Item] = []
        with Reading("GET /cloudapi/1.0.0/orgVdcNetworks", self.backend) as reading:
            for i, n in enumerate(networks):
                reading.at(f"values[{i}]")
                if _owner(n) in urns:
                    items.append(_network_item(n, region, country))
        with Reading("GET /cloudapi/1.0.0/edgeGateways", self.backend) as reading:
            for i, e in enumerate(edges):
                reading.at(f"values[{i}]")
                if _owner(e) in urns:
                    items.append(_edge_item(e, region, country))
        if any("vdcServiceClass" in v.metadata for v in vdcs):
            items += [_tier0_item(c, region, country) for c in cav.EDGE_CLASSES]
        return items


# -- mapping (pure functions) ------------------------------------------------------------------
def _policy_gpu(p: dict[str, Any], profiles: list[dict[str, Any]]) -> Gpu | None:
    """The GPU of a vGPU policy: the first profile's name, the profiles' counts summed."""
    if not p.get("isVgpuPolicy") or not profiles:
        return None
    first = profiles[0]
    profile = mapping(first.get("profile"), "vgpuProfiles[0].profile")
    model = profile.get("name") if profile else first.get("name")
    count = sum(float(v.get("count") or 1) for v in profiles)
    return Gpu(model=str(model) if model else None, count=count)


def _policy_item(p: dict[str, Any], api: str, region: str, country: str) -> Item | None:
    """A fixed compute item from a VM sizing policy; ``None`` for a policy that sets no size."""
    cpus, memory = _as_int(p.get("cpuCount")), _as_int(p.get("memory"))
    if not cpus or not memory or cpus < 1 or memory < 1:
        return None
    if p.get("policyType") not in (None, "VdcVmPolicy"):
        return None  # Kubernetes policies size nodes of a cluster, not VMs
    profiles = [v for v in sequence(p.get("vgpuProfiles"), "vgpuProfiles") if isinstance(v, dict)]
    vgpu = [(mapping(v.get("profile"), "vgpuProfiles[].profile").get("name"), v.get("count")) for v in profiles]
    return Item(kind=Kind.COMPUTE, name=str(p["name"]), display_name=p.get("description") or None,
                region=region, country=country, vcpus=cpus, memory_mib=memory, gpu=_policy_gpu(p, profiles),
                extras={"policy_id": p.get("id"), "cpu_speed_mhz": p.get("cpuSpeed"),
                        "cores_per_socket": p.get("coresPerSocket"), "compute_policy_api": api,
                        "vgpu_profiles": vgpu or None})


def _vdc_speed(document: dict[str, Any]) -> int | None:
    for key, value in document.items():
        if key.lower() == "vcpuinmhz2":
            return _as_int(value)
    return None


def _capacity(vdc: _Vdc, part: str, record_key: str) -> int | None:
    """A VDC's CPU (MHz) or memory (MB) limit, else allocation, from its document, else its record."""
    capacity = mapping(mapping(vdc.document, "Vdc").get("computeCapacity"), "computeCapacity")
    found = mapping(capacity.get(part), f"computeCapacity.{part}")
    return _as_int(found.get("limit")) or _as_int(found.get("allocated")) or _as_int(vdc.record.get(record_key))


def _flexible_sizing(speed: int | None, cpu_mhz: int | None, mem_mb: int | None) -> FlexibleSizing:
    vcpus_max = cav.MAX_VM_CPUS
    if speed and speed > 0 and cpu_mhz and cpu_mhz > 0:
        vcpus_max = max(1, min(cav.MAX_VM_CPUS, cpu_mhz // speed))
    step = cav.VM_MEMORY_STEP_MIB
    memory_max = (mem_mb // step) * step if mem_mb and mem_mb >= step else 5120 * 1024
    return FlexibleSizing(vcpus_min=1, vcpus_max=vcpus_max, memory_mib_min=min(1024, memory_max),
                          memory_mib_max=memory_max, memory_step_mib=step)


def _flexible_item(vdc: _Vdc, region: str, country: str) -> Item | None:
    """The Cloud Avenue offer of one VDC as a flexible compute item."""
    meta = vdc.metadata
    service = meta.get("vdcServiceClass")
    if not service:
        return None
    billing = meta.get("vdcBillingModel", "UNKNOWN")
    disponibility = meta.get("vdcDisponibilityClass", "UNKNOWN")
    doc = mapping(vdc.document, "Vdc")
    speed = _vdc_speed(doc)
    cpu_mhz, mem_mb = _capacity(vdc, "cpu", "cpuLimitMhz"), _capacity(vdc, "memory", "memoryLimitMB")
    sizing = _flexible_sizing(speed, cpu_mhz, mem_mb)
    return Item(
        kind=Kind.COMPUTE, name=f"{service}-{billing}-{disponibility}", region=region, country=country,
        family=service, display_name=f"{service} {billing} {disponibility}" + (f", vCPU {speed} MHz" if speed else ""),
        vcpus=sizing.vcpus_max, memory_mib=sizing.memory_mib_max, architecture="x86_64", flexible=sizing,
        extras={"offer": "cloud-avenue-vdc", "service_class": service, "billing_model": billing,
                "storage_billing_model": meta.get("vdcStorageBillingModel"),
                "disponibility_class": disponibility, "vcpu_mhz": speed, "cpu_allocated_mhz": cpu_mhz,
                "memory_allocated_mib": mem_mb, "allocation_model": doc.get("allocationModel"),
                "vdcs": [vdc.name]})


def _merge_flexible(items: list[Item]) -> Item:
    """VDCs selling the same offer in one region: one item, the largest ranges, every VDC named."""
    first = items[0].model_copy(deep=True)
    for other in items[1:]:
        assert first.flexible is not None and other.flexible is not None
        first.flexible.vcpus_max = max(first.flexible.vcpus_max, other.flexible.vcpus_max)
        first.flexible.memory_mib_max = max(first.flexible.memory_mib_max, other.flexible.memory_mib_max)
        first.vcpus, first.memory_mib = first.flexible.vcpus_max, first.flexible.memory_mib_max
        first.extras["vdcs"] += other.extras["vdcs"]
    return first


def _add_profile(extras: dict[str, Any], r: dict[str, Any]) -> None:
    """A storage profile of a further VDC: its VDC named, its limit added."""
    vdc_name = str(r.get("vdcName", ""))
    extras["vdcs"].append(vdc_name)
    extras["limit_mb"] += _as_int(r.get("storageLimitMB")) or 0
    if r.get("isDefaultStorageProfile"):
        extras["default_in"].append(vdc_name)


def _storage_item(r: dict[str, Any], region: str, country: str, cloud_avenue: bool) -> Item:
    name = str(r["name"])
    iops_limit = _as_int(r.get("iopsLimit")) or 0
    vdc_name = str(r.get("vdcName", ""))
    extras: dict[str, Any] = {"vdcs": [vdc_name], "limit_mb": _as_int(r.get("storageLimitMB")) or 0,
                              "default_in": [vdc_name] if r.get("isDefaultStorageProfile") else []}
    sc = cav.parse_storage_class(name) if cloud_avenue else None
    if sc is None:
        return Item(kind=Kind.STORAGE, name=name, region=region, country=country, storage_class=name,
                    iops=iops_limit or None, extras=extras)
    extras.update({"disponibility_class": sc.disponibility, "service_classes": list(sc.service_classes),
                   "custom": sc.customer is not None, "customer": sc.customer})
    return Item(kind=Kind.STORAGE, name=name, region=region, country=country, storage_class=sc.base,
                iops=iops_limit or sc.iops, min_size_gib=cav.STORAGE_MIN_GIB, max_size_gib=cav.STORAGE_MAX_GIB,
                display_name=f"{sc.base} {sc.disponibility} ({iops_limit or sc.iops} IOPS)", extras=extras)


_OS_FAMILIES = {
    "debian": "debian", "ubuntu": "ubuntu", "centos": "centos", "rocky": "rocky", "rockylinux": "rocky",
    "almalinux": "almalinux", "alma": "almalinux", "rhel": "rhel", "redhat": "rhel", "windows": "windows",
    "sles": "sles", "suse": "sles", "opensuse": "opensuse", "oracle": "oracle", "oraclelinux": "oracle",
    "fedora": "fedora", "freebsd": "freebsd",
}


def guess_os(name: str, guest_os: str | None = None) -> tuple[str | None, str | None]:
    """OS family and version from a template name (``UBUNTU_22.04``), else its guest OS id."""
    tokens = [t for t in re.split(r"[_\-\s]+", name.lower()) if t]
    for i, token in enumerate(tokens):
        match = re.match(r"^([a-z]+?)(\d+(?:\.\d+)*)?$", token)
        if match and match[1] in _OS_FAMILIES:
            version = match[2]
            if version is None:
                version = next((t for t in tokens[i + 1:] if re.fullmatch(r"\d+(\.\d+)*", t)), None)
            return _OS_FAMILIES[match[1]], version
    if guest_os:
        stem = re.sub(r"_?(64)?Guest$", "", guest_os)
        match = re.match(r"^([a-zA-Z]+?)(\d+)?(?:srv|Server|_|$)", stem)
        if match and match[1].lower() in _OS_FAMILIES:
            return _OS_FAMILIES[match[1].lower()], match[2]
    return None, None


@dataclass(frozen=True)
class _Hardware:
    """What a vApp template document says of its VMs (their ``VmSpecSection``)."""

    disk_mb: int | None = None
    os_type: str | None = None


def _spec_sections(doc: Any, reading: Reading) -> Iterator[dict[str, Any]]:
    vms = sequence(mapping(mapping(doc, "VAppTemplate").get("children"), "children").get("vm"), "children.vm")
    for i, vm in enumerate(vms):
        reading.at(f"children.vm[{i}].section")
        for section in sequence(mapping(vm, "vm").get("section"), "section"):
            if isinstance(section, dict) and section.get("_type") == "VmSpecSectionType":
                yield section


def _hardware(doc: Any, reading: Reading) -> _Hardware:
    """Disk total and guest OS id of a vApp template document (JSON), from each VM's
    ``VmSpecSection`` (``DiskSection.DiskSettings[].SizeMb``, ``OsType``)."""
    total, os_type = 0, None
    for section in _spec_sections(doc, reading):
        disks = mapping(section.get("diskSection"), "VmSpecSection.diskSection")
        for disk in sequence(disks.get("diskSettings"), "VmSpecSection.diskSection.diskSettings"):
            reading.at("VmSpecSection.diskSection.diskSettings[].sizeMb")
            size = _as_int(mapping(disk, "diskSettings[]").get("sizeMb"))
            if size is None or size < 0:
                raise ValueError(f"not a size in MB: {str(disk.get('sizeMb'))[:40]!r}")
            total += size
        os_type = os_type or (str(section["osType"]) if section.get("osType") else None)
    return _Hardware(disk_mb=total or None, os_type=os_type)


def _template_guest(r: dict[str, Any], vms: list[dict[str, Any]],
                    hardware: _Hardware) -> tuple[str | None, str | None, str | None, bool]:
    """OS family, version, guest OS id (else name) and whether 64-bit, from the template's name,
    its document's ``OsType`` and its VMs' ``guestOs``."""
    guest_name = next((str(v["guestOs"]) for v in vms if v.get("guestOs")), None)
    guest = hardware.os_type or guest_name
    family, version = guess_os(str(r["name"]), guest)
    if family is None and guest_name:
        family, version = guess_os(guest_name)
    x64 = "x64" in str(r["name"]).lower() or any("64" in g for g in (guest, guest_name) if g)
    return family, version, guest, x64


def _image_item(r: dict[str, Any], vms: list[dict[str, Any]], hardware: _Hardware | None, name: str,
                region: str, country: str) -> Item:
    """An image from a ``vAppTemplate`` record, its VMs' ``vm`` records (CPUs, memory, guest OS)
    and its document (disks)."""
    hardware = hardware or _Hardware()
    family, version, guest, x64 = _template_guest(r, vms, hardware)
    memory = max((_as_int(v.get("memoryMB")) or 0 for v in vms), default=0)
    cpus = max((_as_int(v.get("numberOfCpus")) or 0 for v in vms), default=0)
    return Item(kind=Kind.IMAGE, name=name, display_name=r.get("description") or None, region=region,
                country=country, os_family=family, os_version=version,
                architecture="x86_64" if x64 else None,
                min_disk_gib=round(hardware.disk_mb / 1024, 3) if hardware.disk_mb else None,
                min_memory_mib=memory or None,
                extras={"catalog": r.get("catalogName"), "published": r.get("isPublished"),
                        "owner": r.get("ownerName"), "guest_os": guest, "cpus": cpus or None,
                        "href": r.get("href"), "status": r.get("status")})


def _owner(value: dict[str, Any]) -> str | None:
    """URN of the VDC owning a network or edge gateway (``ownerRef``, else ``orgVdc``)."""
    return _ref_id(value.get("ownerRef")) or _ref_id(value.get("orgVdc"))


def _network_item(n: dict[str, Any], region: str, country: str) -> Item:
    subnets = sequence(mapping(n.get("subnets"), "subnets").get("values"), "subnets.values")
    cidrs = [f"{s.get('gateway')}/{s.get('prefixLength')}" for s in subnets if isinstance(s, dict)]
    router = mapping(mapping(n.get("connection"), "connection").get("routerRef"), "connection.routerRef")
    return Item(kind=Kind.NETWORK, name=str(n.get("name")), display_name=n.get("description") or None,
                region=region, country=country, extras={
                    "network_type": "org-vdc-network", "type": n.get("networkType"), "id": n.get("id"),
                    "gateway_cidrs": cidrs, "edge_gateway": router.get("name"),
                    "vdc": mapping(n.get("ownerRef") or n.get("orgVdc"), "ownerRef").get("name")})


def _edge_item(e: dict[str, Any], region: str, country: str) -> Item:
    uplinks = [u.get("uplinkName") for u in sequence(e.get("edgeGatewayUplinks"), "edgeGatewayUplinks")
               if isinstance(u, dict)]
    return Item(kind=Kind.NETWORK, name=str(e.get("name")), display_name=e.get("description") or None,
                region=region, country=country, extras={
                    "network_type": "edge-gateway", "id": e.get("id"), "uplinks": uplinks,
                    "vdc": mapping(e.get("ownerRef") or e.get("orgVdc"), "ownerRef").get("name")})


def _tier0_item(c: cav.EdgeClass, region: str, country: str) -> Item:
    return Item(kind=Kind.NETWORK, name=c.name, region=region, country=country, bandwidth_mbps=c.bandwidth_mbps,
                display_name=f"Internet access {c.name} ({c.bandwidth_mbps} Mbps)",
                extras={"network_type": "tier0-class-of-service", "rate_limits_mbps": list(c.rate_limits_mbps)})


def _ref_id(ref: Any) -> str | None:
    return str(ref.get("id")) if isinstance(ref, dict) and ref.get("id") else None


def _as_int(value: Any) -> int | None:
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float):
        return int(value)
    try:
        return int(str(value).strip())
    except ValueError:
        return None


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-") or "default"
