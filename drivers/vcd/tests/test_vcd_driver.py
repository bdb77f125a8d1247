"""The vcd driver against the mocked Cloud Director, over real loopback sockets."""

from __future__ import annotations

import copy
import logging
import time
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import httpx
import pytest
from cloudcat_vcd.driver import VcdDriver
from cloudcat_vcd.mock import VcdMock

from cloudcat.errors import (
    AuthenticationError,
    BackendError,
    BackendTimeoutError,
    ConfigError,
    RateLimitedError,
    UnavailableError,
)
from cloudcat.models import Item, Kind, Price
from cloudcat.testing import MockHandle, mock
from cloudcat.testing.mockserver import load_fixture_file

KINDS = [Kind.LOCATION, Kind.COMPUTE, Kind.STORAGE, Kind.IMAGE, Kind.NETWORK]


def read_all(driver: VcdDriver) -> dict[tuple[str, str], list[Item]]:
    """Every item of every kind in every region."""
    out: dict[tuple[str, str], list[Item]] = {}
    for region in driver.regions():
        for kind in KINDS:
            out[(region.name, kind.value)] = list(driver.items(kind, region.name))
    return out


def summary(data: dict[tuple[str, str], list[Item]]) -> dict[tuple[str, str], list[dict[str, Any]]]:
    """Comparable form of :func:`read_all` (names, sizes, classes)."""
    return {key: sorted((i.model_dump(mode="json", exclude={"extras"}) for i in items),
                        key=lambda d: str(d["name"])) for key, items in data.items()}


def driver_for(m: MockHandle, **options: Any) -> VcdDriver:
    return VcdDriver({**m.backend["options"], **options}, backend="cav")


def fixture(name: str = "cloud-avenue", **changes: Any) -> dict[str, Any]:
    data = copy.deepcopy(load_fixture_file(VcdMock.fixtures[name]))
    data.update(changes)
    return data


@pytest.fixture(scope="module")
def baseline() -> dict[tuple[str, str], list[dict[str, Any]]]:
    with mock(VcdMock) as m, driver_for(m) as d:
        assert isinstance(d, VcdDriver)
        return summary(read_all(d))


@pytest.fixture
def cav() -> Iterator[MockHandle]:
    with mock(VcdMock) as m:
        yield m


# -- Cloud Avenue ----------------------------------------------------------------------------
def test_cloud_avenue_regions_and_location(cav: MockHandle) -> None:
    with driver_for(cav) as d:
        regions = d.regions()
        assert [r.name for r in regions] == ["vdr"]
        assert regions[0].country == "FR"
        assert regions[0].display_name == "Cloud Avenue Console Externe VDR"
        [location] = d.items(Kind.LOCATION, "vdr")
        assert location.extras["org"] == "cav01ev01ocb0001234"
        assert {v["name"] for v in location.extras["vdcs"]} == {
            "VDC-ECO-PAYG", "VDC-STD-PAYG", "VDC-STD-RESERVED-DR", "VDC-HP-PAYG-HA"}


def test_cloud_avenue_compute_is_flexible_per_vdc_offer(cav: MockHandle) -> None:
    with driver_for(cav) as d:
        items = {i.name: i for i in d.items(Kind.COMPUTE, "vdr")}
    assert set(items) == {"ECO-PAYG-ONE-ROOM", "STD-PAYG-ONE-ROOM", "STD-RESERVED-DUAL-ROOM",
                          "HP-PAYG-HA-DUAL-ROOM"}
    assert all(i.sizing == "flexible" for i in items.values())  # no sizing policies on Cloud Avenue
    std = items["STD-PAYG-ONE-ROOM"]
    assert std.flexible is not None
    # 44 000 MHz allocated at 2 200 MHz per vCPU; 64 GiB of memory
    assert (std.flexible.vcpus_max, std.flexible.memory_mib_max) == (20, 65536)
    assert std.flexible.memory_step_mib == 4
    assert (std.vcpus, std.memory_mib) == (20, 65536)
    assert std.extras["service_class"] == "STD"
    assert std.extras["billing_model"] == "PAYG"
    assert std.extras["storage_billing_model"] == "PAYG"
    assert std.extras["disponibility_class"] == "ONE-ROOM"
    assert std.extras["vcpu_mhz"] == 2200
    assert std.extras["vdcs"] == ["VDC-STD-PAYG"]
    reserved = items["STD-RESERVED-DUAL-ROOM"]
    assert reserved.extras["vcpu_mhz"] == 1800
    assert reserved.flexible is not None and reserved.flexible.vcpus_max == 110000 // 1800
    hp = items["HP-PAYG-HA-DUAL-ROOM"]
    assert hp.flexible is not None and hp.flexible.vcpus_max == 200  # 440 000 / 2 200, under 256


def test_cloud_avenue_storage_classes(cav: MockHandle) -> None:
    with driver_for(cav) as d:
        items = {i.name: i for i in d.items(Kind.STORAGE, "vdr")}
    assert {"silver", "gold", "platinum3k", "platinum7k", "silver_r1", "gold_r1", "gold_r2", "platinum3k_r1",
            "platinum7k_r2", "gold_hm", "platinum3k_hm", "platinum7k_hm", "gold_ocb0001234",
            "gold_ocb0001234_r1"} == set(items)
    assert (items["silver"].storage_class, items["silver"].iops) == ("silver", 600)
    assert (items["platinum7k_hm"].storage_class, items["platinum7k_hm"].iops) == ("platinum7k", 7000)
    assert items["platinum7k_hm"].extras["disponibility_class"] == "HA-DUAL-ROOM"
    assert items["platinum7k_hm"].extras["service_classes"] == ["STD", "HP", "VOIP"]
    assert items["gold_r2"].extras["disponibility_class"] == "DUAL-ROOM"
    custom = items["gold_ocb0001234"]
    assert (custom.storage_class, custom.iops, custom.extras["custom"]) == ("gold", 1500, True)
    assert custom.extras["customer"] == "ocb0001234"
    assert all((i.min_size_gib, i.max_size_gib) == (100, 81920) for i in items.values())
    # silver and gold are sold in two VDCs: one item, both VDCs named, limits added
    assert items["gold"].extras["vdcs"] == ["VDC-ECO-PAYG", "VDC-STD-PAYG"]
    assert items["gold"].extras["limit_mb"] == 512000 + 1024000
    assert items["gold"].extras["default_in"] == ["VDC-ECO-PAYG", "VDC-STD-PAYG"]


def test_cloud_avenue_templates(cav: MockHandle) -> None:
    with driver_for(cav) as d:
        items = {i.name: i for i in d.items(Kind.IMAGE, "vdr")}
    assert {"debian_10_X64", "UBUNTU_20.04", "UBUNTU_22.04", "UBUNTU_24.04", "app-server-v3"} == set(items)
    debian = items["debian_10_X64"]
    assert (debian.os_family, debian.os_version, debian.architecture) == ("debian", "10", "x86_64")
    assert debian.min_disk_gib == 10 and debian.min_memory_mib == 1024
    assert debian.extras["catalog"] == "Orange-Linux" and debian.extras["published"] is True
    assert (items["UBUNTU_24.04"].os_family, items["UBUNTU_24.04"].os_version) == ("ubuntu", "24.04")
    # no OS in the name: the guest OS id says CentOS 8
    assert (items["app-server-v3"].os_family, items["app-server-v3"].os_version) == ("centos", "8")


def test_cloud_avenue_networks(cav: MockHandle) -> None:
    with driver_for(cav) as d:
        items = {i.name: i for i in d.items(Kind.NETWORK, "vdr")}
    assert items["VRF_STANDARD"].bandwidth_mbps == 300
    assert items["VRF_DEDICATED_LARGE"].bandwidth_mbps == 10000
    assert 6000 in items["VRF_DEDICATED_LARGE"].extras["rate_limits_mbps"]
    web = items["net-std-web"]
    assert web.extras["network_type"] == "org-vdc-network"
    assert web.extras["edge_gateway"] == "edge-std"
    assert web.extras["gateway_cidrs"] == ["192.168.20.1/24"]
    assert items["edge-eco"].extras["uplinks"] == ["prvrf01eocb0001234allsp01"]


def test_regions_option_and_repeated_fixture() -> None:
    with mock(VcdMock, regions=3) as m:
        with driver_for(m) as d:
            assert [r.name for r in d.regions()] == ["vdr", "vdr-2", "vdr-3"]
            assert len(list(d.items(Kind.COMPUTE, "vdr-3"))) == 4
        with driver_for(m, regions=["vdr-2"]) as d:
            assert [r.name for r in d.regions()] == ["vdr-2"]
        with driver_for(m, regions=["nowhere"]) as d, pytest.raises(ConfigError, match="nowhere"):
            d.regions()


# -- a plain Cloud Director with sizing policies ---------------------------------------------
def test_generic_fixed_sizing_policies_and_vgpu() -> None:
    with mock(VcdMock, "generic-vcd") as m, driver_for(m) as d:
        assert [r.name for r in d.regions()] == ["paris-1", "lyon-1"]
        paris = {i.name: i for i in d.items(Kind.COMPUTE, "paris-1")}
        lyon = {i.name: i for i in d.items(Kind.COMPUTE, "lyon-1")}
        storage = {i.name: i for i in d.items(Kind.STORAGE, "paris-1")}
    assert set(paris) == {"2vCPU-4GB", "4vCPU-16GB", "8vCPU-32GB", "16vCPU-64GB", "gpu-a100-10c"}
    assert "System Default" not in paris  # sets no size
    assert all(i.sizing == "fixed" for i in paris.values())
    assert (paris["4vCPU-16GB"].vcpus, paris["4vCPU-16GB"].memory_mib) == (4, 16384)
    assert paris["8vCPU-32GB"].extras["cores_per_socket"] == 4
    assert paris["8vCPU-32GB"].extras["compute_policy_api"] == "2.0.0"
    gpu = paris["gpu-a100-10c"].gpu
    assert gpu is not None and (gpu.model, gpu.count) == ("grid_a100-10c", 1)
    assert set(lyon) == {"2vCPU-4GB", "4vCPU-16GB", "8vCPU-32GB"}
    # not Cloud Avenue: storage profiles keep their own names, IOPS from the profile
    assert (storage["Performance"].storage_class, storage["Performance"].iops) == ("Performance", 5000)
    assert storage["Standard"].iops is None and storage["Standard"].max_size_gib is None


def test_generic_without_cloudapi_2_falls_back_to_1() -> None:
    with mock(VcdMock, fixture("generic-vcd", cloudapi_v2=False)) as m, driver_for(m) as d:
        paris = {i.name: i for i in d.items(Kind.COMPUTE, "paris-1")}
    assert set(paris) == {"2vCPU-4GB", "4vCPU-16GB", "8vCPU-32GB", "16vCPU-64GB"}  # vGPU needs 2.0.0
    assert paris["2vCPU-4GB"].extras["compute_policy_api"] == "1.0.0"


# -- version negotiation ---------------------------------------------------------------------
def versions(supported: list[str], deprecated_below: str | None = None) -> dict[str, Any]:
    return fixture(api_versions={"supported": supported, "deprecated_below": deprecated_below})


def test_negotiates_highest_common_version(cav: MockHandle) -> None:
    with driver_for(cav) as d:
        d.check()
        assert str(d.client.version) == "39.1"
    with mock(VcdMock, versions(["36.0", "37.0", "38.0", "38.1", "40.0", "41.0"])) as m, driver_for(m) as d:
        d.check()
        assert str(d.client.version) == "38.1"  # 40.0 and up are beyond the driver


def test_prefers_versions_the_server_does_not_deprecate() -> None:
    with mock(VcdMock, versions(["37.0", "37.1", "38.0"], deprecated_below="38.1")) as m, driver_for(m) as d:
        d.check()
        assert str(d.client.version) == "38.0"  # all deprecated: still the highest common one
    with mock(VcdMock, versions(["37.0", "38.0", "38.1"], deprecated_below="38.1")) as m, driver_for(m) as d:
        d.check()
        assert str(d.client.version) == "38.1"


@pytest.mark.parametrize("supported", [["33.0", "34.0", "35.0", "36.0"], ["40.0", "40.1", "41.0"]])
def test_no_common_version_names_both_ranges(supported: list[str]) -> None:
    with mock(VcdMock, versions(supported)) as m, driver_for(m) as d, pytest.raises(BackendError) as err:
        read_all(d)
    message = str(err.value)
    assert f"{supported[0]}-{supported[-1]}" in message
    assert "37.0-39.1" in message
    assert "/api/versions" in message


def test_pinned_version(cav: MockHandle) -> None:
    with driver_for(cav, api_version="37.1") as d:
        assert d.regions()[0].name == "vdr"
        assert str(d.client.version) == "37.1"
    with driver_for(cav, api_version="30.0") as d, pytest.raises(BackendError, match=r"30\.0 is not offered"):
        d.regions()


# -- login -----------------------------------------------------------------------------------
def test_api_token_login_reads_the_same_catalog(baseline: dict[Any, Any]) -> None:
    with mock(VcdMock) as m:
        platform = m.platform
        assert isinstance(platform, VcdMock)
        with VcdDriver(platform.token_backend()["options"]) as d:
            assert summary(read_all(d)) == baseline
        assert any(r.path.startswith("/oauth/tenant/cav01ev01ocb0001234/token") for r in m.server.requests())
        assert not any(r.path == "/cloudapi/1.0.0/sessions" for r in m.server.requests())


def test_bad_api_token_is_an_authentication_error(cav: MockHandle) -> None:
    with driver_for(cav, username=None, password=None, api_token="not-a-valid-token") as d, \
            pytest.raises(AuthenticationError, match="invalid_grant") as err:
        d.check()
    assert "not-a-valid-token" not in str(err.value)
    assert isinstance(err.value.__cause__, httpx.HTTPStatusError)


def test_wrong_password_and_fail_auth(cav: MockHandle) -> None:
    with driver_for(cav, password="wrong-password-123") as d, pytest.raises(AuthenticationError) as err:
        d.regions()
    assert "admin@cav01ev01ocb0001234" in str(err.value) and "wrong-password-123" not in str(err.value)
    with mock(VcdMock, fail_auth=True) as m, driver_for(m) as d, pytest.raises(AuthenticationError) as err:
        d.regions()
    assert "HTTP 401" in str(err.value)
    assert isinstance(err.value.__cause__, httpx.HTTPStatusError)


def test_options_need_credentials() -> None:
    with pytest.raises(ConfigError, match="api_token"):
        VcdDriver({"url": "http://127.0.0.1:1", "org": "x", "username": "u"})


# -- paging ----------------------------------------------------------------------------------
def test_page_limit_one_gives_every_item(baseline: dict[Any, Any]) -> None:
    with mock(VcdMock, page_limit=1) as m, driver_for(m) as d:
        assert summary(read_all(d)) == baseline
        requests = m.server.requests()
    later_pages = {(r.path, q.split("=")[1]) for r in requests for q in r.query.split("&")
                   if q.startswith("page=") and q != "page=1"}
    paths = {p for p, _ in later_pages}
    assert "/api/query" in paths
    assert "/cloudapi/1.0.0/orgVdcNetworks" in paths
    assert "/cloudapi/1.0.0/edgeGateways" in paths
    # the generic fixture's per-VDC 2.0.0 policy listing has no pageCount: pages come from resultTotal
    with mock(VcdMock, "generic-vcd", page_limit=1) as m, driver_for(m) as d:
        names = {i.name for i in d.items(Kind.COMPUTE, "paris-1")}
        policy_pages = [r for r in m.server.requests() if r.path.endswith("/computePolicies")]
    assert names == {"2vCPU-4GB", "4vCPU-16GB", "8vCPU-32GB", "16vCPU-64GB", "gpu-a100-10c"}
    assert len(policy_pages) == 6  # System Default + five sizes, one a page


def test_client_page_size_one(baseline: dict[Any, Any]) -> None:
    with mock(VcdMock) as m, driver_for(m, page_size=1) as d:
        assert summary(read_all(d)) == baseline


def test_xml_query_format_reads_the_same_catalog(baseline: dict[Any, Any]) -> None:
    with mock(VcdMock, page_limit=2) as m, driver_for(m, query_format="xml") as d:
        assert summary(read_all(d)) == baseline


# -- expired sessions ------------------------------------------------------------------------
def wait_until_refused(m: MockHandle, token: str, limit: float = 5.0) -> None:
    """Poll the mock (bounded) until it refuses ``token``."""
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        r = httpx.get(m.url + "/api/session", headers={"Authorization": f"Bearer {token}",
                                                       "Accept": "application/*+xml;version=39.1"})
        if r.status_code == 401:
            return
        time.sleep(0.05)
    raise AssertionError("the token never expired")


def test_expired_session_is_renewed(baseline: dict[Any, Any]) -> None:
    with mock(VcdMock, token_ttl=0.5) as m, driver_for(m, cache_seconds=0) as d:
        d.check()
        platform = m.platform
        assert isinstance(platform, VcdMock)
        [first] = platform.state_.sessions
        wait_until_refused(m, first)
        m.server.set_faults(token_ttl=60)  # the next token lives long enough to finish the read
        assert summary(read_all(d)) == baseline
        logins = [r for r in m.server.requests() if r.path == "/cloudapi/1.0.0/sessions"]
        assert len(logins) == 2
        assert any(r.status == 401 and r.path.startswith("/api/query") for r in m.server.requests())


def test_expired_session_with_refused_login_is_an_authentication_error(cav: MockHandle) -> None:
    with driver_for(cav, cache_seconds=0) as d:
        d.check()
        platform = cav.platform
        assert isinstance(platform, VcdMock)
        platform.state_.sessions.clear()  # the server forgets every session
        cav.server.set_faults(fail_auth=True)
        with pytest.raises(AuthenticationError, match="login as admin@cav01ev01ocb0001234"):
            d.regions()


# -- faults ----------------------------------------------------------------------------------
def test_throttling_and_503s_are_retried_to_full_data(baseline: dict[Any, Any]) -> None:
    with mock(VcdMock, throttle_rate=0.2, error_rate=0.2, retry_after=0, seed=7) as m, \
            driver_for(m, retries=8, backoff=0.01) as d:
        assert summary(read_all(d)) == baseline
        faults = [r.fault for r in m.server.requests() if r.fault]
    assert "429" in faults and "503" in faults


def test_persistent_429_is_rate_limited_with_retry_after(cav: MockHandle) -> None:
    cav.server.set_faults(throttle_rate=1.0, retry_after=1)  # Retry-After is whole seconds
    with driver_for(cav, retries=1) as d, pytest.raises(RateLimitedError) as err:
        d.regions()
    assert err.value.retry_after == 1
    assert "HTTP 429" in str(err.value) and "/api/versions" in str(err.value)
    assert len(cav.server.requests()) == 2  # one try and one retry


def test_retry_after_beyond_the_bound_is_not_waited_for(cav: MockHandle) -> None:
    cav.server.set_faults(throttle_rate=1.0, retry_after=3600)
    with driver_for(cav, max_retry_after=5) as d, pytest.raises(RateLimitedError) as err:
        d.regions()
    assert err.value.retry_after == 3600
    assert len(cav.server.requests()) == 1


def test_persistent_503_is_unavailable(cav: MockHandle) -> None:
    cav.server.set_faults(error_rate=1.0)
    with driver_for(cav, retries=1) as d, pytest.raises(UnavailableError, match="HTTP 503") as err:
        d.regions()
    assert isinstance(err.value.__cause__, httpx.HTTPStatusError)


def test_malformed_bodies_are_retried_to_full_data(baseline: dict[Any, Any]) -> None:
    with mock(VcdMock, malformed_rate=0.25, seed=3) as m, driver_for(m, retries=8, backoff=0.01) as d:
        assert summary(read_all(d)) == baseline
        assert any(r.fault == "malformed" for r in m.server.requests())
    with mock(VcdMock, malformed_rate=0.25, seed=4) as m, \
            driver_for(m, retries=8, backoff=0.01, query_format="xml") as d:
        assert summary(read_all(d)) == baseline


def test_malformed_xml_versions_is_unavailable(cav: MockHandle) -> None:
    cav.server.set_faults(malformed_rate=1.0)
    with driver_for(cav, retries=1) as d, pytest.raises(UnavailableError, match="/api/versions: malformed"):
        d.regions()


def test_malformed_json_is_unavailable(cav: MockHandle) -> None:
    with driver_for(cav, retries=1) as d:
        d.check()
        cav.server.set_faults(malformed_rate=1.0)
        with pytest.raises(UnavailableError, match="malformed JSON") as err:
            d.regions()
    assert err.value.__cause__ is not None


def test_timeout() -> None:
    with mock(VcdMock, latency_ms=400) as m, driver_for(m, timeout=0.1, retries=0) as d, \
            pytest.raises(BackendTimeoutError, match="/api/versions"):
        d.regions()


def test_connection_refused_is_unavailable() -> None:
    with mock(VcdMock) as m:
        url = m.url
    with VcdDriver({"url": url, "org": "o", "username": "u", "password": "p4ssword", "retries": 0}) as d, \
            pytest.raises(UnavailableError, match="ConnectError"):
        d.regions()


# -- secrets ---------------------------------------------------------------------------------
def test_no_secret_in_errors_reprs_or_logs(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    errors: list[str] = []
    tokens: set[str] = set()
    with mock(VcdMock, token_ttl=0.5) as m:
        platform = m.platform
        assert isinstance(platform, VcdMock)
        password = m.backend["options"]["password"]
        api_token = platform.token_backend()["options"]["api_token"]
        with driver_for(m, cache_seconds=0) as d:
            read_all(d)
            tokens |= set(platform.state_.sessions)
            errors.append(repr(d))
            wait_until_refused(m, next(iter(platform.state_.sessions)))
            m.server.set_faults(token_ttl=60)
            read_all(d)
            tokens |= set(platform.state_.sessions)
            m.server.set_faults(fail_auth=True, token_ttl=0.01)
            wait_until_refused(m, next(iter(platform.state_.sessions)))
            with pytest.raises(AuthenticationError) as err:
                read_all(d)
            errors.append(str(err.value))
            errors.append(repr(d))
        m.server.set_faults(fail_auth=False, token_ttl=None)
        with VcdDriver(platform.token_backend()["options"]) as d:
            read_all(d)
            tokens |= set(platform.state_.sessions)
            errors.append(repr(d))
        with VcdDriver({**platform.token_backend()["options"], "api_token": api_token + "x"}) as d, \
                pytest.raises(AuthenticationError) as err:
            d.check()
        errors.append(str(err.value))
    assert len(tokens) == 3  # first login, login after expiry, API-token session
    text = caplog.text + "\n".join(errors)
    assert "HTTP 401" in text and "/api/query" in text  # the log does speak of what happened
    for secret in [password, api_token, *tokens]:
        assert secret not in text


# -- pricing ---------------------------------------------------------------------------------
def test_flexible_offer_prices_a_size(cav: MockHandle) -> None:
    with driver_for(cav) as d:
        std = next(i for i in d.items(Kind.COMPUTE, "vdr") if i.name == "STD-PAYG-ONE-ROOM")
    assert std.flexible is not None
    priced = std.flexible.model_copy(update={
        "price_per_vcpu": Price(amount=Decimal("0.0192"), currency="EUR", unit="vcpu-hour"),
        "price_per_gib_memory": Price(amount=Decimal("0.0064"), currency="EUR", unit="GiB-hour")})
    size = priced.size_for(4, 16384)
    assert size == (4, 16384)
    price = priced.price_for(*size)
    assert price is not None
    assert (price.amount, price.currency, price.unit) == (Decimal("0.1792"), "EUR", "hour")
    assert priced.size_for(21, None) is None  # more vCPUs than the VDC holds
