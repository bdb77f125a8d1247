"""The driver reads every kind from the mocked cloud over HTTP through keystoneauth."""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from decimal import Decimal
from typing import Any

import pytest
from cloudcat_openstack.driver import OpenStackDriver, flavor_gpu, zone_sale_status
from cloudcat_openstack.mock import OpenStackMock
from werkzeug.wrappers import Request, Response

from cloudcat.errors import ConfigError
from cloudcat.models import Gpu, Item, Kind, LifecycleStatus
from cloudcat.registry import load_driver
from cloudcat.testing import json_response, mock


def by_name(items: list[Item]) -> dict[str, Item]:
    return {i.name: i for i in items}


def test_every_kind_every_page_every_region(fe_fixture: dict[str, Any],
                                           names_in: Callable[..., set[str]]) -> None:
    with mock("openstack", "flexible-engine", page_limit=1) as m:
        driver = OpenStackDriver(m.backend["options"], backend="fe")
        regions = {r.name: r for r in driver.regions()}
        assert set(regions) == {"eu-west-0", "eu-west-1"}
        assert regions["eu-west-0"].zones == ["eu-west-0a", "eu-west-0b", "eu-west-0c"]
        for region in regions:
            flavors = list(driver.items(Kind.COMPUTE, region))
            assert {f.name for f in flavors} == names_in(fe_fixture, "flavors", region)
            assert len(flavors) == len({f.name for f in flavors})  # no page read twice
            images = list(driver.items(Kind.IMAGE, region))
            public_shared = (names_in(fe_fixture, "images", region, visibility="public")
                             | names_in(fe_fixture, "images", region, visibility="shared"))
            assert {i.name for i in images} == public_shared
            storage = list(driver.items(Kind.STORAGE, region))
            assert {s.name for s in storage} == {"SSD", "SAS", "SATA"}
            networks = list(driver.items(Kind.NETWORK, region))
            assert [n.name for n in networks] == ["admin_external_net"]
            locations = list(driver.items(Kind.LOCATION, region))
            assert [loc.name for loc in locations] == [region] + [f"{region}/{z}" for z in regions[region].zones]
        flavor_pages = [r for r in m.server.requests() if r.path.endswith("/flavors/detail")]
        # page_limit=1: one request per flavor (plus the empty last page) in each region
        assert len(flavor_pages) >= len(names_in(fe_fixture, "flavors", "eu-west-0")) + len(
            names_in(fe_fixture, "flavors", "eu-west-1"))


def test_flavor_fields_gpu_and_extras() -> None:
    with mock("openstack", "flexible-engine") as m:
        driver = OpenStackDriver(m.backend["options"])
        flavors = by_name(list(driver.items(Kind.COMPUTE, "eu-west-0")))
        s3 = flavors["s3.large.2"]
        assert (s3.vcpus, s3.memory_mib, s3.disk_gib) == (2, 4096, None)  # Nova's disk 0: sized from the image
        assert s3.extras["root_disk"] == "sized from the image or a boot volume"
        assert s3.extras["performance_type"] == "normal" and s3.extras["generation"] == "s3"
        assert s3.gpu is None
        assert flavors["c6.2xlarge.2"].vcpus == 8 and flavors["c6.2xlarge.2"].memory_mib == 16384
        assert flavors["s6.xlarge.4"].memory_mib == 16384
        assert flavors["g1.4xlarge"].gpu == Gpu(model="nvidia-m60", count=2)
        assert flavors["g1.xlarge"].gpu == Gpu(model="nvidia-m60", count=1)
        # g1 is sold in two zones only
        assert flavors["g1.xlarge"].zones == ["eu-west-0a", "eu-west-0b"]
        assert "g1.xlarge" not in by_name(list(driver.items(Kind.COMPUTE, "eu-west-1")))


def test_lifecycle_from_sellout_and_abandon() -> None:
    with mock("openstack", "flexible-engine") as m:
        driver = OpenStackDriver(m.backend["options"])
        west0 = by_name(list(driver.items(Kind.COMPUTE, "eu-west-0")))
        # sold out in a and c: orderable in b only, still available
        s3 = west0["s3.8xlarge.4"]
        assert s3.zones == ["eu-west-0b"]
        assert s3.lifecycle.status == LifecycleStatus.AVAILABLE
        assert s3.extras["zone_status"] == {"eu-west-0a": "sellout", "eu-west-0b": "normal",
                                            "eu-west-0c": "sellout"}
        s6 = west0["s6.4xlarge.4"]
        assert s6.zones == ["eu-west-0a"]
        assert s6.extras["zone_status"]["eu-west-0c"] == "abandon"
        # abandoned or sold out everywhere: end of sale, no zone
        for name in ("m3.large.8", "c3.8xlarge.4", "s1.medium"):
            assert west0[name].lifecycle.status == LifecycleStatus.END_OF_SALE, name
            assert west0[name].zones == []
            assert west0[name].lifecycle.reason
        # promotion is orderable
        assert west0["c6.4xlarge.4"].lifecycle.status == LifecycleStatus.AVAILABLE
        assert len(west0["c6.4xlarge.4"].zones) == 3
        # eu-west-1: the per-zone list names other zones, the flavor-level status applies
        west1 = by_name(list(driver.items(Kind.COMPUTE, "eu-west-1")))
        assert west1["s3.8xlarge.4"].zones == ["eu-west-1a", "eu-west-1b"]


def test_images_storage_networks_fields() -> None:
    with mock("openstack", "flexible-engine") as m:
        driver = OpenStackDriver(m.backend["options"])
        images = by_name(list(driver.items(Kind.IMAGE, "eu-west-0")))
        ubuntu = images["OBS Ubuntu 22.04"]
        assert (ubuntu.os_family, ubuntu.os_version, ubuntu.min_disk_gib, ubuntu.min_memory_mib) == (
            "ubuntu", "22.04", 40.0, 1024)
        assert ubuntu.architecture == "x86_64"
        assert images["OBS Debian 11"].architecture == "aarch64"
        assert images["Shared Windows Server 2019"].extras["visibility"] == "shared"
        assert "team-golden-image" not in images  # private images are not offers
        # a project user: zones from RESKEY:availability_zones, the extra spec Cinder shows every
        # user (cinder/policies/type_extra_specs.py USER_VISIBLE_EXTRA_SPECS); QoS specs are
        # admin-only, so no IOPS, and the item says what it could not read
        storage = by_name(list(driver.items(Kind.STORAGE, "eu-west-0")))
        assert storage["SSD"].zones == ["eu-west-0a", "eu-west-0b", "eu-west-0c"]
        assert storage["SATA"].zones == ["eu-west-0a", "eu-west-0b"]
        assert all(s.iops is None and s.extras["unreadable"] == ["qos_specs"] for s in storage.values())
        assert storage["SSD"].extras["extra_specs"] == {"RESKEY:availability_zones": "eu-west-0a,eu-west-0b,eu-west-0c"}
        # an administrator reads the QoS specs, hence IOPS and throughput
        admin = OpenStackDriver(m.platform.backend(user="ocb-admin")["options"])
        storage = by_name(list(admin.items(Kind.STORAGE, "eu-west-0")))
        assert storage["SSD"].iops == 33000 and storage["SAS"].iops == 5000
        assert storage["SATA"].iops is None
        assert storage["SSD"].zones == ["eu-west-0a", "eu-west-0b", "eu-west-0c"]
        assert storage["SSD"].extras["qos"]["total_iops_sec"] == "33000"
        assert storage["SSD"].extras["extra_specs"]["volume_backend_name"] == "SSD"
        assert "unreadable" not in storage["SSD"].extras
        network = next(iter(driver.items(Kind.NETWORK, "eu-west-0")))
        assert network.extras["shared"] is True


def test_cloudkitty_prices_and_capability() -> None:
    with mock("openstack", "flexible-engine") as m:
        driver = OpenStackDriver(m.backend["options"])
        assert m.backend["options"]["cloudkitty"] is True
        assert driver.capabilities.prices is True
        assert OpenStackDriver.capabilities.prices is True  # the class can read CloudKitty
        flavors = by_name(list(driver.items(Kind.COMPUTE, "eu-west-0")))
        price = flavors["s3.large.2"].price
        assert price is not None
        assert (price.amount, price.currency, price.unit) == (Decimal("0.0564"), "EUR", "hour")
        assert "cloudkitty" in (price.source or "")
        assert flavors["s3.small.1"].price is None  # unknown stays unknown, never 0
        ssd = by_name(list(driver.items(Kind.STORAGE, "eu-west-0")))["SSD"].price
        assert ssd is not None and ssd.unit == "GiB-hour" and ssd.amount == Decimal("0.00021")
        plain = OpenStackDriver({**m.backend["options"], "cloudkitty": False})
        assert plain.capabilities.prices is False
        assert all(f.price is None for f in plain.items(Kind.COMPUTE, "eu-west-0"))


def test_cloudwatt_regions_differ(cw_fixture: dict[str, Any], names_in: Callable[..., set[str]]) -> None:
    with mock("openstack", "cloudwatt") as m:
        driver = OpenStackDriver(m.backend["options"])
        assert [r.name for r in driver.regions()] == ["fr1", "fr2"]
        fr1 = {f.name for f in driver.items(Kind.COMPUTE, "fr1")}
        fr2 = {f.name for f in driver.items(Kind.COMPUTE, "fr2")}
        assert "n1.cw.standard-4" in fr1 and "n1.cw.standard-4" not in fr2
        assert "n2.cw.standard-4" in fr2 and "t1.cw.tiny" in fr1 & fr2
        assert fr1 == names_in(cw_fixture, "flavors", "fr1")
        assert {v.name for v in driver.items(Kind.STORAGE, "fr1")} == {"standard", "performant"}
        assert {i.name for i in driver.items(Kind.IMAGE, "fr2")} >= {"Ubuntu 14.04", "Debian Wheezy"}


def test_many_regions_concurrently_with_one_token() -> None:
    with mock("openstack", "flexible-engine", regions=5, latency_ms=20) as m:
        driver = load_driver("openstack")(m.backend["options"], backend="fe")
        regions = [r.name for r in driver.regions()]
        assert regions == ["eu-west-0-1", "eu-west-1-2", "eu-west-0-3", "eu-west-1-4", "eu-west-0-5"]
        tasks = [(k, r) for r in regions for k in Kind]
        with ThreadPoolExecutor(max_workers=len(tasks)) as pool:
            results = list(pool.map(lambda t: list(driver.items(*t)), tasks))
        sequential = [list(driver.items(k, r)) for k, r in tasks]
        assert [[i.name for i in batch] for batch in results] == [[i.name for i in b] for b in sequential]
        assert all(results[tasks.index((Kind.COMPUTE, r))] for r in regions)
        state = m.platform.state()
        assert state["tokens_issued"] == 1


def test_application_credential_and_region_options() -> None:
    with mock("openstack", "cloudwatt") as m:
        auth = m.platform.application_credential()  # type: ignore[attr-defined]
        driver = OpenStackDriver({"auth": auth, "regions": ["fr2"]})
        assert [r.name for r in driver.regions()] == ["fr2"]
        assert "n2.cw.highmem-16" in {f.name for f in driver.items(Kind.COMPUTE, "fr2")}
        one = OpenStackDriver({**m.backend["options"], "region_name": "fr1"})
        assert [r.name for r in one.regions()] == ["fr1"]
        with pytest.raises(ConfigError, match="unknown region"):
            OpenStackDriver({**m.backend["options"], "regions": ["fr9"]}).regions()


def test_clouds_yaml_entry(tmp_path: Any) -> None:
    with mock("openstack", "cloudwatt") as m:
        auth = m.backend["options"]["auth"]
        (tmp_path / "clouds.yaml").write_text(
            "clouds:\n  cw:\n    auth:\n" + "".join(f"      {k}: {v!r}\n" for k, v in auth.items())
            + "    region_name: fr1\n", encoding="utf-8")
        driver = OpenStackDriver({"cloud": "cw", "clouds_file": str(tmp_path / "clouds.yaml")})
        # the entry's region_name is where clients connect; every region is still read
        assert [r.name for r in driver.regions()] == ["fr1", "fr2"]
        assert len(list(driver.items(Kind.COMPUTE, "fr1"))) > 10
        narrowed = OpenStackDriver({"cloud": "cw", "clouds_file": str(tmp_path / "clouds.yaml"),
                                    "region_name": "fr2"})
        assert [r.name for r in narrowed.regions()] == ["fr2"]
        with pytest.raises(ConfigError, match="cloud"):
            OpenStackDriver({"cloud": "nowhere", "clouds_file": str(tmp_path / "clouds.yaml")}).regions()


def test_options_are_validated() -> None:
    with pytest.raises(ConfigError, match="cloud"):
        OpenStackDriver({})
    with pytest.raises(ConfigError, match="application_credential_secret"):
        OpenStackDriver({"auth": {"auth_url": "http://127.0.0.1:1/v3", "application_credential_id": "x"}})
    with pytest.raises(ConfigError):
        OpenStackDriver({"auth": {"auth_url": "http://127.0.0.1:1/v3", "username": "u", "password": "p"},
                         "colour": "blue"})


def test_zone_sale_status_and_gpu_rules() -> None:
    zones = ["a", "b", "c"]
    assert zone_sale_status({}, zones) == {}
    assert zone_sale_status({"cond:operation:status": "abandon"}, zones) == dict.fromkeys(zones, "abandon")
    assert zone_sale_status({"cond:operation:status": "normal", "cond:operation:az": "a(sellout), b(obt)"},
                            zones) == {"a": "sellout", "b": "obt", "c": "normal"}
    assert flavor_gpu({"pci_passthrough:alias": "a100:2,a100:2"}) == Gpu(model="a100", count=4)
    assert flavor_gpu({"resources:VGPU": "1"}) == Gpu(count=1)
    assert flavor_gpu({"resources:VGPU": "zero"}) is None


class _NovaBefore261(OpenStackMock):
    """A Nova whose newest microversion is 2.60: asked for 2.61, it answers 406 (Not Acceptable)."""

    def dispatch(self, request: Request) -> Response:
        if "/compute/" in request.path and "2.61" in request.headers.get("OpenStack-API-Version", ""):
            return json_response({"computeFault": {"code": 406, "message": "Version 2.61 is not supported by the "
                                                   "API. Minimum is 2.1 and maximum is 2.60."}}, status=406)
        return super().dispatch(request)


def test_extra_specs_without_microversion_2_61() -> None:
    with mock("openstack", "flexible-engine") as reference_mock:
        expected = {f.name: f for f in OpenStackDriver(reference_mock.backend["options"]).items(
            Kind.COMPUTE, "eu-west-0")}
        assert not any(r.path.endswith("/os-extra_specs") for r in reference_mock.server.requests())
    with mock(_NovaBefore261, "flexible-engine") as m:
        flavors = {f.name: f for f in OpenStackDriver(m.backend["options"]).items(Kind.COMPUTE, "eu-west-0")}
        assert flavors == expected  # lifecycle, zones and GPUs intact
        requests = m.server.requests()
        assert any(r.path.endswith("/flavors/detail") and r.status == 406 for r in requests)
        assert sum(r.path.endswith("/os-extra_specs") for r in requests) == len(expected)
