"""Shared helpers for the OpenStack driver's tests: fixture data read from the bundled files."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml
from cloudcat_openstack.mock import OpenStackMock


def load_fixture(name: str) -> dict[str, Any]:
    """A bundled fixture, as the mock reads it."""
    path: Path = OpenStackMock.fixtures[name]
    data: dict[str, Any] = yaml.safe_load(path.read_text(encoding="utf-8"))
    return data


def _names_in(fixture: dict[str, Any], section: str, region: str, **where: Any) -> set[str]:
    """Names of a fixture section's entries present in ``region`` (and matching ``where``)."""
    return {e["name"] for e in fixture[section]
            if (e.get("regions") is None or region in e["regions"])
            and all(e.get(k) == v for k, v in where.items())}


@pytest.fixture
def fe_fixture() -> dict[str, Any]:
    return load_fixture("flexible-engine")


@pytest.fixture
def cw_fixture() -> dict[str, Any]:
    return load_fixture("cloudwatt")


NamesIn = Callable[..., set[str]]


@pytest.fixture
def names_in() -> NamesIn:
    """``names_in(fixture, section, region, **where)``: names of entries present in a region."""
    return _names_in
