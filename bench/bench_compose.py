"""Composing and writing a refresh: price books at scale, and a large catalog's time and memory.

Two measures, each against what it should be compared with:

* **price books**: ``Catalog.refresh()`` of a static backend of 10,000 items under one brand,
  with no price book and with a book of 10,000 rules (exact names and patterns). Target: the
  rules add at most 10 %. For comparison, a third side stores the same offers with no book,
  the items carrying the prices and labels the book gives (what pricing costs when the
  driver reads it: checked, spooled and stored with each item). Rules are found through
  indexes, so the cost follows items + rules.
  Times on a shared machine vary from run to run by more than the 10 % looked for; with
  ``--instructions`` (needs valgrind) each side also runs once under callgrind, which counts
  the instructions of the refresh alone: a figure the machine's load does not change.
* **large refresh**: ``cloudcat refresh`` as a process over a static JSON Lines file of
  ``--items`` items (1,000,000 for the goal; 200,000 by default to stay short), read by a
  driver that makes them one at a time (the pipeline's own cost) and by the static driver from a
  JSON Lines file (which keeps the items it checked in a temporary file), against the
  plain floor: a process that parses the same lines with ``json`` and inserts each item and one
  offer row into SQLite with ``sqlite3``. Targets: at most 2x the floor's time, at most 1 GB
  peak RSS (memory must not grow with the catalog). To show where the time goes, the rows the
  streaming refresh stored are then written again into an empty store by SQL alone (the
  refresh's statements, batches, index builds and checkpoint, no Python work per item; the
  writing alone is timed, not reading the rows back).

    uv run python bench/bench_compose.py [--items 200000] [--rules 10000] [--runs 3] [--skip-large] [--skip-books]
                                         [--instructions]
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import re
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

import yaml

import cloudcat
from cloudcat.prices import PriceBook


def write_items(path: Path, count: int) -> None:
    with path.open("w", encoding="utf-8") as out:
        for i in range(count):
            out.write(json.dumps({
                "kind": "compute", "name": f"f{i}.large", "region": f"r{i % 20}", "vcpus": 1 + i % 64,
                "memory_mib": 1024 * (1 + i % 32), "labels": ["std"], "zones": [f"r{i % 20}a", f"r{i % 20}b"],
            }) + "\n")


def write_rules(path: Path, count: int, items: int) -> None:
    with path.open("w", newline="", encoding="utf-8") as out:
        w = csv.writer(out)
        w.writerow(["backend", "name", "pattern", "price_amount", "price_currency", "price_unit", "labels"])
        for i in range(count):
            if i % 2:
                w.writerow(["big", f"f{i % items}.large", "", f"0.{i:05}", "EUR", "hour", ""])
            else:
                w.writerow(["big", "", f"f{i}.*", "", "", "", "tagged"])


def config(tmp: Path, items: Path, store: Path, book: Path | None) -> dict[str, object]:
    return {"backends": {"big": {"driver": "static", "options": {"paths": [str(items)]}}},
            "brands": {"b": {"backend": "big", "operator": "Someone"}},
            "price_books": [str(book)] if book else [], "store": str(store)}


def timed_refresh(tmp: Path, data: Path, book: Path | None, name: str) -> tuple[float, float]:
    """Wall and CPU seconds (this process, every thread) of one refresh from a new catalog, which
    reads its price book as a refresh from the command line does."""
    with cloudcat.open_catalog(config(tmp, data, tmp / f"pb-{name}.db", book)) as catalog:
        wall, cpu = time.perf_counter(), time.process_time()
        result = catalog.refresh()
        wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
        assert result.exit_code == 0
    return wall, cpu


def write_priced(path: Path, data: Path, book: Path) -> None:
    """The items of ``data`` as the book leaves them (its prices and labels applied), for a
    refresh with no book that stores the same offers."""
    prices = PriceBook.load([book])
    with data.open(encoding="utf-8") as lines, path.open("w", encoding="utf-8") as out:
        for line in lines:
            item = prices.apply_data("big", json.loads(line))
            price = item.get("price")
            if price is not None:
                item["price"] = price.model_dump(mode="json", exclude_none=True)
            out.write(json.dumps(item) + "\n")


def price_books(tmp: Path, items: int, rules: int, runs: int) -> None:
    data = tmp / "items.jsonl"
    write_items(data, items)
    book = tmp / "rules.csv"
    write_rules(book, rules, items)
    priced = tmp / "priced.jsonl"
    write_priced(priced, data, book)
    timed_refresh(tmp, data, book, "warm-up")  # imports, first-use caches, the files in the page cache
    times: dict[str, list[tuple[float, float]]] = {"none": [], "rules": [], "priced": []}
    # the sides interleaved, their order turning: a machine busy with something else for a while
    # weighs on all alike; CPU time of this process is what the load disturbs least
    for run in range(max(runs, 3)):
        sides = [("none", data, None), ("rules", data, book), ("priced", priced, None)]
        turn = run % len(sides)
        for label, items_file, used in sides[turn:] + sides[:turn]:
            times[label].append(timed_refresh(tmp, items_file, used, f"{label}-{run}"))
        (nw, nc), (rw, rc), (pw, pc) = (times[side][-1] for side in ("none", "rules", "priced"))
        print(f"  run {run + 1}: no book {nw:5.2f} s ({nc:5.2f} s CPU), {rules} rules {rw:5.2f} s ({rc:5.2f} s CPU), "
              f"priced items {pw:5.2f} s ({pc:5.2f} s CPU)  load average {os.getloadavg()[0]:.2f}")
    loading = min(_reading_cpu(book) for _ in range(3))
    for what, i in (("wall", 0), ("CPU", 1)):
        none, ruled, already = (statistics.median(t[i] for t in times[side]) for side in ("none", "rules", "priced"))
        print(f"refresh of {items} items, no price book ({what:>4}) : {none:7.2f} s")
        print(f"refresh of {items} items, {rules} rules ({what:>4}) : {ruled:7.2f} s")
        print(f"added by the rules ({what:>4})                 : {100 * (ruled / none - 1):6.1f} %  (target <= 10 %)")
        print(f"  the same offers, their prices and labels read from the items (no book) ({what:>4}): "
              f"{already:5.2f} s ({100 * (already / none - 1):+.1f} %)")
    # the fastest run of each side is the one other work on the machine disturbed least
    none, ruled = min(t[1] for t in times["none"]), min(t[1] for t in times["rules"])
    print(f"added by the rules (CPU, fastest run of each)  : {100 * (ruled / none - 1):6.1f} %  "
          f"({none:.2f} s, {ruled:.2f} s)")
    print(f"of which reading the price book (CPU, best of 3): {loading:7.2f} s")


def _reading_cpu(book: Path) -> float:
    """CPU seconds to read and check a price book (what a refresh from the command line does first)."""
    start = time.process_time()
    PriceBook.load([book])
    return time.process_time() - start


def instructions(tmp: Path, items: int, rules: int) -> None:
    """Instructions of one refresh with no book and with the book, each counted by callgrind in a
    process of its own (both at once, one a core), after a warm-up refresh as :func:`price_books` does."""
    missing = [tool for tool in ("valgrind", "callgrind_control") if shutil.which(tool) is None]
    if missing:
        raise SystemExit(f"--instructions needs {' and '.join(missing)} (apt-get install valgrind)")
    tmp.mkdir(exist_ok=True)
    data = tmp / "items.jsonl"
    write_items(data, items)
    book = tmp / "rules.csv"
    write_rules(book, rules, items)
    runs = {side: subprocess.Popen(
        ["valgrind", "--tool=callgrind", "--instr-atstart=no", f"--callgrind-out-file={tmp / f'cg-{side}.out'}",
         sys.executable, __file__, "--count-refresh", side, str(tmp)],
        # one string hashing for both sides: dictionaries then probe alike from run to run
        env={**os.environ, "PYTHONHASHSEED": "0"},
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True) for side in ("none", "rules")}
    counts: dict[str, int] = {}
    for side, proc in runs.items():
        _, err = proc.communicate()
        found = re.search(r"Collected : (\d+)", err)
        if proc.returncode != 0 or found is None:
            raise SystemExit(f"counting the {side} refresh failed ({proc.returncode}): {err[-2000:]}")
        counts[side] = int(found.group(1))
    print(f"refresh of {items} items, no price book (instructions): {counts['none'] / 1e6:9.1f} M")
    print(f"refresh of {items} items, {rules} rules (instructions): {counts['rules'] / 1e6:9.1f} M")
    print(f"added by the rules (instructions)              : {100 * (counts['rules'] / counts['none'] - 1):6.1f} %"
          "  (target <= 10 %)")


def count_refresh(side: str, tmp: Path) -> None:
    """In a process run by callgrind: a warm-up refresh with the book, then one refresh (``side``:
    with the book or without) with callgrind counting it alone."""
    data, book = tmp / "items.jsonl", tmp / "rules.csv"
    timed_refresh(tmp, data, book, f"warm-up-{side}")

    def counting(on: bool) -> None:
        subprocess.run(["callgrind_control", "-i", "on" if on else "off", str(os.getpid())],
                       capture_output=True, check=True)

    with cloudcat.open_catalog(config(tmp, data, tmp / f"counted-{side}.db", book if side == "rules" else None)) \
            as catalog:
        counting(True)
        result = catalog.refresh()
        counting(False)
        assert result.exit_code == 0


FLOOR = textwrap.dedent('''
    import json, sqlite3, sys
    db = sqlite3.connect(sys.argv[2])
    db.execute("CREATE TABLE items (pk INTEGER PRIMARY KEY, backend TEXT, data TEXT)")
    db.execute("CREATE TABLE offers (pk INTEGER PRIMARY KEY, id TEXT UNIQUE, kind TEXT, region TEXT, "
               "vcpus INTEGER, memory_mib INTEGER, data TEXT)")
    db.execute("BEGIN")
    with open(sys.argv[1]) as f:
        for line in f:
            item = json.loads(line)
            text = json.dumps(item)
            db.execute("INSERT INTO items (backend, data) VALUES (?, ?)", ("big", text))
            oid = f"b/{item['kind']}/{item['region']}/{item['name']}"
            db.execute("INSERT INTO offers (id, kind, region, vcpus, memory_mib, data) VALUES (?, ?, ?, ?, ?, ?)",
                       (oid, item["kind"], item["region"], item["vcpus"], item["memory_mib"],
                        json.dumps({**item, "id": oid})))
    db.execute("COMMIT")
''')


#: The rows a refresh stored (its store at argv[1]) written again into an empty store of the same
#: schema (argv[2]) as the refresh writes them: ``executemany`` a batch of 10,000 at a time, the
#: secondary indexes built after the rows, one transaction, the checkpoint after it. Only the
#: writing is timed (not reading the rows from the first store), and no Python work per item
#: beyond handing the rows over: what SQLite's own work on the store's tables and indexes costs.
#: Prints the seconds of the write.
STORE_SQL = textwrap.dedent('''
    import sqlite3, sys, time
    from cloudcat.store.sqlite import _INDEXES
    source = sqlite3.connect(sys.argv[1])
    schema = [r[0] for r in source.execute("SELECT sql FROM sqlite_master WHERE sql IS NOT NULL "
                                           "AND name NOT LIKE 'sqlite_%' ORDER BY rowid")]
    db = sqlite3.connect(sys.argv[2], isolation_level=None)
    for pragma in ("journal_mode = WAL", "synchronous = NORMAL", "temp_store = MEMORY", "cache_size = -262144"):
        db.execute(f"PRAGMA {pragma}")
    for statement in schema:
        db.execute(statement)
    took = 0.0
    start = time.perf_counter()
    db.execute("BEGIN IMMEDIATE")
    for table in _INDEXES:
        for name, _ in _INDEXES[table]:
            db.execute(f"DROP INDEX IF EXISTS {name}")
    took += time.perf_counter() - start
    for table in _INDEXES:
        columns = [r[1] for r in source.execute(f"PRAGMA table_info({table})")]
        insert = f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({', '.join('?' * len(columns))})"
        rows = source.execute(f"SELECT {', '.join(columns)} FROM {table}")
        while batch := rows.fetchmany(10000):
            start = time.perf_counter()
            db.executemany(insert, batch)
            took += time.perf_counter() - start
    start = time.perf_counter()
    for table in _INDEXES:
        for _, create in _INDEXES[table]:
            db.execute(create)
    db.execute("COMMIT")
    db.execute("PRAGMA wal_checkpoint(RESTART)").fetchall()
    print(took + time.perf_counter() - start)
''')


def sql_only(store: Path, target: Path) -> float:
    """Seconds :data:`STORE_SQL` takes to write the rows of ``store`` again."""
    proc = subprocess.run([sys.executable, "-c", STORE_SQL, str(store), str(target)], capture_output=True,
                          text=True)
    if proc.returncode != 0:
        raise SystemExit(f"the SQL-only write failed ({proc.returncode}): {proc.stderr[-2000:]}")
    return float(proc.stdout.split()[-1])


def child(args: list[str], env: dict[str, str] | None = None) -> tuple[float, float, float]:
    """Wall time, CPU time (user and system) and peak RSS (MB) of a child process."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    proc = subprocess.run(args, capture_output=True, text=True, env=env)
    took = time.perf_counter() - start
    if proc.returncode != 0:
        raise SystemExit(f"{args[:4]} failed ({proc.returncode}): {proc.stderr[-2000:]}")
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime
    # ru_maxrss of children is the largest of any child so far: children run smallest first
    return took, cpu, max(after.ru_maxrss, before.ru_maxrss) / 1024


#: A driver that makes the same items as :func:`write_items` one at a time, so that the refresh
#: pipeline's own memory shows.
STREAMING_DRIVER = textwrap.dedent('''
    from cloudcat.driver import BaseDriver, Capabilities, DriverOptions
    from cloudcat.models import Item, Kind, Region

    class Options(DriverOptions):
        count: int

    class StreamingDriver(BaseDriver):
        name = "benchstream"
        capabilities = Capabilities(kinds=frozenset({Kind.COMPUTE}))
        Options = Options

        def list_regions(self):
            return [Region(name=f"r{i}") for i in range(20)]

        def list_items(self, kind, region):
            r = int(region[1:])
            for i in range(r, self.options.count, 20):
                yield Item(kind=kind, name=f"f{i}.large", region=region, vcpus=1 + i % 64,
                           memory_mib=1024 * (1 + i % 32), labels=["std"], zones=[f"{region}a", f"{region}b"])
''')


def install_streaming_driver(root: Path) -> dict[str, str]:
    """The driver above as an installed distribution (entry point and all); the environment to find it."""
    (root / "bench_stream_driver.py").write_text(STREAMING_DRIVER)
    info = root / "bench_stream_driver-1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: bench-stream-driver\nVersion: 1.0\n")
    (info / "entry_points.txt").write_text("[cloudcat.drivers]\nbenchstream = bench_stream_driver:StreamingDriver\n")
    path = os.pathsep.join(p for p in (str(root), os.environ.get("PYTHONPATH")) if p)
    return {**os.environ, "PYTHONPATH": path}


def large_refresh(tmp: Path, items: int) -> None:
    data = tmp / "large.jsonl"
    write_items(data, items)
    floor_time, floor_cpu, floor_rss = child([sys.executable, "-c", FLOOR, str(data), str(tmp / "floor.db")])
    print(f"json + sqlite3 floor,           {items} items : {floor_time:7.2f} s ({floor_cpu:7.2f} s CPU)  "
          f"{floor_rss:7.0f} MB peak RSS  load average {os.getloadavg()[0]:.2f}")
    env = install_streaming_driver(tmp)
    for label, backend in (("streaming driver", {"driver": "benchstream", "options": {"count": items}}),
                           ("static driver (JSONL)", {"driver": "static", "options": {"paths": [str(data)]}})):
        path = tmp / "large.yaml"
        store = tmp / f"large-{backend['driver']}.db"
        path.write_text(yaml.safe_dump({"backends": {"big": backend}, "brands": {"b": {"backend": "big"}},
                                        "store": str(store)}))
        cc_time, cc_cpu, cc_rss = child([sys.executable, "-m", "cloudcat.cli", "refresh", "--config", str(path)],
                                        env=env)
        # CPU time is what a loaded machine disturbs least: both ratios are shown
        print(f"cloudcat refresh, {label:<21} : {cc_time:7.2f} s ({cc_cpu:7.2f} s CPU)  {cc_rss:7.0f} MB peak RSS  "
              f"({cc_time / floor_time:.2f}x the floor, {cc_cpu / floor_cpu:.2f}x in CPU; targets 2.00x, 1024 MB)  "
              f"load average {os.getloadavg()[0]:.2f}")
    # where the time goes: the streaming refresh's rows written by SQL alone
    took = sql_only(tmp / "large-benchstream.db", tmp / "sql.db")
    print(f"the streaming refresh's rows written again, SQL only : {took:7.2f} s  ({took / floor_time:.2f}x the "
          f"floor: the store's tables and indexes, no Python per item)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, default=200_000, help="items of the large refresh")
    parser.add_argument("--rules", type=int, default=10_000)
    parser.add_argument("--book-items", type=int, default=10_000, help="items of the price book measure")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--skip-large", action="store_true")
    parser.add_argument("--skip-books", action="store_true", help="only the large refresh")
    parser.add_argument("--instructions", action="store_true",
                        help="also count the instructions of each price book side (valgrind)")
    parser.add_argument("--count-refresh", nargs=2, metavar=("SIDE", "DIR"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.count_refresh:
        count_refresh(args.count_refresh[0], Path(args.count_refresh[1]))
        return
    with tempfile.TemporaryDirectory() as tmp:
        if not args.skip_books:
            price_books(Path(tmp), args.book_items, args.rules, args.runs)
            if args.instructions:
                instructions(Path(tmp) / "counted", args.book_items, args.rules)
        if not args.skip_large:
            large_refresh(Path(tmp), args.items)


if __name__ == "__main__":
    main()
