"""The static driver passes the conformance kit, reading a small catalog file.

The static driver talks to no server, so the kit's fault-injection and paging checks are
reported as skips with their reason; every other check runs.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from cloudcat.testing.conformance import DriverConformance

CATALOG = Path(__file__).with_name("conformance-catalog.yaml")


class TestStaticConformance(DriverConformance):
    """The kit against ``static``."""

    driver = "static"

    @pytest.fixture
    def backend_options(self) -> dict[str, Any]:
        """The catalog file, by absolute path."""
        return {"paths": [str(CATALOG)]}
