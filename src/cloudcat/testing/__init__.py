"""Testing tools shipped with cloudcat: mocked cloud endpoints and the driver conformance kit.

* :func:`mock` starts a mocked platform on loopback (``with mock("openstack") as m: ...``);
* the pytest plugin (``cloudcat.testing.pytest_plugin``, registered as ``pytest11``) gives the
  ``cloudcat_mock`` fixture;
* :mod:`cloudcat.testing.conformance` is the kit plugin authors run against their drivers.
"""

from .mockserver import Faults, MockHandle, MockPlatform, MockServer, RequestRecord, json_response, mock, start_mock

__all__ = ["Faults", "MockHandle", "MockPlatform", "MockServer", "RequestRecord", "json_response", "mock",
           "start_mock"]
