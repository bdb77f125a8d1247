"""cloudcat's driver conformance kit, run on the vcd driver against both bundled fixtures."""

from __future__ import annotations

from typing import Any

import pytest

from cloudcat.testing import MockHandle
from cloudcat.testing.conformance import DriverConformance


class _QuickRetries(DriverConformance):
    @pytest.fixture
    def backend_options(self, mock_handle: MockHandle | None) -> dict[str, Any]:
        """The mock's options with one quick retry: the fault checks run a dozen failing reads."""
        assert mock_handle is not None
        return {**mock_handle.backend["options"], "retries": 1, "backoff": 0.05}


class TestVcdCloudAvenue(_QuickRetries):
    """The Cloud Avenue fixture: flexible compute, storage classes, templates, networks."""

    driver = "vcd"
    mock = "vcd"
    sdk_modules = ["httpx"]
    sdk_package = "httpx"


class TestVcdGeneric(_QuickRetries):
    """A plain Cloud Director: fixed sizing policies, two regions."""

    driver = "vcd"
    mock = "vcd"
    sdk_modules = ["httpx"]
    sdk_package = "httpx"
    unsupported = {"capability_declared": "this fixture sells fixed sizing policies only; flexible "
                                          "compute is confirmed on the Cloud Avenue fixture"}

    @pytest.fixture(scope="class")
    @classmethod
    def mock_fixture(cls) -> Any:
        return "generic-vcd"
