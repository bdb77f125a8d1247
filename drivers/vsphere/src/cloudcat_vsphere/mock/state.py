"""State of the mocked vCenter: its inventory as managed objects with typed properties, sessions,
container views, storage policies and content libraries, built from a fixture.

Property values keep their vSphere types, so the wire format (:mod:`.responses`) writes them as
vCenter does: :class:`Ref` is a ``ManagedObjectReference``, :class:`Data` a data object
(``VirtualMachineConfigInfo``…), :class:`Array` an ``ArrayOf…`` and :class:`Scalar` a value with
an explicit XML Schema type (``xsd:long``, ``xsd:dateTime``); plain ``str``, ``bool`` and ``int``
are strings, booleans and ints.

Managed object ids follow vCenter's: ``group-d1`` (root folder), ``datacenter-N``, ``group-vN`` /
``group-hN`` / ``group-sN`` / ``group-nN`` (a datacenter's folders), ``domain-cN`` (clusters),
``host-N``, ``datastore-N``, ``network-N``, ``dvportgroup-N``, ``dvs-N``, ``vm-N``.
"""

from __future__ import annotations

import datetime as dt
import time
import uuid
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

__all__ = ["API_LADDER", "PROPERTIES", "Array", "Data", "Entity", "Library", "LibraryItem", "Policy", "Ref", "Scalar",
           "Session", "VcenterState", "generated_fixture", "has_property", "is_a", "lookup"]

GIB = 1024 ** 3

#: vim25 API versions, newest first: what ``vimServiceVersions.xml`` lists as prior versions.
API_LADDER = ["8.0.3.0", "8.0.2.0", "8.0.1.0", "8.0.0.2", "8.0.0.1", "8.0.0.0", "7.0.3.2", "7.0.3.1", "7.0.3.0",
              "7.0.2.1", "7.0.2.0", "7.0.1.1", "7.0.1.0", "7.0.0.2", "7.0.0.1", "7.0.0.0", "6.9.1", "6.8.7",
              "6.7.3", "6.7.2", "6.7.1", "6.7", "6.5", "6.0", "5.5", "5.1", "5.0", "4.1", "4.0"]

#: Managed object types and their parent type (what a ContainerView or a PropertySpec of the
#: parent type also matches).
_SUPERTYPES = {
    "Folder": "ManagedEntity", "Datacenter": "ManagedEntity", "ComputeResource": "ManagedEntity",
    "ClusterComputeResource": "ComputeResource", "HostSystem": "ManagedEntity", "Datastore": "ManagedEntity",
    "Network": "ManagedEntity", "DistributedVirtualPortgroup": "Network", "OpaqueNetwork": "Network",
    "DistributedVirtualSwitch": "ManagedEntity", "VmwareDistributedVirtualSwitch": "DistributedVirtualSwitch",
    "VirtualMachine": "ManagedEntity", "ResourcePool": "ManagedEntity", "VirtualApp": "ResourcePool",
}


#: Properties of each managed object type (its own; a subtype has its supertype's too), from the
#: vSphere API reference: a path whose first part is none of them is an ``InvalidProperty``.
PROPERTIES: dict[str, frozenset[str]] = {name: frozenset(props.split()) for name, props in {
    "ManagedEntity": "name parent overallStatus configStatus customValue effectiveRole permission recentTask "
                     "declaredAlarmState triggeredAlarmState alarmActionsEnabled tag disabledMethod configIssue "
                     "availableField value",
    "Folder": "childEntity childType namespace",
    "Datacenter": "vmFolder hostFolder datastoreFolder networkFolder datastore network configuration",
    "ComputeResource": "resourcePool host datastore network summary environmentBrowser configurationEx "
                       "lifecycleManaged",
    "ClusterComputeResource": "configuration recommendation drsRecommendation migrationHistory actionHistory "
                              "drsFault summaryEx",
    "HostSystem": "runtime summary hardware capability licensableResource remediationState configManager config "
                  "vm datastore network datastoreBrowser systemResources",
    "Datastore": "info summary host vm browser capability iormConfiguration",
    "Network": "summary host vm",
    "DistributedVirtualPortgroup": "key config portKeys",
    "DistributedVirtualSwitch": "uuid capability summary config networkResourcePool portgroup runtime",
    "VirtualMachine": "capability config layout layoutEx storage environmentBrowser resourcePool parentVApp "
                      "resourceConfig runtime guest summary datastore network snapshot rootSnapshot "
                      "guestHeartbeatStatus",
    "ResourcePool": "summary runtime owner resourcePool vm config namespace childConfiguration",
    "ContainerView": "view container type recursive",
}.items()}


def has_property(type_name: str, path: str) -> bool:
    """Whether objects of ``type_name`` have the property ``path`` starts with (unknown types: yes)."""
    first = path.split(".", 1)[0]
    current: str | None = type_name
    known = False
    while current is not None:
        if current in PROPERTIES:
            known = True
            if first in PROPERTIES[current]:
                return True
        current = _SUPERTYPES.get(current)
    return not known


def is_a(type_name: str, wanted: str) -> bool:
    """Whether a managed object of ``type_name`` is a ``wanted`` (itself or a subtype)."""
    current: str | None = type_name
    while current is not None:
        if current == wanted:
            return True
        current = _SUPERTYPES.get(current)
    return False


@dataclass(frozen=True)
class Ref:
    """A managed object reference."""

    type: str
    value: str


@dataclass
class Data:
    """A data object: its vSphere type and its fields, in the order vCenter writes them."""

    type: str
    fields: dict[str, Any]


@dataclass(frozen=True)
class Array:
    """An ``ArrayOf<item_type>`` value (a list where the type is not known from the field)."""

    item_type: str
    items: tuple[Any, ...]


@dataclass(frozen=True)
class Scalar:
    """A value with an explicit XML Schema type (``xsd:long``, ``xsd:dateTime``, ``xsd:short``…)."""

    xsd: str
    value: Any


@dataclass
class Entity:
    """A managed object and its properties."""

    ref: Ref
    props: dict[str, Any]

    @property
    def name(self) -> str:
        return str(self.props.get("name", self.ref.value))


@dataclass
class Session:
    """A SOAP (and REST) session."""

    key: str
    user: str
    created: float
    rest_token: str | None = None


@dataclass
class Policy:
    """An SPBM storage policy."""

    id: str
    name: str
    description: str
    rules: dict[str, Any]
    category: str = "REQUIREMENT"


@dataclass
class LibraryItem:
    """A content library item (``vm-template``, ``ovf`` or ``iso``)."""

    id: str
    library_id: str
    name: str
    type: str
    size: int
    description: str
    template: dict[str, Any] | None = None


@dataclass
class Library:
    """A content library and its items."""

    id: str
    name: str
    type: str
    description: str
    items: list[LibraryItem] = field(default_factory=list)


def lookup(entity: Entity, path: str) -> Any:
    """The value at a property path (``config.hardware.numCPU``), or ``None`` when unset."""
    first, *rest = path.split(".")
    value = entity.props.get(first)
    for part in rest:
        if not isinstance(value, Data):
            return None
        value = value.fields.get(part)
    return value


def _uuid(*parts: object) -> str:
    return str(uuid.uuid5(uuid.NAMESPACE_URL, "cloudcat-vcsim:" + ":".join(map(str, parts))))


def _long(value: int) -> Scalar:
    return Scalar("xsd:long", int(value))


class VcenterState:
    """The whole mocked vCenter, built from a fixture mapping."""

    def __init__(self, fixture: Mapping[str, Any]) -> None:
        fixture = _expanded(fixture)
        vc = dict(fixture.get("vcenter") or {})
        self.api_version = str(vc.get("api_version", "8.0.3.0"))
        self.version_id = str(vc.get("version_id") or self.api_version)
        self.version = str(vc.get("version", ".".join(self.api_version.split(".")[:3])))
        self.build = str(vc.get("build", "24022515"))
        self.instance_uuid = str(vc.get("instance_uuid") or _uuid("vcenter", self.version))
        self.users = {str(u["name"]): str(u["password"]) for u in fixture.get("users") or
                      [{"name": "administrator@vsphere.local", "password": "VMware1!"}]}
        self.entities: dict[str, Entity] = {}
        self.views: dict[str, Entity] = {}
        self.sessions: dict[str, Session] = {}
        self.rest_tokens: dict[str, Session] = {}
        #: Results still to hand out, and the page size asked, by ContinueRetrievePropertiesEx token.
        self.retrievals: dict[str, tuple[int, list[tuple[Entity, list[tuple[str, Any]]]]]] = {}
        #: SOAP calls answered, by method (``RetrievePropertiesEx``, ``Fetch``…).
        self.calls: dict[str, int] = {}
        self._counter = 0
        self.root = self._add("Folder", "group-d1", {"name": "Datacenters", "childEntity": [],
                                                     "childType": Array("string", ("Folder", "Datacenter"))})
        for dc in fixture.get("datacenters") or []:
            self._datacenter(dc)
        self.policies = [Policy(id=str(p.get("id") or _uuid("policy", p["name"])), name=str(p["name"]),
                                description=str(p.get("description", "")), rules=dict(p.get("rules") or {}),
                                category=str(p.get("category", "REQUIREMENT")))
                         for p in fixture.get("storage_policies") or []]
        self.libraries = [self._library(lib) for lib in fixture.get("content_libraries") or []]

    # -- building ---------------------------------------------------------------------------
    def _next(self) -> int:
        self._counter += 1
        return self._counter

    def _add(self, type_name: str, moid: str, props: dict[str, Any]) -> Entity:
        entity = Entity(Ref(type_name, moid), props)
        self.entities[moid] = entity
        return entity

    def _child(self, parent: Entity, entity: Entity) -> None:
        entity.props["parent"] = parent.ref
        children = parent.props.setdefault("childEntity", [])
        children.append(entity.ref)

    def _folder(self, parent: Entity | None, prefix: str, name: str, child_types: tuple[str, ...]) -> Entity:
        folder = self._add("Folder", f"group-{prefix}{self._next()}",
                           {"name": name, "childEntity": [], "childType": Array("string", child_types)})
        if parent is not None:
            self._child(parent, folder)
        return folder

    def _datacenter(self, spec: Mapping[str, Any]) -> None:
        dc = self._add("Datacenter", f"datacenter-{self._next()}", {"name": str(spec["name"])})
        self._child(self.root, dc)
        folders = {
            "vmFolder": self._folder(None, "v", "vm", ("Folder", "VirtualMachine", "VirtualApp")),
            "hostFolder": self._folder(None, "h", "host", ("Folder", "ComputeResource")),
            "datastoreFolder": self._folder(None, "s", "datastore", ("Folder", "Datastore", "StoragePod")),
            "networkFolder": self._folder(None, "n", "network", ("Folder", "Network", "DistributedVirtualSwitch")),
        }
        for key, folder in folders.items():
            folder.props["parent"] = dc.ref
            dc.props[key] = folder.ref
        datastores = [self._datastore(folders["datastoreFolder"], d) for d in spec.get("datastores") or []]
        networks = [self._network(folders["networkFolder"], n) for n in spec.get("networks") or []]
        for switch in spec.get("dvswitches") or []:
            networks += self._dvswitch(folders["networkFolder"], switch)
        dc.props["datastore"] = [d.ref for d in datastores]
        dc.props["network"] = [n.ref for n in networks]
        hosts: list[Entity] = []
        for cluster in spec.get("clusters") or []:
            hosts += self._cluster(folders["hostFolder"], cluster, datastores, networks)
        self._machines(spec, folders["vmFolder"], hosts, datastores, networks)

    def _machines(self, spec: Mapping[str, Any], root: Entity, hosts: list[Entity], datastores: list[Entity],
                  networks: list[Entity]) -> None:
        """A datacenter's templates and VMs, in the VM folders their ``folder`` names."""
        templates = list(spec.get("templates") or [])
        folders: dict[str, Entity] = {}
        for i, vm in enumerate([*templates, *(spec.get("vms") or [])]):
            parent = root
            folder_name = vm.get("folder")
            if folder_name:
                if folder_name not in folders:
                    folders[folder_name] = self._folder(root, "v", str(folder_name),
                                                        ("Folder", "VirtualMachine", "VirtualApp"))
                parent = folders[folder_name]
            self._vm(parent, vm, template=i < len(templates), host=hosts[i % len(hosts)] if hosts else None,
                     datastore=datastores[0] if datastores else None, network=networks[0] if networks else None)

    def _datastore(self, folder: Entity, spec: Mapping[str, Any]) -> Entity:
        moid = f"datastore-{self._next()}"
        capacity = int(float(spec.get("capacity_gib", 1024)) * GIB)
        free = int(float(spec.get("free_gib", float(spec.get("capacity_gib", 1024)) / 2)) * GIB)
        ds_type = str(spec.get("type", "VMFS"))
        url = f"ds:///vmfs/volumes/{_uuid('ds', spec['name'])[:23]}/"
        summary = Data("DatastoreSummary", {
            "datastore": Ref("Datastore", moid), "name": str(spec["name"]), "url": url,
            "capacity": _long(capacity), "freeSpace": _long(free), "uncommitted": _long(0),
            "accessible": True, "multipleHostAccess": True, "type": ds_type, "maintenanceMode": "normal"})
        entity = self._add("Datastore", moid, {"name": str(spec["name"]), "summary": summary,
                                                "overallStatus": "green"})
        self._child(folder, entity)
        return entity

    def _network(self, folder: Entity, spec: Mapping[str, Any]) -> Entity:
        moid = f"network-{self._next()}"
        entity = self._add("Network", moid, {"name": str(spec["name"]), "summary": Data("NetworkSummary", {
            "network": Ref("Network", moid), "name": str(spec["name"]), "accessible": True})})
        self._child(folder, entity)
        return entity

    def _dvswitch(self, folder: Entity, spec: Mapping[str, Any]) -> list[Entity]:
        switch = self._add("VmwareDistributedVirtualSwitch", f"dvs-{self._next()}",
                           {"name": str(spec["name"]), "uuid": _uuid("dvs", spec["name"]), "portgroup": []})
        self._child(folder, switch)
        groups = []
        for pg in spec.get("portgroups") or []:
            moid = f"dvportgroup-{self._next()}"
            vlan = Data("VmwareDistributedVirtualSwitchVlanIdSpec", {"inherited": False,
                                                                      "vlanId": int(pg.get("vlan", 0))})
            config = Data("DVPortgroupConfigInfo", {
                "key": moid, "name": str(pg["name"]), "numPorts": int(pg.get("ports", 8)),
                "distributedVirtualSwitch": switch.ref,
                "defaultPortConfig": Data("VMwareDVSPortSetting", {"vlan": vlan}),
                "description": str(pg.get("description", "")), "type": "earlyBinding"})
            entity = self._add("DistributedVirtualPortgroup", moid, {
                "name": str(pg["name"]), "key": moid, "config": config,
                "summary": Data("NetworkSummary", {"network": Ref("DistributedVirtualPortgroup", moid),
                                                   "name": str(pg["name"]), "accessible": True})})
            self._child(folder, entity)
            switch.props["portgroup"].append(entity.ref)
            groups.append(entity)
        return groups

    def _cluster(self, folder: Entity, spec: Mapping[str, Any], datastores: list[Entity],
                 networks: list[Entity]) -> list[Entity]:
        moid = f"domain-c{self._next()}"
        cluster = self._add("ClusterComputeResource", moid, {"name": str(spec["name"]), "host": []})
        self._child(folder, cluster)
        pool = self._add("ResourcePool", f"resgroup-{self._next()}", {"name": "Resources", "parent": cluster.ref})
        cluster.props["resourcePool"] = pool.ref
        hosts = []
        for h in spec.get("hosts") or [{"name": f"esx-{spec['name']}.local".lower()}]:
            hosts.append(self._host(cluster, h))
        cluster.props["host"] = [h.ref for h in hosts]
        cluster.props["datastore"] = [d.ref for d in datastores]
        cluster.props["network"] = [n.ref for n in networks]
        hardware = [h.props["summary"].fields["hardware"].fields for h in hosts]
        cores = sum(int(hw["numCpuCores"].value) for hw in hardware)
        threads = sum(int(hw["numCpuThreads"].value) for hw in hardware)
        mhz = sum(int(hw["numCpuCores"].value) * int(hw["cpuMhz"]) for hw in hardware)
        memory = sum(int(hw["memorySize"].value) for hw in hardware)
        cluster.props["summary"] = Data("ClusterComputeResourceSummary", {
            "totalCpu": mhz, "totalMemory": _long(memory), "numCpuCores": Scalar("xsd:short", cores),
            "numCpuThreads": Scalar("xsd:short", threads), "effectiveCpu": mhz,
            "effectiveMemory": _long(memory // (1024 * 1024)), "numHosts": len(hosts),
            "numEffectiveHosts": len(hosts), "overallStatus": "green"})
        cluster.props["overallStatus"] = "green"
        return hosts

    def _host(self, cluster: Entity, spec: Mapping[str, Any]) -> Entity:
        moid = f"host-{self._next()}"
        cores = int(spec.get("cpu_cores", 32))
        hardware = Data("HostHardwareSummary", {
            "vendor": str(spec.get("vendor", "Dell Inc.")), "model": str(spec.get("model", "PowerEdge R750")),
            "uuid": _uuid("host", spec["name"]),
            "memorySize": _long(int(float(spec.get("memory_gib", 512)) * GIB)),
            "cpuModel": str(spec.get("cpu_model", "Intel(R) Xeon(R) Gold 6330 CPU @ 2.00GHz")),
            "cpuMhz": int(spec.get("cpu_mhz", 1995)), "numCpuPkgs": Scalar("xsd:short", 2),
            "numCpuCores": Scalar("xsd:short", cores), "numCpuThreads": Scalar("xsd:short", cores * 2),
            "numNics": 4, "numHBAs": 2})
        summary = Data("HostListSummary", {"host": Ref("HostSystem", moid), "hardware": hardware,
                                           "overallStatus": "green"})
        return self._add("HostSystem", moid, {"name": str(spec["name"]), "parent": cluster.ref, "summary": summary,
                                              "overallStatus": "green"})

    def _vm(self, folder: Entity, spec: Mapping[str, Any], *, template: bool, host: Entity | None,
            datastore: Entity | None, network: Entity | None) -> Entity:
        moid = f"vm-{self._next()}"
        name = str(spec["name"])
        cpus, memory = int(spec.get("cpus", 2)), int(spec.get("memory_mib", 4096))
        disk_kb = int(float(spec.get("disk_gib", 40)) * 1024 * 1024)
        guest_id = str(spec.get("guest_id", "otherLinux64Guest"))
        guest_name = str(spec.get("guest_full_name", "Other Linux (64-bit)"))
        ds_name = datastore.name if datastore else "datastore1"
        disk = Data("VirtualDisk", {
            "key": 2000, "deviceInfo": Data("Description", {"label": "Hard disk 1",
                                                             "summary": f"{disk_kb:,} KB"}),
            "controllerKey": 1000, "unitNumber": 0, "capacityInKB": _long(disk_kb),
            "capacityInBytes": _long(disk_kb * 1024)})
        hardware = Data("VirtualHardware", {"numCPU": cpus, "numCoresPerSocket": int(spec.get("cores_per_socket", 1)),
                                            "memoryMB": memory, "device": [disk]})
        vm_uuid = _uuid("vm", moid, name)
        config = Data("VirtualMachineConfigInfo", {
            "changeVersion": "2024-01-01T00:00:00.000000Z",
            "modified": Scalar("xsd:dateTime", "1970-01-01T00:00:00Z"),
            "name": name, "guestFullName": guest_name, "version": str(spec.get("hw_version", "vmx-19")),
            "uuid": vm_uuid, "instanceUuid": _uuid("vm-instance", moid), "template": template,
            "guestId": guest_id, "annotation": str(spec.get("annotation", "")),
            "firmware": str(spec.get("firmware", "bios")), "hardware": hardware})
        power = "poweredOff" if template else str(spec.get("power_state", "poweredOn"))
        runtime = Data("VirtualMachineRuntimeInfo", {"host": host.ref if host else None,
                                                      "connectionState": "connected", "powerState": power})
        summary = Data("VirtualMachineSummary", {
            "vm": Ref("VirtualMachine", moid), "runtime": runtime,
            "config": Data("VirtualMachineConfigSummary", {
                "name": name, "template": template, "vmPathName": f"[{ds_name}] {name}/{name}.vmx",
                "memorySizeMB": memory, "numCpu": cpus, "numEthernetCards": 1, "numVirtualDisks": 1,
                "uuid": vm_uuid, "guestId": guest_id, "guestFullName": guest_name}),
            "overallStatus": "green"})
        props: dict[str, Any] = {"name": name, "config": config, "summary": summary, "runtime": runtime,
                                 "datastore": [datastore.ref] if datastore else [],
                                 "network": [network.ref] if network else [], "overallStatus": "green"}
        if not template and host is not None:
            cluster = self.entities[host.props["parent"].value]
            props["resourcePool"] = cluster.props["resourcePool"]
        entity = self._add("VirtualMachine", moid, props)
        self._child(folder, entity)
        return entity

    def _library(self, spec: Mapping[str, Any]) -> Library:
        lib_id = str(spec.get("id") or _uuid("library", spec["name"]))
        lib = Library(id=lib_id, name=str(spec["name"]), type=str(spec.get("type", "LOCAL")),
                      description=str(spec.get("description", "")))
        for item in spec.get("items") or []:
            item_type = str(item.get("type", "ovf"))
            disk = int(float(item.get("disk_gib", 20)) * GIB)
            template = None
            if item_type == "vm-template":
                template = {"guest_os": str(item.get("guest_os", "OTHER_LINUX_64")),
                            "cpus": int(item.get("cpus", 2)), "memory_mib": int(item.get("memory_mib", 4096)),
                            "disk_bytes": disk}
            lib.items.append(LibraryItem(
                id=str(item.get("id") or _uuid("item", lib.name, item["name"])), library_id=lib_id,
                name=str(item["name"]), type=item_type, size=int(item.get("size_bytes", disk)),
                description=str(item.get("description", "")), template=template))
        return lib

    # -- reading ----------------------------------------------------------------------------
    def get(self, ref: Ref) -> Entity | None:
        """The entity (or container view) a reference names, when it exists and has that type."""
        entity = self.entities.get(ref.value) or self.views.get(ref.value)
        if entity is None or (not is_a(entity.ref.type, ref.type) and ref.type != entity.ref.type):
            return None
        return entity

    def children(self, entity: Entity) -> Iterator[Entity]:
        """What a recursive ContainerView descends into below ``entity``."""
        refs: list[Ref] = list(entity.props.get("childEntity") or [])
        if entity.ref.type == "Datacenter":
            refs = [entity.props[k] for k in ("vmFolder", "hostFolder", "datastoreFolder", "networkFolder")]
        elif is_a(entity.ref.type, "ComputeResource"):
            refs = list(entity.props.get("host") or [])
        for ref in refs:
            child = self.entities.get(ref.value)
            if child is not None:
                yield child

    def descendants(self, entity: Entity, recursive: bool) -> Iterator[Entity]:
        """Entities below ``entity`` (its direct children only unless ``recursive``)."""
        for child in self.children(entity):
            yield child
            if recursive:
                yield from self.descendants(child, True)

    def create_view(self, container: Entity, types: Iterable[str], recursive: bool) -> Entity:
        """A ContainerView over ``container``'s descendants of ``types`` (every entity when empty)."""
        wanted = list(types)
        found = [e.ref for e in self.descendants(container, recursive)
                 if not wanted or any(is_a(e.ref.type, t) for t in wanted)]
        moid = f"session[{_uuid('session', time.time_ns())}]{uuid.uuid4()}"
        view = Entity(Ref("ContainerView", moid), {"view": found, "container": container.ref,
                                                   "type": Array("string", tuple(wanted)), "recursive": recursive})
        self.views[moid] = view
        return view

    def state(self) -> dict[str, Any]:
        """Counts shown by ``GET /_cloudcat/state``."""
        counts: dict[str, int] = {}
        for e in self.entities.values():
            counts[e.ref.type] = counts.get(e.ref.type, 0) + 1
        templates = sum(1 for e in self.entities.values() if e.ref.type == "VirtualMachine"
                        and lookup(e, "config.template") is True)
        return {"api_version": self.api_version, "entities": counts, "templates": templates,
                "sessions": len(self.sessions), "views": len(self.views), "storage_policies": len(self.policies),
                "libraries": len(self.libraries), "calls": dict(self.calls)}

    @staticmethod
    def now() -> str:
        """vCenter's clock, as ``xsd:dateTime``."""
        return dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _expanded(fixture: Mapping[str, Any]) -> dict[str, Any]:
    """The fixture with its ``generate: {vms: N, templates: M}`` block turned into VMs and templates."""
    out = dict(fixture)
    gen = out.pop("generate", None)
    if not gen:
        return out
    dcs = [dict(dc) for dc in out.get("datacenters") or [{"name": "DC0", "clusters": [{"name": "Cluster0"}],
                                                         "datastores": [{"name": "datastore1"}]}]]
    vms, templates = int(gen.get("vms", 0)), int(gen.get("templates", 0))
    guests = [("ubuntu64Guest", "Ubuntu Linux (64-bit)"), ("rhel9_64Guest", "Red Hat Enterprise Linux 9 (64-bit)"),
              ("windows2019srv_64Guest", "Microsoft Windows Server 2019 (64-bit)"),
              ("debian12_64Guest", "Debian GNU/Linux 12 (64-bit)")]
    for i in range(templates):
        guest = guests[i % len(guests)]
        dc = dcs[i % len(dcs)]
        dc["templates"] = [*(dc.get("templates") or []), {
            "name": f"tpl-{i:04d}", "guest_id": guest[0], "guest_full_name": guest[1], "cpus": 1 + i % 8,
            "memory_mib": 1024 * (1 + i % 16), "disk_gib": 20 + i % 100, "firmware": "efi" if i % 2 else "bios",
            "folder": "Templates"}]
    for i in range(vms):
        guest = guests[i % len(guests)]
        dc = dcs[i % len(dcs)]
        dc["vms"] = [*(dc.get("vms") or []), {
            "name": f"vm-{i:05d}", "guest_id": guest[0], "guest_full_name": guest[1], "cpus": 1 + i % 16,
            "memory_mib": 1024 * (1 + i % 32), "disk_gib": 40, "folder": f"app-{i % 20:02d}"}]
    out["datacenters"] = dcs
    return out


def generated_fixture(base: Mapping[str, Any], *, vms: int, templates: int) -> dict[str, Any]:
    """``base`` with ``vms`` virtual machines and ``templates`` templates added across its datacenters."""
    return {**base, "generate": {"vms": vms, "templates": templates}}
