"""A mocked VMware Cloud Director (and Cloud Avenue) over loopback HTTP: the wire format.

State and logic live in :mod:`cloudcat_vcd.mockstate`; this module routes requests, checks
credentials and API versions, and renders XML or JSON the way Cloud Director does:

* ``GET /api/versions`` (XML, ``deprecated`` flags, login URLs);
* ``POST /cloudapi/1.0.0/sessions`` (Basic ``user@org:password`` → ``X-VMWARE-VCLOUD-ACCESS-TOKEN``),
  ``POST /oauth/tenant/{org}/token`` (API token, ``grant_type=refresh_token``), ``GET /api/session``,
  ``DELETE /cloudapi/1.0.0/sessions/current``;
* ``/cloudapi/{1.0.0,2.0.0}/vdcComputePolicies`` and ``/cloudapi/{1.0.0,2.0.0}/vdcs/{urn}/computePolicies``
  (the per-VDC 2.0.0 listing omits ``pageCount``, as some Cloud Director endpoints do),
  ``/cloudapi/1.0.0/orgVdcNetworks``, ``/cloudapi/1.0.0/edgeGateways``;
* ``/api/query?type=orgVdc|orgVdcStorageProfile|catalog|catalogItem|vAppTemplate&format=records``
  in JSON (``Accept: application/*+json;version=X``) or XML;
* ``/api/vdc/{id}`` and ``/api/vdc/{id}/metadata`` in JSON or XML.

Faults: ``token_ttl`` expires bearer tokens (401), ``page_limit`` caps ``pageSize``,
``fail_auth`` refuses every login; latency, 503, 429 and malformed bodies come from the server.
"""

from __future__ import annotations

import base64
import json
import re
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any, ClassVar
from urllib.parse import urlencode

from werkzeug.wrappers import Request, Response

from cloudcat.testing.mockserver import MockPlatform

from .mockstate import FiqlError, VcdState, compile_filter, page_of

__all__ = ["VcdMock"]

_FIXTURES = Path(__file__).parent / "fixtures"
VCLOUD_NS = "http://www.vmware.com/vcloud/v1.5"
VERSIONS_NS = "http://www.vmware.com/vcloud/versions"
XSI_NS = "http://www.w3.org/2001/XMLSchema-instance"
OPENAPI_MAX_PAGE = 128
QUERY_MAX_PAGE = 128
QUERY_DEFAULT_PAGE = 25

_RECORD_NAMES = {
    "orgVdc": "OrgVdc", "orgVdcStorageProfile": "OrgVdcStorageProfile", "catalog": "Catalog",
    "catalogItem": "CatalogItem", "vAppTemplate": "VAppTemplate",
}
_VERSION_IN_ACCEPT = re.compile(r"version\s*=\s*([0-9]+\.[0-9]+)")


class _Fail(Exception):
    """An error answer, raised inside a handler."""

    def __init__(self, status: int, minor: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.minor = minor
        self.message = message


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

    def state(self) -> dict[str, Any]:
        """Org, VDC and session counts."""
        with self.lock:
            return self.state_.state()

    # -- dispatch -----------------------------------------------------------------------------
    def dispatch(self, request: Request) -> Response:
        """Route one request; errors come back as Cloud Director error bodies."""
        with self.lock:
            self.state_.base_url = self.base_url
            try:
                return self._route(request)
            except _Fail as fail:
                return self._error(request, fail.status, fail.minor, fail.message)

    def _route(self, request: Request) -> Response:
        path, method = request.path.rstrip("/") or "/", request.method
        if path == "/api/versions" and method == "GET":
            return self._versions()
        if path == "/cloudapi/1.0.0/sessions" and method == "POST":
            return self._login(request)
        match = re.fullmatch(r"/oauth/tenant/([^/]+)/token", path)
        if match and method == "POST":
            return self._token(request, match[1])
        version = self._version(request)
        self._authorize(request)
        if path == "/api/session" and method == "GET":
            return self._session(request, version)
        if path == "/cloudapi/1.0.0/sessions/current" and method == "DELETE":
            return self._logout(request)
        if path == "/cloudapi/1.0.0/sessions/current" and method == "GET":
            session = request.environ["cloudcat.vcd.session"]
            response = self._session_json(session, status=200)
            del response.headers["X-VMWARE-VCLOUD-ACCESS-TOKEN"]
            return response
        if method != "GET":
            raise _Fail(405, "METHOD_NOT_ALLOWED", f"method {method} is not allowed on {path}")
        match = re.fullmatch(r"/cloudapi/(1\.0\.0|2\.0\.0)/vdcComputePolicies", path)
        if match:
            return self._policies(request, None, match[1])
        match = re.fullmatch(r"/cloudapi/(1\.0\.0|2\.0\.0)/vdcs/([^/]+)/computePolicies", path)
        if match:
            return self._policies(request, match[2], match[1])
        if path == "/cloudapi/1.0.0/orgVdcNetworks":
            return self._openapi_list(request, self.state_.org_vdc_networks())
        if path == "/cloudapi/1.0.0/edgeGateways":
            return self._openapi_list(request, self.state_.edge_gateways())
        if path == "/api/query":
            return self._query(request, version)
        match = re.fullmatch(r"/api/vdc/([^/]+)(/metadata)?", path)
        if match:
            vdc = self.state_.find_vdc(match[1])
            if vdc is None:
                raise _Fail(403, "ACCESS_TO_RESOURCE_IS_FORBIDDEN",
                            f"[ {match[1]} ] No access to entity \"com.vmware.vcloud.entity.vdc:{match[1]}\".")
            if match[2]:
                return self._metadata(request, version, self.state_.vdc_metadata(vdc), path)
            return self._vdc(request, version, self.state_.vdc_document(vdc))
        raise _Fail(404, "RESOURCE_NOT_FOUND", f"The requested resource {path} does not exist.")

    # -- versions, sessions -------------------------------------------------------------------
    def _version(self, request: Request) -> str:
        found = _VERSION_IN_ACCEPT.search(request.headers.get("Accept", ""))
        version = found[1] if found else self.state_.versions[-1]
        if not self.state_.version_supported(version):
            raise _Fail(406, "NOT_ACCEPTABLE", f"The request has invalid accept header: "
                                               f"Invalid API version requested: {version}")
        return version

    def _versions(self) -> Response:
        root = ET.Element("SupportedVersions")
        for version in self.state_.versions:
            info = ET.SubElement(root, "VersionInfo",
                                 deprecated=str(self.state_.is_deprecated(version)).lower())
            ET.SubElement(info, "Version").text = version
            ET.SubElement(info, "LoginUrl").text = self.state_.href(
                "/cloudapi/1.0.0/sessions")
            ET.SubElement(info, "ProviderLoginUrl").text = self.state_.href(
                "/cloudapi/1.0.0/sessions/provider")
        return _xml(root, "application/xml;version=" + self.state_.versions[-1], namespace=VERSIONS_NS)

    def _login(self, request: Request) -> Response:
        self._version(request)
        header = request.headers.get("Authorization", "")
        if not header.lower().startswith("basic "):
            raise _Fail(401, "UNAUTHORIZED", "Basic authentication is required")
        try:
            decoded = base64.b64decode(header[6:].strip()).decode("utf-8")
        except (ValueError, UnicodeDecodeError):
            raise _Fail(401, "UNAUTHORIZED", "Malformed Basic credentials") from None
        login, _, password = decoded.partition(":")
        user, _, org = login.rpartition("@")
        session = None if self.faults.fail_auth else self.state_.login(user, org, password)
        if session is None:
            raise _Fail(401, "UNAUTHORIZED", "Authentication failed: invalid user name, org or password")
        return self._session_json(session, status=200)

    def _session_json(self, session: Any, status: int) -> Response:
        st = self.state_
        body = {
            "id": f"urn:vcloud:session:{session.token[:12]}", "site": {"name": st.site.get("name"),
                                                                       "id": "urn:vcloud:site:1"},
            "user": {"name": session.user, "id": f"urn:vcloud:user:{session.user}"},
            "org": {"name": st.org_name, "id": f"urn:vcloud:org:{st.org_uuid}"},
            "location": "urn:vcloud:site:1", "roles": st.roles(session.user),
            "roleRefs": [{"name": r, "id": f"urn:vcloud:role:{i}"} for i, r in enumerate(st.roles(session.user))],
            "sessionIdleTimeoutMinutes": 30,
        }
        return Response(json.dumps(body), status=status, content_type="application/json;version="
                        + st.versions[-1], headers={"X-VMWARE-VCLOUD-ACCESS-TOKEN": session.token,
                                                    "X-VMWARE-VCLOUD-TOKEN-TYPE": "Bearer"})

    def _token(self, request: Request, org: str) -> Response:
        form = request.form
        if form.get("grant_type") != "refresh_token" or not form.get("refresh_token"):
            return _json({"error": "invalid_request",
                          "error_description": "grant_type=refresh_token and refresh_token are required"}, 400)
        session = None if self.faults.fail_auth else self.state_.exchange(org, form["refresh_token"])
        if session is None:
            return _json({"error": "invalid_grant", "error_description": "Invalid refresh token"}, 400)
        ttl = int(self.faults.token_ttl) if self.faults.token_ttl else 86400
        return _json({"access_token": session.token, "token_type": "Bearer", "expires_in": ttl,
                      "refresh_token": None}, 200)

    def _authorize(self, request: Request) -> None:
        header = request.headers.get("Authorization", "")
        token = header[7:].strip() if header.lower().startswith("bearer ") else \
            request.headers.get("x-vcloud-authorization")
        if self.state_.authorize(token, self.faults.token_ttl) is None:
            raise _Fail(401, "UNAUTHORIZED", "Either no access token was provided or it is invalid or expired")
        request.environ["cloudcat.vcd.session"] = self.state_.sessions[token or ""]

    def _session(self, request: Request, version: str) -> Response:
        session = request.environ["cloudcat.vcd.session"]
        st = self.state_
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

    def _logout(self, request: Request) -> Response:
        session = request.environ["cloudcat.vcd.session"]
        self.state_.sessions.pop(session.token, None)
        return Response(status=204)

    # -- OpenAPI lists ------------------------------------------------------------------------
    def _paging(self, request: Request, default: int, cap: int) -> tuple[int, int]:
        try:
            page = int(request.args.get("page", "1"))
            size = int(request.args.get("pageSize", str(default)))
        except ValueError:
            raise _Fail(400, "BAD_REQUEST", "page and pageSize must be integers") from None
        if page < 1 or size < 1:
            raise _Fail(400, "BAD_REQUEST", "page and pageSize must be positive")
        size = min(size, cap)
        if self.faults.page_limit:
            size = min(size, self.faults.page_limit)
        return page, size

    def _openapi_list(self, request: Request, values: list[dict[str, Any]], *,
                      page_count: bool = True) -> Response:
        try:
            values = [v for v in values if compile_filter(request.args.get("filter"))(_flat(v))]
        except FiqlError as exc:
            raise _Fail(400, "BAD_REQUEST", str(exc)) from None
        page, size = self._paging(request, QUERY_DEFAULT_PAGE, OPENAPI_MAX_PAGE)
        chunk, count = page_of(values, page, size)
        body: dict[str, Any] = {"resultTotal": len(values), "pageCount": count, "page": page,
                                "pageSize": size, "associations": None, "values": chunk}
        if not page_count:
            del body["pageCount"]
        headers = {}
        if page < count:
            query = {**request.args.to_dict(), "page": str(page + 1), "pageSize": str(size)}
            headers["Link"] = f'<{self.state_.href(request.path)}?{urlencode(query)}>;rel="nextPage";' \
                              'type="application/json"'
        return Response(json.dumps(body), status=200, content_type="application/json", headers=headers)

    def _policies(self, request: Request, vdc_id: str | None, api: str) -> Response:
        v2 = api == "2.0.0"
        if v2 and not self.state_.cloudapi_v2:
            raise _Fail(404, "NOT_FOUND", f"The requested resource {request.path} does not exist.")
        vdc = None
        if vdc_id is not None:
            vdc = self.state_.find_vdc(vdc_id)
            if vdc is None:
                raise _Fail(404, "RESOURCE_NOT_FOUND", f"[ {vdc_id} ] VDC not found")
        policies = self.state_.policies_for(vdc, v2)
        # the per-VDC 2.0.0 listing leaves pageCount out, like some real endpoints
        return self._openapi_list(request, policies, page_count=not (v2 and vdc is not None))

    # -- query service ------------------------------------------------------------------------
    def _query(self, request: Request, version: str) -> Response:
        kind = request.args.get("type", "")
        fmt = request.args.get("format", "records")
        if fmt not in ("records", "idrecords"):
            raise _Fail(400, "BAD_REQUEST", f"Unsupported query format {fmt!r} for this mock")
        records = self.state_.records(kind)
        if records is None:
            raise _Fail(400, "BAD_REQUEST", f"Invalid query type: {kind}")
        try:
            records = [r for r in records if compile_filter(request.args.get("filter"))(r)]
        except FiqlError as exc:
            raise _Fail(400, "BAD_REQUEST", str(exc)) from None
        sort = request.args.get("sortAsc") or request.args.get("sortDesc")
        if sort:
            records.sort(key=lambda r: str(r.get(sort, "")), reverse="sortDesc" in request.args)
        page, size = self._paging(request, QUERY_DEFAULT_PAGE, QUERY_MAX_PAGE)
        chunk, count = page_of(records, page, size)
        if page > count:
            raise _Fail(400, "BAD_REQUEST", f"The requested page {page} is out of range (1-{count})")
        st = self.state_
        query = {**request.args.to_dict(), "pageSize": str(size)}
        self_href = st.href(f"/api/query?{urlencode({**query, 'page': str(page)})}")
        links = []
        if page < count:
            links.append(("nextPage", st.href(f"/api/query?{urlencode({**query, 'page': str(page + 1)})}")))
        if page > 1:
            links.append(("previousPage", st.href(f"/api/query?{urlencode({**query, 'page': str(page - 1)})}")))
        name = _RECORD_NAMES[kind]
        if _wants_json(request):
            body = {"otherAttributes": {}, "href": self_href,
                    "type": "application/vnd.vmware.vcloud.query.records+json", "name": kind,
                    "page": page, "pageSize": size, "total": len(records),
                    "link": [{"rel": rel, "href": href, "type":
                              "application/vnd.vmware.vcloud.query.records+json"} for rel, href in links],
                    "record": [{"_type": f"QueryResult{name}RecordType", "otherAttributes": {}, **r}
                               for r in chunk]}
            return Response(json.dumps(body), status=200,
                            content_type=f"application/vnd.vmware.vcloud.query.records+json;version={version}")
        root = ET.Element("QueryResultRecords",
                          {"total": str(len(records)), "pageSize": str(size), "page": str(page), "name": kind,
                           "type": "application/vnd.vmware.vcloud.query.records+xml", "href": self_href})
        for rel, href in links:
            ET.SubElement(root, "Link", rel=rel, href=href,
                          type="application/vnd.vmware.vcloud.query.records+xml")
        for record in chunk:
            ET.SubElement(root, f"{name}Record", {k: _attr(v) for k, v in record.items()})
        return _xml(root, f"application/vnd.vmware.vcloud.query.records+xml;version={version}")

    # -- VDC documents ------------------------------------------------------------------------
    def _vdc(self, request: Request, version: str, doc: dict[str, Any]) -> Response:
        if _wants_json(request):
            return _json({**doc, "type": "application/vnd.vmware.vcloud.vdc+json"}, 200, version)
        root = ET.Element("Vdc", {"name": doc["name"], "id": doc["id"], "href": doc["href"],
                                                   "status": str(doc["status"]),
                                                   "type": "application/vnd.vmware.vcloud.vdc+xml"})
        ET.SubElement(root, "Description").text = doc["description"]
        ET.SubElement(root, "AllocationModel").text = doc["allocationModel"]
        capacity = ET.SubElement(root, "ComputeCapacity")
        for part in ("cpu", "memory"):
            el = ET.SubElement(capacity, part.capitalize())
            for key in ("units", "allocated", "limit", "reserved", "used"):
                ET.SubElement(el, key.capitalize()).text = str(doc["computeCapacity"][part][key])
        profiles = ET.SubElement(root, "VdcStorageProfiles")
        for p in doc["vdcStorageProfiles"]["vdcStorageProfile"]:
            ET.SubElement(profiles, "VdcStorageProfile", href=p["href"], id=p["id"],
                          name=p["name"], type=p["type"])
        ET.SubElement(root, "IsEnabled").text = "true"
        ET.SubElement(root, "VCpuInMhz2").text = str(doc["vCpuInMhz2"])
        return _xml(root, f"application/vnd.vmware.vcloud.vdc+xml;version={version}")

    def _metadata(self, request: Request, version: str, entries: dict[str, str], path: str) -> Response:
        href = self.state_.href(path)
        if _wants_json(request):
            return _json({"otherAttributes": {}, "href": href, "link": [],
                          "type": "application/vnd.vmware.vcloud.metadata+json",
                          "metadataEntry": [{"otherAttributes": {}, "link": [], "href": None, "type": None,
                                             "domain": None, "key": k, "value": None,
                                             "typedValue": {"_type": "MetadataStringValue", "value": v}}
                                            for k, v in entries.items()]}, 200, version)
        root = ET.Element("Metadata", href=href,
                          type="application/vnd.vmware.vcloud.metadata+xml")
        for key, value in entries.items():
            entry = ET.SubElement(root, "MetadataEntry")
            ET.SubElement(entry, "Key").text = key
            typed = ET.SubElement(entry, "TypedValue", {"xsi:type": "MetadataStringValue"})
            ET.SubElement(typed, "Value").text = value
        return _xml(root, f"application/vnd.vmware.vcloud.metadata+xml;version={version}")

    # -- errors -------------------------------------------------------------------------------
    def _error(self, request: Request, status: int, minor: str, message: str) -> Response:
        if request.path.startswith("/api/") and not _wants_json(request):
            root = ET.Element("Error", {"minorErrorCode": minor, "message": message,
                                                         "majorErrorCode": str(status)})
            return _xml(root, "application/vnd.vmware.vcloud.error+xml", status)
        return _json({"minorErrorCode": minor, "message": message, "majorErrorCode": status,
                      "stackTrace": None}, status)


def _wants_json(request: Request) -> bool:
    return "json" in request.headers.get("Accept", "").lower()


def _json(body: Any, status: int, version: str | None = None) -> Response:
    ctype = "application/json" + (f";version={version}" if version else "")
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
