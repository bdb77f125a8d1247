"""vCenter's service managers: what ``ServiceContent`` references, and the properties of each that a
client reads.

The references and their ids are a vCenter's (``govc object.collect -s content`` on vCenter 8, as
vcsim's ``simulator/vpx/service_content.go`` records them); a manager appears from the API version
that introduced it (the "Since" of each ``ServiceContent`` property in the vSphere Web Services API
reference), and ``accountManager`` and ``virtualizationManager`` stay unset, as on every vCenter
(they are ESXi's). Properties are filled where a client reads them: the session manager's locales,
the system roles and their privileges, the performance manager's intervals and counters, the
evaluation license, the registered extensions, vCenter's settings; the rest exist and are unset.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from .values import Data, Entity, Open, Ref, Scalar, long

if TYPE_CHECKING:
    from .state import VcenterState

__all__ = ["SERVICE_CONTENT", "build", "principal", "service_content", "version_key"]

#: ``ServiceContent`` fields after ``about``, in the WSDL's order: (field, type, id, API version it came in).
SERVICE_CONTENT: list[tuple[str, str, str, str]] = [
    ("setting", "OptionManager", "VpxSettings", "2.0"),
    ("userDirectory", "UserDirectory", "UserDirectory", "2.0"),
    ("sessionManager", "SessionManager", "SessionManager", "2.0"),
    ("authorizationManager", "AuthorizationManager", "AuthorizationManager", "2.0"),
    ("serviceManager", "ServiceManager", "ServiceMgr", "5.1"),
    ("perfManager", "PerformanceManager", "PerfMgr", "2.0"),
    ("scheduledTaskManager", "ScheduledTaskManager", "ScheduledTaskManager", "2.0"),
    ("alarmManager", "AlarmManager", "AlarmManager", "2.0"),
    ("eventManager", "EventManager", "EventManager", "2.0"),
    ("taskManager", "TaskManager", "TaskManager", "2.0"),
    ("extensionManager", "ExtensionManager", "ExtensionManager", "2.5"),
    ("customizationSpecManager", "CustomizationSpecManager", "CustomizationSpecManager", "2.0"),
    ("guestCustomizationManager", "VirtualMachineGuestCustomizationManager", "GuestCustomizationManager", "6.8.7"),
    ("customFieldsManager", "CustomFieldsManager", "CustomFieldsManager", "2.0"),
    ("diagnosticManager", "DiagnosticManager", "DiagMgr", "2.0"),
    ("licenseManager", "LicenseManager", "LicenseManager", "2.0"),
    ("searchIndex", "SearchIndex", "SearchIndex", "2.0"),
    ("fileManager", "FileManager", "FileManager", "2.5"),
    ("datastoreNamespaceManager", "DatastoreNamespaceManager", "DatastoreNamespaceManager", "5.5"),
    ("virtualDiskManager", "VirtualDiskManager", "virtualDiskManager", "2.5"),
    ("snmpSystem", "HostSnmpSystem", "SnmpSystem", "4.0"),
    ("vmProvisioningChecker", "VirtualMachineProvisioningChecker", "ProvChecker", "4.0"),
    ("vmCompatibilityChecker", "VirtualMachineCompatibilityChecker", "CompatChecker", "4.0"),
    ("ovfManager", "OvfManager", "OvfManager", "4.0"),
    ("ipPoolManager", "IpPoolManager", "IpPoolManager", "4.0"),
    ("dvSwitchManager", "DistributedVirtualSwitchManager", "DVSManager", "4.0"),
    ("hostProfileManager", "HostProfileManager", "HostProfileManager", "4.0"),
    ("clusterProfileManager", "ClusterProfileManager", "ClusterProfileManager", "4.0"),
    ("complianceManager", "ProfileComplianceManager", "MoComplianceManager", "4.0"),
    ("localizationManager", "LocalizationManager", "LocalizationManager", "4.0"),
    ("storageResourceManager", "StorageResourceManager", "StorageResourceManager", "4.1"),
    ("guestOperationsManager", "GuestOperationsManager", "guestOperationsManager", "5.0"),
    ("overheadMemoryManager", "OverheadMemoryManager", "OverheadMemoryManager", "6.0"),
    ("certificateManager", "CertificateManager", "certificateManager", "6.0"),
    ("ioFilterManager", "IoFilterManager", "IoFilterManager", "6.0"),
    ("vStorageObjectManager", "VcenterVStorageObjectManager", "VStorageObjectManager", "6.5"),
    ("hostSpecManager", "HostSpecificationManager", "HostSpecificationManager", "6.5"),
    ("cryptoManager", "CryptoManagerKmip", "CryptoManager", "6.5"),
    ("healthUpdateManager", "HealthUpdateManager", "HealthUpdateManager", "6.5"),
    ("failoverClusterConfigurator", "FailoverClusterConfigurator", "FailoverClusterConfigurator", "6.5"),
    ("failoverClusterManager", "FailoverClusterManager", "FailoverClusterManager", "6.5"),
    ("tenantManager", "TenantTenantManager", "TenantManager", "6.9.1"),
    ("siteInfoManager", "SiteInfoManager", "SiteInfoManager", "7.0"),
    ("storageQueryManager", "StorageQueryManager", "StorageQueryManager", "6.7.2"),
]

#: Objects the managers reference in turn: (type, id).
_MORE = [("PropertyCollector", "propertyCollector"), ("ViewManager", "ViewManager"),
         ("LicenseAssignmentManager", "LicenseAssignmentManager"),
         ("GuestAuthManager", "guestOperationsAuthManager"), ("GuestFileManager", "guestOperationsFileManager"),
         ("GuestProcessManager", "guestOperationsProcessManager"),
         ("GuestWindowsRegistryManager", "guestWindowsRegistryManager"), ("GuestAliasManager", "guestAliasManager")]

#: Locales vCenter 8 speaks.
LOCALES = ("de", "en", "es", "fr", "it", "ja", "ko", "zh_CN", "zh_TW")

#: A sample of vCenter's privileges; the Administrator role holds them all.
PRIVILEGES = (
    "Alarm.Acknowledge", "Alarm.Create", "Alarm.Delete", "Alarm.Edit", "Authorization.ModifyPermissions",
    "Authorization.ModifyRoles", "ContentLibrary.AddLibraryItem", "ContentLibrary.CreateLocalLibrary",
    "ContentLibrary.DownloadSession", "ContentLibrary.ReadStorage", "ContentLibrary.TypeIntrospection",
    "Cryptographer.Access", "Cryptographer.Encrypt", "Cryptographer.ManageKeys", "DVPortgroup.Create",
    "DVPortgroup.Modify", "DVSwitch.Create", "DVSwitch.Modify", "Datacenter.Create", "Datacenter.Move",
    "Datastore.AllocateSpace", "Datastore.Browse", "Datastore.Config", "Datastore.FileManagement",
    "Extension.Register", "Folder.Create", "Folder.Delete", "Global.CancelTask", "Global.Licenses",
    "Global.LogEvent", "Global.ManageCustomFields", "Global.SetCustomField", "Global.Settings",
    "Host.Config.Maintenance", "Host.Config.Network", "Host.Config.Storage", "Host.Inventory.AddHostToCluster",
    "Host.Inventory.EditCluster", "Host.Tpm.Read", "Network.Assign", "Network.Config", "Resource.AssignVMToPool",
    "Resource.CreatePool", "Resource.HotMigrate", "ScheduledTask.Create", "Sessions.TerminateSession",
    "Sessions.ValidateSession", "StorageProfile.View", "System.Anonymous", "System.Read", "System.View",
    "Task.Create", "TrustedAdmin.ManageTrustedHosts", "TrustedAdmin.ReadTrustedHosts", "VApp.Import",
    "VirtualMachine.Config.CPUCount", "VirtualMachine.Config.Memory", "VirtualMachine.Interact.PowerOff",
    "VirtualMachine.Interact.PowerOn", "VirtualMachine.Inventory.Create", "VirtualMachine.Inventory.Delete",
    "VirtualMachine.Provisioning.Clone", "VirtualMachine.Provisioning.DeployTemplate",
    "VirtualMachine.State.CreateSnapshot",
)

_TRUSTED = [p for p in PRIVILEGES if p.startswith("TrustedAdmin.") or p.startswith("Host.Tpm.")]

#: vCenter's system roles: (id, name, label, summary, privileges), from vcsim's
#: ``simulator/esx/authorization_manager.go`` and the API reference's ``AuthorizationManager``.
ROLES: list[tuple[int, str, str, str, list[str], str]] = [
    (-8, "NoTrustedAdmin", "No Trusted Infrastructure administrator",
     "Full access without Trusted Infrastructure privileges", [p for p in PRIVILEGES if p not in _TRUSTED], "7.0"),
    (-7, "TrustedAdmin", "Trusted Infrastructure administrator", "Setup and monitoring of Trusted Infrastructure",
     sorted({"System.Anonymous", "System.Read", "System.View", *_TRUSTED}), "7.0"),
    (-6, "NoCryptoAdmin", "No cryptography administrator",
     "Full access without Cryptographic operations and Trusted Infrastructure privileges",
     [p for p in PRIVILEGES if p not in _TRUSTED and not p.startswith("Cryptographer.")], "6.5"),
    (-5, "NoAccess", "No access", "Used for restricting granted access", [], "2.0"),
    (-4, "Anonymous", "Anonymous", "Not logged-in user (cannot be granted)", ["System.Anonymous"], "2.0"),
    (-3, "View", "View", "Visibility access (cannot be granted)", ["System.Anonymous", "System.View"], "2.0"),
    (-2, "ReadOnly", "Read-only", "See details of objects, but not make changes",
     ["System.Anonymous", "System.Read", "System.View"], "2.0"),
    (-1, "Admin", "Administrator", "Full access rights", list(PRIVILEGES), "2.0"),
]

#: Performance counters of statistics level 1, as vCenter numbers them (vcsim's
#: ``simulator/vpx/performance_manager.go``): (key, group, name, rollup, stats type, unit, level,
#: per-device level, label, summary).
COUNTERS: list[tuple[int, str, str, str, str, str, int, int, str, str]] = [
    (2, "cpu", "usage", "average", "rate", "percent", 1, 3, "Usage", "CPU usage as a percentage during the interval"),
    (6, "cpu", "usagemhz", "average", "rate", "megaHertz", 1, 3, "Usage in MHz",
     "CPU usage in megahertz during the interval"),
    (12, "cpu", "ready", "summation", "delta", "millisecond", 1, 3, "Ready",
     "Time that the virtual machine was ready, but could not get scheduled to run on the physical CPU during last "
     "measurement interval"),
    (24, "mem", "usage", "average", "absolute", "percent", 1, 3, "Host consumed %",
     "Percentage of host physical memory that has been consumed"),
    (90, "mem", "vmmemctl", "average", "absolute", "kiloBytes", 1, 3, "Ballooned memory",
     "Amount of guest physical memory reclaimed from the virtual machine by the balloon driver in the guest"),
    (98, "mem", "consumed", "average", "absolute", "kiloBytes", 1, 3, "Consumed",
     "Amount of host physical memory consumed for backing up guest physical memory pages"),
    (125, "disk", "usage", "average", "rate", "kiloBytesPerSecond", 1, 3, "Usage",
     "Aggregated disk I/O rate. For hosts, this metric includes the rates for all virtual machines running on the "
     "host during the collection interval."),
    (133, "disk", "maxTotalLatency", "latest", "absolute", "millisecond", 1, 3, "Highest latency",
     "Highest latency value across all disks used by the host"),
    (143, "net", "usage", "average", "rate", "kiloBytesPerSecond", 1, 3, "Usage",
     "Network utilization (combined transmit-rates and receive-rates) during the interval"),
    (155, "sys", "uptime", "latest", "absolute", "second", 1, 3, "Uptime",
     "Total time elapsed, in seconds, since last system startup"),
    (278, "cpu", "totalmhz", "average", "rate", "megaHertz", 1, 3, "Total",
     "Total amount of CPU resources of all hosts in the cluster"),
    (279, "mem", "totalmb", "average", "absolute", "megaBytes", 1, 3, "Total",
     "Total amount of host physical memory of all hosts in the cluster that is available for virtual machine "
     "memory (physical memory for use by the guest OS) and virtual machine overhead memory"),
]
_GROUPS = {"cpu": "CPU", "mem": "Memory", "disk": "Disk", "net": "Network", "sys": "System"}
_UNITS = {"percent": ("%", "Percentage"), "megaHertz": ("MHz", "Megahertz"), "millisecond": ("ms", "Millisecond"),
          "kiloBytes": ("KB", "Kilobyte"), "kiloBytesPerSecond": ("KBps", "Kilobytes per second"),
          "second": ("s", "Second"), "megaBytes": ("MB", "Megabyte")}

#: vCenter's default statistics intervals: (key, sampling period, name, length in seconds).
INTERVALS = [(1, 300, "Past day", 86400), (2, 1800, "Past week", 604800), (3, 7200, "Past month", 2592000),
             (4, 86400, "Past year", 31536000)]

#: Extensions every vCenter 8 registers: (key, label, summary, company).
EXTENSIONS = [
    ("com.vmware.vim.sms", "VMware vSphere Profile-driven Storage", "Storage Monitoring Service", "VMware Inc."),
    ("com.vmware.vim.eam", "vSphere ESX Agent Manager", "Manages the deployment of agent virtual machines",
     "VMware, Inc."),
    ("com.vmware.vcIntegrity", "VMware vSphere Lifecycle Manager", "Manages the lifecycle of hosts and clusters",
     "VMware, Inc."),
    ("com.vmware.vsan.health", "vSAN Health Service", "vSAN Health Service", "VMware, Inc."),
    ("com.vmware.rbd", "Auto Deploy", "Auto Deploy", "VMware, Inc."),
]


def version_key(version: str) -> tuple[int, ...]:
    """``"7.0.3.1"`` as ``(7, 0, 3, 1)``, for comparisons."""
    return tuple(int(p) for p in re.findall(r"\d+", version)[:4])


def _since(state: VcenterState, version: str) -> bool:
    return version_key(state.api_version) >= version_key(version)


def service_content(state: VcenterState) -> list[tuple[str, Any]]:
    """The ``ServiceContent`` fields, in the WSDL's order: references, and ``about``."""
    about = Data("AboutInfo", {
        "name": "VMware vCenter Server", "fullName": f"VMware vCenter Server {state.version} build-{state.build}",
        "vendor": "VMware, Inc.", "version": state.version, "build": state.build, "localeVersion": "INTL",
        "localeBuild": "000", "osType": "linux-x64", "productLineId": "vpx", "apiType": "VirtualCenter",
        "apiVersion": state.api_version, "instanceUuid": state.instance_uuid,
        "licenseProductName": "VMware VirtualCenter Server",
        "licenseProductVersion": state.version.split(".")[0] + ".0"})
    fields: list[tuple[str, Any]] = [("rootFolder", state.root.ref),
                                     ("propertyCollector", Ref("PropertyCollector", "propertyCollector")),
                                     ("viewManager", Ref("ViewManager", "ViewManager")), ("about", about)]
    fields += [(name, Ref(kind, moid)) for name, kind, moid, since in SERVICE_CONTENT if _since(state, since)]
    return fields


def principal(user: str) -> str:
    """How vCenter names a user in a session: ``administrator@vsphere.local`` is ``VSPHERE.LOCAL\\administrator``."""
    name, _, domain = user.partition("@")
    return f"{domain.upper()}\\{name}" if domain else name


def _described(kind: str, key: str, label: str, summary: str) -> Data:
    return Data(kind, {"label": label, "summary": summary, "key": key})


def _element(key: str, label: str, summary: str | None = None) -> Data:
    return _described("ElementDescription", key, label, summary or label)


def _authorization(state: VcenterState) -> dict[str, Any]:
    groups = sorted({p.rsplit(".", 1)[0] for p in PRIVILEGES})
    roles = [Data("AuthorizationRole", {"roleId": role_id, "system": True, "name": name,
                                        "info": Data("Description", {"label": label, "summary": summary}),
                                        "privilege": privileges})
             for role_id, name, label, summary, privileges, since in ROLES if _since(state, since)]
    return {
        "privilegeList": [Data("AuthorizationPrivilege", {"privId": p, "onParent": False, "name": p.rsplit(".", 1)[1],
                                                          "privGroupName": p.rsplit(".", 1)[0]}) for p in PRIVILEGES],
        "roleList": roles,
        "description": Data("AuthorizationDescription", {
            "privilege": [_element(p, p.rsplit(".", 1)[1]) for p in PRIVILEGES],
            "privilegeGroup": [_element(g, g) for g in groups]}),
    }


def _performance() -> dict[str, Any]:
    counters = []
    for key, group, name, rollup, stats, unit, level, per_device, label, summary in COUNTERS:
        unit_label, unit_summary = _UNITS[unit]
        counters.append(Data("PerfCounterInfo", {
            "key": key, "nameInfo": _element(name, label, summary),
            "groupInfo": _element(group, _GROUPS[group]), "unitInfo": _element(unit, unit_label, unit_summary),
            "rollupType": rollup, "statsType": stats, "level": level, "perDeviceLevel": per_device}))
    rollups = ["average", "maximum", "minimum", "latest", "summation", "none"]
    return {
        "description": Data("PerformanceDescription", {
            "counterType": [_element(r, r.capitalize()) for r in rollups],
            "statsType": [_element(s, s.capitalize()) for s in ("absolute", "delta", "rate")]}),
        "historicalInterval": [Data("PerfInterval", {"key": key, "samplingPeriod": period, "name": name,
                                                     "length": length, "level": 1, "enabled": True})
                               for key, period, name, length in INTERVALS],
        "perfCounter": counters,
    }


def _license(state: VcenterState) -> dict[str, Any]:
    product = [("ProductName", "VMware VirtualCenter Server"),
               ("ProductVersion", state.version.split(".")[0] + ".0")]
    evaluation = Data("LicenseManagerLicenseInfo", {
        "licenseKey": "00000-00000-00000-00000-00000", "editionKey": "eval", "name": "Evaluation Mode", "total": 0,
        "costUnit": "", "properties": [Data("KeyAnyValue", {"key": k, "value": Open(v)}) for k, v in product]})
    return {
        "source": Data("EvaluationLicenseSource", {"remainingHours": long(1440)}), "sourceAvailable": True,
        "licensedEdition": "", "licenses": [evaluation],
        "licenseAssignmentManager": Ref("LicenseAssignmentManager", "LicenseAssignmentManager"),
        "evaluation": Data("LicenseManagerEvaluationInfo", {
            "properties": [Data("KeyAnyValue", {"key": "expirationHours", "value": Open(1440)})]}),
    }


def _extensions(state: VcenterState) -> list[Data]:
    stamp = Scalar("xsd:dateTime", state.started)
    return [Data("Extension", {
        "description": Data("Description", {"label": label, "summary": summary}), "key": key, "company": company,
        "version": state.version, "lastHeartbeatTime": stamp, "shownInSolutionManager": False})
        for key, label, summary, company in EXTENSIONS]


def _settings(state: VcenterState) -> list[Data]:
    values: list[tuple[str, Any]] = [
        ("VirtualCenter.InstanceName", state.hostname), ("VirtualCenter.FQDN", state.hostname),
        ("VirtualCenter.VimApiUrl", f"https://{state.hostname}/sdk"), ("event.maxAge", 30),
        ("event.maxAgeEnabled", True), ("task.maxAge", 30), ("task.maxAgeEnabled", True),
        ("config.vpxd.sso.default.admin", next(iter(state.users), "administrator@vsphere.local"))]
    return [Data("OptionValue", {"key": k, "value": Open(v)}) for k, v in values]


def _custom_fields(names: Iterable[str]) -> list[Data]:
    return [Data("CustomFieldDef", {"key": 100 + i, "name": name, "type": "string"})
            for i, name in enumerate(names, start=1)]


def session_manager_props() -> dict[str, Any]:
    """The SessionManager's properties that do not depend on who asks."""
    return {"messageLocaleList": list(LOCALES), "supportedLocaleList": list(LOCALES), "defaultLocale": "en"}


def build(state: VcenterState, custom_fields: Iterable[str] = ()) -> dict[str, Entity]:
    """Every manager ``ServiceContent`` names and the objects they reference, by id."""
    props: dict[str, dict[str, Any]] = {
        "VpxSettings": {"setting": _settings(state)},
        "UserDirectory": {"domainList": sorted({u.partition("@")[2].upper() for u in state.users} - {""})},
        "AuthorizationManager": _authorization(state),
        "PerfMgr": _performance(),
        "EventManager": {"description": Data("EventDescription", {
            "category": [_element(c, c.capitalize()) for c in ("info", "warning", "error", "user")],
            "eventInfo": []}), "maxCollector": 32},
        "TaskManager": {"description": Data("TaskDescription", {
            "methodInfo": [], "state": [_element(s, s.capitalize()) for s in ("queued", "running", "success",
                                                                               "error")],
            "reason": []}), "maxCollector": 32},
        "ExtensionManager": {"extensionList": _extensions(state)},
        "CustomFieldsManager": {"field": _custom_fields(custom_fields)},
        "LicenseManager": _license(state),
        "CryptoManager": {"enabled": True},
        "guestOperationsManager": {
            "authManager": Ref("GuestAuthManager", "guestOperationsAuthManager"),
            "fileManager": Ref("GuestFileManager", "guestOperationsFileManager"),
            "processManager": Ref("GuestProcessManager", "guestOperationsProcessManager"),
            "guestWindowsRegistryManager": Ref("GuestWindowsRegistryManager", "guestWindowsRegistryManager"),
            "aliasManager": Ref("GuestAliasManager", "guestAliasManager")},
    }
    objects = {moid: Entity(Ref(kind, moid), props.get(moid, {})) for _, kind, moid, since in SERVICE_CONTENT
               if _since(state, since)}
    objects.update({moid: Entity(Ref(kind, moid), {}) for kind, moid in _MORE})
    return objects
