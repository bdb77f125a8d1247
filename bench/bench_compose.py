"""Composing and writing a refresh: price books at scale, and a large catalog's time and memory.

Two measures, each against what it should be compared with:

* **price books**: ``Catalog.refresh()`` of a static backend of 10,000 items under one brand,
  with no price book and with a book of 10,000 rules (exact names and patterns). Target: the
  rules add at most 10 %. Rules are found through indexes, so the cost follows items + rules.
* **large refresh**: ``cloudcat refresh`` as a process over a static JSON Lines file of
  ``--items`` items (1,000,000 for the goal; 200,000 by default to stay short), against the
  plain floor: a process that parses the same lines with ``json`` and inserts each item and one
  offer row into SQLite with ``sqlite3``. Targets: at most 2x the floor's time, at most 1 GB
  peak RSS (memory must not grow with the catalog).

    uv run python bench/bench_compose.py [--items 200000] [--rules 10000] [--runs 3] [--skip-large]
"""

from __future__ import annotations

import argparse
import csv
import json
import resource
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

import yaml

import cloudcat


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


def price_books(tmp: Path, items: int, rules: int, runs: int) -> None:
    data = tmp / "items.jsonl"
    write_items(data, items)
    book = tmp / "rules.csv"
    write_rules(book, rules, items)
    times: dict[str, list[float]] = {"none": [], "rules": []}
    for run in range(runs):
        for label, used in (("none", None), ("rules", book)):
            store = tmp / f"pb-{label}-{run}.db"
            with cloudcat.open_catalog(config(tmp, data, store, used)) as catalog:
                start = time.perf_counter()
                result = catalog.refresh()
                times[label].append(time.perf_counter() - start)
                assert result.exit_code == 0
    none, ruled = statistics.median(times["none"]), statistics.median(times["rules"])
    print(f"refresh of {items} items, no price book  : {none:7.2f} s")
    print(f"refresh of {items} items, {rules} rules : {ruled:7.2f} s")
    print(f"added by the rules                   : {100 * (ruled / none - 1):6.1f} %  (target <= 10 %)")


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


def child(args: list[str]) -> tuple[float, float]:
    """Wall time and peak RSS (MB) of a child process."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    start = time.perf_counter()
    proc = subprocess.run(args, capture_output=True, text=True)
    took = time.perf_counter() - start
    if proc.returncode != 0:
        raise SystemExit(f"{args[:4]} failed ({proc.returncode}): {proc.stderr[-2000:]}")
    peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    # ru_maxrss of children is the largest of any child so far: run the bigger one last
    return took, max(peak, before) / 1024


def large_refresh(tmp: Path, items: int) -> None:
    data = tmp / "large.jsonl"
    write_items(data, items)
    floor_time, floor_rss = child([sys.executable, "-c", FLOOR, str(data), str(tmp / "floor.db")])
    path = tmp / "large.yaml"
    path.write_text(yaml.safe_dump(config(tmp, data, tmp / "large.db", None)))
    cc_time, cc_rss = child([sys.executable, "-m", "cloudcat.cli", "refresh", "--config", str(path)])
    print(f"json + sqlite3 floor, {items} items : {floor_time:7.2f} s  {floor_rss:7.0f} MB peak RSS")
    print(f"cloudcat refresh,     {items} items : {cc_time:7.2f} s  {cc_rss:7.0f} MB peak RSS")
    print(f"ratio cloudcat / floor               : {cc_time / floor_time:7.2f}   (target <= 2.00; "
          f"memory target <= 1024 MB)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, default=200_000, help="items of the large refresh")
    parser.add_argument("--rules", type=int, default=10_000)
    parser.add_argument("--book-items", type=int, default=10_000, help="items of the price book measure")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--skip-large", action="store_true")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        price_books(Path(tmp), args.book_items, args.rules, args.runs)
        if not args.skip_large:
            large_refresh(Path(tmp), args.items)


if __name__ == "__main__":
    main()
