"""cloudcat's driver conformance kit, run on the openstack driver against both bundled fixtures.

The Flexible Engine fixture exercises zones, sale status per zone (lifecycle) and GPUs; the
Cloudwatt fixture a plain OpenStack with one zone per region and no Huawei extra specs.
"""

from __future__ import annotations

from typing import Any

import pytest

from cloudcat.testing import MockHandle
from cloudcat.testing.conformance import DriverConformance


class TestOpenStackFlexibleEngine(DriverConformance):
    """Flexible Engine: three zones in eu-west-0, flavors sold out or abandoned per zone."""

    driver = "openstack"
    mock = "openstack"
    sdk_modules = ["openstack", "keystoneauth1"]
    sdk_package = "openstacksdk"

    @pytest.fixture(scope="class")
    @classmethod
    def mock_fixture(cls) -> Any:
        return "flexible-engine"


class TestOpenStackCloudwatt(DriverConformance):
    """Cloudwatt: regions fr1 and fr2, flavors without sale-status extra specs."""

    driver = "openstack"
    mock = "openstack"
    sdk_modules = ["openstack", "keystoneauth1"]
    sdk_package = "openstacksdk"
    unsupported = {"capability_declared[lifecycle]": "this fixture's flavors carry no sale status "
                                                     "(no cond:operation:* extra specs, none disabled); "
                                                     "lifecycle is confirmed on the Flexible Engine fixture"}

    @pytest.fixture(scope="class")
    @classmethod
    def mock_fixture(cls) -> Any:
        return "cloudwatt"

    @pytest.fixture
    def backend_options(self, mock_handle: MockHandle | None) -> dict[str, Any]:
        """The mock's options with one retry instead of three: the fault checks fail sooner.
        The default retry policy is checked by the Flexible Engine class."""
        assert mock_handle is not None
        return {**mock_handle.backend["options"], "retries": 1}
