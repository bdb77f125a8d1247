"""The migration planner: properties on generated catalogs, and Flexible Engine → Cloud Avenue examples.

The properties check the planner against an oracle written here from the rules (what a target
must meet, what it costs), independent of the planner's index and search.
"""

from __future__ import annotations

import datetime as dt
import itertools
import json
from collections import defaultdict
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cloudcat.errors import ConfigError
from cloudcat.models import FlexibleSizing, Gpu, Kind, Lifecycle, Offer, Price, SaleStatus
from cloudcat.planner import (
    InventoryLine,
    Plan,
    PlanLine,
    monthly_price,
    offer_family,
    plan_migration,
    read_inventory,
)

READ_AT = dt.datetime(2025, 3, 1, tzinfo=dt.UTC)
DAY = dt.date(2025, 3, 1)


def offer(brand: str, kind: str, name: str, region: str = "eu-west-0", **fields: Any) -> Offer:
    return Offer(id=f"{brand}/{kind}/{region}/{name}", brand=brand, kind=kind, name=name, region=region,
                 backend=brand, driver="static", read_at=READ_AT, **fields)


def eur(amount: str, unit: str = "hour", currency: str = "EUR") -> Price:
    return Price(amount=Decimal(amount), currency=currency, unit=unit)


# --------------------------------------------------------------------------- realistic catalogs

def flexible_engine() -> list[Offer]:
    """Flexible Engine (eu-west-0) offers in use, names and shapes from the platform reference.

    Platform facts as the OpenStack driver fills them (family and generation, sale status per zone).
    """
    orderable = {zone: SaleStatus.ORDERABLE for zone in ("eu-west-0a", "eu-west-0b", "eu-west-0c")}
    return [
        offer("fe", "compute", "s3.large.2", vcpus=2, memory_mib=4096, price=eur("0.0612"),
              family="s3", generation="s3", zone_status=orderable),
        offer("fe", "compute", "s3.large.4", vcpus=2, memory_mib=8192, price=eur("0.0834")),
        offer("fe", "compute", "s3.xlarge.4", vcpus=4, memory_mib=16384, price=eur("0.1668")),
        offer("fe", "compute", "c6.2xlarge.2", vcpus=8, memory_mib=16384, price=eur("0.3220")),
        offer("fe", "compute", "g1.xlarge", vcpus=4, memory_mib=8192, price=eur("0.9500"),
              gpu=Gpu(model="NVIDIA M60", count=0.125, memory_mib=1024)),
        offer("fe", "image", "OBS Ubuntu 22.04", os_family="Ubuntu", os_version="22.04"),
        offer("fe", "image", "OBS CentOS 7.4", os_family="CentOS", os_version="7.4"),
        offer("fe", "storage", "SSD", storage_class="SSD", iops=3000, price=eur("0.16", "GiB-month")),
        offer("fe", "storage", "SATA", storage_class="SATA", iops=500, price=eur("0.05", "GiB-month")),
        offer("fe", "network", "admin_external_net", bandwidth_mbps=300),
    ]


def cloud_avenue(labels: tuple[str, ...] = ("secnumcloud",)) -> list[Offer]:
    """Cloud Avenue: flexible VDC offers (ECO/STD/HP), storage classes, Orange-Linux templates."""

    def vdc(cls: str, cpu: str, gib: str) -> Offer:
        return offer("cav", "compute", f"{cls}-PAYG", region="fr-paris", labels=list(labels),
                     family=cls, extras={"service_class": cls, "billing_model": "PAYG"},
                     flexible=FlexibleSizing(vcpus_max=256, memory_mib_max=5120 * 1024, memory_step_mib=4,
                                             price_per_vcpu=eur(cpu, "vcpu-hour"),
                                             price_per_gib_memory=eur(gib, "GiB-hour")))

    def storage(name: str, iops: int, amount: str) -> Offer:
        return offer("cav", "storage", name, region="fr-paris", storage_class=name.split("_")[0], iops=iops,
                     labels=list(labels), price=eur(amount, "GiB-month"))

    def template(name: str, family: str, version: str) -> Offer:
        return offer("cav", "image", name, region="fr-paris", os_family=family, os_version=version,
                     labels=list(labels))

    return [
        vdc("ECO", "0.0100", "0.0040"), vdc("STD", "0.0150", "0.0050"), vdc("HP", "0.0220", "0.0060"),
        storage("silver", 600, "0.08"), storage("gold", 1000, "0.12"),
        storage("platinum3k", 3000, "0.21"), storage("platinum7k", 7000, "0.35"),
        template("UBUNTU_22.04", "ubuntu", "22.04"), template("UBUNTU_24.04", "ubuntu", "24.04"),
        template("debian_10_X64", "debian", "10"),
    ]


def line_for(plan: Plan, name: str) -> PlanLine:
    matches = [line for line in plan.lines if line.source_name == name or line.source == name]
    assert len(matches) == 1, [line.source for line in plan.lines]
    return matches[0]


def test_flexible_engine_to_cloud_avenue() -> None:
    plan = plan_migration(flexible_engine(), cloud_avenue(), require_labels=["SecNumCloud"],
                          source="Flexible Engine", target="Cloud Avenue", day=DAY)
    # network offers are not planned without an inventory: compute, storage and images are
    assert {line.kind for line in plan.lines} == {"compute", "image", "storage"}
    assert len(plan.lines) == 9

    s3 = line_for(plan, "s3.large.2")
    assert s3.target == "cav/compute/fr-paris/ECO-PAYG"
    assert (s3.target_vcpus, s3.target_memory_mib) == (2, 4096)
    assert s3.alternatives == ["cav/compute/fr-paris/STD-PAYG", "cav/compute/fr-paris/HP-PAYG"]
    # 730 h x 0.0612 before; after = 730 x (2 x 0.01 + 4 x 0.004)
    assert s3.monthly_before == Decimal("44.676")
    assert s3.monthly_after == Decimal("26.28")
    assert s3.difference == Decimal("26.28") - Decimal("44.676")
    assert s3.currency == "EUR" and s3.gap_reason is None
    assert "flexible offer sized to 2 vCPU / 4096 MiB" in s3.reasons
    assert s3.family == "s3"

    c6 = line_for(plan, "c6.2xlarge.2")
    assert (c6.target_vcpus, c6.target_memory_mib) == (8, 16384)
    assert c6.monthly_after == Decimal(730) * (8 * Decimal("0.01") + 16 * Decimal("0.004"))

    gpu = line_for(plan, "g1.xlarge")
    assert gpu.target is None and gpu.gap_reason == "no GPU offer"
    assert gpu.monthly_before == Decimal("693.5") and gpu.monthly_after is None

    ubuntu = line_for(plan, "OBS Ubuntu 22.04")
    assert ubuntu.target == "cav/image/fr-paris/UBUNTU_22.04"
    assert ubuntu.reasons[:2] == ["source price unknown", "price unknown"] and ubuntu.monthly_after is None
    centos = line_for(plan, "OBS CentOS 7.4")
    assert centos.target is None and centos.gap_reason == "no image for OS centos 7.4"

    ssd = line_for(plan, "SSD")
    assert ssd.target == "cav/storage/fr-paris/platinum3k"
    assert ssd.alternatives == ["cav/storage/fr-paris/platinum7k"]
    assert line_for(plan, "SATA").target == "cav/storage/fr-paris/silver"

    total = plan.totals["EUR"]
    assert total.before == sum(line.monthly_before for line in plan.lines if line.monthly_before is not None)
    assert total.after == sum(line.monthly_after for line in plan.lines if line.monthly_after is not None)
    assert total.difference == sum(line.difference for line in plan.lines if line.difference is not None)
    assert len(plan.gaps) == 2


def test_json_contract() -> None:
    inventory = [InventoryLine(item="web", offer="s3.large.2", quantity=12),
                 InventoryLine(item="render", offer="fe/compute/eu-west-0/g1.xlarge", quantity=2,
                               hours_per_month=Decimal(200))]
    plan = plan_migration(flexible_engine(), cloud_avenue(), inventory, source="fe", target="cav", day=DAY)
    data = json.loads(json.dumps(plan.to_json()))
    assert set(data) >= {"lines", "totals"}
    web, render = data["lines"]
    for line in data["lines"]:
        assert set(line) >= {"source", "quantity", "target", "alternatives", "monthly_before", "monthly_after",
                             "currency", "gap_reason"}
    assert web["source"] == "fe/compute/eu-west-0/s3.large.2" and web["quantity"] == 12
    assert web["target"] == "cav/compute/fr-paris/ECO-PAYG"
    assert web["monthly_before"] == "536.11"  # 12 x 730 x 0.0612 = 536.112, money rounded to the cent
    assert web["monthly_after"] == "315.36"
    assert render["target"] is None and render["gap_reason"] == "no GPU offer"
    assert render["monthly_before"] == "380.00"  # 2 x 200 h x 0.95
    assert data["totals"] == {"EUR": {"before": "916.11", "after": "315.36", "difference": "-220.75"}}
    rows = plan.rows()
    assert rows[0]["alternatives"] == "cav/compute/fr-paris/STD-PAYG; cav/compute/fr-paris/HP-PAYG"
    assert rows[1]["target"] == ""


def test_label_missing_is_a_gap_naming_the_label() -> None:
    plan = plan_migration(flexible_engine(), cloud_avenue(), require_labels=["hds"], day=DAY)
    s3 = line_for(plan, "s3.large.2")
    assert s3.target is None and s3.gap_reason == "label hds missing"
    plan = plan_migration(flexible_engine(), cloud_avenue(labels=()), require_labels=["secnumcloud", "hds"],
                          day=DAY)
    assert line_for(plan, "SSD").gap_reason == "labels hds, secnumcloud missing"


def test_sold_out_in_every_zone_and_one_open_zone() -> None:
    sold_out = offer("fe2", "compute", "s6.large.2", vcpus=2, memory_mib=4096, price=eur("0.05"),
                     zones=["eu-west-0a", "eu-west-0b"],
                     zone_status={"eu-west-0a": SaleStatus.SOLD_OUT, "eu-west-0b": SaleStatus.WITHDRAWN})
    plan = plan_migration(flexible_engine()[:1], [sold_out], day=DAY)
    assert plan.lines[0].gap_reason == "sold out in every zone"

    one_open = sold_out.model_copy(update={"zone_status": {"eu-west-0a": SaleStatus.SOLD_OUT,
                                                           "eu-west-0b": SaleStatus.ORDERABLE}})
    plan = plan_migration(flexible_engine()[:1], [one_open], day=DAY)
    assert plan.lines[0].target == one_open.id
    assert "orderable in eu-west-0b" in plan.lines[0].reasons

    # zones named only by their status; a zone without a status is orderable
    unnamed = one_open.model_copy(update={"zones": [], "zone_status": {"eu-west-0a": SaleStatus.SOLD_OUT}})
    assert plan_migration(flexible_engine()[:1], [unnamed], day=DAY).lines[0].gap_reason == "sold out in every zone"
    silent = one_open.model_copy(update={"zone_status": {"eu-west-0a": SaleStatus.SOLD_OUT}})
    assert "orderable in eu-west-0b" in plan_migration(flexible_engine()[:1], [silent], day=DAY).lines[0].reasons

    for status in (SaleStatus.SOLD_OUT, SaleStatus.WITHDRAWN):
        region_wide = one_open.model_copy(update={"sale_status": status})
        plan = plan_migration(flexible_engine()[:1], [region_wide], day=DAY)
        assert plan.lines[0].gap_reason == "sold out in every zone"
    orderable = one_open.model_copy(update={"sale_status": SaleStatus.ORDERABLE})
    assert plan_migration(flexible_engine()[:1], [orderable], day=DAY).lines[0].target == orderable.id


def test_platform_keys_in_extras_are_not_read() -> None:
    """Sale status and family come from the typed facts drivers fill, never from a backend's keys."""
    huawei = offer("fe2", "compute", "s6.large.2", vcpus=2, memory_mib=4096, price=eur("0.05"),
                   zones=["eu-west-0a"],
                   extras={"cond:operation:status": "sellout", "cond:operation:az": "eu-west-0a(sellout)",
                           "zone_status": {"eu-west-0a": "sellout"}, "ecs:generation": "x9",
                           "os_extra_specs": {"cond:operation:status": "abandon"}, "family": "y1",
                           "service_class": "STD", "vdcServiceClass": "STD"})
    plan = plan_migration([huawei], [huawei], day=DAY)
    assert plan.lines[0].target == huawei.id and "orderable in eu-west-0a" in plan.lines[0].reasons
    assert plan.lines[0].family == offer_family(huawei) == "s6"


def test_end_of_sale_is_not_orderable_from_its_date() -> None:
    cheap = offer("fe2", "compute", "s3.large.2", vcpus=2, memory_mib=4096, price=eur("0.01"),
                  lifecycle=Lifecycle(end_of_sale=dt.date(2025, 6, 1), successor="fe2/compute/eu-west-0/s6.large.2"))
    dear = offer("fe2", "compute", "s6.large.2", vcpus=2, memory_mib=4096, price=eur("0.02"))
    source = flexible_engine()[:1]
    assert plan_migration(source, [cheap, dear], day=dt.date(2025, 5, 31)).lines[0].target == cheap.id
    assert plan_migration(source, [cheap, dear], day=dt.date(2025, 6, 1)).lines[0].target == dear.id
    gap = plan_migration(source, [cheap], day=dt.date(2025, 6, 1)).lines[0]
    assert gap.gap_reason == "no matching offer on sale (end of sale or end of life)"


def test_gpu_count_and_memory() -> None:
    # g1.4xlarge: 16 vCPU / 32 GiB, a quarter of an M60 with 4 GiB of video memory
    g1 = offer("fe", "compute", "g1.4xlarge", vcpus=16, memory_mib=32768, price=eur("3.8"),
               gpu=Gpu(model="NVIDIA M60", count=0.25, memory_mib=4096))
    small_vram = offer("t", "compute", "gpu.small", vcpus=16, memory_mib=32768, price=eur("1.0"),
                       gpu=Gpu(count=1, memory_mib=1024))
    slice_only = offer("t", "compute", "gpu.slice", vcpus=16, memory_mib=32768, price=eur("0.5"),
                       gpu=Gpu(count=0.125, memory_mib=8192))
    big = offer("t", "compute", "gpu.big", vcpus=16, memory_mib=65536, price=eur("2.5"),
                gpu=Gpu(count=0.5, memory_mib=8192))
    plan = plan_migration([g1], [small_vram, slice_only, big], day=DAY)
    assert plan.lines[0].target == big.id and plan.lines[0].alternatives == []
    assert "0.5 GPU meets 0.25" in plan.lines[0].reasons
    plan = plan_migration([g1], [small_vram, slice_only], day=DAY)
    assert plan.lines[0].gap_reason == \
        "no GPU offer with ≥ 0.25 GPU / 4096 MiB GPU memory and ≥ 16 vCPU / 32768 MiB"


def test_too_small_and_wrong_architecture() -> None:
    small = offer("t", "compute", "s6.small.1", vcpus=1, memory_mib=1024, price=eur("0.01"))
    arm = offer("t", "compute", "km1.2xlarge.4", vcpus=8, memory_mib=32768, price=eur("0.2"),
                architecture="aarch64")
    plan = plan_migration(flexible_engine(), [small], [InventoryLine(offer="c6.2xlarge.2")], day=DAY)
    assert plan.lines[0].gap_reason == "no offer with ≥ 8 vCPU / 16384 MiB"
    plan = plan_migration(flexible_engine(), [small, arm], [InventoryLine(offer="c6.2xlarge.2")], day=DAY)
    assert plan.lines[0].gap_reason == "no x86_64 offer with ≥ 8 vCPU / 16384 MiB"


def test_unpriced_target_is_kept_with_unknown_after() -> None:
    unpriced = offer("t", "compute", "s3.large.2", vcpus=2, memory_mib=4096)
    plan = plan_migration(flexible_engine(), [unpriced], [InventoryLine(offer="s3.large.2", quantity=3)], day=DAY)
    line = plan.lines[0]
    assert line.target == unpriced.id and line.gap_reason is None
    assert line.monthly_after is None and line.difference is None and "price unknown" in line.reasons
    assert plan.totals["EUR"].after == 0 and plan.totals["EUR"].difference == 0
    # a priced acceptable offer wins over an unpriced one, however named
    priced = offer("t", "compute", "zz.large.2", vcpus=4, memory_mib=8192, price=eur("9"))
    assert plan_migration(flexible_engine(), [unpriced, priced], [InventoryLine(offer="s3.large.2")],
                          day=DAY).lines[0].target == priced.id


def test_currencies_are_never_added() -> None:
    usd = offer("bleu", "compute", "Standard_D2s_v5", vcpus=2, memory_mib=8192, price=eur("0.096", currency="USD"),
                family="Dsv5")
    chf = offer("fe", "compute", "s3.large.4", region="ch-1", vcpus=2, memory_mib=8192,
                price=eur("0.09", currency="CHF"))
    plan = plan_migration([*flexible_engine(), chf], [usd],
                          [InventoryLine(offer="fe/compute/eu-west-0/s3.large.2", quantity=2),
                           InventoryLine(offer="fe/compute/ch-1/s3.large.4")], day=DAY)
    eur_line, chf_line = plan.lines
    assert eur_line.target == usd.id and eur_line.currency == "EUR" and eur_line.currency_after == "USD"
    assert eur_line.difference is None
    assert chf_line.target == usd.id and (chf_line.currency, chf_line.currency_after) == ("CHF", "USD")
    assert any("priced in USD, source in EUR" in reason for reason in eur_line.reasons)
    assert set(plan.totals) == {"EUR", "USD", "CHF"}
    assert plan.totals["EUR"].before == Decimal("89.352") and plan.totals["EUR"].after == 0
    assert plan.totals["USD"].before == 0
    assert plan.totals["USD"].after == Decimal("140.16") + Decimal("70.08")
    assert plan.totals["CHF"].before == Decimal("65.7")
    assert all(t.difference == 0 for t in plan.totals.values())
    assert offer_family(usd) == "Dsv5"


def test_source_currency_is_preferred() -> None:
    usd = offer("t", "compute", "cheap.usd", vcpus=2, memory_mib=4096, price=eur("0.01", currency="USD"))
    eur_offer = offer("t", "compute", "dear.eur", vcpus=2, memory_mib=4096, price=eur("0.05"))
    line = plan_migration(flexible_engine(), [usd, eur_offer], [InventoryLine(offer="s3.large.2")],
                          day=DAY).lines[0]
    assert line.target == eur_offer.id and line.alternatives == [usd.id]
    assert line.difference == Decimal("36.5") - Decimal("44.676")


def test_inventory_by_name_region_and_unknown() -> None:
    west1 = offer("fe", "compute", "s3.large.2", region="eu-west-1", vcpus=2, memory_mib=4096, price=eur("0.07"))
    sources = [*flexible_engine(), west1]
    plan = plan_migration(sources, cloud_avenue(), [
        InventoryLine(item="a", offer="s3.large.2", region="eu-west-1"),
        InventoryLine(item="b", offer="s3.large.2"),
        InventoryLine(item="c", offer="s9.huge.1", quantity=4),
    ], day=DAY)
    a, b, c = plan.lines
    assert a.source == west1.id and a.monthly_before == Decimal("51.10")
    assert b.source == "fe/compute/eu-west-0/s3.large.2"
    assert "name 's3.large.2' matches 2 source offers; planned as fe/compute/eu-west-0/s3.large.2" in b.reasons
    assert c.target is None and c.source == "s9.huge.1" and c.gap_reason == "offer 's9.huge.1' not found at source"
    assert c.quantity == 4 and c.family == "unknown"


def test_storage_per_gib_and_hours() -> None:
    plan = plan_migration(flexible_engine(), cloud_avenue(), [
        InventoryLine(item="db", offer="SSD", size_gib=Decimal(500), quantity=2),
        InventoryLine(item="batch", offer="s3.large.2", hours_per_month=Decimal(100)),
    ], day=DAY)
    db, batch = plan.lines
    assert db.monthly_before == Decimal("160.00") and db.monthly_after == Decimal("210.00")
    assert db.difference == Decimal("50.00")
    assert batch.monthly_before == Decimal("6.12")
    assert batch.monthly_after == Decimal(100) * (2 * Decimal("0.01") + 4 * Decimal("0.004"))


def test_flexible_source_sized_from_inventory() -> None:
    cav = cloud_avenue()
    fixed = offer("fe", "compute", "s3.xlarge.4", region="eu-west-0", vcpus=4, memory_mib=16384, price=eur("0.1"))
    line = plan_migration(cav, [fixed], [InventoryLine(offer="STD-PAYG", vcpus=4, memory_mib=16000)],
                          day=DAY).lines[0]
    assert line.target == fixed.id
    assert line.monthly_before == Decimal(730) * (4 * Decimal("0.015") + Decimal(16000) / 1024 * Decimal("0.005"))
    assert line.monthly_after == Decimal(73)


def test_hours_decide_between_hourly_and_monthly_prices() -> None:
    hourly = offer("t", "compute", "s6.large.2", vcpus=2, memory_mib=4096, price=eur("0.10"))
    monthly = offer("t", "compute", "s6.large.2.reserved", vcpus=2, memory_mib=4096, price=eur("50", "month"))
    plan = plan_migration(flexible_engine(), [hourly, monthly], [
        InventoryLine(item="always on", offer="s3.large.2"),
        InventoryLine(item="office hours", offer="s3.large.2", hours_per_month=Decimal("100.5")),
        InventoryLine(item="stopped", offer="s3.large.2", hours_per_month=Decimal(0)),
    ], day=DAY)
    always, office, stopped = plan.lines
    assert (always.target, always.monthly_after) == (monthly.id, Decimal(50))  # 73.00 hourly
    assert (office.target, office.monthly_after) == (hourly.id, Decimal("10.050"))
    assert office.alternatives == [monthly.id]
    assert (stopped.target, stopped.monthly_after, stopped.monthly_before) == (hourly.id, Decimal(0), Decimal(0))


def test_metered_hours_share_one_search_and_scale_exactly() -> None:
    targets = cloud_avenue()
    hours = [Decimal(h) / 10 for h in range(1, 7441, 37)]
    plan = plan_migration(flexible_engine(), targets,
                          [InventoryLine(offer="s3.large.2", hours_per_month=h) for h in hours], day=DAY)
    per_hour = 2 * Decimal("0.01") + 4 * Decimal("0.004")
    for h, line in zip(hours, plan.lines, strict=True):
        assert line.target == "cav/compute/fr-paris/ECO-PAYG"
        assert line.monthly_after == per_hour * h and line.monthly_before == Decimal("0.0612") * h


def test_network_and_location_inventory_lines() -> None:
    location = offer("fe", "location", "eu-west-0")
    wan = offer("t", "network", "VRF_STANDARD", bandwidth_mbps=300, price=eur("120", "month"))
    premium = offer("t", "network", "VRF_PREMIUM", bandwidth_mbps=1000, price=eur("400", "month"))
    plan = plan_migration([*flexible_engine(), location], [wan, premium], [
        InventoryLine(offer="admin_external_net"), InventoryLine(offer="fe/location/eu-west-0/eu-west-0")],
        day=DAY)
    net, loc = plan.lines
    assert net.target == wan.id and net.alternatives == [premium.id]
    assert loc.target is None and loc.gap_reason == "location offers are not planned"
    faster = flexible_engine()[-1].model_copy(update={"bandwidth_mbps": 2000})
    gap = plan_migration([faster], [wan, premium], [InventoryLine(offer=faster.id)], day=DAY).lines[0]
    assert gap.gap_reason == "no network offer with ≥ 2000 Mbit/s"


def test_monthly_price_units() -> None:
    base = offer("t", "compute", "x", vcpus=1, memory_mib=1024)
    assert monthly_price(base) is None
    assert monthly_price(base.model_copy(update={"price": eur("0.5")}), 100) == Decimal("50.0")
    assert monthly_price(base.model_copy(update={"price": eur("40", "month")})) == Decimal(40)
    assert monthly_price(base.model_copy(update={"price": eur("120", "year")})) == Decimal(10)
    assert monthly_price(base.model_copy(update={"price": eur("99", "one-time")})) is None


def test_offer_family() -> None:
    fe = {o.name: o for o in flexible_engine()}
    assert offer_family(fe["s3.large.2"]) == "s3"
    assert offer_family(fe["c6.2xlarge.2"]) == "c6"
    assert offer_family(offer("cw", "compute", "n1.cw.standard-1", vcpus=1, memory_mib=1024)) == "n1"
    assert offer_family(cloud_avenue()[1]) == "STD"
    assert offer_family(fe["SSD"]) == "SSD"
    assert offer_family(fe["OBS Ubuntu 22.04"]) == "Ubuntu"
    # the family a driver filled comes first; without one, a guess that knows no platform
    assert offer_family(offer("fe", "compute", "s3.large.2", family="general")) == "general"
    assert offer_family(offer("bleu", "compute", "Standard_D4s_v5", family="Dsv5")) == "Dsv5"
    assert offer_family(offer("bleu", "compute", "Standard_D4s_v5")) == "Standard"
    assert offer_family(offer("cav", "compute", "STD-PAYG", flexible=FlexibleSizing(
        vcpus_max=4, memory_mib_max=8192))) == "flexible"
    assert offer_family(offer("cav", "storage", "gold_r1", family="gold")) == "gold"
    assert offer_family(offer("fe", "network", "admin_external_net")) == "network"


# --------------------------------------------------------------------------- inventory files

def test_read_inventory_csv_and_json(tmp_path: Path) -> None:
    csv_file = tmp_path / "inventory.csv"
    csv_file.write_text("item,offer,quantity,hours_per_month\nweb,s3.large.2,12,730\n"
                        "render,fe/compute/eu-west-0/g1.xlarge,2,\n", encoding="utf-8")
    lines = read_inventory(csv_file)
    assert lines == [InventoryLine(item="web", offer="s3.large.2", quantity=12, hours_per_month=Decimal(730)),
                     InventoryLine(item="render", offer="fe/compute/eu-west-0/g1.xlarge", quantity=2)]
    json_file = tmp_path / "inventory.json"
    json_file.write_text(json.dumps({"items": [{"item": "db", "offer": "SSD", "size_gib": 500}]}),
                         encoding="utf-8")
    assert read_inventory(json_file) == [InventoryLine(item="db", offer="SSD", size_gib=Decimal(500))]


def test_read_inventory_errors_name_file_line_and_field(tmp_path: Path) -> None:
    csv_file = tmp_path / "inventory.csv"
    csv_file.write_text("item,offer,quantity\nweb,s3.large.2,1\napi,s3.large.2,many\n", encoding="utf-8")
    with pytest.raises(ConfigError) as error:
        read_inventory(csv_file)
    assert error.value.source == str(csv_file) and error.value.line == 3 and error.value.field == "quantity"
    assert f"{csv_file}:3: quantity:" in str(error.value)

    json_file = tmp_path / "inventory.json"
    json_file.write_text(json.dumps([{"offer": "a"}, {"offer": "b", "quantitty": 2}], indent=1), encoding="utf-8")
    with pytest.raises(ConfigError) as error:
        read_inventory(json_file)
    # JSON entries carry their line, as CSV rows do: the second entry starts on line 5
    assert error.value.field == "quantitty" and error.value.line == 5 and error.value.__cause__ is not None
    assert f"{json_file}:5: quantitty:" in str(error.value)

    with pytest.raises(ConfigError, match="cannot read"):
        read_inventory(tmp_path / "missing.csv")


# --------------------------------------------------------------------------- properties

CURRENCIES = ("EUR", "USD")
ARCHES = ("x86_64", "aarch64")
LABELS = ("secnumcloud", "hds")


@st.composite
def prices(draw: st.DrawFn, units: tuple[str, ...] = ("hour", "month")) -> Price | None:
    if draw(st.integers(0, 9)) == 0:
        return None
    cents = draw(st.integers(1, 5000))
    return Price(amount=Decimal(cents) / 1000, currency=draw(st.sampled_from(CURRENCIES)),
                 unit=draw(st.sampled_from(units)))


@st.composite
def compute_offers(draw: st.DrawFn, brand: str, index: int) -> Offer:
    region = draw(st.sampled_from(("r1", "r2")))
    zone_status: dict[str, SaleStatus] = {}
    zones: list[str] = []
    if draw(st.booleans()):
        zones = ["a", "b"]
        zone_status = {zone: draw(st.sampled_from(SaleStatus)) for zone in zones}
    lifecycle = Lifecycle(status=draw(st.sampled_from(("available", "available", "available", "end-of-sale"))))
    common: dict[str, Any] = dict(
        architecture=draw(st.sampled_from((*ARCHES, None))), labels=draw(st.lists(st.sampled_from(LABELS))),
        lifecycle=lifecycle, zones=zones, zone_status=zone_status,
        sale_status=draw(st.sampled_from((None, None, None, *SaleStatus))))
    if brand != "src" and draw(st.integers(0, 5)) == 0:
        currency = draw(st.sampled_from(CURRENCIES))
        unit_period = draw(st.sampled_from(("hour", "month")))
        flexible = FlexibleSizing(
            vcpus_min=draw(st.integers(1, 4)), vcpus_max=draw(st.integers(4, 32)),
            memory_mib_max=draw(st.integers(4096, 65536)), memory_step_mib=draw(st.sampled_from((4, 1024))),
            price_per_vcpu=Price(amount=Decimal(draw(st.integers(1, 50))) / 1000, currency=currency,
                                 unit=f"vcpu-{unit_period}"),
            price_per_gib_memory=Price(amount=Decimal(draw(st.integers(1, 20))) / 1000, currency=currency,
                                       unit=f"GiB-{unit_period}"))
        return offer(brand, "compute", f"flex{index}", region=region, flexible=flexible, **common)
    gpu = None
    if draw(st.integers(0, 2)) == 0:
        gpu = Gpu(count=draw(st.sampled_from((0.125, 0.25, 1, 2))),
                  memory_mib=draw(st.sampled_from((None, 1024, 16384))))
    return offer(brand, "compute", f"c{index}", region=region, vcpus=draw(st.integers(1, 32)),
                 memory_mib=draw(st.integers(1, 64)) * 1024, gpu=gpu, price=draw(prices()), **common)


@st.composite
def other_offers(draw: st.DrawFn, brand: str, index: int) -> Offer:
    if draw(st.booleans()):
        return offer(brand, "storage", f"st{index}", iops=draw(st.sampled_from((None, 500, 600, 1000, 3000))),
                     labels=draw(st.lists(st.sampled_from(LABELS))),
                     price=draw(prices(("GiB-month", "GiB-hour"))))
    return offer(brand, "image", f"img{index}", os_family=draw(st.sampled_from(("ubuntu", "debian"))),
                 os_version=draw(st.sampled_from((None, "22.04", "12"))),
                 labels=draw(st.lists(st.sampled_from(LABELS))), price=draw(prices()))


@st.composite
def catalogs(draw: st.DrawFn, brand: str, max_size: int) -> list[Offer]:
    count = draw(st.integers(0 if brand != "src" else 1, max_size))
    return [draw(compute_offers(brand, i)) if draw(st.integers(0, 3)) else draw(other_offers(brand, i))
            for i in range(count)]


@st.composite
def scenarios(draw: st.DrawFn) -> tuple[list[Offer], list[Offer], list[InventoryLine], list[str]]:
    sources = draw(catalogs("src", 8))
    targets = draw(catalogs("tgt", 25))
    inventory = [InventoryLine(item=f"i{n}", offer=draw(st.sampled_from(sources)).id,
                               quantity=draw(st.integers(0, 5)),
                               hours_per_month=draw(st.sampled_from(
                                   (Decimal(730), Decimal(100), Decimal(0), Decimal("123.4")))))
                 for n in range(draw(st.integers(1, 10)))]
    labels = draw(st.lists(st.sampled_from(LABELS), max_size=1))
    return sources, targets, inventory, labels


# The oracle: the rules, written plainly.

def _sized(source: Offer, target: Offer) -> tuple[int, int] | None:
    assert target.flexible is not None
    return target.flexible.size_for(source.vcpus, source.memory_mib)


def acceptable(source: Offer, target: Offer, labels: list[str]) -> bool:
    if source.kind != target.kind:
        return False
    if source.kind == Kind.COMPUTE:
        if target.flexible is not None:
            if _sized(source, target) is None:
                return False
        elif (target.vcpus or 0) < (source.vcpus or 0) or (target.memory_mib or 0) < (source.memory_mib or 0):
            return False
        if source.gpu is not None:
            if target.gpu is None or target.gpu.count < source.gpu.count:
                return False
            if source.gpu.memory_mib is not None and (target.gpu.memory_mib or 0) < source.gpu.memory_mib:
                return False
        if (source.architecture or "x86_64") != (target.architecture or "x86_64"):
            return False
    elif source.kind == Kind.IMAGE:
        if (target.os_family or "").lower() != (source.os_family or "").lower():
            return False
        if source.os_version is not None and target.os_version != source.os_version:
            return False
    elif source.kind == Kind.STORAGE and source.iops is not None and (target.iops is None or
                                                                      target.iops < source.iops):
        return False
    if not set(labels) <= set(target.labels):
        return False
    if target.lifecycle.status != "available":
        return False
    not_orderable = (SaleStatus.SOLD_OUT, SaleStatus.WITHDRAWN)
    if target.sale_status in not_orderable:
        return False
    status = target.zone_status
    return not (target.zones and all(status.get(z) in not_orderable for z in target.zones))


def unit_cost(source: Offer, target: Offer, hours: Decimal) -> tuple[Decimal, str] | None:
    price = target.price
    if target.flexible is not None:
        size = _sized(source, target)
        price = target.flexible.price_for(*size) if size else None
    if price is None:
        return None
    amount = price.amount * hours if price.unit in ("hour", "GiB-hour") else price.amount
    return amount, price.currency


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(scenarios())
def test_plan_properties(scenario: tuple[list[Offer], list[Offer], list[InventoryLine], list[str]]) -> None:
    sources, targets, inventory, labels = scenario
    plan = plan_migration(sources, targets, inventory, require_labels=labels, day=DAY)
    by_id = {o.id: o for o in targets}
    source_by_id = {o.id: o for o in sources}
    assert len(plan.lines) == len(inventory)
    totals: dict[str, list[Decimal]] = defaultdict(lambda: [Decimal(0)] * 3)
    for inv, line in zip(inventory, plan.lines, strict=True):
        source = source_by_id[inv.offer]
        assert line.source == source.id and line.quantity == inv.quantity
        fits = [t for t in targets if acceptable(source, t, labels)]
        if line.target is None:
            # gaps always have a reason, and really have no acceptable target
            assert line.gap_reason
            assert fits == []
            assert line.alternatives == [] and line.monthly_after is None
            continue
        assert line.gap_reason is None
        chosen = by_id[line.target]
        # the chosen target and the alternatives always meet the requirement
        assert acceptable(source, chosen, labels)
        assert len(line.alternatives) <= 3 and line.target not in line.alternatives
        assert all(acceptable(source, by_id[alt], labels) for alt in line.alternatives)
        assert len(set(line.alternatives)) == len(line.alternatives)
        assert len(line.alternatives) == min(3, len(fits) - 1)
        cost = unit_cost(source, chosen, inv.hours_per_month)
        if cost is None:
            # an unpriced target only when no acceptable offer has a price
            assert all(unit_cost(source, t, inv.hours_per_month) is None for t in fits)
            assert line.monthly_after is None and "price unknown" in line.reasons
        else:
            amount, currency = cost
            assert line.currency_after == currency
            assert line.monthly_after == amount * inv.quantity
            # no cheaper acceptable offer exists in that currency
            for other in fits:
                other_cost = unit_cost(source, other, inv.hours_per_month)
                if other_cost is not None and other_cost[1] == currency:
                    assert other_cost[0] >= amount, (other.id, other_cost, line.target, cost)
            # the source's currency is preferred when an acceptable offer is priced in it
            if source.price is not None and currency != source.price.currency:
                assert all(c is None or c[1] != source.price.currency
                           for c in (unit_cost(source, t, inv.hours_per_month) for t in fits))
        # alternatives follow the target, cheapest first, within a currency
        ranked = [unit_cost(source, by_id[i], inv.hours_per_month) for i in [line.target, *line.alternatives]]
        for first, second in itertools.pairwise(ranked):
            if first is not None and second is not None and first[1] == second[1]:
                assert first[0] <= second[0]
    for line in plan.lines:
        source = source_by_id[line.source]
        if line.monthly_before is not None:
            assert source.price is not None and line.currency == source.price.currency
            totals[source.price.currency][0] += line.monthly_before
        if line.monthly_after is not None:
            totals[line.currency_after or ""][1] += line.monthly_after
        if line.difference is not None:
            # a difference only between amounts of one currency
            assert line.currency == line.currency_after
            assert line.difference == line.monthly_after - line.monthly_before  # type: ignore[operator]
            totals[line.currency or ""][2] += line.difference
        elif line.monthly_before is not None and line.monthly_after is not None:
            assert line.currency != line.currency_after
    # currencies never mix: each total is the sum of its own currency's lines only
    assert set(plan.totals) == set(totals)
    for currency, (before, after, difference) in totals.items():
        assert (plan.totals[currency].before, plan.totals[currency].after,
                plan.totals[currency].difference) == (before, after, difference)
    json.dumps(plan.to_json())
