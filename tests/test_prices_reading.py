"""Reading price books fast must read them exactly as before.

A CSV row is read a run of columns at a time (not a cell at a time) and a book's rules are
validated in one call (not a call a row); what comes out, and the error a bad book gives (file,
line, field, message), must be what ``csv.DictReader`` + :func:`unflatten` and a
``PriceRule.model_validate`` a row give.
"""

from __future__ import annotations

import csv
import gc
import io
import tempfile
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cloudcat.errors import ConfigError
from cloudcat.prices import PriceBook, PriceRule
from cloudcat.records import read_records, unflatten

#: columns of every kind: plain, list, nested by prefix, nested two deep, dropped, extras, blank,
#: and a group's whole next to its parts
COLUMNS = ["name", " backend ", "pattern", "labels", "zones", "price_amount", "price_currency", "price_unit",
           "gpu_model", "lifecycle_status", "flexible_vcpus_max", "flexible_price_per_vcpu_amount",
           "flexible_price_per_core_amount", "extras.os", "extra.tier", "extra.os", "", " ", "price", "extras"]
CELLS = ["", "  ", "a", " b ", "x;y", "p|q", "0.5", "EUR", "hour"]


def as_before(text: str) -> list[tuple[int, dict[str, Any]]] | str:
    """What csv.DictReader and :func:`unflatten` made of a CSV text: each row with its line, or
    the error."""
    reader = csv.DictReader(io.StringIO(text, newline=""))
    out: list[tuple[int, dict[str, Any]]] = []
    for row in reader:
        if None in row:
            return f"{len(reader.fieldnames or ()) + len(row[None])} cells"
        try:
            out.append((reader.line_num, unflatten(row)))
        except ConfigError as exc:
            return f"{reader.line_num}: {exc.detail}"
    return out


def as_now(path: Path) -> list[tuple[int, dict[str, Any]]] | str:
    out: list[tuple[int, dict[str, Any]]] = []
    try:
        for _, line, row in read_records(path):
            assert line is not None
            out.append((line, row))
    except ConfigError as exc:
        if "cells, the header" in exc.detail:
            return exc.detail.split(",")[0]
        return f"{exc.line}: {exc.detail}"
    return out


@settings(max_examples=300, deadline=None)
@given(st.lists(st.sampled_from(COLUMNS), min_size=1, max_size=8, unique_by=str.strip),
       st.lists(st.lists(st.sampled_from(CELLS), max_size=9), max_size=5))
def test_csv_rows_read_as_csv_dictreader_and_unflatten_read_them(header: list[str], rows: list[list[str]]) -> None:
    buffer = io.StringIO(newline="")
    writer = csv.writer(buffer)
    writer.writerow(header)
    writer.writerows(rows)
    text = buffer.getvalue()
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "book.csv"
        path.write_text(text, newline="")
        now = as_now(path)
    before = as_before(text)
    assert now == before
    if isinstance(now, list):  # the same keys in the same order: pydantic reports errors in that order
        assert [list(row) for _, row in now] == [list(row) for _, row in before]  # type: ignore[union-attr]


@settings(max_examples=300, deadline=None)
@given(st.data(), st.lists(st.sampled_from(COLUMNS), min_size=1, max_size=8, unique_by=str.strip))
def test_full_rows_read_as_csv_dictreader_and_unflatten_read_them(data: st.DataObject, header: list[str]) -> None:
    """Rows with a cell for each column (most rows of any file), which are read by code written
    for their header, read as the general reading does."""
    rows = data.draw(st.lists(st.lists(st.sampled_from(CELLS), min_size=len(header), max_size=len(header)),
                              min_size=1, max_size=5))
    test_csv_rows_read_as_csv_dictreader_and_unflatten_read_them.hypothesis.inner_test(header, rows)  # type: ignore[attr-defined]


def test_header_names_that_look_like_code_are_read_as_names(tmp_path: Path) -> None:
    """Rows are read by code written for their header; the header's text is never part of that
    code (names are taken from a tuple by position), whatever it holds."""
    header = ["name", "x')\nimport os\nos._exit(3)#", '"; raise SystemExit #', "price_a'b", "labels",
              "price_amount", "{names}", "\\", "naïve\u2028col", "cells[0]"]
    row = ["s3", "a", "b", "c", "x;y", "0.5", "d", "e", "f", "g"]
    buffer = io.StringIO(newline="")
    csv.writer(buffer).writerows([header, row, row[:3]])
    path = tmp_path / "odd.csv"
    path.write_text(buffer.getvalue(), newline="")
    now = as_now(path)
    assert now == as_before(buffer.getvalue())
    assert isinstance(now, list) and now[0][1]["x')\nimport os\nos._exit(3)#"] == "a"
    assert now[0][1]["price"] == {"a'b": "c", "amount": "0.5"} and now[0][1]["labels"] == ["x", "y"]


def _rows_one_by_one(path: Path) -> list[PriceRule] | tuple[str, int | None, str | None, str]:
    """A book's rules as a ``PriceRule.model_validate`` a row made them, or the error."""
    try:
        return PriceBook.load([path]).rules
    except ConfigError as exc:
        return exc.source or "", exc.line, exc.field, exc.detail


_OUT_OF_RANGE = "value out of range (numbers must be finite, at most 1e+15, and zero or at least 1e-30)"
GOOD = {"backend": "fe", "name": "s3.large", "price_amount": "0.1", "price_currency": "EUR", "price_unit": "hour"}
#: a change to one row of the book, and the error it makes (or none)
BAD = [
    ({}, None),
    ({"price_unit": "fortnight"}, ("price.unit", "Input should be 'hour', 'month', 'year', 'one-time', "
                                                 "'GiB-month', 'GiB-hour', 'vcpu-hour' or 'vcpu-month'")),
    ({"price_currency": "XYZ"}, ("price.currency", "'XYZ' is not an ISO 4217 currency code (EUR, USD, CHF…)")),
    ({"price_amount": "-1"}, ("price.amount", "Input should be greater than or equal to 0")),
    ({"price_amount": "1e20"}, ("price.amount", _OUT_OF_RANGE)),
    # as an item read from a driver, which would be dropped: 1e-30 is the smallest
    ({"price_amount": "0." + "0" * 40 + "1"}, ("price.amount", _OUT_OF_RANGE)),
    ({"price_amount": "1e-30"}, None),
    ({"price_amount": "0E-50"}, None),
    ({"price_amount": "NaN"}, ("price.amount", "Input should be a finite number")),
    ({"name": "", "pattern": ""}, (None, "a price book rule needs 'name' or 'pattern'")),
    ({"colour": "red"}, ("colour", "Extra inputs are not permitted")),
    ({"kind": "bicycle"}, ("kind", "Input should be 'compute', 'image', 'storage', 'network' or 'location'")),
]


def load_error(book: Path) -> ConfigError:
    """The error reading ``book`` as a price book gives."""
    with pytest.raises(ConfigError) as info:
        PriceBook.load([book])
    return info.value


@pytest.mark.parametrize(("change", "error"), BAD)
@pytest.mark.parametrize("where", [0, 2, 4])
def test_a_bad_row_anywhere_in_a_book_names_its_file_line_and_field(
        tmp_path: Path, change: dict[str, str], error: tuple[str | None, str] | None, where: int) -> None:
    rows = [dict(GOOD, name=f"s{i}") for i in range(5)]
    rows[where].update(change)
    header = [*GOOD, "pattern", "kind", "colour"]
    book = tmp_path / "book.csv"
    with book.open("w", newline="") as out:
        writer = csv.DictWriter(out, header)
        writer.writeheader()
        writer.writerows(rows)
    if error is None:
        rules = PriceBook.load([book]).rules
        assert [rule.name for rule in rules] == [f"s{i}" for i in range(5)]
        assert [rule.source for rule in rules] == [f"{book}:{i + 2}" for i in range(5)]
        assert all(rule.price is not None and rule.price.source == "book.csv" for rule in rules)
        return
    err = load_error(book)
    assert (err.source, err.line, err.field, err.detail) == (str(book), where + 2, *error)


def test_the_first_bad_row_is_the_error_when_several_are_bad(tmp_path: Path) -> None:
    book = tmp_path / "book.csv"
    book.write_text("name,price_amount,price_currency,price_unit\n"
                    "a,0.1,EUR,hour\n"
                    "b,1e20,EUR,hour\n"  # out of range: found after validation
                    "c,0.1,XYZ,hour\n"  # invalid: found by validation
                    "d,0.1,EUR,hour\n")
    err = load_error(book)
    assert (err.line, err.field) == (3, "price.amount")


def test_a_bad_rule_before_an_unreadable_row_is_the_error(tmp_path: Path) -> None:
    """Rows were checked as they were read: a bad rule is reported before a later row that cannot
    be read at all."""
    book = tmp_path / "book.csv"
    book.write_text("name,price_amount,price_currency,price_unit\n"
                    "a,0.1,EUR,fortnight\n"
                    "b,0.1,EUR,hour,extra\n")
    err = load_error(book)
    assert (err.line, err.field) == (2, "price.unit")
    book.write_text("name,price_amount,price_currency,price_unit\na,0.1,EUR,hour\nb,0.1,EUR,hour,extra\n")
    err = load_error(book)
    assert err.line == 3 and "5 cells, the header names 4 columns" in err.detail


@pytest.mark.parametrize(("name", "text", "line", "field"), [
    ("book.csv", "name,price_amount,price_currency,price_unit,labels\na,0.1,EUR,hour,\nb,0.1,EUR,hour,x\x00y\n",
     3, "labels[0]"),
    ("book.json", '[{"name": "a"},\n {"name": "b", "display_name": "B\\u0000"}]', 2, "display_name"),
    ("book.jsonl", '{"name": "a"}\n{"name": "b", "labels": ["ok", "\\u0000"]}\n', 2, "labels[1]"),
    ("book.yaml", '- name: a\n- name: "b\\0"\n', 2, "name"),
    ("book.yaml", '- name: a\n- name: b\n  display_name: "\\x00"\n', 2, "display_name"),
])
def test_a_nul_character_in_a_book_is_an_error_naming_its_line_and_field(
        tmp_path: Path, name: str, text: str, line: int, field: str) -> None:
    """No store keeps a NUL in a text: a book giving one (as itself or escaped) is refused
    rather than fail the snapshot its offers would go to."""
    book = tmp_path / name
    book.write_text(text)
    err = load_error(book)
    assert (err.source, err.line, err.field) == (str(book), line, field)
    assert "NUL" in err.detail


def test_text_that_only_looks_like_an_escaped_nul_is_read_as_it_is(tmp_path: Path) -> None:
    book = tmp_path / "book.csv"
    book.write_text("name,display_name,price_amount,price_currency,price_unit\na,C:\\0 \\u0000,0.1,EUR,hour\n")
    assert PriceBook.load([book]).rules[0].display_name == "C:\\0 \\u0000"


@pytest.mark.parametrize("suffix", [".yaml", ".json", ".jsonl"])
def test_books_in_every_format_are_read_alike(tmp_path: Path, suffix: str) -> None:
    import json

    import yaml

    rules = [{"backend": "fe", "name": "s3.large", "price": {"amount": "0.1", "currency": "eur", "unit": "hour"},
              "labels": ["Eco"]},
             {"backend": "fe", "pattern": "g1.*", "lifecycle": {"status": "end-of-sale"}}]
    book = tmp_path / f"book{suffix}"
    if suffix == ".yaml":
        book.write_text(yaml.safe_dump({"items": rules}))
    elif suffix == ".json":
        book.write_text(json.dumps({"items": rules}, indent=1))
    else:
        book.write_text("".join(json.dumps(rule) + "\n" for rule in rules))
    loaded = PriceBook.load([book]).rules
    expected = [PriceRule.model_validate({**rule, "price": {**rule["price"], "source": book.name}} if "price" in rule
                                         else rule) for rule in rules]
    assert [rule.model_dump(exclude={"source"}) for rule in loaded] == [rule.model_dump(exclude={"source"})
                                                                        for rule in expected]
    assert all(rule.source and rule.source.startswith(f"{book}:") for rule in loaded)


def _book_of(tmp_path: Path, count: int) -> Path:
    book = tmp_path / "big.csv"
    book.write_text("backend,name,price_amount,price_currency,price_unit\n"
                    + "".join(f"fe,s{i},0.{i:04},EUR,hour\n" for i in range(count)))
    return book


def test_reading_a_book_leaves_its_rules_out_of_the_collectors_youngest_generation(tmp_path: Path) -> None:
    """The collector is paused while a book is read; what was read (thousands of objects: each
    row's fields, each price) is then moved where long-lived objects go, so that the next
    collection does not walk each of them."""
    book = _book_of(tmp_path, 2000)
    assert gc.isenabled()
    gc.collect()
    before = len(gc.get_objects(0)) + len(gc.get_objects(1))
    loaded = PriceBook.load([book])
    young = len(gc.get_objects(0)) + len(gc.get_objects(1)) - before
    assert gc.isenabled() and young < 50
    rules = loaded.rules
    assert len(rules) == 2000 and rules[1999].name == "s1999" and rules[1999].price is not None


def test_objects_frozen_by_the_program_stay_frozen_when_a_book_is_read(tmp_path: Path) -> None:
    book = _book_of(tmp_path, 10)
    gc.freeze()  # as a server does before it forks
    try:
        frozen = gc.get_freeze_count()
        assert frozen > 0
        PriceBook.load([book])
        assert gc.get_freeze_count() >= frozen
    finally:
        gc.unfreeze()


def test_a_rule_naming_a_backend_not_configured_is_an_error_naming_its_file_and_line(tmp_path: Path) -> None:
    import cloudcat

    book = tmp_path / "book.csv"
    book.write_text("backend,name,price_amount,price_currency,price_unit\n"
                    "fe,a,0.1,EUR,hour\n"
                    "fe,b,0.1,EUR,hour\n"
                    "ghost,c,0.1,EUR,hour\n"
                    "ghost,d,0.1,EUR,hour\n")
    items = tmp_path / "items.jsonl"
    items.write_text('{"kind": "compute", "name": "a", "vcpus": 1, "memory_mib": 1024}\n')
    config = {"backends": {"fe": {"driver": "static", "options": {"paths": [str(items)]}}},
              "price_books": [str(book)], "store": str(tmp_path / "store.db")}
    with cloudcat.open_catalog(config) as catalog, pytest.raises(ConfigError) as info:
        catalog.refresh()
    err = info.value
    assert (err.source, err.line, err.field) == (str(book), 4, "backend")
    assert "'ghost'" in err.detail and "configured: fe" in err.detail


def test_a_rule_keeps_the_source_its_row_gives_and_others_say_where_they_were_read(tmp_path: Path) -> None:
    book = tmp_path / "book.jsonl"
    book.write_text('{"name": "a", "source": "tariff 2026, page 3"}\n\n{"name": "b"}\n')
    loaded = PriceBook.load([book])
    assert [rule.source for rule in loaded.rules] == ["tariff 2026, page 3", f"{book}:3"]
