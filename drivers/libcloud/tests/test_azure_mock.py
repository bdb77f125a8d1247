"""The mocked Azure Resource Manager over real sockets: login, ARM's checks, envelopes and headers, retail
prices with paging, control endpoints, and ``cloudcat mock serve azure``."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from typing import Any

import pytest
import requests
from cloudcat_libcloud.azure import size_facts

from cloudcat.testing import MockHandle, mock

#: The api-version of Microsoft.Compute's location types (vmSizes, publishers), as libcloud sends it.
API = {"api-version": "2015-06-15"}
#: An api-version of ARM's own resources (Microsoft.Resources: providers, subscriptions, resource groups).
ARM = {"api-version": "2021-04-01"}


@pytest.fixture(scope="module")
def arm() -> Iterator[MockHandle]:
    with mock("azure", tls=False) as m:
        yield m


def _login(m: MockHandle, secret: str | None = None) -> requests.Response:
    o = m.backend["options"]
    return requests.post(f"{m.url}/{o['tenant_id']}/oauth2/token", timeout=10, data={
        "grant_type": "client_credentials", "client_id": o["key"], "client_secret": secret or o["secret"],
        "resource": f"{m.url}/"})


def _token(m: MockHandle) -> dict[str, str]:
    return {"Authorization": f"Bearer {_login(m).json()['access_token']}"}


def _compute(m: MockHandle) -> str:
    return f"{m.url}/subscriptions/{m.backend['options']['subscription_id']}/providers/Microsoft.Compute"


def test_login_answers_as_entra_id(arm: MockHandle) -> None:
    good = _login(arm)
    assert good.status_code == 200
    body = good.json()
    assert body["token_type"] == "Bearer" and int(body["expires_on"]) > int(body["not_before"])
    bad = _login(arm, secret="wrong")
    assert bad.status_code == 401
    assert bad.json()["error"] == "invalid_client" and bad.json()["error_codes"] == [7000215]
    assert bad.json()["error_description"].startswith("AADSTS7000215")


def test_arm_checks_version_token_and_subscription(arm: MockHandle) -> None:
    base = _compute(arm)
    missing = requests.get(base, headers=_token(arm), timeout=10)
    assert missing.status_code == 400
    assert missing.json()["error"]["code"] == "MissingApiVersionParameter"
    anonymous = requests.get(base, params=ARM, timeout=10)
    assert anonymous.status_code == 401 and anonymous.json()["error"]["code"] == "AuthenticationFailed"
    forged = requests.get(base, params=ARM, headers={"Authorization": "Bearer forged"}, timeout=10)
    assert forged.json()["error"]["code"] == "InvalidAuthenticationToken"
    other = requests.get(base.replace(arm.backend["options"]["subscription_id"], "0000"), params=ARM,
                         headers=_token(arm), timeout=10)
    assert other.status_code == 404 and other.json()["error"]["code"] == "SubscriptionNotFound"


def test_arm_reads_carry_the_read_budget(arm: MockHandle) -> None:
    headers = _token(arm)
    first = requests.get(_compute(arm), params=ARM, headers=headers, timeout=10)
    second = requests.get(_compute(arm), params=ARM, headers=headers, timeout=10)
    left = [int(r.headers["x-ms-ratelimit-remaining-subscription-reads"]) for r in (first, second)]
    assert left[1] == left[0] - 1
    assert first.headers["x-ms-request-id"]
    vm = next(t for t in first.json()["resourceTypes"] if t["resourceType"] == "virtualMachines")
    assert vm["locations"] == ["France Central", "France South"]


def test_sizes_and_images_case_insensitive(arm: MockHandle) -> None:
    headers = _token(arm)
    sizes = requests.get(f"{_compute(arm)}/locations/francecentral/vmSizes", params=API, headers=headers,
                         timeout=10).json()["value"]
    d2 = next(s for s in sizes if s["name"] == "Standard_D2s_v5")
    assert (d2["numberOfCores"], d2["memoryInMB"]) == (2, 8192)
    publishers = requests.get(f"{_compute(arm)}/locations/francecentral/publishers", params=API, headers=headers,
                              timeout=10).json()
    canonical = next(p for p in publishers if p["name"] == "Canonical")
    assert canonical["id"].startswith("/Subscriptions/")  # ARM's capitalised ids, sent back as they are
    offers = requests.get(f"{arm.url}{canonical['id']}/artifacttypes/vmimage/offers", params=API, headers=headers,
                          timeout=10).json()
    assert [o["name"] for o in offers] == ["0001-com-ubuntu-server-jammy"]
    unknown = requests.get(f"{arm.url}{canonical['id']}/artifacttypes/vmimage/offers/nope/skus", params=API,
                           headers=headers, timeout=10)
    assert unknown.status_code == 404 and unknown.json()["error"]["code"] == "NotFound"
    nowhere = requests.get(f"{_compute(arm)}/locations/moon/vmSizes", params=API, headers=headers, timeout=10)
    assert nowhere.status_code == 400 and nowhere.json()["error"]["code"] == "NoRegisteredProviderFound"
    assert "for location 'moon' and API version '2015-06-15' for type 'locations/vmSizes'" in \
        nowhere.json()["error"]["message"]


def _all_prices(m: MockHandle, **params: str) -> tuple[list[dict[str, Any]], int]:
    url: str | None = f"{m.url}/api/retail/prices"
    query: dict[str, str] | None = params
    items, pages = [], 0
    while url:
        page = requests.get(url, params=query, timeout=10).json()
        items += page["Items"]
        pages += 1
        url, query = page["NextPageLink"], None
    return items, pages


def test_retail_prices_filter_currency_and_paging() -> None:
    flt = "serviceName eq 'Virtual Machines' and armRegionName eq 'francecentral' and priceType eq 'Consumption'"
    with mock("azure", tls=False, page_limit=7) as m:
        eur, pages = _all_prices(m, **{"$filter": flt, "currencyCode": "'EUR'"})
        usd, _ = _all_prices(m, **{"$filter": flt})
        bad = requests.get(f"{m.url}/api/retail/prices", params={"$filter": "nope gt 1"}, timeout=10)
    assert pages > 1 and len(eur) == len(usd) == len({i["meterId"] for i in eur})
    assert {i["currencyCode"] for i in eur} == {"EUR"} and {i["armRegionName"] for i in eur} == {"francecentral"}
    assert {i["type"] for i in eur} == {"Consumption"}
    linux = next(i for i in usd if i["armSkuName"] == "Standard_D4s_v5" and i["skuName"] == "D4s v5"
                 and not i["productName"].endswith("Windows"))
    assert (linux["retailPrice"], linux["unitOfMeasure"], linux["effectiveStartDate"]) == (
        0.23, "1 Hour", "2024-11-01T00:00:00Z")
    assert linux["productName"] == "Virtual Machines Dsv5 Series"
    assert bad.status_code == 400


def test_control_endpoints_and_reset(arm: MockHandle) -> None:
    _login(arm)
    state = requests.get(f"{arm.url}/_cloudcat/state", timeout=10).json()
    assert state["platform"] == "azure" and state["tokens_issued"] >= 1
    assert state["locations"] == ["francecentral", "francesouth"]
    assert requests.post(f"{arm.url}/_cloudcat/reset", timeout=10).json() == {"reset": True}
    assert requests.get(f"{arm.url}/_cloudcat/state", timeout=10).json()["tokens_issued"] == 0


def test_faults_fail_auth_and_injected_throttling() -> None:
    with mock("azure", tls=False, fail_auth=True) as m:
        assert _login(m).status_code == 401
    with mock("azure", tls=False, throttle_rate=1.0, retry_after=3) as m:
        refused = requests.get(f"{m.url}/api/retail/prices", timeout=10)
        assert refused.status_code == 429 and refused.headers["Retry-After"] == "3"


def test_more_regions_for_load_tests() -> None:
    with mock("azure", tls=False, regions=4) as m:
        assert len(requests.get(f"{m.url}/_cloudcat/state", timeout=10).json()["locations"]) == 4


@pytest.mark.parametrize(("name", "family", "generation", "arch"), [
    ("Standard_D4s_v5", "Dsv5", "v5", "x86_64"), ("Standard_E8d_v5", "Edv5", "v5", "x86_64"),
    ("Standard_D64ps_v5", "Dpsv5", "v5", "aarch64"), ("Standard_D2as_v5", "Dasv5", "v5", "x86_64"),
    ("Standard_D2_v2", "Dv2", "v2", "x86_64"), ("Standard_B2s", "Bs", None, "x86_64"),
    ("Standard_E4-2s_v5", "Esv5", "v5", "x86_64"), ("Standard_NC24ads_A100_v4", "NCadsv4", "v4", "x86_64"),
    ("not-an-azure-size", None, None, None),
])
def test_size_facts(name: str, family: str | None, generation: str | None, arch: str | None) -> None:
    facts = size_facts(name)
    assert (facts.family, facts.generation, facts.architecture) == (family, generation, arch)


def test_cli_mock_serve_azure_first_line() -> None:
    proc = subprocess.Popen([sys.executable, "-m", "cloudcat.cli", "mock", "serve", "azure"], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env={**os.environ, "PYTHONUNBUFFERED": "1"})
    try:
        assert proc.stdout is not None
        first = json.loads(proc.stdout.readline())
        assert first["url"].startswith("https://127.0.0.1:")
        backend = first["backend"]
        assert backend["driver"] == "libcloud" and backend["options"]["provider"] == "azure_arm"
        assert backend["options"]["cloud_environment"]["resourceManagerEndpointUrl"].startswith(first["url"])
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=20) == 0
