"""Wire format of the mocked OpenStack cloud: the answers of each service, real shapes and codes.

Every handler takes the :class:`Cloud` it answers for, the request and the placeholders of its
route in :mod:`.urls` (``region`` comes resolved to its :class:`~.state.RegionState`). What a
service does before any of its handlers (check the token, negotiate Nova's microversion, check
Cinder's project) is a decorator here, so each service answers an unknown path or method the way
the real one does.

Shapes follow the API references and what openstacksdk's resource classes read (for example
Nova's ``flavors_links``, Glance's relative ``next``, Keystone's ``X-Subject-Token``).
"""

from __future__ import annotations

import functools
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

from .state import CloudState, RegionState, Token, page

__all__ = [
    "CINDER_MAX_MICROVERSION",
    "NOVA_MAX_MICROVERSION",
    "NOVA_MIN_MICROVERSION",
    "BadRequest",
    "Cloud",
    "Handler",
    "answer",
]

NOVA_MIN_MICROVERSION = (2, 1)
NOVA_MAX_MICROVERSION = (2, 90)
CINDER_MAX_MICROVERSION = (3, 70)
GLANCE_DEFAULT_LIMIT = 25  # glance's limit_param_default
NOVA_MAX_LIMIT = 1000  # nova's osapi_max_limit
_UPDATED = "2013-07-23T11:33:21Z"
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
    """A query parameter no service would accept (answered 400)."""


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


# -- shared ------------------------------------------------------------------------------------
def _error(status: int, message: str, title: str | None = None) -> Response:
    titles = {400: "Bad Request", 401: "Unauthorized", 403: "Forbidden", 404: "Not Found",
              405: "Method Not Allowed", 406: "Not Acceptable"}
    return json_response({"error": {"code": status, "title": title or titles.get(status, "Error"),
                                    "message": message}}, status=status)


def _int_arg(request: Request, name: str) -> int | None:
    value = request.args.get(name)
    if value is None or value == "":
        return None
    try:
        number = int(value)
    except ValueError:
        raise BadRequest(f"Invalid {name} value: {value!r}") from None
    if number < 0:
        raise BadRequest(f"{name} must be >= 0")
    return number


def _truthy(value: str | None) -> bool | None:
    if value is None or value.lower() in ("none", ""):
        return None
    return value.lower() in ("true", "1", "yes", "on")


def _token(cloud: Cloud, request: Request) -> Token | None:
    return cloud.state.token(request.headers.get("X-Auth-Token"))


def _unauthorized(cloud: Cloud) -> Response:
    resp = _error(401, "The request you have made requires authentication.")
    resp.headers["WWW-Authenticate"] = f'Keystone uri="{cloud.base_url}/identity"'
    return resp


def authenticated(handler: Handler) -> Handler:
    """Answer 401 unless the request carries a live ``X-Auth-Token``."""
    @functools.wraps(handler)
    def checked(cloud: Cloud, request: Request, **params: Any) -> Response:
        if _token(cloud, request) is None:
            return _unauthorized(cloud)
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


def _paged(cloud: Cloud, request: Request, region: RegionState, items: list[dict[str, Any]], key: str,
           path: str, shape: Callable[[dict[str, Any]], dict[str, Any]]) -> Response:
    """A marker-paged listing with ``<key>_links`` (Cinder, Neutron)."""
    limit = _int_arg(request, "limit")
    marker = request.args.get("marker")
    chunk, effective, found = page(items, marker=marker, limit=limit, cap=cloud.faults.page_limit)
    if not found:
        return _error(400, f"marker [{marker}] not found")
    body: dict[str, Any] = {key: [shape(i) for i in chunk]}
    if chunk and effective and len(chunk) == effective:
        query = _next_query(request, chunk[-1]["id"], effective)
        body[f"{key}_links"] = [{"rel": "next",
                                 "href": f"{cloud.base_url}/{region.name}/{path}?{urlencode(query)}"}]
    return json_response(body)


# -- Keystone ----------------------------------------------------------------------------------
def _keystone_version(cloud: Cloud) -> dict[str, Any]:
    return {"id": "v3.14", "status": "stable", "updated": "2020-04-07T00:00:00Z",
            "links": [{"rel": "self", "href": f"{cloud.base_url}/identity/v3/"}],
            "media-types": [{"base": "application/json",
                             "type": "application/vnd.openstack.identity-v3+json"}]}


def list_identity_versions(cloud: Cloud, request: Request) -> Response:
    """Keystone's unversioned discovery (300 Multiple Choices)."""
    return json_response({"versions": {"values": [_keystone_version(cloud)]}}, status=300)


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
        return _error(401, "The request you have made requires authentication.")
    if method != "application_credential" and not _scope_ok(cloud, auth.get("scope")):
        return _error(401, "The request you have made requires authentication.")
    token = cloud.state.issue(user, method, cloud.faults.token_ttl, cred_id)
    return _token_response(cloud, token, status=201)


def validate_token(cloud: Cloud, request: Request) -> Response:
    """``GET``/``HEAD /v3/auth/tokens``: the ``X-Subject-Token``, seen by a caller with a token."""
    caller = _token(cloud, request)
    subject = cloud.state.token(request.headers.get("X-Subject-Token"))
    if caller is None:
        return _unauthorized(cloud)
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
        "roles": [{"id": uuid.uuid5(uuid.NAMESPACE_OID, r).hex, "name": r} for r in ("member", "reader")],
        "catalog": _catalog(cloud),
    }
    if token.app_credential_id:
        body["application_credential"] = {"id": token.app_credential_id, "name": "cloudcat",
                                          "restricted": True}
    resp = json_response({"token": body}, status=status)
    resp.headers["X-Subject-Token"] = token.value
    return resp


def _catalog(cloud: Cloud) -> list[dict[str, Any]]:
    base = cloud.base_url
    pid = cloud.state.project_id
    services: list[tuple[str, str, Callable[[str], str]]] = [
        ("identity", "keystone", lambda r: f"{base}/identity"),
        ("compute", "nova", lambda r: f"{base}/{r}/compute/v2.1"),
        ("image", "glance", lambda r: f"{base}/{r}/image"),
        ("volumev3", "cinderv3", lambda r: f"{base}/{r}/volume/v3/{pid}"),
        ("block-storage", "cinder", lambda r: f"{base}/{r}/volume/v3/{pid}"),
        ("network", "neutron", lambda r: f"{base}/{r}/network"),
    ]
    if cloud.state.rating_prices is not None:
        services.append(("rating", "cloudkitty", lambda r: f"{base}/{r}/rating"))
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


@authenticated
def list_projects(cloud: Cloud, request: Request) -> Response:
    """The caller's projects (one)."""
    st = cloud.state
    project = {"id": st.project_id, "name": st.project_name, "domain_id": st.domain_id,
               "enabled": True, "is_domain": False, "parent_id": st.domain_id, "description": "",
               "tags": [], "links": {"self": f"{cloud.base_url}/identity/v3/projects/{st.project_id}"}}
    return json_response({"projects": [project], "links": _identity_links(cloud, "auth/projects")})


@authenticated
def identity_unserved(cloud: Cloud, request: Request, **params: Any) -> Response:
    """Keystone's 404 behind the token, whatever the method."""
    return not_found(cloud, request)


# -- Nova --------------------------------------------------------------------------------------
Microversion = tuple[int, int]


def _nova_error(status: int, message: str) -> Response:
    key = {400: "badRequest", 404: "itemNotFound", 406: "computeFault"}.get(status, "computeFault")
    return json_response({key: {"code": status, "message": message}}, status=status)


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
        return _nova_error(406, f"Version {wanted} is not supported by the API. Minimum is 2.1 and "
                                "maximum is 2.90.")
    return version


def compute_api(handler: Handler) -> Handler:
    """Nova's front: a token, then a supported microversion (passed on as ``mv``), echoed in headers."""
    @functools.wraps(handler)
    def negotiated(cloud: Cloud, request: Request, **params: Any) -> Response:
        if _token(cloud, request) is None:
            return _unauthorized(cloud)
        mv = _microversion(request)
        if isinstance(mv, Response):
            return mv
        resp = handler(cloud, request, mv=mv, **params)
        text = f"{mv[0]}.{mv[1]}"
        resp.headers["OpenStack-API-Version"] = f"compute {text}"
        resp.headers["X-OpenStack-Nova-API-Version"] = text
        resp.headers["Vary"] = "OpenStack-API-Version, X-OpenStack-Nova-API-Version"
        return resp
    return negotiated


@compute_api
def compute_unserved(cloud: Cloud, request: Request, mv: Microversion, **params: Any) -> Response:
    """Nova serves reads only: 405 for other methods, else 404."""
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
    if mv >= (2, 75):
        out["swap"] = f["swap"]
    else:
        out["swap"] = f["swap"] or ""
        out["rxtx_factor"] = f["rxtx_factor"]
    if mv >= (2, 61):
        out["extra_specs"] = dict(f["extra_specs"])
    return out


def _filtered_flavors(request: Request, region: RegionState) -> list[dict[str, Any]]:
    flavors = region.flavors
    public = _truthy(request.args.get("is_public", "true"))
    if public is not None:
        flavors = [f for f in flavors if f["is_public"] == public]
    min_ram, min_disk = _int_arg(request, "minRam"), _int_arg(request, "minDisk")
    if min_ram:
        flavors = [f for f in flavors if f["ram"] >= min_ram]
    if min_disk:
        flavors = [f for f in flavors if f["disk"] >= min_disk]
    return flavors


def _flavor_list(cloud: Cloud, request: Request, region: RegionState, *, detail: bool,
                 mv: Microversion) -> Response:
    flavors = _filtered_flavors(request, region)
    limit = _int_arg(request, "limit")
    marker = request.args.get("marker")
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
    """Flavors, id and name only (``is_public``, ``minRam``, ``minDisk``, marker paging)."""
    return _flavor_list(cloud, request, region, detail=False, mv=mv)


@compute_api
def list_flavors_detail(cloud: Cloud, request: Request, region: RegionState, mv: Microversion) -> Response:
    """Flavors in full; ``extra_specs`` inline from microversion 2.61."""
    return _flavor_list(cloud, request, region, detail=True, mv=mv)


def _find_flavor(region: RegionState, flavor_id: str) -> dict[str, Any] | Response:
    flavor = next((f for f in region.flavors if f["id"] == flavor_id), None)
    return flavor if flavor is not None else _nova_error(404, f"Flavor {flavor_id} could not be found.")


@compute_api
def show_flavor(cloud: Cloud, request: Request, region: RegionState, flavor_id: str, mv: Microversion) -> Response:
    """One flavor in full."""
    flavor = _find_flavor(region, flavor_id)
    if isinstance(flavor, Response):
        return flavor
    return json_response({"flavor": _flavor(cloud, region, flavor, True, mv)})


@compute_api
def list_extra_specs(cloud: Cloud, request: Request, region: RegionState, flavor_id: str,
                     mv: Microversion) -> Response:
    """A flavor's extra specs."""
    flavor = _find_flavor(region, flavor_id)
    if isinstance(flavor, Response):
        return flavor
    return json_response({"extra_specs": dict(flavor["extra_specs"])})


@compute_api
def show_extra_spec(cloud: Cloud, request: Request, region: RegionState, flavor_id: str, key: str,
                    mv: Microversion) -> Response:
    """One extra spec of a flavor."""
    flavor = _find_flavor(region, flavor_id)
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
    """Compute availability zones, with (no) hosts."""
    return _compute_zones(region, detail=True)


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


def _image_body(image: Mapping[str, Any]) -> dict[str, Any]:
    out = dict(image)
    out["self"] = f"/v2/images/{image['id']}"
    out["file"] = f"/v2/images/{image['id']}/file"
    out["schema"] = "/v2/schemas/image"
    return out


def _filtered_images(cloud: Cloud, request: Request, region: RegionState) -> list[dict[str, Any]]:
    images = cloud.state.visible_images(region)
    visibility = request.args.get("visibility")
    if visibility and visibility != "all":
        images = [i for i in images if i["visibility"] == visibility]
    elif not visibility:
        images = [i for i in images if i["visibility"] != "community"]
    for key in ("name", "status", "os_distro", "os_version"):
        if request.args.get(key):
            images = [i for i in images if str(i.get(key)) == request.args[key]]
    return images


@authenticated
def list_images(cloud: Cloud, request: Request, region: RegionState) -> Response:
    """Images the project sees (filters, marker paging with a relative ``next``)."""
    images = _filtered_images(cloud, request, region)
    limit = _int_arg(request, "limit") or GLANCE_DEFAULT_LIMIT
    marker = request.args.get("marker")
    chunk, effective, found = page(images, marker=marker, limit=limit, cap=cloud.faults.page_limit)
    if not found:
        return _error(400, f"Invalid marker. Image {marker} could not be found.")
    body: dict[str, Any] = {"images": [_image_body(i) for i in chunk], "first": "/v2/images",
                            "schema": "/v2/schemas/images"}
    if chunk and effective and len(chunk) == effective:
        query = {k: v for k, v in request.args.items() if k not in ("marker", "limit")}
        query.update({"marker": chunk[-1]["id"], "limit": str(effective)})
        body["next"] = f"/v2/images?{urlencode(query)}"
    return json_response(body)


@authenticated
def show_image(cloud: Cloud, request: Request, region: RegionState, image_id: str) -> Response:
    """One image the project sees."""
    image = next((i for i in cloud.state.visible_images(region) if i["id"] == image_id), None)
    if image is None:
        return _error(404, f"No image found with ID {image_id}")
    return json_response(_image_body(image))


@authenticated
def show_image_schema(cloud: Cloud, request: Request, region: RegionState, schema: str) -> Response:
    """The ``image`` and ``images`` schemas (open: any property is a string)."""
    if schema not in ("image", "images"):
        return not_found(cloud, request)
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


def project_scoped(handler: Handler) -> Handler:
    """Cinder's project in the path: another project is 401 without a token, 404 with one."""
    @functools.wraps(handler)
    def scoped(cloud: Cloud, request: Request, project: str, **params: Any) -> Response:
        if project != cloud.state.project_id:
            return _unauthorized(cloud) if _token(cloud, request) is None else not_found(cloud, request)
        return handler(cloud, request, **params)
    return scoped


def volume_api(handler: Handler) -> Handler:
    """Cinder's front: this project, a token; answers carry the microversion headers."""
    @project_scoped
    @functools.wraps(handler)
    def versioned(cloud: Cloud, request: Request, **params: Any) -> Response:
        if _token(cloud, request) is None:
            return _unauthorized(cloud)
        resp = handler(cloud, request, **params)
        resp.headers["OpenStack-API-Version"] = "volume 3.0"
        resp.headers["Vary"] = "OpenStack-API-Version"
        return resp
    return versioned


@project_scoped
def list_project_volume_versions(cloud: Cloud, request: Request, region: RegionState) -> Response:
    """Cinder v3's version list under the project (where the catalog points)."""
    return list_volume_versions(cloud, request, region)


@volume_api
def volume_unserved(cloud: Cloud, request: Request, **params: Any) -> Response:
    """Cinder serves reads only: 405 for other methods, else 404."""
    return method_not_allowed(cloud, request) if request.method != "GET" else not_found(cloud, request)


def _volume_type(vt: Mapping[str, Any]) -> dict[str, Any]:
    return {"id": vt["id"], "name": vt["name"], "description": vt["description"],
            "is_public": vt["is_public"], "os-volume-type-access:is_public": vt["is_public"],
            "extra_specs": dict(vt["extra_specs"]), "qos_specs_id": vt["qos_specs_id"]}


def _find_volume_type(region: RegionState, type_id: str) -> dict[str, Any] | Response:
    vt = next((t for t in region.volume_types if type_id in (t["id"], t["name"])), None)
    return vt if vt is not None else _error(404, f"Volume type {type_id} could not be found.", "Not Found")


@volume_api
def list_volume_types(cloud: Cloud, request: Request, region: RegionState) -> Response:
    """Volume types (marker paging)."""
    return _paged(cloud, request, region, region.volume_types, "volume_types",
                  f"volume/v3/{cloud.state.project_id}/types", _volume_type)


@volume_api
def show_volume_type(cloud: Cloud, request: Request, region: RegionState, type_id: str) -> Response:
    """One volume type, by id or name."""
    vt = _find_volume_type(region, type_id)
    return vt if isinstance(vt, Response) else json_response({"volume_type": _volume_type(vt)})


@volume_api
def list_volume_type_extra_specs(cloud: Cloud, request: Request, region: RegionState, type_id: str) -> Response:
    """A volume type's extra specs."""
    vt = _find_volume_type(region, type_id)
    return vt if isinstance(vt, Response) else json_response({"extra_specs": dict(vt["extra_specs"])})


def _find_qos(region: RegionState, qos_id: str) -> dict[str, Any] | Response:
    qos = next((q for q in region.qos_specs if q["id"] == qos_id), None)
    return qos if qos is not None else _error(404, f"QoS Specs {qos_id} could not be found.")


@volume_api
def list_qos_specs(cloud: Cloud, request: Request, region: RegionState) -> Response:
    """QoS specs (marker paging)."""
    return _paged(cloud, request, region, region.qos_specs, "qos_specs",
                  f"volume/v3/{cloud.state.project_id}/qos-specs", dict)


@volume_api
def show_qos_specs(cloud: Cloud, request: Request, region: RegionState, qos_id: str) -> Response:
    """One QoS spec."""
    qos = _find_qos(region, qos_id)
    return qos if isinstance(qos, Response) else json_response({"qos_specs": dict(qos)})


@volume_api
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


# -- Neutron -----------------------------------------------------------------------------------
_EXTENSIONS = (("external-net", "Neutron external network"), ("availability_zone", "Availability Zone"))


def _network_href(cloud: Cloud, region: RegionState) -> str:
    return f"{cloud.base_url}/{region.name}/network/v2.0/"


def _neutron_error(kind: str, message: str) -> Response:
    return json_response({"NeutronError": {"type": kind, "detail": "", "message": message}}, status=404)


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


def _filtered_networks(request: Request, region: RegionState) -> list[dict[str, Any]]:
    networks = region.networks
    for key in ("router:external", "shared", "admin_state_up"):
        wanted = _truthy(request.args.get(key))
        if wanted is not None:
            networks = [n for n in networks if bool(n[key]) == wanted]
    for key in ("name", "id", "status", "project_id"):
        if request.args.get(key):
            networks = [n for n in networks if str(n[key]) == request.args[key]]
    return networks


@authenticated
def list_networks(cloud: Cloud, request: Request, region: RegionState) -> Response:
    """Networks (filters, marker paging)."""
    return _paged(cloud, request, region, _filtered_networks(request, region), "networks",
                  "network/v2.0/networks", dict)


@authenticated
def show_network(cloud: Cloud, request: Request, region: RegionState, network_id: str) -> Response:
    """One network."""
    net = next((n for n in region.networks if n["id"] == network_id), None)
    if net is None:
        return _neutron_error("NetworkNotFound", f"Network {network_id} could not be found.")
    return json_response({"network": dict(net)})


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
