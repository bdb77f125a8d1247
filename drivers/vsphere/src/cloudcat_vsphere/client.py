"""A vCenter session on pyvmomi: version negotiation, login, bulk reads, SPBM, content library REST.

* **Version negotiation** reads ``/sdk/vimServiceVersions.xml`` (``/sdk/vimService.wsdl`` on servers
  without it) and picks the newest vim25 version both pyvmomi and the server speak, as
  :func:`pyVim.connect.SmartConnect` does, but under the ``timeout`` option and with the HTTP status
  (503, 429 and its ``Retry-After``) kept for the error instead of SmartConnect's bare
  "is down or is not a VIM server".
* **Reads** go through one ContainerView and one ``RetrievePropertiesEx`` per object type,
  followed by ``ContinueRetrievePropertiesEx`` while vCenter hands back a token: a few round trips
  for the whole inventory, never one per property.
* **Sessions**: a ``NotAuthenticated`` fault (the session timed out) logs in again once and
  repeats the call; 503/429/malformed answers are retried as :class:`cloudcat.http.RetryPolicy` says.
* **Errors**: SOAP faults, HTTP statuses and socket errors become :mod:`cloudcat.errors` with the
  original as ``__cause__``; messages never carry the password, the session cookie or REST token.
"""

from __future__ import annotations

import base64
import contextlib
import http.client
import importlib
import json
import logging
import re
import socket
import ssl
import threading
import xml.etree.ElementTree as ET
import xml.sax
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pyexpat import ExpatError
from typing import Any, NoReturn, TypeVar

from cloudcat.errors import (
    AuthenticationError,
    BackendError,
    BackendNotFoundError,
    BackendTimeoutError,
    CloudcatError,
    PermissionDeniedError,
    UnavailableError,
)
from cloudcat.http import RetryPolicy, error_for_status, parse_retry_after

__all__ = ["Credentials", "ObjectRecord", "VsphereClient", "rest_paths", "version_key"]

log = logging.getLogger("cloudcat.vsphere")
T = TypeVar("T")
_COOKIE_VALUE = re.compile(r'vmware_soap_session="?([^";]+)')
#: The PBM API version asked for: 6.5's, which every supported vCenter (6.5 to 8.x) speaks.
PBM_VERSION = "pbm.version.version11"
#: The vim25 version used against a server that only publishes ``vimService.wsdl``.
WSDL_ONLY_VERSION = "vim.version.version11"


@dataclass(frozen=True)
class Credentials:
    """Where and as whom to log in."""

    host: str
    port: int
    user: str
    password: str


@dataclass
class ObjectRecord:
    """One managed object as a PropertyCollector returned it."""

    moid: str
    type: str
    props: dict[str, Any]


def version_key(version: str) -> tuple[int, ...]:
    """``"7.0.3.1"`` as ``(7, 0, 3, 1)``, for comparisons."""
    return tuple(int(p) for p in re.findall(r"\d+", version)[:4])


def rest_paths(api_version: str) -> dict[str, str]:
    """Content library URL templates: ``/api`` from vSphere 7.0 U2, ``/rest`` before."""
    if version_key(api_version) >= (7, 0, 2):
        return {"session": "/api/session", "libraries": "/api/content/library",
                "items": "/api/content/library/item?library_id={}", "item": "/api/content/library/item/{}",
                "template": "/api/vcenter/vm-template/library-items/{}"}
    return {"session": "/rest/com/vmware/cis/session", "libraries": "/rest/com/vmware/content/library",
            "items": "/rest/com/vmware/content/library/item?library_id={}",
            "item": "/rest/com/vmware/content/library/item/id:{}",
            "template": "/rest/vcenter/vm-template/library-items/{}"}


def _sdk(module: str = "pyVmomi") -> Any:
    """A pyvmomi module, typed ``Any``: pyvmomi's functions and generated types carry no annotations."""
    return importlib.import_module(module)


class _LastAnswer(threading.local):
    """Status and ``Retry-After`` of the last HTTP answer pyvmomi read on this thread."""

    status: int | None = None
    retry_after: str | None = None


def _recording_connection(answer: _LastAnswer) -> type[http.client.HTTPSConnection]:
    class RecordingConnection(http.client.HTTPSConnection):
        """pyvmomi's connection, remembering what it read: pyvmomi's own error keeps no headers."""

        def getresponse(self) -> http.client.HTTPResponse:
            response = super().getresponse()
            answer.status, answer.retry_after = response.status, response.getheader("Retry-After")
            return response

    return RecordingConnection


class VsphereClient:
    """One vCenter session shared by the driver's threads (pyvmomi's stub pools its connections)."""

    def __init__(self, credentials: Credentials, *, verify: bool | str, timeout: float, backend: str,
                 retry: RetryPolicy, page_size: int) -> None:
        self.credentials = credentials
        self.backend = backend
        self.timeout = timeout
        self.page_size = page_size
        self._retry = retry
        self._ssl = _ssl_context(verify)
        self._answer = _LastAnswer()
        self._lock = threading.RLock()
        self._si: Any = None
        self._content: Any = None
        self._generation = 0
        self._rest_token: str | None = None
        self._issued: list[str] = []
        self.api_version = ""
        self.about: dict[str, str] = {}

    # -- secrets ----------------------------------------------------------------------------
    def secrets(self) -> list[str]:
        """The password, and every session cookie and REST token issued so far."""
        return [self.credentials.password, *self._issued]

    def _redact(self, text: str) -> str:
        for secret in sorted(self.secrets(), key=len, reverse=True):
            if secret:
                text = text.replace(secret, "***")
        return text

    # -- errors -----------------------------------------------------------------------------
    def _error(self, exc: BaseException) -> CloudcatError:
        """The cloudcat error for ``exc`` (raised by pyvmomi, http.client or the socket layer)."""
        vim, vmodl = _sdk().vim, _sdk().vmodl
        if isinstance(exc, CloudcatError):
            return exc
        backend = self.backend
        if isinstance(exc, vim.fault.InvalidLogin | vim.fault.NotAuthenticated):
            return AuthenticationError(f"vCenter refused the credentials of {self.credentials.user!r}: "
                                       f"{_fault_text(exc)}", backend=backend)
        if isinstance(exc, vim.fault.NoPermission):
            return PermissionDeniedError(f"vCenter: {_fault_text(exc)}", backend=backend)
        if isinstance(exc, vmodl.fault.ManagedObjectNotFound):
            return BackendNotFoundError(f"vCenter: {_fault_text(exc)}", backend=backend)
        if isinstance(exc, vmodl.MethodFault):
            return BackendError(f"vCenter fault {type(exc).__name__}: {self._redact(_fault_text(exc))}",
                                backend=backend)
        if isinstance(exc, socket.timeout | TimeoutError):
            return BackendTimeoutError(f"vCenter did not answer within {self.timeout:g} s", backend=backend)
        if isinstance(exc, ssl.SSLCertVerificationError):
            return BackendError(f"TLS verification of {self.credentials.host} failed ({exc.verify_message}); "
                                "give the CA bundle as the `verify` option", backend=backend)
        if isinstance(exc, http.client.HTTPException) and self._answer.status and self._answer.status >= 400:
            status = self._answer.status
            return error_for_status(status, f"vCenter answered HTTP {status}", backend=backend,
                                    retry_after=parse_retry_after(self._answer.retry_after))
        if isinstance(exc, ExpatError | xml.sax.SAXException | ET.ParseError | ValueError
                      | http.client.IncompleteRead):
            return UnavailableError(f"malformed answer from vCenter ({type(exc).__name__})", backend=backend)
        if isinstance(exc, OSError | http.client.HTTPException):
            return UnavailableError(f"cannot reach vCenter at {self.credentials.host}:{self.credentials.port} "
                                    f"({type(exc).__name__})", backend=backend)
        return BackendError(f"vCenter: {type(exc).__name__}: {self._redact(str(exc))}", backend=backend)

    def _mapped(self, call: Callable[[], T]) -> T:
        self._answer.status = self._answer.retry_after = None
        try:
            return call()
        except CloudcatError:
            raise
        except Exception as exc:
            raise self._error(exc) from exc

    # -- plain HTTP (version documents, REST) ---------------------------------------------------
    def _http(self, method: str, path: str, headers: dict[str, str] | None = None) -> tuple[int, Any, bytes]:
        conn = http.client.HTTPSConnection(self.credentials.host, self.credentials.port, context=self._ssl,
                                           timeout=self.timeout)
        try:
            conn.request(method, path, headers=headers or {})
            response = conn.getresponse()
            return response.status, response.headers, response.read()
        finally:
            conn.close()

    def _fail(self, status: int, path: str, headers: Any) -> NoReturn:
        """Raise the cloudcat error of an HTTP error status (the status line as its cause)."""
        where = path.split("?")[0]
        error = error_for_status(status, f"vCenter answered HTTP {status} on {where}", backend=self.backend,
                                 retry_after=parse_retry_after(headers.get("Retry-After")))
        raise error from http.client.HTTPException(f"HTTP {status} on {where}")

    def _checked(self, method: str, path: str, headers: dict[str, str] | None = None) -> bytes:
        status, answer_headers, body = self._http(method, path, headers)
        if status >= 400:
            self._fail(status, path, answer_headers)
        return body

    def negotiate(self) -> str:
        """The newest vim25 version (pyvmomi's name, ``vim.version.v8_0_2_0``) both sides speak."""
        support = _sdk("pyVmomi.VmomiSupport")
        status, headers, body = self._http("GET", "/sdk/vimServiceVersions.xml")
        if status == 404:
            self._checked("GET", "/sdk/vimService.wsdl")
            return WSDL_ONLY_VERSION
        if status >= 400:
            self._fail(status, "/sdk/vimServiceVersions.xml", headers)
        root = ET.fromstring(body)
        offered: set[str] = set()
        for namespace in root.findall("namespace"):
            if namespace.findtext("name") == "urn:vim25":
                offered |= {v.text or "" for v in namespace.iter("version")}
        for name in support.GetServiceVersions("vim25"):
            if support.versionIdMap.get(name) in offered:
                return str(name)
        raise UnavailableError(f"vCenter offers no vim25 version this pyvmomi speaks ({sorted(offered)[:5]}…)",
                               backend=self.backend)

    # -- session ----------------------------------------------------------------------------
    def _connect(self) -> None:
        stub = self._stub(self.negotiate(), "/sdk")
        si = _sdk().vim.ServiceInstance("ServiceInstance", stub)
        content = si.RetrieveContent()
        about = content.about
        self.api_version = str(about.apiVersion)
        self.about = {"name": str(about.fullName), "version": str(about.version), "build": str(about.build),
                      "api_version": self.api_version, "instance_uuid": str(about.instanceUuid)}
        self._si, self._content = si, content
        try:
            self._login()
        except BaseException:
            self._si = self._content = None  # the next try connects afresh
            raise

    def _stub(self, version: str, path: str, **more: Any) -> Any:
        """A pyvmomi SOAP stub for ``path``, bounded by the timeout, remembering HTTP statuses."""
        stub = _sdk("pyVmomi.SoapAdapter").SoapStubAdapter(
            host=self.credentials.host, port=self.credentials.port, version=version, path=path, sslContext=self._ssl,
            httpConnectionTimeout=self.timeout, **more)
        stub.scheme = _recording_connection(self._answer)
        return stub

    def _login(self) -> None:
        self._content.sessionManager.Login(self.credentials.user, self.credentials.password, None)
        cookie = self.session_cookie()
        if cookie:
            self._issued.append(cookie)
        self._generation += 1
        log.debug("logged in to %s as %s (API %s)", self.credentials.host, self.credentials.user, self.api_version)

    def session_cookie(self) -> str | None:
        """The ``vmware_soap_session`` value (what SPBM wants as ``vcSessionCookie``)."""
        found = _COOKIE_VALUE.search(str(getattr(self._si._stub, "cookie", "") or "")) if self._si else None
        return found[1] if found else None

    def _session(self) -> tuple[Any, int]:
        with self._lock:
            if self._content is None:
                self._connect()
            return self._content, self._generation

    def _relogin(self, generation: int) -> None:
        with self._lock:
            if generation == self._generation:  # another thread may have logged in already
                log.info("vCenter session of %s expired: logging in again", self.credentials.user)
                self._login()

    def call(self, fn: Callable[[Any], T]) -> T:
        """``fn(service_content)`` with a session, logging in again once when it expired; retried and
        with errors mapped as the module says."""
        vim = _sdk().vim

        def attempt() -> T:
            content, generation = self._session()
            try:
                return fn(content)
            except vim.fault.NotAuthenticated:
                self._relogin(generation)
                return fn(self._session()[0])

        return self._retry.run(lambda: self._mapped(attempt))

    def close(self) -> None:
        """Log out (errors ignored: the session ends anyway)."""
        with self._lock:
            content, self._content, self._si = self._content, None, None
            token, self._rest_token = self._rest_token, None
        if content is not None:
            try:
                content.sessionManager.Logout()
            except Exception as exc:  # a session that ended already
                log.debug("logout: %s", type(exc).__name__)
        if token is not None:
            with contextlib.suppress(OSError):
                self._http("DELETE", rest_paths(self.api_version)["session"], {"vmware-api-session-id": token})

    # -- reads ------------------------------------------------------------------------------
    def retrieve(self, types: dict[str, list[str]], *, container: Any = None) -> list[ObjectRecord]:
        """Properties of every object of ``types`` (``{"VirtualMachine": ["name", "config.template"]}``)
        below ``container`` (default: the root folder): one ContainerView, one RetrievePropertiesEx
        and its continuations."""
        vmomi = _sdk()
        pc = vmomi.vmodl.query.PropertyCollector
        classes = {name: vmomi.VmomiSupport.GetWsdlType("urn:vim25", name) for name in types}

        def run(content: Any) -> list[ObjectRecord]:
            view = content.viewManager.CreateContainerView(container or content.rootFolder, list(classes.values()),
                                                           True)
            try:
                traversal = pc.TraversalSpec(name="traverseView", path="view", skip=False,
                                             type=vmomi.vim.view.ContainerView)
                objects = [pc.ObjectSpec(obj=view, skip=True, selectSet=[traversal])]
                props = [pc.PropertySpec(type=cls, pathSet=types[name], all=False) for name, cls in classes.items()]
                return list(self._collect(content, pc.FilterSpec(objectSet=objects, propSet=props)))
            finally:
                try:
                    view.Destroy()
                except Exception as exc:  # a view of an expired session is gone already
                    log.debug("DestroyView: %s", type(exc).__name__)

        return self.call(run)

    def retrieve_objects(self, type_name: str, moids: list[str], paths: list[str]) -> list[ObjectRecord]:
        """Properties of the named objects of one type, in one RetrievePropertiesEx (and continuations)."""
        if not moids:
            return []
        vmomi = _sdk()
        pc = vmomi.vmodl.query.PropertyCollector
        cls = vmomi.VmomiSupport.GetWsdlType("urn:vim25", type_name)

        def run(content: Any) -> list[ObjectRecord]:
            stub = content.propertyCollector._stub
            remaining = list(moids)
            while True:
                objects = [pc.ObjectSpec(obj=cls(moid, stub), skip=False) for moid in remaining]
                spec = pc.FilterSpec(objectSet=objects, propSet=[pc.PropertySpec(type=cls, pathSet=paths, all=False)])
                try:
                    return list(self._collect(content, spec))
                except vmomi.vmodl.fault.ManagedObjectNotFound as fault:
                    gone = getattr(fault.obj, "_moId", None)
                    if gone not in remaining:
                        raise
                    remaining.remove(gone)  # deleted since it was listed: leave it out
                    if not remaining:
                        return []

        return self.call(run)

    def _collect(self, content: Any, spec: Any) -> Iterator[ObjectRecord]:
        collector = content.propertyCollector
        options = _sdk().vmodl.query.PropertyCollector.RetrieveOptions(maxObjects=self.page_size)
        result = collector.RetrievePropertiesEx([spec], options)
        while result is not None:
            for obj in result.objects or []:
                yield ObjectRecord(moid=str(obj.obj._moId), type=str(obj.obj._wsdlName),
                                   props={p.name: p.val for p in obj.propSet or []})
            token = result.token
            result = collector.ContinueRetrievePropertiesEx(token) if token else None

    # -- SPBM ---------------------------------------------------------------------------------
    def storage_policies(self) -> list[Any]:
        """Storage (requirement) policies from SPBM at ``/pbm/sdk``."""
        pbm = _sdk().pbm

        def run(content: Any) -> list[Any]:
            stub = self._stub(PBM_VERSION, "/pbm/sdk", poolSize=0,
                              requestContext={"vcSessionCookie": self.session_cookie() or ""})
            manager = pbm.ServiceInstance("ServiceInstance", stub).RetrieveContent().profileManager
            ids = manager.PbmQueryProfile(resourceType=pbm.profile.ResourceType(resourceType="STORAGE"),
                                          profileCategory="REQUIREMENT")
            return list(manager.PbmRetrieveContent(profileIds=ids)) if ids else []

        return self.call(run)

    # -- content library REST -----------------------------------------------------------------
    def _rest_login(self) -> str:
        creds = self.credentials
        basic = base64.b64encode(f"{creds.user}:{creds.password}".encode()).decode()
        body = self._checked("POST", rest_paths(self.api_version)["session"], {"Authorization": f"Basic {basic}"})
        token = json.loads(body)
        token = token["value"] if isinstance(token, dict) else token
        self._issued.append(str(token))
        return str(token)

    def rest_get(self, key: str, *args: str) -> Any:
        """A content library read (``key`` of :func:`rest_paths`), unwrapped from ``/rest``'s ``value``."""
        self._session()  # the API version decides /api or /rest

        def attempt() -> Any:
            paths = rest_paths(self.api_version)
            path = paths[key].format(*args)
            for fresh in (False, True):
                with self._lock:
                    if self._rest_token is None or fresh:
                        self._rest_token = self._rest_login()
                    token = self._rest_token
                status, headers, body = self._http("GET", path, {"vmware-api-session-id": token,
                                                                 "Accept": "application/json"})
                if status == 401 and not fresh:
                    continue  # the REST session expired: log in again, once
                if status >= 400:
                    self._fail(status, path, headers)
                data = json.loads(body)
                return data["value"] if paths["session"].startswith("/rest") and isinstance(data, dict) else data
            raise AssertionError("unreachable")

        return self._retry.run(lambda: self._mapped(attempt))


def _fault_text(fault: Any) -> str:
    return str(getattr(fault, "msg", None) or type(fault).__name__)


def _ssl_context(verify: bool | str) -> ssl.SSLContext:
    if verify is False:
        context = ssl.create_default_context()
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
        return context
    if isinstance(verify, str):
        return ssl.create_default_context(cafile=verify)
    return ssl.create_default_context()
