"""The mocked Cloud Director's wire format, seen by a plain HTTP client."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from collections.abc import Iterator

import httpx
import pytest
from cloudcat_vcd.mock import VcdMock
from cloudcat_vcd.mock.urls import ROUTER

from cloudcat.testing import MockHandle, mock
from cloudcat.testing.routing import ANY

NS = "{http://www.vmware.com/vcloud/v1.5}"
JSON = "application/*+json;version=38.1"


@pytest.fixture
def cav() -> Iterator[MockHandle]:
    with mock(VcdMock) as m:
        yield m


def login(m: MockHandle) -> str:
    o = m.backend["options"]
    r = httpx.post(m.url + "/cloudapi/1.0.0/sessions", auth=(f"{o['username']}@{o['org']}", o["password"]),
                   headers={"Accept": "application/json;version=38.1"})
    assert r.status_code == 200
    body = r.json()
    assert body["org"]["name"] == "cav01ev01ocb0001234" and body["site"]["name"] == "Console Externe VDR"
    assert body["roles"] == ["Organization Administrator"]
    return str(r.headers["X-VMWARE-VCLOUD-ACCESS-TOKEN"])


def test_versions_document(cav: MockHandle) -> None:
    r = httpx.get(cav.url + "/api/versions")
    assert r.status_code == 200
    root = ET.fromstring(r.content)
    assert root.tag == "{http://www.vmware.com/vcloud/versions}SupportedVersions"
    infos = {i.findtext("{http://www.vmware.com/vcloud/versions}Version"): i.get("deprecated") for i in root}
    assert infos["36.0"] == "true" and infos["39.1"] == "false"


def test_login_errors_are_vcd_error_bodies(cav: MockHandle) -> None:
    r = httpx.post(cav.url + "/cloudapi/1.0.0/sessions", auth=("admin@cav01ev01ocb0001234", "nope"),
                   headers={"Accept": "application/json;version=38.1"})
    assert r.status_code == 401
    assert r.json()["majorErrorCode"] == 401 and r.json()["minorErrorCode"] == "UNAUTHORIZED"
    r = httpx.get(cav.url + "/api/query?type=orgVdc", headers={"Accept": JSON})
    assert r.status_code == 401
    r = httpx.get(cav.url + "/api/query?type=orgVdc", headers={"Accept": "application/*+xml;version=38.1"})
    assert r.status_code == 401 and ET.fromstring(r.content).tag == f"{NS}Error"
    r = httpx.post(cav.url + "/cloudapi/1.0.0/sessions", auth=("admin@cav01ev01ocb0001234", "x"),
                   headers={"Accept": "application/json;version=30.0"})
    assert r.status_code == 406


def test_api_token_exchange(cav: MockHandle) -> None:
    platform = cav.platform
    assert isinstance(platform, VcdMock)
    token = platform.token_backend()["options"]["api_token"]
    url = cav.url + "/oauth/tenant/cav01ev01ocb0001234/token"
    r = httpx.post(url, data={"grant_type": "refresh_token", "refresh_token": token})
    assert r.status_code == 200 and r.json()["token_type"] == "Bearer"
    access = r.json()["access_token"]
    r = httpx.get(cav.url + "/api/session", headers={"Authorization": f"Bearer {access}",
                                                     "Accept": "application/*+xml;version=38.1"})
    assert r.status_code == 200 and ET.fromstring(r.content).get("org") == "cav01ev01ocb0001234"
    r = httpx.post(url, data={"grant_type": "refresh_token", "refresh_token": "wrong"})
    assert r.status_code == 400 and r.json()["error"] == "invalid_grant"


def test_query_json_and_xml_with_paging(cav: MockHandle) -> None:
    headers = {"Authorization": f"Bearer {login(cav)}"}
    r = httpx.get(cav.url + "/api/query", params={"type": "vAppTemplate", "format": "records", "pageSize": 2,
                                                  "filter": "catalogName==Orange-Linux"},
                  headers={**headers, "Accept": JSON})
    body = r.json()
    assert (body["total"], body["page"], body["pageSize"]) == (4, 1, 2)
    assert [rec["name"] for rec in body["record"]] == ["debian_10_X64", "UBUNTU_20.04"]
    assert body["record"][0]["_type"] == "QueryResultVAppTemplateRecordType"
    assert body["link"][0]["rel"] == "nextPage"
    r = httpx.get(cav.url + "/api/query", params={"type": "orgVdcStorageProfile", "format": "records",
                                                  "page": 2, "pageSize": 5},
                  headers={**headers, "Accept": "application/*+xml;version=38.1"})
    root = ET.fromstring(r.content)
    assert root.get("total") == "16" and root.get("page") == "2"
    assert len(root.findall(f"{NS}OrgVdcStorageProfileRecord")) == 5
    r = httpx.get(cav.url + "/api/query", params={"type": "orgVdc", "page": 9}, headers={**headers, "Accept": JSON})
    assert r.status_code == 400 and r.json()["majorErrorCode"] == 400


def test_vdc_metadata_and_policies(cav: MockHandle) -> None:
    headers = {"Authorization": f"Bearer {login(cav)}", "Accept": JSON}
    records = httpx.get(cav.url + "/api/query?type=orgVdc&format=records", headers=headers).json()["record"]
    vdc_id = records[0]["href"].rsplit("/", 1)[-1]
    meta = httpx.get(cav.url + f"/api/vdc/{vdc_id}/metadata", headers=headers).json()
    keys = {e["key"]: e["typedValue"]["value"] for e in meta["metadataEntry"]}
    assert keys == {"vdcServiceClass": "ECO", "vdcBillingModel": "PAYG", "vdcStorageBillingModel": "PAYG",
                    "vdcDisponibilityClass": "ONE-ROOM"}
    vdc = httpx.get(cav.url + f"/api/vdc/{vdc_id}", headers=headers).json()
    assert vdc["vCpuInMhz2"] == 2200 and vdc["computeCapacity"]["cpu"]["limit"] == 22000
    listing = httpx.get(cav.url + f"/cloudapi/2.0.0/vdcs/urn:vcloud:vdc:{vdc_id}/computePolicies",
                        headers=headers).json()
    assert "pageCount" not in listing and listing["resultTotal"] == 1
    assert listing["values"][0]["name"] == "System Default"
    org_wide = httpx.get(cav.url + "/cloudapi/1.0.0/vdcComputePolicies", headers=headers).json()
    assert org_wide["pageCount"] == 1
    r = httpx.get(cav.url + "/api/vdc/00000000-0000-0000-0000-000000000000", headers=headers)
    assert r.status_code == 403 and r.json()["minorErrorCode"] == "ACCESS_TO_RESOURCE_IS_FORBIDDEN"


def test_page_limit_and_token_ttl_faults(cav: MockHandle) -> None:
    cav.server.set_faults(page_limit=1)
    headers = {"Authorization": f"Bearer {login(cav)}", "Accept": JSON}
    body = httpx.get(cav.url + "/cloudapi/1.0.0/orgVdcNetworks?pageSize=50", headers=headers).json()
    assert (body["pageSize"], body["resultTotal"], body["pageCount"], len(body["values"])) == (1, 3, 3, 1)
    r = httpx.post(cav.url + "/_cloudcat/reset")
    assert r.status_code == 200
    assert httpx.get(cav.url + "/api/session", headers=headers).status_code == 401  # sessions forgotten


def test_no_route_of_the_table_is_hidden_by_an_earlier_one() -> None:
    for route in ROUTER:
        method = "PATCH" if ANY in route.methods else route.methods[0]
        found = ROUTER.match(method, re.sub(r"\{\w+(:path)?\}", "x", route.pattern))
        assert found is not None and found.route is route, route


def test_unknown_paths_and_methods_after_the_login(cav: MockHandle) -> None:
    xml = {"Accept": "application/*+xml;version=38.1"}
    assert httpx.get(cav.url + "/api/nope", headers=xml).status_code == 401  # the login comes first
    headers = {**xml, "Authorization": f"Bearer {login(cav)}"}
    r = httpx.post(cav.url + "/api/session", headers=headers)
    assert r.status_code == 405 and ET.fromstring(r.content).get("minorErrorCode") == "METHOD_NOT_ALLOWED"
    r = httpx.get(cav.url + "/cloudapi/1.0.0/nope/", headers=headers)
    assert r.status_code == 404 and r.json()["message"] == "The requested resource /cloudapi/1.0.0/nope does not exist."
    assert httpx.get(cav.url + "/api/vdc/a/b", headers=headers).status_code == 404


def test_injected_faults_are_cloud_director_error_documents(cav: MockHandle) -> None:
    """A planned fault reads like Cloud Director's own error: an ``Error`` document, XML under
    ``/api`` (JSON when ``Accept`` asks for it), JSON under ``/cloudapi``; ``Retry-After`` kept."""
    token = login(cav)
    auth = {"Authorization": f"Bearer {token}"}
    cav.faults.plan(method="GET", path="/api/query", status=429, times=2, retry_after=3)
    xml = httpx.get(cav.url + "/api/query", params={"type": "orgVdc"},
                    headers={**auth, "Accept": "application/*+xml;version=38.1"})
    assert xml.status_code == 429 and xml.headers["Retry-After"] == "3"
    assert xml.headers["content-type"].startswith("application/vnd.vmware.vcloud.error+xml")
    error = ET.fromstring(xml.content)
    assert error.tag == NS + "Error" and error.get("majorErrorCode") == "429"
    assert error.get("minorErrorCode") == "TOO_MANY_REQUESTS"
    as_json = httpx.get(cav.url + "/api/query", params={"type": "orgVdc"}, headers={**auth, "Accept": JSON})
    assert as_json.status_code == 429 and as_json.json()["minorErrorCode"] == "TOO_MANY_REQUESTS"
    cav.faults.plan(method="GET", path="/cloudapi/1.0.0/orgs", status=503)
    openapi = httpx.get(cav.url + "/cloudapi/1.0.0/orgs", headers={**auth, "Accept": "application/json;version=38.1"})
    assert openapi.status_code == 503
    assert openapi.json()["majorErrorCode"] == 503 and openapi.json()["minorErrorCode"] == "SERVICE_UNAVAILABLE"
    assert cav.faults.expire_tokens() >= 1
    expired = httpx.get(cav.url + "/api/org/", headers={**auth, "Accept": "application/*+xml;version=38.1"})
    assert expired.status_code == 401 and ET.fromstring(expired.content).get("minorErrorCode") == "UNAUTHORIZED"


def test_every_answer_carries_a_request_id(cav: MockHandle) -> None:
    """Every Cloud Director answer carries ``X-VMWARE-VCLOUD-REQUEST-ID`` (pyvcloud's
    ``Client._HEADER_REQUEST_ID_NAME``), built from the client's ``X-VMWARE-VCLOUD-CLIENT-REQUEST-ID``
    when it sent one. Real answers, as go-vcloud-director's docs quote its logs
    (vmware/terraform-provider-vcfa, TROUBLESHOOTING.md): ``41-2025-03-12-14-14-00-054-`` sent,
    ``41-2025-03-12-14-14-00-054--772d833f-bb60-49c9-8a78-5552c87448de`` answered. The 128-character,
    letters-digits-hyphens limit on the client's value follows the VMware Cloud Director API
    Programming Guide's request header list."""
    xml = {"Accept": "application/*+xml;version=38.1"}
    o = cav.backend["options"]
    answers = [
        httpx.get(cav.url + "/api/versions"),
        httpx.post(cav.url + "/cloudapi/1.0.0/sessions", auth=(f"{o['username']}@{o['org']}", "wrong"),
                   headers={"Accept": "application/json;version=38.1"}),
        httpx.get(cav.url + "/api/org/", headers=xml),                                      # 401 before the login
    ]
    auth = {**xml, "Authorization": f"Bearer {login(cav)}"}
    answers += [httpx.get(cav.url + "/api/session", headers=auth),
                httpx.get(cav.url + "/cloudapi/1.0.0/orgs", headers={**auth, "Accept": JSON}),
                httpx.get(cav.url + "/api/nope", headers=auth),                             # 404
                httpx.post(cav.url + "/oauth/tenant/x/token", data={"grant_type": "password"})]
    cav.faults.plan(method="GET", path="/api/query", status=503)
    answers.append(httpx.get(cav.url + "/api/query?type=orgVdc", headers=auth))            # injected fault
    assert [r.status_code for r in answers] == [200, 401, 401, 200, 200, 404, 400, 503]
    ids = [r.headers.get("X-VMWARE-VCLOUD-REQUEST-ID") for r in answers]
    assert all(ids) and len(set(ids)) == len(ids), ids
    sent = "41-2025-03-12-14-14-00-054-"
    echoed = httpx.get(cav.url + "/api/session", headers={**auth, "X-VMWARE-VCLOUD-CLIENT-REQUEST-ID": sent})
    rid = echoed.headers["X-VMWARE-VCLOUD-REQUEST-ID"]
    assert rid.startswith(sent + "-") and re.fullmatch(r"[0-9a-f-]{36}", rid.removeprefix(sent + "-"))
    ignored = httpx.get(cav.url + "/api/session", headers={**auth, "X-VMWARE-VCLOUD-CLIENT-REQUEST-ID": "no spaces!"})
    assert "no spaces" not in ignored.headers["X-VMWARE-VCLOUD-REQUEST-ID"]
    long = httpx.get(cav.url + "/api/session", headers={**auth, "X-VMWARE-VCLOUD-CLIENT-REQUEST-ID": "a" * 200})
    assert long.headers["X-VMWARE-VCLOUD-REQUEST-ID"].startswith("a" * 128 + "-")


@pytest.mark.parametrize("version", ["37.2", "38.0", "39.1"])
def test_content_type_names_the_version_asked_for(cav: MockHandle, version: str) -> None:
    """VMware Cloud Director API Programming Guide, "API Versions": a client names the version it speaks in
    ``Accept`` (``application/*+xml;version=38.0``) and the answer's ``Content-Type`` carries that
    version, the login's and the OpenAPI lists' too (go-vcloud-director logs ``Accept:
    application/json;version=40.0`` answered ``Content-Type: application/json;version=40.0``) — not
    the newest version the server speaks."""
    o = cav.backend["options"]
    r = httpx.post(cav.url + "/cloudapi/1.0.0/sessions", auth=(f"{o['username']}@{o['org']}", o["password"]),
                   headers={"Accept": f"application/json;version={version}"})
    assert r.headers["content-type"] == f"application/json;version={version}"
    auth = {"Authorization": "Bearer " + r.headers["X-VMWARE-VCLOUD-ACCESS-TOKEN"]}
    xml, json_ = f"application/*+xml;version={version}", f"application/*+json;version={version}"
    for path, accept, media in [
        ("/cloudapi/1.0.0/sessions/current", f"application/json;version={version}", "application/json"),
        ("/cloudapi/1.0.0/vdcs", f"application/json;version={version}", "application/json"),
        ("/cloudapi/1.0.0/vdcComputePolicies", f"application/json;version={version}", "application/json"),
        ("/api/session", xml, "application/vnd.vmware.vcloud.session+xml"),
        ("/api/org/", json_, "application/vnd.vmware.vcloud.orgList+json"),
        ("/api/query?type=orgVdc", xml, "application/vnd.vmware.vcloud.query.records+xml"),
        ("/api/nope", xml, "application/vnd.vmware.vcloud.error+xml"),
        ("/cloudapi/1.0.0/nope", f"application/json;version={version}", "application/json"),
    ]:
        answer = httpx.get(cav.url + path, headers={**auth, "Accept": accept})
        assert answer.headers["content-type"] == f"{media};version={version}", path
