"""Wire format of the mocked Cloud Director: XML or JSON the way Cloud Director sends it.

Every handler takes the :class:`Director` it answers for, the request and the placeholders of
its route in :mod:`.urls`. Handlers behind a login are wrapped in :func:`authorized`, which
checks the API version in ``Accept`` (406) and the bearer token (401) first, as Cloud Director
does, and passes the :class:`Caller` on. A handler refuses a request by raising
:class:`ApiError`; :func:`answer` renders it as a Cloud Director error body (XML under ``/api``
unless JSON is asked for, JSON elsewhere).

Every answer, errors and injected faults included, carries ``X-VMWARE-VCLOUD-REQUEST-ID`` (see
:func:`with_request_id`), and its ``Content-Type`` names the API version the request's ``Accept``
asked for (``application/json;version=38.0`` asked, ``;version=38.0`` answered).

Faults: ``token_ttl`` expires bearer tokens (401), ``page_limit`` caps ``pageSize``,
``fail_auth`` refuses every login; latency, 503, 429 and malformed bodies come from the server.
"""

from __future__ import annotations

import base64
import functools
import json
import re
import uuid
import xml.etree.ElementTree as ET
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

from werkzeug.wrappers import Request, Response

from cloudcat.testing.mockserver import Faults

from .state import FiqlError, Media, Session, Template, VcdState, Vdc, compile_filter, page_of

__all__ = ["REQUEST_ID", "ApiError", "Caller", "Director", "El", "Handler", "answer", "asked_version",
           "error_response", "with_request_id"]

VCLOUD_NS = "http://www.vmware.com/vcloud/v1.5"
VERSIONS_NS = "http://www.vmware.com/vcloud/versions"
XSI_NS = "http://www.w3.org/2001/XMLSchema-instance"
OVF_NS = "http://schemas.dmtf.org/ovf/envelope/1"
ET.register_namespace("ovf", OVF_NS)
OPENAPI_MAX_PAGE = 128
QUERY_MAX_PAGE = 128
QUERY_DEFAULT_PAGE = 25

_MEDIA = "application/vnd.vmware.vcloud"
#: Query types served: type -> (record element, reference element, media type of the entity).
#: Element names from the VMware Cloud Director API reference (queries/<type>.html, "Record Result"
#: and "References Result").
QUERY_TYPES: dict[str, tuple[str, str, str]] = {
    "orgVdc": ("OrgVdcRecord", "OrgVdcReference", f"{_MEDIA}.vdc+xml"),
    "orgVdcStorageProfile": ("OrgVdcStorageProfileRecord", "OrgVdcStorageProfileReference",
                             f"{_MEDIA}.vdcStorageProfile+xml"),
    "orgVdcNetwork": ("OrgVdcNetworkRecord", "OrgVdcNetworkReference", f"{_MEDIA}.orgNetwork+xml"),
    "catalog": ("CatalogRecord", "CatalogReference", f"{_MEDIA}.catalog+xml"),
    "adminCatalog": ("AdminCatalogRecord", "CatalogReference", "application/vnd.vmware.admin.catalog+xml"),
    "catalogItem": ("CatalogItemRecord", "CatalogItemReference", f"{_MEDIA}.catalogItem+xml"),
    "vAppTemplate": ("VAppTemplateRecord", "VAppTemplateReference", f"{_MEDIA}.vAppTemplate+xml"),
    "vm": ("VMRecord", "VMReference", f"{_MEDIA}.vm+xml"),
    "media": ("MediaRecord", "MediaReference", f"{_MEDIA}.media+xml"),
    "vApp": ("VAppRecord", "VAppReference", f"{_MEDIA}.vApp+xml"),
}
#: Query result formats and the media type of their container.
QUERY_FORMATS = {"records": f"{_MEDIA}.query.records", "idrecords": f"{_MEDIA}.query.idrecords",
                 "references": f"{_MEDIA}.query.references"}
#: OVF sections: JSON puts them in one ``section`` list, each with its ``_type``.
_SECTION_TAGS = frozenset({"VmSpecSection", "GuestCustomizationSection", "NetworkConnectionSection",
                           "LeaseSettingsSection"})
#: Elements that JSON renders as lists even when there is one.
_LIST_TAGS = frozenset({"Link", "Org", "CatalogItem", "VdcStorageProfile", "Vm", "DiskSettings", "MetadataEntry"})
_VERSION_IN_ACCEPT = re.compile(r"version\s*=\s*([0-9]+\.[0-9]+)")
#: The response header naming the request, and the request header a client may seed it with.
REQUEST_ID = "X-VMWARE-VCLOUD-REQUEST-ID"
CLIENT_REQUEST_ID = "X-VMWARE-VCLOUD-CLIENT-REQUEST-ID"
#: What Cloud Director keeps of a client's request id: letters, digits and hyphens, 128 at most.
_CLIENT_REQUEST_ID = re.compile(r"^[A-Za-z0-9-]+$")

#: A route's handler: ``(director, request, **placeholders) -> Response``.
Handler = Callable[..., Response]


@dataclass(frozen=True)
class Director:
    """What a handler answers from: the org's state (with the server's URL) and the faults in force."""

    state: VcdState
    faults: Faults


@dataclass(frozen=True)
class Caller:
    """Who asks, behind a login: their session, and the API version their ``Accept`` names."""

    session: Session
    version: str


class ApiError(Exception):
    """An error answer, raised inside a handler."""

    def __init__(self, status: int, minor: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.minor = minor
        self.message = message


def answer(handler: Handler, director: Director, request: Request, params: Mapping[str, str]) -> Response:
    """Call ``handler`` with the route's placeholders; an :class:`ApiError` becomes an error body.
    Either way the answer carries its request id."""
    try:
        response = handler(director, request, **params)
    except ApiError as fail:
        response = error_response(request, fail.status, fail.minor, fail.message,
                                  version=asked_version(request, director.state.versions))
    return with_request_id(request, response)


def with_request_id(request: Request, response: Response) -> Response:
    """Stamp ``X-VMWARE-VCLOUD-REQUEST-ID`` on ``response``: a new UUID per request or, when the client
    sent ``X-VMWARE-VCLOUD-CLIENT-REQUEST-ID``, that value, a hyphen and the UUID.

    The shape is that of real answers as go-vcloud-director logs them (``41-2025-03-12-14-14-00-054-``
    sent, ``41-2025-03-12-14-14-00-054--772d833f-bb60-49c9-8a78-5552c87448de`` answered; quoted in
    vmware/terraform-provider-vcfa's TROUBLESHOOTING.md); pyvcloud reads the header into its
    exceptions. The client's value is kept to 128 letters, digits and hyphens (longer ones cut, others
    ignored), as the VMware Cloud Director API Programming Guide's request header list has it.
    """
    rid = str(uuid.uuid4())
    client = request.headers.get(CLIENT_REQUEST_ID, "")[:128]
    response.headers[REQUEST_ID] = f"{client}-{rid}" if client and _CLIENT_REQUEST_ID.match(client) else rid
    return response


def asked_version(request: Request, supported: list[str]) -> str | None:
    """The API version ``Accept`` names, when the server speaks it (else ``None``)."""
    found = _VERSION_IN_ACCEPT.search(request.headers.get("Accept", ""))
    return found[1] if found and found[1] in supported else None


# -- rendering ---------------------------------------------------------------------------------
def _wants_json(request: Request) -> bool:
    return "json" in request.headers.get("Accept", "").lower()


def _json(body: Any, status: int, version: str | None = None, media: str | None = None) -> Response:
    ctype = (f"{media}+json" if media else "application/json") + (f";version={version}" if version else "")
    return Response(json.dumps(body), status=status, content_type=ctype)


def _xml(root: ET.Element, content_type: str, status: int = 200, namespace: str = VCLOUD_NS) -> Response:
    root.set("xmlns", namespace)
    if any(k.startswith("xsi:") for el in root.iter() for k in el.attrib):
        root.set("xmlns:xsi", XSI_NS)
    body = b'<?xml version="1.0" encoding="UTF-8"?>\n' + ET.tostring(root, encoding="unicode").encode()
    return Response(body, status=status, content_type=content_type)


def _attr(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return "" if value is None else str(value)


def _flat(value: dict[str, Any]) -> dict[str, Any]:
    """Scalar fields of an OpenAPI object, plus ``orgVdc.id``-style dotted keys for references."""
    flat: dict[str, Any] = {}
    for key, v in value.items():
        if isinstance(v, dict):
            for sub, sv in v.items():
                if not isinstance(sv, (dict, list)):
                    flat[f"{key}.{sub}"] = sv
        elif not isinstance(v, list):
            flat[key] = v
    return flat


@dataclass
class El:
    """One element of a Cloud Director document, rendered as XML or as Cloud Director's JSON.

    Attributes keep their XML names (already lowerCamelCase, as JSON has them); a child
    becomes a JSON key named after its tag, a list for repeated elements (:data:`_LIST_TAGS`),
    and OVF sections (:data:`_SECTION_TAGS`) go into the ``section`` list with their ``_type``.
    """

    tag: str
    attrs: dict[str, Any] = field(default_factory=dict)
    children: list[El] = field(default_factory=list)
    text: Any = None

    def add(self, tag: str, text: Any = None, **attrs: Any) -> El:
        """Append a child and return it."""
        child = El(tag, attrs, [], text)
        self.children.append(child)
        return child

    def to_xml(self) -> ET.Element:
        """The element tree (``ovf:`` tags in the OVF namespace)."""
        tag = f"{{{OVF_NS}}}{self.tag[4:]}" if self.tag.startswith("ovf:") else self.tag
        el = ET.Element(tag, {k: _attr(v) for k, v in self.attrs.items() if v is not None})
        if self.text is not None:
            el.text = _attr(self.text)
        el.extend(child.to_xml() for child in self.children)
        return el

    def to_json(self) -> dict[str, Any]:
        """Cloud Director's JSON form."""
        out: dict[str, Any] = {_json_key(k): v for k, v in self.attrs.items() if v is not None}
        for child in self.children:
            value = child.text if not child.children and not child.attrs else child.to_json()
            if child.tag in _SECTION_TAGS:
                out.setdefault("section", []).append({"_type": f"{child.tag}Type", **child.to_json()})
            elif child.tag in _LIST_TAGS:
                out.setdefault(_json_key(child.tag), []).append(value)
            else:
                out[_json_key(child.tag)] = value
        if self.text is not None and (self.attrs or self.children):
            out["value"] = self.text
        return out


def _json_key(tag: str) -> str:
    tag = tag.removeprefix("ovf:")
    return tag[:1].lower() + tag[1:]


def _document(request: Request, doc: El, media: str, version: str, status: int = 200) -> Response:
    """``doc`` as XML (``<media>+xml``) or JSON (``<media>+json``), as ``Accept`` asks."""
    if _wants_json(request):
        return _json({**doc.to_json(), "type": f"{media}+json"}, status, version, media=media)
    doc.attrs.setdefault("type", f"{media}+xml")
    return _xml(doc.to_xml(), f"{media}+xml;version={version}", status)


def error_response(request: Request, status: int, minor: str, message: str,
                   headers: Mapping[str, str] | None = None, *, version: str | None = None) -> Response:
    """A Cloud Director ``Error`` document: XML under ``/api`` unless ``Accept`` asks for JSON,
    JSON under ``/cloudapi`` and ``/oauth`` (the shape of the VMware API reference's ``ErrorType``),
    its media type with the API version asked for (``version``), when the server speaks it."""
    if request.path.startswith("/api/") and not _wants_json(request):
        root = ET.Element("Error", {"minorErrorCode": minor, "message": message,
                                    "majorErrorCode": str(status)})
        suffix = f";version={version}" if version else ""
        response = _xml(root, "application/vnd.vmware.vcloud.error+xml" + suffix, status)
    else:
        response = _json({"minorErrorCode": minor, "message": message, "majorErrorCode": status,
                          "stackTrace": None}, status, version)
    for key, value in (headers or {}).items():
        response.headers[key] = value
    return response


# -- versions and logins -----------------------------------------------------------------------
def _version(director: Director, request: Request) -> str:
    """The API version ``Accept`` names (the newest when none); 406 when the server does not speak it."""
    found = _VERSION_IN_ACCEPT.search(request.headers.get("Accept", ""))
    version = found[1] if found else director.state.versions[-1]
    if not director.state.version_supported(version):
        raise ApiError(406, "NOT_ACCEPTABLE", f"The request has invalid accept header: "
                                              f"Invalid API version requested: {version}")
    return version


def authorized(handler: Handler) -> Handler:
    """Cloud Director's front door: a supported API version (406), then a live bearer token (401).

    The handler gets the :class:`Caller` as ``caller``.
    """
    @functools.wraps(handler)
    def checked(director: Director, request: Request, **params: Any) -> Response:
        version = _version(director, request)
        header = request.headers.get("Authorization", "")
        token = header[7:].strip() if header.lower().startswith("bearer ") else \
            request.headers.get("x-vcloud-authorization")
        session = director.state.authorize(token, director.faults.token_ttl)
        if session is None:
            raise ApiError(401, "UNAUTHORIZED", "Either no access token was provided or it is invalid or expired")
        return handler(director, request, caller=Caller(session, version), **params)
    return checked


def list_versions(director: Director, request: Request) -> Response:
    """``/api/versions``: supported versions, ``deprecated`` flags, login URLs (XML)."""
    st = director.state
    root = ET.Element("SupportedVersions")
    for version in st.versions:
        info = ET.SubElement(root, "VersionInfo", deprecated=str(st.is_deprecated(version)).lower())
        ET.SubElement(info, "Version").text = version
        ET.SubElement(info, "LoginUrl").text = st.href("/cloudapi/1.0.0/sessions")
        ET.SubElement(info, "ProviderLoginUrl").text = st.href("/cloudapi/1.0.0/sessions/provider")
    version = asked_version(request, st.versions) or st.versions[-1]
    return _xml(root, "application/xml;version=" + version, namespace=VERSIONS_NS)


def log_in(director: Director, request: Request) -> Response:
    """Basic ``user@org:password`` → a session, its token in ``X-VMWARE-VCLOUD-ACCESS-TOKEN``, in the
    API version ``Accept`` names."""
    version = _version(director, request)
    header = request.headers.get("Authorization", "")
    if not header.lower().startswith("basic "):
        raise ApiError(401, "UNAUTHORIZED", "Basic authentication is required")
    try:
        decoded = base64.b64decode(header[6:].strip()).decode("utf-8")
    except (ValueError, UnicodeDecodeError):
        raise ApiError(401, "UNAUTHORIZED", "Malformed Basic credentials") from None
    login, _, password = decoded.partition(":")
    user, _, org = login.rpartition("@")
    session = None if director.faults.fail_auth else director.state.login(user, org, password)
    if session is None:
        raise ApiError(401, "UNAUTHORIZED", "Authentication failed: invalid user name, org or password")
    return _session_json(director, session, version)


def _session_json(director: Director, session: Session, version: str) -> Response:
    st = director.state
    body = {
        "id": f"urn:vcloud:session:{session.token[:12]}", "site": {"name": st.site.get("name"),
                                                                   "id": "urn:vcloud:site:1"},
        "user": {"name": session.user, "id": f"urn:vcloud:user:{session.user}"},
        "org": {"name": st.org_name, "id": f"urn:vcloud:org:{st.org_uuid}"},
        "location": "urn:vcloud:site:1", "roles": st.roles(session.user),
        "roleRefs": [{"name": r, "id": f"urn:vcloud:role:{i}"} for i, r in enumerate(st.roles(session.user))],
        "sessionIdleTimeoutMinutes": 30,
    }
    return Response(json.dumps(body), status=200, content_type="application/json;version=" + version,
                    headers={"X-VMWARE-VCLOUD-ACCESS-TOKEN": session.token, "X-VMWARE-VCLOUD-TOKEN-TYPE": "Bearer"})


def exchange_api_token(director: Director, request: Request, org: str) -> Response:
    """OAuth ``grant_type=refresh_token`` with an API token → an access token."""
    form = request.form
    if form.get("grant_type") != "refresh_token" or not form.get("refresh_token"):
        return _json({"error": "invalid_request",
                      "error_description": "grant_type=refresh_token and refresh_token are required"}, 400)
    session = None if director.faults.fail_auth else director.state.exchange(org, form["refresh_token"])
    if session is None:
        return _json({"error": "invalid_grant", "error_description": "Invalid refresh token"}, 400)
    ttl = int(director.faults.token_ttl) if director.faults.token_ttl else 86400
    return _json({"access_token": session.token, "token_type": "Bearer", "expires_in": ttl,
                  "refresh_token": None}, 200)


@authorized
def show_session(director: Director, request: Request, caller: Caller) -> Response:
    """``/api/session``: the caller's session and its links (XML or JSON)."""
    st, session, version = director.state, caller.session, caller.version
    links = [("down", "application/vnd.vmware.vcloud.orgList+xml", "/api/org/"),
             ("down", "application/vnd.vmware.vcloud.query.queryList+xml", "/api/query"),
             ("entityResolver", "application/vnd.vmware.vcloud.entity+xml", "/api/entity/"),
             ("down", "application/vnd.vmware.vcloud.org+xml", f"/api/org/{st.org_uuid}"),
             ("openapi", "application/json", "/cloudapi/")]
    attrs = {"user": session.user, "org": st.org_name, "userId": f"urn:vcloud:user:{session.user}",
             "roles": ",".join(st.roles(session.user)), "locationId": f"{st.org_name}@urn:vcloud:site:1",
             "href": st.href("/api/session/"), "type": "application/vnd.vmware.vcloud.session+xml"}
    if _wants_json(request):
        return _json({**attrs, "link": [{"rel": r, "type": t, "href": st.href(h)} for r, t, h in links]},
                     200, version)
    root = ET.Element("Session", attrs)
    for rel, typ, href in links:
        ET.SubElement(root, "Link", rel=rel, type=typ, href=st.href(href))
    return _xml(root, f"application/vnd.vmware.vcloud.session+xml;version={version}")


@authorized
def show_current_session(director: Director, request: Request, caller: Caller) -> Response:
    """The caller's session in the OpenAPI shape (no token header this time)."""
    response = _session_json(director, caller.session, caller.version)
    del response.headers["X-VMWARE-VCLOUD-ACCESS-TOKEN"]
    return response


@authorized
def log_out(director: Director, request: Request, caller: Caller) -> Response:
    """End the caller's session (204)."""
    director.state.sessions.pop(caller.session.token, None)
    return Response(status=204)


@authorized
def unserved(director: Director, request: Request, caller: Caller, **params: Any) -> Response:
    """Behind the login, the mock serves reads only: 405 for other methods, else 404."""
    path = request.path.rstrip("/") or "/"
    if request.method != "GET":
        raise ApiError(405, "METHOD_NOT_ALLOWED", f"method {request.method} is not allowed on {path}")
    raise ApiError(404, "RESOURCE_NOT_FOUND", f"The requested resource {path} does not exist.")


# -- OpenAPI lists -----------------------------------------------------------------------------
def _paging(director: Director, request: Request, default: int, cap: int) -> tuple[int, int]:
    try:
        page = int(request.args.get("page", "1"))
        size = int(request.args.get("pageSize", str(default)))
    except ValueError:
        raise ApiError(400, "BAD_REQUEST", "page and pageSize must be integers") from None
    if page < 1 or size < 1:
        raise ApiError(400, "BAD_REQUEST", "page and pageSize must be positive")
    size = min(size, cap)
    if director.faults.page_limit:
        size = min(size, director.faults.page_limit)
    return page, size


def _filtered(request: Request, values: list[dict[str, Any]],
              fields: Callable[[dict[str, Any]], Mapping[str, Any]]) -> list[dict[str, Any]]:
    try:
        keep = compile_filter(request.args.get("filter"))
    except FiqlError as exc:
        raise ApiError(400, "BAD_REQUEST", str(exc)) from None
    return [v for v in values if keep(fields(v))]


def _openapi_list(director: Director, request: Request, caller: Caller, values: list[dict[str, Any]], *,
                  page_count: bool = True) -> Response:
    values = _filtered(request, values, _flat)
    page, size = _paging(director, request, QUERY_DEFAULT_PAGE, OPENAPI_MAX_PAGE)
    chunk, count = page_of(values, page, size)
    body: dict[str, Any] = {"resultTotal": len(values), "pageCount": count, "page": page,
                            "pageSize": size, "associations": None, "values": chunk}
    if not page_count:
        del body["pageCount"]
    headers = {}
    if page < count:
        query = {**request.args.to_dict(), "page": str(page + 1), "pageSize": str(size)}
        headers["Link"] = f'<{director.state.href(request.path)}?{urlencode(query)}>;rel="nextPage";' \
                          'type="application/json"'
    return Response(json.dumps(body), status=200, content_type=f"application/json;version={caller.version}",
                    headers=headers)


def _policies(director: Director, request: Request, caller: Caller, vdc_id: str | None, v2: bool) -> Response:
    st = director.state
    if v2 and not st.cloudapi_v2:
        raise ApiError(404, "NOT_FOUND", f"The requested resource {request.path} does not exist.")
    vdc = None
    if vdc_id is not None:
        vdc = st.find_vdc(vdc_id)
        if vdc is None:
            raise ApiError(404, "RESOURCE_NOT_FOUND", f"[ {vdc_id} ] VDC not found")
    # the per-VDC 2.0.0 listing leaves pageCount out, like some real endpoints
    return _openapi_list(director, request, caller, st.policies_for(vdc, v2),
                         page_count=not (v2 and vdc is not None))


@authorized
def list_compute_policies(director: Director, request: Request, caller: Caller) -> Response:
    """The org's compute policies, API 1.0.0 (no vGPU policies)."""
    return _policies(director, request, caller, None, v2=False)


@authorized
def list_compute_policies_v2(director: Director, request: Request, caller: Caller) -> Response:
    """The org's compute policies, API 2.0.0 (vGPU profiles; 404 on an older Cloud Director)."""
    return _policies(director, request, caller, None, v2=True)


@authorized
def list_vdc_compute_policies(director: Director, request: Request, caller: Caller, vdc_id: str) -> Response:
    """One VDC's compute policies, API 1.0.0."""
    return _policies(director, request, caller, vdc_id, v2=False)


@authorized
def list_vdc_compute_policies_v2(director: Director, request: Request, caller: Caller, vdc_id: str) -> Response:
    """One VDC's compute policies, API 2.0.0 (without ``pageCount``)."""
    return _policies(director, request, caller, vdc_id, v2=True)


@authorized
def list_org_vdc_networks(director: Director, request: Request, caller: Caller) -> Response:
    """Org VDC networks (FIQL ``filter``, paging)."""
    return _openapi_list(director, request, caller, director.state.org_vdc_networks())


@authorized
def list_edge_gateways(director: Director, request: Request, caller: Caller) -> Response:
    """Edge gateways (FIQL ``filter``, paging)."""
    return _openapi_list(director, request, caller, director.state.edge_gateways())


# -- query service -----------------------------------------------------------------------------
def _query_records(director: Director, request: Request) -> tuple[str, str, list[dict[str, Any]]]:
    """The query's type, its format and its records, filtered and sorted as asked."""
    kind = request.args.get("type", "")
    fmt = request.args.get("format", "records")
    if fmt not in QUERY_FORMATS:
        raise ApiError(400, "BAD_REQUEST", f"Invalid query format: {fmt}")
    records = director.state.records(kind)
    if records is None:
        raise ApiError(400, "BAD_REQUEST", f"Invalid query type: {kind}")
    records = _filtered(request, records, dict)
    sort = request.args.get("sortAsc") or request.args.get("sortDesc")
    if sort:
        records.sort(key=lambda r: str(r.get(sort, "")), reverse="sortDesc" in request.args)
    return kind, fmt, records


def _query_href(director: Director, request: Request, size: int, page: int) -> str:
    query = {**request.args.to_dict(), "pageSize": str(size), "page": str(page)}
    return director.state.href(f"/api/query?{urlencode(query)}")


def _shaped(kind: str, fmt: str, record: dict[str, Any]) -> dict[str, Any]:
    """A record as ``fmt`` shows it: ``records`` without the URN, ``references`` as a reference."""
    if fmt == "references":
        return {"href": record.get("href"), "id": record.get("id"), "name": record.get("name"),
                "type": QUERY_TYPES[kind][2]}
    if fmt == "records":
        return {k: v for k, v in record.items() if k != "id"}
    return record


@authorized
def query(director: Director, request: Request, caller: Caller) -> Response:
    """``/api/query``: the QueryList without ``type``, else the records of one type, paged, in
    ``records``, ``idrecords`` or ``references`` format, JSON or XML as ``Accept`` asks."""
    if "type" not in request.args:
        return _query_list(director, request, caller)
    kind, fmt, records = _query_records(director, request)
    page, size = _paging(director, request, QUERY_DEFAULT_PAGE, QUERY_MAX_PAGE)
    chunk, count = page_of(records, page, size)
    if page > count:
        raise ApiError(400, "BAD_REQUEST", f"The requested page {page} is out of range (1-{count})")
    links = []
    if page < count:
        links.append(("nextPage", _query_href(director, request, size, page + 1)))
    if page > 1:
        links.append(("previousPage", _query_href(director, request, size, page - 1)))
    container = {"href": _query_href(director, request, size, page), "name": kind, "page": page,
                 "pageSize": size, "total": len(records)}
    return _query_answer(request, caller, kind, fmt, container, links, [_shaped(kind, fmt, r) for r in chunk])


def _query_answer(request: Request, caller: Caller, kind: str, fmt: str, container: dict[str, Any],
                  links: list[tuple[str, str]], rows: list[dict[str, Any]]) -> Response:
    """A ``QueryResultRecords`` (or ``References``) container, JSON or XML as ``Accept`` asks."""
    media = QUERY_FORMATS[fmt]
    record_tag, reference_tag, _ = QUERY_TYPES[kind]
    tag = reference_tag if fmt == "references" else record_tag
    if _wants_json(request):
        key = "reference" if fmt == "references" else "record"
        body = {"otherAttributes": {}, **container, "type": f"{media}+json",
                "link": [{"rel": rel, "href": href, "type": f"{media}+json"} for rel, href in links],
                key: [{"_type": f"QueryResult{tag}Type" if key == "record" else "ReferenceType",
                       "otherAttributes": {}, **({"id": ""} if fmt == "records" else {}), **r} for r in rows]}
        return Response(json.dumps(body), status=200, content_type=f"{media}+json;version={caller.version}")
    root = El("References" if fmt == "references" else "QueryResultRecords", {**container, "type": f"{media}+xml"})
    for rel, href in links:
        root.add("Link", rel=rel, href=href, type=f"{media}+xml")
    for row in rows:
        root.add(tag, **row)
    return _xml(root.to_xml(), f"{media}+xml;version={caller.version}")


def _query_list(director: Director, request: Request, caller: Caller) -> Response:
    """The QueryList: one link per query type and format (what pyvcloud's typed queries look up)."""
    suffix = "+json" if _wants_json(request) else "+xml"
    doc = El("QueryList", {"href": director.state.href("/api/query")})
    for kind in QUERY_TYPES:
        for fmt, media in QUERY_FORMATS.items():
            doc.add("Link", rel="down", name=kind, type=media + suffix,
                    href=director.state.href(f"/api/query?type={kind}&format={fmt}"))
    return _document(request, doc, f"{_MEDIA}.query.queryList", caller.version)


# -- org, catalogs, templates ------------------------------------------------------------------
@authorized
def list_orgs(director: Director, request: Request, caller: Caller) -> Response:
    """``/api/org/``: the orgs the caller sees (a tenant sees its own)."""
    st = director.state
    doc = El("OrgList", {"href": st.href("/api/org/")})
    doc.add("Org", href=st.org_href(), name=st.org_name, type=f"{_MEDIA}.org+xml")
    return _document(request, doc, f"{_MEDIA}.orgList", caller.version)


@authorized
def show_org(director: Director, request: Request, caller: Caller, org_id: str) -> Response:
    """``/api/org/{id}``: the org, with query links to its VDCs and catalogs (API 33.0 and later
    list them through the query service instead of one link per entity)."""
    st = director.state
    if org_id.removeprefix("urn:vcloud:org:") != st.org_uuid:
        raise _no_access("org", org_id)
    records = f"{_MEDIA}.query.records+xml"
    doc = El("Org", {"name": st.org_name, "id": f"urn:vcloud:org:{st.org_uuid}", "href": st.org_href()})
    doc.add("Link", rel="down", type=records, name="vdcs",
            href=st.href("/api/query?type=orgVdc&format=records"))
    doc.add("Link", rel="down", type=records, name="catalogs",
            href=st.href("/api/query?type=catalog&format=records"))
    doc.add("Link", rel="down", type=f"{_MEDIA}.metadata+xml", href=st.href(f"/api/org/{st.org_uuid}/metadata"))
    doc.add("Description", st.fixture.get("org", {}).get("description", ""))
    doc.add("FullName", st.fixture.get("org", {}).get("full_name", st.org_name))
    doc.add("IsEnabled", True)
    return _document(request, doc, f"{_MEDIA}.org", caller.version)


def _no_access(kind: str, ident: str) -> ApiError:
    """What Cloud Director answers for an entity the caller cannot see (also one that does not exist)."""
    return ApiError(403, "ACCESS_TO_RESOURCE_IS_FORBIDDEN",
                    f"[ {ident} ] No access to entity \"com.vmware.vcloud.entity.{kind}:{ident}\".")


def _ref(tag: str, href: str, urn: str, name: str, media: str) -> El:
    return El(tag, {"href": href, "id": urn, "name": name, "type": media})


def _catalog_document(director: Director, request: Request, caller: Caller, catalog_id: str, admin: bool) -> Response:
    st = director.state
    cat = st.find_catalog(catalog_id)
    if cat is None or (admin and cat.spec.get("owner_org", st.org_name) != st.org_name):
        raise _no_access("catalog", catalog_id)
    path = f"/api/admin/catalog/{cat.uuid}" if admin else cat.path
    doc = El("AdminCatalog" if admin else "Catalog", {"name": cat.name, "id": cat.urn, "href": st.href(path)})
    doc.add("Link", rel="up", href=st.org_href(), type=f"{_MEDIA}.org+xml")
    doc.add("Description", cat.spec.get("description", ""))
    items = doc.add("CatalogItems")
    entries: list[Template | Media] = [*st.templates, *st.media]
    for e in (e for e in entries if e.catalog is cat):
        items.children.append(_ref("CatalogItem", st.href(e.item_path), e.item_urn, e.name,
                                   f"{_MEDIA}.catalogItem+xml"))
    doc.add("IsPublished", cat.published)
    doc.add("DateCreated", "2024-01-15T10:00:00.000+01:00")
    doc.add("VersionNumber", 1)
    media = "application/vnd.vmware.admin.catalog" if admin else f"{_MEDIA}.catalog"
    return _document(request, doc, media, caller.version)


@authorized
def show_catalog(director: Director, request: Request, caller: Caller, catalog_id: str) -> Response:
    """``/api/catalog/{id}``: the catalog and references to its items."""
    return _catalog_document(director, request, caller, catalog_id, admin=False)


@authorized
def show_admin_catalog(director: Director, request: Request, caller: Caller, catalog_id: str) -> Response:
    """``/api/admin/catalog/{id}``: the admin view of one of the org's own catalogs."""
    return _catalog_document(director, request, caller, catalog_id, admin=True)


@authorized
def show_network(director: Director, request: Request, caller: Caller, network_id: str) -> Response:
    """``/api/network/{id}``: an org VDC network (gateway, prefix, fence mode)."""
    st = director.state
    found = st.find_network(network_id)
    if found is None:
        raise _no_access("network", network_id)
    vdc, n = found
    nid = network_id.removeprefix("urn:vcloud:network:")
    doc = El("OrgVdcNetwork", {"name": n["name"], "id": f"urn:vcloud:network:{nid}", "status": 1,
                               "href": st.href(f"/api/network/{nid}")})
    doc.add("Link", rel="up", href=st.href(f"/api/vdc/{vdc.uuid}"), type=f"{_MEDIA}.vdc+xml")
    doc.add("Description", n.get("description", ""))
    scope = doc.add("Configuration").add("IpScopes").add("IpScope")
    scope.add("IsInherited", False)
    scope.add("Gateway", n.get("gateway", "192.168.0.1"))
    scope.add("SubnetPrefixLength", int(n.get("prefix", 24)))
    fence = {"NAT_ROUTED": "natRouted", "ISOLATED": "isolated", "DIRECT": "bridged"}
    doc.children[-1].add("FenceMode", fence.get(str(n.get("type", "NAT_ROUTED")), "natRouted"))
    doc.add("IsShared", False)
    return _document(request, doc, f"{_MEDIA}.orgNetwork", caller.version)


def _entry_size(entry: Template | Media) -> int:
    if isinstance(entry, Template):
        return sum(entry.disks_mb) * 1024 * 1024
    return int(entry.spec.get("size_mb", 0)) * 1024 * 1024


@authorized
def show_catalog_item(director: Director, request: Request, caller: Caller, item_id: str) -> Response:
    """``/api/catalogItem/{id}``: the item, its size (bytes) and the entity it holds."""
    st = director.state
    entry = st.find_item(item_id)
    if entry is None:
        raise _no_access("catalogItem", item_id)
    doc = El("CatalogItem", {"name": entry.name, "id": entry.item_urn, "href": st.href(entry.item_path),
                             "size": _entry_size(entry)})
    doc.add("Link", rel="up", href=st.href(entry.catalog.path), type=f"{_MEDIA}.catalog+xml")
    doc.add("Description", entry.spec.get("description", ""))
    media = f"{_MEDIA}.vAppTemplate+xml" if isinstance(entry, Template) else f"{_MEDIA}.media+xml"
    doc.children.append(_ref("Entity", st.href(entry.path), entry.urn, entry.name, media))
    doc.add("DateCreated", "2024-01-15T10:00:00.000+01:00")
    doc.add("VersionNumber", 1)
    return _document(request, doc, f"{_MEDIA}.catalogItem", caller.version)


def _vm_spec(t: Template) -> El:
    """The VM's ``VmSpecSection`` (API 27.0+): guest OS, CPUs, memory and disks."""
    spec = El("VmSpecSection", {"Modified": False})
    spec.add("ovf:Info", "Virtual Machine specification")
    spec.add("OsType", t.guest_os)
    spec.add("NumCpus", t.cpus)
    spec.add("NumCoresPerSocket", int(t.spec.get("cores_per_socket", 1)))
    spec.add("MemoryResourceMb").add("Configured", t.memory_mb)
    disks = spec.add("DiskSection")
    for i, size in enumerate(t.disks_mb):
        disk = disks.add("DiskSettings")
        for tag, value in (("DiskId", str(2000 + i)), ("SizeMb", size), ("UnitNumber", i), ("BusNumber", 0),
                           ("AdapterType", "5"), ("ThinProvisioned", True)):
            disk.add(tag, value)
    spec.add("HardwareVersion", "vmx-19")
    return spec


def _template_vm(st: VcdState, t: Template) -> El:
    vm = El("Vm", {"needsCustomization": False, "status": 8, "name": t.vm_name, "id": f"urn:vcloud:vm:{t.vm_uuid}",
                   "href": st.href(f"/api/vAppTemplate/vm-{t.vm_uuid}"), "type": f"{_MEDIA}.vm+xml"})
    vm.add("Description", "")
    vm.children.append(_vm_spec(t))
    vm.add("VAppScopedLocalId", t.vm_name)
    vm.add("DateCreated", "2024-01-15T10:00:00.000+01:00")
    return vm


@authorized
def show_template(director: Director, request: Request, caller: Caller, template_id: str) -> Response:
    """``/api/vAppTemplate/vappTemplate-{id}``: the template and its VM's hardware;
    ``/api/vAppTemplate/vm-{id}``: the template's VM alone."""
    st = director.state
    if template_id.startswith("vm-"):
        owner = st.find_template_vm(template_id)
        if owner is None:
            raise _no_access("vm", template_id)
        vm = _template_vm(st, owner)
        del vm.attrs["type"]
        return _document(request, vm, f"{_MEDIA}.vm", caller.version)
    t = st.find_template(template_id)
    if t is None:
        raise _no_access("vAppTemplate", template_id)
    doc = El("VAppTemplate", {"goldMaster": False, "ovfDescriptorUploaded": True, "status": 8, "name": t.name,
                              "id": t.urn, "href": st.href(t.path)})
    doc.add("Link", rel="up", href=st.href(t.catalog.path), type=f"{_MEDIA}.catalog+xml")
    doc.add("Description", t.spec.get("description", ""))
    doc.add("Children").children.append(_template_vm(st, t))
    doc.add("DateCreated", "2024-01-15T10:00:00.000+01:00")
    return _document(request, doc, f"{_MEDIA}.vAppTemplate", caller.version)


@authorized
def show_media(director: Director, request: Request, caller: Caller, media_id: str) -> Response:
    """``/api/media/{id}``: a media (ISO) of a catalog."""
    st = director.state
    m = st.find_media(media_id)
    if m is None:
        raise _no_access("media", media_id)
    doc = El("Media", {"name": m.name, "id": m.urn, "href": st.href(m.path), "status": 1, "imageType": "iso",
                       "size": _entry_size(m)})
    doc.add("Link", rel="up", href=st.href(m.catalog.path), type=f"{_MEDIA}.catalog+xml")
    doc.add("Description", m.spec.get("description", ""))
    return _document(request, doc, f"{_MEDIA}.media", caller.version)


@authorized
def show_storage_profile(director: Director, request: Request, caller: Caller, profile_id: str) -> Response:
    """``/api/vdcStorageProfile/{id}``: a VDC storage profile (limit in MB, default or not)."""
    st = director.state
    found = st.find_profile(profile_id)
    if found is None:
        raise _no_access("vdcStorageProfile", profile_id)
    vdc, p = found
    sp = profile_id.removeprefix("urn:vcloud:vdcstorageProfile:")
    doc = El("VdcStorageProfile", {"name": p["name"], "id": f"urn:vcloud:vdcstorageProfile:{sp}",
                                   "href": st.href(f"/api/vdcStorageProfile/{sp}")})
    doc.add("Link", rel="up", href=st.href(f"/api/vdc/{vdc.uuid}"), type=f"{_MEDIA}.vdc+xml")
    doc.add("Enabled", bool(p.get("enabled", True)))
    doc.add("Units", "MB")
    doc.add("Limit", int(p.get("limit_mb", 0)))
    doc.add("Default", bool(p.get("default", False)))
    return _document(request, doc, f"{_MEDIA}.vdcStorageProfile", caller.version)


@authorized
def resolve_entity(director: Director, request: Request, caller: Caller, urn: str) -> Response:
    """``/api/entity/{urn}``: the entity resolver, a link to the entity a URN names."""
    found = director.state.entity(urn)
    if found is None:
        raise ApiError(403, "ACCESS_TO_RESOURCE_IS_FORBIDDEN", f"[ {urn} ] No access to entity.")
    href, kind, name = found
    doc = El("Entity", {"name": urn, "id": urn, "href": director.state.href(f"/api/entity/{urn}")})
    doc.add("Link", rel="alternate", href=href, name=name, type=f"{_MEDIA}.{kind}+xml")
    return _document(request, doc, f"{_MEDIA}.entity", caller.version)


@authorized
def log_out_legacy(director: Director, request: Request, caller: Caller) -> Response:
    """``DELETE /api/session``: end the caller's session (204), as pyvcloud's ``logout()`` does."""
    director.state.sessions.pop(caller.session.token, None)
    return Response(status=204)


@authorized
def list_orgs_openapi(director: Director, request: Request, caller: Caller) -> Response:
    """``/cloudapi/1.0.0/orgs``: the caller's org in the OpenAPI ``Org`` shape."""
    st = director.state
    org = {"id": f"urn:vcloud:org:{st.org_uuid}", "name": st.org_name,
           "displayName": st.fixture.get("org", {}).get("full_name", st.org_name),
           "description": st.fixture.get("org", {}).get("description", ""), "isEnabled": True,
           "orgVdcCount": len(st.vdcs), "catalogCount": len(st.catalogs), "vappCount": 0, "runningVMCount": 0,
           "userCount": len(st.users), "diskCount": 0, "managedBy": {"name": "System", "id": None},
           "canManageOrgs": False, "canPublish": False, "maskedEventTaskUsername": None,
           "directlyManagedOrgCount": 0}
    return _openapi_list(director, request, caller, [org])


@authorized
def list_vdcs_openapi(director: Director, request: Request, caller: Caller) -> Response:
    """``/cloudapi/1.0.0/vdcs``: the org's VDCs in the OpenAPI shape."""
    st = director.state
    org = {"name": st.org_name, "id": f"urn:vcloud:org:{st.org_uuid}"}
    values = [{"id": st.vdc_urn(v), "name": v.name, "description": v.spec.get("description", ""),
               "allocationType": str(v.spec.get("allocation_model", "Flex")).upper(), "org": org}
              for v in st.vdcs]
    return _openapi_list(director, request, caller, values)


# -- VDC documents -----------------------------------------------------------------------------
def _find_vdc(director: Director, vdc_id: str) -> Vdc:
    vdc = director.state.find_vdc(vdc_id)
    if vdc is None:
        raise _no_access("vdc", vdc_id)
    return vdc


@authorized
def show_vdc(director: Director, request: Request, caller: Caller, vdc_id: str) -> Response:
    """``/api/vdc/{id}``: capacity, storage profiles (JSON or XML); 403 for a VDC of another org."""
    doc = director.state.vdc_document(_find_vdc(director, vdc_id))
    version = caller.version
    if _wants_json(request):
        return _json({**doc, "type": "application/vnd.vmware.vcloud.vdc+json"}, 200, version)
    root = ET.Element("Vdc", {"name": doc["name"], "id": doc["id"], "href": doc["href"],
                              "status": str(doc["status"]), "type": "application/vnd.vmware.vcloud.vdc+xml"})
    ET.SubElement(root, "Description").text = doc["description"]
    ET.SubElement(root, "AllocationModel").text = doc["allocationModel"]
    capacity = ET.SubElement(root, "ComputeCapacity")
    for part in ("cpu", "memory"):
        el = ET.SubElement(capacity, part.capitalize())
        for key in ("units", "allocated", "limit", "reserved", "used"):
            ET.SubElement(el, key.capitalize()).text = str(doc["computeCapacity"][part][key])
    profiles = ET.SubElement(root, "VdcStorageProfiles")
    for p in doc["vdcStorageProfiles"]["vdcStorageProfile"]:
        ET.SubElement(profiles, "VdcStorageProfile", href=p["href"], id=p["id"], name=p["name"], type=p["type"])
    ET.SubElement(root, "IsEnabled").text = "true"
    ET.SubElement(root, "VCpuInMhz2").text = str(doc["vCpuInMhz2"])
    return _xml(root, f"application/vnd.vmware.vcloud.vdc+xml;version={version}")


@authorized
def show_vdc_metadata(director: Director, request: Request, caller: Caller, vdc_id: str) -> Response:
    """``/api/vdc/{id}/metadata``: string entries (JSON or XML)."""
    entries = director.state.vdc_metadata(_find_vdc(director, vdc_id))
    href = director.state.href(request.path.rstrip("/"))
    version = caller.version
    if _wants_json(request):
        return _json({"otherAttributes": {}, "href": href, "link": [],
                      "type": "application/vnd.vmware.vcloud.metadata+json",
                      "metadataEntry": [{"otherAttributes": {}, "link": [], "href": None, "type": None,
                                         "domain": None, "key": k, "value": None,
                                         "typedValue": {"_type": "MetadataStringValue", "value": v}}
                                        for k, v in entries.items()]}, 200, version)
    root = ET.Element("Metadata", href=href, type="application/vnd.vmware.vcloud.metadata+xml")
    for key, value in entries.items():
        entry = ET.SubElement(root, "MetadataEntry")
        ET.SubElement(entry, "Key").text = key
        typed = ET.SubElement(entry, "TypedValue", {"xsi:type": "MetadataStringValue"})
        ET.SubElement(typed, "Value").text = value
    return _xml(root, f"application/vnd.vmware.vcloud.metadata+xml;version={version}")
