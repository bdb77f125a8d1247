"""History as changes, on every store backend: unchanged offers and items are not copied, a
changed offer costs a small patch, every snapshot reads back as written, diff reports every
field, retention prunes, refreshes serialize on the refresh lock and readers never wait."""

from __future__ import annotations

import datetime as dt
import json
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from offer_factories import READ_AT, eur, offer
from test_store import CATALOG, STATUSES, stored_items

from cloudcat.models import Kind, Lifecycle, LifecycleStatus, Offer
from cloudcat.query import OfferQuery
from cloudcat.store import RefreshLockedError, Store, StoredItem
from cloudcat.store.history import apply_patch, merge_patch, retained
from cloudcat.store.sqlite import SCHEMA_VERSION

LATER = READ_AT + dt.timedelta(days=1)


@pytest.fixture
def store(new_store_location: Callable[[], str]) -> Iterator[Store]:
    with Store(new_store_location()) as s:
        yield s


def reread(offers: list[Offer], at: dt.datetime) -> list[Offer]:
    return [o.model_copy(update={"read_at": at}) for o in offers]


def items_read(at: dt.datetime) -> list[StoredItem]:
    return [StoredItem(backend=s.backend, driver=s.driver, read_at=at, item=s.item) for s in stored_items()]


def count(store: Store, table: str) -> int:
    return int(store._db.execute(f"SELECT count(*) FROM {table}").fetchone()[0])


def by_id(offers: Iterator[Offer]) -> list[Offer]:
    return sorted(offers, key=lambda o: o.id)


def test_reading_everything_again_unchanged_stores_no_offer_or_item(store: Store) -> None:
    first = store.write_snapshot(items=stored_items(), offers=CATALOG, statuses=STATUSES, config_hash="h")
    rows = (count(store, "offers"), count(store, "items"))
    reads = count(store, "reads")
    second = store.write_snapshot(items=items_read(LATER), offers=reread(CATALOG, LATER), statuses=STATUSES,
                                  config_hash="h")
    assert (count(store, "offers"), count(store, "items")) == rows
    assert count(store, "reads") == 2 * reads  # only when each backend was read again
    # each snapshot still reads as written, down to when each backend was read
    assert by_id(store.query(OfferQuery(), snapshot=first.id)) == by_id(iter(CATALOG))
    assert by_id(store.query(OfferQuery())) == by_id(iter(reread(CATALOG, LATER)))
    assert list(store.items(first.id)) == stored_items()
    assert list(store.items(second.id)) == items_read(LATER)
    assert second.offers == len(CATALOG)


def test_a_changed_offer_costs_a_small_patch_and_each_snapshot_reads_its_version(store: Store) -> None:
    first = store.write_snapshot(items=[], offers=CATALOG, statuses=[], config_hash=None)
    changed = CATALOG[1].model_copy(update={"price": eur("0.21")})
    second = store.write_snapshot(items=[], offers=[CATALOG[0], changed, *CATALOG[2:]], statuses=[],
                                  config_hash=None)
    assert count(store, "offers") == len(CATALOG) + 1
    base_pk, data = store._db.execute("SELECT base_pk, data FROM offers WHERE id = ? AND since = ?",
                                      (changed.id, second.id)).fetchone()
    assert base_pk is not None and len(data) < 100 and "0.21" in data
    assert store.get(changed.id) == changed
    assert store.get(changed.id, snapshot=first.id) == CATALOG[1]
    assert [o.price for o in store.query(OfferQuery(max_price="0.2", kind=[Kind.COMPUTE]), snapshot=first.id)
            if o.id == changed.id] == [CATALOG[1].price]
    assert [o.id for o in store.query(OfferQuery(max_price="0.2")) if o.id == changed.id] == []


def test_items_kept_as_json_are_stored_as_the_same_versions_as_models(store: Store) -> None:
    as_json = [StoredItem.from_json(s.backend, s.driver, s.read_at, s.item.model_dump_json(exclude_none=True))
               for s in stored_items()]
    assert as_json == stored_items() and [s.json() for s in as_json] == [s.json() for s in stored_items()]
    first = store.write_snapshot(items=as_json, offers=CATALOG, statuses=STATUSES, config_hash="h")
    rows = count(store, "items")
    # the same items as models a day later: the same JSON and digests, so no new version
    store.write_snapshot(items=items_read(LATER), offers=reread(CATALOG, LATER), statuses=STATUSES, config_hash="h")
    assert count(store, "items") == rows == len(stored_items())
    assert list(store.items(first.id)) == stored_items()


def test_the_seen_tables_of_a_write_are_left_empty_with_no_pages(store: Store) -> None:
    """A store written to snapshot after snapshot on one connection: the temporary tables that
    mark what a write saw again are emptied without leaving rows behind (a server never vacuums
    temporary tables, and a later write would scan what was left)."""
    for day in range(3):
        store.write_snapshot(items=items_read(LATER + dt.timedelta(days=day)),
                             offers=reread(CATALOG, LATER + dt.timedelta(days=day)), statuses=STATUSES,
                             config_hash="h")
    for table in ("offers", "items"):
        if isinstance(store._db, sqlite3.Connection):
            assert store._db.execute(f"SELECT count(*) FROM temp.seen_{table}").fetchone()[0] == 0
        else:
            assert store._db.execute(f"SELECT pg_relation_size('pg_temp.seen_{table}')").fetchone()[0] == 0


def test_offers_stored_with_their_null_fields_read_and_diff_as_the_same(tmp_path: Path) -> None:
    """Offers and items are stored without their null fields; a store written when they were
    stored with them reads the same offers and a diff across the two forms shows no change."""
    from cloudcat.store.sqlite import _digest

    path = tmp_path / "nulls.db"
    with Store(path) as s:
        first = s.write_snapshot(items=stored_items(), offers=CATALOG, statuses=STATUSES, config_hash="h")
        data = s._db.execute("SELECT data FROM offers WHERE base_pk IS NULL").fetchone()[0]
        assert "null" not in data and '"zone":' not in data
    conn = sqlite3.connect(path)
    with conn:  # rewritten as a store of the former form holds them
        for pk, data, read_at in conn.execute("SELECT pk, data, read_at FROM offers").fetchall():
            offer = Offer.model_validate_json(data[:-1] + ',"read_at":"2026-01-01T00:00:00Z"}')
            full = offer.model_dump_json(exclude={"read_at"})
            assert '"zone":null' in full
            conn.execute("UPDATE offers SET data = ?, digest = ? WHERE pk = ?", (full, _digest(full, read_at), pk))
    conn.close()
    with Store(path) as s:
        assert by_id(s.query(OfferQuery(), snapshot=first.id)) == by_id(iter(CATALOG))
        second = s.write_snapshot(items=items_read(LATER), offers=reread(CATALOG, LATER), statuses=STATUSES,
                                  config_hash="h")
        diff = s.diff(first.id, second.id)
        assert diff.empty and not diff.price_changes and not diff.lifecycle_changes
        assert by_id(s.query(OfferQuery())) == by_id(iter(reread(CATALOG, LATER)))
        # a real change across the two forms is reported in the offer's full JSON form
        changed = [o.model_copy(update={"lifecycle": Lifecycle(status=LifecycleStatus.END_OF_SALE)})
                   if i == 0 else o for i, o in enumerate(reread(CATALOG, LATER))]
        third = s.write_snapshot(items=items_read(LATER), offers=changed, statuses=STATUSES, config_hash="h")
        [change] = s.diff(first.id, third.id).changed
        assert change.field == "lifecycle" and change.before == Lifecycle().model_dump(mode="json")
        assert change.after == Lifecycle(status=LifecycleStatus.END_OF_SALE).model_dump(mode="json")


def test_a_first_snapshot_builds_the_indexes_and_later_ones_find_closed_versions(store: Store) -> None:
    first = store.write_snapshot(items=stored_items(), offers=CATALOG, statuses=STATUSES, config_hash="h")
    changed = [o.model_copy(update={"name": o.name + "-b"}) if i == 0 else o for i, o in enumerate(CATALOG)]
    second = store.write_snapshot(items=stored_items(), offers=changed, statuses=STATUSES, config_hash="h")
    assert store.diff(first.id, second.id).changed[0].field == "name"
    assert by_id(store.query(OfferQuery(sort="price"))) == by_id(iter(changed))
    assert by_id(store.query(OfferQuery(sort="price"), snapshot=first.id)) == by_id(iter(CATALOG))
    assert list(store.items(second.id, "fe")) == [s for s in stored_items() if s.backend == "fe"]


def test_a_store_of_schema_4_gets_indexes_of_open_versions_only(tmp_path: Path) -> None:
    path = tmp_path / "v4.db"
    with Store(path) as s:
        first = s.write_snapshot(items=stored_items(), offers=CATALOG, statuses=STATUSES, config_hash="h")
    conn = sqlite3.connect(path)
    conn.executescript("""
        DROP INDEX offers_by_id; CREATE INDEX offers_by_id ON offers (until, id);
        DROP INDEX items_by_backend; CREATE INDEX items_by_backend ON items (until, backend);
        PRAGMA user_version = 4;
    """)
    conn.close()
    with Store(path) as s:
        indexes = dict(s._db.execute("SELECT name, sql FROM sqlite_master WHERE type = 'index'").fetchall())
        assert s._db.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
        assert "WHERE until = " in indexes["offers_by_id"] and "WHERE until = " in indexes["items_by_backend"]
        assert s.latest() == first and by_id(s.query(OfferQuery())) == by_id(iter(CATALOG))
        assert s._db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"


def _as_schema_5(store: Store) -> None:
    """Turn a store back into schema 5: labels and zones in side tables of a row per value."""
    db = store._db
    postgres = type(store).__name__ == "PostgresStore"
    rows = db.execute("SELECT pk, data FROM offers WHERE base_pk IS NULL").fetchall()
    for column in ("zone_list", "label_list"):
        db.execute(f"ALTER TABLE offers DROP COLUMN {column}")
    db.execute("CREATE TABLE offer_labels (offer_pk INTEGER NOT NULL, label TEXT NOT NULL)")
    db.execute("CREATE TABLE offer_zones (offer_pk INTEGER NOT NULL, zone TEXT NOT NULL)")
    for pk, data in rows:
        o = Offer.model_validate_json(data if "read_at" in data else data[:-1] + ',"read_at":"2026-01-01T00:00:00Z"}')
        db.executemany("INSERT INTO offer_labels VALUES (?, ?)", [(pk, label) for label in o.labels])
        db.executemany("INSERT INTO offer_zones VALUES (?, ?)", [(pk, zone) for zone in o.zones])
    if postgres:
        db.execute("UPDATE cloudcat_schema SET version = 5")
    else:
        db.execute("PRAGMA user_version = 5")


def test_a_store_of_schema_5_gets_labels_and_zones_in_columns(new_store_location: Callable[[], str],
                                                              monkeypatch: pytest.MonkeyPatch) -> None:
    """Schema 6 keeps labels and zones on the offer's row; an older store gains the columns,
    filled from its offers (closed versions too, a few at a time), and loses its side tables."""
    monkeypatch.setattr("cloudcat.store.sqlite._FILL_BATCH", 3)  # several batches of this small store
    location = new_store_location()
    changed = [o.model_copy(update={"labels": ["hds", "iso27001"]}) if i == 0 else o for i, o in enumerate(CATALOG)]
    with Store(location) as s:
        first = s.write_snapshot(items=[], offers=CATALOG, statuses=[], config_hash=None).id
        s.write_snapshot(items=[], offers=changed, statuses=[], config_hash=None)
        _as_schema_5(s)
    with Store(location) as s:
        assert {o.id for o in s.query(OfferQuery(labels=["iso27001"]))} == {CATALOG[0].id}
        assert {o.id for o in s.query(OfferQuery(labels=["hds"]))} == {CATALOG[0].id, CATALOG[1].id}
        assert {o.id for o in s.query(OfferQuery(labels=["hds", "secnumcloud"]))} == {CATALOG[1].id}
        assert {o.id for o in s.query(OfferQuery(any_label=["iso27001", "secnumcloud"]))} == {
            CATALOG[0].id, CATALOG[1].id}
        assert {o.id for o in s.query(OfferQuery(zone="eu-west-0a"))} == {CATALOG[0].id}
        assert not list(s.query(OfferQuery(labels=["iso27001"]), snapshot=first))  # its version then
        assert by_id(s.query(OfferQuery(), snapshot=first)) == by_id(iter(CATALOG))
        for table in ("offer_labels", "offer_zones"):
            with pytest.raises(Exception, match=table):
                s._db.execute(f"SELECT count(*) FROM {table}").fetchall()



def test_a_store_of_schema_6_finds_names_holding_the_separator(new_store_location: Callable[[], str],
                                                                monkeypatch: pytest.MonkeyPatch) -> None:
    """Schema 7 escapes U+001E and U+001F within the fields of the text filter's column; a store
    of schema 6 kept them as they were (a U+001F then read as two fields): opened, the versions
    holding them are written again, a patched version too, and the others are left as they are."""
    from cloudcat.filters import SEARCH_SEPARATOR, search_fields

    monkeypatch.setattr("cloudcat.store.sqlite._FILL_BATCH", 1)  # one version a batch
    hostile = [offer("a\x1fb"), offer("q\x1e", display_name="Q\x1f1")]
    location = new_store_location()
    with Store(location) as s:
        first = s.write_snapshot(items=[], offers=CATALOG + hostile, statuses=[], config_hash=None).id
        changed = [hostile[0].model_copy(update={"labels": ["hds"]}), hostile[1]]
        s.write_snapshot(items=[], offers=CATALOG + changed, statuses=[], config_hash=None)
        db = s._db
        plain = db.execute("SELECT pk, search FROM offers WHERE instr(search, ?) = 0 ORDER BY pk",
                           ("\x1e",)).fetchall()
        escaped = db.execute("SELECT pk, search FROM offers WHERE instr(search, ?) > 0", ("\x1e",)).fetchall()
        assert len(escaped) == 3 and len(plain) == len(CATALOG)  # a patched version among them
        db.executemany("UPDATE offers SET search = ? WHERE pk = ?",  # as schema 6 wrote them
                       [(SEARCH_SEPARATOR.join(search_fields(text)), pk) for pk, text in escaped])
        if type(s).__name__ == "PostgresStore":
            db.execute("UPDATE cloudcat_schema SET version = 6")
        else:
            db.execute("PRAGMA user_version = 6")
        assert not list(s.query(OfferQuery(text="a\x1fb")))
    with Store(location) as s:
        assert [o.id for o in s.query(OfferQuery(text="a\x1fb"))] == [hostile[0].id]
        assert [o.id for o in s.query(OfferQuery(text="a\x1fb"), snapshot=first)] == [hostile[0].id]
        assert [o.id for o in s.query(OfferQuery(text="\x1f1"))] == [hostile[1].id]
        assert hostile[1].id not in {o.id for o in s.query(OfferQuery(text="11"))}  # \x1f1 written \x1e11
        assert s._db.execute("SELECT pk, search FROM offers WHERE instr(search, ?) = 0 ORDER BY pk",
                             ("\x1e",)).fetchall() == plain


def test_an_offer_removed_then_back_is_absent_in_between(store: Store) -> None:
    a = store.write_snapshot(items=[], offers=CATALOG, statuses=[], config_hash=None).id
    b = store.write_snapshot(items=[], offers=CATALOG[1:], statuses=[], config_hash=None).id
    c = store.write_snapshot(items=[], offers=CATALOG, statuses=[], config_hash=None).id
    assert store.get(CATALOG[0].id, snapshot=a) == CATALOG[0]
    assert store.get(CATALOG[0].id, snapshot=b) is None
    assert store.get(CATALOG[0].id, snapshot=c) == CATALOG[0]
    assert store.diff(a, c).empty
    assert store.diff(a, b).removed == [CATALOG[0].id] and store.diff(b, a).added == [CATALOG[0].id]


def test_diff_reports_every_changed_field(store: Store) -> None:
    a = store.write_snapshot(items=[], offers=CATALOG, statuses=[], config_hash=None).id
    after = {
        0: {"labels": ["hds", "iso27001"], "display_name": "Small"},
        1: {"operator": "Orange", "zones": ["eu-west-0b"]},
        2: {"vcpus": 16, "lifecycle": Lifecycle(status=LifecycleStatus.END_OF_SALE)},
    }
    changed = [o.model_copy(update=after.get(i, {})) for i, o in enumerate(CATALOG)]
    b = store.write_snapshot(items=[], offers=changed, statuses=[], config_hash=None).id
    d = store.diff(a, b)
    assert not (d.added or d.removed or d.price_changes)
    assert [(c.id.rsplit("/", 1)[1], c.field, c.before, c.after) for c in d.changed] == [
        ("s3.2xlarge.4", "lifecycle", {"status": "available", "end_of_sale": None, "end_of_life": None,
                                       "successor": None, "reason": None},
         {"status": "end-of-sale", "end_of_sale": None, "end_of_life": None, "successor": None, "reason": None}),
        ("s3.2xlarge.4", "vcpus", 8, 16),
        ("s3.large.2", "display_name", None, "Small"),
        ("s3.large.2", "labels", ["hds"], ["hds", "iso27001"]),
        ("s3.xlarge.4", "operator", None, "Orange"),
        ("s3.xlarge.4", "zones", [], ["eu-west-0b"]),
    ]
    assert [(c.id, c.before, c.after) for c in d.lifecycle_changes] == [
        (CATALOG[2].id, LifecycleStatus.AVAILABLE, LifecycleStatus.END_OF_SALE)]
    back = store.diff(b, a)
    assert [(c.field, c.before, c.after) for c in back.changed][1] == ("vcpus", 16, 8)


def test_prune_keeps_what_the_policy_says_and_the_rest_reads_as_before(store: Store) -> None:
    ids, expected = [], {}
    for n in range(5):
        offers = [o.model_copy(update={"price": eur(f"0.{n + 1}")}) if i == 1 else o
                  for i, o in enumerate(CATALOG) if i != n]
        sid = store.write_snapshot(items=stored_items()[: n % 3 + 1], offers=offers, statuses=[],
                                   config_hash=None).id
        ids.append(sid)
        expected[sid] = (by_id(iter(offers)), stored_items()[: n % 3 + 1])
    assert store.prune(keep_last=2) == ids[:3]
    assert [s.id for s in store.snapshots()] == ids[3:]
    for sid in ids[3:]:
        assert by_id(store.query(OfferQuery(), snapshot=sid)) == expected[sid][0]
        assert list(store.items(sid)) == expected[sid][1]
    holding = store._db.execute("SELECT count(*) FROM offers WHERE until > ?", (ids[3],)).fetchone()[0]
    assert count(store, "offers") == holding  # nothing only the pruned snapshots held is left
    # the latest is never removed
    assert store.prune() == [ids[3]]
    assert [s.id for s in store.snapshots()] == [ids[4]]
    assert by_id(store.query(OfferQuery())) == expected[ids[4]][0]


def test_retention_keeps_last_daily_monthly_and_always_the_latest() -> None:
    day = dt.datetime(2026, 1, 1, 6, tzinfo=dt.UTC)
    snaps = [(n + 1, day + dt.timedelta(hours=12 * n)) for n in range(100)]  # two a day for 50 days
    assert retained(snaps) == {100}
    assert retained(snaps, keep_last=3) == {98, 99, 100}
    assert retained(snaps, keep_daily=3) == {96, 98, 100}
    assert retained(snaps, keep_monthly=2) == {62, 100}  # the newest of January, the latest of February
    assert retained(snaps, keep_last=1, keep_daily=2, keep_monthly=3) == {62, 98, 100}


@given(st.dictionaries(st.text(max_size=3), st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=3),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=3), inner, max_size=3),
    max_leaves=8), max_size=5), st.dictionaries(st.text(max_size=3), st.integers() | st.text(), max_size=5))
def test_a_merge_patch_turns_the_base_into_the_new_document(base: dict[str, Any], new: dict[str, Any]) -> None:
    assert apply_patch(base, merge_patch(base, new)) == new


def test_snapshot_at_a_time_or_a_day(store: Store) -> None:
    assert store.snapshot_at(dt.date.today()) is None
    first = store.write_snapshot(items=[], offers=CATALOG, statuses=[], config_hash=None)
    assert store.snapshot_at(first.created_at - dt.timedelta(seconds=1)) is None
    assert store.snapshot_at(first.created_at) == first
    assert store.snapshot_at(first.created_at.date()) == first


# -- the refresh lock and readers ------------------------------------------------------------------
def test_a_second_refresh_fails_at_once_or_waits(new_store_location: Callable[[], str]) -> None:
    location = new_store_location()
    with Store(location) as one, Store(location) as two:
        with one.lock_refresh():
            with pytest.raises(RefreshLockedError, match=r"another refresh is running since \d{4}-\d\d-\d\dT"), \
                    two.lock_refresh(wait=False):
                pass
            started = time.monotonic()
            with pytest.raises(RefreshLockedError, match=r"\(waited 0.3 s\)"), two.lock_refresh(timeout=0.3):
                pass
            assert time.monotonic() - started >= 0.3
            got: list[float] = []

            def second() -> None:
                with two.lock_refresh():
                    got.append(time.monotonic())

            waiter = threading.Thread(target=second)
            waiter.start()
            time.sleep(0.3)
            assert got == []  # still waiting
            released = time.monotonic()
        waiter.join(timeout=10)
        assert got and got[0] >= released
        with two.lock_refresh(wait=False):  # free again
            pass


def test_readers_never_wait_for_a_snapshot_being_written(new_store_location: Callable[[], str]) -> None:
    location = new_store_location()
    with Store(location) as writer, Store(location) as reader:
        first = writer.write_snapshot(items=[], offers=CATALOG, statuses=[], config_hash=None)
        writing, finish = threading.Event(), threading.Event()

        def offers() -> Iterator[Offer]:
            yield from (offer(f"n{i}") for i in range(3000))
            writing.set()
            finish.wait(30)
            yield offer("last")

        thread = threading.Thread(target=lambda: writer.write_snapshot(items=[], offers=offers(), statuses=[],
                                                                       config_hash=None))
        thread.start()
        try:
            assert writing.wait(30)
            started = time.monotonic()
            assert reader.latest() == first
            assert by_id(reader.query(OfferQuery())) == by_id(iter(CATALOG))
            assert time.monotonic() - started < 2
        finally:
            finish.set()
            thread.join(timeout=30)
        assert reader.latest().offers == 3001  # type: ignore[union-attr]


def test_an_in_memory_store_works() -> None:
    with Store(":memory:") as s:
        s.write_snapshot(items=stored_items(), offers=CATALOG, statuses=[], config_hash=None)
        assert by_id(s.query(OfferQuery())) == by_id(iter(CATALOG))
        with s.lock_refresh(), pytest.raises(RefreshLockedError), s.lock_refresh(wait=False):
            pass


def test_reading_a_store_not_there_yet_makes_no_file_and_the_first_write_does(tmp_path: Path) -> None:
    path = tmp_path / "not" / "yet" / "catalog.db"
    with Store(path) as reader:
        assert reader.latest() is None and reader.snapshots() == [] and list(reader.query(OfferQuery())) == []
        assert not (tmp_path / "not").exists()  # reads leave nothing behind
        with Store(path) as writer:  # another process's refresh
            first = writer.write_snapshot(items=stored_items(), offers=CATALOG, statuses=STATUSES, config_hash="h")
        assert path.exists()
        assert reader.latest() == first  # the reader opened before reads what was written since
        assert by_id(reader.query(OfferQuery())) == by_id(iter(CATALOG))
    other = tmp_path / "other.db"
    with Store(other) as s:
        with s.lock_refresh():  # a refresh begins: the store is made for it
            assert other.exists()
        assert s.prune(keep_last=1) == [] and s.latest() is None
    config = tmp_path / "cloudcat.yaml"
    config.write_text('{"backends": {"fe": {"driver": "static"}}, "brands": {"b": {"backend": "fe"}}}')

    def cli(*command: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-m", "cloudcat.cli", *command, "--config", str(config),
                               "--store", str(tmp_path / "typo.db")], capture_output=True, text=True, timeout=60)

    listed = cli("snapshots", "--format", "json")
    assert listed.returncode == 0 and json.loads(listed.stdout) == []
    offline = cli("offers", "--offline")
    assert offline.returncode == 1 and "no snapshot stored yet" in offline.stderr
    assert not (tmp_path / "typo.db").exists()



def test_reading_a_postgresql_schema_holding_no_store_makes_no_table_and_the_first_write_does(
        postgres_url: str, tmp_path: Path) -> None:
    """Reads never write: a portal or report opening a team's schema before its first refresh
    reads an empty store, and the schema stays as it was (no table, function or row made)."""
    import psycopg
    from store_backends import fresh_postgres

    from cloudcat.errors import StoreError

    location = fresh_postgres(postgres_url)
    schema = location.rsplit("%3D", 1)[1]

    def objects() -> int:
        with psycopg.connect(postgres_url, autocommit=True) as conn:
            row = conn.execute("SELECT (SELECT count(*) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
                               "WHERE n.nspname = %s) + (SELECT count(*) FROM pg_proc p JOIN pg_namespace n "
                               "ON n.oid = p.pronamespace WHERE n.nspname = %s)", (schema, schema)).fetchone()
            return int(row[0]) if row else -1

    with Store(location) as reader:
        assert reader.latest() is None and reader.snapshots() == [] and list(reader.query(OfferQuery())) == []
        assert reader.size_bytes() == 0 and reader.prune(keep_last=1) == []
        with pytest.raises(StoreError, match="has no snapshot 1"):
            list(reader.items(1))
        assert objects() == 0  # reads leave nothing behind
        with Store(location) as writer:  # another machine's refresh
            first = writer.write_snapshot(items=stored_items(), offers=CATALOG, statuses=STATUSES, config_hash="h")
        assert objects() > 0
        assert reader.latest() == first  # the reader opened before reads what was written since
        assert by_id(reader.query(OfferQuery())) == by_id(iter(CATALOG))
        assert reader.size_bytes() > 0
    other = fresh_postgres(postgres_url)
    with Store(other) as s, s.lock_refresh():  # a refresh begins: the tables are made for it
        assert s.latest() is None
        with psycopg.connect(postgres_url, autocommit=True) as conn:
            made = conn.execute("SELECT to_regclass(%s)", (f"{other.rsplit('%3D', 1)[1]}.snapshots",)).fetchone()
        assert made is not None and made[0] is not None
    config = tmp_path / "cloudcat.yaml"
    config.write_text('{"backends": {"fe": {"driver": "static"}}, "brands": {"b": {"backend": "fe"}}}')
    third = fresh_postgres(postgres_url)
    schema = third.rsplit("%3D", 1)[1]
    for command in (["snapshots", "--format", "json"], ["offers", "--offline"], ["diff", "--last"]):
        run = subprocess.run([sys.executable, "-m", "cloudcat.cli", *command, "--config", str(config),
                              "--store", third], capture_output=True, text=True, timeout=60)
        assert run.returncode == (0 if command[0] == "snapshots" else 1), run.stderr
        assert run.stdout.strip() == ("[]" if command[0] == "snapshots" else "")
    assert objects() == 0

# -- SQLite stores written by earlier versions ---------------------------------------------------------
def test_a_store_holding_full_copies_is_rewritten_as_versions(tmp_path: Path) -> None:
    path = tmp_path / "old.db"
    conn = sqlite3.connect(path)
    conn.executescript("""
        CREATE TABLE snapshots (id INTEGER PRIMARY KEY AUTOINCREMENT, created_at TEXT NOT NULL,
                                offers INTEGER NOT NULL, config_hash TEXT);
        CREATE TABLE backend_status (snapshot_id INTEGER NOT NULL REFERENCES snapshots(id) ON DELETE CASCADE,
                                     position INTEGER NOT NULL, data TEXT NOT NULL,
                                     PRIMARY KEY (snapshot_id, position)) WITHOUT ROWID;
        CREATE TABLE items (pk INTEGER PRIMARY KEY, snapshot_id INTEGER NOT NULL, backend TEXT NOT NULL,
                            driver TEXT NOT NULL, read_at TEXT NOT NULL, data TEXT NOT NULL);
        CREATE INDEX items_by_backend ON items (snapshot_id, backend);
        CREATE TABLE offers (pk INTEGER PRIMARY KEY, snapshot_id INTEGER NOT NULL, id TEXT NOT NULL,
                             data TEXT NOT NULL);
        CREATE INDEX offers_by_brand ON offers (snapshot_id, id);
        CREATE TABLE offer_labels (offer_pk INTEGER NOT NULL, label TEXT NOT NULL);
        CREATE TABLE offer_zones (offer_pk INTEGER NOT NULL, zone TEXT NOT NULL);
        PRAGMA user_version = 2;
    """)
    snapshots = [(CATALOG, stored_items()), (reread(CATALOG[:5], LATER), items_read(LATER)[:2])]
    for n, (offers, items) in enumerate(snapshots, start=1):
        conn.execute("INSERT INTO snapshots VALUES (?, ?, ?, 'h')", (n, f"2026-01-0{n}T00:00:00+00:00",
                                                                      len(offers)))
        conn.execute("INSERT INTO backend_status VALUES (?, 0, ?)", (n, STATUSES[0].model_dump_json()))
        conn.executemany("INSERT INTO offers (snapshot_id, id, data) VALUES (?, ?, ?)",
                         [(n, o.id, o.model_dump_json()) for o in offers])
        conn.executemany("INSERT INTO items (snapshot_id, backend, driver, read_at, data) VALUES (?, ?, ?, ?, ?)",
                         [(n, s.backend, s.driver, s.read_at.isoformat(), s.item.model_dump_json())
                          for s in items])
    conn.commit()
    conn.close()
    with Store(path) as s:
        assert [(i.id, i.offers, i.backends) for i in s.snapshots()] == [(1, 8, STATUSES[:1]), (2, 5, STATUSES[:1])]
        for n, (offers, items) in enumerate(snapshots, start=1):
            assert by_id(s.query(OfferQuery(), snapshot=n)) == by_id(iter(offers))
            assert list(s.items(n)) == items
        assert count(s, "offers") == len(CATALOG)  # the second copy was only read again
        assert s.diff(1, 2).removed == [o.id for o in by_id(iter(CATALOG[5:]))]


# -- the command line --------------------------------------------------------------------------------
def test_cli_diff_of_the_last_two_with_exit_code_and_snapshots_prune(tmp_path: Path) -> None:
    from test_catalog import make_config, run_cli, write_config

    path = write_config(tmp_path, make_config(tmp_path))
    for _ in range(3):
        assert run_cli("refresh", config=path).returncode == 0
    same = run_cli("diff", "--last", "--exit-code", "--format", "table", config=path)
    assert same.returncode == 0 and "snapshot 2 → 3: no change" in same.stdout
    csv = tmp_path / "fe-prices.csv"
    csv.write_text(csv.read_text().replace("0.0736", "0.0800"))
    assert run_cli("refresh", config=path).returncode == 0
    changed = run_cli("diff", "--last", "--exit-code", "--format", "json", config=path)
    assert changed.returncode == 1
    data = json.loads(changed.stdout)
    assert (data["a"], data["b"]) == (3, 4)
    assert {c["field"] for c in data["changed"]} == {"price"} and data["price_changes"]
    assert run_cli("diff", "--last", "--format", "json", config=path).returncode == 0
    assert run_cli("diff", "3", config=path).returncode == 2
    pruned = run_cli("snapshots", "prune", "--keep-last", "2", config=path)
    assert pruned.returncode == 0 and "removed 2 snapshot(s): 1, 2" in pruned.stdout
    listed = json.loads(run_cli("snapshots", "--format", "json", config=path).stdout)
    assert [s["id"] for s in listed] == [3, 4]
    assert json.loads(run_cli("diff", "3", "4", "--format", "json", config=path).stdout) == data


def test_importing_the_store_package_loads_nothing_until_used() -> None:
    import subprocess
    import sys

    import cloudcat.store

    code = ("import sys, cloudcat.store; print(sorted(m for m in sys.modules if m.split('.')[0] in "
            "('pydantic', 'psycopg', 'sqlite3') or m.startswith('cloudcat.store.')))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60).stdout
    assert out.strip() == "[]"
    assert sorted(cloudcat.store.__all__) == sorted(cloudcat.store._EXPORTS)
    assert all(getattr(cloudcat.store, name) is not None for name in cloudcat.store.__all__)


def test_a_catalog_on_a_team_store(tmp_path: Path, new_store_location: Callable[[], str]) -> None:
    from test_catalog import make_config

    import cloudcat

    location = new_store_location()
    with cloudcat.open_catalog(make_config(tmp_path), store=location) as one:
        first = one.refresh()
        assert first.snapshot is not None and first.exit_code == 0
        offers = by_id(iter(one.offers(brand="flexible-engine")))
    with cloudcat.open_catalog(make_config(tmp_path), store=location) as other:  # another machine
        assert other.snapshots() == [first.snapshot]
        assert by_id(iter(other.offers(brand="flexible-engine", offline=True))) == offers


def test_a_refresh_reading_an_unchanged_backend_again_stores_no_new_version(
        tmp_path: Path, new_store_location: Callable[[], str]) -> None:
    """Through the whole refresh (several regions and kinds read as tasks side by side, a task's
    items handed over in batches): every item of a backend carries the time its reading began, so
    reading it again unchanged costs no row, and one changed item costs one version of each."""
    import cloudcat

    def write(changed: str | None = None) -> None:
        with (tmp_path / "items.jsonl").open("w", encoding="utf-8") as out:
            for region in ("r0", "r1", "r2", "r3"):
                for i in range(2500 if region == "r0" else 40):  # r0: more than one batch
                    name = f"f{i}"
                    out.write(json.dumps({"kind": "compute", "name": name, "region": region, "vcpus": 2,
                                          "memory_mib": 4096 if (region, name) != changed else 8192}) + "\n")
                out.write(json.dumps({"kind": "storage", "name": "SSD", "region": region}) + "\n")

    write()
    config = {"backends": {"files": {"driver": "static", "options": {"paths": [str(tmp_path / "items.jsonl")]}}},
              "brands": {"b": {"backend": "files"}}}
    location = new_store_location()
    with cloudcat.open_catalog(config, store=location) as catalog:
        first = catalog.refresh().snapshot
        rows = (count(catalog.store, "offers"), count(catalog.store, "items"))
        second = catalog.refresh().snapshot
        assert first is not None and second is not None
        assert (count(catalog.store, "offers"), count(catalog.store, "items")) == rows
        read = {o.read_at for o in catalog.offers(offline=True)}
        assert len(read) == 1 and read != {o.read_at for o in catalog.store.query(OfferQuery(), snapshot=first.id)}
        assert [o.read_at for o in catalog.store.items(second.id)] and \
            {s.read_at for s in catalog.store.items(second.id)} == read
        assert {b.read_at for b in second.backends} == read  # what `snapshots` and a plan say of it
    write(changed=("r0", "f2400"))
    with cloudcat.open_catalog(config, store=location) as catalog:  # the next day's run
        catalog.refresh()
        assert (count(catalog.store, "offers"), count(catalog.store, "items")) == (rows[0] + 1, rows[1] + 1)
        assert catalog.get("b/compute/r0/f2400").memory_mib == 8192


def test_a_team_member_with_a_read_only_role_reads_every_snapshot(postgres_url: str) -> None:
    """Readers of a team's PostgreSQL store (portals, reports) may hold a role that can only
    SELECT: opening the store and every read then work, and a write is refused (permission denied)."""
    import psycopg
    from store_backends import fresh_postgres

    from cloudcat.errors import StoreError

    location = fresh_postgres(postgres_url)
    schema = location.rsplit("%3D", 1)[1]
    with Store(location) as owner:
        first = owner.write_snapshot(items=stored_items(), offers=CATALOG, statuses=STATUSES, config_hash="h")
        second = owner.write_snapshot(items=items_read(LATER), offers=reread(CATALOG[1:], LATER), statuses=STATUSES,
                                      config_hash="h")
    role = f"reader_{schema}"
    with psycopg.connect(postgres_url, autocommit=True) as conn:
        conn.execute(f"CREATE ROLE {role} LOGIN")
        conn.execute(f"GRANT USAGE ON SCHEMA {schema} TO {role}")
        conn.execute(f"GRANT SELECT ON ALL TABLES IN SCHEMA {schema} TO {role}")
    as_reader = location.replace("postgresql://cloudcat@", f"postgresql://{role}@", 1)
    with Store(as_reader) as reader:
        assert [s.id for s in reader.snapshots()] == [first.id, second.id]
        assert by_id(reader.query(OfferQuery(), snapshot=first.id)) == by_id(iter(CATALOG))
        assert by_id(reader.query(OfferQuery())) == by_id(iter(reread(CATALOG[1:], LATER)))
        assert reader.get(CATALOG[0].id, snapshot=first.id) == CATALOG[0]
        assert reader.diff(first.id, second.id).removed == [CATALOG[0].id]
        assert list(reader.items(first.id)) == stored_items()
        with pytest.raises(StoreError, match="permission denied"):
            reader.write_snapshot(items=[], offers=CATALOG, statuses=[], config_hash=None)


def test_a_json_value_changed_to_an_equal_looking_one_is_stored_and_diffed(store: Store) -> None:
    # 1, 1.0 and true are three JSON values (Python's == holds them equal): a change between
    # them is a change, kept by the patch that stores it and reported by diff
    long = {"display_name": "a display name long enough that a patch is smaller than the whole " * 3}
    before = offer("spot", vcpus=2, memory_mib=4096, extras={"spot": 1, "ratio": 2, "tags": [1]}, **long)
    after = offer("spot", vcpus=2, memory_mib=4096, extras={"spot": True, "ratio": 2.0, "tags": [True]}, **long)
    first = store.write_snapshot(items=[], offers=[before], statuses=[], config_hash=None)
    second = store.write_snapshot(items=[], offers=[after], statuses=[], config_hash=None)
    for sid, want in ((first.id, before), (second.id, after)):
        got = store.get(after.id, snapshot=sid)
        assert got is not None
        assert json.dumps(got.extras) == json.dumps(want.extras)
    diff = store.diff(first.id, second.id)
    assert [(c.field, c.before, c.after) for c in diff.changed] == [
        ("extras", {"spot": 1, "ratio": 2, "tags": [1]}, {"spot": True, "ratio": 2.0, "tags": [True]})]
