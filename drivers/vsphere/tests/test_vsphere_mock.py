"""The mocked vCenter against ordinary pyvmomi code, unchanged: SmartConnect, walking the inventory by
attribute access, a ContainerView, a PropertyCollector query with paging, the SPBM recipe, and the
faults vCenter answers with — all over loopback HTTPS verified against the mock's CA bundle."""

from __future__ import annotations

import json
import ssl
import subprocess
import sys
import urllib.request
from collections.abc import Iterator
from typing import Any

import pytest
from cloudcat_vsphere.mock import VsphereMock, generated_fixture
from pyVim.connect import Disconnect, SmartConnect
from pyVmomi import pbm, vim, vmodl
from pyVmomi.SoapAdapter import SoapStubAdapter

from cloudcat.testing import MockHandle, mock


@pytest.fixture(scope="module")
def vcenter() -> Iterator[MockHandle]:
    with mock("vsphere") as m:
        yield m


def tls(m: MockHandle) -> ssl.SSLContext:
    return ssl.create_default_context(cafile=m.backend["options"]["verify"])


def connect(m: MockHandle, **overrides: Any) -> Any:
    o = {**m.backend["options"], **overrides}
    return SmartConnect(host=o["host"], port=o["port"], user=o["user"], pwd=o["password"], sslContext=tls(m))


def test_smartconnect_negotiates_and_walks_the_inventory(vcenter: MockHandle) -> None:
    si = connect(vcenter)
    try:
        assert si._stub.versionId == '"urn:vim25/8.0.2.0"'  # 8.0.3 lists an internal id, then 8.0.2.0
        content = si.RetrieveContent()
        assert content.about.apiType == "VirtualCenter" and content.about.apiVersion == "8.0.3.0"
        datacenters = {dc.name: dc for dc in content.rootFolder.childEntity}
        assert set(datacenters) == {"PAR-DC1", "LYS-DC2"}
        par = datacenters["PAR-DC1"]
        assert [c.name for c in par.hostFolder.childEntity] == ["Gold", "Silver"]
        gold = par.hostFolder.childEntity[0]
        assert isinstance(gold, vim.ClusterComputeResource) and len(gold.host) == 3
        assert gold.summary.numCpuCores == 96 and gold.host[0].summary.hardware.cpuMhz == 2800
        folder = next(e for e in par.vmFolder.childEntity if isinstance(e, vim.Folder))
        assert folder.name == "Templates" and all(vm.config.template for vm in folder.childEntity)
        assert {ds.summary.type for ds in par.datastore} == {"vsan", "VMFS", "NFS"}
        pg = next(n for n in par.network if isinstance(n, vim.dvs.DistributedVirtualPortgroup))
        assert pg.config.distributedVirtualSwitch.name == "PAR-DSwitch"
        assert pg.config.defaultPortConfig.vlan.vlanId == 101
        assert isinstance(si.CurrentTime(), object)
    finally:
        Disconnect(si)


def test_container_view_with_attribute_access(vcenter: MockHandle) -> None:
    si = connect(vcenter)
    try:
        content = si.RetrieveContent()
        view = content.viewManager.CreateContainerView(content.rootFolder, [vim.VirtualMachine], True)
        templates = {vm.name: vm for vm in view.view if vm.config.template}
        view.Destroy()
        assert set(templates) == {"tpl-ubuntu-22.04", "tpl-rhel-9.4", "tpl-windows-2022", "tpl-debian-12"}
        rhel = templates["tpl-rhel-9.4"]
        assert (rhel.config.guestId, rhel.config.firmware, rhel.summary.config.numCpu) == ("rhel9_64Guest", "efi", 2)
        disk = rhel.config.hardware.device[0]
        assert isinstance(disk, vim.vm.device.VirtualDisk) and disk.capacityInKB == 50 * 1024 * 1024
        with pytest.raises(vmodl.fault.ManagedObjectNotFound) as raised:
            _ = view.view  # destroyed
        assert raised.value.obj._moId == view._moId
    finally:
        Disconnect(si)


def test_property_collector_pages_with_tokens(vcenter: MockHandle) -> None:
    si = connect(vcenter)
    try:
        content = si.RetrieveContent()
        pc = vmodl.query.PropertyCollector
        view = content.viewManager.CreateContainerView(content.rootFolder, [vim.VirtualMachine], True)
        spec = pc.FilterSpec(
            objectSet=[pc.ObjectSpec(obj=view, skip=True, selectSet=[
                pc.TraversalSpec(name="v", path="view", skip=False, type=vim.view.ContainerView)])],
            propSet=[pc.PropertySpec(type=vim.VirtualMachine, pathSet=["name", "config.hardware.memoryMB"])])
        result = content.propertyCollector.RetrievePropertiesEx([spec], pc.RetrieveOptions(maxObjects=3))
        pages, names = 0, []
        while result is not None:
            pages += 1
            names += [dict((p.name, p.val) for p in o.propSet)["name"] for o in result.objects]
            result = content.propertyCollector.ContinueRetrievePropertiesEx(result.token) if result.token else None
        assert pages == 3 and len(names) == 8 == len(set(names))
        everything = content.propertyCollector.RetrieveContents([spec])  # RetrieveProperties, no paging
        assert len(everything) == 8
        with pytest.raises(vmodl.query.InvalidProperty) as raised:
            content.propertyCollector.ContinueRetrievePropertiesEx("no-such-token")
        assert raised.value.name == "token"
        assert si.content.about.apiVersion == "8.0.3.0"  # Fetch of ServiceInstance.content
    finally:
        Disconnect(si)


def test_pbm_recipe(vcenter: MockHandle) -> None:
    si = connect(vcenter)
    try:
        cookie = si._stub.cookie.split('"')[1]
        o = vcenter.backend["options"]
        stub = SoapStubAdapter(host=o["host"], port=o["port"], version="pbm.version.version11", path="/pbm/sdk",
                               poolSize=0, sslContext=tls(vcenter), requestContext={"vcSessionCookie": cookie})
        manager = pbm.ServiceInstance("ServiceInstance", stub).RetrieveContent().profileManager
        ids = manager.PbmQueryProfile(resourceType=pbm.profile.ResourceType(resourceType="STORAGE"),
                                      profileCategory="REQUIREMENT")
        profiles = {p.name: p for p in manager.PbmRetrieveContent(profileIds=ids)}
        assert "vSAN Default Storage Policy" in profiles and len(profiles) == 4
        gold = profiles["Gold - RAID-1 FTT=2"].constraints.subProfiles[0].capability
        rules = {c.id.id: c.constraint[0].propertyInstance[0].value for c in gold}
        assert rules["hostFailuresToTolerate"] == 2 and rules["iopsLimit"] == 10000
    finally:
        Disconnect(si)


def test_real_faults(vcenter: MockHandle) -> None:
    with pytest.raises(vim.fault.InvalidLogin):
        connect(vcenter, password="wrong")
    si = connect(vcenter)
    content = si.RetrieveContent()
    content.sessionManager.Logout()
    with pytest.raises(vim.fault.NotAuthenticated) as raised:
        content.rootFolder.childEntity  # noqa: B018 - attribute access is the call
    assert raised.value.privilegeId == "System.View"


def test_content_library_rest(vcenter: MockHandle) -> None:
    o = vcenter.backend["options"]
    base = f"https://{o['host']}:{o['port']}"
    login = urllib.request.Request(base + "/api/session", method="POST", headers={
        "Authorization": "Basic " + __import__("base64").b64encode(f"{o['user']}:{o['password']}".encode()).decode()})
    token = json.load(urllib.request.urlopen(login, context=tls(vcenter)))

    def get(path: str) -> Any:
        req = urllib.request.Request(base + path, headers={"vmware-api-session-id": token})
        return json.load(urllib.request.urlopen(req, context=tls(vcenter)))

    [library] = get("/api/content/library")
    items = [get(f"/api/content/library/item/{i}") for i in get(f"/api/content/library/item?library_id={library}")]
    template = next(i for i in items if i["type"] == "vm-template")
    details = get(f"/api/vcenter/vm-template/library-items/{template['id']}")
    assert details["memory"]["size_mib"] == 4096 and details["cpu"]["count"] == 2
    legacy = get(f"/rest/vcenter/vm-template/library-items/{template['id']}")["value"]
    assert legacy["memory"]["size_MiB"] == 4096  # pre-7.0 U2 spelling under /rest


def test_generated_inventory_and_control_endpoints() -> None:
    base = VsphereMock.fixtures["vcenter"]
    fixture = generated_fixture(__import__("yaml").safe_load(base.read_text()), vms=40, templates=10)
    with mock(VsphereMock, fixture, page_limit=7) as m:
        ctx = tls(m)
        state = json.load(urllib.request.urlopen(m.url + "/_cloudcat/state", context=ctx))
        assert state["templates"] == 14 and state["entities"]["VirtualMachine"] == 58
        si = connect(m)
        Disconnect(si)
        state = json.load(urllib.request.urlopen(m.url + "/_cloudcat/state", context=ctx))
        assert state["calls"]["Login"] == 1 and state["calls"]["Logout"] == 1
        reset = urllib.request.Request(m.url + "/_cloudcat/reset", method="POST")
        assert json.load(urllib.request.urlopen(reset, context=ctx)) == {"reset": True}



def test_module_serves_a_generated_inventory() -> None:
    proc = subprocess.Popen([sys.executable, "-m", "cloudcat_vsphere.mock", "--vms", "30", "--templates", "6"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        first = json.loads(proc.stdout.readline())
        assert first["url"].startswith("https://127.0.0.1:") and first["backend"]["driver"] == "vsphere"
        context = ssl.create_default_context(cafile=first["backend"]["options"]["verify"])
        state = json.load(urllib.request.urlopen(first["url"] + "/_cloudcat/state", context=context))
        assert state["entities"]["VirtualMachine"] == 8 + 36 and state["templates"] == 4 + 6
    finally:
        proc.terminate()
        assert proc.wait(timeout=10) == 0


def test_unknown_property_paths_are_refused(vcenter: MockHandle) -> None:
    si = connect(vcenter)
    try:
        content = si.RetrieveContent()
        pc = vmodl.query.PropertyCollector
        vm = content.viewManager.CreateContainerView(content.rootFolder, [vim.VirtualMachine], True).view[0]
        spec = pc.FilterSpec(objectSet=[pc.ObjectSpec(obj=vm)],
                             propSet=[pc.PropertySpec(type=vim.VirtualMachine, pathSet=["confg.template"])])
        with pytest.raises(vmodl.query.InvalidProperty) as raised:
            content.propertyCollector.RetrievePropertiesEx([spec], pc.RetrieveOptions())
        assert raised.value.name == "confg.template"
        assert vm.guest is None  # a property vCenter has, unset here
    finally:
        Disconnect(si)
