"""Round trips: a read costs a few request latencies however many VDCs or pages the org has.

Each test reads the mocked Cloud Director with a latency on every answer and bounds the wall time
by the requests on the critical path (those that must wait for one another) times the latency,
well under the time the same requests would take one after another. The mock's request record
gives what was asked.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from cloudcat_vcd.driver import VcdDriver
from cloudcat_vcd.mock import VcdMock

import cloudcat
from cloudcat.driver import SIDE_THREADS
from cloudcat.models import Kind
from cloudcat.testing import mock, wait_until
from cloudcat.testing.mockserver import RequestRecord, load_fixture_file

LATENCY_MS = 100.0
LATENCY = LATENCY_MS / 1000
#: versions, login, then the orgVdc query: the chain before any per-VDC read.
PREAMBLE = 3


def within(seconds: float, critical: int, unhurried: float, sequential: int = 0) -> bool:
    """Whether a read took about ``critical`` round trips: at least that (the latency is real), at
    most that plus twice the same read without latency (its own work, however loaded the machine)
    and two round trips more — or, on a machine too loaded for that, still well under the
    ``sequential`` round trips that reading one request after another would take."""
    upper = max((critical + 2) * LATENCY + 2 * unhurried, 0.6 * sequential * LATENCY)
    return critical * LATENCY <= seconds < upper


def one_region(vdcs: int) -> dict[str, Any]:
    """The Cloud Avenue fixture with ``vdcs`` VDCs, all in the org's site (one region)."""
    fx = load_fixture_file(VcdMock.fixtures["cloud-avenue"])
    specs = fx["vdcs"]
    fx["vdcs"] = [{**specs[i % len(specs)], "name": f"{specs[i % len(specs)]['name']}-{i}",
                   "networks": [], "edges": []} for i in range(vdcs)]
    return fx


def count(records: list[RequestRecord], *, ending: str = "", containing: str = "") -> int:
    return sum(1 for r in records if r.method == "GET" and r.path.endswith(ending) and containing in r.path)


def compute(m: Any, **options: Any) -> tuple[float, list[Any]]:
    """Seconds and items of a compute read of the site region by a fresh driver."""
    with VcdDriver({**m.backend["options"], **options}) as driver:
        start = time.perf_counter()
        items = sorted(driver.items(Kind.COMPUTE, "vdr"), key=lambda i: i.name)
        return time.perf_counter() - start, items


@pytest.fixture(scope="module")
def org32() -> Iterator[Any]:
    """A mock org of 32 VDCs in one region (once logged in to: the HTTP libraries are imported)."""
    with mock(VcdMock, one_region(32)) as m:
        with VcdDriver(m.backend["options"]) as driver:
            driver.check()
        yield m


@pytest.mark.parametrize("parallel", [4, 8, 32])
def test_compute_of_32_vdcs_costs_a_few_round_trips(org32: Any, parallel: int) -> None:
    m = org32
    unhurried, _ = compute(m, max_parallel_requests=parallel)
    before = len(m.server.requests())
    m.server.set_faults(latency_ms=LATENCY_MS)
    try:
        seconds, items = compute(m, max_parallel_requests=parallel)
    finally:
        m.server.set_faults(latency_ms=0)
    record = m.server.requests()[before:]

    # the fixture's only policy (System Default) sets no size: one flexible offer per VDC class,
    # each naming the 8 VDCs that sell it
    assert [(i.name, len(i.extras["vdcs"])) for i in items] == [
        ("ECO-PAYG-ONE-ROOM", 8), ("HP-PAYG-HA-DUAL-ROOM", 8), ("STD-PAYG-ONE-ROOM", 8),
        ("STD-RESERVED-DUAL-ROOM", 8)]
    vdcs = count(record, ending="/metadata")
    documents = count(record, containing="/api/vdc/") - vdcs
    policies = count(record, ending="/computePolicies")
    assert (vdcs, documents, policies) == (32, 32, 32)  # every Cloud Avenue VDC: metadata, then its document
    # each thread reads a VDC's metadata then its document, at most `parallel` at once; the policies
    # go alongside; this thread and the process's side threads share the 96 requests
    threads = SIDE_THREADS + 1
    critical = PREAMBLE + max(2 * math.ceil(vdcs / min(parallel, threads)),
                              math.ceil((vdcs + documents + policies) / threads))
    sequential = PREAMBLE + vdcs + documents + policies
    assert within(seconds, critical, unhurried, sequential), (seconds, unhurried, critical, sequential)


@pytest.mark.parametrize("listing", ["query-json", "openapi"])
def test_pages_after_the_first_are_read_side_by_side(org32: Any, listing: str) -> None:
    m = org32
    fmt = listing.removeprefix("query-") if listing.startswith("query") else "json"

    def read() -> tuple[float, list[dict[str, Any]]]:
        with VcdDriver({**m.backend["options"], "query_format": fmt}) as driver:
            client = driver.client
            client.session_info()  # versions and login, out of the timed part
            start = time.perf_counter()
            if listing == "openapi":
                found = list(client.openapi_list("/cloudapi/1.0.0/vdcs"))
            else:
                found = list(client.query("orgVdc", fmt=fmt))
            return time.perf_counter() - start, found

    _, whole = read()
    m.server.set_faults(page_limit=1)
    try:
        unhurried, _ = read()
        before = len(m.server.requests())
        m.server.set_faults(latency_ms=LATENCY_MS)
        seconds, paged = read()
    finally:
        m.server.set_faults(page_limit=None, latency_ms=0)
    pages = [r for r in m.server.requests()[before:] if "page=" in r.query]

    assert paged == whole  # same records, same order
    assert len(whole) == 32 and len(pages) == 32  # one record a page, each page read once
    critical = 1 + math.ceil((len(pages) - 1) / 8)  # the first page, then the others 8 at a time
    assert within(seconds, critical, unhurried, len(pages)), (seconds, unhurried, critical)


def test_a_server_without_the_2_0_0_policy_api_is_found_out_once() -> None:
    fixture = {**one_region(8), "cloudapi_v2": False}
    with mock(VcdMock, fixture) as m:
        _, items = compute(m, max_parallel_requests=8)
        record = m.server.requests()

    assert count(record, containing="/cloudapi/2.0.0/") == 1
    assert count(record, containing="/cloudapi/1.0.0/vdcs/") == 8
    assert all(item.extras.get("compute_policy_api") in (None, "1.0.0") for item in items)


def test_many_cloud_director_backends_read_at_once_keep_threads_and_sockets_bounded(tmp_path: Path) -> None:
    """Twelve backends read by one refresh of concurrency 4: the reads side by side of every
    backend share the process's side threads, so the threads follow the concurrency, not the
    backends (the mock's own threads, serving connections, are not counted)."""
    concurrency, backends = 4, 12
    with mock(VcdMock, "cloud-avenue") as m:
        config = {"backends": {f"c{i:02}": m.backend for i in range(backends)},
                  "brands": {f"c{i:02}": {"backend": f"c{i:02}"} for i in range(backends)},
                  "concurrency": concurrency, "store": str(tmp_path / "c.db")}
        peak: list[str] = []
        done = threading.Event()

        def sample() -> None:
            while not done.wait(0.005):
                ours = [t.name for t in threading.enumerate() if t.name.startswith(("cloudcat-", "vcd-"))]
                if len(ours) > len(peak):
                    peak[:] = ours

        sampler = threading.Thread(target=sample)
        sampler.start()
        try:
            with cloudcat.open_catalog(config) as catalog:
                result = catalog.refresh()
                # each backend's connections were closed once it was read, not kept until the catalog closes
                port = urlsplit(m.backend["options"]["url"]).port
                assert wait_until(lambda: not connected_to(port), 5), len(connected_to(port))
        finally:
            done.set()
            sampler.join(5)
    assert result.exit_code == 0 and not result.failed
    assert result.snapshot is not None and result.snapshot.offers == 12 * 33
    assert "cloudcat-side" in peak  # the reads went side by side
    assert len(peak) <= concurrency + SIDE_THREADS, sorted(peak)


def connected_to(port: int | None) -> list[str]:
    """Established TCP connections to ``port`` on the loopback (the clients' side), as the kernel
    lists them."""
    lines = Path("/proc/net/tcp").read_text().splitlines()[1:]
    # local address, remote address (hex ip:port), state (01: established)
    return [line for line in lines
            if (fields := line.split())[3] == "01" and fields[2] == f"0100007F:{port or 0:04X}"]
