"""The Bleu story, end to end: Flexible Engine's customers move to Cloud Avenue or Bleu.

Bleu is read by the ``libcloud`` driver from the mocked Azure Resource Manager (retail prices in EUR,
with their dates); Flexible Engine from the OpenStack mock, Cloud Avenue from the Cloud Director
mock; the planner plans both moves from the same inventory.
"""

from __future__ import annotations

import datetime as dt
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
from cloudcat.planner import InventoryLine
from cloudcat.testing import mock

INVENTORY = [
    InventoryLine(item="web front", offer="s3.large.2", quantity=10, region="eu-west-0"),
    InventoryLine(item="app servers", offer="s6.xlarge.4", quantity=4, region="eu-west-0"),
    InventoryLine(item="batch", offer="c6.2xlarge.2", quantity=2, hours_per_month=Decimal(300), region="eu-west-0"),
]


@pytest.fixture(scope="module")
def story(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    """Flexible Engine, Cloud Avenue and Bleu behind one catalog configuration, each on its mock."""
    tmp = tmp_path_factory.mktemp("bleu-story")
    cav_prices = tmp / "prices-cloud-avenue.yaml"
    cav_prices.write_text(yaml.safe_dump({"items": [
        {"backend": "cav", "kind": "compute", "pattern": "*",
         "price_per_vcpu": {"amount": "0.0192", "currency": "EUR", "unit": "vcpu-hour"},
         "price_per_gib_memory": {"amount": "0.0064", "currency": "EUR", "unit": "GiB-hour"}}]}))
    with mock("openstack", "flexible-engine") as fe, mock("vcd", "cloud-avenue") as cav, mock("azure") as bleu:
        fe_backend = {**fe.backend, "options": {**fe.backend["options"], "countries": {"eu-west-0": "FR"},
                                                           "regions": ["eu-west-0"]}}
        config = {
            "backends": {"fe": fe_backend, "cav": cav.backend, "bleu": bleu.backend},
            "brands": {
                "flexible-engine": {"display_name": "Flexible Engine", "operator": "Orange Business",
                                    "backend": "fe",
                                    "lifecycle": {"status": "end-of-sale", "successor": "cloud-avenue",
                                                  "reason": "customers move to Cloud Avenue or Bleu"}},
                "cloud-avenue": {"display_name": "Cloud Avenue", "operator": "Orange Business", "backend": "cav"},
                "bleu": {"display_name": "Bleu", "operator": "Bleu (Capgemini and Orange)", "backend": "bleu"},
            },
            "price_books": [str(cav_prices)],
            "store": str(tmp / "store.db"),
        }
        path = tmp / "cloudcat.yaml"
        path.write_text(yaml.safe_dump(config, sort_keys=False))
        with cloudcat.open_catalog(path) as catalog:
            result = catalog.refresh()
            assert result.exit_code == 0, [s.error for s in result.statuses]
            yield {"catalog": catalog, "config": path, "bleu": bleu}


def test_bleu_lists_compute_images_and_locations_with_eur_retail_prices(story: dict[str, Any]) -> None:
    catalog = story["catalog"]
    offers = list(catalog.offers(brand="bleu"))
    kinds = {o.kind.value for o in offers}
    assert kinds == {"compute", "image", "location"}
    assert {o.name for o in offers if o.kind.value == "location"} == {"francecentral", "francesouth"}
    d4 = catalog.get("bleu/compute/francecentral/Standard_D4s_v5")
    assert (d4.vcpus, d4.memory_mib, d4.family, d4.generation, d4.country) == (4, 16384, "Dsv5", "v5", "FR")
    assert d4.price is not None
    assert (d4.price.currency, d4.price.unit, d4.price.source) == ("EUR", "hour", "azure-retail-prices")
    assert d4.price.effective_from == dt.date(2024, 11, 1)
    assert d4.price.amount == Decimal("0.212175")  # 0.23 USD × 0.9225, as the price API converts it
    retail = d4.extras["retail"]  # the other meters of the size: Windows, Spot, a one-year reservation
    assert retail["product"] == "Virtual Machines Dsv5 Series"
    assert retail["windows_hour"].endswith(" EUR") and retail["spot_hour"].endswith(" EUR")
    assert Decimal(retail["reservation_1_year"].split()[0]) > d4.price.amount * 1000
    south = catalog.get("bleu/compute/francesouth/Standard_D4s_v5")
    assert south.price is not None and south.price.amount > d4.price.amount
    arm = catalog.get("bleu/compute/francecentral/Standard_D64ps_v5")
    assert arm.architecture == "aarch64" and arm.price is not None
    assert arm.price.effective_from == dt.date(2024, 4, 1)
    # a size the retail API does not price: libcloud's data, in USD, dated by that data
    d2v2 = catalog.get("bleu/compute/francecentral/Standard_D2_v2")
    assert d2v2.price is not None
    assert (d2v2.price.currency, d2v2.price.source) == ("USD", "libcloud-pricing")
    images = {o.name: o for o in offers if o.kind.value == "image" and o.region == "francecentral"}
    assert set(images) == {"Canonical:0001-com-ubuntu-server-jammy:22_04-lts-gen2:latest",
                           "RedHat:RHEL:9-lvm-gen2:latest",
                           "MicrosoftWindowsServer:WindowsServer:2022-datacenter-azure-edition:latest"}
    # Debian is not in the configured set: the listing is bounded; one offer per SKU, its latest version in extras
    ubuntu = images["Canonical:0001-com-ubuntu-server-jammy:22_04-lts-gen2:latest"]
    assert (ubuntu.os_family, ubuntu.os_version) == ("ubuntu", "22.04")
    assert ubuntu.extras["version"] == "22.04.202411050"
    assert ubuntu.extras["versions"] == ["22.04.202410020", "22.04.202411050"]


def test_flexible_engine_to_bleu_is_planned_as_to_cloud_avenue(story: dict[str, Any]) -> None:
    catalog = story["catalog"]
    to_bleu = catalog.plan_migration("flexible-engine", "bleu", INVENTORY)
    to_cav = catalog.plan_migration("flexible-engine", "cloud-avenue", INVENTORY)
    for plan in (to_bleu, to_cav):
        assert [line.item for line in plan.lines] == ["web front", "app servers", "batch"]
        assert not plan.gaps, [line.gap_reason for line in plan.gaps]
    by_item = {line.item: line for line in to_bleu.lines}
    web = by_item["web front"]
    assert web.target is not None and web.target.startswith("bleu/compute/france")
    target = catalog.get(web.target)
    assert target.vcpus is not None and target.vcpus >= 2
    assert target.memory_mib is not None and target.memory_mib >= 4096
    assert web.currency == "EUR" and web.currency_after == "EUR"
    assert web.monthly_after is not None and web.difference is not None
    app = by_item["app servers"]
    assert app.target is not None and catalog.get(app.target).vcpus == 4
    assert all(line.target and line.target.startswith("cloud-avenue/") for line in to_cav.lines)


def test_cli_plans_flexible_engine_to_bleu(story: dict[str, Any], tmp_path: Path) -> None:
    inventory = tmp_path / "inventory.json"
    inventory.write_text(json.dumps([line.model_dump(mode="json") for line in INVENTORY]))
    proc = subprocess.run([sys.executable, "-m", "cloudcat.cli", "plan", "--config", str(story["config"]),
                           "--from", "flexible-engine", "--to", "bleu", "--inventory", str(inventory),
                           "--offline", "--format", "json"],
                          capture_output=True, text=True, timeout=120, check=False)
    assert proc.returncode == 0, proc.stderr
    plan = json.loads(proc.stdout)
    assert [line["target"].split("/")[:2] for line in plan["lines"]] == [["bleu", "compute"]] * 3
