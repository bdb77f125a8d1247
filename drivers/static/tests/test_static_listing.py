"""What the static driver lists is what its files hold, in file order, per region and kind:
however the checked items were gathered and written to its temporary file (a chunk per region
and kind, several chunks for a large one, everything at once when many small ones add up), and
with items JSON cannot carry (kept aside) in their place."""

from __future__ import annotations

import json
import threading
from pathlib import Path
from typing import Any

from cloudcat_static import StaticDriver

from cloudcat.models import Item, Kind, bounds_violation

REGIONS = ("eu-west-0", "eu-west-1", "eu-west-2")
KINDS = (Kind.COMPUTE, Kind.STORAGE)


def _row(n: int, region: str, kind: Kind, padding: int) -> dict[str, Any]:
    row: dict[str, Any] = {"kind": kind.value, "name": f"{kind.value}-{n}", "region": region,
                           "display_name": f"item {n} " + "x" * padding}
    if kind == Kind.COMPUTE:
        row |= {"vcpus": 1 + n % 64, "memory_mib": 1024 * (1 + n % 8)}
    else:
        row |= {"storage_class": "ssd", "iops": 100 * n}
    return row


def _write(path: Path, rows: list[dict[str, Any]]) -> None:
    path.write_text("".join(json.dumps(row) + "\n" for row in rows))


def _listed(driver: StaticDriver) -> dict[tuple[str, Kind], list[Item]]:
    return {(region, kind): list(driver.items(kind, region)) for region in REGIONS for kind in KINDS}


def test_large_groups_list_every_item_in_file_order(tmp_path: Path) -> None:
    # ~1 KB an item, 900 items a region and kind: several chunks each; the groups interleaved
    rows = [_row(n, REGIONS[n % 3], KINDS[n // 3 % 2], 1000) for n in range(5400)]
    # items JSON cannot carry, amid the others: the refresh drops them by name, so they are listed
    rows[1000] = {**rows[1000], "vcpus": 2**60}
    rows[4003] = {**rows[4003], "iops": 2**64}
    _write(tmp_path / "big.jsonl", rows)
    expected: dict[tuple[str, Kind], list[dict[str, Any]]] = {}
    for row in rows:
        expected.setdefault((row["region"], Kind(row["kind"])), []).append(row)

    driver = StaticDriver({"paths": [str(tmp_path)]})
    try:
        listed = _listed(driver)
        for key, items in listed.items():
            assert [item.name for item in items] == [row["name"] for row in expected[key]], key
            assert [item.display_name for item in items] == [row["display_name"] for row in expected[key]]
        odd = [item for items in listed.values() for item in items if bounds_violation(item) is not None]
        assert sorted((item.name, bounds_violation(item)) for item in odd) == sorted([
            (rows[1000]["name"], "vcpus"), (rows[4003]["name"], "iops")])
        # listings side by side, as a refresh runs them, read the same
        side_by_side: dict[tuple[str, Kind], list[Item]] = {}

        def read(region: str, kind: Kind) -> None:
            side_by_side[(region, kind)] = list(driver.items(kind, region))

        threads = [threading.Thread(target=read, args=key) for key in listed]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=60)
        assert side_by_side == listed
    finally:
        driver.close()


def test_many_small_groups_list_every_item(tmp_path: Path) -> None:
    # 150 regions of 15 items of ~8 KB: no group fills a chunk, together they pass what is kept
    # gathered at once, so every group is written in several parts
    regions = [f"r{n}" for n in range(150)]
    rows = [{"kind": "compute", "name": f"s{n}", "region": regions[n % 150], "vcpus": 2, "memory_mib": 2048,
             "display_name": "y" * 8000} for n in range(150 * 15)]
    _write(tmp_path / "many.jsonl", rows)
    driver = StaticDriver({"paths": [str(tmp_path / "many.jsonl")]})
    try:
        assert sorted(r.name for r in driver.list_regions()) == sorted(regions)
        for n, region in enumerate(regions):
            assert [item.name for item in driver.items(Kind.COMPUTE, region)] == [f"s{n + 150 * k}" for k in range(15)]
        assert list(driver.items(Kind.STORAGE, regions[0])) == []
    finally:
        driver.close()


def test_a_catalog_refreshing_again_reads_files_changed_since(tmp_path: Path) -> None:
    """A long-lived catalog (a service refreshing every day) sees what was written to its files
    between two refreshes, even an edit that keeps the file's size."""
    import os

    import cloudcat

    path = tmp_path / "items.jsonl"
    _write(path, [_row(n, "eu-west-0", Kind.COMPUTE, 0) for n in range(3)])
    config = {"backends": {"files": {"driver": "static", "options": {"paths": [str(path)]}}},
              "brands": {"b": {"backend": "files"}}, "store": str(tmp_path / "catalog.db")}
    with cloudcat.open_catalog(config) as catalog:
        catalog.refresh()
        assert catalog.get("b/compute/eu-west-0/compute-1").vcpus == 2
        before = path.stat()
        _write(path, [_row(n if n != 1 else 2, "eu-west-0", Kind.COMPUTE, 0) | {"name": f"compute-{n}"}
                      for n in range(3)])
        assert path.stat().st_size == before.st_size
        os.utime(path, ns=(before.st_atime_ns, before.st_mtime_ns + 1_000_000_000))
        catalog.refresh()
        assert catalog.get("b/compute/eu-west-0/compute-1").vcpus == 3
