"""cloudcat's driver conformance kit, run on the libcloud driver: Azure (Bleu) against the Azure mock, and
libcloud's OpenStack driver against the OpenStack mock (Flexible Engine)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from cloudcat.testing.conformance import DriverConformance
from cloudcat.testing.mockserver import MockHandle

#: One quick retry, and no wait for a Retry-After: the fault checks (503s, 429s with Retry-After 1 s,
#: under several scenarios) then take seconds, not tens of seconds; what they check does not depend on
#: the number of retries (a RateLimitedError still carries the backend's Retry-After).
QUICK_RETRIES = {"retries": 1, "backoff": 0.05, "max_retry_after": 0.5}


class TestLibcloudAzure(DriverConformance):
    """libcloud's azure_arm driver on the mocked Azure Resource Manager (Bleu fixture)."""

    driver = "libcloud"
    mock = "azure"
    sdk_modules = ["libcloud"]
    sdk_package = "apache-libcloud"

    @pytest.fixture
    def backend_options(self, mock_handle: MockHandle) -> dict[str, Any]:
        return {**mock_handle.backend["options"], **QUICK_RETRIES}


class TestLibcloudOpenStack(DriverConformance):
    """libcloud's OpenStack driver on the mocked Flexible Engine."""

    driver = "libcloud"
    mock = "openstack"
    sdk_modules = ["libcloud"]
    sdk_package = "apache-libcloud"
    unsupported = {"capability_declared[prices]": "libcloud bundles no OpenStack prices: the openstack provider's "
                                                  "class (OpenStackDriver) declares none; the registered class "
                                                  "declares what some provider (azure_arm) shows"}

    @pytest.fixture(scope="class")
    @classmethod
    def mock_fixture(cls) -> Any:
        return "flexible-engine"

    @pytest.fixture
    def backend_options(self, mock_handle: MockHandle,
                        openstack_options: Callable[[MockHandle], dict[str, Any]]) -> dict[str, Any]:
        return {**openstack_options(mock_handle), **QUICK_RETRIES}
