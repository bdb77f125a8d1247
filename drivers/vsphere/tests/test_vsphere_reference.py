"""The mocked vCenter answers as the vSphere references say a vCenter answers, read with unchanged pyVmomi
over loopback HTTPS: the managers ``ServiceContent`` references, the caller's session, the search
index, a host's runtime, hardware and configuration, a datastore's info, mounts and browser, property
paths checked as vCenter checks them, and the Automation API's host list.

References: the vSphere Web Services API reference (``ServiceContent``, ``SessionManager``,
``SearchIndex``, ``HostSystem``, ``Datastore``, ``PropertyCollector``), the vSphere Automation API
reference (``GET /api/vcenter/host``), and govmomi's vcsim (``simulator/``) for the shapes.
"""

from __future__ import annotations

import base64
import json
import ssl
import urllib.error
import urllib.request
from collections.abc import Iterator
from typing import Any

import pytest
import yaml
from cloudcat_vsphere.mock import VsphereMock
from pyVim.connect import Disconnect, SmartConnect, VimSessionOrientedStub
from pyVmomi import VmomiSupport, vim, vmodl
from pyVmomi.SoapAdapter import SoapStubAdapter

from cloudcat.testing import MockHandle, mock

PC = vmodl.query.PropertyCollector


@pytest.fixture(scope="module")
def vcenter() -> Iterator[MockHandle]:
    with mock("vsphere") as m:
        yield m


def _fixture_with_troubled_hosts() -> dict[str, Any]:
    """The bundled fixture, with one Bronze host disconnected and the other in maintenance."""
    fixture = yaml.safe_load(VsphereMock.fixtures["vcenter"].read_text())
    bronze = fixture["datacenters"][1]["clusters"][0]["hosts"]
    bronze[0]["connection_state"] = "disconnected"
    bronze[1]["maintenance"] = True
    return dict(fixture)


@pytest.fixture(scope="module")
def troubled() -> Iterator[MockHandle]:
    with mock(VsphereMock, _fixture_with_troubled_hosts()) as m:
        yield m


def tls(m: MockHandle) -> ssl.SSLContext:
    return ssl.create_default_context(cafile=m.backend["options"]["verify"])


def connect(m: MockHandle) -> Any:
    o = m.backend["options"]
    return SmartConnect(host=o["host"], port=o["port"], user=o["user"], pwd=o["password"], sslContext=tls(m))


def of_type(content: Any, kind: Any) -> list[Any]:
    view = content.viewManager.CreateContainerView(content.rootFolder, [kind], True)
    try:
        return list(view.view)
    finally:
        view.Destroy()


def collect(content: Any, objects: list[Any], kind: Any, paths: list[str]) -> dict[str, Any]:
    """RetrievePropertiesEx of ``paths`` on ``objects``: ``{moid: (props, missingSet)}``."""
    spec = PC.FilterSpec(objectSet=[PC.ObjectSpec(obj=o) for o in objects],
                         propSet=[PC.PropertySpec(type=kind, pathSet=paths)])
    result = content.propertyCollector.RetrievePropertiesEx([spec], PC.RetrieveOptions())
    return {o.obj._moId: ({p.name: p.val for p in o.propSet}, list(o.missingSet)) for o in result.objects}


# -- ServiceContent and the managers ---------------------------------------------------------------
def test_service_content_references_every_manager_a_vcenter_has(vcenter: MockHandle) -> None:
    # ServiceContent (API reference): every manager is set on a vCenter; accountManager and
    # virtualizationManager are ESXi's; directPathProfileManager came with 9.0
    si = connect(vcenter)
    try:
        content = si.RetrieveContent()
        unset = {p.name for p in content._GetPropertyList() if getattr(content, p.name) is None}
        assert unset == {"dynamicType", "accountManager", "virtualizationManager", "directPathProfileManager"}
        assert content.perfManager._moId == "PerfMgr" and content.ovfManager._moId == "OvfManager"
        managers = [getattr(content, p.name) for p in content._GetPropertyList()
                    if isinstance(getattr(content, p.name), VmomiSupport.ManagedObject)]
        spec = PC.FilterSpec(objectSet=[PC.ObjectSpec(obj=m) for m in managers],
                             propSet=[PC.PropertySpec(type=t, all=True) for t in {type(m) for m in managers}])
        read = content.propertyCollector.RetrieveContents([spec])
        assert len(read) == len(managers) == 47  # every one exists, and reads
    finally:
        Disconnect(si)


def test_managers_read_as_a_tenant_reads_them(vcenter: MockHandle) -> None:
    si = connect(vcenter)
    try:
        content = si.RetrieveContent()
        # PerformanceManager: vCenter's four statistics intervals and counters numbered as vCenter's
        intervals = content.perfManager.historicalInterval
        assert [(i.samplingPeriod, i.length) for i in intervals] == [
            (300, 86400), (1800, 604800), (7200, 2592000), (86400, 31536000)]
        counters = {f"{c.groupInfo.key}.{c.nameInfo.key}.{c.rollupType}": c.key
                    for c in content.perfManager.perfCounter}
        assert counters["cpu.usage.average"] == 2 and counters["mem.usage.average"] == 24
        # AuthorizationManager: the system roles (negative ids), Administrator holding every privilege
        roles = {r.name: r for r in content.authorizationManager.roleList}
        assert {roles[n].roleId for n in ("Admin", "ReadOnly", "View", "Anonymous", "NoAccess")} == {-1, -2, -3, -4,
                                                                                                     -5}
        assert all(r.system for r in roles.values()) and roles["NoAccess"].privilege == []
        assert set(roles["ReadOnly"].privilege) == {"System.Anonymous", "System.Read", "System.View"}
        assert set(roles["Admin"].privilege) == {p.privId for p in content.authorizationManager.privilegeList}
        # CustomFieldsManager: no fields defined
        assert content.customFieldsManager.field == []
        # the evaluation license, the registered extensions, vCenter's settings, the event manager
        assert content.licenseManager.licenses[0].editionKey == "eval"
        assert content.licenseManager.licenseAssignmentManager._moId == "LicenseAssignmentManager"
        assert "com.vmware.vim.sms" in {e.key for e in content.extensionManager.extensionList}
        settings = {o.key: o.value for o in content.setting.setting}
        assert settings["event.maxAge"] == 30 and settings["VirtualCenter.FQDN"] == "vcenter.local"
        assert content.eventManager.maxCollector == 32 and content.taskManager.maxCollector == 32
        assert content.userDirectory.domainList == ["VSPHERE.LOCAL"]
        # a method the mock does not implement is a MethodNotFound, as vcsim answers (simulator.go)
        with pytest.raises(vmodl.fault.MethodNotFound) as raised:
            content.perfManager.QueryPerfCounterByLevel(level=1)
        assert raised.value.method == "QueryPerfCounterByLevel" and raised.value.receiver == content.perfManager
    finally:
        Disconnect(si)


def test_an_older_vcenter_has_only_the_managers_of_its_version() -> None:
    # ServiceContent: tenantManager since 6.9.1, siteInfoManager and guestCustomizationManager since 7.0
    with mock("vsphere", "vcenter-67") as m:
        si = connect(m)
        try:
            content = si.RetrieveContent()
            assert content.storageQueryManager is not None  # since 6.7.2
            assert content.tenantManager is None and content.siteInfoManager is None
            assert content.guestCustomizationManager is None
            assert "NoTrustedAdmin" not in {r.name for r in content.authorizationManager.roleList}
        finally:
            Disconnect(si)


# -- SessionManager ----------------------------------------------------------------------------------
def test_current_session_is_the_callers(vcenter: MockHandle) -> None:
    # SessionManager.currentSession: the UserSession of the caller; its key is not the session cookie,
    # and is what SessionIsActive takes
    si = connect(vcenter)
    try:
        manager = si.RetrieveContent().sessionManager
        session = manager.currentSession
        assert session.userName == "VSPHERE.LOCAL\\administrator" and session.fullName == "administrator"
        assert session.locale == session.messageLocale == "en" and session.ipAddress == "127.0.0.1"
        assert session.userAgent.startswith("pyvmomi") and session.loginTime <= session.lastActiveTime
        assert session.key not in si._stub.cookie
        assert manager.currentSession.callCount > session.callCount
        assert session.key in {s.key for s in manager.sessionList}
        assert manager.SessionIsActive(sessionID=session.key, userName="administrator@vsphere.local")
        assert not manager.SessionIsActive(sessionID=si._stub.cookie.split('"')[1], userName=session.userName)
        assert manager.defaultLocale == "en" and "ja" in manager.supportedLocaleList
        manager.Logout()
        # logged out: currentSession reads unset (vcsim property_collector.go getObject: the SessionManager
        # of no session is empty), everything else is NotAuthenticated
        assert manager.currentSession is None
        with pytest.raises(vim.fault.NotAuthenticated):
            si.RetrieveContent().rootFolder.childEntity  # noqa: B018 - attribute access is the call
    finally:
        Disconnect(si)


def test_pyvim_session_stub_logs_in_when_current_session_is_unset(vcenter: MockHandle) -> None:
    # pyVim.connect.VimSessionOrientedStub.makeUserLoginMethod reads sessionManager.currentSession
    # before logging in, and logs in again after a NotAuthenticated
    o = vcenter.backend["options"]
    soap = SoapStubAdapter(host=o["host"], port=o["port"], version="vim.version.v8_0_2_0", sslContext=tls(vcenter))
    stub = VimSessionOrientedStub(soap, VimSessionOrientedStub.makeUserLoginMethod(o["user"], o["password"]))
    content = vim.ServiceInstance("ServiceInstance", stub).RetrieveContent()
    assert {dc.name for dc in content.rootFolder.childEntity} == {"PAR-DC1", "LYS-DC2"}
    assert vcenter.faults.expire_tokens() >= 1
    assert content.rootFolder.childEntity[0].name == "PAR-DC1"  # logged in once more
    content.sessionManager.Logout()


# -- SearchIndex -------------------------------------------------------------------------------------
def test_search_index_answers_from_the_inventory(vcenter: MockHandle) -> None:
    si = connect(vcenter)
    try:
        content = si.RetrieveContent()
        index = content.searchIndex
        # FindByInventoryPath: names from the root folder, a datacenter's folders named vm/host/datastore/network
        rhel = index.FindByInventoryPath("PAR-DC1/vm/Templates/tpl-rhel-9.4")
        assert isinstance(rhel, vim.VirtualMachine) and rhel.name == "tpl-rhel-9.4"
        host = index.FindByInventoryPath("PAR-DC1/host/Gold/esx-g1.par.example")
        assert isinstance(host, vim.HostSystem)
        assert index.FindByInventoryPath("LYS-DC2/datastore/LYS-VMFS-01").name == "LYS-VMFS-01"
        assert index.FindByInventoryPath("/") == content.rootFolder
        assert index.FindByInventoryPath("PAR-DC1/vm/no-such-vm") is None
        assert index.FindChild(entity=content.rootFolder, name="LYS-DC2").name == "LYS-DC2"
        # FindByUuid: a VM by its BIOS or instance UUID, a host by its hardware UUID
        assert index.FindByUuid(uuid=rhel.config.uuid, vmSearch=True) == rhel
        assert index.FindByUuid(uuid=rhel.config.instanceUuid, vmSearch=True, instanceUuid=True) == rhel
        assert index.FindByUuid(uuid=host.hardware.systemInfo.uuid, vmSearch=False) == host
        assert index.FindByUuid(uuid=rhel.config.uuid, vmSearch=False) is None
        lys = index.FindByInventoryPath("LYS-DC2")
        assert index.FindByUuid(datacenter=lys, uuid=rhel.config.uuid, vmSearch=True) is None
        assert len(index.FindAllByUuid(uuid=host.hardware.systemInfo.uuid, vmSearch=False)) == 1
        # FindByDnsName: a host by its DNS name; a VM by the name its guest reports (none here: no Tools)
        assert index.FindByDnsName(dnsName="ESX-G2.par.example", vmSearch=False).name == "esx-g2.par.example"
        assert index.FindByDnsName(dnsName="web-01", vmSearch=True) is None
        assert index.FindByDatastorePath(datacenter=index.FindByInventoryPath("PAR-DC1"),
                                         path="[vsanDatastore] web-01/web-01.vmx").name == "web-01"
    finally:
        Disconnect(si)


# -- HostSystem and Datastore --------------------------------------------------------------------------
HOST_PATHS = ["name", "summary", "runtime.connectionState", "runtime.powerState", "runtime.inMaintenanceMode",
              "runtime.bootTime", "hardware.memorySize", "hardware.cpuInfo.numCpuCores",
              "hardware.cpuInfo.numCpuThreads", "hardware.cpuInfo.hz", "hardware.systemInfo.vendor",
              "hardware.systemInfo.model", "hardware.systemInfo.uuid", "config.product.name",
              "config.product.fullName", "config.product.version", "config.product.build",
              "config.product.apiVersion", "vm", "datastore", "datastoreBrowser"]


def test_a_connected_host_has_runtime_hardware_and_config(vcenter: MockHandle) -> None:
    # HostSystem: a connected host has runtime, hardware and config; they tell what its summary tells
    si = connect(vcenter)
    try:
        content = si.RetrieveContent()
        hosts = of_type(content, vim.HostSystem)
        read = collect(content, hosts, vim.HostSystem, HOST_PATHS)
        assert len(read) == 7
        for props, missing in read.values():
            assert missing == [] and set(props) == set(HOST_PATHS)
            hw = props["summary"].hardware
            assert props["runtime.connectionState"] == "connected" and props["runtime.powerState"] == "poweredOn"
            assert props["runtime.inMaintenanceMode"] is False
            assert props["hardware.memorySize"] == hw.memorySize
            assert props["hardware.cpuInfo.numCpuCores"] == hw.numCpuCores
            assert props["hardware.cpuInfo.numCpuThreads"] == hw.numCpuThreads
            assert props["hardware.cpuInfo.hz"] == hw.cpuMhz * 1_000_000
            assert (props["hardware.systemInfo.vendor"], props["hardware.systemInfo.model"],
                    props["hardware.systemInfo.uuid"]) == (hw.vendor, hw.model, hw.uuid)
            assert props["config.product.name"] == "VMware ESXi" and props["config.product.version"] == "8.0.3"
            assert props["config.product.fullName"] == f"VMware ESXi 8.0.3 build-{props['config.product.build']}"
            assert props["config.product.apiVersion"] == "8.0.3.0"
            assert props["summary"].config.product.build == props["config.product.build"]
        g1 = next(h for h in hosts if h.name == "esx-g1.par.example")
        assert all(vm.runtime.host == g1 for vm in g1.vm) and g1.vm
        assert g1.summary.quickStats.overallMemoryUsage > 0 and g1.summary.quickStats.uptime > 0
        assert g1.datastoreBrowser.datastore is None or isinstance(g1.datastoreBrowser.datastore, list)
    finally:
        Disconnect(si)


def test_a_datastore_has_info_mounts_and_a_browser(vcenter: MockHandle) -> None:
    # Datastore: info (the DatastoreInfo subtype of its file system), host (its mounts), browser, vm
    si = connect(vcenter)
    try:
        content = si.RetrieveContent()
        datastores = {ds.name: ds for ds in of_type(content, vim.Datastore)}
        kinds = {name: ds.info._wsdlName for name, ds in datastores.items()}
        assert kinds == {"PAR-VMFS-01": "VmfsDatastoreInfo", "PAR-NFS-ISO": "NasDatastoreInfo",
                         "vsanDatastore": "VsanDatastoreInfo", "LYS-VMFS-01": "VmfsDatastoreInfo"}
        vmfs = datastores["PAR-VMFS-01"]
        assert vmfs.info.url == vmfs.summary.url and vmfs.info.freeSpace == vmfs.summary.freeSpace
        assert vmfs.info.vmfs.capacity == vmfs.summary.capacity and vmfs.info.vmfs.majorVersion == 6
        assert vmfs.info.vmfs.uuid in vmfs.summary.url
        mounts = {m.key.name: m.mountInfo for m in vmfs.host}
        assert len(mounts) == 5 and all(m.accessible and m.mounted for m in mounts.values())
        assert vmfs.browser.datastore == [vmfs]
        vsan = datastores["vsanDatastore"]
        assert {vm.name for vm in vsan.vm} >= {"web-01", "db-01"}
    finally:
        Disconnect(si)


def test_property_paths_are_checked_as_vcenter_checks_them(vcenter: MockHandle) -> None:
    # A path is checked against the declared type of each step: not through a reference
    # (vmware/pyvmomi-community-samples#418: parent.name), nor into a subtype's property
    # (vmware/govmomi#2318: config.defaultPortConfig.vlan on a port group): InvalidProperty
    si = connect(vcenter)
    try:
        content = si.RetrieveContent()
        host = of_type(content, vim.HostSystem)[0]
        group = next(n for n in of_type(content, vim.dvs.DistributedVirtualPortgroup))
        for obj, kind, path in [(host, vim.HostSystem, "hardware.noSuchField"),
                                (host, vim.HostSystem, "parent.name"),
                                (host, vim.HostSystem, "summary.hardware.memorySize.more"),
                                (host, vim.HostSystem, "vm.name"),
                                (group, vim.dvs.DistributedVirtualPortgroup, "config.defaultPortConfig.vlan")]:
            with pytest.raises(vmodl.query.InvalidProperty) as raised:
                collect(content, [obj], kind, [path])
            assert raised.value.name == path
        assert collect(content, [group], vim.dvs.DistributedVirtualPortgroup,
                       ["config.defaultPortConfig"])[group._moId][0]["config.defaultPortConfig"].vlan.vlanId == 101
    finally:
        Disconnect(si)


def test_unset_properties_are_left_out_without_a_missing_set(troubled: MockHandle) -> None:
    # A disconnected host has no hardware nor config: the paths are valid, their values unset, and
    # RetrievePropertiesEx leaves them out; missingSet is for properties that could not be read
    # (vcsim property_collector.go: nil values are dropped, only faults go to missingSet)
    si = connect(troubled)
    try:
        content = si.RetrieveContent()
        hosts = {h.name: h for h in of_type(content, vim.HostSystem)}
        read = collect(content, list(hosts.values()), vim.HostSystem, HOST_PATHS)
        props, missing = read[hosts["esx-b1.lys.example"]._moId]
        assert missing == [] and props["runtime.connectionState"] == "disconnected"
        assert not any(p.startswith(("hardware.", "config.")) for p in props)
        assert props["runtime.powerState"] == "unknown" and "runtime.bootTime" not in props
        assert read[hosts["esx-b2.lys.example"]._moId][0]["runtime.inMaintenanceMode"] is True
        bronze = hosts["esx-b2.lys.example"].parent
        assert bronze.summary.numHosts == 2 and bronze.summary.numEffectiveHosts == 0
    finally:
        Disconnect(si)


# -- vSphere Automation API: GET /api/vcenter/host -------------------------------------------------------
def _rest(m: MockHandle, path: str, *, token: str | None = None) -> tuple[int, Any]:
    o = m.backend["options"]
    base = f"https://{o['host']}:{o['port']}"
    if token is None:
        basic = base64.b64encode(f"{o['user']}:{o['password']}".encode()).decode()
        login = "/api/session" if path.startswith("/api") else "/rest/com/vmware/cis/session"
        answer = json.load(urllib.request.urlopen(urllib.request.Request(
            base + login, method="POST", headers={"Authorization": "Basic " + basic}), context=tls(m)))
        token = answer["value"] if isinstance(answer, dict) else answer
    request = urllib.request.Request(base + path, headers={"vmware-api-session-id": token})
    try:
        with urllib.request.urlopen(request, context=tls(m)) as response:
            return response.status, json.load(response)
    except urllib.error.HTTPError as error:
        body = error.read()
        return error.code, json.loads(body) if error.headers.get_content_type() == "application/json" else body


def test_rest_host_list(troubled: MockHandle) -> None:
    # vcenter/host list: Host.Summary {host, name, connection_state, power_state}; power_state only
    # for a connected host; FilterSpec names, connection_states, clusters, datacenters, standalone
    status, hosts = _rest(troubled, "/api/vcenter/host")
    assert status == 200 and len(hosts) == 7
    by_name = {h["name"]: h for h in hosts}
    assert by_name["esx-g1.par.example"] == {"host": by_name["esx-g1.par.example"]["host"],
                                             "name": "esx-g1.par.example", "connection_state": "CONNECTED",
                                             "power_state": "POWERED_ON"}
    assert by_name["esx-b1.lys.example"] == {"host": by_name["esx-b1.lys.example"]["host"],
                                             "name": "esx-b1.lys.example", "connection_state": "DISCONNECTED"}
    assert by_name["esx-g1.par.example"]["host"].startswith("host-")
    _, found = _rest(troubled, "/api/vcenter/host?names=esx-g1.par.example&names=esx-s2.par.example")
    assert sorted(h["name"] for h in found) == ["esx-g1.par.example", "esx-s2.par.example"]
    _, found = _rest(troubled, "/api/vcenter/host?connection_states=DISCONNECTED")
    assert [h["name"] for h in found] == ["esx-b1.lys.example"]
    _, found = _rest(troubled, "/api/vcenter/host?standalone=true")
    assert found == []
    si = connect(troubled)
    try:
        content = si.RetrieveContent()
        gold = content.searchIndex.FindByInventoryPath("PAR-DC1/host/Gold")
        lys = content.searchIndex.FindByInventoryPath("LYS-DC2")
    finally:
        Disconnect(si)
    _, found = _rest(troubled, f"/api/vcenter/host?clusters={gold._moId}")
    assert len(found) == 3
    _, found = _rest(troubled, f"/api/vcenter/host?datacenters={lys._moId}")
    assert {h["name"] for h in found} == {"esx-b1.lys.example", "esx-b2.lys.example"}
    status, error = _rest(troubled, "/api/vcenter/host?connection_states=ASLEEP")
    assert status == 400 and error["error_type"] == "INVALID_ARGUMENT"
    status, error = _rest(troubled, "/api/vcenter/host", token="not-a-session")
    assert status == 401 and error["error_type"] == "UNAUTHENTICATED"


def test_rest_host_list_on_an_older_vcenter() -> None:
    # before 7.0 U2 there is no /api; /rest/vcenter/host answers {"value": [...]}, filters as filter.<name>
    with mock("vsphere", "vcenter-67") as m:
        status, answer = _rest(m, "/rest/vcenter/host?filter.names.1=esx-g2.par.example")
        assert status == 200
        assert [(h["name"], h["connection_state"]) for h in answer["value"]] == [("esx-g2.par.example",
                                                                                   "CONNECTED")]
        status, _ = _rest(m, "/api/vcenter/host", token="any")
        assert status == 404
