"""The OpenStack driver maps Huawei's flavor keys into the typed platform facts of the offer model.

Read from the mocked Flexible Engine over loopback: ``cond:operation:status`` and
``cond:operation:az`` become ``sale_status`` (region-wide) and ``zone_status`` (per zone):
``normal``/``obt``/``promotion`` orderable, ``sellout`` sold out, ``abandon`` withdrawn;
``ecs:generation`` becomes ``generation``; the flavor name's prefix (``s3`` of ``s3.large.2``)
becomes ``family``. The core reads those facts only: a plan through the CLI names the zone a
partly sold-out flavor can still be ordered in.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml
from cloudcat_openstack.driver import OpenStackDriver, flavor_family, flavor_sale_status, sale_status_of

from cloudcat.models import Item, Kind, SaleStatus
from cloudcat.testing import MockHandle, mock

ORDERABLE, SOLD_OUT, WITHDRAWN = SaleStatus.ORDERABLE, SaleStatus.SOLD_OUT, SaleStatus.WITHDRAWN


def flavors(m: MockHandle, region: str) -> dict[str, Item]:
    driver = OpenStackDriver(m.backend["options"], backend="fe")
    return {item.name: item for item in driver.items(Kind.COMPUTE, region)}


def test_flexible_engine_flavors_carry_sale_status_family_and_generation(fe_fixture: dict[str, Any]) -> None:
    with mock("openstack", "flexible-engine") as m:
        west0, west1 = flavors(m, "eu-west-0"), flavors(m, "eu-west-1")

    # cond:operation:az "eu-west-0a(sellout),eu-west-0b(normal),eu-west-0c(sellout)"
    s3 = west0["s3.8xlarge.4"]
    assert (s3.family, s3.generation, s3.sale_status) == ("s3", "s3", ORDERABLE)
    assert s3.zone_status == {"eu-west-0a": SOLD_OUT, "eu-west-0b": ORDERABLE, "eu-west-0c": SOLD_OUT}
    # "eu-west-0a(normal),eu-west-0b(sellout),eu-west-0c(abandon)"
    assert west0["s6.4xlarge.4"].zone_status == {"eu-west-0a": ORDERABLE, "eu-west-0b": SOLD_OUT,
                                                 "eu-west-0c": WITHDRAWN}
    # promotion is orderable
    assert west0["c6.4xlarge.4"].sale_status == ORDERABLE
    assert set(west0["c6.4xlarge.4"].zone_status.values()) == {ORDERABLE}
    # sold out, or abandoned, for the whole region
    c3 = west0["c3.8xlarge.4"]
    assert c3.sale_status == SOLD_OUT and set(c3.zone_status.values()) == {SOLD_OUT}
    assert west0["m3.large.8"].sale_status == WITHDRAWN
    assert west0["s1.medium"].sale_status == WITHDRAWN
    # eu-west-1: the per-zone spec names eu-west-0's zones only; the flavor-level status applies
    assert west1["s3.8xlarge.4"].zone_status == {"eu-west-1a": ORDERABLE, "eu-west-1b": ORDERABLE}
    assert west1["c3.8xlarge.4"].zone_status == {"eu-west-1a": SOLD_OUT, "eu-west-1b": SOLD_OUT}

    # Huawei documents these in ECS v1's os_extra_specs (GET /v1/{project_id}/cloudservers/flavors),
    # where the fixture has them, not in Nova's extra specs
    specs = {f["name"]: {**f.get("extra_specs", {}), **f.get("os_extra_specs", {})} for f in fe_fixture["flavors"]}
    for region, items in (("eu-west-0", west0), ("eu-west-1", west1)):
        for name, item in items.items():
            # every flavor: the family is the name's prefix, the generation Huawei's ecs:generation
            assert item.family == name.split(".")[0], name
            assert item.generation == specs[name].get("ecs:generation"), name
            assert item.sale_status == sale_status_of(specs[name].get("cond:operation:status")), name
            # the zones listed as orderable are those whose typed status is orderable
            assert sorted(item.zones) == sorted(z for z, s in item.zone_status.items() if s == ORDERABLE), \
                (region, name)
            # the platform's own words stay in extras for users who want them
            assert item.extras.get("sale_status") == specs[name].get("cond:operation:status")


def test_cloudwatt_flavors_without_huawei_keys_say_nothing_of_sale_status() -> None:
    with mock("openstack", "cloudwatt") as m:
        fr1 = flavors(m, "fr1")
    standard = fr1["n1.cw.standard-1"]
    assert (standard.family, standard.generation, standard.sale_status, standard.zone_status) == \
        ("n1", None, None, {})
    assert {item.family for item in fr1.values()} >= {"t1", "s1", "n1", "i2"}


@pytest.mark.parametrize(("state", "status"), [
    ("normal", ORDERABLE), ("obt", ORDERABLE), ("Promotion", ORDERABLE), ("sellout", SOLD_OUT),
    ("obt_sellout", SOLD_OUT), (" abandon ", WITHDRAWN), ("unknown-word", None), ("", None), (None, None),
])
def test_huawei_sale_states(state: str | None, status: SaleStatus | None) -> None:
    assert sale_status_of(state) == status


def test_a_zone_listed_orderable_overrides_a_flavor_level_sellout() -> None:
    # the zone list wins over the flavor-level status for the zones it names (tf-flexibleengine reads it so)
    overall, zones = flavor_sale_status({"cond:operation:status": "sellout"}, {"a": "normal", "b": "sellout"})
    assert (overall, zones) == (ORDERABLE, {"a": ORDERABLE, "b": SOLD_OUT})
    overall, zones = flavor_sale_status({"cond:operation:status": "abandon"}, {"a": "abandon", "b": "odd"})
    assert (overall, zones) == (WITHDRAWN, {"a": WITHDRAWN})  # an unknown word says nothing
    assert flavor_sale_status({}, {}) == (None, {})
    assert (flavor_family("s3.large.2"), flavor_family("m1"), flavor_family(".x")) == ("s3", None, None)


def test_a_plan_to_flexible_engine_orders_where_the_flavor_is_not_sold_out(tmp_path: Path) -> None:
    """Through the CLI: a 32 vCPU / 128 GiB server moves to the only flavor that fits and is on sale,
    ``s3.8xlarge.4``, orderable in eu-west-0b only (sold out in a and c); ``c3.8xlarge.4``, sold out
    in the whole region, is never chosen."""
    (tmp_path / "source.yaml").write_text(yaml.safe_dump({"items": [
        {"kind": "compute", "name": "big", "region": "dc1", "vcpus": 32, "memory_mib": 131072}]}))
    with mock("openstack", "flexible-engine") as m:
        options = {**m.backend["options"], "cloudkitty": False, "regions": ["eu-west-0"]}
        config = {"backends": {"fe": {**m.backend, "options": options},
                               "src": {"driver": "static", "options": {"paths": ["source.yaml"]}}},
                  "brands": {"fe-brand": {"backend": "fe"}, "src-brand": {"backend": "src"}},
                  "store": str(tmp_path / "catalog.db")}
        (tmp_path / "cloudcat.yaml").write_text(yaml.safe_dump(config))
        run = subprocess.run([sys.executable, "-m", "cloudcat.cli", "plan", "-c", "cloudcat.yaml", "--from",
                              "src-brand", "--to", "fe-brand", "--format", "json"],
                             cwd=tmp_path, capture_output=True, text=True, timeout=120, check=False)
    assert run.returncode == 0, run.stderr
    (line,) = json.loads(run.stdout)["lines"]
    assert line["target"] == "fe-brand/compute/eu-west-0/s3.8xlarge.4"
    assert "orderable in eu-west-0b" in line["reasons"]
    assert "fe-brand/compute/eu-west-0/c3.8xlarge.4" not in line["alternatives"]
