"""A mocked VMware Cloud Director (and Cloud Avenue) over loopback HTTP.

::

    from cloudcat.testing import mock

    with mock("vcd", "generic-vcd", page_limit=1) as m:
        backend = m.backend  # {"driver": "vcd", "options": {url, org, username, password}}

The package has one module per job, as moto has per service:

* :mod:`.state`: fixture loading and the org's state and rules (VDCs, compute policies,
  catalogs, networks, sessions; query records, FIQL filters, paging);
* :mod:`.responses`: the wire format, XML or JSON as Cloud Director sends it;
* :mod:`.urls`: the routing table, what the mock serves;

and :class:`VcdMock` (here) ties them to cloudcat's mock server.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, ClassVar

from werkzeug.wrappers import Request, Response

from cloudcat.testing.mockserver import MockPlatform

from .responses import Director, answer, unserved
from .state import VcdState
from .urls import ROUTER

__all__ = ["VcdMock"]

_FIXTURES = Path(__file__).parent.parent / "fixtures"


class VcdMock(MockPlatform):
    """Mocked Cloud Director. Fixtures: ``cloud-avenue`` (default) and ``generic-vcd``."""

    name = "vcd"
    fixtures: ClassVar[dict[str, Path]] = {
        "cloud-avenue": _FIXTURES / "cloud-avenue.yaml",
        "generic-vcd": _FIXTURES / "generic-vcd.yaml",
    }
    state_: VcdState

    def reset(self) -> None:
        """Rebuild the org from the fixture (sessions are forgotten)."""
        self.state_ = VcdState(self.fixture, regions=self.regions_override, base_url=self.base_url)

    def backend(self) -> dict[str, Any]:
        """Backend entry: the first user of the fixture, logging in with a password."""
        user = next(iter(self.state_.users.values()), {"name": "admin", "password": ""})
        return {"driver": "vcd", "options": {"url": self.base_url, "org": self.state_.org_name,
                                             "username": user["name"], "password": str(user["password"])}}

    def token_backend(self) -> dict[str, Any]:
        """Backend entry logging in with the fixture's first API token."""
        token = next(iter(self.state_.api_tokens))
        return {"driver": "vcd", "options": {"url": self.base_url, "org": self.state_.org_name,
                                             "api_token": token}}

    def state(self) -> dict[str, Any]:
        """Org, VDC and session counts."""
        with self.lock:
            return self.state_.state()

    def dispatch(self, request: Request) -> Response:
        """Answer one request with the handler the routing table (:mod:`.urls`) names for it."""
        with self.lock:
            self.state_.base_url = self.base_url
            found = ROUTER.match(request.method, request.path.rstrip("/") or "/")
            handler, params = (found.handler, found.params) if found else (unserved, {})
            return answer(handler, Director(self.state_, self.faults), request, params)
