"""Query speed of the snapshot store on one million offers.

Builds (once, cached under ``bench/.cache/``) a store holding a snapshot of 1,000,000 offers
(a mix of compute, images, storage, networks and locations over brands and regions, a few
flexible pools among them), then times, as the median of several runs:

* the selective query through ``Store.query`` (compute in one region, ≥ 4 vCPU, ≥ 16 GiB,
  cheapest first, 50 offers) — the target is ≤ 50 ms;
* the same query written by hand in SQL on the same indexed rows (rows only, no models);
* the same query forced to scan the whole table;

and prints the three figures, the ratio store / hand-written, and the time ``import cloudcat``
adds to a bare interpreter start.

With ``--postgres URL`` the same offers are loaded (once, with COPY) into a schema of that
PostgreSQL server and the selective query is timed there through ``Store.query`` and by hand,
with the server's plan (the same index as SQLite's: ``offers_by_region_price``).

    uv run python bench/bench_query.py [--offers N] [--runs N] [--rebuild] [--postgres URL]
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import random
import sqlite3
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from cloudcat.filters import list_text
from cloudcat.models import Kind
from cloudcat.query import OfferQuery
from cloudcat.store import FILTER_COLUMNS, OFFER_COLUMNS, SEARCH_SEPARATOR, Store
from cloudcat.store.history import OPEN
from cloudcat.store.schema import digest

#: Bump when the generated data changes, so cached databases are rebuilt.
DATA_VERSION = 5
CACHE = Path(__file__).resolve().parent / ".cache"

BRANDS = {  # brand: (operator, backend, currency)
    "cloudwatt": ("Orange Cloud for Business", "ocb-openstack", "EUR"),
    "flexible-engine": ("Orange Business", "fe-openstack", "EUR"),
    "cloud-avenue": ("Orange Business", "cav-vcd", "EUR"),
    "bleu": ("Bleu", "bleu-azure", "EUR"),
    "t-cloud-public": ("T-Systems", "otc-openstack", "EUR"),
    "horizoniq": ("HorizonIQ", "hiq-vcd", "USD"),
    "ovh-public": ("OVHcloud", "ovh-openstack", "EUR"),
    "sovereign-lab": ("Lab", "lab-static", "CHF"),
}
FLEXIBLE_BRANDS = {"cloud-avenue", "horizoniq"}
REGIONS = [f"eu-west-{i}" for i in range(8)] + [f"eu-central-{i}" for i in range(6)] + [
    "fr-paris-1", "fr-paris-2", "ch-geneva-1", "de-frankfurt-1", "us-east-1", "us-west-1"]
FAMILIES = ["s3", "s6", "c6", "m6", "x1", "e3", "d2", "h3", "t6", "kc1"]
SIZES = [("medium", 1), ("large", 2), ("xlarge", 4), ("2xlarge", 8), ("4xlarge", 16), ("8xlarge", 32),
         ("16xlarge", 64)]
RATIOS = [1, 2, 4, 8]
LABELS = ["secnumcloud", "hds", "iso27001", "gdpr-eu", "c5"]
KIND_WEIGHTS = [(Kind.COMPUTE, 62), (Kind.IMAGE, 20), (Kind.STORAGE, 12), (Kind.NETWORK, 5), (Kind.LOCATION, 1)]
READ_AT = dt.datetime(2025, 3, 1, 6, 0, tzinfo=dt.UTC).isoformat()

SELECTIVE = OfferQuery(kind=[Kind.COMPUTE], region=["eu-west-0"], min_vcpus=4, min_memory_mib=16384,
                       sort="price", limit=50)
#: The same on a brand selling flexible pools, where a sized pool is among the cheapest.
POOLS = SELECTIVE.replace(brand=["cloud-avenue"], min_vcpus=2, min_memory_mib=65536)


def _rows(count: int, snapshot_id: int, first_pk: int, seed: int = 7) -> Iterator[tuple[tuple[Any, ...], str]]:
    """Offer rows (in ``OFFER_COLUMNS`` order: versions holding from ``snapshot_id`` on) and the
    offer's JSON, built without pydantic."""
    rng = random.Random(seed)
    kinds = [k for k, w in KIND_WEIGHTS for _ in range(w)]
    brands = list(BRANDS)
    flexible_done: set[tuple[str, str]] = set()
    for n in range(count):
        pk = first_pk + n
        brand = brands[n % len(brands)]
        operator, backend, currency = BRANDS[brand]
        region = REGIONS[(n // len(brands)) % len(REGIONS)]
        kind = rng.choice(kinds)
        doc: dict[str, Any] = {"kind": kind.value, "region": region, "brand": brand, "operator": operator,
                               "backend": backend, "driver": backend.rsplit("-", 1)[1], "read_at": READ_AT}
        vcpus = memory = gpu = None
        flexible = None
        unit = "hour"
        if kind == Kind.COMPUTE:
            if brand in FLEXIBLE_BRANDS and (brand, region) not in flexible_done:
                flexible_done.add((brand, region))
                name = f"pool-{rng.choice(['silver', 'gold', 'platinum'])}"
                flexible = {"vcpus_min": 1, "vcpus_max": 64, "memory_mib_min": 1024, "memory_mib_max": 262144,
                            "memory_step_mib": 1024,
                            "price_per_vcpu": {"amount": "0.0105", "currency": currency, "unit": "vcpu-hour"},
                            "price_per_gib_memory": {"amount": "0.0049", "currency": currency,
                                                     "unit": "GiB-hour"}}
                vcpus, memory = 64, 262144
                doc["flexible"] = flexible
            else:
                family = rng.choice(FAMILIES)
                size, vcpus = rng.choice(SIZES)
                ratio = rng.choice(RATIOS)
                memory = vcpus * ratio * 1024
                name = f"{family}.{size}.{ratio}-{n:07d}"
                if family == "x1" and rng.random() < 0.5:
                    gpu = 1.0
                    doc["gpu"] = {"model": "A100", "count": 1}
            doc["vcpus"], doc["memory_mib"] = vcpus, memory
            doc["disk_gib"] = 40
        elif kind == Kind.IMAGE:
            name = f"{rng.choice(['debian', 'ubuntu', 'rhel', 'windows'])}-{rng.randint(8, 24)}-{n:07d}"
            doc["os_family"] = name.split("-", 1)[0]
        elif kind == Kind.STORAGE:
            name = f"{rng.choice(['silver', 'gold', 'platinum7k', 'ssd', 'hdd'])}-{n:07d}"
            doc["storage_class"] = name.split("-", 1)[0]
            doc["iops"] = rng.choice([500, 1000, 3000, 10000])
            unit = "GiB-month"
        elif kind == Kind.NETWORK:
            name = f"net-{rng.choice([100, 1000, 10000])}m-{n:07d}"
            unit = "month"
        else:
            name = f"{region}-site-{n:07d}"
            unit = "month"
        amount: str | None = None
        if flexible is None and rng.random() < 0.85:  # some prices are unknown
            scale = (vcpus or 1) * 0.0121 + (memory or 0) / 1024 * 0.0047 if kind == Kind.COMPUTE else 0.05
            amount = f"{scale * rng.uniform(0.8, 1.3):.4f}"
            doc["price"] = {"amount": amount, "currency": currency, "unit": unit, "source": "pricebook.csv"}
        offer_id = f"{brand}/{kind.value}/{region}/{name}"
        doc["id"], doc["name"] = offer_id, name
        labels = sorted(rng.sample(LABELS, rng.choice([0, 0, 1, 2])))
        zones = [f"{region}{z}" for z in "abc"] if kind == Kind.COMPUTE else []
        doc["labels"], doc["zones"] = labels, zones
        status = "available" if rng.random() < 0.9 else rng.choice(["end-of-sale", "end-of-life"])
        doc["lifecycle"] = {"status": status}
        search = SEARCH_SEPARATOR.join((offer_id.lower(), name.lower(), ""))
        full = json.dumps(doc, separators=(",", ":"))
        data = json.dumps({k: v for k, v in doc.items() if k != "read_at"}, separators=(",", ":"))
        filters = {"os_family": doc.get("os_family"), "storage_class": doc.get("storage_class"),
                   "iops": doc.get("iops"), "zone_list": list_text(zones), "label_list": list_text(labels)}
        row = (pk, snapshot_id, OPEN, offer_id, digest(data, None), None, data, None,
               brand, kind.value, region, None, name, search, vcpus, memory, gpu,
               float(amount) if amount is not None else None, amount.rstrip("0").rstrip(".") if amount else None,
               currency if amount else None, unit if amount else None, status, backend,
               1 if flexible else 0, 64 if flexible else None, 262144 if flexible else None,
               *(filters.get(c) for c in FILTER_COLUMNS))
        yield row, full


def build(path: Path, count: int) -> None:
    """A store holding one snapshot of ``count`` generated offers."""
    for stale in (path, Path(f"{path}-wal"), Path(f"{path}-shm")):  # a failed build's log would be replayed
        stale.unlink(missing_ok=True)
    with Store(path) as store, store.lock_refresh():  # the schema, as the store creates it for a write
        pass
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA journal_mode = WAL")
    conn.execute("PRAGMA synchronous = OFF")
    # Bulk load: drop the store's indexes, insert, then create them again from their own SQL.
    indexes = conn.execute("SELECT name, sql FROM sqlite_master WHERE type = 'index' AND sql IS NOT NULL "
                           "AND tbl_name = 'offers'").fetchall()
    for name, _ in indexes:
        conn.execute(f"DROP INDEX {name}")
    conn.execute("BEGIN")
    sid = conn.execute("INSERT INTO snapshots (created_at, offers, config_hash) VALUES (?, ?, 'bench')",
                       (READ_AT, count)).lastrowid
    assert sid is not None
    conn.executemany("INSERT INTO reads (snapshot_id, what, backend, read_at) VALUES (?, 'offer', ?, ?)",
                     [(sid, backend, READ_AT) for _, backend, _ in BRANDS.values()])
    insert = f"INSERT INTO offers ({', '.join(OFFER_COLUMNS)}) VALUES ({', '.join('?' * len(OFFER_COLUMNS))})"
    rows: list[tuple[Any, ...]] = []
    for row, _ in _rows(count, sid, 1):
        rows.append(row)
        if len(rows) == 20000:
            conn.executemany(insert, rows)
            rows = []
    conn.executemany(insert, rows)
    for _, sql in indexes:
        conn.execute(sql)
    conn.execute("COMMIT")
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    conn.close()


def build_postgres(url: str, count: int) -> str:
    """The same offers in a PostgreSQL schema (loaded with COPY once, kept between runs);
    returns the store URL."""
    import psycopg

    schema = f"bench_{count}_v{DATA_VERSION}"
    location = f"{url}{'&' if '?' in url else '?'}options=-csearch_path%3D{schema}"
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(f"CREATE SCHEMA IF NOT EXISTS {schema}")
    with Store(location) as store:
        if store.latest() is not None:
            return location
        with store.lock_refresh():  # the schema, as the store creates it for a write
            pass
    with psycopg.connect(location) as conn:
        indexes = conn.execute("SELECT indexname, indexdef FROM pg_indexes WHERE schemaname = current_schema() "
                               "AND tablename = 'offers' AND indexname NOT LIKE '%pkey'").fetchall()
        for name, _ in indexes:
            if not name.endswith("_key"):
                conn.execute(f"DROP INDEX {name}")
        sid = conn.execute("INSERT INTO snapshots (created_at, offers, config_hash) VALUES (%s, %s, 'bench') "
                           "RETURNING id", (READ_AT, count)).fetchone()[0]  # type: ignore[index]
        for _, backend, _ in BRANDS.values():
            conn.execute("INSERT INTO reads (snapshot_id, what, backend, read_at) VALUES (%s, 'offer', %s, %s)",
                         (sid, backend, READ_AT))
        with conn.cursor() as cur, cur.copy(f"COPY offers ({', '.join(OFFER_COLUMNS)}) FROM STDIN") as copy:
            for row, _ in _rows(count, sid, 1):
                copy.write_row(row)
        for name, sql in indexes:
            if not name.endswith("_key"):
                conn.execute(sql)
        conn.execute("ANALYZE")
    return location


def postgres(url: str, count: int, runs: int) -> None:
    import psycopg

    start = time.perf_counter()
    location = build_postgres(url, count)
    print(f"PostgreSQL: {count:,} offers ready in {time.perf_counter() - start:.1f} s")
    with Store(location) as store:
        store_ms, offers = median_ms(lambda: list(store.query(SELECTIVE)), runs)
    hand_sql = ("SELECT data FROM offers WHERE until = %s AND kind = 'compute' AND region = %s "
                "AND flexible = 0 AND vcpus >= 4 AND memory_mib >= 16384 "
                "ORDER BY price_amount IS NULL, price_amount, id LIMIT 50")
    with psycopg.connect(location) as conn:
        hand_ms, rows = median_ms(lambda: conn.execute(hand_sql, (OPEN, "eu-west-0")).fetchall(), runs)
        plan = conn.execute("EXPLAIN " + hand_sql, (OPEN, "eu-west-0")).fetchall()
    assert isinstance(offers, list) and len(offers) == 50 and isinstance(rows, list)
    print(f"  plan (hand-written): {' / '.join(p[0].strip() for p in plan[:3])}")
    print(f"  Store.query (50 Offer models):       {store_ms:8.2f} ms  (target <= 50 ms)")
    print(f"  hand-written indexed SQL (rows only): {hand_ms:8.2f} ms")
    print(f"  ratio Store.query / hand-written:     {store_ms / hand_ms:8.2f} x")


def median_ms(fn: Callable[[], object], runs: int) -> tuple[float, object]:
    result = fn()  # warm the page cache
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        result = fn()
        times.append((time.perf_counter() - start) * 1000)
    return statistics.median(times), result


def import_time_ms(module: str, runs: int = 7) -> float:
    """Median wall time ``import module`` adds to a bare interpreter start, in a fresh process."""
    def once(code: str) -> float:
        start = time.perf_counter()
        subprocess.run([sys.executable, "-c", code], check=True)
        return time.perf_counter() - start

    bare = statistics.median(once("pass") for _ in range(runs))
    loaded = statistics.median(once(f"import {module}") for _ in range(runs))
    return (loaded - bare) * 1000


def write_and_diff(count: int) -> tuple[float, float, int]:
    """Offers per second through ``Store.write_snapshot`` (pydantic models, the real path), then
    the time of ``Store.diff`` between that snapshot and a changed copy (10% repriced, 5%
    removed, 5% added, 2% at end of sale), and the number of changes it found."""
    import tempfile

    from cloudcat.models import LifecycleStatus, Offer, Price

    offers = [Offer.model_validate_json(full) for _, full in _rows(count, 1, 1, seed=11)]
    changed: list[Offer] = []
    for n, o in enumerate(offers):
        if n % 20 == 0:
            continue  # removed
        if n % 10 == 1 and o.price is not None:
            o = o.model_copy(update={"price": Price(amount=o.price.amount * 2, currency=o.price.currency,
                                                    unit=o.price.unit)})
        if n % 50 == 2:
            o = o.model_copy(update={"lifecycle": o.lifecycle.model_copy(
                update={"status": LifecycleStatus.END_OF_SALE})})
        changed.append(o)
    changed += [o.model_copy(update={"id": o.id + "-new", "name": o.name + "-new"}) for o in offers[::20]]
    with tempfile.TemporaryDirectory() as tmp, Store(Path(tmp) / "w.db") as store:
        start = time.perf_counter()
        a = store.write_snapshot(items=[], offers=offers, statuses=[], config_hash=None)
        rate = count / (time.perf_counter() - start)
        b = store.write_snapshot(items=[], offers=changed, statuses=[], config_hash=None)
        start = time.perf_counter()
        diff = store.diff(a.id, b.id)
        diff_ms = (time.perf_counter() - start) * 1000
        found = len(diff.added) + len(diff.removed) + len(diff.price_changes) + len(diff.lifecycle_changes)
        return rate, diff_ms, found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--offers", type=int, default=1_000_000)
    parser.add_argument("--runs", type=int, default=9)
    parser.add_argument("--rebuild", action="store_true")
    parser.add_argument("--postgres", default=None, metavar="URL",
                        help="Time the query on this PostgreSQL server instead (loaded once into a schema).")
    args = parser.parse_args()
    if args.postgres:
        postgres(args.postgres, args.offers, args.runs)
        return

    CACHE.mkdir(exist_ok=True)
    path = CACHE / f"bench-{args.offers}-v{DATA_VERSION}.db"
    if args.rebuild or not path.exists():
        start = time.perf_counter()
        building = path.with_suffix(".building")
        build(building, args.offers)
        building.replace(path)  # a build that failed half way is not taken for the cache
        print(f"built {args.offers:,} offers in {time.perf_counter() - start:.1f} s -> {path}")
    else:
        print(f"using cached {path} (--rebuild to regenerate)")

    with Store(path) as store:
        store_ms, offers = median_ms(lambda: list(store.query(SELECTIVE)), args.runs)
        pools_ms, pools = median_ms(lambda: list(store.query(POOLS)), args.runs)
        got = offers if isinstance(offers, list) else []
        conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
        hand_sql = ("SELECT data FROM offers {} WHERE until = ? AND kind = 'compute' AND region = ? "
                    "AND flexible = 0 AND vcpus >= 4 AND memory_mib >= 16384 "
                    "ORDER BY price_amount IS NULL, price_amount, id LIMIT 50")
        hand_ms, hand_rows = median_ms(
            lambda: conn.execute(hand_sql.format(""), (OPEN, "eu-west-0")).fetchall(), args.runs)
        scan_ms, scan_rows = median_ms(
            lambda: conn.execute(hand_sql.format("NOT INDEXED"), (OPEN, "eu-west-0")).fetchall(),
            max(3, args.runs // 3))
        plan = conn.execute("EXPLAIN QUERY PLAN " + hand_sql.format(""), (OPEN, "eu-west-0")).fetchall()
        conn.close()

    assert isinstance(hand_rows, list) and isinstance(scan_rows, list)
    assert len(got) == 50 and hand_rows == scan_rows
    flexible = sum(1 for o in got if o.flexible is not None)
    # the store returns the hand-written query's rows, with the flexible pools merged in
    hand_ids = [json.loads(r[0])["id"] for r in hand_rows]
    assert [o.id for o in got if o.flexible is None] == hand_ids[:50 - flexible]
    print(f"selective query: {SELECTIVE.model_dump(exclude_defaults=True)}")
    print(f"  plan (hand-written): {'; '.join(str(p[-1]) for p in plan)}")
    print(f"  Store.query (50 Offer models, {flexible} flexible merged): {store_ms:8.2f} ms  (target <= 50 ms)")
    pooled = [o for o in pools if o.flexible is not None] if isinstance(pools, list) else []
    assert pooled and pooled[0].extras["sized_for"] == {"vcpus": 2, "memory_mib": 65536}
    print(f"  same, brand cloud-avenue, 2 vCPU / 64 GiB ({len(pooled)} pool sized and merged):"
          f" {pools_ms:6.2f} ms")
    print(f"  hand-written indexed SQL (rows only):              {hand_ms:8.2f} ms")
    print(f"  full-scan SQL (NOT INDEXED, rows only):            {scan_ms:8.2f} ms")
    print(f"  ratio Store.query / hand-written:                  {store_ms / hand_ms:8.2f} x")
    print(f"  ratio full scan / Store.query:                     {scan_ms / store_ms:8.2f} x")
    rate, diff_ms, found = write_and_diff(50_000)
    print(f"write_snapshot: {rate:,.0f} offers/s (50,000 offers, pydantic models)")
    print(f"diff of two 50,000-offer snapshots: {diff_ms:.1f} ms ({found:,} changes)")
    print(f"import cloudcat:       {import_time_ms('cloudcat'):6.1f} ms over a bare interpreter")
    print(f"import cloudcat.store: {import_time_ms('cloudcat.store'):6.1f} ms over a bare interpreter")


if __name__ == "__main__":
    main()
