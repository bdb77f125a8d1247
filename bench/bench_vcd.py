"""Benchmark: reading a Cloud Director (Cloud Avenue) org through the vcd driver and the catalog.

Three figures, each against the mocked Cloud Director on loopback:

1. a full read (every kind, every region) of the Cloud Avenue fixture repeated ``--regions``
   times: items per second and requests per read;
2. the cost of paging: the same read with the server capping pages at 1 record
   (requests and time, as a ratio to the unpaged read);
3. concurrency: a catalog refresh of ``--regions`` regions with ``--latency-ms`` per request,
   against a refresh of one region, and the ratio of the two (goal: a refresh of many regions
   costs close to one region's latency chain, well under ``--regions`` times it);
4. round trips: a compute read of one region holding ``--vdcs`` VDCs with 100 ms per request,
   with the driver's default ``max_parallel_requests`` and with one request per VDC asked: requests
   sent, wall time, and the chain (wall time over the latency) as a ratio to the 5-request
   floor (versions, login, the VDC query, a VDC's metadata, then its document; the compute
   policies go alongside) and to the floor of the requests that many at once can send: a read
   runs on its task's thread and the side threads the process shares
   (:data:`cloudcat.driver.SIDE_THREADS`), so eight requests at most are in flight.

Run: ``uv run python bench/bench_vcd.py [--regions N] [--latency-ms MS] [--vdcs N]``.
"""

from __future__ import annotations

import argparse
import math
import tempfile
import time
from pathlib import Path
from typing import Any

from cloudcat_vcd.driver import VcdDriver
from cloudcat_vcd.mock import VcdMock

import cloudcat
from cloudcat.driver import SIDE_THREADS
from cloudcat.models import Kind
from cloudcat.testing import mock
from cloudcat.testing.mockserver import load_fixture_file

KINDS = [Kind.LOCATION, Kind.COMPUTE, Kind.STORAGE, Kind.IMAGE, Kind.NETWORK]
#: Requests that must follow one another in a compute read (see the module docstring).
FLOOR = 5
CHAIN_LATENCY_MS = 100.0


def full_read(options: dict[str, Any]) -> int:
    """Every item of every kind in every region; returns the item count."""
    count = 0
    with VcdDriver(options) as driver:
        for region in driver.regions():
            for kind in KINDS:
                count += sum(1 for _ in driver.items(kind, region.name))
    return count


def timed_read(regions: int, **faults: Any) -> tuple[float, int, int]:
    with mock(VcdMock, regions=regions, **faults) as m:
        start = time.perf_counter()
        items = full_read(m.backend["options"])
        seconds = time.perf_counter() - start
        return seconds, items, len(m.server.requests())


def timed_refresh(regions: int, latency_ms: float) -> float:
    with mock(VcdMock, regions=regions, latency_ms=latency_ms) as m, tempfile.TemporaryDirectory() as tmp:
        config = {"backends": {"cav": m.backend}, "brands": {"cloud-avenue": {"backend": "cav"}},
                  "store": str(Path(tmp) / "catalog.db"), "concurrency": 32}
        with cloudcat.open_catalog(config) as catalog:
            start = time.perf_counter()
            result = catalog.refresh()
            seconds = time.perf_counter() - start
            if result.failed:
                raise SystemExit(f"refresh failed: {result.failed}")
            return seconds


def one_region(vdcs: int) -> dict[str, Any]:
    """The Cloud Avenue fixture with ``vdcs`` VDCs, all in the org's site (region ``vdr``)."""
    fx = load_fixture_file(VcdMock.fixtures["cloud-avenue"])
    specs = fx["vdcs"]
    fx["vdcs"] = [{**specs[i % len(specs)], "name": f"{specs[i % len(specs)]['name']}-{i}",
                   "networks": [], "edges": []} for i in range(vdcs)]
    return fx


def timed_compute(vdcs: int, **options: Any) -> tuple[float, int]:
    """Seconds and requests of a compute read of one region of ``vdcs`` VDCs by a fresh driver."""
    with mock(VcdMock, one_region(vdcs), latency_ms=CHAIN_LATENCY_MS) as m:
        with VcdDriver({**m.backend["options"], **options}) as driver:
            start = time.perf_counter()
            list(driver.items(Kind.COMPUTE, "vdr"))
            seconds = time.perf_counter() - start
        return seconds, len([r for r in m.server.requests() if r.method != "DELETE"])  # not the logout


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--regions", type=int, default=10)
    parser.add_argument("--latency-ms", type=float, default=20.0)
    parser.add_argument("--vdcs", type=int, default=32, help="VDCs in the region of the round-trip figure")
    args = parser.parse_args()

    timed_read(1)  # warm up: the first read imports httpx and tenacity
    seconds, items, requests = timed_read(args.regions)
    print(f"full read, {args.regions} regions: {items} items, {requests} requests, {seconds:.3f} s "
          f"({items / seconds:,.0f} items/s)")
    paged_s, paged_items, paged_requests = timed_read(args.regions, page_limit=1)
    assert paged_items == items, "paging changed the result"
    print(f"page size 1: {paged_requests} requests ({paged_requests / requests:.1f}x), {paged_s:.3f} s "
          f"({paged_s / seconds:.1f}x)")
    one = timed_refresh(1, args.latency_ms)
    many = timed_refresh(args.regions, args.latency_ms)
    print(f"catalog refresh at {args.latency_ms:g} ms/request: 1 region {one:.3f} s, {args.regions} regions "
          f"{many:.3f} s, ratio {many / one:.2f} (sequential would be about {args.regions}x)")
    default = VcdDriver.Options.model_fields["max_parallel_requests"].default
    for parallel in dict.fromkeys((default, max(default, args.vdcs))):
        seconds, requests = timed_compute(args.vdcs, max_parallel_requests=parallel)
        chain = seconds / (CHAIN_LATENCY_MS / 1000)
        # the VDC details (two requests each) and the policies, on at most SIDE_THREADS + 1 threads
        threads = min(parallel, SIDE_THREADS + 1)
        bounded = FLOOR - 2 + max(2 * math.ceil(args.vdcs / threads), math.ceil(3 * args.vdcs / (SIDE_THREADS + 1)))
        print(f"compute read, 1 region of {args.vdcs} VDCs at {CHAIN_LATENCY_MS:g} ms/request, "
              f"max_parallel_requests={parallel}: {requests} requests, {seconds:.2f} s = a {chain:.1f}-request "
              f"chain, {chain / FLOOR:.1f}x the {FLOOR}-request floor, {chain / bounded:.2f}x the {bounded}-request "
              f"floor of {SIDE_THREADS + 1} requests at once (one after another: {requests / FLOOR:.1f}x)")


if __name__ == "__main__":
    main()
