"""The vSphere stories end to end: ``cloudcat offers`` on a served mocked vCenter through real pyvmomi,
a price book turning option sizes and cluster pools into priced compute offers, and Flexible
Engine planned onto a vSphere private cloud (the backend-swap target)."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
import yaml

import cloudcat
from cloudcat.demo import DATA
from cloudcat.testing import mock

PRICES = Path(__file__).parent / "data" / "prices-vsphere.yaml"
SIZES = [{"name": "std-2-4", "vcpus": 2, "memory_mib": 4096}, {"name": "std-4-16", "vcpus": 4, "memory_mib": 16384},
         {"name": "std-8-32", "vcpus": 8, "memory_mib": 32768}]


def vsphere_backend(backend: dict[str, Any]) -> dict[str, Any]:
    return {**backend, "options": {**backend["options"], "sizes": SIZES, "country": "FR"}}


@pytest.fixture
def served() -> Iterator[dict[str, Any]]:
    """``cloudcat mock serve vsphere`` as a user starts it; yields its first-line JSON."""
    proc = subprocess.Popen([sys.executable, "-m", "cloudcat.cli", "mock", "serve", "vsphere"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        if not line:
            raise AssertionError(f"mock serve printed nothing: {proc.stderr.read() if proc.stderr else ''}")
        yield json.loads(line)
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def test_cli_offers_lists_every_vsphere_kind_priced(tmp_path: Path, served: dict[str, Any]) -> None:
    config = {"backends": {"vs": vsphere_backend(served["backend"])},
              "brands": {"private-vsphere": {"display_name": "Private vSphere", "operator": "ACME IT",
                                             "backend": "vs"}},
              "price_books": [str(PRICES)], "store": str(tmp_path / "catalog.db")}
    path = tmp_path / "cloudcat.yaml"
    path.write_text(yaml.safe_dump(config))
    run = subprocess.run([sys.executable, "-m", "cloudcat.cli", "offers", "-c", str(path), "--refresh", "-f", "json"],
                         capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr
    offers = {o["id"].removeprefix("private-vsphere/"): o for o in json.loads(run.stdout)}
    assert served["backend"]["options"]["password"] not in run.stdout + run.stderr
    expected = ["image/PAR-DC1/tpl-rhel-9.4", "image/PAR-DC1/ubuntu-24.04-cl", "storage/PAR-DC1/vsanDatastore",
                "storage/PAR-DC1/Gold - RAID-1 FTT=2", "location/PAR-DC1", "location/PAR-DC1/Gold",
                "network/PAR-DC1/pg-prod-101", "network/LYS-DC2/Backup Network", "compute/PAR-DC1/std-4-16",
                "compute/PAR-DC1/pool-Gold"]
    assert not [e for e in expected if e not in offers]
    fixed = offers["compute/PAR-DC1/std-4-16"]
    assert fixed["sizing"] == "fixed" and Decimal(fixed["price"]["amount"]) == Decimal("0.15")
    pool = offers["compute/PAR-DC1/pool-Gold"]
    assert pool["sizing"] == "flexible" and pool["flexible"]["vcpus_max"] == 64
    assert Decimal(pool["flexible"]["price_per_vcpu"]["amount"]) == Decimal("0.021")
    assert Decimal(offers["storage/PAR-DC1/Gold - RAID-1 FTT=2"]["price"]["amount"]) == Decimal("0.14")
    assert offers["storage/PAR-DC1/vsanDatastore"]["price"] is None  # unknown, never 0
    assert "private-cloud" in offers["image/PAR-DC1/tpl-rhel-9.4"]["labels"]


def test_flexible_engine_planned_onto_vsphere(tmp_path: Path) -> None:
    with mock("openstack", fixture="flexible-engine") as fe, mock("vsphere") as vs:
        fe_backend = {**fe.backend, "options": {**fe.backend["options"], "countries": {"eu-west-0": "FR"}}}
        config = {"backends": {"fe": fe_backend, "vs": vsphere_backend(vs.backend)},
                  "brands": {"flexible-engine": {"display_name": "Flexible Engine", "operator": "Orange Business",
                                                 "backend": "fe"},
                             "private-vsphere": {"display_name": "Private vSphere", "operator": "ACME IT",
                                                 "backend": "vs"}},
                  "price_books": [str(DATA / "prices-flexible-engine.csv"), str(PRICES)],
                  "store": str(tmp_path / "catalog.db")}
        path = tmp_path / "cloudcat.yaml"
        path.write_text(yaml.safe_dump(config))
        with cloudcat.open_catalog(path) as catalog:
            plan = catalog.plan_migration("flexible-engine", "private-vsphere",
                                          DATA / "inventory-flexible-engine.csv", refresh=True)
    lines = {line.item: line for line in plan.lines}
    web = lines["web front"]  # s3.large.2: 2 vCPU / 4 GiB
    assert web.target is not None and web.target.startswith("private-vsphere/compute/")
    batch = lines["batch"]  # c6.2xlarge.2: 8 vCPU / 16 GiB, carved from the cheapest cluster pool
    assert batch.target == "private-vsphere/compute/LYS-DC2/pool-Bronze"
    assert (batch.target_vcpus, batch.target_memory_mib) == (8, 16384)
    assert batch.monthly_after == Decimal("100.80")  # 2 × 300 h × (8 × 0.014 + 16 × 0.0035)
    assert lines["3d rendering"].target is None and lines["3d rendering"].gap_reason == "no GPU offer"
    assert lines["ubuntu servers"].target == "private-vsphere/image/PAR-DC1/tpl-ubuntu-22.04"
    assert lines["archive disks"].target_name == "Silver - RAID-5"
    assert set(plan.totals) == {"EUR"}
