"""How a libcloud driver instance reaches its endpoint: TLS settings and ports, per instance.

libcloud reads TLS verification from process-wide settings (``libcloud.security``), and its Azure
connection logs in on port 443 whatever ``activeDirectoryEndpointUrl`` says and drops the port
of ``resourceManagerEndpointUrl``. Nothing here changes libcloud for the process:

* :class:`TlsConnection` is libcloud's HTTP connection with this instance's ``verify`` (a bool or
  a CA bundle), remembering the last request it sent on this thread (which error messages name,
  :func:`.errors.last_request`); :func:`use_tls` makes one driver instance's connections use it;
* :class:`ArmConnection` is libcloud's Azure Resource Manager connection that honours the scheme
  and port of both URLs of the ``cloud_environment``, and :class:`AzureArmNodeDriver` is
  libcloud's ``azure_arm`` driver with that connection.

This module imports libcloud: the driver imports it on first use.
"""

from __future__ import annotations

import functools
import warnings
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlencode, urlsplit

from libcloud import http as _http
from libcloud.common import azure_arm as _common_azure
from libcloud.common import base as _base
from libcloud.compute.drivers import azure_arm as _compute_azure

from cloudcat.http import fit_session

from .errors import remember_request

__all__ = ["ArmConnection", "AzureArmNodeDriver", "TlsConnection", "forget_tokens", "resolve_environment", "use_tls"]

# libcloud is untyped: its classes are narrowed to Any here, at the boundary
_LibcloudConnection: Any = _http.LibcloudConnection
_Connection: Any = _base.Connection
_AzureConnection: Any = _common_azure.AzureResourceManagementConnection
_AzureAuthResponse: Any = _common_azure.AzureAuthJsonResponse
_AzureNodeDriver: Any = _compute_azure.AzureNodeDriver
_ENVIRONMENTS: Mapping[str, Mapping[str, str]] = _common_azure.publicEnvironments



class TlsConnection(_LibcloudConnection):  # type: ignore[misc]  # libcloud is untyped
    """libcloud's HTTP connection, verifying TLS as ``verify`` says (``True``, ``False`` or a CA bundle path)
    instead of as the process-wide ``libcloud.security`` settings say."""

    def __init__(self, host: str, port: int, secure: Any = None, *, verify: bool | str = True,
                 **kwargs: Any) -> None:
        super().__init__(host, port, secure=secure, **kwargs)
        # its calls end at the backend's deadline (socket waits capped, bodies read piece by piece)
        fit_session(self.session)
        self.verify = verify is not False
        self.ca_cert = verify if isinstance(verify, str) else None

    def request(self, method: str, url: str, *args: Any, **kwargs: Any) -> Any:
        """libcloud's request, remembered for error messages (:func:`.errors.last_request`)."""
        remember_request(f"{method.upper()} {urlsplit(url).path or '/'}")
        return super().request(method, url, *args, **kwargs)


def quiet_loopback_warnings() -> None:
    """Silence urllib3's warning about unverified HTTPS for loopback hosts only (the mocks, whose
    throwaway certificates nothing vouches for); any other host still warns on every request."""
    from urllib3.exceptions import InsecureRequestWarning

    warnings.filterwarnings("ignore", message=r"Unverified HTTPS request is being made to host "
                                              r"'(127\.[0-9.]+|localhost|::1)'", category=InsecureRequestWarning)


def use_tls(driver: Any, verify: bool | str, timeout: float | None = None) -> None:
    """Make every connection of one libcloud driver instance verify TLS as ``verify`` says (and wait
    ``timeout`` seconds at most, for drivers whose constructor takes no timeout).

    libcloud builds its HTTP connection from the connection object's ``conn_class``; setting it
    on this instance's connection objects (the driver may hold several: compute, image…) leaves
    every other driver, and libcloud's defaults, alone. Connections already set up here
    (:class:`ArmConnection`) are left as they are.
    """
    factory = functools.partial(TlsConnection, verify=verify)
    for value in list(vars(driver).values()):
        conn: Any = value
        if not isinstance(value, _Connection):
            continue
        if timeout is not None:
            conn.timeout = timeout
        if not _is_tls_factory(conn.conn_class):
            conn.conn_class = factory
            if conn.connection is not None:  # already connected: reconnect with the new class
                conn.connection = None


def forget_tokens(driver: Any) -> bool:
    """Make one libcloud driver instance log in again on its next request (its token was refused).

    Azure's connection (:class:`ArmConnection`) forgets its bearer token; OpenStack's clear their
    identity context. Whether any connection held a token to forget.
    """
    forgot = False
    for value in list(vars(driver).values()):
        conn: Any = value
        if not isinstance(value, _Connection):
            continue
        if isinstance(value, ArmConnection) and getattr(conn, "access_token", None):
            conn.forget_token()
            forgot = True
        elif hasattr(conn, "get_auth_class") and getattr(conn, "auth_token", None):
            conn.get_auth_class().clear_cached_auth_context()
            conn.auth_token = None
            forgot = True
    return forgot


def _is_tls_factory(factory: Any) -> bool:
    return isinstance(factory, functools.partial) and factory.func is TlsConnection


def resolve_environment(environment: str | Mapping[str, str] | None) -> dict[str, str]:
    """libcloud's named cloud environment (``AzureChinaCloud``…) or a given one, as a dict."""
    if environment is None:
        return dict(_ENVIRONMENTS["default"])
    if isinstance(environment, str):
        return dict(_ENVIRONMENTS[environment])
    return dict(environment)


def _endpoint(url: str) -> tuple[str, int, bool]:
    parts = urlsplit(url)
    secure = parts.scheme != "http"
    return parts.hostname or "", parts.port or (443 if secure else 80), secure


class ArmConnection(_AzureConnection):  # type: ignore[misc]  # libcloud is untyped
    """libcloud's Azure Resource Manager connection, with the ports and schemes of the environment's URLs."""

    def __init__(self, key: str, secret: str, secure: bool = True, tenant_id: str | None = None,
                 subscription_id: str | None = None, cloud_environment: Any = None, *,
                 tls_verify: bool | str = True, **kwargs: Any) -> None:
        super().__init__(key, secret, secure=secure, tenant_id=tenant_id, subscription_id=subscription_id,
                         cloud_environment=cloud_environment, **kwargs)
        # set before libcloud connects (the driver logs in as it is built)
        self.conn_class = functools.partial(TlsConnection, verify=tls_verify)
        env = resolve_environment(cloud_environment)
        self.host, self.port, self.secure = _endpoint(env["resourceManagerEndpointUrl"])
        self.login_host, self.login_port, self.login_secure = _endpoint(env["activeDirectoryEndpointUrl"])

    def get_token_from_credentials(self) -> None:
        """Log in (OAuth2 client credentials) at the environment's login endpoint, its port included."""
        conn = self.conn_class(self.login_host, self.login_port, secure=self.login_secure, timeout=self.timeout)
        conn.connect()
        params = urlencode({"grant_type": "client_credentials", "client_id": self.user_id,
                            "client_secret": self.key, "resource": self.login_resource})
        headers = {"Content-type": "application/x-www-form-urlencoded"}
        conn.request("POST", f"/{self.tenant_id}/oauth2/token", params, headers)
        answer = _AzureAuthResponse(conn.getresponse(), conn)
        self.access_token = answer.object["access_token"]
        self.expires_on = answer.object["expires_on"]

    def forget_token(self) -> None:
        """Make the next request log in again (after the endpoint refused the token)."""
        self.expires_on = 0


class AzureArmNodeDriver(_AzureNodeDriver):  # type: ignore[misc]  # libcloud is untyped
    """libcloud's ``azure_arm`` driver, unchanged but for its connection (:class:`ArmConnection`), which
    verifies TLS as ``tls_verify`` says (``True``, ``False`` or a CA bundle path)."""

    connectionCls = ArmConnection

    def __init__(self, *args: Any, tls_verify: bool | str = True, **kwargs: Any) -> None:
        self.tls_verify = tls_verify
        super().__init__(*args, **kwargs)

    def _ex_connection_class_kwargs(self) -> dict[str, Any]:
        kwargs: dict[str, Any] = super()._ex_connection_class_kwargs()
        kwargs["tls_verify"] = self.tls_verify
        return kwargs
