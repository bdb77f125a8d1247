"""The catalog end to end over the static driver: brands, aliases, price books, flexible offers,
failure isolation, relabel without refresh, history and the JSON contracts."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import warnings
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
import yaml

import cloudcat
from cloudcat.brands import BrandNameDeprecation
from cloudcat.catalog import OfferLifecycleWarning
from cloudcat.errors import ConfigError, OfferNotFoundError

DATA = Path(__file__).parent / "data"


def make_config(tmp_path: Path, **overrides: Any) -> dict[str, Any]:
    for name in ("fe.yaml", "cav.yaml", "fe-prices.csv", "cav-prices.yaml"):
        shutil.copy(DATA / name, tmp_path / name)
    config: dict[str, Any] = {
        "backends": {
            "fe": {"driver": "static", "options": {"paths": [str(tmp_path / "fe.yaml")]}},
            "cav": {"driver": "static", "options": {"paths": [str(tmp_path / "cav.yaml")]}},
        },
        "brands": {
            "flexible-engine": {"display_name": "Flexible Engine", "operator": "Orange Business",
                                "backend": "fe", "aliases": ["FE"], "former_names": ["Cloudwatt NG"]},
            "cloud-avenue": {"display_name": "Cloud Avenue", "operator": "Orange Business", "backend": "cav"},
        },
        "price_books": [str(tmp_path / "fe-prices.csv"), str(tmp_path / "cav-prices.yaml")],
        "store": str(tmp_path / "catalog.db"),
    }
    config.update(overrides)
    return config


def write_config(tmp_path: Path, config: dict[str, Any]) -> Path:
    path = tmp_path / "cloudcat.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


def test_offers_carry_brand_operator_ids_and_price_book_data(tmp_path: Path) -> None:
    with cloudcat.open_catalog(make_config(tmp_path)) as catalog:
        offers = {o.id: o for o in catalog.offers(brand="flexible-engine")}
    s3 = offers["flexible-engine/compute/eu-west-0/s3.large.2"]
    assert s3.operator == "Orange Business"
    assert s3.price is not None and s3.price.amount == Decimal("0.0736") and s3.price.currency == "EUR"
    assert s3.price.unit == "hour" and s3.price.source == "fe-prices.csv"
    assert s3.display_name == "General purpose 2 vCPU / 4 GiB"
    assert s3.country == "FR" and s3.zones == ["eu-west-0a", "eu-west-0b", "eu-west-0c"]
    assert "hds" in s3.labels  # the pattern rule labels every fe item
    assert s3.backend == "fe" and s3.driver == "static" and s3.read_at is not None
    # exact name beats the c6.* pattern; a price effective in 2099 is not applied yet
    assert offers["flexible-engine/compute/eu-west-0/c6.2xlarge.2"].price.amount == Decimal("0.31")  # type: ignore[union-attr]
    assert offers["flexible-engine/compute/eu-west-0/s3.xlarge.4"].price.amount == Decimal("0.184")  # type: ignore[union-attr]
    # unknown stays unknown: never 0.0
    assert offers["flexible-engine/compute/eu-west-0/g1.xlarge"].price is None
    assert offers["flexible-engine/location/eu-west-0"].zones == ["eu-west-0a", "eu-west-0b", "eu-west-0c"]


def test_alias_and_former_name_resolve_with_a_notice(tmp_path: Path) -> None:
    with cloudcat.open_catalog(make_config(tmp_path)) as catalog:
        with pytest.warns(BrandNameDeprecation, match="alias of 'flexible-engine'"):
            by_alias = catalog.offers(brand="FE", kind="compute")
        assert by_alias and all(o.brand == "flexible-engine" for o in by_alias)
        with pytest.warns(BrandNameDeprecation, match="former name"):
            offer = catalog.get("Cloudwatt NG/compute/eu-west-0/s3.large.2")
        assert offer.id == "flexible-engine/compute/eu-west-0/s3.large.2"
        with pytest.raises(ConfigError, match="did you mean 'flexible-engine'"):
            catalog.offers(brand="flexible-engin")
        with pytest.raises(OfferNotFoundError):
            catalog.get("flexible-engine/compute/eu-west-0/nope")


def test_end_of_sale_offer_warns_and_names_its_successor(tmp_path: Path) -> None:
    with cloudcat.open_catalog(make_config(tmp_path)) as catalog, \
            pytest.warns(OfferLifecycleWarning, match="end-of-sale; successor: s3.medium.4"):
        catalog.get("flexible-engine/compute/eu-west-0/s1.medium")


def test_flexible_offer_is_sized_and_priced_for_the_query(tmp_path: Path) -> None:
    with cloudcat.open_catalog(make_config(tmp_path)) as catalog:
        found = catalog.offers(kind="compute", min_vcpus=4, min_memory_mib=16384, sort="price")
        flexible = [o for o in found if o.flexible is not None]
        fixed = [o for o in found if o.flexible is None]
    assert [o.name for o in flexible] == ["STD-PAYG-ONE-ROOM"]
    pool = flexible[0]
    assert (pool.vcpus, pool.memory_mib) == (4, 16384)
    # 4 × 0.02 + 16 GiB × 0.005 = 0.16 EUR/hour
    assert pool.price is not None and pool.price.amount == Decimal("0.16") and pool.price.unit == "hour"
    assert "secnumcloud" in pool.labels
    assert all(o.vcpus is not None and o.vcpus >= 4 and o.memory_mib >= 16384 for o in fixed)  # type: ignore[operator]
    prices = [o.price.amount for o in found if o.price is not None]
    assert prices == sorted(prices)
    assert found[0].name == "STD-PAYG-ONE-ROOM"  # cheapest: 0.16 < s6.xlarge.4 at 0.17


def test_filters(tmp_path: Path) -> None:
    with cloudcat.open_catalog(make_config(tmp_path)) as catalog:
        gpus = catalog.offers(gpu=True)
        assert [o.name for o in gpus] == ["g1.xlarge"]
        cheap = catalog.offers(kind="compute", max_price="0.18", currency="EUR")
        assert {o.name for o in cheap} == {"s3.large.2", "s6.xlarge.4"}
        eos = catalog.offers(lifecycle="end-of-sale")
        assert [o.name for o in eos] == ["s1.medium"]
        zone_b = catalog.offers(kind="compute", zone="eu-west-0b")
        assert {o.name for o in zone_b} == {"s3.large.2", "s3.xlarge.4"}
        labelled = catalog.offers(labels=["secnumcloud"])
        assert {o.brand for o in labelled} == {"cloud-avenue"}
        text = catalog.offers(text="ubuntu")
        assert {o.name for o in text} == {"OBS Ubuntu 22.04", "UBUNTU_22.04"}
        limited = catalog.offers(kind="compute", sort="-vcpus", limit=2)
        assert len(limited) == 2 and limited[0].vcpus == 128


def test_one_failing_backend_does_not_take_down_the_others(tmp_path: Path) -> None:
    config = make_config(tmp_path)
    with cloudcat.open_catalog(config) as catalog:
        first = catalog.refresh()
        assert first.exit_code == 0 and first.snapshot is not None
    (tmp_path / "cav.yaml").unlink()  # the cav backend now fails
    (tmp_path / "fe.yaml").write_text((tmp_path / "fe.yaml").read_text().replace("s3.large.2", "s3.large.2b"))
    with cloudcat.open_catalog(config) as catalog:
        second = catalog.refresh()
        assert second.exit_code == 3
        [failed] = second.failed
        assert failed.backend == "cav" and "cav.yaml" in (failed.error or "")
        names = {o.name for o in catalog.offers(offline=True)}
    assert "s3.large.2b" in names  # the healthy backend was read again
    assert "STD-PAYG-ONE-ROOM" in names  # the failed backend's offers are kept from the last snapshot


def test_refresh_of_nothing_readable_stores_nothing(tmp_path: Path) -> None:
    config = make_config(tmp_path)
    (tmp_path / "fe.yaml").unlink()
    (tmp_path / "cav.yaml").unlink()
    with cloudcat.open_catalog(config) as catalog:
        result = catalog.refresh()
        assert result.exit_code == 1 and result.snapshot is None
        assert catalog.snapshots() == []


def test_relabel_applies_without_refresh_and_keeps_ids(tmp_path: Path) -> None:
    config = make_config(tmp_path)
    with cloudcat.open_catalog(config) as catalog:
        before = {o.id: o for o in catalog.offers(brand="flexible-engine")}
    assert {o.operator for o in before.values()} == {"Orange Business"}
    (tmp_path / "fe.yaml").unlink()  # proof that the relabel reads no backend
    config["brands"]["flexible-engine"]["operator"] = "Orange Cloud for Business"
    config["brands"]["flexible-engine"]["aliases"] = ["FE", "OCB"]
    with cloudcat.open_catalog(config) as catalog:
        after = {o.id: o for o in catalog.offers(brand="flexible-engine")}
        with pytest.warns(BrandNameDeprecation):
            assert catalog.get("OCB/compute/eu-west-0/s3.large.2").operator == "Orange Cloud for Business"
    assert after.keys() == before.keys()
    assert {o.operator for o in after.values()} == {"Orange Cloud for Business"}


def test_snapshots_and_diff(tmp_path: Path) -> None:
    config = make_config(tmp_path)
    with cloudcat.open_catalog(config) as catalog:
        a = catalog.refresh().snapshot
        csv = tmp_path / "fe-prices.csv"
        csv.write_text(csv.read_text().replace("0.0736", "0.0800"))
        (tmp_path / "fe.yaml").write_text((tmp_path / "fe.yaml").read_text().replace(
            "c6.2xlarge.2", "c6.4xlarge.2").replace("s6.xlarge.4, region: eu-west-0, vcpus: 4, memory_mib: 16384",
                                                   "s6.xlarge.4, region: eu-west-0, vcpus: 4, memory_mib: 16384, "
                                                   "lifecycle: {status: end-of-sale}"))
    with cloudcat.open_catalog(config) as catalog:
        b = catalog.refresh().snapshot
        assert a is not None and b is not None
        assert [s.id for s in catalog.snapshots()][-2:] == [a.id, b.id]
        d = catalog.diff(a.id, b.id)
    assert "flexible-engine/compute/eu-west-0/c6.4xlarge.2" in d.added
    assert "flexible-engine/compute/eu-west-0/c6.2xlarge.2" in d.removed
    changed = {c.id: c for c in d.price_changes}
    assert changed["flexible-engine/compute/eu-west-0/s3.large.2"].after.amount == Decimal("0.08")  # type: ignore[union-attr]
    lifecycle = {c.id for c in d.lifecycle_changes}
    assert "flexible-engine/compute/eu-west-0/s6.xlarge.4" in lifecycle


def run_cli(*args: str, config: Path | None = None) -> subprocess.CompletedProcess[str]:
    cmd = [sys.executable, "-m", "cloudcat.cli", *args]
    if config is not None:
        cmd += ["--config", str(config)]
    # piped output is as wide as its rows unless $COLUMNS says otherwise
    env = {k: v for k, v in os.environ.items() if k != "COLUMNS"}
    return subprocess.run(cmd, capture_output=True, text=True, timeout=120, env=env)


def test_cli_json_contracts(tmp_path: Path) -> None:
    path = write_config(tmp_path, make_config(tmp_path))
    proc = run_cli("offers", "--format", "json", "--refresh", config=path)
    assert proc.returncode == 0, proc.stderr
    offers = json.loads(proc.stdout)
    need = {"id", "brand", "operator", "kind", "name", "display_name", "region", "vcpus", "memory_mib", "price",
            "labels", "lifecycle", "backend", "driver"}
    assert offers and all(need <= set(o) for o in offers)
    for o in offers:
        assert o["id"].startswith(o["brand"] + "/")
        assert o["price"] is None or {"amount", "currency", "unit"} <= set(o["price"])
        assert o["lifecycle"]["status"] in {"available", "end-of-sale", "end-of-life"}
    assert len({o["id"] for o in offers}) == len(offers)

    drivers = json.loads(run_cli("drivers", "--format", "json").stdout)
    static = next(d for d in drivers if d["name"] == "static")
    assert static["distribution"] == "cloudcat-static" and static["version"] and static["capabilities"]["kinds"]

    brands = json.loads(run_cli("brands", "--format", "json", config=path).stdout)
    fe = next(b for b in brands if b["name"] == "flexible-engine")
    assert fe["operator"] == "Orange Business" and fe["aliases"] == ["FE"] and fe["backends"] == ["fe"]

    one = json.loads(run_cli("get", "FE/compute/eu-west-0/s3.large.2", "--format", "json", config=path).stdout)
    assert one["id"] == "flexible-engine/compute/eu-west-0/s3.large.2"

    for fmt in ("csv", "yaml", "table"):
        out = run_cli("offers", "--format", fmt, "--offline", "--kind", "compute", config=path)
        assert out.returncode == 0 and "s3.large.2" in out.stdout


def test_cli_refresh_exit_codes(tmp_path: Path) -> None:
    path = write_config(tmp_path, make_config(tmp_path))
    ok = run_cli("refresh", config=path)
    assert ok.returncode == 0, ok.stderr
    assert "fe" in ok.stderr and "ok" in ok.stderr
    (tmp_path / "cav.yaml").unlink()
    partial = run_cli("refresh", config=path)
    assert partial.returncode == 3 and "cav" in partial.stderr and "FAILED" in partial.stderr
    (tmp_path / "fe.yaml").unlink()
    nothing = run_cli("refresh", "--backend", "fe", "--backend", "cav", config=path)
    assert nothing.returncode == 1


def test_cli_offline_without_snapshot_is_an_error(tmp_path: Path) -> None:
    path = write_config(tmp_path, make_config(tmp_path))
    proc = run_cli("offers", "--offline", config=path)
    assert proc.returncode == 1 and "run `cloudcat refresh` first" in proc.stderr


def test_schema_exports_json_schema() -> None:
    proc = run_cli("schema", "--model", "offer")
    schema = json.loads(proc.stdout)
    assert schema["title"] == "Offer" and "price" in schema["properties"]


PUBLIC_API = {
    "AuthenticationError", "BackendError", "BackendNotFoundError", "BackendStatus", "BackendTimeoutError",
    "BaseDriver", "Brand", "BrandNameDeprecation", "Capabilities", "Catalog", "CloudcatError", "Config",
    "ConfigError", "Driver", "DriverConflictError", "DriverError", "DriverNotFoundError", "DriverOptions",
    "FlexibleSizing", "Gpu", "InventoryLine", "Item", "Kind", "Lifecycle", "LifecycleStatus",
    "MissingDependencyError", "NotSupportedError", "Offer", "OfferFilters", "OfferLifecycleWarning",
    "OfferNotFoundError", "OfferQuery", "OptionNameDeprecation", "PermissionDeniedError", "Plan", "Price",
    "RateLimitedError", "RefreshResult", "Region", "SaleStatus", "SnapshotDiff", "SnapshotInfo", "StoreError",
    "UnavailableError", "__version__", "load_config", "open_catalog",
}


def test_public_api_all_is_exact_sorted_and_importable() -> None:
    assert set(cloudcat.__all__) == PUBLIC_API
    assert cloudcat.__all__ == sorted(cloudcat.__all__)
    for name in cloudcat.__all__:
        assert getattr(cloudcat, name) is not None


def test_plan_migration_is_typed() -> None:
    import typing

    from cloudcat import catalog
    from cloudcat.planner import InventoryLine, Plan

    # the planner is imported on first use only, so resolve its names the way a type checker would
    hints = typing.get_type_hints(cloudcat.Catalog.plan_migration,
                                  {**vars(catalog), "Plan": Plan, "InventoryLine": InventoryLine})
    assert hints["return"] is Plan


def test_import_cloudcat_loads_no_sdk_and_scans_no_entry_points() -> None:
    code = ("import sys, cloudcat; bad = [m for m in sys.modules if m.split('.')[0] in "
            "('openstack', 'keystoneauth1', 'pyVmomi', 'libcloud', 'httpx', 'pydantic', 'importlib_metadata')]; "
            "print(bad)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60).stdout
    assert out.strip() == "[]"


def test_warnings_are_not_errors_for_plain_names(tmp_path: Path) -> None:
    with cloudcat.open_catalog(make_config(tmp_path)) as catalog, warnings.catch_warnings():
        warnings.simplefilter("error", BrandNameDeprecation)
        assert catalog.offers(brand="flexible-engine", kind="storage")


def test_cli_diff_formats(tmp_path: Path) -> None:
    path = write_config(tmp_path, make_config(tmp_path))
    assert run_cli("refresh", config=path).returncode == 0
    assert run_cli("refresh", config=path).returncode == 0
    same = run_cli("diff", "1", "2", "--format", "table", config=path)
    assert same.returncode == 0 and "no change" in same.stdout
    csv = tmp_path / "fe-prices.csv"
    csv.write_text(csv.read_text().replace("0.0736", "0.0800"))
    assert run_cli("refresh", config=path).returncode == 0
    table = run_cli("diff", "2", "3", "--format", "table", config=path).stdout
    assert "flexible-engine/compute/eu-west-0/s3.large.2" in table and "0.0736 EUR/hour" in table
    rows = run_cli("diff", "2", "3", "--format", "csv", config=path).stdout.splitlines()
    assert rows[0] == "change,id,before,after" and any(r.startswith("price,") for r in rows[1:])
    data = json.loads(run_cli("diff", "2", "3", "--format", "json", config=path).stdout)
    assert data["price_changes"][0]["after"]["amount"] == "0.0800"
