"""History as changes: a year of daily refreshes, diff and "as of" reads, concurrent refreshes.

Each figure is printed with a floor measured in the same run, and their ratio:

* **bytes**: a store after ``--days`` daily snapshots (default 365) of ``--offers`` offers and
  as many items (default 10,000), ``--change`` of them (default 1%) repriced each day, every
  backend read again each day (new ``read_at``). Floor: the same store after its first
  snapshot. Target: at most 3x (a full copy per snapshot, as before, is ``days`` x).
* **diff** of two consecutive days in the year-long store. Floor: the same diff in a store
  holding only those two snapshots. Target: at most 2x.
* **as-of read**: the selective query (compute in one region, >= 4 vCPU, >= 16 GiB, cheapest
  first, 50) on a snapshot from mid-year, and ``get`` of one offer then. Floor: the same on a
  store holding that one snapshot. Target: at most 2x. The current view is shown the same way.
* **whole refreshes**: the bytes above, as users store them: ``--refresh-days`` (default: ``--days``)
  ``cloudcat refresh`` processes on a JSON Lines backend holding ``--offers`` items in 6 regions
  and 2 kinds (read as tasks side by side, each handing its items over in batches), ``--change``
  of them repriced in the file each day. Floor: the store after the first refresh. Target: at
  most 3x after a year (fewer days print an estimate of the year at the later days' rate).
* **concurrency**: a second refresh while one runs fails at once with ``wait=False`` and waits
  (then stores its snapshot) with ``wait=True``; 8 reader processes run the selective query while
  snapshots are written. Floor: the same readers while a process burns as much CPU as the writer,
  so the ratio shows what the store adds, not the CPU the writer takes on a small machine.
  Target: no failure, at most 1.5x.

Sizes: bytes and times per offer do not depend on the number of offers (versions and patches
grow with the changes, not with the catalog), so 10,000 offers give the ratios of 100,000 in
minutes on 2 cores; ``--offers 100000`` runs the full size (about ten times longer).

    uv run python bench/bench_history.py [--offers N] [--days D] [--change F] [--postgres URL]
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import multiprocessing
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_query import SELECTIVE, _rows

from cloudcat.models import Item, Offer, Price
from cloudcat.store import RefreshLockedError, Store, StoredItem

START = dt.datetime(2026, 1, 1, 6, tzinfo=dt.UTC)
ITEM_FIELDS = set(Item.model_fields)


def catalog(count: int) -> tuple[list[Offer], list[Item]]:
    offers = [Offer.model_validate_json(full) for _, full in _rows(count, 1, 1, seed=3)]
    items = [Item.model_validate({k: v for k, v in o.model_dump().items() if k in ITEM_FIELDS}) for o in offers]
    return offers, items


class Year:
    """Daily snapshots: every offer and item read again, ``change`` of them repriced."""

    def __init__(self, count: int, change: float) -> None:
        self.offers, self.items = catalog(count)
        self.change = change
        self.rng = random.Random(5)

    def day(self, n: int) -> tuple[list[StoredItem], list[Offer]]:
        at = START + dt.timedelta(days=n)
        if n:
            for i in self.rng.sample(range(len(self.offers)), int(len(self.offers) * self.change)):
                o, item = self.offers[i], self.items[i]
                price = o.price or Price(amount=Decimal("0.05"), currency="EUR", unit="hour")
                new = price.model_copy(update={"amount": (price.amount * Decimal("1.01")).quantize(Decimal("0.0001"))})
                self.offers[i] = o.model_copy(update={"price": new})
                self.items[i] = item.model_copy(update={"price": new})
        offers = [o.model_copy(update={"read_at": at}) for o in self.offers]
        items = [StoredItem(backend=o.backend, driver=o.driver, read_at=at, item=i)
                 for o, i in zip(self.offers, self.items, strict=True)]
        return items, offers


def median_ms(fn: Callable[[], object], runs: int = 15) -> float:
    fn()
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        fn()
        times.append((time.perf_counter() - start) * 1000)
    return statistics.median(times)


def line(name: str, value: float, floor: float, unit: str, target: float | None) -> None:
    ratio = value / floor if floor else float("inf")
    verdict = "" if target is None else ("  ok" if ratio <= target else f"  ABOVE the {target:g}x target")
    print(f"  {name:<46} {value:12,.2f} {unit:<3} floor {floor:12,.2f} {unit:<3} ratio {ratio:6.2f}x{verdict}")


def fresh(location: Callable[[str], str], name: str) -> Store:
    return Store(location(name))


def history(args: argparse.Namespace, location: Callable[[str], str]) -> None:
    year = Year(args.offers, args.change)
    mid = args.days // 2
    kept: dict[int, tuple[list[StoredItem], list[Offer]]] = {}
    started = time.perf_counter()
    with fresh(location, "year") as store:
        write_s = []
        for n in range(args.days):
            snapshot = year.day(n)
            if n in (mid, mid + 1):
                kept[n] = snapshot
            t = time.perf_counter()
            store.write_snapshot(items=snapshot[0], offers=snapshot[1], statuses=[], config_hash=None)
            write_s.append(time.perf_counter() - t)
            if n == 0:
                one = store.size_bytes()
            elif args.progress and (n + 1) % args.progress == 0:
                print(f"  day {n + 1}: {store.size_bytes() / one:.2f}x the first snapshot's bytes, median write "
                      f"{statistics.median(write_s) * 1000:.0f} ms, load average {os.getloadavg()[0]:.2f}",
                      flush=True)
        size = store.size_bytes()
        ids = [s.id for s in store.snapshots()]
        a, b = ids[mid], ids[mid + 1]
        probe = kept[mid][1][len(kept[mid][1]) // 3].id
        year_diff = median_ms(lambda: store.diff(a, b), 7)
        changes = store.diff(a, b)
        year_asof = median_ms(lambda: list(store.query(SELECTIVE, snapshot=a)))
        year_get = median_ms(lambda: store.get(probe, snapshot=a))
        year_now = median_ms(lambda: list(store.query(SELECTIVE)))
        asof_rows = list(store.query(SELECTIVE, snapshot=a))
    print(f"{args.days} daily snapshots of {args.offers:,} offers and items, {args.change:.0%} repriced a day: "
          f"written in {time.perf_counter() - started:.0f} s (median {statistics.median(write_s) * 1000:.0f} ms "
          "a snapshot)")
    line("bytes of the year (floor: one snapshot)", size / 1e6, one / 1e6, "MB", 3)
    print(f"  {'(a full copy per snapshot would be)':<46} {one * args.days / 1e6:12,.2f} MB  "
          f"ratio {args.days:6.2f}x")

    with fresh(location, "two") as two:
        for n in (mid, mid + 1):
            two.write_snapshot(items=kept[n][0], offers=kept[n][1], statuses=[], config_hash=None)
        ta, tb = (s.id for s in two.snapshots())
        floor_diff = median_ms(lambda: two.diff(ta, tb), 7)
        assert two.diff(ta, tb).model_dump(exclude={"a", "b"}) == changes.model_dump(exclude={"a", "b"})
    print(f"  diff of two consecutive days ({len(changes.price_changes):,} price changes):")
    line("diff in the year-long store", year_diff, floor_diff, "ms", 2)

    with fresh(location, "one") as single:
        single.write_snapshot(items=kept[mid][0], offers=kept[mid][1], statuses=[], config_hash=None)
        floor_asof = median_ms(lambda: list(single.query(SELECTIVE)))
        floor_get = median_ms(lambda: single.get(probe))
        assert list(single.query(SELECTIVE)) == asof_rows
    print(f"  reads of day {mid} (selective query, 50 offers; get of one offer):")
    line("as-of query in the year-long store", year_asof, floor_asof, "ms", 2)
    line("as-of get in the year-long store", year_get, floor_get, "ms", 2)
    line("current view query in the year-long store", year_now, floor_asof, "ms", 2)
    print(f"  load average {os.getloadavg()[0]:.2f}")


# -- concurrency -------------------------------------------------------------------------------------
def _reader(location: str, seconds: float, ready: Any, go: Any, out: Any) -> None:
    done = failed = 0
    times: list[float] = []
    with Store(location) as store:
        expected = len(list(store.query(SELECTIVE)))
        ready.put(1)
        go.wait(600)
        stop_at = time.time() + seconds
        while time.time() < stop_at:
            t = time.perf_counter()
            try:
                assert len(list(store.query(SELECTIVE))) == expected
                done += 1
            except Exception:
                failed += 1
            times.append(time.perf_counter() - t)
    out.put((done, failed, statistics.median(times) if times else 0.0))


def _writer(location: str, stop_at: float, count: int, ready: Any) -> None:
    year = Year(count, 0.01)
    days = [year.day(n) for n in range(1, 4)]
    ready.set()
    n = 0
    with Store(location) as store:
        while time.time() < stop_at:
            with store.lock_refresh():
                store.write_snapshot(items=days[n % 3][0], offers=days[n % 3][1], statuses=[], config_hash=None)
            n += 1


def _burner(stop_at: float, ready: Any) -> None:
    ready.set()
    x = 0
    while time.time() < stop_at:
        x += 1


def _readers(ctx: Any, location: str, seconds: float, other: Callable[[float, Any], Any] | None
             ) -> tuple[int, int, float]:
    out, ready = ctx.Queue(), ctx.Event()
    side = None
    if other is not None:
        side = ctx.Process(target=other, args=(time.time() + seconds + 600, ready))
        side.start()
        ready.wait(120)
    ready, go = ctx.Queue(), ctx.Event()
    procs = [ctx.Process(target=_reader, args=(location, seconds, ready, go, out)) for _ in range(8)]
    for p in procs:
        p.start()
    for _ in procs:
        ready.get(timeout=600)
    go.set()
    results = [out.get(timeout=seconds + 120) for _ in procs]
    for p in procs:
        p.join()
    if side is not None:
        side.terminate()
        side.join()
    return sum(r[0] for r in results), sum(r[1] for r in results), statistics.median(r[2] for r in results)


class _Write:
    def __init__(self, location: str, count: int) -> None:
        self.location, self.count = location, count

    def __call__(self, stop_at: float, ready: Any) -> None:
        _writer(self.location, stop_at, self.count, ready)


def _hold_and_write(location: str, count: int, holding: Any) -> None:
    year = Year(count, 0.01)
    items, offers = year.day(1)
    with Store(location) as store, store.lock_refresh():
        holding.set()
        time.sleep(1.0)
        store.write_snapshot(items=items, offers=offers, statuses=[], config_hash=None)


def concurrency(args: argparse.Namespace, location: Callable[[str], str]) -> None:
    ctx = multiprocessing.get_context("spawn")
    where = location("shared")
    year = Year(args.offers, 0.01)
    with Store(where) as store:
        items, offers = year.day(0)
        store.write_snapshot(items=items, offers=offers, statuses=[], config_hash=None)
    print("concurrent refreshes:")
    holding = ctx.Event()
    first = ctx.Process(target=_hold_and_write, args=(where, args.offers, holding))
    first.start()
    holding.wait(120)
    with Store(where) as second:
        t = time.perf_counter()
        try:
            with second.lock_refresh(wait=False):
                raise SystemExit("the second refresh was not refused")
        except RefreshLockedError as exc:
            print(f"  wait=False: refused in {(time.perf_counter() - t) * 1000:.1f} ms: {exc}")
        t = time.perf_counter()
        with second.lock_refresh():
            waited = time.perf_counter() - t
            items, offers = year.day(2)
            info = second.write_snapshot(items=items, offers=offers, statuses=[], config_hash=None)
        print(f"  wait=True: waited {waited:.2f} s for the first to finish, then stored snapshot {info.id}")
    first.join()
    seconds = args.seconds
    done0, failed0, median0 = _readers(ctx, where, seconds, _burner)
    done1, failed1, median1 = _readers(ctx, where, seconds, _Write(where, args.offers))
    print(f"8 readers for {seconds:g} s each (selective query), floor: while a process burns a CPU:")
    print(f"  queries done {done1:,} with snapshots being written, {done0:,} on the floor; failures "
          f"{failed1} and {failed0}")
    line("median query while snapshots are written", median1 * 1000, median0 * 1000, "ms", 1.5)
    if failed1 or failed0:
        print("  FAILURES among readers")


def write_backend(path: Path, count: int, prices: list[str]) -> None:
    """``count`` items in 6 regions, compute and storage, one price each."""
    with path.open("w", encoding="utf-8") as out:
        for i in range(count):
            region = f"eu-west-{i % 6}"
            row: dict[str, Any] = {"kind": "compute", "name": f"s{i}.large", "region": region, "vcpus": 1 + i % 32,
                                   "memory_mib": 1024 * (1 + i % 64)} if i % 4 else \
                {"kind": "storage", "name": f"vol-{i}", "region": region, "storage_class": "ssd", "iops": i}
            row["price"] = {"amount": prices[i], "currency": "EUR", "unit": "hour"}
            out.write(json.dumps(row) + "\n")


def refreshes(args: argparse.Namespace, directory: Path) -> None:
    import yaml

    days = max(2, args.refresh_days)
    data, store = directory / "backend.jsonl", directory / "refreshed.db"
    config = directory / "cloudcat.yaml"
    config.write_text(yaml.safe_dump({"backends": {"files": {"driver": "static", "options": {"paths": [str(data)]}}},
                                      "brands": {"b": {"backend": "files"}}, "store": str(store)}))
    rng = random.Random(11)
    prices = [f"{0.01 + (i % 97) / 100:.4f}" for i in range(args.offers)]
    sizes = []
    started = time.perf_counter()
    for n in range(days):
        if n:
            for i in rng.sample(range(args.offers), int(args.offers * args.change)):
                prices[i] = f"{Decimal(prices[i]) * Decimal('1.01'):.4f}"
        write_backend(data, args.offers, prices)
        run = subprocess.run([sys.executable, "-m", "cloudcat.cli", "refresh", "--config", str(config)],
                             capture_output=True, text=True)
        if run.returncode:
            raise SystemExit(f"refresh failed: {run.stderr[-2000:]}")
        with Store(str(store)) as opened:
            sizes.append(opened.size_bytes())
        if args.progress and (n + 1) % args.progress == 0:
            print(f"  refresh {n + 1}: {sizes[-1] / sizes[0]:.2f}x the first refresh's bytes", flush=True)
    print(f"{days} whole refreshes (`cloudcat refresh` processes) of {args.offers:,} items in 6 regions and 2 kinds, "
          f"{args.change:.0%} repriced a day: {time.perf_counter() - started:.0f} s")
    line(f"bytes after {days} refreshes (floor: the first)", sizes[-1] / 1e6, sizes[0] / 1e6, "MB",
         3 if days >= args.days else None)
    if days < args.days:  # the rate of the later half: the indexes' pages fill up early on
        half = days // 2
        a_day = (sizes[-1] - sizes[half]) / (days - 1 - half)
        estimate = sizes[-1] + a_day * (args.days - days)
        line(f"bytes of {args.days} at the later half's rate (estimate)", estimate / 1e6, sizes[0] / 1e6, "MB", None)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--offers", type=int, default=10_000)
    parser.add_argument("--days", type=int, default=365)
    parser.add_argument("--change", type=float, default=0.01)
    parser.add_argument("--seconds", type=float, default=10.0, help="Length of each readers' run.")
    parser.add_argument("--postgres", default=None, help="Run on this PostgreSQL server (URL) instead of SQLite.")
    parser.add_argument("--progress", type=int, default=0, metavar="DAYS",
                        help="Print the bytes ratio so far every DAYS days.")
    parser.add_argument("--refresh-days", type=int, default=None,
                        help="Whole refreshes run for the bytes as users store them (default: --days).")
    parser.add_argument("--skip-history", action="store_true")
    parser.add_argument("--skip-refreshes", action="store_true")
    parser.add_argument("--skip-concurrency", action="store_true")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="cloudcat-bench-") as tmp:
        location = _locations(args.postgres, Path(tmp))
        print(f"store: {'PostgreSQL' if args.postgres else 'SQLite'}; {os.cpu_count()} CPUs; "
          f"load average {os.getloadavg()[0]:.2f}")
        if not args.skip_history:
            history(args, location)
        if not args.skip_refreshes and not args.postgres:
            args.refresh_days = args.refresh_days or args.days
            refreshes(args, Path(tmp))
        if not args.skip_concurrency:
            concurrency(args, location)


def _locations(postgres: str | None, directory: Path) -> Callable[[str], str]:
    if postgres is None:
        return lambda name: str(directory / f"{name}.db")

    def schema(name: str) -> str:
        import psycopg

        with psycopg.connect(postgres, autocommit=True) as conn:
            conn.execute(f"DROP SCHEMA IF EXISTS bench_{name} CASCADE")
            conn.execute(f"CREATE SCHEMA bench_{name}")
        return f"{postgres}{'&' if '?' in postgres else '?'}options=-csearch_path%3Dbench_{name}"

    return schema




if __name__ == "__main__":
    main()
