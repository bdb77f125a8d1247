"""The OpenStack driver end to end, the way a catalog owner runs it: ``cloudcat`` commands in
subprocesses, a configuration file pointing at mocked OpenStack clouds over loopback, a CSV
price book, and faults injected through the mocks' control endpoints.

What a user must be able to rely on:

* ``cloudcat refresh`` then ``cloudcat offers`` shows every kind, every region, the zones where
  each flavor can be ordered and the flavors no longer sold (Huawei ``sellout``/``abandon``);
  a price book adds prices with currency, unit and source, and unknown prices stay null;
* one failing backend never removes the others' offers, nor its own previous ones; when every
  backend fails nothing is stored; a refresh killed midway leaves the previous snapshot intact;
  a token that expires mid-refresh is renewed and the data is complete.
"""

from __future__ import annotations

import json
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from cloudcat.testing import MockHandle

# Huawei sale status of the Flexible Engine fixture's notable flavors (fixture file
# flexible-engine.yaml, extra specs cond:operation:status / cond:operation:az), per region:
# the zones each can be ordered in, and whether it is still sold anywhere.
FE_ZONES = {"eu-west-0": ["eu-west-0a", "eu-west-0b", "eu-west-0c"], "eu-west-1": ["eu-west-1a", "eu-west-1b"]}
FE_SALE = {
    ("eu-west-0", "s3.8xlarge.4"): (["eu-west-0b"], "available"),        # sellout in a and c
    ("eu-west-0", "s6.4xlarge.4"): (["eu-west-0a"], "available"),        # sellout in b, abandon in c
    ("eu-west-0", "g1.xlarge"): (["eu-west-0a", "eu-west-0b"], "available"),  # sellout in c
    ("eu-west-0", "c6.4xlarge.4"): (FE_ZONES["eu-west-0"], "available"),  # promotion is orderable
    ("eu-west-0", "c3.8xlarge.4"): ([], "end-of-sale"),                  # sellout everywhere
    ("eu-west-0", "m3.large.8"): ([], "end-of-sale"),                    # abandon everywhere
    ("eu-west-0", "s1.medium"): ([], "end-of-sale"),                     # abandon
    # eu-west-1: the per-zone spec names eu-west-0's zones only; the flavor-level status applies
    ("eu-west-1", "s3.8xlarge.4"): (FE_ZONES["eu-west-1"], "available"),
    ("eu-west-1", "c3.8xlarge.4"): ([], "end-of-sale"),
    ("eu-west-1", "m3.2xlarge.8"): ([], "end-of-sale"),
}
FE_END_OF_SALE = {
    "eu-west-0": {"c3.8xlarge.4", "m3.large.8", "m3.xlarge.8", "m3.2xlarge.8", "s1.medium"},
    "eu-west-1": {"c3.8xlarge.4", "m3.large.8", "m3.xlarge.8", "m3.2xlarge.8"},
}

PRICE_BOOK = """\
backend,kind,name,pattern,price_amount,price_currency,price_unit
fe,compute,s3.large.2,,0.0736,EUR,hour
fe,compute,,g1.*,1.10,EUR,hour
fe,storage,SSD,,0.21,EUR,GiB-month
"""

#: Longest any single ``cloudcat`` command may take here.
COMMAND_TIMEOUT = 90.0


# -- helpers --------------------------------------------------------------------------------------


def cloudcat(*args: str, cwd: Path, timeout: float = COMMAND_TIMEOUT) -> subprocess.CompletedProcess[str]:
    """Run ``python -m cloudcat.cli ARGS`` as a user would, and return what it did."""
    return subprocess.run([sys.executable, "-m", "cloudcat.cli", *args], cwd=cwd, capture_output=True,
                          text=True, timeout=timeout, check=False)


def offers_json(config: Path, *args: str) -> list[dict[str, Any]]:
    """``cloudcat offers -c CONFIG --format json ARGS``, parsed."""
    run = cloudcat("offers", "-c", str(config), "--format", "json", *args, cwd=config.parent)
    assert run.returncode == 0, run.stderr
    rows: list[dict[str, Any]] = json.loads(run.stdout)
    return rows


def snapshots_json(config: Path) -> list[dict[str, Any]]:
    """``cloudcat snapshots --format json``, parsed (oldest first)."""
    run = cloudcat("snapshots", "-c", str(config), "--format", "json", cwd=config.parent)
    assert run.returncode == 0, run.stderr
    rows: list[dict[str, Any]] = json.loads(run.stdout)
    return rows


def write_config(folder: Path, backends: dict[str, dict[str, Any]], *, price_book: str | None = None) -> Path:
    """A ``cloudcat.yaml`` with one brand per backend (named like it) and a SQLite store."""
    config: dict[str, Any] = {
        "backends": backends,
        "brands": {f"{name}-brand": {"backend": name} for name in backends},
        "store": str(folder / "catalog.db"),
    }
    if price_book is not None:
        (folder / "prices.csv").write_text(price_book, encoding="utf-8")
        config["price_books"] = ["prices.csv"]
    path = folder / "cloudcat.yaml"
    path.write_text(yaml.safe_dump(config), encoding="utf-8")
    return path


def backend_of(m: MockHandle, **options: Any) -> dict[str, Any]:
    """The mock's backend entry with option overrides (CloudKitty off unless asked: prices come
    from the price book)."""
    entry: dict[str, Any] = json.loads(json.dumps(m.backend))
    entry["options"] = {**entry["options"], "cloudkitty": False, **options}
    return entry


def set_faults(m: MockHandle, **faults: Any) -> None:
    """Change a running mock's faults through its control endpoint."""
    resp = httpx.post(f"{m.url}/_cloudcat/faults", json=faults, timeout=10)
    assert resp.status_code == 200, resp.text


def mock_state(m: MockHandle) -> dict[str, Any]:
    """``GET /_cloudcat/state`` of a running mock."""
    resp = httpx.get(f"{m.url}/_cloudcat/state", timeout=10)
    assert resp.status_code == 200, resp.text
    state: dict[str, Any] = resp.json()
    return state


def by_id(rows: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {row["id"]: row for row in rows}


def without_read_at(rows: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {row["id"]: {k: v for k, v in row.items() if k != "read_at"} for row in rows}


def fixture_names(fixture: dict[str, Any], section: str, region: str) -> set[str]:
    """Names of a fixture section's entries present in ``region`` (no ``regions`` = every region)."""
    return {e["name"] for e in fixture[section] if e.get("regions") is None or region in e["regions"]}


@pytest.fixture
def fe(cloudcat_mock: Callable[..., MockHandle]) -> MockHandle:
    """A mocked Flexible Engine (regions eu-west-0 with zones a/b/c, eu-west-1)."""
    return cloudcat_mock("openstack", "flexible-engine")


@pytest.fixture
def cw(cloudcat_mock: Callable[..., MockHandle]) -> MockHandle:
    """A mocked Cloudwatt (regions fr1, fr2)."""
    return cloudcat_mock("openstack", "cloudwatt")


# -- refresh, offers, zones, lifecycle, prices -----------------------------------------------------


def test_refresh_then_offers_every_kind_with_zones_lifecycle_and_prices(
        tmp_path: Path, fe: MockHandle, fe_fixture: dict[str, Any]) -> None:
    config = write_config(tmp_path, {"fe": backend_of(fe)}, price_book=PRICE_BOOK)
    run = cloudcat("refresh", "-c", str(config), cwd=tmp_path)
    assert run.returncode == 0, run.stderr
    assert "fe" in run.stderr and " ok " in run.stderr
    assert run.stdout.startswith("snapshot 1: ")

    requests_after_refresh = mock_state(fe)["requests"]
    rows = offers_json(config)
    assert mock_state(fe)["requests"] == requests_after_refresh  # offers read the stored snapshot
    offers = by_id(rows)
    assert {o["kind"] for o in rows} == {"compute", "image", "storage", "network", "location"}
    assert all(o["brand"] == "fe-brand" and o["backend"] == "fe" and o["driver"] == "openstack"
               for o in rows)

    for region, zones in FE_ZONES.items():
        in_region = [o for o in rows if o["region"] == region]
        # every flavor of the region (all pages), public and shared images only, every volume
        # type, external networks only
        assert {o["name"] for o in in_region if o["kind"] == "compute"} == \
            fixture_names(fe_fixture, "flavors", region)
        images = {o["name"] for o in in_region if o["kind"] == "image"}
        assert images == {i["name"] for i in fe_fixture["images"] if i["visibility"] in ("public", "shared")}
        assert {o["name"] for o in in_region if o["kind"] == "storage"} == \
            {v["name"] for v in fe_fixture["volume_types"]}
        assert {o["name"] for o in in_region if o["kind"] == "network"} == \
            {n["name"] for n in fe_fixture["networks"] if n.get("router:external")}
        location = offers[f"fe-brand/location/{region}"]
        assert location["zones"] == zones
        assert {f"fe-brand/location/{region}/{z}" for z in zones} <= offers.keys()
        # flavors sold normally are orderable in every zone of their region
        plain = [o for o in in_region if o["kind"] == "compute" and (region, o["name"]) not in FE_SALE
                 and o["name"] not in FE_END_OF_SALE[region] and not o["name"].startswith("g1.")]
        assert plain and all(o["zones"] == zones and o["lifecycle"]["status"] == "available" for o in plain)

    # sold out / abandoned flavors: not orderable in those zones; end-of-sale where none is left
    for (region, name), (zones, status) in FE_SALE.items():
        offer = offers[f"fe-brand/compute/{region}/{name}"]
        assert (offer["zones"], offer["lifecycle"]["status"]) == (zones, status), (region, name)
    m3 = offers["fe-brand/compute/eu-west-0/m3.large.8"]
    assert "abandon" in m3["lifecycle"]["reason"]
    assert m3["extras"]["zone_status"] == {"eu-west-0a": "abandon", "eu-west-0b": "abandon",
                                           "eu-west-0c": "abandon"}
    gpu = offers["fe-brand/compute/eu-west-0/g1.4xlarge"]
    assert (gpu["gpu"]["model"], gpu["gpu"]["count"]) == ("nvidia-m60", 2)
    ssd = offers["fe-brand/storage/eu-west-0/SSD"]
    # the backend's user is a project user: zones from RESKEY:availability_zones, no IOPS (QoS
    # specs are admin-only in Cinder's default policy)
    assert ssd["iops"] is None and ssd["zones"] == FE_ZONES["eu-west-0"]
    ubuntu = offers["fe-brand/image/eu-west-0/OBS Ubuntu 22.04"]
    assert (ubuntu["os_family"], ubuntu["os_version"], ubuntu["min_disk_gib"]) == ("ubuntu", "22.04", 40.0)

    # the price book: amount, currency, unit and source; everything else unknown (null, never 0)
    priced = {o["id"]: o["price"] for o in rows if o["price"] is not None}
    expected = {
        "fe-brand/compute/eu-west-0/s3.large.2": ("0.0736", "hour"),
        "fe-brand/compute/eu-west-1/s3.large.2": ("0.0736", "hour"),
        "fe-brand/compute/eu-west-0/g1.xlarge": ("1.10", "hour"),
        "fe-brand/compute/eu-west-0/g1.2xlarge": ("1.10", "hour"),
        "fe-brand/compute/eu-west-0/g1.4xlarge": ("1.10", "hour"),
        "fe-brand/storage/eu-west-0/SSD": ("0.21", "GiB-month"),
        "fe-brand/storage/eu-west-1/SSD": ("0.21", "GiB-month"),
    }
    assert priced.keys() == expected.keys()
    for offer_id, (amount, unit) in expected.items():
        price = priced[offer_id]
        assert Decimal(price["amount"]) == Decimal(amount)
        assert (price["currency"], price["unit"]) == ("EUR", unit)
        assert price["source"] and "prices.csv" in price["source"]
    assert offers["fe-brand/compute/eu-west-0/s3.small.1"]["price"] is None

    # the same facts through the CLI's filters
    end_of_sale = offers_json(config, "--kind", "compute", "--lifecycle", "end-of-sale")
    for region, names in FE_END_OF_SALE.items():
        assert {o["name"] for o in end_of_sale if o["region"] == region} == names
    in_zone_a = {o["name"] for o in offers_json(config, "--kind", "compute", "--zone", "eu-west-0a")}
    assert "s6.4xlarge.4" in in_zone_a and "g1.xlarge" in in_zone_a
    assert not in_zone_a & {"s3.8xlarge.4", "c3.8xlarge.4", "m3.large.8"}
    got = cloudcat("get", "fe-brand/compute/eu-west-0/m3.large.8", "-c", str(config), "--format", "json",
                   cwd=tmp_path)
    assert got.returncode == 0, got.stderr
    assert json.loads(got.stdout)["lifecycle"]["status"] == "end-of-sale"
    assert "end-of-sale" in got.stderr  # the notice a user sees for an offer no longer sold


@pytest.fixture
def served_six_regions() -> Iterator[dict[str, Any]]:
    """``cloudcat mock serve openstack --fixture cloudwatt --regions 6``; yields its first line."""
    proc = subprocess.Popen([sys.executable, "-m", "cloudcat.cli", "mock", "serve", "openstack",
                             "--fixture", "cloudwatt", "--regions", "6"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()  # printed once the server listens; empty if it exited
        if not line:
            raise AssertionError(f"mock serve printed nothing: {proc.stderr.read() if proc.stderr else ''}")
        yield json.loads(line)
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=15) == 0


def test_every_region_of_a_six_region_cloud(tmp_path: Path, served_six_regions: dict[str, Any],
                                            cw_fixture: dict[str, Any]) -> None:
    first = served_six_regions
    assert first["url"].startswith("http://127.0.0.1:")
    state = httpx.get(first["control"] + "state", timeout=10).json()
    regions: list[str] = state["regions"]
    assert len(regions) == 6
    config = write_config(tmp_path, {"cw": first["backend"]})
    run = cloudcat("refresh", "-c", str(config), cwd=tmp_path)
    assert run.returncode == 0, run.stderr
    rows = offers_json(config)
    assert {o["region"] for o in rows} == set(regions)
    for region in regions:
        source = region.rsplit("-", 1)[0]  # "<fixture region>-<i>" repeats that region's catalog
        in_region = [o for o in rows if o["region"] == region]
        assert {o["name"] for o in in_region if o["kind"] == "compute"} == \
            fixture_names(cw_fixture, "flavors", source)
        assert {o["kind"] for o in in_region} == {"compute", "image", "storage", "network", "location"}
        assert f"cw-brand/location/{region}" in {o["id"] for o in in_region}
    # the mock's own prices reach the catalog through CloudKitty, labelled as such
    priced = [o for o in rows if o["price"] is not None]
    assert priced and all("cloudkitty" in o["price"]["source"] for o in priced)
    assert len({o["region"] for o in priced}) == 6


def test_refreshing_an_unchanged_cloud_again_stores_no_new_version(tmp_path: Path,
                                                                   served_six_regions: dict[str, Any]) -> None:
    """Six regions, every kind, CloudKitty on: read as tasks side by side, each handing its items
    over on its own. Read again unchanged, the cloud costs a snapshot and no offer or item row."""
    config = write_config(tmp_path, {"cw": served_six_regions["backend"]})

    def rows() -> tuple[int, int]:
        with sqlite3.connect(tmp_path / "catalog.db") as db:
            return db.execute("SELECT count(*) FROM offers").fetchone()[0], \
                db.execute("SELECT count(*) FROM items").fetchone()[0]

    def refresh() -> None:
        run = cloudcat("refresh", "-c", str(config), cwd=tmp_path)
        assert run.returncode == 0, run.stderr

    refresh()
    first = rows()
    refresh()
    assert first[0] > 100 and rows() == first
    assert len(snapshots_json(config)) == 2
    same = cloudcat("diff", "-c", str(config), "--last", "--exit-code", cwd=tmp_path)
    assert same.returncode == 0, same.stdout + same.stderr
    read = {o["read_at"] for o in offers_json(config, "--offline")}
    assert len(read) == 1  # when the backend's reading began, in the latest snapshot


# -- fault isolation -------------------------------------------------------------------------------


@pytest.mark.parametrize(("fault", "says"), [({"error_rate": 1.0}, "503"),
                                             ({"fail_auth": True}, "credentials refused")],
                         ids=["503s", "fail_auth"])
def test_one_failing_backend_keeps_its_previous_offers(tmp_path: Path, fe: MockHandle, cw: MockHandle,
                                                       fault: dict[str, Any], says: str) -> None:
    config = write_config(tmp_path, {"fe": backend_of(fe), "cw": backend_of(cw, retries=1)})
    first = cloudcat("refresh", "-c", str(config), cwd=tmp_path)
    assert first.returncode == 0, first.stderr
    before = by_id(offers_json(config, "--offline"))
    assert {o["backend"] for o in before.values()} == {"fe", "cw"}

    set_faults(cw, **fault)
    run = cloudcat("refresh", "-c", str(config), cwd=tmp_path)
    assert run.returncode == 3, (run.stdout, run.stderr)
    failed = [line for line in run.stderr.splitlines() if "FAILED" in line]
    assert len(failed) == 1 and failed[0].split()[0] == "cw", run.stderr
    assert says in failed[0] and cw.url + "/identity/v3" in failed[0]  # what, and which endpoint
    assert "1 backend(s) failed" in run.stdout
    assert cw.backend["options"]["auth"]["password"] not in run.stdout + run.stderr

    snaps = snapshots_json(config)
    assert len(snaps) == 2
    assert "cw:failed" in snaps[-1]["status"] and "fe:ok" in snaps[-1]["status"]
    after = by_id(offers_json(config, "--offline"))
    assert after.keys() == before.keys()
    for offer_id, offer in after.items():
        if offer["backend"] == "cw":  # carried forward from the previous snapshot, untouched
            assert offer == before[offer_id]
        else:  # read again
            assert offer["read_at"] > before[offer_id]["read_at"]
            assert without_read_at([offer]) == without_read_at([before[offer_id]])


def test_every_backend_failing_stores_nothing(tmp_path: Path, fe: MockHandle, cw: MockHandle) -> None:
    config = write_config(tmp_path, {"fe": backend_of(fe, retries=1), "cw": backend_of(cw, retries=1)})
    assert cloudcat("refresh", "-c", str(config), cwd=tmp_path).returncode == 0
    before = offers_json(config, "--offline")
    snaps_before = snapshots_json(config)

    set_faults(fe, error_rate=1.0)
    set_faults(cw, fail_auth=True)
    run = cloudcat("refresh", "-c", str(config), cwd=tmp_path)
    assert run.returncode == 1, (run.stdout, run.stderr)
    assert "nothing stored" in run.stderr
    assert {line.split()[0] for line in run.stderr.splitlines() if "FAILED" in line} == {"fe", "cw"}
    assert snapshots_json(config) == snaps_before  # the previous snapshot stays the latest
    assert offers_json(config, "--offline") == before


def test_killed_refresh_leaves_the_previous_snapshot(tmp_path: Path, fe: MockHandle) -> None:
    config = write_config(tmp_path, {"fe": backend_of(fe)}, price_book=PRICE_BOOK)
    assert cloudcat("refresh", "-c", str(config), cwd=tmp_path).returncode == 0
    before = offers_json(config, "--offline")
    snaps_before = snapshots_json(config)

    # slow enough that the refresh cannot finish: 40 flavor pages of one flavor, 200 ms each
    set_faults(fe, latency_ms=200, page_limit=1)
    start = mock_state(fe)["requests"]
    proc = subprocess.Popen([sys.executable, "-m", "cloudcat.cli", "refresh", "-c", str(config)],
                            cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 60
        while mock_state(fe)["requests"] - start < 10:  # well into the listings
            assert proc.poll() is None, f"refresh ended before it was killed: {proc.communicate()}"
            assert time.monotonic() < deadline, "the refresh never reached the mock"
            time.sleep(0.05)
        flavor_pages = [r for r in fe.server.requests()[start:] if "/flavors" in r.path]
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.communicate(timeout=15)
    assert proc.returncode == -signal.SIGKILL  # killed, not finished
    assert len(flavor_pages) < 40  # it was killed mid-listing

    assert offers_json(config, "--offline") == before
    assert snapshots_json(config) == snaps_before
    with sqlite3.connect(tmp_path / "catalog.db") as db:
        assert db.execute("PRAGMA integrity_check").fetchone() == ("ok",)

    set_faults(fe, latency_ms=0, page_limit=None)
    run = cloudcat("refresh", "-c", str(config), cwd=tmp_path)
    assert run.returncode == 0, run.stderr
    snaps = snapshots_json(config)
    assert len(snaps) == len(snaps_before) + 1
    assert without_read_at(offers_json(config, "--offline")) == without_read_at(before)


def test_token_expiry_mid_refresh_gives_complete_data(tmp_path: Path, fe: MockHandle) -> None:
    config = write_config(tmp_path, {"fe": backend_of(fe)}, price_book=PRICE_BOOK)
    assert cloudcat("refresh", "-c", str(config), cwd=tmp_path).returncode == 0
    reference = without_read_at(offers_json(config, "--offline"))

    # tokens live 0.3 s; listings paged by 5 at 60 ms a request outlive several of them
    ttl = 0.3
    set_faults(fe, token_ttl=ttl, latency_ms=60, page_limit=5)
    issued = mock_state(fe)["tokens_issued"]
    run = cloudcat("refresh", "-c", str(config), cwd=tmp_path)
    assert run.returncode == 0, run.stderr
    status = next(line.split() for line in run.stderr.splitlines() if line.split()[:2] == ["fe", "ok"])
    assert float(status[-1].rstrip("s")) > 2 * ttl  # the read outlived its first tokens
    assert mock_state(fe)["tokens_issued"] - issued >= 1  # logged in again mid-refresh
    snaps = snapshots_json(config)
    assert len(snaps) == 2 and snaps[-1]["status"] == "fe:ok"
    assert without_read_at(offers_json(config, "--snapshot", str(snaps[-1]["id"]))) == reference

