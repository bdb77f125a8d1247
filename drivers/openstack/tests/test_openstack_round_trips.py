"""How many requests, one after the other, the driver needs: the round trips users wait for.

Against a slow cloud a refresh lasts as long as its longest chain of requests that depend on each
other, so the driver asks for the largest pages each service serves, logs in once for every
region, and runs no version discovery: the token's catalog names every endpoint.
"""

from __future__ import annotations

import collections
import math
import threading
import time
import uuid
from typing import Any
from urllib.parse import parse_qs

from cloudcat_openstack.driver import GLANCE_MAX_LIMIT, OpenStackDriver
from cloudcat_openstack.mock import OpenStackMock
from werkzeug.wrappers import Request, Response

from cloudcat.models import Kind
from cloudcat.testing import mock
from cloudcat.testing.mockserver import load_fixture_file

REGION = "eu-west-0"
IMAGES = 5_000
_NS = uuid.UUID("6a0c1f8e-2b1d-4d5e-9f3a-7c2b1e0d9a88")


def _with_images(count: int) -> dict[str, Any]:
    """The Flexible Engine fixture with ``count`` more public images in eu-west-0."""
    fixture = load_fixture_file(OpenStackMock.fixtures["flexible-engine"])
    fixture["images"] = [*fixture["images"], *(
        {"name": f"bulk-{i:05d}", "id": str(uuid.uuid5(_NS, str(i))), "regions": [REGION], "visibility": "public",
         "os_distro": "ubuntu"} for i in range(count))]
    return fixture


def test_images_are_listed_in_pages_of_a_thousand() -> None:
    with mock("openstack", _with_images(IMAGES)) as m:
        driver = OpenStackDriver(m.backend["options"], backend="fe")
        images = [i for i in driver.items(Kind.IMAGE, REGION) if i.name.startswith("bulk-")]
        assert len(images) == IMAGES
        listings = [r for r in m.server.requests() if r.path.endswith("/image/v2/images")]
        assert all(parse_qs(r.query)["limit"] == [str(GLANCE_MAX_LIMIT)] for r in listings)
        # public: 5,000 and the fixture's few in 6 pages; shared: one; Glance's default page of
        # 25 would have cost 200 requests, one after the other
        public = [r for r in listings if parse_qs(r.query)["visibility"] == ["public"]]
        assert len(public) == math.ceil((IMAGES + 1) / GLANCE_MAX_LIMIT)
        assert len(listings) - len(public) == 1


def test_one_login_no_version_discovery_for_every_region() -> None:
    with mock("openstack", "flexible-engine", regions=4) as m:
        driver = OpenStackDriver(m.backend["options"], backend="fe")
        for region in driver.regions():
            for kind in Kind:
                list(driver.items(kind, region.name))
        requests = m.server.requests()
        assert m.platform.state()["tokens_issued"] == 1
        assert [r.method for r in requests if r.path.startswith("/identity")] == ["POST", "GET"]  # token, regions
        unversioned = [r.path for r in requests
                       if r.path.rstrip("/").rsplit("/", 1)[-1] in ("compute", "v2.1", "image", "volume", "v3",
                                                                     "network", "v2.0", "rating", "identity")]
        assert unversioned == [], "version discovery requests were made"


def test_a_flavor_page_is_a_single_request_asking_for_a_thousand() -> None:
    with mock("openstack", "flexible-engine", page_limit=5) as m:
        driver = OpenStackDriver(m.backend["options"], backend="fe")
        flavors = list(driver.items(Kind.COMPUTE, REGION))
        pages = [r for r in m.server.requests() if r.path.endswith("/flavors/detail")]
        assert parse_qs(pages[0].query)["limit"] == ["1000"]
        # pages of 5 (the mock's cap) and a last one that may be empty; none read twice
        assert len(pages) in (math.ceil(len(flavors) / 5), math.ceil(len(flavors) / 5) + 1)
        assert len({r.query for r in pages}) == len(pages)
        assert not any(r.path.endswith("/os-extra_specs") for r in m.server.requests())  # inline at 2.61


class _Overlap(OpenStackMock):
    """OpenStack whose CloudKitty answers take a while, noting how many of each were asked at once."""

    lock = threading.Lock()
    in_flight: collections.Counter[str] = collections.Counter()
    peak: collections.Counter[str] = collections.Counter()

    def dispatch(self, request: Request) -> Response:
        if "/rating/" not in request.path:
            return super().dispatch(request)
        name = request.path.rsplit("/", 1)[-1]
        with self.lock:
            self.in_flight[name] += 1
            self.peak[name] = max(self.peak[name], self.in_flight[name])
        try:
            time.sleep(0.3)
            return super().dispatch(request)
        finally:
            with self.lock:
                self.in_flight[name] -= 1


def test_cloudkitty_is_read_in_three_steps() -> None:
    """Services, then the fields of the priced services (asked at once), then their mappings
    (asked at once): the prices of a region cost three round trips, not five."""
    _Overlap.peak.clear()
    with mock(_Overlap, "flexible-engine") as m:
        driver = OpenStackDriver(m.backend["options"], backend="fe")
        flavors = list(driver.items(Kind.COMPUTE, REGION))
        assert any(f.price is not None for f in flavors)
        rating = [r.path.rsplit("/", 1)[-1] for r in m.server.requests() if "/rating/" in r.path]
        assert sorted(rating) == ["fields", "fields", "mappings", "mappings", "services"]
        assert _Overlap.peak == {"services": 1, "fields": 2, "mappings": 2}
