"""The mock's records carry only documented attributes, and cloudcat reads them the documented way.

Each allow-list below is taken from the vendor's documentation, cited next to it; a record
with a key outside its list is a shape no real cloud sends, which a driver could wrongly learn
to rely on. Records are read over loopback as a project user and as an administrator.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from collections.abc import Iterator
from typing import Any

import pytest
from cloudcat_openstack.driver import OpenStackDriver
from cloudcat_openstack.mock import OpenStackMock

from cloudcat.models import Kind, SaleStatus
from cloudcat.testing import MockHandle, mock

# Compute API reference, "List Flavors With Details" (GET /flavors/detail), response parameters;
# description from 2.55, extra_specs from 2.61.
NOVA_FLAVOR = {"id", "name", "ram", "disk", "vcpus", "swap", "rxtx_factor", "links", "OS-FLV-EXT-DATA:ephemeral",
               "OS-FLV-DISABLED:disabled", "os-flavor-access:is_public", "description", "extra_specs"}
# Huawei, Elastic Cloud Server API Reference, "Querying the extra_specs Value for an ECS Flavor"
# (GET /v2.1/{project_id}/flavors/{flavor_id}/os-extra_specs), example; and the os_extra_specs
# table (ecs_05_0003 "Data Structure for Querying Details About Specifications") for GPU keys.
HUAWEI_NOVA_EXTRA_SPECS = {"ecs:performancetype", "resource_type", "pci_passthrough:alias",
                           "pci_passthrough:enable_gpu"}
# Huawei ECS API Reference, "Querying Details About Flavors and Extended Flavor Information"
# (GET /v1/{project_id}/cloudservers/flavors, en-us_topic_0020212656), response parameters.
ECS_FLAVOR = {"id", "name", "vcpus", "ram", "disk", "swap", "links", "OS-FLV-EXT-DATA:ephemeral", "rxtx_factor",
              "OS-FLV-DISABLED:disabled", "rxtx_quota", "rxtx_cap", "os-flavor-access:is_public", "os_extra_specs",
              "attachableQuantity"}
# Huawei ecs_05_0003, "os_extra_specs (flavor) Field Description" (common parameters).
ECS_OS_EXTRA_SPECS = {"ecs:performancetype", "hw:numa_nodes", "resource_type", "hpet_support", "instance_vnic:type",
                      "instance_vnic:instance_bandwidth", "instance_vnic:max_count", "quota:local_disk",
                      "quota:nvme_ssd", "extra_spec:io:persistent_grant", "ecs:generation",
                      "ecs:virtualization_env_types", "pci_passthrough:enable_gpu", "pci_passthrough:gpu_specs",
                      "pci_passthrough:alias", "cond:operation:status", "cond:operation:az", "quota:max_rate",
                      "quota:min_rate", "quota:max_pps", "cond:operation:charge", "cond:operation:roles",
                      "cond:spot:operation:az", "cond:operation:charge:stop", "cond:spot:operation:status",
                      "cond:network", "cond:storage", "cond:compute:live_resizable", "cond:compute",
                      "info:gpu:name", "info:cpu:name", "quota:gpu"}
# Image API v2 reference, "Show image" response and the image schema (GET /v2/schemas/image);
# any other key is an image property, a string (glance "additionalProperties": {"type": "string"}).
GLANCE_IMAGE = {"id", "name", "status", "visibility", "protected", "disk_format", "container_format", "size",
                "virtual_size", "min_disk", "min_ram", "checksum", "os_hidden", "owner", "created_at",
                "updated_at", "tags", "os_hash_algo", "os_hash_value", "self", "file", "schema", "locations",
                "direct_url"}
# Block Storage API v3 reference, "List all volume types" / "Show volume type detail";
# cinder/api/v2/views/types.py: qos_specs_id only for administrators, and since Xena a project
# user sees only the user-visible extra specs (cinder/policies/type_extra_specs.py).
CINDER_VOLUME_TYPE = {"id", "name", "description", "is_public", "os-volume-type-access:is_public", "extra_specs",
                      "qos_specs_id"}
CINDER_USER_VISIBLE_EXTRA_SPECS = {"RESKEY:availability_zones", "multiattach", "replication_enabled"}
# Block Storage API v3 reference, "Show a QoS specification details".
CINDER_QOS = {"id", "name", "consumer", "specs", "links"}
# Networking API v2.0 reference, "List networks" response parameters (with the extensions listed).
NEUTRON_NETWORK = {"admin_state_up", "availability_zone_hints", "availability_zones", "created_at", "dns_domain",
                   "id", "ipv4_address_scope", "ipv6_address_scope", "l2_adjacency", "mtu", "name",
                   "port_security_enabled", "project_id", "provider:network_type", "provider:physical_network",
                   "provider:segmentation_id", "qos_policy_id", "revision_number", "router:external", "segments",
                   "shared", "status", "subnets", "tenant_id", "updated_at", "vlan_transparent", "description",
                   "is_default", "tags"}
# Identity API v3 reference, "Password authentication with scoped authorization" response.
KEYSTONE_TOKEN = {"methods", "user", "audit_ids", "expires_at", "issued_at", "project", "is_domain", "roles",
                  "catalog", "application_credential", "domain", "system"}
# Identity API v2.0 reference (OpenStack Identity v2.0, "Authenticate" response: access).
KEYSTONE_V2_ACCESS = {"token", "serviceCatalog", "user", "metadata"}
KEYSTONE_V2_TOKEN = {"id", "issued_at", "expires", "tenant", "audit_ids"}


def call(url: str, token: str | None = None, body: Any = None) -> tuple[int, dict[str, str], Any]:
    headers = {"Content-Type": "application/json", **({"X-Auth-Token": token} if token else {})}
    req = urllib.request.Request(url, data=json.dumps(body).encode() if body is not None else None,
                                 method="POST" if body is not None else "GET", headers=headers)
    try:
        with urllib.request.urlopen(req, timeout=10) as resp:
            return resp.status, dict(resp.headers), json.loads(resp.read())
    except urllib.error.HTTPError as exc:
        return exc.code, dict(exc.headers), json.loads(exc.read() or b"null")


def login(m: MockHandle, user: str | None = None) -> tuple[str, dict[str, Any]]:
    auth = m.backend["options"]["auth"] if user is None else \
        m.platform.backend(user=user)["options"]["auth"]  # type: ignore[call-arg]
    body = {"auth": {"identity": {"methods": ["password"], "password": {"user": {
        "name": auth["username"], "password": auth["password"], "domain": {"name": "Default"}}}},
        "scope": {"project": {"name": auth["project_name"], "domain": {"name": "Default"}}}}}
    status, headers, token = call(auth["auth_url"] + "/auth/tokens", body=body)
    assert status == 201
    return headers["X-Subject-Token"], token["token"]


@pytest.fixture(scope="module")
def fe() -> Iterator[MockHandle]:
    with mock("openstack", "flexible-engine") as m:
        yield m


def test_nova_and_ecs_flavors(fe: MockHandle) -> None:
    token, _ = login(fe)
    pid = fe.platform.state()["project_id"]
    for mv in ("2.1", "2.61", "2.90"):
        _, headers, body = call_mv(fe.url + "/eu-west-0/compute/v2.1/flavors/detail", token, f"compute {mv}")
        assert headers["OpenStack-API-Version"] == f"compute {mv}"
        for flavor in body["flavors"]:
            assert set(flavor) <= NOVA_FLAVOR, set(flavor) - NOVA_FLAVOR
            assert "rxtx_factor" in flavor  # kept at every microversion
            assert set(flavor.get("extra_specs", {})) <= HUAWEI_NOVA_EXTRA_SPECS
    _, _, body = call(f"{fe.url}/eu-west-0/ecs/v1/{pid}/cloudservers/flavors", token)
    assert body["flavors"]
    for flavor in body["flavors"]:
        assert set(flavor) <= ECS_FLAVOR, set(flavor) - ECS_FLAVOR
        assert set(flavor["os_extra_specs"]) <= ECS_OS_EXTRA_SPECS
        assert isinstance(flavor["vcpus"], str) and isinstance(flavor["ram"], int)  # as Huawei documents
    # with availability_zone, only flavors orderable there (Huawei, same page)
    _, _, in_a = call(f"{fe.url}/eu-west-0/ecs/v1/{pid}/cloudservers/flavors?availability_zone=eu-west-0a", token)
    names = {f["name"] for f in in_a["flavors"]}
    assert "s6.4xlarge.4" in names and "s3.8xlarge.4" not in names  # eu-west-0a(normal) / eu-west-0a(sellout)


def call_mv(url: str, token: str, version: str) -> tuple[int, dict[str, str], Any]:
    req = urllib.request.Request(url, headers={"X-Auth-Token": token, "OpenStack-API-Version": version})
    with urllib.request.urlopen(req, timeout=10) as resp:
        return resp.status, dict(resp.headers), json.loads(resp.read())


def test_glance_images_and_neutron_networks(fe: MockHandle) -> None:
    token, _ = login(fe)
    _, _, body = call(fe.url + "/eu-west-0/image/v2/images?visibility=all", token)
    for image in body["images"]:
        extra = {k: v for k, v in image.items() if k not in GLANCE_IMAGE}
        assert all(isinstance(v, str) for v in extra.values()), extra  # properties are strings
    _, _, body = call(fe.url + "/eu-west-0/network/v2.0/networks", token)
    for net in body["networks"]:
        assert set(net) <= NEUTRON_NETWORK, set(net) - NEUTRON_NETWORK


def test_cinder_shows_a_project_user_what_its_policies_allow(fe: MockHandle) -> None:
    pid = fe.platform.state()["project_id"]
    base = f"{fe.url}/eu-west-0/volume/v3/{pid}"
    user, _ = login(fe)
    admin, admin_token = login(fe, "ocb-admin")
    assert "admin" in {r["name"] for r in admin_token["roles"]}
    _, headers, body = call(base + "/types", user)
    assert headers["OpenStack-API-Version"] == "volume 3.0"
    for vt in body["volume_types"]:
        assert set(vt) <= CINDER_VOLUME_TYPE - {"qos_specs_id"}
        assert set(vt["extra_specs"]) <= CINDER_USER_VISIBLE_EXTRA_SPECS
    type_id = body["volume_types"][0]["id"]
    assert set(call(f"{base}/types/{type_id}/extra_specs", user)[2]["extra_specs"]) <= CINDER_USER_VISIBLE_EXTRA_SPECS
    status, _, denied = call(base + "/qos-specs", user)
    assert status == 403 and "qos_specs_manage:get_all" in denied["forbidden"]["message"]
    _, _, body = call(base + "/types", admin)
    for vt in body["volume_types"]:
        assert set(vt) <= CINDER_VOLUME_TYPE and "qos_specs_id" in vt
    assert any("volume_backend_name" in vt["extra_specs"] for vt in body["volume_types"])
    status, _, qos = call(base + "/qos-specs", admin)
    assert status == 200 and all(set(q) <= CINDER_QOS for q in qos["qos_specs"])


def test_cinder_pages_with_volume_type_links_and_echoes_the_microversion() -> None:
    with mock("openstack", "flexible-engine", page_limit=1) as m:
        token, _ = login(m)
        base = f"{m.url}/eu-west-0/volume/v3/{m.platform.state()['project_id']}"
        _, _, body = call(base + "/types", token)
        # cinder/api/v2/views/types.py: "volume_type_links", not "volume_types_links"
        assert set(body) == {"volume_types", "volume_type_links"}
        req = urllib.request.Request(base + "/types", headers={"X-Auth-Token": token,
                                                               "OpenStack-API-Version": "volume 3.42"})
        with urllib.request.urlopen(req, timeout=10) as resp:
            assert resp.headers["OpenStack-API-Version"] == "volume 3.42"


def test_keystone_v3_and_v2_records() -> None:
    with mock("openstack", "cloudwatt") as m:
        _, token = login(m)
        assert set(token) <= KEYSTONE_TOKEN
        assert {r["name"] for r in token["roles"]} == {"member", "reader"}  # a project user
        st = m.platform.state_  # type: ignore[attr-defined]
        user = next(iter(st.users.values()))
        status, _, body = call(m.url + "/identity/v2.0/tokens", body={"auth": {
            "passwordCredentials": {"username": user.name, "password": user.password}, "tenantName": st.project_name}})
        assert status == 200 and set(body["access"]) <= KEYSTONE_V2_ACCESS
        assert set(body["access"]["token"]) <= KEYSTONE_V2_TOKEN
        endpoint = body["access"]["serviceCatalog"][0]["endpoints"][0]
        assert set(endpoint) == {"id", "region", "publicURL", "internalURL", "adminURL"}
    with mock("openstack", "flexible-engine") as m:
        assert call(m.url + "/identity/v2.0/tokens", body={"auth": {}})[0] == 404  # v3 only there


def test_offers_carry_sizes_zones_and_sale_status_read_the_documented_way(fe: MockHandle) -> None:
    """Compute: sizes from Nova, sale status from ECS v1 os_extra_specs; storage: zones from
    RESKEY:availability_zones; images: sizes from Glance."""
    assert isinstance(fe.platform, OpenStackMock)
    driver = OpenStackDriver(fe.backend["options"])
    flavors = {f.name: f for f in driver.items(Kind.COMPUTE, "eu-west-0")}
    s3 = flavors["s3.8xlarge.4"]
    assert (s3.vcpus, s3.memory_mib) == (32, 131072)
    assert "cond:operation:az" not in s3.extras["extra_specs"]  # not in Nova's
    assert s3.extras["os_extra_specs"]["cond:operation:az"].startswith("eu-west-0a(sellout)")
    assert s3.zone_status == {"eu-west-0a": SaleStatus.SOLD_OUT, "eu-west-0b": SaleStatus.ORDERABLE,
                              "eu-west-0c": SaleStatus.SOLD_OUT}
    assert s3.zones == ["eu-west-0b"] and s3.generation == "s3"
    assert any(r.path.endswith("/cloudservers/flavors") for r in fe.server.requests())
    storage = {s.name: s for s in driver.items(Kind.STORAGE, "eu-west-1")}
    assert storage["SSD"].zones == ["eu-west-1a", "eu-west-1b"]
    images = {i.name: i for i in driver.items(Kind.IMAGE, "eu-west-0")}
    assert (images["OBS Ubuntu 22.04"].min_disk_gib, images["OBS Ubuntu 22.04"].extras["size"]) == (40.0, 2361393152)


def test_nova_without_ecs_falls_back_to_nova_extra_specs() -> None:
    """A Huawei-based cloud that puts the sale status in Nova's extra specs (no ECS v1 in its
    catalog) is still read."""
    fixture = {"regions": [{"name": "r1", "zones": ["r1a", "r1b"]}],
               "flavors": [{"name": "s3.large.2", "vcpus": 2, "ram": 4096,
                            "extra_specs": {"cond:operation:status": "normal", "cond:operation:az": "r1a(sellout)"}}]}
    with mock("openstack", fixture) as m:
        item = next(iter(OpenStackDriver(m.backend["options"]).items(Kind.COMPUTE, "r1")))
        assert item.zones == ["r1b"] and "os_extra_specs" not in item.extras
        assert not any("/ecs/" in r.path for r in m.server.requests())
