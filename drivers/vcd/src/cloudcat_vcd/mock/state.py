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
      - name: Orange-Linux
        owner_org: System          # the org owning the catalog (this org's own when left out)
        owner: system
        published: true
        templates:                 # one VM each; guest_os is a vSphere guest id
          - {name: debian_10_X64, description: …, guest_os: debian10_64Guest, cpus: 1, memory_mb: 1024,
             storage_mb: 10240, vdc: …}     # or disks_mb: [10240, 20480]; vm_name, storage_profile
        media: [{name: tools.iso, size_mb: 128, vdc: …}]
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
    "Catalog",
    "FiqlError",
    "Media",
    "Session",
    "Template",
    "VcdState",
    "Vdc",
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


@dataclass
class Catalog:
    """One catalog the org sees (its own, or one published to it)."""

    uuid: str
    spec: dict[str, Any]

    @property
    def name(self) -> str:
        """Catalog name."""
        return str(self.spec["name"])

    @property
    def path(self) -> str:
        """``/api/catalog/{uuid}``."""
        return f"/api/catalog/{self.uuid}"

    @property
    def urn(self) -> str:
        """``urn:vcloud:catalog:<uuid>``."""
        return f"urn:vcloud:catalog:{self.uuid}"

    @property
    def owner(self) -> str:
        """User owning the catalog."""
        return str(self.spec.get("owner", "system"))

    @property
    def published(self) -> bool:
        """Whether the catalog is published to other orgs."""
        return bool(self.spec.get("published", False))


#: Guest OS display names Cloud Director shows for a few vSphere guest ids (else the id itself).
_GUEST_OS_NAMES = {
    "debian10_64Guest": "Debian GNU/Linux 10 (64-bit)", "debian11_64Guest": "Debian GNU/Linux 11 (64-bit)",
    "ubuntu64Guest": "Ubuntu Linux (64-bit)", "centos8_64Guest": "CentOS 8 (64-bit)",
    "rhel8_64Guest": "Red Hat Enterprise Linux 8 (64-bit)",
    "windows2019srv_64Guest": "Microsoft Windows Server 2019 (64-bit)",
}


@dataclass
class Template:
    """One vApp template (one VM) in a catalog, and the catalog item holding it."""

    uuid: str
    item_uuid: str
    vm_uuid: str
    catalog: Catalog
    spec: dict[str, Any]

    @property
    def name(self) -> str:
        """Template name."""
        return str(self.spec["name"])

    @property
    def path(self) -> str:
        """``/api/vAppTemplate/vappTemplate-{uuid}``."""
        return f"/api/vAppTemplate/vappTemplate-{self.uuid}"

    @property
    def urn(self) -> str:
        """``urn:vcloud:vapptemplate:<uuid>``."""
        return f"urn:vcloud:vapptemplate:{self.uuid}"

    @property
    def item_path(self) -> str:
        """``/api/catalogItem/{uuid}``."""
        return f"/api/catalogItem/{self.item_uuid}"

    @property
    def item_urn(self) -> str:
        """``urn:vcloud:catalogitem:<uuid>``."""
        return f"urn:vcloud:catalogitem:{self.item_uuid}"

    @property
    def vm_name(self) -> str:
        """Name of the template's VM."""
        return str(self.spec.get("vm_name", self.name))

    @property
    def cpus(self) -> int:
        """vCPUs of the VM."""
        return int(self.spec.get("cpus", 1))

    @property
    def memory_mb(self) -> int:
        """Memory of the VM, MB."""
        return int(self.spec.get("memory_mb", 1024))

    @property
    def disks_mb(self) -> list[int]:
        """Sizes of the VM's disks, MB (``disks_mb``, else one disk of ``storage_mb``)."""
        return [int(d) for d in self.spec.get("disks_mb", [self.spec.get("storage_mb", 0)])]

    @property
    def guest_os(self) -> str:
        """vSphere guest id (``OsType`` of the VM spec section)."""
        return str(self.spec.get("guest_os", "otherGuest"))

    @property
    def guest_os_name(self) -> str:
        """Guest OS as the ``vm`` query shows it."""
        return _GUEST_OS_NAMES.get(self.guest_os, self.guest_os)


@dataclass
class Media:
    """One media (ISO) in a catalog."""

    uuid: str
    item_uuid: str
    catalog: Catalog
    spec: dict[str, Any]

    @property
    def name(self) -> str:
        """Media name."""
        return str(self.spec["name"])

    @property
    def path(self) -> str:
        """``/api/media/{uuid}``."""
        return f"/api/media/{self.uuid}"

    @property
    def urn(self) -> str:
        """``urn:vcloud:media:<uuid>``."""
        return f"urn:vcloud:media:{self.uuid}"

    @property
    def item_path(self) -> str:
        """``/api/catalogItem/{uuid}``."""
        return f"/api/catalogItem/{self.item_uuid}"

    @property
    def item_urn(self) -> str:
        """``urn:vcloud:catalogitem:<uuid>``."""
        return f"urn:vcloud:catalogitem:{self.item_uuid}"


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
        self.catalogs, self.templates, self.media = self._build_catalog()
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

    # -- catalog entities ---------------------------------------------------------------------
    def _build_catalog(self) -> tuple[list[Catalog], list[Template], list[Media]]:
        catalogs, templates, media = [], [], []
        for spec in self.fixture.get("catalogs", []):
            cat = Catalog(uuid=_uuid("catalog", spec["name"]), spec=spec)
            catalogs.append(cat)
            for t in spec.get("templates", []):
                templates.append(Template(uuid=_uuid("template", spec["name"], t["name"]),
                                          item_uuid=_uuid("item", spec["name"], t["name"]),
                                          vm_uuid=_uuid("vm", spec["name"], t["name"]), catalog=cat, spec=t))
            for m in spec.get("media", []):
                media.append(Media(uuid=_uuid("media", spec["name"], m["name"]),
                                   item_uuid=_uuid("item", spec["name"], m["name"]), catalog=cat, spec=m))
        return catalogs, templates, media

    def find_catalog(self, ident: str) -> Catalog | None:
        """A catalog by uuid or urn."""
        ident = ident.removeprefix("urn:vcloud:catalog:")
        return next((c for c in self.catalogs if c.uuid == ident), None)

    def find_item(self, ident: str) -> Template | Media | None:
        """The template or media a catalog item (uuid or urn) holds."""
        ident = ident.removeprefix("urn:vcloud:catalogitem:")
        entries: list[Template | Media] = [*self.templates, *self.media]
        return next((e for e in entries if e.item_uuid == ident), None)

    def find_template(self, ident: str) -> Template | None:
        """A vApp template by ``vappTemplate-<uuid>``, uuid or urn."""
        ident = ident.removeprefix("urn:vcloud:vapptemplate:").removeprefix("vappTemplate-")
        return next((t for t in self.templates if t.uuid == ident), None)

    def find_media(self, ident: str) -> Media | None:
        """A media by uuid or urn."""
        ident = ident.removeprefix("urn:vcloud:media:")
        return next((m for m in self.media if m.uuid == ident), None)

    def find_template_vm(self, ident: str) -> Template | None:
        """The template whose VM is ``vm-<uuid>``."""
        ident = ident.removeprefix("vm-")
        return next((t for t in self.templates if t.vm_uuid == ident), None)

    def find_profile(self, ident: str) -> tuple[Vdc, dict[str, Any]] | None:
        """A VDC storage profile (and its VDC) by uuid or urn."""
        ident = ident.removeprefix("urn:vcloud:vdcstorageProfile:")
        return next(((v, p) for v in self.vdcs for p in v.spec.get("storage_profiles", [])
                     if _uuid("sp", v.uuid, p["name"]) == ident), None)

    def find_network(self, ident: str) -> tuple[Vdc, dict[str, Any]] | None:
        """An org VDC network (and its VDC) by uuid or urn."""
        ident = ident.removeprefix("urn:vcloud:network:")
        return next(((v, n) for v in self.vdcs for n in v.spec.get("networks", [])
                     if _uuid("net", v.uuid, n["name"]) == ident), None)

    def vdc_named(self, name: str) -> Vdc | None:
        """A VDC by name."""
        return next((v for v in self.vdcs if v.name == name), None)

    def entity(self, urn: str) -> tuple[str, str, str] | None:
        """``(href, media type, name)`` of the entity a URN names (the entity resolver)."""
        return self._entities().get(urn)

    def _entities(self) -> dict[str, tuple[str, str, str]]:
        out: dict[str, tuple[str, str, str]] = {
            f"urn:vcloud:org:{self.org_uuid}": (self.org_href(), "org", self.org_name)}
        for v in self.vdcs:
            out[self.vdc_urn(v)] = (self.href(f"/api/vdc/{v.uuid}"), "vdc", v.name)
        for c in self.catalogs:
            out[c.urn] = (self.href(c.path), "catalog", c.name)
        for t in self.templates:
            out[t.urn] = (self.href(t.path), "vAppTemplate", t.name)
            out[t.item_urn] = (self.href(t.item_path), "catalogItem", t.name)
        for m in self.media:
            out[m.urn] = (self.href(m.path), "media", m.name)
            out[m.item_urn] = (self.href(m.item_path), "catalogItem", m.name)
        return out

    def org_href(self) -> str:
        """``/api/org/{uuid}`` of the org."""
        return self.href(f"/api/org/{self.org_uuid}")

    # -- query service ------------------------------------------------------------------------
    def records(self, kind: str) -> list[dict[str, Any]] | None:
        """Query records of ``kind`` (``None`` for a type the mock does not serve).

        Each record carries an ``id`` (the entity's URN): the ``idrecords`` and ``references``
        formats show it, ``records`` leaves it empty as Cloud Director does.
        """
        builders: dict[str, Callable[[], list[dict[str, Any]]]] = {
            "orgVdc": self._vdc_records, "orgVdcStorageProfile": self._profile_records,
            "catalog": self._catalog_records, "adminCatalog": self._admin_catalog_records,
            "catalogItem": self._catalog_item_records, "vAppTemplate": self._template_records,
            "vm": self._vm_records, "media": self._media_records, "orgVdcNetwork": self._network_records,
            "vApp": list,  # the org runs no vApp: an empty answer, as Cloud Director gives one
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
                "href": self.href(f"/api/vdc/{v.uuid}"), "id": self.vdc_urn(v), "name": v.name,
                "description": s.get("description", ""), "isEnabled": True, "isBusy": False, "status": "READY",
                "orgName": self.org_name, "cpuAllocationMhz": cpu, "cpuLimitMhz": cpu,
                "cpuUsedMhz": int(s.get("cpu_used_mhz", 0)), "cpuReservedMhz": 0, "memoryAllocationMB": mem,
                "memoryLimitMB": mem, "memoryUsedMB": int(s.get("memory_used_mb", 0)), "memoryReservedMB": 0,
                "storageLimitMB": sum(int(p.get("limit_mb", 0)) for p in s.get("storage_profiles", [])),
                "storageUsedMB": 0, "numberOfVApps": 0, "numberOfMedia": 0, "numberOfDisks": 0,
                "numberOfVAppTemplates": sum(1 for t in self.templates if t.spec.get("vdc") == v.name),
                "numberOfStorageProfiles": len(s.get("storage_profiles", [])), "numberOfVMs": 0,
                "networkProviderScope": v.scope or "",
            })
        return out

    def _profile_records(self) -> list[dict[str, Any]]:
        out = []
        for v in self.vdcs:
            for p in v.spec.get("storage_profiles", []):
                sp = _uuid("sp", v.uuid, p["name"])
                out.append({
                    "href": self.href(f"/api/vdcStorageProfile/{sp}"), "id": f"urn:vcloud:vdcstorageProfile:{sp}",
                    "name": p["name"], "isEnabled": p.get("enabled", True),
                    "isDefaultStorageProfile": bool(p.get("default", False)),
                    "storageLimitMB": int(p.get("limit_mb", 0)), "storageUsedMB": int(p.get("used_mb", 0)),
                    "iopsAllocated": int(p.get("iops_allocated", 0)), "iopsLimit": int(p.get("iops_limit", 0)),
                    "numberOfConditions": 0, "vdc": self.href(f"/api/vdc/{v.uuid}"), "vdcName": v.name,
                    "isVdcBusy": False,
                })
        return out

    def _owner_of(self, c: Catalog) -> str:
        return str(c.spec.get("owner_org", self.org_name))

    def _catalog_records(self) -> list[dict[str, Any]]:
        return [{
            "href": self.href(c.path), "id": c.urn, "name": c.name, "description": c.spec.get("description", ""),
            "isPublished": c.published, "isShared": bool(c.spec.get("shared", False)),
            "isLocal": self._owner_of(c) == self.org_name, "creationDate": _CREATED,
            "orgName": self._owner_of(c), "ownerName": c.owner,
            "numberOfVAppTemplates": len(c.spec.get("templates", [])),
            "numberOfMedia": len(c.spec.get("media", [])),
            "publishSubscriptionType": "PUBLISHED" if c.published else "UNPUBLISHED",
            "version": 1, "status": "RESOLVED",
        } for c in self.catalogs]

    def _admin_catalog_records(self) -> list[dict[str, Any]]:
        return [{
            "href": self.href(f"/api/admin/catalog/{c.uuid}"), "id": c.urn, "name": c.name,
            "org": self.org_href(), "isPublished": c.published, "isShared": bool(c.spec.get("shared", False)),
            "creationDate": _CREATED, "orgName": self._owner_of(c), "ownerName": c.owner,
            "numberOfTemplates": len(c.spec.get("templates", [])), "numberOfMedia": len(c.spec.get("media", [])),
            "isLocal": self._owner_of(c) == self.org_name,
        } for c in self.catalogs if self._owner_of(c) == self.org_name]

    def _vdc_href_of(self, spec: Mapping[str, Any]) -> tuple[str, str]:
        vdc = self.vdc_named(str(spec.get("vdc", "")))
        return (self.href(f"/api/vdc/{vdc.uuid}"), vdc.name) if vdc else ("", "")

    def _catalog_item_records(self) -> list[dict[str, Any]]:
        out = []
        entries: list[Template | Media] = [*self.templates, *self.media]
        for e in entries:
            vdc_href, vdc_name = self._vdc_href_of(e.spec)
            out.append({
                "href": self.href(e.item_path), "id": e.item_urn, "name": e.name,
                "entity": self.href(e.path), "entityName": e.name,
                "entityType": "vapptemplate" if isinstance(e, Template) else "media",
                "catalog": self.href(e.catalog.path), "catalogName": e.catalog.name, "ownerName": e.catalog.owner,
                "isPublished": e.catalog.published, "vdc": vdc_href, "vdcName": vdc_name,
                "isVdcEnabled": bool(vdc_href), "creationDate": _CREATED, "isExpired": False, "status": "RESOLVED",
            })
        return out

    def _template_records(self) -> list[dict[str, Any]]:
        """``QueryResultVAppTemplateRecordType``: no size, CPU, memory or guest OS in it."""
        out = []
        for t in self.templates:
            vdc_href, vdc_name = self._vdc_href_of(t.spec)
            out.append({
                "href": self.href(t.path), "id": t.urn, "name": t.name, "description": t.spec.get("description", ""),
                "catalog": self.href(t.catalog.path), "catalogName": t.catalog.name, "vdc": vdc_href,
                "vdcName": vdc_name, "org": self.org_href(), "ownerName": t.catalog.owner,
                "creationDate": _CREATED, "isGoldMaster": False, "isEnabled": True, "isExpired": False,
                "isBusy": False, "isDeployed": False, "isPublished": t.catalog.published, "status": "RESOLVED",
                "storageProfileName": t.spec.get("storage_profile", "*"),
                "publishSubscriptionType": "PUBLISHED" if t.catalog.published else "UNPUBLISHED", "version": 1,
            })
        return out

    def _vm_records(self) -> list[dict[str, Any]]:
        """``QueryResultVMRecordType`` of the template VMs (``isVAppTemplate`` true): CPU, memory, guest OS."""
        out = []
        for t in self.templates:
            vdc_href, vdc_name = self._vdc_href_of(t.spec)
            out.append({
                "href": self.href(f"/api/vAppTemplate/vm-{t.vm_uuid}"), "id": f"urn:vcloud:vm:{t.vm_uuid}",
                "name": t.vm_name, "containerName": t.name, "container": self.href(t.path),
                "ownerName": t.catalog.owner, "vdcName": vdc_name, "vdc": vdc_href, "isVAppTemplate": True,
                "isDeleted": False, "guestOs": t.guest_os_name, "numberOfCpus": t.cpus, "memoryMB": t.memory_mb,
                "status": "POWERED_OFF", "isBusy": False, "isDeployed": False,
                "isPublished": t.catalog.published, "catalogName": t.catalog.name,
                "hardwareVersion": 19, "storageProfileName": t.spec.get("storage_profile", "*"),
            })
        return out

    def _media_records(self) -> list[dict[str, Any]]:
        out = []
        for m in self.media:
            vdc_href, vdc_name = self._vdc_href_of(m.spec)
            out.append({
                "href": self.href(m.path), "id": m.urn, "name": m.name, "description": m.spec.get("description", ""),
                "ownerName": m.catalog.owner, "catalogName": m.catalog.name, "isPublished": m.catalog.published,
                "vdc": vdc_href, "vdcName": vdc_name, "org": self.org_href(), "creationDate": _CREATED,
                "isBusy": False, "storageB": int(m.spec.get("size_mb", 0)) * 1024 * 1024,
                "catalog": self.href(m.catalog.path), "catalogItem": self.href(m.item_path), "status": "RESOLVED",
                "storageProfileName": m.spec.get("storage_profile", "*"), "version": 1,
            })
        return out

    def _network_records(self) -> list[dict[str, Any]]:
        out = []
        link_types = {"DIRECT": 0, "NAT_ROUTED": 1, "ISOLATED": 2}
        for v in self.vdcs:
            for n in v.spec.get("networks", []):
                nid = _uuid("net", v.uuid, n["name"])
                prefix = int(n.get("prefix", 24))
                out.append({
                    "href": self.href(f"/api/network/{nid}"), "id": f"urn:vcloud:network:{nid}", "name": n["name"],
                    "defaultGateway": n.get("gateway", "192.168.0.1"), "subnetPrefixLength": prefix,
                    "netmask": _netmask(prefix), "dns1": "", "dns2": "", "dnsSuffix": "",
                    "linkType": link_types.get(str(n.get("type", "NAT_ROUTED")), 1),
                    "connectedTo": n.get("edge", ""), "vdc": self.href(f"/api/vdc/{v.uuid}"), "vdcName": v.name,
                    "isBusy": False, "isShared": False, "isIpScopeInherited": False,
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


def _netmask(prefix: int) -> str:
    bits = (0xFFFFFFFF << (32 - prefix)) & 0xFFFFFFFF if prefix else 0
    return ".".join(str((bits >> shift) & 0xFF) for shift in (24, 16, 8, 0))


def _vkey(version: str) -> tuple[int, ...]:
    return tuple(int(p) for p in version.split(".") if p.isdigit())


def now_iso() -> str:
    """Current time in Cloud Director's ISO form."""
    return dt.datetime.now(dt.UTC).isoformat(timespec="milliseconds")
