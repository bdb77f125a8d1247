"""The unmodified real clients work against the mocked cloud: openstacksdk, the `openstack` CLI,
libcloud."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import openstack
import pytest

from cloudcat.testing import MockHandle, mock


def connect(m: MockHandle, region: str) -> Any:
    auth = m.backend["options"]["auth"]
    return openstack.connect(**auth, region_name=region, load_yaml_config=False, load_envvars=False)


def test_openstacksdk_lists_everything_all_pages(fe_fixture: dict[str, Any],
                                                 names_in: Callable[..., set[str]]) -> None:
    with mock("openstack", "flexible-engine", page_limit=2) as m:
        conn = connect(m, "eu-west-0")
        flavors = list(conn.compute.flavors())
        assert {f.name for f in flavors} == names_in(fe_fixture, "flavors", "eu-west-0")
        s3 = next(f for f in flavors if f.name == "s3.8xlarge.4")
        # microversion 2.61: extra specs inline, Huawei's Nova ones (platforms.md 1.2); the sale
        # status is in ECS v1's os_extra_specs only
        assert s3.extra_specs == {"ecs:performancetype": "normal", "resource_type": "IOoptimizedS3"}
        assert conn.compute.fetch_flavor_extra_specs(s3).extra_specs == s3.extra_specs
        assert {i.name for i in conn.image.images()} >= {"OBS Ubuntu 22.04", "OBS CentOS 7.4"}
        # Cinder's next link is "volume_type_links"; openstacksdk's Type reads "volume_types_links"
        # and so stops after the first page (cloudcat's driver follows the real key)
        assert [t.name for t in conn.block_storage.types()] == ["SSD", "SAS"]
        assert {n.name for n in conn.network.networks()} == {"admin_external_net", "vpc-default"}
        assert [n.name for n in conn.network.networks(is_router_external=True)] == ["admin_external_net"]
        assert [z.name for z in conn.compute.availability_zones()] == ["eu-west-0a", "eu-west-0b", "eu-west-0c"]
        assert len(list(conn.block_storage.availability_zones())) == 3
        assert {r.id for r in conn.identity.regions()} == {"eu-west-0", "eu-west-1"}
        # the cloud layer too
        assert len(conn.list_flavors()) == len(flavors)
        assert sorted(conn.list_availability_zone_names()) == ["eu-west-0a", "eu-west-0b", "eu-west-0c"]
        pages = [r for r in m.server.requests() if r.path == "/eu-west-0/compute/v2.1/flavors/detail"]
        assert len(pages) > 10


def _cli_env(m: MockHandle, region: str) -> dict[str, str]:
    auth = m.backend["options"]["auth"]
    env = {k: v for k, v in os.environ.items() if not k.startswith("OS_")}
    env.update({"OS_AUTH_URL": auth["auth_url"], "OS_USERNAME": auth["username"],
                "OS_PASSWORD": auth["password"], "OS_PROJECT_NAME": auth["project_name"],
                "OS_USER_DOMAIN_NAME": auth["user_domain_name"],
                "OS_PROJECT_DOMAIN_NAME": auth["project_domain_name"], "OS_REGION_NAME": region,
                "OS_IDENTITY_API_VERSION": "3", "HOME": env.get("HOME", "/tmp")})
    return env


def _openstack_cli() -> str:
    exe = Path(sys.executable).parent / "openstack"
    assert exe.exists(), "python-openstackclient is a dev dependency"
    return str(exe)


def test_openstack_cli_bad_password_fails() -> None:
    with mock("openstack", "cloudwatt") as m:
        env = _cli_env(m, "fr1")
        env["OS_PASSWORD"] = "wrong"
        proc = subprocess.run([_openstack_cli(), "flavor", "list", "-f", "json"], env=env,
                              capture_output=True, text=True, timeout=120, check=False)
        assert proc.returncode != 0
        assert "401" in proc.stderr or "authentication" in proc.stderr.lower()


def test_libcloud_openstack_driver() -> None:
    from libcloud.compute.providers import get_driver
    from libcloud.compute.types import Provider

    with mock("openstack", "cloudwatt") as m:
        auth = m.backend["options"]["auth"]
        cls = get_driver(Provider.OPENSTACK)
        driver = cls(auth["username"], auth["password"],
                     ex_force_auth_url=auth["auth_url"].removesuffix("/v3"),
                     ex_force_auth_version="3.x_password", ex_tenant_name=auth["project_name"],
                     ex_domain_name="Default", ex_force_service_region="fr1", api_version="2.0")
        sizes = driver.list_sizes()
        by_name = {s.name: s for s in sizes}
        assert getattr(by_name["n1.cw.standard-4"], "vcpus", None) == 4  # OpenStackNodeSize
        assert by_name["n1.cw.standard-4"].ram == 16384
        assert by_name["t1.cw.tiny"].price == 0.0  # libcloud knows no OpenStack price
        images = {i.name for i in driver.list_images()}
        assert {"Ubuntu 14.04", "Debian Wheezy"} <= images


def test_libcloud_reads_only_the_first_flavor_page() -> None:
    """The anchor's known gap, reproduced against the mock: libcloud does not follow
    ``flavors_links``, where openstacksdk and cloudcat do."""
    from libcloud.compute.providers import get_driver
    from libcloud.compute.types import Provider

    with mock("openstack", "cloudwatt", page_limit=5) as m:
        auth = m.backend["options"]["auth"]
        driver = get_driver(Provider.OPENSTACK)(
            auth["username"], auth["password"], ex_force_auth_url=auth["auth_url"].removesuffix("/v3"),
            ex_force_auth_version="3.x_password", ex_tenant_name=auth["project_name"],
            ex_domain_name="Default", ex_force_service_region="fr1", api_version="2.0")
        assert len(driver.list_sizes()) == 5
        assert len(list(connect(m, "fr1").compute.flavors())) > 5


@pytest.mark.parametrize("fixture", ["cloudwatt", "flexible-engine"])
def test_pytest_plugin_fixture(cloudcat_mock: Callable[..., MockHandle], fixture: str) -> None:
    m = cloudcat_mock("openstack", fixture=fixture, page_limit=1)
    region = next(iter(m.platform.state()["regions"]))
    assert list(connect(m, region).compute.flavors())
    assert m.backend["driver"] == "openstack"
