"""Shared fixtures of the libcloud driver's tests."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from cloudcat.testing.mockserver import MockHandle


def libcloud_openstack_options(handle: MockHandle) -> dict[str, Any]:
    """``libcloud`` driver options reaching an OpenStack mock through libcloud's OpenStack driver."""
    auth = handle.backend["options"]["auth"]
    return {"provider": "openstack", "key": auth["username"], "secret": auth["password"],
            "args": {"ex_force_auth_url": auth["auth_url"].removesuffix("/v3"),
                     "ex_force_auth_version": "3.x_password", "ex_tenant_name": auth["project_name"],
                     "ex_domain_name": auth["user_domain_name"], "api_version": "2.0"}}


@pytest.fixture
def openstack_options() -> Callable[[MockHandle], dict[str, Any]]:
    """Factory: the ``libcloud`` driver options that reach a running OpenStack mock."""
    return libcloud_openstack_options
