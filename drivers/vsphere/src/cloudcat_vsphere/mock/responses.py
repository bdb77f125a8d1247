"""Wire format of the mocked vCenter: SOAP (vim25 at ``/sdk``, SPBM at ``/pbm/sdk``), the version
documents SmartConnect reads, and the vSphere Automation REST calls of content libraries and of the
host list.

A vim25 call is checked as vCenter checks it: a session first (only the ServiceInstance's content
and the SessionManager read without one), then the object it is made on (``ManagedObjectNotFound``),
then the method (``MethodNotFound`` for one the mock does not serve, as vcsim answers).

SOAP requests are parsed with the standard library's ElementTree; answers are written the way
vCenter writes them: a ``soapenv:Envelope`` whose body holds ``<MethodResponse xmlns="urn:vim25">``
with a ``returnval``; values whose type the schema does not fix (``val`` of a property,
``returnval`` of ``Fetch``) carry ``xsi:type``. Errors are SOAP faults with HTTP 500:
``faultcode``/``faultstring`` and a ``detail`` holding ``<NotAuthenticatedFault
xsi:type="NotAuthenticated">`` and the like.

Faults: ``token_ttl`` ends sessions (SOAP ``NotAuthenticated``, REST 401), ``fail_auth`` refuses
every login (``InvalidLogin``, REST 401), ``page_limit`` caps ``maxObjects``; latency, 503, 429
and malformed bodies come from the server.
"""

from __future__ import annotations

import base64
import contextlib
import json
import re
import time
import uuid
import xml.etree.ElementTree as ET
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from xml.sax.saxutils import escape, quoteattr

from werkzeug.wrappers import Request, Response

from cloudcat.testing.mockserver import Faults

from . import managers
from .collector import ObjectSpec, PropertySpec, TraversalSpec, UnknownObject, UnknownProperty, collect
from .state import (
    API_LADDER,
    Array,
    Data,
    Entity,
    LibraryItem,
    Open,
    Ref,
    Scalar,
    Session,
    VcenterState,
    has_property,
    is_a,
    lookup,
)

__all__ = ["Center", "Handler", "SoapFault", "answer_pbm", "answer_vim", "rest_session",
           "service_versions", "service_wsdl"]

XSI = "http://www.w3.org/2001/XMLSchema-instance"
COOKIE = "vmware_soap_session"
#: Objects one RetrievePropertiesEx page holds at most, whatever maxObjects asks.
SERVER_PAGE = 1000
_COOKIE_VALUE = re.compile(COOKIE + r'="?([^";]+)')
_ENVELOPE = ('<?xml version="1.0" encoding="UTF-8"?>\n<soapenv:Envelope '
             'xmlns:soapenc="http://schemas.xmlsoap.org/soap/encoding/" '
             'xmlns:soapenv="http://schemas.xmlsoap.org/soap/envelope/" '
             'xmlns:xsd="http://www.w3.org/2001/XMLSchema" '
             'xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance">\n<soapenv:Body>\n{}\n</soapenv:Body>\n'
             '</soapenv:Envelope>')
#: Base types of data objects written in an ``ArrayOf…``.
_ARRAY_BASE = {"VirtualDisk": "VirtualDevice", "VirtualVmxnet3": "VirtualDevice"}

#: A route's handler: ``(center, request, **placeholders) -> Response``.
Handler = Callable[..., Response]


@dataclass(frozen=True)
class Center:
    """What a handler answers from: the vCenter's state and the faults in force."""

    state: VcenterState
    faults: Faults


class SoapFault(Exception):
    """A SOAP fault to answer: ``detail_type`` (``NotAuthenticated``…) and its fields as XML."""

    def __init__(self, message: str, detail_type: str, fields: str = "", *, code: str = "ServerFaultCode") -> None:
        super().__init__(message)
        self.message, self.detail_type, self.fields, self.code = message, detail_type, fields, code

    def body(self, ns: str) -> str:
        return (f"<soapenv:Fault><faultcode>{self.code}</faultcode><faultstring>{escape(self.message)}</faultstring>"
                f'<detail><{self.detail_type}Fault xmlns="{ns}" xsi:type="{self.detail_type}">{self.fields}'
                f"</{self.detail_type}Fault></detail></soapenv:Fault>")


def not_found(ref: Ref) -> SoapFault:
    return SoapFault(f"The object '{ref.type}:{ref.value}' has already been deleted or has not been completely "
                     "created", "ManagedObjectNotFound", _write("obj", ref))


def _invalid_property(path: str) -> SoapFault:
    return SoapFault("", "InvalidProperty", f"<name>{escape(path)}</name>")


def _not_authenticated(ref: Ref) -> SoapFault:
    return SoapFault("The session is not authenticated.", "NotAuthenticated",
                     _write("object", ref) + "<privilegeId>System.View</privilegeId>")


# -- values --------------------------------------------------------------------------------------
def _xsd(value: Any) -> tuple[str, str]:
    if isinstance(value, Scalar):
        return value.xsd, str(value.value).lower() if isinstance(value.value, bool) else str(value.value)
    if isinstance(value, bool):
        return "xsd:boolean", "true" if value else "false"
    if isinstance(value, int):
        return ("xsd:int" if -2 ** 31 <= value < 2 ** 31 else "xsd:long"), str(value)
    if isinstance(value, float):
        return "xsd:double", repr(value)
    return "xsd:string", str(value)


def _array_type(items: list[Any]) -> str:
    first = items[0] if items else ""
    if isinstance(first, Ref):
        return "ManagedObjectReference"
    if isinstance(first, Data):
        return _ARRAY_BASE.get(first.type, first.type)
    return _xsd(first)[0].removeprefix("xsd:")


def _write(tag: str, value: Any, typed: bool = False) -> str:
    """``value`` as the element ``tag``; ``typed`` where the schema leaves the type open."""
    if value is None:
        return ""
    if isinstance(value, Open):
        return _write(tag, value.value, typed=True)
    if isinstance(value, Ref):
        kind = ' xsi:type="ManagedObjectReference"' if typed else ""
        return f"<{tag}{kind} type={quoteattr(value.type)}>{escape(value.value)}</{tag}>"
    if isinstance(value, Data):
        inner = "".join(_field(k, v) for k, v in value.fields.items())
        return f'<{tag} xsi:type="{value.type}">{inner}</{tag}>'
    if isinstance(value, Array | list | tuple):
        items = list(value.items) if isinstance(value, Array) else list(value)
        if not typed:
            return "".join(_write(tag, item) for item in items)
        item_type = value.item_type if isinstance(value, Array) else _array_type(items)
        name = item_type[0].upper() + item_type[1:]
        return f'<{tag} xsi:type="ArrayOf{name}">{"".join(_write(name, i) for i in items)}</{tag}>'
    xsd, text = _xsd(value)
    kind = f' xsi:type="{xsd}"' if typed else ""
    return f"<{tag}{kind}>{escape(text)}</{tag}>"


def _field(name: str, value: Any) -> str:
    if isinstance(value, list | tuple | Array):
        items = value.items if isinstance(value, Array) else value
        return "".join(_write(name, item) for item in items)
    return _write(name, value)


# -- requests ------------------------------------------------------------------------------------
@dataclass
class Call:
    """One SOAP call: the method, its arguments element, the SOAP header and the HTTP request."""

    method: str
    args: ET.Element
    header: ET.Element | None
    request: Request

    def text(self, name: str, default: str = "") -> str:
        found = self.args.find(name)
        return (found.text or "") if found is not None else default

    def ref(self, name: str = "_this") -> Ref:
        found = self.args.find(name)
        if found is None:
            raise SoapFault(f"A specified parameter was not correct: {name}", "InvalidArgument",
                            f"<invalidProperty>{name}</invalidProperty>")
        return _ref(found)


def _ref(el: ET.Element) -> Ref:
    return Ref(el.get("type", ""), (el.text or "").strip())


def _parse(body: bytes, request: Request) -> Call:
    try:
        root = ET.fromstring(body)
    except ET.ParseError as exc:
        raise SoapFault(f"Unable to parse the request: {exc}", "InvalidRequest", code="ClientFaultCode") from None
    for el in root.iter():
        if isinstance(el.tag, str) and "}" in el.tag:
            el.tag = el.tag.rsplit("}", 1)[1]
        for key in [k for k in el.attrib if k.startswith("{")]:
            el.attrib[key.rsplit("}", 1)[1]] = el.attrib.pop(key)
    body_el, header = root.find("Body"), root.find("Header")
    if body_el is None or len(body_el) == 0:
        raise SoapFault("Unable to parse the request: no SOAP body", "InvalidRequest", code="ClientFaultCode")
    args = body_el[0]
    return Call(str(args.tag), args, header, request)


def _envelope(body: str, status: int = 200, headers: dict[str, str] | None = None) -> Response:
    return Response(_ENVELOPE.format(body), status=status, headers=headers or {},
                    content_type="text/xml; charset=utf-8")


def _result(method: str, ns: str, inner: str) -> str:
    return f'<{method}Response xmlns="{ns}">{inner}</{method}Response>'


# -- sessions ------------------------------------------------------------------------------------
def _expired(center: Center, session: Session) -> bool:
    ttl = center.faults.token_ttl
    return ttl is not None and time.monotonic() - session.created > ttl


def _session(center: Center, key: str | None) -> Session | None:
    session = center.state.sessions.get(key or "")
    if session is not None and _expired(center, session):
        center.state.sessions.pop(session.key, None)
        return None
    return session


def _cookie_session(center: Center, call: Call) -> Session | None:
    found = _COOKIE_VALUE.search(call.request.headers.get("Cookie", ""))
    return _session(center, found[1] if found else None)


def _check_login(center: Center, user: str, password: str) -> bool:
    return not center.faults.fail_auth and center.state.users.get(user) == password


# -- vim25 ---------------------------------------------------------------------------------------
def _service_content(center: Center, call: Call) -> str:
    return f"<returnval>{_content_fields(center)}</returnval>"


def _content_fields(center: Center) -> str:
    """The fields of the ServiceContent (what ``RetrieveServiceContent`` and ``Fetch content`` give)."""
    return "".join(_write(tag, value) for tag, value in managers.service_content(center.state))


def _login(center: Center, call: Call) -> tuple[str, dict[str, str]]:
    user, password = call.text("userName"), call.text("password")
    if not _check_login(center, user, password):
        raise SoapFault("Cannot complete login due to an incorrect user name or password.", "InvalidLogin")
    session = center.state.open_session(user, ip_address=call.request.remote_addr or "127.0.0.1",
                                        user_agent=call.request.headers.get("User-Agent", ""),
                                        locale=call.text("locale", "en"))
    cookie = f'{COOKIE}="{session.key}"; Path=/; HttpOnly; Secure;'
    return f"<returnval>{_write_fields(center.state.user_session(session))}</returnval>", {"Set-Cookie": cookie}


def _long(value: int) -> Scalar:
    return Scalar("xsd:long", value)


def _write_fields(data: Data) -> str:
    return "".join(_field(k, v) for k, v in data.fields.items())


def _entity(center: Center, ref: Ref) -> Entity:
    entity = center.state.get(ref)
    if entity is None:
        raise not_found(ref)
    return entity


#: The ServiceInstance, which is no object of the inventory.
SERVICE_INSTANCE = Ref("ServiceInstance", "ServiceInstance")


def _service_instance_property(center: Center, prop: str) -> str:
    if prop == "content":
        return f'<returnval xsi:type="ServiceContent">{_content_fields(center)}</returnval>'
    if prop == "serverClock":
        return _write("returnval", Scalar("xsd:dateTime", VcenterState.now()), typed=True)
    if prop == "capability":
        return _write("returnval", Data("Capability", {"provisioningSupported": True, "multiHostSupported": True,
                                                       "userShellAccessSupported": False}), typed=True)
    raise _invalid_property(prop)


def _fetch(center: Center, call: Call) -> str:
    ref = call.ref()
    if ref == SERVICE_INSTANCE:
        return _service_instance_property(center, call.text("prop"))
    entity = _entity(center, ref)
    prop = call.text("prop")
    if not has_property(entity.ref.type, prop):
        raise _invalid_property(prop)
    return _write("returnval", lookup(entity, prop), typed=True)


def _create_view(center: Center, call: Call) -> str:
    container = _entity(center, call.ref("container"))
    types = [t.text or "" for t in call.args.findall("type")]
    view = center.state.create_view(container, types, call.text("recursive", "false") == "true")
    return _write("returnval", view.ref)


def _destroy_view(center: Center, call: Call) -> str:
    ref = call.ref()
    if center.state.views.pop(ref.value, None) is None:
        raise not_found(ref)
    return ""


def _selection(el: ET.Element) -> TraversalSpec:
    def text(name: str) -> str | None:
        found = el.find(name)
        return found.text if found is not None else None

    return TraversalSpec(name=text("name"), type=text("type"), path=text("path"), skip=text("skip") == "true",
                         select=[_selection(s) for s in el.findall("selectSet")])


def _specs(call: Call) -> tuple[list[PropertySpec], list[ObjectSpec]]:
    props: list[PropertySpec] = []
    objects: list[ObjectSpec] = []
    for spec in call.args.findall("specSet"):
        for ps in spec.findall("propSet"):
            props.append(PropertySpec(type=ps.findtext("type", ""), all=ps.findtext("all", "false") == "true",
                                      paths=[p.text or "" for p in ps.findall("pathSet")]))
        for os_ in spec.findall("objectSet"):
            obj = os_.find("obj")
            if obj is None:
                raise SoapFault("A specified parameter was not correct: specSet.objectSet.obj", "InvalidArgument",
                                "<invalidProperty>obj</invalidProperty>")
            objects.append(ObjectSpec(obj=_ref(obj), skip=os_.findtext("skip", "false") == "true",
                                      select=[_selection(s) for s in os_.findall("selectSet")]))
    return props, objects


def _collected(center: Center, call: Call) -> list[tuple[Entity, list[tuple[str, Any]]]]:
    props, objects = _specs(call)
    try:
        return collect(center.state, props, objects)
    except UnknownObject as exc:
        raise not_found(exc.ref) from None
    except UnknownProperty as exc:
        raise _invalid_property(exc.path) from None


def _object_content(tag: str, entity: Entity, values: list[tuple[str, Any]]) -> str:
    sets = "".join(f"<propSet><name>{escape(path)}</name>{_write('val', v, typed=True)}</propSet>"
                   for path, v in values)
    return f"<{tag}>{_write('obj', entity.ref)}{sets}</{tag}>"


def _page(center: Center, found: list[tuple[Entity, list[tuple[str, Any]]]], limit: int) -> str:
    if not found:
        return ""
    page, rest = found[:limit], found[limit:]
    token = ""
    if rest:
        key = uuid.uuid4().hex
        center.state.retrievals[key] = (limit, rest)
        token = f"<token>{key}</token>"
    return f"<returnval>{token}{''.join(_object_content('objects', e, v) for e, v in page)}</returnval>"


def _page_size(center: Center, asked: str) -> int:
    size = SERVER_PAGE
    if asked.strip().isdigit() and int(asked) > 0:
        size = min(size, int(asked))
    if center.faults.page_limit:
        size = min(size, center.faults.page_limit)
    return size


def _retrieve_ex(center: Center, call: Call) -> str:
    options = call.args.find("options")
    asked = options.findtext("maxObjects", "") if options is not None else ""
    return _page(center, _collected(center, call), _page_size(center, asked))


def _continue_ex(center: Center, call: Call) -> str:
    token = call.text("token")
    pending = center.state.retrievals.pop(token, None)
    if pending is None:
        raise _invalid_property("token")
    limit, rest = pending
    return _page(center, rest, limit)


def _cancel_ex(center: Center, call: Call) -> str:
    center.state.retrievals.pop(call.text("token"), None)
    return ""


def _retrieve(center: Center, call: Call) -> str:
    return "".join(_object_content("returnval", e, v) for e, v in _collected(center, call))


def _current_time(center: Center, call: Call) -> str:
    return f"<returnval>{VcenterState.now()}</returnval>"


def _logout(center: Center, call: Call) -> str:
    session = _cookie_session(center, call)
    if session is not None:
        center.state.sessions.pop(session.key, None)
    return ""


def _session_is_active(center: Center, call: Call) -> str:
    """Whether the session whose ``UserSession.key`` is ``sessionID`` is of ``userName`` and alive."""
    key, user = call.text("sessionID"), call.text("userName").lower()
    active = any(s.user_key == key and user in (s.user.lower(), managers.principal(s.user).lower())
                 for s in list(center.state.sessions.values()) if _session(center, s.key) is not None)
    return _write("returnval", active)


# -- SearchIndex ---------------------------------------------------------------------------------
def _flag(call: Call, name: str) -> bool:
    return call.text(name, "false").strip() == "true"


def _datacenter(center: Center, call: Call) -> Ref | None:
    """The optional ``datacenter`` argument, which must name a datacenter that exists."""
    if call.args.find("datacenter") is None:
        return None
    return _entity(center, call.ref("datacenter")).ref


def _refs(found: list[Entity], first_only: bool) -> str:
    return "".join(_write("returnval", e.ref) for e in (found[:1] if first_only else found))


def _find_by_inventory_path(center: Center, call: Call) -> str:
    found = center.state.find_by_inventory_path(call.text("inventoryPath"))
    return _write("returnval", found.ref) if found is not None else ""


def _find_child(center: Center, call: Call) -> str:
    found = center.state.find_child(_entity(center, call.ref("entity")), call.text("name"))
    return _write("returnval", found.ref) if found is not None else ""


def _find_by_uuid(center: Center, call: Call, first_only: bool = True) -> str:
    found = center.state.find_by_uuid(call.text("uuid"), vm=_flag(call, "vmSearch"),
                                      instance=_flag(call, "instanceUuid"), datacenter=_datacenter(center, call))
    return _refs(found, first_only)


def _find_by_dns_name(center: Center, call: Call, first_only: bool = True) -> str:
    found = center.state.find_by_dns_name(call.text("dnsName"), vm=_flag(call, "vmSearch"),
                                          datacenter=_datacenter(center, call))
    return _refs(found, first_only)


def _find_by_ip(center: Center, call: Call) -> str:
    _datacenter(center, call)
    return ""  # no VM reports an address (no VMware Tools) and no host has a VMkernel address here


def _find_by_datastore_path(center: Center, call: Call) -> str:
    datacenter = _datacenter(center, call)
    path = call.text("path")
    for entity in center.state.entities.values():
        if entity.ref.type == "VirtualMachine" and lookup(entity, "summary.config.vmPathName") == path \
                and center.state.find_by_uuid(str(lookup(entity, "config.uuid")), vm=True, datacenter=datacenter):
            return _write("returnval", entity.ref)
    return ""


_VIM_OPEN: dict[str, Callable[[Center, Call], str]] = {
    "RetrieveServiceContent": _service_content, "CurrentTime": _current_time,
}
#: The vim25 methods served: method -> (the type that has it, or ``None`` for every type; its handler).
#: Any other method, or one called on a type without it, is a ``MethodNotFound`` fault, as vcsim answers
#: (``simulator/simulator.go``) for what it does not implement.
_VIM: dict[str, tuple[str | None, Callable[[Center, Call], str]]] = {
    "Fetch": (None, _fetch), "CreateContainerView": ("ViewManager", _create_view),
    "DestroyView": ("View", _destroy_view), "RetrievePropertiesEx": ("PropertyCollector", _retrieve_ex),
    "ContinueRetrievePropertiesEx": ("PropertyCollector", _continue_ex),
    "CancelRetrievePropertiesEx": ("PropertyCollector", _cancel_ex),
    "RetrieveProperties": ("PropertyCollector", _retrieve), "Logout": ("SessionManager", _logout),
    "SessionIsActive": ("SessionManager", _session_is_active),
    "FindByInventoryPath": ("SearchIndex", _find_by_inventory_path), "FindChild": ("SearchIndex", _find_child),
    "FindByUuid": ("SearchIndex", _find_by_uuid),
    "FindAllByUuid": ("SearchIndex", lambda center, call: _find_by_uuid(center, call, first_only=False)),
    "FindByDnsName": ("SearchIndex", _find_by_dns_name),
    "FindAllByDnsName": ("SearchIndex", lambda center, call: _find_by_dns_name(center, call, first_only=False)),
    "FindByIp": ("SearchIndex", _find_by_ip), "FindAllByIp": ("SearchIndex", _find_by_ip),
    "FindByDatastorePath": ("SearchIndex", _find_by_datastore_path),
}
#: What a client may read before it logs in: the ServiceInstance's content and the SessionManager, whose
#: ``currentSession`` is then unset (pyVim's ``VimSessionOrientedStub`` reads both to tell it must log in).
_OPEN_READS = {"Fetch", "RetrieveProperties", "RetrievePropertiesEx"}


def _open_read(call: Call) -> bool:
    if call.method not in _OPEN_READS:
        return False
    if call.method == "Fetch":
        targets = [call.ref()]
    else:
        targets = [_ref(obj) for obj in call.args.iterfind("specSet/objectSet/obj")]
    return bool(targets) and all(t.type == "SessionManager" or t == SERVICE_INSTANCE for t in targets)


def _vim_call(center: Center, call: Call) -> tuple[str, dict[str, str]]:
    if call.method == "Login":
        return _login(center, call)
    if call.method in _VIM_OPEN:
        return _VIM_OPEN[call.method](center, call), {}
    session = _cookie_session(center, call)
    if session is None and not _open_read(call):
        raise _not_authenticated(call.ref())
    center.state.enter(session)
    this = call.ref()
    if this != SERVICE_INSTANCE:
        _entity(center, this)
    served = _VIM.get(call.method)
    if served is None or (served[0] is not None and not is_a(this.type, served[0])):
        raise SoapFault(f"{this.type}:{this.value} does not implement: {call.method}", "MethodNotFound",
                        _write("receiver", this) + f"<method>{escape(call.method)}</method>")
    return served[1](center, call), {}


def _answer_soap(center: Center, request: Request, ns: str,
                 run: Callable[[Center, Call], tuple[str, dict[str, str]]]) -> Response:
    try:
        call = _parse(request.get_data(), request)
        center.state.calls[call.method] = center.state.calls.get(call.method, 0) + 1
        inner, headers = run(center, call)
    except SoapFault as fault:
        return _envelope(fault.body(ns), status=500)
    return _envelope(_result(call.method, ns, inner), headers=headers)


def answer_vim(center: Center, request: Request) -> Response:
    """``POST /sdk``: a vim25 SOAP call."""
    return _answer_soap(center, request, "urn:vim25", _vim_call)


def service_versions(center: Center, request: Request) -> Response:
    """``GET /sdk/vimServiceVersions.xml``: the API version and every prior version it still speaks."""
    current = center.state.api_version
    prior = [v for v in API_LADDER if _version_key(v) < _version_key(current)]
    if center.state.version_id == current:
        prior = [v for v in prior if v != current]
    versions = "".join(f"<version>{v}</version>" for v in prior)
    body = ('<?xml version="1.0" encoding="UTF-8" ?>\n<namespaces version="1.0">\n <namespace>\n'
            f"  <name>urn:vim25</name>\n  <version>{center.state.version_id}</version>\n"
            f"  <priorVersions>{versions}</priorVersions>\n </namespace>\n</namespaces>\n")
    return Response(body, content_type="text/xml")


def service_wsdl(center: Center, request: Request) -> Response:
    """``GET /sdk/vimService.wsdl``: the service description older clients read."""
    body = ('<?xml version="1.0" encoding="UTF-8" ?>\n<definitions targetNamespace="urn:vim25Service" '
            'xmlns="http://schemas.xmlsoap.org/wsdl/" xmlns:soap="http://schemas.xmlsoap.org/wsdl/soap/" '
            'xmlns:interface="urn:vim25">\n <import location="vim.wsdl" namespace="urn:vim25" />\n'
            ' <service name="VimService">\n  <port binding="interface:VimBinding" name="VimPort">\n'
            f'   <soap:address location="{escape(request.host_url)}sdk" />\n  </port>\n </service>\n</definitions>\n')
    return Response(body, content_type="text/xml")


def _version_key(version: str) -> tuple[int, ...]:
    return tuple(int(p) for p in re.findall(r"\d+", version)[:4])


# -- SPBM ----------------------------------------------------------------------------------------
def _pbm_content(center: Center, call: Call) -> str:
    refs = [("sessionManager", "PbmSessionManager", "SessionManager"),
            ("capabilityMetadataManager", "PbmCapabilityMetadataManager", "CapabilityMetadataManager"),
            ("profileManager", "PbmProfileProfileManager", "ProfileManager"),
            ("complianceManager", "PbmComplianceManager", "complianceManager"),
            ("placementSolver", "PbmPlacementSolver", "placementSolver"),
            ("replicationManager", "PbmReplicationManager", "ReplicationManager")]
    about = (f"<aboutInfo><name>PBM</name><version>{center.state.version}</version>"
             f"<instanceUuid>{center.state.instance_uuid}</instanceUuid></aboutInfo>")
    return f"<returnval>{about}{''.join(_write(tag, Ref(t, v)) for tag, t, v in refs)}</returnval>"


def _pbm_query(center: Center, call: Call) -> str:
    category = call.text("profileCategory")
    resource = call.args.findtext("resourceType/resourceType", "STORAGE")
    if resource != "STORAGE":
        return ""
    return "".join(f"<returnval><uniqueId>{escape(p.id)}</uniqueId></returnval>" for p in center.state.policies
                   if not category or p.category == category)


def _rule(key: str, value: Any) -> str:
    namespace, _, rule = key.rpartition(".")
    instance = f"<propertyInstance><id>{escape(rule)}</id>{_write('value', value, typed=True)}</propertyInstance>"
    return (f"<capability><id><namespace>{escape(namespace or 'com.vmware.storage')}</namespace>"
            f"<id>{escape(rule)}</id></id><constraint>{instance}</constraint></capability>")


def _pbm_retrieve(center: Center, call: Call) -> str:
    wanted = [el.findtext("uniqueId", "") for el in call.args.findall("profileIds")]
    by_id = {p.id: p for p in center.state.policies}
    out = []
    for pid in wanted:
        p = by_id.get(pid)
        if p is None:
            continue
        namespaces = sorted({k.rpartition(".")[0] or "com.vmware.storage" for k in p.rules})
        subs = "".join(f"<subProfiles><name>{escape(ns)} sub-profile</name>"
                       + "".join(_rule(k, v) for k, v in p.rules.items()
                                 if (k.rpartition(".")[0] or "com.vmware.storage") == ns)
                       + "</subProfiles>" for ns in namespaces)
        stamp = "2024-01-01T00:00:00.000Z"
        out.append(
            f'<returnval xsi:type="PbmCapabilityProfile"><profileId><uniqueId>{escape(p.id)}</uniqueId></profileId>'
            f"<name>{escape(p.name)}</name><description>{escape(p.description)}</description>"
            f"<creationTime>{stamp}</creationTime><createdBy>Temporary user handle</createdBy>"
            f"<lastUpdatedTime>{stamp}</lastUpdatedTime><lastUpdatedBy>Temporary user handle</lastUpdatedBy>"
            f"<profileCategory>{p.category}</profileCategory><resourceType><resourceType>STORAGE</resourceType>"
            f'</resourceType><constraints xsi:type="PbmCapabilitySubProfileConstraints">{subs}</constraints>'
            f"<generationId>0</generationId><isDefault>false</isDefault></returnval>")
    return "".join(out)


_PBM: dict[str, Callable[[Center, Call], str]] = {"PbmQueryProfile": _pbm_query,
                                                  "PbmRetrieveContent": _pbm_retrieve}


def _pbm_call(center: Center, call: Call) -> tuple[str, dict[str, str]]:
    if call.method == "PbmRetrieveServiceContent":
        return _pbm_content(center, call), {}
    handler = _PBM.get(call.method)
    if handler is None:
        raise SoapFault(f"The method {call.method} is not implemented by this SPBM service", "MethodNotFound",
                        f"<method>{escape(call.method)}</method>")
    cookie = call.header.findtext("vcSessionCookie") if call.header is not None else None
    if _session(center, cookie) is None:
        raise _not_authenticated(call.ref())
    return handler(center, call), {}


def answer_pbm(center: Center, request: Request) -> Response:
    """``POST /pbm/sdk``: an SPBM call, authenticated by the vCenter session in ``vcSessionCookie``."""
    return _answer_soap(center, request, "urn:pbm", _pbm_call)


# -- vSphere Automation REST (content libraries, hosts) ------------------------------------------
def _json(data: Any, status: int = 200) -> Response:
    return Response(json.dumps(data), status=status, content_type="application/json")


def _rest_error(legacy: bool, status: int, error_type: str, message: str) -> Response:
    messages = [{"args": [], "default_message": message, "id": f"vapi.{error_type.lower()}"}]
    if legacy:
        return _json({"type": f"com.vmware.vapi.std.errors.{error_type.lower()}", "value": {"messages": messages}},
                     status)
    return _json({"error_type": error_type, "messages": messages}, status)


def _value(legacy: bool, data: Any) -> Response:
    return _json({"value": data} if legacy else data)


def rest_session(center: Center, request: Request, legacy: bool = False) -> Response:
    """``POST /api/session`` (``/rest/com/vmware/cis/session``): Basic credentials for a session id."""
    auth = request.headers.get("Authorization", "")
    user = password = ""
    if auth.lower().startswith("basic "):
        with contextlib.suppress(ValueError, UnicodeDecodeError):
            user, _, password = base64.b64decode(auth[6:]).decode().partition(":")
    if not _check_login(center, user, password):
        return _rest_error(legacy, 401, "UNAUTHENTICATED", "Authentication required.")
    token = uuid.uuid4().hex
    center.state.rest_tokens[token] = Session(key=token, user=user, created=time.monotonic())
    return _json({"value": token} if legacy else token, status=200 if legacy else 201)


def rest_logout(center: Center, request: Request, legacy: bool = False) -> Response:
    """``DELETE /api/session`` (``/rest/com/vmware/cis/session``): end the REST session."""
    if center.state.rest_tokens.pop(request.headers.get("vmware-api-session-id", ""), None) is None:
        return _rest_error(legacy, 401, "UNAUTHENTICATED", "Authentication required.")
    return Response(status=200 if legacy else 204)


def _rest_caller(center: Center, request: Request) -> Session | None:
    token = request.headers.get("vmware-api-session-id", "")
    session = center.state.rest_tokens.get(token)
    if session is not None and _expired(center, session):
        center.state.rest_tokens.pop(token, None)
        return None
    return session


class _RestNotFound(Exception):
    """A content library resource that does not exist."""


class _RestInvalid(Exception):
    """A request whose arguments vCenter refuses (``INVALID_ARGUMENT``)."""


def rest_read(center: Center, request: Request, legacy: bool = False, rest: str = "") -> Response:
    """``GET`` of a content library resource or of the host list under ``/api`` (or ``/rest``)."""
    if _rest_caller(center, request) is None:
        return _rest_error(legacy, 401, "UNAUTHENTICATED", "Authentication required.")
    parts = [p for p in rest.split("/") if p]
    if legacy and parts[:3] == ["com", "vmware", "content"]:
        parts = ["content", *parts[3:]]
    try:
        if parts == ["vcenter", "host"]:
            return _value(legacy, _rest_hosts(center.state, request, legacy))
        return _value(legacy, _rest_resource(center.state, parts, request.args.get("library_id", ""), legacy))
    except _RestNotFound as exc:
        return _rest_error(legacy, 404, "NOT_FOUND", str(exc))
    except _RestInvalid as exc:
        return _rest_error(legacy, 400, "INVALID_ARGUMENT", str(exc))


#: ``vcenter.Host.ConnectionState`` and ``PowerState``, by the vim25 value they stand for.
_CONNECTION_STATES = {"connected": "CONNECTED", "disconnected": "DISCONNECTED", "notResponding": "NOT_RESPONDING"}
_POWER_STATES = {"poweredOn": "POWERED_ON", "poweredOff": "POWERED_OFF", "standBy": "STANDBY"}


def _filter(request: Request, name: str, legacy: bool) -> list[str] | None:
    """The values of the list filter ``name`` (``None`` when not given): ``?names=a&names=b`` under
    ``/api``; ``?filter.names=a`` or ``?filter.names.1=a&filter.names.2=b`` under ``/rest``."""
    if not legacy:
        return request.args.getlist(name) if name in request.args else None
    prefix = f"filter.{name}"
    keys = [k for k in request.args if k == prefix or re.fullmatch(re.escape(prefix) + r"\.\d+", k)]
    return [v for k in keys for v in request.args.getlist(k)] if keys else None


def _rest_hosts(state: VcenterState, request: Request, legacy: bool) -> list[dict[str, Any]]:
    """``GET /api/vcenter/host`` (``/rest/vcenter/host``): ``Host.Summary`` of the hosts the filters
    (``hosts``, ``names``, ``folders``, ``datacenters``, ``standalone``, ``clusters``,
    ``connection_states``) all let through; ``power_state`` only for a connected host, as the
    vSphere Automation API reference says."""
    wanted = {key: _filter(request, key, legacy) for key in ("hosts", "names", "folders", "datacenters",
                                                             "standalone", "clusters", "connection_states")}
    states = wanted["connection_states"]
    if states is not None and not set(states) <= set(_CONNECTION_STATES.values()):
        bad = sorted(set(states) - set(_CONNECTION_STATES.values()))
        raise _RestInvalid(f"Invalid value for connection_states: {', '.join(bad)}")
    standalone = wanted["standalone"]
    if standalone is not None and not all(v.lower() in ("true", "false") for v in standalone):
        raise _RestInvalid("Invalid value for standalone: expected true or false")
    out = []
    for host in state.entities.values():
        if host.ref.type != "HostSystem":
            continue
        ancestors = _ancestors(state, host)
        cluster = host.props.get("parent")
        clustered = isinstance(cluster, Ref) and cluster.type == "ClusterComputeResource"
        connection = _CONNECTION_STATES.get(str(lookup(host, "runtime.connectionState")), "NOT_RESPONDING")
        checks = [
            wanted["hosts"] is None or host.ref.value in wanted["hosts"],
            wanted["names"] is None or host.name in wanted["names"],
            wanted["folders"] is None or bool(set(wanted["folders"]) & ancestors),
            wanted["datacenters"] is None or bool(set(wanted["datacenters"]) & ancestors),
            standalone is None or any((v.lower() == "true") != clustered for v in standalone),
            wanted["clusters"] is None or (isinstance(cluster, Ref) and clustered
                                           and cluster.value in wanted["clusters"]),
            states is None or connection in states,
        ]
        if not all(checks):
            continue
        summary: dict[str, Any] = {"host": host.ref.value, "name": host.name, "connection_state": connection}
        if connection == "CONNECTED":
            summary["power_state"] = _POWER_STATES.get(str(lookup(host, "runtime.powerState")), "POWERED_OFF")
        out.append(summary)
    return out


def _ancestors(state: VcenterState, entity: Entity) -> set[str]:
    found: set[str] = set()
    parent = entity.props.get("parent")
    while isinstance(parent, Ref) and parent.value not in found:
        found.add(parent.value)
        above = state.entities.get(parent.value)
        parent = above.props.get("parent") if above is not None else None
    return found


def _rest_resource(state: VcenterState, parts: list[str], library_id: str, legacy: bool) -> Any:
    items = {i.id: i for lib in state.libraries for i in lib.items}
    key = parts[-1].removeprefix("id:") if parts else ""
    if parts[:3] == ["vcenter", "vm-template", "library-items"] and len(parts) == 4:
        template = items.get(key)
        if template is None or template.template is None:
            raise _RestNotFound(f"no template library item {key}")
        return _template_json(template, legacy)
    if parts[:3] == ["content", "library", "item"] and len(parts) == 4 and key in items:
        return _item_json(items[key])
    return _rest_library(state, parts, library_id)


def _rest_library(state: VcenterState, parts: list[str], library_id: str) -> Any:
    libraries = {lib.id: lib for lib in state.libraries}
    if parts == ["content", "library"]:
        return list(libraries)
    if parts == ["content", "library", "item"]:
        if library_id not in libraries:
            raise _RestNotFound("library not found")
        return [i.id for i in libraries[library_id].items]
    key = parts[-1] if parts else ""
    if parts[:2] == ["content", "library"] and len(parts) == 3 and key in libraries:
        lib = libraries[key]
        return {"id": lib.id, "name": lib.name, "type": lib.type, "description": lib.description,
                "creation_time": "2024-01-01T00:00:00.000Z", "version": "2"}
    raise _RestNotFound(f"no such resource: /{'/'.join(parts)}")


def _item_json(item: LibraryItem) -> dict[str, Any]:
    return {"id": item.id, "library_id": item.library_id, "name": item.name, "type": item.type, "size": item.size,
            "description": item.description, "creation_time": "2024-01-01T00:00:00.000Z",
            "last_modified_time": "2024-01-01T00:00:00.000Z", "content_version": "2", "metadata_version": "1",
            "cached": True}


def _template_json(item: LibraryItem, legacy: bool) -> dict[str, Any]:
    t = item.template or {}
    disk = {"capacity": t["disk_bytes"], "disk_storage": {"datastore": "datastore-1"}}
    if legacy:  # 6.5-7.0U1 spellings: guest_OS, size_MiB, maps as key/value lists
        return {"guest_OS": t["guest_os"], "cpu": {"count": t["cpus"], "cores_per_socket": 1},
                "memory": {"size_MiB": t["memory_mib"]}, "disks": [{"key": "2000", "value": disk}],
                "vm_template": f"vm-{item.id[:8]}"}
    return {"guest_os": t["guest_os"], "cpu": {"count": t["cpus"], "cores_per_socket": 1},
            "memory": {"size_mib": t["memory_mib"]}, "disks": {"2000": disk},
            "vm_home_storage": {"datastore": "datastore-1"}, "vm_template": f"vm-{item.id[:8]}"}


def unserved(center: Center, request: Request, **_: str) -> Response:
    """What vCenter answers on paths it does not serve."""
    return Response("Not Found", status=404, content_type="text/plain")


def rest_supported(center: Center) -> bool:
    """Whether ``/api`` is served (vCenter 7.0 U2 and later; ``/rest`` is served by every version)."""
    return _version_key(center.state.api_version) >= (7, 0, 2)

