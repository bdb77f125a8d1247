"""Wire format of the mocked OpenStack cloud: the answers of each service, real shapes and codes.

Every handler takes the :class:`Cloud` it answers for, the request and the placeholders of its
route in :mod:`.urls` (``region`` comes resolved to its :class:`~.state.RegionState`). What a
service does before any of its handlers (check the token, negotiate Nova's microversion, check
Cinder's project) is a decorator here, so each service answers an unknown path or method the way
the real one does.

Shapes follow the API references and what openstacksdk's resource classes read (for example
Nova's ``flavors_links``, Glance's relative ``next``, Keystone's ``X-Subject-Token``). Errors come
in each service's own form: Keystone's (and keystonemiddleware's) ``{"error": {code, title,
message}}`` with ``WWW-Authenticate`` on a 401; Nova's and Cinder's faults ``{name: {code,
message}}`` named as their ``Fault._fault_names``; Neutron's ``{"NeutronError": {type, message,
detail}}``; Glance's bare webob errors (JSON, HTML or plain text by ``Accept``). A project user
gets what the default policies give it (no ``provider:*`` network attributes, no zone detail,
403 for admin-only writes).
"""

from __future__ import annotations

import bisect
import functools
import html
import http
import re
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any
from urllib.parse import urlencode

from werkzeug.wrappers import Request, Response

from cloudcat.testing.mockserver import Faults, json_response

from .state import CloudState, Listing, RegionState, Token, page, sort_items

__all__ = [
    "CINDER_MAX_MICROVERSION",
    "NOVA_MAX_MICROVERSION",
    "NOVA_MIN_MICROVERSION",
    "BadRequest",
    "Cloud",
    "Handler",
    "answer",
    "www_authenticate",
]

NOVA_MIN_MICROVERSION = (2, 1)
NOVA_MAX_MICROVERSION = (2, 90)
CINDER_MAX_MICROVERSION = (3, 70)
GLANCE_DEFAULT_LIMIT = 25  # glance's limit_param_default
NOVA_MAX_LIMIT = 1000  # nova's osapi_max_limit
_UPDATED = "2013-07-23T11:33:21Z"
_CREATED_AT = "2018-03-01T10:00:00Z"
_NOT_FOUND = "The resource could not be found."

#: A route's handler: ``(cloud, request, **placeholders) -> Response``.
Handler = Callable[..., Response]


@dataclass(frozen=True)
class Cloud:
    """What a handler answers from: the cloud's state, the faults in force and the server's URL."""

    state: CloudState
    faults: Faults
    base_url: str


class BadRequest(Exception):
    """A request parameter the service refuses (answered 400 in the form of the service's front)."""


def answer(handler: Handler, cloud: Cloud, request: Request, params: Mapping[str, str]) -> Response:
    """Call ``handler`` with the route's placeholders; an unknown region or a bad parameter is an error."""
    kwargs: dict[str, Any] = dict(params)
    if "region" in params:
        region = cloud.state.regions.get(params["region"])
        if region is None:
            return unknown_path(request)
        kwargs["region"] = region
    try:
        return handler(cloud, request, **kwargs)
    except BadRequest as exc:
        return _error(400, str(exc))


def unknown_path(request: Request) -> Response:
    """The answer for a path no service serves (the front door's 404)."""
    return _error(404, f"The resource could not be found: {request.path}")


# -- error forms -------------------------------------------------------------------------------
def _error(status: int, message: str, title: str | None = None) -> Response:
    """Keystone's error document (keystone/server/flask/application.py ``_handle_keystone_exception``),
    which keystonemiddleware's refusals in front of the other services share."""
    titles = {400: "Bad Request", 401: "Unauthorized", 403: "Forbidden", 404: "Not Found",
              405: "Method Not Allowed", 406: "Not Acceptable", 501: "Not Implemented"}
    return json_response({"error": {"code": status, "title": title or titles.get(status, "Error"),
                                    "message": message}}, status=status)


#: The names of Cinder's faults (cinder/api/openstack/wsgi.py ``Fault._fault_names``); Nova's add
#: 429 (nova/api/openstack/wsgi.py); any other status is a ``computeFault``.
CINDER_FAULT_NAMES = {400: "badRequest", 401: "unauthorized", 403: "forbidden", 404: "itemNotFound",
                      405: "badMethod", 409: "conflictingRequest", 413: "overLimit", 415: "badMediaType",
                      501: "notImplemented", 503: "serviceUnavailable"}
NOVA_FAULT_NAMES = {**CINDER_FAULT_NAMES, 429: "overLimit"}


def _fault(names: Mapping[int, str], status: int, message: str) -> Response:
    return json_response({names.get(status, "computeFault"): {"code": status, "message": message}}, status=status)


_WEBOB_OFFERS = ("text/html", "application/json")


def _webob_form(accept: str | None) -> str | None:
    """The form of a bare webob HTTP error (webob/exc.py ``generate_response``): of ``text/html``
    and ``application/json``, the one ``Accept`` takes at the highest quality (the first on a
    tie, each at the quality of its most specific range); ``None`` (plain text) for neither."""
    if not accept:
        return None
    ranges: list[tuple[str, str, float]] = []
    for part in accept.split(","):
        media, *params = (p.strip() for p in part.split(";"))
        kind, _, sub = media.lower().partition("/")
        quality = 1.0
        for param in params:
            key, _, value = param.partition("=")
            if key.strip().lower() == "q":
                try:
                    quality = float(value)
                except ValueError:
                    quality = 0.0
        ranges.append((kind, sub, quality))
    ranked: list[tuple[float, int, str]] = []
    for order, offer in enumerate(_WEBOB_OFFERS):
        kind, sub = offer.split("/")
        best: tuple[int, float] | None = None
        for rkind, rsub, quality in ranges:
            specificity = (3 if (rkind, rsub) == (kind, sub) else 2 if (rkind, rsub) == (kind, "*")
                           else 1 if (rkind, rsub) == ("*", "*") else 0)
            if specificity and (best is None or specificity > best[0]):
                best = (specificity, quality)
        if best is not None and best[1] > 0:
            ranked.append((-best[1], order, offer))
    return min(ranked)[2] if ranked else None


def _webob_error(request: Request, status: int, explanation: str | None = None,
                 headers: Mapping[str, str] | None = None) -> Response:
    """A bare webob HTTP error, as Glance answers every error and Glance's and Cinder's routers a
    path they do not take: JSON ``{"message", "code", "title"}``, HTML or plain text by
    ``Accept`` (webob/exc.py ``WSGIHTTPException``)."""
    phrase = http.HTTPStatus(status).phrase
    line = f"{status} {phrase}"
    if status == 405:  # HTTPMethodNotAllowed's own template
        text = f"The method {request.method} is not allowed for this resource. <br /><br />\n"
    else:
        text = f"{explanation or _NOT_FOUND}<br /><br />\n\n\n"
    form = _webob_form(request.headers.get("Accept"))
    if form == "application/json":
        return json_response({"message": text, "code": line, "title": phrase}, status=status, headers=headers)
    if form == "text/html":
        body = (f"<html>\n <head>\n  <title>{line}</title>\n </head>\n <body>\n  <h1>{line}</h1>\n  "
                f"{html.escape(text).replace('&lt;br /&gt;', '<br />')}\n </body>\n</html>")
        return Response(body, status=status, headers=dict(headers or {}), content_type="text/html; charset=UTF-8")
    plain = re.sub(r"<[^>]*>", "", re.sub(r"<br */?>", "\n", text.replace("\n", " ")))
    return Response(f"{line}\n\n{plain}", status=status, headers=dict(headers or {}),
                    content_type="text/plain; charset=UTF-8")


def _limit_param(request: Request) -> int | None:
    """``limit`` as Glance and Cinder read it (glance/api/v2/images.py ``_validate_limit``,
    cinder/api/common.py ``_get_limit_param``)."""
    value = request.args.get("limit")
    if value is None:
        return None
    try:
        limit = int(value)
    except ValueError:
        raise BadRequest("limit param must be an integer") from None
    if limit < 0:
        raise BadRequest("limit param must be positive")
    return limit


def _truthy(value: str | None) -> bool | None:
    if value is None or value.lower() in ("none", ""):
        return None
    return value.lower() in ("true", "1", "yes", "on")


def _token(cloud: Cloud, request: Request) -> Token | None:
    return cloud.state.token(request.headers.get("X-Auth-Token"))


def www_authenticate(base_url: str, path: str) -> str:
    """The ``WWW-Authenticate`` of a 401 for ``path``: Keystone names its own v3 base URL
    (keystone/server/flask/application.py, ``ks_flask.base_url()``), keystonemiddleware in front
    of the other services its ``www_authenticate_uri`` (the identity endpoint)."""
    identity = f"{base_url}/identity"
    return f'Keystone uri="{identity}/v3"' if path.startswith("/identity/v3") else f'Keystone uri="{identity}"'


def _unauthorized(cloud: Cloud, request: Request) -> Response:
    resp = _error(401, "The request you have made requires authentication.")
    resp.headers["WWW-Authenticate"] = www_authenticate(cloud.base_url, request.path)
    return resp


def authenticated(handler: Handler) -> Handler:
    """Answer 401 unless the request carries a live ``X-Auth-Token``."""
    @functools.wraps(handler)
    def checked(cloud: Cloud, request: Request, **params: Any) -> Response:
        if _token(cloud, request) is None:
            return _unauthorized(cloud, request)
        return handler(cloud, request, **params)
    return checked


def not_found(cloud: Cloud, request: Request, **params: Any) -> Response:
    """The services' 404 for a path under them that they do not serve."""
    return _error(404, _NOT_FOUND)


def method_not_allowed(cloud: Cloud, request: Request, **params: Any) -> Response:
    """The services' 405."""
    return _error(405, "Method not allowed")


@authenticated
def unserved(cloud: Cloud, request: Request, **params: Any) -> Response:
    """Behind the token, a service serving reads only: 405 for other methods, else 404."""
    return method_not_allowed(cloud, request) if request.method != "GET" else not_found(cloud, request)


def _next_query(request: Request, marker: str, limit: int) -> dict[str, str]:
    query = {k: v for k, v in request.args.items() if k not in ("marker", "limit")}
    query.update({"limit": str(limit), "marker": marker})
    return query


# -- Keystone ----------------------------------------------------------------------------------
def _keystone_version(cloud: Cloud) -> dict[str, Any]:
    return {"id": "v3.14", "status": "stable", "updated": "2020-04-07T00:00:00Z",
            "links": [{"rel": "self", "href": f"{cloud.base_url}/identity/v3/"}],
            "media-types": [{"base": "application/json",
                             "type": "application/vnd.openstack.identity-v3+json"}]}


def _keystone_v2_version(cloud: Cloud) -> dict[str, Any]:
    return {"id": "v2.0", "status": "deprecated", "updated": "2016-08-04T00:00:00Z",
            "links": [{"rel": "self", "href": f"{cloud.base_url}/identity/v2.0/"}],
            "media-types": [{"base": "application/json",
                             "type": "application/vnd.openstack.identity-v2.0+json"}]}


def _identity_versions(cloud: Cloud) -> list[dict[str, Any]]:
    served = cloud.state.fixture.identity_versions
    return [v(cloud) for name, v in (("v3", _keystone_version), ("v2.0", _keystone_v2_version)) if name in served]


def list_identity_versions(cloud: Cloud, request: Request) -> Response:
    """Keystone's unversioned discovery (300 Multiple Choices), the versions the fixture serves."""
    return json_response({"versions": {"values": _identity_versions(cloud)}}, status=300)


def identity_v3(handler: Handler) -> Handler:
    """Keystone v3, when the fixture serves it (the real Cloudwatt was v2.0-only)."""
    @functools.wraps(handler)
    def served(cloud: Cloud, request: Request, **params: Any) -> Response:
        if "v3" not in cloud.state.fixture.identity_versions:
            return not_found(cloud, request)
        return handler(cloud, request, **params)
    return served


def identity_v2(handler: Handler) -> Handler:
    """Keystone v2.0, when the fixture serves it."""
    @functools.wraps(handler)
    def served(cloud: Cloud, request: Request, **params: Any) -> Response:
        if "v2.0" not in cloud.state.fixture.identity_versions:
            return not_found(cloud, request)
        return handler(cloud, request, **params)
    return served


@identity_v3
def show_identity_version(cloud: Cloud, request: Request) -> Response:
    """Keystone v3's version document."""
    return json_response({"version": _keystone_version(cloud)})


def _password_user(cloud: Cloud, identity: Mapping[str, Any]) -> str | None:
    st = cloud.state
    u = (identity.get("password") or {}).get("user") or {}
    domain = u.get("domain") or {}
    domain_ok = (not domain or domain.get("name") == st.domain or domain.get("id") == st.domain_id) or "id" in u
    user = st.check_password(u.get("name"), u.get("id"), u.get("password"))
    return user if domain_ok else None


def _login(cloud: Cloud, identity: Mapping[str, Any]) -> tuple[str, str | None, str | None] | None:
    """``(method, user, application credential id)`` of the first method Keystone knows, else ``None``."""
    methods = identity.get("methods") or []
    st = cloud.state
    if "password" in methods:
        return "password", _password_user(cloud, identity), None
    if "application_credential" in methods:
        ac = identity.get("application_credential") or {}
        return ("application_credential", st.check_app_credential(ac.get("id"), ac.get("name"), ac.get("secret")),
                ac.get("id"))
    if "token" in methods:
        tok = st.token((identity.get("token") or {}).get("id"))
        return "token", tok.user_name if tok else None, None
    return None


def _scope_ok(cloud: Cloud, scope: Any) -> bool:
    """Whether a project scope names this cloud's project (any other scope is accepted)."""
    if not isinstance(scope, dict) or "project" not in scope:
        return True
    st = cloud.state
    p = scope["project"] or {}
    pdom = p.get("domain") or {}
    return bool(p.get("id") == st.project_id
                or (p.get("name") == st.project_name
                    and (pdom.get("name") == st.domain or pdom.get("id") == st.domain_id)))


@identity_v3
def issue_token(cloud: Cloud, request: Request) -> Response:
    """``POST /v3/auth/tokens``: password, application credential or token; project scope checked."""
    body = request.get_json(force=True, silent=True)
    if not isinstance(body, dict) or not isinstance(body.get("auth"), dict):
        return _error(400, "Expecting to find auth in request body.")
    auth = body["auth"]
    login = _login(cloud, auth.get("identity") or {})
    if login is None:
        return _error(400, "Expecting to find identity methods in request body.")
    method, user, cred_id = login
    if cloud.faults.fail_auth or user is None:
        return _unauthorized(cloud, request)
    if method != "application_credential" and not _scope_ok(cloud, auth.get("scope")):
        return _unauthorized(cloud, request)
    token = cloud.state.issue(user, method, cloud.faults.token_ttl, cred_id)
    return _token_response(cloud, token, status=201)


def validate_token(cloud: Cloud, request: Request) -> Response:
    """``GET``/``HEAD /v3/auth/tokens``: the ``X-Subject-Token``, seen by a caller with a token."""
    caller = _token(cloud, request)
    subject = cloud.state.token(request.headers.get("X-Subject-Token"))
    if caller is None:
        return _unauthorized(cloud, request)
    if subject is None:
        return _error(404, "Could not find token.")
    return _token_response(cloud, subject, status=200)


def _token_response(cloud: Cloud, token: Token, status: int) -> Response:
    st = cloud.state
    domain = {"id": st.domain_id, "name": st.domain}
    body: dict[str, Any] = {
        "methods": [token.method], "audit_ids": [uuid.uuid4().hex[:22]],
        "expires_at": token.expires_iso(), "issued_at": token.issued_iso(),
        "user": {"id": token.user_id, "name": token.user_name, "domain": domain,
                 "password_expires_at": None},
        "project": {"id": st.project_id, "name": st.project_name, "domain": domain},
        "is_domain": False,
        "roles": [{"id": uuid.uuid5(uuid.NAMESPACE_OID, r).hex, "name": r} for r in st.users[token.user_name].roles],
        "catalog": _catalog(cloud),
    }
    if token.app_credential_id:
        body["application_credential"] = {"id": token.app_credential_id, "name": "cloudcat",
                                          "restricted": True}
    resp = json_response({"token": body}, status=status)
    resp.headers["X-Subject-Token"] = token.value
    return resp


def _catalog(cloud: Cloud, identity_path: str = "/identity") -> list[dict[str, Any]]:
    base = cloud.base_url
    pid = cloud.state.project_id
    services: list[tuple[str, str, Callable[[str], str]]] = [
        ("identity", "keystone", lambda r: f"{base}{identity_path}"),
        ("compute", "nova", lambda r: f"{base}/{r}/compute/v2.1"),
        ("image", "glance", lambda r: f"{base}/{r}/image"),
        ("volumev3", "cinderv3", lambda r: f"{base}/{r}/volume/v3/{pid}"),
        ("block-storage", "cinder", lambda r: f"{base}/{r}/volume/v3/{pid}"),
        ("network", "neutron", lambda r: f"{base}/{r}/network"),
    ]
    if cloud.state.rating_prices is not None:
        services.append(("rating", "cloudkitty", lambda r: f"{base}/{r}/rating"))
    if cloud.state.fixture.ecs:
        # Huawei's native ECS API: https://ecs.{region}.{cloud}/v1/{project_id}/
        services.append(("ecs", "ecs", lambda r: f"{base}/{r}/ecs/v1/{pid}"))
    catalog = []
    for stype, name, url in services:
        endpoints = [{"id": uuid.uuid5(uuid.NAMESPACE_URL, f"{stype}/{r}/{iface}").hex, "interface": iface,
                      "region": r, "region_id": r, "url": url(r)}
                     for r in cloud.state.regions for iface in ("public", "internal", "admin")]
        catalog.append({"id": uuid.uuid5(uuid.NAMESPACE_URL, stype).hex, "type": stype, "name": name,
                        "endpoints": endpoints})
    return catalog


def _identity_links(cloud: Cloud, path: str) -> dict[str, Any]:
    return {"self": f"{cloud.base_url}/identity/v3/{path}", "previous": None, "next": None}


def _region(cloud: Cloud, region: RegionState) -> dict[str, Any]:
    return {"id": region.name, "description": region.description, "parent_region_id": None,
            "links": {"self": f"{cloud.base_url}/identity/v3/regions/{region.name}"}}


@authenticated
def list_regions(cloud: Cloud, request: Request) -> Response:
    """Keystone's regions."""
    return json_response({"regions": [_region(cloud, r) for r in cloud.state.regions.values()],
                          "links": _identity_links(cloud, "regions")})


@authenticated
def show_region(cloud: Cloud, request: Request, region_id: str) -> Response:
    """One Keystone region."""
    region = cloud.state.regions.get(region_id)
    if region is None:
        return _error(404, f"Could not find region: {region_id}.")
    return json_response({"region": _region(cloud, region)})


@authenticated
def show_catalog(cloud: Cloud, request: Request) -> Response:
    """The service catalog of the caller's token."""
    return json_response({"catalog": _catalog(cloud), "links": _identity_links(cloud, "auth/catalog")})


def _project(cloud: Cloud) -> dict[str, Any]:
    st = cloud.state
    return {"id": st.project_id, "name": st.project_name, "domain_id": st.domain_id,
            "enabled": True, "is_domain": False, "parent_id": st.domain_id, "description": "",
            "tags": [], "options": {}, "links": {"self": f"{cloud.base_url}/identity/v3/projects/{st.project_id}"}}


def _projects_answer(cloud: Cloud, request: Request, path: str) -> Response:
    project = _project(cloud)
    wanted = {k: request.args[k] for k in ("name", "domain_id", "id") if k in request.args}
    projects = [project] if all(project[k] == v for k, v in wanted.items()) else []
    return json_response({"projects": projects, "links": _identity_links(cloud, path)})


@authenticated
def list_auth_projects(cloud: Cloud, request: Request) -> Response:
    """``/v3/auth/projects``: the projects the caller's token may be scoped to (one), ``name``
    and ``domain_id`` filters; every user may ask it."""
    return _projects_answer(cloud, request, "auth/projects")


@authenticated
def list_projects(cloud: Cloud, request: Request) -> Response:
    """``/v3/projects``: every project, for an administrator; a project user's token is refused
    (identity:list_projects is ADMIN_OR_SYSTEM_READER_OR_DOMAIN_READER,
    keystone/common/policies/project.py)."""
    if not _caller_is_admin(cloud, request):
        return _forbidden_identity("identity:list_projects")
    return _projects_answer(cloud, request, "projects")


def _forbidden_identity(action: str) -> Response:
    return _error(403, f"You are not authorized to perform the requested action: {action}.")


@authenticated
def refuse_identity_write(cloud: Cloud, request: Request, action: str, **params: Any) -> Response:
    """A Keystone write whose policy is admin-only (``identity:create_region``…,
    keystone/common/policies/): 403 to a project user, checked before the body is read. The mock
    does not change Keystone: an administrator gets Keystone's 501."""
    if not _caller_is_admin(cloud, request):
        return _forbidden_identity(action)
    return _error(501, "The action you have requested has not been implemented.")


@authenticated
def show_project(cloud: Cloud, request: Request, project_id: str) -> Response:
    """The caller's project (another one is 403 to a project user, as Keystone's policy has it)."""
    if project_id != cloud.state.project_id:
        if _caller_is_admin(cloud, request):
            return _error(404, f"Could not find project: {project_id}.")
        return _forbidden_identity("identity:get_project")
    return json_response({"project": _project(cloud)})


@authenticated
def list_user_projects(cloud: Cloud, request: Request, user_id: str) -> Response:
    """``/users/{id}/projects``: a user lists their own projects (``--my-projects``)."""
    token = _token(cloud, request)
    assert token is not None  # @authenticated
    if user_id != token.user_id and not cloud.state.is_admin(token.user_name):
        return _forbidden_identity("identity:list_user_projects")
    if user_id not in cloud.state.user_ids.values():
        return _error(404, f"Could not find user: {user_id}.")
    return json_response({"projects": [_project(cloud)],
                          "links": _identity_links(cloud, f"users/{user_id}/projects")})


@authenticated
def identity_unserved(cloud: Cloud, request: Request, **params: Any) -> Response:
    """Keystone's 404 behind the token, whatever the method."""
    return not_found(cloud, request)


# -- Keystone v2.0 (the real Cloudwatt's only version; removed upstream in Queens) ----------------
@identity_v2
def show_identity_v2_version(cloud: Cloud, request: Request) -> Response:
    """Keystone v2.0's version document."""
    return json_response({"version": _keystone_v2_version(cloud)})


def _v2_login(cloud: Cloud, auth: Mapping[str, Any]) -> str | None:
    """The user of a v2.0 ``passwordCredentials`` or ``token`` body, else ``None``."""
    st = cloud.state
    creds = auth.get("passwordCredentials")
    if isinstance(creds, dict):
        return st.check_password(creds.get("username"), creds.get("userId"), creds.get("password"))
    token = auth.get("token")
    if isinstance(token, dict):
        tok = st.token(token.get("id"))
        return tok.user_name if tok else None
    return None


@identity_v2
def issue_v2_token(cloud: Cloud, request: Request) -> Response:
    """``POST /v2.0/tokens``: password or token, scoped by ``tenantName`` or ``tenantId``."""
    body = request.get_json(force=True, silent=True)
    if not isinstance(body, dict) or not isinstance(body.get("auth"), dict):
        return _error(400, "Expecting to find auth in request body.")
    auth = body["auth"]
    st = cloud.state
    user = _v2_login(cloud, auth)
    tenant_ok = (auth.get("tenantName") in (None, st.project_name)
                 and auth.get("tenantId") in (None, st.project_id))
    if cloud.faults.fail_auth or user is None or not tenant_ok:
        return _unauthorized(cloud, request)
    token = st.issue(user, "password", cloud.faults.token_ttl)
    scoped = "tenantName" in auth or "tenantId" in auth
    return json_response({"access": _v2_access(cloud, token, scoped)})


def _v2_access(cloud: Cloud, token: Token, scoped: bool) -> dict[str, Any]:
    st = cloud.state
    tenant = {"id": st.project_id, "name": st.project_name, "description": "", "enabled": True}
    roles = [{"name": r} for r in st.users[token.user_name].roles]
    access: dict[str, Any] = {
        "token": {"id": token.value, "issued_at": token.issued_iso(), "expires": token.expires_iso(),
                  "audit_ids": [uuid.uuid4().hex[:22]]},
        "user": {"id": token.user_id, "name": token.user_name, "username": token.user_name,
                 "roles": roles if scoped else [], "roles_links": []},
        "serviceCatalog": [], "metadata": {"is_admin": 0, "roles": []},
    }
    if scoped:
        access["token"]["tenant"] = tenant
        access["serviceCatalog"] = [
            {"type": svc["type"], "name": svc["name"], "endpoints_links": [],
             "endpoints": [{"id": uuid.uuid5(uuid.NAMESPACE_URL, f"{svc['type']}/{region}").hex, "region": region,
                            **{f"{e['interface']}URL": e["url"] for e in svc["endpoints"] if e["region"] == region}}
                           for region in st.regions]}
            for svc in _catalog(cloud, identity_path="/identity/v2.0")]
    return access


@identity_v2
@authenticated
def list_v2_tenants(cloud: Cloud, request: Request) -> Response:
    """``GET /v2.0/tenants``: the token's tenants (one)."""
    st = cloud.state
    return json_response({"tenants": [{"id": st.project_id, "name": st.project_name, "description": "",
                                       "enabled": True}], "tenants_links": []})


# -- Nova --------------------------------------------------------------------------------------
Microversion = tuple[int, int]


def _nova_error(status: int, message: str) -> Response:
    """Nova's fault document (nova/api/openstack/wsgi.py ``Fault``): ``{name: {"code", "message"}}``."""
    return _fault(NOVA_FAULT_NAMES, status, message)


def _nova_version_headers(resp: Response, text: str) -> Response:
    """The negotiated microversion, echoed as Nova echoes it on answers and faults alike."""
    resp.headers["OpenStack-API-Version"] = f"compute {text}"
    resp.headers["X-OpenStack-Nova-API-Version"] = text
    resp.headers["Vary"] = "OpenStack-API-Version, X-OpenStack-Nova-API-Version"
    return resp


def _nova_version(cloud: Cloud, region: RegionState) -> dict[str, Any]:
    mx, mn = NOVA_MAX_MICROVERSION, NOVA_MIN_MICROVERSION
    return {"id": "v2.1", "status": "CURRENT", "version": f"{mx[0]}.{mx[1]}",
            "min_version": f"{mn[0]}.{mn[1]}", "updated": _UPDATED,
            "links": [{"rel": "self", "href": f"{cloud.base_url}/{region.name}/compute/v2.1/"},
                      {"rel": "describedby", "type": "text/html", "href": "https://docs.openstack.org/"}],
            "media-types": [{"base": "application/json",
                             "type": "application/vnd.openstack.compute+json;version=2.1"}]}


def list_compute_versions(cloud: Cloud, request: Request, region: RegionState) -> Response:
    """Nova's version list."""
    version = {k: v for k, v in _nova_version(cloud, region).items() if k != "media-types"}
    return json_response({"versions": [version]})


def show_compute_version(cloud: Cloud, request: Request, region: RegionState) -> Response:
    """Nova v2.1's version document (microversion range)."""
    return json_response({"version": _nova_version(cloud, region)})


def compute_not_found(cloud: Cloud, request: Request, **params: Any) -> Response:
    """Nova's 404 outside ``v2.1``."""
    return _nova_error(404, _NOT_FOUND)


def _requested_microversion(request: Request) -> str | None:
    header = request.headers.get("OpenStack-API-Version", "")
    wanted: str | None = None
    for part in header.split(","):
        bits = part.strip().split(None, 1)
        if len(bits) == 2 and bits[0].lower() == "compute":
            wanted = bits[1]
    return wanted if wanted is not None else request.headers.get("X-OpenStack-Nova-API-Version")


def _microversion(request: Request) -> Microversion | Response:
    wanted = _requested_microversion(request)
    if not wanted:
        return NOVA_MIN_MICROVERSION
    if wanted.strip().lower() == "latest":
        return NOVA_MAX_MICROVERSION
    found = re.fullmatch(r"\s*(\d+)\.(\d+)\s*", wanted)
    if found is None:
        return _nova_error(400, f"Invalid API version request string: {wanted}")
    version = (int(found[1]), int(found[2]))
    if not NOVA_MIN_MICROVERSION <= version <= NOVA_MAX_MICROVERSION:
        # the request's version is set before it is checked, so the fault echoes it
        # (nova/api/openstack/wsgi.py Request.set_api_version_request, Fault.__call__)
        mn, mx = NOVA_MIN_MICROVERSION, NOVA_MAX_MICROVERSION
        text = f"{version[0]}.{version[1]}"
        return _nova_version_headers(_nova_error(406, f"Version {text} is not supported by the API. Minimum is "
                                                      f"{mn[0]}.{mn[1]} and maximum is {mx[0]}.{mx[1]}."), text)
    return version


def compute_api(handler: Handler) -> Handler:
    """Nova's front: a token, then a supported microversion (passed on as ``mv``), echoed in the
    headers of the answer or fault; a refused parameter is Nova's ``badRequest``."""
    @functools.wraps(handler)
    def negotiated(cloud: Cloud, request: Request, **params: Any) -> Response:
        if _token(cloud, request) is None:
            return _unauthorized(cloud, request)
        mv = _microversion(request)
        if isinstance(mv, Response):
            return mv
        try:
            resp = handler(cloud, request, mv=mv, **params)
        except BadRequest as exc:
            resp = _nova_error(400, str(exc))
        return _nova_version_headers(resp, f"{mv[0]}.{mv[1]}")
    return negotiated


def _nova_forbidden(policy: str) -> Response:
    """Nova's 403 for a rule its policy keeps from the caller (nova/exception.py PolicyNotAuthorized)."""
    return _nova_error(403, f"Policy doesn't allow {policy} to be performed.")


@compute_api
def compute_unserved(cloud: Cloud, request: Request, mv: Microversion, **params: Any) -> Response:
    """Paths and methods the mock does not serve: 404 for a read; for a write, the mock's 405
    (Nova itself routes no 405: a write the mock does not model is refused, not performed)."""
    if request.method != "GET":
        return _nova_error(405, "Method not allowed")
    return _nova_error(404, _NOT_FOUND)


def _flavor(cloud: Cloud, region: RegionState, f: Mapping[str, Any], detail: bool,
            mv: Microversion) -> dict[str, Any]:
    href = f"{cloud.base_url}/{region.name}/compute/v2.1/flavors/{f['id']}"
    out: dict[str, Any] = {"id": f["id"], "name": f["name"],
                           "links": [{"rel": "self", "href": href},
                                     {"rel": "bookmark", "href": href.replace("/v2.1", "")}]}
    if mv >= (2, 55):
        out["description"] = f["description"]
    if not detail:
        return out
    out.update({"ram": f["ram"], "vcpus": f["vcpus"], "disk": f["disk"],
                "OS-FLV-EXT-DATA:ephemeral": f["ephemeral"], "OS-FLV-DISABLED:disabled": f["disabled"],
                "os-flavor-access:is_public": f["is_public"]})
    # 2.75 makes swap 0 instead of ""; rxtx_factor stays at every microversion
    # (nova/api/openstack/compute/views/flavors.py)
    out["swap"] = f["swap"] if mv >= (2, 75) else (f["swap"] or "")
    out["rxtx_factor"] = f["rxtx_factor"]
    if mv >= (2, 61):
        out["extra_specs"] = dict(f["extra_specs"])
    return out


@dataclass(frozen=True)
class _FlavorQuery:
    """What a flavor listing depends on: Nova's filters and order, validated.

    ``public``: ``True`` for public flavors and those ``project`` has access to, ``False`` for
    private ones, ``None`` for all; ``enabled_only`` drops disabled flavors (a project user's view).
    """

    public: bool | None
    project: str
    enabled_only: bool
    min_ram: int | None
    min_disk: int | None
    sort_key: str
    sort_dir: str


#: Nova's flavor ``sort_key`` values (nova/api/openstack/compute/schemas/flavors.py VALID_SORT_KEYS)
#: and the mock's field for each; ``None``: a column the mock keeps in listing (creation) order
_FLAVOR_SORT_KEYS: dict[str, str | None] = {
    "created_at": None, "description": "description", "disabled": "disabled", "ephemeral_gb": "ephemeral",
    "flavorid": "id", "id": None, "is_public": "is_public", "memory_mb": "ram", "name": "name",
    "root_gb": "disk", "rxtx_factor": "rxtx_factor", "swap": "swap", "updated_at": None,
    "vcpu_weight": None, "vcpus": "vcpus"}
#: The query parameters of Nova's flavor listings (schemas/flavors.py ``index_query``); from
#: microversion 2.75 any other is refused (``index_query_v275``: no additional properties)
_FLAVOR_QUERY_PARAMS = ("limit", "marker", "is_public", "minRam", "minDisk", "sort_key", "sort_dir")
_NOVA_TRUE = ("1", "t", "true", "on", "y", "yes")
_NOVA_FALSE = ("0", "f", "false", "off", "n", "no")


def _check_flavor_query_schema(request: Request, mv: Microversion) -> None:
    """Nova's JSON-schema check of a flavor listing's query, in the words of
    nova/api/validation/validators.py (``Invalid input for query parameters …``)."""
    for value in request.args.getlist("limit"):  # parameter_types.non_negative_integer
        if not re.fullmatch(r"[0-9]*", value):
            raise BadRequest(f"Invalid input for query parameters limit. Value: {value}. "
                             f"{value!r} does not match '^[0-9]*$'")
        if not value:
            raise BadRequest("Invalid input for query parameters limit. Value: . '' should be non-empty")
    for name, allowed in (("sort_key", list(_FLAVOR_SORT_KEYS)), ("sort_dir", ["asc", "desc"])):
        for value in request.args.getlist(name):
            if value not in allowed:
                raise BadRequest(f"Invalid input for query parameters {name}. Value: {value}. "
                                 f"{value!r} is not one of {allowed!r}")
    if mv >= (2, 75):
        extra = sorted(k for k in request.args if k not in _FLAVOR_QUERY_PARAMS)
        if extra:
            raise BadRequest(f"Additional properties are not allowed ({', '.join(repr(k) for k in extra)} "
                             f"{'was' if len(extra) == 1 else 'were'} unexpected)")


def _last(request: Request, name: str) -> str | None:
    """A query parameter as webob's ``req.params.get`` reads it: its last value."""
    values = request.args.getlist(name)
    return values[-1] if values else None


def _nova_int_filter(request: Request, name: str) -> int | None:
    value = _last(request, name)
    if value is None:
        return None
    try:
        return int(value)
    except ValueError:
        raise BadRequest(f"Invalid {name} filter [{value}]") from None


def _flavor_query(cloud: Cloud, request: Request, mv: Microversion) -> _FlavorQuery:
    """The request's flavor filters and order (nova/api/openstack/compute/flavors.py
    ``_get_flavors``): an administrator's ``is_public`` is read; a project user's is ignored, and
    they see the enabled public flavors plus the private ones their project has access to."""
    _check_flavor_query_schema(request, mv)
    admin = _caller_is_admin(cloud, request)
    public: bool | None = True
    is_public = _last(request, "is_public")
    if admin and is_public is not None:
        if is_public.lower() in ("none", "null"):  # nova/utils.py is_none_string
            public = None
        elif is_public.lower() in _NOVA_TRUE + _NOVA_FALSE:
            public = is_public.lower() in _NOVA_TRUE
        else:
            raise BadRequest(f"Invalid is_public filter [{is_public}]")
    return _FlavorQuery(public, cloud.state.project_id, not admin, _nova_int_filter(request, "minRam"),
                        _nova_int_filter(request, "minDisk"), _last(request, "sort_key") or "flavorid",
                        _last(request, "sort_dir") or "asc")


def _has_access(flavor: Mapping[str, Any], project: str) -> bool:
    """Whether ``project`` sees ``flavor`` without being an administrator: a public flavor, or a
    private one the project was given access to (nova/objects/flavor.py ``_flavor_get_query_from_db``)."""
    return bool(flavor["is_public"]) or project in flavor.get("projects", ())


def _filtered_flavors(query: _FlavorQuery, flavors: list[dict[str, Any]]) -> list[dict[str, Any]]:
    # nova/objects/flavor.py _flavor_get_all_from_db
    if query.public is True:
        flavors = [f for f in flavors if _has_access(f, query.project)]
    elif query.public is False:
        flavors = [f for f in flavors if not f["is_public"]]
    if query.enabled_only:
        flavors = [f for f in flavors if not f["disabled"]]
    if query.min_ram is not None:
        flavors = [f for f in flavors if f["ram"] >= query.min_ram]
    if query.min_disk is not None:
        flavors = [f for f in flavors if f["disk"] >= query.min_disk]
    return flavors


def _flavor_listing(query: _FlavorQuery, flavors: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Nova's flavor listing: filtered, then in ``sort_key`` (default ``flavorid``) and
    ``sort_dir`` (default ``asc``) order."""
    flavors = _filtered_flavors(query, flavors)
    column = _FLAVOR_SORT_KEYS[query.sort_key]
    if column is None:
        return flavors if query.sort_dir == "asc" else flavors[::-1]
    return sort_items(flavors, [(column, query.sort_dir)])


def _flavor_list(cloud: Cloud, request: Request, region: RegionState, *, detail: bool,
                 mv: Microversion) -> Response:
    wanted = _flavor_query(cloud, request, mv)
    flavors = region.listing("flavors", wanted, functools.partial(_flavor_listing, wanted))
    limit_text = _last(request, "limit")
    limit = int(limit_text) if limit_text else None
    marker = _last(request, "marker")
    cap = cloud.faults.page_limit or NOVA_MAX_LIMIT
    chunk, effective, found = page(flavors, marker=marker, limit=limit, cap=cap)
    if not found:
        return _nova_error(400, f"marker [{marker}] not found")
    body: dict[str, Any] = {"flavors": [_flavor(cloud, region, f, detail, mv) for f in chunk]}
    if chunk and effective and len(chunk) == effective:
        path = "flavors/detail" if detail else "flavors"
        query = _next_query(request, chunk[-1]["id"], effective)
        body["flavors_links"] = [{"rel": "next", "href":
                                  f"{cloud.base_url}/{region.name}/compute/v2.1/{path}?{urlencode(query)}"}]
    return json_response(body)


@compute_api
def list_flavors(cloud: Cloud, request: Request, region: RegionState, mv: Microversion) -> Response:
    """Flavors, id and name only (``is_public`` for administrators, ``minRam``, ``minDisk``,
    ``sort_key``/``sort_dir``, marker paging)."""
    return _flavor_list(cloud, request, region, detail=False, mv=mv)


@compute_api
def list_flavors_detail(cloud: Cloud, request: Request, region: RegionState, mv: Microversion) -> Response:
    """Flavors in full; ``extra_specs`` inline from microversion 2.61."""
    return _flavor_list(cloud, request, region, detail=True, mv=mv)


def _find_flavor(cloud: Cloud, request: Request, region: RegionState, flavor_id: str) -> dict[str, Any] | Response:
    """The flavor as the caller may see it: every one for an administrator, else a public one or
    one its project has access to; 404 otherwise."""
    admin = _caller_is_admin(cloud, request)
    flavor = next((f for f in region.flavors if f["id"] == flavor_id
                   and (admin or _has_access(f, cloud.state.project_id))), None)
    return flavor if flavor is not None else _nova_error(404, f"Flavor {flavor_id} could not be found.")


@compute_api
def show_flavor(cloud: Cloud, request: Request, region: RegionState, flavor_id: str, mv: Microversion) -> Response:
    """One flavor in full."""
    flavor = _find_flavor(cloud, request, region, flavor_id)
    if isinstance(flavor, Response):
        return flavor
    return json_response({"flavor": _flavor(cloud, region, flavor, True, mv)})


@compute_api
def delete_flavor(cloud: Cloud, request: Request, region: RegionState, flavor_id: str, mv: Microversion) -> Response:
    """``DELETE /flavors/{id}``: the policy first (os_compute_api:os-flavor-manage:delete is
    admin-only: 403 to a project user), then 404 for an unknown flavor; 202 when deleted."""
    if not _caller_is_admin(cloud, request):
        return _nova_forbidden("os_compute_api:os-flavor-manage:delete")
    flavor = _find_flavor(cloud, request, region, flavor_id)
    if isinstance(flavor, Response):
        return flavor
    cloud.state.remove_flavor(region.name, flavor_id)
    return Response(status=202)


@compute_api
def list_extra_specs(cloud: Cloud, request: Request, region: RegionState, flavor_id: str,
                     mv: Microversion) -> Response:
    """A flavor's extra specs."""
    flavor = _find_flavor(cloud, request, region, flavor_id)
    if isinstance(flavor, Response):
        return flavor
    return json_response({"extra_specs": dict(flavor["extra_specs"])})


@compute_api
def show_extra_spec(cloud: Cloud, request: Request, region: RegionState, flavor_id: str, key: str,
                    mv: Microversion) -> Response:
    """One extra spec of a flavor."""
    flavor = _find_flavor(cloud, request, region, flavor_id)
    if isinstance(flavor, Response):
        return flavor
    if key not in flavor["extra_specs"]:
        return _nova_error(404, f"Flavor {flavor['id']} has no extra specs with key {key}.")
    return json_response({key: flavor["extra_specs"][key]})


def _compute_zones(region: RegionState, detail: bool) -> Response:
    zones = [{"zoneName": z, "zoneState": {"available": z not in region.unavailable_zones},
              "hosts": {} if detail else None} for z in region.zones]
    return json_response({"availabilityZoneInfo": zones})


@compute_api
def list_compute_zones(cloud: Cloud, request: Request, region: RegionState, mv: Microversion) -> Response:
    """Compute availability zones."""
    return _compute_zones(region, detail=False)


@compute_api
def list_compute_zones_detail(cloud: Cloud, request: Request, region: RegionState, mv: Microversion) -> Response:
    """Compute availability zones, with (no) hosts: for administrators only
    (os_compute_api:os-availability-zone:detail is ``base.ADMIN``, nova/policies/availability_zone.py)."""
    if not _caller_is_admin(cloud, request):
        return _nova_forbidden("os_compute_api:os-availability-zone:detail")
    return _compute_zones(region, detail=True)


# A new project's resources: nothing yet. Nova's listings of what a project owns answer an empty
# list (not 404), so a test can check "no servers yet".
@compute_api
def list_servers(cloud: Cloud, request: Request, region: RegionState, mv: Microversion) -> Response:
    """``/servers`` and ``/servers/detail``: the project has none."""
    return json_response({"servers": []})


@compute_api
def list_keypairs(cloud: Cloud, request: Request, region: RegionState, mv: Microversion) -> Response:
    """``/os-keypairs``: the user has none."""
    return json_response({"keypairs": []})


# Nova's default quotas (nova/conf/quota.py) and the microversions that drop keys: 2.36 the
# network proxies' quotas, 2.57 personality files (api-ref "Show Rate And Absolute Limits",
# "Quota Sets").
_NOVA_QUOTAS: dict[str, int] = {
    "instances": 10, "cores": 20, "ram": 51200, "metadata_items": 128, "key_pairs": 100,
    "server_groups": 10, "server_group_members": 10, "injected_files": 5,
    "injected_file_content_bytes": 10240, "injected_file_path_bytes": 255,
    "floating_ips": 10, "fixed_ips": -1, "security_groups": 10, "security_group_rules": 20,
}
_NOVA_NETWORK_QUOTAS = ("floating_ips", "fixed_ips", "security_groups", "security_group_rules")
_NOVA_FILE_QUOTAS = ("injected_files", "injected_file_content_bytes", "injected_file_path_bytes")


def _nova_quotas(mv: Microversion) -> dict[str, int]:
    dropped = (_NOVA_NETWORK_QUOTAS if mv >= (2, 36) else ()) + (_NOVA_FILE_QUOTAS if mv >= (2, 57) else ())
    return {k: v for k, v in _NOVA_QUOTAS.items() if k not in dropped}


@compute_api
def show_limits(cloud: Cloud, request: Request, region: RegionState, mv: Microversion) -> Response:
    """``/limits``: the default quotas as absolute limits, nothing used."""
    q = _nova_quotas(mv)
    names = {"instances": "maxTotalInstances", "cores": "maxTotalCores", "ram": "maxTotalRAMSize",
             "metadata_items": "maxServerMeta", "key_pairs": "maxTotalKeypairs", "server_groups": "maxServerGroups",
             "server_group_members": "maxServerGroupMembers", "injected_files": "maxPersonality",
             "injected_file_content_bytes": "maxPersonalitySize", "floating_ips": "maxTotalFloatingIps",
             "security_groups": "maxSecurityGroups", "security_group_rules": "maxSecurityGroupRules"}
    absolute: dict[str, int] = {name: q[key] for key, name in names.items() if key in q}
    if mv < (2, 39):  # 2.39 drops the image-metadata proxy's quota (compute/limits.py max_image_meta)
        absolute["maxImageMeta"] = q["metadata_items"]
    used = ["totalInstancesUsed", "totalCoresUsed", "totalRAMUsed", "totalServerGroupsUsed"]
    if mv < (2, 36):
        used += ["totalFloatingIpsUsed", "totalSecurityGroupsUsed"]
    absolute.update(dict.fromkeys(used, 0))
    return json_response({"limits": {"rate": [], "absolute": absolute}})


def _own_project(cloud: Cloud, request: Request, project_id: str) -> bool:
    """Whether a project user may read ``project_id``'s quotas (its own; an admin any)."""
    token = _token(cloud, request)
    return project_id == cloud.state.project_id or (token is not None and cloud.state.is_admin(token.user_name))


@compute_api
def show_compute_quotas(cloud: Cloud, request: Request, region: RegionState, project_id: str,
                        mv: Microversion, view: str = "") -> Response:
    """``/os-quota-sets/{project}`` (``/defaults``, ``/detail``): the default quotas, nothing used."""
    if not _own_project(cloud, request, project_id):
        return _nova_forbidden("os_compute_api:os-quota-sets:show")
    quotas: dict[str, Any] = dict(_nova_quotas(mv))
    if view == "detail":
        quotas = {k: {"limit": v, "in_use": 0, "reserved": 0} for k, v in quotas.items()}
    return json_response({"quota_set": {"id": project_id, **quotas}})


def below_2_36(handler: Handler) -> Handler:
    """Nova's proxies to Glance and Neutron exist below microversion 2.36 only (404 from it on)."""
    @functools.wraps(handler)
    def proxied(cloud: Cloud, request: Request, mv: Microversion, **params: Any) -> Response:
        if mv >= (2, 36):
            return _nova_error(404, _NOT_FOUND)
        return handler(cloud, request, mv=mv, **params)
    return proxied


def _proxied_image(cloud: Cloud, region: RegionState, image: Mapping[str, Any], detail: bool) -> dict[str, Any]:
    href = f"{cloud.base_url}/{region.name}/compute/v2.1/images/{image['id']}"
    out: dict[str, Any] = {"id": image["id"], "name": image["name"],
                           "links": [{"rel": "self", "href": href},
                                     {"rel": "bookmark", "href": href.replace("/v2.1", "")},
                                     {"rel": "alternate", "type": "application/vnd.openstack.image",
                                      "href": f"{cloud.base_url}/{region.name}/image/images/{image['id']}"}]}
    if detail:
        # nova/api/openstack/compute/views/images.py: Glance's fields under Nova's names
        metadata = {k: str(v) for k, v in image.items() if k not in _GLANCE_CORE and v is not None}
        out.update({"status": str(image["status"]).upper(), "progress": 100 if image["status"] == "active" else 0,
                    "minDisk": image["min_disk"], "minRam": image["min_ram"], "created": image["created_at"],
                    "updated": image["updated_at"], "metadata": metadata,
                    "OS-EXT-IMG-SIZE:size": image["size"]})
    return out


@compute_api
@below_2_36
def list_proxied_images(cloud: Cloud, request: Request, region: RegionState, mv: Microversion,
                        detail: str = "") -> Response:
    """``/images`` and ``/images/detail``: Glance's images as Nova showed them (below 2.36)."""
    images = [i for i in cloud.state.visible_images(region) if i["visibility"] != "community"]
    return json_response({"images": [_proxied_image(cloud, region, i, bool(detail)) for i in images]})


@compute_api
@below_2_36
def show_proxied_image(cloud: Cloud, request: Request, region: RegionState, image_id: str,
                       mv: Microversion) -> Response:
    """``/images/{id}`` (below 2.36)."""
    image = next((i for i in cloud.state.visible_images(region) if i["id"] == image_id), None)
    if image is None:
        return _nova_error(404, "Image not found.")
    return json_response({"image": _proxied_image(cloud, region, image, True)})


def _proxied_network(net: Mapping[str, Any]) -> dict[str, Any]:
    # nova/api/openstack/compute/networks.py network_dict: a project user's fields, from Neutron
    fields = ("cidr", "netmask", "gateway", "broadcast", "dns1", "dns2", "cidr_v6", "gateway_v6", "netmask_v6")
    return {"id": net["id"], "label": net["name"], **dict.fromkeys(fields)}


@compute_api
@below_2_36
def list_proxied_networks(cloud: Cloud, request: Request, region: RegionState, mv: Microversion) -> Response:
    """``/os-networks``: Neutron's networks the project sees, as Nova showed them (below 2.36)."""
    nets = [n for n in region.networks if n["shared"] or n["project_id"] == cloud.state.project_id]
    return json_response({"networks": [_proxied_network(n) for n in nets]})


@compute_api
@below_2_36
def list_proxied_security_groups(cloud: Cloud, request: Request, region: RegionState,
                                 mv: Microversion) -> Response:
    """``/os-security-groups``: the project's default group, as Nova showed it (below 2.36)."""
    group = _default_security_group(cloud)
    rules = [{"id": r["id"], "parent_group_id": group["id"], "ip_protocol": None, "from_port": None,
              "to_port": None, "group": {"name": "default", "tenant_id": cloud.state.project_id}, "ip_range": {}}
             for r in group["security_group_rules"] if r["direction"] == "ingress"]
    return json_response({"security_groups": [{"id": group["id"], "name": "default",
                                               "description": group["description"],
                                               "tenant_id": cloud.state.project_id, "rules": rules}]})


@compute_api
@below_2_36
def list_proxied_volumes(cloud: Cloud, request: Request, region: RegionState, mv: Microversion) -> Response:
    """``/os-volumes`` (and ``/detail``): the project has none (below 2.36)."""
    return json_response({"volumes": []})


# -- Huawei ECS v1 (Flexible Engine) -------------------------------------------------------------
_ECS_ORDERABLE = ("normal", "obt", "promotion")


def _ecs_error(status: int, code: str, message: str) -> Response:
    return json_response({"error": {"code": code, "message": message}}, status=status)


def ecs_api(handler: Handler) -> Handler:
    """ECS v1's front: served for fixtures with ``ecs: true``; this project; a token."""
    @functools.wraps(handler)
    def checked(cloud: Cloud, request: Request, project: str, **params: Any) -> Response:
        if not cloud.state.fixture.ecs:
            return not_found(cloud, request)
        if _token(cloud, request) is None:
            return _unauthorized(cloud, request)
        if project != cloud.state.project_id:
            return _ecs_error(403, "Ecs.0001", "project id in the path is not the token's project")
        return handler(cloud, request, **params)
    return checked


def _ecs_state_in(specs: Mapping[str, str], zone: str) -> str:
    """A flavor's Huawei sale state in ``zone``: its entry in ``cond:operation:az``, else the
    flavor-level ``cond:operation:status`` (``normal`` without either)."""
    for part in specs.get("cond:operation:az", "").split(","):
        name, _, rest = part.strip().partition("(")
        if name == zone and rest.endswith(")"):
            return rest[:-1].strip().lower()
    return specs.get("cond:operation:status", "normal").strip().lower()


def _ecs_flavor(cloud: Cloud, region: RegionState, f: Mapping[str, Any]) -> dict[str, Any]:
    # field names and types from Huawei's "Querying Details About Flavors and Extended Flavor
    # Information" (vcpus and disk are strings there) and golangsdk's ecs/v1/flavors
    href = f"{cloud.base_url}/{region.name}/ecs/v1/{cloud.state.project_id}/flavors/{f['id']}"
    return {"id": f["id"], "name": f["name"], "vcpus": str(f["vcpus"]), "ram": f["ram"], "disk": str(f["disk"]),
            "swap": str(f["swap"] or ""), "links": [{"rel": "self", "href": href, "type": None},
                                                   {"rel": "bookmark", "href": href, "type": None}],
            "OS-FLV-EXT-DATA:ephemeral": f["ephemeral"], "rxtx_factor": f["rxtx_factor"],
            "OS-FLV-DISABLED:disabled": f["disabled"], "rxtx_quota": None, "rxtx_cap": None,
            "os-flavor-access:is_public": f["is_public"], "os_extra_specs": dict(f["os_extra_specs"]),
            "attachableQuantity": {"free_scsi": 60, "free_blk": 24, "free_disk": 84, "free_nic": 12}}


@ecs_api
def list_ecs_flavors(cloud: Cloud, request: Request, region: RegionState) -> Response:
    """``GET /v1/{project_id}/cloudservers/flavors``: every flavor with its ``os_extra_specs``;
    with ``availability_zone``, only those in ``normal``, ``obt`` or ``promotion`` state there."""
    flavors = [f for f in region.flavors if f["is_public"]]
    zone = request.args.get("availability_zone")
    if zone:
        flavors = [f for f in flavors if _ecs_state_in(f["os_extra_specs"], zone) in _ECS_ORDERABLE]
    return json_response({"flavors": [_ecs_flavor(cloud, region, f) for f in flavors]})


@ecs_api
def ecs_unserved(cloud: Cloud, request: Request, **params: Any) -> Response:
    """ECS v1 paths the mock does not serve."""
    return _ecs_error(404, "Ecs.0114", _NOT_FOUND)


# -- Glance ------------------------------------------------------------------------------------
def _image_versions(cloud: Cloud, region: RegionState) -> list[dict[str, Any]]:
    href = f"{cloud.base_url}/{region.name}/image"
    return [{"id": v, "status": "CURRENT" if v == "v2.9" else "SUPPORTED",
             "links": [{"rel": "self", "href": f"{href}/v2/"}]}
            for v in ("v2.9", "v2.8", "v2.7", "v2.6", "v2.5", "v2.4", "v2.3", "v2.2", "v2.1", "v2.0")]


def discover_image_versions(cloud: Cloud, request: Request, region: RegionState) -> Response:
    """Glance's unversioned discovery (300 Multiple Choices)."""
    return json_response({"versions": _image_versions(cloud, region)}, status=300)


def list_image_versions(cloud: Cloud, request: Request, region: RegionState) -> Response:
    """Glance's ``/versions``."""
    return json_response({"versions": _image_versions(cloud, region)})


def image_api(handler: Handler) -> Handler:
    """Glance's front: a token (keystonemiddleware's 401), then Glance's own errors, every one a
    bare webob error (glance/common/wsgi.py ``Resource``: webob's JSON, HTML or plain text)."""
    return _refusing(handler, lambda request, message: _webob_error(request, 400, message))


def _refusing(handler: Handler, refused: Callable[[Request, str], Response]) -> Handler:
    """``handler`` behind a token check (keystonemiddleware's 401), a parameter it refuses
    answered by ``refused`` (the request and the message)."""
    @authenticated
    @functools.wraps(handler)
    def served(cloud: Cloud, request: Request, **params: Any) -> Response:
        try:
            return handler(cloud, request, **params)
        except BadRequest as exc:
            return refused(request, str(exc))
    return served


def routes_not_found(cloud: Cloud, request: Request, **params: Any) -> Response:
    """A path Glance's or Cinder's router does not take: webob's 404 (their ``Router._dispatch``)."""
    return _webob_error(request, 404)


@image_api
def image_unserved(cloud: Cloud, request: Request, **params: Any) -> Response:
    """Behind the token, what the mock does not serve: webob's 404 for a read; for a write,
    Glance's 405 (its RejectMethodController form, with ``Allow``): the mock changes no image."""
    if request.method in ("GET", "HEAD"):
        return _webob_error(request, 404)
    return _webob_error(request, 405, headers={"Allow": "GET"})


def _image_body(image: Mapping[str, Any]) -> dict[str, Any]:
    out = dict(image)
    out["self"] = f"/v2/images/{image['id']}"
    out["file"] = f"/v2/images/{image['id']}/file"
    out["schema"] = "/v2/schemas/image"
    return out


#: Glance's list filters the mock applies (besides ``visibility``)
_IMAGE_FILTERS = ("name", "status", "os_distro", "os_version")


@dataclass(frozen=True)
class _ImageQuery:
    """What an image listing depends on: the visibility asked, the other filters and the order."""

    visibility: str | None
    filters: tuple[tuple[str, str], ...]
    order: tuple[tuple[str, str], ...]


def _image_query(request: Request) -> _ImageQuery:
    """The request's image filters and order; :class:`BadRequest` for a sort Glance refuses."""
    order = tuple(_image_order(request))
    filters = tuple((key, request.args[key]) for key in _IMAGE_FILTERS if request.args.get(key))
    return _ImageQuery(request.args.get("visibility") or None, filters, order)


def _image_listing(state: CloudState, query: _ImageQuery, images: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Glance's listing: the images the project sees, filtered, in the asked order."""
    visible = [i for i in images if state.sees_image(i)]
    if query.visibility and query.visibility != "all":
        visible = [i for i in visible if i["visibility"] == query.visibility]
    elif not query.visibility:
        visible = [i for i in visible if i["visibility"] != "community"]
    for key, wanted in query.filters:
        visible = [i for i in visible if str(i.get(key)) == wanted]
    return sort_items(visible, query.order)


#: Glance's image fields; any other key is an image property (glance/api/v2/images.py)
_GLANCE_CORE = frozenset({"id", "name", "status", "visibility", "protected", "disk_format", "container_format",
                          "size", "virtual_size", "min_disk", "min_ram", "checksum", "os_hidden", "owner",
                          "created_at", "updated_at", "tags", "os_hash_algo", "os_hash_value", "self", "file",
                          "schema", "locations", "direct_url"})
#: glance/api/v2/images.py RequestDeserializer._available_sort_keys, in its order
_GLANCE_SORT_KEYS = ("name", "status", "container_format", "disk_format", "size", "id", "created_at",
                     "updated_at")


def _image_order(request: Request) -> list[tuple[str, str]]:
    """Glance's sort: ``sort=k1:dir,k2`` or ``sort_key``/``sort_dir`` (repeatable); default
    ``created_at`` descending; ``created_at`` and ``id`` always end it (glance/api/v2/images.py)."""
    order: list[tuple[str, str]] = []
    if request.args.get("sort"):
        for part in request.args["sort"].split(","):
            key, _, direction = part.strip().partition(":")
            order.append((key.strip(), direction.strip() or "desc"))
    else:
        keys = request.args.getlist("sort_key") or ["created_at"]
        dirs = request.args.getlist("sort_dir") or ["desc"]
        order = [(k, dirs[min(i, len(dirs) - 1)]) for i, k in enumerate(keys)]
    for key, direction in order:
        if key not in _GLANCE_SORT_KEYS:
            raise BadRequest(f"Invalid sort key: {key}. It must be one of the following: "
                             f"{', '.join(_GLANCE_SORT_KEYS)}.")
        if direction not in ("asc", "desc"):
            raise BadRequest(f"Invalid sort direction: {direction}")
    default_dir = order[0][1]
    for key in ("created_at", "id"):
        if key not in {k for k, _ in order}:
            order.append((key, default_dir))
    return order


def _glance_params(request: Request) -> dict[str, str]:
    """The query as Glance's serializer copies it (``dict(request.params)``: a key's last value)."""
    return {key: request.args.getlist(key)[-1] for key in request.args}


@image_api
def list_images(cloud: Cloud, request: Request, region: RegionState) -> Response:
    """Images the project sees (filters, sorting, marker paging): ``first`` and ``next`` are the
    query with the marker dropped, and set to the page's last image for ``next``
    (glance/api/v2/images.py ``ResponseSerializer.index``)."""
    wanted = _image_query(request)
    limit = _limit_param(request)
    images = region.listing("images", wanted, functools.partial(_image_listing, cloud.state, wanted))
    marker = request.args.get("marker")
    chunk, effective, found = page(images, marker=marker, limit=limit or GLANCE_DEFAULT_LIMIT,
                                   cap=cloud.faults.page_limit)
    if not found:  # glance/db/sqlalchemy/api.py _image_get, answered 400 by the index
        return _webob_error(request, 400, f"No image found with ID {marker}")
    params = _glance_params(request)
    params.pop("marker", None)
    body: dict[str, Any] = {"images": [_image_body(i) for i in chunk], "first": "/v2/images",
                            "schema": "/v2/schemas/images"}
    if params:
        body["first"] = f"/v2/images?{urlencode(params)}"
    if chunk and effective and len(chunk) == effective:
        params["marker"] = chunk[-1]["id"]
        body["next"] = f"/v2/images?{urlencode(params)}"
    return json_response(body)


@image_api
def show_image(cloud: Cloud, request: Request, region: RegionState, image_id: str) -> Response:
    """One image the project sees (glance/api/v2/images.py ``show``: webob's 404 otherwise)."""
    image = next((i for i in cloud.state.visible_images(region) if i["id"] == image_id), None)
    if image is None:
        return _webob_error(request, 404, f"No image found with ID {image_id}")
    return json_response(_image_body(image))


@image_api
def show_image_schema(cloud: Cloud, request: Request, region: RegionState, schema: str) -> Response:
    """The ``image`` and ``images`` schemas (open: any property is a string)."""
    if schema not in ("image", "images"):
        return _webob_error(request, 404)
    return json_response({"name": schema, "properties": {}, "additionalProperties": {"type": "string"},
                          "links": []})


# -- Cinder ------------------------------------------------------------------------------------
def _cinder_version(cloud: Cloud, region: RegionState) -> dict[str, Any]:
    mx = CINDER_MAX_MICROVERSION
    return {"id": "v3.0", "status": "CURRENT", "version": f"{mx[0]}.{mx[1]}", "min_version": "3.0",
            "updated": "2023-08-31T00:00:00Z",
            "links": [{"rel": "self", "href": f"{cloud.base_url}/{region.name}/volume/v3/"}],
            "media-types": [{"base": "application/json",
                             "type": "application/vnd.openstack.volume+json;version=3"}]}


def discover_volume_versions(cloud: Cloud, request: Request, region: RegionState) -> Response:
    """Cinder's unversioned discovery (300 Multiple Choices)."""
    return json_response({"versions": [_cinder_version(cloud, region)]}, status=300)


def list_volume_versions(cloud: Cloud, request: Request, region: RegionState) -> Response:
    """Cinder v3's version list."""
    return json_response({"versions": [_cinder_version(cloud, region)]})


#: Project ids Cinder's router takes in a path (cinder/api/openstack/__init__.py project_id_regex)
_CINDER_PROJECT_ID = re.compile(r"[0-9a-f\-]+")


def _cinder_error(status: int, message: str) -> Response:
    """Cinder's fault document (cinder/api/openstack/wsgi.py ``Fault``): ``{name: {"code", "message"}}``."""
    return _fault(CINDER_FAULT_NAMES, status, message)


def _cinder_version_headers(resp: Response, text: str) -> Response:
    resp.headers["OpenStack-API-Version"] = f"volume {text}"
    resp.headers["Vary"] = "OpenStack-API-Version"
    return resp


def _routed_project(cloud: Cloud, project: str) -> bool:
    """Whether Cinder's router takes ``project`` as a project id (this project's always)."""
    return project == cloud.state.project_id or _CINDER_PROJECT_ID.fullmatch(project) is not None


def project_scoped(handler: Handler) -> Handler:
    """Cinder's project in the path: another project is 401 without a token, 404 with one."""
    @functools.wraps(handler)
    def scoped(cloud: Cloud, request: Request, project: str, **params: Any) -> Response:
        if project != cloud.state.project_id:
            return _unauthorized(cloud, request) if _token(cloud, request) is None else _webob_error(request, 404)
        return handler(cloud, request, **params)
    return scoped


def _volume_microversion(request: Request) -> Microversion | Response:
    """The ``volume`` microversion asked in ``OpenStack-API-Version`` (3.0 when none); 400 for a
    malformed one, 406 outside 3.0-3.70, echoing it (cinder/api/openstack/wsgi.py
    ``Request.set_api_version_request`` sets the version before checking its range)."""
    wanted = None
    for part in request.headers.get("OpenStack-API-Version", "").split(","):
        bits = part.strip().split(None, 1)
        if len(bits) == 2 and bits[0].lower() == "volume":
            wanted = bits[1].strip()
    if not wanted:
        return (3, 0)
    if wanted.lower() == "latest":
        return CINDER_MAX_MICROVERSION
    found = re.fullmatch(r"(\d+)\.(\d+)", wanted)
    if found is None:
        return _cinder_error(400, f"API Version String {wanted} is of invalid format. "
                                  "Must be of format MajorNum.MinorNum.")
    version = (int(found[1]), int(found[2]))
    if not (3, 0) <= version <= CINDER_MAX_MICROVERSION:
        mx = CINDER_MAX_MICROVERSION
        text = f"{version[0]}.{version[1]}"
        return _cinder_version_headers(_cinder_error(406, f"Version {text} is not supported by the API. "
                                                          f"Minimum is 3.0 and maximum is {mx[0]}.{mx[1]}."), text)
    return version


def volume_api(handler: Handler) -> Handler:
    """Cinder's front: a token (keystonemiddleware), a project id its router takes (else webob's
    404), a supported microversion, then the token's project in the path (``Malformed request
    url``, cinder/api/openstack/wsgi.py ``Resource._process_stack``); faults and answers echo the
    microversion."""
    @functools.wraps(handler)
    def versioned(cloud: Cloud, request: Request, project: str, **params: Any) -> Response:
        if _token(cloud, request) is None:
            return _unauthorized(cloud, request)
        if not _routed_project(cloud, project):
            return _webob_error(request, 404)
        mv = _volume_microversion(request)
        if isinstance(mv, Response):
            return mv
        if project != cloud.state.project_id:
            resp = _cinder_error(400, "Malformed request url")
        else:
            try:
                resp = handler(cloud, request, **params)
            except BadRequest as exc:
                resp = _cinder_error(400, str(exc))
        return _cinder_version_headers(resp, f"{mv[0]}.{mv[1]}")
    return versioned


@project_scoped
def list_project_volume_versions(cloud: Cloud, request: Request, region: RegionState) -> Response:
    """Cinder v3's version list under the project (where the catalog points)."""
    return list_volume_versions(cloud, request, region)


def volume_unserved(cloud: Cloud, request: Request, project: str, **params: Any) -> Response:
    """What the mock does not serve under the project: a read is webob's 404 (a path Cinder's
    router does not take); a write the mock's 405, as Cinder's ``badMethod`` fault (the mock
    changes nothing)."""
    if _token(cloud, request) is None:
        return _unauthorized(cloud, request)
    if request.method in ("GET", "HEAD") or not _routed_project(cloud, project):
        return _webob_error(request, 404)
    mv = _volume_microversion(request)
    if isinstance(mv, Response):
        return mv
    return _cinder_version_headers(_cinder_error(405, "Method not allowed"), f"{mv[0]}.{mv[1]}")


def _cinder_paged(cloud: Cloud, request: Request, region: RegionState, items: Listing, key: str, path: str,
                  shape: Callable[[dict[str, Any]], dict[str, Any]], links_key: str | None = None,
                  unknown_marker: Callable[[str], Response] | None = None) -> Response:
    """A marker-paged Cinder listing with ``<key>_links``, or ``links_key`` where Cinder names it
    otherwise (volume types: ``volume_type_links``). An unknown marker is ``unknown_marker``'s
    answer, or ignored (the first page) when ``None``: Cinder looks a volume type marker up with
    ``.first()`` and pages from the start without it (cinder/db/api.py ``_generate_paginate_query``,
    ``_volume_type_get_db_object``). A page costs its length (see :meth:`RegionState.listing`)."""
    limit = _limit_param(request) or None
    marker = request.args.get("marker")
    chunk, effective, found = page(items, marker=marker, limit=limit, cap=cloud.faults.page_limit)
    if not found and marker:
        if unknown_marker is not None:
            return unknown_marker(marker)
        chunk, effective, found = page(items, marker=None, limit=limit, cap=cloud.faults.page_limit)
    body: dict[str, Any] = {key: [shape(i) for i in chunk]}
    if chunk and effective and len(chunk) == effective:
        query = _next_query(request, chunk[-1]["id"], effective)
        body[links_key or f"{key}_links"] = [{"rel": "next",
                                              "href": f"{cloud.base_url}/{region.name}/{path}?{urlencode(query)}"}]
    return json_response(body)


#: The extra specs Cinder shows a project user since Xena (cinder/policies/type_extra_specs.py);
#: the others, and ``qos_specs_id``, only an administrator sees (cinder/api/v2/views/types.py).
USER_VISIBLE_EXTRA_SPECS = ("RESKEY:availability_zones", "multiattach", "replication_enabled")


def _caller_is_admin(cloud: Cloud, request: Request) -> bool:
    token = _token(cloud, request)
    return token is not None and cloud.state.is_admin(token.user_name)


def _visible_specs(specs: Mapping[str, str], admin: bool) -> dict[str, str]:
    return dict(specs) if admin else {k: v for k, v in specs.items() if k in USER_VISIBLE_EXTRA_SPECS}


def _volume_type_view(admin: bool) -> Callable[[dict[str, Any]], dict[str, Any]]:
    """A volume type as the caller sees it: a project user gets the user-visible extra specs only
    and no ``qos_specs_id``."""
    def view(vt: Mapping[str, Any]) -> dict[str, Any]:
        out = {"id": vt["id"], "name": vt["name"], "description": vt["description"],
               "is_public": vt["is_public"], "os-volume-type-access:is_public": vt["is_public"],
               "extra_specs": _visible_specs(vt["extra_specs"], admin)}
        if admin:
            out["qos_specs_id"] = vt["qos_specs_id"]
        return out
    return view


def admin_only(policy: str) -> Callable[[Handler], Handler]:
    """A Cinder API its default policy keeps for administrators: 403 for a project user."""
    def decorate(handler: Handler) -> Handler:
        @functools.wraps(handler)
        def checked(cloud: Cloud, request: Request, **params: Any) -> Response:
            if not _caller_is_admin(cloud, request):
                return _cinder_error(403, f"Policy doesn't allow {policy} to be performed.")
            return handler(cloud, request, **params)
        return checked
    return decorate


def _find_volume_type(region: RegionState, type_id: str) -> dict[str, Any] | Response:
    """A volume type by id, as Cinder looks it up (cinder/api/v3/types.py ``show`` ->
    volume_types.get_volume_type -> db ``volume_type_get``): a name is not an id, 404."""
    vt = next((t for t in region.volume_types if t["id"] == type_id), None)
    return vt if vt is not None else _cinder_error(404, f"Volume type {type_id} could not be found.")


@volume_api
def list_volume_types(cloud: Cloud, request: Request, region: RegionState) -> Response:
    """Volume types (marker paging)."""
    # the next link is "volume_type_links" (cinder/api/v2/views/types.py), not "volume_types_links"
    return _cinder_paged(cloud, request, region, region.listing("volume_types", (), list), "volume_types",
                         f"volume/v3/{cloud.state.project_id}/types",
                         _volume_type_view(_caller_is_admin(cloud, request)), links_key="volume_type_links")


@volume_api
def show_volume_type(cloud: Cloud, request: Request, region: RegionState, type_id: str) -> Response:
    """One volume type, by id."""
    vt = _find_volume_type(region, type_id)
    if isinstance(vt, Response):
        return vt
    return json_response({"volume_type": _volume_type_view(_caller_is_admin(cloud, request))(vt)})


@volume_api
def list_volume_type_extra_specs(cloud: Cloud, request: Request, region: RegionState, type_id: str) -> Response:
    """A volume type's extra specs."""
    vt = _find_volume_type(region, type_id)
    if isinstance(vt, Response):
        return vt
    return json_response({"extra_specs": _visible_specs(vt["extra_specs"], _caller_is_admin(cloud, request))})


def _qos_not_found(qos_id: str) -> Response:
    return _cinder_error(404, f"No such QoS spec {qos_id}.")  # cinder/exception.py QoSSpecsNotFound


def _find_qos(region: RegionState, qos_id: str) -> dict[str, Any] | Response:
    qos = next((q for q in region.qos_specs if q["id"] == qos_id), None)
    return qos if qos is not None else _qos_not_found(qos_id)


@volume_api
@admin_only("volume_extension:qos_specs_manage:get_all")
def list_qos_specs(cloud: Cloud, request: Request, region: RegionState) -> Response:
    """QoS specs (marker paging)."""
    return _cinder_paged(cloud, request, region, region.listing("qos_specs", (), list), "qos_specs",
                         f"volume/v3/{cloud.state.project_id}/qos-specs", dict, unknown_marker=_qos_not_found)


@volume_api
@admin_only("volume_extension:qos_specs_manage:get")
def show_qos_specs(cloud: Cloud, request: Request, region: RegionState, qos_id: str) -> Response:
    """One QoS spec."""
    qos = _find_qos(region, qos_id)
    return qos if isinstance(qos, Response) else json_response({"qos_specs": dict(qos)})


@volume_api
@admin_only("volume_extension:qos_specs_manage:get")
def list_qos_associations(cloud: Cloud, request: Request, region: RegionState, qos_id: str) -> Response:
    """The volume types a QoS spec applies to."""
    qos = _find_qos(region, qos_id)
    if isinstance(qos, Response):
        return qos
    assoc = [{"association_type": "volume_type", "name": t["name"], "id": t["id"]}
             for t in region.volume_types if t["qos_specs_id"] == qos["id"]]
    return json_response({"qos_associations": assoc})


@volume_api
def list_volume_zones(cloud: Cloud, request: Request, region: RegionState) -> Response:
    """Block storage availability zones."""
    zones = [{"zoneName": z, "zoneState": {"available": z not in region.unavailable_zones}}
             for z in region.volume_zones]
    return json_response({"availabilityZoneInfo": zones})


@volume_api
def list_volumes(cloud: Cloud, request: Request, region: RegionState, **params: Any) -> Response:
    """``/volumes`` (and ``/detail``): the project has none."""
    return json_response({"volumes": []})


@volume_api
def list_snapshots(cloud: Cloud, request: Request, region: RegionState, **params: Any) -> Response:
    """``/snapshots`` (and ``/detail``): the project has none."""
    return json_response({"snapshots": []})


#: Cinder's default quotas (cinder/quota.py); per volume type ``<name>_<type>`` keys are -1
_CINDER_QUOTAS = {"volumes": 10, "snapshots": 10, "gigabytes": 1000, "backups": 10, "backup_gigabytes": 1000,
                  "groups": 10, "per_volume_gigabytes": -1}


@volume_api
def show_volume_limits(cloud: Cloud, request: Request, region: RegionState) -> Response:
    """``/limits``: the default quotas as absolute limits, nothing used."""
    q = _CINDER_QUOTAS
    return json_response({"limits": {"rate": [], "absolute": {
        "maxTotalVolumes": q["volumes"], "maxTotalSnapshots": q["snapshots"],
        "maxTotalVolumeGigabytes": q["gigabytes"], "maxTotalBackups": q["backups"],
        "maxTotalBackupGigabytes": q["backup_gigabytes"], "totalVolumesUsed": 0, "totalSnapshotsUsed": 0,
        "totalGigabytesUsed": 0, "totalBackupsUsed": 0, "totalBackupGigabytesUsed": 0}}})


@volume_api
def show_volume_quotas(cloud: Cloud, request: Request, region: RegionState, project_id: str,
                       view: str = "") -> Response:
    """``/os-quota-sets/{project}`` (``?usage=true``, ``/defaults``): the default quotas, nothing used."""
    if not _own_project(cloud, request, project_id):
        return _cinder_error(403, "Policy doesn't allow volume_extension:quotas:show to be performed.")
    quotas: dict[str, Any] = dict(_CINDER_QUOTAS)
    for vt in region.volume_types:
        for key in ("volumes", "snapshots", "gigabytes"):
            quotas[f"{key}_{vt['name']}"] = -1
    if view != "defaults" and _truthy(request.args.get("usage")):
        quotas = {k: {"limit": v, "in_use": 0, "reserved": 0, "allocated": 0} for k, v in quotas.items()}
    return json_response({"quota_set": {"id": project_id, **quotas}})


# -- Neutron -----------------------------------------------------------------------------------
_EXTENSIONS = (("external-net", "Neutron external network"), ("availability_zone", "Availability Zone"),
               ("router", "Neutron L3 Router"), ("security-group", "security-group"),
               ("quotas", "Quota management support"), ("quota_details", "Quota details extension"))


def _network_href(cloud: Cloud, region: RegionState) -> str:
    return f"{cloud.base_url}/{region.name}/network/v2.0/"


def _neutron_error(kind: str, message: str, status: int = 404) -> Response:
    """Neutron's error document (neutron/api/api_common.py ``convert_exception_to_http_exc``,
    ``get_exception_data``): ``{"NeutronError": {"type", "message", "detail"}}``."""
    return json_response({"NeutronError": {"type": kind, "message": message, "detail": ""}}, status=status)


def network_api(handler: Handler) -> Handler:
    """Neutron's front: a token (keystonemiddleware's 401), then a refused parameter as Neutron's
    ``BadRequest`` (neutron_lib/exceptions ``BadRequest``: "Bad <resource> request: <msg>.")."""
    return _refusing(handler, lambda _request, message: _neutron_error("BadRequest", message, status=400))


def list_network_versions(cloud: Cloud, request: Request, region: RegionState) -> Response:
    """Neutron's version list."""
    return json_response({"versions": [{"id": "v2.0", "status": "CURRENT",
                                        "links": [{"rel": "self", "href": _network_href(cloud, region)}]}]})


@authenticated
def list_network_resources(cloud: Cloud, request: Request, region: RegionState) -> Response:
    """Neutron v2.0's resource list."""
    href = _network_href(cloud, region) + "networks"
    return json_response({"resources": [{"name": "network", "collection": "networks",
                                         "links": [{"rel": "self", "href": href}]}]})


_NETWORK_FLAGS = ("router:external", "shared", "admin_state_up")
_NETWORK_FIELDS = ("name", "id", "status", "project_id")


@dataclass(frozen=True)
class _NetworkQuery:
    """What a network listing depends on: the filters (flags as booleans), the project whose view
    it is (``None``: an administrator's, every network) and whether it is paged (in id order)."""

    filters: tuple[tuple[str, bool | str], ...]
    viewer: str | None
    paged: bool


def _network_filters(request: Request) -> tuple[tuple[str, bool | str], ...]:
    """The request's network filters: ``(field, wanted)``, flags as booleans."""
    flags = ((key, _truthy(request.args.get(key))) for key in _NETWORK_FLAGS)
    return (tuple((key, wanted) for key, wanted in flags if wanted is not None)
            + tuple((key, request.args[key]) for key in _NETWORK_FIELDS if request.args.get(key)))


def _sees_network(net: Mapping[str, Any], viewer: str | None) -> bool:
    """Whether a project (``None``: an administrator) sees a network: its own, shared or external
    ones (neutron/conf/policies/network.py ``get_network``)."""
    return viewer is None or net["project_id"] == viewer or bool(net["shared"]) or bool(net["router:external"])


def _filtered_networks(query: _NetworkQuery, networks: list[dict[str, Any]]) -> list[dict[str, Any]]:
    networks = [n for n in networks if _sees_network(n, query.viewer)]
    for key, wanted in query.filters:
        if isinstance(wanted, bool):
            networks = [n for n in networks if bool(n[key]) == wanted]
        else:
            networks = [n for n in networks if str(n[key]) == wanted]
    # a paged listing is sorted by id (neutron/api/api_common.py PaginationNativeHelper.update_args)
    return sorted(networks, key=lambda n: str(n["id"])) if query.paged else networks


def _network_view(admin: bool) -> Callable[[Mapping[str, Any]], dict[str, Any]]:
    """A network as the caller sees it: ``provider:*`` and ``segments`` only for administrators
    (``get_network:provider:network_type``… are ADMIN, neutron/conf/policies/network.py)."""
    def view(net: Mapping[str, Any]) -> dict[str, Any]:
        if admin:
            return dict(net)
        return {k: v for k, v in net.items() if not k.startswith("provider:") and k != "segments"}
    return view


def _neutron_limit(request: Request, cap: int | None) -> int | None:
    """The page size (neutron/api/api_common.py ``get_limit_and_marker``): ``limit`` (0: none),
    at most the server's cap; ``None`` when the listing is not paged."""
    value = _last(request, "limit")
    try:
        limit = int(value) if value is not None else 0
    except ValueError:
        limit = -1
    if limit < 0:
        raise BadRequest(f"Bad limit request: Limit must be an integer 0 or greater and not '{value}'.")
    if cap:
        limit = min(cap, limit) or cap
    return limit or None


def _neutron_link(cloud: Cloud, request: Request, marker: str | None, reverse: bool) -> str:
    """A ``next`` or ``previous`` link: the request's query without its marker and ``page_reverse``,
    then the new marker (and ``page_reverse=True`` for ``previous``) (api_common.py
    ``get_next_link``/``get_previous_link``)."""
    params = [(k, v) for k, v in request.args.items(multi=True) if k not in ("marker", "page_reverse")]
    if marker is not None:
        params.append(("marker", marker))
    if reverse:
        params.append(("page_reverse", "True"))
    return f"{cloud.base_url}{request.path}?{urlencode(params)}"


def _neutron_page(cloud: Cloud, request: Request, items: Listing, limit: int,
                  visible: Callable[[str], dict[str, Any] | None]) -> tuple[list[dict[str, Any]], list[dict[str, str]]]:
    """One page of an id-ordered listing after (or, with ``page_reverse``, before) the marker, and
    its links (api_common.py ``get_pagination_links``: ``next`` unless a forward page is short,
    ``previous`` unless a reverse page is short). An unknown marker is the lookup's 404
    (neutron_lib/db/utils.py ``get_marker_obj``), raised as :class:`_MarkerNotFound`."""
    marker = _last(request, "marker")
    reverse = (_last(request, "page_reverse") or "False").lower() == "true"
    rows = items.items
    if marker:
        marked = visible(marker)
        if marked is None:
            raise _MarkerNotFound(marker)
        at = bisect.bisect_left(rows, str(marked["id"]), key=lambda n: str(n["id"]))
        after = at + 1 if at < len(rows) and str(rows[at]["id"]) == str(marked["id"]) else at
        chunk = rows[max(at - limit, 0):at] if reverse else rows[after:after + limit]
    else:
        chunk = rows[max(len(rows) - limit, 0):] if reverse else rows[:limit]
    links = []
    if not (len(chunk) < limit and not reverse):
        links.append({"rel": "next", "href": _neutron_link(cloud, request, chunk[-1]["id"] if chunk else None,
                                                           reverse=False)})
    if not (len(chunk) < limit and reverse):
        links.append({"rel": "previous", "href": _neutron_link(cloud, request, chunk[0]["id"] if chunk else None,
                                                               reverse=True)})
    return list(chunk), links


class _MarkerNotFound(Exception):
    """A Neutron marker naming no resource the caller sees."""


@network_api
def list_networks(cloud: Cloud, request: Request, region: RegionState) -> Response:
    """Networks the caller sees (filters, marker paging in id order with ``next`` and
    ``previous`` links, ``page_reverse``)."""
    admin = _caller_is_admin(cloud, request)
    viewer = None if admin else cloud.state.project_id
    limit = _neutron_limit(request, cloud.faults.page_limit)
    query = _NetworkQuery(_network_filters(request), viewer, limit is not None)
    networks = region.listing("networks", query, functools.partial(_filtered_networks, query))
    view = _network_view(admin)
    if limit is None:
        return json_response({"networks": [view(n) for n in networks.items]})
    try:
        chunk, links = _neutron_page(cloud, request, networks, limit,
                                     lambda marker: _find_network(region, marker, viewer))
    except _MarkerNotFound as exc:
        return _neutron_error("NetworkNotFound", f"Network {exc} could not be found.")
    return json_response({"networks": [view(n) for n in chunk], "networks_links": links})


def _find_network(region: RegionState, network_id: str, viewer: str | None) -> dict[str, Any] | None:
    return next((n for n in region.networks if n["id"] == network_id and _sees_network(n, viewer)), None)


@network_api
def show_network(cloud: Cloud, request: Request, region: RegionState, network_id: str) -> Response:
    """One network the caller sees."""
    admin = _caller_is_admin(cloud, request)
    net = _find_network(region, network_id, None if admin else cloud.state.project_id)
    if net is None:
        return _neutron_error("NetworkNotFound", f"Network {network_id} could not be found.")
    return json_response({"network": _network_view(admin)(net)})


@network_api
def delete_network(cloud: Cloud, request: Request, region: RegionState, network_id: str) -> Response:
    """``DELETE /networks/{id}``: 404 for a network the caller does not see; 403 for one it sees
    but does not own, a project user (neutron/pecan_wsgi/hooks/policy_enforcement.py: the
    PolicyNotAuthorized of ``delete_network`` is raised when the caller may show the network);
    deleted (204) otherwise."""
    admin = _caller_is_admin(cloud, request)
    net = _find_network(region, network_id, None if admin else cloud.state.project_id)
    if net is None:
        return _neutron_error("NetworkNotFound", f"Network {network_id} could not be found.")
    if not admin and net["project_id"] != cloud.state.project_id:
        return _neutron_error("PolicyNotAuthorized", "rule:delete_network is disallowed by policy", status=403)
    cloud.state.remove_network(region.name, network_id)
    return Response(status=204)


def _extensions() -> list[dict[str, Any]]:
    return [{"alias": alias, "name": name, "description": "", "links": [], "updated": _UPDATED}
            for alias, name in _EXTENSIONS]


@authenticated
def list_network_extensions(cloud: Cloud, request: Request, region: RegionState) -> Response:
    """The API extensions clients look for (external networks, availability zones)."""
    return json_response({"extensions": _extensions()})


@authenticated
def show_network_extension(cloud: Cloud, request: Request, region: RegionState, alias: str) -> Response:
    """One API extension."""
    ext = next((e for e in _extensions() if e["alias"] == alias), None)
    if ext is None:
        return _neutron_error("ExtensionNotFound", f"Extension {alias} could not be found.")
    return json_response({"extension": ext})


@authenticated
def list_network_zones(cloud: Cloud, request: Request, region: RegionState) -> Response:
    """Network and router availability zones."""
    return json_response({"availability_zones": [
        {"name": z, "resource": resource, "state": "available"}
        for z in region.zones for resource in ("network", "router")]})


@authenticated
def list_owned_nothing(cloud: Cloud, request: Request, region: RegionState, collection: str) -> Response:
    """Subnets, ports, routers, floating IPs of a new project: an empty listing."""
    return json_response({collection: []})


def _default_security_group(cloud: Cloud) -> dict[str, Any]:
    """The ``default`` group Neutron makes for every project: ingress from its own members,
    egress anywhere, IPv4 and IPv6 (neutron/db/securitygroups_db.py)."""
    pid = cloud.state.project_id
    group_id = str(uuid.uuid5(uuid.NAMESPACE_URL, f"security-group/{pid}/default"))
    rules = []
    for direction, ethertype in (("ingress", "IPv4"), ("ingress", "IPv6"), ("egress", "IPv4"), ("egress", "IPv6")):
        rules.append({
            "id": str(uuid.uuid5(uuid.NAMESPACE_URL, f"{group_id}/{direction}/{ethertype}")),
            "security_group_id": group_id, "direction": direction, "ethertype": ethertype, "protocol": None,
            "port_range_min": None, "port_range_max": None, "remote_ip_prefix": None,
            "remote_group_id": group_id if direction == "ingress" else None, "remote_address_group_id": None,
            "normalized_cidr": None, "description": "", "project_id": pid, "tenant_id": pid,
            "created_at": _CREATED_AT, "updated_at": _CREATED_AT, "revision_number": 0, "belongs_to_default_sg": True})
    return {"id": group_id, "name": "default", "description": "Default security group", "stateful": True,
            "shared": False, "project_id": pid, "tenant_id": pid, "security_group_rules": rules, "tags": [],
            "created_at": _CREATED_AT, "updated_at": _CREATED_AT, "revision_number": 1}


@authenticated
def list_security_groups(cloud: Cloud, request: Request, region: RegionState) -> Response:
    """The project's security groups: its ``default`` one."""
    return json_response({"security_groups": [_default_security_group(cloud)]})


@authenticated
def list_security_group_rules(cloud: Cloud, request: Request, region: RegionState) -> Response:
    """The rules of the project's ``default`` group."""
    return json_response({"security_group_rules": _default_security_group(cloud)["security_group_rules"]})


#: Neutron's default quotas (neutron/conf/quota.py)
_NEUTRON_QUOTAS = {"network": 100, "subnet": 100, "subnetpool": -1, "port": 500, "router": 10, "floatingip": 50,
                   "security_group": 10, "security_group_rule": 100, "rbac_policy": 10}


@authenticated
def show_network_quotas(cloud: Cloud, request: Request, region: RegionState, project_id: str,
                        view: str = "") -> Response:
    """``/quotas/{project}`` (``/details``, ``/default``): the default quotas, nothing used."""
    if not _own_project(cloud, request, project_id):
        return json_response({"NeutronError": {"type": "HTTPForbidden", "detail": "",
                                               "message": "Non-admin is not authorized to access quotas for "
                                                          "another project"}}, status=403)
    quotas: dict[str, Any] = dict(_NEUTRON_QUOTAS)
    if view == "details":
        quotas = {k: {"limit": v, "used": 0, "reserved": 0} for k, v in quotas.items()}
    return json_response({"quota": quotas})


# -- CloudKitty (hashmap rating) -----------------------------------------------------------------
def rated(handler: Handler) -> Handler:
    """CloudKitty exists only when the cloud has prices (and serves its rating API)."""
    @functools.wraps(handler)
    def priced(cloud: Cloud, request: Request, **params: Any) -> Response:
        if cloud.state.rating_prices is None:
            return not_found(cloud, request)
        return handler(cloud, request, **params)
    return priced


@rated
def list_rating_versions(cloud: Cloud, request: Request, region: RegionState) -> Response:
    """CloudKitty's version list."""
    return json_response({"versions": {"values": [
        {"id": "v1", "status": "CURRENT",
         "links": [{"rel": "self", "href": f"{cloud.base_url}/{region.name}/rating/v1/"}]}]}})


@rated
@authenticated
def rating_unserved(cloud: Cloud, request: Request, **params: Any) -> Response:
    """CloudKitty's 404 behind the token."""
    return not_found(cloud, request)


@rated
@authenticated
def list_rating_modules(cloud: Cloud, request: Request, region: RegionState) -> Response:
    """Rating modules: hashmap, enabled."""
    return json_response({"modules": [{"module_id": "hashmap", "description": "HashMap rating module.",
                                       "enabled": True, "hot-config": True, "priority": 1}]})


@dataclass(frozen=True)
class _Hashmap:
    services: list[dict[str, Any]]
    fields: list[dict[str, Any]]
    mappings: list[dict[str, Any]]


def _hashmap(cloud: Cloud, region: RegionState) -> _Hashmap:
    """The hashmap module's services, fields and flat mappings for the region's prices."""
    prices = cloud.state.rating_prices
    assert prices is not None  # guarded by @rated

    def uid(*bits: str) -> str:
        return str(uuid.uuid5(uuid.NAMESPACE_URL, "/".join(("cloudkitty", region.name, *bits))))

    services = [{"service_id": uid("svc", "instance"), "name": "instance"},
                {"service_id": uid("svc", "volume.size"), "name": "volume.size"}]
    fields = [{"field_id": uid("field", "flavor_id"), "name": "flavor_id",
               "service_id": services[0]["service_id"]},
              {"field_id": uid("field", "volume_type"), "name": "volume_type",
               "service_id": services[1]["service_id"]}]
    mappings = [_mapping(uid("map", f["id"]), f["id"], prices.flavors[f["name"]], fields[0])
                for f in region.flavors if f["name"] in prices.flavors]
    mappings += [_mapping(uid("map", t["id"]), t["id"], prices.volume_types[t["name"]], fields[1])
                 for t in region.volume_types if t["name"] in prices.volume_types]
    return _Hashmap(services, fields, mappings)


def _mapping(mapping_id: str, value: str, cost: str, field: Mapping[str, Any]) -> dict[str, Any]:
    # CloudKitty echoes costs through a float, binary noise included
    return {"mapping_id": mapping_id, "value": value, "type": "flat",
            "cost": str(Decimal(float(cost)).quantize(Decimal("1e-28"))),
            "service_id": None, "field_id": field["field_id"], "group_id": None, "tenant_id": None,
            "start": None, "end": None, "name": None, "description": None, "created_at": _now_iso()}


@rated
@authenticated
def list_hashmap_services(cloud: Cloud, request: Request, region: RegionState) -> Response:
    """Rated services: instances and volume sizes."""
    return json_response({"services": _hashmap(cloud, region).services})


@rated
@authenticated
def list_hashmap_fields(cloud: Cloud, request: Request, region: RegionState) -> Response:
    """Fields of the rated services (``service_id`` filter)."""
    sid = request.args.get("service_id")
    return json_response({"fields": [f for f in _hashmap(cloud, region).fields
                                     if not sid or f["service_id"] == sid]})


@rated
@authenticated
def list_hashmap_mappings(cloud: Cloud, request: Request, region: RegionState) -> Response:
    """Flat prices per flavor and volume type (``field_id`` and ``service_id`` filters)."""
    fid, sid = request.args.get("field_id"), request.args.get("service_id")
    return json_response({"mappings": [m for m in _hashmap(cloud, region).mappings
                                       if (not fid or m["field_id"] == fid) and (not sid or m["service_id"] == sid)]})


def _now_iso() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime())
