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
* **Answers of an unexpected shape** are judged here, and only here. A SOAP answer pyvmomi cannot
  read (a word where a number belongs, an unknown ``xsi:type``, XML cut short) is an
  :class:`~cloudcat.errors.UnavailableError` naming the call, the object and the property
  (``RetrievePropertiesEx: VirtualMachine vm-12 config.hardware.numCPU: malformed value (…)``),
  found in the answer's bytes where pyvmomi stopped; a number beyond its XML type
  (``xsd:int``, ``xsd:long``…) or a float that is not finite is refused the same way. The driver
  maps each object inside a :class:`Reading`, which turns what it cannot map into such an error or,
  for one item, drops it with a warning naming the call, the object and the field.
"""

from __future__ import annotations

import base64
import contextlib
import http.client
import importlib
import io
import json
import logging
import math
import re
import socket
import ssl
import threading
import xml.etree.ElementTree as ET
import xml.sax
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pyexpat import ExpatError, ParserCreate
from typing import Any, NoReturn, TypeVar

from cloudcat.answers import SHAPE_ERRORS, AnswerValueError, describe, printable, shown
from cloudcat.answers import Reading as _Reading
from cloudcat.errors import (
    AuthenticationError,
    BackendError,
    BackendNotFoundError,
    BackendTimeoutError,
    CloudcatError,
    ConfigError,
    PermissionDeniedError,
    UnavailableError,
)
from cloudcat.http import RetryPolicy, error_for_status, parse_retry_after, time_left
from cloudcat.models import MAX_INT

__all__ = ["SHAPE_ERRORS", "AnswerValueError", "Credentials", "ObjectRecord", "Reading", "VsphereClient", "count",
           "mapping", "moid", "name", "rest_paths", "sequence", "version_key"]

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
    """One managed object as a PropertyCollector returned it (in the answer to ``call``)."""

    moid: str
    type: str
    props: dict[str, Any]
    call: str = "RetrievePropertiesEx"

    @property
    def subject(self) -> str:
        """``VirtualMachine vm-12``: the object, as messages name it."""
        return f"{self.type} {self.moid}"


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
    """The last SOAP call pyvmomi made on this thread and what it read: status, ``Retry-After``, body."""

    status: int | None = None
    retry_after: str | None = None
    call: str | None = None
    body: bytes = b""
    encoding: str = "identity"

    def forget(self) -> None:
        self.status = self.retry_after = self.call = None
        self.body, self.encoding = b"", "identity"

    @contextlib.contextmanager
    def kept(self) -> Iterator[None]:
        """Calls made inside (a clean-up) leave the record of the one that failed as it was."""
        saved = (self.status, self.retry_after, self.call, self.body, self.encoding)
        try:
            yield
        finally:
            self.status, self.retry_after, self.call, self.body, self.encoding = saved


_SOAP_METHOD = re.compile(rb"<(?:[\w.-]+:)?Body[^>]*>\s*<(?:[\w.-]+:)?([\w.-]+)")


def _socket_timeout(timeout: float | None) -> float | None:
    """``timeout`` (the option) capped at the time left before the deadline the call runs under
    (:func:`cloudcat.http.within`); a :class:`BackendTimeoutError` once that has passed."""
    left = time_left()
    if left is None:
        return timeout
    if left <= 0:
        raise BackendTimeoutError("deadline passed: the call was cut")
    return left if timeout is None else min(timeout, left)


class _DeadlineConnection(http.client.HTTPSConnection):
    """An HTTPS connection whose every socket wait ends at the deadline (or the ``timeout`` given
    it, whichever comes first), and whose answers are read a piece at a time: a vCenter that holds
    an answer, or sends it a byte at a time, is cut at the deadline rather than kept waiting on."""

    _option_timeout: float | None = None

    def _capped(self) -> float | None:
        if "_option_timeout" not in self.__dict__:
            self._option_timeout = self.timeout if isinstance(self.timeout, int | float) else None
        return _socket_timeout(self._option_timeout)

    def connect(self) -> None:
        self.timeout = self._capped()
        super().connect()

    def request(self, method: str, url: str, body: Any = None, headers: Any = None, **kwargs: Any) -> None:
        if self.sock is not None:  # a kept-alive connection: its next waits under this call's deadline
            self.sock.settimeout(self._capped())
        super().request(method, url, body, headers or {}, **kwargs)

    def getresponse(self) -> http.client.HTTPResponse:
        with self._closed_when_cut():
            if self.sock is not None:
                self.sock.settimeout(self._capped())
            return super().getresponse()

    def read_body(self, response: http.client.HTTPResponse) -> bytes:
        """The whole body of ``response``, one socket read at a time, each under the deadline."""
        pieces: list[bytes] = []
        with self._closed_when_cut():
            while True:
                if self.sock is not None:
                    self.sock.settimeout(self._capped())
                piece = response.read1(_PIECE)
                if not piece:
                    return b"".join(pieces)
                pieces.append(piece)

    @contextlib.contextmanager
    def _closed_when_cut(self) -> Iterator[None]:
        """Close the connection when a wait is cut (timed out, or the deadline passed): an answer
        read in part leaves it unusable, and closing it tells the server at once."""
        try:
            yield
        except (TimeoutError, BackendTimeoutError):
            self.close()
            raise


_PIECE = 65536


def _recording_connection(answer: _LastAnswer) -> type[http.client.HTTPSConnection]:
    class RecordingConnection(_DeadlineConnection):
        """pyvmomi's connection, remembering what it asked and read: pyvmomi's own errors keep no headers,
        and say neither the call nor where in the answer they stopped."""

        def request(self, method: str, url: str, body: Any = None, headers: Any = None, **kwargs: Any) -> None:
            sent = body.encode() if isinstance(body, str) else body
            found = _SOAP_METHOD.search(sent) if isinstance(sent, bytes) else None
            answer.call = found[1].decode() if found else None
            answer.body = b""
            super().request(method, url, body, headers or {}, **kwargs)

        def getresponse(self) -> http.client.HTTPResponse:
            response = super().getresponse()
            answer.status, answer.retry_after = response.status, response.getheader("Retry-After")
            answer.encoding = (response.getheader("Content-Encoding") or "identity").lower()
            answer.body = self.read_body(response)
            # pyvmomi reads the answer after this: hand it the same bytes again
            response.fp = io.BytesIO(answer.body)  # type: ignore[assignment]
            response.length, response.chunked = len(answer.body), False
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
        # a fault names the call it answered: vCenter checks the object a call is made on (a
        # ServiceContent whose reference was cut answers ManagedObjectNotFound on the next call)
        call = f"vCenter {self._answer.call}" if self._answer.call else "vCenter"
        if isinstance(exc, vim.fault.NoPermission):
            return PermissionDeniedError(f"{call}: {_fault_text(exc)}", backend=backend)
        if isinstance(exc, vmodl.fault.ManagedObjectNotFound):
            return BackendNotFoundError(f"{call}: {_fault_text(exc)}", backend=backend)
        if isinstance(exc, vmodl.MethodFault):
            return BackendError(f"{call} fault {type(exc).__name__}: {self._redact(_fault_text(exc))}",
                                backend=backend)
        if isinstance(exc, socket.timeout | TimeoutError):
            left = time_left()
            if left is not None and left < self.timeout:  # the wait was cut at the deadline
                return BackendTimeoutError("deadline passed: the call was cut", backend=backend)
            return BackendTimeoutError(f"vCenter did not answer within {self.timeout:g} s", backend=backend)
        if isinstance(exc, ssl.SSLCertVerificationError):
            return BackendError(f"TLS verification of {self.credentials.host} failed ({exc.verify_message}); "
                                "give the CA bundle as the `verify` option", backend=backend)
        if isinstance(exc, http.client.HTTPException) and self._answer.status and self._answer.status >= 400:
            status = self._answer.status
            return error_for_status(status, f"vCenter answered HTTP {status}", backend=backend,
                                    retry_after=parse_retry_after(self._answer.retry_after))
        if isinstance(exc, (*_SYNTAX_ERRORS, *SHAPE_ERRORS)):
            return UnavailableError(self._answer_error(exc), backend=backend)
        if isinstance(exc, OSError | http.client.HTTPException):
            return UnavailableError(f"cannot reach vCenter at {self.credentials.host}:{self.credentials.port} "
                                    f"({type(exc).__name__})", backend=backend)
        return BackendError(f"{self._answer.call or 'vCenter'}: {type(exc).__name__}: {self._detail(exc)}",
                            backend=backend)

    def _detail(self, exc: BaseException) -> str:
        return self._redact(describe(exc))

    def _answer_error(self, exc: BaseException) -> str:
        """What went wrong with the last SOAP answer, naming the call and, where it can be told, the
        object and property pyvmomi stopped at."""
        answer = self._answer
        call = answer.call or "vCenter"
        body = _decoded(answer.body, answer.encoding)
        position = _stop_position(exc, body)
        where = locate(body, position) if body and position is not None else None
        detail = self._detail(exc)
        if isinstance(exc, _SYNTAX_ERRORS) or where is None:
            return f"{call}: malformed answer ({detail})" + (f" in {where}" if where else "")
        return f"{call}: {where}: malformed value ({detail})"

    def _mapped(self, call: Callable[[], T]) -> T:
        self._answer.forget()
        try:
            return call()
        except CloudcatError:
            raise
        except Exception as exc:
            raise self._error(exc) from exc

    # -- plain HTTP (version documents, REST) ---------------------------------------------------
    def _http(self, method: str, path: str, headers: dict[str, str] | None = None) -> tuple[int, Any, bytes]:
        conn = _DeadlineConnection(self.credentials.host, self.credentials.port, context=self._ssl,
                                   timeout=self.timeout)
        try:
            conn.request(method, path, headers=headers or {})
            response = conn.getresponse()
            return response.status, response.headers, conn.read_body(response)
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
        try:
            root = ET.fromstring(body)
        except ET.ParseError as exc:
            raise UnavailableError(f"GET /sdk/vimServiceVersions.xml: malformed answer ({describe(exc)})",
                                   backend=self.backend) from exc
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
                    with self._answer.kept():
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
        call = "RetrievePropertiesEx"
        result = collector.RetrievePropertiesEx([spec], options)
        while result is not None:
            for obj in result.objects or []:
                record = ObjectRecord(moid=str(obj.obj._moId), type=str(obj.obj._wsdlName),
                                      props={p.name: p.val for p in obj.propSet or []}, call=call)
                for prop, value in record.props.items():
                    bad = wire_violation(value, prop)
                    if bad is not None:
                        raise UnavailableError(Reading(call, record.subject, self.backend).message(bad),
                                               backend=self.backend) from bad
                yield record
            token = result.token
            call = "ContinueRetrievePropertiesEx"
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
            profiles = list(manager.PbmRetrieveContent(profileIds=ids)) if ids else []
            for i, profile in enumerate(profiles):
                bad = wire_violation(profile, f"returnval[{i}]")
                if bad is not None:
                    raise UnavailableError(Reading("PbmRetrieveContent", "", self.backend).message(bad),
                                           backend=self.backend) from bad
            return profiles

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

    def rest_path(self, key: str, *args: str) -> str:
        """The path of a content library read (``key`` of :func:`rest_paths`), as messages name it."""
        return rest_paths(self.api_version)[key].format(*args)

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
                with Reading(f"GET {path}", "", self.backend) as reading:
                    data = json.loads(body)
                    if paths["session"].startswith("/rest") and isinstance(data, dict):
                        reading.at("value")
                        data = data["value"]
                    return data
            raise AssertionError("unreachable")

        return self._retry.run(lambda: self._mapped(attempt))


# -- answers: the one place where their shape is judged ----------------------------------------------
#: What an answer that is not even well-formed raises.
_SYNTAX_ERRORS = (ExpatError, xml.sax.SAXException, ET.ParseError, http.client.IncompleteRead)
#: Bits of the XML integer types pyvmomi reads into ``int`` subclasses named after them (sign excluded).
_INTEGER_BITS = {"byte": 7, "short": 15, "int": 31, "long": 63}


class Reading(_Reading):
    """Where the driver reads one answer: ``call`` (``RetrievePropertiesEx``, ``GET /api/…``) about
    ``subject`` (``VirtualMachine vm-12``, or ``""``). The driver names the field it reads as it goes
    (:meth:`at`; an :class:`AnswerValueError` names its own); a shape error on the way leaves as an
    :class:`~cloudcat.errors.UnavailableError` naming the call, the subject and the field, with the
    original as ``__cause__``, or, with ``drop``, is logged as a warning and swallowed (the item is left
    out)::

        for record in records:
            with Reading(record.call, record.subject, backend, drop=True).at("config.hardware.numCPU"):
                items.append(template_item(record))
    """

    def __init__(self, call: str, subject: str, backend: str, *, drop: bool = False) -> None:
        super().__init__(call, subject, backend, drop="item" if drop else None, joiner=" ", log=log)

    @property
    def call(self) -> str:
        """The call read (``where``); the driver renames it for a template's own document."""
        return self.where

    @call.setter
    def call(self, value: str) -> None:
        self.where = value


def count(value: Any, field: str) -> int | None:
    """A whole number from 0 to 2**53 (``None`` when absent); else an :class:`AnswerValueError`."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        raise AnswerValueError(field, f"{shown(value)} is not a whole number")
    if not 0 <= value <= MAX_INT:
        raise AnswerValueError(field, f"{shown(value)} is out of range (0 to 2**53)")
    return value


def name(value: Any, field: str) -> str:
    """A name: text, not empty, without control characters; else an :class:`AnswerValueError`."""
    if not isinstance(value, str) or not value.strip():
        raise AnswerValueError(field, f"{shown(value)} is not a name")
    if any(not c.isprintable() and c not in " " for c in value):
        raise AnswerValueError(field, f"{shown(value)} holds control characters")
    return value


def moid(value: Any, field: str) -> str | None:
    """The id of a managed object reference (``None`` when absent); else an :class:`AnswerValueError`."""
    if value is None:
        return None
    found = getattr(value, "_moId", None)
    if not isinstance(found, str):
        raise AnswerValueError(field, f"{shown(value)} is not a managed object reference")
    return found


def mapping(value: Any, field: str) -> dict[str, Any]:
    """A JSON object (``{}`` when absent); else an :class:`AnswerValueError`."""
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise AnswerValueError(field, f"{shown(value)} is not an object")
    return value


def sequence(value: Any, field: str) -> list[Any]:
    """A JSON list; else an :class:`AnswerValueError`."""
    if not isinstance(value, list):
        raise AnswerValueError(field, f"{shown(value)} is not a list")
    return value


def wire_violation(value: Any, path: str, depth: int = 0) -> AnswerValueError | None:
    """The first number below ``value`` (a pyvmomi data object, list or scalar) beyond its XML type
    (``xsd:int`` 32 bits, ``xsd:long`` 64…) or not finite, as an error naming its path; ``None`` when all fit.

    pyvmomi reads ``9223372036854775808`` into an ``xsd:int`` property without a word (Python integers
    are unbounded) and ``inf`` into an ``xsd:double``; vCenter sends neither."""
    if value is None or isinstance(value, bool | str) or depth > 16:
        return None
    if isinstance(value, int):
        xsd = type(value).__name__
        bits = _INTEGER_BITS.get(xsd, 63)
        if not -(2**bits) <= value < 2**bits:
            return AnswerValueError(path, f"{shown(value)} is out of range for xsd:{xsd}")
        return None
    if isinstance(value, float):
        return None if math.isfinite(value) else AnswerValueError(path, f"{value} is not a finite number")
    if isinstance(value, list):
        return next((v for i, item in enumerate(value)
                     if (v := wire_violation(item, f"{path}[{i}]", depth + 1)) is not None), None)
    data_object = _sdk("pyVmomi.VmomiSupport").DataObject
    if isinstance(value, data_object):
        for prop in type(value)._GetPropertyList():
            found = wire_violation(getattr(value, prop.name, None), f"{path}.{prop.name}", depth + 1)
            if found is not None:
                return found
    return None


def _decoded(body: bytes, encoding: str) -> bytes:
    """The answer's XML (pyvmomi asks for gzip or deflate answers)."""
    if encoding in ("gzip", "deflate") and body:
        for wbits in (zlib.MAX_WBITS + 32, -zlib.MAX_WBITS):
            with contextlib.suppress(zlib.error):
                return zlib.decompress(body, wbits)
        return b""
    return body


def _stop_position(exc: BaseException, body: bytes) -> int | None:
    """Where in ``body`` reading stopped: the XML error's line and column, or the position of the expat
    parser whose handler (pyvmomi's deserializer) raised ``exc``."""
    if isinstance(exc, ExpatError) and exc.lineno:
        lines = body.split(b"\n")
        return sum(len(line) + 1 for line in lines[: exc.lineno - 1]) + (exc.offset or 0)
    position = None
    tb = exc.__traceback__
    while tb is not None:
        parser = getattr(tb.tb_frame.f_locals.get("self"), "parser", None)
        index = getattr(parser, "CurrentByteIndex", None)
        if isinstance(index, int) and index >= 0:
            position = index  # the innermost parser wins
        tb = tb.tb_next
    return position


class _Locator:
    """Follows a SOAP answer up to a position: the object, property and elements open there (or the
    element that closed just there: pyvmomi converts a value as its element ends)."""

    def __init__(self) -> None:
        self.stack: list[str] = []
        self.closed: list[str] | None = None
        self.text = ""
        self.object_type: str | None = None
        self.object_id: str | None = None
        self.prop: str | None = None
        self.returned = 0

    def start(self, tag: str, attrs: dict[str, str]) -> None:
        local = tag.rsplit(" ", 1)[-1]
        if local == "obj":
            self.object_type = attrs.get("type")
        elif local == "propSet":
            self.prop = None
        if local == "returnval" and self.stack and self.stack[-1].endswith("Response"):
            self.returned += 1
        self.stack.append(local)
        self.text = ""
        self.closed = None

    def end(self, tag: str) -> None:
        self.closed = list(self.stack)
        local = self.stack.pop() if self.stack else ""
        parent = self.stack[-1] if self.stack else ""
        if local == "obj":
            self.object_id = self.text
        elif local == "name" and parent == "propSet":
            self.prop = self.text
        elif local == "objects":
            self.object_type = self.object_id = self.prop = None

    def data(self, text: str) -> None:
        self.text += text

    def where(self) -> str | None:
        """``VirtualMachine vm-12 config.hardware.numCPU``, or a path (``returnval[2].name``)."""
        path = self.closed if self.closed is not None else self.stack
        if "objects" in path:
            subject = f"{printable(self.object_type or '(object)', 80)} {printable(self.object_id or '(id)', 80)}"
            if self.prop is not None and "val" in path:
                inner = path[path.index("val") + 1:]
                return " ".join((subject, ".".join([printable(self.prop, 80), *inner])))
            return " ".join((subject, ".".join(path[path.index("objects") + 1:]) or "(object)"))
        response = next((i for i, t in enumerate(path) if t.endswith("Response")), None)
        if response is None:
            return None
        inner = path[response + 1:]
        if inner and inner[0] == "returnval":
            inner[0] = f"returnval[{self.returned - 1}]"
        return ".".join(inner) or None


def locate(body: bytes, position: int) -> str | None:
    """What a SOAP answer was about at byte ``position`` (see :class:`_Locator`); ``None`` when unknown."""
    locator = _Locator()
    parser = ParserCreate(namespace_separator=" ")
    parser.StartElementHandler = locator.start
    parser.EndElementHandler = locator.end
    parser.CharacterDataHandler = locator.data
    with contextlib.suppress(ExpatError):  # what was read up to the error still says where it was
        parser.Parse(body[:position], True)  # final: every complete element is reported before the error
    return locator.where()


def _fault_text(fault: Any) -> str:
    return str(getattr(fault, "msg", None) or type(fault).__name__)


def _ssl_context(verify: bool | str) -> ssl.SSLContext:
    if verify is False:
        context = ssl.create_default_context()
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
        return context
    if isinstance(verify, str):
        try:
            return ssl.create_default_context(cafile=verify)
        except (OSError, ssl.SSLError) as exc:  # ssl's own errors do not name the file
            raise ConfigError(f"cannot read the CA bundle {verify!r}: {exc}", field="verify") from exc
    return ssl.create_default_context()
