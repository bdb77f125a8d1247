"""The mocked OpenStack cloud: Keystone, Nova, Glance, Cinder, Neutron and CloudKitty on loopback.

::

    from cloudcat.testing import mock

    with mock("openstack", "flexible-engine", page_limit=1, token_ttl=2) as m:
        conn = openstack.connect(**m.backend["options"]["auth"], region_name="eu-west-0",
                                 load_yaml_config=False, load_envvars=False)
        print([f.name for f in conn.compute.flavors()])

The package has one module per job, as moto has per service:

* :mod:`.state`: fixture loading and the cloud's state and rules (identities, tokens, region
  catalogs of flavors, images, volume types, QoS specs and networks, prices);
* :mod:`.responses`: the wire format, the answers of each service;
* :mod:`.urls`: the routing table, what each service serves;

and :class:`OpenStackMock` (here) ties them to cloudcat's mock server.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, ClassVar

from werkzeug.wrappers import Request, Response

from cloudcat.testing.mockserver import MockPlatform

from .responses import Cloud, answer, unknown_path
from .state import CloudState
from .urls import ROUTER, routed_path

__all__ = ["OpenStackMock"]

_FIXTURES = Path(__file__).parent.parent / "fixtures"


class OpenStackMock(MockPlatform):
    """A mocked OpenStack cloud that openstacksdk, the ``openstack`` CLI and libcloud accept."""

    name: ClassVar[str] = "openstack"
    fixtures: ClassVar[dict[str, Path]] = {
        "cloudwatt": _FIXTURES / "cloudwatt.yaml",
        "flexible-engine": _FIXTURES / "flexible-engine.yaml",
    }

    state_: CloudState

    def reset(self) -> None:
        """Rebuild identities, tokens and catalogs from the fixture."""
        self.state_ = CloudState(self.fixture, regions=self.regions_override)

    def dispatch(self, request: Request) -> Response:
        """Answer one request with the handler the routing table (:mod:`.urls`) names for it."""
        found = ROUTER.match(request.method, routed_path(request.path, self.state_.project_id))
        if found is None:
            return unknown_path(request)
        return answer(found.handler, Cloud(self.state_, self.faults, self.base_url), request, found.params)

    def backend(self) -> dict[str, Any]:
        """A backend entry for the ``openstack`` driver, with the fixture's first user."""
        st = self.state_
        user = next(iter(st.users.values()))
        return {"driver": "openstack", "options": {
            "auth": {"auth_url": f"{self.base_url}/identity/v3", "username": user.name,
                     "password": user.password, "project_name": st.project_name,
                     "user_domain_name": st.domain, "project_domain_name": st.domain},
            "cloudkitty": st.fixture.prices is not None and st.fixture.cloudkitty,
        }}

    def application_credential(self) -> dict[str, str] | None:
        """``auth`` options for the fixture's first application credential, if it has one."""
        cred = next(iter(self.state_.app_credentials.values()), None)
        if cred is None:
            return None
        return {"auth_url": f"{self.base_url}/identity/v3", "application_credential_id": cred.id,
                "application_credential_secret": cred.secret}

    def state(self) -> dict[str, Any]:
        """Regions served and tokens issued, for ``GET /_cloudcat/state``."""
        return {"regions": list(self.state_.regions), "tokens_issued": self.state_.tokens_issued,
                "project_id": self.state_.project_id}
