"""State and logic of the mocked OpenStack cloud: fixtures, identities, tokens, region catalogs.

This module holds what the mock *knows* and the rules it applies (who may log in, when a
token expires, which images a project sees, which items a page holds), and nothing of HTTP;
:mod:`.responses` turns it into the wire format of each OpenStack service and :mod:`.urls`
says which handler serves which path. A fixture is validated here, so a broken fixture fails
with the file's field named, before the server starts.

A listing is filtered, sorted and indexed by id once, then paged from until its region's catalog
changes (:meth:`RegionState.listing`), so walking all pages costs time linear in its size. A
test changes the catalog with :meth:`CloudState.add_image` / :meth:`CloudState.remove_image`,
or edits a region's lists and calls :meth:`RegionState.changed`.

Fixture format (YAML or JSON)::

    domain: Default
    project: {name: demo, id: 0123...}
    users: [{name: demo, password: secret}, {name: ops, password: s3cret, roles: [admin, member, reader]}]
    application_credentials: [{id: abc, secret: s3cr3t, user: demo}]
    regions: [{name: fr1, zones: [nova], volume_zones: [nova]}]
    flavors: [{name: s3.large.2, vcpus: 2, ram: 4096, disk: 0, extra_specs: {...}, regions: [fr1],
               os_extra_specs: {cond:operation:status: normal}}]
    images: [{name: Ubuntu, os_distro: ubuntu, visibility: public}]
    volume_types: [{name: SSD, extra_specs: {...}, qos: gold}]
    qos_specs: [{name: gold, specs: {total_iops_sec: "3000"}}]
    networks: [{name: public, "router:external": true}]
    prices: {currency: EUR, flavors: {s3.large.2: "0.05"}, volume_types: {SSD: "0.0002"}}

    identity_versions: [v3, v2.0]   # Keystone versions served (default: v3)
    ecs: true                       # serve Huawei's ECS v1 flavor API (``os_extra_specs``)

An entry with ``regions: [...]`` exists only in those regions; without it, in every region.
A user's ``roles`` default to ``[member, reader]`` (a project user); a user with ``admin``
sees what only administrators see (Cinder's admin-only extra specs, ``qos_specs_id``, QoS specs).
A flavor's ``extra_specs`` are what Nova answers; its ``os_extra_specs`` are what ECS v1 adds
(Huawei documents ``cond:operation:status``/``cond:operation:az`` there, not in Nova). A private
flavor (``is_public: false``) is seen by a project user only when its ``projects`` names the
project (Nova's flavor access); an image's ``os_hash_algo``/``os_hash_value`` are null unless set.
"""

from __future__ import annotations

import datetime as dt
import secrets
import threading
import time
import uuid
from collections import OrderedDict
from collections.abc import Callable, Hashable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from cloudcat.errors import ConfigError

__all__ = [
    "LISTINGS_KEPT",
    "CloudState",
    "Collection",
    "FixtureModel",
    "Listing",
    "RegionState",
    "Token",
    "page",
    "sort_items",
]

IdentityVersion = Literal["v3", "v2.0"]
_NS = uuid.UUID("3b0f6f43-1c55-4a0c-8a3c-7f7c5d1c2a10")
_CREATED = "2018-03-01T10:00:00Z"


def _id(*parts: str) -> str:
    return uuid.uuid5(_NS, "/".join(parts)).hex


class _Entry(BaseModel):
    model_config = ConfigDict(extra="allow", populate_by_name=True)

    name: str
    id: str | None = None
    regions: list[str] | None = None


_E = TypeVar("_E", bound=_Entry)


class _Flavor(_Entry):
    vcpus: int = Field(ge=1)
    ram: int = Field(ge=1, description="MiB")
    disk: int = Field(default=0, ge=0, description="GiB")
    ephemeral: int = 0
    swap: int = 0
    is_public: bool = True
    disabled: bool = False
    description: str | None = None
    extra_specs: dict[str, str] = Field(default_factory=dict)
    os_extra_specs: dict[str, str] = Field(default_factory=dict)
    projects: list[str] = Field(default_factory=list, description="projects (ids, or the fixture project's name) "
                                "given access to a private flavor (Nova's flavor access)")


class _Image(_Entry):
    visibility: str = "public"
    status: str = "active"


class _VolumeType(_Entry):
    description: str | None = None
    is_public: bool = True
    extra_specs: dict[str, str] = Field(default_factory=dict)
    qos: str | None = None


class _Qos(_Entry):
    consumer: str = "back-end"
    specs: dict[str, str] = Field(default_factory=dict)


class _Network(_Entry):
    pass


class _Region(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str
    description: str = ""
    zones: list[str] = Field(default_factory=lambda: ["nova"])
    volume_zones: list[str] | None = None
    unavailable_zones: list[str] = Field(default_factory=list)


class _User(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str
    password: str
    id: str | None = None
    roles: list[str] = Field(default_factory=lambda: ["member", "reader"])


class _AppCredential(BaseModel):
    model_config = ConfigDict(extra="forbid")

    id: str
    secret: str
    user: str
    name: str | None = None


class _Project(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str
    id: str | None = None


class _Prices(BaseModel):
    model_config = ConfigDict(extra="forbid")

    currency: str = "EUR"
    flavors: dict[str, str] = Field(default_factory=dict)
    volume_types: dict[str, str] = Field(default_factory=dict)


class FixtureModel(BaseModel):
    """The validated fixture of a mocked OpenStack cloud."""

    model_config = ConfigDict(extra="forbid")

    description: str = ""
    domain: str = "Default"
    project: _Project = Field(default_factory=lambda: _Project(name="demo"))
    users: list[_User] = Field(default_factory=lambda: [_User(name="demo", password="secret")])
    application_credentials: list[_AppCredential] = Field(default_factory=list)
    regions: list[_Region] = Field(default_factory=lambda: [_Region(name="RegionOne")], min_length=1)
    flavors: list[_Flavor] = Field(default_factory=list)
    images: list[_Image] = Field(default_factory=list)
    volume_types: list[_VolumeType] = Field(default_factory=list)
    qos_specs: list[_Qos] = Field(default_factory=list)
    networks: list[_Network] = Field(default_factory=list)
    prices: _Prices | None = None
    cloudkitty: bool = Field(default=True, description="Serve CloudKitty's hashmap API when prices are set.")
    identity_versions: list[IdentityVersion] = Field(default_factory=lambda: list[IdentityVersion](["v3"]),
                                                     min_length=1)
    ecs: bool = Field(default=False, description="Serve Huawei's ECS v1 flavor API (os_extra_specs).")


@dataclass
class Token:
    """An issued token."""

    value: str
    user_id: str
    user_name: str
    method: str
    issued_at: float
    expires_at: float
    app_credential_id: str | None = None

    def expired(self, now: float | None = None) -> bool:
        """Whether the token is no longer valid."""
        return (now if now is not None else time.time()) >= self.expires_at

    def expires_iso(self) -> str:
        """``expires_at`` in Keystone's format."""
        return _iso(self.expires_at)

    def issued_iso(self) -> str:
        """``issued_at`` in Keystone's format."""
        return _iso(self.issued_at)


def _iso(epoch: float) -> str:
    return dt.datetime.fromtimestamp(epoch, dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%f") + "Z"


def _flavor(f: _Flavor, projects: list[str]) -> dict[str, Any]:
    return {"id": f.id or _id("flavor", f.name), "name": f.name, "vcpus": f.vcpus, "ram": f.ram,
            "disk": f.disk, "swap": f.swap, "ephemeral": f.ephemeral, "is_public": f.is_public,
            "disabled": f.disabled, "description": f.description, "rxtx_factor": 1.0,
            "extra_specs": dict(f.extra_specs), "os_extra_specs": {**f.extra_specs, **f.os_extra_specs},
            "projects": projects}


def _volume_type(vt: _VolumeType, qos_ids: Mapping[str, str]) -> dict[str, Any]:
    return {"id": vt.id or str(uuid.uuid5(_NS, "volume-type/" + vt.name)), "name": vt.name,
            "description": vt.description, "is_public": vt.is_public, "extra_specs": dict(vt.extra_specs),
            "qos_specs_id": qos_ids.get(vt.qos) if vt.qos else None}


class Listing:
    """A listing in its answer's order, with each item's position by ``key`` (first one wins),
    so the page after a marker costs the page's length, not the listing's."""

    __slots__ = ("items", "key", "positions")

    def __init__(self, items: Iterable[dict[str, Any]], key: str = "id") -> None:
        self.items: list[dict[str, Any]] = list(items)
        self.key = key
        self.positions: dict[str, int] = {}
        for at, item in enumerate(self.items):
            self.positions.setdefault(str(item[key]), at)

    def position(self, marker: str) -> int | None:
        """Where the item whose key is ``marker`` is, or ``None``."""
        return self.positions.get(marker)

    def __len__(self) -> int:
        return len(self.items)


@dataclass(frozen=True)
class _Kept:
    """A listing and what it was built from (the list itself is held, so its identity is sure)."""

    version: int
    length: int
    source: list[dict[str, Any]]
    listing: Listing


#: Collections of a region a listing is built from.
Collection = Literal["flavors", "images", "volume_types", "qos_specs", "networks"]

#: Listings a region keeps (the most recently used); a walk uses one, a test a few.
LISTINGS_KEPT = 16


@dataclass
class RegionState:
    """The catalog of one region, as lists of wire-ready dicts (order is the listing order).

    Listings built from a collection (filtered, sorted, indexed by id) are kept and reused
    while the collection is unchanged, so a walk of many pages filters and sorts once. A change
    is seen when it goes through :class:`CloudState`'s methods or :meth:`changed`, or alters a
    collection's length or replaces the list; an edit of an item in place must call
    :meth:`changed`.
    """

    name: str
    description: str
    zones: list[str]
    volume_zones: list[str]
    unavailable_zones: list[str]
    flavors: list[dict[str, Any]] = field(default_factory=list)
    images: list[dict[str, Any]] = field(default_factory=list)
    volume_types: list[dict[str, Any]] = field(default_factory=list)
    qos_specs: list[dict[str, Any]] = field(default_factory=list)
    networks: list[dict[str, Any]] = field(default_factory=list)
    #: Bumped on every change to the catalog; listings built before it are built again.
    version: int = field(default=0, compare=False)
    _listings: OrderedDict[tuple[Collection, Hashable], _Kept] = field(
        default_factory=OrderedDict, init=False, repr=False, compare=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, init=False, repr=False, compare=False)

    def changed(self) -> None:
        """Note a change to the catalog: the next listing of any collection is built afresh."""
        with self._lock:
            self.version += 1
            self._listings.clear()

    def listing(self, collection: Collection, query: Hashable,
                build: Callable[[list[dict[str, Any]]], Iterable[dict[str, Any]]]) -> Listing:
        """The listing ``build`` makes of ``collection`` for ``query``: built once, then reused
        until the catalog changes.

        ``query`` must hold everything ``build`` reads besides the collection (the request's
        filters and sort, already validated), so equal queries make equal listings.
        """
        items: list[dict[str, Any]] = getattr(self, collection)
        # read before building: a change made while building leaves a stale stamp, not a stale hit
        version, length = self.version, len(items)
        cache_key = (collection, query)
        with self._lock:
            kept = self._listings.get(cache_key)
            if kept is not None and (kept.version, kept.length) == (version, length) and kept.source is items:
                self._listings.move_to_end(cache_key)
                return kept.listing
        listing = Listing(build(items))
        with self._lock:
            self._listings[cache_key] = _Kept(version, length, items, listing)
            self._listings.move_to_end(cache_key)
            while len(self._listings) > LISTINGS_KEPT:
                self._listings.popitem(last=False)
        return listing


class CloudState:
    """Everything the mocked cloud knows: identities, issued tokens and region catalogs."""

    DEFAULT_TTL = 3600.0

    def __init__(self, fixture: Mapping[str, Any], *, regions: int | None = None,
                 source: str = "<fixture>") -> None:
        try:
            self.fixture = FixtureModel.model_validate(dict(fixture))
        except ValidationError as exc:
            first = exc.errors()[0]
            raise ConfigError(first["msg"], source=source,
                              field=".".join(str(p) for p in first["loc"])) from None
        fx = self.fixture
        self.domain = fx.domain
        self.domain_id = "default" if fx.domain == "Default" else _id("domain", fx.domain)
        self.project_name = fx.project.name
        self.project_id = fx.project.id or _id("project", fx.project.name)
        self.users = {u.name: u for u in fx.users}
        self.user_ids = {u.name: (u.id or _id("user", u.name)) for u in fx.users}
        self.app_credentials = {a.id: a for a in fx.application_credentials}
        self.tokens: dict[str, Token] = {}
        self.tokens_issued = 0
        self._lock = threading.Lock()
        self.regions: dict[str, RegionState] = {}
        base = fx.regions
        if regions:
            # N regions, repeating the fixture's regions in turn: "<region>-<i>"
            for i in range(regions):
                src = base[i % len(base)]
                self._add_region(src, f"{src.name}-{i + 1}")
        else:
            for src in base:
                self._add_region(src, src.name)

    # -- building ------------------------------------------------------------------------------
    def _add_region(self, src: _Region, name: str) -> None:
        fx = self.fixture

        def here(entries: Sequence[_E]) -> list[_E]:
            return [e for e in entries if e.regions is None or src.name in e.regions]

        r = RegionState(name=name, description=src.description, zones=list(src.zones),
                        volume_zones=list(src.volume_zones if src.volume_zones is not None else src.zones),
                        unavailable_zones=list(src.unavailable_zones))
        r.flavors = [_flavor(f, [self.project_id if p == self.project_name else p for p in f.projects])
                     for f in here(fx.flavors)]
        r.images = [self._image(im) for im in here(fx.images)]
        qos_ids = {q.name: (q.id or _id("qos", q.name)) for q in fx.qos_specs}
        r.qos_specs = [{"id": qos_ids[q.name], "name": q.name, "consumer": q.consumer, "specs": dict(q.specs)}
                       for q in here(fx.qos_specs)]
        r.volume_types = [_volume_type(vt, qos_ids) for vt in here(fx.volume_types)]
        r.networks = [self._network(n, r.zones) for n in here(fx.networks)]
        self.regions[name] = r

    def _image(self, im: _Image) -> dict[str, Any]:
        extra = dict(im.model_extra or {})
        return {
            "id": im.id or str(uuid.uuid5(_NS, "image/" + im.name)), "name": im.name,
            "status": im.status, "visibility": im.visibility, "protected": False,
            "disk_format": extra.pop("disk_format", "qcow2"),
            "container_format": extra.pop("container_format", "bare"),
            "size": extra.pop("size", 2361393152), "virtual_size": None,
            "min_disk": extra.pop("min_disk", 0), "min_ram": extra.pop("min_ram", 0),
            "checksum": _id("checksum", im.name), "os_hidden": False,
            # Glance's multihash (glance/api/v2/images.py _format_image): null unless the fixture sets it
            "os_hash_algo": extra.pop("os_hash_algo", None), "os_hash_value": extra.pop("os_hash_value", None),
            "owner": extra.pop("owner", self.project_id if im.visibility == "private"
                               else _id("project", "image-owner")),
            "created_at": _CREATED, "updated_at": _CREATED, "tags": extra.pop("tags", []),
            **extra}

    def _network(self, n: _Network, zones: list[str]) -> dict[str, Any]:
        extra = dict(n.model_extra or {})
        external = bool(extra.pop("router:external", False))
        return {
            "id": n.id or str(uuid.uuid5(_NS, "network/" + n.name)), "name": n.name,
            "router:external": external, "shared": bool(extra.pop("shared", False)),
            "status": "ACTIVE", "admin_state_up": True, "mtu": extra.pop("mtu", 1500),
            "subnets": [], "availability_zones": list(zones), "availability_zone_hints": [],
            "project_id": self.project_id if not external else _id("project", "admin"),
            "description": extra.pop("description", ""), "port_security_enabled": True,
            "is_default": external, "tags": [], "created_at": _CREATED, "updated_at": _CREATED,
            "revision_number": 1, "provider:network_type": "vxlan" if not external else "flat",
            **extra}

    # -- catalog rules ---------------------------------------------------------------------------
    def visible_images(self, region: RegionState) -> list[dict[str, Any]]:
        """Images of ``region`` the project sees: public, shared and community ones, and its own."""
        return [i for i in region.images if self.sees_image(i)]

    def sees_image(self, image: Mapping[str, Any]) -> bool:
        """Whether the project sees ``image``: public, shared, community, or its own."""
        return image["visibility"] in ("public", "shared", "community") or image["owner"] == self.project_id

    @property
    def rating_prices(self) -> _Prices | None:
        """Prices CloudKitty serves, or ``None`` when the cloud has no rating service."""
        return self.fixture.prices if self.fixture.cloudkitty else None

    # -- changes ---------------------------------------------------------------------------------
    def add_image(self, region: str, image: Mapping[str, Any]) -> dict[str, Any]:
        """Add an image to ``region`` (fields as in the fixture's ``images``) and return it as
        Glance shows it; listings made from then on include it."""
        item = self._image(_Image.model_validate(dict(image)))
        target = self.regions[region]
        with self._lock:
            target.images.append(item)
        target.changed()
        return item

    def remove_image(self, region: str, image_id: str) -> None:
        """Remove an image from ``region`` (a marker naming it is then unknown: 400)."""
        target = self.regions[region]
        with self._lock:
            target.images[:] = [i for i in target.images if i["id"] != image_id]
        target.changed()

    def remove_flavor(self, region: str, flavor_id: str) -> None:
        """Remove a flavor from ``region`` (Nova's ``DELETE /flavors/{id}`` by an administrator)."""
        target = self.regions[region]
        with self._lock:
            target.flavors[:] = [f for f in target.flavors if f["id"] != flavor_id]
        target.changed()

    def remove_network(self, region: str, network_id: str) -> None:
        """Remove a network from ``region`` (Neutron's ``DELETE /networks/{id}`` by its owner)."""
        target = self.regions[region]
        with self._lock:
            target.networks[:] = [n for n in target.networks if n["id"] != network_id]
        target.changed()

    # -- identity ------------------------------------------------------------------------------
    def check_password(self, name: str | None, user_id: str | None, password: str | None) -> str | None:
        """The user's name when the password matches, else ``None``."""
        for uname, user in self.users.items():
            if (name == uname or user_id == self.user_ids[uname]) and password == user.password:
                return uname
        return None

    def is_admin(self, user_name: str) -> bool:
        """Whether the user holds the ``admin`` role (sees what Cinder's policies keep from a project user)."""
        user = self.users.get(user_name)
        return user is not None and "admin" in user.roles

    def check_app_credential(self, cred_id: str | None, name: str | None, secret: str | None) -> str | None:
        """The owning user's name when the application credential matches, else ``None``."""
        for cred in self.app_credentials.values():
            if (cred_id == cred.id or (name and name == cred.name)) and secret == cred.secret:
                return cred.user
        return None

    def issue(self, user_name: str, method: str, ttl: float | None,
              app_credential_id: str | None = None) -> Token:
        """Issue a token living ``ttl`` seconds (default one hour)."""
        now = time.time()
        tok = Token(value="gAAAAA" + secrets.token_urlsafe(48), user_id=self.user_ids[user_name],
                    user_name=user_name, method=method, issued_at=now,
                    expires_at=now + (ttl or self.DEFAULT_TTL), app_credential_id=app_credential_id)
        with self._lock:
            self.tokens[tok.value] = tok
            self.tokens_issued += 1
        return tok

    def token(self, value: str | None) -> Token | None:
        """The live token of that value, or ``None`` (unknown or expired)."""
        if not value:
            return None
        with self._lock:
            tok = self.tokens.get(value)
        if tok is None or tok.expired():
            return None
        return tok


def page(items: Sequence[dict[str, Any]] | Listing, *, marker: str | None, limit: int | None,
         cap: int | None, key: str = "id") -> tuple[list[dict[str, Any]], int | None, bool]:
    """One page of ``items`` after ``marker``, at most ``min(limit, cap)`` long.

    Returns ``(items, effective_limit, marker_found)``; ``marker_found`` is False when a
    marker was given and matches nothing (services answer 400 then). A :class:`Listing` finds
    the marker by its index (its own ``key``), so the page costs its length; a plain sequence
    is searched from the start.
    """
    start = 0
    if marker:
        at = items.position(marker) if isinstance(items, Listing) else _search(items, marker, key)
        if at is None:
            return [], None, False
        start = at + 1
    sizes = [n for n in (limit, cap) if n]
    effective = min(sizes) if sizes else None
    rows = items.items if isinstance(items, Listing) else items
    chunk = list(rows[start:start + effective]) if effective else list(rows[start:])
    return chunk, effective, True


def _search(items: Sequence[dict[str, Any]], marker: str, key: str) -> int | None:
    return next((i for i, item in enumerate(items) if str(item[key]) == marker), None)


def sort_items(items: Sequence[dict[str, Any]], order: Sequence[tuple[str, str]]) -> list[dict[str, Any]]:
    """``items`` sorted by ``(field, "asc"|"desc")`` pairs, the first pair first; ``None`` sorts first."""
    out = list(items)

    def by(key: str) -> Callable[[dict[str, Any]], tuple[bool, Any]]:
        def sort_key(item: dict[str, Any]) -> tuple[bool, Any]:
            value = item.get(key)
            return (False, 0) if value is None else (True, value)
        return sort_key

    for key, direction in reversed(order):  # stable sorts, least significant key first
        out.sort(key=by(key), reverse=direction == "desc")
    return out
