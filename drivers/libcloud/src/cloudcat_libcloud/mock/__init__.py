"""A mocked Azure Resource Manager (Bleu), its login and Azure's retail price API, over loopback HTTPS.

::

    from cloudcat.testing import mock

    with mock("azure") as m:
        backend = m.backend  # {"driver": "libcloud", "options": {"provider": "azure_arm", …}}

It answers what Apache Libcloud's ``azure_arm`` driver calls to list locations, sizes and images
(the client-credentials token endpoint, ``Microsoft.Compute`` and its locations, ``vmSizes``,
image publishers, offers, SKUs and versions) and what cloudcat reads prices from
(``/api/retail/prices``), on one server. The package has one module per job, as moto has per
service:

* :mod:`.state`: fixture loading and the tenant's state (service principals, tokens, the read
  budget, locations, sizes, images, the retail price sheet);
* :mod:`.responses`: the wire format of ARM, of the login and of the price API;
* :mod:`.urls`: the routing table;

and :class:`AzureMock` (here) ties them to cloudcat's mock server. Bundled fixture: ``bleu``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, ClassVar

from werkzeug.wrappers import Request, Response

from cloudcat.testing.mockserver import MockPlatform

from .responses import Arm, answer, not_found
from .state import ArmState
from .urls import ROUTER

__all__ = ["AzureMock"]

_FIXTURES = Path(__file__).parent.parent / "fixtures"


class AzureMock(MockPlatform):
    """A mocked Azure Resource Manager that unmodified Apache Libcloud accepts."""

    name: ClassVar[str] = "azure"
    fixtures: ClassVar[dict[str, Path]] = {"bleu": _FIXTURES / "bleu.yaml"}
    #: Served over HTTPS (a throwaway certificate), as Azure is.
    tls: ClassVar[bool] = True

    state_: ArmState

    def reset(self) -> None:
        """Rebuild the tenant from the fixture (tokens are forgotten, the read budget is full again)."""
        self.state_ = ArmState(self.fixture, regions=self.regions_override)

    def dispatch(self, request: Request) -> Response:
        """Answer one request with the handler the routing table (:mod:`.urls`) names for it."""
        path = request.path.rstrip("/").lower() or "/"
        found = ROUTER.match(request.method, path)
        arm = Arm(self.state_, self.faults, self.base_url)
        if found is None:
            return not_found(arm, request)
        return answer(found.handler, arm, request, found.params)

    def cloud_environment(self) -> dict[str, str]:
        """The ``cloud_environment`` that points libcloud at this mock (ports included)."""
        return {"name": "bleu-mock", "resourceManagerEndpointUrl": f"{self.base_url}/",
                "activeDirectoryEndpointUrl": self.base_url,
                "activeDirectoryResourceId": f"{self.base_url}/",
                "storageEndpointSuffix": ".blob.bleu.invalid"}

    def backend(self) -> dict[str, Any]:
        """A backend entry for the ``libcloud`` driver with the ``azure_arm`` provider: the fixture's first
        service principal, prices in EUR from the mock's retail price API.

        The mock's certificate is a throwaway one that no CA bundle vouches for, hence ``verify: false``
        on HTTPS.
        """
        st = self.state_
        client, secret = next(iter(st.clients.items()))
        options: dict[str, Any] = {
            "provider": "azure_arm", "key": client, "secret": secret, "tenant_id": st.tenant,
            "subscription_id": st.subscription, "cloud_environment": self.cloud_environment(),
            "prices_url": f"{self.base_url}/api/retail/prices", "currency": "EUR",
        }
        if self.base_url.startswith("https:"):
            options["verify"] = False
        return {"driver": "libcloud", "options": options}

    def state(self) -> dict[str, Any]:
        """Tenant, subscription, locations, tokens issued and reads left, for ``GET /_cloudcat/state``."""
        return self.state_.state()
