"""Offers for tests: one line each, realistic defaults."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

from cloudcat.models import FlexibleSizing, Kind, Offer, Price

READ_AT = dt.datetime(2025, 3, 1, 12, 0, tzinfo=dt.UTC)


def offer(name: str, *, brand: str = "acme", kind: Kind = Kind.COMPUTE, region: str | None = "eu-west-0",
          **fields: Any) -> Offer:
    return Offer(id=f"{brand}/{kind.value}/{region}/{name}", brand=brand, kind=kind, name=name, region=region,
                 backend=fields.pop("backend", "fe"), driver="static", read_at=READ_AT, **fields)


def eur(amount: str, unit: str = "hour") -> Price:
    return Price(amount=Decimal(amount), currency="EUR", unit=unit)


POOL = FlexibleSizing(vcpus_min=1, vcpus_max=32, memory_mib_min=1024, memory_mib_max=131072,
                      memory_step_mib=1024, price_per_vcpu=eur("0.01", "vcpu-hour"),
                      price_per_gib_memory=eur("0.005", "GiB-hour"))
