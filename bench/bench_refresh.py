"""Refresh speed against a slow, many-region OpenStack cloud, as users run it.

Starts the mocked OpenStack cloud (Flexible Engine fixture) with a per-request latency
(100 ms by default), 6 regions, CloudKitty prices as the mock hands them out and paged listings
(5 items a page by default), then times, median of several runs:

* **sequential**: the script a user writes today with openstacksdk, run as its own process —
  for each region, connect,
  list flavors, images, volume types, external networks and availability zones (every page),
  then read CloudKitty's hashmap (services, fields, mappings);
* **cloudcat**: whole ``cloudcat refresh`` processes (interpreter start and imports included)
  over the same backend with a brand, so offers are composed and stored;

and prints both, their ratio (target: cloudcat ≤ 0.2 of sequential), and the critical-path
floor: the longest chain of requests that must follow one another, times the latency (target:
cloudcat within 1.5× of it). The chain is counted from the requests cloudcat made: the login
chain, then in the busiest region the compute discovery, every flavor page and the CloudKitty
requests that follow one another. The time an empty interpreter takes to import the CLI is
printed too: it is part of what users wait for, and of no chain. Then, for the last run, where
the time went: the first request and the last answer after the process started, and the longest
chain of requests cloudcat actually made one after another (each asked after the previous one's
answer came back), request by request.

    uv run python bench/bench_refresh.py [--latency-ms 100] [--regions 6] [--page-limit 5] [--runs 3]
                                         [--concurrency 32]
"""

from __future__ import annotations

import argparse
import collections
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import openstack
import yaml
from cloudcat_openstack.mock import OpenStackMock
from werkzeug.wrappers import Request, Response

from cloudcat.testing import mock

#: Requests that must follow one another before any listing: Keystone version discovery → token
#: → identity discovery → region list.
LOGIN_CHAIN = 4


class TimedOpenStack(OpenStackMock):
    """The mocked OpenStack, noting when each request was answered (its latency already waited)."""

    lock = threading.Lock()
    answered: list[tuple[float, str, str]] = []  # (monotonic time, method, path and query)

    def dispatch(self, request: Request) -> Response:
        response = super().dispatch(request)
        query = request.query_string.decode("latin-1")
        with self.lock:
            self.answered.append((time.monotonic(), request.method, request.path + (f"?{query}" if query else "")))
        return response


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
        if backend["options"].get("cloudkitty"):
            count += _cloudkitty(conn, region)
        conn.close()
    return count


def _cloudkitty(conn: Any, region: str) -> int:
    def get(path: str, **params: str) -> Any:
        return conn.session.get("/v1/rating/module_config/hashmap" + path, params=params,
                                endpoint_filter={"service_type": "rating", "region_name": region}).json()

    count = 0
    for svc in get("/services").get("services", []):
        for fld in get("/fields", service_id=svc["service_id"]).get("fields", []):
            count += len(get("/mappings", field_id=fld["field_id"]).get("mappings", []))
    return count


def sequential_process(backend: dict[str, Any], regions: list[str], tmp: Path) -> tuple[float, int]:
    """The sequential script as its own process (imports included, as for cloudcat): its wall
    time and the number of objects it listed."""
    spec = tmp / "sequential.json"
    spec.write_text(json.dumps({"backend": backend, "regions": regions}))
    start = time.perf_counter()
    proc = subprocess.run([sys.executable, __file__, "--sequential", str(spec)], capture_output=True, text=True,
                          check=True)
    return time.perf_counter() - start, int(proc.stdout.strip())


def cloudcat_refresh(config: Path) -> tuple[float, float, float]:
    """One ``cloudcat refresh`` process; when it started (monotonic clock), its wall time and the
    CPU time it used (user + system: a measure the machine's load hardly changes)."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.monotonic()
    proc = subprocess.run([sys.executable, "-m", "cloudcat.cli", "refresh", "--config", str(config)],
                          capture_output=True, text=True)
    took = time.monotonic() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if proc.returncode != 0:
        raise SystemExit(f"refresh failed ({proc.returncode}): {proc.stderr}")
    return start, took, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def longest_chain(answered: list[tuple[float, str, str]], latency: float) -> list[tuple[float, str, str]]:
    """The longest chain of requests made one after another: each asked (answered minus the
    latency) once the previous one was answered. An upper bound of what truly depended on what."""
    spans = sorted((t - latency, t, method, path) for t, method, path in answered)
    best: list[list[tuple[float, str, str]]] = []
    for i, (asked, done, method, path) in enumerate(spans):
        before = [best[j] for j in range(i) if spans[j][1] <= asked + 0.005]
        chain = max(before, key=len, default=[])
        best.append([*chain, (done, method, path)])
    return max(best, key=len, default=[])


def import_time() -> float:
    start = time.perf_counter()
    subprocess.run([sys.executable, "-c", "import cloudcat.cli"], check=True)
    return time.perf_counter() - start


def chain_length(paths: list[str]) -> int:
    """The longest dependent chain in one refresh's requests: the login chain, then in the
    busiest region discovery + every page of its longest listing + the CloudKitty requests."""
    per_region: dict[str, collections.Counter[str]] = collections.defaultdict(collections.Counter)
    for path in paths:
        parts = path.strip("/").split("/")
        if len(parts) < 2 or parts[0] == "identity":
            continue
        region, service = parts[0], parts[1]
        listing = "/".join(parts[2:]) or "<discovery>"
        if service == "rating":
            per_region[region]["rating"] += 1
        elif listing != "<discovery>" and not listing.endswith(("v2.1", "v2", "v3")):
            per_region[region][f"{service}:{listing.split('?')[0]}"] += 1
    longest = 0
    for counts in per_region.values():
        rating = counts.pop("rating", 0)
        pages = max(counts.values(), default=0)
        longest = max(longest, 1 + pages + rating)  # discovery, pages, then the prices
    return LOGIN_CHAIN + longest


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--latency-ms", type=float, default=100.0)
    parser.add_argument("--regions", type=int, default=6)
    parser.add_argument("--page-limit", type=int, default=5, help="largest page the mock serves")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--concurrency", type=int, default=32,
                        help="the catalog's `concurrency` setting (parallel backend calls)")
    parser.add_argument("--sequential", metavar="SPEC", help=argparse.SUPPRESS)  # the child process
    args = parser.parse_args()
    if args.sequential:
        spec = json.loads(Path(args.sequential).read_text())
        print(sequential(spec["backend"], spec["regions"]))
        return

    with mock(TimedOpenStack, "flexible-engine", latency_ms=args.latency_ms, regions=args.regions,
              page_limit=args.page_limit) as m:
        regions = list(m.platform.state()["regions"])
        backend = m.backend  # as the mock hands it out: CloudKitty on when the fixture has prices
        seq_times: list[float] = []
        cc_times: list[float] = []
        cc_cpu: list[float] = []
        seq_count = 0
        paths: list[str] = []
        with tempfile.TemporaryDirectory() as tmp:
            for run in range(args.runs):
                took, seq_count = sequential_process(backend, regions, Path(tmp))
                seq_times.append(took)
                config = Path(tmp) / f"run{run}.yaml"
                config.write_text(yaml.safe_dump({
                    "backends": {"fe": backend},
                    "brands": {"flexible-engine": {"backend": "fe", "operator": "Orange Business"}},
                    "store": str(Path(tmp) / f"run{run}.db"), "concurrency": args.concurrency}))
                before = len(m.server.requests())
                TimedOpenStack.answered.clear()
                started, took, cpu = cloudcat_refresh(config)
                cc_times.append(took)
                cc_cpu.append(cpu)
                paths = [r.path for r in m.server.requests()[before:]]
                answered = list(TimedOpenStack.answered)
    startup = min(import_time() for _ in range(3))

    seq, cc = statistics.median(seq_times), statistics.median(cc_times)
    chain = chain_length(paths)
    floor = chain * args.latency_ms / 1000
    print(f"mocked OpenStack: {args.regions} regions, {args.latency_ms:g} ms per request, pages of "
          f"{args.page_limit}, CloudKitty {'on' if backend['options'].get('cloudkitty') else 'off'}, "
          f"catalog concurrency {args.concurrency}, median of {args.runs} runs; load average "
          f"{os.getloadavg()[0]:.2f}")
    print(f"sequential openstacksdk script : {seq:7.2f} s  ({seq_count} objects listed, process)")
    print(f"cloudcat refresh (process)     : {cc:7.2f} s  ({len(paths)} requests, brand composed; "
          f"{statistics.median(cc_cpu):.2f} s of CPU)")
    print(f"ratio cloudcat / sequential    : {cc / seq:7.3f}   (target <= 0.200)")
    print(f"critical-path floor            : {floor:7.2f} s  ({chain} dependent requests)")
    print(f"ratio cloudcat / floor         : {cc / floor:7.2f}   (target <= 1.50)")
    print(f"interpreter + `import cloudcat.cli`: {startup:5.2f} s (in every process, on no chain)")
    latency = args.latency_ms / 1000
    times = [t - started for t, _, _ in answered]
    print(f"last run: {took:.2f} s; first request asked at {min(times) - latency:.2f} s, last answer at "
          f"{max(times):.2f} s, then {took - max(times):.2f} s to compose, store and exit")
    chain = longest_chain(answered, latency)
    print(f"longest chain of requests one after another in the last run: {len(chain)}")
    for done, method, path in chain:
        print(f"  {done - started:6.2f} s  {method} {path[:110]}")


if __name__ == "__main__":
    main()
