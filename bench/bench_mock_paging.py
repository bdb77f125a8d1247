"""The mocked OpenStack's paging cost: a full Glance walk at two sizes, against a bare loop.

Starts the mocked OpenStack cloud (Flexible Engine fixture, its images replaced by ``N``
generated ones in ``eu-west-0``) in a process of its own, then walks ``GET /v2/images`` from
this process the way a client does: no ``limit`` (Glance's default page of 25), following each
answer's ``next`` link to the end, and checks that every image came exactly once. What is
measured is the mock process's CPU time (``time.process_time`` read inside it before and after
the walk), so the walker's own work and the machine's load hardly move it.

For each size it prints the pages walked, the mock's CPU time, and the **floor**: a bare Python
loop in this process building the same pages (one sort of the images, then each page's body
with its ``next`` link, serialised to JSON), and the ratio of the two. Then the ratio of the
largest size's mock CPU to the smallest's: paging linear in the listing's size gives about the
ratio of the sizes (10× for 5,000 and 50,000), a page that walks the whole listing about its
square (100×).

    uv run python bench/bench_mock_paging.py [--sizes 5000,50000]
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import time
import urllib.request
import uuid
from multiprocessing.connection import Connection
from typing import Any

from cloudcat_openstack.mock import OpenStackMock
from cloudcat_openstack.mock.state import CloudState

from cloudcat.testing import mock
from cloudcat.testing.mockserver import load_fixture_file

REGION = "eu-west-0"
GLANCE_PAGE = 25  # glance's limit_param_default: what a walk without ``limit`` gets
_NS = uuid.UUID("6f1d2c3b-0a4e-4b5c-9d8e-7f6a5b4c3d2e")


def fixture(images: int) -> dict[str, Any]:
    """The Flexible Engine fixture with ``images`` generated public images in ``eu-west-0``."""
    fx = load_fixture_file(OpenStackMock.fixtures["flexible-engine"])
    distros = ("ubuntu", "centos", "debian", "windows")
    fx["images"] = [{"name": f"image-{i:06d}", "id": str(uuid.uuid5(_NS, str(i))), "regions": [REGION],
                     "os_distro": distros[i % len(distros)], "os_version": str(20 + i % 5), "visibility": "public",
                     "min_disk": 10 + i % 30, "min_ram": 512} for i in range(images)]
    return fx


def serve(images: int, conn: Connection) -> None:
    """The mock's process: serve the fixture, answer ``"cpu"`` with its CPU time until ``"stop"``."""
    with mock("openstack", fixture(images)) as m:
        conn.send((m.url, m.backend["options"]["auth"]))
        while conn.recv() == "cpu":
            conn.send(time.process_time())


def _request(url: str, token: str | None = None, body: dict[str, Any] | None = None) -> tuple[Any, Any]:
    req = urllib.request.Request(url, data=json.dumps(body).encode() if body is not None else None,
                                 headers={"Content-Type": "application/json", **({"X-Auth-Token": token}
                                                                                  if token else {})})
    with urllib.request.urlopen(req, timeout=600) as resp:
        return resp.headers, json.loads(resp.read())


def login(url: str, auth: dict[str, str]) -> str:
    """A project-scoped Keystone token."""
    domain = {"name": auth["user_domain_name"]}
    headers, _ = _request(url + "/identity/v3/auth/tokens", body={"auth": {
        "identity": {"methods": ["password"], "password": {"user": {
            "name": auth["username"], "password": auth["password"], "domain": domain}}},
        "scope": {"project": {"name": auth["project_name"], "domain": domain}}}})
    return str(headers["X-Subject-Token"])


def walk(url: str, token: str) -> tuple[list[str], int]:
    """Every image id of a whole Glance walk (default page, ``next`` links) and the pages read."""
    base = f"{url}/{REGION}/image"
    path: str | None = "/v2/images"
    ids: list[str] = []
    pages = 0
    while path:
        _, body = _request(base + path, token)
        ids += [image["id"] for image in body["images"]]
        pages += 1
        path = body.get("next")
    return ids, pages


def floor(images: int) -> float:
    """CPU seconds of a bare loop building the same pages: one sort, then each page's JSON body."""
    state = CloudState(fixture(images))
    listed = state.visible_images(state.regions[REGION])
    start = time.process_time()
    ordered = sorted(listed, key=lambda i: (i["created_at"], i["id"]), reverse=True)
    for at in range(0, len(ordered), GLANCE_PAGE):
        chunk = ordered[at:at + GLANCE_PAGE]
        body: dict[str, Any] = {"images": [{**i, "self": f"/v2/images/{i['id']}", "file": f"/v2/images/{i['id']}/file",
                                            "schema": "/v2/schemas/image"} for i in chunk],
                                "first": "/v2/images", "schema": "/v2/schemas/images"}
        if len(chunk) == GLANCE_PAGE:
            body["next"] = f"/v2/images?marker={chunk[-1]['id']}&limit={GLANCE_PAGE}"
        json.dumps(body).encode()
    return time.process_time() - start


def measure(images: int) -> dict[str, float]:
    """One size: the mock's CPU time over a whole walk, the pages read, and the floor."""
    ctx = multiprocessing.get_context("spawn")
    ours, theirs = ctx.Pipe()
    proc = ctx.Process(target=serve, args=(images, theirs), daemon=True)
    proc.start()
    try:
        url, auth = ours.recv()
        token = login(url, auth)
        ours.send("cpu")
        before = ours.recv()
        ids, pages = walk(url, token)
        ours.send("cpu")
        spent = ours.recv() - before
        ours.send("stop")
    finally:
        proc.join(timeout=30)
        if proc.is_alive():
            proc.kill()
    if len(ids) != images or len(set(ids)) != images:
        raise SystemExit(f"walk of {images} images gave {len(ids)} ids, {len(set(ids))} distinct")
    return {"images": images, "pages": pages, "mock_cpu": spent, "floor_cpu": floor(images)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="5000,50000", help="image counts, comma-separated, smallest first")
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    print(f"load average before: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    print(f"{'images':>8} {'pages':>6} {'mock CPU s':>11} {'ms/page':>8} {'floor CPU s':>12} {'mock/floor':>11}")
    rows = [measure(n) for n in sizes]
    for row in rows:
        print(f"{row['images']:>8,} {row['pages']:>6,} {row['mock_cpu']:>11.2f} "
              f"{1000 * row['mock_cpu'] / row['pages']:>8.2f} {row['floor_cpu']:>12.3f} "
              f"{row['mock_cpu'] / row['floor_cpu']:>10.1f}×")
    if len(rows) > 1:
        first, last = rows[0], rows[-1]
        print(f"mock CPU {last['images']:,} / {first['images']:,} images: {last['mock_cpu'] / first['mock_cpu']:.1f}× "
              f"(sizes {last['images'] / first['images']:.0f}×; linear ≈ that, quadratic ≈ its square); "
              f"floor: {last['floor_cpu'] / first['floor_cpu']:.1f}×")
    print(f"load average after: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")


if __name__ == "__main__":
    main()
