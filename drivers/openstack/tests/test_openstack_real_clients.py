"""Real clients against the mocked clouds over loopback, as a test author would run them.

libcloud's OpenStack driver at its default api 1.1 (Nova's image and network proxies) and at
2.0, with Keystone v3 and v2.0; the ``openstack`` CLI's read commands on a new project (empty
listings, default limits and quotas), also with ``--os-identity-api-version 2``; openstacksdk
under a page cap of 1; the connection settings the mock hands out (clouds.yaml entry, ``OS_*``).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import openstack
import pytest
import yaml
from cloudcat_openstack.driver import OpenStackDriver
from cloudcat_openstack.mock import OpenStackMock

from cloudcat.models import Kind
from cloudcat.testing import MockHandle, mock


def platform(m: MockHandle) -> OpenStackMock:
    assert isinstance(m.platform, OpenStackMock)
    return m.platform


@pytest.fixture(scope="module")
def cloudwatt() -> Iterator[MockHandle]:
    with mock("openstack", "cloudwatt") as m:
        yield m


def _fixture_names(m: MockHandle, section: str, region: str) -> set[str]:
    fixture = platform(m).state_.fixture
    return {e.name for e in getattr(fixture, section) if e.regions is None or region in e.regions}


# -- libcloud --------------------------------------------------------------------------------------
@pytest.mark.parametrize("api_version", ["1.1", "2.0"])
@pytest.mark.parametrize("auth_version", ["3.x_password", "2.0_password"])
def test_libcloud_openstack_driver(cloudwatt: MockHandle, api_version: str, auth_version: str) -> None:
    """libcloud's default (api 1.1) reads images and networks through Nova's proxies, which real
    Nova serves below microversion 2.36; 2.0 reads Glance and Neutron. Cloudwatt's Keystone was
    v2.0 (libcloud's former cloudwatt driver logged in with ``2.0_password``)."""
    from libcloud.compute.providers import get_driver
    from libcloud.compute.types import Provider

    m = cloudwatt
    auth = platform(m).clouds_yaml_entry(region="fr1")["auth"]
    kwargs: dict[str, Any] = {"ex_force_auth_url": m.url + "/identity", "ex_force_auth_version": auth_version,
                              "ex_tenant_name": auth["project_name"], "ex_force_service_region": "fr1",
                              "api_version": api_version}
    if auth_version.startswith("3"):
        kwargs["ex_domain_name"] = "Default"
    driver = get_driver(Provider.OPENSTACK)(auth["username"], auth["password"], **kwargs)

    sizes = {s.name: s for s in driver.list_sizes()}
    assert set(sizes) == _fixture_names(m, "flavors", "fr1")
    size = sizes["n1.cw.standard-4"]
    assert (size.ram, size.vcpus, size.extra["disabled"]) == (16384, 4, False)  # type: ignore[attr-defined]
    images = {i.name: i for i in driver.list_images()}
    assert {"Ubuntu 14.04", "Debian Wheezy"} <= set(images)
    networks = {n.name for n in driver.ex_list_networks()}
    # Nova's os-networks shows the project's and shared networks; Neutron every one it may see
    assert networks == ({"demo-net"} if api_version == "1.1" else {"public", "demo-net"})
    # a new project: nothing yet
    assert driver.list_nodes() == []
    assert driver.list_volumes() == []
    assert driver.list_key_pairs() == []
    assert [g.name for g in driver.ex_list_security_groups()] == ["default"]


# -- the openstack CLI -----------------------------------------------------------------------------
def _openstack_cli() -> str:
    exe = Path(sys.executable).parent / "openstack"
    assert exe.exists(), "python-openstackclient is a dev dependency"
    return str(exe)


def run_cli_session(env_vars: dict[str, str], commands: list[str]) -> list[Any]:
    """Run several read commands in one ``openstack`` interactive session (one login, one
    process); the JSON output of each, in order."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("OS_")}
    env.update(env_vars)
    env.setdefault("HOME", "/tmp")
    script = "".join(f"{c} -f json\n" for c in commands)
    proc = subprocess.run([_openstack_cli()], input=script, env=env, capture_output=True, text=True,
                          timeout=180, check=False)
    decoder = json.JSONDecoder()
    out, text = [], proc.stdout
    while text.strip():
        text = text.lstrip()
        value, end = decoder.raw_decode(text)
        out.append(value)
        text = text[end:]
    assert len(out) == len(commands), proc.stderr[-3000:]
    return out


def _by_name(rows: list[dict[str, Any]], key: str = "Name", value: str = "Value") -> dict[str, Any]:
    return {r[key]: r[value] for r in rows}


def test_openstack_cli_reads_the_catalog_all_pages() -> None:
    with mock("openstack", "flexible-engine", page_limit=3) as m:
        flavors, images, types, zones, networks = run_cli_session(platform(m).os_environ(region="eu-west-0"), [
            "flavor list", "image list", "volume type list", "availability zone list", "network list --external"])
        assert {f["Name"] for f in flavors} == _fixture_names(m, "flavors", "eu-west-0")
        large = next(f for f in flavors if f["Name"] == "s3.large.2")
        assert (large["VCPUs"], large["RAM"]) == (2, 4096)
        assert {"OBS Ubuntu 22.04", "Shared Windows Server 2019"} <= {i["Name"] for i in images}
        assert {t["Name"] for t in types} == {"SSD", "SAS", "SATA"}
        assert {z["Zone Name"] for z in zones} == {"eu-west-0a", "eu-west-0b", "eu-west-0c"}
        assert all(z["Zone Status"] == "available" for z in zones)
        assert [n["Name"] for n in networks] == ["admin_external_net"]


def test_openstack_cli_reads_a_new_project(cloudwatt: MockHandle) -> None:
    m = cloudwatt
    env = platform(m).os_environ(region="fr1")
    (servers, volumes, subnets, ports, routers, groups, keypairs, limits, quotas, my_projects,
     flavors, images) = run_cli_session(env, [
        "server list", "volume list", "subnet list", "port list", "router list", "security group list",
        "keypair list", "limits show --absolute", "quota show", "project list --my-projects",
        "flavor list --sort-column Name", "image list --sort name:asc"])
    assert servers == [] and volumes == [] and subnets == [] and ports == [] and routers == []
    assert keypairs == []
    assert [g["Name"] for g in groups] == ["default"]  # Neutron's default group of every project
    absolute = _by_name(limits)
    # Nova's and Cinder's default quotas (nova/conf/quota.py, cinder/quota.py), nothing used
    assert (absolute["instances"], absolute["instances_used"], absolute["max_total_volumes"]) == (10, 0, 10)
    assert absolute["max_total_volume_gigabytes"] == 1000 and absolute["total_volumes_used"] == 0
    quota = _by_name(quotas, "Resource", "Limit")
    assert (quota["instances"], quota["cores"], quota["volumes"], quota["networks"]) == (10, 20, 10, 100)
    assert [p["Name"] for p in my_projects] == ["COMPUTE-demo"]  # /v3/users/{id}/projects
    assert {f["Name"] for f in flavors} == _fixture_names(m, "flavors", "fr1")
    names = [i["Name"] for i in images]
    assert names == sorted(names) and set(names) == _fixture_names(m, "images", "fr1")  # Glance sorted


def test_openstack_cli_with_keystone_v2(cloudwatt: MockHandle) -> None:
    """``--os-identity-api-version 2`` on the Cloudwatt fixture (the real Cloudwatt was v2.0-only).
    openstacksdk refuses some commands when identity is configured as v2 (``server list``:
    "Service requires API version '3'"), which no server answer changes; these are the reads it
    still makes."""
    m = cloudwatt
    env = platform(m).os_environ(region="fr2", identity_api_version="2")
    assert env["OS_AUTH_URL"].endswith("/identity/v2.0") and "OS_USER_DOMAIN_NAME" not in env
    flavors, networks, types, limits, projects = run_cli_session(
        {**env, "OS_AUTH_URL": m.url + "/identity"},  # version discovery picks v2.0
        ["flavor list", "network list", "volume type list", "limits show --absolute", "project list"])
    assert {f["Name"] for f in flavors} == _fixture_names(m, "flavors", "fr2")
    assert {n["Name"] for n in networks} == {"public", "demo-net"}
    assert {t["Name"] for t in types} == {"standard", "performant"}
    assert _by_name(limits)["instances"] == 10
    assert [p["Name"] for p in projects] == ["COMPUTE-demo"]  # /v2.0/tenants
    v2_logins = [r for r in m.server.requests() if r.path == "/identity/v2.0/tokens"]
    assert v2_logins and all(r.status == 200 for r in v2_logins)


# -- openstacksdk --------------------------------------------------------------------------------
def test_openstacksdk_pages_volume_types_under_a_page_cap_of_1() -> None:
    """Cinder names the next page ``volume_type_links`` (cinder/api/v2/views/types.py);
    openstacksdk's Type looks for ``volume_types_links``, so it reads the first page only.
    cloudcat's driver follows Cinder's key and reads every type."""
    with mock("openstack", "flexible-engine", page_limit=1) as m:
        conn = openstack.connect(**m.backend["options"]["auth"], region_name="eu-west-0",
                                 load_yaml_config=False, load_envvars=False)
        assert [t.name for t in conn.block_storage.types()] == ["SSD"]
        driver = OpenStackDriver(m.backend["options"])
        assert [s.name for s in driver.items(Kind.STORAGE, "eu-west-0")] == ["SSD", "SAS", "SATA"]
        pages = [r for r in m.server.requests() if r.path.endswith("/types")]
        assert len(pages) >= 4  # three full pages and the empty last one, for the driver


def test_clouds_yaml_entry_and_os_environ(tmp_path: Path) -> None:
    with mock("openstack", "flexible-engine") as m:
        entry = platform(m).clouds_yaml_entry(region="eu-west-1")
        assert m.platform.client_settings() == platform(m).clouds_yaml_entry()
        path = tmp_path / "clouds.yaml"
        path.write_text(yaml.safe_dump({"clouds": {"fe-mock": entry}}), encoding="utf-8")
        from openstack.config import loader

        config = loader.OpenStackConfig(config_files=[str(path)], load_envvars=False).get_one("fe-mock")
        conn = openstack.connection.Connection(config=config)
        assert {z.name for z in conn.compute.availability_zones()} == {"eu-west-1a", "eu-west-1b"}
        # the same settings as OS_* variables, read by openstacksdk's environment loader
        env = platform(m).os_environ(region="eu-west-1")
        assert env["OS_PROJECT_NAME"] == entry["auth"]["project_name"]
        assert env["OS_REGION_NAME"] == "eu-west-1" and env["OS_IDENTITY_API_VERSION"] == "3"
        with pytest.raises(ValueError, match="v3"):
            platform(m).os_environ(identity_api_version="2")  # Flexible Engine serves v3 only
        admin = platform(m).os_environ(user="ocb-admin")
        assert admin["OS_USERNAME"] == "ocb-admin"


def test_clouds_yaml_entry_for_keystone_v2(cloudwatt: MockHandle, tmp_path: Path) -> None:
    from openstack.config import loader

    entry = platform(cloudwatt).clouds_yaml_entry(region="fr2", identity_api_version="2")
    assert entry["auth"]["auth_url"].endswith("/identity/v2.0") and "user_domain_name" not in entry["auth"]
    path = tmp_path / "clouds.yaml"
    path.write_text(yaml.safe_dump({"clouds": {"cw": entry}}), encoding="utf-8")
    conn = openstack.connection.Connection(
        config=loader.OpenStackConfig(config_files=[str(path)], load_envvars=False).get_one("cw"))
    assert {f.name for f in conn.compute.flavors()} == _fixture_names(cloudwatt, "flavors", "fr2")
    assert any(r.path == "/identity/v2.0/tokens" for r in cloudwatt.server.requests())
