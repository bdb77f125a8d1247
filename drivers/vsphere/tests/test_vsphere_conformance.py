"""cloudcat's driver conformance kit, run on the vsphere driver against the mocked vCenter through real pyvmomi."""

from __future__ import annotations

from typing import Any

import pytest

from cloudcat.testing.conformance import DriverConformance


class TestVsphere(DriverConformance):
    """vCenter 8.0 U3: two datacenters, templates, libraries, datastores, policies, port groups."""

    driver = "vsphere"
    mock = "vsphere"
    sdk_modules = ["pyVmomi", "pyVim"]
    sdk_package = "pyvmomi"


class TestVsphere67(DriverConformance):
    """vCenter 6.7 U3: an older API version, content libraries under /rest."""

    driver = "vsphere"
    mock = "vsphere"
    sdk_modules = ["pyVmomi", "pyVim"]
    sdk_package = "pyvmomi"

    @pytest.fixture(scope="class")
    @classmethod
    def mock_fixture(cls) -> Any:
        return "vcenter-67"
