"""cloudcat's ``vsphere`` driver: a plain VMware vCenter (no Cloud Director), on pyvmomi.

Options::

    backends:
      private:
        driver: vsphere
        options:
          host: vcenter.example.com
          user: ${VSPHERE_USER}
          password: ${VSPHERE_PASSWORD}
          verify: /etc/ssl/vcenter-ca.pem      # true (default), false, or a CA bundle
          datacenters: [PAR-DC1]               # default: every datacenter
          sizes:                               # fixed compute sizes sold on this cloud
            - {name: small, vcpus: 2, memory_mib: 4096}
            - {name: large, vcpus: 8, memory_mib: 32768}

``host``, ``user``, ``password`` and ``verify`` default to what govc users already set:
``GOVC_URL`` (``https://user:password@host/sdk`` or a bare host), ``GOVC_USERNAME``,
``GOVC_PASSWORD`` and ``GOVC_INSECURE``.

**Regions and zones.** A region is a datacenter (its country from ``countries`` or ``country``);
its zones are its clusters. Each cluster is a ``location`` item with its hosts' CPU and memory
capacity in ``extras``.

**What each kind reads** (one ContainerView and one ``RetrievePropertiesEx`` per object type):

* ``image``: VM templates (``config.template``) of the datacenter, with guest OS id and family,
  vCPUs, memory, disk and firmware; and the items of every content library (REST ``/api`` from
  vSphere 7.0 U2, ``/rest`` before), which any datacenter of the vCenter can deploy.
* ``storage``: the datacenter's datastores (type, capacity, free space) and the SPBM storage
  policies (``/pbm/sdk``), with their rules.
* ``network``: distributed port groups (switch, VLAN) and standard port groups.
* ``compute``: vSphere has no flavors. The ``sizes`` option lists the fixed sizes the operator
  sells (priced by name in the price book); with ``flexible_pools`` (default on) each cluster is
  also a *flexible* pool ``pool-<cluster>``, sized from 1 vCPU / 1024 MiB up to one host of the
  cluster, priced per vCPU and per GiB by a price book rule, as Cloud Avenue's VDC pools are.

**Answers of an unexpected shape** (:mod:`.client` judges them): one the driver cannot read at all
fails the backend with an :class:`~cloudcat.errors.UnavailableError` naming the call, the object and
the property; one object it cannot map (a negative size, a name with control characters, a library
item of the wrong shape) is left out with a warning naming the same, and the rest is read.
"""

from __future__ import annotations

import importlib
import logging
import os
import threading
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar, TypeVar
from urllib.parse import unquote, urlsplit

from pydantic import BaseModel, ConfigDict, Field, SecretStr, model_validator

from cloudcat.answers import AnswerValueError, shown
from cloudcat.driver import BaseDriver, Capabilities, LoadCache, import_sdk
from cloudcat.errors import BackendNotFoundError
from cloudcat.http import HttpOptions
from cloudcat.models import MAX_INT, FlexibleSizing, Item, Kind, Region

from .client import ObjectRecord, Reading, count, mapping, moid, sequence
from .client import name as name_of
from .guests import guest_os

if TYPE_CHECKING:
    from .client import VsphereClient

__all__ = ["Size", "VsphereDriver", "VsphereOptions"]

T = TypeVar("T")
MIB = 1024 * 1024
#: Largest VM vSphere 8 configures (vCPUs, MiB); a pool never offers more than one host holds.
MAX_VM_VCPUS = 768
MAX_VM_MEMORY_MIB = 24 * 1024 * 1024
MEMORY_STEP_MIB = 4

_TEMPLATE_PATHS = ["config.guestId", "config.guestFullName", "config.hardware.numCPU",
                   "config.hardware.numCoresPerSocket", "config.hardware.memoryMB", "config.hardware.device",
                   "config.firmware", "config.annotation", "config.uuid"]


class Size(BaseModel):
    """A fixed compute size the operator sells on this vCenter."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, description="Name the price book prices it by.")
    vcpus: int = Field(ge=1, le=MAX_VM_VCPUS)
    memory_mib: int = Field(ge=4)
    disk_gib: float | None = Field(default=None, ge=0, description="Disk that comes with the size.")
    family: str | None = Field(default=None, description="Family or series, e.g. general, memory.")
    display_name: str | None = None


class VsphereOptions(HttpOptions):
    """Options of the ``vsphere`` driver.

    Timeouts, retries and TLS verification come from :class:`cloudcat.http.HttpOptions`.
    """

    host: str = Field(min_length=1, description="vCenter host name or address (or GOVC_URL).")
    port: int = Field(default=443, ge=1, le=65535, description="HTTPS port.")
    user: str = Field(min_length=1, description="User, e.g. administrator@vsphere.local (or GOVC_USERNAME).")
    password: SecretStr = Field(description="Password of `user` (or GOVC_PASSWORD).")
    datacenters: list[str] | None = Field(default=None, description="Datacenters to read; default: all.")
    country: str | None = Field(default=None, pattern=r"^[A-Z]{2}$", description="Country of every region.")
    countries: dict[str, str] = Field(default_factory=dict,
                                      description="Country per datacenter (ISO 3166-1 alpha-2); beats `country`.")
    sizes: list[Size] = Field(default_factory=list, description="Fixed compute sizes sold (vSphere has no flavors).")
    flexible_pools: bool = Field(default=True, description="List each cluster as a flexible compute pool.")
    content_libraries: bool = Field(default=True, description="List content library items as images.")
    storage_policies: bool = Field(default=True, description="List SPBM storage policies as storage.")
    page_size: int = Field(default=500, ge=1, le=10_000, description="maxObjects of each RetrievePropertiesEx.")
    cache_seconds: float = Field(default=60.0, ge=0, description="How long reads are reused across calls.")

    @model_validator(mode="before")
    @classmethod
    def _from_govc(cls, data: Any) -> Any:
        """Fill ``host``, ``port``, ``user``, ``password`` and ``verify`` from govc's variables."""
        if not isinstance(data, Mapping):
            return data
        env = os.environ
        out = {**_govc_url(env.get("GOVC_URL", "").strip()), **data}
        for key, var in (("user", "GOVC_USERNAME"), ("password", "GOVC_PASSWORD")):
            if key not in data and env.get(var):
                out[key] = env[var]
        if "verify" not in out and env.get("GOVC_INSECURE", "").strip().lower() in ("1", "true", "yes"):
            out["verify"] = False
        return out


def _govc_url(url: str) -> dict[str, Any]:
    """Options in a ``GOVC_URL``: ``https://user:password@host:port/sdk``, or parts of it."""
    if not url:
        return {}
    parts = urlsplit(url if "//" in url else f"https://{url}")
    found: dict[str, Any] = {"host": parts.hostname, "port": parts.port,
                             "user": unquote(parts.username) if parts.username else None,
                             "password": unquote(parts.password) if parts.password else None}
    return {k: v for k, v in found.items() if v}


@dataclass
class _Cluster:
    moid: str
    name: str
    datacenter: str
    summary: Any
    call: str = "RetrievePropertiesEx"

    @property
    def subject(self) -> str:
        return f"ClusterComputeResource {self.moid}"


@dataclass
class _LibraryItem:
    """One content library item as read: its answer, and the template's (``vm-template`` items)."""

    library: str
    path: str
    item: Any  # the answer, then (checked) a JSON object
    template_path: str | None = None
    template: Any = None  # the answer, then (checked) the template's facts


@dataclass
class _Inventory:
    """Datacenters, clusters and the parent of every folder: what places objects in a region."""

    datacenters: dict[str, str] = field(default_factory=dict)  # moid -> name
    clusters: list[_Cluster] = field(default_factory=list)
    parents: dict[str, str] = field(default_factory=dict)  # folder moid -> parent moid

    def datacenter_of(self, parent: str | None) -> str | None:
        """Name of the datacenter above ``parent`` (a folder or the datacenter itself)."""
        seen = 0
        while parent is not None and seen < 64:
            if parent in self.datacenters:
                return self.datacenters[parent]
            parent = self.parents.get(parent)
            seen += 1
        return None


class VsphereDriver(BaseDriver):
    """Catalog items of a VMware vCenter, read with pyvmomi."""

    name = "vsphere"
    capabilities = Capabilities(kinds=frozenset(Kind), zones=True, prices=False, paging=True,
                                flexible_compute=True, lifecycle=False)
    Options = VsphereOptions
    options: VsphereOptions
    quiet_loggers: ClassVar[Mapping[str, int]] = {"pyVmomi": logging.WARNING, "pyVim": logging.WARNING}

    def __init__(self, options: Any = None, *, backend: str | None = None) -> None:
        super().__init__(options, backend=backend)
        self._client_lock = threading.Lock()
        self._client: VsphereClient | None = None
        self._memo = LoadCache()

    # -- plumbing -----------------------------------------------------------------------------
    @property
    def client(self) -> VsphereClient:
        """The vCenter session (created on first use; pyvmomi is imported then)."""
        with self._client_lock:
            if self._client is None:
                import_sdk("pyVmomi", "pyvmomi")
                from .client import Credentials, VsphereClient

                o = self.options
                self._client = VsphereClient(
                    Credentials(o.host, o.port, o.user, o.password.get_secret_value()), verify=o.verify,
                    timeout=o.timeout, backend=self.backend, retry=o.retry_policy(), page_size=o.page_size)
            return self._client

    def secrets(self) -> list[str]:
        """Option secrets, and the session cookies and REST tokens of this driver's sessions."""
        found = super().secrets()
        if self._client is not None:
            found += self._client.secrets()
        return found

    def __enter__(self) -> VsphereDriver:
        return self

    def close(self) -> None:
        """Log out."""
        with self._client_lock:
            client, self._client = self._client, None
        if client is not None:
            client.close()

    def _cached(self, key: str, load: Callable[[], T]) -> T:
        """``load()``, reused for ``cache_seconds`` (one load at a time per key)."""
        return self._memo.get(key, load, self.options.cache_seconds)

    # -- inventory ----------------------------------------------------------------------------
    def _inventory(self) -> _Inventory:
        return self._cached("inventory", self._load_inventory)

    def _load_inventory(self) -> _Inventory:
        records = self.client.retrieve({"Folder": ["parent"], "Datacenter": ["name", "parent"],
                                        "ClusterComputeResource": ["name", "parent", "summary"]})
        inv = _Inventory()
        for r in records:  # what places everything: a shape error here fails the read
            with Reading(r.call, r.subject, self.backend):
                if r.type == "Datacenter":
                    inv.datacenters[r.moid] = name_of(r.props.get("name", r.moid), "name")
                parent = moid(r.props.get("parent"), "parent")
                if parent is not None:
                    inv.parents[r.moid] = parent
        for r in records:
            if r.type == "ClusterComputeResource":
                dc = inv.datacenter_of(inv.parents.get(r.moid))
                with Reading(r.call, r.subject, self.backend, drop=True):
                    if dc is not None:
                        inv.clusters.append(_Cluster(r.moid, name_of(r.props.get("name", r.moid), "name"), dc,
                                                     r.props.get("summary"), r.call))
        return inv

    def _placed(self, records: Iterable[ObjectRecord], region: str) -> list[ObjectRecord]:
        inv = self._inventory()
        out = []
        for r in records:
            with Reading(r.call, r.subject, self.backend, drop=True):
                parent = moid(r.props.get("parent"), "parent")
                if parent is not None and inv.datacenter_of(parent) == region:
                    out.append(r)
        return out

    def _item(self, owner: ObjectRecord | _Cluster) -> Reading:
        """Where one item is mapped: a shape error leaves it out, with a warning."""
        return Reading(owner.call, owner.subject, self.backend, drop=True)

    # -- BaseDriver ---------------------------------------------------------------------------
    def list_regions(self) -> Sequence[Region]:
        """One region per datacenter (the ``datacenters`` option keeps some), zones its clusters."""
        inv = self._inventory()
        wanted = self.options.datacenters
        regions = []
        for name in inv.datacenters.values():
            if wanted and name not in wanted:
                continue
            zones = [c.name for c in inv.clusters if c.datacenter == name]
            country = self.options.countries.get(name, self.options.country)
            regions.append(Region(name=name, display_name=f"Datacenter {name}", country=country, zones=zones))
        return regions

    def list_locations(self, region: str) -> list[Item]:
        """The datacenter and its clusters, with CPU and memory capacity in ``extras``."""
        items = super().list_locations(region)
        clusters = {c.name: c for c in self._inventory().clusters if c.datacenter == region}
        vc = self.client.about
        for item in items:
            if item.zone is None:
                item.extras.update({"datacenter": region, "vcenter": vc.get("name"),
                                    "api_version": vc.get("api_version"), "clusters": sorted(clusters)})
            elif item.zone in clusters:
                with self._item(clusters[item.zone]):
                    item.extras.update({"cluster": item.zone, **_capacity(clusters[item.zone].summary)})
                    continue
                item.extras["cluster"] = item.zone  # the zone stays, its capacity unknown
        return items

    def list_items(self, kind: Kind, region: str) -> Iterable[Item]:
        """Items of ``kind`` in ``region`` (a datacenter)."""
        if region not in self._inventory().datacenters.values():
            raise BackendNotFoundError(f"no datacenter {region!r} in vCenter {self.options.host}",
                                       backend=self.backend)
        if kind == Kind.COMPUTE:
            return [*self._sizes(region), *self._pools(region)]
        if kind == Kind.IMAGE:
            templates = self._templates(region)
            return [*templates, *self._library_items(region, {t.name for t in templates})]
        if kind == Kind.STORAGE:
            datastores = self._datastores(region)
            return [*datastores, *self._policies(region, {d.name for d in datastores})]
        if kind == Kind.NETWORK:
            return self._networks(region)
        return []

    def check(self) -> None:
        """Negotiate the API version, log in and read the datacenters."""
        self._load_inventory()

    # -- compute ------------------------------------------------------------------------------
    def _zones(self, region: str) -> list[str]:
        return [c.name for c in self._inventory().clusters if c.datacenter == region]

    def _sizes(self, region: str) -> list[Item]:
        zones = self._zones(region)
        return [Item(kind=Kind.COMPUTE, name=s.name, display_name=s.display_name, region=region, zones=zones,
                     vcpus=s.vcpus, memory_mib=s.memory_mib, disk_gib=s.disk_gib, family=s.family,
                     architecture="x86_64", extras={"sizing": "fixed", "source": "option sizes"})
                for s in self.options.sizes]

    def _pools(self, region: str) -> list[Item]:
        if not self.options.flexible_pools:
            return []
        items = []
        for c in self._inventory().clusters:
            if c.datacenter == region:
                with self._item(c):
                    items.append(_pool_item(c, region))
        return items

    # -- images -------------------------------------------------------------------------------
    def _vm_flags(self) -> list[ObjectRecord]:
        return self._cached("vms", lambda: self.client.retrieve(
            {"VirtualMachine": ["name", "parent", "config.template"]}))

    def _template_details(self) -> dict[str, ObjectRecord]:
        def load() -> dict[str, ObjectRecord]:
            moids = [r.moid for r in self._vm_flags() if r.props.get("config.template") is True]
            return {r.moid: r for r in self.client.retrieve_objects("VirtualMachine", moids, _TEMPLATE_PATHS)}

        return self._cached("templates", load)

    def _templates(self, region: str) -> list[Item]:
        details = self._template_details()
        items: dict[str, Item] = {}
        for r in self._placed(self._vm_flags(), region):
            d = details.get(r.moid)
            if d is None:
                continue
            with self._item(d):
                item = _template_item(name_of(r.props.get("name", r.moid), "name"), r.moid, d.props, region)
                items.setdefault(item.name, item)
        return list(items.values())

    def _libraries(self) -> list[_LibraryItem]:
        def ids(key: str, *args: str) -> list[str]:
            found: list[str] = []
            answer = client.rest_get(key, *args)
            with Reading(f"GET {client.rest_path(key, *args)}", "", self.backend):  # a bad listing fails the read
                found = [name_of(i, f"[{n}]") for n, i in enumerate(sequence(answer, "(answer)"))]
            return found

        def load() -> list[_LibraryItem]:
            out = []
            for lib_id in ids("libraries"):
                for item_id in ids("items", lib_id):
                    read = _LibraryItem(lib_id, client.rest_path("item", item_id), client.rest_get("item", item_id))
                    if isinstance(read.item, dict) and read.item.get("type") == "vm-template":
                        read.template_path = client.rest_path("template", item_id)
                        read.template = client.rest_get("template", item_id)
                    if self._checked(read):  # once, not in every datacenter the item is listed in
                        out.append(read)
            return out

        if not self.options.content_libraries:
            return []
        client = self.client
        return self._cached("libraries", load)

    def _checked(self, read: _LibraryItem) -> bool:
        """Map a library item once (its facts kept); whether it could be (else a warning says why)."""
        with Reading(f"GET {read.path}", "", self.backend, drop=True) as reading:
            read.item = mapping(read.item, "(answer)")
            if read.template_path is not None:
                reading.call = f"GET {read.template_path}"  # a template of the wrong shape is named as such
                read.template = _library_template(mapping(read.template, "(answer)"))
                reading.call = f"GET {read.path}"
            _library_item(read.item, read.library, read.template, "(check)")
            return True
        return False

    def _library_items(self, region: str, taken: set[str]) -> list[Item]:
        items = []
        for read in self._libraries():
            item = _library_item(read.item, read.library, read.template, region)
            if item.name in taken:
                item.name = f"{read.library}/{item.name}"
            taken.add(item.name)
            items.append(item)
        return items

    # -- storage ------------------------------------------------------------------------------
    def _datastores(self, region: str) -> list[Item]:
        records = self._cached("datastores", lambda: self.client.retrieve(
            {"Datastore": ["name", "parent", "summary.type", "summary.capacity", "summary.freeSpace",
                           "summary.accessible", "summary.multipleHostAccess", "summary.maintenanceMode"]}))
        items = []
        for r in self._placed(records, region):
            with self._item(r):
                items.append(_datastore_item(r, region))
        return items

    def _policies(self, region: str, taken: set[str]) -> list[Item]:
        if not self.options.storage_policies:
            return []
        profiles = self._cached("policies", self.client.storage_policies)
        items = []
        for i, profile in enumerate(profiles):
            with Reading("PbmRetrieveContent", f"returnval[{i}]", self.backend, drop=True):
                item = _policy_item(profile, region)
                if item.name not in taken:
                    taken.add(item.name)
                    items.append(item)
        return items

    # -- networks -----------------------------------------------------------------------------
    def _networks(self, region: str) -> list[Item]:
        records = self._cached("networks", lambda: self.client.retrieve({
            "Network": ["name", "parent"],
            "DistributedVirtualPortgroup": ["name", "parent", "config.distributedVirtualSwitch",
                                            "config.defaultPortConfig", "config.numPorts", "config.uplink"]}))
        switches = self._cached("switches", lambda: {r.moid: str(r.props.get("name", r.moid)) for r in
                                                     self.client.retrieve({"DistributedVirtualSwitch": ["name"]})})
        items: dict[str, Item] = {}
        for r in self._placed(records, region):
            if r.props.get("config.uplink") is True:
                continue  # a switch's uplinks carry no VM traffic
            with self._item(r):
                item = _network_item(r, switches, region)
                items.setdefault(item.name, item)
        return list(items.values())


# -- mapping (pure functions; a shape error names its field, see .client) ----------------------------
def _gib(value: Any, field: str) -> float | None:
    size = count(value, field)
    return round(size / 1024 ** 3, 3) if size is not None else None


def _capacity(summary: Any) -> dict[str, Any]:
    """CPU and memory of a cluster, from its ``summary`` (ClusterComputeResourceSummary)."""
    if summary is None:
        return {}
    memory = count(getattr(summary, "totalMemory", None), "summary.totalMemory")
    return {"hosts": count(getattr(summary, "numHosts", None), "summary.numHosts"),
            "cpu_cores": count(getattr(summary, "numCpuCores", None), "summary.numCpuCores"),
            "cpu_threads": count(getattr(summary, "numCpuThreads", None), "summary.numCpuThreads"),
            "cpu_mhz": count(getattr(summary, "totalCpu", None), "summary.totalCpu"),
            "memory_mib": memory // MIB if memory else None}


def _pool_item(c: _Cluster, region: str) -> Item:
    """A cluster as a flexible compute pool: up to one host of it."""
    capacity = _capacity(c.summary)
    hosts = max(1, capacity.get("hosts") or 1)
    vcpus = max(1, min(MAX_VM_VCPUS, (capacity.get("cpu_threads") or 1) // hosts))
    memory = (capacity.get("memory_mib") or 1024) // hosts
    memory = max(MEMORY_STEP_MIB, min(MAX_VM_MEMORY_MIB, memory - memory % MEMORY_STEP_MIB))
    return Item(kind=Kind.COMPUTE, name=f"pool-{c.name}", display_name=f"Cluster {c.name} (flexible)", region=region,
                zone=c.name, zones=[c.name], vcpus=vcpus, memory_mib=memory, architecture="x86_64",
                flexible=FlexibleSizing(vcpus_min=1, vcpus_max=vcpus, memory_mib_min=min(1024, memory),
                                        memory_mib_max=memory, memory_step_mib=MEMORY_STEP_MIB),
                extras={"sizing": "flexible", "cluster": c.name, "cluster_id": c.moid, **capacity})


def _disk_gib(devices: Any) -> float | None:
    disk_type = importlib.import_module("pyVmomi").vim.vm.device.VirtualDisk
    total = sum(count(d.capacityInKB, f"config.hardware.device[{i}].capacityInKB") or 0
                for i, d in enumerate(sequence(devices or [], "config.hardware.device")) if isinstance(d, disk_type))
    return round(total / 1024 / 1024, 3) if total else None


def _text(value: Any, field: str) -> str | None:
    """Free text (``None`` when absent or empty)."""
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        raise AnswerValueError(field, f"{shown(value)} is not text")
    return value


def _template_item(name: str, moid: str, p: Mapping[str, Any], region: str) -> Item:
    guest_id = _text(p.get("config.guestId"), "config.guestId")
    full_name = _text(p.get("config.guestFullName"), "config.guestFullName")
    family, version = guest_os(name, guest_id or "", full_name or "")
    memory = count(p.get("config.hardware.memoryMB"), "config.hardware.memoryMB") or None
    disk = _disk_gib(p.get("config.hardware.device"))
    arm = (guest_id or "").startswith("arm")
    return Item(kind=Kind.IMAGE, name=name, display_name=full_name, region=region, os_family=family,
                os_version=version, architecture="aarch64" if arm else "x86_64", min_disk_gib=disk,
                min_memory_mib=memory,
                extras={"image_type": "vm-template", "id": moid, "guest_id": guest_id, "guest_full_name": full_name,
                        "vcpus": count(p.get("config.hardware.numCPU"), "config.hardware.numCPU"),
                        "cores_per_socket": count(p.get("config.hardware.numCoresPerSocket"),
                                                  "config.hardware.numCoresPerSocket"),
                        "memory_mib": memory, "disk_gib": disk,
                        "firmware": _text(p.get("config.firmware"), "config.firmware"),
                        "annotation": _text(p.get("config.annotation"), "config.annotation")})


def _library_template(template: Mapping[str, Any]) -> dict[str, Any]:
    """Guest OS, vCPUs, memory and disk of a ``vm-template`` item (``/api`` or ``/rest`` spelling)."""
    memory = mapping(template.get("memory"), "memory")
    disks = template.get("disks") or {}
    values = (mapping(disks, "disks").values() if not isinstance(disks, list)
              else [mapping(d, f"disks[{i}]").get("value") for i, d in enumerate(disks)])
    total = sum(count(mapping(d, "disks.*").get("capacity"), "disks.*.capacity") or 0 for d in values)
    size = memory.get("size_mib") if "size_mib" in memory else memory.get("size_MiB")
    return {"guest_os": _text(template.get("guest_os") or template.get("guest_OS"), "guest_os"),
            "vcpus": count(mapping(template.get("cpu"), "cpu").get("count"), "cpu.count"),
            "memory_mib": count(size, "memory.size_mib") or None,
            "disk_gib": round(total / 1024 ** 3, 3) if total else None}


def _library_item(raw: Mapping[str, Any], library: str, template: dict[str, Any] | None, region: str) -> Item:
    name = name_of(raw.get("name") or raw.get("id"), "name")
    extras: dict[str, Any] = {"image_type": f"library-{_text(raw.get('type'), 'type')}",
                              "id": _text(raw.get("id"), "id"), "library_id": library,
                              "size_bytes": count(raw.get("size"), "size")}
    if template is not None:
        extras.update(template)
    family, version = guest_os(name, str(extras.get("guest_os") or ""), "")
    return Item(kind=Kind.IMAGE, name=name, display_name=_text(raw.get("description"), "description"), region=region,
                os_family=family, os_version=version, min_disk_gib=extras.get("disk_gib"),
                min_memory_mib=extras.get("memory_mib"), architecture="x86_64" if template is not None else None,
                extras=extras)


def _datastore_item(r: ObjectRecord, region: str) -> Item:
    p = r.props
    name = name_of(p.get("name", r.moid), "name")
    capacity, free = _gib(p.get("summary.capacity"), "summary.capacity"), _gib(p.get("summary.freeSpace"),
                                                                                "summary.freeSpace")
    ds_type = _text(p.get("summary.type"), "summary.type") or "unknown"
    return Item(kind=Kind.STORAGE, name=name, region=region, storage_class=ds_type, family=ds_type, max_size_gib=free,
                display_name=f"Datastore {name} ({ds_type})",
                extras={"storage_type": "datastore", "datastore_id": r.moid, "type": ds_type,
                        "capacity_gib": capacity, "free_gib": free,
                        "accessible": _flag(p.get("summary.accessible"), "summary.accessible"),
                        "multiple_host_access": _flag(p.get("summary.multipleHostAccess"),
                                                      "summary.multipleHostAccess"),
                        "maintenance_mode": _text(p.get("summary.maintenanceMode"), "summary.maintenanceMode")})


def _flag(value: Any, field: str) -> bool | None:
    if value is None or isinstance(value, bool):
        return value
    raise AnswerValueError(field, f"{shown(value)} is not a boolean")


def _policy_item(profile: Any, region: str) -> Item:
    rules: dict[str, Any] = {}
    constraints = getattr(profile, "constraints", None)
    for sub in getattr(constraints, "subProfiles", None) or []:
        for capability in sub.capability or []:
            key = f"{capability.id.namespace}.{capability.id.id}"
            for constraint in capability.constraint or []:
                for instance in constraint.propertyInstance or []:
                    value = instance.value
                    rules[key] = value if isinstance(value, bool | int | float | str) else str(value)
    iops = rules.get("VSAN.iopsLimit")
    unique_id = name_of(getattr(getattr(profile, "profileId", None), "uniqueId", None), "profileId.uniqueId")
    return Item(kind=Kind.STORAGE, name=name_of(profile.name, "name"),
                display_name=_text(profile.description, "description"), region=region,
                storage_class="storage-policy", iops=iops if isinstance(iops, int) and 0 < iops <= MAX_INT else None,
                extras={"storage_type": "storage-policy", "id": unique_id, "rules": rules})


def _network_item(r: ObjectRecord, switches: Mapping[str, str], region: str) -> Item:
    p = r.props
    name = name_of(p.get("name", r.moid), "name")
    extras: dict[str, Any] = {"network_type": "standard-port-group", "id": r.moid}
    if r.type == "DistributedVirtualPortgroup":
        switch = moid(p.get("config.distributedVirtualSwitch"), "config.distributedVirtualSwitch")
        extras = {"network_type": "distributed-port-group", "id": r.moid,
                  "switch": switches.get(switch) if switch is not None else None,
                  "vlan": _vlan(p.get("config.defaultPortConfig")),
                  "ports": count(p.get("config.numPorts"), "config.numPorts")}
    return Item(kind=Kind.NETWORK, name=name, region=region, extras=extras)


def _vlan(setting: Any) -> int | str | None:
    vlan = getattr(setting, "vlan", None)
    vlan_id = getattr(vlan, "vlanId", None)
    if isinstance(vlan_id, int):
        return count(vlan_id, "config.defaultPortConfig.vlan.vlanId")
    return str(vlan_id) if vlan_id is not None else None
