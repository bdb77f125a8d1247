"""Benchmark: reading a Cloud Director (Cloud Avenue) org through the vcd driver and the catalog.

Three figures, each against the mocked Cloud Director on loopback:

1. a full read (every kind, every region) of the Cloud Avenue fixture repeated ``--regions``
   times: items per second and requests per read;
2. the cost of paging: the same read with the server capping pages at 1 record
   (requests and time, as a ratio to the unpaged read);
3. concurrency: a catalog refresh of ``--regions`` regions with ``--latency-ms`` per request,
   against a refresh of one region, and the ratio of the two (goal: a refresh of many regions
   costs close to one region's latency chain, well under ``--regions`` times it).

Run: ``uv run python bench/bench_vcd.py [--regions N] [--latency-ms MS]``.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path
from typing import Any

from cloudcat_vcd.driver import VcdDriver
from cloudcat_vcd.mock import VcdMock

import cloudcat
from cloudcat.models import Kind
from cloudcat.testing import mock

KINDS = [Kind.LOCATION, Kind.COMPUTE, Kind.STORAGE, Kind.IMAGE, Kind.NETWORK]


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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--regions", type=int, default=10)
    parser.add_argument("--latency-ms", type=float, default=20.0)
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


if __name__ == "__main__":
    main()
