"""The mocked cloud itself: wire details clients rely on, faults, control endpoints, fixtures."""

from __future__ import annotations

import json
import re
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from typing import Any

import pytest
from cloudcat_openstack.mock import OpenStackMock
from cloudcat_openstack.mock.urls import ROUTER

from cloudcat.errors import ConfigError
from cloudcat.testing import MockHandle, mock
from cloudcat.testing.routing import ANY


def call(url: str, *, method: str = "GET", body: Any = None,
         headers: dict[str, str] | None = None) -> tuple[int, dict[str, str], Any]:
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(url, data=data, method=method,
                                 headers={"Content-Type": "application/json", "Accept": "application/json",
                                          **(headers or {})})
    try:
        with urllib.request.urlopen(req, timeout=10) as resp:
            return resp.status, dict(resp.headers), json.loads(resp.read() or b"null")
    except urllib.error.HTTPError as exc:
        return exc.code, dict(exc.headers), json.loads(exc.read() or b"null")


def login(m: MockHandle, password: str | None = None) -> tuple[int, dict[str, str], Any]:
    auth = m.backend["options"]["auth"]
    body = {"auth": {"identity": {"methods": ["password"], "password": {"user": {
        "name": auth["username"], "password": password or auth["password"],
        "domain": {"name": auth["user_domain_name"]}}}},
        "scope": {"project": {"name": auth["project_name"], "domain": {"name": "Default"}}}}}
    return call(auth["auth_url"] + "/auth/tokens", method="POST", body=body)


def test_keystone_discovery_token_and_catalog() -> None:
    with mock("openstack", "cloudwatt") as m:
        status, _, body = call(m.url + "/identity")
        assert status == 300 and body["versions"]["values"][0]["id"].startswith("v3")
        status, headers, body = login(m)
        assert status == 201 and headers["X-Subject-Token"]
        token = body["token"]
        assert token["project"]["name"] == "COMPUTE-demo" and token["expires_at"].endswith("Z")
        types = {s["type"] for s in token["catalog"]}
        assert {"identity", "compute", "image", "volumev3", "network", "rating"} <= types
        regions = {e["region"] for s in token["catalog"] for e in s["endpoints"]}
        assert regions == {"fr1", "fr2"}
        assert all(e["url"].startswith(m.url) for s in token["catalog"] for e in s["endpoints"])
        assert login(m, "wrong")[0] == 401
        status, _, body = call(m.url + "/identity/v3/regions", headers={"X-Auth-Token": headers["X-Subject-Token"]})
        assert [r["id"] for r in body["regions"]] == ["fr1", "fr2"]


def test_nova_microversions_and_paging() -> None:
    with mock("openstack", "flexible-engine", page_limit=7) as m:
        _, headers, _ = login(m)
        tok = {"X-Auth-Token": headers["X-Subject-Token"]}
        base = m.url + "/eu-west-0/compute/v2.1"
        _, _, body = call(base)
        assert body["version"]["version"] == "2.90" and body["version"]["min_version"] == "2.1"
        status, hdrs, body = call(base + "/flavors/detail",
                                  headers={**tok, "OpenStack-API-Version": "compute 2.61"})
        assert status == 200
        assert hdrs["OpenStack-API-Version"] == "compute 2.61"
        assert len(body["flavors"]) == 7 and "extra_specs" in body["flavors"][0]
        nxt = body["flavors_links"][0]
        assert nxt["rel"] == "next" and "marker=" in nxt["href"]
        _, hdrs, old = call(base + "/flavors/detail", headers=tok)
        assert hdrs["OpenStack-API-Version"] == "compute 2.1" and "extra_specs" not in old["flavors"][0]
        assert call(base + "/flavors/detail", headers={**tok, "OpenStack-API-Version": "compute 2.99"})[0] == 406
        assert call(base + "/flavors/detail?marker=nope", headers=tok)[0] == 400
        _, _, specs = call(base + "/flavors/g1.xlarge/os-extra_specs", headers=tok)
        assert specs["extra_specs"]["pci_passthrough:alias"] == "nvidia-m60:1"
        assert call(base + "/flavors/detail")[0] == 401


def test_tokens_expire_per_token_ttl() -> None:
    with mock("openstack", "cloudwatt", token_ttl=0.3) as m:
        _, headers, _ = login(m)
        tok = {"X-Auth-Token": headers["X-Subject-Token"]}
        url = m.url + "/fr1/network/v2.0/networks"
        assert call(url, headers=tok)[0] == 200
        deadline = time.monotonic() + 5
        while call(url, headers=tok)[0] == 200:
            assert time.monotonic() < deadline, "token never expired"
            time.sleep(0.05)
        status, hdrs, _ = call(url, headers=tok)
        assert status == 401 and "Keystone uri=" in hdrs["WWW-Authenticate"]


def test_fail_auth_and_app_credentials(cloudcat_mock: Callable[..., MockHandle]) -> None:
    m = cloudcat_mock("openstack", fixture="flexible-engine")
    app = m.platform.application_credential()  # type: ignore[attr-defined]
    body = {"auth": {"identity": {"methods": ["application_credential"], "application_credential": {
        "id": app["application_credential_id"], "secret": app["application_credential_secret"]}}}}
    status, _, token = call(app["auth_url"] + "/auth/tokens", method="POST", body=body)
    assert status == 201 and token["token"]["methods"] == ["application_credential"]
    m.server.set_faults(fail_auth=True)
    assert call(app["auth_url"] + "/auth/tokens", method="POST", body=body)[0] == 401


def test_control_endpoints_and_regions_option() -> None:
    with mock("openstack", "cloudwatt", regions=4) as m:
        _, _, state = call(m.url + "/_cloudcat/state")
        assert state["regions"] == ["fr1-1", "fr2-2", "fr1-3", "fr2-4"]
        login(m)
        assert call(m.url + "/_cloudcat/state")[2]["tokens_issued"] == 1
        assert call(m.url + "/_cloudcat/reset", method="POST")[0] == 200
        assert call(m.url + "/_cloudcat/state")[2]["tokens_issued"] == 0


def test_bundled_fixtures_and_bad_fixture(tmp_path: Any) -> None:
    assert list(OpenStackMock.fixtures) == ["cloudwatt", "flexible-engine"]
    assert OpenStackMock().state_.project_name == "COMPUTE-demo"  # first fixture is the default
    bad = tmp_path / "bad.yaml"
    bad.write_text("flavors:\n  - name: x\n    vcpus: zero\n    ram: 1\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="vcpus"):
        OpenStackMock(bad)
    own = {"regions": [{"name": "RegionOne", "zones": ["nova"]}],
           "flavors": [{"name": "m1.small", "vcpus": 1, "ram": 2048, "disk": 20}]}
    with mock("openstack", own) as m:
        assert m.backend["options"]["auth"]["username"] == "demo"
        assert m.backend["options"]["cloudkitty"] is False


def test_no_route_of_the_table_is_hidden_by_an_earlier_one() -> None:
    assert len(ROUTER) > 40
    for route in ROUTER:
        method = "PATCH" if ANY in route.methods else route.methods[0]
        found = ROUTER.match(method, re.sub(r"\{\w+(:path)?\}", "x", route.pattern))
        assert found is not None and found.route is route, route


def test_unknown_paths_and_methods_are_answered_as_each_service_does() -> None:
    with mock("openstack", "cloudwatt") as m:
        _, headers, _ = login(m)
        tok = {"X-Auth-Token": headers["X-Subject-Token"]}
        # a write the mock does not model is refused in Nova's fault form: 405 is "badMethod"
        # (nova/api/openstack/wsgi.py Fault._fault_names), the negotiated version echoed
        status, hdrs, body = call(m.url + "/fr1/compute/v2.1/flavors", method="POST", body={}, headers=tok)
        assert status == 405 and "badMethod" in body and hdrs["OpenStack-API-Version"] == "compute 2.1"
        status, _, body = call(m.url + "/fr1/compute/v2.1/os-hypervisors", headers=tok)
        assert status == 404 and "itemNotFound" in body
        assert call(m.url + "/fr1/compute/v2.1/servers")[0] == 401
        assert call(m.url + "/identity/v3/auth/tokens", method="DELETE")[0] == 405
        assert call(m.url + "/fr1/image/v1/images")[0] == 404  # no such version: no token asked
        # a path segment Cinder's router does not take as a project id ([0-9a-f-]+,
        # cinder/api/openstack/__init__.py project_id_regex): routes' 404, before any version
        status, hdrs, _ = call(m.url + "/fr1/volume/v3/another-project/types", headers=tok)
        assert status == 404 and "OpenStack-API-Version" not in hdrs
        assert call(m.url + "/fr1/volume/v3/another-project/types")[0] == 401
        status, _, body = call(m.url + "/atlantis/compute/v2.1/flavors", headers=tok)
        assert status == 404 and body["error"]["message"].endswith("/atlantis/compute/v2.1/flavors")
        assert call(m.url + "/fr1/network/v2.0/ports", method="POST", body={}, headers=tok)[0] == 405


def test_nova_sorting_proxies_below_2_36_and_rxtx_factor() -> None:
    with mock("openstack", "cloudwatt") as m:
        _, headers, _ = login(m)
        tok = {"X-Auth-Token": headers["X-Subject-Token"]}
        base = m.url + "/fr1/compute/v2.1"
        # Nova's default order is flavorid ascending; sort_key/sort_dir change it
        _, _, body = call(base + "/flavors/detail", headers=tok)
        ids = [f["id"] for f in body["flavors"]]
        assert ids == sorted(ids)
        _, _, body = call(base + "/flavors/detail?sort_key=memory_mb&sort_dir=desc", headers=tok)
        rams = [f["ram"] for f in body["flavors"]]
        assert rams == sorted(rams, reverse=True)
        status, _, body = call(base + "/flavors?sort_key=colour", headers=tok)
        assert status == 400 and "badRequest" in body
        # 2.75 makes swap an integer; rxtx_factor is still there (nova views/flavors.py)
        _, _, new = call(base + "/flavors/detail", headers={**tok, "OpenStack-API-Version": "compute 2.75"})
        assert all(f["rxtx_factor"] == 1.0 and f["swap"] == 0 for f in new["flavors"])
        # the image and network proxies: below 2.36 only
        status, _, images = call(base + "/images/detail", headers=tok)
        assert status == 200 and {"minDisk", "minRam", "metadata", "status"} <= set(images["images"][0])
        assert call(base + "/os-networks", headers=tok)[0] == 200
        for path in ("/images/detail", "/os-networks"):
            assert call(base + path, headers={**tok, "OpenStack-API-Version": "compute 2.36"})[0] == 404
        # a new project: empty listings and default quotas, its own only
        assert call(base + "/servers/detail", headers=tok)[2] == {"servers": []}
        pid = m.platform.state()["project_id"]
        quota = call(f"{base}/os-quota-sets/{pid}", headers=tok)[2]["quota_set"]
        assert (quota["instances"], quota["cores"], quota["ram"]) == (10, 20, 51200)
        assert call(f"{base}/os-quota-sets/another-project", headers=tok)[0] == 403


def test_glance_sorting_and_cinder_microversions() -> None:
    with mock("openstack", "flexible-engine") as m:
        _, headers, _ = login(m)
        tok = {"X-Auth-Token": headers["X-Subject-Token"]}
        _, _, body = call(m.url + "/eu-west-0/image/v2/images?sort_key=name&sort_dir=asc", headers=tok)
        names = [i["name"] for i in body["images"]]
        assert names == sorted(names)
        _, _, body = call(m.url + "/eu-west-0/image/v2/images?sort=size:desc,name:asc", headers=tok)
        keys = [(-i["size"], i["name"]) for i in body["images"]]
        assert keys == sorted(keys)
        # Glance sorts by its eight keys only (glance/api/v2/images.py RequestDeserializer
        # _available_sort_keys, _validate_sort_key): min_ram is refused, in webob's JSON form
        status, _, body = call(m.url + "/eu-west-0/image/v2/images?sort=min_ram:desc",
                               headers={**tok, "Accept": "application/json"})
        assert status == 400 and body["message"].startswith(
            "Invalid sort key: min_ram. It must be one of the following: name, status, container_format, "
            "disk_format, size, id, created_at, updated_at.")
        assert call(m.url + "/eu-west-0/image/v2/images?sort_key=colour", headers=tok)[0] == 400
        base = f"{m.url}/eu-west-0/volume/v3/{m.platform.state()['project_id']}"
        status, hdrs, _ = call(base + "/volumes/detail", headers={**tok, "OpenStack-API-Version": "volume 3.60"})
        assert status == 200 and hdrs["OpenStack-API-Version"] == "volume 3.60"
        assert call(base + "/volumes", headers={**tok, "OpenStack-API-Version": "volume 3.99"})[0] == 406
        assert call(base + "/limits", headers=tok)[2]["limits"]["absolute"]["maxTotalVolumes"] == 10
