"""Wire format of the mocked OpenStack cloud: one handler per service, real shapes and codes.

URL layout (every URL under the mock's base, the catalog in the token points back here)::

    /identity                       Keystone: unversioned discovery (300)
    /identity/v3                    Keystone v3: version, auth/tokens, regions
    /<region>/compute/v2.1          Nova: version, flavors, os-extra_specs, os-availability-zone
    /<region>/image/v2              Glance: images (``next`` paging), schemas
    /<region>/volume/v3/<project>   Cinder: types, extra_specs, qos-specs, os-availability-zone
    /<region>/network/v2.0          Neutron: networks (marker paging)
    /<region>/rating/v1             CloudKitty: hashmap services, fields, mappings

Shapes follow the API references and what openstacksdk's resource classes read (for example
Nova's ``flavors_links``, Glance's relative ``next``, Keystone's ``X-Subject-Token``).
"""

from __future__ import annotations

import re
import time
import uuid
from collections.abc import Callable, Mapping
from decimal import Decimal
from typing import Any
from urllib.parse import urlencode

from werkzeug.wrappers import Request, Response

from cloudcat.testing.mockserver import Faults, json_response

from .models import CloudState, RegionState, Token, page

__all__ = ["NOVA_MAX_MICROVERSION", "NOVA_MIN_MICROVERSION", "OpenStackResponses"]

NOVA_MIN_MICROVERSION = (2, 1)
NOVA_MAX_MICROVERSION = (2, 90)
CINDER_MAX_MICROVERSION = (3, 70)
GLANCE_DEFAULT_LIMIT = 25  # glance's limit_param_default
_UPDATED = "2013-07-23T11:33:21Z"

Handler = Callable[[Request, RegionState, list[str]], Response]


def _error(status: int, message: str, title: str | None = None) -> Response:
    titles = {400: "Bad Request", 401: "Unauthorized", 403: "Forbidden", 404: "Not Found",
              405: "Method Not Allowed", 406: "Not Acceptable"}
    return json_response({"error": {"code": status, "title": title or titles.get(status, "Error"),
                                    "message": message}}, status=status)


def _nova_error(status: int, message: str) -> Response:
    key = {400: "badRequest", 404: "itemNotFound", 406: "computeFault"}.get(status, "computeFault")
    return json_response({key: {"code": status, "message": message}}, status=status)


def _int_arg(request: Request, name: str) -> int | None:
    value = request.args.get(name)
    if value is None or value == "":
        return None
    try:
        number = int(value)
    except ValueError:
        raise _BadRequest(f"Invalid {name} value: {value!r}") from None
    if number < 0:
        raise _BadRequest(f"{name} must be >= 0")
    return number


class _BadRequest(Exception):
    pass


def _truthy(value: str | None) -> bool | None:
    if value is None or value.lower() in ("none", ""):
        return None
    return value.lower() in ("true", "1", "yes", "on")


def _parse_version(text: str) -> tuple[int, int] | None:
    m = re.fullmatch(r"\s*(\d+)\.(\d+)\s*", text)
    return (int(m.group(1)), int(m.group(2))) if m else None


class OpenStackResponses:
    """Route requests to the service handlers of one :class:`CloudState`."""

    def __init__(self, state: CloudState, faults: Callable[[], Faults], base_url: Callable[[], str]) -> None:
        self.state = state
        self._faults = faults
        self._base = base_url

    # -- routing -------------------------------------------------------------------------------
    def dispatch(self, request: Request) -> Response:
        """Answer one request."""
        parts = [p for p in request.path.split("/") if p]
        try:
            if not parts:
                return self._root()
            if parts[0] == "identity":
                return self._identity(request, parts[1:])
            region = self.state.regions.get(parts[0])
            if region is None or len(parts) < 2:
                return _error(404, f"The resource could not be found: {request.path}")
            service = {"compute": self._compute, "image": self._image, "volume": self._volume,
                       "network": self._network, "rating": self._rating}.get(parts[1])
            if service is None:
                return _error(404, f"The resource could not be found: {request.path}")
            return service(request, region, parts[2:])
        except _BadRequest as exc:
            return _error(400, str(exc))

    def _root(self) -> Response:
        return json_response({"versions": {"values": [self._keystone_version()]}}, status=300)

    def _authenticated(self, request: Request) -> Token | None:
        return self.state.token(request.headers.get("X-Auth-Token"))

    def _unauthorized(self) -> Response:
        resp = _error(401, "The request you have made requires authentication.")
        resp.headers["WWW-Authenticate"] = f'Keystone uri="{self._base()}/identity"'
        return resp

    # -- Keystone ------------------------------------------------------------------------------
    def _keystone_version(self) -> dict[str, Any]:
        return {"id": "v3.14", "status": "stable", "updated": "2020-04-07T00:00:00Z",
                "links": [{"rel": "self", "href": f"{self._base()}/identity/v3/"}],
                "media-types": [{"base": "application/json",
                                 "type": "application/vnd.openstack.identity-v3+json"}]}

    def _identity(self, request: Request, parts: list[str]) -> Response:
        if not parts:
            return json_response({"versions": {"values": [self._keystone_version()]}}, status=300)
        if parts[0] != "v3":
            return _error(404, "The resource could not be found.")
        rest = parts[1:]
        if not rest:
            return json_response({"version": self._keystone_version()})
        if rest == ["auth", "tokens"]:
            if request.method == "POST":
                return self._issue_token(request)
            if request.method in ("GET", "HEAD"):
                caller = self._authenticated(request)
                subject = self.state.token(request.headers.get("X-Subject-Token"))
                if caller is None:
                    return self._unauthorized()
                if subject is None:
                    return _error(404, "Could not find token.")
                return self._token_response(subject, status=200)
            return _error(405, "Method not allowed")
        if self._authenticated(request) is None:
            return self._unauthorized()
        base = f"{self._base()}/identity/v3"
        if rest == ["regions"]:
            regions = [{"id": r.name, "description": r.description, "parent_region_id": None,
                        "links": {"self": f"{base}/regions/{r.name}"}} for r in self.state.regions.values()]
            return json_response({"regions": regions,
                                  "links": {"self": f"{base}/regions", "previous": None, "next": None}})
        if len(rest) == 2 and rest[0] == "regions":
            region = self.state.regions.get(rest[1])
            if region is None:
                return _error(404, f"Could not find region: {rest[1]}.")
            return json_response({"region": {"id": region.name, "description": region.description,
                                             "parent_region_id": None,
                                             "links": {"self": f"{base}/regions/{region.name}"}}})
        if rest == ["auth", "catalog"]:
            return json_response({"catalog": self._catalog(),
                                  "links": {"self": f"{base}/auth/catalog", "previous": None, "next": None}})
        if rest in (["auth", "projects"], ["projects"]):
            return json_response({"projects": [self._project()],
                                  "links": {"self": f"{base}/auth/projects", "previous": None, "next": None}})
        return _error(404, "The resource could not be found.")

    def _project(self) -> dict[str, Any]:
        return {"id": self.state.project_id, "name": self.state.project_name, "domain_id": self.state.domain_id,
                "enabled": True, "is_domain": False, "parent_id": self.state.domain_id, "description": "",
                "tags": [], "links": {"self": f"{self._base()}/identity/v3/projects/{self.state.project_id}"}}

    def _issue_token(self, request: Request) -> Response:
        faults = self._faults()
        body = request.get_json(force=True, silent=True)
        if not isinstance(body, dict) or not isinstance(body.get("auth"), dict):
            return _error(400, "Expecting to find auth in request body.")
        auth = body["auth"]
        identity = auth.get("identity") or {}
        methods = identity.get("methods") or []
        user: str | None = None
        method = ""
        cred_id: str | None = None
        if "password" in methods:
            u = (identity.get("password") or {}).get("user") or {}
            method = "password"
            domain = u.get("domain") or {}
            domain_ok = (not domain or domain.get("name") == self.state.domain
                         or domain.get("id") == self.state.domain_id) or "id" in u
            user = self.state.check_password(u.get("name"), u.get("id"), u.get("password"))
            if not domain_ok:
                user = None
        elif "application_credential" in methods:
            ac = identity.get("application_credential") or {}
            method = "application_credential"
            cred_id = ac.get("id")
            user = self.state.check_app_credential(ac.get("id"), ac.get("name"), ac.get("secret"))
        elif "token" in methods:
            tok = self.state.token((identity.get("token") or {}).get("id"))
            method = "token"
            user = tok.user_name if tok else None
        else:
            return _error(400, "Expecting to find identity methods in request body.")
        if faults.fail_auth or user is None:
            return _error(401, "The request you have made requires authentication.")
        scope = auth.get("scope")
        if isinstance(scope, dict) and "project" in scope and method != "application_credential":
            p = scope["project"] or {}
            pdom = p.get("domain") or {}
            ok = (p.get("id") == self.state.project_id
                  or (p.get("name") == self.state.project_name
                      and (pdom.get("name") == self.state.domain or pdom.get("id") == self.state.domain_id)))
            if not ok:
                return _error(401, "The request you have made requires authentication.")
        token = self.state.issue(user, method, faults.token_ttl, cred_id)
        return self._token_response(token, status=201)

    def _token_response(self, token: Token, status: int) -> Response:
        st = self.state
        domain = {"id": st.domain_id, "name": st.domain}
        body: dict[str, Any] = {
            "methods": [token.method], "audit_ids": [uuid.uuid4().hex[:22]],
            "expires_at": token.expires_iso(), "issued_at": token.issued_iso(),
            "user": {"id": token.user_id, "name": token.user_name, "domain": domain,
                     "password_expires_at": None},
            "project": {"id": st.project_id, "name": st.project_name, "domain": domain},
            "is_domain": False,
            "roles": [{"id": uuid.uuid5(uuid.NAMESPACE_OID, r).hex, "name": r} for r in ("member", "reader")],
            "catalog": self._catalog(),
        }
        if token.app_credential_id:
            body["application_credential"] = {"id": token.app_credential_id, "name": "cloudcat",
                                              "restricted": True}
        resp = json_response({"token": body}, status=status)
        resp.headers["X-Subject-Token"] = token.value
        return resp

    def _catalog(self) -> list[dict[str, Any]]:
        base = self._base()
        pid = self.state.project_id
        services: list[tuple[str, str, Callable[[str], str]]] = [
            ("identity", "keystone", lambda r: f"{base}/identity"),
            ("compute", "nova", lambda r: f"{base}/{r}/compute/v2.1"),
            ("image", "glance", lambda r: f"{base}/{r}/image"),
            ("volumev3", "cinderv3", lambda r: f"{base}/{r}/volume/v3/{pid}"),
            ("block-storage", "cinder", lambda r: f"{base}/{r}/volume/v3/{pid}"),
            ("network", "neutron", lambda r: f"{base}/{r}/network"),
        ]
        if self._prices() is not None:
            services.append(("rating", "cloudkitty", lambda r: f"{base}/{r}/rating"))
        catalog = []
        for stype, name, url in services:
            endpoints = [{"id": uuid.uuid5(uuid.NAMESPACE_URL, f"{stype}/{r}/{iface}").hex, "interface": iface,
                          "region": r, "region_id": r, "url": url(r)}
                         for r in self.state.regions for iface in ("public", "internal", "admin")]
            catalog.append({"id": uuid.uuid5(uuid.NAMESPACE_URL, stype).hex, "type": stype, "name": name,
                            "endpoints": endpoints})
        return catalog

    # -- Nova ----------------------------------------------------------------------------------
    def _nova_version(self, region: RegionState) -> dict[str, Any]:
        mx, mn = NOVA_MAX_MICROVERSION, NOVA_MIN_MICROVERSION
        return {"id": "v2.1", "status": "CURRENT", "version": f"{mx[0]}.{mx[1]}",
                "min_version": f"{mn[0]}.{mn[1]}", "updated": _UPDATED,
                "links": [{"rel": "self", "href": f"{self._base()}/{region.name}/compute/v2.1/"},
                          {"rel": "describedby", "type": "text/html", "href": "https://docs.openstack.org/"}],
                "media-types": [{"base": "application/json",
                                 "type": "application/vnd.openstack.compute+json;version=2.1"}]}

    def _microversion(self, request: Request) -> tuple[int, int] | Response:
        header = request.headers.get("OpenStack-API-Version", "")
        wanted: str | None = None
        for part in header.split(","):
            bits = part.strip().split(None, 1)
            if len(bits) == 2 and bits[0].lower() == "compute":
                wanted = bits[1]
        if wanted is None:
            wanted = request.headers.get("X-OpenStack-Nova-API-Version")
        if not wanted:
            return NOVA_MIN_MICROVERSION
        if wanted.strip().lower() == "latest":
            return NOVA_MAX_MICROVERSION
        version = _parse_version(wanted)
        if version is None:
            return _nova_error(400, f"Invalid API version request string: {wanted}")
        if not NOVA_MIN_MICROVERSION <= version <= NOVA_MAX_MICROVERSION:
            return _nova_error(406, f"Version {wanted} is not supported by the API. Minimum is 2.1 and "
                                    "maximum is 2.90.")
        return version

    def _compute(self, request: Request, region: RegionState, parts: list[str]) -> Response:
        if not parts:
            return json_response({"versions": [{k: v for k, v in self._nova_version(region).items()
                                                if k != "media-types"}]})
        if parts[0] != "v2.1":
            return _nova_error(404, "The resource could not be found.")
        rest = parts[1:]
        if rest and rest[0] == self.state.project_id:  # catalogs that carry the project id
            rest = rest[1:]
        if not rest:
            return json_response({"version": self._nova_version(region)})
        if self._authenticated(request) is None:
            return self._unauthorized()
        mv = self._microversion(request)
        if isinstance(mv, Response):
            return mv
        resp = self._nova_route(request, region, rest, mv)
        text = f"{mv[0]}.{mv[1]}"
        resp.headers["OpenStack-API-Version"] = f"compute {text}"
        resp.headers["X-OpenStack-Nova-API-Version"] = text
        resp.headers["Vary"] = "OpenStack-API-Version, X-OpenStack-Nova-API-Version"
        return resp

    def _nova_route(self, request: Request, region: RegionState, rest: list[str],
                    mv: tuple[int, int]) -> Response:
        if request.method != "GET":
            return _nova_error(405, "Method not allowed")
        if rest[0] == "flavors":
            if len(rest) == 1 or rest[1:] == ["detail"]:
                return self._flavor_list(request, region, detail=len(rest) == 2, mv=mv)
            flavor = next((f for f in region.flavors if f["id"] == rest[1]), None)
            if flavor is None:
                return _nova_error(404, f"Flavor {rest[1]} could not be found.")
            if len(rest) == 2:
                return json_response({"flavor": self._flavor(region, flavor, True, mv)})
            if rest[2] == "os-extra_specs":
                if len(rest) == 3:
                    return json_response({"extra_specs": dict(flavor["extra_specs"])})
                key = rest[3]
                if key not in flavor["extra_specs"]:
                    return _nova_error(404, f"Flavor {flavor['id']} has no extra specs with key {key}.")
                return json_response({key: flavor["extra_specs"][key]})
            return _nova_error(404, "The resource could not be found.")
        if rest[0] == "os-availability-zone":
            detail = rest[1:] == ["detail"]
            zones = [{"zoneName": z, "zoneState": {"available": z not in region.unavailable_zones},
                      "hosts": {} if detail else None} for z in region.zones]
            return json_response({"availabilityZoneInfo": zones})
        return _nova_error(404, "The resource could not be found.")

    def _flavor(self, region: RegionState, f: Mapping[str, Any], detail: bool,
                mv: tuple[int, int]) -> dict[str, Any]:
        href = f"{self._base()}/{region.name}/compute/v2.1/flavors/{f['id']}"
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

    def _flavor_list(self, request: Request, region: RegionState, *, detail: bool,
                     mv: tuple[int, int]) -> Response:
        flavors = region.flavors
        public = _truthy(request.args.get("is_public", "true"))
        if public is not None:
            flavors = [f for f in flavors if f["is_public"] == public]
        min_ram, min_disk = _int_arg(request, "minRam"), _int_arg(request, "minDisk")
        if min_ram:
            flavors = [f for f in flavors if f["ram"] >= min_ram]
        if min_disk:
            flavors = [f for f in flavors if f["disk"] >= min_disk]
        limit = _int_arg(request, "limit")
        marker = request.args.get("marker")
        cap = self._faults().page_limit or 1000  # osapi_max_limit
        chunk, effective, found = page(flavors, marker=marker, limit=limit, cap=cap)
        if not found:
            return _nova_error(400, f"marker [{marker}] not found")
        body: dict[str, Any] = {"flavors": [self._flavor(region, f, detail, mv) for f in chunk]}
        if chunk and effective and len(chunk) == effective:
            path = "flavors/detail" if detail else "flavors"
            query = {k: v for k, v in request.args.items() if k not in ("marker", "limit")}
            query.update({"limit": str(effective), "marker": chunk[-1]["id"]})
            body["flavors_links"] = [{"rel": "next", "href":
                                      f"{self._base()}/{region.name}/compute/v2.1/{path}?{urlencode(query)}"}]
        return json_response(body)

    # -- Glance --------------------------------------------------------------------------------
    def _image(self, request: Request, region: RegionState, parts: list[str]) -> Response:
        href = f"{self._base()}/{region.name}/image"
        if not parts or parts == ["versions"]:
            versions = [{"id": v, "status": "CURRENT" if v == "v2.9" else "SUPPORTED",
                         "links": [{"rel": "self", "href": f"{href}/v2/"}]}
                        for v in ("v2.9", "v2.8", "v2.7", "v2.6", "v2.5", "v2.4", "v2.3", "v2.2", "v2.1", "v2.0")]
            return json_response({"versions": versions}, status=300 if not parts else 200)
        if parts[0] != "v2":
            return _error(404, "The resource could not be found.")
        rest = parts[1:]
        if self._authenticated(request) is None:
            return self._unauthorized()
        if request.method != "GET":
            return _error(405, "Method not allowed")
        if rest == ["images"]:
            return self._image_list(request, region)
        if len(rest) == 2 and rest[0] == "images":
            image = next((i for i in self._visible_images(region) if i["id"] == rest[1]), None)
            if image is None:
                return _error(404, f"No image found with ID {rest[1]}")
            return json_response(self._image_body(image))
        if len(rest) == 2 and rest[0] == "schemas" and rest[1] in ("image", "images"):
            return json_response({"name": rest[1], "properties": {}, "additionalProperties": {"type": "string"},
                                  "links": []})
        return _error(404, "The resource could not be found.")

    def _visible_images(self, region: RegionState) -> list[dict[str, Any]]:
        return [i for i in region.images
                if i["visibility"] in ("public", "shared", "community")
                or i["owner"] == self.state.project_id]

    @staticmethod
    def _image_body(image: Mapping[str, Any]) -> dict[str, Any]:
        out = dict(image)
        out["self"] = f"/v2/images/{image['id']}"
        out["file"] = f"/v2/images/{image['id']}/file"
        out["schema"] = "/v2/schemas/image"
        return out

    def _image_list(self, request: Request, region: RegionState) -> Response:
        images = self._visible_images(region)
        visibility = request.args.get("visibility")
        if visibility and visibility != "all":
            images = [i for i in images if i["visibility"] == visibility]
        elif not visibility:
            images = [i for i in images if i["visibility"] != "community"]
        for key in ("name", "status", "os_distro", "os_version"):
            if request.args.get(key):
                images = [i for i in images if str(i.get(key)) == request.args[key]]
        limit = _int_arg(request, "limit") or GLANCE_DEFAULT_LIMIT
        marker = request.args.get("marker")
        chunk, effective, found = page(images, marker=marker, limit=limit, cap=self._faults().page_limit)
        if not found:
            return _error(400, f"Invalid marker. Image {marker} could not be found.")
        body: dict[str, Any] = {"images": [self._image_body(i) for i in chunk], "first": "/v2/images",
                                "schema": "/v2/schemas/images"}
        if chunk and effective and len(chunk) == effective:
            query = {k: v for k, v in request.args.items() if k not in ("marker", "limit")}
            query.update({"marker": chunk[-1]["id"], "limit": str(effective)})
            body["next"] = f"/v2/images?{urlencode(query)}"
        return json_response(body)

    # -- Cinder --------------------------------------------------------------------------------
    def _cinder_version(self, region: RegionState) -> dict[str, Any]:
        mx = CINDER_MAX_MICROVERSION
        return {"id": "v3.0", "status": "CURRENT", "version": f"{mx[0]}.{mx[1]}", "min_version": "3.0",
                "updated": "2023-08-31T00:00:00Z",
                "links": [{"rel": "self", "href": f"{self._base()}/{region.name}/volume/v3/"}],
                "media-types": [{"base": "application/json",
                                 "type": "application/vnd.openstack.volume+json;version=3"}]}

    def _volume(self, request: Request, region: RegionState, parts: list[str]) -> Response:
        if not parts:
            return json_response({"versions": [self._cinder_version(region)]}, status=300)
        if parts[0] != "v3":
            return _error(404, "The resource could not be found.")
        rest = parts[1:]
        if not rest:
            return json_response({"versions": [self._cinder_version(region)]})
        if rest[0] != self.state.project_id:
            if self._authenticated(request) is None:
                return self._unauthorized()
            return _error(404, "The resource could not be found.")
        rest = rest[1:]
        if not rest:
            return json_response({"versions": [self._cinder_version(region)]})
        if self._authenticated(request) is None:
            return self._unauthorized()
        resp = self._cinder_route(request, region, rest)
        resp.headers["OpenStack-API-Version"] = "volume 3.0"
        resp.headers["Vary"] = "OpenStack-API-Version"
        return resp

    def _cinder_route(self, request: Request, region: RegionState, rest: list[str]) -> Response:
        if request.method != "GET":
            return _error(405, "Method not allowed")
        if rest[0] == "types":
            if len(rest) == 1:
                return self._paged(request, region, region.volume_types, "volume_types",
                                   f"volume/v3/{self.state.project_id}/types", self._volume_type)
            vt = next((t for t in region.volume_types if rest[1] in (t["id"], t["name"])), None)
            if vt is None:
                return _error(404, f"Volume type {rest[1]} could not be found.", "Not Found")
            if len(rest) == 2:
                return json_response({"volume_type": self._volume_type(vt)})
            if rest[2:] == ["extra_specs"]:
                return json_response({"extra_specs": dict(vt["extra_specs"])})
            return _error(404, "The resource could not be found.")
        if rest[0] == "qos-specs":
            if len(rest) == 1:
                return self._paged(request, region, region.qos_specs, "qos_specs",
                                   f"volume/v3/{self.state.project_id}/qos-specs", dict)
            qos = next((q for q in region.qos_specs if q["id"] == rest[1]), None)
            if qos is None:
                return _error(404, f"QoS Specs {rest[1]} could not be found.")
            if len(rest) == 2:
                return json_response({"qos_specs": dict(qos)})
            if rest[2:] == ["associations"]:
                assoc = [{"association_type": "volume_type", "name": t["name"], "id": t["id"]}
                         for t in region.volume_types if t["qos_specs_id"] == qos["id"]]
                return json_response({"qos_associations": assoc})
            return _error(404, "The resource could not be found.")
        if rest[0] == "os-availability-zone":
            zones = [{"zoneName": z, "zoneState": {"available": z not in region.unavailable_zones}}
                     for z in region.volume_zones]
            return json_response({"availabilityZoneInfo": zones})
        return _error(404, "The resource could not be found.")

    @staticmethod
    def _volume_type(vt: Mapping[str, Any]) -> dict[str, Any]:
        return {"id": vt["id"], "name": vt["name"], "description": vt["description"],
                "is_public": vt["is_public"], "os-volume-type-access:is_public": vt["is_public"],
                "extra_specs": dict(vt["extra_specs"]), "qos_specs_id": vt["qos_specs_id"]}

    def _paged(self, request: Request, region: RegionState, items: list[dict[str, Any]], key: str,
               path: str, shape: Callable[[dict[str, Any]], dict[str, Any]]) -> Response:
        limit = _int_arg(request, "limit")
        marker = request.args.get("marker")
        chunk, effective, found = page(items, marker=marker, limit=limit, cap=self._faults().page_limit)
        if not found:
            return _error(400, f"marker [{marker}] not found")
        body: dict[str, Any] = {key: [shape(i) for i in chunk]}
        if chunk and effective and len(chunk) == effective:
            query = {k: v for k, v in request.args.items() if k not in ("marker", "limit")}
            query.update({"limit": str(effective), "marker": chunk[-1]["id"]})
            body[f"{key}_links"] = [{"rel": "next",
                                     "href": f"{self._base()}/{region.name}/{path}?{urlencode(query)}"}]
        return json_response(body)

    # -- Neutron -------------------------------------------------------------------------------
    def _network(self, request: Request, region: RegionState, parts: list[str]) -> Response:
        href = f"{self._base()}/{region.name}/network/v2.0/"
        if not parts:
            return json_response({"versions": [{"id": "v2.0", "status": "CURRENT",
                                                "links": [{"rel": "self", "href": href}]}]})
        if parts[0] != "v2.0":
            return _error(404, "The resource could not be found.")
        rest = parts[1:]
        if self._authenticated(request) is None:
            return self._unauthorized()
        if not rest:
            return json_response({"resources": [{"name": "network", "collection": "networks",
                                                 "links": [{"rel": "self", "href": href + "networks"}]}]})
        if request.method != "GET":
            return _error(405, "Method not allowed")
        if rest == ["networks"]:
            networks = region.networks
            for key in ("router:external", "shared", "admin_state_up"):
                wanted = _truthy(request.args.get(key))
                if wanted is not None:
                    networks = [n for n in networks if bool(n[key]) == wanted]
            for key in ("name", "id", "status", "project_id"):
                if request.args.get(key):
                    networks = [n for n in networks if str(n[key]) == request.args[key]]
            return self._paged(request, region, networks, "networks", "network/v2.0/networks", dict)
        if len(rest) == 2 and rest[0] == "networks":
            net = next((n for n in region.networks if n["id"] == rest[1]), None)
            if net is None:
                return json_response({"NeutronError": {"type": "NetworkNotFound", "detail": "",
                                                       "message": f"Network {rest[1]} could not be found."}},
                                     status=404)
            return json_response({"network": dict(net)})
        extensions = [{"alias": alias, "name": name, "description": "", "links": [], "updated": _UPDATED}
                      for alias, name in (("external-net", "Neutron external network"),
                                          ("availability_zone", "Availability Zone"))]
        if rest == ["extensions"]:
            return json_response({"extensions": extensions})
        if len(rest) == 2 and rest[0] == "extensions":
            ext = next((e for e in extensions if e["alias"] == rest[1]), None)
            if ext is None:
                return json_response({"NeutronError": {"type": "ExtensionNotFound", "detail": "",
                                                       "message": f"Extension {rest[1]} could not be found."}},
                                     status=404)
            return json_response({"extension": ext})
        if rest == ["availability_zones"]:
            return json_response({"availability_zones": [
                {"name": z, "resource": resource, "state": "available"}
                for z in region.zones for resource in ("network", "router")]})
        return _error(404, "The resource could not be found.")

    # -- CloudKitty (hashmap rating) -------------------------------------------------------------
    def _prices(self) -> Any:
        fx = self.state.fixture
        return fx.prices if fx.cloudkitty else None

    def _rating(self, request: Request, region: RegionState, parts: list[str]) -> Response:
        prices = self._prices()
        if prices is None:
            return _error(404, "The resource could not be found.")
        if not parts:
            return json_response({"versions": {"values": [
                {"id": "v1", "status": "CURRENT",
                 "links": [{"rel": "self", "href": f"{self._base()}/{region.name}/rating/v1/"}]}]}})
        if self._authenticated(request) is None:
            return self._unauthorized()
        prefix = ["v1", "rating", "module_config", "hashmap"]
        if parts == ["v1", "rating", "modules"]:
            return json_response({"modules": [{"module_id": "hashmap", "description": "HashMap rating module.",
                                               "enabled": True, "hot-config": True, "priority": 1}]})
        if parts[:4] != prefix or len(parts) != 5 or request.method != "GET":
            return _error(404, "The resource could not be found.")

        def uid(*bits: str) -> str:
            return str(uuid.uuid5(uuid.NAMESPACE_URL, "/".join(("cloudkitty", region.name, *bits))))

        services = [{"service_id": uid("svc", "instance"), "name": "instance"},
                    {"service_id": uid("svc", "volume.size"), "name": "volume.size"}]
        fields = [{"field_id": uid("field", "flavor_id"), "name": "flavor_id",
                   "service_id": services[0]["service_id"]},
                  {"field_id": uid("field", "volume_type"), "name": "volume_type",
                   "service_id": services[1]["service_id"]}]
        mappings = []
        for item, table, field in ((f, prices.flavors, fields[0]) for f in region.flavors):
            if item["name"] in table:
                mappings.append(self._mapping(uid("map", item["id"]), item["id"], table[item["name"]], field))
        for item in region.volume_types:
            if item["name"] in prices.volume_types:
                mappings.append(self._mapping(uid("map", item["id"]), item["id"],
                                              prices.volume_types[item["name"]], fields[1]))
        what = parts[4]
        if what == "services":
            return json_response({"services": services})
        if what == "fields":
            sid = request.args.get("service_id")
            return json_response({"fields": [f for f in fields if not sid or f["service_id"] == sid]})
        if what == "mappings":
            fid, sid = request.args.get("field_id"), request.args.get("service_id")
            return json_response({"mappings": [m for m in mappings
                                               if (not fid or m["field_id"] == fid)
                                               and (not sid or m["service_id"] == sid)]})
        return _error(404, "The resource could not be found.")

    @staticmethod
    def _mapping(mapping_id: str, value: str, cost: str, field: Mapping[str, Any]) -> dict[str, Any]:
        # CloudKitty echoes costs through a float, binary noise included
        return {"mapping_id": mapping_id, "value": value, "type": "flat",
                "cost": str(Decimal(float(cost)).quantize(Decimal("1e-28"))),
                "service_id": None, "field_id": field["field_id"], "group_id": None, "tenant_id": None,
                "start": None, "end": None, "name": None, "description": None, "created_at": _now_iso()}


def _now_iso() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime())
