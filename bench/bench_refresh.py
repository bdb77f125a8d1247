"""Refresh speed against a slow, many-region OpenStack cloud.

Starts the mocked OpenStack cloud (Flexible Engine fixture) with a per-request latency
(100 ms by default) and 6 regions, then times:

* **sequential**: the script a user writes today with openstacksdk — for each region, connect,
  then list flavors, images, volume types, external networks and availability zones;
* **cloudcat**: ``Catalog.refresh()`` over the same backend (the ``openstack`` driver, one
  session and token for every region, region × kind tasks run concurrently);

and prints both, their ratio (target: cloudcat ≤ 1/5 of sequential), and the critical-path
floor: the longest chain of requests that must follow one another, times the latency
(target: cloudcat within 2× of it).

    uv run python bench/bench_refresh.py [--latency-ms 100] [--regions 6] [--runs 3] [--concurrency 32]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import openstack

import cloudcat.catalog
from cloudcat.testing import mock

#: The longest chain of requests that depend on one another in a refresh:
#: Keystone version discovery → token → identity discovery → region list → compute version
#: discovery → availability zones (the regions' zones) → image version discovery → one page of
#: images (every listing fits one page at the mock's default page sizes).
CRITICAL_PATH = (
    "GET /identity/v3", "POST /identity/v3/auth/tokens", "GET /identity", "GET /identity/v3/regions",
    "GET /<region>/compute/v2.1", "GET /<region>/compute/v2.1/os-availability-zone",
    "GET /<region>/image", "GET /<region>/image/v2/images",
)


def sequential(backend: dict[str, Any], regions: list[str]) -> int:
    """What a user writes with openstacksdk today: region after region, listing after listing."""
    auth = backend["options"]["auth"]
    count = 0
    for region in regions:
        conn = openstack.connect(**auth, region_name=region, load_yaml_config=False, load_envvars=False)
        count += len(list(conn.compute.flavors()))
        count += len(list(conn.image.images()))
        count += len(list(conn.block_storage.types()))
        count += len(list(conn.network.networks(is_router_external=True)))
        count += len(list(conn.compute.availability_zones()))
        conn.close()
    return count


def cloudcat_refresh(backend: dict[str, Any], store: Path, concurrency: int) -> int:
    """``Catalog.refresh()`` over the mocked backend, stored in a fresh SQLite file."""
    # one task per region × kind (6 × 5 = 30): let them all run at once
    config = {"backends": {"fe": backend}, "store": str(store), "concurrency": concurrency}
    catalog = cloudcat.catalog.open_catalog(config)
    result = catalog.refresh()
    failed = [s for s in result.statuses if s.status != "ok"]
    if failed:
        raise SystemExit(f"refresh failed: {failed}")
    return sum(s.items for s in result.statuses)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--latency-ms", type=float, default=100.0)
    parser.add_argument("--regions", type=int, default=6)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--concurrency", type=int, default=32,
                        help="the catalog's `concurrency` setting (parallel backend calls)")
    args = parser.parse_args()

    with mock("openstack", "flexible-engine", latency_ms=args.latency_ms, regions=args.regions) as m:
        regions = list(m.platform.state()["regions"])
        backend = {**m.backend, "options": {**m.backend["options"], "cloudkitty": False}}
        seq_times, cc_times = [], []
        seq_count = cc_count = 0
        with tempfile.TemporaryDirectory() as tmp:
            for run in range(args.runs):
                start = time.perf_counter()
                seq_count = sequential(backend, regions)
                seq_times.append(time.perf_counter() - start)
                before = len(m.server.requests())
                start = time.perf_counter()
                cc_count = cloudcat_refresh(backend, Path(tmp) / f"run{run}.db", args.concurrency)
                cc_times.append(time.perf_counter() - start)
                cc_requests = len(m.server.requests()) - before

    seq, cc = statistics.median(seq_times), statistics.median(cc_times)
    floor = len(CRITICAL_PATH) * args.latency_ms / 1000
    print(f"mocked OpenStack: {args.regions} regions, {args.latency_ms:g} ms per request, "
          f"catalog concurrency {args.concurrency}, median of {args.runs} runs")
    print(f"sequential openstacksdk script : {seq:7.2f} s  ({seq_count} objects listed)")
    print(f"cloudcat Catalog.refresh()     : {cc:7.2f} s  ({cc_count} items, {cc_requests} requests)")
    print(f"ratio cloudcat / sequential    : {cc / seq:7.3f}   (target <= 0.200)")
    print(f"critical-path floor            : {floor:7.2f} s  ({len(CRITICAL_PATH)} dependent requests)")
    print(f"ratio cloudcat / floor         : {cc / floor:7.2f}   (target <= 2.00)")


if __name__ == "__main__":
    main()
