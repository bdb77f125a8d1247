"""ARM's own resources on the mocked Azure (the subscription, its locations and resource groups), the
Compute resource SKUs, and ARM's api-version rules, seen by Apache Libcloud's ``azure_arm`` driver and its
authenticated connection (cloudcat changes only how it reaches the mock's port and certificate).

References (Azure REST API reference, learn.microsoft.com/rest/api/…):

* resources/subscriptions/get (2022-12-01): ``id``, ``subscriptionId``, ``tenantId``, ``displayName``,
  ``state``, ``subscriptionPolicies`` (``locationPlacementId``, ``quotaId``, ``spendingLimit``);
* resources/subscriptions/list-locations (2022-12-01): ``value`` of ``id``, ``name``, ``type``
  (``Region``), ``displayName``, ``regionalDisplayName``, ``metadata`` (``regionType``,
  ``regionCategory``, ``geography``, ``geographyGroup``, ``latitude``, ``longitude``,
  ``physicalLocation``, ``pairedRegion``), ``availabilityZoneMappings``;
* resources/resource-groups/list: ``value`` of ``id``, ``name``, ``type``, ``location``,
  ``properties.provisioningState``, ``tags``;
* compute/resource-skus/list (2021-07-01): ``value`` of ``resourceType``, ``name``, ``tier``, ``size``,
  ``family``, ``locations``, ``locationInfo``, ``capabilities`` (``name``/``value`` strings),
  ``restrictions``; ``$filter`` takes ``location eq '…'`` only;
* ARM's api-version errors, as Azure answers them: a missing one is 400 ``MissingApiVersionParameter``;
  one ARM's own resources do not have is 400 ``InvalidApiVersionParameter``, "The api-version '…' is
  invalid. The supported versions are '2026-06-01,2025-04-01,…'." (azure-cli, azure-sdk-for-python,
  azure-sdk-for-net issues quote it); one a Microsoft.Compute type does not have is 400
  ``NoRegisteredProviderFound``, "No registered resource provider found for location 'norwaywest' and API
  version '2021-04-01' for type 'locations/vmSizes'. The supported api-versions are '2015-05-01-preview,
  2015-06-15, …'. The supported locations are 'eastus, …'." (Azure/azure-cli#19725, #30613).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from cloudcat_libcloud.connection import AzureArmNodeDriver
from libcloud.common.exceptions import BaseHTTPError

from cloudcat.testing import MockHandle, mock

pytestmark = pytest.mark.filterwarnings("ignore::urllib3.exceptions.InsecureRequestWarning")

#: What azure-sdk-for-python's SubscriptionClient and ComputeManagementClient send.
SUBSCRIPTIONS_API = "2022-12-01"
SKUS_API = "2021-07-01"


@pytest.fixture(scope="module")
def arm() -> Iterator[MockHandle]:
    with mock("azure") as m:
        yield m


@pytest.fixture(scope="module")
def drv(arm: MockHandle) -> Any:
    o = arm.backend["options"]
    return AzureArmNodeDriver(o["tenant_id"], o["subscription_id"], o["key"], o["secret"],
                              cloud_environment=o["cloud_environment"], tls_verify=False)


def _get(drv: Any, path: str, **params: str) -> Any:
    return drv.connection.request(f"/subscriptions/{drv.subscription_id}{path}", params=params).object


def test_subscription(drv: Any, arm: MockHandle) -> None:
    sub = _get(drv, "", **{"api-version": SUBSCRIPTIONS_API})
    o = arm.backend["options"]
    assert sub["id"] == f"/subscriptions/{o['subscription_id']}" and sub["subscriptionId"] == o["subscription_id"]
    assert (sub["tenantId"], sub["displayName"], sub["state"]) == (o["tenant_id"], "Bleu - Production", "Enabled")
    assert set(sub["subscriptionPolicies"]) == {"locationPlacementId", "quotaId", "spendingLimit"}


def test_subscription_locations(drv: Any) -> None:
    locations = {loc["name"]: loc for loc in _get(drv, "/locations", **{"api-version": SUBSCRIPTIONS_API})["value"]}
    assert list(locations) == ["francecentral", "francesouth"]
    paris = locations["francecentral"]
    assert paris["id"] == f"/subscriptions/{drv.subscription_id}/locations/francecentral"
    assert (paris["type"], paris["displayName"], paris["regionalDisplayName"]) == (
        "Region", "France Central", "(Europe) France Central")
    meta = paris["metadata"]
    assert (meta["regionType"], meta["regionCategory"], meta["geography"], meta["physicalLocation"]) == (
        "Physical", "Recommended", "France", "Paris")
    assert float(meta["latitude"]) and float(meta["longitude"])  # strings, as ARM sends them
    assert [p["name"] for p in meta["pairedRegion"]] == ["francesouth"]
    assert [z["logicalZone"] for z in paris["availabilityZoneMappings"]] == ["1", "2", "3"]
    assert locations["francesouth"]["availabilityZoneMappings"] == []
    # libcloud's own list of locations (the Microsoft.Compute provider, api-version 2015-01-01) agrees
    assert {loc.name for loc in drv.list_locations()} == {loc["displayName"] for loc in locations.values()}


def test_libcloud_lists_resource_groups(drv: Any) -> None:
    """``ex_list_resource_groups`` (libcloud sends api-version 2016-09-01)."""
    groups = {g.name: g for g in drv.ex_list_resource_groups()}
    assert set(groups) == {"rg-bleu-prod", "rg-bleu-dr"}
    prod = groups["rg-bleu-prod"]
    assert prod.id == f"/subscriptions/{drv.subscription_id}/resourceGroups/rg-bleu-prod"
    assert prod.location == "francecentral" and prod.extra == {"provisioningState": "Succeeded"}
    raw = _get(drv, "/resourcegroups", **{"api-version": "2021-04-01"})["value"]
    assert {g["type"] for g in raw} == {"Microsoft.Resources/resourceGroups"}
    assert next(g for g in raw if g["name"] == "rg-bleu-prod")["tags"] == {"env": "prod"}


def test_resource_skus_are_the_vm_sizes(drv: Any) -> None:
    """One SKU per size and location, its capabilities the numbers ``vmSizes`` gives (as strings)."""
    skus = _get(drv, "/providers/Microsoft.Compute/skus", **{"api-version": SKUS_API})["value"]
    for location in drv.list_locations():
        sizes = {s.name: s for s in drv.list_sizes(location=location)}  # vmSizes, api-version 2015-06-15
        here = [s for s in skus if s["locations"] == [location.id]]
        assert sorted(s["name"] for s in here) == sorted(sizes)
        for sku in here:
            caps = {c["name"]: c["value"] for c in sku["capabilities"]}
            assert all(isinstance(v, str) for v in caps.values())
            size = sizes[sku["name"]]
            assert int(caps["vCPUs"]) == size.extra["numberOfCores"]
            assert float(caps["MemoryGB"]) * 1024 == size.ram
            assert int(caps["MaxDataDiskCount"]) == size.extra["maxDataDiskCount"]
            assert sku["locationInfo"][0]["location"] == location.id and sku["restrictions"] == []
    d2 = next(s for s in skus if s["name"] == "Standard_D2s_v5")
    assert (d2["resourceType"], d2["tier"], d2["size"], d2["family"]) == (
        "virtualMachines", "Standard", "D2s_v5", "standardDSv5Family")
    arm64 = next(s for s in skus if s["name"] == "Standard_D64ps_v5")
    assert {"name": "CpuArchitectureType", "value": "Arm64"} in arm64["capabilities"]
    south = _get(drv, "/providers/Microsoft.Compute/skus",
                 **{"api-version": SKUS_API, "$filter": "location eq 'francesouth'"})["value"]
    assert south and {s["locations"][0] for s in south} == {"francesouth"}


def _refusal(drv: Any, path: str, params: dict[str, str]) -> BaseHTTPError:
    with pytest.raises(BaseHTTPError) as caught:
        drv.connection.request(f"/subscriptions/{drv.subscription_id}{path}", params=params)
    return caught.value


@pytest.mark.parametrize("path", ["", "/locations", "/resourcegroups", "/providers/Microsoft.Compute",
                                  "/providers/Microsoft.Compute/skus",
                                  "/providers/Microsoft.Compute/locations/francecentral/vmSizes"])
def test_api_version_missing_or_no_api_version_at_all(drv: Any, path: str) -> None:
    missing = _refusal(drv, path, {})
    assert missing.code == 400 and str(missing).startswith("[MissingApiVersionParameter] The api-version query")
    bogus = _refusal(drv, path, {"api-version": "bogus"})
    assert bogus.code == 400
    assert str(bogus).startswith("[InvalidApiVersionParameter] The api-version 'bogus' is invalid. "
                                 "The supported versions are '2026-06-01,2025-04-01,")


@pytest.mark.parametrize("path", ["", "/locations", "/resourcegroups", "/providers/Microsoft.Compute"])
def test_arm_s_own_resources_refuse_an_api_version_they_do_not_have(drv: Any, path: str) -> None:
    """2015-06-15 is a Microsoft.Compute api-version, not one of ARM's own (Microsoft.Resources)."""
    refused = _refusal(drv, path, {"api-version": "2015-06-15"})
    assert refused.code == 400
    message = str(refused)
    assert message.startswith("[InvalidApiVersionParameter] The api-version '2015-06-15' is invalid. "
                              "The supported versions are '")
    versions = message.split("The supported versions are '")[1].rstrip("'.").split(",")
    assert {"2022-12-01", "2021-04-01", "2016-09-01", "2015-01-01"} <= set(versions)  # what SDKs and libcloud send


def test_a_compute_type_refuses_an_api_version_it_does_not_have(drv: Any) -> None:
    sizes = _refusal(drv, "/providers/Microsoft.Compute/locations/francecentral/vmSizes", {"api-version": "2099-01-01"})
    assert sizes.code == 400
    assert str(sizes).startswith("[NoRegisteredProviderFound] No registered resource provider found for location "
                                 "'francecentral' and API version '2099-01-01' for type 'locations/vmSizes'. "
                                 "The supported api-versions are '2015-05-01-preview, 2015-06-15, ")
    assert str(sizes).endswith("The supported locations are 'francecentral, francesouth'.")
    skus = _refusal(drv, "/providers/Microsoft.Compute/skus", {"api-version": "2015-06-15"})
    assert skus.code == 400 and "for type 'skus'. The supported api-versions are '2017-03-30, 2017-09-01, " \
                                "2019-04-01, 2021-07-01'." in str(skus)


def test_the_new_reads_go_through_arm_s_other_checks(arm: MockHandle, drv: Any) -> None:
    """Token, subscription and read budget apply as on every ARM read (a plain HTTP client here: libcloud's
    connection always sends its token)."""
    import requests

    o = arm.backend["options"]
    base = f"{arm.url}/subscriptions/{o['subscription_id']}"
    params = {"api-version": SUBSCRIPTIONS_API}
    anonymous = requests.get(base + "/locations", params=params, timeout=10, verify=False)
    assert anonymous.status_code == 401 and anonymous.json()["error"]["code"] == "AuthenticationFailed"
    token = drv.connection.access_token
    other = requests.get(base.replace(o["subscription_id"], "00000000-0000-0000-0000-000000000000"), params=params,
                         headers={"Authorization": f"Bearer {token}"}, timeout=10, verify=False)
    assert other.status_code == 404 and other.json()["error"]["code"] == "SubscriptionNotFound"
    ok = requests.get(base + "/resourcegroups", params={"api-version": "2021-04-01"},
                      headers={"Authorization": f"Bearer {token}"}, timeout=10, verify=False)
    assert ok.status_code == 200 and int(ok.headers["x-ms-ratelimit-remaining-subscription-reads"]) > 0
    assert ok.headers["x-ms-request-id"]
