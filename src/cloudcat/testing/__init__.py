"""Testing tools shipped with cloudcat: mocked cloud endpoints and the driver conformance kit.

* :func:`mock` starts a mocked platform on loopback (``with mock("openstack") as m: ...``);
  ``m.faults`` plans faults (:class:`FaultRule`: "the next 2 GETs of the flavors list answer 429",
  connection resets, hangs) and expires tokens, ``m.requests`` records what was served;
* the pytest plugin (``cloudcat.testing.pytest_plugin``, registered as ``pytest11``) gives the
  ``cloudcat_mock`` fixture;
* :mod:`cloudcat.testing.conformance` is the kit plugin authors run against their drivers.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .faults import FaultRule, parse_rule
    from .mockserver import (
        FaultControl,
        Faults,
        MockHandle,
        MockPlatform,
        MockServer,
        RequestRecord,
        json_response,
        mock,
        start_mock,
    )

__all__ = ["FaultControl", "FaultRule", "Faults", "MockHandle", "MockPlatform", "MockServer", "RequestRecord",
           "json_response", "mock", "parse_rule", "start_mock", "wait_until"]

# Imported on first use: the pytest plugin lives in this package and is loaded by every pytest run
# of an environment where cloudcat is installed, so the mock server (werkzeug, pydantic) waits.
_LAZY = {"FaultRule": "faults", "parse_rule": "faults", "wait_until": "waiting"}


def __getattr__(name: str) -> Any:
    if name not in __all__:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f".{_LAZY.get(name, 'mockserver')}", __name__), name)
    globals()[name] = value
    return value
