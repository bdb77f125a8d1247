"""The mocked Cloud Director as VMware's own Python SDK sees it: unmodified pyvcloud 23.0.4 over
loopback sockets, a tenant's catalog reads from login to logout, and its own exceptions for faults.

pyvcloud follows the links of the documents it reads (the session's, the org's query links, the
QueryList), so these tests also prove the mock's documents link to what it serves.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from lxml import etree
from pyvcloud.vcd.client import BasicLoginCredentials, Client, QueryResultFormat
from pyvcloud.vcd.exceptions import (
    AccessForbiddenException,
    BadRequestException,
    UnauthorizedException,
    UnknownApiException,
    VcdResponseException,
)
from pyvcloud.vcd.org import Org
from pyvcloud.vcd.vdc import VDC

from cloudcat.testing import MockHandle, mock

QUERY_TYPES = ["orgVdc", "catalog", "catalogItem", "vAppTemplate", "vm", "media", "orgVdcStorageProfile",
               "orgVdcNetwork", "adminCatalog", "vApp"]
FORMATS = [QueryResultFormat.RECORDS, QueryResultFormat.ID_RECORDS, QueryResultFormat.REFERENCES]


@pytest.fixture(scope="module", params=["cloud-avenue", "generic-vcd"])
def vcd(request: pytest.FixtureRequest) -> Iterator[MockHandle]:
    with mock("vcd", request.param) as m:
        yield m


def _client(m: MockHandle) -> Client:
    args: dict[str, Any] = m.platform.pyvcloud_client_args()  # type: ignore[attr-defined]
    client = Client(**args["client"])
    client.set_credentials(BasicLoginCredentials(**args["credentials"]))
    return client


@pytest.fixture
def client(vcd: MockHandle) -> Iterator[Client]:
    c = _client(vcd)
    yield c
    if c.get_vcloud_session() is not None:
        c.logout()


def _fixture(m: MockHandle) -> dict[str, Any]:
    return m.platform.fixture


def test_client_args_are_pyvcloud_s_own(vcd: MockHandle) -> None:
    """``pyvcloud_client_args()`` (also ``client_settings()``): ``Client`` and ``BasicLoginCredentials``."""
    args = vcd.platform.pyvcloud_client_args()  # type: ignore[attr-defined]
    assert args["client"]["uri"] == vcd.url and args["client"]["api_version"] == "36.0"
    assert args["credentials"]["org"] == _fixture(vcd)["org"]["name"]
    assert vcd.platform.client_settings() == args


def test_login_through_cloudapi_sessions_and_the_session_document(client: Client, vcd: MockHandle) -> None:
    session = client.get_vcloud_session()
    assert session.get("org") == _fixture(vcd)["org"]["name"]
    assert client.get_api_version() == "36.0" and client.get_access_token()


def test_every_link_of_the_session_answers(client: Client) -> None:
    """The links ``/api/session`` advertises (org list, QueryList, the org, the entity resolver) serve."""
    session = client.get_vcloud_session()
    hrefs = {link.get("href") for link in session.Link if link.get("rel") != "openapi"}
    org_urn = client.get_org().get("id")
    for href in hrefs:
        target = href + org_urn if href.endswith("/api/entity/") else href
        assert client.get_resource(target) is not None, href


def test_org_list_and_org(client: Client, vcd: MockHandle) -> None:
    name = _fixture(vcd)["org"]["name"]
    assert [o.get("name") for o in client.get_org_list()] == [name]
    org = client.get_org_by_name(name)
    assert org.get("id").startswith("urn:vcloud:org:") and org.FullName.text


def test_vdcs_and_their_storage_profiles(client: Client, vcd: MockHandle) -> None:
    org = Org(client, resource=client.get_org())
    vdcs = org.list_vdcs()
    specs = {v["name"]: v for v in _fixture(vcd)["vdcs"]}
    assert [v["name"] for v in vdcs] == list(specs)
    for v in vdcs:
        profiles = VDC(client, href=v["href"]).get_storage_profiles()
        assert [p.get("name") for p in profiles] == [p["name"] for p in specs[v["name"]]["storage_profiles"]]
        assert all(p.get("id").startswith("urn:vcloud:vdcstorageProfile:") for p in profiles)
    found = org.get_vdc(vdcs[0]["name"])
    assert found is not None and found.get("name") == vdcs[0]["name"]


def test_catalogs_items_and_template_hardware(client: Client, vcd: MockHandle) -> None:
    org = Org(client, resource=client.get_org())
    catalogs = {c["name"]: c for c in _fixture(vcd)["catalogs"]}
    listed = org.list_catalogs()
    assert sorted(c["name"] for c in listed) == sorted(catalogs)
    for name, spec in catalogs.items():
        items = org.list_catalog_items(name)
        want = [t["name"] for t in spec.get("templates", [])] + [m["name"] for m in spec.get("media", [])]
        assert [i["name"] for i in items] == want
        assert all(i["id"].startswith("urn:vcloud:catalogitem:") for i in items)
    spec = next(iter(catalogs.values()))["templates"][0]
    item = org.get_catalog_item(next(iter(catalogs)), spec["name"])
    assert int(item.get("size")) == spec["storage_mb"] * 1024 * 1024
    template = client.get_resource(item.Entity.get("href"))
    assert template.get("id").startswith("urn:vcloud:vapptemplate:")
    vm_spec = template.Children.Vm.VmSpecSection
    assert int(vm_spec.NumCpus) == spec["cpus"] and int(vm_spec.MemoryResourceMb.Configured) == spec["memory_mb"]
    assert sum(int(d.SizeMb) for d in vm_spec.DiskSection.DiskSettings) == spec["storage_mb"]
    assert vm_spec.OsType.text == spec["guest_os"]


@pytest.mark.parametrize("kind", QUERY_TYPES)
def test_typed_queries_in_every_format(client: Client, vcd: MockHandle, kind: str) -> None:
    """Typed queries go through the QueryList (``GET /api/query``): every type, every format."""
    counts = set()
    for fmt in FORMATS:
        rows = list(client.get_typed_query(kind, query_result_format=fmt, page_size=2).execute())
        counts.add(len(rows))
        for row in rows:
            tag = etree.QName(row.tag).localname
            if fmt is QueryResultFormat.REFERENCES:
                assert tag.endswith("Reference") and row.get("type").endswith("+xml")
            else:
                assert tag.endswith("Record")
            if fmt is not QueryResultFormat.RECORDS:
                assert row.get("id", "").startswith("urn:vcloud:"), (kind, fmt, row.attrib)
    assert len(counts) == 1, f"{kind}: formats disagree on the record count ({counts})"


@pytest.mark.parametrize("kind", QUERY_TYPES)
def test_every_reference_a_query_gives_resolves(client: Client, kind: str) -> None:
    """Each entity a query names answers at its ``href``, with the same name and URN."""
    for ref in client.get_typed_query(kind, query_result_format=QueryResultFormat.REFERENCES).execute():
        entity = client.get_resource(ref.get("href"))
        assert (entity.get("name"), entity.get("id")) == (ref.get("name"), ref.get("id"))


def test_typed_query_filters_and_template_vms(client: Client, vcd: MockHandle) -> None:
    vms = list(client.get_typed_query("vm", query_result_format=QueryResultFormat.RECORDS,
                                      qfilter="isVAppTemplate==true").execute())
    templates = [t for c in _fixture(vcd)["catalogs"] for t in c.get("templates", [])]
    assert len(vms) == len(templates)
    first = templates[0]
    vm = next(v for v in vms if v.get("containerName") == first["name"])
    assert (int(vm.get("numberOfCpus")), int(vm.get("memoryMB"))) == (first["cpus"], first["memory_mb"])
    one = list(client.get_typed_query("vAppTemplate", query_result_format=QueryResultFormat.ID_RECORDS,
                                      equality_filter=("name", first["name"])).execute())
    assert [r.get("name") for r in one] == [first["name"]]


def test_logout_ends_the_session(vcd: MockHandle) -> None:
    client = _client(vcd)
    before = vcd.platform.state()["sessions"]
    client.logout()  # DELETE /api/session
    assert vcd.platform.state()["sessions"] == before - 1
    assert client.get_vcloud_session() is None


def test_an_entity_of_no_access_is_pyvcloud_s_access_forbidden(client: Client, vcd: MockHandle) -> None:
    with pytest.raises(AccessForbiddenException) as err:
        client.get_resource(vcd.url + "/api/catalog/00000000-0000-0000-0000-000000000000")
    assert err.value.vcd_error.get("minorErrorCode") == "ACCESS_TO_RESOURCE_IS_FORBIDDEN"


def test_a_bad_query_is_pyvcloud_s_bad_request(client: Client, vcd: MockHandle) -> None:
    with pytest.raises(BadRequestException):
        client.get_resource(vcd.url + "/api/query?type=noSuchType&format=records")


@pytest.mark.parametrize("status", [503, 429])
def test_injected_faults_raise_pyvcloud_s_own_exception(client: Client, vcd: MockHandle, status: int) -> None:
    """An injected fault is a Cloud Director ``Error`` document: pyvcloud parses it into its own
    exception (an ``lxml.etree.XMLSyntaxError`` would mean a body in another platform's form)."""
    vcd.faults.plan(method="GET", path="/api/query", status=status, retry_after=1 if status == 429 else None)
    try:
        with pytest.raises(UnknownApiException) as err:
            list(client.get_typed_query("orgVdc", query_result_format=QueryResultFormat.RECORDS).execute())
    finally:
        vcd.faults.clear()
    assert isinstance(err.value, VcdResponseException) and err.value.status_code == status
    assert err.value.vcd_error.get("majorErrorCode") == str(status)


def test_an_expired_session_is_pyvcloud_s_unauthorized(vcd: MockHandle) -> None:
    client = _client(vcd)
    assert vcd.faults.expire_tokens() >= 1
    with pytest.raises(UnauthorizedException) as err:
        client.get_org()
    assert err.value.vcd_error.get("minorErrorCode") == "UNAUTHORIZED"


def test_pyvcloud_s_errors_name_cloud_director_s_request_id(client: Client, vcd: MockHandle) -> None:
    """pyvcloud reads ``X-VMWARE-VCLOUD-REQUEST-ID`` into its exceptions (``VcdResponseException.request_id``,
    "(request id: …)" in the message): the id an operator gives VMware support. Cloud Director sends it on
    every answer (VMware Cloud Director API Programming Guide, "Response headers"), one per request."""
    ids = set()
    for _ in range(2):
        with pytest.raises(AccessForbiddenException) as err:
            client.get_resource(vcd.url + "/api/catalog/00000000-0000-0000-0000-000000000000")
        assert err.value.request_id and f"(request id: {err.value.request_id})" in str(err.value)
        ids.add(err.value.request_id)
    vcd.faults.plan(method="GET", path="/api/query", status=503)
    try:
        with pytest.raises(UnknownApiException) as fault:
            list(client.get_typed_query("orgVdc", query_result_format=QueryResultFormat.RECORDS).execute())
    finally:
        vcd.faults.clear()
    assert fault.value.request_id
    assert len(ids | {fault.value.request_id}) == 3
