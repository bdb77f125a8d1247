"""Refreshes under load: readers during two concurrent refreshes, and 100 backends in one refresh.

Part 1, a store of ``--items`` offers (30,000 by default; a static JSON Lines backend, one brand,
in a temporary folder). After one ``cloudcat refresh`` gives readers a snapshot:

* an idle baseline: ``--readers`` threads (8) each run ``cloudcat offers --offline --format json
  --limit 50`` processes in a loop, no refresh running;
* then two ``cloudcat refresh`` processes start at once, the same readers loop while they run
  (25 runs each at most, so the refreshes also get time alone), and one ``cloudcat refresh
  --no-wait`` is tried once a refresh holds the store's lock, to show the documented "another
  refresh is running since" message.

It reports the reader runs and failures (target: 0 failures), the readers' median and max latency
during the refreshes as ratios to the idle baseline, both refreshes' durations, and whether the
second one waited for the first (it ends last and takes at least as long as the first).

Part 2, ``--backends`` (100) backends pointing at one mocked OpenStack, or Cloud Director with
``--platform vcd`` (``cloudcat mock serve``,
its own process, so its threads and sockets are not counted) read by one ``Catalog.refresh()``
in this process, while a sampler records every 10 ms the live threads and the open sockets
(``socket:`` entries under ``/proc/self/fd``). Peaks are printed against the configured
``concurrency`` (``--concurrency``, 16): both must stay bounded by it, not by the backends' number
(target: at most concurrency + 8 threads). The threads alive at the peak are listed by name, so
whoever starts extra ones shows (``cloudcat-task``: the refresh's workers, ``cloudcat-side``:
:func:`cloudcat.driver.concurrently`).

    uv run python bench/bench_concurrency.py [--items 30000] [--readers 8] [--backends 100] [--quick]
        [--concurrency 16] [--part readers|backends] [--platform openstack|vcd]

``--quick`` uses 5,000 offers, 4 readers and 30 backends.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from pathlib import Path

import yaml

CLI = [sys.executable, "-m", "cloudcat.cli"]
#: Processes write their bytecode caches (an environment that forbids it would time the compiler).
ENV = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
LOCKED = "another refresh is running since"


def write_catalog(root: Path, items: int) -> None:
    """A static JSON Lines catalog of ``items`` offers and a configuration with one brand."""
    with (root / "items.jsonl").open("w", encoding="utf-8") as out:
        for i in range(items):
            out.write(json.dumps({
                "kind": "compute", "name": f"f{i}.large", "region": f"r{i % 10}", "vcpus": 1 + i % 64,
                "memory_mib": 1024 * (1 + i % 32), "zones": [f"r{i % 10}a"],
                "price": {"amount": f"0.{i % 9973:04}", "currency": "EUR", "unit": "hour"},
            }) + "\n")
    (root / "cloudcat.yaml").write_text(yaml.safe_dump({
        "backends": {"big": {"driver": "static", "options": {"paths": ["items.jsonl"]}}},
        "brands": {"big": {"backend": "big", "operator": "Big Operator"}},
        "store": "catalog.db", "max_age": 10**9}), encoding="utf-8")


def run(command: list[str], cwd: Path) -> tuple[float, subprocess.CompletedProcess[str]]:
    started = time.monotonic()
    done = subprocess.run(command, cwd=cwd, capture_output=True, text=True, env=ENV)
    return time.monotonic() - started, done


def read_offers(cwd: Path) -> tuple[float, bool]:
    """One reader run: its latency and whether it succeeded (exit 0, 50 offers of JSON)."""
    took, done = run([*CLI, "offers", "--offline", "--format", "json", "--limit", "50"], cwd)
    try:
        ok = done.returncode == 0 and len(json.loads(done.stdout)) == 50
    except ValueError:
        ok = False
    return took, ok


def readers(cwd: Path, threads: int, *, runs: int, until: threading.Event | None = None,
            seconds: float = 240.0) -> list[tuple[float, bool]]:
    """``threads`` threads reading in a loop: ``runs`` each, stopping early once ``until`` is set."""
    results: list[tuple[float, bool]] = []
    lock = threading.Lock()
    deadline = time.monotonic() + seconds

    def loop() -> None:
        for _ in range(runs):
            if (until is not None and until.is_set()) or time.monotonic() > deadline:
                return
            result = read_offers(cwd)
            with lock:
                results.append(result)

    pool = [threading.Thread(target=loop) for _ in range(threads)]
    for t in pool:
        t.start()
    for t in pool:
        t.join()
    return results


def refresh_process(cwd: Path, out: dict[str, tuple[float, float, str]], key: str) -> None:
    """A ``cloudcat refresh`` process: its start, end (monotonic) and output."""
    started = time.monotonic()
    took, done = run([*CLI, "refresh"], cwd)
    out[key] = (started, started + took, f"exit {done.returncode}: {done.stdout.strip()}")


def no_wait_attempt(cwd: Path, busy: threading.Event, stop: threading.Event) -> str:
    """``refresh --no-wait`` while a refresh runs: its message (tried again until one is refused)."""
    busy.wait()
    message = "no attempt overlapped a refresh"
    while not stop.is_set():
        _, done = run([*CLI, "refresh", "--no-wait"], cwd)
        text = (done.stderr + done.stdout).strip()
        if LOCKED in text:
            return f"exit {done.returncode}: " + next(line for line in text.splitlines() if LOCKED in line)
        message = f"exit {done.returncode} (ran while no refresh held the store)"
    return message


def held(lock: Path) -> bool:
    """Whether a refresh holds the store's lock (a shared ``flock`` probe, released at once)."""
    import fcntl

    with lock.open("rb") as f:
        try:
            fcntl.flock(f, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            return True
        fcntl.flock(f, fcntl.LOCK_UN)
        return False


def stats(results: list[tuple[float, bool]]) -> tuple[int, int, float, float]:
    times = [t for t, _ in results] or [float("nan")]
    return len(results), sum(not ok for _, ok in results), statistics.median(times), max(times)


def part_readers(items: int, threads: int) -> None:
    with tempfile.TemporaryDirectory(prefix="bench-concurrency-") as tmp:
        root = Path(tmp)
        write_catalog(root, items)
        alone, done = run([*CLI, "refresh"], root)
        assert done.returncode == 0, done.stderr
        print(f"{items:,} offers (static JSON Lines, one brand); first refresh, alone, {alone:.1f} s; "
              f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
        read_offers(root)  # bytecode caches
        idle = stats(readers(root, threads, runs=3))

        out: dict[str, tuple[float, float, str]] = {}
        stop, busy = threading.Event(), threading.Event()
        refreshes = [threading.Thread(target=refresh_process, args=(root, out, key)) for key in ("a", "b")]
        attempt: list[str] = []
        tryer = threading.Thread(target=lambda: attempt.append(no_wait_attempt(root, busy, stop)))
        started = time.monotonic()
        for t in refreshes:
            t.start()
        tryer.start()

        def watch() -> None:
            while not held(root / "catalog.db.refresh-lock") and any(t.is_alive() for t in refreshes):
                time.sleep(0.05)
            busy.set()
            for t in refreshes:
                t.join()
            stop.set()

        watcher = threading.Thread(target=watch)
        watcher.start()
        loaded = stats(readers(root, threads, runs=25, until=stop))
        watcher.join()
        tryer.join()
        total = time.monotonic() - started

    first, second = sorted(out.values(), key=lambda r: r[1])
    d1, d2 = first[1] - first[0], second[1] - second[0]
    print(f"\nreaders: {threads} threads of `cloudcat offers --offline --format json --limit 50` processes")
    print(f"  idle baseline     : {idle[0]:4d} runs, {idle[1]} failures, median {idle[2]:.2f} s, max {idle[3]:.2f} s")
    print(f"  during refreshes  : {loaded[0]:4d} runs, {loaded[1]} failures (target 0), "
          f"median {loaded[2]:.2f} s, max {loaded[3]:.2f} s")
    print(f"  ratio to baseline : median {loaded[2] / idle[2]:.2f}x, max {loaded[3] / idle[3]:.2f}x")
    print(f"two `cloudcat refresh` started at once ({total:.1f} s in all):")
    print(f"  ended first : {d1:6.1f} s = {d1 / alone:4.1f}x the refresh alone  ({first[2]})")
    print(f"  ended second: {d2:6.1f} s = {d2 / alone:4.1f}x the refresh alone  ({second[2]})")
    print(f"  second waited: {'yes' if d2 >= d1 else 'NO'} (ratio {d2 / d1:.2f}x the first's duration, "
          f"one refresh's work is ~{d2 - d1:.1f} s of it past the first's end)")
    print(f"  `refresh --no-wait` meanwhile: {attempt[0] if attempt else 'not run'}")


def open_sockets() -> int:
    count = 0
    for fd in os.listdir("/proc/self/fd"):
        with contextlib.suppress(OSError):  # closed between the listing and the read
            count += os.readlink(f"/proc/self/fd/{fd}").startswith("socket:")
    return count


def thread_groups(names: list[str]) -> str:
    """Thread names grouped by what started them (the name less its trailing number), counted."""
    groups = Counter(re.sub(r"[-_]?\d+(?:_\d+)?$", "", name) for name in names)
    return ", ".join(f"{name or '?'} {count}" for name, count in groups.most_common())


#: The mocked platform each backend of part 2 reads, and its fixture.
PLATFORMS = {"openstack": "flexible-engine", "vcd": "cloud-avenue"}


def part_backends(backends: int, concurrency: int, platform: str = "openstack") -> None:
    import cloudcat

    server = subprocess.Popen([*CLI, "mock", "serve", platform, "--fixture", PLATFORMS[platform]],
                              stdout=subprocess.PIPE, text=True, env=ENV)
    try:
        assert server.stdout is not None
        backend = json.loads(server.stdout.readline())["backend"]
        with tempfile.TemporaryDirectory(prefix="bench-concurrency-") as tmp:
            catalog = cloudcat.open_catalog({
                "backends": {f"b{i:03}": backend for i in range(backends)},
                "brands": {f"b{i:03}": {"backend": f"b{i:03}", "operator": "Mock"} for i in range(backends)},
                "store": str(Path(tmp) / "catalog.db"), "concurrency": concurrency})
            threads0, sockets0 = threading.active_count(), open_sockets()
            peaks = [threads0, sockets0]
            at_peak: list[str] = []  # the threads alive at the peak, by name
            done = threading.Event()

            def sample() -> None:
                while not done.wait(0.01):
                    alive = [t.name for t in threading.enumerate() if t is not threading.current_thread()]
                    if len(alive) > peaks[0]:
                        peaks[0] = len(alive)
                        at_peak[:] = alive
                    peaks[1] = max(peaks[1], open_sockets())

            sampler = threading.Thread(target=sample)
            sampler.start()
            started = time.monotonic()
            result = catalog.refresh()
            took = time.monotonic() - started
            done.set()
            sampler.join()
            threads1, sockets1 = threading.active_count(), open_sockets()
            catalog.close()
            threads2, sockets2 = threading.active_count(), open_sockets()
    finally:
        server.terminate()
        server.wait()
    failed = len(result.failed)
    offers = result.snapshot.offers if result.snapshot else 0
    print(f"\n{backends} backends on one mocked {platform} (mock in its own process), concurrency {concurrency}:")
    print(f"  refresh {took:.1f} s, {offers:,} offers, {failed} backend(s) failed")
    print(f"  peak threads {peaks[0]} (concurrency + {peaks[0] - concurrency}; {threads0} before, "
          f"{threads1} after, {threads2} once the catalog is closed)")
    print(f"  threads at the peak: {thread_groups(at_peak)}")
    print(f"  peak sockets {peaks[1]} (concurrency + {peaks[1] - concurrency}; {sockets0} before, "
          f"{sockets1} after, {sockets2} once the catalog is closed)")
    print(f"  ratio to concurrency: threads {peaks[0] / concurrency:.2f}x, sockets {peaks[1] / concurrency:.2f}x; "
          f"to backends: threads {peaks[0] / backends:.2f}x, sockets {peaks[1] / backends:.2f}x")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--items", type=int, default=30_000)
    parser.add_argument("--readers", type=int, default=8)
    parser.add_argument("--backends", type=int, default=100)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--quick", action="store_true", help="5,000 offers, 4 readers, 30 backends")
    parser.add_argument("--part", choices=["readers", "backends"], help="run this part only (default: both)")
    parser.add_argument("--platform", choices=sorted(PLATFORMS), default="openstack",
                        help="what the backends of part 2 are (default: openstack)")
    args = parser.parse_args()
    if args.quick:
        args.items, args.readers, args.backends = 5_000, 4, 30
    if args.part in (None, "readers"):
        part_readers(args.items, args.readers)
    if args.part in (None, "backends"):
        part_backends(args.backends, args.concurrency, args.platform)


if __name__ == "__main__":
    main()
