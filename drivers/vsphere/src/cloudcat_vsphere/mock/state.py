"""State of the mocked vCenter: its inventory as managed objects with typed properties, its managers
(:mod:`.managers`), sessions, container views, storage policies and content libraries, built from a
fixture.

Property values keep their vSphere types (:mod:`.values`), so the wire format (:mod:`.responses`)
writes them as vCenter does. Objects tell the same facts wherever they appear: a host's
``hardware`` says what its ``summary.hardware`` says, a datastore's ``info`` what its ``summary``
says, a VM's host lists the VM.

Managed object ids follow vCenter's: ``group-d1`` (root folder), ``datacenter-N``, ``group-vN`` /
``group-hN`` / ``group-sN`` / ``group-nN`` (a datacenter's folders), ``domain-cN`` (clusters),
``host-N``, ``datastore-N``, ``network-N``, ``dvportgroup-N``, ``dvs-N``, ``vm-N``,
``datastoreBrowser-<id>``.

Fixture keys beyond names and sizes: a host's ``connection_state`` (``connected``,
``disconnected``, ``notResponding``), ``power_state``, ``maintenance``, ``boot_time``,
``cpu_packages``, ``esxi_version``/``esxi_build``; a datastore's ``remote_host``/``remote_path``
(NFS); ``custom_fields`` (names); ``vcenter.hostname``.
"""

from __future__ import annotations

import datetime as dt
import time
import uuid
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from . import managers, schema
from .values import Array, Data, Entity, Open, Ref, Scalar, long, lookup, stable_uuid

__all__ = ["API_LADDER", "Array", "Data", "Entity", "Library", "LibraryItem", "Open", "Policy", "Ref", "Scalar",
           "Session", "VcenterState", "generated_fixture", "has_property", "is_a", "lookup"]

GIB = 1024 ** 3

#: vim25 API versions, newest first: what ``vimServiceVersions.xml`` lists as prior versions.
API_LADDER = ["8.0.3.0", "8.0.2.0", "8.0.1.0", "8.0.0.2", "8.0.0.1", "8.0.0.0", "7.0.3.2", "7.0.3.1", "7.0.3.0",
              "7.0.2.1", "7.0.2.0", "7.0.1.1", "7.0.1.0", "7.0.0.2", "7.0.0.1", "7.0.0.0", "6.9.1", "6.8.7",
              "6.7.3", "6.7.2", "6.7.1", "6.7", "6.5", "6.0", "5.5", "5.1", "5.0", "4.1", "4.0"]


def has_property(type_name: str, path: str) -> bool:
    """Whether objects of ``type_name`` have the property path ``path`` (see :mod:`.schema`)."""
    return schema.valid_path(type_name, path)


def is_a(type_name: str, wanted: str) -> bool:
    """Whether a managed object of ``type_name`` is a ``wanted`` (itself or a subtype)."""
    return schema.is_a(type_name, wanted)


@dataclass
class Session:
    """A SOAP (or REST) session: ``key`` is the cookie (or token) that names it; ``user_key`` the
    ``UserSession.key`` vCenter shows for it, which is not the cookie."""

    key: str
    user: str
    created: float
    rest_token: str | None = None
    user_key: str = ""
    login_time: str = ""
    last_active: str = ""
    locale: str = "en"
    ip_address: str = "127.0.0.1"
    user_agent: str = ""
    call_count: int = 0


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


_uuid = stable_uuid
_long = long

#: ESXi GA builds, by release, for hosts whose fixture does not say.
_ESXI_BUILDS = {"8.0.3": "24022510", "8.0.2": "22380479", "8.0.1": "21495797", "8.0.0": "20513097",
                "7.0.3": "18644231", "6.7.0": "14320388", "6.5.0": "4564106"}
#: The largest file and virtual disk a VMFS 6 volume holds (62 TB disks, 64 TB files).
_MAX_FILE, _MAX_DISK = 64 * 1024 ** 4, 62 * 1024 ** 4


def _datastore_info(spec: Mapping[str, Any], url: str, capacity: int, free: int) -> Data:
    """``Datastore.info``: the subtype of ``DatastoreInfo`` its file system calls for."""
    name, ds_type = str(spec["name"]), str(spec.get("type", "VMFS"))
    common: dict[str, Any] = {"name": name, "url": url, "freeSpace": _long(free), "maxFileSize": _long(_MAX_FILE),
                              "maxVirtualDiskCapacity": _long(_MAX_DISK), "maxMemoryFileSize": _long(_MAX_FILE),
                              "timestamp": Scalar("xsd:dateTime", VcenterState.now())}
    volume = url.removeprefix("ds:///vmfs/volumes/").rstrip("/")
    if ds_type == "VMFS":
        disk = "naa." + _uuid("lun", name).replace("-", "")
        return Data("VmfsDatastoreInfo", {**common, "maxPhysicalRDMFileSize": _long(_MAX_FILE),
                                          "maxVirtualRDMFileSize": _long(_MAX_DISK), "vmfs": Data("HostVmfsVolume", {
            "type": "VMFS", "name": name, "capacity": _long(capacity), "blockSizeMb": 1, "blockSize": 1024,
            "maxBlocks": 63963136, "majorVersion": 6, "version": "6.82", "uuid": volume,
            "extent": [Data("HostScsiDiskPartition", {"diskName": disk, "partition": 1})], "vmfsUpgradable": False,
            "ssd": True, "local": False})})
    if ds_type in ("NFS", "NFS41"):
        return Data("NasDatastoreInfo", {**common, "nas": Data("HostNasVolume", {
            "type": ds_type, "name": name, "capacity": _long(capacity),
            "remoteHost": str(spec.get("remote_host", "nfs.local")),
            "remotePath": str(spec.get("remote_path", f"/exports/{name}"))})})
    if ds_type == "vsan":
        return Data("VsanDatastoreInfo", {**common, "membershipUuid": _uuid("vsan", name), "accessGenNo": 0})
    return Data("DatastoreInfo", common)


def _host_hardware(vendor: str, model: str, host_uuid: str, cpu_model: str, packages: int, cores: int, threads: int,
                   mhz: int, memory: int) -> Data:
    """``HostSystem.hardware``, telling what the host's summary tells (``hz`` is ``cpuMhz`` in hertz)."""
    hz = mhz * 1_000_000
    per_package = max(1, threads // packages)
    cpu_vendor = "amd" if "AMD" in cpu_model.upper() else "intel"
    return Data("HostHardwareInfo", {
        "systemInfo": Data("HostSystemInfo", {"vendor": vendor, "model": model, "uuid": host_uuid,
                                              "serialNumber": host_uuid.replace("-", "")[:7].upper()}),
        "cpuInfo": Data("HostCpuInfo", {"numCpuPackages": Scalar("xsd:short", packages),
                                        "numCpuCores": Scalar("xsd:short", cores),
                                        "numCpuThreads": Scalar("xsd:short", threads), "hz": _long(hz)}),
        "cpuPkg": [Data("HostCpuPackage", {
            "index": Scalar("xsd:short", i), "vendor": cpu_vendor, "hz": _long(hz), "busHz": _long(100_000_000),
            "description": cpu_model,
            "threadId": [Scalar("xsd:short", t) for t in range(i * per_package, (i + 1) * per_package)]})
            for i in range(packages)],
        "memorySize": _long(memory),
        "numaInfo": Data("HostNumaInfo", {"type": "NUMA", "numNodes": packages}),
        "smcPresent": False})


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
        self.hostname = str(vc.get("hostname", "vcenter.local"))
        #: When vCenter started (extensions' last heartbeat), as ``xsd:dateTime``.
        self.started = self.now()
        self.users = {str(u["name"]): str(u["password"]) for u in fixture.get("users") or
                      [{"name": "administrator@vsphere.local", "password": "VMware1!"}]}
        self.entities: dict[str, Entity] = {}
        #: Managed objects outside the inventory tree: managers, datastore browsers.
        self.objects: dict[str, Entity] = {}
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
        self.objects.update(managers.build(self, [str(f) for f in fixture.get("custom_fields") or []]))
        self._session_manager = managers.session_manager_props()
        self.enter(None)

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
        vms = self._machines(spec, folders["vmFolder"], hosts, datastores, networks)
        self._link(hosts, datastores, networks, vms)

    def _machines(self, spec: Mapping[str, Any], root: Entity, hosts: list[Entity], datastores: list[Entity],
                  networks: list[Entity]) -> list[Entity]:
        """A datacenter's templates and VMs, in the VM folders their ``folder`` names."""
        templates = list(spec.get("templates") or [])
        folders: dict[str, Entity] = {}
        vms = []
        for i, vm in enumerate([*templates, *(spec.get("vms") or [])]):
            parent = root
            folder_name = vm.get("folder")
            if folder_name:
                if folder_name not in folders:
                    folders[folder_name] = self._folder(root, "v", str(folder_name),
                                                        ("Folder", "VirtualMachine", "VirtualApp"))
                parent = folders[folder_name]
            vms.append(self._vm(parent, vm, template=i < len(templates),
                                host=hosts[i % len(hosts)] if hosts else None,
                                datastore=datastores[0] if datastores else None,
                                network=networks[0] if networks else None))
        return vms

    def _link(self, hosts: list[Entity], datastores: list[Entity], networks: list[Entity],
              vms: list[Entity]) -> None:
        """What a datacenter's objects say of each other: a host's VMs, datastores and networks and its
        load, a datastore's mounts and VMs, a network's hosts and VMs, a resource pool's VMs."""
        on_host: dict[str, list[Entity]] = {h.ref.value: [] for h in hosts}
        on_datastore: dict[str, list[Ref]] = {d.ref.value: [] for d in datastores}
        on_network: dict[str, list[Ref]] = {n.ref.value: [] for n in networks}
        in_pool: dict[str, list[Ref]] = {}
        for vm in vms:
            host = lookup(vm, "runtime.host")
            if isinstance(host, Ref) and host.value in on_host:
                on_host[host.value].append(vm)
            for ref in vm.props.get("datastore") or []:
                on_datastore.setdefault(ref.value, []).append(vm.ref)
            for ref in vm.props.get("network") or []:
                on_network.setdefault(ref.value, []).append(vm.ref)
            pool = vm.props.get("resourcePool")
            if isinstance(pool, Ref):
                in_pool.setdefault(pool.value, []).append(vm.ref)
        for host in hosts:
            here = on_host[host.ref.value]
            host.props["vm"] = [vm.ref for vm in here]
            host.props["datastore"] = [d.ref for d in datastores]
            host.props["network"] = [n.ref for n in networks]
            self._load(host, here)
        for ds in datastores:
            volume = ds.props["summary"].fields["url"].removeprefix("ds://").rstrip("/")
            ds.props["host"] = [Data("DatastoreHostMount", {"key": h.ref, "mountInfo": Data("HostMountInfo", {
                "path": volume, "accessMode": "readWrite", "mounted": True,
                "accessible": lookup(h, "runtime.connectionState") == "connected"})}) for h in hosts]
            ds.props["vm"] = on_datastore[ds.ref.value]
        for net in networks:
            net.props["host"] = [h.ref for h in hosts]
            net.props["vm"] = on_network.get(net.ref.value, [])
        for pool_id, refs in in_pool.items():
            self.entities[pool_id].props["vm"] = refs

    def _load(self, host: Entity, vms: list[Entity]) -> None:
        """A host's quick stats, from the VMs it runs: each running VM's memory and 100 MHz per vCPU,
        over the hypervisor's own 2 GiB and 50 MHz."""
        stats = host.props["summary"].fields["quickStats"].fields
        if lookup(host, "runtime.connectionState") != "connected":
            return
        running = [vm for vm in vms if lookup(vm, "runtime.powerState") == "poweredOn"]
        hardware = host.props["summary"].fields["hardware"].fields
        capacity_mhz = int(hardware["numCpuCores"].value) * int(hardware["cpuMhz"])
        capacity_mb = int(hardware["memorySize"].value) // (1024 * 1024)
        stats["overallCpuUsage"] = min(capacity_mhz, 50 + 100 * sum(int(lookup(vm, "config.hardware.numCPU") or 0)
                                                                    for vm in running))
        stats["overallMemoryUsage"] = min(capacity_mb, 2048 + sum(int(lookup(vm, "config.hardware.memoryMB") or 0)
                                                                  for vm in running))
        boot = lookup(host, "runtime.bootTime")
        if isinstance(boot, Scalar):
            started = dt.datetime.fromisoformat(str(boot.value).replace("Z", "+00:00"))
            stats["uptime"] = max(0, int((dt.datetime.now(dt.UTC) - started).total_seconds()))

    def _datastore(self, folder: Entity, spec: Mapping[str, Any]) -> Entity:
        moid = f"datastore-{self._next()}"
        name = str(spec["name"])
        capacity = int(float(spec.get("capacity_gib", 1024)) * GIB)
        free = int(float(spec.get("free_gib", float(spec.get("capacity_gib", 1024)) / 2)) * GIB)
        ds_type = str(spec.get("type", "VMFS"))
        volume = _uuid("ds", name)[:23]
        url = f"ds:///vmfs/volumes/{volume}/"
        summary = Data("DatastoreSummary", {
            "datastore": Ref("Datastore", moid), "name": name, "url": url,
            "capacity": _long(capacity), "freeSpace": _long(free), "uncommitted": _long(0),
            "accessible": True, "multipleHostAccess": True, "type": ds_type, "maintenanceMode": "normal"})
        browser = Ref("HostDatastoreBrowser", f"datastoreBrowser-{moid}")
        self.objects[browser.value] = Entity(browser, {"datastore": [Ref("Datastore", moid)]})
        entity = self._add("Datastore", moid, {"name": name, "info": _datastore_info(spec, url, capacity, free),
                                                "summary": summary, "browser": browser, "overallStatus": "green"})
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
        pool = self._add("ResourcePool", f"resgroup-{self._next()}", {"name": "Resources", "parent": cluster.ref,
                                                                      "owner": cluster.ref})
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
        # effective: what the hosts that can run VMs (connected, not in maintenance) give
        usable = [h.props["summary"].fields["hardware"].fields for h in hosts
                  if lookup(h, "runtime.connectionState") == "connected" and not lookup(h, "runtime.inMaintenanceMode")]
        cluster.props["summary"] = Data("ClusterComputeResourceSummary", {
            "totalCpu": mhz, "totalMemory": _long(memory), "numCpuCores": Scalar("xsd:short", cores),
            "numCpuThreads": Scalar("xsd:short", threads),
            "effectiveCpu": sum(int(hw["numCpuCores"].value) * int(hw["cpuMhz"]) for hw in usable),
            "effectiveMemory": _long(sum(int(hw["memorySize"].value) for hw in usable) // (1024 * 1024)),
            "numHosts": len(hosts), "numEffectiveHosts": len(usable), "overallStatus": "green"})
        cluster.props["overallStatus"] = "green"
        return hosts

    def _host(self, cluster: Entity, spec: Mapping[str, Any]) -> Entity:
        """A host, its summary, hardware, runtime and configuration all told from the same facts. A host
        that is not connected keeps its summary (vCenter's last view of it) but has no ``hardware`` nor
        ``config``, as on vCenter."""
        moid = f"host-{self._next()}"
        ref = Ref("HostSystem", moid)
        name = str(spec["name"])
        cores = int(spec.get("cpu_cores", 32))
        packages = max(1, int(spec.get("cpu_packages", 2)))
        threads = cores * 2  # hyper-threading
        mhz = int(spec.get("cpu_mhz", 1995))
        memory = int(float(spec.get("memory_gib", 512)) * GIB)
        cpu_model = str(spec.get("cpu_model", "Intel(R) Xeon(R) Gold 6330 CPU @ 2.00GHz"))
        vendor, model = str(spec.get("vendor", "Dell Inc.")), str(spec.get("model", "PowerEdge R750"))
        host_uuid = _uuid("host", name)
        connection = str(spec.get("connection_state", "connected"))
        connected = connection == "connected"
        maintenance = bool(spec.get("maintenance", False))
        status = "green" if connected else ("gray" if connection == "disconnected" else "red")
        hardware_summary = Data("HostHardwareSummary", {
            "vendor": vendor, "model": model, "uuid": host_uuid, "memorySize": _long(memory), "cpuModel": cpu_model,
            "cpuMhz": mhz, "numCpuPkgs": Scalar("xsd:short", packages), "numCpuCores": Scalar("xsd:short", cores),
            "numCpuThreads": Scalar("xsd:short", threads), "numNics": 4, "numHBAs": 2})
        runtime_fields: dict[str, Any] = {
            "connectionState": connection,
            "powerState": str(spec.get("power_state", "poweredOn")) if connected else "unknown",
            "standbyMode": "none" if connected else None, "inMaintenanceMode": maintenance,
            "inQuarantineMode": False if connected else None,
            "bootTime": Scalar("xsd:dateTime", str(spec.get("boot_time", "2024-06-03T07:12:45Z")))
            if connected else None}
        runtime = Data("HostRuntimeInfo", {k: v for k, v in runtime_fields.items() if v is not None})
        product = self._esxi(spec)
        thumbprint = ":".join(_uuid("thumbprint", name).replace("-", "")[i:i + 2].upper() for i in range(0, 32, 2))
        summary = Data("HostListSummary", {
            "host": ref, "hardware": hardware_summary, "runtime": runtime,
            "config": Data("HostConfigSummary", {"name": name, "port": 443, "sslThumbprint": thumbprint,
                                                 "product": product, "vmotionEnabled": True,
                                                 "faultToleranceEnabled": True}),
            "quickStats": Data("HostListSummaryQuickStats", {}), "overallStatus": status, "rebootRequired": False})
        props: dict[str, Any] = {"name": name, "parent": cluster.ref, "overallStatus": status, "runtime": runtime,
                                 "summary": summary}
        if connected:
            props["hardware"] = _host_hardware(vendor, model, host_uuid, cpu_model, packages, cores, threads, mhz,
                                               memory)
            short_name, _, domain = name.partition(".")
            props["config"] = Data("HostConfigInfo", {
                "host": ref, "product": product,
                "hyperThread": Data("HostHyperThreadScheduleInfo", {"available": True, "active": True, "config": True}),
                "network": Data("HostNetworkInfo", {"dnsConfig": Data("HostDnsConfig", {
                    "dhcp": False, "hostName": short_name, "domainName": domain,
                    "searchDomain": [domain] if domain else []})})})
        browser = Ref("HostDatastoreBrowser", f"datastoreBrowser-{moid}")
        props["datastoreBrowser"] = browser
        entity = self._add("HostSystem", moid, props)
        self.objects[browser.value] = Entity(browser, {})
        return entity

    def _esxi(self, spec: Mapping[str, Any]) -> Data:
        """The ESXi a host runs: by default the release of its vCenter."""
        version = str(spec.get("esxi_version", self.version))
        build = str(spec.get("esxi_build", _ESXI_BUILDS.get(version, self.build)))
        return Data("AboutInfo", {
            "name": "VMware ESXi", "fullName": f"VMware ESXi {version} build-{build}", "vendor": "VMware, Inc.",
            "version": version, "build": build, "localeVersion": "INTL", "localeBuild": "000",
            "osType": "vmnix-x86", "productLineId": "embeddedEsx", "apiType": "HostAgent",
            "apiVersion": str(spec.get("esxi_api_version", self.api_version)),
            "licenseProductName": "VMware ESX Server", "licenseProductVersion": version.split(".")[0] + ".0"})

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
        entity = self.entities.get(ref.value) or self.views.get(ref.value) or self.objects.get(ref.value)
        if entity is None or (not is_a(entity.ref.type, ref.type) and ref.type != entity.ref.type):
            return None
        return entity

    # -- sessions ---------------------------------------------------------------------------
    def open_session(self, user: str, *, ip_address: str, user_agent: str, locale: str = "en") -> Session:
        """A new SOAP session of ``user``: its cookie and its ``UserSession.key`` differ, as on vCenter."""
        now = self.now()
        session = Session(key=uuid.uuid4().hex + uuid.uuid4().hex[:8], user=user, created=time.monotonic(),
                          user_key="52" + str(uuid.uuid4())[2:], login_time=now, last_active=now,
                          locale=locale or "en", ip_address=ip_address, user_agent=user_agent)
        self.sessions[session.key] = session
        return session

    @staticmethod
    def user_session(session: Session) -> Data:
        """The ``UserSession`` vCenter shows for ``session``."""
        return Data("UserSession", {
            "key": session.user_key, "userName": managers.principal(session.user),
            "fullName": session.user.split("@")[0], "loginTime": Scalar("xsd:dateTime", session.login_time),
            "lastActiveTime": Scalar("xsd:dateTime", session.last_active), "locale": session.locale,
            "messageLocale": session.locale, "extensionSession": False, "ipAddress": session.ip_address,
            "userAgent": session.user_agent, "callCount": _long(session.call_count)})

    def enter(self, caller: Session | None) -> None:
        """Start answering a call of ``caller`` (``None``: nobody logged in). What the SessionManager
        shows depends on who asks: without a session, nothing (``currentSession`` unset, which is how
        pyVmomi's session stubs tell they must log in); with one, its ``currentSession``."""
        manager = self.objects["SessionManager"]
        if caller is None:
            manager.props = {}
            return
        caller.last_active = self.now()
        caller.call_count += 1
        manager.props = {"sessionList": [self.user_session(s) for s in self.sessions.values()],
                         "currentSession": self.user_session(caller), **self._session_manager}

    # -- search index -----------------------------------------------------------------------
    def find_child(self, entity: Entity, name: str) -> Entity | None:
        """``SearchIndex.FindChild``: the direct child of ``entity`` named ``name``, as the inventory
        path sees children (a datacenter's four folders, a cluster's hosts and root pool, a pool's
        pools and VMs)."""
        refs: list[Ref] = list(entity.props.get("childEntity") or [])
        if entity.ref.type == "Datacenter":
            refs = [entity.props[k] for k in ("vmFolder", "hostFolder", "datastoreFolder", "networkFolder")]
        elif is_a(entity.ref.type, "ComputeResource"):
            refs = [*(entity.props.get("host") or []), *([entity.props["resourcePool"]]
                                                         if "resourcePool" in entity.props else [])]
        elif is_a(entity.ref.type, "ResourcePool"):
            refs = [*(entity.props.get("resourcePool") or []), *(entity.props.get("vm") or [])]
        for ref in refs:
            child = self.entities.get(ref.value)
            if child is not None and child.name == name:
                return child
        return None

    def find_by_inventory_path(self, path: str) -> Entity | None:
        """``SearchIndex.FindByInventoryPath``: ``PAR-DC1/vm/Templates/tpl-rhel-9.4`` from the root folder
        (``/`` is the root folder itself); ``None`` when a step is missing."""
        if path == "/":
            return self.root
        steps = [s for s in path.split("/") if s]
        found: Entity | None = self.root if steps else None
        for step in steps:
            if found is None:
                break
            found = self.find_child(found, step)
        return found

    def _in(self, entity: Entity, datacenter: Ref | None) -> bool:
        if datacenter is None:
            return True
        ref: Any = entity.ref
        while isinstance(ref, Ref):
            if ref == datacenter:
                return True
            parent = self.entities.get(ref.value)
            ref = parent.props.get("parent") if parent is not None else None
        return False

    def find_by_uuid(self, value: str, *, vm: bool, instance: bool = False,
                     datacenter: Ref | None = None) -> list[Entity]:
        """``SearchIndex.FindAllByUuid``: VMs by BIOS (or instance) UUID, or hosts by hardware UUID."""
        path = ("config.instanceUuid" if instance else "config.uuid") if vm else "summary.hardware.uuid"
        kind = "VirtualMachine" if vm else "HostSystem"
        return [e for e in self.entities.values() if e.ref.type == kind and self._in(e, datacenter)
                and str(lookup(e, path) or "").lower() == value.lower()]

    def find_by_dns_name(self, name: str, *, vm: bool, datacenter: Ref | None = None) -> list[Entity]:
        """``SearchIndex.FindAllByDnsName``: VMs by the host name their guest reports (VMware Tools),
        hosts by their DNS name (``config.network.dnsConfig``)."""
        found = []
        for e in self.entities.values():
            if e.ref.type != ("VirtualMachine" if vm else "HostSystem") or not self._in(e, datacenter):
                continue
            if vm:
                dns = str(lookup(e, "guest.hostName") or "")
            else:
                short, domain = lookup(e, "config.network.dnsConfig.hostName"), lookup(
                    e, "config.network.dnsConfig.domainName")
                dns = f"{short}.{domain}" if short and domain else str(short or "")
            if dns and dns.lower() == name.lower():
                found.append(e)
        return found

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
