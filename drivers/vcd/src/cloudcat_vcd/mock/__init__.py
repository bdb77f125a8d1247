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

from collections.abc import Mapping
from pathlib import Path
from typing import Any, ClassVar

from werkzeug.wrappers import Request, Response

from cloudcat.testing.mockserver import MockPlatform

from .responses import Director, answer, asked_version, error_response, unserved, with_request_id
from .state import VcdState
from .urls import ROUTER

__all__ = ["VcdMock"]

_MINOR_CODES = {401: "UNAUTHORIZED", 403: "ACCESS_TO_RESOURCE_IS_FORBIDDEN", 404: "RESOURCE_NOT_FOUND",
                429: "TOO_MANY_REQUESTS", 503: "SERVICE_UNAVAILABLE"}


class _ErrorAnswer(Response):
    """A Cloud Director ``Error`` whose form (XML or JSON, the API version asked for) is chosen when
    it is sent, with its own request id."""

    def __init__(self, status: int, message: str, headers: dict[str, str], versions: list[str]) -> None:
        super().__init__(status=status, headers=headers)
        self.message = message
        self.extra_headers = headers
        self.versions = versions

    def __call__(self, environ: Any, start_response: Any) -> Any:
        request = Request(environ)
        minor = _MINOR_CODES.get(self.status_code, "INTERNAL_SERVER_ERROR")
        answer = error_response(request, self.status_code, minor, self.message, self.extra_headers,
                                version=asked_version(request, self.versions))
        return with_request_id(request, answer)(environ, start_response)

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

    def pyvcloud_client_args(self, user: str | None = None) -> dict[str, Any]:
        """How pyvcloud reaches this mock, in pyvcloud's own terms::

            args = m.platform.pyvcloud_client_args()
            client = pyvcloud.vcd.client.Client(**args["client"])
            client.set_credentials(pyvcloud.vcd.client.BasicLoginCredentials(**args["credentials"]))

        ``client`` holds ``Client`` arguments (``uri``, ``api_version``, ``verify_ssl_certs``,
        ``log_file``): the API version is pinned to the newest the fixture serves among those
        pyvcloud 23.0.4 knows (29.0 to 36.0), as Cloud Avenue flags 36.0 deprecated and pyvcloud
        negotiates only among versions not flagged. ``credentials`` holds
        ``BasicLoginCredentials`` arguments (``user``, ``org``, ``password``) of ``user`` (default:
        the fixture's first user).
        """
        known = [v for v in self.state_.versions if v.split(".")[0].isdigit() and 29 <= int(v.split(".")[0]) <= 36]
        users = self.state_.users
        chosen = users.get(user) if user else next(iter(users.values()), None)
        if chosen is None:
            raise KeyError(f"no user {user!r} in the fixture (users: {sorted(users)})")
        return {"client": {"uri": self.base_url, "api_version": known[-1] if known else None,
                           "verify_ssl_certs": not self.base_url.startswith("https:"), "log_file": None},
                "credentials": {"user": chosen["name"], "org": self.state_.org_name,
                                "password": str(chosen["password"])}}

    def client_settings(self) -> dict[str, Any]:
        """pyvcloud's connection settings (:meth:`pyvcloud_client_args`)."""
        return self.pyvcloud_client_args()

    def fault_response(self, status: int, message: str, headers: Mapping[str, str]) -> Response:
        """An injected fault (503, 429, 401…) as Cloud Director words it: an ``Error`` document,
        XML under ``/api`` unless ``Accept`` asks for JSON, JSON under ``/cloudapi``.

        The form depends on the request, which the server does not hand this hook: the answer
        is rendered when the server sends it, from the request's WSGI environment. Like every
        answer, it carries an ``X-VMWARE-VCLOUD-REQUEST-ID``.
        """
        return _ErrorAnswer(status, message, dict(headers), list(self.state_.versions))

    def expire_tokens(self) -> int:
        """End every session: the next call with its token gets Cloud Director's 401."""
        with self.lock:
            count = len(self.state_.sessions)
            self.state_.sessions.clear()
            return count

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
