"""The snapshot store's contract, run against every backend (SQLite and PostgreSQL): snapshots,
streaming queries (agreeing with cloudcat.query), diff, crash safety and errors; and what is
particular to SQLite files."""

from __future__ import annotations

import datetime as dt
import json
import os
import re
import signal
import sqlite3
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Callable, Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from offer_factories import POOL, READ_AT, eur, offer

from cloudcat.errors import StoreError
from cloudcat.filters import FILTERS as DECLARED_FILTERS
from cloudcat.models import (
    BackendStatus,
    FlexibleSizing,
    Gpu,
    Item,
    Kind,
    Lifecycle,
    LifecycleStatus,
    Offer,
    Price,
)
from cloudcat.query import SORTS, OfferQuery, run
from cloudcat.store import Store, StoredItem
from cloudcat.store.sqlite import SCHEMA_VERSION

CATALOG = [
    offer("s3.large.2", vcpus=2, memory_mib=4096, price=eur("0.05"), labels=["hds"], zones=["eu-west-0a"]),
    offer("s3.xlarge.4", vcpus=4, memory_mib=16384, price=eur("0.20"), labels=["hds", "secnumcloud"]),
    offer("s3.2xlarge.4", vcpus=8, memory_mib=32768, price=eur("0.40")),
    offer("g1.xlarge", vcpus=4, memory_mib=16384, gpu=Gpu(model="M60", count=0.125)),
    offer("pool-gold", flexible=POOL, vcpus=32, memory_mib=131072, backend="cav"),
    offer("c6.xlarge.4", region="eu-west-1", vcpus=4, memory_mib=16384, price=eur("0.15")),
    offer("debian-12", kind=Kind.IMAGE, price=None),
    offer("silver", kind=Kind.STORAGE, price=eur("0.04", "GiB-month"),
          lifecycle=Lifecycle(status=LifecycleStatus.END_OF_SALE)),
]
STATUSES = [BackendStatus(backend="fe", driver="static", status="ok", items=7, seconds=0.5, read_at=READ_AT),
            BackendStatus(backend="cav", driver="static", status="failed", error="HTTP 503")]


def stored_items() -> list[StoredItem]:
    return [StoredItem(backend="fe", driver="static", read_at=READ_AT,
                       item=Item(kind=Kind.COMPUTE, name="s3.large.2", region="eu-west-0", vcpus=2,
                                 memory_mib=4096)),
            StoredItem(backend="cav", driver="vcd", read_at=READ_AT,
                       item=Item(kind=Kind.COMPUTE, name="pool-gold", region="eu-west-0", flexible=POOL)),
            StoredItem(backend="fe", driver="static", read_at=READ_AT,
                       item=Item(kind=Kind.IMAGE, name="debian-12", region="eu-west-0"))]


@pytest.fixture
def store(new_store_location: Callable[[], str]) -> Iterator[Store]:
    with Store(new_store_location()) as s:
        yield s


@pytest.fixture
def filled(store: Store) -> Store:
    store.write_snapshot(items=stored_items(), offers=CATALOG, statuses=STATUSES, config_hash="h1")
    return store


# -- opening ------------------------------------------------------------------------------------
def test_opens_paths_and_sqlite_urls_creating_directories_at_the_first_write(tmp_path: Path) -> None:
    deep = tmp_path / "a" / "b" / "catalog.db"
    with Store(f"sqlite:///{deep}") as s:  # sqlite:////abs/path
        assert s.path == deep
        assert s.latest() is None
        assert not (tmp_path / "a").exists()
        s.write_snapshot(items=[], offers=CATALOG[:1], statuses=[], config_hash=None)
    assert deep.exists()
    with Store(str(deep)) as s:
        assert len(s.snapshots()) == 1
        assert s._db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert s._db.execute("PRAGMA foreign_keys").fetchone()[0] == 1


def _as_a_reader_who_may_not_write(args: list[str], **kw: Any) -> subprocess.CompletedProcess[str]:
    """Run ``args`` in a process that the file system's permissions bind: as root (which they do
    not bind), without the capability to override them (util-linux's ``setpriv``)."""
    if os.geteuid() == 0:
        args = ["setpriv", "--bounding-set=-dac_override,-dac_read_search", "--", *args]
    return subprocess.run(args, capture_output=True, text=True, timeout=120, **kw)


def test_a_store_on_a_read_only_folder_is_read_and_refuses_writes_clearly(tmp_path: Path) -> None:
    """A store baked into a read-only image or shared read-only: SQLite cannot make the files a
    WAL reader needs there, so the store is read as a file that does not change; a write (a
    refresh) is refused naming the store, and a log still holding changes is said, not skipped."""
    shelf = tmp_path / "shelf"
    shelf.mkdir()
    path = shelf / "catalog.db"
    with Store(path) as s:
        s.write_snapshot(items=stored_items(), offers=CATALOG[1:], statuses=STATUSES, config_hash="h")
        latest = s.write_snapshot(items=stored_items(), offers=CATALOG, statuses=STATUSES, config_hash="h")
    config = tmp_path / "cloudcat.yaml"
    config.write_text('{"backends": {"fe": {"driver": "static"}}, "brands": {"b": {"backend": "fe"}}}')
    offers = [sys.executable, "-m", "cloudcat.cli", "offers", "--offline", "--format", "json", "--config", str(config),
              "--store"]
    writable = subprocess.run([*offers, str(path)], capture_output=True, text=True, timeout=120)
    assert writable.returncode == 0 and json.loads(writable.stdout), writable.stderr
    path.chmod(0o444)
    shelf.chmod(0o555)
    script = textwrap.dedent(f"""
        import json
        from cloudcat.query import OfferQuery
        from cloudcat.store import Store
        from cloudcat.errors import StoreError
        with Store({str(path)!r}) as s:
            print(json.dumps([s.latest().id, sorted(o.id for o in s.query(OfferQuery()))]))
            for write in (lambda: s.write_snapshot(items=[], offers=[], statuses=[], config_hash=None),
                          lambda: s.lock_refresh().__enter__(), lambda: s.prune(keep_last=0)):
                try:
                    write()
                except StoreError as exc:
                    print(exc)
    """)
    try:
        run = _as_a_reader_who_may_not_write([sys.executable, "-c", script])
        assert run.returncode == 0, run.stderr
        lines = run.stdout.splitlines()
        assert json.loads(lines[0]) == [latest.id, sorted(o.id for o in CATALOG)]
        assert lines[1:] == [f"snapshot store {path} is read-only here: cannot write"] * 2 + [
            f"snapshot store {path} is read-only here: cannot prune snapshots"]
        # the CLI reads it too (composed under this configuration's brands, as where it is writable)
        cli = _as_a_reader_who_may_not_write([*offers, str(path)])
        assert cli.returncode == 0, cli.stderr
        assert json.loads(cli.stdout) == json.loads(writable.stdout)
        # a snapshot older than max_age is read as it is, not refreshed (which could not be stored)
        (tmp_path / "items.jsonl").write_text('{"kind": "compute", "name": "s1", "region": "r1"}\n')
        config.write_text(json.dumps({"backends": {"fe": {"driver": "static", "options": {
            "paths": [str(tmp_path / "items.jsonl")]}}}, "brands": {"b": {"backend": "fe"}}, "max_age": 0}))
        online = _as_a_reader_who_may_not_write([x for x in offers if x != "--offline"] + [str(path)])
        assert online.returncode == 0, online.stderr
        assert json.loads(online.stdout) == json.loads(writable.stdout)
        assert f"snapshot store {path} is read-only here: reading snapshot {latest.id} of " in online.stderr
        refresh = _as_a_reader_who_may_not_write([sys.executable, "-m", "cloudcat.cli", "refresh", "--config",
                                                  str(config), "--store", str(path)])
        assert refresh.returncode == 1
        assert f"snapshot store {path} is read-only here: cannot write" in refresh.stderr
        assert sorted(p.name for p in shelf.iterdir()) == ["catalog.db"]  # nothing made beside it
        # a read-only file in a folder this process may write: SQLite reads it read-only itself
        shelf.chmod(0o755)
        stale = _as_a_reader_who_may_not_write([x for x in offers if x != "--offline"] + [str(path)])
        assert stale.returncode == 0, stale.stderr
        assert json.loads(stale.stdout) == json.loads(writable.stdout)
        assert f"snapshot store {path} is read-only here: reading snapshot {latest.id} of " in stale.stderr
        shelf.chmod(0o555)
        # a write-ahead log that still holds changes (its writer died before a checkpoint) would
        # be left unread: said instead
        work = tmp_path / "work"
        work.mkdir()
        held = sqlite3.connect(work / "held.db")
        held.execute("PRAGMA journal_mode = WAL")
        held.execute("PRAGMA wal_autocheckpoint = 0")
        held.execute("CREATE TABLE t (x)")
        held.commit()
        shelf.chmod(0o755)
        for name in ("held.db", "held.db-wal"):
            (shelf / name).write_bytes((work / name).read_bytes())
            (shelf / name).chmod(0o444)
        held.close()
        shelf.chmod(0o555)
        assert (shelf / "held.db-wal").stat().st_size > 0 and not (shelf / "held.db-shm").exists()
        script = f"from cloudcat.store import Store\nStore({str(shelf / 'held.db')!r})"
        refused = _as_a_reader_who_may_not_write([sys.executable, "-c", script])
        assert refused.returncode == 1
        assert "is read-only here and its write-ahead log (held.db-wal) holds changes" in refused.stderr
        # a store of an earlier schema cannot be brought up to date here: said, with what to do
        shelf.chmod(0o755)
        old = sqlite3.connect(shelf / "old.db")
        old.execute(f"PRAGMA user_version = {SCHEMA_VERSION - 1}")
        old.close()
        (shelf / "old.db").chmod(0o444)
        shelf.chmod(0o555)
        script = f"from cloudcat.store import Store\nStore({str(shelf / 'old.db')!r})"
        refused = _as_a_reader_who_may_not_write([sys.executable, "-c", script])
        assert refused.returncode == 1
        assert (f"is read-only here and has schema version {SCHEMA_VERSION - 1}; this cloudcat reads version "
                f"{SCHEMA_VERSION} (open it once where it can be written") in refused.stderr
    finally:
        shelf.chmod(0o755)


def test_other_url_schemes_are_refused_without_leaking_credentials() -> None:
    with pytest.raises(StoreError, match="'mysql' is not supported") as err:
        Store("mysql://catalog:s3cret@db.example/cloudcat")
    assert "s3cret" not in str(err.value)


def test_default_path_is_in_the_user_data_folder_one_store_per_configuration(tmp_path: Path) -> None:
    import platformdirs

    data = Path(platformdirs.user_data_dir("cloudcat"))
    assert Store.default_path() == data / "catalog.db"
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    first = Store.default_path(tmp_path / "a" / "cloudcat.yaml")
    assert first.parent == data / "stores" and first.name.startswith("a-")
    assert first != Store.default_path(tmp_path / "b" / "cloudcat.yaml")
    # the same file, however it is named, is one store
    assert first == Store.default_path(tmp_path / "b" / ".." / "a" / "cloudcat.yaml")


def test_corrupt_file_is_a_store_error_naming_the_path(tmp_path: Path) -> None:
    path = tmp_path / "catalog.db"
    path.write_bytes(b"this is not a database, just some bytes " * 200)
    with pytest.raises(StoreError, match=str(path)) as err:
        Store(path)
    assert isinstance(err.value.__cause__, sqlite3.DatabaseError)


def test_unopenable_location_is_a_store_error_naming_the_path(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(StoreError, match=str(blocker)):
        Store(blocker / "catalog.db")  # parent is a file


def test_newer_schema_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "catalog.db"
    Store(path).close()
    conn = sqlite3.connect(path)
    conn.execute("PRAGMA user_version = 99")
    conn.close()
    with pytest.raises(StoreError, match="schema version 99"):
        Store(path)


def test_closed_store_raises(tmp_path: Path) -> None:
    s = Store(tmp_path / "c.db")
    s.close()
    with pytest.raises(StoreError, match="closed"):
        s.latest()


# -- writing and reading snapshots --------------------------------------------------------------
def test_write_snapshot_round_trip(filled: Store) -> None:
    info = filled.latest()
    assert info is not None
    assert info.offers == len(CATALOG)
    assert info.config_hash == "h1"
    assert info.backends == STATUSES
    assert info.created_at.tzinfo is not None
    assert filled.snapshot(info.id) == info
    assert filled.snapshots() == [info]
    assert sorted(filled.query(OfferQuery()), key=lambda o: o.id) == sorted(CATALOG, key=lambda o: o.id)
    assert filled.get("acme/compute/eu-west-0/s3.xlarge.4") == CATALOG[1]
    assert filled.get("acme/compute/eu-west-0/nope") is None


#: Text that a bulk load's own escaping (PostgreSQL's COPY) must carry exactly.
AWKWARD = ["tab\there", "new\nline", "back\\slash", "\\N", "quote\"s", "crlf\r\n", "ünï€😀", "semi;colon|pipe"]


def test_awkward_text_round_trips_through_offers_and_items(store: Store) -> None:
    offers = [offer(f"o{n}-{text}", region=f"r-{text}", backend=f"b{text}", labels=[f"l-{text}-l", "plain"],
                    zones=[f"z-{text}-z"], display_name=text, extras={text: [text]}) for n, text in enumerate(AWKWARD)]
    items = [StoredItem(backend=f"b{text}", driver="static", read_at=READ_AT,
                        item=Item(kind=Kind.COMPUTE, name=f"i{n}-{text}", region=f"r-{text}", extras={"k": text}))
             for n, text in enumerate(AWKWARD)]
    first = store.write_snapshot(items=items, offers=offers, statuses=[], config_hash=None)
    # read again unchanged: each version is found by its id or key (a server gets them as one parameter)
    info = store.write_snapshot(items=items, offers=offers, statuses=[], config_hash=None)
    assert store.diff(first.id, info.id).empty
    for table, count in (("offers", len(offers)), ("items", len(items))):  # no new version
        assert store._db.execute(f"SELECT count(*) FROM {table}").fetchone()[0] == count
    assert sorted(store.query(OfferQuery()), key=lambda o: o.id) == sorted(offers, key=lambda o: o.id)
    for each in offers:
        assert store.get(each.id) == each
    assert sorted((s.backend, s.item) for s in store.items(info.id)) == sorted((s.backend, s.item) for s in items)
    for text in AWKWARD:  # the side tables hold the text too: labels and zones are filtered on exactly
        assert [o.display_name for o in store.query(OfferQuery(labels=[f"l-{text.lower()}-l"]))] == [text]
        assert [o.display_name for o in store.query(OfferQuery(zone=f"z-{text}-z"))] == [text]


def test_a_second_snapshot_becomes_the_latest_and_the_first_stays(filled: Store) -> None:
    first = filled.latest()
    assert first is not None
    second = filled.write_snapshot(items=[], offers=CATALOG[:2], statuses=[], config_hash=None)
    assert second.id > first.id
    assert filled.latest() == second
    assert [s.id for s in filled.snapshots()] == [first.id, second.id]
    assert len(list(filled.query(OfferQuery()))) == 2
    assert len(list(filled.query(OfferQuery(), snapshot=first.id))) == len(CATALOG)
    assert filled.get("acme/image/eu-west-0/debian-12") is None
    assert filled.get("acme/image/eu-west-0/debian-12", snapshot=first.id) == CATALOG[6]


def test_missing_snapshot_is_a_store_error(filled: Store) -> None:
    for call in (lambda: filled.snapshot(42), lambda: filled.query(OfferQuery(), snapshot=42),
                 lambda: filled.get("x", snapshot=42), lambda: filled.items(42), lambda: filled.diff(1, 42)):
        with pytest.raises(StoreError, match="no snapshot 42"):
            call()


def test_empty_store_queries_nothing(store: Store) -> None:
    assert list(store.query(OfferQuery())) == []
    assert store.get("acme/compute/eu-west-0/s3.large.2") is None


def test_items_round_trip_and_filter_by_backend(filled: Store) -> None:
    sid = filled.latest().id  # type: ignore[union-attr]
    assert list(filled.items(sid)) == stored_items()
    assert [s.item.name for s in filled.items(sid, backend="fe")] == ["s3.large.2", "debian-12"]
    assert list(filled.items(sid, backend="nope")) == []


def test_duplicate_offer_ids_fail_and_leave_the_store_as_it_was(filled: Store) -> None:
    before = filled.snapshots()
    with pytest.raises(StoreError, match=re.escape("two offers have the id 'acme/compute/eu-west-0/s3.large.2'")):
        filled.write_snapshot(items=[], offers=[CATALOG[0], CATALOG[1], CATALOG[0]], statuses=[],
                              config_hash=None)
    # across two batches of the bulk insert
    many = [offer(f"n{i}", vcpus=1, memory_mib=1024) for i in range(4500)]
    with pytest.raises(StoreError, match=re.escape("two offers have the id 'acme/compute/eu-west-0/n7'")):
        filled.write_snapshot(items=[], offers=[*many, many[7]], statuses=[], config_hash=None)
    assert filled.snapshots() == before


def test_an_error_while_producing_offers_rolls_everything_back(filled: Store) -> None:
    before = filled.snapshots()

    def offers() -> Iterator[Offer]:
        for i in range(5000):
            yield offer(f"n{i}", vcpus=1, memory_mib=1024)
        raise RuntimeError("backend went away")

    with pytest.raises(RuntimeError, match="went away"):
        filled.write_snapshot(items=stored_items(), offers=offers(), statuses=[], config_hash=None)
    assert filled.snapshots() == before
    assert filled._db.execute("SELECT count(*) FROM offers").fetchone()[0] == len(CATALOG)
    assert filled._db.execute("SELECT count(*) FROM items").fetchone()[0] == len(stored_items())
    after = filled.write_snapshot(items=[], offers=CATALOG[:1], statuses=[], config_hash=None)
    assert filled.latest() == after


def test_usable_from_another_thread(filled: Store) -> None:
    found: list[int] = []
    t = threading.Thread(target=lambda: found.append(len(list(filled.query(OfferQuery())))))
    t.start()
    t.join(timeout=10)
    assert found == [len(CATALOG)]


_KILLED_WRITER = textwrap.dedent("""
    import datetime as dt, pathlib, sys, time
    from cloudcat.models import Kind, Offer
    from cloudcat.store import Store

    path, marker = sys.argv[1], pathlib.Path(sys.argv[2])
    read_at = dt.datetime(2025, 3, 2, tzinfo=dt.UTC)

    def offers():
        for i in range(100_000):
            if i == 25_000:  # two batches of rows are in
                marker.write_text("writing")
                deadline = time.monotonic() + 60
                while time.monotonic() < deadline:  # wait here to be killed
                    time.sleep(0.05)
            yield Offer(id=f"acme/compute/eu-west-0/new-{i}", brand="acme", kind=Kind.COMPUTE,
                        name=f"new-{i}", region="eu-west-0", vcpus=2, memory_mib=4096,
                        extras={"pad": "x" * 500}, backend="fe", driver="static", read_at=read_at)

    with Store(path) as store:
        if path.endswith(".db"):  # a small page cache: the rows written spill to the WAL
            store._write_cache_kib = 2000
        store.write_snapshot(items=[], offers=offers(), statuses=[], config_hash="second")
    sys.exit(3)  # never reached: the parent kills us while writing
""")


def test_a_writer_killed_midway_leaves_the_previous_snapshot_intact(
        tmp_path: Path, new_store_location: Callable[[], str], store_backend: str) -> None:
    path = new_store_location()
    with Store(path) as s:
        first = s.write_snapshot(items=stored_items(), offers=CATALOG, statuses=STATUSES, config_hash="h1")
        size_before = s.size_bytes()
    wal = Path(f"{path}-wal")
    wal_before = wal.stat().st_size if wal.exists() else 0
    marker = tmp_path / "writing"
    child = subprocess.Popen([sys.executable, "-c", _KILLED_WRITER, str(path), str(marker)],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 60
        while not marker.exists() and child.poll() is None and time.monotonic() < deadline:
            time.sleep(0.02)
        assert marker.exists(), "the writer did not start writing within 60 s"
        # thousands of offers of the new snapshot are written, uncommitted
        if store_backend == "sqlite":
            assert wal.stat().st_size > wal_before + 1_000_000
        else:
            with Store(path) as other:
                assert other.size_bytes() > size_before + 1_000_000
        os.kill(child.pid, signal.SIGKILL)
        assert child.wait(timeout=30) == -signal.SIGKILL
    finally:
        if child.poll() is None:
            child.kill()
            child.wait(timeout=30)
        assert child.stdout is not None and child.stderr is not None
        child.stdout.close()
        child.stderr.close()

    with Store(path) as s:
        assert s.latest() == first
        assert s.snapshots() == [first]
        assert sorted(s.query(OfferQuery()), key=lambda o: o.id) == sorted(CATALOG, key=lambda o: o.id)
        assert list(s.items(first.id)) == stored_items()
        assert s._db.execute("SELECT count(*) FROM offers").fetchone()[0] == len(CATALOG)
        if store_backend == "sqlite":
            assert s._db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        # and the store takes the next snapshot normally
        second = s.write_snapshot(items=[], offers=CATALOG[:3], statuses=[], config_hash="h2")
        assert s.latest() == second and second.offers == 3


# -- queries ------------------------------------------------------------------------------------
def names(offers: Iterator[Offer]) -> list[str]:
    return [o.name for o in offers]


def test_filters_translate_to_sql(filled: Store) -> None:
    assert names(filled.query(OfferQuery(kind=[Kind.COMPUTE], region=["eu-west-0"], labels=["HDS"]))) == [
        "s3.large.2", "s3.xlarge.4"]
    assert names(filled.query(OfferQuery(zone=["eu-west-0a"]))) == ["s3.large.2"]
    assert names(filled.query(OfferQuery(gpu=True))) == ["g1.xlarge"]
    assert names(filled.query(OfferQuery(max_price=Decimal("0.15"), sort="price"))) == [
        "silver", "s3.large.2", "c6.xlarge.4"]
    assert names(filled.query(OfferQuery(lifecycle=[LifecycleStatus.END_OF_SALE]))) == ["silver"]
    assert names(filled.query(OfferQuery(backend=["cav"]))) == ["pool-gold"]
    assert names(filled.query(OfferQuery(text="XLARGE", sort="name"))) == [
        "c6.xlarge.4", "g1.xlarge", "s3.2xlarge.4", "s3.xlarge.4"]
    assert names(filled.query(OfferQuery(brand=[]))) == []
    assert names(filled.query(OfferQuery(brand=[], min_vcpus=1))) == []


def test_selective_query_merges_flexible_offers_into_price_order(filled: Store) -> None:
    q = OfferQuery(kind=[Kind.COMPUTE], region=["eu-west-0"], min_vcpus=4, min_memory_mib=16384,
                   sort="price")
    got = list(filled.query(q))
    assert names(iter(got)) == ["pool-gold", "s3.xlarge.4", "s3.2xlarge.4", "g1.xlarge"]
    assert (got[0].vcpus, got[0].memory_mib, got[0].price) == (4, 16384, eur("0.12"))
    assert got[0].extras["sized_for"] == {"vcpus": 4, "memory_mib": 16384}
    assert names(filled.query(q.model_copy(update={"limit": 2}))) == ["pool-gold", "s3.xlarge.4"]
    assert names(filled.query(q.model_copy(update={"offset": 1, "limit": 2}))) == [
        "s3.xlarge.4", "s3.2xlarge.4"]
    assert names(filled.query(q.model_copy(update={"sort": "-price"}))) == [
        "s3.2xlarge.4", "s3.xlarge.4", "pool-gold", "g1.xlarge"]
    # the pool cannot grow past 32 vCPUs
    assert names(filled.query(q.replace(min_vcpus=33))) == []


def test_max_price_is_exact_beyond_floating_point(store: Store) -> None:
    tiny_above = Decimal("0.1000000000000000000001")
    store.write_snapshot(items=[], offers=[offer("at", price=eur("0.1")), offer("above", price=Price(
        amount=tiny_above, currency="EUR", unit="hour"))], statuses=[], config_hash=None)
    assert names(store.query(OfferQuery(max_price=Decimal("0.1")))) == ["at"]
    assert names(store.query(OfferQuery(max_price=tiny_above))) == ["above", "at"]


def test_text_filter_is_case_insensitive_beyond_ascii(store: Store) -> None:
    store.write_snapshot(items=[], offers=[offer("ÉCO-1", display_name="Économique"), offer("std-1")],
                         statuses=[], config_hash=None)
    assert names(store.query(OfferQuery(text="éco"))) == ["ÉCO-1"]
    assert names(store.query(OfferQuery(text="ÉCONOMIQUE"))) == ["ÉCO-1"]
    # the column separator never lets a match straddle two fields
    assert names(store.query(OfferQuery(text="1\x1f"))) == []


def test_query_streams(filled: Store) -> None:
    it = filled.query(OfferQuery(sort="name"))
    assert next(it).name == "c6.xlarge.4"
    # another call while a query is half read
    assert filled.get("acme/compute/eu-west-0/s3.large.2") is not None
    assert next(it).name == "debian-12"
    it.close()  # type: ignore[attr-defined]


def test_a_whole_listing_in_id_order_streams_from_an_index_with_no_sort(tmp_path: Path) -> None:
    # The first row of `cloudcat offers -f json` must not wait for the whole catalog to be sorted:
    # the SQL the store runs for the default listing (current view, id order) is planned without a
    # temporary B-tree, on one store and after a second snapshot closed some versions.
    with Store(tmp_path / "s.db") as s:
        s.write_snapshot(items=[], offers=CATALOG, statuses=[], config_hash=None)
        s.write_snapshot(items=[], offers=CATALOG[:5], statuses=[], config_hash=None)
        ran: list[str] = []
        s._conn.set_trace_callback(ran.append)  # type: ignore[union-attr]
        assert [o.id for o in s.query(OfferQuery(sort="id"))] == sorted(o.id for o in CATALOG[:5])
        s._conn.set_trace_callback(None)  # type: ignore[union-attr]
    listing = [sql for sql in ran if "FROM offers o" in sql]
    assert listing
    conn = sqlite3.connect(tmp_path / "s.db")
    for sql in listing:
        plan = " | ".join(row[3] for row in conn.execute("EXPLAIN QUERY PLAN " + sql))
        assert "TEMP B-TREE" not in plan and "offers_by_id" in plan, plan
    conn.close()


#: Amounts equal as floating point, not as decimals (and "0.1" twice, spelt differently).
FLOAT_EQUAL = [Decimal(a) for a in ("0.1", "0.10", "0.1000000000000000000001", "0.0999999999999999999999",
                                     "9.9999999999999999999", "10", "-0")]


def test_prices_equal_as_floating_point_sort_by_their_exact_value(store: Store) -> None:
    # ids in the opposite order of the amounts: an order by float, then id, gets every pair wrong
    amounts = {"a": "10", "b": "9.9999999999999999999", "c": "0.1000000000000000000001", "d": "0.10",
               "e": "0.1", "f": "0.0999999999999999999999", "g": "0.05", "h": "-0", "i": "0"}
    offers = [offer(n, price=Price(amount=Decimal(a), currency="EUR", unit="hour")) for n, a in amounts.items()]
    store.write_snapshot(items=[], offers=offers, statuses=[], config_hash=None)
    assert names(store.query(OfferQuery(sort="price"))) == ["h", "i", "g", "f", "d", "e", "c", "b", "a"]
    assert names(store.query(OfferQuery(sort="-price"))) == ["a", "b", "c", "d", "e", "f", "g", "h", "i"]
    assert names(store.query(OfferQuery(sort="price", offset=5, limit=2))) == ["e", "c"]
    assert [o.id for o in store.query(OfferQuery(sort="price"))] == [o.id for o in run(offers, OfferQuery(
        sort="price"))]


def test_price_order_reads_the_index_and_sorts_only_equal_amounts(tmp_path: Path) -> None:
    # the exact order adds a term after the amount: the index still gives the amounts' order (no
    # sort of the whole listing before its first row), only runs of equal amounts are sorted
    with Store(tmp_path / "s.db") as s:
        s.write_snapshot(items=[], offers=CATALOG, statuses=[], config_hash=None)
        ran: list[str] = []
        s._conn.set_trace_callback(ran.append)  # type: ignore[union-attr]
        list(s.query(OfferQuery(kind=[Kind.COMPUTE], region=["eu-west-0"], sort="price", limit=3)))
        s._conn.set_trace_callback(None)  # type: ignore[union-attr]
    [sql] = [sql for sql in ran if "FROM offers o" in sql]
    conn = sqlite3.connect(tmp_path / "s.db")
    conn.create_function("cc_price_key", 1, lambda text: text)
    plan = " | ".join(row[3] for row in conn.execute("EXPLAIN QUERY PLAN " + sql))
    conn.close()
    assert "offers_by_region_price" in plan and "RIGHT PART OF ORDER BY" in plan, plan


@st.composite
def store_offer(draw: st.DrawFn) -> Offer:
    kind = draw(st.sampled_from([Kind.COMPUTE, Kind.COMPUTE, Kind.IMAGE, Kind.STORAGE]))
    compute = kind == Kind.COMPUTE
    flex = None
    if compute and draw(st.integers(0, 2)) == 0:
        flex = FlexibleSizing(vcpus_max=draw(st.integers(1, 64)), memory_mib_max=draw(st.integers(1024, 262144)),
                              memory_step_mib=draw(st.sampled_from([4, 1024])),
                              price_per_vcpu=eur("0.01", "vcpu-hour"),
                              price_per_gib_memory=eur("0.004", "GiB-hour"))
    amount = draw(st.one_of(st.none(), st.decimals(0, 100, places=4, allow_nan=False, allow_infinity=False),
                            st.sampled_from(FLOAT_EQUAL)))
    currency = draw(st.sampled_from(["EUR", "USD"]))
    return offer(
        draw(st.text("abXé.-\x1e\x1f0", min_size=1, max_size=5)),
        brand=draw(st.sampled_from(["acme", "orange"])), kind=kind,
        region=draw(st.sampled_from(["eu-west-0", "eu-west-1", None])),
        vcpus=(flex.vcpus_max if flex else draw(st.integers(1, 64))) if compute else None,
        memory_mib=(flex.memory_mib_max if flex else draw(st.integers(512, 262144))) if compute else None,
        gpu=Gpu(count=1) if compute and draw(st.booleans()) else None,
        flexible=flex,
        price=None if amount is None else Price(amount=amount, currency=currency, unit="hour"),
        labels=draw(st.lists(st.sampled_from(["hds", "secnumcloud", "gdpr-eu", "a\x1fb", "a\x1e1b"]), max_size=2)),
        zone=draw(st.sampled_from([None, "eu-west-0b"])),
        zones=draw(st.lists(st.sampled_from(["eu-west-0a", "eu-west-0b", "z\x1f0"]), max_size=2)),
        display_name=draw(st.one_of(st.none(), st.text("aXÉ \x1e\x1f1", max_size=4))),
        lifecycle=Lifecycle(status=draw(st.sampled_from(list(LifecycleStatus)))),
        backend=draw(st.sampled_from(["fe", "cav"])),
        country=draw(st.sampled_from([None, "FR", "fr", "DE"])),
        family=draw(st.sampled_from([None, "s3", "c6"])),
        architecture=draw(st.sampled_from([None, "x86_64", "aarch64"])),
        os_family=None if compute else draw(st.sampled_from([None, "Ubuntu", "debian"])),
        storage_class=draw(st.sampled_from([None, "gold", "silver"])) if kind == Kind.STORAGE else None,
        iops=draw(st.one_of(st.none(), st.integers(0, 20000))) if kind == Kind.STORAGE else None)


STORE_OFFERS = st.lists(store_offer(), max_size=25, unique_by=lambda o: o.id)

FILTERS: dict[str, st.SearchStrategy[Any]] = {
    "brand": st.lists(st.sampled_from(["acme", "orange"]), max_size=1),
    "kind": st.lists(st.sampled_from([Kind.COMPUTE, Kind.IMAGE]), min_size=1),
    "region": st.lists(st.sampled_from(["eu-west-0", "eu-west-1"]), min_size=1),
    "zone": st.lists(st.sampled_from(["eu-west-0a", "eu-west-0b", "z\x1f0", "z"]), min_size=1),
    "labels": st.lists(st.sampled_from(["HDS", "secnumcloud", "A\x1fB", "a\x1e1b", "a"]), max_size=2),
    "min_vcpus": st.integers(0, 70),
    "min_memory_mib": st.integers(0, 300000),
    "gpu": st.booleans(),
    "max_price": st.decimals(0, 100, places=4, allow_nan=False, allow_infinity=False),
    "currency": st.sampled_from(["EUR", "usd"]),
    "lifecycle": st.lists(st.sampled_from(list(LifecycleStatus)), min_size=1),
    "text": st.text("abXÉ.\x1e\x1f01", min_size=1, max_size=3).filter(str.strip),
    "backend": st.lists(st.sampled_from(["fe", "cav"]), min_size=1),
    "country": st.sampled_from(["FR", "fr", ["DE", "FR"]]),
    "any_label": st.lists(st.sampled_from(["HDS", "secnumcloud", "iso27001", "a\x1fb", "b"]), min_size=1, max_size=2),
    "family": st.lists(st.sampled_from(["s3", "c6", "g1"]), min_size=1, max_size=2),
    "architecture": st.sampled_from(["x86_64", "aarch64", ["aarch64", "x86_64"]]),
    "os_family": st.sampled_from(["ubuntu", "DEBIAN"]),
    "storage_class": st.lists(st.sampled_from(["gold", "silver", "bronze"]), min_size=1, max_size=2),
    "min_iops": st.integers(0, 20000),
    "flexible": st.booleans(),
}


def test_every_declared_filter_is_exercised_against_sql() -> None:
    # Adding a filter to cloudcat.filters.OfferFilters means adding its strategy here: the
    # property below then proves the SQL and the in-memory meaning agree for it.
    assert set(FILTERS) == set(DECLARED_FILTERS)


@st.composite
def store_query(draw: st.DrawFn) -> OfferQuery:
    # A few filters at a time, so that most queries return something to compare.
    chosen = draw(st.lists(st.sampled_from(sorted(FILTERS)), max_size=3, unique=True))
    fields = {name: draw(FILTERS[name]) for name in chosen}
    return OfferQuery(sort=draw(st.sampled_from(SORTS)), limit=draw(st.one_of(st.none(), st.integers(0, 6))),
                      offset=draw(st.integers(0, 4)), **fields)


@pytest.fixture(scope="module")
def shared_store(new_store_location: Callable[[], str]) -> Iterator[Store]:
    with Store(new_store_location()) as s:
        yield s


@settings(max_examples=300, deadline=None)
@given(offers=STORE_OFFERS, queries=st.lists(store_query(), min_size=1, max_size=4))
def test_store_query_agrees_with_the_pure_query(shared_store: Store, offers: list[Offer],
                                                queries: list[OfferQuery]) -> None:
    # one store for every example: each writes a snapshot over the previous ones, whose
    # versions must never show through
    previous = shared_store.latest()
    shared_store.write_snapshot(items=[], offers=offers, statuses=[], config_hash=None)
    for q in queries:
        assert list(shared_store.query(q)) == run(offers, q), q
    if previous is not None:
        earlier = list(shared_store.query(OfferQuery(), snapshot=previous.id))
        assert len(earlier) == previous.offers



#: Names and display names holding what the store's text column separates fields with (U+001F)
#: and escapes with (U+001E, then a digit), next to plain ones holding those digits.
_HOSTILE_TEXTS = [offer("a\x1fb"), offer("q\x1e", display_name="Q\x1e1"), offer("m0", display_name="x\x1fy"),
                  offer("n1", display_name="Z"), offer("p\x1e\x1f")]


@pytest.mark.parametrize("wanted", ["a\x1fb", "a\x1f", "\x1fb", "b", "q\x1e", "\x1e1", "0", "1", "e0", "\x1e0",
                                    "1\x1e", "x\x1fy", "y", "z", "p\x1e\x1f", "0/q", "b\x1fq"])
def test_the_text_filter_finds_the_store_separators_as_in_memory(store: Store, wanted: str) -> None:
    """A text holding U+001F or U+001E is found in the fields holding it, and only there: never
    across two fields, nor in what the store writes for those characters."""
    store.write_snapshot(items=[], offers=_HOSTILE_TEXTS, statuses=[], config_hash=None)
    q = OfferQuery(text=wanted)
    expected = [o.id for o in _HOSTILE_TEXTS if DECLARED_FILTERS["text"].matches(o, q.get("text"))]
    assert sorted(o.id for o in store.query(q)) == sorted(expected)
    assert sorted(o.id for o in store.query(q)) == sorted(o.id for o in run(_HOSTILE_TEXTS, q))


# -- diff ---------------------------------------------------------------------------------------
def test_diff_lists_added_removed_price_and_lifecycle_changes(filled: Store) -> None:
    a = filled.latest().id  # type: ignore[union-attr]
    changed = [
        CATALOG[0].model_copy(update={"price": eur("0.0500")}),             # same price, other spelling
        CATALOG[1].model_copy(update={"price": eur("0.22")}),               # price up
        CATALOG[2].model_copy(update={"price": None}),                      # price now unknown
        CATALOG[3].model_copy(update={"price": eur("1.1")}),                # price now known
        CATALOG[5].model_copy(update={"price": Price(amount=Decimal("0.15"), currency="USD", unit="hour")}),
        CATALOG[7].model_copy(update={"lifecycle": Lifecycle(status=LifecycleStatus.END_OF_LIFE)}),
        offer("s3.4xlarge.4", vcpus=16, memory_mib=65536),
    ]
    b = filled.write_snapshot(items=[], offers=changed, statuses=[], config_hash=None).id
    d = filled.diff(a, b)
    assert (d.a, d.b) == (a, b)
    assert d.added == ["acme/compute/eu-west-0/s3.4xlarge.4"]
    assert d.removed == ["acme/compute/eu-west-0/pool-gold", "acme/image/eu-west-0/debian-12"]
    assert [(c.id, c.before, c.after) for c in d.price_changes] == [
        ("acme/compute/eu-west-0/g1.xlarge", None, eur("1.1")),
        ("acme/compute/eu-west-0/s3.2xlarge.4", eur("0.40"), None),
        ("acme/compute/eu-west-0/s3.xlarge.4", eur("0.20"), eur("0.22")),
        ("acme/compute/eu-west-1/c6.xlarge.4", eur("0.15"),
         Price(amount=Decimal("0.15"), currency="USD", unit="hour")),
    ]
    assert [(c.id, c.before, c.after) for c in d.lifecycle_changes] == [
        ("acme/storage/eu-west-0/silver", LifecycleStatus.END_OF_SALE, LifecycleStatus.END_OF_LIFE)]
    empty = filled.diff(b, b)
    assert not (empty.added or empty.removed or empty.price_changes or empty.lifecycle_changes)


def test_the_stored_json_of_an_offer_is_its_model_dump_without_read_at() -> None:
    # versions are compared by the digest of this JSON: it must stay what pydantic's
    # model_dump_json gives, snapshot after snapshot, whatever the offer holds
    from cloudcat.store.schema import split_read_at

    varied = [
        offer("s3.large.2", vcpus=2, memory_mib=8192, price=eur("0.0736"), labels=["hds", "secnumcloud"]),
        offer("gpu", vcpus=8, memory_mib=65536, gpu=Gpu(model="A100", count=0.5), disk_gib=1e-5,
              extras={"ratio": 1e16, "nested": {"list": [1, 2.5, None, "é\u2028\x1f"]}}),
        offer("pool", flexible=POOL, lifecycle=Lifecycle(status=LifecycleStatus.END_OF_SALE)),
        offer("Ubuntu 22.04 «LTS»", kind=Kind.IMAGE, region=None, os_family="ubuntu", min_disk_gib=10.0),
    ]
    for each in varied:
        data, read_at = split_read_at(each)
        assert data == each.model_dump_json(exclude={"read_at"}, exclude_none=True)
        assert read_at == "2025-03-01T12:00:00Z"
        assert Offer.model_validate({**json.loads(data), "read_at": read_at}) == each


_WRITER = '''
import datetime as dt, sys
from cloudcat.models import BackendStatus, Offer
from cloudcat.store import Store
T0 = dt.datetime(2024, 1, 1, tzinfo=dt.UTC)
with Store(sys.argv[1]) as s:
    for k in range(2, int(sys.argv[2]) + 2):
        # every offer changes at each snapshot, and the backend is read at a time telling which
        offers = (Offer(id=f"x/compute/r1/vm{i}", brand="x", kind="compute", name=f"vm{i}", region="r1", vcpus=2,
                        memory_mib=4096, backend="b", driver="static", read_at=T0 + dt.timedelta(seconds=k),
                        extras={"gen": k}) for i in range(40))
        s.write_snapshot(items=(), offers=offers, statuses=[BackendStatus(backend="b", driver="static",
                         status="ok")], config_hash=None)
'''


def test_a_read_of_the_latest_snapshot_while_another_is_stored_reads_one_snapshot_whole(
        new_store_location: Callable[[], str]) -> None:
    # Another process stores snapshot after snapshot; each read of "the latest" (a snapshot id
    # taken, then its offers read) must give one snapshot: never a newer one's versions with the
    # older one's read times (which happened when a write landed between the two reads).
    location = new_store_location()
    t0 = dt.datetime(2024, 1, 1, tzinfo=dt.UTC)
    with Store(location) as store:
        store.write_snapshot(items=(), offers=[], statuses=[], config_hash=None)
        with subprocess.Popen([sys.executable, "-c", _WRITER, location, "150"]) as writer:
            reads = mixed = 0
            deadline = time.monotonic() + 90
            while writer.poll() is None and time.monotonic() < deadline:
                got = [store.get("x/compute/r1/vm7"), *store.query(OfferQuery(limit=3))]
                for offer in got:
                    if offer is None:
                        continue
                    reads += 1
                    mixed += offer.read_at != t0 + dt.timedelta(seconds=offer.extras["gen"])  # type: ignore[arg-type]
            writer.wait(timeout=60)
        assert writer.returncode == 0
        assert reads > 100 and mixed == 0, f"{mixed} of {reads} offers read mixed two snapshots"


def test_an_application_s_sqlite_database_is_refused_and_left_as_it_was(tmp_path: Path) -> None:
    # a store path pointing at someone else's database (a typo, a shared folder): a read must
    # not make cloudcat's tables there nor switch it to a write-ahead log
    path = tmp_path / "app.db"
    with sqlite3.connect(path) as app:
        app.execute("CREATE TABLE items (id INTEGER PRIMARY KEY, sku TEXT)")
        app.execute("INSERT INTO items (sku) VALUES ('a')")
    app.close()
    before = path.read_bytes()
    with pytest.raises(StoreError, match=r"app\.db is not a cloudcat store: it is a SQLite database holding "
                                         r"other tables \(items\); give another file"):
        Store(path)
    (tmp_path / "cloudcat.yaml").write_text("backends: {}\n")
    proc = subprocess.run([sys.executable, "-m", "cloudcat.cli", "snapshots", "--store", str(path)],
                          capture_output=True, text=True, timeout=60, cwd=tmp_path)
    assert proc.returncode == 1 and "is not a cloudcat store" in proc.stderr, proc.stderr
    assert path.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["app.db", "cloudcat.yaml"]


def test_prices_finer_than_28_digits_filter_and_diff_exactly(store: Store) -> None:
    # decimal's default context rounds to 28 digits; the amounts the models admit are longer
    fine = Decimal("0.100000000000000000000000000001")
    base = offer("fine", vcpus=2, memory_mib=4096, price=eur("0.1"))
    finer = base.model_copy(update={"price": Price(amount=fine, currency="EUR", unit="hour")})
    first = store.write_snapshot(items=[], offers=[base], statuses=[], config_hash=None)
    second = store.write_snapshot(items=[], offers=[finer], statuses=[], config_hash=None)
    assert [o.id for o in store.query(OfferQuery(max_price="0.1"), snapshot=first.id)] == [base.id]
    assert list(store.query(OfferQuery(max_price="0.1"))) == []
    assert [o.id for o in store.query(OfferQuery(max_price=str(fine)))] == [base.id]
    diff = store.diff(first.id, second.id)
    assert [(c.before.amount, c.after.amount) for c in diff.price_changes if c.before and c.after] == [
        (Decimal("0.1"), fine)]
