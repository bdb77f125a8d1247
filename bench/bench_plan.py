"""Benchmark: plan 100,000 inventory lines against 10,000 target offers (goal: under 2 s).

A synthetic but realistically shaped case: a Flexible Engine-style source (``s3.large.2``…
families × sizes × RAM ratios in two regions, GPU ``g1`` flavors, images, EVS volume types) and a
target of 10,000 offers (fixed flavors in many regions and families, some sold out per zone or
at end of sale, some labelled ``secnumcloud``, Cloud Avenue-style flexible pools, storage
classes, images). The inventory draws 100,000 lines from the source offers with varied
quantities and hours. Prints the time of ``plan_migration`` (and of ``Plan.to_json``) and the
ratio to the goal.

Run: ``uv run python bench/bench_plan.py [--lines N] [--targets N] [--repeat N]``.
"""

from __future__ import annotations

import argparse
import datetime as dt
import random
import statistics
import time
from decimal import Decimal

from cloudcat.models import FlexibleSizing, Gpu, Lifecycle, Offer, Price, SaleStatus
from cloudcat.planner import InventoryLine, plan_migration

GOAL_SECONDS = 2.0
READ_AT = dt.datetime(2025, 1, 1, tzinfo=dt.UTC)
SIZES = {"medium": 1, "large": 2, "xlarge": 4, "2xlarge": 8, "3xlarge": 12, "4xlarge": 16,
         "6xlarge": 24, "8xlarge": 32, "16xlarge": 64}
RATIOS = (1, 2, 4, 8)
OS = (("ubuntu", "20.04"), ("ubuntu", "22.04"), ("ubuntu", "24.04"), ("debian", "11"), ("debian", "12"),
      ("centos", "7.6"), ("euleros", "2.5"), ("windows", "2019"))


def _price(amount: float, unit: str = "hour") -> Price:
    return Price(amount=Decimal(str(round(amount, 6))), currency="EUR", unit=unit)


def source_offers(rng: random.Random) -> list[Offer]:
    """Flexible Engine-shaped source catalog."""
    offers: list[Offer] = []
    for region in ("eu-west-0", "eu-west-1"):
        for family in ("s3", "s6", "c3", "c6", "m6", "d2"):
            for size, vcpus in SIZES.items():
                for ratio in RATIOS:
                    name = f"{family}.{size}.{ratio}"
                    offers.append(Offer(
                        id=f"fe/compute/{region}/{name}", brand="fe", kind="compute", name=name,
                        region=region, backend="fe", driver="openstack", read_at=READ_AT,
                        vcpus=vcpus, memory_mib=vcpus * ratio * 1024,
                        price=_price(0.012 * vcpus + 0.004 * vcpus * ratio * rng.uniform(0.9, 1.3))))
        for name, vcpus, fraction in (("g1.xlarge", 4, 0.125), ("g1.2xlarge", 8, 0.125), ("g1.4xlarge", 16, 0.25)):
            offers.append(Offer(
                id=f"fe/compute/{region}/{name}", brand="fe", kind="compute", name=name, region=region,
                backend="fe", driver="openstack", read_at=READ_AT, vcpus=vcpus, memory_mib=vcpus * 2048,
                gpu=Gpu(model="M60", count=fraction), price=_price(0.9 * vcpus / 4)))
        for family, version in OS:
            name = f"OBS {family.title()} {version}"
            offers.append(Offer(
                id=f"fe/image/{region}/{name}", brand="fe", kind="image", name=name, region=region,
                backend="fe", driver="openstack", read_at=READ_AT, os_family=family, os_version=version))
        for volume, iops in (("SATA", 500), ("SAS", 2000), ("SSD", 10000)):
            offers.append(Offer(
                id=f"fe/storage/{region}/{volume}", brand="fe", kind="storage", name=volume, region=region,
                backend="fe", driver="openstack", read_at=READ_AT, storage_class=volume, iops=iops,
                price=_price(0.00005 * iops ** 0.5, "GiB-month")))
    return offers


def target_offers(rng: random.Random, count: int) -> list[Offer]:
    """``count`` target offers: fixed flavors, flexible pools, storage classes, images."""
    offers: list[Offer] = []
    flexible, storage, images = 60, 300, 500
    fixed = count - flexible - storage - images
    families = [f"{letter}{generation}" for letter in "scmrx" for generation in range(1, 6)]
    shapes = [(family, size, vcpus, ratio) for family in families
              for size, vcpus in SIZES.items() for ratio in RATIOS]
    region_count = -(-fixed // len(shapes))
    for index in range(fixed):
        family, size, vcpus, ratio = shapes[index % len(shapes)]
        region = f"fr-{index // len(shapes) % region_count}"
        name = f"{family}.{size}.{ratio}"
        draw = rng.random()
        zone_status: dict[str, SaleStatus] = {}
        lifecycle = Lifecycle()
        if draw < 0.05:
            zone_status = {f"{region}a": SaleStatus.SOLD_OUT, f"{region}b": SaleStatus.SOLD_OUT}
        elif draw < 0.08:
            lifecycle = Lifecycle(status="end-of-sale")
        offers.append(Offer(
            id=f"cav/compute/{region}/{name}", brand="cav", kind="compute", name=name, region=region,
            backend="cav", driver="vcd", read_at=READ_AT, vcpus=vcpus, memory_mib=vcpus * ratio * 1024,
            zones=[f"{region}a", f"{region}b"], labels=["secnumcloud"] if rng.random() < 0.5 else [],
            lifecycle=lifecycle, zone_status=zone_status,
            price=None if rng.random() < 0.02 else
            _price(0.011 * vcpus + 0.0042 * vcpus * ratio * rng.uniform(0.8, 1.4))))
    for index in range(flexible):
        cls = ("ECO", "STD", "HP", "VOIP")[index % 4]
        offers.append(Offer(
            id=f"cav/compute/fr-{index // 4}/{cls}", brand="cav", kind="compute", name=cls,
            region=f"fr-{index // 4}", backend="cav", driver="vcd", read_at=READ_AT, labels=["secnumcloud"],
            family=cls,
            flexible=FlexibleSizing(vcpus_max=64, memory_mib_max=512 * 1024,
                                    price_per_vcpu=_price(rng.uniform(0.012, 0.03), "vcpu-hour"),
                                    price_per_gib_memory=_price(rng.uniform(0.004, 0.008), "GiB-hour"))))
    classes = (("silver", 600), ("gold", 1000), ("platinum3k", 3000), ("platinum7k", 7000))
    for index in range(storage):
        cls, iops = classes[index % len(classes)]
        name = f"{cls}_ocb{index:07d}"
        offers.append(Offer(
            id=f"cav/storage/fr-{index % 15}/{name}", brand="cav", kind="storage", name=name,
            region=f"fr-{index % 15}", backend="cav", driver="vcd", read_at=READ_AT, storage_class=cls,
            iops=iops, price=_price(0.00004 * iops ** 0.5 * rng.uniform(0.9, 1.1), "GiB-month")))
    for index in range(images):
        family, version = OS[index % (len(OS) - 2)]  # no CentOS 7.6 / EulerOS template: image gaps
        name = f"{family.upper()}_{version}_{index}"
        offers.append(Offer(
            id=f"cav/image/fr-{index % 15}/{name}", brand="cav", kind="image", name=name,
            region=f"fr-{index % 15}", backend="cav", driver="vcd", read_at=READ_AT,
            os_family=family, os_version=version))
    return offers


def inventory(rng: random.Random, sources: list[Offer], count: int, *,
              measured: bool = False) -> list[InventoryLine]:
    """``count`` lines naming source offers by id or by name, with varied quantities and hours.

    ``measured``: hours as metered (``123.4``), nearly all distinct, instead of a few round values.
    """
    hours = (Decimal(730), Decimal(730), Decimal(730), Decimal(365), Decimal(200))
    lines = []
    for index in range(count):
        offer = rng.choice(sources)
        by_name = index % 3 == 0
        lines.append(InventoryLine(
            item=f"app-{index}", offer=offer.name if by_name else offer.id,
            region=offer.region if by_name else None, quantity=rng.randint(1, 20),
            hours_per_month=Decimal(rng.randint(10, 7440)) / 10 if measured else rng.choice(hours),
            size_gib=Decimal(rng.randint(10, 2000)) if offer.kind == "storage" else None))
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lines", type=int, default=100_000)
    parser.add_argument("--targets", type=int, default=10_000)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    rng = random.Random(6)
    sources = source_offers(rng)
    targets = target_offers(rng, args.targets)
    print(f"source offers: {len(sources)}, target offers: {len(targets)}, inventory lines: {args.lines}")
    for label, measured in (("round hours", False), ("measured hours", True)):
        lines = inventory(rng, sources, args.lines, measured=measured)
        plan_times, json_times = [], []
        for _ in range(args.repeat):
            start = time.perf_counter()
            plan = plan_migration(sources, targets, lines, require_labels=["secnumcloud"],
                                  source="Flexible Engine", target="Cloud Avenue")
            plan_times.append(time.perf_counter() - start)
            start = time.perf_counter()
            plan.to_json()
            json_times.append(time.perf_counter() - start)
        median = statistics.median(plan_times)
        print(f"[{label}] plan_migration: best {min(plan_times):.3f} s, median {median:.3f} s over "
              f"{args.repeat} runs ({len(plan.lines)} lines, {len(plan.gaps)} gaps); "
              f"Plan.to_json best {min(json_times):.3f} s")
        print(f"[{label}] goal {GOAL_SECONDS:.1f} s; median/goal ratio {median / GOAL_SECONDS:.2f} "
              f"({'met' if median < GOAL_SECONDS else 'NOT met'})")


if __name__ == "__main__":
    main()
