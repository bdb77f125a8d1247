"""The vsphere driver against the mocked vCenter, through real pyvmomi over loopback HTTPS."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from cloudcat_vsphere.driver import VsphereDriver, VsphereOptions

from cloudcat.errors import BackendError, ConfigError
from cloudcat.models import Item, Kind, Region
from cloudcat.testing import MockHandle, mock

SIZES = [{"name": "small", "vcpus": 2, "memory_mib": 4096, "family": "general"},
         {"name": "large", "vcpus": 8, "memory_mib": 32768, "disk_gib": 100}]


@pytest.fixture(scope="module")
def vcenter() -> Iterator[MockHandle]:
    with mock("vsphere") as m:
        yield m


def calls(m: MockHandle) -> dict[str, int]:
    with m.platform.lock:
        return dict(m.platform.state()["calls"])


def read_all(driver: VsphereDriver, region: str) -> dict[Kind, dict[str, Item]]:
    [found] = [r for r in driver.regions() if r.name == region]
    return {kind: {i.name: i for i in driver.read(kind, found)} for kind in Kind}


@pytest.fixture(scope="module")
def par(vcenter: MockHandle) -> dict[Kind, dict[str, Item]]:
    with VsphereDriver({**vcenter.backend["options"], "sizes": SIZES}) as driver:
        return read_all(driver, "PAR-DC1")


def test_regions_are_datacenters_and_zones_clusters(vcenter: MockHandle) -> None:
    with VsphereDriver({**vcenter.backend["options"], "country": "FR", "countries": {"LYS-DC2": "BE"}}) as driver:
        regions = {r.name: r for r in driver.regions()}
    assert set(regions) == {"PAR-DC1", "LYS-DC2"}
    assert regions["PAR-DC1"].zones == ["Gold", "Silver"] and regions["PAR-DC1"].country == "FR"
    assert regions["LYS-DC2"].country == "BE"


def test_locations_carry_cluster_capacity(par: dict[Kind, dict[str, Item]]) -> None:
    locations = par[Kind.LOCATION]
    assert locations["PAR-DC1"].extras["clusters"] == ["Gold", "Silver"]
    assert locations["PAR-DC1"].extras["api_version"] == "8.0.3.0"
    gold = locations["PAR-DC1/Gold"].extras
    assert (gold["hosts"], gold["cpu_cores"], gold["cpu_threads"]) == (3, 96, 192)
    assert gold["memory_mib"] == 3 * 768 * 1024 and gold["cpu_mhz"] == 96 * 2800


def test_templates_and_library_items_are_images(par: dict[Kind, dict[str, Item]]) -> None:
    images = par[Kind.IMAGE]
    rhel = images["tpl-rhel-9.4"]
    assert (rhel.os_family, rhel.os_version, rhel.min_disk_gib, rhel.min_memory_mib) == ("rhel", "9.4", 50.0, 4096)
    assert rhel.extras["guest_id"] == "rhel9_64Guest" and rhel.extras["firmware"] == "efi"
    assert rhel.extras["vcpus"] == 2 and rhel.extras["image_type"] == "vm-template"
    windows = images["tpl-windows-2022"]
    assert (windows.os_family, windows.os_version) == ("windows", "2022")
    assert "tpl-debian-12" not in images  # a template of the other datacenter
    assert "web-01" not in images  # a VM, not a template
    library = images["ubuntu-24.04-cl"]
    assert library.extras["image_type"] == "library-vm-template" and library.min_memory_mib == 4096
    assert (library.os_family, library.os_version, library.min_disk_gib) == ("ubuntu", "24.04", 40.0)
    assert images["photon-5.0.ova"].extras["image_type"] == "library-ovf"
    assert images["debian-12.7-netinst.iso"].extras["image_type"] == "library-iso"


def test_datastores_and_policies_are_storage(par: dict[Kind, dict[str, Item]]) -> None:
    storage = par[Kind.STORAGE]
    vsan = storage["vsanDatastore"]
    assert vsan.storage_class == "vsan" and vsan.extras["capacity_gib"] == 61440.0 and vsan.max_size_gib == 40960.0
    assert "LYS-VMFS-01" not in storage
    gold = storage["Gold - RAID-1 FTT=2"]
    assert gold.storage_class == "storage-policy" and gold.iops == 10000
    assert gold.extras["rules"]["VSAN.hostFailuresToTolerate"] == 2
    assert storage["vSAN Default Storage Policy"].iops is None


def test_port_groups_are_networks(par: dict[Kind, dict[str, Item]]) -> None:
    networks = par[Kind.NETWORK]
    assert networks["pg-prod-101"].extras == {"network_type": "distributed-port-group",
                                              "id": networks["pg-prod-101"].extras["id"],
                                              "switch": "PAR-DSwitch", "vlan": 101, "ports": 128}
    assert networks["VM Network"].extras["network_type"] == "standard-port-group"
    assert "Backup Network" not in networks


def test_compute_is_option_sizes_and_cluster_pools(par: dict[Kind, dict[str, Item]]) -> None:
    compute = par[Kind.COMPUTE]
    assert set(compute) == {"small", "large", "pool-Gold", "pool-Silver"}
    small = compute["small"]
    assert small.sizing == "fixed" and (small.vcpus, small.memory_mib, small.family) == (2, 4096, "general")
    assert small.zones == ["Gold", "Silver"]
    gold = compute["pool-Gold"]
    assert gold.sizing == "flexible" and gold.zone == "Gold" and gold.flexible is not None
    # one host of the cluster: 64 threads, 768 GiB
    assert (gold.flexible.vcpus_max, gold.flexible.memory_mib_max) == (64, 768 * 1024)
    assert gold.flexible.fits(4, 16384) and not gold.flexible.fits(65, 1024)


def test_reads_are_bulk_property_collector_calls(vcenter: MockHandle) -> None:
    before = calls(vcenter)
    with VsphereDriver(vcenter.backend["options"]) as driver:
        for region in driver.regions():
            for kind in Kind:
                list(driver.read(kind, region))
    after = calls(vcenter)
    used = {k: after.get(k, 0) - before.get(k, 0) for k in after}
    assert used.get("Fetch", 0) == 0  # never attribute by attribute
    # inventory, VMs, template details, datastores, networks, switches: one each, for both regions
    assert used["RetrievePropertiesEx"] == 6 and used["Login"] == 1 and used["Logout"] == 1
    assert used["CreateContainerView"] == used["DestroyView"] == 5
    with vcenter.platform.lock:
        assert not vcenter.platform.state_.sessions and not vcenter.platform.state_.rest_tokens  # logged out


def test_small_pages_are_followed(vcenter: MockHandle, par: dict[Kind, dict[str, Item]]) -> None:
    before = calls(vcenter).get("ContinueRetrievePropertiesEx", 0)
    with VsphereDriver({**vcenter.backend["options"], "sizes": SIZES, "page_size": 1}) as driver:
        paged = read_all(driver, "PAR-DC1")
    assert calls(vcenter)["ContinueRetrievePropertiesEx"] - before > 10
    assert {k: set(v) for k, v in paged.items()} == {k: set(v) for k, v in par.items()}


def test_datacenters_option(vcenter: MockHandle) -> None:
    with VsphereDriver({**vcenter.backend["options"], "datacenters": ["LYS-DC2"]}) as driver:
        assert [r.name for r in driver.regions()] == ["LYS-DC2"]


def test_govc_variables(vcenter: MockHandle, monkeypatch: pytest.MonkeyPatch) -> None:
    o = vcenter.backend["options"]
    monkeypatch.setenv("GOVC_URL", f"https://{o['host']}:{o['port']}/sdk")
    monkeypatch.setenv("GOVC_USERNAME", o["user"])
    monkeypatch.setenv("GOVC_PASSWORD", o["password"])
    monkeypatch.setenv("GOVC_INSECURE", "1")
    options = VsphereOptions.model_validate({})
    assert (options.host, options.port, options.user, options.verify) == (o["host"], o["port"], o["user"], False)
    with VsphereDriver({}) as driver:  # TLS not verified, as govc does with GOVC_INSECURE
        assert {r.name for r in driver.regions()} == {"PAR-DC1", "LYS-DC2"}
    monkeypatch.setenv("GOVC_URL", "someone:p%40ss@vc.example.com")
    monkeypatch.delenv("GOVC_USERNAME")
    monkeypatch.delenv("GOVC_PASSWORD")
    options = VsphereOptions.model_validate({"verify": True})
    assert (options.host, options.user, options.password.get_secret_value()) == ("vc.example.com", "someone", "p@ss")
    assert options.verify is True  # an explicit option beats GOVC_INSECURE


def test_missing_host_is_a_config_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("GOVC_URL", raising=False)
    with pytest.raises(ConfigError) as raised:
        VsphereDriver({"user": "u", "password": "p"})
    assert raised.value.field == "host"


def test_tls_verified_by_default(vcenter: MockHandle) -> None:
    options: dict[str, Any] = {k: v for k, v in vcenter.backend["options"].items() if k != "verify"}
    with VsphereDriver({**options, "retries": 0}) as driver, pytest.raises(BackendError) as raised:
        driver.check()
    assert "verify" in str(raised.value) and options["password"] not in str(raised.value)


def test_older_vcenter_uses_rest_for_libraries() -> None:
    with mock("vsphere", "vcenter-67") as m:
        with VsphereDriver(m.backend["options"]) as driver:
            [region] = driver.regions()
            images = {i.name: i for i in driver.read(Kind.IMAGE, region)}
        paths = {r.path for r in m.server.requests()}
    assert images["ubuntu-24.04-cl"].min_memory_mib == 4096 and images["ubuntu-24.04-cl"].min_disk_gib == 40.0
    assert "/rest/com/vmware/cis/session" in paths and not any(p.startswith("/api/") for p in paths)


@pytest.mark.parametrize(("api_version", "negotiated", "rest"), [
    ("6.5", '"urn:vim25/6.5"', "/rest/"), ("7.0.3.0", '"urn:vim25/7.0.3.0"', "/api/"),
    ("8.0.2.0", '"urn:vim25/8.0.2.0"', "/api/")])
def test_versions_from_6_5_to_8(api_version: str, negotiated: str, rest: str) -> None:
    fixture = {"vcenter": {"api_version": api_version, "version": api_version[:5]},
               "datacenters": [{"name": "DC", "clusters": [{"name": "C"}], "datastores": [{"name": "ds"}],
                                "templates": [{"name": "tpl-debian-12", "guest_id": "debian12_64Guest"}]}],
               "content_libraries": [{"name": "lib", "items": [{"name": "ubuntu-24.04", "type": "vm-template"}]}]}
    with mock("vsphere", fixture) as m, VsphereDriver(m.backend["options"]) as driver:
        images = {i.name for i in driver.read(Kind.IMAGE, Region(name="DC"))}
        assert driver.client._si._stub.versionId == negotiated
        assert driver.client.api_version == api_version
        assert any(r.path.startswith(rest) for r in m.server.requests())
    assert images == {"tpl-debian-12", "ubuntu-24.04"}


def test_template_deleted_between_the_two_passes_is_left_out() -> None:
    with mock("vsphere") as m, VsphereDriver(m.backend["options"]) as driver:
        flags = driver._vm_flags()  # the first pass: every VM's name and template flag
        gone = next(r.moid for r in flags if r.props.get("name") == "tpl-rhel-9.4")
        with m.platform.lock:
            del m.platform.state_.entities[gone]
        images = {i.name for i in driver.read(Kind.IMAGE, Region(name="PAR-DC1"))}
    assert "tpl-rhel-9.4" not in images and {"tpl-ubuntu-22.04", "tpl-windows-2022"} <= images


def test_a_ca_bundle_that_cannot_be_read_is_named(vcenter: MockHandle, tmp_path: Any) -> None:
    # ssl's own error ("[X509] no certificate or crl found") names no file: the option's value is
    bad = tmp_path / "ca.pem"
    bad.write_text("not a certificate\n")
    with (pytest.raises(ConfigError, match=r"verify: cannot read the CA bundle '.*ca\.pem': ") as info,
          VsphereDriver({**vcenter.backend["options"], "verify": str(bad)}) as driver):
        list(driver.regions())
    assert str(bad) in str(info.value)
