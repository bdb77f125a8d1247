"""``cloudcat offers -f json --offline`` on a large stored catalog: first byte, total time, peak RSS.

Stores a catalog of ``--items`` offers once (a static JSON Lines backend, ``cloudcat refresh``,
cached under ``bench/.cache/``), then runs ``cloudcat offers --format json --offline`` as a
process with its output piped, and reports, median of ``--runs``:

* the time to the first byte of output (target: within 1 s, whatever the size: offers are
  written as they are read, so this does not grow with the catalog);
* the total time and the bytes written;
* the peak RSS of the process (target: at most 200 MB at 1,000,000 offers: memory must not
  grow with the catalog);

each against a floor: a bare ``python`` process that reads the same JSON Lines file and writes
one JSON object per line into an array (no validation, no store). Both the time and the first
byte are printed as ratios to the floor's.

The default of 100,000 offers runs in a few minutes on 2 cores (most of it the one-off refresh).
The first byte and the peak RSS stay flat as the catalog grows; the total time grows linearly
(about 10x from 100,000 to 1,000,000 offers): pass ``--items 1000000`` for the goal's size.

    uv run python bench/bench_output.py [--items 100000] [--runs 3] [--rebuild]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import textwrap
import time
from pathlib import Path

from cloudcat.store.sqlite import SCHEMA_VERSION

CACHE = Path(__file__).parent / ".cache" / "output"
FLOOR = textwrap.dedent("""
    import json, sys
    out = sys.stdout
    first = True
    with open(sys.argv[1], encoding="utf-8") as lines:
        for line in lines:
            out.write(("[\\n" if first else ",\\n") + json.dumps(json.loads(line), ensure_ascii=False))
            first = False
    out.write("\\n]\\n")
""")


def cloudcat_bin() -> str:
    found = Path(sys.executable).parent / "cloudcat"
    return str(found) if found.exists() else "cloudcat"


def build(items: int, rebuild: bool) -> Path:
    """The cached catalog of ``items`` offers; the directory holding its configuration."""
    root = CACHE / str(items)
    done = root / "done"  # holds the store's schema version: a store of an older one is made again
    if done.exists() and done.read_text() == str(SCHEMA_VERSION) and not rebuild:
        return root
    shutil.rmtree(root, ignore_errors=True)
    root.mkdir(parents=True)
    with (root / "items.jsonl").open("w", encoding="utf-8") as out:
        for i in range(items):
            out.write(json.dumps({
                "kind": "compute", "name": f"f{i}.large", "region": f"r{i % 20}", "vcpus": 1 + i % 64,
                "memory_mib": 1024 * (1 + i % 32), "labels": ["std"], "zones": [f"r{i % 20}a", f"r{i % 20}b"],
                "price": {"amount": f"0.{i % 9973:04}", "currency": "EUR", "unit": "hour"},
            }) + "\n")
    (root / "cloudcat.yaml").write_text(json.dumps({
        "backends": {"big": {"driver": "static", "options": {"paths": ["items.jsonl"]}}},
        "brands": {"big": {"backend": "big", "operator": "Big Operator"}},
        "store": "catalog.db", "max_age": 10**9}), encoding="utf-8")
    started = time.monotonic()
    subprocess.run([cloudcat_bin(), "refresh"], cwd=root, check=True, stdout=subprocess.DEVNULL)
    print(f"stored {items:,} offers in {time.monotonic() - started:.1f} s (once; cached)")
    done.write_text(str(SCHEMA_VERSION))
    return root


#: Processes write their bytecode caches (an environment that forbids it would time the compiler).
ENV = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}


def measure(command: list[str], cwd: Path) -> tuple[float, float, int, float]:
    """First byte (s), total (s), bytes written, peak RSS (MB) of one process."""
    started = time.monotonic()
    process = subprocess.Popen(command, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, env=ENV)
    assert process.stdout is not None
    first = process.stdout.read(1)
    first_byte = time.monotonic() - started
    size = len(first)
    while chunk := process.stdout.read(1 << 20):
        size += len(chunk)
    _, status, usage = os.wait4(process.pid, 0)
    total = time.monotonic() - started
    assert os.waitstatus_to_exitcode(status) == 0, command
    return first_byte, total, size, usage.ru_maxrss / 1024


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--items", type=int, default=100_000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--rebuild", action="store_true")
    args = parser.parse_args()
    root = build(args.items, args.rebuild)
    measure([cloudcat_bin(), "offers", "--format", "json", "--offline", "-n", "1"], root)  # bytecode caches
    startup = statistics.median(measure([cloudcat_bin(), "--version"], root)[1] for _ in range(args.runs))
    ours = [measure([cloudcat_bin(), "offers", "--format", "json", "--offline"], root) for _ in range(args.runs)]
    floor = [measure([sys.executable, "-c", FLOOR, "items.jsonl"], root) for _ in range(args.runs)]

    def median(rows: list[tuple[float, float, int, float]], index: int) -> float:
        return statistics.median(row[index] for row in rows)

    print(f"cloudcat offers --format json --offline on {args.items:,} offers (median of {args.runs}):")
    print(f"  first byte {median(ours, 0):7.3f} s   (floor {median(floor, 0):.3f} s, "
          f"ratio {median(ours, 0) / median(floor, 0):.1f}x; target <= 1 s)")
    print(f"  of which the interpreter and imports ({cloudcat_bin()} --version): {startup:.3f} s; "
          f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")
    print(f"  total      {median(ours, 1):7.2f} s   (floor {median(floor, 1):.2f} s, "
          f"ratio {median(ours, 1) / median(floor, 1):.1f}x)")
    print(f"  output     {median(ours, 2) / 1e6:7.1f} MB  (floor {median(floor, 2) / 1e6:.1f} MB)")
    print(f"  peak RSS   {median(ours, 3):7.1f} MB  (floor {median(floor, 3):.1f} MB; target <= 200 MB)")


if __name__ == "__main__":
    main()
