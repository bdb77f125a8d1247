"""Testing tools shipped with cloudcat: mocked cloud endpoints and the driver conformance kit.

* :func:`mock` starts a mocked platform on loopback (``with mock("openstack") as m: ...``);
  ``m.faults`` plans faults (:class:`FaultRule`: "the next 2 GETs of the flavors list answer 429",
  connection resets, hangs) and expires tokens, ``m.requests`` records what was served;
* the pytest plugin (``cloudcat.testing.pytest_plugin``, registered as ``pytest11``) gives the
  ``cloudcat_mock`` fixture;
* :mod:`cloudcat.testing.conformance` is the kit plugin authors run against their drivers.
"""

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
           "json_response", "mock", "parse_rule", "start_mock"]
