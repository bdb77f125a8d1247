"""The refresh pipeline under stress: numbers out of range from a file and from a server, a server
that trickles its answer past the deadline, a hundred backends of twenty regions on bounded
threads, reads that never write, and price books matched through indexes."""

from __future__ import annotations

import datetime
import http.server
import json
import os
import random
import select
import shutil
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import given
from hypothesis import strategies as st

import cloudcat
from cloudcat import registry
from cloudcat.catalog import SnapshotCoverageWarning
from cloudcat.config import load_config
from cloudcat.errors import ConfigError
from cloudcat.models import Item, Kind
from cloudcat.prices import PriceBook, PriceRule
from cloudcat.refresh import TaskPool
from cloudcat.testing import wait_until

DATA = Path(__file__).parent / "data"

#: Test drivers, installed for the test through a distribution's entry points (as a third party would).
DRIVERS = '''
import json
import threading
import time

from cloudcat.driver import BaseDriver, Capabilities, DriverOptions
from cloudcat.models import Item, Kind, Region


class JsonOptions(DriverOptions):
    url: str


class JsonDriver(BaseDriver):
    """Compute items as a JSON list from one URL, one region; counts the calls under way."""

    name = "testjson"
    capabilities = Capabilities(kinds=frozenset({Kind.COMPUTE}))
    Options = JsonOptions
    inside = 0
    started = []
    lock = threading.Lock()

    def __init__(self, options=None, *, backend=None):
        super().__init__(options, backend=backend)
        self.session = self.http_session()

    def list_regions(self):
        return [Region(name="r1", country="FR")]

    def list_items(self, kind, region):
        with JsonDriver.lock:
            JsonDriver.inside += 1
            JsonDriver.started.append(time.monotonic())
        try:
            answer = self.session.get(self.options.url, timeout=self.options.timeout)
            return [Item.model_validate(row) for row in answer.json()]
        finally:
            with JsonDriver.lock:
                JsonDriver.inside -= 1


class ManyOptions(DriverOptions):
    region_count: int = 20


class ManyDriver(BaseDriver):
    """One compute item per region, after a short wait; records the most threads it saw."""

    name = "testmany"
    capabilities = Capabilities(kinds=frozenset({Kind.COMPUTE}))
    Options = ManyOptions
    peak = 0
    calls = 0
    lock = threading.Lock()

    def list_regions(self):
        return [Region(name=f"r{i}") for i in range(self.options.region_count)]

    def list_items(self, kind, region):
        with ManyDriver.lock:
            ManyDriver.peak = max(ManyDriver.peak, threading.active_count())
            ManyDriver.calls += 1
        time.sleep(0.002)
        return [Item(kind=kind, name=f"{self.backend}-{region}", vcpus=2, memory_mib=4096)]
'''


@pytest.fixture
def test_drivers(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    root = tmp_path_factory.mktemp("drivers")
    (root / "cc_test_drivers.py").write_text(DRIVERS)
    info = root / "cc_test_drivers-9.9.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: cc-test-drivers\nVersion: 9.9\n")
    (info / "entry_points.txt").write_text("[cloudcat.drivers]\ntestjson = cc_test_drivers:JsonDriver\n"
                                           "testmany = cc_test_drivers:ManyDriver\n")
    monkeypatch.syspath_prepend(str(root))
    registry.refresh_entries()
    yield root
    registry.refresh_entries()
    sys.modules.pop("cc_test_drivers", None)


class _Server(http.server.ThreadingHTTPServer):
    daemon_threads = True
    body: bytes = b"[]"
    drip: float = 0.0  # seconds between bytes; 0 sends the body at once
    closed: list[float]  # when a client closed a connection it was trickling to (time.monotonic())


class _Handler(http.server.BaseHTTPRequestHandler):
    server: _Server

    def do_GET(self) -> None:
        body = self.server.body
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if not self.server.drip:
            self.wfile.write(body)
            return
        for i in range(len(body)):
            try:
                self.wfile.write(body[i:i + 1])
                self.wfile.flush()
            except OSError:
                self.server.closed.append(time.monotonic())
                return
            time.sleep(self.server.drip)

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture
def server() -> Iterator[_Server]:
    srv = _Server(("127.0.0.1", 0), _Handler)
    srv.closed = []
    thread = threading.Thread(target=srv.serve_forever, daemon=True)
    thread.start()
    yield srv
    srv.shutdown()
    srv.server_close()


def url(srv: _Server) -> str:
    return f"http://127.0.0.1:{srv.server_address[1]}/items"


def static_config(tmp_path: Path) -> dict[str, Any]:
    for name in ("fe.yaml", "cav.yaml", "fe-prices.csv", "cav-prices.yaml"):
        shutil.copy(DATA / name, tmp_path / name)
    return {
        "backends": {
            "fe": {"driver": "static", "options": {"paths": [str(tmp_path / "fe.yaml")]}},
            "cav": {"driver": "static", "options": {"paths": [str(tmp_path / "cav.yaml")]}},
        },
        "brands": {
            "flexible-engine": {"operator": "Orange Business", "backend": "fe"},
            "cloud-avenue": {"operator": "Orange Business", "backend": "cav"},
        },
        "price_books": [str(tmp_path / "fe-prices.csv"), str(tmp_path / "cav-prices.yaml")],
        "store": str(tmp_path / "catalog.db"),
    }


# -- numbers out of range --------------------------------------------------------------------------
OUT_OF_RANGE = [
    {"kind": "compute", "name": "huge", "vcpus": 2**63, "memory_mib": 1024},
    {"kind": "compute", "name": "endless-gpu", "vcpus": 4, "memory_mib": 1024, "gpu": {"count": float("inf")}},
    {"kind": "compute", "name": "priceless", "vcpus": 2, "memory_mib": 2048,
     "price": {"amount": "1e999999999", "currency": "EUR", "unit": "hour"}},
    {"kind": "storage", "name": "fast", "iops": 2**64},
]
FINE = {"kind": "compute", "name": "fine", "vcpus": 2, "memory_mib": 4096}


#: A value out of range for each field of an item that can hold a number, and the path reported.
EVERY_NUMBER_FIELD = [
    ({"vcpus": 2**60}, "vcpus"), ({"memory_mib": 2**60}, "memory_mib"), ({"disk_gib": float("inf")}, "disk_gib"),
    ({"min_disk_gib": 1e300}, "min_disk_gib"), ({"min_memory_mib": 2**54}, "min_memory_mib"),
    ({"iops": 2**64}, "iops"), ({"throughput_mbps": float("inf")}, "throughput_mbps"),
    ({"min_size_gib": 1e16}, "min_size_gib"), ({"max_size_gib": 1e300}, "max_size_gib"),
    ({"bandwidth_mbps": 1e20}, "bandwidth_mbps"), ({"gpu": {"count": 2**60}}, "gpu.count"),
    ({"gpu": {"count": 1, "memory_mib": 2**60}}, "gpu.memory_mib"),
    ({"price": {"amount": Decimal("1e40"), "currency": "EUR", "unit": "hour"}}, "price.amount"),
    ({"flexible": {"vcpus_min": 1, "vcpus_max": 2**60, "memory_mib_min": 1, "memory_mib_max": 2}},
     "flexible.vcpus_max"),
    ({"flexible": {"vcpus_min": 1, "vcpus_max": 2, "memory_mib_min": 1, "memory_mib_max": 2,
                   "price_per_vcpu": {"amount": Decimal("1e999999999"), "currency": "EUR", "unit": "vcpu-hour"}}},
     "flexible.price_per_vcpu.amount"),
    ({"extras": {"a": [1, {"b": float("inf")}]}}, "extras.a[1].b"),
]


@pytest.mark.parametrize(("fields", "path"), EVERY_NUMBER_FIELD)
def test_every_field_that_can_hold_a_number_is_checked(fields: dict[str, Any], path: str) -> None:
    from cloudcat.models import Offer, bounds_violation

    item = Item.model_validate({"kind": "compute", "name": "x", **fields})
    assert bounds_violation(item) == path
    offer = Offer.model_validate({**item.model_dump(), "id": "b/compute/-/x", "brand": "b", "backend": "k",
                                  "driver": "d", "read_at": datetime.datetime.now(datetime.UTC)})
    assert bounds_violation(offer) == path
    sane = Item.model_validate({"kind": "compute", "name": "x", "vcpus": 2, "disk_gib": 1.5,
                                "extras": {"a": [1, {"b": 2.5}]}, "lifecycle": {"status": "end-of-sale"}})
    assert bounds_violation(sane) is None


@given(amount=st.decimals(allow_nan=False, allow_infinity=True, min_value=0)
       | st.builds(lambda d, e: Decimal(d).scaleb(e), st.integers(0, 10**6), st.integers(-60, 30)))
def test_a_price_seen_plain_at_a_glance_is_one_the_full_check_accepts(amount: Decimal) -> None:
    """The check at a glance (most prices) accepts a subset of what the full check accepts, and
    an item's price is judged alike either way (1e-30 is the smallest amount other than 0)."""
    from cloudcat.models import Price, _sane_number, bounds_violation, plain_amount

    if plain_amount(amount):
        assert _sane_number(amount)
    price = Price.model_construct(amount=amount, currency="EUR", unit="hour")
    item = Item.model_construct(kind=Kind.COMPUTE, name="x", price=price)
    assert bounds_violation(item) == (None if _sane_number(amount) else "price.amount")


def test_the_fields_checked_are_every_field_whose_type_can_hold_a_number() -> None:
    from cloudcat.models import _number_fields

    numbered = {f.split(".")[0] for _, f in EVERY_NUMBER_FIELD}
    assert set(_number_fields(Item)) == numbered  # text, enumerations, dates and lifecycles are not read


def test_numbers_out_of_range_in_a_file_drop_only_those_items(tmp_path: Path,
                                                              caplog: pytest.LogCaptureFixture) -> None:
    config = static_config(tmp_path)
    fe = yaml.safe_load((tmp_path / "fe.yaml").read_text())
    fe["items"] += [{**row, "region": "eu-west-0"} for row in OUT_OF_RANGE]
    (tmp_path / "fe.yaml").write_text(yaml.safe_dump(fe))
    with cloudcat.open_catalog(config) as catalog:
        result = catalog.refresh()
        assert result.exit_code == 0, result.statuses
        names = {o.name for o in catalog.offers(offline=True)}
        assert catalog.get("flexible-engine/compute/eu-west-0/s3.large.2", offline=True).vcpus == 2
    assert "s3.large.2" in names and "STD-PAYG-ONE-ROOM" in names  # the rest of fe, and cav
    assert not names & {"huge", "endless-gpu", "priceless", "fast"}
    warned = "\n".join(r.getMessage() for r in caplog.records)
    assert "backend fe: compute item 'huge' in region eu-west-0 dropped: field vcpus" in warned
    assert "'endless-gpu'" in warned and "field gpu.count" in warned
    assert "'priceless'" in warned and "field price.amount" in warned
    assert "storage item 'fast'" in warned and "field iops" in warned


#: Items holding a NUL character somewhere in their text, and the field reported.
WITH_NUL = [
    ({"name": "nul\x00name"}, "name"), ({"name": "nul-label", "labels": ["ok", "x\x00y"]}, "labels[1]"),
    ({"name": "nul-zone", "zones": ["eu-west-0a", "\x00"]}, "zones[1]"),
    ({"name": "nul-extra", "extras": {"a": [1, {"b": "c\x00"}]}}, "extras.a[1].b"),
    ({"name": "nul-key", "extras": {"k\x00": 1}}, "extras.k\x00"),
]


def test_text_holding_a_nul_drops_only_those_items_on_every_store(tmp_path: Path, new_store_location: Any,
                                                                    caplog: pytest.LogCaptureFixture) -> None:
    """No PostgreSQL text (nor its JSON) keeps a NUL: the items holding one are dropped with a
    warning naming backend, item and field, and the snapshot holds the rest, on either store. A
    text holding a backslash and "u0000" (how JSON writes a NUL) is kept as it is."""
    config = {**static_config(tmp_path), "store": new_store_location()}
    fe = yaml.safe_load((tmp_path / "fe.yaml").read_text())
    fe["items"] += [{"kind": "compute", "region": "eu-west-0", "vcpus": 2, "memory_mib": 2048, **row}
                    for row, _ in WITH_NUL]
    fe["items"].append({"kind": "compute", "region": "eu-west-0", "name": "not-a-nul\\u0000"})
    (tmp_path / "fe.yaml").write_text(json.dumps(fe))  # (YAML would escape the NULs its own way)
    with cloudcat.open_catalog(config) as catalog:
        result = catalog.refresh()
        assert result.exit_code == 0, result.statuses
        names = {o.name for o in catalog.offers(offline=True)}
    assert "s3.large.2" in names and "STD-PAYG-ONE-ROOM" in names and "not-a-nul\\u0000" in names
    assert not [n for n in names if "\x00" in n or n.startswith("nul")]
    warned = "\n".join(r.getMessage() for r in caplog.records)
    for row, field in WITH_NUL:
        assert f"compute item {row['name']!r} in region eu-west-0 dropped: field {field} holds a NUL" in warned


def test_numbers_out_of_range_from_a_server_drop_only_those_items(tmp_path: Path, test_drivers: Path,
                                                                  server: _Server) -> None:
    # JSON as Python writes it: integers of any size, Infinity
    server.body = json.dumps([*OUT_OF_RANGE, FINE]).encode()
    config = {"backends": {"api": {"driver": "testjson", "options": {"url": url(server)}}},
              "brands": {"b": {"backend": "api"}}, "store": str(tmp_path / "c.db")}
    with cloudcat.open_catalog(config) as catalog:
        result = catalog.refresh()
        assert result.exit_code == 0 and result.statuses[0].items == 1
        assert [o.id for o in catalog.offers(offline=True)] == ["b/compute/r1/fine"]
    # the CLI reads the stored snapshot without trouble
    path = tmp_path / "cloudcat.yaml"
    path.write_text(yaml.safe_dump(config))
    proc = run_cli("offers", "--offline", "--format", "json", "--config", str(path), env=driver_env(test_drivers))
    assert proc.returncode == 0, proc.stderr
    assert [o["name"] for o in json.loads(proc.stdout)] == ["fine"]


def test_price_out_of_range_in_a_price_book_names_file_and_line(tmp_path: Path) -> None:
    book = tmp_path / "prices.csv"
    book.write_text("backend,name,price_amount,price_currency,price_unit\n"
                    "fe,s3.large.2,0.07,EUR,hour\nfe,s3.xlarge.4,1e999999999,EUR,hour\n")
    with pytest.raises(ConfigError) as caught:
        PriceBook.load([book])
    assert caught.value.source == str(book) and caught.value.line == 3 and caught.value.field == "price.amount"


# -- deadlines ---------------------------------------------------------------------------------------
def workers_of(threads: set[threading.Thread]) -> list[threading.Thread]:
    """The refresh's worker threads still alive that were not among ``threads``."""
    return [t for t in threading.enumerate() if t not in threads and t.name.startswith("cloudcat-")]


def test_a_trickling_server_is_cut_at_the_deadline(tmp_path: Path, test_drivers: Path, server: _Server) -> None:
    server.body = json.dumps([FINE] * 50).encode()
    server.drip = 0.1  # a byte every 0.1 s: the socket timeout never fires
    config = static_config(tmp_path)
    config["backends"]["slow"] = {"driver": "testjson", "deadline": 1.5,
                                  "options": {"url": url(server), "timeout": 3}}
    config["brands"]["slow"] = {"backend": "slow"}
    import cc_test_drivers  # type: ignore[import-not-found]

    before = set(threading.enumerate())
    start = time.monotonic()
    with cloudcat.open_catalog(config) as catalog:
        result = catalog.refresh()
        took = time.monotonic() - start
        assert took < 6, took
        assert result.exit_code == 3
        [failed] = result.failed
        assert failed.backend == "slow" and "deadline" in (failed.error or "")
        assert {o.backend for o in catalog.offers(offline=True)} == {"fe", "cav"}
        # the call itself was cut at the deadline: the server saw its connection closed (the deadline
        # counts from the refresh's start, before the call started) and no worker is left in the call
        [called] = cc_test_drivers.JsonDriver.started
        assert wait_until(lambda: server.closed, 3), "the trickled connection stayed open"
        assert server.closed[0] - called < 1.5 + 1.0, server.closed[0] - called
        assert wait_until(lambda: cc_test_drivers.JsonDriver.inside == 0, 1)
        assert wait_until(lambda: not workers_of(before), 2), workers_of(before)


def test_an_openstack_call_held_past_the_deadline_is_cut(tmp_path: Path) -> None:
    from cloudcat.testing import mock

    with mock("openstack", "flexible-engine") as m:
        m.faults.plan("GET flavors/detail hang x1 hang-s=60")  # one region's flavors never come
        config = {"backends": {"os": {**m.backend, "deadline": 4}}, "brands": {"os": {"backend": "os"}},
                  "store": str(tmp_path / "c.db")}
        before = set(threading.enumerate())
        with cloudcat.open_catalog(config) as catalog:
            result = catalog.refresh()
            ended = time.monotonic()
            [failed] = result.failed
            assert "deadline" in (failed.error or ""), failed.error

            def held() -> list[Any]:
                return [r for r in m.server.requests() if r.fault == "hang"]

            # the held request ends as its client goes, within a second or so of the refresh's
            # end (not after the 60 s hang), and no worker or side thread is left in a call
            assert wait_until(held, 1.5), m.server.requests()
            assert time.monotonic() - ended < 1.5
            assert wait_until(lambda: not workers_of(before), 2), workers_of(before)


def test_refresh_process_ends_at_the_refresh_deadline(tmp_path: Path, test_drivers: Path, server: _Server) -> None:
    server.body = json.dumps([FINE] * 50).encode()
    server.drip = 0.2
    config = static_config(tmp_path)
    config["backends"]["slow"] = {"driver": "testjson", "options": {"url": url(server), "timeout": 3}}
    config["refresh_deadline"] = "2s"
    path = tmp_path / "cloudcat.yaml"
    path.write_text(yaml.safe_dump(config))
    start = time.monotonic()
    proc = run_cli("refresh", "--config", str(path), env=driver_env(test_drivers))
    took = time.monotonic() - start
    assert proc.returncode == 3, proc.stderr
    assert "slow" in proc.stderr and "deadline" in proc.stderr
    assert took < 20, took  # the process does not wait for the stuck call


# -- many backends -----------------------------------------------------------------------------------
class _KeepAliveHandler(_Handler):
    """Answers on persistent connections, noting at each new one how many its clients keep open."""

    protocol_version = "HTTP/1.1"

    def setup(self) -> None:
        super().setup()
        server: Any = self.server
        with server.lock:
            server.conns.add(self.connection)
        server.peak = max(server.peak, len(kept_open(server)))

    def finish(self) -> None:
        super().finish()
        server: Any = self.server
        with server.lock:
            server.conns.discard(self.connection)


def kept_open(server: Any) -> list[Any]:
    """The server's connections whose client has not closed its side (asked of the kernel, so a
    handler thread slow to notice does not count)."""
    with server.lock:
        conns = list(server.conns)
    kept = []
    for conn in conns:
        try:
            readable = select.select([conn], [], [], 0)[0]
            if not readable or conn.recv(1, socket.MSG_PEEK):  # nothing, or a next request
                kept.append(conn)
        except (OSError, ValueError):  # closed meanwhile
            continue
    return kept


def test_the_connections_of_many_backends_follow_the_concurrency(tmp_path: Path, test_drivers: Path) -> None:
    srv = _Server(("127.0.0.1", 0), _KeepAliveHandler)
    srv.body = json.dumps([FINE]).encode()
    srv.conns, srv.peak = set(), 0  # type: ignore[attr-defined]
    srv.lock = threading.Lock()  # type: ignore[attr-defined]
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    try:
        concurrency = 4
        config = {"backends": {f"b{i:02}": {"driver": "testjson", "options": {"url": url(srv)}} for i in range(40)},
                  "brands": {"all": {"backends": [f"b{i:02}" for i in range(40)]}},
                  "concurrency": concurrency, "store": str(tmp_path / "c.db")}
        with cloudcat.open_catalog(config) as catalog:
            result = catalog.refresh()
            assert result.exit_code == 0, result.failed
            assert result.snapshot is not None and result.snapshot.offers == 40
            # each backend's connection is closed once it is read, not kept until the catalog closes
            assert wait_until(lambda: not kept_open(srv), 10), len(kept_open(srv))
        assert srv.peak <= concurrency + 2, srv.peak  # type: ignore[attr-defined]
    finally:
        srv.shutdown()
        srv.server_close()


def test_the_pool_takes_the_lowest_order_first() -> None:
    pool = TaskPool(1)
    gate = threading.Event()
    ran: list[str] = []
    pool.submit(gate.wait, 5)  # holds the one worker while the others wait
    futures = [pool.submit(ran.append, name, order=order) for name, order in [("c", 2), ("a", 0), ("b", 1), ("a2", 0)]]
    gate.set()
    for future in futures:
        future.result(timeout=5)
    pool.shutdown()
    assert ran == ["a", "a2", "b", "c"]


def test_a_hundred_backends_of_twenty_regions_stay_on_bounded_threads(tmp_path: Path, test_drivers: Path) -> None:
    concurrency = 8
    config = {"backends": {f"b{i:03}": {"driver": "testmany"} for i in range(100)},
              "brands": {"all": {"backends": [f"b{i:03}" for i in range(100)]}},
              "concurrency": concurrency, "store": str(tmp_path / "c.db")}
    import cc_test_drivers  # type: ignore[import-not-found]

    with cloudcat.open_catalog(config) as catalog:
        result = catalog.refresh()
        assert result.exit_code == 0
        assert result.snapshot is not None and result.snapshot.offers == 2000
    assert cc_test_drivers.ManyDriver.calls == 2000
    assert cc_test_drivers.ManyDriver.peak <= concurrency + 8


# -- reads never write -------------------------------------------------------------------------------
def test_offline_reads_under_another_config_write_nothing(tmp_path: Path) -> None:
    full = static_config(tmp_path)
    with cloudcat.open_catalog(full) as catalog:
        catalog.refresh()
        everything = sorted(o.id for o in catalog.offers(offline=True))
        stored = catalog.snapshots()
    partial = {**full, "backends": {"fe": full["backends"]["fe"]},
               "brands": {"flexible-engine": full["brands"]["flexible-engine"]},
               "price_books": full["price_books"][:1]}
    with cloudcat.open_catalog(partial) as catalog:
        some = [o.id for o in catalog.offers(offline=True)]
        assert some and all(i.startswith("flexible-engine/") for i in some)
        assert catalog.snapshots() == stored  # nothing written
    relabeled = {**full, "brands": {**full["brands"], "cloud-avenue": {"operator": "Someone", "backend": "cav"}}}
    with cloudcat.open_catalog(relabeled) as catalog:
        assert {o.operator for o in catalog.offers(brand="cloud-avenue", offline=True)} == {"Someone"}
        assert catalog.snapshots() == stored
    more = {**full, "backends": {**full["backends"], "new": full["backends"]["fe"]}}
    with cloudcat.open_catalog(more) as catalog, pytest.warns(SnapshotCoverageWarning, match="new"):
        catalog.offers(offline=True)
    with cloudcat.open_catalog(full) as catalog:
        assert sorted(o.id for o in catalog.offers(offline=True)) == everything
        assert catalog.snapshots() == stored


def test_a_read_under_changed_brands_composes_on_disk_and_leaves_nothing(tmp_path: Path,
                                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    """The offers composed for a read under changed brands go to a throwaway store in a temporary
    folder (not memory, which a large catalog would fill), removed when the catalog closes."""
    import tempfile

    config = static_config(tmp_path)
    with cloudcat.open_catalog(config) as catalog:
        catalog.refresh()
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    monkeypatch.setattr(tempfile, "tempdir", str(scratch))
    config["brands"]["cloud-avenue"]["operator"] = "Someone"
    with cloudcat.open_catalog(config) as catalog:
        assert {o.operator for o in catalog.offers(brand="cloud-avenue", offline=True)} == {"Someone"}
        views = [p for p in scratch.iterdir() if p.name.startswith("cloudcat-view-")]
        assert len(views) == 1 and (views[0] / "view.db").stat().st_size > 0
        assert len(catalog.snapshots()) == 1
    assert list(scratch.iterdir()) == []


def test_the_first_offline_read_of_a_new_day_writes_nothing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    config = static_config(tmp_path)
    with cloudcat.open_catalog(config) as catalog:
        catalog.refresh()
        stored = catalog.snapshots()
        before = catalog.config.fingerprint()
        today = datetime.date.today()

    class Tomorrow(datetime.date):
        @classmethod
        def today(cls) -> Tomorrow:
            return cls.fromordinal(today.toordinal() + 1)

    monkeypatch.setattr(datetime, "date", Tomorrow)
    with cloudcat.open_catalog(config) as catalog:
        assert catalog.config.fingerprint() == before
        assert catalog.offers(offline=True, limit=5)
        assert catalog.snapshots() == stored
        assert catalog._composed is None  # answered from the stored offers, nothing composed


def test_a_refresh_keeps_backends_it_did_not_read(tmp_path: Path) -> None:
    config = static_config(tmp_path)
    config["backends"]["cav"]["enabled"] = False
    with cloudcat.open_catalog(config) as catalog:
        catalog.refresh(["fe", "cav"])
        catalog.refresh()  # cav is disabled: not read, yet kept
        assert {o.backend for o in catalog.offers(offline=True)} == {"fe", "cav"}


# -- price books ---------------------------------------------------------------------------------------
def _naive(rules: list[PriceRule], backend: str, item: Item, brand: str, today: datetime.date) -> list[PriceRule]:
    found = [r for r in rules if r.matches(backend, item, brand)
             and (r.effective_from() is None or r.effective_from() <= today)]  # type: ignore[operator]
    return sorted(found, key=lambda r: (r.exact, r.effective_from() or datetime.date.min))


def test_indexed_price_rules_match_as_a_scan_would() -> None:
    rng = random.Random(7)
    names = ["s3.large.2", "s3.xlarge.4", "s6.large", "c6.2xlarge", "g1.xlarge", "ubuntu", "SSD", "x"]
    patterns = ["s3.*", "s*", "*", "?6.*", "g1.[xy]large", "c6.2xlarge", "[!s]*", "s3.large.?", ""]
    rules = []
    for i in range(300):
        exact = rng.random() < 0.5
        target = {"name": rng.choice(names)} if exact else {"pattern": rng.choice(patterns) or "*"}
        rules.append(PriceRule(
            backend=rng.choice([None, "fe", "cav"]), brand=rng.choice([None, "a", "b"]),
            kind=rng.choice([None, Kind.COMPUTE, Kind.STORAGE]), region=rng.choice([None, "eu-*", "r1"]),
            labels=[f"l{i}"], source=str(i), **target,
            price={"amount": str(i), "currency": "EUR", "unit": "hour",
                   "effective_from": rng.choice([None, "2020-01-01", "2999-01-01"])}))
    book = PriceBook(rules)
    today = datetime.date(2026, 1, 1)
    for name in names:
        for kind in (Kind.COMPUTE, Kind.STORAGE):
            for region in ("eu-west-0", "r1"):
                item = Item(kind=kind, name=name, region=region)
                for backend in ("fe", "cav", "other"):
                    for brand in ("a", "b"):
                        assert book.matching(backend, item, brand=brand, today=today) == \
                            _naive(rules, backend, item, brand, today)


def test_ten_thousand_rules_cost_little_more_than_one() -> None:
    items = [Item(kind=Kind.COMPUTE, name=f"flavor-{i}", region="r1", vcpus=2, memory_mib=4096) for i in range(2000)]
    price = {"amount": "0.01", "currency": "EUR", "unit": "hour"}
    small = PriceBook([PriceRule(backend="fe", pattern="flavor-*", price=price)])  # prices every item too
    big = PriceBook([PriceRule(backend="fe", name=f"flavor-{i}", price=price) for i in range(10_000)]
                    + [PriceRule(backend="fe", pattern=f"family-{i}.*", labels=["x"]) for i in range(1000)])

    def timed(book: PriceBook) -> float:
        start = time.perf_counter()
        for item in items:
            book.apply("fe", item)
        return time.perf_counter() - start

    assert big.apply("fe", items[5]).price is not None
    assert big.apply("fe", items[5]).price.amount == Decimal("0.01")  # type: ignore[union-attr]
    # a scan would cost 11,000 matches per item (hundreds of times one rule); the index keeps it
    # within a small factor (best of three runs, against a busy machine)
    assert min(timed(big) for _ in range(3)) < 3 * min(timed(small) for _ in range(3)) + 0.05


# -- helpers -------------------------------------------------------------------------------------------
def driver_env(root: Path) -> dict[str, str]:
    path = os.pathsep.join(p for p in (str(root), os.environ.get("PYTHONPATH")) if p)
    return {**os.environ, "PYTHONPATH": path}


def run_cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "cloudcat.cli", *args], capture_output=True, text=True,
                          timeout=120, env=env)


def test_config_deadlines_accept_durations(tmp_path: Path) -> None:
    config = load_config({"backends": {"a": {"driver": "static", "deadline": "2m"}, "b": {"driver": "static"}},
                          "backend_deadline": "90s", "refresh_deadline": "1h"})
    assert config.deadline_of("a") == 120 and config.deadline_of("b") == 90 and config.refresh_deadline == 3600


def test_only_an_explicit_recompose_stores_the_new_composition(tmp_path: Path) -> None:
    config = static_config(tmp_path)
    with cloudcat.open_catalog(config) as catalog:
        catalog.refresh()
    config["brands"]["cloud-avenue"]["operator"] = "Someone"
    with cloudcat.open_catalog(config) as catalog:
        assert len(catalog.snapshots()) == 1
        stored = catalog.recompose()
        assert len(catalog.snapshots()) == 2 and stored.config_hash == catalog.config.fingerprint()
        assert {o.operator for o in catalog.offers(brand="cloud-avenue", offline=True)} == {"Someone"}
        assert catalog._composed is None  # the stored composition is read as it is


def test_cloudcat_recompose_stores_a_relabel_without_reading_any_backend(tmp_path: Path) -> None:
    config = static_config(tmp_path)
    path = tmp_path / "cloudcat.yaml"
    path.write_text(yaml.safe_dump(config))
    nothing = run_cli("recompose", "--config", str(path))
    assert nothing.returncode == 1 and "no snapshot to recompose" in nothing.stderr
    assert not (tmp_path / "catalog.db").exists()
    assert run_cli("refresh", "--config", str(path)).returncode == 0
    untouched = run_cli("recompose", "--config", str(path))
    assert untouched.returncode == 0 and "nothing stored" in untouched.stdout
    config["brands"]["cloud-avenue"]["operator"] = "Someone"
    path.write_text(yaml.safe_dump(config))
    for name in ("fe.yaml", "cav.yaml"):  # a backend read now would fail
        (tmp_path / name).unlink()

    def listed(*args: str) -> list[dict[str, Any]]:
        run = run_cli(*args, "--config", str(path), "--format", "json")
        assert run.returncode == 0, run.stderr
        rows: list[dict[str, Any]] = json.loads(run.stdout)
        return rows

    composed = listed("offers", "--offline", "--brand", "cloud-avenue")
    assert composed and {o["operator"] for o in composed} == {"Someone"}
    assert len(listed("snapshots")) == 1  # that read stored nothing
    with cloudcat.open_catalog(path) as catalog, catalog.store.lock_refresh():
        refused = run_cli("recompose", "--config", str(path), "--no-wait")
    assert refused.returncode == 1 and "another refresh is running since" in refused.stderr
    run = run_cli("recompose", "--config", str(path))
    assert run.returncode == 0, run.stderr
    assert run.stdout.startswith("snapshot 2: ") and "recomposed" in run.stdout
    snapshots = listed("snapshots")
    assert [s["id"] for s in snapshots] == [1, 2] and snapshots[1]["config_hash"] != snapshots[0]["config_hash"]
    assert listed("offers", "--offline", "--brand", "cloud-avenue") == composed
    assert "nothing stored" in run_cli("recompose", "--config", str(path)).stdout


def test_progress_hears_of_each_region_and_kind(tmp_path: Path) -> None:
    steps: list[tuple[str, str, str, int]] = []
    finished: list[str] = []

    class Progress:
        def __call__(self, status: Any) -> None:
            finished.append(status.backend)

        def step(self, backend: str, kind: str, region: str, items: int) -> None:
            steps.append((backend, kind, region, items))

    with cloudcat.open_catalog(static_config(tmp_path)) as catalog:
        catalog.refresh(progress=Progress())
    assert sorted(finished) == ["cav", "fe"]
    assert ("fe", "compute", "eu-west-0", 6) in steps
    assert {b for b, *_ in steps} == {"fe", "cav"}


def test_offers_composed_from_spooled_records_equal_those_composed_from_items(tmp_path: Path) -> None:
    from cloudcat.compose import compose_offers

    config = static_config(tmp_path)
    config["brands"]["flexible-engine"].update(labels=["Sovereign"], lifecycle={"end_of_sale": "2020-01-01"})
    config["brands"]["fe-too"] = {"backend": "fe", "operator": "Other"}
    with cloudcat.open_catalog(config) as catalog:
        snap = catalog.refresh().snapshot
        assert snap is not None
        stored = sorted((o for o in catalog.store.query(catalog.query(), snapshot=snap.id)), key=lambda o: o.id)
        items = list(catalog.store.items(snap.id))
        direct = sorted(compose_offers(items, catalog._brands, catalog.price_book, today=snap.created_at.date()),
                        key=lambda o: o.id)
    assert len(stored) == len(direct) > 20
    assert [o.model_dump(exclude={"read_at"}) for o in stored] == [o.model_dump(exclude={"read_at"}) for o in direct]
    assert any(o.price is not None for o in stored)  # price book rules applied on both paths


def test_text_holding_a_lone_surrogate_drops_only_those_items(tmp_path: Path,
                                                              caplog: pytest.LogCaptureFixture) -> None:
    """"\\ud800" in JSON is no Unicode character (no UTF-8 file or database holds it): an item
    giving one in a label or an extra is dropped with a warning naming its field (the backend
    failed whole, with a serializer's error naming no field)."""
    config = static_config(tmp_path)
    fe = yaml.safe_load((tmp_path / "fe.yaml").read_text())
    base = {"kind": "compute", "region": "eu-west-0", "vcpus": 2, "memory_mib": 2048}
    fe["items"] += [{**base, "name": "bad-label", "labels": ["x\ud800y"]},
                    {**base, "name": "bad-extra", "extras": {"k": ["\udfff"]}}]
    (tmp_path / "fe.yaml").write_text(json.dumps(fe))  # JSON writes them as \\ud800 escapes
    with cloudcat.open_catalog(config) as catalog:
        result = catalog.refresh()
        assert result.exit_code == 0 and all(s.status == "ok" for s in result.statuses), result.statuses
        names = {o.name for o in catalog.offers(offline=True)}
    assert "s3.large.2" in names and not names & {"bad-label", "bad-extra"}
    warned = "\n".join(r.getMessage() for r in caplog.records)
    assert "compute item 'bad-label' in region eu-west-0 dropped: field labels[0] holds a lone surrogate" in warned
    assert "compute item 'bad-extra' in region eu-west-0 dropped: field extras.k[0] holds a lone surrogate" in warned
