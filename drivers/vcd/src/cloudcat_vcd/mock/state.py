"""State and logic of the mocked Cloud Director: the org, its VDCs, policies, catalogs and tokens.

Wire formats (XML, JSON, status codes) live in :mod:`.responses` and the routing table in
:mod:`.urls`; this module knows entities, query records, filters, paging and sessions, and
nothing of HTTP.

Fixture layout (YAML)::

    api_versions: {supported: ["36.0", "37.0", …], deprecated_below: "37.0"}
    cloudapi_v2: true            # serve /cloudapi/2.0.0 (false: an older Cloud Director)
    site: {name: "Console Externe VDR"}
    site_location: vdr           # base of region names when the fixture is repeated (regions=N)
    org: {name: cav01ev01ocb0001234, full_name: …}
    users: [{name: admin, password: …, roles: [Organization Administrator]}]
    api_tokens: [{user: admin, token: …}]
    compute_policies: [{name: 2vCPU-4GB, cpu_count: 2, memory_mb: 4096, cpu_speed_mhz: 2200,
                        vgpu: {profile: grid_a100-10c, count: 1}}]
    vdcs:
      - name: …
        network_provider_scope: …   # optional
        allocation_model: Flex
        cpu_allocated_mhz: 22000
        cpu_speed_mhz: 2200
        memory_allocated_mb: 30720
        metadata: {vdcServiceClass: STD, …}
        compute_policies: [2vCPU-4GB]
        storage_profiles: [{name: gold, limit_mb: 512000, default: true, iops_limit: 0}]
        networks: [{name: …, type: NAT_ROUTED, gateway: 192.168.0.1, prefix: 24, edge: …}]
        edges: [{name: …, uplink: …}]
    catalogs:
      - {name: Orange-Linux, owner_org: …, published: true,
         templates: [{name: debian_10_X64, storage_mb: 10240, cpus: 1, memory_mb: 1024, guest_os: …}]}
"""

from __future__ import annotations

import datetime as dt
import secrets
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

__all__ = [
    "DEFAULT_VERSIONS",
    "FiqlError",
    "Session",
    "VcdState",
    "compile_filter",
    "page_of",
]

DEFAULT_VERSIONS = ["33.0", "34.0", "35.0", "36.0", "37.0", "37.1", "37.2", "37.3",
                    "38.0", "38.1", "39.0", "39.1"]
_NS = uuid.UUID("6f1c1d52-4a7e-4f0e-9a49-0c5d1f3a8b11")
_CREATED = "2024-01-15T10:00:00.000+01:00"


def _uuid(*parts: str) -> str:
    return str(uuid.uuid5(_NS, "/".join(parts)))


@dataclass
class Session:
    """A bearer token the mock issued."""

    token: str
    user: str
    issued: float
    via: str  # "basic" or "api-token"


@dataclass
class Vdc:
    """One org VDC."""

    uuid: str
    name: str
    spec: dict[str, Any]
    scope: str | None


class FiqlError(ValueError):
    """A ``filter`` the mock cannot parse."""


def compile_filter(text: str | None) -> Callable[[Mapping[str, Any]], bool]:
    """A predicate for a FIQL-style filter: ``a==x;b==y`` (AND), ``a==x,a==y`` (OR), ``!=``, ``*``."""
    if not text:
        return lambda record: True
    alternatives = []
    for alt in text.split(","):
        terms = []
        for term in alt.split(";"):
            op = "!=" if "!=" in term else "=="
            if op not in term:
                raise FiqlError(f"cannot parse filter term {term!r}")
            key, value = term.split(op, 1)
            terms.append((key.strip(), op, value.strip()))
        alternatives.append(terms)

    def matches(value: Any, pattern: str) -> bool:
        text = str(value).lower() if isinstance(value, bool) else str(value)
        if "*" in pattern:
            import fnmatch
            return fnmatch.fnmatchcase(text, pattern)
        return text == pattern

    def predicate(record: Mapping[str, Any]) -> bool:
        return any(all(matches(record.get(k, ""), v) == (op == "==") for k, op, v in terms)
                   for terms in alternatives)

    return predicate


def page_of(records: list[Any], page: int, page_size: int) -> tuple[list[Any], int]:
    """Records of 1-based ``page`` and the page count (at least 1)."""
    count = max(1, -(-len(records) // page_size))
    start = (page - 1) * page_size
    return records[start:start + page_size], count


@dataclass
class VcdState:
    """Everything the mocked Cloud Director holds, built from a fixture."""

    fixture: dict[str, Any]
    regions: int | None = None
    base_url: str = ""
    sessions: dict[str, Session] = field(default_factory=dict)

    def __post_init__(self) -> None:
        fx = self.fixture
        self.org_name: str = str(fx.get("org", {}).get("name", "acme"))
        self.org_uuid = _uuid("org", self.org_name)
        self.site: dict[str, Any] = dict(fx.get("site") or {"name": "vcd"})
        versions = fx.get("api_versions") or {}
        self.versions: list[str] = [str(v) for v in versions.get("supported", DEFAULT_VERSIONS)]
        self.deprecated_below: str | None = versions.get("deprecated_below")
        self.cloudapi_v2: bool = bool(fx.get("cloudapi_v2", True))
        self.users: dict[str, dict[str, Any]] = {u["name"]: u for u in fx.get("users", [])}
        self.api_tokens: dict[str, str] = {str(t["token"]): t["user"] for t in fx.get("api_tokens", [])}
        self.policies: list[dict[str, Any]] = list(fx.get("compute_policies", []))
        self.vdcs: list[Vdc] = self._build_vdcs()
        self.catalogs: list[dict[str, Any]] = list(fx.get("catalogs", []))
        self._records: dict[tuple[str, str], list[dict[str, Any]]] = {}

    def _build_vdcs(self) -> list[Vdc]:
        specs = list(self.fixture.get("vdcs", []))
        copies = self.regions or 1
        base = str(self.fixture.get("site_location") or "site")
        out = []
        for k in range(1, copies + 1):
            for spec in specs:
                name = spec["name"] if k == 1 else f"{spec['name']}-{k}"
                scope = spec.get("network_provider_scope")
                if k > 1:
                    scope = f"{scope or base}-{k}"
                out.append(Vdc(uuid=_uuid("vdc", self.org_name, name), name=name, spec=spec, scope=scope))
        return out

    # -- versions and sessions ----------------------------------------------------------------
    def version_supported(self, version: str) -> bool:
        """Whether the server speaks ``version``."""
        return version in self.versions

    def is_deprecated(self, version: str) -> bool:
        """Whether ``/api/versions`` flags ``version`` as deprecated."""
        if not self.deprecated_below:
            return False
        return _vkey(version) < _vkey(self.deprecated_below)

    def login(self, user: str, org: str, password: str) -> Session | None:
        """A new session for valid ``user@org`` credentials."""
        known = self.users.get(user)
        if org.lower() != self.org_name.lower() or known is None or str(known.get("password")) != password:
            return None
        return self._issue(user, "basic")

    def exchange(self, org: str, refresh_token: str) -> Session | None:
        """A new session for a valid API (refresh) token of ``org``."""
        user = self.api_tokens.get(refresh_token)
        if user is None or org.lower() != self.org_name.lower():
            return None
        return self._issue(user, "api-token")

    def _issue(self, user: str, via: str) -> Session:
        session = Session(token=secrets.token_urlsafe(32), user=user, issued=time.monotonic(), via=via)
        self.sessions[session.token] = session
        return session

    def authorize(self, token: str | None, ttl: float | None) -> Session | None:
        """The live session of a bearer token; ``None`` when unknown or older than ``ttl``."""
        session = self.sessions.get(token or "")
        if session is None:
            return None
        if ttl is not None and time.monotonic() - session.issued > ttl:
            del self.sessions[session.token]  # an expired session is gone for good
            return None
        return session

    def roles(self, user: str) -> list[str]:
        """Roles of ``user``."""
        return list(self.users.get(user, {}).get("roles", ["Organization Administrator"]))

    # -- references ---------------------------------------------------------------------------
    def href(self, path: str) -> str:
        """Absolute URL of ``path`` on this server."""
        return f"{self.base_url}{path}"

    def vdc_urn(self, vdc: Vdc) -> str:
        """``urn:vcloud:vdc:<uuid>``."""
        return f"urn:vcloud:vdc:{vdc.uuid}"

    def find_vdc(self, ident: str) -> Vdc | None:
        """A VDC by uuid or urn."""
        ident = ident.removeprefix("urn:vcloud:vdc:")
        return next((v for v in self.vdcs if v.uuid == ident), None)

    # -- compute policies ---------------------------------------------------------------------
    def policy_id(self, policy: Mapping[str, Any]) -> str:
        """URN of a compute policy."""
        return f"urn:vcloud:vdcComputePolicy:{_uuid('policy', self.org_name, policy['name'])}"

    def policies_for(self, vdc: Vdc | None, v2: bool) -> list[dict[str, Any]]:
        """Compute policies (of one VDC, or every VDC of the org) in the OpenAPI shape."""
        if vdc is None:
            names = {n for v in self.vdcs for n in v.spec.get("compute_policies", [])}
        else:
            names = set(vdc.spec.get("compute_policies", []))
        out = []
        for policy in self.policies:
            if policy["name"] not in names:
                continue
            vgpu = policy.get("vgpu")
            if vgpu and not v2:
                continue  # vGPU policies exist only in the 2.0.0 API
            out.append(self._policy_json(policy, v2))
        return out

    def _policy_json(self, p: Mapping[str, Any], v2: bool) -> dict[str, Any]:
        body: dict[str, Any] = {
            "id": self.policy_id(p), "name": p["name"], "description": p.get("description"),
            "cpuSpeed": p.get("cpu_speed_mhz"), "memory": p.get("memory_mb"), "cpuCount": p.get("cpu_count"),
            "coresPerSocket": p.get("cores_per_socket", 1), "memoryReservationGuarantee": None,
            "cpuReservationGuarantee": None, "cpuLimit": None, "memoryLimit": None, "cpuShares": None,
            "memoryShares": None, "extraConfigs": None, "pvdcComputePolicyRef": None,
            "compatibleVdcTypes": ["FLEX_VDC"], "isSizingOnly": not p.get("vgpu"), "pvdcId": None,
            "namedVmGroups": None, "logicalVmGroupReferences": None, "isAutoGenerated": False,
        }
        if v2:
            vgpu = p.get("vgpu")
            body.update({
                "policyType": "VdcVmPolicy", "isVgpuPolicy": bool(vgpu),
                "vgpuProfiles": ([{"profile": {"name": vgpu["profile"], "id": _uuid("vgpu", vgpu["profile"])},
                                   "count": vgpu.get("count", 1)}] if vgpu else None),
                "pvdcNamedVmGroupsMap": None, "pvdcLogicalVmGroupsMap": None,
            })
        return body

    # -- query service ------------------------------------------------------------------------
    def records(self, kind: str) -> list[dict[str, Any]] | None:
        """Query records of ``kind`` (``None`` for a type the mock does not serve)."""
        builders: dict[str, Callable[[], list[dict[str, Any]]]] = {
            "orgVdc": self._vdc_records, "orgVdcStorageProfile": self._profile_records,
            "catalog": self._catalog_records, "catalogItem": self._catalog_item_records,
            "vAppTemplate": self._template_records,
        }
        build = builders.get(kind)
        if build is None:
            return None
        key = (kind, self.base_url)
        if key not in self._records:  # the org does not change between resets: build once
            self._records[key] = build()
        return [dict(r) for r in self._records[key]]

    def _vdc_records(self) -> list[dict[str, Any]]:
        out = []
        for v in self.vdcs:
            s = v.spec
            cpu = int(s.get("cpu_allocated_mhz", 0))
            mem = int(s.get("memory_allocated_mb", 0))
            out.append({
                "href": self.href(f"/api/vdc/{v.uuid}"), "name": v.name, "description": s.get("description", ""),
                "isEnabled": True, "isBusy": False, "isSystemVdc": False, "status": "READY",
                "orgName": self.org_name, "cpuAllocationMhz": cpu, "cpuLimitMhz": cpu,
                "cpuUsedMhz": int(s.get("cpu_used_mhz", 0)), "memoryAllocationMB": mem,
                "memoryLimitMB": mem, "memoryUsedMB": int(s.get("memory_used_mb", 0)),
                "storageLimitMB": sum(int(p.get("limit_mb", 0)) for p in s.get("storage_profiles", [])),
                "storageUsedMB": 0, "numberOfVApps": 0, "numberOfMedia": 0, "numberOfDisks": 0,
                "numberOfVAppTemplates": 0, "numberOfStorageProfiles": len(s.get("storage_profiles", [])),
                "networkProviderScope": v.scope or "",
            })
        return out

    def _profile_records(self) -> list[dict[str, Any]]:
        out = []
        for v in self.vdcs:
            for p in v.spec.get("storage_profiles", []):
                out.append({
                    "href": self.href(f"/api/vdcStorageProfile/{_uuid('sp', v.uuid, p['name'])}"),
                    "id": "", "name": p["name"], "isEnabled": p.get("enabled", True),
                    "isDefaultStorageProfile": bool(p.get("default", False)),
                    "storageLimitMB": int(p.get("limit_mb", 0)), "storageUsedMB": int(p.get("used_mb", 0)),
                    "iopsAllocated": int(p.get("iops_allocated", 0)), "iopsLimit": int(p.get("iops_limit", 0)),
                    "numberOfConditions": 0, "vdc": self.href(f"/api/vdc/{v.uuid}"), "vdcName": v.name,
                    "isVdcBusy": False,
                })
        return out

    def _catalog_href(self, c: Mapping[str, Any]) -> str:
        return self.href(f"/api/catalog/{_uuid('catalog', c['name'])}")

    def _template_uuid(self, c: Mapping[str, Any], t: Mapping[str, Any]) -> str:
        return _uuid("template", c["name"], t["name"])

    def _catalog_records(self) -> list[dict[str, Any]]:
        return [{
            "href": self._catalog_href(c), "name": c["name"], "description": c.get("description", ""),
            "isPublished": bool(c.get("published", False)), "isShared": bool(c.get("shared", False)),
            "isLocal": c.get("owner_org", self.org_name) == self.org_name, "creationDate": _CREATED,
            "orgName": c.get("owner_org", self.org_name), "ownerName": c.get("owner", "system"),
            "numberOfVAppTemplates": len(c.get("templates", [])), "numberOfMedia": len(c.get("media", [])),
            "publishSubscriptionType": "UNPUBLISHED" if not c.get("published") else "PUBLISHED",
            "version": 1, "status": "RESOLVED",
        } for c in self.catalogs]

    def _catalog_item_records(self) -> list[dict[str, Any]]:
        out = []
        for c in self.catalogs:
            for t in c.get("templates", []):
                tid = self._template_uuid(c, t)
                out.append({
                    "href": self.href(f"/api/catalogItem/{_uuid('item', c['name'], t['name'])}"),
                    "name": t["name"], "entity": self.href(f"/api/vAppTemplate/vappTemplate-{tid}"),
                    "entityName": t["name"], "entityType": "vapptemplate", "catalog": self._catalog_href(c),
                    "catalogName": c["name"], "vdcName": t.get("vdc", ""), "creationDate": _CREATED,
                    "isExpired": False, "status": "RESOLVED", "ownerName": c.get("owner", "system"),
                    "isPublished": bool(c.get("published", False)),
                })
        return out

    def _template_records(self) -> list[dict[str, Any]]:
        out = []
        for c in self.catalogs:
            for t in c.get("templates", []):
                tid = self._template_uuid(c, t)
                out.append({
                    "href": self.href(f"/api/vAppTemplate/vappTemplate-{tid}"), "id": "",
                    "name": t["name"], "description": t.get("description", ""),
                    "catalogName": c["name"],
                    "catalogItem": self.href(f"/api/catalogItem/{_uuid('item', c['name'], t['name'])}"),
                    "vdc": "", "vdcName": t.get("vdc", ""), "org": self.href(f"/api/org/{self.org_uuid}"),
                    "ownerName": c.get("owner", "system"), "creationDate": _CREATED,
                    "isGoldMaster": False, "isEnabled": True, "isExpired": False, "isBusy": False,
                    "isDeployed": False, "isPublished": bool(c.get("published", False)), "status": "RESOLVED",
                    "storageProfileName": t.get("storage_profile", "*"), "numberOfVMs": 1,
                    "numberOfCpus": int(t.get("cpus", 1)), "memoryAllocationMB": int(t.get("memory_mb", 1024)),
                    "storageKB": int(t.get("storage_mb", 0)) * 1024, "guestOs": t.get("guest_os", ""),
                })
        return out

    # -- VDC documents ------------------------------------------------------------------------
    def vdc_document(self, vdc: Vdc) -> dict[str, Any]:
        """``GET /api/vdc/{id}`` as a neutral mapping (the wire layer renders it)."""
        s = vdc.spec
        cpu = int(s.get("cpu_allocated_mhz", 0))
        mem = int(s.get("memory_allocated_mb", 0))
        return {
            "name": vdc.name, "id": self.vdc_urn(vdc), "href": self.href(f"/api/vdc/{vdc.uuid}"),
            "description": s.get("description", ""), "status": 1, "isEnabled": True,
            "allocationModel": s.get("allocation_model", "Flex"),
            "computeCapacity": {
                "cpu": {"units": "MHz", "allocated": cpu, "limit": cpu, "reserved": 0,
                        "used": int(s.get("cpu_used_mhz", 0))},
                "memory": {"units": "MB", "allocated": mem, "limit": mem, "reserved": 0,
                           "used": int(s.get("memory_used_mb", 0))},
            },
            "vdcStorageProfiles": {"vdcStorageProfile": [
                {"href": self.href(f"/api/vdcStorageProfile/{_uuid('sp', vdc.uuid, p['name'])}"),
                 "id": f"urn:vcloud:vdcstorageProfile:{_uuid('sp', vdc.uuid, p['name'])}",
                 "name": p["name"], "type": "application/vnd.vmware.vcloud.vdcStorageProfile+xml"}
                for p in s.get("storage_profiles", [])]},
            "nicQuota": 0, "networkQuota": 1000, "vmQuota": 0, "isThinProvision": True,
            "usesFastProvisioning": False, "vCpuInMhz2": int(s.get("cpu_speed_mhz", 2000)),
        }

    def vdc_metadata(self, vdc: Vdc) -> dict[str, str]:
        """String metadata entries of a VDC."""
        return {str(k): str(v) for k, v in (vdc.spec.get("metadata") or {}).items()}

    # -- networking ---------------------------------------------------------------------------
    def edge_gateways(self) -> list[dict[str, Any]]:
        """Edge gateways in the OpenAPI shape."""
        out = []
        for v in self.vdcs:
            for e in v.spec.get("edges", []):
                eid = f"urn:vcloud:gateway:{_uuid('edge', v.uuid, e['name'])}"
                out.append({
                    "id": eid, "name": e["name"], "description": e.get("description", ""),
                    "edgeGatewayUplinks": [{"uplinkId": _uuid("t0", e.get("uplink", "")),
                                            "uplinkName": e.get("uplink", ""), "connected": True,
                                            "dedicated": bool(e.get("dedicated", False))}],
                    "orgVdc": {"id": self.vdc_urn(v), "name": v.name},
                    "ownerRef": {"id": self.vdc_urn(v), "name": v.name},
                    "orgRef": {"id": f"urn:vcloud:org:{self.org_uuid}", "name": self.org_name},
                    "gatewayBacking": {"gatewayType": "NSXT_BACKED"},
                })
        return out

    def org_vdc_networks(self) -> list[dict[str, Any]]:
        """Org VDC networks in the OpenAPI shape."""
        edges = {(e["orgVdc"]["id"], e["name"]): e for e in self.edge_gateways()}
        out = []
        for v in self.vdcs:
            for n in v.spec.get("networks", []):
                edge = edges.get((self.vdc_urn(v), n.get("edge", "")))
                out.append({
                    "id": f"urn:vcloud:network:{_uuid('net', v.uuid, n['name'])}", "name": n["name"],
                    "description": n.get("description", ""), "networkType": n.get("type", "NAT_ROUTED"),
                    "subnets": {"values": [{"gateway": n.get("gateway", "192.168.0.1"),
                                            "prefixLength": int(n.get("prefix", 24)),
                                            "dnsServer1": "", "dnsServer2": "", "dnsSuffix": ""}]},
                    "connection": ({"routerRef": {"id": edge["id"], "name": edge["name"]},
                                    "connectionType": "INTERNAL"} if edge else None),
                    "orgVdc": {"id": self.vdc_urn(v), "name": v.name},
                    "ownerRef": {"id": self.vdc_urn(v), "name": v.name},
                    "shared": False, "status": "REALIZED",
                })
        return out

    def state(self) -> dict[str, Any]:
        """Counters for ``/_cloudcat/state``."""
        return {"org": self.org_name, "vdcs": len(self.vdcs), "sessions": len(self.sessions),
                "api_versions": self.versions}


def _vkey(version: str) -> tuple[int, ...]:
    return tuple(int(p) for p in version.split(".") if p.isdigit())


def now_iso() -> str:
    """Current time in Cloud Director's ISO form."""
    return dt.datetime.now(dt.UTC).isoformat(timespec="milliseconds")
