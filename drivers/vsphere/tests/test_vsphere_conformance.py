"""cloudcat's driver conformance kit, run on the vsphere driver against the mocked vCenter through real pyvmomi.

The 6.7 U3 fixture (an older API, content libraries under ``/rest``) is covered by the driver tests."""

from __future__ import annotations

from typing import Any

import pytest

from cloudcat.testing import MockHandle
from cloudcat.testing.conformance import DriverConformance


class TestVsphere(DriverConformance):
    """vCenter 8.0 U3: two datacenters, templates, libraries, datastores, policies, port groups."""

    driver = "vsphere"
    mock = "vsphere"
    sdk_modules = ["pyVmomi", "pyVim"]
    sdk_package = "pyvmomi"
    # one quick retry keeps the suite short: the fault checks run a dozen failing reads

    @pytest.fixture
    def backend_options(self, mock_handle: MockHandle | None) -> dict[str, Any]:
        assert mock_handle is not None
        return {**mock_handle.backend["options"], "retries": 1, "backoff": 0.05}

