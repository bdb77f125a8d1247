"""Paging of the mocked OpenStack's listings: whole walks through real clients, changes between
pages, unknown markers.

The mock builds each listing (filtered, sorted, indexed by id) once and pages from it until
the catalog changes, so a walk costs linear time in the listing's size. These tests check that
the answers are still Glance's, Nova's, Cinder's and Neutron's: every item once, in the service's
order, a change between two pages seen from the next page on, and for a marker that names
nothing what each service answers.
"""

from __future__ import annotations

import json
import math
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from typing import Any

import openstack
import openstack.exceptions
import pytest
from cloudcat_openstack.mock import OpenStackMock
from cloudcat_openstack.mock.state import Listing, RegionState

from cloudcat.testing import MockHandle, mock
from cloudcat.testing.mockserver import load_fixture_file

REGION = "eu-west-0"
IMAGES = 2_100
_NS = uuid.UUID("0b7e3c51-55a2-4c0e-9d0f-5d1e2f3a4b5c")
#: a few creation times, so Glance's default order (created_at, then id, descending) uses both
_CREATED = [f"2020-0{month}-01T00:00:00Z" for month in range(1, 8)]


def load_fixture(name: str) -> dict[str, Any]:
    return load_fixture_file(OpenStackMock.fixtures[name])


def _image(i: int) -> dict[str, Any]:
    return {"name": f"image-{i:05d}", "id": str(uuid.uuid5(_NS, str(i))), "regions": [REGION],
            "os_distro": ("ubuntu", "debian", "centos")[i % 3], "created_at": _CREATED[i * 7919 % 7],
            "status": ("active", "queued", "active")[i % 3], "visibility": "public"}


@pytest.fixture(scope="module")
def many() -> Iterator[MockHandle]:
    """The Flexible Engine cloud with 2,100 images in eu-west-0 (module scope: tests that change
    the catalog use :func:`changing` instead)."""
    fixture = load_fixture("flexible-engine")
    fixture["images"] = [_image(i) for i in range(IMAGES)]
    with mock("openstack", fixture) as m:
        yield m


@pytest.fixture
def changing() -> Iterator[MockHandle]:
    """The same cloud, for one test that changes its catalog."""
    fixture = load_fixture("flexible-engine")
    fixture["images"] = [_image(i) for i in range(IMAGES)]
    with mock("openstack", fixture) as m:
        yield m


def region_of(m: MockHandle) -> RegionState:
    assert isinstance(m.platform, OpenStackMock)
    return m.platform.state_.regions[REGION]


def connect(m: MockHandle) -> Any:
    return openstack.connect(**m.backend["options"]["auth"], region_name=REGION, load_yaml_config=False,
                             load_envvars=False)


def glance_order(images: list[dict[str, Any]]) -> list[str]:
    """Ids in Glance's default order: ``created_at`` descending, then ``id`` descending."""
    return [i["id"] for i in sorted(images, key=lambda i: (i["created_at"], i["id"]), reverse=True)]


def image_pages(m: MockHandle) -> list[str]:
    return [r.query for r in m.requests if r.path == f"/{REGION}/image/v2/images"]


def get(m: MockHandle, path: str, token: str, **headers: str) -> tuple[int, Any]:
    req = urllib.request.Request(m.url + path, headers={"X-Auth-Token": token, **headers})
    try:
        with urllib.request.urlopen(req, timeout=30) as resp:
            return resp.status, json.loads(resp.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


def raw_walk(m: MockHandle, token: str) -> list[str]:
    """Image ids of a whole walk with Glance's default page, following ``next``."""
    ids: list[str] = []
    path: str | None = "/v2/images"
    while path:
        status, body = get(m, f"/{REGION}/image{path}", token)
        assert status == 200
        ids += [i["id"] for i in body["images"]]
        path = body.get("next")
    return ids


def test_openstacksdk_walks_every_image_once_in_glance_order(many: MockHandle) -> None:
    conn = connect(many)
    before = len(image_pages(many))
    walked = [image.id for image in conn.image.images(limit=25)]
    assert len(walked) == IMAGES and len(set(walked)) == IMAGES
    assert walked == glance_order(region_of(many).images)
    # full pages, then the empty one after the last full page (Glance gives `next` on a full page)
    queries = image_pages(many)[before:]
    assert len(queries) == math.ceil(IMAGES / 25) + (IMAGES % 25 == 0)
    assert all("limit=25" in q for q in queries)


def test_filtered_and_sorted_walks_interleaved_stay_apart(many: MockHandle) -> None:
    """Two listings walked page by page in turn (one sorted by name, one in the default
    order, each filtered by the server): each gets its own listing, whole and in its order."""
    conn = connect(many)
    before = len(image_pages(many))
    by_name = conn.image.images(status="queued", sort="name:asc", limit=25)
    default = conn.image.images(status="active", limit=40)
    walks: dict[str, list[str]] = {"by_name": [], "default": []}
    for named, plain in zip(by_name, default, strict=False):
        walks["by_name"].append(named.name)
        walks["default"].append(plain.id)
    walks["by_name"] += [i.name for i in by_name]
    walks["default"] += [i.id for i in default]
    images = region_of(many).images
    assert walks["by_name"] == sorted(i["name"] for i in images if i["status"] == "queued")
    assert walks["default"] == glance_order([i for i in images if i["status"] == "active"])
    # the filters went to the server (openstacksdk filters some others on its side)
    assert all("status=" in q for q in image_pages(many)[before:])

    # a filter openstacksdk does not send, through its ``next`` link
    token = conn.session.get_token()
    debian = glance_order([i for i in images if i["os_distro"] == "debian"])
    status, body = get(many, f"/{REGION}/image/v2/images?os_distro=debian&limit=5", token)
    assert status == 200 and [i["id"] for i in body["images"]] == debian[:5]
    status, body = get(many, f"/{REGION}/image{body['next']}", token)
    assert status == 200 and [i["id"] for i in body["images"]] == debian[5:10] and "os_distro=debian" in body["next"]


def test_image_added_or_removed_between_pages(changing: MockHandle) -> None:
    """Glance pages from the marker in the catalog as it is now: an image added after the marker
    is in the rest of the walk, one added before it only in a new listing; a removed one is in
    neither; a walk whose marker was removed gets 400."""
    conn = connect(changing)
    state = region_of(changing)
    st = changing.platform.state_  # type: ignore[attr-defined]
    original = glance_order(state.images)
    walk = conn.image.images(limit=25)
    first_page = [next(walk).id for _ in range(25)]
    assert first_page == original[:25]
    # "2099-…" sorts first: already walked past; "2000-…" sorts last: still ahead
    ahead = st.add_image(REGION, {"name": "ahead", "created_at": "2000-01-01T00:00:00Z"})
    behind = st.add_image(REGION, {"name": "behind", "created_at": "2099-01-01T00:00:00Z"})
    gone = original[1000]
    st.remove_image(REGION, gone)
    rest = [image.id for image in walk]
    now = glance_order(state.images)
    assert first_page + rest == first_page + now[now.index(first_page[-1]) + 1:]
    assert ahead["id"] in rest and behind["id"] not in rest and gone not in rest
    assert len(first_page + rest) == IMAGES  # one added ahead, one removed
    fresh = raw_walk(changing, conn.session.get_token())
    assert fresh == now and behind["id"] in fresh and len(fresh) == IMAGES + 1

    # the marker of a walk in progress removed: Glance answers 400 to its next page
    walk = conn.image.images(limit=25)
    marker = [next(walk).id for _ in range(25)][-1]
    st.remove_image(REGION, marker)
    with pytest.raises(openstack.exceptions.BadRequestException):
        next(walk)


def test_unknown_markers_are_answered_as_each_service_does(many: MockHandle) -> None:
    conn = connect(many)
    token = conn.session.get_token()
    project = many.platform.state_.project_id  # type: ignore[attr-defined]
    unknown = "00000000-0000-0000-0000-000000000000"
    as_json = {"Accept": "application/json"}
    # Glance: the marker's lookup (glance/db/sqlalchemy/api.py _image_get) answered 400 by the
    # index (glance/api/v2/images.py ImagesController.index), a webob error
    status, body = get(many, f"/{REGION}/image/v2/images?marker={unknown}", token, **as_json)
    assert status == 400 and body == {"message": f"No image found with ID {unknown}<br /><br />\n\n\n",
                                      "code": "400 Bad Request", "title": "Bad Request"}
    # Nova: MarkerNotFound -> 400 (nova/api/openstack/compute/flavors.py _get_flavors)
    status, body = get(many, f"/{REGION}/compute/v2.1/flavors/detail?marker={unknown}", token)
    assert status == 400 and body == {"badRequest": {"code": 400, "message": f"marker [{unknown}] not found"}}
    # Neutron: the marker is looked up as a network (neutron_lib/db/utils.py get_marker_obj ->
    # _get_network): NetworkNotFound, 404
    status, body = get(many, f"/{REGION}/network/v2.0/networks?limit=1&marker={unknown}", token)
    assert status == 404 and body == {"NeutronError": {
        "type": "NetworkNotFound", "message": f"Network {unknown} could not be found.", "detail": ""}}
    # Cinder: a volume type marker is looked up with .first() and paging starts over without it
    # (cinder/db/api.py _generate_paginate_query, _volume_type_get_db_object)
    status, body = get(many, f"/{REGION}/volume/v3/{project}/types?marker={unknown}", token)
    assert status == 200 and [t["id"] for t in body["volume_types"]] == [t["id"] for t in region_of(many).volume_types]
    # a known one pages on, as before
    first = glance_order(region_of(many).images)[0]
    status, body = get(many, f"/{REGION}/image/v2/images?marker={first}&limit=2", token)
    assert status == 200 and [i["id"] for i in body["images"]] == glance_order(region_of(many).images)[1:3]
    assert body["next"].startswith("/v2/images?") and "limit=2" in body["next"]


def test_flavors_networks_and_volume_types_page_through_changes(changing: MockHandle) -> None:
    """Nova, Neutron and Cinder listings page from their kept listing and see a change."""
    conn = connect(changing)
    state = region_of(changing)
    flavors = [f.id for f in conn.compute.flavors(limit=3)]  # openstacksdk asks for every flavor
    assert flavors == sorted(f["id"] for f in state.flavors)
    by_ram = [f.id for f in conn.compute.flavors(limit=4, sort_key="memory_mb", sort_dir="desc")]
    assert sorted(by_ram) == sorted(flavors) and len(by_ram) == len(set(by_ram))
    rams = {f["id"]: f["ram"] for f in state.flavors}
    assert [rams[f] for f in by_ram] == sorted((rams[f] for f in by_ram), reverse=True)

    extra = dict(state.networks[0], id=str(uuid.uuid4()), name="added", **{"router:external": False})
    state.networks.append(extra)  # a direct append is seen too (the collection's length changed)
    assert "added" in {n.name for n in conn.network.networks(limit=1)}
    state.flavors[0]["is_public"] = False  # an edit in place is seen once noted
    state.changed()
    public = {f.id for f in conn.compute.flavors(limit=3, is_public=True)}
    assert state.flavors[0]["id"] not in public and state.flavors[1]["id"] in public
    token = conn.session.get_token()
    project = changing.platform.state_.project_id  # type: ignore[attr-defined]
    status, body = get(changing, f"/{REGION}/volume/v3/{project}/types?limit=1", token)
    assert status == 200 and [t["name"] for t in body["volume_types"]] == [state.volume_types[0]["name"]]
    marker = body["volume_types"][0]["id"]
    status, body = get(changing, f"/{REGION}/volume/v3/{project}/types?limit=1&marker={marker}", token)
    assert status == 200 and [t["id"] for t in body["volume_types"]] == [state.volume_types[1]["id"]]


def test_a_listing_is_built_once_per_change() -> None:
    """The kept listing is reused for the same query, rebuilt for another query or a change."""
    fixture = load_fixture("flexible-engine")
    fixture["images"] = [_image(i) for i in range(50)]
    with mock("openstack", fixture) as m:
        assert isinstance(m.platform, OpenStackMock)
        st = m.platform.state_
        region = st.regions[REGION]
        builds: list[int] = []

        def build(images: list[dict[str, Any]]) -> list[dict[str, Any]]:
            builds.append(len(images))
            return sorted(images, key=lambda i: i["name"])

        first = region.listing("images", "by-name", build)
        assert region.listing("images", "by-name", build) is first and builds == [50]
        assert region.listing("images", "other", build) is not first and builds == [50, 50]
        st.add_image(REGION, {"name": "new"})
        again = region.listing("images", "by-name", build)
        assert again is not first and builds == [50, 50, 51] and again.position(again.items[-1]["id"]) == 50
        region.images[:] = region.images[:-1]  # same list, same version, another length
        assert region.listing("images", "by-name", build) is not again and builds[-1] == 50
        region.images = list(region.images)  # another list
        region.listing("images", "by-name", build)
        assert builds[-1] == 50 and len(builds) == 5


def test_listing_pages_by_position() -> None:
    listing = Listing([{"id": f"i{n}"} for n in range(10)])
    assert listing.position("i3") == 3 and listing.position("nope") is None and len(listing) == 10
