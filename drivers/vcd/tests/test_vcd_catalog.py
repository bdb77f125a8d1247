"""Cloud Avenue and a generic Cloud Director through the catalog and the CLI, priced by a price book."""

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
from cloudcat_vcd.mock import VcdMock

import cloudcat
from cloudcat.testing import mock

PRICES = {"items": [
    {"backend": "cav", "kind": "compute", "pattern": "*",
     "price_per_vcpu": {"amount": "0.0192", "currency": "EUR", "unit": "vcpu-hour"},
     "price_per_gib_memory": {"amount": "0.0064", "currency": "EUR", "unit": "GiB-hour"}},
    {"backend": "cav", "kind": "storage", "pattern": "gold*",
     "price": {"amount": "0.12", "currency": "EUR", "unit": "GiB-month"}},
    {"backend": "acme", "kind": "compute", "name": "4vCPU-16GB",
     "price": {"amount": "0.21", "currency": "EUR", "unit": "hour"}},
]}


@pytest.fixture
def served_cav() -> Iterator[dict[str, Any]]:
    """``cloudcat mock serve vcd``, as a user starts it; yields its first-line JSON."""
    proc = subprocess.Popen([sys.executable, "-m", "cloudcat.cli", "mock", "serve", "vcd"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()  # the server prints it once it listens
        if not line:
            raise AssertionError(f"mock serve printed nothing: {proc.stderr.read() if proc.stderr else ''}")
        yield json.loads(line)
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def write_config(tmp_path: Path, cav: dict[str, Any], acme: dict[str, Any]) -> Path:
    (tmp_path / "prices.yaml").write_text(yaml.safe_dump(PRICES))
    config = {
        "backends": {"cav": cav, "acme": acme},
        "brands": {
            "cloud-avenue": {"display_name": "Cloud Avenue", "operator": "Orange Business", "backend": "cav"},
            "acme-cloud": {"display_name": "ACME Cloud", "backend": "acme"},
        },
        "price_books": [str(tmp_path / "prices.yaml")],
        "store": str(tmp_path / "catalog.db"),
    }
    path = tmp_path / "cloudcat.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


def test_cli_offers_prices_a_flexible_size(tmp_path: Path, served_cav: dict[str, Any]) -> None:
    assert served_cav["platform"] == "vcd" and served_cav["url"].startswith("http://127.0.0.1:")
    with mock(VcdMock, "generic-vcd") as acme:
        config = write_config(tmp_path, served_cav["backend"], acme.backend)
        run = subprocess.run([sys.executable, "-m", "cloudcat.cli", "offers", "-c", str(config), "--refresh",
                              "-k", "compute", "--min-vcpus", "4", "--min-memory-mib", "16384",
                              "-f", "json"], capture_output=True, text=True, timeout=120)
    assert run.returncode == 0, run.stderr
    offers = {o["id"]: o for o in json.loads(run.stdout)}
    std = offers["cloud-avenue/compute/vdr/STD-PAYG-ONE-ROOM"]
    assert std["sizing"] == "flexible"
    assert (std["vcpus"], std["memory_mib"]) == (4, 16384)
    assert Decimal(std["price"]["amount"]) == Decimal("0.1792")  # 4 × 0.0192 + 16 × 0.0064
    assert (std["price"]["currency"], std["price"]["unit"]) == ("EUR", "hour")
    assert std["operator"] == "Orange Business"
    fixed = offers["acme-cloud/compute/paris-1/4vCPU-16GB"]
    assert fixed["sizing"] == "fixed" and Decimal(fixed["price"]["amount"]) == Decimal("0.21")
    assert offers["acme-cloud/compute/paris-1/8vCPU-32GB"]["price"] is None  # unknown, never 0
    assert "acme-cloud/compute/paris-1/2vCPU-4GB" not in offers  # too small
    assert password_absent(run.stdout + run.stderr, served_cav, acme.backend)


def password_absent(text: str, *backends: dict[str, Any]) -> bool:
    secrets = [b["options"]["password"] for b in (backends[0]["backend"], backends[1])]
    return not any(s in text for s in secrets)


def test_catalog_lists_cloud_avenue_storage_and_templates(tmp_path: Path) -> None:
    with mock(VcdMock) as cav, mock(VcdMock, "generic-vcd") as acme:
        config = write_config(tmp_path, cav.backend, acme.backend)
        with cloudcat.open_catalog(config) as catalog:
            result = catalog.refresh()
            assert all(s.status == "ok" for s in result.statuses), result.statuses
            storage = {o.name: o for o in catalog.offers(brand="cloud-avenue", kind="storage")}
            images = {o.name for o in catalog.offers(brand="cloud-avenue", kind="image")}
            gpu = catalog.offers(brand="acme-cloud", kind="compute", gpu=True)
    assert storage["gold_r1"].price is not None and storage["gold_r1"].price.unit == "GiB-month"
    assert storage["silver"].price is None
    assert storage["platinum7k"].iops == 7000
    assert {"debian_10_X64", "UBUNTU_24.04"} <= images
    assert [o.name for o in gpu] == ["gpu-a100-10c"]


def test_debug_refresh_of_three_cloud_directors_completes(tmp_path: Path) -> None:
    """``cloudcat --debug refresh`` with three Cloud Director backends: the HTTP libraries' debug
    lines go through each client's token filter while other clients log in; none waits on another
    (it used to deadlock on the clients' locks), and no password reaches the output."""
    with mock(VcdMock) as a, mock(VcdMock, "generic-vcd") as b, mock(VcdMock, regions=2) as c:
        config = {"backends": {"cav-a": a.backend, "acme": b.backend, "cav-c": c.backend},
                  "store": str(tmp_path / "catalog.db")}
        path = tmp_path / "cloudcat.yaml"
        path.write_text(yaml.safe_dump(config))
        run = subprocess.run([sys.executable, "-m", "cloudcat.cli", "--debug", "refresh", "-c", str(path)],
                             capture_output=True, text=True, timeout=60)
    assert run.returncode == 0, run.stderr[-2000:]
    assert "DEBUG" in run.stderr  # the HTTP libraries did log
    for backend in (a.backend, b.backend, c.backend):
        assert backend["options"]["password"] not in run.stdout + run.stderr
