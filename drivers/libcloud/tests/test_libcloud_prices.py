"""libcloud's pricing data as a dated price source: ``0.0`` is never a price, and price books override it."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path
from typing import Any

import yaml
from cloudcat_libcloud.driver import LibcloudDriver
from cloudcat_libcloud.pricing import SOURCE, LibcloudPrices

import cloudcat
from cloudcat.models import Kind, Region
from cloudcat.testing import mock
from cloudcat.testing.mockserver import MockHandle

UPDATED = 1700000000  # 2023-11-14
Options = Callable[[MockHandle], dict[str, Any]]


def test_bundled_data_zero_is_unknown_and_prices_are_dated() -> None:
    data = LibcloudPrices()
    assert data.effective is not None and data.effective >= dt.date(2023, 1, 1)
    # libcloud 3.9's data says 0.0 for a1.medium in ap-northeast-1: unknown, not free
    assert data.price("ec2_linux", "a1.medium", "ap-northeast-1") is None
    priced = data.price("ec2_linux", "a1.medium", "eu-west-1")
    assert priced is not None
    assert (priced.currency, priced.unit, priced.source, priced.effective_from) == ("USD", "hour", SOURCE,
                                                                                     data.effective)
    assert priced.amount > 0
    assert data.price("ec2_linux", "no-such-size", "eu-west-1") is None
    assert data.price("no_such_table", "a1.medium", "eu-west-1") is None


def _pricing_file(tmp_path: Path) -> Path:
    path = tmp_path / "pricing.json"
    path.write_text(json.dumps({"updated": UPDATED, "compute": {"openstack": {
        "s3.large.2": 0.0, "s6.xlarge.4": 0.148, "c6.2xlarge.2": "0.2958", "s3.xlarge.4": -1}}}))
    return path


def test_libcloud_zero_never_becomes_a_price(tmp_path: Path, openstack_options: Options) -> None:
    with mock("openstack", "flexible-engine") as m:
        options = {**openstack_options(m), "pricing_file": str(_pricing_file(tmp_path))}
        with LibcloudDriver(options, backend="fe") as drv:
            items = {i.name: i for i in drv.read(Kind.COMPUTE, Region(name="eu-west-0"))}
    assert items["s3.large.2"].price is None  # 0.0 in libcloud's data: unknown
    assert items["s3.xlarge.4"].price is None  # nonsense is unknown too
    priced = items["s6.xlarge.4"].price
    assert priced is not None
    assert (priced.amount, priced.currency, priced.unit, priced.source) == (Decimal("0.148"), "USD", "hour", SOURCE)
    assert priced.effective_from == dt.date(2023, 11, 14)
    assert items["c6.2xlarge.2"].price is not None
    assert not any(i.price is not None and i.price.amount == 0 for i in items.values())


def test_price_book_overrides_libcloud_data(tmp_path: Path, openstack_options: Options) -> None:
    book = tmp_path / "prices.yaml"
    book.write_text(yaml.safe_dump({"items": [
        {"backend": "fe", "name": "s6.xlarge.4",
         "price": {"amount": "0.1480", "currency": "EUR", "unit": "hour", "effective_from": "2024-01-01"}},
        {"backend": "fe", "name": "s3.large.2",
         "price": {"amount": "0.0564", "currency": "EUR", "unit": "hour"}}]}))
    with mock("openstack", "flexible-engine") as m:
        options = {**openstack_options(m), "pricing_file": str(_pricing_file(tmp_path)), "regions": ["eu-west-0"]}
        config = {"backends": {"fe": {"driver": "libcloud", "options": options}},
                  "brands": {"fe": {"backend": "fe"}}, "price_books": [str(book)], "store": str(tmp_path / "s.db")}
        with cloudcat.open_catalog(config) as catalog:
            catalog.refresh()
            s6 = catalog.get("fe/compute/eu-west-0/s6.xlarge.4")
            s3 = catalog.get("fe/compute/eu-west-0/s3.large.2")
            c6 = catalog.get("fe/compute/eu-west-0/c6.2xlarge.2")
    assert s6.price is not None and (s6.price.amount, s6.price.currency) == (Decimal("0.1480"), "EUR")
    assert s6.price.source != SOURCE
    assert s3.price is not None and s3.price.currency == "EUR"  # the book prices what libcloud did not know
    assert c6.price is not None and c6.price.source == SOURCE  # no rule: libcloud's dated price stays


def test_libcloud_prices_can_be_turned_off(tmp_path: Path, openstack_options: Options) -> None:
    with mock("openstack", "flexible-engine") as m:
        options = {**openstack_options(m), "pricing_file": str(_pricing_file(tmp_path)), "libcloud_prices": False}
        with LibcloudDriver(options) as drv:
            assert all(i.price is None for i in drv.read(Kind.COMPUTE, Region(name="eu-west-0")))
