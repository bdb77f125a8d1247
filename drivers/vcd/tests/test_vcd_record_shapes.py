"""Query records carry only the attributes VMware documents for their type, and the driver reads
template sizes and guest OS from documented sources (the ``vm`` query and the vApp template
document), not from attributes a ``vAppTemplate`` record does not have.

Allow-lists: VMware Cloud Director API reference, "Query result types", the XML representation of
each ``QueryResult<Type>RecordType`` (queryRecordView.xsd), at
``https://developer.broadcom.com/xapis/vmware-cloud-director-api/<version>/doc/types/<Type>.html``
for the version named per type (the newest page read, API 38.0–39.1; attributes are only ever
added between versions). ``href``, ``id`` and ``type`` come from the base ``QueryResultRecordType``.
"""

from __future__ import annotations

import functools
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from cloudcat.models import Kind
from cloudcat.testing import MockHandle, mock

_BASE = {"href", "id", "type"}
_DOCS = "https://developer.broadcom.com/xapis/vmware-cloud-director-api"

#: type -> (page read, documented attributes)
DOCUMENTED: dict[str, tuple[str, set[str]]] = {
    "orgVdc": (f"{_DOCS}/latest/doc/types/QueryResultOrgVdcRecordType.html", _BASE | {
        "name", "description", "computeProviderScope", "networkProviderScope", "isEnabled", "cpuAllocationMhz",
        "cpuLimitMhz", "cpuUsedMhz", "cpuReservedMhz", "memoryAllocationMB", "memoryLimitMB", "memoryUsedMB",
        "memoryReservedMB", "storageLimitMB", "storageUsedMB", "providerVdcName", "providerVdc", "orgName",
        "orgId", "numberOfVApps", "numberOfUnmanagedVApps", "numberOfMedia", "numberOfDisks",
        "numberOfVAppTemplates", "isBusy", "status", "numberOfDatastores", "numberOfStorageProfiles",
        "numberOfVMs", "numberOfRunningVMs", "networkPoolUniversalId", "numberOfDeployedVApps",
        "numberOfDeployedUnmanagedVApps", "isThinProvisioned", "isFastProvisioned", "isVgpuEnabled"}),
    "orgVdcStorageProfile": (f"{_DOCS}/39.0/doc/types/QueryResultOrgVdcStorageProfileRecordType.html", _BASE | {
        "name", "isEnabled", "isDefaultStorageProfile", "storageUsedMB", "storageLimitMB", "iopsAllocated",
        "iopsLimit", "numberOfConditions", "vdc", "vdcName", "isVdcBusy", "diskIopsEnabled", "diskIopsDefault",
        "diskIopsMax", "diskIopsPerGbMax", "ignoreIopsPlacement", "numberOfCapabilities",
        "inheritPvdcDefaultSettings"}),
    "catalog": (f"{_DOCS}/39.1/doc/types/QueryResultCatalogRecordType.html", _BASE | {
        "name", "description", "isPublished", "isShared", "creationDate", "orgName", "ownerName",
        "numberOfVAppTemplates", "numberOfMedia", "owner", "publishSubscriptionType", "version", "status",
        "isLocal", "isSharedWithManagedOrgs", "isDistributed", "isHealthy", "isSharedWithPeersParentManagedOrgs",
        "isPrimary", "boundAccessLevel"}),
    "adminCatalog": (f"{_DOCS}/latest/doc/types/QueryResultAdminCatalogRecordType.html", _BASE | {
        "org", "name", "isPublished", "isShared", "creationDate", "orgName", "ownerName", "numberOfTemplates",
        "numberOfMedia", "owner", "isLocal", "isSharedWithManagedOrgs", "isDistributed", "isHealthy",
        "isSharedWithPeersParentManagedOrgs", "isPrimary", "boundAccessLevel"}),
    "catalogItem": (f"{_DOCS}/38.0/doc/types/QueryResultCatalogItemRecordType.html", _BASE | {
        "entity", "entityName", "entityType", "catalog", "catalogName", "ownerName", "owner", "isPublished",
        "vdc", "vdcName", "isVdcEnabled", "creationDate", "isExpired", "status", "name"}),
    "vAppTemplate": (f"{_DOCS}/39.1/doc/types/QueryResultVAppTemplateRecordType.html", _BASE | {
        "ownerName", "catalog", "catalogName", "isPublished", "name", "description", "vdc", "vdcName", "org",
        "creationDate", "isBusy", "isGoldMaster", "isEnabled", "status", "isDeployed", "isExpired",
        "storageProfileName", "publishSubscriptionType", "version", "lastSuccessfulSync", "appTemplateId",
        "appTemplateName", "appVersion", "copyTpmOnInstantiate", "lastUpdatedTime", "lastUpdatedSiteId",
        "lastUpdatedSiteName"}),
    "vm": (f"{_DOCS}/38.0/doc/types/QueryResultVMRecordType.html", _BASE | {
        "name", "containerName", "container", "ownerName", "owner", "vdcName", "vdc", "description",
        "vappScopedLocalId", "isVAppTemplate", "isDeleted", "guestOs", "detectedGuestOs", "numberOfCpus",
        "memoryMB", "status", "networkName", "network", "ipAddress", "isBusy", "isDeployed", "isPublished",
        "catalogName", "hardwareVersion", "vmToolsStatus", "isInMaintenanceMode", "isAutoNature",
        "storageProfileName", "snapshot", "snapshotCreated", "gcStatus", "autoUndeployDate", "autoDeleteDate",
        "isAutoUndeployNotified", "isAutoDeleteNotified", "isComputePolicyCompliant", "vmSizingPolicyId",
        "vmPlacementPolicyId"}),
    "media": (f"{_DOCS}/latest/doc/types/QueryResultMediaRecordType.html", _BASE | {
        "ownerName", "catalogName", "isPublished", "name", "description", "vdc", "vdcName", "org",
        "creationDate", "isBusy", "storageB", "owner", "catalog", "catalogItem", "status", "storageProfileName",
        "version", "lastSuccessfulSync", "appTemplateId", "appTemplateName", "appVersion", "chartVersion",
        "attached", "mediaType", "lastUpdatedTime", "lastUpdatedSiteId", "lastUpdatedSiteName"}),
    "orgVdcNetwork": (f"{_DOCS}/39.0/doc/types/QueryResultOrgVdcNetworkRecordType.html", _BASE | {
        "name", "defaultGateway", "netmask", "subnetPrefixLength", "dns1", "dns2", "dnsSuffix", "linkType",
        "connectedTo", "vdc", "isBusy", "isShared", "vdcName", "isIpScopeInherited", "usedIpCount",
        "totalIpCount", "interfaceType", "crossVdcNetworkId", "vdcGroupId", "crossVdcNetworkLocationId"}),
}

#: What the mock's vAppTemplate records used to carry: none is an attribute of the type.
NOT_TEMPLATE_ATTRIBUTES = {"numberOfCpus", "memoryAllocationMB", "storageKB", "guestOs", "catalogItem", "numberOfVMs"}


@pytest.fixture(scope="module", params=["cloud-avenue", "generic-vcd"])
def vcd(request: pytest.FixtureRequest) -> Iterator[MockHandle]:
    with mock("vcd", request.param) as m:
        yield m


@functools.cache
def _http() -> httpx.Client:
    return httpx.Client()  # one connection pool for the module's many small reads


@functools.cache
def _token(url: str, user: str, password: str) -> str:
    login = _http().post(url + "/cloudapi/1.0.0/sessions", headers={"Accept": "application/json;version=38.0"},
                       auth=(user, password))
    return str(login.headers["X-VMWARE-VCLOUD-ACCESS-TOKEN"])


def _headers(m: MockHandle, kind: str) -> dict[str, str]:
    o = m.backend["options"]
    token = _token(m.url, f"{o['username']}@{o['org']}", o["password"])
    return {"Authorization": "Bearer " + token, "Accept": f"application/*+{kind};version=38.0"}


def _records(m: MockHandle, kind: str, fmt: str, wire: str) -> list[dict[str, Any]]:
    answer = _http().get(m.url + "/api/query", params={"type": kind, "format": fmt, "pageSize": 128},
                       headers=_headers(m, wire))
    assert answer.status_code == 200, answer.text
    if wire == "json":
        return [{k: v for k, v in r.items() if k not in ("_type", "otherAttributes")}
                for r in answer.json()["record"]]
    return [dict(el.attrib) for el in ET.fromstring(answer.content) if el.tag.endswith("Record")]


@pytest.mark.parametrize("wire", ["json", "xml"])
@pytest.mark.parametrize("kind", sorted(DOCUMENTED))
def test_records_carry_only_documented_attributes(vcd: MockHandle, kind: str, wire: str) -> None:
    page, allowed = DOCUMENTED[kind]
    for fmt in ("records", "idrecords"):
        for record in _records(vcd, kind, fmt, wire):
            extra = set(record) - allowed
            assert not extra, f"{kind} ({fmt}, {wire}) records carry {sorted(extra)}, not in {page}"


def test_template_records_have_no_size_cpu_memory_or_guest_os(vcd: MockHandle) -> None:
    for record in _records(vcd, "vAppTemplate", "records", "json"):
        assert not set(record) & NOT_TEMPLATE_ATTRIBUTES


def test_every_query_type_has_records_on_cloud_avenue() -> None:
    """The Cloud Avenue fixture holds at least one entity of each type, so no allow-list is vacuous."""
    with mock("vcd") as m:
        empty = [kind for kind in DOCUMENTED if not _records(m, kind, "records", "json")]
    assert not empty


def _items(m: MockHandle, kind: Kind, query_format: str = "json") -> list[Any]:
    from cloudcat_vcd.driver import VcdDriver

    with VcdDriver({**m.backend["options"], "query_format": query_format}) as d:
        return [i for region in d.regions() for i in d.items(kind, region.name)]


@pytest.mark.parametrize("query_format", ["json", "xml"])
def test_images_carry_sizes_and_guest_os_read_the_documented_way(vcd: MockHandle, query_format: str) -> None:
    templates = {t["name"]: t for c in vcd.platform.fixture["catalogs"] for t in c.get("templates", [])}
    images = {i.name: i for i in _items(vcd, Kind.IMAGE, query_format)}
    assert set(images) == set(templates)
    for name, spec in templates.items():
        image = images[name]
        assert image.min_disk_gib == round(spec["storage_mb"] / 1024, 3), name
        assert image.min_memory_mib == spec["memory_mb"], name
        assert image.extras["cpus"] == spec["cpus"] and image.extras["guest_os"] == spec["guest_os"]
        assert image.os_family is not None, name


def test_storage_and_compute_offers_keep_their_sizes(vcd: MockHandle) -> None:
    storage = _items(vcd, Kind.STORAGE)
    assert storage and all(s.storage_class for s in storage)
    compute = _items(vcd, Kind.COMPUTE)
    assert compute and all(c.vcpus and c.memory_mib for c in compute)
    # Cloud Director says nothing of sale status or zones: left unset, never invented
    assert all(c.sale_status is None and not c.zones for c in [*storage, *compute])
