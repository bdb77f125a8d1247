"""A mocked VMware vCenter over loopback HTTPS, close enough for unmodified pyvmomi.

::

    from cloudcat.testing import mock

    with mock("vsphere", page_limit=50) as m:
        backend = m.backend  # {"driver": "vsphere", "options": {host, port, user, password, verify: <CA bundle>}}

It answers SmartConnect's version negotiation (``/sdk/vimServiceVersions.xml``,
``/sdk/vimService.wsdl``), the vim25 SOAP calls an inventory reader makes (``RetrieveServiceContent``,
``Login``/``Logout``/``SessionIsActive``, ``CreateContainerView``/``DestroyView``,
``RetrievePropertiesEx``/``ContinueRetrievePropertiesEx``/``RetrieveProperties``, ``Fetch`` for
attribute access, ``CurrentTime``, the ``SearchIndex`` finders), every manager ``ServiceContent``
references (other methods: ``MethodNotFound``), SPBM at ``/pbm/sdk``, and the REST calls of content
libraries and of the host list (``/api/vcenter/host``), with vCenter's own faults
(``NotAuthenticated``, ``InvalidLogin``, ``ManagedObjectNotFound``, ``InvalidProperty``).

The package has one module per job, as moto has per service:

* :mod:`.state`: the inventory (managed objects and their typed properties) built from a fixture;
* :mod:`.values`: the typed property values (references, data objects, arrays, XML Schema scalars);
* :mod:`.managers`: the managers ``ServiceContent`` references, and their properties;
* :mod:`.schema`: the vim25 types and property paths (pyVmomi's tables), as requests are checked;
* :mod:`.collector`: the PropertyCollector's rules (object and traversal specs, property paths);
* :mod:`.responses`: the wire format (SOAP envelopes and faults, REST JSON);
* :mod:`.urls`: the routing table;
* :mod:`.tls`: the throwaway certificate, handed to clients as a CA bundle;

and :class:`VsphereMock` (here) ties them to cloudcat's mock server.
"""

from __future__ import annotations

import shutil
import ssl
import weakref
from collections.abc import Mapping
from pathlib import Path
from typing import Any, ClassVar
from urllib.parse import urlsplit

from werkzeug.wrappers import Request, Response

from cloudcat.testing.mockserver import Faults, MockPlatform

from .responses import Center, rest_supported, unserved
from .state import VcenterState, generated_fixture
from .tls import Certificate, make_certificate
from .urls import ROUTER

__all__ = ["VsphereMock", "generated_fixture"]

_FIXTURES = Path(__file__).parent.parent / "fixtures"


class VsphereMock(MockPlatform):
    """Mocked vCenter. Fixtures: ``vcenter`` (8.0 U3, default) and ``vcenter-67`` (6.7 U3, ``/rest`` only)."""

    name = "vsphere"
    tls: ClassVar[bool] = True
    fixtures: ClassVar[dict[str, Path]] = {
        "vcenter": _FIXTURES / "vcenter.yaml",
        "vcenter-67": _FIXTURES / "vcenter-67.yaml",
    }
    state_: VcenterState

    def __init__(self, fixture: str | Path | Mapping[str, Any] | None = None, *,
                 faults: Faults | None = None, regions: int | None = None) -> None:
        self._certificate: Certificate | None = None
        super().__init__(fixture, faults=faults, regions=regions)

    @property
    def certificate(self) -> Certificate:
        """The server's certificate (made on first use, removed with the platform)."""
        if self._certificate is None:
            self._certificate = make_certificate()
            weakref.finalize(self, shutil.rmtree, str(self._certificate.directory), True)
        return self._certificate

    def ssl_context(self) -> ssl.SSLContext:
        """TLS with the mock's own certificate, which :meth:`backend` hands out as a CA bundle."""
        return self.certificate.server_context()

    def reset(self) -> None:
        """Rebuild the inventory from the fixture (sessions and views are forgotten)."""
        self.state_ = VcenterState(self.fixture)

    def backend(self) -> dict[str, Any]:
        """Backend entry: the fixture's first user, verifying TLS against the mock's CA bundle."""
        url = urlsplit(self.base_url)
        user, password = next(iter(self.state_.users.items()))
        options: dict[str, Any] = {"host": url.hostname or "127.0.0.1", "port": url.port or 443, "user": user,
                                   "password": password}
        if url.scheme == "https":
            options["verify"] = str(self.certificate.cert_file)
        return {"driver": "vsphere", "options": options}

    def expire_tokens(self) -> int:
        """End every SOAP and REST session: the next call is refused (``NotAuthenticated``, REST 401)."""
        count = len(self.state_.sessions) + len(self.state_.rest_tokens)
        self.state_.sessions.clear()
        self.state_.rest_tokens.clear()
        return count

    def client_settings(self) -> dict[str, Any]:
        """Arguments of pyvmomi's ``SmartConnect`` (``cafile`` for an ``ssl.create_default_context``)."""
        options = self.backend()["options"]
        return {"host": options["host"], "port": options["port"], "user": options["user"],
                "pwd": options["password"], "cafile": options.get("verify")}

    def state(self) -> dict[str, Any]:
        """Inventory, session and view counts."""
        with self.lock:
            return self.state_.state()

    def dispatch(self, request: Request) -> Response:
        """Answer one request with the handler the routing table (:mod:`.urls`) names for it."""
        with self.lock:
            center = Center(self.state_, self.faults)
            path = request.path.rstrip("/") or "/"
            found = ROUTER.match(request.method, path)
            if found is None or (path.startswith("/api/") and not rest_supported(center)):
                return unserved(center, request)
            return found.handler(center, request, **found.params)
