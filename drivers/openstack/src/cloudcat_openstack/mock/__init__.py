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

and :class:`OpenStackMock` (here) ties them to cloudcat's mock server. It also hands a test
author the connection settings in their client's own form::

    entry = m.platform.clouds_yaml_entry()        # {"auth": {...}, "region_name": ..., ...}
    env = m.platform.os_environ()                 # {"OS_AUTH_URL": ..., "OS_USERNAME": ..., ...}
    env2 = m.platform.os_environ(identity_api_version="2")   # Keystone v2.0 (Cloudwatt fixture)
    admin = m.platform.backend(user="ocb-admin")  # a backend entry for another fixture user
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any, ClassVar

from werkzeug.wrappers import Request, Response

from cloudcat.testing.mockserver import MockPlatform

from .responses import Cloud, answer, unknown_path, www_authenticate
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

    def fault_response(self, status: int, message: str, headers: Mapping[str, str]) -> Response:
        """An injected fault in the services' ``{"error": …}`` form; a 401 (an expired token)
        names the identity endpoint in ``WWW-Authenticate``, as every 401 of the cloud does."""
        resp = super().fault_response(status, message, headers)
        request = self.current_request()
        if status == 401 and request is not None:
            resp.headers["WWW-Authenticate"] = www_authenticate(self.base_url, request.path)
        return resp

    def backend(self, user: str | None = None) -> dict[str, Any]:
        """A backend entry for the ``openstack`` driver, as ``user`` (default: the fixture's
        first user, a project user in the bundled fixtures)."""
        st = self.state_
        return {"driver": "openstack", "options": {
            "auth": self._v3_auth(user),
            "cloudkitty": st.fixture.prices is not None and st.fixture.cloudkitty,
        }}

    def _user(self, name: str | None) -> Any:
        users = self.state_.users
        if name is None:
            return next(iter(users.values()))
        if name not in users:
            raise KeyError(f"no user {name!r} in the fixture (users: {', '.join(users)})")
        return users[name]

    def _v3_auth(self, user: str | None) -> dict[str, str]:
        st = self.state_
        u = self._user(user)
        return {"auth_url": f"{self.base_url}/identity/v3", "username": u.name, "password": u.password,
                "project_name": st.project_name, "user_domain_name": st.domain, "project_domain_name": st.domain}

    def _identity_version(self, identity_api_version: str) -> str:
        version = {"3": "v3", "2": "v2.0", "2.0": "v2.0"}.get(identity_api_version)
        if version is None or version not in self.state_.fixture.identity_versions:
            raise ValueError(f"this fixture serves Keystone {', '.join(self.state_.fixture.identity_versions)}, "
                             f"not {identity_api_version!r}")
        return version

    def clouds_yaml_entry(self, *, region: str | None = None, user: str | None = None,
                          identity_api_version: str = "3") -> dict[str, Any]:
        """A ``clouds.yaml`` entry (the value under ``clouds: <name>:``) for this mock, as
        openstacksdk, the ``openstack`` CLI and gophercloud's ``clientconfig`` read it."""
        version = self._identity_version(identity_api_version)
        region = region or next(iter(self.state_.regions))
        auth: dict[str, str] = self._v3_auth(user)
        if version == "v2.0":
            auth = {"auth_url": f"{self.base_url}/identity/v2.0", "username": auth["username"],
                    "password": auth["password"], "project_name": auth["project_name"]}
        return {"auth": auth, "region_name": region, "identity_api_version": identity_api_version,
                "interface": "public", "auth_type": "password"}

    def os_environ(self, *, region: str | None = None, user: str | None = None,
                   identity_api_version: str = "3") -> dict[str, str]:
        """The ``OS_*`` variables (an ``openrc``) for this mock: ``OS_AUTH_URL``,
        ``OS_USERNAME``, ``OS_PASSWORD``, ``OS_PROJECT_NAME``, domains (v3), ``OS_REGION_NAME``,
        ``OS_IDENTITY_API_VERSION``; v2.0 also sets ``OS_TENANT_NAME`` as older clients read it."""
        entry = self.clouds_yaml_entry(region=region, user=user, identity_api_version=identity_api_version)
        env = {f"OS_{key.upper()}": value for key, value in entry["auth"].items()}
        env.update({"OS_REGION_NAME": entry["region_name"], "OS_IDENTITY_API_VERSION": identity_api_version,
                    "OS_INTERFACE": "public", "OS_AUTH_TYPE": "password"})
        if identity_api_version != "3":
            env["OS_TENANT_NAME"] = env["OS_PROJECT_NAME"]
        return env

    def application_credential(self) -> dict[str, str] | None:
        """``auth`` options for the fixture's first application credential, if it has one."""
        cred = next(iter(self.state_.app_credentials.values()), None)
        if cred is None:
            return None
        return {"auth_url": f"{self.base_url}/identity/v3", "application_credential_id": cred.id,
                "application_credential_secret": cred.secret}

    def client_settings(self) -> dict[str, Any]:
        """The ``clouds.yaml`` entry of :meth:`clouds_yaml_entry` (first region, first user, v3)."""
        return self.clouds_yaml_entry()

    def state(self) -> dict[str, Any]:
        """Regions served and tokens issued, for ``GET /_cloudcat/state``."""
        return {"regions": list(self.state_.regions), "tokens_issued": self.state_.tokens_issued,
                "project_id": self.state_.project_id}
